"""The master: execute the numbered notebooks with papermill, gather their tables and claim
verdicts, export the HTML report. The page's layout lives in ``strn/report/templates/`` (Jinja2);
this module gathers what it shows."""
from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..study import claims, experiments
from ..config import make_config
from ..train.engine import resolve_device
from .notebook_runs import MASTER, execute, terminal
from ..study.parallel import all_stored, default_jobs, train_all
from ..paths import NOTEBOOKS_DIR, default_results_dir, usable_cores
from .page import page_context, skipped_text
from ..results import atomic_write_text, environment, load_results
from ..data.prepare import dataset_root
from .timing import minutes, read_timing, record_build, timing_sentences, trained_runs

TEMPLATES = Path(__file__).resolve().parent / "templates"


def summary(results_dir: str | Path) -> tuple[Any, Any]:
    """All experiments' tables (thesis beside reproduced) and all claim verdicts, from the
    results JSON under ``results_dir``."""
    tables, verdicts = [], []
    for key, exp in experiments.EXPERIMENTS.items():
        recs = load_results(results_dir, key) if (Path(results_dir) / key).exists() else []
        if not recs:
            continue
        t = experiments.summary_table(key, recs)
        label_cols = list(exp.rows[0].columns)
        t.insert(0, "configuration", [" / ".join(str(r[c]) for c in label_cols) for _, r in t.iterrows()])
        t = t.drop(columns=label_cols)
        t.insert(0, "table", exp.table)
        t["rank agreement"] = t.attrs["rank_agreement"]["text"]
        tables.append(t)
        verdicts += claims.judge(key, recs)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, claims.verdict_frame(sorted(verdicts, key=lambda v: v.claim))


def verdict_counts(results_dir: str | Path) -> Counter:
    """How many claims got each verdict word."""
    frame = summary(results_dir)[1]
    return Counter(frame["verdict"]) if "verdict" in frame else Counter()


def _template(name: str):
    import jinja2  # local (both): come with nbconvert, needed only when a page is rendered
    import markupsafe

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    # `command` in a sentence (the page's and summary.md's text alike) as code on the page
    env.filters["code"] = lambda s: markupsafe.Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>",
                                                             str(markupsafe.escape(s))))
    return env.get_template(name)


def export_html(executed: str | Path, html: str | Path, results_dir: str | Path | None = None) -> Path:
    """Render an executed notebook to a standalone HTML page (code cells hidden), with the
    timing of ``results_dir`` (default: the page's folder) at its end."""
    import markupsafe  # local (all three): jupyter's libraries only when notebooks are read or exported
    import nbformat
    from nbconvert import HTMLExporter  # heavy (jinja, bleach)

    nb = nbformat.read(str(executed), as_version=4)
    # The report shows results, not the execution's stream: progress lines, kernel warnings and
    # library warnings (stderr) stay in the executed notebook and out of the page.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
    body, _ = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(nb)
    timing = timing_sentences(read_timing(results_dir or Path(html).parent))
    page = _template("report.html.j2").render(title="STRN reproduced: the report", body=markupsafe.Markup(body),
                                              timing=timing)
    return atomic_write_text(html, page)


def build_report(profile: str = "demo", *, device: str = "auto", force: bool = False,
                 results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, jobs: int | None = None, stack_seeds: bool = True,
                 verbose: bool = True, say: Callable[[str], None] | None = None) -> Path:
    """Execute the master notebook (which executes all the others) and export the report
    to ``<results_dir>/report.html``. On a CPU, the STRN experiments' runs are first trained
    by ``jobs`` one-thread processes side by side (default: one per core; `strn.study.parallel`);
    the notebooks then find them stored; ``stack_seeds``: the seeds of one configuration as one
    stacked job (`strn.train.stacked_run`). Not with ``force`` (the notebooks retrain then).

    One line per phase (data, training, notebooks, report) goes to ``say`` (default: the
    terminal). Not ``verbose``: everything else printed meanwhile (the pool's lines, papermill's
    bars, the kernels' warnings) goes to ``<results_dir>/executed/strn_report.log`` instead.
    The time is written to ``summaries/timing.json`` (`strn.report.timing`)."""
    results_dir = Path(results_dir or default_results_dir(profile))
    jobs = default_jobs() if jobs is None else jobs
    t0 = time.perf_counter()
    with terminal(results_dir / "executed" / "strn_report.log", quiet=not verbose, say=say) as out:
        stored_before = trained_runs(results_dir)
        t = time.perf_counter()
        root = dataset_root(make_config(profile), data_dir)
        out(f"[1/4] data: {root} ready ({time.perf_counter() - t:.0f} s)")
        t, nb_jobs, stored = time.perf_counter(), 1, False
        out("[2/4] training: ", end="")
        if not force:
            train_all(profile, jobs=jobs, device=device, results_dir=results_dir, data_dir=data_dir, stack=stack_seeds)
            stored = all_stored(profile, device=device, results_dir=results_dir, data_dir=data_dir)
            # Notebooks that only read stored runs and draw them can share the cores too.
            nb_jobs = jobs if jobs > 1 and stored else 1
        trained = trained_runs(results_dir) - stored_before
        rest = "" if stored else "; the notebooks retrain every run" if force else "; the notebooks train the rest"
        out(f"[2/4] training: {trained} run(s) trained, {stored_before} found stored{rest} "
            f"({time.perf_counter() - t:.0f} s)")
        t = time.perf_counter()
        out("[3/4] notebooks: ", end="")
        params = {"profile": profile, "device": device, "force": force, "results_dir": str(results_dir),
                  "figures_dir": str(figures_dir) if figures_dir else None,
                  "data_dir": str(data_dir) if data_dir else None, "jobs": nb_jobs}
        executed = execute(NOTEBOOKS_DIR / f"{MASTER}.ipynb", results_dir / "executed" / f"{MASTER}.ipynb", params,
                           progress=verbose)
        runs = [r for r in notebook_durations(results_dir) if r["notebook"] != MASTER]
        failed = [r["notebook"] for r in runs if r["status"] != "ok"]
        out(f"[3/4] notebooks: {len(runs) - len(failed)} of {len(runs)} ok"
            + (f", failed: {', '.join(failed)} (their executed copies are in {results_dir / 'executed'})"
               if failed else "") + f" ({time.perf_counter() - t:.0f} s)")
        t = time.perf_counter()
        env = environment(str(resolve_device(device)))
        record_build(results_dir, time.perf_counter() - t0, from_empty=stored_before == 0,
                     trained=trained_runs(results_dir) - stored_before, cores=usable_cores(),
                     device=env["device"], commit=env["git_commit"], dirty=env["git_dirty"])
        md = write_summary_markdown(results_dir, profile)
        html = export_html(executed, results_dir / "report.html")
        out(f"[4/4] report: {html} and {md.name} ({time.perf_counter() - t:.0f} s)")
    return html


def final_line(html: Path, seconds: float, counts: Counter) -> str:
    """The last line `strn report` prints: where the report is, the verdicts, the time."""
    verdicts = ", ".join(f"{n} {word}" for word, n in counts.most_common()) or "none judged"
    return f"done in {minutes(seconds)}. Report: {html}. The {sum(counts.values())} claims: {verdicts}."


def notebook_durations(results_dir: str | Path) -> list[dict[str, Any]]:
    """Status and wall time of each executed notebook, as papermill recorded them."""
    import nbformat  # local: jupyter's libraries only when notebooks are read or exported

    rows = []
    for p in sorted((Path(results_dir) / "executed").glob("*.ipynb")):
        meta = nbformat.read(str(p), as_version=4).metadata.get("papermill", {})
        rows.append({"notebook": p.stem, "status": "failed" if meta.get("exception") else "ok",
                     "seconds": int(round(float(meta.get("duration") or 0.0)))})
    return rows


def _markdown_table(df) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return f"{v:.3f}" if isinstance(v, float) else str(v).replace("|", "\\|")

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_summary_markdown(results_dir: str | Path, profile: str) -> Path:
    """``<results_dir>/summary.md``: every table, every claim verdict, the time `strn report`
    took (``summaries/timing.json``) and the notebooks' wall times, generated from the stored
    results (the README links it; nothing is typed)."""
    tables, verdicts = summary(results_dir)
    runs = notebook_durations(results_dir)
    keep = [c for c in ("table", "configuration", "thesis error", "reproduced", "thesis rank", "reproduced rank",
                        "seeds", "train s (mean)") if c in tables]
    agreement = [f"- Table {t}: {a}" for t, a in
                 tables[["table", "rank agreement"]].drop_duplicates().itertuples(index=False)] if len(tables) else []
    parts = [f"# Results of profile `{profile}`", "",
             f"Generated by `strn report --profile {profile}` from `results/{profile}/`; error rates at video "
             "level, reproduced = mean ± std over seeds.", "", "## Time", "",
             *[s for t in timing_sentences(read_timing(results_dir)) for s in (t, "")],
             "## Notebooks", "", _markdown_table(pd.DataFrame(runs)) if runs else "(none executed)", ""]
    stored = [r for r in load_results(results_dir) if "reused_from" not in r]
    if stored:
        parts += [f"Videos: {skipped_text(stored)} (`skipped_videos` of the runs; the rule is in "
                  "docs/RELIABILITY.md).", ""]
    parts += ["## Tables: thesis (UCF-101) beside reproduced", "",
              "The thesis's numbers are UCF-101's; where the reproduced ones come from another set they are not "
              "subtracted from them: what can be compared across the gap is the order of the rows (ranks, 1 = "
              "lowest error, and Kendall's tau per table).", "",
              _markdown_table(tables[keep]) if len(tables) else "(no results)", "", *agreement, "",
              "## The thesis's claims", "", _markdown_table(verdicts) if len(verdicts) else "(none)", ""]
    return atomic_write_text(Path(results_dir) / "summary.md", "\n".join(parts))


def report_page(profile: str, results_dir: str | Path, figures_dir: str | Path,
                runs: list[dict[str, Any]] | None = None):
    """The report's body as one HTML block (`templates/report_body.html.j2`): what was run and on
    what data, the claims with their words defined, the central figure; then each table with its
    figures; then how the page was made (``runs``: this execution's notebooks)."""
    from IPython.display import HTML  # local: IPython only inside a notebook

    return HTML(_template("report_body.html.j2").render(**page_context(profile, results_dir, figures_dir, runs)))

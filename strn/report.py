"""The master: execute the numbered notebooks with papermill, gather their tables and
claim verdicts, export the HTML report."""
from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from . import claims, experiments
from .paths import NOTEBOOKS_DIR, default_results_dir
from .notebook_runs import MASTER, execute, numbered_notebooks, run_notebooks  # noqa: F401 - the master's API
from .notebook_runs import at_a_time, wall_seconds  # noqa: F401 - the master's API
from .results import atomic_write_text, load_results


def status_frame(runs: list[dict[str, Any]]):
    df = pd.DataFrame(runs).drop(columns=["started", "ended"], errors="ignore")
    total = pd.DataFrame([{"notebook": "total (wall)",
                           "status": "ok" if all(r["status"] == "ok" for r in runs) else "failed",
                           "seconds": round(wall_seconds(runs), 1), "error": None}])
    df = pd.concat([df, total], ignore_index=True)
    if df["error"].isna().all():  # an error column of None says nothing
        df = df.drop(columns="error")
    return df.style.hide(axis="index").format({"seconds": "{:.0f}"})


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
        tables.append(t)
        verdicts += claims.judge(key, recs)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, claims.verdict_frame(sorted(verdicts, key=lambda v: v.claim))


def export_html(executed: str | Path, html: str | Path) -> Path:
    """Render an executed notebook to a standalone HTML file (code cells hidden)."""
    import nbformat  # local: jupyter's libraries only when notebooks are read or exported
    from nbconvert import HTMLExporter  # heavy (jinja, bleach): only when the HTML is exported

    nb = nbformat.read(str(executed), as_version=4)
    # The report shows results, not the execution's stream: progress lines, kernel warnings and
    # library warnings (stderr) stay in the executed notebook and out of the page.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return atomic_write_text(html, body)


def build_report(profile: str = "demo", *, device: str = "auto", force: bool = False,
                 results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, jobs: int | None = None, stack_seeds: bool = True) -> Path:
    """Execute the master notebook (which executes all the others) and export the report
    to ``<results_dir>/report.html``. On a CPU, the STRN experiments' runs are first trained
    by ``jobs`` one-thread processes side by side (default: one per core; `strn.parallel`);
    the notebooks then find them stored; ``stack_seeds``: the seeds of one configuration as one
    stacked job (`strn.stacked_run`). Not with ``force`` (the notebooks retrain then)."""
    from .parallel import all_stored, default_jobs, train_all  # torch and the experiments load only when a report is built

    results_dir = Path(results_dir or default_results_dir(profile))
    jobs = default_jobs() if jobs is None else jobs
    nb_jobs = 1
    if not force:
        train_all(profile, jobs=jobs, device=device, results_dir=results_dir, data_dir=data_dir, stack=stack_seeds)
        # Notebooks that only read stored runs and draw them can share the cores too.
        if jobs > 1 and all_stored(profile, device=device, results_dir=results_dir, data_dir=data_dir):
            nb_jobs = jobs
    params = {"profile": profile, "device": device, "force": force, "results_dir": str(results_dir),
              "figures_dir": str(figures_dir) if figures_dir else None, "data_dir": str(data_dir) if data_dir else None,
              "jobs": nb_jobs}
    executed = execute(NOTEBOOKS_DIR / f"{MASTER}.ipynb", results_dir / "executed" / f"{MASTER}.ipynb", params,
                       progress=True)
    write_summary_markdown(results_dir, profile)
    return export_html(executed, results_dir / "report.html")


def environment_frame(results_dir: str | Path):
    """Where the results came from: versions, devices and commits of the stored runs."""
    rows = {}
    for r in load_results(results_dir):
        env = r.get("env", {})
        key = (env.get("device_name"), env.get("torch"), env.get("git_commit"))
        rows.setdefault(key, {"device": env.get("device_name"), "torch": env.get("torch"), "av": env.get("av"),
                              "git commit": (env.get("git_commit") or "")[:10],
                              "tree": "uncommitted changes" if env.get("git_dirty") else "clean",
                              "runs": 0, "train s": 0.0})
        rows[key]["runs"] += 1
        rows[key]["train s"] += r["cost"].get("train_s") or 0.0
    return pd.DataFrame(list(rows.values())).style.hide(axis="index").format({"train s": "{:.0f}"})


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


def skipped_videos(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every video some run skipped (``skipped_videos`` of the records), once per path."""
    seen: dict[str, dict[str, str]] = {}
    for r in records:
        for s in r.get("skipped_videos") or []:
            seen.setdefault(s["path"], s)
    return [seen[p] for p in sorted(seen)]


def _skipped_text(records: list[dict[str, Any]]) -> str:
    skipped = skipped_videos(records)
    if not skipped:
        return "no video was skipped"
    listed = "; ".join(f"{s['path']} ({s.get('reason', '?')})" for s in skipped[:5])
    return f"{len(skipped)} video(s) skipped: {listed}" + (" ..." if len(skipped) > 5 else "")


def write_summary_markdown(results_dir: str | Path, profile: str) -> Path:
    """``<results_dir>/summary.md``: every table, every claim verdict and the notebooks' wall
    times, generated from the stored results (the README links it; nothing is typed)."""
    tables, verdicts = summary(results_dir)
    runs = notebook_durations(results_dir)
    keep = [c for c in ("table", "configuration", "thesis error", "reproduced", "difference", "seeds",
                        "train s (mean)") if c in tables]
    master = next((r for r in runs if r["notebook"] == MASTER), None)
    parts = [f"# Results of profile `{profile}`", "",
             f"Generated by `strn report --profile {profile}` from `results/{profile}/`; error rates at video "
             "level, reproduced = mean ± std over seeds.", "",
             "## Notebooks", "", _markdown_table(pd.DataFrame(runs)) if runs else "(none executed)", ""]
    if master:
        parts += [f"The latest execution of the master notebook (which executes all others, training only what "
                  f"is not stored yet) took {master['seconds']:.0f} s.", ""]
    stored = [r for r in load_results(results_dir) if "reused_from" not in r]
    if stored:
        wall = sum(float(r["cost"].get("wall_s") or 0.0) for r in stored)
        parts += [f"The {len(stored)} stored training runs took {wall:.0f} s of wall time when they were made "
                  "(sum of `cost.wall_s`, so runs trained side by side count each; runs reused from another "
                  "table are counted once).", "", f"Videos: {_skipped_text(stored)} (`skipped_videos` of the "
                  "runs; the rule is in docs/RELIABILITY.md).", ""]
    parts += ["## Tables: thesis (UCF-101) beside reproduced", "",
              _markdown_table(tables[keep]) if len(tables) else "(no results)", "",
              "## The thesis's claims", "", _markdown_table(verdicts) if len(verdicts) else "(none)", ""]
    return atomic_write_text(Path(results_dir) / "summary.md", "\n".join(parts))


def figure_gallery(figures_dir: str | Path):
    """Every PNG under ``figures_dir``, grouped by notebook, as one embedded HTML block (so
    the exported report carries the figures of all notebooks)."""
    from IPython.display import HTML  # local: IPython only inside a notebook

    groups: dict[str, list[Path]] = {}
    for p in sorted(Path(figures_dir).glob("*.png")):
        stem = next((nb.stem for nb in numbered_notebooks() if p.stem.startswith(nb.stem)), "other")
        groups.setdefault(stem, []).append(p)
    parts = []
    for stem, paths in groups.items():
        parts.append(f"<h3>{html.escape(stem)}</h3>")
        for p in paths:
            data = base64.b64encode(p.read_bytes()).decode()
            parts.append(f'<figure style="display:inline-block;margin:4px"><img style="max-width:100%" '
                         f'src="data:image/png;base64,{data}"><figcaption>{html.escape(p.name)}</figcaption></figure>')
    return HTML("\n".join(parts) or "<p>(no figures)</p>")


# ---------------------------------------------------------------- the report page itself
VERDICT_COLOURS = {"reproduced": "#1b7f3b", "not reproduced": "#b3261e", "inconclusive": "#8a6d00"}
CAPTIONS = {  # what to look for, by the end of a figure's name
    "_training_curves": "Look for a training loss that falls and a test error that ends well below chance; a test "
                        "error that rises while the loss falls means the runs fit the training scenes.",
    "_cost": "Look at the error against the training time this run measured (left and right axes).",
    "_by_context": "Look at how the error changes with the number of frames a model sees.",
    "_order_test": "Each row's error with the frames as sampled (blue), reversed (orange) and all copies of the last "
                   "frame (grey), with the single-frame floor: a model that uses the order rises when the frames are "
                   "reversed; an order-free one does not.",
    "_confusion": "Look at the diagonal (correct videos) and at which classes are mixed up: in the synthetic set, "
                  "classes of one shape that differ only in the direction of motion.",
    # chapters 3, 4 and 5.1 (notebooks 03, 04, 05.1)
    "_activations": "Activation functions and their derivatives (chapter 3).",
    "_optimizers": "ADAM, RPROP and SGD from the same initial weights on two spirals (chapter 3), full-batch and "
                   "mini-batch: look at how fast each loss falls.",
    "_bptt": "The gradient back-propagated through time at initialisation, by distance from the loss "
             "(chapter 3): look at which chains let it vanish.",
    "_blocks": "A residual block, and spatio-temporal blocks with an identity and a conv temporal connection "
               "(Figs. 4.1-4.2, chapter 4).",
    "_unrolled": "STRN unrolled over the frames of one sequence (chapter 4).",
    "_costs": "What a prediction computes: only the frames the last time step needs (chapter 4).",
    "_video_sequences": "How a video becomes sequences of T frames every r-th frame, and its prediction the mean "
                        "of their class distributions (chapter 4).",
    "_class_counts": "Videos per class in the training and test lists (5.1).",
    "_lengths": "Frames per video (dashed: too short for one sequence, padded) and sequences per video (5.1).",
    "_samples": "The first sampled frames of one video per class (5.1): what one frame shows.",
    # drawn by benchmarks/ scripts from stored numbers (docs/STUDY.md section 7)
    "calibration": "Test video error per epoch of the three rows that decide the demo, before its calibration "
                   "(left) and in the committed demo, seed 0 (right), with chance and the single-frame floor.",
    "convergence_checks": "Each seed's test video error per epoch at the demo's 16 epochs (thin) and retrained over "
                          "24 (thick); dashed: not levelled off. Look at which runs still fall at their end.",
}
DEFAULT_CAPTION = ("Grey: the thesis's UCF-101 error; blue: this run's error, mean ± std over seeds. Look at the "
                   "ordering of the bars, which is what the thesis's claims are about.")


def _esc(v: Any) -> str:
    return html.escape(str(v))


def _converged(records: list[dict[str, Any]]) -> str:
    flags = [r.get("metrics", {}).get("converged") for r in records]
    if not flags or any(f is None for f in flags):
        return "?"
    return "yes" if all(flags) else f"no ({sum(not f for f in flags)} of {len(flags)})"


def experiment_table(key: str, records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The rows of one experiment as the report shows them: row | thesis | reproduced mean ±
    std | seeds | difference | converged (strings, formatted)."""
    t = experiments.summary_table(key, records)
    exp = experiments.get_experiment(key)
    rows = []
    for row, (_, line) in zip(exp.rows, t.iterrows()):
        mine = [r for r in records if r.get("name") == row.name]
        diff = line["difference"]
        rows.append({"row": " / ".join(str(v) for v in row.columns.values()),
                     "thesis": "–" if row.thesis is None else f"{row.thesis:.3f}",
                     "reproduced mean ± std": line["reproduced"],
                     "seeds": str(int(line["seeds"])),
                     "difference": "–" if diff is None or diff != diff else f"{diff:+.3f}",
                     "converged": _converged(mine) if mine else "–"})
    return rows


def _html_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i == 0 else "n"}">{_esc(r[c])}</td>'
                                    for i, c in enumerate(cols)) + "</tr>" for r in rows)
    return f'<table class="strn"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _verdict_html(v) -> str:
    colour = VERDICT_COLOURS.get(v.verdict, "#444")
    return (f'<div class="verdict" style="border-left:6px solid {colour};padding:4px 10px;margin:6px 0">'
            f'<b>Claim {v.claim}</b>: {_esc(v.text)}<br><span style="color:{colour};font-weight:bold">'
            f'{_esc(v.verdict)}</span> &mdash; decided by: {_esc(v.test)}</div>')


def _figure_html(path: Path) -> str:
    caption = next((c for suffix, c in CAPTIONS.items() if path.stem.endswith(suffix)), DEFAULT_CAPTION)
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure style="margin:8px 0"><img style="max-width:100%" alt="{_esc(path.stem)}" '
            f'src="data:image/png;base64,{data}"><figcaption><i>{_esc(path.name)}</i>: {_esc(caption)}'
            f'</figcaption></figure>')


def _first_screen(profile: str, results_dir: Path, runs: list[dict[str, Any]] | None, verdicts) -> str:
    recs = load_results(results_dir)
    stored = [r for r in recs if "reused_from" not in r]
    datasets = sorted({(r.get("dataset") or {}).get("kind", "?") for r in recs})
    n_classes = sorted({len((r.get("dataset") or {}).get("classes", [])) for r in recs})
    devices = sorted({str((r.get("env") or {}).get("device_name") or (r.get("cost") or {}).get("device"))
                      for r in stored})
    train_s = sum(float((r.get("cost") or {}).get("wall_s") or 0.0) for r in stored)
    counts = Counter(v.verdict for v in verdicts)
    verdict_text = ", ".join(f'<span style="color:{VERDICT_COLOURS.get(k, "#444")};font-weight:bold">{n} {k}</span>'
                             for k, n in counts.most_common()) or "none judged"
    nb_text = ""
    if runs:
        ok = sum(r["status"] == "ok" for r in runs)
        side = at_a_time(runs)
        nb_text = (f"; this execution: {ok} of {len(runs)} notebooks ok in {wall_seconds(runs):.0f} s"
                   + (f" ({side} at a time)" if side > 1 else ""))
    lines = [
        f"<b>What was run</b>: the thesis's tables 5.1–5.8 as {len(stored)} training runs "
        f"(profile <code>{_esc(profile)}</code>), each beside the thesis's UCF-101 number.",
        f"<b>On what</b>: {_esc(', '.join(datasets))} data ({'/'.join(str(n) for n in n_classes)} classes), "
        f"on {_esc(', '.join(devices) or '?')}; {_esc(_skipped_text(stored))}.",
        f"<b>How long</b>: {train_s / 60:.1f} min of training wall time when the runs were made (summed over "
        f"runs: runs trained side by side each count){nb_text}.",
        f"<b>Verdicts</b> on the thesis's claims: {verdict_text}.",
        f"<b>Provenance</b>: {_esc(provenance_line(results_dir))}.",
    ]
    return '<div class="first-screen" style="font-size:110%;line-height:1.6">' + "<br>".join(lines) + "</div>"


def provenance_line(results_dir: str | Path) -> str:
    """The commit(s) the stored runs were made at, and whether the tree was clean."""
    commits: dict[tuple[str, bool], int] = {}
    for r in load_results(results_dir):
        env = r.get("env") or {}
        k = ((env.get("git_commit") or "unknown")[:10], bool(env.get("git_dirty")))
        commits[k] = commits.get(k, 0) + 1
    if not commits:
        return "no stored runs"
    return "; ".join(f"{n} run(s) at commit {c}{' with uncommitted changes' if dirty else ' (clean)'}"
                     for (c, dirty), n in sorted(commits.items(), key=lambda kv: -kv[1]))


def report_page(profile: str, results_dir: str | Path, figures_dir: str | Path,
                runs: list[dict[str, Any]] | None = None):
    """The report's body as one HTML block: a first screen (what was run, on what, how long,
    the verdicts, provenance), then per experiment its table with the verdicts beside it and
    its figures with captions."""
    from IPython.display import HTML  # local: IPython only inside a notebook

    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    sections, all_verdicts = [], []
    for key, exp in experiments.EXPERIMENTS.items():
        recs = load_results(results_dir, key) if (results_dir / key).exists() else []
        if not recs:
            continue
        verdicts = claims.judge(key, recs)
        all_verdicts += verdicts
        figs = sorted(figures_dir.glob(f"{key}*.png"))
        sections.append(f'<section class="experiment"><h2>Table {_esc(exp.table)}: {_esc(exp.title)}</h2>'
                        f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
                        f'<div style="flex:1 1 480px">{_html_table(experiment_table(key, recs))}'
                        + "".join(_verdict_html(v) for v in verdicts) + '</div>'
                        f'<div style="flex:1 1 420px">' + "".join(_figure_html(p) for p in figs) + '</div>'
                        '</div></section>')
    others = [p for p in sorted(figures_dir.glob("*.png"))
              if not any(p.stem.startswith(k) for k in experiments.EXPERIMENTS)]
    notebooks = [p for p in others if p.stem[:1].isdigit()]  # named after their notebook, "03_..."
    if notebooks:
        sections.append('<section class="experiment"><h2>The other notebooks\' figures (chapters 3, 4, 5.1)</h2>'
                        + "".join(_figure_html(p) for p in notebooks) + '</section>')
    if len(notebooks) < len(others):  # drawn by benchmarks/ scripts from stored numbers (docs/STUDY.md section 7)
        sections.append('<section class="experiment"><h2>How the demo was calibrated and checked '
                        '(docs/STUDY.md section 7)</h2>'
                        + "".join(_figure_html(p) for p in others if p not in notebooks) + '</section>')
    style = ('<style>table.strn{border-collapse:collapse;margin:6px 0}table.strn th,table.strn td{padding:3px 8px;'
             'border-bottom:1px solid #ddd}table.strn td.n{text-align:right;font-variant-numeric:tabular-nums}'
             'table.strn td.l{text-align:left}table.strn th{background:#f3f3f3}</style>')
    return HTML(style + _first_screen(profile, results_dir, runs, all_verdicts) + "".join(sections))

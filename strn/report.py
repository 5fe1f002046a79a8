"""The master: execute the numbered notebooks with papermill, gather their tables and
claim verdicts, export the HTML report."""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from .run import REPO_ROOT, default_results_dir

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
MASTER = "00_master"


def numbered_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The study notebooks in order, the master excluded."""
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if not p.stem.startswith(MASTER))


def _kernel_env() -> None:
    # A generic "python3" kernelspec runs whichever `python` is first on PATH: make that
    # the interpreter running this code (the project's virtualenv).
    bindir = str(Path(sys.executable).parent)
    if not os.environ.get("PATH", "").startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def execute(src: str | Path, dst: str | Path, parameters: Mapping[str, Any], *, timeout: int | None = None,
            progress: bool = False) -> Path:
    """Execute notebook ``src`` into ``dst`` with papermill; a parameter that ``src`` does not
    declare is rejected before anything runs."""
    import papermill as pm

    src, dst = Path(src), Path(dst)
    declared = set(pm.inspect_notebook(str(src)))
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise ValueError(f"{src.name} does not declare parameter(s) {', '.join(unknown)}; "
                         f"it takes: {', '.join(sorted(declared))}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    _kernel_env()
    pm.execute_notebook(str(src), str(dst), parameters=dict(parameters), kernel_name="python3",
                        progress_bar=progress, cwd=str(src.parent), execution_timeout=timeout)
    return dst


def run_notebooks(profile: str = "demo", *, device: str = "auto", seeds: list[int] | None = None, force: bool = False,
                  results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                  data_dir: str | Path | None = None, notebooks: list[str] | None = None) -> list[dict[str, Any]]:
    """Execute every numbered notebook (or those named) with one profile. Executed copies go
    to ``<results_dir>/executed/``. A failing notebook is recorded with its error and the
    others still run."""
    from tqdm.auto import tqdm

    results_dir = Path(results_dir or default_results_dir(profile))
    params = {"profile": profile, "device": device, "seeds": seeds, "force": force,
              "results_dir": str(results_dir), "figures_dir": str(figures_dir) if figures_dir else None,
              "data_dir": str(data_dir) if data_dir else None}
    paths = numbered_notebooks()
    if notebooks:
        paths = [p for p in paths if p.stem in notebooks]
    out = []
    for src in tqdm(paths, desc="notebooks", unit="nb"):
        t0 = time.perf_counter()
        status, error = "ok", None
        try:
            execute(src, results_dir / "executed" / src.name, params)
        except Exception as e:  # noqa: BLE001 - reported, the other notebooks still run
            status = "failed"
            error = "".join(traceback.format_exception_only(type(e), e)).strip()[-2000:]
        out.append({"notebook": src.stem, "status": status, "seconds": round(time.perf_counter() - t0, 1),
                    "error": error})
    return out


def status_frame(runs: list[dict[str, Any]]):
    import pandas as pd

    df = pd.DataFrame(runs)
    total = pd.DataFrame([{"notebook": "total", "status": "ok" if all(r["status"] == "ok" for r in runs) else "failed",
                           "seconds": round(sum(r["seconds"] for r in runs), 1), "error": None}])
    return pd.concat([df, total], ignore_index=True)


def summary(results_dir: str | Path) -> tuple[Any, Any]:
    """All experiments' tables (thesis beside reproduced) and all claim verdicts, from the
    results JSON under ``results_dir``."""
    import pandas as pd

    from . import claims, experiments
    from .results import load_results

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
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    from .results import atomic_write_text

    return atomic_write_text(html, body)


def build_report(profile: str = "demo", *, device: str = "auto", force: bool = False,
                 results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                 data_dir: str | Path | None = None) -> Path:
    """Execute the master notebook (which executes all the others) and export the report
    to ``<results_dir>/report.html``."""
    results_dir = Path(results_dir or default_results_dir(profile))
    params = {"profile": profile, "device": device, "force": force, "results_dir": str(results_dir),
              "figures_dir": str(figures_dir) if figures_dir else None, "data_dir": str(data_dir) if data_dir else None}
    executed = execute(NOTEBOOKS_DIR / f"{MASTER}.ipynb", results_dir / "executed" / f"{MASTER}.ipynb", params,
                       progress=True)
    write_summary_markdown(results_dir, profile)
    return export_html(executed, results_dir / "report.html")


def environment_frame(results_dir: str | Path):
    """Where the results came from: versions, devices and commits of the stored runs."""
    import pandas as pd

    from .results import load_results

    rows = {}
    for r in load_results(results_dir):
        env = r.get("env", {})
        key = (env.get("device_name"), env.get("torch"), env.get("git_commit"))
        rows.setdefault(key, {"device": env.get("device_name"), "torch": env.get("torch"), "av": env.get("av"),
                              "git commit": (env.get("git_commit") or "")[:10], "dirty": env.get("git_dirty"),
                              "runs": 0, "train s": 0.0})
        rows[key]["runs"] += 1
        rows[key]["train s"] += r["cost"].get("train_s") or 0.0
    return pd.DataFrame(list(rows.values()))


def notebook_durations(results_dir: str | Path) -> list[dict[str, Any]]:
    """Status and wall time of each executed notebook, as papermill recorded them."""
    import nbformat

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
    """``<results_dir>/summary.md``: every table, every claim verdict and the notebooks' wall
    times, generated from the stored results (the README links it; nothing is typed)."""
    import pandas as pd

    from .results import atomic_write_text

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
    from .results import load_results

    stored = [r for r in load_results(results_dir) if "reused_from" not in r]
    if stored:
        wall = sum(float(r["cost"].get("wall_s") or 0.0) for r in stored)
        parts += [f"The {len(stored)} stored training runs took {wall:.0f} s of wall time when they were made "
                  "(sum of `cost.wall_s`; runs reused from another table are counted once).", ""]
    parts += ["## Tables: thesis (UCF-101) beside reproduced", "",
              _markdown_table(tables[keep]) if len(tables) else "(no results)", "",
              "## The thesis's claims", "", _markdown_table(verdicts) if len(verdicts) else "(none)", ""]
    return atomic_write_text(Path(results_dir) / "summary.md", "\n".join(parts))


def figure_gallery(figures_dir: str | Path):
    """Every PNG under ``figures_dir``, grouped by notebook, as one embedded HTML block (so
    the exported report carries the figures of all notebooks)."""
    import base64
    import html

    from IPython.display import HTML

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

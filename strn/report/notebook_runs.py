"""Executing the study's notebooks with papermill: one at a time, or side by side once every
run they show is stored (`strn.report.build` builds the report from them)."""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..paths import NOTEBOOKS_DIR, default_results_dir
from ..progress import log

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


@contextlib.contextmanager
def terminal(log_path: str | Path, *, quiet: bool, say: Callable[[str], None] | None = None
             ) -> Iterator[Callable[..., None]]:
    """Yields ``out(line, end="\\n")``: a line for the user (``say``, default: this terminal's
    stdout). ``end=""`` starts a line that a long phase completes: the next ``out`` repeats it
    with its result, and a quiet terminal shows only the rest.

    ``quiet``: meanwhile, whatever else reaches this process's stdout and stderr goes to
    ``log_path`` instead -- at the file-descriptor level, because the noise comes from child
    processes that inherit them: the Jupyter kernels papermill starts ("Kernel is running over
    TCP without encryption" at every start, "KeyboardInterrupt caught in kernel" at every
    shutdown), the master kernel's own kernels, the training pool's workers, papermill's
    bars. On an error the user is told where that output went."""
    pending = [""]

    def loud(line: str, end: str = "\n") -> None:
        if end:
            (say or print)(line)
        elif not say:
            print(line.rstrip(": ") + " ...", flush=True)
        sys.stdout.flush()

    if not quiet:
        yield loud
        return
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    user = os.fdopen(os.dup(saved[0]), "w", buffering=1)

    def out(line: str, end: str = "\n") -> None:
        if say:
            if end:
                say(line)
            return
        shown = line[len(pending[0]):] if pending[0] and line.startswith(pending[0]) else \
            ("\n" if pending[0] else "") + line
        user.write(shown + end)
        user.flush()
        pending[0] = line if not end else ""

    try:
        # Python's own sys.stdout/sys.stderr too: they need not write to descriptors 1 and 2.
        with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield out
            except BaseException:
                out(f"(everything it printed is in {log_path})")
                raise
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
        user.close()


def execute(src: str | Path, dst: str | Path, parameters: Mapping[str, Any], *, timeout: int | None = None,
            progress: bool = False) -> Path:
    """Execute notebook ``src`` into ``dst`` with papermill; a parameter that ``src`` does not
    declare is rejected before anything runs."""
    import papermill as pm  # local: papermill and jupyter load only when notebooks are executed

    src, dst = Path(src), Path(dst)
    declared = set(pm.inspect_notebook(str(src)))
    unknown = sorted(set(parameters) - declared)
    if unknown:
        raise ValueError(f"{src.name} does not declare parameter(s) {', '.join(unknown)}; "
                         f"it takes: {', '.join(sorted(declared))}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    _kernel_env()
    # Nobody watches an executed notebook live: plain per-epoch lines, not bars (strn/progress.py).
    os.environ.setdefault("STRN_PROGRESS", "log")
    pm.execute_notebook(str(src), str(dst), parameters=dict(parameters), kernel_name="python3",
                        progress_bar=progress, cwd=str(src.parent), execution_timeout=timeout)
    return dst


def _execute_timed(src: str, dst: str, params: Mapping[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Execute one notebook; its row of the status table (a failure is recorded, not raised).
    ``threads``: the kernel's torch threads (notebooks executed side by side share the cores)."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the kernel papermill starts
    started, t0 = time.time(), time.perf_counter()
    status, error = "ok", None
    try:
        execute(src, dst, params)
    except Exception as e:  # noqa: BLE001 - reported, the other notebooks still run
        status = "failed"
        error = "".join(traceback.format_exception_only(type(e), e)).strip()[-2000:]
    seconds = time.perf_counter() - t0
    # started/ended (epoch seconds): the wall time of notebooks executed side by side is not their sum
    return {"notebook": Path(src).stem, "status": status, "seconds": round(seconds, 1), "error": error,
            "started": started, "ended": started + seconds}


def wall_seconds(runs: list[dict[str, Any]]) -> float:
    """Wall time from the first notebook's start to the last one's end (the sum of their
    seconds where rows carry no start and end)."""
    if runs and all("started" in r and "ended" in r for r in runs):
        return max(r["ended"] for r in runs) - min(r["started"] for r in runs)
    return sum(r["seconds"] for r in runs)


def at_a_time(runs: list[dict[str, Any]]) -> int:
    """The most notebooks that were executing at one moment (1 where rows carry no start and end)."""
    if not runs or not all("started" in r and "ended" in r for r in runs):
        return 1
    return max(sum(o["started"] <= r["started"] < o["ended"] for o in runs) for r in runs)


def run_notebooks(profile: str = "demo", *, device: str = "auto", seeds: list[int] | None = None, force: bool = False,
                  results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                  data_dir: str | Path | None = None, notebooks: list[str] | None = None,
                  jobs: int = 1) -> list[dict[str, Any]]:
    """Execute every numbered notebook (or those named) with one profile. Executed copies go
    to ``<results_dir>/executed/``. A failing notebook is recorded with its error and the
    others still run.

    ``jobs`` > 1 executes that many notebooks side by side (one process and one kernel
    each, one torch thread per kernel), rows returned in the notebooks' order. Only for
    notebooks that train nothing: two notebooks that train the same shared row at once
    would both train it into the same checkpoint, so `strn report` asks for it only once
    every run is stored (`strn.study.parallel.all_stored`)."""
    results_dir = Path(results_dir or default_results_dir(profile))
    params = {"profile": profile, "device": device, "seeds": seeds, "force": force,
              "results_dir": str(results_dir), "figures_dir": str(figures_dir) if figures_dir else None,
              "data_dir": str(data_dir) if data_dir else None}
    paths = numbered_notebooks()
    if notebooks:
        paths = [p for p in paths if p.stem in notebooks]
    dst = {src: str(results_dir / "executed" / src.name) for src in paths}
    if jobs <= 1 or len(paths) <= 1:
        out = []
        for i, src in enumerate(paths):
            log(f"notebook {i + 1}/{len(paths)}: {src.stem}")
            out.append(_execute_timed(str(src), dst[src], params))
        return out
    log(f"executing {len(paths)} notebooks, {jobs} side by side (every run they show is stored)")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_execute_timed, str(src), dst[src], params, 1) for src in paths]
        out = []
        for i, fut in enumerate(futures):
            out.append(fut.result())
            log(f"notebook {i + 1}/{len(paths)}: {out[-1]['notebook']} {out[-1]['status']} "
                f"({out[-1]['seconds']:.0f} s)")
    return out

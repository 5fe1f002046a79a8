"""How long `strn report` took, written by the run itself so that the report, summary.md and
the README quote one measured number instead of each its own.

``<results_dir>/summaries/timing.json`` (beside the notebooks' summaries, where the run loaders
do not look) holds two measurements:

* ``from_empty_s``: the whole `strn report` (data, training, notebooks, report) when it started
  with no stored run in the results folder -- the time a fresh clone takes; with the commit,
  the usable cores and the device it was measured on. Written only by such a run, kept by every
  later one.
* ``last_render_s``: the latest `strn report`, whatever it found stored (a re-render over
  stored runs trains nothing and takes about a minute or two).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..results import SUMMARY_DIR, atomic_write_text, load_results

TIMING = "timing.json"


def timing_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / SUMMARY_DIR / TIMING


def read_timing(results_dir: str | Path) -> dict[str, Any]:
    """The stored timing of ``results_dir`` ({} when none was written yet or it is unreadable)."""
    try:
        data = json.loads(timing_path(results_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def trained_runs(results_dir: str | Path) -> int:
    """The runs trained into ``results_dir``: its records less those that point at another
    experiment's run of the same configuration (``reused_from``: read back, never trained)."""
    results_dir = Path(results_dir)
    return sum("reused_from" not in r for r in load_results(results_dir)) if results_dir.exists() else 0


def record_build(results_dir: str | Path, seconds: float, *, from_empty: bool, trained: int, cores: int,
                 device: str, commit: str | None, dirty: bool | None) -> dict[str, Any]:
    """Write this `strn report`'s time: as ``last_render_*`` always, and as ``from_empty_*``
    too when it began without any stored run; returns the file's new content."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = read_timing(results_dir)
    data.update({"last_render_s": round(seconds, 1), "last_render_date": now, "last_render_commit": commit,
                 "last_render_trained_runs": trained})
    if from_empty:
        data.update({"from_empty_s": round(seconds, 1), "commit": commit, "commit_dirty": dirty, "cores": cores,
                     "device": device, "date": now, "trained_runs": trained})
    atomic_write_text(timing_path(results_dir), json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def minutes(seconds: float) -> str:
    """``1482`` -> ``"24.7 min"``; under two minutes in seconds."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def timing_sentences(timing: dict[str, Any]) -> list[str]:
    """The timing as the report and summary.md state it (plain text, one sentence each)."""
    out = []
    if "from_empty_s" in timing:
        # the commit stays in timing.json: readers are told the date, not a hash
        out.append(f"From an empty results folder, `strn report` took {minutes(timing['from_empty_s'])} "
                   f"({timing['from_empty_s']:.0f} s: data, {timing.get('trained_runs', '?')} training runs, "
                   f"notebooks and report) on device {timing.get('device', '?')} with {timing.get('cores', '?')} usable "
                   f"core(s), {timing.get('date', '')}.")
    else:
        out.append("No `strn report` from an empty results folder has been timed here yet.")
    if "last_render_s" in timing:
        trained = timing.get("last_render_trained_runs") or 0
        what = f"training {trained} run(s)" if trained else "over the stored runs, training nothing"
        out.append(f"The latest `strn report` ({what}) took {minutes(timing['last_render_s'])}, "
                   f"{timing.get('last_render_date', '')}.")
    return out

"""Where things live: the repository and the default folders for data, results and figures;
and how many cores this process may use (the default count of worker processes).

Its own module (imported by `run`, `pretrain`, `report`, `notebook`, ...) so that knowing a
folder never means importing the training code.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def default_data_dir() -> Path:
    """Where datasets, frame caches, features and pretrained weights live: ``$STRN_DATA_DIR``,
    else ``<repo>/data``."""
    return Path(os.environ.get("STRN_DATA_DIR") or REPO_ROOT / "data")


def default_results_dir(profile: str) -> Path:
    return REPO_ROOT / "results" / profile


def default_figures_dir(profile: str) -> Path:
    return REPO_ROOT / "figures" / profile


def usable_cores() -> int:
    """Cores this process may use (its CPU affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

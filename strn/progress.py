"""How the library reports progress: one rule for the whole library.

Three modes:

* ``bar``: tqdm.auto bars (one updating widget in Jupyter, one updating line in a terminal);
* ``log``: no bars, one plain line per epoch (and per notebook), for runs nobody watches
  interactively: papermill executions (``strn report`` sets ``STRN_PROGRESS=log`` for its
  kernels), CI logs;
* ``off``: nothing.

A call's ``progress`` argument decides when it is given (False: off); otherwise the
environment: ``STRN_QUIET=1`` (the tests and the benchmarks) is off, ``STRN_PROGRESS=log`` is
log, else bars.
"""
from __future__ import annotations

import os
import sys


def mode(progress: bool | None = None) -> str:
    """``"bar"``, ``"log"`` or ``"off"`` for a call with this ``progress`` argument."""
    if progress is False:
        return "off"
    if progress is None and os.environ.get("STRN_QUIET", "") not in ("", "0"):
        return "off"
    return "log" if os.environ.get("STRN_PROGRESS", "") == "log" else "bar"


def progress_enabled(progress: bool | None = None) -> bool:
    """Draw bars? (``progress`` when given, else whether the environment leaves bars on.)"""
    if progress is not None and mode(progress) != "log":
        return progress
    return mode(progress) == "bar"


def quiet(progress: bool = True) -> bool:
    """For a ``progress=True`` default that the environment may still switch off: no bar?"""
    return not progress or not progress_enabled()


def log(message: str, progress: bool | None = None) -> None:
    """One plain progress line, printed in ``log`` mode only."""
    if mode(progress) == "log":
        print(message, file=sys.stdout, flush=True)


def status(message: str, progress: bool | None = None) -> None:
    """One plain line of a long job without a bar of its own (bar and log modes; not off)."""
    if mode(progress) != "off":
        print(message, file=sys.stdout, flush=True)

"""When to draw progress bars: one rule for the whole library.

A call's ``progress`` argument decides when it is given; otherwise bars are on unless the
environment sets ``STRN_QUIET=1`` (the tests and the benchmarks do).
"""
from __future__ import annotations

import os


def progress_enabled(progress: bool | None = None) -> bool:
    """``progress`` when given, else whether the environment leaves bars on."""
    if progress is not None:
        return progress
    return os.environ.get("STRN_QUIET", "") in ("", "0")


def quiet(progress: bool = True) -> bool:
    """For a ``progress=True`` default that the environment may still switch off: no bar?"""
    return not progress or not progress_enabled()

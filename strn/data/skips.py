"""Skipped videos (``data.on_bad_video=skip``): each is printed once with its reason, and a split
that lost more than ``SKIP_LIMIT`` of its listed videos stops the run (issue #14): before training
for videos unreadable at indexing, at once for a video that fails later, mid-epoch."""
from __future__ import annotations

import math
import sys

SKIP_LIMIT = 0.01  # of a split's listed videos; at least MIN_SKIPS are always tolerated
MIN_SKIPS = 1

_said: set[tuple[str, str]] = set()


class TooManySkippedError(ValueError):
    pass


def allowed_skips(n_listed: int) -> int:
    return max(MIN_SKIPS, math.floor(SKIP_LIMIT * n_listed))


def announce(split: str, skip: dict[str, str]) -> None:
    """Print one skipped video (``{"path", "reason"}``) of ``split``, once per process."""
    if (skip["path"], skip["reason"]) not in _said:
        _said.add((skip["path"], skip["reason"]))
        print(f"strn: skipped video {skip['path']} ({split}): {skip['reason']}", file=sys.stderr, flush=True)


def check_limit(split: str, skipped: list[dict[str, str]], n_listed: int) -> None:
    """Raise ``TooManySkippedError`` naming the videos when ``split`` skipped more than allowed."""
    if len(skipped) > allowed_skips(n_listed):
        names = ", ".join(s["path"] for s in skipped)
        raise TooManySkippedError(
            f"{len(skipped)} of {n_listed} {split} videos cannot be read (more than "
            f"{SKIP_LIMIT:.0%}, at least {MIN_SKIPS} allowed): {names}; run `strn check-data` on the data "
            f"folder and repair or replace them")


def check_skipped(data) -> None:
    """Print each skipped video of ``data`` (a ``prepare.Prepared``) once per process, then raise
    ``TooManySkippedError`` naming them when a split skipped more than ``allowed_skips``."""
    for split, ds in (("train", data.train), ("test", data.test)):
        for s in ds.skipped:
            announce(split, s)
    for split, ds in (("train", data.train), ("test", data.test)):
        check_limit(split, ds.skipped, len(data.index.subset(split)))

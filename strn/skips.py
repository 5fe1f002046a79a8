"""Skipped videos (``data.on_bad_video=skip``): each is printed once with its reason, and a split
that lost more than ``SKIP_LIMIT`` of its listed videos stops the run before training (issue #14)."""
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


def check_skipped(data) -> None:
    """Print each skipped video of ``data`` (a ``run.Prepared``) once per process, then raise
    ``TooManySkippedError`` naming them when a split skipped more than ``allowed_skips``."""
    for split, ds in (("train", data.train), ("test", data.test)):
        for s in ds.skipped:
            if (s["path"], s["reason"]) not in _said:
                _said.add((s["path"], s["reason"]))
                print(f"strn: skipped video {s['path']} ({split}): {s['reason']}", file=sys.stderr, flush=True)
    for split, ds in (("train", data.train), ("test", data.test)):
        n_listed = len(data.index.subset(split))
        if len(ds.skipped) > allowed_skips(n_listed):
            names = ", ".join(s["path"] for s in ds.skipped)
            raise TooManySkippedError(
                f"{len(ds.skipped)} of {n_listed} {split} videos cannot be read (more than "
                f"{SKIP_LIMIT:.0%}, at least {MIN_SKIPS} allowed): {names}; run `strn check-data` on the data "
                f"folder and repair or replace them")

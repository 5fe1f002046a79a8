"""The interval behind every comparison of two rows (docs/STUDY.md section 4, "How a claim is
judged"): Welch's t interval for the difference of two rows' mean errors over seeds, and the
three decisions the claims make with it.

Why this interval: a row's seeds are independent runs, few (3 in the demo), and two rows'
spreads differ (the demo's seed s.d. runs from 0.000 to 0.066), so the interval must not pool
the variances; with 3 seeds a bootstrap has only 10 distinct resamples per row and understates
the spread. Welch's interval is the standard answer for two small independent samples with
unequal variances; its degrees of freedom are taken as min(n_a, n_b) - 1 (Hsu's conservative
choice) instead of the Welch-Satterthwaite estimate, because at n = 3 with spreads 0.01 against
0.06 the estimate called rows of one distribution different 5.8% of the time (simulated), more
than the 5% asked; with the conservative choice the rate is at most 5% whatever the two
spreads. The error rates are measured in `tests/test_intervals.py` (a simulation, not the
textbook's word).

A row with a single value (the thesis's published numbers; a one-seed profile) has no spread
to estimate: its value is taken as exact. Two exact rows give a zero-width interval, the
difference itself; one exact row against n seeds gives the other row's t interval (n - 1
degrees of freedom).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from scipy import stats

LEVEL = 0.95  # two-sided: a difference is called when the whole 95% interval is on one side of 0
# A tie claim ("about equal", "not worse") holds within one point of video error: below the
# smallest gap the thesis calls a difference (context 5 vs 2, 0.012) and above the largest it
# calls a tie (sampling rates 2 and 10, 0.002; connection 86-92 vs 49-55, 0.003).
EQUIVALENCE_BOUND = 0.01
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """mean(a) - mean(b) and its two-sided ``level`` interval over seeds."""
    diff: float
    low: float
    high: float
    n_a: int
    n_b: int
    dof: float | None  # min(n_a, n_b) - 1 over the rows with a spread; None when both rows are exact
    level: float = LEVEL

    @property
    def exact(self) -> bool:
        return self.dof is None

    def text(self) -> str:
        if self.exact:
            return f"{self.diff:+.3f} (one value per row: taken as exact)"
        return f"{self.diff:+.3f} [{self.level:.0%} CI {self.low:+.3f}, {self.high:+.3f}]"


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    m = sum(values) / n
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


@lru_cache(maxsize=256)
def t_quantile(q: float, dof: float) -> float:
    """Student's t quantile (scipy), cached: the same few are asked for again and again."""
    return float(stats.t.ppf(q, dof))


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval | None:
    """Welch's t interval for mean(a) - mean(b) with min(n_a, n_b) - 1 degrees of freedom (a row
    of one value left out of the minimum: it is exact); None when either row has no value."""
    if not a or not b:
        return None
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    va, vb = sa * sa / len(a), sb * sb / len(b)
    diff = ma - mb
    parts = [(v, len(x) - 1) for v, x in ((va, a), (vb, b)) if len(x) > 1]
    if not parts:
        return Interval(diff, diff, diff, len(a), len(b), None, level)
    dof = float(min(k for _, k in parts))
    half = t_quantile(0.5 + level / 2, dof) * math.sqrt(va + vb)
    return Interval(diff, diff - half, diff + half, len(a), len(b), dof, level)


def decide_lower(iv: Interval | None) -> str:
    """The claim "a's error is lower than b's": the interval of mean(a) - mean(b) below 0,
    above 0 (the other side), or spanning it."""
    if iv is None:
        return INCONCLUSIVE
    if iv.high < 0:
        return REPRODUCED
    if iv.low > 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def decide_equal(iv: Interval | None, bound: float = EQUIVALENCE_BOUND) -> str:
    """The claim "a and b are about equal": the interval inside [-bound, bound] (two one-sided
    tests at 2.5% each), wholly outside it, or neither."""
    if iv is None:
        return INCONCLUSIVE
    if -bound <= iv.low and iv.high <= bound:
        return REPRODUCED
    if iv.low > bound or iv.high < -bound:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def decide_not_worse(iv: Interval | None, bound: float = EQUIVALENCE_BOUND) -> str:
    """The claim "a is not worse than b": the interval's upper end at most ``bound`` (a
    one-sided test), its lower end above ``bound``, or neither."""
    if iv is None:
        return INCONCLUSIVE
    if iv.high <= bound:
        return REPRODUCED
    if iv.low > bound:
        return NOT_REPRODUCED
    return INCONCLUSIVE

"""The thesis's claims (STUDY §4), judged from results.

A comparison "A beats B" is *reproduced* when A's mean error is lower than B's by more
than the larger of their standard deviations over seeds (and by more than 0.005 when
there is one seed), *not reproduced* when it is higher by that margin, and
*inconclusive* in between. The decisive numbers go into the verdict's text.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .results import mean_std

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
MIN_MARGIN = 0.005  # errors closer than half a point are never called different


@dataclass(frozen=True)
class Verdict:
    claim: int
    text: str
    verdict: str
    test: str  # how it was decided, with the numbers


def errors(records: Sequence[dict[str, Any]], name: str) -> list[float]:
    return [r["metrics"]["error_rate"] for r in records if r.get("name") == name]


def beats(a: list[float], b: list[float]) -> tuple[str, str]:
    """Is mean error ``a`` lower than ``b`` beyond the spread over seeds?"""
    if not a or not b:
        return INCONCLUSIVE, "missing runs"
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    margin = max(sa, sb, MIN_MARGIN)
    diff = mb - ma
    verdict = REPRODUCED if diff > margin else NOT_REPRODUCED if diff < -margin else INCONCLUSIVE
    return verdict, f"{ma:.3f}±{sa:.3f} vs {mb:.3f}±{sb:.3f} (n={len(a)},{len(b)}): difference {diff:+.3f}, margin {margin:.3f}"


def all_of(parts: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """Several comparisons that must all hold: reproduced only if all are, not reproduced if any is not."""
    verdicts = [v for v, _ in parts]
    if all(v == REPRODUCED for v in verdicts):
        v = REPRODUCED
    elif any(v == NOT_REPRODUCED for v in verdicts):
        v = NOT_REPRODUCED
    else:
        v = INCONCLUSIVE
    return v, "; ".join(t for _, t in parts)


def _claim3(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    a1 = errors(records, "adam-1pct")
    return all_of([beats(a1, errors(records, "adam-10pct")), beats(a1, errors(records, "rprop-10pct"))])


CLAIMS: dict[str, list[tuple[int, str, Callable[[Sequence[dict[str, Any]]], tuple[str, str]]]]] = {
    "05_3_learning_algorithms": [
        (3, "ADAM updating every 1% beats ADAM 10% and RPROP 10% (5.3).", _claim3),
    ],
}


def register(experiment: str, claim: int, text: str,
             test: Callable[[Sequence[dict[str, Any]]], tuple[str, str]]) -> None:
    """Add a claim test for an experiment (modules that define experiments call this)."""
    CLAIMS.setdefault(experiment, []).append((claim, text, test))


def judge(experiment: str, records: Sequence[dict[str, Any]]) -> list[Verdict]:
    return [Verdict(cid, text, *fn(records)) for cid, text, fn in CLAIMS.get(experiment, [])]


def verdict_frame(verdicts: Sequence[Verdict]):
    import pandas as pd

    return pd.DataFrame([{"claim": v.claim, "thesis says": v.text, "verdict": v.verdict, "decided by": v.test}
                         for v in verdicts])

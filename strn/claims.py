"""The thesis's claims (STUDY §4), judged from results.

A comparison "A beats B" is *reproduced* when A's mean error is lower than B's by more
than the larger of their standard deviations over seeds (and by more than 0.005 when
there is one seed), *not reproduced* when it is higher by that margin, and
*inconclusive* in between. The decisive numbers go into the verdict's text, complete.

A comparison whose thesis gap is itself below the margin (claim 4: 86-92 0.231 vs 49-55
0.234) is judged as the thesis can support it, a tie within its own precision: *not worse*
(``not_worse``), reproduced unless A is worse than B by more than the margin.

Convergence: a run whose ``metrics.converged`` is False did not converge (absent: unknown).
A claim whose deciding runs include one says so: "inconclusive (not converged)" instead of
"not reproduced" or "inconclusive", "reproduced (not converged)" instead of "reproduced",
and ``Verdict.unconverged`` names those runs (STUDY §4). A claim's deciding runs are those of
the rows its comparisons read (`errors`, `mean_per_seed`, `costs_increase` note the names they
are asked for), not every run of its experiment: claim 7 compares split 1 with the frame
average, so an unconverged split-2 run says nothing about it.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .results import mean_std
from .rows import feature_row_name

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_CONVERGED = "inconclusive (not converged)"
REPRODUCED_UNCONVERGED = "reproduced (not converged)"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CONVERGED, REPRODUCED_UNCONVERGED)
MIN_MARGIN = 0.005  # errors closer than half a point are never called different


@dataclass(frozen=True)
class Verdict:
    claim: int
    text: str
    verdict: str
    test: str  # how it was decided, with the numbers (complete, never truncated)
    unconverged: tuple[str, ...] = ()  # deciding runs whose metrics.converged is False ("row seed k")


# The row names a claim's comparisons asked for while `judge` runs it: its deciding rows.
_asked: ContextVar[set[str] | None] = ContextVar("claims_asked", default=None)


def _ask(names: Sequence[str]) -> None:
    seen = _asked.get()
    if seen is not None:
        seen.update(names)


def errors(records: Sequence[dict[str, Any]], name: str) -> list[float]:
    _ask([name])
    return [r["metrics"]["error_rate"] for r in records if r.get("name") == name]


def _spread(a: list[float], b: list[float]) -> tuple[float, float, float, float, float]:
    """Means and standard deviations of ``a`` and ``b``, and the margin a difference must exceed."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    return ma, sa, mb, sb, max(sa, sb, MIN_MARGIN)


def beats(a: list[float], b: list[float]) -> tuple[str, str]:
    """Is mean error ``a`` lower than ``b`` beyond the spread over seeds?"""
    if not a or not b:
        return INCONCLUSIVE, "missing runs"
    ma, sa, mb, sb, margin = _spread(a, b)
    diff = mb - ma
    verdict = REPRODUCED if diff > margin else NOT_REPRODUCED if diff < -margin else INCONCLUSIVE
    return verdict, f"{ma:.3f}±{sa:.3f} vs {mb:.3f}±{sb:.3f} (n={len(a)},{len(b)}): difference {diff:+.3f}, margin {margin:.3f}"


def not_worse(a: list[float], b: list[float]) -> tuple[str, str]:
    """Is mean error ``a`` not higher than ``b`` beyond the spread (a tie counts)? For the
    comparisons whose thesis gap is below the margin: the thesis can only support a tie."""
    if not a or not b:
        return INCONCLUSIVE, "missing runs"
    ma, sa, mb, sb, margin = _spread(a, b)
    diff = ma - mb
    verdict = REPRODUCED if diff <= margin else NOT_REPRODUCED
    return verdict, f"{ma:.3f}±{sa:.3f} vs {mb:.3f}±{sb:.3f}: not worse (tie within the thesis's precision), " \
                    f"difference {diff:+.3f} vs margin {margin:.3f}"


def about_equal(a: list[float], b: list[float]) -> tuple[str, str]:
    """Are mean errors ``a`` and ``b`` within the spread over seeds of each other?"""
    if not a or not b:
        return INCONCLUSIVE, "missing runs"
    ma, sa, mb, sb, margin = _spread(a, b)
    diff = ma - mb
    verdict = REPRODUCED if abs(diff) <= margin else NOT_REPRODUCED
    return verdict, f"{ma:.3f}±{sa:.3f} vs {mb:.3f}±{sb:.3f}: |difference| {abs(diff):.3f} vs margin {margin:.3f}"


def costs_increase(records: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[str, str]:
    """Is the mean training time strictly decreasing along ``names`` (densest sampling first)?"""
    _ask(names)
    means = []
    for n in names:
        t = [r["cost"]["train_s"] for r in records if r.get("name") == n]
        if not t:
            return INCONCLUSIVE, f"missing runs of {n}"
        means.append(mean_std(t)[0])
    ok = all(x > y for x, y in zip(means, means[1:]))
    return (REPRODUCED if ok else NOT_REPRODUCED), "training s: " + ", ".join(f"{n} {m:.1f}" for n, m in zip(names, means))


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


def mean_per_seed(records: Sequence[dict[str, Any]], names: Sequence[str]) -> list[float]:
    """Per seed, the mean error over the rows ``names`` (seeds that have all of them)."""
    _ask(names)
    by_seed: dict[Any, dict[str, float]] = {}
    for r in records:
        if r.get("name") in names:
            by_seed.setdefault(r.get("seed"), {})[r["name"]] = r["metrics"]["error_rate"]
    return [sum(v.values()) / len(v) for _, v in sorted(by_seed.items(), key=lambda kv: str(kv[0]))
            if len(v) == len(names)]


def _claim1(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Average pooling beats the GRU, and block4 beats block3 beats block2 -- each factor
    averaged over the others (taps x z-norm for the classifier; classifier x z-norm for the
    taps), per seed. Cell by cell, the thesis's own block4 difference (0.236 vs 0.239) is
    below the half-point margin, so a cell-wise test could not reproduce the thesis itself."""
    def mean(taps: Sequence[str], methods: Sequence[str]) -> list[float]:
        return mean_per_seed(records, [feature_row_name(t, m, z, False) for t in taps for m in methods
                                       for z in (True, False)])

    taps = ("block4", "block3", "block2")
    parts = [("avg<GRU", beats(mean(taps, ["avg"]), mean(taps, ["gru"]))),
             ("block4<block3", beats(mean(["block4"], ["avg", "gru"]), mean(["block3"], ["avg", "gru"]))),
             ("block3<block2", beats(mean(["block3"], ["avg", "gru"]), mean(["block2"], ["avg", "gru"])))]
    v, _ = all_of([p for _, p in parts])
    return v, "; ".join(f"{lab}: {p[0]} ({p[1]})" for lab, p in parts)


def _claim2(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Pretrained features beat the frame-finetuned ones (block4 and block3, with and without z-norm)."""
    cases = [(t, z) for t in ("block4", "block3") for z in (True, False)]
    parts = [beats(errors(records, feature_row_name(t, "avg", z, False)),
                   errors(records, feature_row_name(t, "avg", z, True))) for t, z in cases]
    v, _ = all_of(parts)
    return v, "; ".join(f"pretrained<finetuned {t} {'z' if z else 'raw'}: {p[0]} ({p[1]})"
                        for (t, z), p in zip(cases, parts))


def _claim3(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    a1 = errors(records, "adam-1pct")
    parts = [beats(a1, errors(records, "adam-10pct")), beats(a1, errors(records, "rprop-10pct"))]
    eq = errors(records, "adam-10pct-equal-steps")  # not in the thesis: judged when it was run
    if eq:
        v, t = beats(a1, eq)
        parts.append((v, f"at equal optimiser steps: {t}"))
    v, t = all_of(parts)
    return v, t + ("" if eq else "; at equal optimiser steps: not run")


def _claim4(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    e = lambda n: errors(records, n)  # noqa: E731
    # Thesis gap 86-92 vs 49-55 is 0.003 (< MIN_MARGIN): a tie within its precision (not_worse).
    return all_of([beats(e("conv-49-55"), e("conv-5-11")), not_worse(e("conv-86-92"), e("conv-49-55")),
                   beats(e("identity-98-104"), e("conv-98-104")), beats(e("identity-98-104"), e("conv_relu-98-104"))])


def _claim5(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    e = lambda n: errors(records, n)  # noqa: E731
    return all_of([about_equal(e("rate-2"), e("rate-10")), about_equal(e("rate-5"), e("rate-10")),
                   beats(e("rate-10"), e("rate-15")),
                   costs_increase(records, ["rate-2", "rate-5", "rate-10", "rate-15"])])


def _claim6(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    e = lambda n: errors(records, n)  # noqa: E731
    return all_of([about_equal(e("context-3"), e("context-2")), beats(e("context-2"), e("context-5"))])


def _claim7(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    return beats(errors(records, "split-1"), errors(records, "frame-average"))


def _claim_beyond(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Not the thesis's: its model against the temporal shift at equal cost (both zero parameters
    and the same frames computed at T = 2), placed where its connection sits and in every block."""
    e = lambda n: errors(records, n)  # noqa: E731
    return all_of([beats(e("identity-98-104"), e("tsm-98-104")), beats(e("identity-98-104"), e("tsm-all"))])


def _claim_beyond_frames(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    return beats(errors(records, "tsm-all"), errors(records, "frame-average"))


CLAIMS: dict[str, list[tuple[int, str, Callable[[Sequence[dict[str, Any]]], tuple[str, str]]]]] = {
    "05_2_baselines": [
        (1, "Frame features: average pooling beats GRU; deeper taps beat shallower (5.1).", _claim1),
        (2, "Frame-finetuned features are worse than pretrained ones (5.2).", _claim2),
    ],
    "05_3_learning_algorithms": [
        (3, "ADAM updating every 1% beats ADAM 10% and RPROP 10% (5.3); also judged against ADAM 10% at equal "
            "optimiser steps, when that row was run.", _claim3),
    ],
    "05_4_recurrent_connection": [
        (4, "The later the connection, the better (86-92 vs 49-55: a tie within the thesis's precision, 0.231 vs "
            "0.234); identity beats learned connections (5.4, 5.5).", _claim4),
    ],
    "05_5_sampling_rate": [
        (5, "Sampling every 2nd/5th/10th frame is about equal; every 15th is worse; cost grows with density "
            "(5.6).", _claim5),
    ],
    "05_6_temporal_context": [
        (6, "Context 3 is about context 2; context 5 is worse (5.7).", _claim6),
    ],
    "05_7_splits_and_sota": [
        (7, "STRN beats the frame-average baseline (thesis: 0.197 on split 1, 0.198 over the splits, vs 0.236, "
            "Table 5.1's best frame-level model: frozen block4 features + average pooling; here the frame-average "
            "row is the same backbone trained end to end on single frames).", _claim7),
    ],
    "06_beyond_the_thesis": [
        (8, "Beyond the thesis: STRN (identity 98-104) beats TSM at equal cost, the shift in layer4.2 (where the "
            "identity connection sits) and in every block (not the thesis's claim: TSM came after it).",
         _claim_beyond),
        (9, "Beyond the thesis: TSM in every block beats the frame average (its shift uses the previous frame).",
         _claim_beyond_frames),
    ],
}


def unconverged_runs(records: Sequence[dict[str, Any]]) -> list[str]:
    """Runs whose ``metrics.converged`` is False, as "row seed k" (absent: unknown, not listed)."""
    return [f"{r.get('name')} seed {r.get('seed')}" for r in records
            if r.get("metrics", {}).get("converged") is False]


def with_convergence(verdict: str, unconverged: Sequence[str]) -> str:
    """The verdict as it may be stated when deciding runs did not converge."""
    if not unconverged:
        return verdict
    return REPRODUCED_UNCONVERGED if verdict == REPRODUCED else NOT_CONVERGED


def judge(experiment: str, records: Sequence[dict[str, Any]]) -> list[Verdict]:
    """Every claim of ``experiment``; a claim's deciding runs are the experiment's runs of the
    rows its comparisons read."""
    out = []
    for cid, text, fn in CLAIMS.get(experiment, []):
        token = _asked.set(set())
        try:
            verdict, test = fn(records)
            rows = _asked.get()
        finally:
            _asked.reset(token)
        bad = tuple(unconverged_runs([r for r in records if r.get("experiment", experiment) == experiment
                                      and r.get("name") in rows]))
        if bad:
            test += "; not converged: " + ", ".join(bad)
        out.append(Verdict(cid, text, with_convergence(verdict, bad), test, bad))
    return out


def verdict_frame(verdicts: Sequence[Verdict]):
    import pandas as pd  # local: claims are judged (report, tests) without pandas

    return pd.DataFrame([{"claim": v.claim, "thesis says": v.text, "verdict": v.verdict, "decided by": v.test,
                          "not converged": ", ".join(v.unconverged)} for v in verdicts])

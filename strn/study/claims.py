"""The thesis's claims (STUDY §4), judged from results (docs/STUDY.md section 4, "How a claim
is judged").

A claim is a function of the records that returns ``(verdict, text)``; it is written with the
combinators here: `errors` (a row's errors over seeds), `beats`, `not_worse`, `about_equal`
(one comparison each, decided by Welch's 95% interval of the difference of means,
`strn.train.intervals`), `all_of` (several comparisons that must all hold), `not_testable` (a part
the data cannot test, with the reason) and `note` (a remark shown beside the verdict).

The verdict is the data's word: "reproduced", "not reproduced", "inconclusive" or "not
testable", never qualified. How far to trust it stands beside it in `Verdict`: whether every
deciding run converged (`strn.train.convergence`, the current rule applied to the stored history),
whether the verdict survives leaving any one seed out, and whether it survives the
schedule-length control runs (records with ``control: "schedule-length"``). A claim's
deciding runs are those of the rows its comparisons read, not every run of its experiment.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .comparisons import (NOT_TESTABLE, Comparison, Errors, about_equal, all_of, beats, costs_increase, errors,
                          mean_per_seed, not_testable, not_worse, note, run_traced)
from ..train.convergence import record_convergence
from ..train.intervals import EQUIVALENCE_BOUND, INCONCLUSIVE, LEVEL, NOT_REPRODUCED, REPRODUCED
from .rows import feature_row_name

VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE)
CONTROL = "schedule-length"  # the value of a control record's top-level ``control`` field

DEFINITIONS = {
    REPRODUCED: "every comparison of the claim came out on the thesis's side: the 95% interval of the difference "
                "of mean errors over seeds lies wholly on that side (for a tie, wholly within "
                f"±{EQUIVALENCE_BOUND} of video error)",
    NOT_REPRODUCED: "at least one comparison came out on the other side: its 95% interval lies wholly against the "
                    f"thesis (for a tie, wholly outside ±{EQUIVALENCE_BOUND})",
    INCONCLUSIVE: "no comparison went against the thesis, but at least one interval spans the boundary: these "
                  "seeds cannot tell",
    NOT_TESTABLE: "the data cannot test the claim by construction (the reason stands in the note)",
    "interval": "difference of mean errors (first row minus second) with Welch's 95% t interval over seeds; a row "
                "with one value (the thesis's numbers, a one-seed profile) is taken as exact",
    "converged": "every deciding run settled by the convergence rule (loss and error stopped falling "
                 "over the last quarter of the learning-rate mass, shown at 95%), recomputed from the stored "
                 "history; blank when a run has no history",
    "leave one seed out": "the verdict is the same with any one seed's runs of the deciding rows left out; blank "
                          "with fewer than 3 seeds",
    "schedule-length control": "the verdict is the same when each deciding row's control run (1.5x the epochs, "
                               "same seed) replaces its normal run of that seed; blank when a deciding row has none",
}


@dataclass(frozen=True)
class Verdict:
    claim: int
    text: str
    verdict: str
    test: str  # how it was decided, with the numbers (complete, never truncated)
    interval: str = ""  # each comparison's difference of means and its interval
    converged: bool | None = None  # all deciding runs converged (current rule); None: unknown
    leave_one_out: bool | None = None  # unchanged with any one seed left out; None: fewer than 3 seeds
    schedule_control: bool | None = None  # unchanged under the schedule-length control runs; None: none
    unconverged: tuple[str, ...] = ()  # deciding runs that did not converge ("row seed k")
    thesis_numbers: str = ""
    reproduced_numbers: str = ""
    note: str = ""


def _synthetic(records: Sequence[dict[str, Any]]) -> bool:
    return any(r.get("dataset", {}).get("kind") == "synthetic" for r in records)


def _claim1(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Average pooling beats the GRU, and block4 beats block3 beats block2 -- each factor
    averaged over the others (taps x z-norm for the classifier; classifier x z-norm for the
    taps), per seed. On the synthetic set the first is not testable: averaging frames cannot
    get below its single-frame floor (order-only twin classes), a GRU can use order."""
    def mean(taps: Sequence[str], methods: Sequence[str]) -> Errors:
        return mean_per_seed(records, [feature_row_name(t, m, z, False) for t in taps for m in methods
                                       for z in (True, False)])

    taps = ("block4", "block3", "block2")
    avg, gru = mean(taps, ["avg"]), mean(taps, ["gru"])
    # the records' own floor (strn/data/reference.py): set for the synthetic set, absent for UCF-101
    floor = next((f for r in records if (f := r.get("dataset", {}).get("single_frame_floor")) is not None), None)
    parts = [not_testable("avg<GRU", f"on the synthetic set an order-free average of frames cannot get below the "
                                     f"single-frame floor ({floor:.2f}: classes that differ only in the order of "
                                     "their frames) by design, while a GRU can use order")
             if floor is not None else beats(avg, gru, "avg<GRU"),
             beats(mean(["block4"], ["avg", "gru"]), mean(["block3"], ["avg", "gru"]), "block4<block3"),
             beats(mean(["block3"], ["avg", "gru"]), mean(["block2"], ["avg", "gru"]), "block3<block2")]
    v, _ = all_of(parts)
    return v, "; ".join(p.text if p.verdict == NOT_TESTABLE else f"{p.label}: {p.verdict} ({p.text})" for p in parts)


def _claim2(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """Pretrained features beat the frame-finetuned ones (block4 and block3, with and without z-norm)."""
    cases = [(t, z) for t in ("block4", "block3") for z in (True, False)]
    row = lambda t, z, fine: errors(records, feature_row_name(t, "avg", z, fine))  # noqa: E731
    parts = [beats(row(t, z, False), row(t, z, True), f"pretrained<finetuned {t} {'z' if z else 'raw'}") for t, z in cases]
    if _synthetic(records):
        note("The pretrained features here come from the stand-in pretraining on synthetic stills (docs/STUDY.md "
             "section 7), much poorer than ImageNet: the verdict says how such a stand-in compares with finetuning, "
             "not how ImageNet features do.")
    v, _ = all_of(parts)
    return v, "; ".join(f"{p.label}: {p.verdict} ({p.text})" for p in parts)


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
    # Thesis gap 86-92 vs 49-55 is 0.003 (< the equivalence bound): a tie within its precision (not_worse).
    return all_of([beats(e("conv-49-55"), e("conv-5-11")), not_worse(e("conv-86-92"), e("conv-49-55")),
                   beats(e("conv-98-104"), e("conv-86-92")),
                   beats(e("identity-98-104"), e("conv-98-104")), beats(e("identity-98-104"), e("conv_relu-98-104"))])


def _claim5(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    e = lambda n: errors(records, n)  # noqa: E731
    return all_of([about_equal(e("rate-2"), e("rate-10")), about_equal(e("rate-5"), e("rate-10")),
                   beats(e("rate-10"), e("rate-15")),
                   costs_increase(records, ["rate-2", "rate-5", "rate-10", "rate-15"])])


def _claim6(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    e = lambda n: errors(records, n)  # noqa: E731
    out = all_of([about_equal(e("context-3"), e("context-2")), beats(e("context-2"), e("context-5"))])
    padding = padding_note(records, ["context-2", "context-5"])
    if padding:
        note(padding)
    return out


def padding_note(records: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    """How many videos were padded (too short for T windows at rate r) and how many windows a
    test video got, per row, from the records' dataset counts."""
    parts = []
    for n in names:
        r = next((r for r in records if r.get("name") == n and "n_padded_videos" in r.get("dataset", {})), None)
        if r is None:
            continue
        d = r["dataset"]
        videos = d.get("n_train_videos", 0) + d.get("n_test_videos", 0)
        per = d.get("n_test_sequences", 0) / d["n_test_videos"] if d.get("n_test_videos") else float("nan")
        parts.append(f"{n}: {d['n_padded_videos']} of {videos} videos padded ({d['n_padded_videos'] / videos:.0%}), "
                     f"{per:.1f} windows per test video")
    if not parts:
        return ""
    return ("Padding (videos shorter than the context, padded to one window): " + "; ".join(parts) +
            ". The records keep no per-video errors, so the padding's own effect on the error is not separated here.")


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
            "0.234; 98-104 vs 86-92: 0.219 vs 0.231); identity beats learned connections (5.4, 5.5).", _claim4),
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


def _same_experiment(r: dict[str, Any], experiment: str) -> bool:
    return r.get("experiment", experiment) == experiment


def _converged(deciding: Sequence[dict[str, Any]]) -> tuple[bool | None, tuple[str, ...]]:
    states = [(r, record_convergence(r)) for r in deciding]
    bad = tuple(f"{r.get('name')} seed {r.get('seed')}" for r, c in states if c is not None and not c["converged"])
    if bad:
        return False, bad
    return (None if not states or any(c is None for _, c in states) else True), ()


def _leave_one_out(fn: Callable, records: list[dict[str, Any]], rows: dict[str, None], verdict: str) -> bool | None:
    seeds: dict[str, set] = {n: set() for n in rows}
    for r in records:
        if r.get("name") in seeds:
            seeds[r["name"]].add(str(r.get("seed")))
    if not seeds or min(len(s) for s in seeds.values()) < 3:
        return None

    def without(seed: str) -> list[dict[str, Any]]:
        return [r for r in records if not (r.get("name") in rows and str(r.get("seed")) == seed)]

    return all(run_traced(fn, without(s))[0] == verdict for s in sorted(set().union(*seeds.values())))


def _control(fn: Callable, records: list[dict[str, Any]], controls: list[dict[str, Any]], rows: dict[str, None],
             verdict: str) -> bool | None:
    swap = {(r.get("name"), str(r.get("seed"))): r for r in controls if r.get("name") in rows}
    if not rows or not {n for n, _ in swap} >= set(rows):
        return None
    return run_traced(fn, [swap.get((r.get("name"), str(r.get("seed"))), r) for r in records])[0] == verdict


def _thesis_numbers(records: Sequence[dict[str, Any]], rows: dict[str, None]) -> str:
    out = []
    for n in rows:
        t = next((r.get("thesis") for r in records if r.get("name") == n and r.get("thesis") is not None), None)
        if t is not None:
            out.append(f"{n} {t:.3f}")
    return ", ".join(out)


def judge(experiment: str, records: Sequence[dict[str, Any]]) -> list[Verdict]:
    """Every claim of ``experiment`` with its robustness columns. Records with a ``control``
    field are control runs: they decide nothing, they replace their normal twin in the
    schedule-length column."""
    normal = [r for r in records if not r.get("control")]
    controls = [r for r in records if r.get("control") == CONTROL and _same_experiment(r, experiment)]
    out = []
    for cid, text, fn in CLAIMS.get(experiment, []):
        verdict, test, trace = run_traced(fn, normal)
        deciding = [r for r in normal if _same_experiment(r, experiment) and r.get("name") in trace.rows]
        ran = dict.fromkeys(n for n in trace.rows if any(r.get("name") == n for r in deciding))  # rows not run: none
        converged, bad = _converged(deciding)
        if bad:
            test += "; not converged: " + ", ".join(bad)
        notes = list(trace.notes)
        out.append(Verdict(
            cid, text, verdict, test,
            interval="; ".join(f"{c.label}: {c.interval.text()}" for c in trace.comparisons),
            converged=converged, leave_one_out=_leave_one_out(fn, normal, ran, verdict),
            schedule_control=_control(fn, normal, controls, ran, verdict), unconverged=bad,
            thesis_numbers=_thesis_numbers(deciding, ran),
            reproduced_numbers="; ".join(f"{c.label}: {c.numbers}" for c in trace.comparisons),
            note=" ".join(notes)))
    return out


def _yes_no(x: bool | None) -> str:
    return "" if x is None else "yes" if x else "no"


def verdict_frame(verdicts: Sequence[Verdict]):
    import pandas as pd  # local: claims are judged (report, tests) without pandas

    return pd.DataFrame([{"claim": v.claim, "thesis says": v.text, "thesis numbers": v.thesis_numbers,
                          "reproduced numbers": v.reproduced_numbers, "verdict": v.verdict, "interval": v.interval,
                          "converged": _yes_no(v.converged), "leave one seed out": _yes_no(v.leave_one_out),
                          "schedule-length control": _yes_no(v.schedule_control), "decided by": v.test,
                          "note": v.note} for v in verdicts],
                        columns=["claim", "thesis says", "thesis numbers", "reproduced numbers", "verdict", "interval",
                                 "converged", "leave one seed out", "schedule-length control", "decided by", "note"])


__all__ = ["CLAIMS", "DEFINITIONS", "VERDICTS", "Comparison", "Errors", "Verdict", "LEVEL", "about_equal", "all_of",
           "beats", "costs_increase", "errors", "judge", "mean_per_seed", "not_testable", "not_worse", "note",
           "verdict_frame"]

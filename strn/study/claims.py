"""The thesis's claims (STUDY §4), judged from results (docs/STUDY.md section 4, "How a claim
is judged").

A claim is declared with its experiment (`strn.study.rows.Claim` in `strn.study.tables`): a function of the
records that returns ``(verdict, text)``, written with the combinators of `strn.study.comparisons`
(re-exported here): `errors` (a row's errors over seeds), `beats`, `not_worse`, `about_equal`
(one comparison each, decided by Welch's 95% interval of the difference of means,
`strn.train.intervals`), `all_of` (several comparisons that must all hold), `not_testable` (a part
the data cannot test, with the reason) and `note` (a remark shown beside the verdict). It may
read only its own experiment's rows: a claim that reads another row is an error, not a silent
"missing runs".

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
from .experiments import get_experiment
from ..train.intervals import EQUIVALENCE_BOUND, INCONCLUSIVE, LEVEL, NOT_REPRODUCED, REPRODUCED

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
    exp = get_experiment(experiment)
    for claim in exp.claims:
        cid, text, fn = claim.id, claim.text, claim.judge
        verdict, test, trace = run_traced(fn, normal)
        foreign = sorted(set(trace.rows) - {r.name for r in exp.rows})
        if foreign:
            raise ValueError(f"claim {cid} of {experiment} reads {', '.join(foreign)}: not rows of {experiment}")
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


__all__ = ["DEFINITIONS", "VERDICTS", "Comparison", "Errors", "Verdict", "LEVEL", "about_equal", "all_of",
           "beats", "costs_increase", "errors", "judge", "mean_per_seed", "not_testable", "not_worse", "note",
           "verdict_frame"]

"""The comparisons a claim is written with (`strn.study.claims`): a row's errors, "beats", "not
worse", "about equal" (each decided by Welch's interval, `strn.train.intervals`), "all of", "not
testable", and the trace of what a claim read while it is judged (its deciding rows, its
comparisons, its notes)."""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..train.intervals import (EQUIVALENCE_BOUND, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Interval, decide_equal,
                        decide_lower, decide_not_worse, mean_sd, welch_interval)

NOT_TESTABLE = "not testable"


@dataclass(frozen=True)
class Comparison:
    """One comparison's verdict and text; unpacks as ``(verdict, text)``."""
    verdict: str
    text: str
    interval: Interval | None = None
    label: str = ""
    numbers: str = ""  # the two rows' means over seeds

    def __iter__(self) -> Iterator[str]:
        return iter((self.verdict, self.text))

    def __getitem__(self, i: int) -> str:
        return (self.verdict, self.text)[i]


@dataclass
class Trace:
    rows: dict[str, None] = field(default_factory=dict)  # the rows read, in order
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


TRACE: ContextVar[Trace | None] = ContextVar("claimsTRACE", default=None)


def _ask(names: Sequence[str]) -> None:
    t = TRACE.get()
    if t is not None:
        t.rows.update(dict.fromkeys(names))


def _keep(c: Comparison) -> Comparison:
    t = TRACE.get()
    if t is not None and c.interval is not None:
        t.comparisons.append(c)
    return c


def note(text: str) -> None:
    """A remark shown beside the claim's verdict (not part of it)."""
    t = TRACE.get()
    if t is not None and text not in t.notes:
        t.notes.append(text)


class Errors(list):
    """A row's error rates over seeds, with the row's name for the texts."""
    name: str = ""


def errors(records: Sequence[dict[str, Any]], name: str) -> Errors:
    _ask([name])
    out = Errors(r["metrics"]["error_rate"] for r in records if r.get("name") == name)
    out.name = name
    return out


def _numbers(a: Sequence[float], b: Sequence[float]) -> str:
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    return f"{ma:.3f}±{sa:.3f} vs {mb:.3f}±{sb:.3f} (n={len(a)},{len(b)})"


def _label(a: Sequence[float], b: Sequence[float], sign: str, label: str | None) -> str:
    return label or f"{getattr(a, 'name', '') or 'a'} {sign} {getattr(b, 'name', '') or 'b'}"


def _compare(a: Sequence[float], b: Sequence[float], decide: Callable[[Interval | None], str], what: str,
             sign: str, label: str | None) -> Comparison:
    lab = _label(a, b, sign, label)
    if not a or not b:
        return Comparison(INCONCLUSIVE, f"{lab}: missing runs", None, lab)
    iv = welch_interval(a, b)
    nums = _numbers(a, b)
    return _keep(Comparison(decide(iv), f"{nums}: {what}, difference {iv.text()}", iv, lab, nums))


def beats(a: Sequence[float], b: Sequence[float], label: str | None = None) -> Comparison:
    """Is the mean error ``a`` lower than ``b``? Welch's interval of mean(a) - mean(b) below 0."""
    return _compare(a, b, decide_lower, "lower?", "<", label)


def not_worse(a: Sequence[float], b: Sequence[float], label: str | None = None) -> Comparison:
    """Is the mean error ``a`` not higher than ``b`` by more than the equivalence bound? For the
    comparisons whose thesis gap is below the bound: the thesis can only support a tie."""
    return _compare(a, b, decide_not_worse, f"not worse (tie within ±{EQUIVALENCE_BOUND})", "<=", label)


def about_equal(a: Sequence[float], b: Sequence[float], label: str | None = None) -> Comparison:
    """Are the mean errors ``a`` and ``b`` within the equivalence bound of each other?"""
    return _compare(a, b, decide_equal, f"about equal (within ±{EQUIVALENCE_BOUND})", "≈", label)


def not_testable(label: str, reason: str) -> Comparison:
    """A part of a claim that the data cannot test by construction; the reason goes to the note."""
    note(f"{label} not testable: {reason}")
    return Comparison(NOT_TESTABLE, f"{label}: not testable ({reason})", None, label)


def training_frames(record: dict[str, Any]) -> int:
    """The frames a run forwarded in training: training sequences x epochs x T. The cost measure
    of claim 5, because it is what the run computed: wall seconds on a shared machine depend on
    what else ran beside it, and a stacked job's seconds are split equally between its seeds, so
    a configuration trained as six stacked seeds looks cheaper per seed than one trained as three."""
    return int(record["dataset"]["n_train_sequences"] * record["config"]["train"]["epochs"]
               * record["config"]["data"]["seq_len"])


def costs_increase(records: Sequence[dict[str, Any]], names: Sequence[str]) -> Comparison:
    """Does the training cost (frames forwarded, `training_frames`) strictly decrease along
    ``names`` (densest sampling first)? The measured seconds stand beside it in the evidence."""
    _ask(names)
    frames, secs = [], []
    for n in names:
        rs = [r for r in records if r.get("name") == n]
        if not rs:
            return Comparison(INCONCLUSIVE, f"missing runs of {n}")
        # Records without their data (the thesis's published rows) have only the time to go by.
        frames.append(mean_sd([training_frames(r) for r in rs])[0] if all("dataset" in r for r in rs) else None)
        secs.append(mean_sd([r["cost"]["train_s"] for r in rs])[0])
    by = frames if None not in frames else secs
    ok = all(x > y for x, y in zip(by, by[1:]))
    seconds = ", ".join(f"{n} {t:.1f}" for n, t in zip(names, secs))
    text = ("training frames: " + ", ".join(f"{n} {f:,.0f}" for n, f in zip(names, frames))
            + f" (seconds, on a shared machine: {seconds})") if by is frames else f"training s: {seconds}"
    return Comparison(REPRODUCED if ok else NOT_REPRODUCED, text)


def all_of(parts: Sequence[tuple[str, str] | Comparison]) -> Comparison:
    """Several comparisons that must all hold: reproduced only if all testable ones are, not
    reproduced if any is not; parts the data cannot test are left out (all of them: not testable)."""
    verdicts = [v for v, _ in parts if v != NOT_TESTABLE]
    if not verdicts:
        v = NOT_TESTABLE
    elif all(v == REPRODUCED for v in verdicts):
        v = REPRODUCED
    elif any(v == NOT_REPRODUCED for v in verdicts):
        v = NOT_REPRODUCED
    else:
        v = INCONCLUSIVE
    return Comparison(v, "; ".join(t for _, t in parts))


def mean_per_seed(records: Sequence[dict[str, Any]], names: Sequence[str]) -> Errors:
    """Per seed, the mean error over the rows ``names`` (seeds that have all of them)."""
    _ask(names)
    by_seed: dict[Any, dict[str, float]] = {}
    for r in records:
        if r.get("name") in names:
            by_seed.setdefault(r.get("seed"), {})[r["name"]] = r["metrics"]["error_rate"]
    out = Errors(sum(v.values()) / len(v) for _, v in sorted(by_seed.items(), key=lambda kv: str(kv[0]))
                 if len(v) == len(names))
    out.name = "mean of " + ", ".join(names)
    return out




def run_traced(fn: Callable, records: Sequence[dict[str, Any]]) -> tuple[str, str, Trace]:
    """``fn(records)``'s verdict and text, and what it read."""
    token = TRACE.set(Trace())
    try:
        verdict, text = fn(records)
        return verdict, text, TRACE.get()
    finally:
        TRACE.reset(token)

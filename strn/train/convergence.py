"""Did a run converge? One rule, applied to the per-epoch history every run records.

The rule (docs/STUDY.md section 7, "Convergence"; version 4). A run has *settled* when, over
the last part of its learning, both its training loss and its test video error have stopped
falling, shown with 95% confidence, not merely not shown to fall:

- The window: the last epochs that hold a quarter of the run's learning-rate mass (the sum of
  the rates of its steps), at least 8 (``MIN_WINDOW``). With a constant rate that is the last
  quarter of the epochs; with a cosine annealed to 0 it is the last 9 of 16 epochs, because
  its last quarter of epochs moves the weights by 2.5% of the run's total: a run whose rate
  has reached 0 stands still whether or not it had finished learning, so a window in epochs
  would call every annealed run settled.
- Each series (loss, error) is fitted by a least-squares line against the cumulative rate
  (the optimiser's own clock: with a constant rate, against the epoch); its *fall* is the
  line's first value in the window minus its last. Its standard error comes from the
  series' own scatter about the line (``window`` - 2 degrees of freedom), and the series has
  settled when the fall's one-sided 95% upper bound, fall + t x se, is at most the tolerance.
  For the test error this scatter is the right noise: the same test videos are rescored every
  epoch, so the error moves between epochs by the few videos whose prediction flips, far less
  than the binomial spread of two independent test sets (0.033 at e = 0.4 on 216 videos).
- Tolerances: the loss may still fall by at most ``LOSS_SHARE`` (10%) of its fall over the
  run (first epoch's loss minus the line's last value), or ``LOSS_ABS`` (0.02): relative to
  the run's own progress because the cross-entropy of a net that fits its training set falls
  towards 0 without end. The error may still fall by at most ``ERROR_ABS`` (0.05): the
  smallest remaining fall that a 9-epoch window tells from the demo's epoch-to-epoch scatter
  of the error (0.01) with both error rates at most 5% (below).
- A rising series counts as settled (more epochs would not lower it). A run with fewer
  epochs than the window, or without a test error at each epoch of the window, is not
  settled (there is no evidence that it is).

Error rates (simulated histories with the demo's scatter, `tests/test_convergence_rates.py`):
false "settled" on still-falling histories and false "not settled" on flat ones, each at most
5%. The verdict says nothing about a series too noisy to judge in its window (RPROP's jumping
loss): the upper bound then exceeds the tolerance and the run is "not settled", with the
reason "cannot tell". Versions 1-3 (docs/STUDY.md section 7) asked only whether a fall was
significant, so noise or an annealed rate made a run "settled".
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .intervals import t_quantile

RULE = ("last {window} epochs (a quarter of the {schedule} schedule's learning-rate mass, at least {min_window}), "
        "least-squares fall against the cumulative rate, one-sided 95% upper bound from the series' own scatter: "
        "train loss <= max({loss_share:.0%} of its fall over the run, {loss_abs}), test video error <= {error_abs}")
VERSION = 4
MIN_WINDOW, MASS_SHARE, LOSS_SHARE, LOSS_ABS, ERROR_ABS = 8, 0.25, 0.10, 0.02, 0.05
CONFIDENCE = 0.95
SCHEDULES = ("constant", "cosine")


def rate_mass(epochs: int, schedule: str = "constant") -> list[float]:
    """Share of the run's learning-rate mass spent by the end of each epoch (last: 1.0), for the
    schedules of `strn.train.engine.scheduled_lr` (cosine: rate x (1 + cos(pi t)) / 2 over t in [0, 1])."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule {schedule!r} is not known to the convergence rule (strn/train/convergence.py); "
                         f"known: {', '.join(SCHEDULES)}")
    xs = [e / epochs for e in range(1, epochs + 1)]
    if schedule == "cosine":
        return [x + math.sin(math.pi * x) / math.pi for x in xs]
    return xs


def window_for(epochs: int, schedule: str = "constant") -> int:
    """The fewest last epochs that hold ``MASS_SHARE`` of the rate mass, at least ``MIN_WINDOW``."""
    mass = [0.0] + rate_mass(epochs, schedule) if epochs else [0.0]
    k = next((k for k in range(1, epochs + 1) if 1.0 - mass[epochs - k] >= MASS_SHARE - 1e-12), epochs)
    return max(MIN_WINDOW, k)


def fitted_fall(x: Sequence[float], y: Sequence[float]) -> tuple[float, float | None]:
    """The least-squares line's fall from ``x[0]`` to ``x[-1]`` and its standard error from the
    scatter about the line (None for fewer than 3 points)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx
    span = x[-1] - x[0]
    if n < 3:
        return -slope * span, None
    ss_res = sum((b - my - slope * (a - mx)) ** 2 for a, b in zip(x, y))  # 0 for a straight series
    return -slope * span, math.sqrt(ss_res / (n - 2) / sxx) * span


def settled(fall: float, se: float | None, dof: int, tolerance: float) -> tuple[bool, float | None]:
    """Is the fall's one-sided ``CONFIDENCE`` upper bound at most ``tolerance``? (and the bound)"""
    if se is None or dof < 1:
        return False, None
    bound = fall + t_quantile(CONFIDENCE, dof) * se
    return bound <= tolerance, bound


def convergence(history: Sequence[Mapping[str, Any]], *, n_test_videos: int | None = None,
                lr_schedule: str = "constant", window: int | None = None, loss_share: float = LOSS_SHARE,
                loss_abs: float = LOSS_ABS, error_abs: float = ERROR_ABS) -> dict[str, Any]:
    """The evidence and the verdict: ``{"converged": bool, "rule", "version", "window", "epochs",
    "lr_schedule", "n_test_videos", "train_loss_fall", "train_loss_fall_se", "train_loss_bound",
    "train_loss_tolerance", "train_loss_total_fall", "test_error_fall", "test_error_fall_se",
    "test_error_bound", "test_error_tolerance", "reason" (when not converged)}``.

    Fields that cannot be computed are None. ``lr_schedule``: the schedule the optimiser
    actually followed (`record_convergence` reads it from a record). ``window`` None: `window_for`.
    ``n_test_videos`` is recorded only: the error's noise is measured from its own scatter.
    """
    epochs = len(history)
    window = window_for(epochs, lr_schedule) if window is None else window
    rule = RULE.format(window=window, schedule=lr_schedule, min_window=MIN_WINDOW, loss_share=loss_share,
                       loss_abs=loss_abs, error_abs=error_abs)
    out: dict[str, Any] = {"converged": False, "rule": rule, "version": VERSION, "window": window, "epochs": epochs,
                           "lr_schedule": lr_schedule, "n_test_videos": n_test_videos}
    for k in ("train_loss_fall", "train_loss_fall_se", "train_loss_bound", "train_loss_tolerance",
              "train_loss_total_fall", "test_error_fall", "test_error_fall_se", "test_error_bound",
              "test_error_tolerance"):
        out[k] = None
    if window < 3 or epochs < window:
        out["reason"] = f"{epochs} epoch(s) recorded; the rule needs {max(window, 3)}"
        return out
    last = history[-window:]
    losses = [r.get("train_loss") for r in last]
    errs = [r.get("test_error") for r in last]
    first_loss = history[0].get("train_loss")
    if None in losses or first_loss is None or None in errs:
        out["reason"] = "train_loss or test_error missing from the history (eval_each_epoch off?)"
        return out
    x = rate_mass(epochs, lr_schedule)[-window:]
    dof = window - 2
    loss_fall, loss_se = fitted_fall(x, losses)
    end = sum(losses) / window + (loss_fall / (x[-1] - x[0])) * (sum(x) / window - x[-1])  # the line at x[-1]
    total = first_loss - end
    loss_tol = max(loss_abs, loss_share * total) if total > 0 else loss_abs
    loss_ok, loss_bound = settled(loss_fall, loss_se, dof, loss_tol)
    err_fall, err_se = fitted_fall(x, errs)
    err_ok, err_bound = settled(err_fall, err_se, dof, error_abs)
    out.update(train_loss_fall=loss_fall, train_loss_fall_se=loss_se, train_loss_bound=loss_bound,
               train_loss_tolerance=loss_tol, train_loss_total_fall=total, test_error_fall=err_fall,
               test_error_fall_se=err_se, test_error_bound=err_bound, test_error_tolerance=error_abs)
    out["converged"] = bool(loss_ok and err_ok)
    if not out["converged"]:
        # "still falling": the fitted fall itself exceeds the tolerance; "cannot tell": it does
        # not, but the series scatters too much to bound it there
        out["reason"] = " and ".join(
            f"{what} {'still falling' if fall > tol else 'cannot tell (scatter)'}"
            for what, ok, fall, tol in (("train loss", loss_ok, loss_fall, loss_tol), ("test error", err_ok, err_fall,
                                                                                       error_abs)) if not ok)
    return out


def effective_schedule(config: Mapping[str, Any] | None) -> str:
    """The rate schedule a run's optimiser followed, from its stored configuration: Rprop
    reads the rate only for its initial step sizes, so its runs followed none, whatever the
    configuration of older records says."""
    train = (config or {}).get("train", {})
    if train.get("optimizer") == "rprop":
        return "constant"
    return train.get("lr_schedule", "constant")


def record_convergence(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The current rule applied to a stored record's history (None: the record has none)."""
    history = record.get("metrics", {}).get("history")
    if not history:
        return None
    return convergence(history, n_test_videos=record.get("dataset", {}).get("n_test_videos"),
                       lr_schedule=effective_schedule(record.get("config")))

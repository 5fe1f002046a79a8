"""Did a run converge? One rule, applied to the per-epoch history every run records.

The rule (docs/STUDY.md section 7, "Convergence"; version 3). Over the last quarter of the
run's epochs, at least 4 (``window``; a fixed count can be given), a least-squares line is
fitted to the
training loss and to the test video error; a series' *fall* is the line's value at the
window's first epoch minus its value at the last (positive: still improving). A line, not the
first and last points, because single epochs swing (one epoch's test error moves by several
videos on a set of a few hundred). Converged means both:

1. The training loss has levelled off: its fall over the window is at most ``loss_share``
   (10%) of its fall over the whole run (first epoch's loss minus the line's last value), or
   at most ``loss_abs`` (0.02), or not significantly above 0: within the one-sided 5%
   t-test's bound of the standard error that the loss's own scatter about the line gives the
   fall (``window`` - 2 degrees of freedom). Relative to the run's own progress because the
   cross-entropy of a net that can fit its training data falls towards 0 without end (it
   keeps sharpening its confidence): what says the optimiser's work is done is that what it
   still gains is small against what it gained. The significance test (version 3) because an
   optimiser whose loss jumps from epoch to epoch without a trend (RPROP on 10% mini-batches:
   0.74 -> 1.58 -> 0.89 between epochs) gains nothing more, and a line through four such
   points points down or up by chance; a smoothly falling loss has a small scatter and is
   judged as in version 2.
2. The test error has levelled off: its fall over the window is at most the larger of
   ``error_abs`` (0.03) and the standard deviation that the fitted fall would have from the
   test set's sampling noise alone, sqrt(sum of w^2) * sqrt(e (1 - e) / n), with n test
   videos, e the window's mean error and w the least-squares weights of the fall (1.34 for
   4 epochs, less for longer windows): a smaller fall is not one this test set can tell from
   noise. A rising test
   error (over-fitting) counts as levelled: more epochs would not lower it.

A quarter of the run, not a fixed count, because runs differ in what an epoch is: the
10%-update row at equal optimiser steps trains 10x the epochs of 10 steps each, and its last
4 epochs would be 40 steps against the 1% rows' 400. A run with fewer than 4 epochs, or
without a test error at each epoch of the window, is not converged (there is no evidence
that it is). Version 1 (3 epochs, first minus last, loss
within 5% of its value, error within 0.03) failed runs on one epoch's swing of the test error
and on the endless fall of a memorising net's loss; version 2 (this rule without the
significance test) failed RPROP's oscillating loss on chance (docs/STUDY.md section 7).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

RULE = ("last {window} epochs (a quarter of the run, at least 4), least-squares fall: train loss <= {loss_share:.0%} of its fall over the run "
        "(or <= {loss_abs}, or not significantly > 0 by its scatter, one-sided 5% t-test) and test video error "
        "<= max({error_abs}, its sampling s.d. over {n} test videos)")
VERSION = 3
MIN_WINDOW, WINDOW_SHARE, LOSS_SHARE, LOSS_ABS, ERROR_ABS = 4, 0.25, 0.10, 0.02, 0.03
# One-sided 5% quantiles of Student's t by degrees of freedom (no scipy here). Between two
# entries the one of more degrees: a smaller bound, so a loss is called still falling at least
# as readily as with the exact quantile (never a more lenient verdict); beyond 120, the normal's.
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860, 9: 1.833, 10: 1.812,
        12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697, 40: 1.684, 60: 1.671, 120: 1.658}


def t95(dof: int) -> float:
    """The one-sided 5% quantile of Student's t with ``dof`` degrees of freedom (>= 1), from
    the table above: the entry of the smallest tabulated count not below ``dof``."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    return _T95[min((d for d in _T95 if d >= dof), default=120)] if dof <= 120 else 1.645


def window_for(epochs: int) -> int:
    """The rule's window: the last quarter of the run's epochs, at least 4."""
    return max(MIN_WINDOW, math.ceil(WINDOW_SHARE * epochs))


def fall_weights(window: int) -> list[float]:
    """w with fall = -sum(w_i y_i): the least-squares line's first value minus its last."""
    mid = (window - 1) / 2
    ss = sum((i - mid) ** 2 for i in range(window))
    return [(window - 1) * (i - mid) / ss for i in range(window)]


def fitted_fall(values: Sequence[float]) -> float:
    return -sum(w * v for w, v in zip(fall_weights(len(values)), values))


def fall_standard_error(values: Sequence[float]) -> float | None:
    """Standard error of `fitted_fall` estimated from the values' scatter about their
    least-squares line (None for fewer than 3 values: no scatter to estimate)."""
    n = len(values)
    if n < 3:
        return None
    mid, mean = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mid) ** 2 for i in range(n))
    slope = -fitted_fall(values) / (n - 1)  # the line's fall over its n - 1 steps
    ss_res = sum((v - mean - slope * (i - mid)) ** 2 for i, v in enumerate(values))
    return (n - 1) * math.sqrt(ss_res / (n - 2) / sxx)


def error_noise(mean_error: float, n_videos: int | None, window: int) -> float | None:
    """Standard deviation of the fitted fall of a test error from sampling noise alone."""
    if not n_videos:
        return None
    e = min(max(mean_error, 0.0), 1.0)
    return math.sqrt(sum(w * w for w in fall_weights(window))) * math.sqrt(e * (1 - e) / n_videos)


def convergence(history: Sequence[Mapping[str, Any]], *, n_test_videos: int | None = None, window: int | None = None,
                loss_share: float = LOSS_SHARE, loss_abs: float = LOSS_ABS,
                error_abs: float = ERROR_ABS) -> dict[str, Any]:
    """The evidence and the verdict: ``{"converged": bool, "rule": str, "window": k, "epochs": E,
    "train_loss_fall": dl, "train_loss_total_fall": DL, "train_loss_share": dl/DL,
    "train_loss_fall_se": se, "train_loss_fall_t": dl/se, "train_loss_t_bound": t,
    "test_error_fall": de, "test_error_tolerance": tol, "reason": str (when not converged)}``.

    Fields that cannot be computed are None (and the run counts as not converged).
    ``n_test_videos`` None: the error tolerance is ``error_abs`` alone. ``window`` None: the
    last quarter of the epochs recorded, at least 4 (`window_for`).
    """
    window = window_for(len(history)) if window is None else window
    rule = RULE.format(window=window, loss_share=loss_share, loss_abs=loss_abs, error_abs=error_abs,
                       n=n_test_videos if n_test_videos else "?")
    out: dict[str, Any] = {"converged": False, "rule": rule, "version": VERSION, "window": window,
                           "epochs": len(history), "train_loss_fall": None, "train_loss_total_fall": None,
                           "train_loss_share": None, "train_loss_fall_se": None, "train_loss_fall_t": None,
                           "train_loss_t_bound": None, "test_error_fall": None, "test_error_tolerance": None}
    if window < 2 or len(history) < window:
        out["reason"] = f"{len(history)} epoch(s) recorded; the rule needs {max(window, 2)}"
        return out
    last = history[-window:]
    losses = [r.get("train_loss") for r in last]
    errs = [r.get("test_error") for r in last]
    first_loss = history[0].get("train_loss")
    if None in losses or first_loss is None or None in errs:
        out["reason"] = "train_loss or test_error missing from the history (eval_each_epoch off?)"
        return out
    fall = fitted_fall(losses)
    end = sum(losses) / window - fall / 2  # the line's value at the window's last epoch
    total = first_loss - end
    out["train_loss_fall"], out["train_loss_total_fall"] = fall, total
    out["train_loss_share"] = fall / total if total > 0 else None
    se = fall_standard_error(losses)
    bound = t95(window - 2) if window >= 3 else None
    out["train_loss_fall_se"], out["train_loss_t_bound"] = se, bound
    out["train_loss_fall_t"] = fall / se if se else None
    # Not significant: within the bound of its standard error (a perfectly straight line has
    # se 0 and any fall is significant; fewer than 3 epochs: no test, as version 2).
    chance = se is not None and se > 0 and fall <= bound * se
    loss_flat = fall <= loss_abs or (total > 0 and fall <= loss_share * total) or chance
    noise = error_noise(sum(errs) / window, n_test_videos, window)
    tol = max(error_abs, noise) if noise is not None else error_abs
    out["test_error_fall"], out["test_error_tolerance"] = fitted_fall(errs), tol
    error_flat = out["test_error_fall"] <= tol
    out["converged"] = bool(loss_flat and error_flat)
    if not out["converged"]:
        out["reason"] = " and ".join(w for w, bad in (("train loss still falling", not loss_flat),
                                                      ("test error still falling", not error_flat)) if bad)
    return out

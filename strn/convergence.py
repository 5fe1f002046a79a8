"""Did a run converge? One rule, applied to the per-epoch history every run records.

The rule (docs/STUDY.md section 7, "Convergence"; version 2, fixed before the demo it judges
was run). Over the last quarter of the run's epochs, at least 4 (``window``; a fixed count can
be given), a least-squares line is fitted to the
training loss and to the test video error; a series' *fall* is the line's value at the
window's first epoch minus its value at the last (positive: still improving). A line, not the
first and last points, because single epochs swing (one epoch's test error moves by several
videos on a set of a few hundred). Converged means both:

1. The training loss has levelled off: its fall over the window is at most ``loss_share``
   (10%) of its fall over the whole run (first epoch's loss minus the line's last value), or
   at most ``loss_abs`` (0.02). Relative to the run's own progress because the cross-entropy
   of a net that can fit its training data falls towards 0 without end (it keeps sharpening
   its confidence): what says the optimiser's work is done is that what it still gains is
   small against what it gained.
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
and on the endless fall of a memorising net's loss (docs/STUDY.md section 7).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

RULE = ("last {window} epochs (a quarter of the run, at least 4), least-squares fall: train loss <= {loss_share:.0%} of its fall over the run "
        "(or <= {loss_abs}) and test video error <= max({error_abs}, its sampling s.d. over {n} test videos)")
MIN_WINDOW, WINDOW_SHARE, LOSS_SHARE, LOSS_ABS, ERROR_ABS = 4, 0.25, 0.10, 0.02, 0.03


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
    "test_error_fall": de, "test_error_tolerance": tol, "reason": str (when not converged)}``.

    Fields that cannot be computed are None (and the run counts as not converged).
    ``n_test_videos`` None: the error tolerance is ``error_abs`` alone. ``window`` None: the
    last quarter of the epochs recorded, at least 4 (`window_for`).
    """
    window = window_for(len(history)) if window is None else window
    rule = RULE.format(window=window, loss_share=loss_share, loss_abs=loss_abs, error_abs=error_abs,
                       n=n_test_videos if n_test_videos else "?")
    out: dict[str, Any] = {"converged": False, "rule": rule, "version": 2, "window": window,
                           "epochs": len(history), "train_loss_fall": None, "train_loss_total_fall": None,
                           "train_loss_share": None, "test_error_fall": None, "test_error_tolerance": None}
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
    loss_flat = fall <= loss_abs or (total > 0 and fall <= loss_share * total)
    noise = error_noise(sum(errs) / window, n_test_videos, window)
    tol = max(error_abs, noise) if noise is not None else error_abs
    out["test_error_fall"], out["test_error_tolerance"] = fitted_fall(errs), tol
    error_flat = out["test_error_fall"] <= tol
    out["converged"] = bool(loss_flat and error_flat)
    if not out["converged"]:
        out["reason"] = " and ".join(w for w, bad in (("train loss still falling", not loss_flat),
                                                      ("test error still falling", not error_flat)) if bad)
    return out

"""Did a run converge? One rule, applied to the per-epoch history every run records.

The rule (docs/STUDY.md, "Convergence"): over the last ``window`` epochs (default 3) the
training loss fell by at most ``loss_tol`` (5%) of its value (or by at most ``loss_abs`` in
absolute terms, for losses near zero) AND the test video error improved by at most
``error_tol``. Both must hold: a training loss still falling means the optimiser has not
finished; a test error still falling means the answer would still change with more epochs.
A run with fewer than ``window`` epochs, or without a test error at each of them, is not
converged (there is no evidence that it is).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

RULE = ("last {window} epochs: train loss fell by <= {loss_tol:.0%} (or <= {loss_abs}) and "
        "test video error improved by <= {error_tol}")
WINDOW, LOSS_TOL, LOSS_ABS, ERROR_TOL = 3, 0.05, 0.02, 0.03


def convergence(history: Sequence[Mapping[str, Any]], *, window: int = WINDOW, loss_tol: float = LOSS_TOL,
                loss_abs: float = LOSS_ABS, error_tol: float = ERROR_TOL) -> dict[str, Any]:
    """The evidence and the verdict: ``{"converged": bool, "rule": str, "window": k,
    "train_loss_rel_change": x, "train_loss_change": dx, "test_error_change": y}``.

    Changes are (first epoch of the window) - (last epoch): positive means still improving.
    Fields that cannot be computed are None (and the run counts as not converged).
    """
    rule = RULE.format(window=window, loss_tol=loss_tol, loss_abs=loss_abs, error_tol=error_tol)
    out: dict[str, Any] = {"converged": False, "rule": rule, "window": window, "epochs": len(history),
                           "train_loss_rel_change": None, "train_loss_change": None, "test_error_change": None}
    if window < 2 or len(history) < window:
        out["reason"] = f"{len(history)} epoch(s) recorded; the rule needs {max(window, 2)}"
        return out
    last = history[-window:]
    l0, l1 = last[0].get("train_loss"), last[-1].get("train_loss")
    if l0 is not None and l1 is not None:
        out["train_loss_change"] = l0 - l1
        out["train_loss_rel_change"] = (l0 - l1) / l0 if l0 > 0 else 0.0
    errs = [r.get("test_error") for r in last]
    if None not in errs:
        out["test_error_change"] = errs[0] - errs[-1]
    if out["train_loss_change"] is None or out["test_error_change"] is None:
        out["reason"] = "train_loss or test_error missing from the history (eval_each_epoch off?)"
        return out
    loss_flat = out["train_loss_rel_change"] <= loss_tol or out["train_loss_change"] <= loss_abs
    error_flat = out["test_error_change"] <= error_tol
    out["converged"] = bool(loss_flat and error_flat)
    if not out["converged"]:
        out["reason"] = " and ".join(w for w, bad in (("train loss still falling", not loss_flat),
                                                      ("test error still falling", not error_flat)) if bad)
    return out

"""Thesis ch. 3 made executable (notebook 03): activation functions and their derivatives
(Fig. 3.2), ADAM vs RPROP vs SGD on a small problem (3.2.3-3.2.4), and the decay of
back-propagated gradients through time (3.1.3), which motivates temporal skip connections.

This module computes; ``strn.report.plots.technical`` draws what :func:`compute` returned.

Everything here is deterministic, CPU-only and small: a profile only changes sizes
(:func:`sizes`). Derivatives are taken by autograd, never written by hand, so the plots
show what the library differentiates.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..profiles import get_profile


def sizes(profile: str) -> dict[str, int]:
    """Problem sizes of a profile: its ``technical`` entry in strn/profiles.py."""
    return dict(get_profile(profile).technical)


# ------------------------------------------------------------------ activations (Fig. 3.2)

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu")


def activation_curves(lo: float = -4.0, hi: float = 4.0, n: int = 401) -> dict[str, dict[str, np.ndarray]]:
    """Values and autograd derivatives of the activations on [lo, hi].

    ``softmax``: the first output of softmax((x, 1, 0)) as x varies, and its derivative
    with respect to x, d s_1 / d z_1 = s_1 (1 - s_1).
    """
    fns = {"identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "softmax": lambda z: torch.softmax(torch.stack([z, torch.ones_like(z), torch.zeros_like(z)], -1), -1)[..., 0]}
    out = {}
    for name, fn in fns.items():
        x = torch.linspace(lo, hi, n, dtype=torch.float64, requires_grad=True)
        y = fn(x)
        (g,) = torch.autograd.grad(y.sum(), x)  # elementwise functions: the sum's gradient is the derivative
        out[name] = {"x": x.detach().numpy(), "y": y.detach().numpy(), "dy": g.numpy()}
    return out


def softmax_example(z=(2.0, 1.0, 0.1)) -> dict[str, list[float]]:
    """Softmax of a small vector and the diagonal of its Jacobian (s_i (1 - s_i))."""
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    s = torch.softmax(zt, 0)
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), zt.detach())
    return {"z": list(z), "softmax": s.detach().tolist(), "jacobian_diag": torch.diagonal(jac).tolist()}


# --------------------------------------------------------------- optimisers (3.2.3-3.2.4)

# torch.optim settings used (documented in notebook 03). Rprop's lr is its initial step
# size; etas and step bounds are torch's defaults (0.5, 1.2), (1e-6, 50).
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "adam": {"cls": "Adam", "lr": 0.01},
    "rprop": {"cls": "Rprop", "lr": 0.01},
    "sgd": {"cls": "SGD", "lr": 0.5},
}


def two_spirals(n: int, seed: int = 0, noise: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, non-linearly separable 2-D problem: two interleaved spirals, n points."""
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    t = torch.rand(half, generator=g) * 1.75 * np.pi + 0.25
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (2 * np.pi)
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * half, 2, generator=g) / 3
    y = torch.cat([torch.zeros(half, dtype=torch.long), torch.ones(half, dtype=torch.long)])
    return x, y


def _mlp(hidden: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2))


def compare_optimizers(profile: str = "smoke", seed: int = 0, optimizers=("adam", "rprop", "sgd")) -> dict[str, Any]:
    """Train the same MLP (same initial weights) with each optimiser, full-batch and
    mini-batch; the loss on the whole data set is recorded after every update (full
    batch) or every epoch (mini-batch).

    Returns {"settings", "curves": {mode: {opt: [loss...]}}, "table": [rows]}; each row
    holds the initial and final full-data cross-entropy and the final accuracy.
    """
    s = sizes(profile)
    x, y = two_spirals(s["n_points"], seed)
    loss_fn = nn.CrossEntropyLoss()
    curves: dict[str, dict[str, list[float]]] = {"full-batch": {}, "mini-batch": {}}
    rows = []
    for mode in curves:
        for name in optimizers:
            spec = OPTIMIZERS[name]
            model = _mlp(s["hidden"], seed)
            opt = getattr(torch.optim, spec["cls"])(model.parameters(), lr=spec["lr"])
            with torch.no_grad():
                hist = [loss_fn(model(x), y).item()]
            g = torch.Generator().manual_seed(seed)
            if mode == "full-batch":
                for _ in range(s["full_steps"]):
                    opt.zero_grad()
                    loss_fn(model(x), y).backward()
                    opt.step()
                    with torch.no_grad():
                        hist.append(loss_fn(model(x), y).item())
            else:
                for _ in range(s["mini_epochs"]):
                    for idx in torch.randperm(len(x), generator=g).split(s["batch"]):
                        opt.zero_grad()
                        loss_fn(model(x[idx]), y[idx]).backward()
                        opt.step()
                    with torch.no_grad():
                        hist.append(loss_fn(model(x), y).item())
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean().item()
            curves[mode][name] = hist
            rows.append({"mode": mode, "optimizer": name, "lr": spec["lr"], "updates": _updates(s, mode),
                         "initial loss": hist[0], "final loss": hist[-1], "min loss": min(hist),
                         "final accuracy": acc})
    settings = {"problem": f"two spirals, {s['n_points']} points, 2-{s['hidden']}-{s['hidden']}-2 tanh MLP",
                "full_steps": s["full_steps"], "mini_epochs": s["mini_epochs"], "batch": s["batch"], "seed": seed,
                "optimizers": {k: {kk: vv for kk, vv in OPTIMIZERS[k].items()} for k in optimizers}}
    return {"settings": settings, "curves": curves, "table": rows}


def _updates(s: dict[str, int], mode: str) -> int:
    if mode == "full-batch":
        return s["full_steps"]
    return s["mini_epochs"] * -(-s["n_points"] // s["batch"])


# --------------------------------------------------------------- BPTT gradients (3.1.3)

CELLS = ("rnn_tanh", "gru", "residual")


def bptt_gradient_norms(cell: str, T: int, hidden: int = 32, n_in: int = 8, seed: int = 0,
                        batch: int = 16) -> np.ndarray:
    """||dL/dh_t|| for t = 1..T at initialisation (torch's default init), L = sum of a
    linear read-out of h_T, inputs x_t ~ N(0, 1).

    cell: "rnn_tanh" -- h_t = tanh(W h_{t-1} + U x_t + b); "gru" -- torch's GRU cell;
    "residual" -- the STRN-like chain h_t = h_{t-1} + tanh(U x_t + b): the state is
    carried by an identity skip connection, so dL/dh_t = dL/dh_T for every t.
    Returns an array of T norms (averaged over the batch's Frobenius norm).
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; allowed: {', '.join(CELLS)}")
    torch.manual_seed(seed)
    if cell == "rnn_tanh":
        step = nn.RNNCell(n_in, hidden, nonlinearity="tanh")
    elif cell == "gru":
        step = nn.GRUCell(n_in, hidden)
    else:
        f = nn.Linear(n_in, hidden)

        def step(x, h):  # noqa: E306 - a closure over f, not a notebook definition
            return h + torch.tanh(f(x))
    readout = nn.Linear(hidden, 1)
    g = torch.Generator().manual_seed(seed + 1000)
    xs = torch.randn(T, batch, n_in, generator=g)
    h = torch.zeros(batch, hidden)
    states = []
    for t in range(T):
        h = step(xs[t], h)
        h.retain_grad()
        states.append(h)
    readout(h).sum().backward()
    return np.array([s.grad.norm().item() for s in states])


def bptt_study(profile: str = "smoke", cells=CELLS) -> dict[str, Any]:
    """Gradient norms per cell and seed (rows: seeds, columns: t = 1..T), and the ratio
    ||dL/dh_1|| / ||dL/dh_T|| per cell (geometric mean over seeds)."""
    s = sizes(profile)
    norms = {c: np.stack([bptt_gradient_norms(c, s["rnn_T"], s["rnn_hidden"], seed=k) for k in range(s["rnn_seeds"])])
             for c in cells}
    ratio = {c: float(np.exp(np.mean(np.log(n[:, 0] / n[:, -1])))) for c, n in norms.items()}
    return {"T": s["rnn_T"], "hidden": s["rnn_hidden"], "seeds": s["rnn_seeds"], "norms": norms,
            "ratio_first_to_last": ratio}


def summary(optim: dict[str, Any], bptt: dict[str, Any]) -> dict[str, Any]:
    """The numbers notebook 03 stores in its results JSON."""
    return {"optimizers": {"settings": optim["settings"], "table": optim["table"]},
            "bptt": {"T": bptt["T"], "hidden": bptt["hidden"], "seeds": bptt["seeds"],
                     "ratio_first_to_last": bptt["ratio_first_to_last"],
                     "mean_norms": {c: np.exp(np.log(n).mean(0)).tolist() for c, n in bptt["norms"].items()}}}


def checks(optim: dict[str, Any], bptt: dict[str, Any]):
    """What notebook 03 asserts about its own numbers, as a table (check, value, passed)."""
    import pandas as pd  # heavy: only where a table is built

    rows = []
    for r in optim["table"]:
        if r["mode"] == "full-batch":
            rows.append({"check": f"{r['optimizer'].upper()} full-batch lowers the loss",
                         "value": f"{r['initial loss']:.3f} -> {r['final loss']:.3f}",
                         "passed": r["final loss"] < r["initial loss"]})
    ratio = bptt["ratio_first_to_last"]
    rows += [{"check": "tanh RNN: gradient at t=1 vanishes (< 1e-3 of t=T)", "value": f"{ratio['rnn_tanh']:.2e}",
              "passed": ratio["rnn_tanh"] < 1e-3},
             {"check": "GRU decays less than the tanh RNN", "value": f"{ratio['gru']:.2e}",
              "passed": ratio["gru"] > ratio["rnn_tanh"]},
             {"check": "residual chain: gradient at t=1 equals t=T", "value": f"{ratio['residual']:.6f}",
              "passed": abs(ratio["residual"] - 1) < 1e-6}]
    return pd.DataFrame(rows)


def compute(profile: str = "smoke") -> dict[str, Any]:
    """Everything notebook 03 shows, computed once: curves, tables, ``summary`` (its results
    JSON) and ``checks``; the figures are drawn from this, never recomputed."""
    optim = compare_optimizers(profile)
    bptt = bptt_study(profile)
    checked = checks(optim, bptt)
    return {"sizes": sizes(profile), "activations": activation_curves(), "softmax": softmax_example(),
            "optimizers": optim, "bptt": bptt, "checks": checked,
            "summary": {**summary(optim, bptt), "checks": checked.to_dict(orient="records")}}

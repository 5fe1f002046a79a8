"""Thesis ch. 3 made executable (notebook 03): activation functions and their derivatives
(Fig. 3.2), ADAM vs RPROP vs SGD on a small problem (3.2.3-3.2.4), and the decay of
back-propagated gradients through time (3.1.3), which motivates temporal skip connections.

Everything here is deterministic, CPU-only and small: a profile only changes sizes
(:func:`sizes`). Derivatives are taken by autograd, never written by hand, so the plots
show what the library differentiates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .profiles import get_profile


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


def plot_activations(curves: dict[str, dict[str, np.ndarray]] | None = None, example: dict | None = None):
    import matplotlib.pyplot as plt

    curves = curves or activation_curves()
    example = example or softmax_example()
    names = [*ACTIVATIONS, "softmax"]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.0 * (len(names) + 1), 2.8))
    for ax, name in zip(axes, names):
        c = curves[name]
        ax.plot(c["x"], c["y"], label="f(x)", color="#1f77b4")
        ax.plot(c["x"], c["dy"], label="f'(x)", color="#d62728", ls="--")
        ax.axhline(0, color="0.8", lw=0.6)
        ax.axvline(0, color="0.8", lw=0.6)
        ax.set_title(name if name != "softmax" else "softmax((x, 1, 0))$_1$", fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylim(-1.6, 1.6) if name in ("identity", "tanh") else ax.set_ylim(-0.2, 1.6)
    axes[0].legend(fontsize=7, loc="upper left")
    ax = axes[-1]
    k = np.arange(len(example["z"]))
    ax.bar(k - 0.2, example["softmax"], 0.4, label="softmax(z)")
    ax.bar(k + 0.2, example["jacobian_diag"], 0.4, label=r"$\partial s_i/\partial z_i$", color="#d62728")
    ax.set_xticks(k, [f"z={v:g}" for v in example["z"]])
    ax.set_title("softmax of a small vector", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


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


def plot_optimizer_curves(result: dict[str, Any]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, (mode, curves) in zip(axes, result["curves"].items()):
        for name, hist in curves.items():
            ax.plot(range(len(hist)), hist, label=name.upper(), marker="." if mode == "mini-batch" else None)
        ax.set_title(mode, fontsize=9)
        ax.set_xlabel("update" if mode == "full-batch" else "epoch")
        ax.set_ylabel("cross-entropy (all data)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle("ADAM vs RPROP vs SGD on two spirals (same initial weights)", fontsize=9)
    fig.tight_layout()
    return fig


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


def plot_bptt(study: dict[str, Any]):
    import matplotlib.pyplot as plt

    labels = {"rnn_tanh": "tanh RNN", "gru": "GRU", "residual": "residual chain h_t = h_{t-1} + f(x_t)"}
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (cell, n) in enumerate(study["norms"].items()):
        t = np.arange(1, n.shape[1] + 1)
        color = f"C{i}"
        ax.plot(t, np.exp(np.log(n).mean(0)), color=color, label=labels.get(cell, cell))
        ax.fill_between(t, n.min(0), n.max(0), color=color, alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is computed at t = T)")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.set_title(f"Gradient back-propagated through time at initialisation "
                 f"(T={study['T']}, {study['seeds']} seeds: mean and range)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary(optim: dict[str, Any], bptt: dict[str, Any]) -> dict[str, Any]:
    """The numbers notebook 03 stores in its results JSON."""
    return {"optimizers": {"settings": optim["settings"], "table": optim["table"]},
            "bptt": {"T": bptt["T"], "hidden": bptt["hidden"], "seeds": bptt["seeds"],
                     "ratio_first_to_last": bptt["ratio_first_to_last"],
                     "mean_norms": {c: np.exp(np.log(n).mean(0)).tolist() for c, n in bptt["norms"].items()}}}


def checks(optim: dict[str, Any], bptt: dict[str, Any]):
    """What notebook 03 asserts about its own numbers, as a table (check, value, passed)."""
    import pandas as pd

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

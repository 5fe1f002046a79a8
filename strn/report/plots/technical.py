"""Notebook 03's figures (thesis ch. 3), drawn from what ``strn.study.technical.compute`` returned:
curves and numbers already computed, never recomputed here."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

ACTIVATION_PANELS = ("identity", "sigmoid", "tanh", "relu", "softmax")
BPTT_LABELS = {"rnn_tanh": "tanh RNN", "gru": "GRU", "residual": r"residual chain $h_t = h_{t-1} + f(x_t)$"}


def activations(curves: dict[str, dict[str, Any]], example: dict[str, list[float]]):
    """Fig. 3.2: each activation and its autograd derivative, and softmax of a small vector
    beside the diagonal of its Jacobian."""
    fig, axes = plt.subplots(1, len(ACTIVATION_PANELS) + 1, figsize=(3.0 * (len(ACTIVATION_PANELS) + 1), 2.8))
    for ax, name in zip(axes, ACTIVATION_PANELS):
        c = curves[name]
        ax.plot(c["x"], c["y"], label="f(x)", color="#1f77b4")
        ax.plot(c["x"], c["dy"], label="f'(x)", color="#d62728", ls="--")
        ax.axhline(0, color="0.8", lw=0.6)
        ax.axvline(0, color="0.8", lw=0.6)
        ax.set_title(name if name != "softmax" else "softmax((x, 1, 0))$_1$", fontsize=9)
        ax.set(xlabel="x", ylabel="f(x), f'(x)")
        ax.set_ylim(-1.6, 1.6) if name in ("identity", "tanh") else ax.set_ylim(-0.2, 1.6)
    axes[0].legend(fontsize=7, loc="upper left")
    ax = axes[-1]
    k = np.arange(len(example["z"]))
    ax.bar(k - 0.2, example["softmax"], 0.4, label="softmax(z)")
    ax.bar(k + 0.2, example["jacobian_diag"], 0.4, label=r"$\partial s_i/\partial z_i$", color="#d62728")
    ax.set_xticks(k, [f"z={v:g}" for v in example["z"]])
    ax.set(title="softmax of a small vector", xlabel="component of z", ylabel="value")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def optimizer_curves(result: dict[str, Any]):
    """Full-data loss after every update (full batch) or epoch (mini-batch), per optimiser."""
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


def bptt(study: dict[str, Any]):
    """||dL/dh_t|| over t per cell: geometric mean over seeds, and the seeds' range."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (cell, n) in enumerate(study["norms"].items()):
        n = np.asarray(n)
        t = np.arange(1, n.shape[1] + 1)
        color = f"C{i}"
        ax.plot(t, np.exp(np.log(n).mean(0)), color=color, label=BPTT_LABELS.get(cell, cell))
        ax.fill_between(t, n.min(0), n.max(0), color=color, alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (the loss is computed at t = T)")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.set_title(f"Gradient back-propagated through time at initialisation\n"
                 f"(T={study['T']}, {study['seeds']} seeds: mean and range)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

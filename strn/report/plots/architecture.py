"""Notebook 04's figures (thesis ch. 4), drawn from what ``strn.study.architecture.compute`` returned:
block diagrams as lists of labelled boxes, unrolled plans as (block, frame) cells, the cost
table, frames and windows of one video. Nothing here builds or runs a model."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .common import arrow, box

COLORS = {"conv": "#cfe2f3", "bn": "#d9ead3", "relu": "#fff2cc", "add": "#ffffff", "proj": "#ead1dc",
          "temporal": "#f4cccc", "io": "#eeeeee"}
KIND_COLORS = {"identity": "#d62728", "projection": "#9467bd", "conv": "#ff7f0e", "conv_relu": "#8c564b"}


def draw_block(ax, diagram: dict[str, Any]) -> None:
    """One residual block bottom-up from ``architecture.block_diagram``'s data: input, the
    residual branch F, the spatial shortcut, the temporal connection R where there is one,
    the sum and the final ReLU."""
    branch = diagram["branch"]
    ys = np.arange(1, len(branch) + 1) * 0.7
    box(ax, 0, 0, f"in$_t$ ({diagram['in_channels']} ch)", COLORS["io"])
    prev = 0.0
    for y, (label, kind) in zip(ys, branch):
        box(ax, 0, y, label, COLORS[kind], fontsize=7 if len(label) < 20 else 6)
        arrow(ax, (0, prev + 0.21), (0, y - 0.21))
        prev = y
    y_add = ys[-1] + 0.8
    box(ax, 0, y_add, "+", COLORS["add"], w=0.4)
    arrow(ax, (0, ys[-1] + 0.21), (0, y_add - 0.21))
    box(ax, 0, y_add + 0.8, "ReLU -> out$_t$", COLORS["relu"])
    arrow(ax, (0, y_add + 0.21), (0, y_add + 0.8 - 0.21))
    mid = ys[len(ys) // 2]
    box(ax, 2.5, mid, diagram["shortcut"].replace(": ", ":\n").replace(" + ", "\n+ "), COLORS["proj"], w=2.0, h=0.8,
        fontsize=6)
    arrow(ax, (0.85, 0.0), (2.5, mid - 0.4), rad=0.2)
    arrow(ax, (2.5, mid + 0.4), (0.2, y_add), rad=0.2)
    if diagram["temporal"] is not None:
        color = KIND_COLORS.get(diagram["temporal_kind"], "#d62728")
        box(ax, -2.5, 0, f"in$_{{t-{diagram['delay']}}}$", COLORS["io"], w=1.2)
        box(ax, -2.5, mid, diagram["temporal"], COLORS["temporal"], w=2.0, h=1.0, fontsize=6)
        arrow(ax, (-2.5, 0.21), (-2.5, mid - 0.5), color=color)
        arrow(ax, (-2.5, mid + 0.5), (-0.2, y_add), color=color, rad=-0.2, lw=1.4)
    ax.set_xlim(-3.6, 3.6)
    ax.set_ylim(-0.5, y_add + 1.3)
    ax.axis("off")
    ax.set_title(diagram["title"], fontsize=8)


def blocks(diagrams: Sequence[dict[str, Any]]):
    """Fig. 4.1 (a plain residual block) beside Fig. 4.2 (with a temporal skip connection)."""
    fig, axes = plt.subplots(1, len(diagrams), figsize=(4.8 * len(diagrams), 5.2))
    for ax, d in zip(np.atleast_1d(axes), diagrams):
        draw_block(ax, d)
    fig.tight_layout()
    return fig


def draw_unrolled(ax, layout: dict[str, Any], title: str) -> None:
    """Filled cells: the (block, frame) pairs the forward pass computes; coloured arrows: the
    temporal terms added; blank cells: frames never computed."""
    from matplotlib.patches import Rectangle  # only the diagrams draw patches

    rows, T = layout["rows"], layout["T"]
    kinds = {c["block"]: c["kind"] for c in layout["connections"]}
    for i, row in enumerate(rows):
        for t in range(T):
            on = t in layout["computed"][row]
            color = KIND_COLORS.get(kinds[row], "#d62728") if on and row in kinds else "#1f77b4" if on else "white"
            ax.add_patch(Rectangle((t - 0.3, i - 0.35), 0.6, 0.7, fc=color, ec="0.2" if on else "0.6", lw=0.6))
    idx = {r: i for i, r in enumerate(rows)}
    for block, src, dst, kind, delay in layout["temporal"]:
        i = idx[block]
        arrow(ax, (src + 0.3, i - 1), (dst - 0.3, i), color=KIND_COLORS.get(kind, "#d62728"), lw=1.4,
              rad=-0.25 if delay > 1 else 0.0)
    ax.set_yticks(range(len(rows)), layout["labels"], fontsize=6)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r in kinds:
            tick.set_color(KIND_COLORS.get(kinds[r], "#d62728"))
            tick.set_fontweight("bold")
    ax.set_xticks(range(T), [f"frame {t + 1}" for t in range(T)], fontsize=7)
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("frame of the sequence", fontsize=7)
    ax.set_ylabel("layer (input at the bottom)", fontsize=7)
    ax.set_title(title, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def unrolled(layouts: dict[str, dict[str, Any]]):
    """The network unrolled over its frames, one panel per title -> ``architecture.unrolled`` layout."""
    fig, axes = plt.subplots(1, len(layouts), figsize=(3.3 * len(layouts) + 1.5, 5.8),
                             gridspec_kw={"width_ratios": [lay["T"] + 1.5 for lay in layouts.values()]})
    for ax, (title, lay) in zip(np.atleast_1d(axes), layouts.items()):
        draw_unrolled(ax, lay, title)
    fig.suptitle("STRN unrolled over the frames of one sequence (input at the bottom, prediction from the last frame)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def video_sequences(frames: np.ndarray, windows: Sequence[Sequence[int]], rate: int, title: str = ""):
    """Fig. 4.5 from a real video: its sampled frames (every ``rate``-th), the non-overlapping
    windows of T cut from them (a padded window repeats its last frame), one STRN prediction
    p_j per window, and the video's distribution as their mean."""
    n = len(frames)
    used = sorted({i for w in windows for i in w})
    m = len(windows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * n + 1.5), 3.6))
    for i in range(n):
        ax.imshow(frames[i], extent=(i, i + 0.9, 2.2, 3.1), interpolation="nearest")
        ax.text(i + 0.45, 3.2, f"{i * rate}", ha="center", fontsize=6)
        if i not in used:
            ax.plot([i, i + 0.9], [2.2, 3.1], color="0.4", lw=0.8)
    ax.text(-0.1, 3.2, "frame #", ha="right", fontsize=6)
    for j, w in enumerate(windows):
        lo, hi = min(w), max(w) + 0.9
        color = f"C{j % 10}"
        ax.plot([lo, lo, hi, hi], [2.1, 2.0, 2.0, 2.1], color=color, lw=1.5)
        cx = (lo + hi) / 2
        pad = " (padded)" if len(set(w)) < len(w) else ""
        box(ax, cx, 1.3, f"STRN on seq. {j + 1}{pad}\n-> p$_{{{j + 1}}}$", "#cfe2f3", w=min(2.0, hi - lo - 0.1),
            h=0.6, fontsize=6)
        arrow(ax, (cx, 2.0), (cx, 1.6), color=color)
        arrow(ax, (cx, 1.0), ((n - 0.1) / 2, 0.35), color=color)
    box(ax, (n - 0.1) / 2, 0.05, f"p(video) = mean of the {m} sequence distributions -> argmax", "#fff2cc",
        w=min(n, 6.0), h=0.5, fontsize=7)
    ax.set_xlim(-0.7, n + 0.2)
    ax.set_ylim(-0.35, 3.4)
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def costs(df):
    """MACs per sequence relative to the plain ResNet on one frame (``architecture.cost_table``),
    with T (the cost of running the plain net on every frame) marked."""
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(df) + 1.2))  # wide enough for the labels and the title
    y = np.arange(len(df))[::-1]
    ax.barh(y, df["x plain"], color=["#9e9e9e" if c == "-" else "#1f77b4" for c in df["connections"]])
    ax.scatter(df["T"], y, marker="|", s=200, color="#d62728", label="T x plain (every frame computed fully)", zorder=3)
    for yi, v in zip(y, df["x plain"]):
        # inside the bar's end: a T mark sits at or just right of it (x plain <= T)
        ax.text(v - 0.04, yi, f"{v:.2f}", va="center", ha="right", fontsize=7, color="white")
    ax.set_yticks(y, [f"{c}  ({px} px)" for c, px in zip(df["configuration"], df["input px"])], fontsize=7)
    ax.set_xlabel("MACs per sequence / MACs of the plain ResNet on one frame")
    ax.set_ylabel("network (input size)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Cost of a prediction: only the frames the last step needs are computed", fontsize=9)
    fig.tight_layout()
    return fig


def styled_layers(df):
    """The layer table (``architecture.layer_frame``) with the rows of the four thesis
    positions highlighted."""
    return df.style.apply(lambda row: ["background-color: #ffe9a8" if row["thesis position"] else ""] * len(row),
                          axis=1)

"""Notebook 05.1's figures (thesis 5.1), drawn from what ``strn.data.stats.compute`` returned:
the per-video table, the class table and the sampled frames, never re-read from the videos."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def lengths(stats):
    """Histogram of video lengths (frames) and of sequences per video at (rate, T), from a
    ``DatasetStats``."""
    ok = stats.videos[stats.videos["frames"] > 0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3))
    a1.hist(ok["frames"], bins=min(30, max(5, len(ok) // 5)), color="#1f77b4")
    short = stats.seq_len * stats.rate - stats.rate  # fewer frames than this: < T sampled frames
    a1.axvline(short + 0.5, color="#d62728", ls="--", label=f"< {stats.seq_len} sampled frames (padded)")
    a1.set_xlabel("frames per video")
    a1.set_ylabel("videos")
    a1.legend(fontsize=7)
    counts = ok["sequences"].value_counts().sort_index()
    a2.bar(counts.index, counts.to_numpy(), color="#ff7f0e")
    a2.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    a2.set_xlabel(f"sequences per video (every {stats.rate}th frame, T={stats.seq_len})")
    a2.set_ylabel("videos")
    fig.suptitle(f"{len(ok)} readable videos, {int(ok['sequences'].sum())} sequences, "
                 f"{int(ok['padded'].sum())} padded", fontsize=9)
    fig.tight_layout()
    return fig


def class_counts(classes, split: int = 1):
    """Videos per class in the train and test subsets of ``split``, from ``stats.class_table``."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * n + 1.5) if n <= 40 else 14, 3.2))
    x = np.arange(n)
    tr, te = classes[f"train (split {split})"].to_numpy(), classes[f"test (split {split})"].to_numpy()
    ax.bar(x, tr, label="train", color="#1f77b4")
    ax.bar(x, te, bottom=tr, label="test", color="#ff7f0e")
    ax.set_xticks(x, classes.index if n <= 40 else [""] * n, rotation=90, fontsize=6)
    ax.set_xlabel("class")
    ax.set_ylabel("videos")
    ax.set_title(f"Videos per class, split {split}", fontsize=9, loc="left")
    # Legend outside the plot, above it: inside, it covered a bar.
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def sample_grid(labels: Sequence[str], frames: Sequence[np.ndarray], rate: int):
    """Rows: videos (one per class, labelled); columns: their sampled frames."""
    n_cols = max(len(f) for f in frames)
    fig, axes = plt.subplots(len(frames), n_cols, figsize=(1.3 * n_cols + 1.6, 1.3 * len(frames) + 0.7),
                             squeeze=False)
    for r, (label, fr) in enumerate(zip(labels, frames)):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(fr):
                ax.imshow(fr[c])
            if r == 0:
                ax.set_title(f"frame {c * rate}", fontsize=7)
        axes[r][0].text(-0.08, 0.5, label, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle(f"The first sampled frames (every {rate}th) of one video per class", fontsize=9)
    fig.tight_layout()
    return fig

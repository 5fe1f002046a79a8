"""The order test's figure (notebook 06), drawn from `strn.study.order_test.order_table`'s table and
the stored records (for the chance and single-frame-floor lines); it computes nothing."""
from __future__ import annotations

import textwrap
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .results import LABEL_WIDTH, reference_lines

MODE_STYLE = {"normal": ("#1f77b4", "frames as sampled"), "reversed": ("#ff7f0e", "frames reversed"),
              "frozen": ("#7f7f7f", "copies of the last frame")}


def order_bars(table, records: Sequence[dict[str, Any]], title: str):
    """Per row, the video error with the frames as sampled, reversed and frozen (mean ± std over
    seeds), with chance and the single-frame floor; rows without an order test are left out."""
    done = table[table["normal (mean)"].notna()] if "normal (mean)" in table else table.iloc[0:0]
    labels = list(done["row"])
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 * len(labels) + 2.0), 3.8))
    for i, (mode, (colour, text)) in enumerate(MODE_STYLE.items()):
        ax.bar(x + (i - 1) * 0.27, done[f"{mode} (mean)"], 0.27, yerr=done[f"{mode} (std)"], capsize=3,
               color=colour, label=text)
    ax.set_xticks(x, [textwrap.fill(t, LABEL_WIDTH + 4, break_long_words=False) for t in labels], fontsize=7)
    ax.set_xlabel("model (row)")
    ax.set_ylabel("error rate (test videos)")
    ax.set_ylim(0, 1.2)  # room for the legend above the bars
    reference_lines(ax, records)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    if not labels:
        ax.text(0.5, 0.5, "no order test: no stored errors and no checkpoints", ha="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["MODE_STYLE", "order_bars"]

"""Chapter 5 results figures (05.2-05.7), drawn from stored results JSON and the tables built
from them (never from training): restyling never retrains."""
from __future__ import annotations

import textwrap
from typing import Any, Sequence

# No backend is forced (here or in the other plots modules): matplotlib falls back to Agg
# without a display, and Jupyter's kernel selects its inline backend itself.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from .common import MAX_SERIES

LABEL_WIDTH = 14  # characters per line of a label under a bar: about the width of its pair of bars


def row_labels(table, label_columns: Sequence[str]) -> list[str]:
    return [" ".join(str(r[c]) for c in label_columns) for _, r in table.iterrows()]


def error_bars(table, label_columns: Sequence[str], title: str, records: Sequence[dict[str, Any]] | None = None):
    """Thesis error beside the reproduced error (mean ± std over seeds), one pair per row.
    Many rows (Tables 5.1/5.2 have 16) are drawn as horizontal bars, so that every label is
    written level beside its own bars instead of rotated under them; a long label under a
    bar is wrapped onto several lines so that it stays under its own bars."""
    labels = row_labels(table, label_columns)
    x = np.arange(len(labels))
    thesis = [np.nan if v is None else v for v in table["thesis error"]]
    if len(labels) > 6:
        fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(labels) + 1.4))
        ax.barh(x - 0.2, thesis, 0.4, label="thesis (UCF-101)", color="#9e9e9e")
        ax.barh(x + 0.2, table["error (mean)"], 0.4, xerr=table["error (std)"], capsize=3, label="reproduced",
                color="#1f77b4")
        ax.set_yticks(x, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("error rate")
        ax.set_ylabel(" / ".join(label_columns))
        ax.set_xlim(0, 1)
        reference_lines(ax, records or [], horizontal=False)
        ax.legend(fontsize=8, loc="lower right")
    else:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(labels) + 1.5), 3.4))
        ax.bar(x - 0.2, thesis, 0.4, label="thesis (UCF-101)", color="#9e9e9e")
        ax.bar(x + 0.2, table["error (mean)"], 0.4, yerr=table["error (std)"], capsize=3, label="reproduced",
               color="#1f77b4")
        ax.set_xticks(x, [textwrap.fill(t, LABEL_WIDTH, break_long_words=False) for t in labels], fontsize=8)
        ax.set_xlabel(" / ".join(label_columns))
        ax.set_ylabel("error rate")
        ax.set_ylim(0, 1.15)  # room for the legend above the bars
        reference_lines(ax, records or [])
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


PANEL_SERIES = 4  # configurations per panel where one panel would hold more than MAX_SERIES


def training_curves(records: Sequence[dict[str, Any]], title: str = "training curves"):
    """Training loss and test error, one line per configuration (first seed). Against
    optimiser steps where the configurations take different numbers of steps per epoch (an
    epoch of 10% updates is not an epoch of 1% updates), on a log axis where their lengths
    differ more than fivefold; more than ``MAX_SERIES`` configurations (05.2 has 16) are drawn
    as small multiples of ``PANEL_SERIES``, loss above test error."""
    first: dict[str, dict[str, Any]] = {}
    for r in records:
        first.setdefault(r.get("name"), r)
    names = list(first)
    per_epoch = {n: _steps_per_epoch(first[n]) for n in names}
    rates = set(per_epoch.values()) - {None}
    # a few per cent apart (05.7's splits differ in size) reads fine against epochs
    by_steps = bool(rates) and max(rates) > 1.1 * min(rates)
    ends = [first[n]["metrics"]["history"][-1]["steps" if by_steps else "epoch"] for n in names
            if first[n]["metrics"]["history"]]
    log_x = by_steps and min(ends) > 0 and max(ends) / min(ends) > 5
    groups = [names] if len(names) <= MAX_SERIES else _panels(names)
    n = len(groups)
    if n == 1:
        fig, axes = plt.subplots(1, 2, figsize=(10, max(3.2, 0.17 * len(names) + 1.0)))
        pairs = [tuple(axes)]
    else:
        fig, axes = plt.subplots(2, n, figsize=(2.9 * n + 0.6, 5.6), sharey="row", squeeze=False)
        pairs = list(zip(axes[0], axes[1]))
    xlabel = ("optimiser steps" + (" (log scale)" if log_x else "")) if by_steps else "epoch"
    if by_steps:
        title += "\nagainst optimiser steps: the configurations take different numbers of steps per epoch"
    for (a1, a2), group in zip(pairs, groups):
        prefix = _common_prefix(group) if n > 1 else ""
        for name in group:
            h = first[name]["metrics"]["history"]
            x = [e["steps"] if by_steps else e["epoch"] for e in h]
            style = dict(marker="o" if len(h) <= 20 else None, markersize=4, label=name[len(prefix):] or name)
            a1.plot(x, [e["train_loss"] for e in h], **style)
            pts = [(xi, e["test_error"]) for xi, e in zip(x, h) if "test_error" in e]
            if pts:
                a2.plot(*zip(*pts), **style)
        reference_lines(a2, records)
        for a in (a1, a2):
            if log_x:
                a.set_xscale("log")
            elif not by_steps:
                a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs: never 2.5
        a1.set(title=f"loss: {prefix.rstrip('-')}" if prefix else "loss", ylabel="training loss")
        a2.set(title=f"test error: {prefix.rstrip('-')}" if prefix else "test error",
               ylabel="test error (video level)", ylim=(0, 1))
        if n == 1:
            a1.set_xlabel(xlabel)
            a2.set_xlabel(xlabel)
            # beside the plots, never over a curve
            a2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        else:
            a1.set_xlabel(xlabel)
            a2.set_xlabel(xlabel)
            a1.legend(fontsize=6, loc="upper right")
    if n > 1 and any(line.get_label().startswith(("chance", "single-frame")) for line in pairs[0][1].get_lines()):
        title += "\ntest error panels: dotted line chance, dashed line the single-frame floor"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _steps_per_epoch(record: dict[str, Any]) -> float | None:
    h = record["metrics"]["history"]
    return round(h[-1]["steps"] / h[-1]["epoch"], 3) if h and h[-1].get("steps") and h[-1].get("epoch") else None


def _panels(names: Sequence[str]) -> list[list[str]]:
    """Configurations by what their names share but the last two words (05.2's feature tap:
    "block4" of block4-avg-raw, "block4-finetuned" of block4-finetuned-avg-raw), else in
    runs of ``PANEL_SERIES``."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(str(name).rsplit("-", 2)[0], []).append(name)
    if 1 < len(groups) and max(map(len, groups.values())) <= PANEL_SERIES:
        return [sorted(g) for _, g in sorted(groups.items())]
    return [list(names[i:i + PANEL_SERIES]) for i in range(0, len(names), PANEL_SERIES)]


def _common_prefix(names: Sequence[str]) -> str:
    """The dash-separated words all ``names`` start with ("block4-" of block4-avg-raw, ...)."""
    parts = [str(n).split("-") for n in names]
    common = []
    for words in zip(*parts):
        if len(set(words)) > 1:
            break
        common.append(words[0])
    prefix = "-".join(common)
    return prefix + "-" if prefix and all(len(p) > len(common) for p in parts) else ""


def reference_lines(ax, records: Sequence[dict[str, Any]], horizontal: bool = True) -> None:
    """Chance and single-frame floor as lines where the records carry them
    (``dataset.chance_error``, ``dataset.single_frame_floor``)."""
    for key, label, style in (("chance_error", "chance", ":"), ("single_frame_floor", "single-frame floor", "--")):
        vals = {round(float(v), 4) for r in records
                if isinstance(r.get("dataset"), dict) and (v := r["dataset"].get(key)) is not None}
        if len(vals) == 1:
            v = vals.pop()
            line = ax.axhline if horizontal else ax.axvline
            line(v, color="#555555", linestyle=style, linewidth=1, label=f"{label} ({v:.2f})")


def error_and_cost(table, x_column: str, title: str, apart: tuple[str, Sequence[str]] | None = None,
                   note: str = ""):
    """Error (thesis and reproduced) against ``x_column``, with the measured training time
    beside the thesis's hours on right-hand axes in clearly different colours (Table 5.6);
    ``note``: what to read the time against, under the title.

    ``apart=(column, values)``: rows whose ``column`` holds one of ``values`` are not points of
    the series (Special3 of Table 5.7 sees 3 frames but is no chain of connections): each is
    drawn on its own just right of its x value, unconnected, and named beside its point."""
    column, names = apart or (None, ())
    alone = np.array([column is not None and str(v) in set(map(str, names))
                      for v in (table[column] if column is not None else [None] * len(table))])
    values = np.array([float(v) for v in table[x_column]])
    distinct = np.unique(values)
    step = np.diff(distinct).min() if len(distinct) > 1 else 1.0
    x = np.where(alone, values + 0.3 * step, values)
    series, own = ~alone, alone
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    thesis = np.array([np.nan if v is None else v for v in table["thesis error"]], dtype=float)
    mean, std = table["error (mean)"].to_numpy(float), table["error (std)"].to_numpy(float)
    ax.plot(x[series], thesis[series], "s--", color="#7f7f7f", label="thesis error")
    ax.errorbar(x[series], mean[series], yerr=std[series], fmt="o-", color="#1f77b4", capsize=3,
                label="reproduced error")
    names = table[column][own] if own.any() else []
    for xi, v, th, m, sd, name in zip(x[own], values[own], thesis[own], mean[own], std[own], names):
        ax.plot([xi], [th], "s", color="#7f7f7f")
        ax.errorbar([xi], [m], yerr=[sd], fmt="D", color="#1f77b4", capsize=3)
        ax.annotate(f"{name} ({x_column.lower()} {v:g})", (xi, m), xytext=(7, 4), textcoords="offset points",
                    fontsize=7, color="#1f77b4")
    ax.set(xlabel=x_column, ylabel="error rate", ylim=(0, 1))
    ax.set_title(title + ("\n" + textwrap.fill(note, 95) if note else ""), fontsize=10 if not note else 8)
    ticks = sorted(set(values))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])  # the values that were run, never 2.5 or 3.5
    ax.set_xlim(x.min() - 0.5 * step, x.max() + 0.5 * step)
    ax2 = ax.twinx()
    seconds = table["train s (mean)"].to_numpy(float)
    ax2.plot(x[series], seconds[series], "^:", color="#d62728", label="training time, this run (s)")
    if own.any():
        ax2.plot(x[own], seconds[own], "^", color="#d62728")
    ax2.set_ylabel("training time, this run (s)", color="#d62728")
    ax2.set_ylim(0, 1.1 * np.nanmax(seconds))  # from zero: a few per cent must not look like a fall
    ax2.tick_params(axis="y", colors="#d62728")
    if "thesis training time (h)" in table:
        ax3 = ax.twinx()
        ax3.spines["right"].set_position(("axes", 1.2))
        ax3.spines["right"].set_color("#2ca02c")
        ax3.plot(x[series], table["thesis training time (h)"].to_numpy(float)[series], "v-.", color="#2ca02c",
                 label="thesis training time (h)")
        ax3.set_ylabel("thesis training time (h)", color="#2ca02c")
        ax3.tick_params(axis="y", colors="#2ca02c")
    lines = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25),
              ncol=2)
    fig.tight_layout()
    return fig


def confusion(record: dict[str, Any], title: str | None = None):
    """Row-normalised confusion matrix of one run (test videos)."""
    import seaborn as sns  # optional styling of the confusion matrix, heavy to import

    cm = np.asarray(record["metrics"]["confusion"], dtype=float)
    cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    classes = record["dataset"]["classes"] if isinstance(record.get("dataset"), dict) else None
    n = len(cm)
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.45 * n), min(10, 1.5 + 0.4 * n)))
    sns.heatmap(cm, ax=ax, cmap="Blues", vmin=0, vmax=1, square=True, cbar_kws={"shrink": 0.7},
                xticklabels=classes if classes and n <= 40 else False,
                yticklabels=classes if classes and n <= 40 else False)
    ax.set(xlabel="predicted", ylabel="true",
           title=title or f"{record['experiment']} / {record['name']}: error {record['metrics']['error_rate']:.3f}")
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig

"""Figures drawn from stored results (never from training): restyling never retrains."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

# No backend is forced: matplotlib falls back to Agg without a display, and Jupyter's
# kernel selects its inline backend itself.
import matplotlib.pyplot as plt


def save_figure(fig, figures_dir: str | Path, name: str) -> list[Path]:
    """Save ``fig`` as PNG and PDF under ``figures_dir``; returns both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = [figures_dir / f"{name}.png", figures_dir / f"{name}.pdf"]
    for p in paths:
        # PDF and PNG without timestamps, so that unchanged figures give unchanged files.
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    return paths


def row_labels(table, label_columns: Sequence[str]) -> list[str]:
    return [" ".join(str(r[c]) for c in label_columns) for _, r in table.iterrows()]


def error_bars(table, label_columns: Sequence[str], title: str, records: Sequence[dict[str, Any]] | None = None):
    """Thesis error beside the reproduced error (mean ± std over seeds), one pair per row.
    Many rows (Tables 5.1/5.2 have 16) are drawn as horizontal bars, so that every label is
    written level beside its own bars instead of rotated under them."""
    import numpy as np

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
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlabel(" / ".join(label_columns))
        ax.set_ylabel("error rate")
        ax.set_ylim(0, 1.15)  # room for the legend above the bars
        reference_lines(ax, records or [])
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def training_curves(records: Sequence[dict[str, Any]], title: str = "training curves"):
    """Training loss and test error per epoch, one line per configuration (first seed)."""
    n = len({r.get("name") for r in records})
    # Many configurations (05.2 has 16): the legend goes right of the plots, in a taller figure.
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8 if n <= 6 else 10, max(3.0, 0.17 * n + 1.0)))
    seen = set()
    for r in records:
        if r.get("name") in seen:
            continue
        seen.add(r.get("name"))
        h = r["metrics"]["history"]
        ep = [e["epoch"] for e in h]
        a1.plot(ep, [e["train_loss"] for e in h], marker="o", label=r.get("name"))
        pts = [(e["epoch"], e["test_error"]) for e in h if "test_error" in e]
        if pts:
            a2.plot(*zip(*pts), marker="o", label=r.get("name"))
    reference_lines(a2, records)
    a1.set(xlabel="epoch", ylabel="training loss", title="loss")
    a2.set(xlabel="epoch", ylabel="test error (video level)", title="test error", ylim=(0, 1))
    if n <= 6:
        a2.legend(fontsize=7)
    else:
        a2.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


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


def error_and_cost(table, x_column: str, title: str):
    """Error (thesis and reproduced) against ``x_column``, with the measured training time
    beside the thesis's hours on right-hand axes in clearly different colours (Table 5.6)."""
    x = [float(v) for v in table[x_column]]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(x, table["thesis error"], "s--", color="#7f7f7f", label="thesis error")
    ax.errorbar(x, table["error (mean)"], yerr=table["error (std)"], fmt="o-", color="#1f77b4", capsize=3,
                label="reproduced error")
    ax.set(xlabel=x_column, ylabel="error rate", ylim=(0, 1), title=title)
    ticks = sorted(set(x))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])  # the values that were run, never 2.5 or 3.5
    ax2 = ax.twinx()
    ax2.plot(x, table["train s (mean)"], "^:", color="#d62728", label="training time, this run (s)")
    ax2.set_ylabel("training time, this run (s)", color="#d62728")
    ax2.tick_params(axis="y", colors="#d62728")
    if "thesis training time (h)" in table:
        ax3 = ax.twinx()
        ax3.spines["right"].set_position(("axes", 1.2))
        ax3.spines["right"].set_color("#2ca02c")
        ax3.plot(x, table["thesis training time (h)"], "v-.", color="#2ca02c", label="thesis training time (h)")
        ax3.set_ylabel("thesis training time (h)", color="#2ca02c")
        ax3.tick_params(axis="y", colors="#2ca02c")
    lines = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return fig


def confusion(record: dict[str, Any], title: str | None = None):
    """Row-normalised confusion matrix of one run (test videos)."""
    import numpy as np
    import seaborn as sns

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


def figure_problems(fig) -> list[str]:
    """What a reader would miss in ``fig``: no title, an axes without axis labels, text that
    reaches outside the canvas (matplotlib's tight bounding box against the figure's own)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>" and a.axison]
    if not (fig._suptitle and fig._suptitle.get_text()) and not any(a.get_title() for a in axes):
        problems.append("no title")
    for a in axes:
        shares_x = any(b is not a and b.bbox.bounds == a.bbox.bounds and b.get_xlabel() for b in axes)
        if not a.get_xlabel() and not shares_x:
            problems.append(f"axes {a.get_title() or a.get_label()!r} has no x label")
        if not a.get_ylabel():
            problems.append(f"axes {a.get_title() or a.get_label()!r} has no y label")
    canvas = fig.bbox
    tight = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    if tight.x0 < -1 or tight.y0 < -1 or tight.x1 > canvas.x1 + 1 or tight.y1 > canvas.y1 + 1:
        problems.append(f"text outside the canvas: tight bbox {tuple(round(v) for v in tight.extents)} vs "
                        f"figure {tuple(round(v) for v in canvas.extents)}")
    return problems

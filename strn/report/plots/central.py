"""A comparison of two rows drawn per seed, the report's central figure (STRN against the frame
average, Table 5.8 and claim 7, as `strn.study.tables` declares it), from stored records only."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt

SEED_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def per_seed(records: Sequence[dict[str, Any]], rows: tuple[str, str]) -> dict[Any, dict[str, float]]:
    """Seed -> {row: video error} for every seed that has the second row (``rows``: from, to);
    the first is there when that seed trained it too (the thesis model is trained on more seeds
    than the rows it is compared with, so some seeds have it alone)."""
    out: dict[Any, dict[str, float]] = {}
    for r in records:
        if r.get("name") in rows:
            out.setdefault(r.get("seed"), {})[r["name"]] = float(r["metrics"]["error_rate"])
    return {s: v for s, v in sorted(out.items(), key=lambda kv: str(kv[0])) if rows[1] in v}


def dataset_level(records: Sequence[dict[str, Any]], key: str) -> float | None:
    """``dataset[key]`` of the records (``single_frame_floor``, ``chance_error``: written by
    `strn.data.reference` when the runs were made) when they all agree, else None."""
    vals = {round(float(v), 4) for r in records if (v := (r.get("dataset") or {}).get(key)) is not None}
    return vals.pop() if len(vals) == 1 else None


def strn_vs_frame_average(records: Sequence[dict[str, Any]], rows: tuple[str, str], ticks: Sequence[str],
                          title: str, thesis: tuple[float, float] | None = None, floor: float | None = None):
    """One line per seed from the first row's error to the second's (``rows``; ``ticks``: their
    labels), a lone point at the second for a seed without a run of the first; grey squares: the
    thesis's UCF-101 numbers (``thesis``: first, second); dashed: the single-frame floor
    (``floor``, default: the records' own), dotted: chance."""
    first, second = rows
    seeds = per_seed(records, rows)
    floor = dataset_level(records, "single_frame_floor") if floor is None else floor
    chance = dataset_level(records, "chance_error")
    fig, ax = plt.subplots(figsize=(7.8, 3.9))
    x = (0, 1)
    alone = ticks[1].split("\n")[0]  # "STRN, split 1" of "STRN, split 1\n(frames in order)"
    for i, (seed, errs) in enumerate(seeds.items()):
        colour = SEED_COLOURS[i % len(SEED_COLOURS)]
        if first in errs:
            ax.plot(x, (errs[first], errs[second]), "o-", color=colour, lw=2,
                    label=f"seed {seed}: {errs[first]:.3f} → {errs[second]:.3f}")
        else:
            ax.plot([x[1]], [errs[second]], "o", color=colour, label=f"seed {seed}: {alone} only, {errs[second]:.3f}")
    if thesis:
        ax.plot(x, thesis, "s--", color="#7f7f7f", label=f"thesis, UCF-101: {thesis[0]:.3f} → {thesis[1]:.3f}")
    if floor is not None:
        ax.axhline(floor, color="#b3261e", ls="--", lw=1.2, label=f"single-frame floor ({floor:.2f})")
    if chance is not None:
        ax.axhline(chance, color="#555555", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(x, list(ticks))
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("model")
    ax.set_ylabel("test error (video level)")
    ax.set_title(title, fontsize=10)
    # beside the axes: with six seeds a legend inside would cover the second row's points
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), framealpha=0.9)
    fig.tight_layout()
    return fig

"""The demo's calibration on held-out groups, drawn from results/calibration/ (`strn.study.calibrate`):
what each candidate recipe scored by the written rule, the calibration rows' validation error
per epoch under the recipe as it was and the chosen one, and the thesis model's seeds."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np

from ...paths import REPO_ROOT
from .common import figure_problems, save_figure

PALETTE = ("tab:grey", "tab:blue", "tab:orange", "tab:green", "tab:purple")  # the calibration rows, in order


def _mean_curve(runs: list[Mapping[str, Any]], row: str) -> tuple[list[int], list[float]]:
    """A row's validation error per epoch, mean over its seeds (the runs' histories have one
    entry per epoch: the calibration runs evaluate every epoch)."""
    hist = [r["history"] for r in runs if r["row"] == row]
    epochs = [e["epoch"] for e in hist[0]]
    return epochs, [float(np.mean([h[i]["test_error"] for h in hist])) for i in range(len(epochs))]


def calibration_figure(validation: Mapping[str, Any], thesis_row: str, identity: Mapping[str, Any] | None = None,
                       before: str = "current"):
    """Three panels: each candidate's score (its rows' mean validation error plus the thesis
    model's seed spread; hatched: not every run converged; the chosen one outlined), the rows'
    mean validation error per epoch under ``before`` (dashed) and the chosen recipe (solid),
    and, from ``identity`` (`strn calibrate identity-seeds`), each seed's validation error of
    identity 98-104 with the mean and one standard deviation. ``thesis_row``: the row whose seed
    spread the score adds (`strn.study.calibrate.THESIS_MODEL`)."""
    cands, chosen = validation["candidates"], validation["chosen"]
    # the calibration rows ("<experiment>/<row>", `strn.study.calibrate.ROWS`), each its own colour
    colours = {r.split("/")[-1]: PALETTE[i % len(PALETTE)] for i, r in enumerate(validation["rows"])}
    names = list(cands)
    fig, axes = plt.subplots(1, 3 if identity else 2, figsize=(15 if identity else 10.5, 4.4))
    ax = axes[0]
    means = [cands[n]["score"] - cands[n]["per_row"].get(thesis_row, {}).get("std", 0.0) for n in names]
    spread = [cands[n]["score"] - m for n, m in zip(names, means)]
    x = np.arange(len(names))
    ax.bar(x, means, color="tab:blue", alpha=0.6, label="mean of the rows' validation error")
    ax.bar(x, spread, bottom=means, color="tab:red", alpha=0.6, label="+ s.d. of identity 98-104 over seeds")
    for i, n in enumerate(names):
        if not cands[n]["all_converged"]:
            ax.bar(x[i], cands[n]["score"], fill=False, hatch="//", edgecolor="0.4", lw=0)
        if n == chosen:
            ax.bar(x[i], cands[n]["score"], fill=False, edgecolor="k", lw=2)
    ax.set_xticks(x, [f"{n}\n(over budget)" if cands[n].get("over_budget") else n for n in names], rotation=20,
                  ha="right", fontsize=8)
    ax.set(xlabel="candidate recipe", ylabel="score (lower is better)",
           title=f"candidates by the rule (chosen: {chosen})\n"
                                                    "hatched: not every run converged")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    for label, style in ((before, "--"), (chosen, "-")) if before != chosen else ((chosen, "-"),):
        runs = cands[label]["runs"]
        for row in colours:
            if any(r["row"] == row for r in runs):
                ep, err = _mean_curve(runs, row)
                ax.plot(ep, err, style, color=colours[row], marker="." if style == "-" else None,
                        label=f"{row}, {label}")
    floor = next((r.get("single_frame_floor") for r in cands[chosen]["runs"] if r.get("single_frame_floor")), None)
    if floor is not None:
        ax.axhline(floor, color="tab:red", lw=0.8, ls=":", label="single-frame floor")
    ax.set(xlabel="epoch", ylabel="validation video error (mean over seeds)", ylim=(0, 1),
           title=f"before ({before}, dashed) and after ({chosen}, solid)" if before != chosen
           else f"the chosen recipe ({chosen}) is the one before")
    ax.legend(fontsize=6.5, loc="lower left", ncol=2)
    if identity:
        ax = axes[2]
        errs = [s["val_error"] for s in identity["seeds"]]
        seeds = [s["seed"] for s in identity["seeds"]]
        conv = ["tab:blue" if s["converged"] else "0.6" for s in identity["seeds"]]
        ax.scatter(seeds, errs, c=conv, zorder=3)
        m, sd = identity["mean"], identity["std"]
        ax.axhline(m, color="tab:blue", lw=1, label=f"mean {m:.3f}")
        ax.axhspan(m - sd, m + sd, color="tab:blue", alpha=0.12, label=f"± s.d. {sd:.3f}")
        ax.set(xlabel="seed", ylabel="validation video error", ylim=(0, 1), xticks=seeds,
               title=f"identity 98-104, {identity['n_seeds']} seeds ({identity['candidate']}, "
                     f"{identity['epochs']} epochs)\ngrey: not converged")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Calibration on held-out training groups (validation, never the test split)")
    fig.tight_layout()
    return fig


def draw(profile: str = "demo", *, validation: str | Path | None = None, identity: str | Path | None = None,
         figures_dir: str | Path | None = None) -> list[Path]:
    """Draw the stored calibration (`strn calibrate plot`) as ``figures/<profile>/calibration``:
    computing and drawing are separate steps, so restyling the figure never retrains."""
    from ...study.calibrate import CALIBRATION_DIR, THESIS_MODEL, load_calibration  # local: torch and the experiments

    vpath = Path(validation or CALIBRATION_DIR / "validation.json")
    if not vpath.exists():
        raise FileNotFoundError(f"{vpath} does not exist: run `strn calibrate recipes --profile {profile}` first")
    val = load_calibration(vpath, profile)
    ipath = Path(identity or CALIBRATION_DIR / "identity_seeds.json")
    ident = json.loads(ipath.read_text()) if ipath.exists() else None
    if ident is not None and ident.get("profile") != profile:
        ident = None
    fig = calibration_figure(val, THESIS_MODEL[1], ident)
    problems = figure_problems(fig)
    if problems:
        raise RuntimeError("calibration figure: " + "; ".join(problems))
    return save_figure(fig, Path(figures_dir or REPO_ROOT / "figures" / profile), "calibration")

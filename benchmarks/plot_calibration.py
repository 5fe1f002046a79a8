"""Figure of the demo calibration: test video error against epochs for the three rows that
decide the demo (frame average, the thesis's identity STRN at 98-104, a conv STRN at 98-104),
before the calibration (the demo as it was, results/calibration/demo.json, variant "before")
and after it (seed 0 of the committed demo run itself, results/demo/), with chance and the
single-frame floor of each set.

    PYTHONPATH=. python benchmarks/plot_calibration.py   ->  figures/demo/calibration.{png,pdf}
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from strn.plots.common import figure_problems, save_figure  # noqa: E402

CALIBRATION = REPO / "results" / "calibration" / "demo.json"
AFTER = {"frame-average": REPO / "results/demo/05_7_splits_and_sota/frame-average__seed0.json",
         "identity-98-104": REPO / "results/demo/05_4_recurrent_connection/identity-98-104__seed0.json",
         "conv-98-104": REPO / "results/demo/05_4_recurrent_connection/conv-98-104__seed0.json"}
COLOURS = {"frame-average": "tab:grey", "identity-98-104": "tab:blue", "conv-98-104": "tab:orange"}


def _line(ax, row: str, history: list, converged: bool, style: str) -> None:
    ax.plot([e["epoch"] for e in history], [e["test_error"] for e in history], style, marker=".",
            color=COLOURS[row], label=f"{row}{'' if converged else ' (not converged)'}")


def main() -> None:
    before = [r for r in json.loads(CALIBRATION.read_text())["runs"] if r["variant"] == "before"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, title in zip(axes, ("before: generator v2, 9 groups of 2-4 clips,\nwidth 16, Adam 2e-3, 10 epochs",
                                "after: the committed demo (seed 0): generator v3, 54 groups,\nwidth 8, Adam 8e-3 cosine, 16 epochs")):
        ax.set(xlabel="epoch", ylabel="test video error", ylim=(0, 1))
        ax.set_title(title, fontsize=9)
    for r in before:
        _line(axes[0], r["row"], r["history"], r["convergence"]["converged"], "--")
    ref_before = before[0]["reference"]
    ref_after = None
    for row, path in AFTER.items():
        rec = json.loads(path.read_text())
        _line(axes[1], row, rec["metrics"]["history"], rec["metrics"]["converged"], "-")
        ref_after = {k: rec["dataset"][k] for k in ("chance_error", "single_frame_floor")}
    for ax, ref in zip(axes, (ref_before, ref_after)):
        ax.axhline(ref["chance_error"], color="k", lw=0.8, ls=":", label="chance")
        ax.axhline(ref["single_frame_floor"], color="tab:red", lw=0.8, ls=":", label="single-frame floor")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Demo calibration: test video error per epoch, before and after")
    fig.tight_layout()
    problems = figure_problems(fig)
    if problems:
        raise SystemExit("calibration: " + "; ".join(problems))
    print(*save_figure(fig, REPO / "figures" / "demo", "calibration"))


if __name__ == "__main__":
    main()

"""Figure of the convergence checks (docs/STUDY.md section 7, "What the runs that did not level
off need"): for each demo row that had a seed still falling at 16 epochs, every seed's test
video error per epoch in the committed demo (16 epochs, results/demo/) beside the same seeds
trained over 24 epochs (results/calibration/demo_checks.json, label e24), with the
single-frame floor. A run that did not level off is drawn dashed: the rule of today's
`strn.convergence` applied to each stored history (the checks were recorded under version 2).

    PYTHONPATH=. python benchmarks/plot_convergence_checks.py  ->  figures/demo/convergence_checks.{png,pdf}

Draws stored numbers only (nothing is trained here): retrain with
benchmarks/retrain_demo_rows.py first.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from strn.convergence import convergence, effective_schedule, record_convergence  # noqa: E402
from strn.plots.common import figure_problems, save_figure  # noqa: E402

CHECKS = REPO / "results" / "calibration" / "demo_checks.json"
# configuration name in the checks -> (title, its record in the committed demo)
ROWS = {"adam-1pct": ("identity 98-104 (the thesis's model)", "05_3_learning_algorithms/adam-1pct"),
        "conv-49-55": ("conv 49-55", "05_4_recurrent_connection/conv-49-55"),
        "conv-86-92": ("conv 86-92", "05_4_recurrent_connection/conv-86-92"),
        "conv-98-104": ("conv 98-104", "05_4_recurrent_connection/conv-98-104"),
        "rprop-10pct": ("RPROP 10%", "05_3_learning_algorithms/rprop-10pct"),
        "split-2": ("split 2 (identity 98-104)", "05_7_splits_and_sota/split-2")}
SEED_COLOURS = ("tab:blue", "tab:orange", "tab:green")


def main() -> None:
    checks = [r for r in json.loads(CHECKS.read_text())["runs"] if r["label"] == "e24"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharey=True)
    floor = None
    for ax, (row, (title, stem)) in zip(axes.flat, ROWS.items()):
        for seed, colour in enumerate(SEED_COLOURS):
            rec = json.loads((REPO / "results" / "demo" / f"{stem}__seed{seed}.json").read_text())
            floor = rec["dataset"]["single_frame_floor"]
            n_test = rec["dataset"]["n_test_videos"]
            h = rec["metrics"]["history"]
            ax.plot([e["epoch"] for e in h], [e["test_error"] for e in h], color=colour, lw=1, alpha=0.45,
                    ls="-" if record_convergence(rec)["converged"] else "--",
                    label=f"seed {seed}, 16 epochs")
            (c,) = [r for r in checks if r["row"] == row and r["seed"] == seed]
            h24 = [{"epoch": i + 1, "train_loss": loss, "test_error": err}
                   for i, (loss, err) in enumerate(zip(c["train_loss"], c["test_error"]))]
            ax.plot(range(1, len(h24) + 1), c["test_error"], color=colour, lw=1.8,
                    ls="-" if convergence(h24, n_test_videos=n_test, lr_schedule=effective_schedule(rec["config"]))[
                        "converged"] else "--",
                    label=f"seed {seed}, 24 epochs")
        ax.axhline(floor, color="tab:red", lw=0.8, ls=":", label="single-frame floor")
        ax.set(title=title, xlabel="epoch", ylabel="test video error", ylim=(0, 0.8))
    axes[0, 0].legend(fontsize=7, loc="lower left", ncol=2)
    fig.suptitle("Demo rows with a seed still falling at 16 epochs, retrained over 24 "
                 "(thin: the committed demo; thick: 24 epochs; dashed: not levelled off)")
    fig.tight_layout()
    problems = figure_problems(fig)
    if problems:
        raise SystemExit("convergence_checks: " + "; ".join(problems))
    print(*save_figure(fig, REPO / "figures" / "demo", "convergence_checks"))


if __name__ == "__main__":
    main()

"""Every results figure has a title, axis labels and no text outside its canvas."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from strn import experiments, plots  # noqa: E402
from strn.results import load_results  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "results" / "demo"
CASES = [("05_2_baselines", ["Features", "Method", "Z-norm"]), ("05_3_learning_algorithms", ["Algorithm", "Update after"]),
         ("05_4_recurrent_connection", ["Position", "Type"]), ("05_5_sampling_rate", ["Sampling rate"]),
         ("05_6_temporal_context", ["Context", "Model"]), ("05_7_splits_and_sota", ["Model", "Split"])]


@pytest.mark.parametrize("key, cols", CASES, ids=[c[0] for c in CASES])
def test_results_figures_are_readable(key, cols):
    recs = load_results(DEMO, key)
    if not recs:
        pytest.skip(f"no committed results under {DEMO / key}")
    table = experiments.summary_table(key, recs)
    figs = [plots.error_bars(table, cols, key), plots.training_curves(recs, key)]
    if key in ("05_5_sampling_rate", "05_6_temporal_context"):
        figs.append(plots.error_and_cost(table, cols[0], key))
    if key == "05_7_splits_and_sota":
        figs.append(plots.confusion(experiments.best_record(recs)))
    for fig in figs:
        assert plots.figure_problems(fig) == []
        plt.close(fig)


def test_the_check_finds_a_label_outside_the_canvas():
    fig, ax = plt.subplots()
    ax.set(title="t", xlabel="x", ylabel="y")
    ax.text(1.5, 0.5, "outside", transform=ax.transAxes)
    assert any("outside the canvas" in p for p in plots.figure_problems(fig))
    fig2, _ = plt.subplots()
    assert "no title" in plots.figure_problems(fig2)


def test_chance_and_floor_lines_where_records_carry_them():
    recs = load_results(DEMO, "05_3_learning_algorithms")
    if not recs:
        pytest.skip("no committed results")
    recs = [dict(r, dataset=dict(r["dataset"], chance_error=0.9, single_frame_floor=0.5)) for r in recs]
    fig = plots.training_curves(recs, "t")
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert "chance (0.90)" in labels and "single-frame floor (0.50)" in labels
    table = experiments.summary_table("05_3_learning_algorithms", recs)
    fig2 = plots.error_bars(table, ["Algorithm"], "t", records=recs)
    assert plots.figure_problems(fig2) == []
    assert "chance (0.90)" in [line.get_label() for line in fig2.axes[0].get_lines()]

"""Every figure (03 technical, 04 architecture, 05.1 dataset, 05.2-05.7 results) has a title,
axis labels, no tick labels running into each other and no text outside its canvas; figures are
drawn from the data the compute step returned, never by computing again."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from strn.data import synth, synth_files  # noqa: E402
from strn.report import plots  # noqa: E402
from strn.study import architecture, experiments, technical  # noqa: E402
from strn.config import make_config  # noqa: E402
from strn.data import stats  # noqa: E402
from strn.results import load_results  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "results" / "demo"
CASES = list(experiments.EXPERIMENTS)


@pytest.mark.parametrize("key", CASES)
def test_results_figures_are_readable(key):
    recs = load_results(DEMO, key)
    if not recs:
        pytest.skip(f"no committed results under {DEMO / key}")
    table = experiments.summary_table(key, recs)
    figs = plots.experiment_figures(experiments.get_experiment(key), table, recs)  # every declared one
    extra = {"05_5_sampling_rate": "_cost", "05_6_temporal_context": "_by_context", "05_7_splits_and_sota": "_confusion"}
    assert key not in extra or key + extra[key] in figs
    for fig in figs.values():
        assert plots.figure_problems(fig) == []
        plt.close(fig)


def _forbid(monkeypatch, *targets):
    """Make the compute functions raise: a figure that called one would fail."""
    def refuse(*args, **kwargs):
        raise AssertionError("a figure recomputed instead of drawing the stored data")
    for module, name in targets:
        monkeypatch.setattr(module, name, refuse)


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    return synth_files.write_synthetic(tmp_path_factory.mktemp("synth"), synth.spec_for_profile("smoke"), progress=False)


def test_technical_figures_are_readable_and_drawn_from_data(monkeypatch):
    data = technical.compute("smoke")
    _forbid(monkeypatch, (technical, "compare_optimizers"), (technical, "bptt_study"),
            (technical, "activation_curves"), (technical, "bptt_gradient_norms"))
    figs = [plots.technical.activations(data["activations"], data["softmax"]),
            plots.technical.optimizer_curves(data["optimizers"]), plots.technical.bptt(data["bptt"])]
    for fig in figs:
        assert plots.figure_problems(fig) == []
        plt.close(fig)


def test_architecture_figures_are_readable_and_drawn_from_data(monkeypatch, smoke_root):
    cfg = make_config("smoke")
    data = architecture.compute(cfg.model.width, smoke_root, cfg.data.rate, cfg.data.seq_len, cfg.data.size)
    _forbid(monkeypatch, (architecture, "count_macs"), (architecture, "unrolled"),
            (architecture, "build_model"), (stats, "decode_sampled"))
    video = data["video"]
    figs = [plots.architecture.blocks(data["blocks"]), plots.architecture.unrolled(data["unrolled"]),
            plots.architecture.video_sequences(video["frames"], video["windows"], video["rate"], video["title"]),
            plots.architecture.costs(data["costs"])]
    for fig in figs:
        assert plots.figure_problems(fig) == []
        plt.close(fig)
    assert data["checks"]["passed"].all()
    assert "Special3 (Fig. 5.3)" in data["unrolled"] and data["summary"]["checks"]


def test_dataset_figures_are_readable_and_drawn_from_data(monkeypatch, smoke_root):
    cfg = make_config("smoke")
    data = stats.compute(smoke_root, cfg.data.rate, cfg.data.seq_len, cfg.data.size)
    _forbid(monkeypatch, (stats, "video_meta"), (stats, "decode_sampled"),
            (stats, "class_table"), (stats, "dataset_stats"))
    samples = data["samples"]
    figs = [plots.dataset.class_counts(data["classes"], data["split"]), plots.dataset.lengths(data["stats"]),
            plots.dataset.sample_grid(samples["labels"], samples["frames"], samples["rate"])]
    for fig in figs:
        assert plots.figure_problems(fig) == []
        plt.close(fig)


def test_the_check_finds_tick_labels_running_into_each_other():
    """What 05.7 had: a long label under a bar, hanging past its neighbour's."""
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(range(3), [1, 2, 3])
    ax.set_xticks(range(3), ["STRN 1", "STRN 2", "frame average (no temporal connection) 1"])
    ax.set(title="t", xlabel="x", ylabel="y")
    assert any("overlap" in p for p in plots.figure_problems(fig))
    plt.close(fig)


def test_special3_is_its_own_labelled_point():
    import pandas as pd

    table = pd.DataFrame({"Context": [2, 3, 3, 5], "Model": ["1 connection", "2 connections", "Special3", "4"],
                          "thesis error": [0.2, 0.19, 0.2, 0.21], "error (mean)": [0.5, 0.4, 0.45, 0.3],
                          "error (std)": [0.01] * 4, "train s (mean)": [10.0, 12.0, 9.0, 15.0]})
    fig = plots.error_and_cost(table, "Context", "t", apart=("Model", ["Special3"]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "3", "5"]  # never 2.5 or 3.5
    assert [t.get_text() for t in ax.texts] == ["Special3 (context 3)"]  # named beside its own point
    series = ax.get_lines()[1]  # the reproduced error's connected line: Special3 is not on it
    assert list(series.get_xdata()) == [2.0, 3.0, 5.0]
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


def test_the_check_finds_more_than_ten_series_on_one_axis():
    """What 05.2's training curves had: 16 lines on one axes, on a 10-colour cycle."""
    fig, ax = plt.subplots()
    for i in range(16):
        ax.plot(range(5), [i] * 5, label=f"row {i}")
    ax.axhline(3.0, label="chance")  # a reference line is no series
    ax.set(title="t", xlabel="x", ylabel="y")
    assert any("16 series on one axis" in p for p in plots.figure_problems(fig))
    plt.close(fig)


def test_many_configurations_are_drawn_as_small_multiples():
    """05.2's 16 configurations: no axes holds more than the check allows, every one is drawn."""
    recs = load_results(DEMO, "05_2_baselines")
    if not recs:
        pytest.skip("no committed results")
    fig = plots.training_curves(recs, "t")
    assert plots.figure_problems(fig) == []
    assert len(fig.axes) > 2
    drawn = sum(len([line for line in a.get_lines() if len(line.get_xdata()) > 2]) for a in fig.axes)
    assert drawn == 2 * len({r["name"] for r in recs})  # loss and test error of each
    plt.close(fig)


def test_rows_with_different_steps_per_epoch_are_drawn_against_steps():
    """05.3: 1% updates take ten times the steps of 10% updates per epoch, and the equal-steps
    row runs 152 epochs: against epochs it squashed the others into the left edge."""
    recs = load_results(DEMO, "05_3_learning_algorithms")
    if not recs:
        pytest.skip("no committed results")
    fig = plots.training_curves(recs, "t")
    assert "optimiser steps" in fig.axes[0].get_xlabel()
    ends = {line.get_label(): max(line.get_xdata()) for line in fig.axes[0].get_lines()}
    assert ends["adam-1pct"] == ends["adam-10pct-equal-steps"] or \
        abs(ends["adam-1pct"] - ends["adam-10pct-equal-steps"]) / ends["adam-1pct"] < 0.05
    plt.close(fig)


def test_the_check_finds_texts_over_each_other_and_over_markers():
    """What 04's cost figure had: a value label written over the T mark at its bar's end."""
    fig, ax = plt.subplots()
    ax.barh([0, 1], [1.95, 1.0])
    ax.scatter([2.0, 1.0], [0, 1], marker="|", s=200, label="T x plain")
    ax.text(1.98, 0, "1.95", va="center")
    ax.set(title="t", xlabel="x", ylabel="y", xlim=(0, 3))
    assert any("covers a marker" in p for p in plots.figure_problems(fig))
    fig2, ax2 = plt.subplots()
    ax2.set(title="t", xlabel="x", ylabel="y")
    ax2.text(0.5, 0.5, "one label")
    ax2.text(0.52, 0.5, "another label")
    assert any("overlap" in p for p in plots.figure_problems(fig2))
    plt.close(fig)
    plt.close(fig2)


def test_cost_figure_names_each_profile_network_by_its_own_width():
    """The narrow rows come from the profiles: demo's network is width 8 at 48 px."""
    from strn.config import make_config

    labels = [c.label for c in architecture.default_cost_configs()]
    demo = make_config("demo")
    assert f"demo: STRN w{demo.model.width} T=2, identity 98-104" in labels
    assert not any("w16" in label for label in labels)


def test_symbols_are_mathtext():
    assert all("_{" not in label or label.count("$") >= 2 for label in plots.technical.BPTT_LABELS.values())

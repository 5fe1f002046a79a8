"""Every figure (03 technical, 04 architecture, 05.1 dataset, 05.2-05.7 results) has a title,
axis labels, no tick labels running into each other and no text outside its canvas; figures are
drawn from the data the compute step returned, never by computing again."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from strn import architecture, experiments, plots, synth, synth_files, technical  # noqa: E402
from strn.config import make_config  # noqa: E402
from strn.data import stats  # noqa: E402
from strn.results import load_results  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "results" / "demo"
CASES = list(plots.ERROR_FIGURES)


@pytest.mark.parametrize("key", CASES)
def test_results_figures_are_readable(key):
    recs = load_results(DEMO, key)
    if not recs:
        pytest.skip(f"no committed results under {DEMO / key}")
    table = experiments.summary_table(key, recs)
    figs = list(plots.experiment_figures(key, table, recs).values())
    if key == "05_5_sampling_rate":
        figs.append(plots.error_and_cost(table, "Sampling rate", key))
    if key == "05_6_temporal_context":
        figs.append(plots.error_and_cost(table, "Context", key, apart=("Model", ["Special3"])))
    if key == "05_7_splits_and_sota":
        figs.append(plots.confusion(experiments.best_record(recs)))
    for fig in figs:
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

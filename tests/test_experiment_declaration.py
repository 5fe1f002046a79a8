"""An experiment is one declaration (`strn.study.rows.Experiment` in `strn.study.tables`): its rows, claims,
figures, captions and cost note. Declared here in the test alone, with stored runs made up for
it, it gets its table, its figures (saved), its claim's verdict, its report section and its
place in the cost projection through the library's ordinary calls, touching no other file."""
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from strn.report import build as report, notebook, page as report_page, plots  # noqa: E402
from strn.study import cost, experiments  # noqa: E402
from strn.study.comparisons import beats, errors  # noqa: E402
from strn.config import config_hash  # noqa: E402
from strn.report.plots import figure_problems  # noqa: E402
from strn.results import load_results, save_result  # noqa: E402
from strn.study.rows import Claim, Experiment, Figure, Row, row_config, table_figures  # noqa: E402

KEY = "99_toy_rates"
CLASSES = ["MoveLeft", "MoveRight", "FadeIn"]


def _beats_sparse(records):
    return beats(errors(records, "toy-dense"), errors(records, "toy-sparse"))


TOY = Experiment(
    key=KEY, table="T.1", title="A made-up table: two sampling rates",
    rows=(Row("toy-dense", {"Rate": "2"}, {"data": {"rate": 2}}, 0.20),
          Row("toy-sparse", {"Rate": "15"}, {"data": {"rate": 15}}, 0.30)),
    claims=(Claim(101, "Dense sampling beats sparse sampling (T.1).", _beats_sparse),),
    figures=(*table_figures("Table T.1: error by sampling rate", ["Rate"]),
             Figure("cost", "error_and_cost", "Table T.1: error and training cost", columns=("Rate",),
                    caption="Table T.1: the error at each rate beside what training cost.")),
    cost_note="a made-up table",
)


def _record(exp, row, seed, err):
    cfg = row_config(exp, row, "smoke", seed)
    history = [{"epoch": e, "steps": 4 * e, "train_loss": 2.0 / e, "test_error": err + 0.1 / e} for e in (1, 2, 3)]
    return cfg, {
        "schema_version": 2, "experiment": exp.key, "name": row.name, "table": exp.table, "config": cfg.to_dict(),
        "config_hash": config_hash(cfg), "profile": "smoke", "split": 1, "seed": seed, "thesis": row.thesis,
        "dataset": {"kind": "synthetic", "classes": CLASSES, "n_train_videos": 30, "n_test_videos": 12,
                    "n_train_sequences": 60 * 10 // cfg.data.rate, "chance_error": 2 / 3},
        "metrics": {"error_rate": err, "accuracy": 1 - err, "mean_class_accuracy": 1 - err,
                    "per_class_accuracy": {c: 1 - err for c in CLASSES}, "clip_accuracy": 1 - err,
                    "history": history, "confusion": [[4, 0, 0], [1, 3, 0], [0, 0, 4]]},
        "cost": {"train_s": 10.0 * 10 / cfg.data.rate, "optimizer_steps": 12},
        "skipped_videos": [], "env": {"device": "cpu", "git_commit": "0" * 40, "git_dirty": False},
    }


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The declaration registered for this test only, and three seeds of each row stored."""
    monkeypatch.setitem(experiments.EXPERIMENTS, KEY, TOY)
    results = tmp_path / "results"
    for seed, (dense, sparse) in enumerate(((0.20, 0.40), (0.22, 0.41), (0.21, 0.39))):
        for row, err in zip(TOY.rows, (dense, sparse)):
            save_result(results, *_record(TOY, row, seed, err))
    return results, tmp_path / "figures"


def test_a_declared_experiment_gets_its_table_figures_and_claim(toy):
    results, figures = toy
    ctx = notebook.setup(profile="smoke", results_dir=str(results), figures_dir=str(figures))
    records = load_results(results, KEY)
    assert len(records) == 6

    table = ctx.table(KEY, records)
    assert list(table["Rate"]) == ["2", "15"] and list(table["thesis error"]) == [0.20, 0.30]
    assert list(table["reproduced"]) == ["0.210 ± 0.010", "0.400 ± 0.010"] and list(table["seeds"]) == [3, 3]

    saved = ctx.figures(KEY, table, records)
    names = sorted(Path(p).name for p in saved)
    assert names == sorted(f"{KEY}{s}.{ext}" for s in ("", "_training_curves", "_cost") for ext in ("png", "pdf"))
    assert all(Path(p).stat().st_size > 1000 for p in saved)
    fig = plots.experiment_figures(experiments.get_experiment(KEY), table, records)[KEY]
    assert fig.axes[0].get_title() == "Table T.1: error by sampling rate" and figure_problems(fig) == []

    verdicts = ctx.claims(KEY, records)
    assert list(verdicts["claim"]) == [101] and list(verdicts["verdict"]) == ["reproduced"]
    assert "toy-dense < toy-sparse" in verdicts["interval"].iloc[0]


def test_the_report_and_the_cost_projection_read_the_declaration(toy):
    results, figures = toy
    notebook.setup(profile="smoke", results_dir=str(results), figures_dir=str(figures)).figures(
        KEY, experiments.summary_table(KEY, load_results(results, KEY)), load_results(results, KEY))
    tables, verdicts = report.summary(results)
    assert set(tables["table"]) == {"T.1"} and list(tables["configuration"]) == ["2", "15"]
    assert list(verdicts["claim"]) == [101]
    page = report_page.page_context("smoke", results, figures)
    (section,) = page["sections"]
    assert section["id"] == KEY and section["title"] == TOY.title and section["claims"][0]["verdict"] == "reproduced"
    captions = {f["alt"]: f["caption"] for f in [section["main"], *section["more"]]}
    assert captions[f"{KEY}_cost"] == "Table T.1: the error at each rate beside what training cost."
    assert captions[KEY].startswith("Table T.1, row by row") and "Claim 101 reads these rows." in captions[KEY]
    assert page["central"] is None  # no stored run of the experiment that declares the central figure
    assert cost.notebooks()[-1] == KEY


def test_a_claim_may_read_only_its_own_experiments_rows(toy, monkeypatch):
    results, _ = toy
    stray = Claim(102, "Reads a row of another table.", lambda recs: beats(errors(recs, "toy-dense"),
                                                                              errors(recs, "split-1")))
    monkeypatch.setitem(experiments.EXPERIMENTS, KEY, Experiment(**{**TOY.__dict__, "claims": (stray,)}))
    with pytest.raises(ValueError, match="split-1: not rows of 99_toy_rates"):
        notebook.setup(profile="smoke", results_dir=str(results)).claims(KEY, load_results(results, KEY))
    with pytest.raises(ValueError, match="figure rows"):
        Experiment(**{**TOY.__dict__, "figures": (Figure("confusion", "confusion", "", rows=("split-1",)),)})

"""A trained model is usable: `strn evaluate`, `strn predict`, `strn.load_trained`, and the
per-epoch CSV log beside the checkpoint, on a smoke run trained here."""
import csv
import json
from pathlib import Path

import pytest

import strn
from strn.cli import main
from strn.config import make_config
from strn.train.run import checkpoint_path, run
from strn.train.engine import epoch_log_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    mp = pytest.MonkeyPatch()
    mp.setenv("STRN_DATA_DIR", str(tmp / "data"))
    mp.setenv("STRN_QUIET", "1")
    cfg = make_config("smoke", {"train": {"epochs": 2}, "model": {"weights": "scratch"}},
                      experiment="05_3_learning_algorithms", name="adam-1pct")
    results = tmp / "results"
    record = run(cfg, results_dir=results, data_dir=tmp / "data", progress=False)
    yield {"cfg": cfg, "results": results, "record": record, "data": tmp / "data",
           "json": results / "05_3_learning_algorithms" / "adam-1pct__seed0.json",
           "ckpt": checkpoint_path(results, cfg)}
    mp.undo()


def _snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_each_epoch_appends_a_row_to_the_csv_log(trained):
    rows = list(csv.DictReader(epoch_log_path(trained["ckpt"]).open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[-1]["test_error"]) == pytest.approx(trained["record"]["metrics"]["error_rate"])


@pytest.mark.parametrize("which", ["json", "ckpt"])
def test_evaluate_reproduces_the_stored_error_and_writes_nothing(trained, which, capsys):
    before = _snapshot(trained["results"])
    assert main(["evaluate", str(trained[which]), "--data-dir", str(trained["data"])]) == 0
    out = capsys.readouterr().out
    stored = trained["record"]["metrics"]["error_rate"]
    line = next(line for line in out.splitlines() if line.startswith("error_rate "))
    assert float(line.split()[-1]) == pytest.approx(stored, abs=1e-4)
    assert _snapshot(trained["results"]) == before


def test_predict_prints_the_top_classes_with_probabilities(trained, capsys):
    video = next((trained["data"]).rglob("*.avi"))
    assert main(["predict", str(video), "--checkpoint", str(trained["ckpt"]), "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    classes = trained["record"]["dataset"]["classes"]
    assert len(lines) == 3 and all(line.split()[1] in classes for line in lines)
    probs = [float(line.split()[0]) for line in lines]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6


def test_load_trained_from_python_matches_the_cli(trained):
    tm = strn.load_trained(trained["json"])
    video = next((trained["data"]).rglob("*.avi"))
    top = tm.predict(video, top=len(tm.classes))
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-6)
    assert tm.checkpoint == trained["ckpt"]


def test_missing_checkpoint_is_a_clear_error(trained, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    lone = tmp_path / "x" / "adam-1pct__seed0.json"
    lone.write_text(trained["json"].read_text())
    assert main(["evaluate", str(lone)]) == 2
    assert "has no checkpoint" in capsys.readouterr().err


# A committed smoke run (tests/data/make_trained_smoke.py wrote it): evaluation on a freshly
# generated smoke set reproduces its stored error, so the checkpoint format, the model
# builder and the synthetic generator all still agree with what trained it.
COMMITTED = Path(__file__).resolve().parent / "data" / "trained_smoke"
COMMITTED_JSON = COMMITTED / "05_3_learning_algorithms" / "adam-1pct__seed0.json"


@pytest.fixture(scope="module")
def committed_data(tmp_path_factory):
    return tmp_path_factory.mktemp("committed") / "data"


@pytest.mark.parametrize("which", ["json", "ckpt"])
def test_committed_checkpoint_evaluates_to_its_stored_error(committed_data, which, capsys):
    ckpt = next((COMMITTED / "checkpoints").rglob("*.pt"))
    before = _snapshot(COMMITTED)
    target = COMMITTED_JSON if which == "json" else ckpt
    assert main(["evaluate", str(target), "--data-dir", str(committed_data)]) == 0
    out = capsys.readouterr().out
    stored = json.loads(COMMITTED_JSON.read_text())["metrics"]["error_rate"]
    line = next(line for line in out.splitlines() if line.startswith("error_rate "))
    assert float(line.split()[-1]) == pytest.approx(stored, abs=1e-4)
    assert _snapshot(COMMITTED) == before  # evaluate writes nothing beside the stored run


def test_committed_checkpoint_predicts(committed_data, capsys):
    record = json.loads(COMMITTED_JSON.read_text())
    model = strn.load_trained(COMMITTED_JSON)
    assert model.classes == record["dataset"]["classes"]
    main(["evaluate", str(COMMITTED_JSON), "--data-dir", str(committed_data)])  # makes the smoke set if needed
    capsys.readouterr()
    video = next(committed_data.rglob("*.avi"))
    assert main(["predict", str(video), "--checkpoint", str(next((COMMITTED / "checkpoints").rglob("*.pt")))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    classes = record["dataset"]["classes"]
    assert len(lines) == min(5, len(classes)) and all(line.split()[1] in classes for line in lines)


def test_the_command_a_missing_checkpoint_suggests_brings_it_back(tmp_path, monkeypatch, capsys):
    """The error names a `strn run` command; running it exactly as printed retrains the same
    configuration (a --set variant here) and leaves the checkpoint where evaluate looks."""
    import shlex

    monkeypatch.setenv("STRN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRN_QUIET", "1")
    results = tmp_path / "results"
    assert main(["run", "05_7_splits_and_sota", "--profile", "smoke", "--rows", "split-1", "--seeds", "0",
                 "--results-dir", str(results), "--set", "model.weights=scratch"]) == 0
    capsys.readouterr()
    js, = [p for p in (results / "05_7_splits_and_sota").glob("split-1*.json")
           if "control-" not in p.name]  # the row's run, not its schedule-length control
    rec = json.loads(js.read_text())
    ckpt, = (results / "checkpoints").rglob(f"{js.stem}__{rec['config_hash']}.pt")
    ckpt.unlink()
    assert main(["evaluate", str(js)]) == 2
    err = capsys.readouterr().err
    assert "has no checkpoint" in err and "--force" in err
    command = err.split("`")[1]
    assert command.startswith("strn run ") and "--set model.weights=scratch" in command
    assert main(shlex.split(command)[1:]) == 0
    assert ckpt.exists()
    assert main(["evaluate", str(js)]) == 0
    assert "error_rate" in capsys.readouterr().out


def test_a_run_no_command_can_remake_says_how_from_python(trained, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    lone = tmp_path / "x" / "adam-1pct__seed0.json"
    lone.write_text(trained["json"].read_text())
    assert strn.study.inference.retrain_command(json.loads(lone.read_text()), tmp_path) is None
    assert main(["evaluate", str(lone)]) == 2
    assert "strn.train.run.run(" in capsys.readouterr().err


def test_a_missing_video_is_named_as_a_missing_file(trained, tmp_path, capsys):
    missing = tmp_path / "no_such_video.avi"
    assert main(["predict", str(missing), "--checkpoint", str(trained["json"])]) == 2
    err = capsys.readouterr().err
    assert f"video {missing} does not exist" in err and "UCF101.rar" not in err


# The demo's thesis model, committed so that `strn evaluate` and `strn predict` work on a
# fresh clone (identity 98-104, split 1, seed 0; trained by the command in models/demo/README.md).
DEMO_MODEL = Path(__file__).resolve().parent.parent / "models" / "demo"


def test_the_committed_demo_model_is_its_json_s_configuration():
    import torch

    from strn.config import config_from_dict, config_hash

    jsons = sorted(DEMO_MODEL.glob("*/*.json"))
    if not jsons:
        pytest.skip("no committed demo model")
    for js in jsons:
        record = json.loads(js.read_text())
        ckpt = checkpoint_path(DEMO_MODEL, config_from_dict(record["config"]))
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        assert state["config_hash"] == record["config_hash"] == config_hash(config_from_dict(record["config"]))
        assert record["profile"] == "demo" and record["config"]["model"]["connection"] == "identity"
        assert strn.load_trained(js).classes == record["dataset"]["classes"]

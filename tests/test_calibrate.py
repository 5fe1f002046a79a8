"""Calibration on held-out groups (strn/study/calibrate.py): validation only, the test split unread,
and the choice made by the rule written in the module."""
import json
import shutil

import pytest

from strn.report.plots.calibration import draw as draw_calibration
from strn.study import calibrate as cal
from strn.cli import main
from strn.config import ConfigError, make_config
from strn.data.ucf101 import find_layout, read_split, read_train_split
from strn.train.stacked_run import check_stackable
from strn.data.synth_files import ensure_synthetic


@pytest.fixture(scope="module")
def no_test_data(tmp_path_factory):
    """The smoke set with its test list and every test video removed: what calibration runs on
    here, so that reading any test video or list would fail."""
    data = tmp_path_factory.mktemp("data")
    root = ensure_synthetic("smoke", data)
    videos, lists = find_layout(root)
    index = read_split(root, 1)
    gone = [videos / e.path for e in index.subset("test")] + list(lists.glob("testlist0*.txt"))
    for p in gone:
        p.unlink()
    # The set's marker lists its files so that a damaged set is written again: without these
    # entries the set stays as it is now, test list and videos gone.
    from strn.data.synth_files import MARKER

    marker = json.loads((root / MARKER).read_text())
    names = {p.relative_to(root).as_posix() for p in gone}
    marker["files"] = {k: v for k, v in marker["files"].items() if k not in names}
    (root / MARKER).write_text(json.dumps(marker, indent=1))
    return data, index


def test_validation_configs_hold_out_groups_and_refuse_to_touch_the_test_split():
    cfg = cal.validation_config("smoke", {}, "05_4_recurrent_connection", "identity-98-104", 1)
    assert cfg.data.eval_subset == "val" and cfg.data.val_fraction == cal.VAL_SHARE
    assert cfg.model.connection == "identity" and cfg.train.seed == 1
    check_stackable([cfg, cal.validation_config("smoke", {}, "05_4_recurrent_connection", "identity-98-104", 2)])
    for bad in ({"data": {"eval_subset": "test"}}, {"data": {"val_fraction": 0.5}}, {"data": {"split": 2}}):
        with pytest.raises(ConfigError, match="validation set"):
            cal.validation_config("smoke", bad, "05_4_recurrent_connection", "identity-98-104", 0, label="bad")
    with pytest.raises(ConfigError, match="val_fraction"):
        make_config("smoke", {"data": {"eval_subset": "val"}})


def test_the_validation_index_reads_only_the_training_list(no_test_data):
    data, full = no_test_data
    root = ensure_synthetic("smoke", data)
    with pytest.raises(FileNotFoundError):  # the study's own path needs the test list: it is gone
        read_split(root, 1)
    train = read_train_split(root, 1)
    assert {e.path for e in train.entries} == {e.path for e in full.subset("train")}


def test_choose_follows_the_written_rule():
    def c(score, frames, ok=True):
        return {"score": score, "train_frames": frames, "all_converged": ok}

    assert cal.choose({"a": c(0.30, 10), "b": c(0.20, 10, ok=False)})[0] == "a"  # converged first
    assert cal.choose({"a": c(0.300, 50), "b": c(0.303, 10)})[0] == "b"  # a tie goes to the cheaper
    assert cal.choose({"a": c(0.300, 50), "b": c(0.310, 10)})[0] == "a"  # beyond the tie: the lower score
    name, why = cal.choose({"a": c(0.4, 1, ok=False), "b": c(0.3, 1, ok=False)})
    assert name == "b" and "no candidate converged" in why
    # The time budget comes first: more than BUDGET_FACTOR x the current recipe's frames is out.
    name, why = cal.choose({"current": c(0.5, 100), "longer": c(0.1, 100 * cal.BUDGET_FACTOR + 1),
                            "edge": c(0.4, 100 * cal.BUDGET_FACTOR)})
    assert name == "edge" and "over the time budget" in why and "longer" in why
    s = cal.score([{"row": "identity-98-104", "val_error": e, "converged": True, "train_frames": 1} for e in (.2, .4)]
                  + [{"row": "frame-average", "val_error": .5, "converged": False, "train_frames": 1}])
    assert s["score"] == pytest.approx((0.3 + 0.5) / 2 + 0.02 ** 0.5)  # mean of row means + identity's std
    assert s["all_converged"] is False


def test_calibration_runs_on_validation_without_the_test_split(no_test_data, tmp_path):
    data, full = no_test_data
    out = tmp_path / "validation.json"
    d = cal.calibrate("smoke", names=["current"], seeds=(0, 1), work=tmp_path / "work", out=out, data_dir=data,
                      device="cpu")
    stored = json.loads(out.read_text())
    assert stored["selected_on"] == "validation" and stored["chosen"] == "current" and stored["rule"] == cal.RULE
    runs = stored["candidates"]["current"]["runs"]
    assert {r["row"] for r in runs} == {r for _, r in cal.ROWS} and {r["seed"] for r in runs} == {0, 1}
    assert all(r["selected_on"] == "validation" for r in runs)
    n_val = {r["n_val_videos"] for r in runs}
    assert len(n_val) == 1 and 0 < n_val.pop() < len(full.subset("train"))
    assert d["candidates"]["current"]["score"] == stored["candidates"]["current"]["score"]
    # the stored run records say what they were evaluated on
    recs = [json.loads(p.read_text()) for p in (tmp_path / "work" / "smoke").rglob("*.json")]
    assert recs and all(r["evaluated_on"] == "validation" for r in recs)
    assert stored["candidates"]["current"]["over_budget"] is False
    # the rule applied again to the stored candidates trains nothing and gives the same choice
    before = sorted(p.name for p in (tmp_path / "work").rglob("*"))
    assert main(["calibrate", "choose", "--profile", "smoke", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["chosen"] == "current"
    assert sorted(p.name for p in (tmp_path / "work").rglob("*")) == before
    with pytest.raises(ValueError, match="profile"):
        cal.calibrate("demo", names=["current"], out=out, work=tmp_path / "work", data_dir=data)


def test_identity_seeds_command_writes_the_spread(no_test_data, tmp_path, capsys):
    data, _ = no_test_data
    out = tmp_path / "identity_seeds.json"
    assert main(["calibrate", "identity-seeds", "--profile", "smoke", "--n-seeds", "3", "--work",
                 str(tmp_path / "work"), "--out", str(out), "--data-dir", str(data), "--device", "cpu"]) == 0
    d = json.loads(out.read_text())
    assert d["selected_on"] == "validation" and d["n_seeds"] == 3 and [s["seed"] for s in d["seeds"]] == [0, 1, 2]
    assert d["epochs"] == make_config("smoke").train.epochs and d["recipe"]["lr"] == make_config("smoke").train.lr
    errs = [s["val_error"] for s in d["seeds"]]
    assert d["min"] == min(errs) and d["max"] == max(errs)
    assert "identity-98-104 on validation over 3 seeds" in capsys.readouterr().out
    # Drawn from the stored files only (identity's seeds 0 and 1 are reused by the recipes run).
    val = tmp_path / "validation.json"
    cal.calibrate("smoke", names=["current"], seeds=(0, 1), work=tmp_path / "work", out=val, data_dir=data,
                  device="cpu")
    png, pdf = draw_calibration("smoke", validation=val, identity=out, figures_dir=tmp_path / "figs")
    assert png.stat().st_size > 10_000 and pdf.exists()  # draw raises when the figure has a readability problem
    with pytest.raises(FileNotFoundError, match="strn calibrate recipes"):
        draw_calibration("smoke", validation=tmp_path / "missing.json")
    shutil.rmtree(tmp_path / "work")


def test_a_data_design_is_the_demo_set_only_while_it_is_calibrated():
    import dataclasses

    from strn.data import synth
    from strn.study import design
    from strn.train import pretrain

    before_set, before_spec = synth.PROFILES["demo"], pretrain.pretrain_spec
    spec, _ = design.variants()["groups27"]
    assert design.json_fields(["n_groups=72", "speed=[0.01, 0.02]", "name=x"]) == {
        "n_groups": 72, "speed": (0.01, 0.02), "name": "x"}
    with design.this_design(spec, {"epochs": 1}):
        assert synth.PROFILES["demo"] == spec
        assert pretrain.pretrain_spec("demo") == dataclasses.replace(before_spec("demo"), epochs=1)
    assert synth.PROFILES["demo"] is before_set and pretrain.pretrain_spec is before_spec

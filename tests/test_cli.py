"""The `strn` command line: exit codes and messages a user sees."""
from strn.cli import main, parse_sets
from strn.synth import spec_for_profile
from strn.synth_files import write_synthetic


def test_check_data_exit_status(tmp_path, capsys):
    root = write_synthetic(tmp_path / "smoke", spec_for_profile("smoke"), progress=False)
    assert main(["check-data", str(root), "--rate", "10"]) == 0
    assert "RESULT" in capsys.readouterr().out
    assert main(["check-data", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_unknown_experiment_is_a_clear_error(capsys):
    assert main(["run", "05_9_nothing", "--profile", "smoke"]) == 2
    assert "known: 05_2_baselines" in capsys.readouterr().err


def test_parse_sets_builds_nested_overrides():
    assert parse_sets(["train.lr=0.01", "model.positions=[\"layer4.2\"]", "model.connection=conv"]) == {
        "train": {"lr": 0.01}, "model": {"positions": ["layer4.2"], "connection": "conv"}}


def test_train_all_shares_the_gpu_and_refuses_force(tmp_path, monkeypatch, capsys):
    """`strn train-all` is train_all with the GPU shared by its processes; --force is refused
    with the way out (it only trains what is not stored)."""
    from strn import parallel

    calls = []
    monkeypatch.setattr(parallel, "train_all", lambda profile, **kw: calls.append((profile, kw)) or 17)
    assert main(["train-all", "--profile", "smoke", "--jobs", "3", "--device", "cuda",
                 "--results-dir", str(tmp_path)]) == 0
    (profile, kw), = calls
    assert profile == "smoke" and kw["jobs"] == 3 and kw["device"] == "cuda" and kw["share_gpu"] is True
    assert "17 STRN runs" in capsys.readouterr().out
    assert main(["train-all", "--profile", "smoke", "--force"]) == 2
    assert "move the results folder away" in capsys.readouterr().err

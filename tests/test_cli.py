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

"""The `strn` command line: exit codes and messages a user sees."""
from strn.cli import main, parse_sets
from strn.data.synth import spec_for_profile
from strn.data.synth_files import write_synthetic


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
    from strn.study import parallel

    calls = []
    monkeypatch.setattr(parallel, "train_all", lambda profile, **kw: calls.append((profile, kw)) or 17)
    assert main(["train-all", "--profile", "smoke", "--jobs", "3", "--device", "cuda",
                 "--results-dir", str(tmp_path)]) == 0
    (profile, kw), = calls
    assert profile == "smoke" and kw["jobs"] == 3 and kw["device"] == "cuda" and kw["share_gpu"] is True
    out = capsys.readouterr().out
    # the report it suggests reads the folder the runs went to
    assert "17 STRN runs" in out and f"`strn report --profile smoke --results-dir {tmp_path}`" in out
    assert main(["train-all", "--profile", "smoke", "--force"]) == 2
    assert "move the results folder away" in capsys.readouterr().err


def _subparsers():
    import argparse

    from strn.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_option_and_positional_has_help_and_shows_its_default():
    for name, parser in _subparsers().items():
        for action in parser._actions:
            assert action.help, f"strn {name} {action.dest}: no help"
        profile = next((a for a in parser._actions if a.dest == "profile"), None)
        if profile is not None:  # every choice explained, and the default shown
            assert all(f"{p}:" in profile.help for p in profile.choices), name
            assert "(default: demo)" in " ".join(parser.format_help().split()), name
    from strn.cli import PROFILE_HELP
    from strn.config import PROFILES

    assert set(PROFILE_HELP) == set(PROFILES)  # a new profile gets its line
    assert "(default: 5)" in " ".join(_subparsers()["predict"].format_help().split())


def test_run_lists_the_experiments(capsys):
    from strn.study.experiments import EXPERIMENTS

    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert all(k in err for k in EXPERIMENTS) and "strn run --help" in err
    try:
        main(["run", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert all(k in out for k in EXPERIMENTS) and "split-1" in out  # the rows too


def test_summary_of_a_folder_without_results_is_an_error(tmp_path, capsys):
    for folder in (tmp_path / "missing", tmp_path):
        assert main(["summary", "--results-dir", str(folder)]) == 2
        err = capsys.readouterr().err
        assert str(folder) in err and "strn report --profile demo" in err
    assert not (tmp_path / "summary.md").exists()


def test_a_bad_set_is_the_only_output(tmp_path, monkeypatch, capsys):
    """Checked before any progress bar: the error line is all the user sees."""
    monkeypatch.delenv("STRN_QUIET", raising=False)
    assert main(["run", "05_3_learning_algorithms", "--profile", "smoke", "--results-dir", str(tmp_path),
                 "--set", "train.lr=abc"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [err.strip()] and "train.lr" in err
    assert not any(tmp_path.iterdir())

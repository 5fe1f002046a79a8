"""Reliability: invalid values fail before any work, and the CLI prints one line for them."""
import math

import pytest

from strn.cli import main
from strn.config import ConfigError, make_config


@pytest.mark.parametrize("overrides, key", [
    ({"train": {"lr": math.nan}}, "train.lr"),
    ({"train": {"lr": math.inf}}, "train.lr"),
    ({"train": {"weight_decay": -0.1}}, "train.weight_decay"),
    ({"train": {"checkpoint_minutes": -1.0}}, "train.checkpoint_minutes"),
    ({"train": {"device": "gpu0"}}, "train.device"),
])
def test_invalid_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        make_config("smoke", overrides)


@pytest.mark.parametrize("args", [["--rate", "0"], ["--seq-len", "-3"]])
def test_check_data_rejects_nonpositive_values(tmp_path, capsys, args):
    assert main(["check-data", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert "must be positive" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_expected_errors_are_one_line_and_debug_shows_the_traceback(capsys):
    assert main(["run", "05_3_learning_algorithms", "--profile", "smoke", "--set", "train.lr=NaN"]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("strn: error")]
    assert len(lines) == 1 and "train.lr" in lines[0] and "Traceback" not in err
    with pytest.raises(ConfigError):
        main(["--debug", "run", "05_3_learning_algorithms", "--profile", "smoke", "--set", "train.lr=NaN"])


def test_unknown_row_is_an_error_in_the_baselines_runner_too(capsys):
    assert main(["run", "05_2_baselines", "--profile", "smoke", "--rows", "nosuchrow"]) == 2
    assert "nosuchrow" in capsys.readouterr().err


def test_results_and_checkpoints_honour_the_umask(tmp_path):
    import os

    import torch

    from strn.results import atomic_torch_save, atomic_write_text

    old = os.umask(0o022)
    try:
        assert (os.stat(atomic_write_text(tmp_path / "a.json", "{}")).st_mode & 0o777) == 0o644
        assert (os.stat(atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "c.pt")).st_mode & 0o777) == 0o644
    finally:
        os.umask(old)


def test_a_set_variant_gets_its_own_file(tmp_path):
    from strn.config import config_hash
    from strn.study.experiments import get_experiment, row_config
    from strn.results import result_path

    exp = get_experiment("05_3_learning_algorithms")
    row = exp.rows[0]
    canonical = row_config(exp, row, "smoke", 0)
    variant = row_config(exp, row, "smoke", 0, extra={"data": {"rate": 20}})
    same = row_config(exp, row, "smoke", 0, extra={"train": {"checkpoint_every": 3}})  # not hashed
    assert result_path(tmp_path, canonical).name == f"{row.name}__seed0.json"
    assert result_path(tmp_path, variant).name == f"{row.name}__{config_hash(variant)[:8]}__seed0.json"
    assert result_path(tmp_path, same) == result_path(tmp_path, canonical)

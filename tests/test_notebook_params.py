"""The notebooks' parameters as papermill and the CLI hand them over."""
import subprocess
import sys
from pathlib import Path

import pytest

from strn.cli import main
from strn.config import ConfigError
from strn.report.notebook import parse_seeds

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("given, seeds", [(None, None), (0, [0]), (12, [12]), ("0,1,2", [0, 1, 2]),
                                          ("[0,1,2]", [0, 1, 2]), ("[0, 1]", [0, 1]), ([3, 4], [3, 4])])
def test_seeds_in_every_accepted_form(given, seeds):
    assert parse_seeds(given) == seeds


@pytest.mark.parametrize("given", ["", "a,b", "0.5", 1.5, True, [], ["0"], {"a": 1}])
def test_other_seeds_are_a_clear_error(given):
    with pytest.raises(ConfigError, match="seeds=.*-p seeds 0"):
        parse_seeds(given)


def test_cli_rejects_bad_seeds(capsys):
    assert main(["run", "05_3_learning_algorithms", "--profile", "smoke", "--seeds", "x"]) == 2
    assert "seeds=" in capsys.readouterr().err


def test_papermill_shows_every_parameter_with_its_type():
    out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook",
                          str(ROOT / "notebooks" / "05_3_learning_algorithms.ipynb")],
                         capture_output=True, text=True, cwd=ROOT).stdout
    for name in ("profile", "device", "seeds", "force", "results_dir", "figures_dir", "data_dir"):
        assert f"  {name}: " in out, out
    assert "Unknown type" not in out


def test_context_checks_name_the_failed_rows(tmp_path):
    import pandas as pd

    from strn.report import notebook as nb

    ctx = nb.setup(profile="smoke", results_dir=str(tmp_path), figures_dir=str(tmp_path))
    ok = pd.DataFrame([{"check": "holds", "value": 1, "passed": True}])
    assert ctx.checks({"checks": ok}) is ok
    bad = pd.concat([ok, pd.DataFrame([{"check": "breaks", "value": 2, "passed": False}])], ignore_index=True)
    with pytest.raises(AssertionError, match="breaks") as err:
        ctx.checks({"checks": bad})
    assert "holds" not in str(err.value)


def test_context_compute_writes_the_summary_it_returns(tmp_path):
    import json

    from strn.report import notebook as nb

    ctx = nb.setup(profile="smoke", results_dir=str(tmp_path), figures_dir=str(tmp_path))
    data = ctx.compute("03_technical_details")
    stored = json.loads((tmp_path / "summaries" / "03_technical_details.json").read_text())
    assert stored["bptt"]["ratio_first_to_last"] == pytest.approx(data["bptt"]["ratio_first_to_last"])
    assert [c["check"] for c in stored["checks"]] == list(data["checks"]["check"])
    with pytest.raises(KeyError, match="computes nothing"):
        ctx.compute("05_3_learning_algorithms")

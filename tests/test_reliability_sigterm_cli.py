"""A SIGTERM through the command line (`strn run` on the smoke profile, two rows in one process)
at each point of the work: training, the final evaluation, between two rows, while a record is
written. Each ends the process with exit 143 and one line, leaves the run's checkpoint (or the
finished record), never starts the next row, and the same command run again stores the
uninterrupted run's numbers. The signal is sent by the driver tests/_sigterm_cli.py.

`model.weights=scratch`: the signal handling does not depend on the initial weights, and the
stand-in's pretraining would cost more than every run here."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from strn.train.preempt import PREEMPT_EXIT
from strn.results import load_result

ROOT = Path(__file__).resolve().parent.parent
EXP = "05_3_learning_algorithms"
ARGS = ["run", EXP, "--profile", "smoke", "--seeds", "0", "--set", "model.weights=scratch", "--rows",
        "adam-1pct,adam-10pct"]


def strn_with_sigterm(point, results, data):
    env = dict(os.environ, PYTHONPATH=str(ROOT), STRN_QUIET="1")
    return subprocess.run([sys.executable, str(ROOT / "tests" / "_sigterm_cli.py"), point, *ARGS,
                           "--results-dir", str(results), "--data-dir", str(data)],
                          capture_output=True, text=True, env=env, timeout=600)


def _files(results, row, pattern):
    """A row's files (a `--set` variant: ``<row>__<hash8>__seed0...``), its control's left out."""
    return sorted(p for p in results.rglob(f"{row}__*{pattern}") if "control" not in p.name)


def _record(results):
    (path,) = _files(results, "adam-1pct", "seed0.json")
    return load_result(path)


def _terminated(out, results):
    """Exit 143 with one line, and the second row never started."""
    assert out.returncode == PREEMPT_EXIT, out.stderr[-2000:]
    assert "strn: terminated (SIGTERM)" in out.stderr.strip().splitlines()[-1], out.stderr[-2000:]
    assert not _files(results, "adam-10pct", "")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The data folder, prepared once, and the first row run without interruption: SIGTERM just
    after its record is stored (so the second row and the control runs cost nothing)."""
    tmp = tmp_path_factory.mktemp("sigterm")
    out = strn_with_sigterm("between", tmp / "ref", tmp / "data")
    return {"data": tmp / "data", "results": tmp / "ref", "out": out}


def _numbers(record):  # every number of a record's metrics but the timings
    m = dict(record["metrics"])
    m["history"] = [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in m["history"]]
    return m


def _rerun_gives_the_reference(reference, results):
    """The same command again (stopped once the row is stored) gives the uninterrupted run's numbers."""
    out = strn_with_sigterm("between", results, reference["data"])
    assert out.returncode == PREEMPT_EXIT and "between runs" in out.stderr, out.stderr[-2000:]
    assert _numbers(_record(results)) == _numbers(_record(reference["results"]))


def _state(results):
    (ckpt,) = _files(results, "adam-1pct", ".pt")
    return torch.load(ckpt, weights_only=True)["state"]


def test_sigterm_between_rows(reference):
    _terminated(reference["out"], reference["results"])
    assert "between runs" in reference["out"].stderr
    assert _record(reference["results"])["metrics"]["n_videos"] > 0  # stored whole


def test_sigterm_during_training(reference, tmp_path):
    out = strn_with_sigterm("train", tmp_path, reference["data"])
    _terminated(out, tmp_path)
    assert "checkpoint written to" in out.stderr
    state = _state(tmp_path)
    assert state["epoch"] == 0 and state["steps"] >= 1  # part-way through the first epoch
    assert not _files(tmp_path, "adam-1pct", ".json")
    _rerun_gives_the_reference(reference, tmp_path)  # resumed from that checkpoint, bit for bit


def _trained(reference, results):
    """The reference's finished checkpoint of the first row copied in: the run goes straight to
    its final evaluation (a resumed run whose training had ended), without training again."""
    (ckpt,) = _files(reference["results"], "adam-1pct", ".pt")
    dst = results / ckpt.relative_to(reference["results"])
    dst.parent.mkdir(parents=True)
    shutil.copy(ckpt, dst)


def test_sigterm_during_the_final_evaluation_is_not_lost(reference, tmp_path):
    """Before: the next row cleared the flag, trained in full, and the process exited 0."""
    _trained(reference, tmp_path)
    out = strn_with_sigterm("final-eval", tmp_path, reference["data"])
    _terminated(out, tmp_path)
    assert _state(tmp_path)["epoch"] == 1  # the finished training is on disk
    assert not _files(tmp_path, "adam-1pct", ".json")  # no record of an evaluation cut short
    _rerun_gives_the_reference(reference, tmp_path)


def test_sigterm_while_a_record_is_written(reference, tmp_path):
    _trained(reference, tmp_path)
    out = strn_with_sigterm("writing", tmp_path, reference["data"])
    _terminated(out, tmp_path)
    assert not _files(tmp_path, "adam-1pct", ".json")  # absent, never torn
    assert not list(tmp_path.rglob(".*.tmp"))  # nor a temporary file left behind
    assert _state(tmp_path)["epoch"] == 1
    _rerun_gives_the_reference(reference, tmp_path)

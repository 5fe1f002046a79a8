"""Reliability: a result is stored only if whole; the synthetic set is safe to prepare concurrently."""
import subprocess
import sys
from pathlib import Path

import pytest

from strn.train.run import IncompleteResultError, check_whole

_RACE = r"""
import sys
from strn.data.synth_files import ensure_synthetic, MARKER
from strn.data.ucf101 import read_split
root = ensure_synthetic("smoke", sys.argv[1])
import time
t0 = time.monotonic()
while time.monotonic() - t0 < 3:  # keep reading while the other process may install
    read_split(root, 1)  # every listed file must be there
print("ok")
"""


def _record(**metrics):
    m = {"error_rate": 0.5, "accuracy": 0.5, "mean_class_accuracy": 0.5, "n_videos": 10}
    m.update(metrics)
    return {"experiment": "x", "name": "r", "dataset": {"root": "/d"}, "metrics": m}


def test_incomplete_results_are_errors():
    check_whole(_record(), n_listed_test=10, n_skipped_test=0)
    with pytest.raises(IncompleteResultError, match="no test video"):
        check_whole(_record(n_videos=0), n_listed_test=10, n_skipped_test=0)
    with pytest.raises(IncompleteResultError, match="not finite"):
        check_whole(_record(error_rate=float("nan")), n_listed_test=10, n_skipped_test=0)
    with pytest.raises(IncompleteResultError, match="9 test videos evaluated"):
        check_whole(_record(n_videos=9), n_listed_test=11, n_skipped_test=1)
    check_whole(_record(n_videos=9), n_listed_test=10, n_skipped_test=1)


@pytest.mark.parametrize("attempt", range(4))
def test_two_processes_on_a_fresh_data_folder(tmp_path, attempt):
    """Two processes prepare the smoke set at once; both must then see every listed file.
    Before the lock (strn/data/synth.py), the second installer removed the first one's set."""
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "ok" in out, err[-2000:]

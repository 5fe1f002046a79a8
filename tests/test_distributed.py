"""Two processes under torchrun (gloo, CPU) train and evaluate the smoke set; one results file."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_torchrun_two_processes_write_one_results_file(tmp_path):
    env = {**os.environ, "STRN_DATA_DIR": str(tmp_path / "data"), "STRN_QUIET": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "strn.cli", "run", "05_3_learning_algorithms", "--profile", "smoke", "--rows", "adam-10pct",
           "--device", "cpu", "--results-dir", str(tmp_path / "results")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted((tmp_path / "results").rglob("*.json"))  # the row's run and its schedule-length control
    assert [f.name for f in files] == ["adam-10pct__seed0.json", "adam-10pct__seed0__control-schedule-length.json"]
    rec = json.loads(files[0].read_text())
    assert rec["cost"]["optimizer_steps"] > 0
    assert rec["metrics"]["n_videos"] == rec["dataset"]["n_test_videos"]  # both ranks' shares were gathered
    assert rec["metrics"]["n_sequences"] == rec["dataset"]["n_test_sequences"]
    assert proc.stdout.count("Update after") == 1  # the table is printed once, by rank 0


def test_cli_set_overrides_and_bad_keys(tmp_path):
    env = {**os.environ, "STRN_DATA_DIR": str(tmp_path / "data"), "STRN_QUIET": "1"}
    proc = subprocess.run([sys.executable, "-m", "strn.cli", "run", "05_3_learning_algorithms", "--profile", "smoke",
                           "--set", "train.epoch=2"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 2 and "unknown configuration key 'train.epoch'" in proc.stderr

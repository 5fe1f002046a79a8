"""The CPU pool that trains a profile's STRN runs before the notebooks (strn/study/parallel.py)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from strn.study import frame_baselines, parallel
from strn.config import config_hash
from strn.study.experiments import EXPERIMENTS, run_experiment
from strn.train import run as run_module
from strn.train.run import run


def test_every_strn_row_is_listed_once_per_configuration():
    configs = parallel.experiment_configs("smoke", seeds=[0, 1])
    hashes = [(config_hash(c), c.train.seed) for c, _, _ in configs]
    assert len(hashes) == len(set(hashes))
    names = {(c.experiment, c.name) for c, _, _ in configs}
    # the shared configuration is named by its first row in the master's order
    assert ("05_3_learning_algorithms", "adam-1pct") in names and ("05_5_sampling_rate", "rate-10") not in names
    # every row of every experiment without a runner of its own is covered (by itself or a twin)
    wanted = {(k, r.name) for k, e in EXPERIMENTS.items() if not e.runner for r in e.rows}
    assert {c.experiment for c, _, _ in configs} == {k for k, _ in wanted}
    assert {s for _, s in hashes} == {0, 1}
    # notebook 06's TSM rows train in the pool too (its STRN rows and frame average are 05.x twins)
    assert {("06_beyond_the_thesis", "tsm-all"), ("06_beyond_the_thesis", "tsm-98-104")} <= names
    # the equal-steps row carries its derived epochs, so the pool trains what the notebook asks for
    eq = [c for c, _, _ in configs if c.name == "adam-10pct-equal-steps"]
    assert eq and all(c.train.epochs > parallel.experiment_configs("smoke", seeds=[0])[0][0].train.epochs for c in eq)


def test_pool_results_are_what_the_notebook_run_finds(tmp_path, monkeypatch, capsys):
    """Two runs trained by two worker processes are stored; `run` then serves them back
    without training, with the numbers an in-process run of one thread gets."""
    data, results = tmp_path / "data", tmp_path / "results"
    configs = [c for c in parallel.experiment_configs("smoke", seeds=[0], controls=False)
               if c[0].name in ("adam-1pct", "conv-98-104")]
    assert len(configs) == 2
    monkeypatch.setattr(parallel, "experiment_configs", lambda *a, **k: configs)
    monkeypatch.delenv("STRN_QUIET", raising=False)  # the lines a user of `strn report` sees
    assert parallel.train_all("smoke", jobs=2, device="cpu", results_dir=results, data_dir=data,
                              baselines=False) == 2
    lines = capsys.readouterr().out.splitlines()
    assert any("training 2 runs" in ln for ln in lines)
    assert sorted(ln.split("]")[0] for ln in lines if ln.startswith("[")) == ["[1/2", "[2/2"]
    assert all("video error" in ln for ln in lines if ln.startswith("["))
    stored = {c.name: run(c, results_dir=results, data_dir=data, progress=False) for c, _, _ in configs}
    assert all(r["metrics"]["history"] for r in stored.values())
    # the same configuration retrained here with one thread: identical history
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        again = run(configs[0][0], results_dir=tmp_path / "again", data_dir=data, progress=False)
    finally:
        torch.set_num_threads(threads)
    def numbers(rec):  # what training computed; not how long it took
        return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in rec["metrics"]["history"]]

    assert numbers(again) == numbers(stored[configs[0][0].name])


def test_one_job_or_a_gpu_leaves_the_work_to_the_notebooks(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "experiment_configs", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert parallel.train_all("smoke", jobs=1, results_dir=tmp_path) == 0
    assert parallel.train_all("smoke", jobs=2, device="cuda", results_dir=tmp_path) == 0


def test_a_shared_gpu_trains_in_the_pool(tmp_path, monkeypatch):
    """With share_gpu (strn train-all, the gpu profile) a CUDA device goes on to the pool."""
    asked = []
    monkeypatch.setattr(parallel, "experiment_configs", lambda *a, **k: asked.append(k["device"]) or [])
    monkeypatch.setattr(parallel, "baseline_jobs", lambda *a, **k: [])
    assert parallel.train_all("smoke", jobs=2, device="cuda", results_dir=tmp_path, share_gpu=True) == 0
    assert asked == ["cuda"]


def test_frame_baselines_are_trained_in_the_pool_and_read_back(tmp_path, monkeypatch, capsys):
    """Notebook 05.2's rows, one job per seed: stored by the workers under the keys the
    notebook looks for, so executing it afterwards trains nothing."""
    data, results = tmp_path / "data", tmp_path / "results"
    monkeypatch.setattr(parallel, "experiment_configs", lambda *a, **k: [])  # no STRN run: baselines only
    monkeypatch.delenv("STRN_QUIET", raising=False)
    assert parallel.baseline_jobs("smoke", seeds=[0, 1], results_dir=results) == \
        [("05_2_baselines", 0), ("05_2_baselines", 1)]
    parallel.train_all("smoke", jobs=2, seeds=[0, 1], device="cpu", results_dir=results, data_dir=data)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    n_rows = len(EXPERIMENTS["05_2_baselines"].rows)
    assert sorted(ln.split("] ", 1)[1].split(" (")[0] for ln in lines) == \
        [f"05_2_baselines seed {s}: {n_rows} rows stored" for s in (0, 1)]
    assert parallel.baseline_jobs("smoke", seeds=[0, 1], results_dir=results, data_dir=data) == []
    assert parallel.all_stored("smoke", seeds=[0, 1], device="cpu", results_dir=results, data_dir=data)
    # the shared features were made once, by the parent; each seed finetuned its own backbone
    assert len(list((data / "features").glob("stills-*.pt"))) == 1
    assert len(list((data / "features").glob("finetuned-*.pt"))) == 2

    def no_training(*a, **k):
        raise AssertionError("a stored baseline was trained again")

    monkeypatch.setattr(frame_baselines, "_run_row", no_training)
    recs = run_experiment("05_2_baselines", "smoke", seeds=[0, 1], device="cpu", results_dir=results,
                          data_dir=data, progress=False)
    assert len(recs) == 2 * n_rows and {r["seed"] for r in recs} == {0, 1}


def test_the_todo_seeds_of_a_configuration_train_as_one_stacked_job(tmp_path, monkeypatch, capsys):
    """Two seeds of conv-98-104 missing: one stacked job storing both records (as `run` finds
    them); adam-1pct with seed 0 already stored: its seed 1 alone, by `run`."""
    data, results = tmp_path / "data", tmp_path / "results"
    configs = [c for c in parallel.experiment_configs("smoke", seeds=[0, 1], controls=False)
               if c[0].name in ("adam-1pct", "conv-98-104")]
    assert len(configs) == 4
    done = next(c for c, _, _ in configs if c.name == "adam-1pct" and c.train.seed == 0)
    run(done, results_dir=results, data_dir=data, progress=False)
    todo = [c for c in configs if c[0] is not done]
    groups = parallel.seed_groups(todo)
    assert sorted((g[0].name, [c.train.seed for c in g]) for g, _, _ in groups) == \
        [("adam-1pct", [1]), ("conv-98-104", [0, 1])]
    assert all(len(g) == 1 for g, _, _ in parallel.seed_groups(todo, stack=False))
    monkeypatch.setattr(parallel, "experiment_configs", lambda *a, **k: configs)
    monkeypatch.delenv("STRN_QUIET", raising=False)
    assert parallel.train_all("smoke", jobs=2, device="cpu", results_dir=results, data_dir=data,
                              baselines=False, stack=True) == 4
    lines = capsys.readouterr().out.splitlines()
    assert any("training 3 runs" in ln and "1 jobs of a configuration's seeds trained stacked" in ln for ln in lines)
    jobs = sorted(ln.split("] ", 1)[1].split(":")[0] for ln in lines if ln.startswith("["))
    assert jobs == ["05_3_learning_algorithms / adam-1pct seed 1", "05_4_recurrent_connection / conv-98-104 seeds 0, 1"]

    def no_training(*a, **k):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(run_module, "fit", no_training)
    stored = {(c.name, c.train.seed): run(c, results_dir=results, data_dir=data, progress=False)
              for c, _, _ in configs}
    assert [stored[("conv-98-104", s)]["cost"]["stacked_seeds"] for s in (0, 1)] == [[0, 1], [0, 1]]
    assert "stacked_seeds" not in stored[("adam-1pct", 1)]["cost"]
    assert all(r["metrics"]["history"] and "converged" in r["metrics"] for r in stored.values())


_POOL_OWNER = """
import multiprocessing as mp, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from strn.study import parallel
pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"),
                           initializer=parallel._worker_init, initargs=(os.getpid(),))
for _ in range(2):
    pool.submit(time.sleep, 600)  # a long job, as a training run is
while len(pool._processes) < 2:
    time.sleep(0.05)
print(" ".join(map(str, pool._processes)), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_stop_when_the_parent_is_killed():
    """`strn report` killed (SIGKILL: no handler runs) must not leave its workers training
    unseen: each notices its parent is gone and stops as a preempted run (SIGTERM)."""
    owner = subprocess.Popen([sys.executable, "-c", _POOL_OWNER], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        workers = [int(p) for p in owner.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        time.sleep(1.5)  # mid-job, or still starting: either way they must stop
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:  # a failing run leaves no sleeper behind
        os.kill(p, signal.SIGKILL)
    assert not left

"""The seeds of one configuration trained as one stacked job (strn/train/stacked_run.py, strn/train/stacked_fit.py):
per-seed records as `run` writes them, the numbers of single-seed training, exact resume."""
import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from strn import results as res
from strn.study import parallel
from strn.train import run as run_mod
from strn.train import fit as train, stacked_fit, stacked_run
from strn.train.engine import epoch_log_path
from strn.study.inference import load_trained
from strn.train.run import checkpoint_path, run
from strn.train.stacked_fit import seed_log_checkpoint
from strn.train.stacked_run import check_stackable, run_stacked, stacked_checkpoint_path

ROOT = Path(__file__).resolve().parent.parent


def _cfgs(seeds=(0, 1), **train_kw):
    """Smoke's conv-98-104 with 2 epochs: 70 training sequences in steps of 18 (micro-batches 8, 8,
    2), the last of 16 (8, 8): 11 micro-batches an epoch, steps ending at micro-batches 2, 5, 8, 10."""
    base = dict(epochs=2, update_every=0.25, lr=1e-3, device="cpu")
    cfgs = [c for c, _, _ in parallel.experiment_configs("smoke", seeds=list(seeds), controls=False)
            if c.name == "conv-98-104"]
    return [dataclasses.replace(c, train=dataclasses.replace(c.train, **{**base, **train_kw})) for c in cfgs]


def _numbers(rec):  # what training computed; not how long it took
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in rec["metrics"]["history"]]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative distance of two tensors (a whole tensor's rounding, not one element's)."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30)) if b.dim() else float((a - b).abs())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def test_stacked_records_are_single_runs_records(tmp_path, data_dir, monkeypatch):
    """In float64 (models and inputs), two seeds trained stacked give each seed's single-run
    history to ~1e-5 (the loss itself is taken in float32 by both); the records have run's keys
    plus the job's cost, and `run` reads them back without training."""
    build, to_input = run_mod.build, train.to_input
    monkeypatch.setattr(run_mod, "build", lambda *a, **k: build(*a, **k).double())
    monkeypatch.setattr(stacked_run, "build", lambda *a, **k: build(*a, **k).double())
    monkeypatch.setattr(train, "to_input", lambda x, d: to_input(x, d).double())
    monkeypatch.setattr(stacked_fit, "to_input", lambda x, d: to_input(x, d).double())
    cfgs = _cfgs()
    stacked = run_stacked(cfgs, results_dir=tmp_path / "stacked", data_dir=data_dir, progress=False)
    singles = [run(c, results_dir=tmp_path / "single", data_dir=data_dir, progress=False) for c in cfgs]
    for s, (a, b) in enumerate(zip(stacked, singles)):
        assert a["seed"] == b["seed"] == s and a["config_hash"] == b["config_hash"]
        assert sorted(a) == sorted(b) and sorted(a["metrics"]) == sorted(b["metrics"])
        assert set(a["cost"]) - set(b["cost"]) == {"stacked_seeds", "stacked_wall_s", "stacked_train_s", "cost_split"}
        assert a["cost"]["stacked_seeds"] == [0, 1] and a["cost"]["optimizer_steps"] == b["cost"]["optimizer_steps"]
        assert a["cost"]["wall_s"] == pytest.approx(a["cost"]["stacked_wall_s"] / 2)
        ha, hb = _numbers(a), _numbers(b)
        assert len(ha) == 2 and [r.keys() for r in ha] == [r.keys() for r in hb]
        for ra, rb in zip(ha, hb):
            # float32 losses on both sides: ~1e-5 apart with 2 threads; a seed mix-up is ~1e-1
            assert ra == pytest.approx(rb, rel=1e-4, abs=1e-4)
        assert a["metrics"]["error_rate"] == pytest.approx(b["metrics"]["error_rate"])
        assert a["metrics"]["converged"] == b["metrics"]["converged"]
        assert a["metrics"]["convergence"].keys() == b["metrics"]["convergence"].keys()
        assert a["model"] == b["model"]
    assert _numbers(stacked[0]) != _numbers(stacked[1])  # two seeds, not one trained twice
    # each seed's final checkpoint is the one its single run leaves: weights, optimiser, finished state
    for c in cfgs:
        a = torch.load(checkpoint_path(tmp_path / "stacked", c), weights_only=True)
        b = torch.load(checkpoint_path(tmp_path / "single", c), weights_only=True)
        assert a["config_hash"] == b["config_hash"] and a["grads"] is None and b["grads"] is None
        assert a["model"].keys() == b["model"].keys()
        for key in b["model"]:
            assert _rel(a["model"][key], b["model"][key]) < 1e-2, key  # float32 losses, 2 threads: ~2e-4; another seed: ~1
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
        for i, st in b["optimizer"]["state"].items():
            for name, v in st.items():
                assert _rel(a["optimizer"]["state"][i][name], v) < 0.1, (i, name)  # 2 threads: ~1e-2; another seed: ~1
        drop = ("train_seconds", "wall_seconds", "history")
        assert {k: v for k, v in a["state"].items() if k not in drop} == \
            {k: v for k, v in b["state"].items() if k not in drop}
        assert load_trained(res.result_path(tmp_path / "stacked", c)).record["seed"] == c.train.seed
    assert not stacked_checkpoint_path(tmp_path / "stacked", cfgs).exists()
    # stored as run stores them: run finds them and trains nothing
    monkeypatch.setattr(run_mod, "fit", lambda *a, **k: pytest.fail("trained again"))
    for c, rec in zip(cfgs, stacked):
        assert run(c, results_dir=tmp_path / "stacked", data_dir=data_dir, progress=False) == \
            res.load_result(res.result_path(tmp_path / "stacked", c))
        assert res.load_result(res.result_path(tmp_path / "stacked", c))["metrics"]["history"] == rec["metrics"]["history"]


def test_only_seeds_of_one_configuration_stack():
    a, b = _cfgs()
    with pytest.raises(ValueError, match="more than the seed"):
        check_stackable([a, dataclasses.replace(b, train=dataclasses.replace(b.train, lr=2e-3))])
    with pytest.raises(ValueError, match="repeat"):
        check_stackable([a, a])
    with pytest.raises(ValueError, match="val_fraction"):
        check_stackable([dataclasses.replace(c, data=dataclasses.replace(c.data, val_fraction=0.2)) for c in (a, b)])


JOB = '''
import os, signal, sys, dataclasses
from pathlib import Path
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
import strn.train.stacked_fit as sf
from test_stacked_run import _cfgs
from strn.train.stacked_run import run_stacked
results, data, kill_at, sig = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), getattr(signal, sys.argv[4])
stack_inputs, calls = sf.stack_inputs, [0]

def counted(xs):  # the signal at the kill_at-th stacked forward (training micro-batches and test batches)
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), sig)
    return stack_inputs(xs)

sf.stack_inputs = counted
run_stacked(_cfgs(checkpoint_every=4), results_dir=results, data_dir=data, progress=False)
'''


def test_killed_stacked_job_resumes_bit_identically(tmp_path, data_dir):
    """SIGKILLed inside epoch 2, inside an accumulation, and resumed: the same records and final
    weights as an uninterrupted stacked job (CPU, float32); and so when SIGTERMed (preemption)."""
    script = tmp_path / "job.py"
    script.write_text(JOB.format(root=str(ROOT), tests=str(ROOT / "tests")))
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def job(results, kill_at=0, sig="SIGKILL"):
        return subprocess.run([sys.executable, str(script), str(results), str(data_dir), str(kill_at), sig],
                              capture_output=True, text=True, env=env)

    ref = job(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    # epoch 1: 11 micro-batches + 1 test batch; the 17th forward is micro-batch 4 of epoch 2 (0-based),
    # after the checkpoint written after micro-batches 0-3 (every 4), inside the second step
    killed = job(tmp_path / "run", kill_at=17)
    assert killed.returncode == -9, killed.stderr
    ckpt = stacked_checkpoint_path(tmp_path / "run", _cfgs())
    ck = torch.load(ckpt, weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["micro"] == 4 and ck["grads"] is not None
    assert not any(res.result_path(tmp_path / "run", c).exists() for c in _cfgs())  # nothing stored half
    resumed = job(tmp_path / "run")
    assert resumed.returncode == 0, resumed.stderr
    for c in _cfgs():
        a = res.load_result(res.result_path(tmp_path / "ref", c))
        b = res.load_result(res.result_path(tmp_path / "run", c))
        assert _numbers(a) == _numbers(b)
        assert a["metrics"]["error_rate"] == b["metrics"]["error_rate"]
        assert a["metrics"]["per_class_accuracy"] == b["metrics"]["per_class_accuracy"]
    # one per-epoch CSV per seed beside the job's checkpoint, as a single run's
    for s in (0, 1):
        log = epoch_log_path(seed_log_checkpoint(stacked_checkpoint_path(tmp_path / "ref", _cfgs()), s))
        rows = list(csv.DictReader(log.open()))
        assert [r["epoch"] for r in rows] == ["1", "2"] and all(r["test_error"] for r in rows)
    assert not ckpt.exists()  # replaced by the seeds' own checkpoints
    # SIGTERM (preemption) at the same forward: checkpoint at the next micro-batch, exit 143, resume
    termed = job(tmp_path / "term", kill_at=17, sig="SIGTERM")
    assert termed.returncode == 143 and "SIGTERM" in termed.stderr, termed.stderr
    ck = torch.load(stacked_checkpoint_path(tmp_path / "term", _cfgs()), weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["micro"] == 5 and ck["grads"] is not None  # mid-step
    assert job(tmp_path / "term").returncode == 0
    for c in _cfgs():
        assert _numbers(res.load_result(res.result_path(tmp_path / "ref", c))) == \
            _numbers(res.load_result(res.result_path(tmp_path / "term", c)))
    for c, other in [(c, o) for c in _cfgs() for o in ("run", "term")]:
        wa = torch.load(checkpoint_path(tmp_path / "ref", c), weights_only=True)
        wb = torch.load(checkpoint_path(tmp_path / other, c), weights_only=True)
        assert all(torch.equal(wa["model"][k], wb["model"][k]) for k in wa["model"])
        assert all(torch.equal(wa["optimizer"]["state"][i]["exp_avg_sq"], wb["optimizer"]["state"][i]["exp_avg_sq"])
                   for i in wa["optimizer"]["state"])


def test_a_corrupt_stacked_checkpoint_is_set_aside_and_the_job_restarts(tmp_path, data_dir, capsys):
    cfgs = _cfgs(epochs=1)
    ckpt = stacked_checkpoint_path(tmp_path, cfgs)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    recs = run_stacked(cfgs, results_dir=tmp_path, data_dir=data_dir, progress=False)
    assert ckpt.with_name(ckpt.name + ".corrupt").read_bytes() == b"not a checkpoint"
    assert "moved aside" in capsys.readouterr().err
    assert [len(r["metrics"]["history"]) for r in recs] == [1, 1]
    assert all(res.result_path(tmp_path, c).exists() for c in cfgs)

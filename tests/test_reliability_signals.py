"""Reliability: a SIGTERM is never lost. In training (tests/test_reliability_train.py), during
the final evaluation, between two runs of one process and while a results file is written,
the process ends with exit 143 and leaves a checkpoint or a whole file, never a torn one."""
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from strn.train.preempt import PREEMPT_EXIT

ROOT = str(Path(__file__).resolve().parent.parent)

JOB = textwrap.dedent('''
    import os, signal, sys, torch
    sys.path.insert(0, {root!r})
    from strn.config import TrainConfig
    from strn.train.preempt import exit_between_runs
    from strn.train.fit import fit
    from tests._toy import ToyDataset, ToySequenceNet
    mode, ckpt = sys.argv[1], __import__("pathlib").Path(sys.argv[2])
    exit_between_runs()  # as `strn run` does
    def one_run(test):
        torch.manual_seed(0)
        model = ToySequenceNet()
        cfg = TrainConfig(epochs=2, batch_size=4, update_every=0.5, lr=0.01, seed=3)
        return fit(model, ToyDataset(n=12), test, cfg, n_test_videos=3, num_classes=3, crop=10, flip=False,
                   device=torch.device("cpu"), checkpoint=ckpt, config_hash="h", progress=False)
    # the test set is read once per evaluation: its 2nd reading is the final evaluation
    test = ToyDataset(n=6, seed=1, kill_at=0 if mode == "final" else None, kill_on=2, kill_sig=signal.SIGTERM)
    out = one_run(test)
    torch.save(out.metrics, str(ckpt) + ".out")
    print("first run done", flush=True)
    if mode == "between":
        os.kill(os.getpid(), signal.SIGTERM)
    if mode == "writing":
        import strn.results as r
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGTERM)  # the signal lands inside the write
        (ckpt.parent / "r.json").write_text("old")
        r.atomic_write_text(ckpt.parent / "r.json", "new" * 1000)
    print("second run started", flush=True)
''')


def _job(tmp_path, mode, ckpt="run.pt"):
    script = tmp_path / "job.py"
    script.write_text(JOB.format(root=ROOT))
    return subprocess.run([sys.executable, str(script), mode, str(tmp_path / ckpt)], capture_output=True, text=True,
                          timeout=300)


def test_sigterm_during_the_final_evaluation_exits_143_and_the_rerun_evaluates(tmp_path):
    ref = _job(tmp_path, "none", "ref.pt")
    assert ref.returncode == 0, ref.stderr
    termed = _job(tmp_path, "final")
    assert termed.returncode == PREEMPT_EXIT, termed.stderr
    assert "first run done" not in termed.stdout  # no record of an evaluation cut short
    assert "terminated (SIGTERM)" in termed.stderr and str(tmp_path / "run.pt") in termed.stderr
    state = torch.load(tmp_path / "run.pt", weights_only=True)["state"]
    assert state["epoch"] == 2  # the finished training is on disk
    again = _job(tmp_path, "none")
    assert again.returncode == 0, again.stderr
    assert torch.load(tmp_path / "run.pt.out") == torch.load(tmp_path / "ref.pt.out")


def test_sigterm_between_runs_exits_143_before_the_next(tmp_path):
    out = _job(tmp_path, "between")
    assert out.returncode == PREEMPT_EXIT, out.stderr
    assert "first run done" in out.stdout and "second run started" not in out.stdout
    assert "between runs" in out.stderr


def test_sigterm_while_writing_leaves_the_old_file_whole(tmp_path):
    out = _job(tmp_path, "writing")
    assert out.returncode == PREEMPT_EXIT, out.stderr
    assert (tmp_path / "r.json").read_text() == "old"
    assert not list(tmp_path.glob(".r.json.*"))  # no temporary file left behind


STOP = textwrap.dedent('''
    import signal, sys, threading, time
    sys.path.insert(0, {root!r})
    from strn.study.parallel import _stop_with_parent
    got = []
    signal.signal(signal.SIGTERM, lambda *_: got.append(1))  # a run in the worker: checkpoint and exit
    threading.Thread(target=_stop_with_parent, args=(-1, 0.2), daemon=True).start()  # -1: the parent is gone
    t0 = time.time()
    while len(got) < 2 and time.time() - t0 < 20:  # the pool's loop caught that exit: a queued job starts
        time.sleep(0.05)
    print(len(got))
''')


def test_a_pool_worker_whose_parent_is_gone_is_signalled_until_it_ends():
    """`strn train-all` / `strn report` killed: a worker's run checkpoints and exits on the first
    SIGTERM, but the pool's loop catches that exit and starts a job still queued to the worker;
    before, no second signal came and that job trained to its end unseen."""
    out = subprocess.run([sys.executable, "-c", STOP.format(root=ROOT)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) >= 2

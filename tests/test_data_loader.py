"""The training loader (`strn.data.loader`): workers that live across epochs give the batches of
the in-process loader, shut down at the end of training and on errors, and a run resumed with
them ends bit-identical to an uninterrupted run without them."""
import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from strn.train import preempt
from strn.config import TrainConfig
from strn.data.cache import FrameCache
from strn.data.datasets import SequenceDataset
from strn.data.loader import EpochLoader, load_batches, stack_items
from strn.data.ucf101 import read_split
from strn.train.engine import epoch_plan, fit_source
from strn.data.synth import spec_for_profile
from strn.data.synth_files import write_synthetic
from strn.train.fit import SequenceBatches, fit
from tests._toy import ToySequenceNet, assert_same_outcome

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke synthetic set's train and test sequences (32 px, T = 2) on a warm frame cache."""
    root = write_synthetic(tmp_path_factory.mktemp("loader") / "smoke", spec_for_profile("smoke"), progress=False)
    index = read_split(root, 1)
    cache = FrameCache(root.parent / "cache")
    kw = dict(rate=2, seq_len=2, size=32, cache=cache, progress=False)
    return SequenceDataset(index, "train", **kw), SequenceDataset(index, "test", **kw), len(index.classes)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _plans(ds, epochs=2):
    return [[mb.indices for mb in epoch_plan(len(ds), 16, 8, seed=3, epoch=e)] for e in range(epochs)]


def test_workers_persist_across_epochs_and_give_the_in_process_batches(smoke):
    ds = smoke[0]
    plans = _plans(ds)
    with EpochLoader(ds, 2) as loader:
        pids = []
        for batches in plans:
            rng = torch.get_rng_state()
            got = list(loader(batches))
            assert torch.equal(rng, torch.get_rng_state())  # torch's global generator (checkpointed) untouched
            want = list(EpochLoader(ds, 0)(batches))
            assert len(got) == len(want) == len(batches)
            for g, w in zip(got, want):
                assert all(torch.equal(a, b) for a, b in zip(g, w))
            pids.append(loader.worker_pids)
        assert len(pids[0]) == 2 and pids[0] == pids[1]  # the same processes in both epochs
        assert all(_alive(p) for p in pids[0])
    assert loader.worker_pids == [] and not any(_alive(p) for p in pids[0])  # shut down and reaped


def test_a_new_epoch_drops_an_unfinished_one(smoke):
    ds = smoke[0]
    first, second = _plans(ds)
    with EpochLoader(ds, 2) as loader:
        old = loader(first)
        next(old)  # an epoch interrupted after one batch (its next batches are in flight)
        got = list(loader(second))
        with pytest.raises(RuntimeError, match="one epoch at a time"):
            next(old)
    want = list(load_batches(ds, second, 0))
    assert all(torch.equal(g[0], w[0]) and torch.equal(g[1], w[1]) for g, w in zip(got, want))


def test_worker_batches_are_shared_memory_views_in_the_stored_order(smoke):
    ds = smoke[0]
    (frames, labels, videos), = load_batches(ds, [list(range(8))], 1)
    assert frames.is_shared() and frames.shape == (8, 2, 3, 32, 32)
    assert frames.permute(0, 1, 3, 4, 2).is_contiguous()  # (B, T, H, W, C) in memory: copied, not transposed
    ref = stack_items([ds[i] for i in range(8)])
    assert torch.equal(frames, ref[0]) and torch.equal(labels, ref[1]) and torch.equal(videos, ref[2])


def _fit(smoke, workers, epochs=2, model=None):
    train, test, classes = smoke
    torch.manual_seed(0)
    model = model or ToySequenceNet(num_classes=classes)
    cfg = TrainConfig(epochs=epochs, batch_size=8, update_every=0.25, lr=0.01, seed=7)
    out = fit(model, train, test, cfg, n_test_videos=len(test.videos), num_classes=classes, crop=28, flip=True,
              device=CPU, checkpoint=None, config_hash="h", num_workers=workers, progress=False)
    return model, out


def _children() -> set[int]:
    return {int(p) for p in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()}


def test_fit_with_workers_equals_in_process(smoke):
    m0, out0 = _fit(smoke, 0)
    m2, out2 = _fit(smoke, 2)
    for k, v in m0.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert out0.metrics == out2.metrics and out0.frames_trained == out2.frames_trained > 0


class _WatchedNet(ToySequenceNet):
    """Notes this process's children at each forward; at the ``fail_at``-th raises, or (``preempt``)
    gets what SIGTERM's handler does."""

    def __init__(self, num_classes, fail_at=0, preempt=False):
        super().__init__(num_classes=num_classes)
        self.calls, self.fail_at, self.preempt, self.seen_children = 0, fail_at, preempt, set()

    def forward(self, x):
        self.calls += 1
        self.seen_children |= _children()
        if self.calls == self.fail_at:
            if not self.preempt:
                raise RuntimeError("step failed")
            preempt.preempted.set()
        return super().forward(x)


@pytest.mark.parametrize("end", ["done", "error", "preempted"])
def test_engine_shuts_the_workers_down_when_training_ends(smoke, end):
    """Also while the source is still referenced (a notebook, a pool worker running many fits)."""
    train, _, classes = smoke
    before = _children()
    source = SequenceBatches(train, crop=28, flip=True, device=CPU, num_workers=2)
    model = _WatchedNet(classes, fail_at={"done": 0, "error": 3, "preempted": 3}[end], preempt=end == "preempted")
    cfg = TrainConfig(epochs=2, batch_size=8, update_every=0.25, lr=0.01, seed=7)
    raises = {"done": contextlib.nullcontext(), "error": pytest.raises(RuntimeError, match="step failed"),
              "preempted": pytest.raises(SystemExit, match="143")}[end]
    with raises:
        fit_source(model, lambda dev: source, cfg, device=CPU, progress=False)
    assert len(model.seen_children - before) == 2  # the workers were there during training
    assert source.loader.worker_pids == [] and _children() == before


RESUME_WITH_WORKERS = textwrap.dedent('''
    import os, signal, sys, torch
    from pathlib import Path
    sys.path.insert(0, {root!r})
    import strn.train.fit
    from strn.config import TrainConfig
    from strn.train.fit import fit
    from tests._toy import ToyDataset, ToySequenceNet
    ckpt, workers, kill_at = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    forward, calls = strn.train.fit.SequenceBatches.forward, [0]

    def counted(self, model, batch, gen):  # SIGKILL of the main process at its kill_at-th micro-batch
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return forward(self, model, batch, gen)

    strn.train.fit.SequenceBatches.forward = counted
    torch.manual_seed(0)
    model = ToySequenceNet()
    cfg = TrainConfig(epochs=3, batch_size=3, update_every=0.25, lr=0.01, checkpoint_every=2, seed=7)
    out = fit(model, ToyDataset(n=40), ToyDataset(n=10, seed=1), cfg, n_test_videos=5, num_classes=3, crop=10,
              flip=True, device=torch.device("cpu"), checkpoint=ckpt, config_hash="h", num_workers=workers,
              progress=False)
    torch.save({{"weights": model.state_dict(), "metrics": out.metrics, "history": out.history}}, str(ckpt) + ".out")
''')


def test_killed_run_resumed_with_workers_equals_uninterrupted_without(tmp_path):
    """Workers persist across epochs; a run SIGKILLed inside epoch 2 (and inside an accumulation)
    and resumed with 2 workers ends with the weights and metrics of an uninterrupted run with none."""
    script = tmp_path / "job.py"
    script.write_text(RESUME_WITH_WORKERS.format(root=str(Path(__file__).resolve().parent.parent)))

    def job(ckpt, workers, kill_at=0):
        # Output to a file, not a pipe: a killed run's orphaned workers hold its descriptors until
        # they notice (within 5 s), and reading a pipe would wait for them.
        log = Path(f"{ckpt}.log")
        with log.open("w") as fh:
            p = subprocess.run([sys.executable, str(script), str(ckpt), str(workers), str(kill_at)],
                               stdout=fh, stderr=subprocess.STDOUT)
        p.stderr = log.read_text()
        return p

    ref = job(tmp_path / "ref.pt", 0)
    assert ref.returncode == 0, ref.stderr
    # 40 sequences in micro-batches of 3,3,4 per 10-sequence step: 12 per epoch. The 18th is the 6th
    # of epoch 2, the last of its second step; the checkpoint before it (every 2) is inside that step.
    killed = job(tmp_path / "run.pt", 2, kill_at=18)
    assert killed.returncode == -9, killed.stderr
    ck = torch.load(tmp_path / "run.pt", weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["micro"] > 0 and ck["grads"] is not None
    resumed = job(tmp_path / "run.pt", 2)
    assert resumed.returncode == 0, resumed.stderr
    a, b = assert_same_outcome(tmp_path)
    assert [dict(h, train_seconds=0) for h in a["history"]] == [dict(h, train_seconds=0) for h in b["history"]]

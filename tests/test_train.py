import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from strn.config import TrainConfig
from strn.train.checkpoint import TrainState
from strn.train.engine import NonFiniteLossError, epoch_plan, step_size
from strn.train.fit import evaluate, fit, train_one_epoch
from tests._toy import ToyDataset, ToySequenceNet, assert_same_outcome

CPU = torch.device("cpu")


def test_epoch_plan_covers_every_sequence_once_and_respects_steps():
    plan = epoch_plan(103, step_size(103, 0.1), 4, seed=3, epoch=1)
    flat = [i for mb in plan for i in mb.indices]
    assert sorted(flat) == list(range(103))
    assert plan == epoch_plan(103, 11, 4, seed=3, epoch=1)  # pure
    assert flat != [i for mb in epoch_plan(103, 11, 4, seed=3, epoch=2) for i in mb.indices]
    # micro-batches of one step add up to the step's size, and the step ends exactly once
    pos = 0
    while pos < len(plan):
        n, total = plan[pos].step_len, 0
        while True:
            total += len(plan[pos].indices)
            pos += 1
            if plan[pos - 1].ends_step:
                break
        assert total == n
    assert all(len(mb.indices) >= 2 for mb in plan)


def test_step_size_is_a_share_of_the_data():
    assert step_size(1000, 0.01) == 10
    assert step_size(1000, 0.1) == 100
    assert step_size(50, 0.01) == 2  # at least two (BatchNorm)


@pytest.mark.parametrize("optimizer", ["adam", "rprop", "sgd"])
def test_accumulated_micro_batches_equal_one_batch(optimizer):
    """k micro-batches accumulated into one step give the update of one batch of the same sequences."""
    ds = ToyDataset(n=12)
    base = ToySequenceNet(bn=False)
    results = []
    for batch_size in (12, 4, 3):
        model = copy.deepcopy(base)
        cfg = TrainConfig(optimizer=optimizer, lr=0.05, update_every=1.0, batch_size=batch_size, epochs=1)
        opt = torch.optim.Adam(model.parameters(), lr=0.05) if optimizer == "adam" else \
            torch.optim.Rprop(model.parameters(), lr=0.05) if optimizer == "rprop" else \
            torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for epoch in range(2):  # two steps, so Rprop's sign logic and Adam's moments matter
            state = TrainState(epoch=epoch)
            train_one_epoch(model, ds, opt, state, cfg, crop=12, flip=False, device=CPU, progress=False)
            assert state.steps == 1
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    moved = (results[0] - torch.cat([p.detach().flatten() for p in base.parameters()])).abs().max()
    assert moved > 1e-3
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], rtol=1e-5, atol=1e-6)


def _flushes() -> bool:
    """Whether subnormal floats are flushed to zero right now (torch has no getter)."""
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


@pytest.mark.parametrize("flush", [False, True])
def test_flush_denormal_holds_during_the_run_and_is_off_after(flush, monkeypatch):
    from strn.train import engine

    seen = []
    real = engine._fit_loop

    def spy(*args, **kwargs):
        seen.append(_flushes())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_fit_loop", spy)
    cfg = TrainConfig(epochs=1, batch_size=4, update_every=0.5, flush_denormal=flush)
    fit(ToySequenceNet(), ToyDataset(n=8), ToyDataset(n=4, seed=1), cfg, n_test_videos=2, num_classes=3, crop=12,
        flip=False, device=CPU, checkpoint=None, config_hash="h", progress=False)
    assert seen == [flush] and not _flushes()


def test_smoke_flushes_denormals_and_other_profiles_keep_their_hashes():
    from strn.config import config_hash, make_config

    assert make_config("smoke").train.flush_denormal
    for profile in ("demo", "gpu", "full"):
        cfg = make_config(profile)
        assert not cfg.train.flush_denormal
        cfg.train.flush_denormal = True
        assert config_hash(cfg) != config_hash(make_config(profile))


def test_evaluate_averages_sequence_probabilities_per_video():
    class DS(torch.utils.data.Dataset):
        # video 0: sequences 0 and 1 (label 0); video 1: sequence 2 (label 1)
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.zeros((2, 3, 4, 4), dtype=torch.uint8), [0, 0, 1][i], [0, 0, 1][i]

    # Sequence 0 says class 1 weakly, sequence 1 says class 0 strongly: the video's mean says 0.
    probs = torch.tensor([[0.4, 0.6], [0.95, 0.05], [0.2, 0.8]])

    class Replay(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.done = 0

        def forward(self, x):
            out = probs[self.done:self.done + x.shape[0]].log()
            self.done += x.shape[0]
            return out

    m = evaluate(Replay(), DS(), n_videos=2, num_classes=2, crop=4, device=CPU, batch_size=1, progress=False)
    assert m["accuracy"] == 1.0 and m["error_rate"] == 0.0
    assert m["clip_accuracy"] == pytest.approx(2 / 3)  # sequence 0 alone is wrong
    assert m["confusion"] == [[1, 0], [0, 1]]
    assert m["per_class_accuracy"] == [1.0, 1.0]
    assert m["mean_class_accuracy"] == 1.0


def test_non_finite_loss_stops_with_position():
    ds = ToyDataset(n=8)
    model = ToySequenceNet()
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    cfg = TrainConfig(epochs=1, batch_size=4, update_every=0.5)
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(NonFiniteLossError, match="epoch 1, micro-batch 0"):
        train_one_epoch(model, ds, opt, TrainState(), cfg, crop=12, flip=False, device=CPU, progress=False)


RESUME_SCRIPT = textwrap.dedent('''
    import sys, torch
    sys.path.insert(0, {root!r})
    from strn.config import TrainConfig
    from strn.train.fit import fit
    from tests._toy import ToyDataset, ToySequenceNet
    kill_at = None if sys.argv[2] == "none" else int(sys.argv[2])
    kill_on = int(sys.argv[3])
    torch.manual_seed(0)
    model = ToySequenceNet()
    train = ToyDataset(n=40, kill_at=kill_at, kill_on=kill_on)
    test = ToyDataset(n=10, seed=1)
    cfg = TrainConfig(epochs=3, batch_size=3, update_every=0.25, lr=0.01, checkpoint_every=2, seed=7)
    out = fit(model, train, test, cfg, n_test_videos=5, num_classes=3, crop=10, flip=True,
              device=torch.device("cpu"), checkpoint=__import__("pathlib").Path(sys.argv[1]), config_hash="h",
              progress=False)
    torch.save({{"weights": model.state_dict(), "metrics": out.metrics, "history": out.history}}, sys.argv[1] + ".out")
''')


def test_killed_and_resumed_run_is_bit_identical(tmp_path):
    """SIGKILL in the middle of an epoch and of an accumulation; the resumed run ends with
    exactly the weights and metrics of an uninterrupted one."""
    root = str(Path(__file__).resolve().parent.parent)
    script = tmp_path / "job.py"
    script.write_text(RESUME_SCRIPT.format(root=root))

    def job(ckpt, kill_at="none", kill_on=1):
        return subprocess.run([sys.executable, str(script), str(ckpt), str(kill_at), str(kill_on)],
                              capture_output=True, text=True)

    ref = job(tmp_path / "ref.pt")
    assert ref.returncode == 0, ref.stderr
    # step = 10 sequences = micro-batches of 3,3,4: item reads in epoch 2 hit the middle of a step.
    killed = job(tmp_path / "run.pt", kill_at=5, kill_on=2)
    assert killed.returncode == -9
    assert (tmp_path / "run.pt").exists() and not (tmp_path / "run.pt.out").exists()
    ck = torch.load(tmp_path / "run.pt", weights_only=True)
    # the last checkpoint before the kill sits inside epoch 2 and inside an accumulation
    assert ck["state"]["epoch"] == 1 and ck["state"]["micro"] > 0 and ck["grads"] is not None
    resumed = job(tmp_path / "run.pt")
    assert resumed.returncode == 0, resumed.stderr
    a, b = assert_same_outcome(tmp_path)
    assert [dict(h, train_seconds=0) for h in a["history"]] == [dict(h, train_seconds=0) for h in b["history"]]

"""Issue #14, training side: a corrupt checkpoint is set aside, SIGTERM checkpoints and exits,
and the wall time of a resumed run counts every process."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from strn.config import TrainConfig
from strn.train.preempt import PREEMPT_EXIT
from strn.train.fit import fit
from tests._toy import ToyDataset, ToySequenceNet, assert_same_outcome

CPU = torch.device("cpu")
ROOT = str(Path(__file__).resolve().parent.parent)


def _fit(ckpt):
    torch.manual_seed(0)
    model = ToySequenceNet()
    cfg = TrainConfig(epochs=1, batch_size=4, update_every=0.5, lr=0.01, seed=3)
    out = fit(model, ToyDataset(n=12), ToyDataset(n=6, seed=1), cfg, n_test_videos=3, num_classes=3, crop=10,
              flip=False, device=CPU, checkpoint=ckpt, config_hash="h", progress=False)
    return model, out


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all \x00\xff" * 7, "truncated"])
def test_corrupt_checkpoint_is_set_aside_and_training_restarts(tmp_path, capsys, content):
    ref_model, ref = _fit(tmp_path / "ref.pt")
    ckpt = tmp_path / "run.pt"
    if content == "truncated":
        data = (tmp_path / "ref.pt").read_bytes()
        content = data[: len(data) // 2]
    ckpt.write_bytes(content)
    capsys.readouterr()
    model, out = _fit(ckpt)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(ckpt) in err[0] and "unreadable" in err[0] and "from scratch" in err[0], err
    assert (tmp_path / "run.pt.corrupt").read_bytes() == content  # kept for inspection
    assert ckpt.exists()  # a new, good checkpoint replaced it
    torch.load(ckpt, weights_only=True)
    for k, v in ref_model.state_dict().items():  # restarted from scratch: the run of a fresh start
        assert torch.equal(v, model.state_dict()[k]), k
    assert out.metrics == ref.metrics


JOB = textwrap.dedent('''
    import signal, sys, torch
    sys.path.insert(0, {root!r})
    from strn.config import TrainConfig
    from strn.train.fit import fit
    from tests._toy import ToyDataset, ToySequenceNet
    kill_at = None if sys.argv[2] == "none" else int(sys.argv[2])
    torch.manual_seed(0)
    model = ToySequenceNet()
    train = ToyDataset(n=40, kill_at=kill_at, kill_on=2, kill_sig=signal.SIGTERM)
    cfg = TrainConfig(epochs=3, batch_size=3, update_every=0.25, lr=0.01, checkpoint_every=0, seed=7)
    out = fit(model, train, ToyDataset(n=10, seed=1), cfg, n_test_videos=5, num_classes=3, crop=10, flip=True,
              device=torch.device("cpu"), checkpoint=__import__("pathlib").Path(sys.argv[1]), config_hash="h",
              progress=False)
    torch.save({{"weights": model.state_dict(), "metrics": out.metrics, "prior": out.prior_wall_seconds}},
               sys.argv[1] + ".out")
''')


def test_sigterm_checkpoints_exits_nonzero_and_resumes_bit_identically(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB.format(root=ROOT))

    def job(ckpt, kill_at="none"):
        return subprocess.run([sys.executable, str(script), str(ckpt), str(kill_at)], capture_output=True, text=True)

    ref = job(tmp_path / "ref.pt")
    assert ref.returncode == 0, ref.stderr
    # checkpoint_every=0 and a long checkpoint_minutes: only the SIGTERM (in epoch 2) writes mid-epoch
    termed = job(tmp_path / "run.pt", kill_at=5)
    assert termed.returncode == PREEMPT_EXIT, termed.stderr
    lines = termed.stderr.strip().splitlines()
    assert len(lines) == 1 and "SIGTERM" in lines[0] and str(tmp_path / "run.pt") in lines[0], termed.stderr
    assert not (tmp_path / "run.pt.out").exists()
    ck = torch.load(tmp_path / "run.pt", weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["state"]["micro"] > 0  # written mid-epoch, at the signal
    assert ck["state"]["wall_seconds"] > 0
    resumed = job(tmp_path / "run.pt")
    assert resumed.returncode == 0, resumed.stderr
    a, b = assert_same_outcome(tmp_path)
    # the resumed process reports the first process's wall time, so cost.wall_s sums both
    assert a["prior"] == 0 and b["prior"] == pytest.approx(ck["state"]["wall_seconds"])

"""A toy sequence classifier and dataset for engine tests: fast, deterministic, no video."""
import os
import signal

import torch
from torch import nn


class ToySequenceNet(nn.Module):
    """(B, T, C, H, W) -> logits from the last frame minus the first (so order matters)."""

    def __init__(self, num_classes: int = 3, bn: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8) if bn else nn.Identity()
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):  # (B, T, C, H, W)
        B, T = x.shape[:2]
        f = self.bn(self.conv(x.flatten(0, 1))).relu().mean((2, 3)).view(B, T, -1)  # (B, T, 8)
        return self.fc(torch.cat([f[:, -1], f[:, -1] - f[:, 0]], 1))


class ToyDataset(torch.utils.data.Dataset):
    """n sequences of T uint8 frames, labels in 0..classes-1, 2 sequences per video.

    ``kill_at``: the process SIGKILLs itself when item ``kill_at`` is read for the
    ``kill_on``-th time (simulates a crash in the middle of an epoch); ``kill_sig`` picks
    another signal (SIGTERM: a cluster's preemption)."""

    def __init__(self, n=24, T=2, size=12, classes=3, seed=0, kill_at=None, kill_on=1, kill_sig=signal.SIGKILL):
        g = torch.Generator().manual_seed(seed)
        self.frames = torch.randint(0, 256, (n, T, 3, size, size), generator=g, dtype=torch.uint8)
        self.labels = torch.randint(0, classes, (n,), generator=g)
        self.kill_at, self.kill_on, self.kill_sig, self.reads = kill_at, kill_on, kill_sig, 0
        self.videos = list(range((n + 1) // 2))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if self.kill_at is not None and i == self.kill_at:
            self.reads += 1
            if self.reads == self.kill_on:
                os.kill(os.getpid(), self.kill_sig)
        return self.frames[i], int(self.labels[i]), i // 2


def assert_same_outcome(folder):
    """The uninterrupted run (``ref.pt.out``) and the resumed one (``run.pt.out``) ended with
    identical weights and metrics; returns both outputs for further checks."""
    import torch

    a = torch.load(folder / "ref.pt.out", weights_only=True)
    b = torch.load(folder / "run.pt.out", weights_only=True)
    for k in a["weights"]:
        assert torch.equal(a["weights"][k], b["weights"][k]), k
    assert a["metrics"] == b["metrics"]
    return a, b

"""Training checkpoints: what a resumed run needs to end bit-identical to one never
interrupted (weights, optimiser, position, partial gradients, torch RNG), written atomically;
an unreadable one is named, and set aside by `train.fit`."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..results import atomic_torch_save


@dataclass
class TrainState:
    """Where training of one model stands; everything in it goes into the checkpoint. The
    engine reads and adds its running sums per lane (`lane_sums`, ...): one lane here, one per
    seed in a `StackedState`."""
    epoch: int = 0  # current epoch (0-based)
    micro: int = 0  # next micro-batch of the current epoch
    steps: int = 0  # optimiser steps taken so far
    loss_sum: float = 0.0  # running sums of the current epoch
    correct: int = 0
    seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    frames_trained: int = 0
    wall_seconds: float = 0.0  # wall time of all processes of this run up to this checkpoint

    def lane_sums(self) -> tuple[list[float], list[int], list[int]]:
        return [self.loss_sum], [self.correct], [self.seen]

    def add_sums(self, losses: list[float], corrects: list[int]) -> None:
        self.loss_sum += losses[0]
        self.correct += int(corrects[0])

    def count(self, seen: int, frames: list[int]) -> None:
        self.seen += seen
        self.frames_trained += frames[0]

    def lane_histories(self) -> list[list[dict[str, Any]]]:
        return [self.history]

    def lane_frames(self) -> list[int]:
        return [self.frames_trained]

    def next_epoch(self) -> None:
        self.epoch += 1
        self.micro = self.loss_sum = self.correct = self.seen = 0


@dataclass
class StackedState:
    """Where a stacked job (K seeds as one model, `strn.train.stacked_fit`) stands; everything in it
    goes into the checkpoint. Lists: one entry per seed, each as a `TrainState`'s field."""
    seeds: list[int]
    epoch: int = 0
    micro: int = 0
    steps: int = 0
    loss_sum: list[float] = field(default_factory=list)
    correct: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    histories: list[list[dict[str, Any]]] = field(default_factory=list)
    train_seconds: float = 0.0  # the whole job's training seconds (all seeds together)
    frames_trained: list[int] = field(default_factory=list)
    wall_seconds: float = 0.0  # wall time of all processes of this job up to this checkpoint

    def __post_init__(self) -> None:
        k = len(self.seeds)
        for name in ("loss_sum", "correct", "seen", "frames_trained"):
            if not getattr(self, name):
                setattr(self, name, [0.0 if name == "loss_sum" else 0] * k)
        if not self.histories:
            self.histories = [[] for _ in range(k)]

    def lane_sums(self) -> tuple[list[float], list[int], list[int]]:
        return self.loss_sum, self.correct, self.seen

    def add_sums(self, losses: list[float], corrects: list[int]) -> None:
        for s, (v, c) in enumerate(zip(losses, corrects)):
            self.loss_sum[s] += v
            self.correct[s] += int(c)

    def count(self, seen: int, frames: list[int]) -> None:
        for s, f in enumerate(frames):
            self.seen[s] += seen
            self.frames_trained[s] += f

    def lane_histories(self) -> list[list[dict[str, Any]]]:
        return self.histories

    def lane_frames(self) -> list[int]:
        return self.frames_trained

    def next_epoch(self) -> None:
        k = len(self.seeds)
        self.epoch += 1
        self.micro, self.loss_sum, self.correct, self.seen = 0, [0.0] * k, [0] * k, [0] * k


class CorruptCheckpointError(ValueError):
    pass


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState,
                    config_hash: str, partial_grads: bool) -> None:
    """Atomic: a kill while writing leaves the previous checkpoint intact."""
    grads = None
    if partial_grads:
        grads = [p.grad.detach().clone() if p.grad is not None else None for p in model.parameters()]
    ckpt = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "state": {k: v for k, v in vars(state).items()},
        "grads": grads,
        "config_hash": config_hash,
        "torch_rng": torch.get_rng_state(),
    }
    atomic_torch_save(ckpt, path)


TRAINING_KEYS = ("model", "optimizer", "state", "grads", "config_hash", "torch_rng")


def read_checkpoint(path: Path, required: tuple[str, ...] = TRAINING_KEYS) -> dict[str, Any]:
    """The checkpoint's contents, or ``CorruptCheckpointError`` naming the file when it cannot be
    read whole (truncated, empty, random bytes, keys missing)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from e
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... here
        # torch's own text for a pickled object advises loading it unsafely: never done here
        detail = "it holds pickled objects, not only weights; it is never loaded" if "Weights only load failed" \
            in str(e) else str(e).splitlines()[0] if str(e) else "no detail"
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {detail})") from e
    missing = [k for k in required if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable (missing {', '.join(missing)})")
    return ckpt


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config_hash: str,
                    state_cls: type = TrainState) -> Any:
    """Apply checkpoint ``path`` to ``model`` and ``optimizer``; its training state as ``state_cls``
    (a stacked job's state carries per-seed sums: `StackedState`)."""
    ckpt = read_checkpoint(path)
    if ckpt.get("config_hash") != config_hash:
        raise ValueError(f"checkpoint {path} belongs to another configuration (hash {ckpt.get('config_hash')}, "
                         f"expected {config_hash}); delete it or run with force=True")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt["grads"] is not None:
        for p, g in zip(model.parameters(), ckpt["grads"]):
            p.grad = None if g is None else g.to(p.device)
    torch.set_rng_state(ckpt["torch_rng"])
    return state_cls(**ckpt["state"])


def resume_state(path: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer, config_hash: str,
                 state_cls: type = TrainState, set_aside_corrupt: bool = True) -> Any | None:
    """The training state of checkpoint ``path``, applied to ``model`` and ``optimizer``; None
    when there is none to resume from. The file is read whole before anything is applied, so a
    corrupt one leaves the fresh model untouched; it is set aside (``set_aside_corrupt``: by the
    process that owns the file, rank 0 under torchrun) and training starts from scratch."""
    if path is None or not path.exists():
        return None
    try:
        read_checkpoint(path)
    except CorruptCheckpointError as e:
        if set_aside_corrupt:
            set_aside(path, e)
    return load_checkpoint(path, model, optimizer, config_hash, state_cls) if path.exists() else None


def set_aside(checkpoint: Path, err: CorruptCheckpointError) -> Path:
    """Move a corrupt checkpoint to ``<name>.corrupt`` (kept for inspection, never read again)."""
    aside = checkpoint.with_name(checkpoint.name + ".corrupt")
    os.replace(checkpoint, aside)
    print(f"strn: {err}; moved aside to {aside}, training restarts from scratch", file=sys.stderr, flush=True)
    return aside

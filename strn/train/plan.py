"""The plan of an epoch: pure functions of (seed, epoch), so a resumed run repeats them.

"Update after p% of the data" (thesis 5.3): each epoch's examples are shuffled and cut into
optimiser steps of ``ceil(p * N)`` examples (`step_size`), each run as micro-batches whose
gradients accumulate (`epoch_plan`); the learning rate is a function of the step count
(`scheduled_lr`) and the crops of a micro-batch of its position (`batch_seed`). The engine
(`strn.train.engine`) runs these plans; `strn.study.experiments` counts steps with them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import TrainConfig


@dataclass(frozen=True)
class MicroBatch:
    indices: list[int]  # dataset indices of the sequences
    step_len: int  # sequences in the optimiser step this micro-batch belongs to
    ends_step: bool  # the optimiser steps after this micro-batch


def step_size(n_sequences: int, update_every: float) -> int:
    """Sequences per optimiser step: ``update_every`` of the training data, at least two."""
    return max(2, math.ceil(update_every * n_sequences))


def scheduled_lr(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based) of ``total_steps``: a function of the
    step count alone, so a resumed run follows the same schedule."""
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
    return cfg.lr


def epoch_plan(n: int, seqs_per_step: int, batch_size: int, seed: int, epoch: int) -> list[MicroBatch]:
    """The micro-batches of one epoch, in order; a pure function of its arguments.

    BatchNorm needs two values per channel in training, and at small inputs the last
    block's maps are 1x1: a step or micro-batch of a single sequence is therefore folded
    into its neighbour (a step of 1 joins the previous step, a trailing micro-batch of 1
    joins the previous micro-batch).
    """
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    steps = [perm[s0:s0 + seqs_per_step] for s0 in range(0, n, seqs_per_step)]
    if len(steps) > 1 and len(steps[-1]) == 1:
        last = steps.pop()
        steps[-1] = steps[-1] + last
    plan: list[MicroBatch] = []
    for step in steps:
        chunks = [step[b0:b0 + batch_size] for b0 in range(0, len(step), batch_size)]
        if len(chunks) > 1 and len(chunks[-1]) == 1:
            last = chunks.pop()
            chunks[-1] = chunks[-1] + last
        plan += [MicroBatch(c, len(step), i == len(chunks) - 1) for i, c in enumerate(chunks)]
    return plan


def batch_seed(seed: int, epoch: int, micro: int) -> int:
    """Seed of the crops of micro-batch ``micro`` of ``epoch``: a resumed run draws the same ones."""
    return (seed * 1_000_003 + epoch * 10_007 + micro) % 2**31

"""K seeds of one configuration trained as one stacked model (`strn.model.stacked`) by the
engine (`strn.train.engine.fit_source`): the batches of a stacked job and its evaluation.

Why: at the demo's sizes an optimiser step is mostly fixed per-kernel overhead, and the
seeds of one configuration differ only in their random draws, so their K models can run as
one grouped model whose every kernel serves all K (benchmarks/bench_stacked_run.py).

`StackedBatches` is the engine's `BatchSource` for such a model: it names its ``seeds``, and the
engine runs each seed as one lane of its one loop, exactly as it runs one model: each seed's
epoch plan (its own shuffle; the plans of one configuration have identical micro-batch sizes
and step boundaries, checked), its crops (seeded by (seed, epoch, micro-batch)), its loss (each
seed's summed cross-entropy over its step's sequences; the K losses are added before the
backward pass, and since seed k's parameters only see seed k's loss, its gradient is its own),
its running sums, history and test metrics. The optimiser is one Adam (elementwise: K
independent Adams) with the shared schedule. Shared: the job's time and its checkpoint (a
`strn.train.checkpoint.StackedState`), so a job killed anywhere resumes bit-identically on the CPU.

Differences to K single runs, all by design: float rounding (grouped kernels sum in another
order, as another thread count does); a non-finite loss of any seed stops the whole job; a
micro-batch with an unreadable video stops it too (the seeds' batches would no longer have one
size); the job runs in one process (no torchrun) and is never compiled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..config import TrainConfig
from ..data.datasets import drop_unreadable, unreadable_videos
from ..data.loader import load_batches
from ..data.transforms import crop_batch, to_input
from .fit import SequenceBatches
from .engine import FitResult, autocast, epoch_log_path, fit_source
from .metrics import video_metrics
from ..model.stacked import stack_inputs


class StackedBatches(SequenceBatches):
    """The batches of K stacked models, one lane per seed: seed k's micro-batch is cropped with its
    own generator and fed to model k (its channel block of the stacked input). Loading and closing
    are `SequenceBatches`' (the engine calls `close`)."""

    def __init__(self, dataset, seeds: list[int], *, crop: int, flip: bool, device: torch.device,
                 num_workers: int = 0) -> None:
        super().__init__(dataset, crop=crop, flip=flip, device=device, num_workers=num_workers)
        self.seeds = list(seeds)

    def forward(self, model: nn.Module, batches: list, gens: list[torch.Generator]):
        """(logits (B, K, C), labels (B, K), each seed's frames) of the K seeds' micro-batches."""
        xs, ys, frames = [], [], []
        for seed, batch, gen in zip(self.seeds, batches, gens):
            x, labels, _ = drop_unreadable(self.dataset, batch)
            if len(labels) != len(batch[1]):
                raise RuntimeError(f"a video of a micro-batch of seed {seed} became unreadable: a stacked job needs "
                                   f"equal batches for all seeds; train these seeds one by one (strn.train.run.run)")
            frames.append(x.shape[0] * x.shape[1])
            x = crop_batch(x.to(self.device, non_blocking=True), self.crop, gen, self.flip)
            xs.append(to_input(x, self.device))
            ys.append(labels.to(self.device, non_blocking=True))
        logits = model(stack_inputs(xs)).float().unflatten(1, (len(xs), -1))  # (B, K, C)
        return logits, torch.stack(ys, 1), frames


@torch.no_grad()
def evaluate_stacked(model: nn.Module, dataset, k: int, n_videos: int, num_classes: int, *, crop: int,
                     device: torch.device, batch_size: int = 32, amp: bool = True,
                     num_workers: int = 0) -> list[dict[str, Any]]:
    """`strn.train.fit.evaluate` for K stacked models in one pass over the test set (the same
    frames given to every model): one metrics dict per model."""
    model.eval()
    prob_sum = torch.zeros(k, n_videos, num_classes, dtype=torch.float64, device=device)
    n_seq = torch.zeros(n_videos, dtype=torch.long, device=device)
    label_of = torch.full((n_videos,), -1, dtype=torch.long, device=device)
    clip_correct = torch.zeros(k, dtype=torch.long, device=device)
    clips = 0
    batches = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    for batch in load_batches(dataset, batches, num_workers, device.type == "cuda"):
        frames, labels, videos = drop_unreadable(dataset, batch)
        if not len(labels):
            continue
        labels, videos = labels.to(device), videos.to(device)
        x = to_input(crop_batch(frames.to(device, non_blocking=True), crop, None), device)  # (B, T, 3, H, W)
        with autocast(device, amp):
            logits = model(stack_inputs([x] * k))  # (B, K*C)
        probs = logits.float().unflatten(1, (k, -1)).softmax(2).double().transpose(0, 1)  # (K, B, C)
        prob_sum.index_add_(1, videos, probs)
        n_seq.index_add_(0, videos, torch.ones_like(videos))
        label_of[videos] = labels
        clip_correct += (probs.argmax(2) == labels).sum(1)
        clips += len(labels)
    prob_sum, n_seq, label_of = prob_sum.cpu(), n_seq.cpu(), label_of.cpu()
    n_seq[unreadable_videos(dataset)] = 0
    seen = n_seq > 0
    out = []
    for s in range(k):
        m = video_metrics(prob_sum[s][seen], label_of[seen], num_classes)
        m.update(clip_accuracy=int(clip_correct[s]) / clips if clips else float("nan"), n_sequences=clips)
        out.append(m)
    return out


def seed_log_checkpoint(checkpoint: Path, seed: int) -> Path:
    """Where seed ``seed``'s per-epoch CSV goes (`strn.train.engine.epoch_log_path` of this name):
    ``<job checkpoint stem>.seed<k>.epochs.csv``, beside the job's checkpoint."""
    return checkpoint.with_name(f"{checkpoint.stem}.seed{seed}.pt")


def fit_stacked(model: nn.Module, train_ds, test_ds, cfg: TrainConfig, seeds: list[int], *, n_test_videos: int,
                num_classes: int, crop: int, flip: bool, device: torch.device, checkpoint: Path | None,
                job_hash: str, num_workers: int = 0, progress: bool | None = None, wall_t0: float | None = None,
                before_eval: Callable[[nn.Module, torch.device], None] | None = None) -> list[FitResult]:
    """Train the stacked ``model`` (K = len(seeds)) for ``cfg.epochs`` epochs through the engine,
    resuming from ``checkpoint`` when it exists, evaluating each epoch as a single run does
    (``before_eval(model, device)``, if given, runs before every evaluation). One `FitResult` per
    seed (``train_seconds``: the job's). SIGTERM checkpoints and exits 143, as a single run."""
    def source(dev: torch.device) -> StackedBatches:
        return StackedBatches(train_ds, seeds, crop=crop, flip=flip, device=dev, num_workers=num_workers)

    def test(m: nn.Module, dev: torch.device) -> list[dict[str, Any]]:
        if before_eval is not None:
            before_eval(m, dev)
        return evaluate_stacked(m, test_ds, len(seeds), n_test_videos, num_classes, crop=crop, device=dev,
                                batch_size=max(cfg.batch_size, 32), amp=cfg.amp, num_workers=num_workers)

    logs = [epoch_log_path(seed_log_checkpoint(checkpoint, s)) for s in seeds] if checkpoint is not None else None
    return fit_source(model, source, cfg, device=device, evaluate=test, checkpoint=checkpoint, config_hash=job_hash,
                      progress=progress, wall_t0=wall_t0, log_epochs=True, epoch_logs=logs)

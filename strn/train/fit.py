"""Training STRN (and the frame-average model) on sequences: `fit` trains with exact resume,
checkpoints and SIGTERM handling through the engine (`strn.train.engine`), `evaluate` gives the
video-level metrics (a video's class distribution is the mean of its sequences' softmax
outputs, thesis Fig. 4.5).

The sequences of a `SequenceDataset` are whole resized frames; each micro-batch is cropped
(and flipped) on the device with a generator the engine seeds per (seed, epoch, micro-batch),
so a resumed run draws the same crops.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from .checkpoint import TrainState
from ..config import TrainConfig
from ..data.datasets import drop_unreadable, unreadable_videos
from ..data.loader import EpochLoader, load_batches
from ..data.transforms import crop_batch, to_input
from .engine import FitResult, autocast, fit_source, run_epoch
from .metrics import video_metrics
from ..progress import progress_enabled


class SequenceBatches:
    """The engine's batch source for a `SequenceDataset`: uint8 sequences stacked on the host
    (in ``num_workers`` loader processes that live across epochs, `strn.data.loader.EpochLoader`),
    copied to the device, cropped there. `close` shuts the workers down (the engine calls it)."""

    def __init__(self, dataset, *, crop: int, flip: bool, device: torch.device, num_workers: int = 0) -> None:
        self.dataset, self.crop, self.flip, self.device = dataset, crop, flip, device
        self.n = len(dataset)
        self.loader = EpochLoader(dataset, num_workers, pin=device.type == "cuda")

    def load(self, batches: list[list[int]]):
        return self.loader(batches)

    def close(self) -> None:
        self.loader.close()

    def forward(self, model: nn.Module, batch, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        # A video unreadable since indexing is dropped from its batch and recorded (issue #14); a batch
        # left with one sequence of several is not trained on (BatchNorm needs two values per channel).
        n_asked = len(batch[1])
        frames, labels, _ = drop_unreadable(self.dataset, batch)
        if len(labels) < min(2, n_asked):
            return None
        # Cropped on the device: the host only stacks whole frames (and copies them asynchronously).
        x = to_input(crop_batch(frames.to(self.device, non_blocking=True), self.crop, gen, self.flip), self.device)
        return model(x), labels.to(self.device, non_blocking=True), frames.shape[0] * frames.shape[1]


def train_one_epoch(model: nn.Module, dataset, optimizer: torch.optim.Optimizer, state: TrainState, cfg: TrainConfig, *,
                    crop: int, flip: bool, device: torch.device, num_workers: int = 0,
                    on_checkpoint: Callable[[bool], None] | None = None, progress: bool | None = None) -> None:
    """Run the rest of epoch ``state.epoch`` of ``dataset`` from micro-batch ``state.micro``; updates ``state``."""
    source = SequenceBatches(dataset, crop=crop, flip=flip, device=device, num_workers=num_workers)
    try:
        run_epoch(model, source, optimizer, state, cfg, device=device, on_checkpoint=on_checkpoint, progress=progress)
    finally:
        source.close()


@torch.no_grad()
def evaluate(model: nn.Module, dataset, n_videos: int, num_classes: int, *, crop: int, device: torch.device,
             batch_size: int = 32, amp: bool = True, num_workers: int = 0,
             progress: bool | None = None) -> dict[str, Any]:
    """Video-level evaluation: a video's class distribution is the mean of its sequences'
    softmax outputs (thesis Fig. 4.5). Returns error rate, accuracy, mean class accuracy,
    per-class accuracy, confusion matrix and the sequence-level (clip) accuracy."""
    model.eval()
    # Sums stay on the device (read back once at the end, not once per batch).
    prob_sum = torch.zeros(n_videos, num_classes, dtype=torch.float64, device=device)
    n_seq = torch.zeros(n_videos, dtype=torch.long, device=device)
    label_of = torch.full((n_videos,), -1, dtype=torch.long, device=device)
    clip_correct = torch.zeros((), dtype=torch.long, device=device)
    clips = 0
    rank, world = dist.rank_world()
    batches = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
    batches = batches[rank::world]  # each rank evaluates a share; the sums are reduced below
    for batch in tqdm(load_batches(dataset, batches, num_workers, device.type == "cuda"), total=len(batches),
                      desc="evaluate", leave=False, disable=not progress_enabled(progress) or rank != 0, mininterval=2):
        frames, labels, videos = drop_unreadable(dataset, batch)  # videos unreadable since indexing: skipped
        if not len(labels):
            continue
        labels, videos = labels.to(device), videos.to(device)
        with autocast(device, amp):
            logits = model(to_input(crop_batch(frames.to(device, non_blocking=True), crop, None), device))
        probs = logits.float().softmax(1).double()
        prob_sum.index_add_(0, videos, probs)
        n_seq.index_add_(0, videos, torch.ones_like(videos))
        label_of[videos] = labels
        clip_correct += (probs.argmax(1) == labels).sum()
        clips += len(labels)
    prob_sum, n_seq, label_of = prob_sum.cpu(), n_seq.cpu(), label_of.cpu()
    n_seq[unreadable_videos(dataset)] = 0  # a skipped video is not judged on the sequences read before it failed
    dist.sum_(prob_sum), dist.sum_(n_seq), dist.max_(label_of)
    clip_correct, clips = (int(v) for v in dist.sum_(torch.tensor([int(clip_correct), clips])))
    seen = n_seq > 0
    metrics = video_metrics(prob_sum[seen], label_of[seen], num_classes)
    metrics.update(clip_accuracy=clip_correct / clips if clips else float("nan"), n_sequences=clips)
    return metrics


def fit(model: nn.Module, train_ds, test_ds, cfg: TrainConfig, *, n_test_videos: int, num_classes: int, crop: int,
        flip: bool, device: torch.device, checkpoint: Path | None, config_hash: str, num_workers: int = 0,
        progress: bool | None = None, wall_t0: float | None = None) -> FitResult:
    """Train for ``cfg.epochs`` epochs (resuming from ``checkpoint`` when it exists), then
    evaluate on ``test_ds``. Checkpoints are written at epoch ends and at intervals (by rank 0
    under torchrun); SIGTERM checkpoints and exits 143 (`strn.train.engine.fit_source`)."""
    def source(dev: torch.device) -> SequenceBatches:
        return SequenceBatches(train_ds, crop=crop, flip=flip, device=dev, num_workers=num_workers)

    def test(m: nn.Module, dev: torch.device) -> dict[str, Any]:
        return evaluate(m, test_ds, n_test_videos, num_classes, crop=crop, device=dev,
                        batch_size=max(cfg.batch_size, 32), amp=cfg.amp, num_workers=num_workers, progress=progress)

    return fit_source(model, source, cfg, device=device, evaluate=test, checkpoint=checkpoint,
                      config_hash=config_hash, progress=progress, wall_t0=wall_t0, log_epochs=True,
                      distributed=True)

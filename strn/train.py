"""Training engine: ``train_one_epoch``, ``evaluate`` and ``fit`` (with exact resume).

"Update after p% of the data" (thesis 5.3): each epoch's sequences are shuffled and cut
into optimiser steps of ``ceil(p * N)`` sequences; a step is run as micro-batches whose
gradients accumulate, each micro-batch's summed loss divided by the step's size, so one
step equals the mean loss over its sequences. Micro-batches never straddle a step.

Everything random in training is derived from (seed, epoch, micro-batch index): the
shuffle and the crops. A checkpoint therefore only needs the weights, the optimiser, the
position and, inside an accumulation, the gradients so far, for a resumed run to end
bit-identical to one never interrupted (CPU).
"""
from __future__ import annotations

import math
import os
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed as dist
from .config import TrainConfig
from .data.datasets import drop_unreadable, unreadable_videos
from .data.transforms import normalize
from .progress import log, progress_enabled
from .results import atomic_torch_save


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. Anything else is passed to ``torch.device``."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {spec!r} was asked for but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def make_optimizer(params: Sequence[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam (default), Rprop (batch method: use a large update_every) or SGD with momentum."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adam":
        # On CUDA the fused kernel: one launch per step instead of several per parameter group.
        fused = bool(params) and all(p.is_cuda for p in params)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    if cfg.optimizer == "rprop":
        return torch.optim.Rprop(params, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer {cfg.optimizer!r} is not known; allowed: adam, rprop, sgd")


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


def crop_batch(x: torch.Tensor, crop: int, gen: torch.Generator | None, flip: bool = False) -> torch.Tensor:
    """Crop (B, T, C, H, W) to ``crop``: random per sequence (same window for all its frames)
    when ``gen`` is given, else central. ``flip`` mirrors half of the sequences at random."""
    B, T, C, H, W = x.shape
    if H == crop and W == crop and not flip:
        return x
    if gen is None:
        top, left = (H - crop) // 2, (W - crop) // 2
        return x[..., top:top + crop, left:left + crop]
    tops = torch.randint(0, H - crop + 1, (B,), generator=gen).tolist()
    lefts = torch.randint(0, W - crop + 1, (B,), generator=gen).tolist()
    flips = (torch.rand(B, generator=gen) < 0.5).tolist() if flip else [False] * B
    out = []
    for b in range(B):
        xb = x[b, ..., tops[b]:tops[b] + crop, lefts[b]:lefts[b] + crop]
        out.append(xb.flip(-1) if flips[b] else xb)
    return torch.stack(out)


def to_input(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, T, C, H, W) on the host -> normalised float on ``device`` (normalising there)."""
    return normalize(x, device)


def _autocast(device: torch.device, amp: bool):
    # bf16 on CUDA; on the CPU we stay in fp32 (bit-exact resume, and bf16 on CPU is slow here).
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def _stack(items: Sequence[tuple]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    frames = torch.stack([torch.as_tensor(it[0]) for it in items])  # (B, T, C, H, W) uint8
    labels = torch.tensor([int(it[1]) for it in items])
    videos = torch.tensor([int(it[2]) for it in items])
    return frames, labels, videos


def _loader(dataset, batches: list[list[int]], num_workers: int, pin: bool = False):
    """Batches in the given order; with workers, a DataLoader over that fixed batch list.
    ``pin``: page-locked batches (for a GPU), so that the copy to it runs asynchronously."""
    if num_workers <= 0:
        return (_pinned(_stack([dataset[i] for i in b]), pin) for b in batches)
    return iter(torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=num_workers,
                                            collate_fn=_stack, pin_memory=pin))


def _pinned(batch: tuple[torch.Tensor, ...], pin: bool) -> tuple[torch.Tensor, ...]:
    return tuple(t.pin_memory() for t in batch) if pin else batch


@dataclass
class TrainState:
    """Where training stands; everything in it goes into the checkpoint."""
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


# Set by the SIGTERM handler that ``fit`` installs (cluster preemption): training checkpoints at
# the next micro-batch and exits; the handler itself only sets the flag, so the state stays whole.
_preempted = threading.Event()
PREEMPT_EXIT = 143  # 128 + SIGTERM, what schedulers expect of a process ended by SIGTERM


def _preempt_exit(checkpoint: Path | None) -> None:
    where = f"checkpoint written to {checkpoint}; rerun the same command to resume" if checkpoint is not None \
        else "no checkpoint path was given, so nothing was saved"
    print(f"strn: terminated (SIGTERM): {where}", file=sys.stderr)
    raise SystemExit(PREEMPT_EXIT)


class NonFiniteLossError(FloatingPointError):
    pass


class _Preempted(Exception):
    """Raised inside training after the SIGTERM checkpoint is written; ``fit`` turns it into the exit."""


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


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's contents, or ``CorruptCheckpointError`` naming the file when it cannot be
    read whole (truncated, empty, random bytes, keys missing)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... here
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from e
    missing = [k for k in ("model", "optimizer", "state", "grads", "config_hash", "torch_rng")
               if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable (missing {', '.join(missing)})")
    return ckpt


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config_hash: str) -> TrainState:
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
    return TrainState(**ckpt["state"])


def train_one_epoch(model: nn.Module, dataset, optimizer: torch.optim.Optimizer, state: TrainState, cfg: TrainConfig, *,
                    crop: int, flip: bool, device: torch.device, num_workers: int = 0,
                    on_checkpoint: Callable[[bool], None] | None = None, progress: bool | None = None) -> None:
    """Run the rest of epoch ``state.epoch`` from micro-batch ``state.micro``; updates ``state``."""
    from tqdm.auto import tqdm

    model.train()
    plan = epoch_plan(len(dataset), step_size(len(dataset), cfg.update_every), cfg.batch_size, cfg.seed, state.epoch)
    todo = plan[state.micro:]
    total_steps = cfg.epochs * sum(mb.ends_step for mb in plan)  # every epoch has the same plan length
    # Under torchrun the micro-batches are dealt round-robin to the ranks (strn/distributed.py).
    rank, world = dist.rank_world()
    mine = [(state.micro + i) % world == rank for i in range(len(todo))]
    batches = _loader(dataset, [mb.indices for mb, m in zip(todo, mine) if m], num_workers, device.type == "cuda")
    bar = tqdm(total=len(plan), initial=state.micro, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not progress_enabled(progress) or rank != 0, leave=False, mininterval=2)
    last_ckpt = time.monotonic()
    pending_ckpt = False
    # Loss and hits are summed on the device and read back once per optimiser step (and before
    # a checkpoint): a host sync per micro-batch would stall a GPU while the next batch is made.
    run_loss = torch.zeros((), dtype=torch.float64, device=device)
    run_correct = torch.zeros((), dtype=torch.long, device=device)
    first_unread = state.micro

    def flush() -> None:
        nonlocal first_unread
        loss = run_loss.item()
        if not math.isfinite(loss):
            where = f"micro-batch {first_unread}" if first_unread == state.micro - 1 else \
                f"micro-batches {first_unread}-{state.micro - 1}"
            raise NonFiniteLossError(f"non-finite loss {loss} at epoch {state.epoch + 1}, {where}, optimiser step "
                                     f"{state.steps}; the optimiser did not step on it and the last good checkpoint "
                                     f"is kept. Try a smaller learning rate (train.lr={cfg.lr}).")
        state.loss_sum += loss
        state.correct += int(run_correct.item())
        run_loss.zero_()
        run_correct.zero_()
        first_unread = state.micro
        if state.seen:
            bar.set_postfix(loss=f"{state.loss_sum / state.seen:.3f}", acc=f"{state.correct / state.seen:.2f}")

    t0 = time.perf_counter()
    for mb, is_mine in zip(todo, mine):
        # A video unreadable since indexing is dropped from its batch and recorded (issue #14); a batch
        # left with one sequence of several is not trained on (BatchNorm needs two values per channel).
        batch = drop_unreadable(dataset, next(batches)) if is_mine else None
        if batch is not None and len(batch[1]) >= min(2, len(mb.indices)):
            frames, labels, _ = batch
            # Crops depend on (seed, epoch, micro-batch) only, so a resumed run draws the same ones.
            gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + state.epoch * 10_007 + state.micro) % 2**31)
            # Cropped on the device: the host only stacks whole frames (and copies them asynchronously).
            x = to_input(crop_batch(frames.to(device, non_blocking=True), crop, gen, flip), device)
            labels = labels.to(device, non_blocking=True)
            with _autocast(device, cfg.amp):
                logits = model(x)  # (B, K)
                loss_sum = F.cross_entropy(logits.float(), labels, reduction="sum")
            (loss_sum / mb.step_len).backward()
            run_loss += loss_sum.detach().double()
            run_correct += (logits.detach().argmax(1) == labels).sum()
            state.seen += len(labels)
            state.frames_trained += frames.shape[0] * frames.shape[1]
        state.micro += 1
        if mb.ends_step:
            flush()  # before the step: a non-finite loss never reaches the weights
            dist.sum_gradients(model)
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, state.steps, total_steps)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            dist.broadcast_buffers(model)
            state.steps += 1
        bar.update(1)
        pending_ckpt |= _preempted.is_set() or \
            bool(cfg.checkpoint_every and state.micro % cfg.checkpoint_every == 0) or \
            (time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60)
        # Across ranks the partial gradients of a step differ: checkpoint only between steps there.
        if on_checkpoint is not None and pending_ckpt and state.micro < len(plan) and (world == 1 or mb.ends_step):
            flush()
            state.train_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            on_checkpoint(not mb.ends_step)
            last_ckpt = time.monotonic()
            pending_ckpt = False
            if _preempted.is_set():
                bar.close()
                raise _Preempted()
    flush()
    state.train_seconds += time.perf_counter() - t0
    bar.close()


@torch.no_grad()
def evaluate(model: nn.Module, dataset, n_videos: int, num_classes: int, *, crop: int, device: torch.device,
             batch_size: int = 32, amp: bool = True, num_workers: int = 0,
             progress: bool | None = None) -> dict[str, Any]:
    """Video-level evaluation: a video's class distribution is the mean of its sequences'
    softmax outputs (thesis Fig. 4.5). Returns error rate, accuracy, mean class accuracy,
    per-class accuracy, confusion matrix and the sequence-level (clip) accuracy."""
    from tqdm.auto import tqdm

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
    for batch in tqdm(_loader(dataset, batches, num_workers, device.type == "cuda"), total=len(batches),
                      desc="evaluate", leave=False, disable=not progress_enabled(progress) or rank != 0, mininterval=2):
        frames, labels, videos = drop_unreadable(dataset, batch)  # videos unreadable since indexing: skipped
        if not len(labels):
            continue
        labels, videos = labels.to(device), videos.to(device)
        with _autocast(device, amp):
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


def video_metrics(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Error rate, accuracy, mean class accuracy, per-class accuracy and confusion matrix from
    per-video class probabilities (N, K) and labels (N,). Clip accuracy is the accuracy here
    (one clip per video); `evaluate` replaces it with the sequence-level number."""
    pred = probs.argmax(1).cpu()
    true = labels.cpu()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((true, pred), torch.ones_like(true), accumulate=True)
    per_class = [(confusion[c, c] / confusion[c].sum()).item() if confusion[c].sum() > 0 else None
                 for c in range(num_classes)]
    present = [a for a in per_class if a is not None]
    accuracy = (pred == true).double().mean().item() if len(true) else float("nan")
    return {
        "error_rate": 1.0 - accuracy,
        "accuracy": accuracy,
        "mean_class_accuracy": sum(present) / len(present) if present else float("nan"),
        "per_class_accuracy": per_class,
        "clip_accuracy": accuracy,
        "confusion": confusion.tolist(),
        "n_videos": len(true),
        "n_sequences": len(true),
    }


def place_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device``. On CUDA also channels_last (bf16 convolutions run NHWC on
    the tensor cores) and cuDNN autotuning (input shapes are fixed within a run)."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    return model


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


EPOCH_LOG_COLUMNS = ("epoch", "train_loss", "train_clip_accuracy", "test_error", "test_clip_accuracy", "steps",
                     "train_seconds")


def epoch_log_path(checkpoint: Path) -> Path:
    """The per-epoch CSV beside a checkpoint: a long run can be watched (``tail -f``, pandas)."""
    return checkpoint.with_suffix(".epochs.csv")


def _log_epoch(checkpoint: Path | None, row: dict[str, Any]) -> None:
    if checkpoint is None or not dist.is_main():
        return
    import csv

    path = epoch_log_path(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EPOCH_LOG_COLUMNS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def _epoch_line(checkpoint: Path | None, cfg: TrainConfig, row: dict[str, Any]) -> str:
    name = checkpoint.stem.rsplit("__", 1)[0] if checkpoint is not None else "run"
    test = f", test error {row['test_error']:.3f}" if "test_error" in row else ""
    return (f"{name}: epoch {row['epoch']}/{cfg.epochs}, train loss {row['train_loss']:.3f}, "
            f"train accuracy {row['train_clip_accuracy']:.2f}{test}, {row['train_seconds']:.0f} s")


@dataclass
class FitResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    train_seconds: float
    frames_trained: int
    steps: int
    prior_wall_seconds: float = 0.0  # wall time of the earlier processes of a resumed run


def _set_aside(checkpoint: Path, err: CorruptCheckpointError) -> Path:
    """Move a corrupt checkpoint to ``<name>.corrupt`` (kept for inspection, never read again)."""
    aside = checkpoint.with_name(checkpoint.name + ".corrupt")
    os.replace(checkpoint, aside)
    print(f"strn: {err}; moved aside to {aside}, training restarts from scratch", file=sys.stderr, flush=True)
    return aside


def fit(model: nn.Module, train_ds, test_ds, cfg: TrainConfig, *, n_test_videos: int, num_classes: int, crop: int,
        flip: bool, device: torch.device, checkpoint: Path | None, config_hash: str, num_workers: int = 0,
        progress: bool | None = None, wall_t0: float | None = None) -> FitResult:
    """Train for ``cfg.epochs`` epochs (resuming from ``checkpoint`` when it exists), then
    evaluate on ``test_ds``. Checkpoints are written at epoch ends and at intervals (by rank 0
    under torchrun). ``wall_t0`` (a ``time.perf_counter()`` reading) is when this process's work began:
    the checkpoint carries the wall time of all processes so far, returned as ``prior_wall_seconds``."""
    device = dist.local_device() or device
    place_model(model, device)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    state = TrainState()
    if checkpoint is not None and checkpoint.exists():
        try:
            # read whole before anything is applied: a corrupt file leaves the fresh model untouched
            read_checkpoint(checkpoint)
        except CorruptCheckpointError as e:
            if dist.is_main():
                _set_aside(checkpoint, e)
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint, model, optimizer, config_hash)
    elif checkpoint is not None and dist.is_main():
        epoch_log_path(checkpoint).unlink(missing_ok=True)  # a fresh start: no rows of an older run
    step_model = torch.compile(model) if cfg.compile else model

    prior_wall = state.wall_seconds
    wall_t0 = time.perf_counter() if wall_t0 is None else wall_t0

    def save(partial: bool) -> None:
        if checkpoint is not None and dist.is_main():
            state.wall_seconds = prior_wall + time.perf_counter() - wall_t0
            save_checkpoint(checkpoint, model, optimizer, state, config_hash, partial)

    # SIGTERM (preemption): checkpoint at the next micro-batch, then exit non-zero with one line.
    # Only the main thread may install handlers; elsewhere (a notebook's worker thread) keep the default.
    _preempted.clear()
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, lambda *_: _preempted.set())
    try:
        return _fit_loop(step_model, train_ds, test_ds, cfg, state, optimizer, save, checkpoint=checkpoint,
                         n_test_videos=n_test_videos, num_classes=num_classes, crop=crop, flip=flip, device=device,
                         num_workers=num_workers, progress=progress, prior_wall=prior_wall)
    except _Preempted:
        _preempt_exit(checkpoint)
        raise  # unreachable: _preempt_exit raises SystemExit
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _fit_loop(step_model, train_ds, test_ds, cfg: TrainConfig, state: TrainState, optimizer, save, *,
              checkpoint: Path | None, n_test_videos: int, num_classes: int, crop: int, flip: bool,
              device: torch.device, num_workers: int, progress: bool | None, prior_wall: float) -> FitResult:

    eval_kw = dict(crop=crop, device=device, batch_size=max(cfg.batch_size, 32), amp=cfg.amp,
                   num_workers=num_workers, progress=progress)
    while state.epoch < cfg.epochs:
        train_one_epoch(step_model, train_ds, optimizer, state, cfg, crop=crop, flip=flip, device=device,
                        num_workers=num_workers, on_checkpoint=save, progress=progress)
        loss_sum, correct, seen = dist.sum_(torch.tensor([state.loss_sum, state.correct, state.seen],
                                                          dtype=torch.float64)).tolist()
        row: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(seen, 1),
                               "train_clip_accuracy": correct / max(seen, 1), "steps": state.steps,
                               "train_seconds": state.train_seconds}
        if cfg.eval_each_epoch and state.epoch + 1 < cfg.epochs:
            m = evaluate(step_model, test_ds, n_test_videos, num_classes, **eval_kw)
            row.update(test_error=m["error_rate"], test_clip_accuracy=m["clip_accuracy"])
        state.history.append(row)
        if state.epoch + 1 < cfg.epochs:  # the last epoch's row waits for the final evaluation
            _log_epoch(checkpoint, row)
            if dist.is_main():
                log(_epoch_line(checkpoint, cfg, row), progress)
        state.epoch += 1
        state.micro = state.loss_sum = state.correct = state.seen = 0
        save(False)
        if _preempted.is_set():
            raise _Preempted()
    metrics = evaluate(step_model, test_ds, n_test_videos, num_classes, **eval_kw)
    if state.history:
        state.history[-1].update(test_error=metrics["error_rate"], test_clip_accuracy=metrics["clip_accuracy"])
        _log_epoch(checkpoint, state.history[-1])
        if dist.is_main():
            log(_epoch_line(checkpoint, cfg, state.history[-1]), progress)
    frames = int(dist.sum_(torch.tensor(state.frames_trained)))
    return FitResult(metrics, state.history, state.train_seconds, frames, state.steps, prior_wall)

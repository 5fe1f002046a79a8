"""Training K seeds of one configuration in lockstep as one stacked model (`strn.model.stacked`).

Why: at the demo's sizes an optimiser step is mostly fixed per-kernel overhead, and the
seeds of one configuration differ only in their random draws, so their K models can run as
one grouped model whose every kernel serves all K (benchmarks/bench_stacked_run.py).

What stays per seed, exactly as `strn.engine.run_epoch` does it for one seed: the epoch plan
(`engine.epoch_plan` with the seed's own seed: its own shuffle; the plans of one configuration
have identical micro-batch sizes and step boundaries, checked), the crops (the generator seeded
by (seed, epoch, micro-batch)), the loss (each seed's summed cross-entropy over its step's
sequences; the K losses are added before the backward pass, and since seed k's parameters only
see seed k's loss, its gradient is its own), the running loss/accuracy sums, the history and the
test metrics. The optimiser is one Adam (elementwise: K independent Adams) with the shared
schedule. What is shared: the job's time (`StackedState.train_seconds`) and its checkpoint, one
file holding the stacked weights, optimiser, position, partial gradients and torch RNG, so a job
killed anywhere resumes bit-identically on the CPU (as `strn.checkpoint` for one seed).

Differences to K single runs, all by design: float rounding (grouped kernels sum in another
order, as another thread count does); a non-finite loss of any seed stops the whole job; a
micro-batch with an unreadable video stops it too (the seeds' batches would no longer have one
size); the job runs in one process (no torchrun) and is never compiled.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import resume_state, save_checkpoint
from .config import TrainConfig
from .data.datasets import drop_unreadable, unreadable_videos
from .data.loader import EpochLoader, load_batches
from .data.transforms import crop_batch, to_input
from .engine import (NonFiniteLossError, _log_epoch, _preempt_exit, _Preempted, _preempted, _Solo, autocast, batch_seed,
                     epoch_log_path, epoch_plan, make_optimizer, scheduled_lr, step_size)
from .determinism import place_model
from .metrics import video_metrics
from .model.stacked import stack_inputs
from .progress import log


@dataclass
class StackedState:
    """Where a stacked job stands; everything in it goes into the checkpoint. Lists: one entry per seed."""
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


def lockstep_plans(n: int, cfg: TrainConfig, seeds: list[int], epoch: int):
    """Each seed's `epoch_plan` for this epoch; ValueError unless all have one structure."""
    sps = step_size(n, cfg.update_every)
    plans = [epoch_plan(n, sps, cfg.batch_size, s, epoch) for s in seeds]
    shape = [[(len(mb.indices), mb.step_len, mb.ends_step) for mb in p] for p in plans]
    if any(s != shape[0] for s in shape[1:]):
        raise ValueError(f"epoch plans of seeds {seeds} differ in structure: they cannot train in lockstep")
    return plans


def run_stacked_epoch(model: nn.Module, dataset, loader: EpochLoader, optimizer: torch.optim.Optimizer,
                      state: StackedState, cfg: TrainConfig, *, crop: int, flip: bool, device: torch.device,
                      on_checkpoint: Callable[[bool], None] | None = None) -> None:
    """Run the rest of epoch ``state.epoch`` of all seeds from micro-batch ``state.micro``."""
    model.train()
    k, seeds = len(state.seeds), state.seeds
    plans = lockstep_plans(len(dataset), cfg, seeds, state.epoch)
    total_steps = cfg.epochs * sum(mb.ends_step for mb in plans[0])
    todo = range(state.micro, len(plans[0]))
    batches = loader([plans[s][i].indices for i in todo for s in range(k)])  # micro-batch i of seed 0, 1, ...
    run_loss = torch.zeros(k, dtype=torch.float64, device=device)
    run_correct = torch.zeros(k, dtype=torch.long, device=device)
    last_ckpt, pending = time.monotonic(), False

    def flush() -> None:
        losses = run_loss.tolist()
        bad = [s for s, v in zip(seeds, losses) if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(f"non-finite loss of seed(s) {bad} at epoch {state.epoch + 1}, optimiser step "
                                     f"{state.steps} of a stacked job (strn/stacked_fit.py); the optimiser did not "
                                     f"step on it. Train these seeds one by one, or lower train.lr={cfg.lr}.")
        for s, (v, c) in enumerate(zip(losses, run_correct.tolist())):
            state.loss_sum[s] += v
            state.correct[s] += int(c)
        run_loss.zero_()
        run_correct.zero_()

    t0 = time.perf_counter()
    for i in todo:
        mb = plans[0][i]
        xs, ys = [], []
        for s in range(k):
            frames, labels, _ = drop_unreadable(dataset, next(batches))
            if len(labels) != len(plans[s][i].indices):
                raise RuntimeError(f"a video of micro-batch {i} (seed {seeds[s]}) became unreadable: a stacked job "
                                   f"needs equal batches for all seeds; train these seeds one by one (strn.run.run)")
            gen = torch.Generator().manual_seed(batch_seed(seeds[s], state.epoch, i))
            xs.append(to_input(crop_batch(frames.to(device, non_blocking=True), crop, gen, flip), device))
            ys.append(labels.to(device, non_blocking=True))
            state.frames_trained[s] += frames.shape[0] * frames.shape[1]
            state.seen[s] += len(labels)
        y = torch.stack(ys, 1)  # (B, K)
        with autocast(device, cfg.amp):
            logits = model(stack_inputs(xs)).float().unflatten(1, (k, -1))  # (B, K, C)
            loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(0)  # (K,): each seed's sum
        (loss.sum() / mb.step_len).backward()
        run_loss += loss.detach().double()
        run_correct += (logits.detach().argmax(2) == y).sum(0)
        state.micro += 1
        if mb.ends_step:
            flush()
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, state.steps, total_steps)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state.steps += 1
        pending |= _preempted.is_set() or bool(cfg.checkpoint_every and state.micro % cfg.checkpoint_every == 0) \
            or (time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60)
        if on_checkpoint is not None and pending and state.micro < len(plans[0]):
            flush()
            state.train_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            on_checkpoint(not mb.ends_step)
            last_ckpt, pending = time.monotonic(), False
            if _preempted.is_set():
                raise _Preempted()
    flush()
    state.train_seconds += time.perf_counter() - t0


@torch.no_grad()
def evaluate_stacked(model: nn.Module, dataset, k: int, n_videos: int, num_classes: int, *, crop: int,
                     device: torch.device, batch_size: int = 32, amp: bool = True,
                     num_workers: int = 0) -> list[dict[str, Any]]:
    """`strn.train.evaluate` for K stacked models in one pass over the test set (the same
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
    """Where seed ``seed``'s per-epoch CSV goes (`strn.engine.epoch_log_path` of this name):
    ``<job checkpoint stem>.seed<k>.epochs.csv``, beside the job's checkpoint."""
    return checkpoint.with_name(f"{checkpoint.stem}.seed{seed}.pt")


def fit_stacked(model: nn.Module, train_ds, test_ds, cfg: TrainConfig, seeds: list[int], *, n_test_videos: int,
                num_classes: int, crop: int, flip: bool, device: torch.device, checkpoint: Path | None,
                job_hash: str, num_workers: int = 0, progress: bool | None = None,
                wall_t0: float | None = None) -> tuple[list[dict[str, Any]], StackedState, float]:
    """Train the stacked ``model`` (K = len(seeds)) for ``cfg.epochs`` epochs, resuming from
    ``checkpoint`` when it exists, evaluating each epoch as `strn.engine.fit_source` does.
    Returns (each seed's final test metrics, the final state, prior processes' wall seconds).
    SIGTERM checkpoints and exits 143, as a single run."""
    place_model(model, device)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    state = resume_state(checkpoint, model, optimizer, job_hash, StackedState)
    if state is None:
        state = StackedState(list(seeds))
        for s in seeds if checkpoint is not None else []:  # a fresh start: no rows of an older job
            epoch_log_path(seed_log_checkpoint(checkpoint, s)).unlink(missing_ok=True)
    prior_wall = state.wall_seconds
    wall_t0 = time.perf_counter() if wall_t0 is None else wall_t0
    k = len(seeds)
    loader = EpochLoader(train_ds, num_workers, pin=device.type == "cuda")

    def save(partial: bool) -> None:
        if checkpoint is not None:
            state.wall_seconds = prior_wall + time.perf_counter() - wall_t0
            save_checkpoint(checkpoint, model, optimizer, state, job_hash, partial)

    def log_rows() -> None:
        if checkpoint is not None:
            for s, h in zip(seeds, state.histories):
                _log_epoch(seed_log_checkpoint(checkpoint, s), h[-1], _Solo)

    def test() -> list[dict[str, Any]]:
        return evaluate_stacked(model, test_ds, k, n_test_videos, num_classes, crop=crop, device=device,
                                batch_size=max(cfg.batch_size, 32), amp=cfg.amp, num_workers=num_workers)

    _preempted.clear()
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, lambda *_: _preempted.set())
    try:
        while state.epoch < cfg.epochs:
            run_stacked_epoch(model, train_ds, loader, optimizer, state, cfg, crop=crop, flip=flip, device=device,
                              on_checkpoint=save)
            tests = test() if cfg.eval_each_epoch and state.epoch + 1 < cfg.epochs else [{}] * k
            for s in range(k):
                seen = max(state.seen[s], 1)
                row: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": state.loss_sum[s] / seen,
                                       "train_clip_accuracy": state.correct[s] / seen, "steps": state.steps,
                                       "train_seconds": state.train_seconds / k}  # the job's, split equally
                if tests[s]:
                    row.update(test_error=tests[s]["error_rate"], test_clip_accuracy=tests[s]["clip_accuracy"])
                state.histories[s].append(row)
            if state.epoch + 1 < cfg.epochs:  # the last epoch's rows wait for the final evaluation
                log_rows()
            log(f"stacked seeds {seeds}: epoch {state.epoch + 1}/{cfg.epochs}, train loss "
                + ", ".join(f"{h[-1]['train_loss']:.3f}" for h in state.histories), progress)
            state.epoch += 1
            state.micro, state.loss_sum, state.correct, state.seen = 0, [0.0] * k, [0] * k, [0] * k
            save(False)
            if _preempted.is_set():
                raise _Preempted()
        metrics = test()
        for s in range(k):
            if state.histories[s]:
                state.histories[s][-1].update(test_error=metrics[s]["error_rate"],
                                              test_clip_accuracy=metrics[s]["clip_accuracy"])
        if state.histories[0]:
            log_rows()
    except _Preempted:
        _preempt_exit(checkpoint)
        raise
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        loader.close()
    if _preempted.is_set():  # during the final evaluation: as `strn.engine.fit_source`
        _preempt_exit(checkpoint)
    return metrics, state, prior_wall

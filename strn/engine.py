"""The training engine: one loop for every training of the study, with exact resume.

Used by the STRN runs (`strn.train.fit`: sequences, checkpoints, SIGTERM), the frame
finetuning and the feature classifiers of Tables 5.1/5.2 (`strn.baseline_training`) and the
still-image pretraining (`strn.pretrain`). What differs between them is a `BatchSource`:
how the examples of a micro-batch are loaded and turned into logits; the engine owns the
plan (shuffle, steps, micro-batches), the optimiser and its schedule, the loss, the
non-finite check, torchrun's gradient sums, checkpoints and preemption.

"Update after p% of the data" (thesis 5.3): each epoch's examples are shuffled and cut
into optimiser steps of ``ceil(p * N)`` examples; a step is run as micro-batches whose
gradients accumulate, each micro-batch's summed loss divided by the step's size, so one
step equals the mean loss over its examples. Micro-batches never straddle a step.

Everything random in training is derived from (seed, epoch, micro-batch index): the
shuffle and the crops. A checkpoint therefore only needs the weights, the optimiser, the
position and, inside an accumulation, the gradients so far, for a resumed run to end
bit-identical to one never interrupted (CPU).
"""
from __future__ import annotations

import csv
import math
import resource
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from .determinism import place_model
from .checkpoint import TrainState, resume_state, save_checkpoint
from .config import TrainConfig
from .preempt import PREEMPT_EXIT, Preempted, preempt_exit, preempted
from .progress import log, progress_enabled


class _Solo:
    """Collectives of a training that runs in this process alone (the pretraining and the frame
    baselines, also inside a torchrun job, where the other ranks wait): no-ops."""
    rank_world = staticmethod(lambda: (0, 1))
    is_main = staticmethod(lambda: True)
    local_device = staticmethod(lambda: None)
    sum_gradients = broadcast_buffers = staticmethod(lambda model: None)
    sum_ = staticmethod(lambda t: t)


class BatchSource(Protocol):
    """What the engine trains on: ``n`` examples, loaded by index lists, turned into logits; its
    ``close()``, if any (loader workers), is called when training ends, errors included."""
    n: int

    def load(self, batches: list[list[int]]) -> Iterator[Any]:
        """The batches of these index lists, in this order."""

    def forward(self, model: nn.Module, batch: Any,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int] | None:
        """(logits (B, K), labels (B,) on the model's device, frames seen) of one batch; ``gen``
        draws its random augmentation (seeded per micro-batch by the engine). None: nothing
        in this batch to train on (its examples became unreadable); the engine skips it."""


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
    if cfg.optimizer == "rprop":  # Rprop reads lr once (its initial step sizes): a schedule would not run
        if cfg.lr_schedule != "constant":
            raise ValueError(f"train.lr_schedule={cfg.lr_schedule!r} has no effect on Rprop; set train.lr_schedule=constant")
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


def batch_seed(seed: int, epoch: int, micro: int) -> int:
    """Seed of the crops of micro-batch ``micro`` of ``epoch``: a resumed run draws the same ones."""
    return (seed * 1_000_003 + epoch * 10_007 + micro) % 2**31


def autocast(device: torch.device, amp: bool):
    # bf16 on CUDA; on the CPU we stay in fp32 (bit-exact resume, and bf16 on CPU is slow here).
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


# SIGTERM handling: strn/preempt.py (the flag, the exit; the names kept here for their importers).
_preempted, _preempt_exit, _Preempted = preempted, preempt_exit, Preempted


class NonFiniteLossError(FloatingPointError):
    pass


def run_epoch(model: nn.Module, source: BatchSource, optimizer: torch.optim.Optimizer, state: TrainState,
              cfg: TrainConfig, *, device: torch.device, on_checkpoint: Callable[[bool], None] | None = None,
              progress: bool | None = None, seqs_per_step: int | None = None, comm=dist) -> None:
    """Run the rest of epoch ``state.epoch`` from micro-batch ``state.micro``; updates ``state``.
    ``seqs_per_step``: examples per optimiser step (default: ``train.update_every`` of the data);
    ``comm``: `strn.distributed` (micro-batches dealt to torchrun's ranks) or `_Solo`."""
    model.train()
    n = source.n
    plan = epoch_plan(n, seqs_per_step or step_size(n, cfg.update_every), cfg.batch_size, cfg.seed, state.epoch)
    todo = plan[state.micro:]
    total_steps = cfg.epochs * sum(mb.ends_step for mb in plan)  # every epoch has the same plan length
    # Under torchrun the micro-batches are dealt round-robin to the ranks (strn/distributed.py).
    rank, world = comm.rank_world()
    mine = [(state.micro + i) % world == rank for i in range(len(todo))]
    batches = source.load([mb.indices for mb, m in zip(todo, mine) if m])
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
        if is_mine:
            batch = next(batches)
            # Crops depend on (seed, epoch, micro-batch) only, so a resumed run draws the same ones.
            gen = torch.Generator().manual_seed(batch_seed(cfg.seed, state.epoch, state.micro))
            with autocast(device, cfg.amp):
                out = source.forward(model, batch, gen)  # None: nothing left to train on in this batch
                if out is not None:
                    logits, labels, n_frames = out  # (B, K), (B,) on the device
                    loss_sum = F.cross_entropy(logits.float(), labels, reduction="sum")
            if out is not None:
                (loss_sum / mb.step_len).backward()
                run_loss += loss_sum.detach().double()
                run_correct += (logits.detach().argmax(1) == labels).sum()
                state.seen += len(labels)
                state.frames_trained += n_frames
        state.micro += 1
        if mb.ends_step:
            flush()  # before the step: a non-finite loss never reaches the weights
            comm.sum_gradients(model)
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(cfg, state.steps, total_steps)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            comm.broadcast_buffers(model)
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


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


EPOCH_LOG_COLUMNS = ("epoch", "train_loss", "train_clip_accuracy", "test_error", "test_clip_accuracy", "steps",
                     "train_seconds")


def epoch_log_path(checkpoint: Path) -> Path:
    """The per-epoch CSV beside a checkpoint: a long run can be watched (``tail -f``, pandas)."""
    return checkpoint.with_suffix(".epochs.csv")


def _log_epoch(checkpoint: Path | None, row: dict[str, Any], comm=dist) -> None:
    if checkpoint is None or not comm.is_main():
        return
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


def fit_source(model: nn.Module, make_source: Callable[[torch.device], BatchSource], cfg: TrainConfig, *,
               device: torch.device, evaluate: Callable[[nn.Module, torch.device], dict[str, Any]] | None = None,
               checkpoint: Path | None = None, config_hash: str = "", progress: bool | None = None,
               wall_t0: float | None = None, seqs_per_step: int | None = None,
               log_epochs: bool = False, distributed: bool = False) -> FitResult:
    """Train for ``cfg.epochs`` epochs (resuming from ``checkpoint`` when it exists); after each
    epoch (``cfg.eval_each_epoch``) and at the end, ``evaluate(model, device)`` gives the test
    metrics (``error_rate``, ``clip_accuracy``, ...). Checkpoints are written at epoch ends and at
    intervals (by rank 0 under torchrun). ``make_source(device)``: the training batches, on the
    device the run ends up on. ``wall_t0`` (a ``time.perf_counter()`` reading) is when this
    process's work began: the checkpoint carries the wall time of all processes so far, returned
    as ``prior_wall_seconds``. ``log_epochs``: one line per epoch (`strn.progress.log`) and the
    CSV beside the checkpoint. ``distributed``: under torchrun, share the work between the ranks
    (STRN runs); otherwise this process trains alone."""
    comm = dist if distributed else _Solo
    device = comm.local_device() or device
    place_model(model, device)
    source = make_source(device)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    state = resume_state(checkpoint, model, optimizer, config_hash, set_aside_corrupt=comm.is_main())
    if state is None:
        state = TrainState()
        if checkpoint is not None and comm.is_main():
            epoch_log_path(checkpoint).unlink(missing_ok=True)  # a fresh start: no rows of an older run
    step_model = torch.compile(model) if cfg.compile else model

    prior_wall = state.wall_seconds
    wall_t0 = time.perf_counter() if wall_t0 is None else wall_t0

    def save(partial: bool) -> None:
        if checkpoint is not None and comm.is_main():
            state.wall_seconds = prior_wall + time.perf_counter() - wall_t0
            save_checkpoint(checkpoint, model, optimizer, state, config_hash, partial)

    # SIGTERM (preemption): checkpoint at the next micro-batch, then exit non-zero with one line.
    # Only the main thread may install handlers; elsewhere (a notebook's worker thread) keep the default.
    _preempted.clear()
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, lambda *_: _preempted.set())
    try:
        out = _fit_loop(step_model, source, cfg, state, optimizer, save, evaluate=evaluate, checkpoint=checkpoint,
                        device=device, progress=progress, prior_wall=prior_wall, seqs_per_step=seqs_per_step,
                        log_epochs=log_epochs, comm=comm)
    except _Preempted:
        _preempt_exit(checkpoint)
        raise  # unreachable: _preempt_exit raises SystemExit
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        getattr(source, "close", lambda: None)()  # workers kept across epochs (strn.data.loader.EpochLoader)
    # Checked after the handler is put back (a later SIGTERM goes to it): one during the final
    # evaluation ends the process too; the finished checkpoint is on disk and the rerun evaluates it.
    if _preempted.is_set():
        _preempt_exit(checkpoint)
    return out


def _fit_loop(step_model, source: BatchSource, cfg: TrainConfig, state: TrainState, optimizer, save, *,
              evaluate, checkpoint: Path | None, device: torch.device, progress: bool | None, prior_wall: float,
              seqs_per_step: int | None, log_epochs: bool, comm) -> FitResult:
    while state.epoch < cfg.epochs:
        run_epoch(step_model, source, optimizer, state, cfg, device=device, on_checkpoint=save, progress=progress,
                  seqs_per_step=seqs_per_step, comm=comm)
        loss_sum, correct, seen = comm.sum_(torch.tensor([state.loss_sum, state.correct, state.seen],
                                                          dtype=torch.float64)).tolist()
        row: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(seen, 1),
                               "train_clip_accuracy": correct / max(seen, 1), "steps": state.steps,
                               "train_seconds": state.train_seconds}
        if evaluate is not None and cfg.eval_each_epoch and state.epoch + 1 < cfg.epochs:
            m = evaluate(step_model, device)
            row.update(test_error=m["error_rate"], test_clip_accuracy=m["clip_accuracy"])
        state.history.append(row)
        if log_epochs and state.epoch + 1 < cfg.epochs:  # the last epoch's row waits for the final evaluation
            _log_epoch(checkpoint, row, comm)
            if comm.is_main():
                log(_epoch_line(checkpoint, cfg, row), progress)
        state.epoch += 1
        state.micro = state.loss_sum = state.correct = state.seen = 0
        save(False)
        if _preempted.is_set():
            raise _Preempted()
    metrics = evaluate(step_model, device) if evaluate is not None else {}
    if state.history and metrics:
        state.history[-1].update(test_error=metrics["error_rate"], test_clip_accuracy=metrics["clip_accuracy"])
    if state.history and log_epochs:
        _log_epoch(checkpoint, state.history[-1], comm)
        if comm.is_main():
            log(_epoch_line(checkpoint, cfg, state.history[-1]), progress)
    frames = int(comm.sum_(torch.tensor(state.frames_trained)))
    return FitResult(metrics, state.history, state.train_seconds, frames, state.steps, prior_wall)

"""The training engine: one loop for every training of the study, with exact resume.

Used by the STRN runs (`strn.train.fit.fit`: sequences, checkpoints, SIGTERM), the frame
finetuning and the feature classifiers of Tables 5.1/5.2 (`strn.train.baseline_training`) and the
still-image pretraining (`strn.train.pretrain`). What differs between them is a `BatchSource`:
how the examples of a micro-batch are loaded and turned into logits; the engine owns the
plan (shuffle, steps, micro-batches), the optimiser and its schedule, the loss, the
non-finite check, torchrun's gradient sums, checkpoints and preemption.

"Update after p% of the data" (thesis 5.3): each epoch's plan (`strn.train.plan`) cuts the
shuffled examples into optimiser steps and a step into micro-batches whose gradients
accumulate, each micro-batch's summed loss divided by the step's size, so one step equals
the mean loss over its examples. The seeds of one configuration can train as one stacked
model (`strn.train.stacked_fit`): the same loop, each seed one lane of it.

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
from .checkpoint import StackedState, TrainState, resume_state, save_checkpoint
from ..config import TrainConfig
from .plan import MicroBatch, batch_seed, epoch_plan, scheduled_lr, step_size
from .preempt import Preempted, preempt_exit, preempted
from ..progress import log, progress_enabled


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
    ``close()``, if any (loader workers), is called when training ends, errors included.

    A source of K models stacked into one (`strn.train.stacked_fit.StackedBatches`) also has ``seeds``,
    one per model: the engine then plans, crops and counts each seed as it would alone (one
    *lane* per seed), loads the K seeds' micro-batches of one position one after another and
    hands ``forward`` the K batches and K generators; it returns logits (B, K, C), labels (B, K)
    and each seed's frames."""
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


def lockstep_plans(n: int, seqs_per_step: int, batch_size: int, seeds: Sequence[int],
                   epoch: int) -> list[list[MicroBatch]]:
    """Each seed's `epoch_plan` of this epoch (its own shuffle); ValueError unless all have one
    structure (micro-batch sizes, step boundaries), as the seeds of a stacked job must."""
    plans = [epoch_plan(n, seqs_per_step, batch_size, s, epoch) for s in seeds]
    shape = [[(len(mb.indices), mb.step_len, mb.ends_step) for mb in p] for p in plans]
    if any(sh != shape[0] for sh in shape[1:]):
        raise ValueError(f"epoch plans of seeds {list(seeds)} differ in structure: they cannot train in lockstep")
    return plans


def autocast(device: torch.device, amp: bool):
    # bf16 on CUDA; on the CPU we stay in fp32 (bit-exact resume, and bf16 on CPU is slow here).
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


class NonFiniteLossError(FloatingPointError):
    pass


def lane_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(each lane's summed cross-entropy, their total: what is differentiated). One model:
    logits (B, C), one lane. K stacked models: logits (B, K, C), labels (B, K), each seed's own
    sum; seed k's parameters only see seed k's loss, so its gradient is its own."""
    if logits.dim() == 3:
        per = F.cross_entropy(logits.float().transpose(1, 2), labels, reduction="none").sum(0)  # (K,)
        return per, per.sum()
    total = F.cross_entropy(logits.float(), labels, reduction="sum")
    return total, total


def run_epoch(model: nn.Module, source: BatchSource, optimizer: torch.optim.Optimizer, state: TrainState,
              cfg: TrainConfig, *, device: torch.device, on_checkpoint: Callable[[bool], None] | None = None,
              progress: bool | None = None, seqs_per_step: int | None = None, comm=dist) -> None:
    """Run the rest of epoch ``state.epoch`` from micro-batch ``state.micro``; updates ``state``
    (a `StackedState` for a source with ``seeds``). ``seqs_per_step``: examples per optimiser
    step (default: ``train.update_every`` of the data); ``comm``: `strn.train.distributed`
    (micro-batches dealt to torchrun's ranks) or `_Solo`."""
    model.train()
    n = source.n
    stacked = getattr(source, "seeds", None)
    lanes = list(stacked or [cfg.seed])
    plans = lockstep_plans(n, seqs_per_step or step_size(n, cfg.update_every), cfg.batch_size, lanes, state.epoch)
    plan = plans[0]  # the lanes' plans share their structure: sizes, step ends
    todo = range(state.micro, len(plan))
    total_steps = cfg.epochs * sum(mb.ends_step for mb in plan)  # every epoch has the same plan length
    # Under torchrun the micro-batches are dealt round-robin to the ranks (strn/train/distributed.py).
    rank, world = comm.rank_world()
    mine = [(state.micro + i) % world == rank for i in range(len(todo))]
    batches = source.load([p[i].indices for i, m in zip(todo, mine) if m for p in plans])
    bar = tqdm(total=len(plan), initial=state.micro, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not progress_enabled(progress) or rank != 0, leave=False, mininterval=2)
    last_ckpt = time.monotonic()
    pending_ckpt = False
    # Loss and hits are summed on the device and read back once per optimiser step (and before
    # a checkpoint): a host sync per micro-batch would stall a GPU while the next batch is made.
    run_loss = torch.zeros(len(lanes), dtype=torch.float64, device=device)
    run_correct = torch.zeros(len(lanes), dtype=torch.long, device=device)
    first_unread = state.micro

    def flush() -> None:
        nonlocal first_unread
        losses = run_loss.tolist()
        bad = [s for s, v in zip(lanes, losses) if not math.isfinite(v)]
        if bad:
            where = f"micro-batch {first_unread}" if first_unread == state.micro - 1 else \
                f"micro-batches {first_unread}-{state.micro - 1}"
            what = f"of seed(s) {bad} of a stacked job" if stacked else losses[0]
            raise NonFiniteLossError(f"non-finite loss {what} at epoch {state.epoch + 1}, {where}, optimiser step "
                                     f"{state.steps}; the optimiser did not step on it and the last good checkpoint "
                                     f"is kept. Try a smaller learning rate (train.lr={cfg.lr})"
                                     + ("" if not stacked else ", or train these seeds one by one") + ".")
        state.add_sums(losses, run_correct.tolist())
        run_loss.zero_()
        run_correct.zero_()
        first_unread = state.micro
        loss_sum, correct, seen = (sum(v) for v in state.lane_sums())
        if seen:
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.2f}")

    t0 = time.perf_counter()
    for i, is_mine in zip(todo, mine):
        mb = plan[i]
        if is_mine:
            batch = [next(batches) for _ in lanes]
            # Crops depend on (seed, epoch, micro-batch) only, so a resumed run draws the same ones.
            gens = [torch.Generator().manual_seed(batch_seed(s, state.epoch, state.micro)) for s in lanes]
            with autocast(device, cfg.amp):
                # None: nothing left to train on in this batch
                out = source.forward(model, batch, gens) if stacked else source.forward(model, batch[0], gens[0])
                if out is not None:
                    logits, labels, n_frames = out  # (B, [K,] C), (B, [K]) on the device
                    per_lane, loss_sum = lane_losses(logits, labels)
            if out is not None:
                (loss_sum / mb.step_len).backward()
                run_loss += per_lane.detach().double()
                run_correct += (logits.detach().argmax(-1) == labels).sum(0)
                state.count(len(labels), n_frames if stacked else [n_frames])
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
        pending_ckpt |= preempted.is_set() or \
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
            if preempted.is_set():
                bar.close()
                raise Preempted()
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


def _log_epoch(path: Path | None, row: dict[str, Any], comm=dist) -> None:
    if path is None or not comm.is_main():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=EPOCH_LOG_COLUMNS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def _epoch_line(name: str, cfg: TrainConfig, row: dict[str, Any]) -> str:
    test = f", test error {row['test_error']:.3f}" if "test_error" in row else ""
    return (f"{name}: epoch {row['epoch']}/{cfg.epochs}, train loss {row['train_loss']:.3f}, "
            f"train accuracy {row['train_clip_accuracy']:.2f}{test}, {row['train_seconds']:.0f} s")


@dataclass
class FitResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    train_seconds: float  # of a stacked job: the job's, all seeds together
    frames_trained: int
    steps: int
    prior_wall_seconds: float = 0.0  # wall time of the earlier processes of a resumed run


def fit_source(model: nn.Module, make_source: Callable[[torch.device], BatchSource], cfg: TrainConfig, *,
               device: torch.device, evaluate: Callable[[nn.Module, torch.device], Any] | None = None,
               checkpoint: Path | None = None, config_hash: str = "", progress: bool | None = None,
               wall_t0: float | None = None, seqs_per_step: int | None = None, log_epochs: bool = False,
               epoch_logs: Sequence[Path] | None = None, distributed: bool = False) -> Any:
    """Train for ``cfg.epochs`` epochs (resuming from ``checkpoint`` when it exists); after each
    epoch (``cfg.eval_each_epoch``) and at the end, ``evaluate(model, device)`` gives the test
    metrics (``error_rate``, ``clip_accuracy``, ...). Checkpoints are written at epoch ends and at
    intervals (by rank 0 under torchrun). ``make_source(device)``: the training batches, on the
    device the run ends up on. ``wall_t0`` (a ``time.perf_counter()`` reading) is when this
    process's work began: the checkpoint carries the wall time of all processes so far, returned
    as ``prior_wall_seconds``. ``log_epochs``: one line per epoch (`strn.progress.log`) and the
    CSV beside the checkpoint (``epoch_logs``: each lane's CSV instead). ``distributed``: under
    torchrun, share the work between the ranks (STRN runs); otherwise this process trains alone.

    A source with ``seeds`` (K models stacked into ``model``) trains them in lockstep: one
    `StackedState` in the checkpoint (``config_hash``: the job's), ``evaluate`` returns one
    metrics dict per seed, and the result is one `FitResult` per seed."""
    comm = dist if distributed else _Solo
    device = comm.local_device() or device
    place_model(model, device)
    source = make_source(device)
    seeds = getattr(source, "seeds", None)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    state = resume_state(checkpoint, model, optimizer, config_hash, StackedState if seeds else TrainState,
                         set_aside_corrupt=comm.is_main())
    lanes = len(seeds) if seeds else 1
    logs = list(epoch_logs or [epoch_log_path(checkpoint) if checkpoint is not None and not seeds else None] * lanes)
    if state is None:
        state = StackedState(list(seeds)) if seeds else TrainState()
        for path in logs if comm.is_main() else []:
            if path is not None:
                path.unlink(missing_ok=True)  # a fresh start: no rows of an older run
    step_model = torch.compile(model) if cfg.compile else model

    prior_wall = state.wall_seconds
    wall_t0 = time.perf_counter() if wall_t0 is None else wall_t0

    def save(partial: bool) -> None:
        if checkpoint is not None and comm.is_main():
            state.wall_seconds = prior_wall + time.perf_counter() - wall_t0
            save_checkpoint(checkpoint, model, optimizer, state, config_hash, partial)

    # SIGTERM (preemption): checkpoint at the next micro-batch, then exit non-zero with one line.
    # Only the main thread may install handlers; elsewhere (a notebook's worker thread) keep the default.
    preempted.clear()
    old_term = None
    # Process-wide and without a getter: set for this run, back to torch's default (off) after it.
    torch.set_flush_denormal(cfg.flush_denormal)
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, lambda *_: preempted.set())
    try:
        name = checkpoint.stem.rsplit("__", 1)[0] if checkpoint is not None else "run"
        out = _fit_loop(step_model, source, cfg, state, optimizer, save, evaluate=evaluate, device=device,
                        progress=progress, prior_wall=prior_wall, seqs_per_step=seqs_per_step, comm=comm,
                        logs=logs if log_epochs else [], names=[f"{name} seed {s}" for s in seeds or []] or [name])
    except Preempted:
        preempt_exit(checkpoint)
        raise  # unreachable: preempt_exit raises SystemExit
    finally:
        torch.set_flush_denormal(False)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        getattr(source, "close", lambda: None)()  # workers kept across epochs (strn.data.loader.EpochLoader)
    # Checked after the handler is put back (a later SIGTERM goes to it): one during the final
    # evaluation ends the process too; the finished checkpoint is on disk and the rerun evaluates it.
    if preempted.is_set():
        preempt_exit(checkpoint)
    return out if seeds else out[0]


def _fit_loop(step_model, source: BatchSource, cfg: TrainConfig, state, optimizer, save, *, evaluate,
              device: torch.device, progress: bool | None, prior_wall: float, seqs_per_step: int | None, comm,
              logs: list[Path], names: list[str]) -> list[FitResult]:
    k = len(names)  # lanes: 1, or the stacked seeds

    def test() -> list[dict[str, Any]]:
        m = evaluate(step_model, device)
        return m if isinstance(m, list) else [m]

    def log_rows() -> None:  # each lane's latest row: its CSV (when asked for) and its line
        for path, name, h in zip(logs, names, state.lane_histories()):
            _log_epoch(path, h[-1], comm)
            if comm.is_main():
                log(_epoch_line(name, cfg, h[-1]), progress)

    while state.epoch < cfg.epochs:
        run_epoch(step_model, source, optimizer, state, cfg, device=device, on_checkpoint=save, progress=progress,
                  seqs_per_step=seqs_per_step, comm=comm)
        loss_sum, correct, seen = state.lane_sums()
        sums = comm.sum_(torch.tensor([*loss_sum, *correct, *seen], dtype=torch.float64)).tolist()
        rows: list[dict[str, Any]] = [
            {"epoch": state.epoch + 1, "train_loss": sums[s] / max(sums[2 * k + s], 1),
             "train_clip_accuracy": sums[k + s] / max(sums[2 * k + s], 1), "steps": state.steps,
             "train_seconds": state.train_seconds / k}  # a stacked job's time, split equally
            for s in range(k)]
        if evaluate is not None and cfg.eval_each_epoch and state.epoch + 1 < cfg.epochs:
            for row, m in zip(rows, test()):
                row.update(test_error=m["error_rate"], test_clip_accuracy=m["clip_accuracy"])
        for h, row in zip(state.lane_histories(), rows):
            h.append(row)
        if state.epoch + 1 < cfg.epochs:  # the last epoch's rows wait for the final evaluation
            log_rows()
        state.next_epoch()
        save(False)
        if preempted.is_set():
            raise Preempted()
    metrics = test() if evaluate is not None else [{}] * k
    for h, m in zip(state.lane_histories(), metrics):
        if h and m:
            h[-1].update(test_error=m["error_rate"], test_clip_accuracy=m["clip_accuracy"])
    if state.lane_histories()[0]:
        log_rows()
    frames = [int(comm.sum_(torch.tensor(f))) for f in state.lane_frames()]
    return [FitResult(m, h, state.train_seconds, f, state.steps, prior_wall)
            for m, h, f in zip(metrics, state.lane_histories(), frames)]

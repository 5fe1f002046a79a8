"""`run_stacked(cfgs)`: the seeds of one configuration trained as one stacked job, one results
JSON per seed, each exactly as `strn.train.run.run` writes it.

Why: `strn report` trains each demo configuration with 3 seeds; stacked, their K models share
every kernel launch (strn/model/stacked.py; strn/train/stacked_fit.py: the engine's one loop, a lane
per seed). The numbers mean what a single-seed run's mean: each seed keeps its own
initialisation (``torch.manual_seed(seed)`` before its model is built, as `run`), shuffle,
crops, losses, optimiser state, history and test metrics; they differ from `run(cfg)`'s by float
rounding only, as under another thread count (which the configuration hash ignores as well).

Records: the keys of `run`'s; ``cost`` records the job (``stacked_seeds``, ``stacked_wall_s``,
``stacked_train_s``) and gives each seed an equal share of the job's wall and training seconds
as ``wall_s`` / ``train_s`` (``cost_split`` says so): the K seeds ran as one model, and no
per-seed time exists to measure. ``optimizer_steps`` are each seed's own (all take every
step); ``peak_memory_mb`` is the job's process.

One checkpoint for the job (`stacked_checkpoint_path`), resumed as a single run's; when the job
ends, each seed gets the final checkpoint a single run leaves (`strn.train.run.checkpoint_path`: its
weights, its slice of the optimiser, a finished TrainState), for `strn.study.inference`, and the
job's checkpoint is removed.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable

import torch

from . import distributed as dist
from .. import results as res
from ..config import RunConfig, config_hash
from .engine import FitResult, peak_memory_mb, resolve_device
from .checkpoint import TrainState, read_checkpoint
from ..model.stacked import stack_models, unstack_optimizer_states, unstack_state_dicts
from ..results import atomic_torch_save
from ..paths import default_results_dir
from .record import train_cost
from .provenance import find_reusable, provenance
from ..data.prepare import prepare
from .run import build, checkpoint_path, resolve_weights, run, trained_record
from ..data.skips import check_skipped
from .stacked_fit import fit_stacked
from ..storage import checkpoint_bytes, probe_writable

STACKABLE_KINDS = ("strn", "frame_avg")
COST_SPLIT = "equal: the stacked job's wall and training seconds divided by its number of seeds"


def check_stackable(cfgs: list[RunConfig]) -> None:
    """ValueError unless ``cfgs`` are seeds of one configuration that a stacked job can train."""
    if not cfgs:
        raise ValueError("run_stacked: no configuration given")
    seeds = [c.train.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"run_stacked: seeds {seeds} repeat; each seed is trained once")

    def but_seed(c: RunConfig) -> dict[str, Any]:
        d = c.to_dict()
        d["train"] = dict(d["train"], seed=None)
        return d

    if any(but_seed(c) != but_seed(cfgs[0]) for c in cfgs[1:]):
        raise ValueError("run_stacked: the configurations differ in more than the seed; only the seeds of one "
                         "configuration train in lockstep")
    c = cfgs[0]
    if c.model.kind not in STACKABLE_KINDS:
        raise ValueError(f"run_stacked: model kind {c.model.kind!r} does not stack (only {STACKABLE_KINDS})")
    if c.data.val_fraction > 0 and c.data.eval_subset != "val":  # evaluated on "val": one fixed draw for all
        raise ValueError("run_stacked: with data.val_fraction > 0 each seed holds out other videos; train the "
                         "seeds one by one (strn.train.run.run)")
    if c.train.compile:
        raise ValueError("run_stacked: train.compile is not supported for a stacked job")
    if dist.rank_world()[1] > 1:
        raise ValueError("run_stacked: a stacked job trains in one process; under torchrun train the seeds one by "
                         "one (strn.train.run.run)")


def stacked_checkpoint_path(results_dir: str | Path, cfgs: list[RunConfig]) -> Path:
    """The job's checkpoint beside the single runs': ``<name>__stacked-s0-1-2__<hash>.pt``."""
    stem = checkpoint_path(results_dir, cfgs[0]).stem.rsplit("__", 1)[0].rsplit("__seed", 1)[0]
    seeds = "-".join(str(c.train.seed) for c in cfgs)
    short = hashlib.sha1(job_hash(cfgs).encode()).hexdigest()[:12]
    return Path(results_dir) / "checkpoints" / cfgs[0].experiment / f"{stem}__stacked-s{seeds}__{short}.pt"


def job_hash(cfgs: list[RunConfig]) -> str:
    """The seeds' configuration hashes, in job order: what the checkpoint must belong to."""
    return "+".join(config_hash(c) for c in cfgs)


def _write_seed_checkpoints(results_dir: Path, cfgs: list[RunConfig], stacked: torch.nn.Module, ckpt: Path,
                            models: list[torch.nn.Module], fits: list[FitResult], epochs: int, t0: float) -> None:
    """Each seed's final checkpoint where `run` leaves its own (`strn.train.run.checkpoint_path`), in its
    format: weights, optimiser and the TrainState of a finished run, so `strn.study.inference` and a
    later `run` treat the seed as if it had been trained alone. Read from the job's checkpoint
    (written at the last epoch's end), whose optimiser the stacked model's parameters index."""
    job = read_checkpoint(ckpt)
    k = len(cfgs)
    weights = unstack_state_dicts(stacked, models[0], k)
    optims = unstack_optimizer_states(job["optimizer"], models[0], k)
    wall = (time.perf_counter() - t0 + fits[0].prior_wall_seconds) / k
    for s, (c, fit) in enumerate(zip(cfgs, fits)):
        st = TrainState(epoch=epochs, steps=fit.steps, history=fit.history, train_seconds=fit.train_seconds / k,
                        frames_trained=fit.frames_trained, wall_seconds=wall)
        atomic_torch_save({"model": weights[s], "optimizer": optims[s], "state": dict(vars(st)), "grads": None,
                           "config_hash": config_hash(c), "torch_rng": job["torch_rng"]},
                          checkpoint_path(results_dir, c))


def run_stacked(cfgs: list[RunConfig], *, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
                force: bool = False, table: str | None = None, thesis: float | None = None,
                progress: bool | None = None,
                before_eval: Callable[[torch.nn.Module, Any, int, torch.device], None] | None = None) -> list[dict[str, Any]]:
    """Train and evaluate the seeds ``cfgs`` of one configuration in lockstep; write and return
    their records (in the order of ``cfgs``). Seeds already stored are read back (`run`); a
    single missing seed is trained by `run` itself. ``before_eval(stacked model, training set,
    K, device)``, if given, runs before every evaluation of a stacked job (a study of what the
    evaluation sees; BatchNorm statistics recomputed, say): its records then hold those numbers."""
    check_stackable(cfgs)
    cfg0 = cfgs[0]
    results_dir = Path(results_dir or default_results_dir(cfg0.profile))
    # A first use pretrains the backbone, drawing from torch's generator: done before any seed's
    # generator is set, so each seed's initialisation is the one `run` draws where weights exist.
    weights = resolve_weights(cfg0, data_dir)
    prov = provenance(cfg0, weights)
    todo = list(cfgs) if force else [c for c in cfgs if find_reusable(results_dir, c, prov) is None]
    if len(todo) <= 1:
        return [run(c, results_dir=results_dir, data_dir=data_dir, force=force and c in todo, table=table,
                    thesis=thesis, progress=progress) for c in cfgs]
    t0 = time.perf_counter()
    device = resolve_device(cfg0.train.device)
    ckpt = stacked_checkpoint_path(results_dir, todo)
    probe_writable(res.result_path(results_dir, cfg0).parent, "results folder")
    probe_writable(ckpt.parent, "checkpoint folder")
    data = prepare(cfg0, data_dir, progress)  # every seed's split is the same (check_stackable)
    check_skipped(data)
    models = []
    for c in todo:  # each seed's own initialisation, as `run` draws it
        torch.manual_seed(c.train.seed)
        models.append(build(c, len(data.classes), weights))
    stacked = stack_models(models)
    probe_writable(ckpt.parent, "checkpoint folder", need_bytes=checkpoint_bytes(stacked))
    if force and ckpt.exists():
        ckpt.unlink()
    seeds = [c.train.seed for c in todo]
    hook = None if before_eval is None else lambda m, dev: before_eval(m, data.train, len(todo), dev)
    fits = fit_stacked(stacked, data.train, data.test, cfg0.train, seeds, n_test_videos=len(data.test.videos),
                       num_classes=len(data.classes), crop=cfg0.data.crop, flip=cfg0.data.flip, device=device,
                       checkpoint=ckpt, job_hash=job_hash(todo), num_workers=cfg0.data.num_workers,
                       progress=progress, wall_t0=t0, before_eval=hook)
    k = len(todo)
    job_wall = time.perf_counter() - t0 + fits[0].prior_wall_seconds
    job_train_s = fits[0].train_seconds
    records = {}
    for s, (c, fit) in enumerate(zip(todo, fits)):
        cost = train_cost(t0, job_train_s / k, fit.frames_trained, fit.steps, device,
                          peak_memory_mb=peak_memory_mb(device), stacked_seeds=seeds, stacked_wall_s=job_wall,
                          stacked_train_s=job_train_s, cost_split=COST_SPLIT)
        cost["wall_s"] = job_wall / k
        records[c.train.seed] = trained_record(c, data, models[s], fit, cost=cost, device=device, prov=prov,
                                               table=table, thesis=thesis)
    _write_seed_checkpoints(results_dir, todo, stacked, ckpt, models, fits, cfg0.train.epochs, t0)
    for c in todo:  # stored only once every seed's record is whole
        res.save_result(results_dir, c, records[c.train.seed])
    ckpt.unlink()  # the seeds' own checkpoints hold all of it now
    return [records[c.train.seed] if c in todo else run(c, results_dir=results_dir, data_dir=data_dir, table=table,
                                                          thesis=thesis, progress=progress) for c in cfgs]

"""Train every configuration of a profile's experiments in a pool of worker processes.

Why: the notebooks train their rows one after another, each run using every core through
torch's intra-op threads. At the demo's sizes (48 px, width 16; width 8 is smaller still) two threads make a run only
about 1.3x faster than one, so on a 2-core machine two runs side by side, one thread each,
finish the same work in about two thirds of the time. ``train_all`` does that before the
notebooks execute; the notebooks then read the stored results (results are found by
configuration hash, `strn.run.run`), so their tables and figures are what they would be
without it. It is an ordering of the same work, never a different work: each job is exactly
``run(cfg)`` for a configuration some notebook asks for, with the same seed.

Data and the stand-in pretraining are prepared in the parent first, so two workers never
decode into the frame cache or pretrain the same backbone at once. Jobs go longest first
(most training frames), so the pool does not end waiting on one long run.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig, config_from_dict, config_hash
from .experiments import DEFAULT_SEEDS, EXPERIMENTS, equal_steps_config
from .paths import default_results_dir
from .progress import status
from .results import find_cached
from .rows import row_config
from .run import prepare, resolve_weights, run


def experiment_configs(profile: str, *, seeds: list[int] | None = None, device: str = "auto",
                       data_dir: str | Path | None = None) -> list[tuple[RunConfig, str | None, float | None]]:
    """(configuration, table, thesis number) of every trained row of the STRN experiments
    (those without a runner of their own), every seed, in the master's order; each
    configuration once (the first row that asks for it names it)."""
    seeds = list(DEFAULT_SEEDS[profile] if seeds is None else seeds)
    out, seen = [], set()
    for key in sorted(EXPERIMENTS):
        exp = EXPERIMENTS[key]
        if exp.runner:
            continue
        for row in exp.rows:
            for seed in seeds:
                cfg = (equal_steps_config(exp, row, profile, seed, device, None, data_dir) if row.equal_steps_to
                       else row_config(exp, row, profile, seed, device))
                h = (config_hash(cfg), seed)
                if h not in seen:
                    seen.add(h)
                    out.append((cfg, exp.table, row.thesis))
    return out


def default_jobs() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _data_key(cfg: RunConfig) -> tuple:
    """What the parent prepares once for all runs that share it: the sequences and the weights."""
    d = cfg.data
    return d.rate, d.seq_len, d.size, d.split, d.val_fraction, cfg.model.width, d.crop


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def _run_one(cfg_dict: dict[str, Any], table: str | None, thesis: float | None, results_dir: str,
             data_dir: str | None) -> float:
    """Train (or find) one configuration in a worker; its video error."""
    rec = run(config_from_dict(cfg_dict), results_dir=results_dir, data_dir=data_dir, table=table, thesis=thesis,
              progress=False)
    return float(rec["metrics"]["error_rate"])


def train_all(profile: str, *, jobs: int = 2, seeds: list[int] | None = None, device: str = "auto",
              results_dir: str | Path | None = None, data_dir: str | Path | None = None) -> int:
    """Train (or find stored) every STRN-experiment configuration of ``profile`` with ``jobs``
    worker processes of one thread each; returns how many runs were trained or found.
    ``jobs`` <= 1, or a CUDA device, does nothing: the notebooks then train as usual (one
    GPU is best used by one run at a time)."""
    if jobs <= 1 or device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return 0
    results_dir = Path(results_dir or default_results_dir(profile))
    configs = experiment_configs(profile, seeds=seeds, device=device, data_dir=data_dir)
    todo = [(c, t, th) for c, t, th in configs if find_cached(results_dir, c) is None]
    if not todo:
        return len(configs)
    n_train: dict[tuple, int] = {}  # training sequences per data key
    for cfg, _, _ in todo:  # the parent decodes and pretrains once per data key; workers only read
        if _data_key(cfg) not in n_train:
            n_train[_data_key(cfg)] = len(prepare(cfg, data_dir, progress=False).train)
            resolve_weights(cfg, data_dir)
    # Longest first (training frames: sequences x T x epochs), so the pool does not end waiting on one run.
    todo.sort(key=lambda job: -n_train[_data_key(job[0])] * job[0].data.seq_len * job[0].train.epochs)
    status(f"training {len(todo)} runs of profile {profile!r} first, in {jobs} processes of one thread each "
           f"(longest first); the notebooks then read them back")
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited torch thread pool or open files
    done = 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_run_one, cfg.to_dict(), table, thesis, str(results_dir),
                               str(data_dir) if data_dir else None): cfg for cfg, table, thesis in todo}
        for fut in as_completed(futures):
            done += 1
            cfg = futures[fut]
            where = f"[{done}/{len(todo)}] {cfg.experiment} / {cfg.name} seed {cfg.train.seed}"
            try:
                err = fut.result()
            except Exception as e:  # noqa: BLE001 - the others go on; its notebook runs it again and shows why
                status(f"{where}: failed ({type(e).__name__}: {e}); its notebook will run it again")
                continue
            status(f"{where}: video error {err:.3f} ({time.perf_counter() - t0:.0f} s)")
    return len(configs)

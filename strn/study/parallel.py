"""Train every configuration of a profile's experiments in a pool of worker processes.

Why: the notebooks train their rows one after another, each run using every core through
torch's intra-op threads. At the demo's sizes (48 px, width 16; width 8 is smaller still) two threads make a run only
about 1.3x faster than one, so on a 2-core machine two runs side by side, one thread each,
finish the same work in about two thirds of the time. ``train_all`` does that before the
notebooks execute; the notebooks then read the stored results (results are found by
configuration hash, `strn.train.run.run`), so their tables and figures are what they would be
without it. It is an ordering of the same work, never a different work: each job is exactly
``run(cfg)`` for a configuration some notebook asks for, with the same seed.

The schedule-length control runs (`strn.study.rows.control_config`: each claim's deciding rows once
more, one seed, 1.5x the epochs) are configurations like any other here: `experiment_configs`
lists them where the profile's ``controls`` is on, and `all_stored` waits for them too.

The frame baselines of Tables 5.1/5.2 (notebook 05.2, `strn.study.frame_baselines`) are trained in
the same pool, one job per seed (its finetuning and its 16 feature classifiers), after the STRN
runs: they are short and fill the pool's tail instead of running one after another inside the
master notebook.

With ``stack`` (the default; `strn report --no-stack-seeds` turns it off) the seeds of one
configuration still to train go to one worker as one stacked job
(`strn.train.stacked_run.run_stacked`: their K models as one grouped model, each seed's record as
`run` writes it, the numbers differing by float rounding only); a configuration with one seed
missing is trained by `run` as before.

A worker whose parent is gone (`strn report` killed, even by SIGKILL) stops as a preempted run
does: it sends itself SIGTERM, and the run in it writes its checkpoint and exits, so no
orphan goes on training unseen and the next `strn report` resumes from where it stopped.

Data, the stand-in pretraining and the pretrained backbone's features are prepared in the
parent first, so two workers never decode into the frame cache, pretrain the same backbone or
extract the same features at once. Jobs go longest first (most training frames), so the pool
does not end waiting on one long run.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from ..train import determinism
from ..config import RunConfig, config_from_dict, config_hash
from .experiments import DEFAULT_SEEDS, EXPERIMENTS, experiment_runs, run_experiment
from .frame_baselines import missing_seeds, prepare_shared, run_baselines
from ..paths import default_results_dir, usable_cores
from ..progress import status
from ..train.provenance import expected, find_reusable
from .rows import row_config
from ..data.prepare import prepare
from ..train.run import resolve_weights, run
from ..train.stacked_run import check_stackable, run_stacked


def experiment_configs(profile: str, *, seeds: list[int] | None = None, device: str = "auto",
                       data_dir: str | Path | None = None, controls: bool | None = None
                       ) -> list[tuple[RunConfig, str | None, float | None]]:
    """(configuration, table, thesis number) of every trained row of the STRN experiments
    (those without a runner of their own), every seed (`strn.study.rows.row_seeds`), and the
    schedule-length control runs (``controls``; default: the profile's), in the master's order;
    each configuration once (the first row that asks for it names it)."""
    out, seen = [], set()
    for key in sorted(EXPERIMENTS):
        exp = EXPERIMENTS[key]
        if exp.runner:
            continue
        for row, cfg in experiment_runs(exp, profile, seeds=seeds, device=device, data_dir=data_dir,
                                        controls=controls):
            h = (config_hash(cfg), cfg.train.seed)
            if h not in seen:
                seen.add(h)
                out.append((cfg, exp.table, row.thesis))
    return out


def baseline_jobs(profile: str, *, seeds: list[int] | None = None, device: str = "auto",
                  results_dir: str | Path | None = None, data_dir: str | Path | None = None) -> list[tuple[str, int]]:
    """(experiment, seed) of every frame-baseline seed (notebook 05.2) with a row not stored yet."""
    seeds = list(DEFAULT_SEEDS[profile] if seeds is None else seeds)
    results_dir = Path(results_dir or default_results_dir(profile))
    return [(key, s) for key in sorted(EXPERIMENTS) if EXPERIMENTS[key].runner is run_baselines
            for s in missing_seeds(EXPERIMENTS[key], profile, seeds=seeds, device=device, results_dir=results_dir,
                                   data_dir=data_dir)]


def all_stored(profile: str, *, seeds: list[int] | None = None, device: str = "auto",
               results_dir: str | Path | None = None, data_dir: str | Path | None = None) -> bool:
    """Whether every run the notebooks ask for (STRN rows and frame baselines) is stored, so
    that executing them trains nothing (`strn.report.build` then executes them side by side)."""
    results_dir = Path(results_dir or default_results_dir(profile))
    configs = experiment_configs(profile, seeds=seeds, device=device, data_dir=data_dir)
    return all(is_stored(results_dir, c, data_dir) for c, _, _ in configs) and \
        not baseline_jobs(profile, seeds=seeds, device=device, results_dir=results_dir, data_dir=data_dir)


def is_stored(results_dir: Path, cfg: RunConfig, data_dir: str | Path | None) -> bool:
    """Whether `run(cfg)` would read a stored record back (`strn.train.provenance.find_reusable`), without
    making anything: while the initial weights are not made, nothing is."""
    return find_reusable(results_dir, cfg, expected(cfg, data_dir)) is not None


def default_jobs() -> int:
    """One worker per core this process may use."""
    return usable_cores()


def _data_key(cfg: RunConfig) -> tuple:
    """What the parent prepares once for all runs that share it: the sequences and the weights."""
    d = cfg.data
    return d.rate, d.seq_len, d.size, d.split, d.val_fraction, cfg.model.width, d.crop


def fill_caches(configs: list[RunConfig], data_dir: str | Path | None, workers: int) -> dict[tuple, int]:
    """Decode the frames every configuration reads, once per data key (`_data_key`), into the
    frame cache, ``workers`` processes decoding at once; the training sequences of each key."""
    n_train: dict[tuple, int] = {}
    for cfg in configs:
        if _data_key(cfg) not in n_train:
            decode = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_workers=max(workers, 0)))
            n_train[_data_key(cfg)] = len(prepare(decode, data_dir, progress=False).train)
    return n_train


def _worker_init(parent: int) -> None:
    """A pool worker: one torch thread; stops once process ``parent`` (the pool's owner; given,
    not read here, in case it died while this worker was starting) is gone."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    threading.Thread(target=_stop_with_parent, args=(parent,), daemon=True, name="stop-with-parent").start()


def _stop_with_parent(parent: int, every_s: float = 1.0) -> None:
    """SIGTERM to this worker once its parent has gone (it is then re-parented), and again every
    ``every_s`` until it ends: a run in it checkpoints and exits as on preemption (`strn.train.engine`),
    an idle worker just ends. Again, because the pool's worker loop catches a run's exit and
    takes the next job already queued to it: one signal would leave that job training unseen."""
    while os.getppid() == parent:
        time.sleep(every_s)
    while True:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(every_s)


def _run_one(cfg_dict: dict[str, Any], table: str | None, thesis: float | None, results_dir: str,
             data_dir: str | None) -> float:
    """Train (or find) one configuration in a worker; its video error."""
    rec = run(config_from_dict(cfg_dict), results_dir=results_dir, data_dir=data_dir, table=table, thesis=thesis,
              progress=False)
    return float(rec["metrics"]["error_rate"])


def _run_group(cfg_dicts: list[dict[str, Any]], table: str | None, thesis: float | None, results_dir: str,
               data_dir: str | None) -> list[float]:
    """Train (or find) the seeds of one configuration as one stacked job in a worker; their video errors."""
    recs = run_stacked([config_from_dict(d) for d in cfg_dicts], results_dir=results_dir, data_dir=data_dir,
                       table=table, thesis=thesis, progress=False)
    return [float(r["metrics"]["error_rate"]) for r in recs]


def seed_groups(todo: list[tuple[RunConfig, str | None, float | None]], *, stack: bool = True
                ) -> list[tuple[list[RunConfig], str | None, float | None]]:
    """The jobs of the pool: the todo seeds of one configuration together where they can train
    stacked (`strn.train.stacked_run.check_stackable`), every other run alone; in ``todo``'s order."""
    groups: dict[str, tuple[list[RunConfig], str | None, float | None]] = {}
    for cfg, table, thesis in todo:
        d = cfg.to_dict()
        d["train"] = dict(d["train"], seed=None)
        groups.setdefault(repr((d, table, thesis)), ([], table, thesis))[0].append(cfg)
    jobs = []
    for cfgs, table, thesis in groups.values():
        try:
            check_stackable(cfgs)
            ok = stack and len(cfgs) > 1
        except ValueError:
            ok = False
        jobs += [(cfgs, table, thesis)] if ok else [([c], table, thesis) for c in cfgs]
    return jobs


def _baselines_one(key: str, profile: str, seed: int, device: str, results_dir: str, data_dir: str | None) -> int:
    """Train (or find) one seed's frame baselines in a worker; how many rows it stored."""
    return len(run_experiment(key, profile, seeds=[seed], device=device, results_dir=results_dir,
                              data_dir=data_dir, progress=False))


def train_all(profile: str, *, jobs: int = 2, seeds: list[int] | None = None, device: str = "auto",
              results_dir: str | Path | None = None, data_dir: str | Path | None = None,
              baselines: bool = True, stack: bool = True, share_gpu: bool = False) -> int:
    """Train (or find stored) every STRN-experiment configuration of ``profile`` with ``jobs``
    worker processes of one thread each, and (``baselines``) every seed's frame baselines
    after them; returns how many STRN runs were trained or found. ``stack``: the todo seeds of one
    configuration train as one stacked job (`seed_groups`).
    ``jobs`` <= 1 does nothing: the notebooks then train as usual. Nor does a CUDA device
    unless ``share_gpu``: a notebook's run at the full profile keeps one GPU busy. With
    ``share_gpu`` the ``jobs`` processes share the GPU (`strn train-all`, the ``gpu``
    profile): its small steps leave one process's GPU idle between kernel launches."""
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if jobs <= 1 or (on_gpu and not share_gpu):
        return 0
    results_dir = Path(results_dir or default_results_dir(profile))
    determinism.configure_for_profile(profile)  # before any CUDA work; the spawned workers inherit it
    configs = experiment_configs(profile, seeds=seeds, device=device, data_dir=data_dir)
    # The parent makes the stand-in first: only then can a stored record be shown to start from it.
    for cfg in {_data_key(c): c for c, _, _ in configs}.values():
        resolve_weights(cfg, data_dir)
    todo = [(c, t, th) for c, t, th in configs if not is_stored(results_dir, c, data_dir)]
    base_todo = baseline_jobs(profile, seeds=seeds, device=device, results_dir=results_dir,
                              data_dir=data_dir) if baselines else []
    if not todo and not base_todo:
        return len(configs)
    # The parent decodes (with as many processes as the pool) and pretrains once per data key; workers only read.
    n_train = fill_caches([c for c, _, _ in todo], data_dir, jobs)
    for key in sorted({key for key, _ in base_todo}):
        prepare_shared(EXPERIMENTS[key], profile, device=device, results_dir=results_dir, data_dir=data_dir)
    groups = seed_groups(todo, stack=stack)
    # Longest first (training frames: sequences x T x epochs x seeds), so the pool does not end waiting on one job.
    groups.sort(key=lambda job: -n_train[_data_key(job[0][0])] * job[0][0].data.seq_len * job[0][0].train.epochs
                * len(job[0]))
    base_note = f" and the frame baselines of {len(base_todo)} seed(s)" if base_todo else ""
    n_stacked = sum(len(g) > 1 for g, _, _ in groups)
    stack_note = f" ({n_stacked} jobs of a configuration's seeds trained stacked)" if n_stacked else ""
    where = " sharing the GPU" if on_gpu else ""
    status(f"training {len(todo)} runs of profile {profile!r}{stack_note}{base_note} first, in {jobs} processes of "
           f"one thread each{where} (longest first); the notebooks then read them back")
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited torch thread pool or open files
    done, total = 0, len(groups) + len(base_todo)
    data = str(data_dir) if data_dir else None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        futures = {(pool.submit(_run_one, cfgs[0].to_dict(), table, thesis, str(results_dir), data) if len(cfgs) == 1
                    else pool.submit(_run_group, [c.to_dict() for c in cfgs], table, thesis, str(results_dir), data)):
                   f"{cfgs[0].experiment} / {cfgs[0].name} seed{'s' if len(cfgs) > 1 else ''} "
                   f"{', '.join(str(c.train.seed) for c in cfgs)}" for cfgs, table, thesis in groups}
        # submitted after the STRN runs: the pool takes jobs in order, so these fill its tail
        futures.update({pool.submit(_baselines_one, key, profile, seed, device, str(results_dir), data):
                        f"{key} seed {seed}" for key, seed in base_todo})
        for fut in as_completed(futures):
            done += 1
            where = f"[{done}/{total}] {futures[fut]}"
            try:
                out = fut.result()
            except Exception as e:  # noqa: BLE001 - the others go on; its notebook runs it again and shows why
                status(f"{where}: failed ({type(e).__name__}: {e}); its notebook will run it again")
                continue
            what = f"{out} rows stored" if isinstance(out, int) else \
                f"video error {', '.join(f'{e:.3f}' for e in out)} (stacked)" if isinstance(out, list) else \
                f"video error {out:.3f}"
            status(f"{where}: {what} ({time.perf_counter() - t0:.0f} s)")
    return len(configs)

"""One run: configuration -> data -> model -> training -> evaluation -> one results JSON.

``run(cfg)`` is what every experiment calls for each configuration and seed. A result
already stored for the same configuration hash is read back instead of retrained.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from . import distributed as dist
from .. import results as res
from ..config import RunConfig, config_hash
from ..data.prepare import Prepared, prepare
from ..model.build import build_model, connections_built, tsm_options
from ..paths import default_results_dir
from .pretrain import pretrained_backbone
from .provenance import find_reusable, provenance
from .record import make_record, train_cost
from ..data.skips import check_skipped
from ..storage import checkpoint_bytes, probe_writable
from .engine import FitResult, peak_memory_mb, resolve_device
from .fit import fit


def resolve_weights(cfg: RunConfig, data_dir: str | Path | None = None) -> str:
    """``pretrained``: the profile's stand-in for ImageNet (strn/train/pretrain.py; ImageNet itself
    for ``full``), trained once and cached. Anything else is passed on unchanged."""
    if cfg.model.weights != "pretrained":
        return cfg.model.weights
    m = cfg.model
    size = cfg.data.crop
    return str(pretrained_backbone(cfg.profile, data_dir, backbone=m.backbone, width=m.width, size=size))


def build(cfg: RunConfig, num_classes: int, weights: str) -> torch.nn.Module:
    """The model of ``cfg`` initialised from ``weights``, already resolved (`resolve_weights`):
    building a model never trains one, so the caller decides when pretraining happens, before
    it seeds torch for the model's own initialisation."""
    if weights == "pretrained":
        raise ValueError("build: resolve the weights first (strn.train.run.resolve_weights), then seed and build")
    m = cfg.model
    return build_model(m.kind, num_classes=num_classes, seq_len=cfg.data.seq_len, backbone=m.backbone, width=m.width,
                       connection=m.connection, positions=m.positions, special3=m.special3, **tsm_options(m),
                       weights=weights)


def checkpoint_path(results_dir: str | Path, cfg: RunConfig) -> Path:
    p = res.result_path(results_dir, cfg)
    return Path(results_dir) / "checkpoints" / cfg.experiment / f"{p.stem}__{config_hash(cfg)}.pt"


def run(cfg: RunConfig, *, results_dir: str | Path | None = None, data_dir: str | Path | None = None,
        force: bool = False, table: str | None = None, thesis: float | None = None,
        progress: bool | None = None, strict_provenance: bool = False) -> dict[str, Any]:
    """Train and evaluate one configuration with one seed; write and return its record.
    A stored record is read back when `strn.train.provenance.find_reusable` says it may stand for
    this run; ``strict_provenance``: a stored one made from other data or weights is an error
    (`strn.train.provenance.ProvenanceMismatch`) instead of being retrained."""
    results_dir = Path(results_dir or default_results_dir(cfg.profile))
    if dist.is_main() and (force or not res.result_path(results_dir, cfg).exists()):
        # fail before any work (pretraining included) where the run must be written; a stored one
        # is read back from a read-only folder as before
        probe_writable(res.result_path(results_dir, cfg).parent, "results folder")
        probe_writable(checkpoint_path(results_dir, cfg).parent, "checkpoint folder")
    with dist.main_first():  # rank 0 pretrains the stand-in on first use; the others read it
        # Before any seeding: pretraining draws from torch's generators, so a run on a fresh data
        # folder would otherwise start from another initialisation than one with the stand-in cached.
        weights = resolve_weights(cfg, data_dir)
    prov = provenance(cfg, weights)
    if not force:
        record = _reuse(results_dir, cfg, prov, table, thesis, strict_provenance)
        if record is not None:
            return record
    if dist.rank_world()[1] > 1:  # torchrun's ranks train together: no lock between them
        return _train(cfg, results_dir, data_dir, weights, prov, force=force, table=table, thesis=thesis,
                      progress=progress)
    # One process trains a configuration at a time (its checkpoint and epochs.csv are shared):
    # a second one waits, then reads back what the first stored.
    with res.file_lock(checkpoint_path(results_dir, cfg).with_suffix(".lock")):
        record = None if force else _reuse(results_dir, cfg, prov, table, thesis, strict_provenance)
        return record if record is not None else _train(
            cfg, results_dir, data_dir, weights, prov, force=force, table=table, thesis=thesis, progress=progress)


def _reuse(results_dir: Path, cfg: RunConfig, prov: dict[str, Any], table: str | None, thesis: float | None,
           strict: bool) -> dict[str, Any] | None:
    """The stored record that stands for this run (`strn.train.provenance.find_reusable`), filed under
    this experiment and row when it was another's; None: train."""
    stored = find_reusable(results_dir, cfg, prov, strict=strict)
    if stored is None or (stored.get("experiment"), stored.get("name")) == (cfg.experiment, cfg.name):
        return stored
    # same numbers, filed again under this experiment and row
    record = dict(stored, experiment=cfg.experiment, name=cfg.name, table=table, thesis=thesis,
                  config=cfg.to_dict(), reused_from=f"{stored['experiment']}/{stored['name']}")
    if dist.is_main():
        res.save_result(results_dir, cfg, record)
    dist.barrier()
    return record


def _train(cfg: RunConfig, results_dir: Path, data_dir: str | Path | None, weights: str, prov: dict[str, Any], *,
           force: bool, table: str | None, thesis: float | None, progress: bool | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    device = resolve_device(cfg.train.device)
    ckpt = checkpoint_path(results_dir, cfg)
    if dist.is_main():  # fail before the work: a folder we cannot write is found now, not after training
        probe_writable(res.result_path(results_dir, cfg).parent, "results folder")
        probe_writable(ckpt.parent, "checkpoint folder")
    with dist.main_first():  # rank 0 writes the synthetic set and frame cache; the others read them
        data = prepare(cfg, data_dir, progress)
        check_skipped(data)  # each skip said once; too many stop the run here, before training
    torch.manual_seed(cfg.train.seed)  # the model's own initialisation: nothing draws between this and build
    model = build(cfg, len(data.classes), weights)
    if dist.is_main():  # the model's size is known only now; still before any training step
        probe_writable(ckpt.parent, "checkpoint folder", need_bytes=checkpoint_bytes(model))
    if force and ckpt.exists():
        ckpt.unlink()
    h = config_hash(cfg)
    out = fit(model, data.train, data.test, cfg.train, n_test_videos=len(data.test.videos),
              num_classes=len(data.classes), crop=cfg.data.crop, flip=cfg.data.flip, device=device,
              checkpoint=ckpt, config_hash=h, num_workers=cfg.data.num_workers, progress=progress, wall_t0=t0)
    # wall_s: this process plus the earlier ones of a resumed run (their time up to their last checkpoint)
    cost = train_cost(t0, out.train_seconds, out.frames_trained, out.steps, device,
                      prior_wall_s=out.prior_wall_seconds, peak_memory_mb=peak_memory_mb(device))
    record = trained_record(cfg, data, model, out, cost=cost, device=device, prov=prov, table=table, thesis=thesis)
    if dist.is_main():  # under torchrun every rank trained the same model; one file is written
        res.save_result(results_dir, cfg, record)
    dist.barrier()
    return record


def trained_record(cfg: RunConfig, data: Prepared, model: torch.nn.Module, out: FitResult, *, cost: dict[str, Any],
                   device: torch.device, prov: dict[str, Any], table: str | None,
                   thesis: float | None) -> dict[str, Any]:
    """The record of ``model`` trained on ``data`` as ``cfg`` asks (one seed of a stacked job
    alike: its own `FitResult`), checked whole (`check_whole`) before anyone may store it."""
    record = make_record(
        cfg, data, table=table, thesis=thesis, metrics=out.metrics, history=out.history, device=device,
        dataset={"n_train_sequences": len(data.train), "n_test_sequences": len(data.test),
                 "n_padded_videos": int(data.train.n_padded + data.test.n_padded)},
        cost=cost, connections_built=connections_built(model), provenance=prov)
    check_whole(record, n_listed_test=len(data.index.subset(cfg.data.eval_subset)),
                n_skipped_test=len(data.test.skipped))
    return record


class IncompleteResultError(RuntimeError):
    """A run's numbers are not whole (no test video, a non-finite metric, videos unaccounted
    for): it is never stored, so no later run can read it back."""


def check_whole(record: dict[str, Any], *, n_listed_test: int, n_skipped_test: int) -> None:
    """Raise :class:`IncompleteResultError` unless the record may be stored."""
    m = record["metrics"]
    n_eval = int(m.get("n_videos", 0))
    where = f"{record['experiment']}/{record['name']} (data {record['dataset']['root']})"
    if n_eval == 0:
        raise IncompleteResultError(f"{where}: no test video was evaluated; nothing is stored. "
                                    f"Run `strn check-data` on the data folder")
    bad = [k for k in ("error_rate", "accuracy", "mean_class_accuracy")
           if not isinstance(m.get(k), (int, float)) or not math.isfinite(m[k])]
    if bad:
        raise IncompleteResultError(f"{where}: metric(s) {', '.join(bad)} not finite; nothing is stored")
    if n_eval < n_listed_test - n_skipped_test:
        raise IncompleteResultError(f"{where}: {n_eval} test videos evaluated, but {n_listed_test} are listed and "
                                    f"{n_skipped_test} reported skipped; nothing is stored")

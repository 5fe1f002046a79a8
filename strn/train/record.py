"""The results record (STUDY §6): one builder for every runner, so that an STRN run and a
frame baseline store the same shape (`strn.results.REQUIRED_KEYS`); and the rewrite of the
stored convergence verdicts when the rule changes (no retraining: every record keeps its
per-epoch history):

    PYTHONPATH=. python -m strn.train.record results/demo results/gpu
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import results as res
from ..config import RunConfig, config_hash
from .convergence import VERSION, convergence, effective_schedule, record_convergence
from ..data.reference import dataset_levels


def make_record(cfg: RunConfig, data, *, table: str | None, thesis: float | None, metrics: Mapping[str, Any],
                history: Sequence[Mapping[str, Any]], cost: Mapping[str, Any], connections_built: list,
                device, provenance: Mapping[str, Any], dataset: Mapping[str, Any] | None = None,
                **extra: Any) -> dict[str, Any]:
    """The record of one (configuration, seed).

    ``data``: the prepared split (`strn.data.prepare.Prepared`); ``metrics``: `strn.train.metrics.video_metrics`
    output (per-class accuracies as a list, in class order); ``dataset``: counts beyond the
    video counts (sequences, frames, padding); ``provenance``: what the run started from
    (`strn.train.provenance.provenance`: generator and pretraining versions, initial weights' digest),
    which a stored record must share with a run to stand for it; ``extra``: further top-level keys (``baseline``)."""
    m = dict(metrics)
    m["per_class_accuracy"] = dict(zip(data.classes, m["per_class_accuracy"]))
    m["history"] = list(history)
    # The verdict and its evidence (strn/train/convergence.py); readers use metrics["converged"].
    # Judged against the rate schedule the optimiser followed (Rprop: none).
    m["convergence"] = convergence(m["history"], n_test_videos=len(data.test.videos),
                                   lr_schedule=effective_schedule(cfg.to_dict()))
    m["converged"] = m["convergence"]["converged"]
    return {
        "schema_version": res.SCHEMA_VERSION, "experiment": cfg.experiment, "name": cfg.name, "table": table,
        "config": cfg.to_dict(), "config_hash": config_hash(cfg), "profile": cfg.profile,
        "dataset": {"kind": cfg.data.dataset, "root": str(data.index.root), "classes": data.classes,
                    "n_train_videos": len(data.train.videos), "n_test_videos": len(data.test.videos),
                    **(dataset or {}),
                    # chance_error and single_frame_floor (strn/data/reference.py): the tables' reference lines
                    **dataset_levels(data.index.root, len(data.classes))},
        "split": cfg.data.split, "seed": cfg.train.seed, "metrics": m, "cost": dict(cost),
        # what was built, recorded for every model (frame models: no connection), never guessed later
        "model": {"connections_built": connections_built},
        "provenance": dict(provenance),
        "thesis": thesis, "skipped_videos": list(data.train.skipped) + list(data.test.skipped),
        "env": res.environment(device),
        # a control run says so at the top, where `strn.results.table_records` looks (never a table row)
        **({"control": cfg.control} if cfg.control else {}),
        # evaluated on held-out training groups, not the test list (calibration)
        **({"evaluated_on": "validation"} if cfg.data.eval_subset == "val" else {}), **extra,
    }


def train_cost(t0: float, train_s: float, frames_trained: int, steps: int, device, *, prior_wall_s: float = 0.0,
               peak_memory_mb: float | None = None, **extra: Any) -> dict[str, Any]:
    """``record["cost"]``: wall time since ``t0`` (a ``time.perf_counter()`` reading) plus that of
    earlier processes of a resumed run, training time and throughput, optimiser steps, memory."""
    return {"wall_s": time.perf_counter() - t0 + prior_wall_s, "train_s": train_s,
            "train_frames_per_s": frames_trained / train_s if train_s else None, "optimizer_steps": steps,
            "peak_memory_mb": peak_memory_mb, "device": str(device), **extra}


def rewrite_convergence(results_dir: str | Path) -> tuple[int, int]:
    """Recompute ``metrics.convergence`` and ``metrics.converged`` of every run record under
    ``results_dir`` with the current rule, in place; (records seen, verdicts changed). Records
    without a history are left alone."""
    seen = changed = 0
    for path in sorted(Path(results_dir).rglob("*.json")):
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "metrics" not in record or "name" not in record:
            continue  # a notebook summary, not a run
        c = record_convergence(record)
        if c is None or record["metrics"].get("convergence", {}).get("version") == VERSION:
            continue
        seen += 1
        changed += record["metrics"].get("converged") != c["converged"]
        record["metrics"]["convergence"], record["metrics"]["converged"] = c, c["converged"]
        res.atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return seen, changed


if __name__ == "__main__":
    for folder in sys.argv[1:] or ["results/demo", "results/gpu"]:
        n, k = rewrite_convergence(folder)
        print(f"{folder}: {n} records rejudged by convergence rule version {VERSION}, {k} verdicts changed")

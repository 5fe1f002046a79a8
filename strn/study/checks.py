"""Demo rows retrained with one thing changed (`strn calibrate retrain`): the checks behind
docs/STUDY.md section 7 ("What the runs that did not level off need").

Each row's seeds train as `strn report` trains them (one stacked job; the command runs on one
thread), with a longer cosine (``epochs``: the same peak rate; 0: the profile's) or with
BatchNorm's statistics recomputed from ``precise_bn`` training sequences before every evaluation
(a fixed seeded sample, centre-cropped, in batches of ``bn_batch``) instead of the running
averages that training leaves. Training itself is untouched (train-mode BatchNorm uses batch
statistics), so the same job without it trains bit-identical weights and only the evaluations
differ. Run with the profile's epochs (label ``e16``), it reproduces the committed demo's runs of
that row exactly.

Each seed's per-epoch test error, training loss and convergence verdict is appended to ``out``
(results/calibration/history/demo_checks.json); runs go under ``work``, never into results/demo.
Rows are configuration names as `strn.study.parallel.experiment_configs("demo")` gives them
(adam-1pct is the identity STRN at 98-104, shared by Tables 5.3-5.7).
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..data.datasets import drop_unreadable
from ..data.loader import load_batches
from ..data.transforms import crop_batch, to_input
from ..model.stacked import stack_inputs
from ..paths import REPO_ROOT
from ..results import atomic_write_text
from ..train.stacked_run import run_stacked
from .parallel import experiment_configs

CHECKS_FILE = REPO_ROOT / "results" / "calibration" / "history" / "demo_checks.json"


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, dataset, k: int, *, crop: int, device: torch.device, n: int,
                       batch_size: int) -> None:
    """BatchNorm's running statistics of the stacked ``model`` replaced by the mean over batches
    of ``n`` training sequences (a fixed sample), as train-mode BatchNorm computes them."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    model.train()
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1234))[:n].tolist()
    for batch in load_batches(dataset, [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)], 0):
        frames, _, _ = drop_unreadable(dataset, batch)
        model(stack_inputs([to_input(crop_batch(frames.to(device), crop, None), device)] * k))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum


def precise_bn(n: int, batch_size: int, crop: int):
    """`run_stacked`'s ``before_eval``: BatchNorm's statistics recomputed before every evaluation."""
    def before_eval(model: nn.Module, train_ds, k: int, device: torch.device) -> None:
        recompute_bn_stats(model, train_ds, k, crop=crop, device=device, n=n, batch_size=batch_size)
    return before_eval


def retrain_rows(rows: Sequence[str], *, label: str, epochs: int = 0, precise_bn_n: int = 0, bn_batch: int = 128,
                 data_dir: str | Path | None = None, work: str | Path = "/tmp/strn-retrain",
                 out: str | Path | None = None) -> list[dict[str, Any]]:
    """Retrain each of the demo's configurations ``rows`` (all its seeds, one stacked job) and
    append one entry per seed to ``out``; returns the new entries."""
    configs = [c for c, _, _ in experiment_configs("demo", data_dir=data_dir)]
    known = sorted({c.name for c in configs})
    unknown = [r for r in rows if r not in known]
    if unknown:
        raise KeyError(f"no demo configuration {', '.join(unknown)}; known: {', '.join(known)}")
    out = Path(out or CHECKS_FILE)
    done = []
    for row in rows:
        cfgs = [c for c in configs if c.name == row]
        if epochs:
            cfgs = [dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=epochs)) for c in cfgs]
        t0 = time.perf_counter()
        hook = precise_bn(precise_bn_n, bn_batch, cfgs[0].data.crop) if precise_bn_n else None
        recs = run_stacked(cfgs, results_dir=Path(work) / label, data_dir=data_dir, progress=False, before_eval=hook)
        wall = time.perf_counter() - t0
        entries = []
        for r in recs:
            m = r["metrics"]
            entries.append({"label": label, "row": row, "seed": r["seed"], "epochs": r["config"]["train"]["epochs"],
                            "precise_bn": precise_bn_n, "bn_batch": bn_batch if precise_bn_n else None,
                            "error_rate": m["error_rate"], "converged": m["converged"], "convergence": m["convergence"],
                            "test_error": [h.get("test_error") for h in m["history"]],
                            "train_loss": [h["train_loss"] for h in m["history"]],
                            "job_wall_s": wall, "git_commit": r["env"]["git_commit"]})
        data = json.loads(out.read_text()) if out.exists() else {"runs": []}
        keep = {(e["label"], e["row"], e["seed"]) for e in entries}
        data["runs"] = [e for e in data["runs"] if (e["label"], e["row"], e["seed"]) not in keep] + entries
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(data, indent=1))
        done += entries
    return done

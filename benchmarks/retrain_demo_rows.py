"""Retrain rows of the demo as `strn report` trains them (each row's three seeds as one stacked
job, one thread), with one thing changed, and record every seed's per-epoch test error and
convergence verdict: the checks behind docs/STUDY.md section 7 ("What the runs that did not
level off need").

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/retrain_demo_rows.py --rows conv-98-104,split-2 \
        --epochs 24 --label e24 [--precise-bn 300 --bn-batch 10] [--data-dir data] [--work /tmp/strn-retrain]

``--rows``: configuration names as `strn.parallel.experiment_configs("demo")` gives them
(adam-1pct is the identity STRN at 98-104, shared by Tables 5.3-5.7). ``--epochs``: the
cosine's length (the same peak rate; 0: the profile's 16). ``--precise-bn N``: before every
evaluation, BatchNorm's statistics are recomputed from N training sequences (a fixed seeded
sample, centre-cropped, in batches of ``--bn-batch``) instead of the running averages that
training leaves; training itself is untouched (train-mode BatchNorm uses batch statistics), so
the same job without it trains bit-identical weights and only the evaluations differ.

Appends one entry per seed to ``--out`` (default results/calibration/history/demo_checks.json); runs go
under ``--work``, never into results/demo. ``--data-dir`` holds the synthetic set, its frame
cache and the stand-in pretraining (made there on first use).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from strn.data.datasets import drop_unreadable  # noqa: E402
from strn.data.loader import load_batches  # noqa: E402
from strn.data.transforms import crop_batch, to_input  # noqa: E402
from strn.model.stacked import stack_inputs  # noqa: E402
from strn.parallel import experiment_configs  # noqa: E402
from strn.stacked_run import run_stacked  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", required=True, help="comma-separated configuration names (e.g. conv-98-104,adam-1pct)")
    ap.add_argument("--epochs", type=int, default=0, help="0: the profile's")
    ap.add_argument("--label", required=True, help="names this check in the output")
    ap.add_argument("--precise-bn", type=int, default=0, metavar="N")
    ap.add_argument("--bn-batch", type=int, default=128)
    ap.add_argument("--data-dir", default=str(REPO / "data"))
    ap.add_argument("--work", default="/tmp/strn-retrain")
    ap.add_argument("--out", default=str(REPO / "results" / "calibration" / "demo_checks.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    configs = [c for c, _, _ in experiment_configs("demo", data_dir=args.data_dir)]
    known = sorted({c.name for c in configs})
    out = Path(args.out)
    for row in args.rows.split(","):
        cfgs = [c for c in configs if c.name == row]
        if not cfgs:
            ap.error(f"--rows: no demo configuration {row!r}; known: {', '.join(known)}")
        if args.epochs:
            cfgs = [dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=args.epochs)) for c in cfgs]
        t0 = time.perf_counter()
        hook = precise_bn(args.precise_bn, args.bn_batch, cfgs[0].data.crop) if args.precise_bn else None
        recs = run_stacked(cfgs, results_dir=Path(args.work) / args.label, data_dir=args.data_dir, progress=False,
                           before_eval=hook)
        wall = time.perf_counter() - t0
        entries = []
        for r in recs:
            m = r["metrics"]
            entries.append({"label": args.label, "row": row, "seed": r["seed"], "epochs": r["config"]["train"]["epochs"],
                            "precise_bn": args.precise_bn, "bn_batch": args.bn_batch if args.precise_bn else None,
                            "error_rate": m["error_rate"], "converged": m["converged"], "convergence": m["convergence"],
                            "test_error": [h.get("test_error") for h in m["history"]],
                            "train_loss": [h["train_loss"] for h in m["history"]],
                            "job_wall_s": wall, "git_commit": r["env"]["git_commit"]})
            print(f"{args.label} {row} seed {r['seed']}: {m['error_rate']:.3f} converged={m['converged']} | "
                  + " ".join(f"{e:.2f}" for e in entries[-1]["test_error"]), flush=True)
        data = json.loads(out.read_text()) if out.exists() else {"runs": []}
        keep = {(e["label"], e["row"], e["seed"]) for e in entries}
        data["runs"] = [e for e in data["runs"] if (e["label"], e["row"], e["seed"]) not in keep] + entries
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()

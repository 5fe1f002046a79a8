"""End to end: seconds per training epoch on the demo set, how it scales, and what one
UCF-101 split-1 epoch would cost at the measured per-frame rate.

One epoch of `strn.train.fit.train_one_epoch` (the demo profile's STRN and optimiser, frames
from the warm frame cache) per setting, varying one factor at a time from the demo
configuration: sampling rate r, context T, input resolution, and the share of the
training videos. The thesis's hours per sampling rate (Table 5.6) go beside the measured
seconds in the figure.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_epoch.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from strn.config import make_config
from strn.study.cost import TRAIN_FRAMES_R10 as UCF101_SPLIT1_SAMPLED_FRAMES
from strn.results import atomic_write_text, environment
from strn.data.prepare import prepare
from strn.train.run import build, resolve_weights
from strn.train.checkpoint import TrainState
from strn.train.engine import make_optimizer
from strn.train.fit import train_one_epoch

THESIS_HOURS = {2: 161, 5: 61, 10: 35, 15: 23}  # Table 5.6, training time per sampling rate


def one_epoch(overrides: dict, share: float = 1.0, data_dir: str | None = None) -> dict:
    cfg = make_config("demo", overrides)
    data = prepare(cfg, data_dir, progress=False)
    train = data.train
    if share < 1.0:
        n = max(2, int(len(train) * share))
        train = torch.utils.data.Subset(train, list(range(n)))
    torch.manual_seed(0)
    model = build(cfg, len(data.classes), resolve_weights(cfg, data_dir))
    opt = make_optimizer(list(model.parameters()), cfg.train)
    device = torch.device("cpu")
    # warm-up: a short epoch on a few sequences (allocator, oneDNN primitives, page cache)
    warm = torch.utils.data.Subset(train, list(range(min(len(train), 4 * cfg.train.batch_size))))
    train_one_epoch(model, warm, opt, TrainState(), cfg.train, crop=cfg.data.crop, flip=False, device=device,
                    progress=False)
    t0 = time.perf_counter()
    train_one_epoch(model, train, opt, TrainState(), cfg.train, crop=cfg.data.crop, flip=False, device=device,
                    progress=False)
    seconds = time.perf_counter() - t0
    frames = len(train) * cfg.data.seq_len
    return {"rate": cfg.data.rate, "T": cfg.data.seq_len, "px": cfg.data.crop, "share": share,
            "sequences": len(train), "frames": frames, "epoch_s": seconds, "frames_per_s": frames / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="results/bench/epoch.json")
    ap.add_argument("--figure", default="figures/bench/scaling.png")
    a = ap.parse_args()
    sweeps: dict[str, list[dict]] = {"rate": [], "T": [], "px": [], "share": []}
    for r in (2, 5, 10, 15):
        sweeps["rate"].append(one_epoch({"data": {"rate": r}}, data_dir=a.data_dir))
    for T in (2, 3, 5):
        sweeps["T"].append(one_epoch({"data": {"seq_len": T}}, data_dir=a.data_dir))
    for px in (32, 48, 64):
        sweeps["px"].append(one_epoch({"data": {"size": px, "crop": px}, "model": {"weights": "scratch"}},
                                      data_dir=a.data_dir))
    for share in (0.25, 0.5, 1.0):
        sweeps["share"].append(one_epoch({}, share, data_dir=a.data_dir))
    for name, rows in sweeps.items():
        for row in rows:
            print(f"{name:6s} rate {row['rate']:2d} T {row['T']} {row['px']:3d} px share {row['share']:.2f}: "
                  f"{row['sequences']:5d} sequences, epoch {row['epoch_s']:6.1f} s, {row['frames_per_s']:6.0f} frames/s",
                  flush=True)
    demo = next(r for r in sweeps["rate"] if r["rate"] == 10)
    projection_h = UCF101_SPLIT1_SAMPLED_FRAMES / demo["frames_per_s"] / 3600
    print(f"demo epoch (r=10, T=2, 48 px): {demo['epoch_s']:.1f} s; a UCF-101 split-1 epoch "
          f"({UCF101_SPLIT1_SAMPLED_FRAMES} frames) at this per-frame rate would take {projection_h:.2f} h "
          "(narrow net at 48 px, not the full ResNet-50 at 224 px)")
    out = {"benchmark": "epoch", "sweeps": sweeps, "demo_epoch_s": demo["epoch_s"],
           "demo_frames_per_s": demo["frames_per_s"], "ucf101_split1_frames": UCF101_SPLIT1_SAMPLED_FRAMES,
           "ucf101_split1_epoch_h_at_demo_rate": projection_h, "thesis_hours_by_rate": THESIS_HOURS,
           "threads": torch.get_num_threads(), "env": environment("cpu")}
    atomic_write_text(Path(a.out), json.dumps(out, indent=1) + "\n")
    figure(sweeps, Path(a.figure))
    print(f"written {a.out} and {a.figure}")


def figure(sweeps: dict[str, list[dict]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(13, 3))
    labels = {"rate": "sampling rate r", "T": "context T", "px": "input px", "share": "share of training videos"}
    for ax, (name, rows) in zip(axes, sweeps.items()):
        ax.plot([r[name] for r in rows], [r["epoch_s"] for r in rows], "o-", label="measured epoch (s)")
        ax.set(xlabel=labels[name], ylabel="seconds per epoch", ylim=(0, None))
        if name == "rate":
            ax2 = ax.twinx()
            ax2.plot(list(THESIS_HOURS), list(THESIS_HOURS.values()), "s--", color="#9e9e9e", label="thesis (h)")
            ax2.set_ylabel("thesis training time (h)", color="#9e9e9e")
            ax2.set_ylim(0, None)
    fig.suptitle("Cost of one training epoch on the demo set (2-core CPU), one factor at a time", fontsize=9)
    fig.tight_layout()
    from strn.report.plots.common import save_figure  # PNG at 150 dpi and PDF, as every figure of the study

    save_figure(fig, path.parent, path.stem)


if __name__ == "__main__":
    main()

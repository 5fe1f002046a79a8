"""What one optimiser step of the demo's model costs on one CPU thread, by width, memory
format and micro-batch size: the fixed part (about 160 modules, forward and backward) against
the part per sequence. All variants are measured side by side in one run, interleaved.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_step_cpu.py [--out results/bench/step_cpu.json]

Why it matters: the thesis's 1% rule fixes 100 optimiser steps per epoch whatever the data,
so at the demo's sizes an epoch's time is mostly steps x fixed cost; more videos per epoch
cost less than proportionally (docs/STUDY.md section 7, "What a demo costs"). The demo's
width (8) and the channels_last format on the CPU (`strn.train.engine.place_model`) were chosen
by these numbers.
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch

from strn.model.build import build_model

VARIANTS = [(16, False), (16, True), (8, False), (8, True)]  # (width, channels_last)
BATCHES = (10, 32, 94)  # a 1% step of the demo is ~10 sequences, a 10% step ~94


def _step(model, opt, x, y) -> float:
    t0 = time.perf_counter()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    opt.zero_grad()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = {}
    for width, cl in VARIANTS:
        torch.manual_seed(0)
        m = build_model("strn", num_classes=12, seq_len=2, backbone="resnet50", width=width, weights="scratch")
        if cl:
            m = m.to(memory_format=torch.channels_last)
        models[(width, cl)] = (m, torch.optim.Adam(m.parameters(), 1e-3))
    times: dict[tuple, list[float]] = {}
    for _ in range(args.rounds):  # interleaved: every variant sees the same machine state
        for batch in BATCHES:
            x, y = torch.randn(batch, 2, 3, 48, 48), torch.randint(0, 12, (batch,))
            for key, (m, opt) in models.items():
                _step(m, opt, x, y)  # warm-up: the first step of a shape allocates
                times.setdefault(key + (batch,), []).extend(_step(m, opt, x, y) for _ in range(args.steps))
    rows = []
    for (width, cl, batch), ts in times.items():
        dt = sorted(ts)[len(ts) // 2]
        base = sorted(times[(16, False, batch)])[len(times[(16, False, batch)]) // 2]
        rows.append({"width": width, "channels_last": cl, "batch": batch, "ms_per_step": dt * 1000,
                     "speedup_vs_w16_nchw": base / dt})
        print(f"width {width:2d} {'channels_last' if cl else 'NCHW         '} micro-batch {batch:3d}: "
              f"{dt * 1000:6.1f} ms per step ({base / dt:4.2f}x width 16 NCHW)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"benchmark": "optimiser step on one CPU thread, 2 frames at 48 px",
                                              "rows": rows, "loadavg": os.getloadavg(),
                                              "torch": torch.__version__}, indent=1))


if __name__ == "__main__":
    main()

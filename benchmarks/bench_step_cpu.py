"""What one optimiser step of the demo's model costs on one CPU thread, by micro-batch size:
the fixed part (about 160 modules, forward and backward) against the part per sequence.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_step_cpu.py

Why it matters: the thesis's 1% rule fixes 100 optimiser steps per epoch whatever the data,
so at the demo's sizes an epoch's time is mostly steps x fixed cost; more videos per epoch
cost less than proportionally (docs/STUDY.md section 7, "What a demo costs").
"""
import time

import torch

from strn.model.build import build_model


def main() -> None:
    torch.set_num_threads(1)
    model = build_model("strn", num_classes=12, seq_len=2, backbone="resnet50", width=16, weights="scratch")
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for batch in (5, 10, 16, 32, 64):
        x, y = torch.randn(batch, 2, 3, 48, 48), torch.randint(0, 12, (batch,))
        times = []
        for i in range(8):
            t0 = time.perf_counter()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            opt.zero_grad()
            if i >= 2:  # the first steps allocate
                times.append(time.perf_counter() - t0)
        dt = sorted(times)[len(times) // 2]
        print(f"micro-batch {batch:3d} sequences of 2 frames at 48 px: {dt * 1000:6.1f} ms per step, "
              f"{batch / dt:6.1f} sequences/s", flush=True)


if __name__ == "__main__":
    main()

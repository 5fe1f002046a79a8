"""Training-step and inference time of STRN against the plain ResNet on the same frames.

Measured side by side in one run, interleaved (A, B, A, B, ...) so that drifts of the
machine hit both alike; the ratio of medians is reported. "Plain ResNet on the same number
of frames" is the frame-level model of the thesis's baselines: the backbone applied to
all B*T frames (strn.model's ``frame_avg``), trained with the same loss and optimiser.
Target (issue: model): STRN training step <= 1.05x the plain ResNet, for T = 2 and 5.

    .venv/bin/python benchmarks/bench_model.py            # CPU, fp32
    .venv/bin/python benchmarks/bench_model.py --device cuda --amp   # bf16 + channels_last
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from strn.model import build_model
from strn.results import atomic_write_text, environment

CONFIGS = {  # name: (width, input px, batch of sequences)
    "narrow-w16-48px": (16, 48, 16),
    "resnet50-112px": (64, 112, 4),
}


def make_step(model, x, y, opt, device, amp: bool, train: bool):
    def step():
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            if train:
                loss = F.cross_entropy(model(x).float(), y)
            else:
                with torch.no_grad():
                    model(x)
        if train:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def bench(config: str, seq_len: int, device: torch.device, amp: bool, reps: int, train: bool) -> dict:
    width, px, batch = CONFIGS[config]
    torch.manual_seed(0)
    x = torch.randn(batch, seq_len, 3, px, px, device=device)
    y = torch.randint(0, 101, (batch,), device=device)
    steps = {}
    for kind in ("frame_avg", "strn"):
        m = build_model(kind, num_classes=101, seq_len=seq_len, backbone="resnet50", width=width).to(device)
        if device.type == "cuda":
            m = m.to(memory_format=torch.channels_last)
        m.train(train)
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)
        steps[kind] = make_step(m, x, y, opt, device, amp, train)
        for _ in range(5):  # warm-up: allocator, oneDNN primitive cache, kernel selection
            steps[kind]()
    times = {k: [] for k in steps}
    for _ in range(reps):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    frames = batch * seq_len
    return {"config": config, "T": seq_len, "mode": "train" if train else "inference", "batch": batch,
            "frames_per_step": frames, "plain_s": med["frame_avg"], "strn_s": med["strn"],
            "ratio": med["strn"] / med["frame_avg"], "strn_frames_per_s": frames / med["strn"],
            "plain_frames_per_s": frames / med["frame_avg"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--out", default="results/bench/model.json")
    a = ap.parse_args()
    device = torch.device(a.device)
    rows = []
    for config in a.configs.split(","):
        for train in (True, False):
            for T in (2, 3, 5):
                r = bench(config, T, device, a.amp, a.reps, train)
                rows.append(r)
                print(f"{config:16s} T={T} {r['mode']:9s} plain {r['plain_s'] * 1e3:8.1f} ms  "
                      f"STRN {r['strn_s'] * 1e3:8.1f} ms  ratio {r['ratio']:.3f}  "
                      f"({r['strn_frames_per_s']:.0f} frames/s)", flush=True)
    worst = max(r["ratio"] for r in rows if r["mode"] == "train" and r["T"] in (2, 5))
    print(f"worst training-step ratio STRN / plain (T = 2, 5): {worst:.3f} (target <= 1.05): "
          f"{'met' if worst <= 1.05 else 'MISSED'}")
    out = {"benchmark": "model", "device": str(device), "amp": a.amp, "threads": torch.get_num_threads(),
           "rows": rows, "worst_train_ratio_T2_T5": worst, "target": 1.05, "env": environment(device)}
    atomic_write_text(Path(a.out), json.dumps(out, indent=1) + "\n")
    print(f"written {a.out}")


if __name__ == "__main__":
    main()

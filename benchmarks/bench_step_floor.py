"""Can the demo's optimiser step get cheaper on a CPU core? The demo's step (ResNet-50 shape at
width 8, channels_last, fp32, torch's default Adam, 2 frames at 48 px) against what else was
tried to cut it, all measured side by side in one run, interleaved, one thread:

- Adam with ``foreach=True`` and with ``fused=True`` (fewer kernel calls per step);
- bf16 autocast (the CPU here has AVX512-BF16);
- 32 px instead of 48 (less arithmetic);
- three seeds of one configuration trained as one model (every convolution grouped by seed,
  BatchNorm over the stacked channels): one step's fixed cost shared by three runs; this row
  uses the plain backbone for both sides (no temporal connection), and its time is per seed;
- ``--compile``: torch.compile (inductor); its compilation time is printed too.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_step_floor.py [--compile] [--out results/bench/step_floor.json]

Why: the thesis's 1% rule fixes about 100 optimiser steps per epoch, so the demo's time is
steps x step cost (docs/STUDY.md section 7, "What a demo costs"); a 30-minute demo with 16
epochs would need the step about 20% cheaper than it is.
"""
import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from strn.model.build import build_model

BATCHES = (10, 94)  # sequences in a 1% step of the demo, and in a 10% step
SEEDS_STACKED = 3


def _strn() -> nn.Module:
    torch.manual_seed(0)
    return build_model("strn", num_classes=12, seq_len=2, backbone="resnet50", width=8, weights="scratch")


class _Frames(nn.Module):
    """A plain backbone over (B, C, H, W) frames with a grouped-friendly head (the stacked-seeds row)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.b = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.b
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.avgpool(b.layer4(b.layer3(b.layer2(b.layer1(x))))).flatten(1)
        return b.fc(x[:, :, None])[:, :, 0] if isinstance(b.fc, nn.Conv1d) else b.fc(x)


def _stack_seeds(model: nn.Module, k: int) -> nn.Module:
    """k independent copies of ``model`` as one: channels stacked, every convolution grouped by copy."""
    model = copy.deepcopy(model)
    for mod in list(model.modules()):
        for name, c in list(mod.named_children()):
            if isinstance(c, nn.Conv2d):
                setattr(mod, name, nn.Conv2d(c.in_channels * k, c.out_channels * k, c.kernel_size, c.stride,
                                             c.padding, c.dilation, c.groups * k, c.bias is not None))
            elif isinstance(c, nn.BatchNorm2d):
                setattr(mod, name, nn.BatchNorm2d(c.num_features * k))
            elif isinstance(c, nn.Linear):
                setattr(mod, name, nn.Conv1d(c.in_features * k, c.out_features * k, 1, groups=k))
    return model


def _variants(compile_too: bool) -> dict[str, dict]:
    """name -> model, optimiser, input maker (batch -> (x, y)), autocast flag, runs per step."""
    def seq(size: int):
        return lambda b: (torch.randn(b, 2, 3, size, size), torch.randint(0, 12, (b,)))

    out = {}
    for name, adam_kw, size, bf16 in (("demo step", {}, 48, False), ("Adam foreach", {"foreach": True}, 48, False),
                                      ("Adam fused", {"fused": True}, 48, False), ("bf16 autocast", {}, 48, True),
                                      ("32 px", {}, 32, False)):
        m = _strn().to(memory_format=torch.channels_last)
        out[name] = dict(model=m, opt=torch.optim.Adam(m.parameters(), 1e-3, **adam_kw), data=seq(size), bf16=bf16,
                         runs=1)
    torch.manual_seed(0)
    from strn.model.backbone import build_backbone
    plain = _Frames(build_backbone("resnet50", width=8, num_classes=12))
    for name, k in (("plain backbone, 1 seed", 1), (f"plain backbone, {SEEDS_STACKED} seeds stacked", SEEDS_STACKED)):
        m = (_Frames(_stack_seeds(plain.b, k)) if k > 1 else copy.deepcopy(plain)).to(memory_format=torch.channels_last)
        # B sequences of 2 frames per seed = 2B frames, each seed's frames in its own channels
        out[name] = dict(model=m, opt=torch.optim.Adam(m.parameters(), 1e-3), bf16=False, runs=k,
                         data=lambda b, k=k: (torch.randn(2 * b, 3 * k, 48, 48).contiguous(
                             memory_format=torch.channels_last), torch.randint(0, 12, (2 * b * k,))))
    if compile_too:
        m = _strn().to(memory_format=torch.channels_last)
        out["torch.compile"] = dict(model=torch.compile(m), opt=torch.optim.Adam(m.parameters(), 1e-3), data=seq(48),
                                    bf16=False, runs=1)
    return out


def _step(v: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=v["bf16"]):
        logits = v["model"](x)
    logits = logits.float().reshape(-1, 12) if v["runs"] == 1 else \
        logits.float().reshape(logits.shape[0], v["runs"], 12).reshape(-1, 12)
    nn.functional.cross_entropy(logits, y).backward()
    v["opt"].step()
    v["opt"].zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--compile", action="store_true", help="also torch.compile (about a minute per shape)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    variants = _variants(args.compile)
    first: dict[tuple, float] = {}
    times: dict[tuple, list[float]] = {}
    for _ in range(args.rounds):  # interleaved: every variant sees the same machine state
        for batch in BATCHES:
            for name, v in variants.items():
                x, y = v["data"](batch)
                t = _step(v, x, y)  # warm-up: the first step of a shape allocates (and compiles)
                first.setdefault((name, batch), t)
                times.setdefault((name, batch), []).extend(_step(v, x, y) for _ in range(args.steps))
    rows = []
    for batch in BATCHES:
        med = {n: sorted(times[(n, batch)])[len(times[(n, batch)]) // 2] / variants[n]["runs"] for n in variants}
        for name, dt in med.items():
            ref = med["plain backbone, 1 seed"] if name.startswith("plain backbone") else med["demo step"]
            rows.append({"variant": name, "batch": batch, "ms_per_step_per_run": dt * 1000, "speedup": ref / dt,
                         "first_step_s": first[(name, batch)]})
            print(f"micro-batch {batch:3d}  {name:34s} {dt * 1000:6.1f} ms per step and run ({ref / dt:4.2f}x)"
                  + (f", first step {first[(name, batch)]:.0f} s" if name == "torch.compile" else ""), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({
            "benchmark": "cheaper optimiser steps for the demo? one CPU thread, 2 frames per sequence",
            "reference": "demo step: width 8, channels_last, fp32, Adam defaults, 48 px; stacked seeds vs "
                         "the plain backbone alone", "rows": rows, "loadavg": os.getloadavg(),
            "torch": torch.__version__}, indent=1) + "\n")


if __name__ == "__main__":
    main()

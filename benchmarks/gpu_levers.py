"""The levers of the gpu profile's study, each timed for a few optimiser steps on the lease's card.

Why: the first lease's study did not fit its 15 minutes (results/gpu/README.md), and which
lever shortens it cannot be measured without a GPU. This times the training step the study
runs most (the thesis's model, the seeds of a configuration stacked, one micro-batch per 1%
step; the arithmetic of `strn.train.engine.run_epoch` over a `strn.train.stacked_fit.StackedBatches`, on
random frames of the profile's size) under each setting, at two micro-batch sizes, so that a step's time splits into a fixed
part (kernel launches, per micro-batch) and a part per frame (arithmetic):

    seconds per micro-batch = fixed + per_frame x frames

`benchmarks/gpu_cost_model.py` turns those two numbers into the projected study time.

Settings (each one lever changed from ``default``: the profile's determinism, channels_last,
bf16 autocast, frames already on the device, the K seeds stacked):

* ``toggle_determinism``: the other determinism setting (its cost); for it and ``default``
  also whether a few steps done twice give bit-identical weights (``repeatable``);
* ``no_channels_last``; ``fp32`` (autocast off; the study's runs keep ``train.amp``, which is
  part of their configuration hash, so this is measured, not switched);
* ``host_frames``: frames copied from pinned host memory every micro-batch (the loader's path)
  instead of indexed from a tensor already on the device;
* ``unstacked``: one seed's model (K = 1): whether grouped convolutions cost more per frame;
* ``cuda_graph`` (CUDA only): forward and backward captured once and replayed
  (`torch.cuda.make_graphed_callables`), the launch overhead a graph removes.

On a CPU (the dry run) the same code runs at the smoke profile's sizes; its numbers mean nothing.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from strn.train import determinism
from strn.config import make_config
from strn.data.transforms import crop_batch, to_input
from strn.train.engine import autocast, make_optimizer, place_model
from strn.model import build_model
from strn.model.stacked import stack_inputs, stack_models

# most telling first: the budget skips the last
SETTINGS = ("default", "cuda_graph", "unstacked", "toggle_determinism", "host_frames", "no_channels_last", "fp32")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_steps(profile: str, device: torch.device, batches: tuple[int, ...], *, k: int = 3, amp: bool = True,
               host_frames: bool = False, graph: bool = False) -> list[Callable[[], None]]:
    """For each micro-batch size of ``batches`` (sequences), one micro-batch that ends an
    optimiser step of ``k`` stacked seeds of the profile's thesis model (T = 2), on random
    uint8 frames of the profile's size. One model for all sizes (building it takes seconds),
    except with ``graph``: a captured graph has one input shape, so one model per size."""
    cfg = make_config(profile)
    d, m = cfg.data, cfg.model

    def model_and_optimizer():
        torch.manual_seed(0)
        models = [build_model("strn", num_classes=12, seq_len=d.seq_len, backbone=m.backbone, width=m.width)
                  for _ in range(k)]
        model = place_model(stack_models(models) if k > 1 else models[0], device).train()
        return model, make_optimizer(list(model.parameters()), cfg.train)

    def ctx():  # a captured graph replays autocast's casts: its weight cache must be off
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp, cache_enabled=False) if graph else \
            autocast(device, amp)

    shared = None if graph else model_and_optimizer()
    steps = []
    for batch in batches:
        model, opt = shared or model_and_optimizer()
        pool = torch.randint(0, 256, (4 * batch, d.seq_len, 3, d.size, d.size), dtype=torch.uint8)
        pool = (pool.pin_memory() if device.type == "cuda" else pool) if host_frames else pool.to(device)
        y = torch.randint(0, 12, (batch, k), device=device)
        gen = torch.Generator().manual_seed(0)

        def inputs(pool=pool, batch=batch, gen=gen, i=[0]) -> torch.Tensor:  # noqa: B006 - the counter
            s = (i[0] % 4) * batch
            i[0] += 1
            frames = pool[s:s + batch].to(device, non_blocking=True)
            return stack_inputs([to_input(crop_batch(frames, d.crop, gen, d.flip), device) for _ in range(k)])

        forward = model
        if graph:
            with ctx():
                forward = torch.cuda.make_graphed_callables(model, (inputs(),))

        def step(forward=forward, opt=opt, y=y, batch=batch, inputs=inputs) -> None:
            with ctx():
                logits = forward(inputs()).float().unflatten(1, (k, -1))
                loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(0)
            (loss.sum() / batch).backward()
            opt.step()
            opt.zero_grad(set_to_none=not graph)
        step.model = model  # type: ignore[attr-defined] - for `repeatable`
        steps.append(step)
    return steps


def repeatable(profile: str, device: torch.device, batch: int, n_steps: int = 4) -> bool:
    """Whether ``n_steps`` optimiser steps from the same initialisation on the same frames, done
    twice, give bit-identical weights (`strn.train.determinism.state_digest`) under this process's
    kernel settings: what a rerun of the study on this card would give."""
    digests = []
    for _ in range(2):
        torch.manual_seed(0)  # the frames and labels too
        step = make_steps(profile, device, (batch,))[0]
        for _ in range(n_steps):
            step()
        digests.append(determinism.state_digest(step.model.state_dict()))
    return digests[0] == digests[1]


def time_step(step: Callable[[], None], device: torch.device, warmup: int, reps: int) -> float:
    """Median seconds of one call after ``warmup`` calls (cuDNN's choices, the allocator)."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@contextlib.contextmanager
def _settings(deterministic: bool | None = None, channels_last: bool | None = None):
    """This process's kernel settings changed inside the block (`strn.train.determinism`), then restored."""
    old = determinism.deterministic(), determinism.channels_last()
    determinism.configure(deterministic=deterministic, channels_last=channels_last)
    try:
        yield
    finally:
        determinism.configure(deterministic=old[0], channels_last=old[1])


def measure(profile: str, device: str, batches: tuple[int, int], *, warmup: int = 3, reps: int = 8,
            settings: tuple[str, ...] = SETTINGS, budget_s: float = 60.0) -> dict[str, Any]:
    """Each setting's seconds per micro-batch at the two sizes ``batches`` (sequences), split
    into ``fixed_s`` and ``per_frame_s`` (frames: sequences x T x seeds); its speed-up over
    ``default`` at the small size (the study's 1% step). Settings past ``budget_s`` are skipped."""
    dev = torch.device(device)
    t_start = time.perf_counter()
    seq_len = make_config(profile).data.seq_len
    out: dict[str, Any] = {"profile": profile, "device": device, "batches": list(batches), "T": seq_len,
                           "deterministic_default": determinism.deterministic(), "settings": {}, "skipped": []}
    for name in settings:
        if name == "cuda_graph" and dev.type != "cuda":
            continue
        if time.perf_counter() - t_start > budget_s:
            out["skipped"].append(name)
            continue
        k = 1 if name == "unstacked" else 3
        det = not determinism.deterministic() if name == "toggle_determinism" else None
        row: dict[str, Any] = {"seeds_stacked": k}
        try:
            with _settings(deterministic=det, channels_last=False if name == "no_channels_last" else None):
                row["deterministic"] = determinism.deterministic()
                steps = make_steps(profile, dev, batches, k=k, amp=name != "fp32", host_frames=name == "host_frames",
                                   graph=name == "cuda_graph")
                for b, step in zip(batches, steps):
                    row[f"s_at_{b}"] = time_step(step, dev, warmup, reps)
                if name in ("default", "toggle_determinism"):
                    row["repeatable"] = repeatable(profile, dev, batches[0])
        except Exception as e:  # noqa: BLE001 - one lever failing must not cost the others (or the lease)
            row["error"] = f"{type(e).__name__}: {e}"[:500]
            out["settings"][name] = row
            continue
        (b1, b2), (t1, t2) = batches, (row[f"s_at_{batches[0]}"], row[f"s_at_{batches[1]}"])
        f1, f2 = b1 * seq_len * k, b2 * seq_len * k
        row["per_frame_s"] = max((t2 - t1) / (f2 - f1), 0.0)
        row["fixed_s"] = max(t1 - row["per_frame_s"] * f1, 0.0)
        out["settings"][name] = row
    base = out["settings"].get("default", {})
    for name, row in out["settings"].items():
        if "error" not in row and "error" not in base and base:
            # per seed trained: an unstacked step trains one seed where the others train three
            row["speedup_small"] = base[f"s_at_{batches[0]}"] / row[f"s_at_{batches[0]}"] * row["seeds_stacked"] / 3
    out["wall_s"] = time.perf_counter() - t_start
    return out


def best_channels_last(levers: dict[str, Any], margin: float = 1.05) -> bool:
    """channels_last unless turning it off was measured at least ``margin`` times faster."""
    row = levers.get("settings", {}).get("no_channels_last", {})
    return not row.get("speedup_small", 0.0) >= margin

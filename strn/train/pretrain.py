"""A stand-in for ImageNet pretraining in the small profiles (Tables 5.1/5.2 need a
*pretrained*, frozen backbone).

The thesis taps a ResNet-50 trained on ImageNet: generic image features, learnt without
ever seeing the videos' classes or any motion. Profile ``full`` does exactly that
(``weights="imagenet"``, torchvision's file, see `strn.model.backbone.load_weights`).
No weights can be downloaded and the smoke/demo nets are narrow ResNet-50 shapes anyway,
so those profiles pretrain their backbone here, once, on a still-image task:

* **Images**: single stills drawn with the synthetic set's own drawing code
  (`strn.data.synth.render_scene` backgrounds, `strn.data.synth.render_frame` objects, the same
  per-pixel noise), so they overlap the distribution of the videos' frames: textured
  backgrounds with a distractor blob, one anti-aliased shape at a uniform position on
  the torus. Scenes come from a seed stream of their own (not the videos' scenes).
* **Label**: object shape (all four of `strn.data.synth.SHAPES`, also those absent from a
  profile's video set) x object size (small / large radius) -- 8 classes. Half of the
  stills give the object its shape's video colour (jittered, as the videos do), the
  other half a random bright colour, so colour is a partial cue and geometry is needed.
* **No motion, no video labels**: a still has no velocity (``ClipParams.velocity`` is
  (0, 0) and `render_frame` never reads it), nothing here reads `strn.data.synth.MOTIONS`,
  and the label is not the video class (there are no directions in it). Whatever the
  backbone learns is a frame-level, direction-free feature -- the role ImageNet plays
  in the thesis. It does learn what a shape looks like, which single video frames also
  show (STUDY §5: "a single frame shows partial class evidence").

The checkpoint is a deterministic function of the settings and the seed (data from
numpy generators, initialisation and order from torch generators, CPU fp32 training with
``PRETRAIN_THREADS`` torch threads whatever the caller's count) and is cached as
``<data_dir>/pretrained/<name>-<hash>.pt`` (written atomically; reused when present). It holds ``{"model": ResNet state dict (fc of 8 classes), "meta": {...}}``,
which `load_weights` reads like any project checkpoint (the fc of another size is skipped).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from . import determinism
from ..data import synth
from ..config import TrainConfig
from ..data.transforms import to_input
from .engine import fit_source
from ..digest import digest
from ..model.backbone import build_backbone, imagenet_weights_path
from ..paths import default_data_dir
from ..profiles import get_profile
from ..results import cached

__all__ = ["PRETRAIN_THREADS", "PRETRAIN_VERSION", "PretrainSpec", "SIZE_BINS", "checkpoint_name", "evaluate_backbone", "load_meta",
           "make_stills", "pretrain_classes", "pretrain_spec", "pretrained_backbone", "pretrained_path", "train_on_stills"]

# Bump when the task or the training changes what a checkpoint holds: it names the file, so
# every cache and stored baseline row made from an older stand-in (features, finetuned
# backbones, `strn.study.frame_baselines.weights_id`) is made again. 3: CPU training pinned to
# PRETRAIN_THREADS threads (version 2 used the caller's count).
PRETRAIN_VERSION = 3

# CPU pretraining always runs with this many torch threads. A CPU kernel splits its sums by
# thread count and training amplifies the rounding: the demo's stand-in made with 1 thread and
# with 2 differ by up to 18 in a weight, and conv 98-104 trained from each ends at 0.17-0.19
# against 0.11-0.13 video error (docs/STUDY.md section 7). Pinned, the stand-in, and every
# number trained from it, is the same on a laptop, a CI runner and a 16-core machine (of one
# instruction set). 2: what `strn report`'s parent had on the 2-core reference machine, so the
# committed demo's stand-in is this one.
PRETRAIN_THREADS = 2

# A folder of stand-ins shared by many data folders (the test suite sets it: tests/conftest.py).
# The checkpoint is a deterministic function of its name's spec and key, so one made there is
# copied into each data folder that asks for it instead of being trained again; unset: each
# data folder trains its own.
SHARED_ENV = "STRN_STAND_IN_CACHE"

# Radius as a fraction of the image side: the videos use 0.12-0.16, overlapping the small bin.
SIZE_BINS: dict[str, tuple[float, float]] = {"small": (0.10, 0.14), "large": (0.17, 0.23)}


def pretrain_classes(spec: "PretrainSpec | None" = None) -> list[str]:
    """``<Shape>-<size>``: shape x size, 8 classes; no motion anywhere. With
    ``spec.position_bins`` = k > 1 also ``-at<cell>``: where the object is, on a k x k grid."""
    k = spec.position_bins if spec is not None else 1
    cells = [""] if k == 1 else [f"-at{i}" for i in range(k * k)]
    return [f"{s}-{b}{c}" for s in synth.SHAPES for b in SIZE_BINS for c in cells]


@dataclass(frozen=True)
class PretrainSpec:
    """Everything that determines a pretrained checkpoint."""
    backbone: str = "resnet50"
    width: int = 8
    size: int = 48  # image side: the profile's network input
    n_train: int = 4000  # stills
    n_test: int = 800  # held-out stills (reported accuracy)
    n_scenes: int = 96  # background pool (rendered once)
    epochs: int = 2
    batch_size: int = 32
    lr: float = 2e-3
    noise: float = 4.0  # per-pixel Gaussian noise, as the videos
    seed: int = 0
    # k > 1: the label also says in which cell of a k x k grid the object's centre lies, so the
    # deep features keep where things are (ImageNet features do; a shape-only task teaches the
    # net to discard position, the very cue that tells a moving object's direction).
    position_bins: int = 1
    # Object opacity, uniform in this range per still: (1, 1) opaque; lower values show shapes
    # also when they are see-through (as in the videos' fades), which ImageNet's variety covers.
    opacity: tuple[float, float] = (1.0, 1.0)

    def digest(self) -> str:
        return digest({"v": PRETRAIN_VERSION, **dataclasses.asdict(self)}, 12)


def pretrain_spec(profile: str, *, backbone: str = "resnet50", width: int | None = None, size: int | None = None,
                  seed: int = 0) -> PretrainSpec:
    """The profile's pretraining task (its ``pretrain`` entry in strn/profiles.py)."""
    fields = get_profile(profile).pretrain
    if fields is None:
        raise ValueError(f"profile {profile!r} uses ImageNet weights, not the still-image stand-in (strn/profiles.py)")
    base = PretrainSpec(**{**fields, "backbone": backbone, "seed": seed})
    return dataclasses.replace(base, width=width or base.width, size=size or base.size)


def checkpoint_name(spec: PretrainSpec) -> str:
    return f"stills-{spec.backbone}-w{spec.width}-{spec.size}px-{spec.digest()}.pt"


def make_stills(spec: PretrainSpec, n: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stills (n, 3, size, size) uint8 and labels (n,) from seed stream ``stream``
    (0: training, 1: held out). Deterministic in (spec, n, stream)."""
    size = spec.size
    rng = np.random.default_rng([spec.seed, 7919, stream])
    scene_rng = np.random.default_rng([spec.seed, 104729])  # shared by both streams: same scene pool
    scenes = [synth.render_scene(int(s), size) for s in scene_rng.integers(2**31, size=spec.n_scenes)]
    bins = list(SIZE_BINS.values())
    palette = np.array(list(synth.SHAPE_COLOURS.values()), dtype=np.float64)
    imgs = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        shape_idx = int(rng.integers(len(synth.SHAPES)))
        size_idx = int(rng.integers(len(bins)))
        if rng.random() < 0.5:  # the shape's own video colour (a partial cue, as in the videos)
            colour = palette[shape_idx] + rng.uniform(-20, 20, size=3)
        else:  # any bright colour: geometry must carry the label
            colour = rng.uniform(90, 255, size=3)
        params = synth.ClipParams(shape=synth.SHAPES[shape_idx], colour=tuple(np.clip(colour, 0, 255)),
                                  radius=float(rng.uniform(*bins[size_idx]) * size), start=(0.0, 0.0),
                                  velocity=(0.0, 0.0), n_frames=1, scene_seed=0, noise_seed=0)
        centre = rng.uniform(0, size, size=2)
        scene = scenes[int(rng.integers(len(scenes)))]
        lo, hi = spec.opacity  # drawn only when it varies: the default task's stream is unchanged
        opacity = 1.0 if lo == hi == 1.0 else float(rng.uniform(lo, hi))
        frame = synth.render_frame(scene, params, (centre[0], centre[1]), opacity=opacity)
        frame += rng.normal(0.0, spec.noise, size=frame.shape)
        imgs[i] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        k = spec.position_bins
        cell = int(centre[1] * k // size) * k + int(centre[0] * k // size)  # row-major, (x, y) = centre
        labels[i] = (shape_idx * len(bins) + size_idx) * k * k + cell
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def _inputs(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return to_input(x.unsqueeze(1), device).squeeze(1)  # the videos' normalisation


@torch.no_grad()
def evaluate_backbone(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device | str = "cpu",
                      batch_size: int = 256) -> float:
    """Accuracy of a ResNet (fc = the pretraining classes) on stills."""
    device = torch.device(device)
    net.eval().to(device)
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(_inputs(x[i:i + batch_size], device)).argmax(1).cpu() == y[i:i + batch_size]).sum())
    return correct / max(len(x), 1)


class StillBatches:
    """The engine's batch source for stills (n, 3, size, size) uint8 and their labels."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> None:
        self.x, self.y, self.device, self.n = x, y, device, len(y)

    def load(self, batches: list[list[int]]):
        return ((self.x[b], self.y[b]) for b in batches)

    def forward(self, model: torch.nn.Module, batch, gen) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = batch
        return model(_inputs(x, self.device)), y.to(self.device), len(y)


@contextmanager
def _torch_threads(n: int):
    """torch's intra-op threads set to ``n`` inside the block, the caller's count restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train_on_stills(spec: PretrainSpec, device: torch.device | str = "cpu",
                    progress: bool | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train the backbone on the stills task; returns (net, meta with accuracy and history).
    On the CPU with ``PRETRAIN_THREADS`` threads (the caller's count is restored)."""
    device = torch.device(device)
    # Pretraining seeds torch itself; the caller's generators are restored after, so a run's own
    # initialisation never depends on whether the stand-in was made in this process or found cached.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _train_pinned(spec, device, progress)


def _train_pinned(spec: PretrainSpec, device: torch.device,
                  progress: bool | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    if device.type == "cpu":
        with _torch_threads(PRETRAIN_THREADS):
            net, meta = _train_on_stills(spec, device, progress)
        return net, dict(meta, threads=PRETRAIN_THREADS)
    return _train_on_stills(spec, device, progress)


def _train_on_stills(spec: PretrainSpec, device: torch.device,
                     progress: bool | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    t0 = time.perf_counter()
    x_tr, y_tr = make_stills(spec, spec.n_train, 0)
    x_te, y_te = make_stills(spec, spec.n_test, 1)
    render_s = time.perf_counter() - t0
    torch.manual_seed(spec.seed)
    net = build_backbone(spec.backbone, width=spec.width, num_classes=len(pretrain_classes(spec)))
    # Residual branches start at zero (torchvision's zero_init_residual; Goyal et al. 2017):
    # the deep narrow net starts as a shallow one and learns in a few hundred steps.
    for m in net.modules():
        if isinstance(m, Bottleneck):
            torch.nn.init.zeros_(m.bn3.weight)
        elif isinstance(m, BasicBlock):
            torch.nn.init.zeros_(m.bn2.weight)
    # Plain mini-batch Adam: one optimiser step per batch of stills, the held-out accuracy after each epoch.
    cfg = TrainConfig(optimizer="adam", lr=spec.lr, epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed,
                      amp=False)

    def held_out(model: torch.nn.Module, dev: torch.device) -> dict[str, float]:
        acc = evaluate_backbone(model, x_te, y_te, dev)
        return {"error_rate": 1 - acc, "clip_accuracy": acc}

    t1 = time.perf_counter()
    out = fit_source(net, lambda dev: StillBatches(x_tr, y_tr, dev), cfg, device=device, evaluate=held_out,
                     seqs_per_step=spec.batch_size, progress=progress)
    history = [{"epoch": r["epoch"], "train_loss": r["train_loss"], "train_accuracy": r["train_clip_accuracy"],
                "test_accuracy": r["test_clip_accuracy"]} for r in out.history]
    train_s = time.perf_counter() - t1
    net.cpu().eval()
    task = "shape x size" + (f" x position ({spec.position_bins}x{spec.position_bins} grid)" if spec.position_bins > 1 else "")
    meta = {"task": f"stills: {task} (no motion)", "classes": pretrain_classes(spec),
            "spec": json.loads(json.dumps(dataclasses.asdict(spec))),  # JSON types: equal when read back
            "version": PRETRAIN_VERSION,
            "test_accuracy": history[-1]["test_accuracy"] if history else None,
            "chance": 1 / len(pretrain_classes(spec)), "history": history,
            "render_s": render_s, "train_s": train_s, "images_per_s": spec.epochs * spec.n_train / max(train_s, 1e-9)}
    return net, meta


def load_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` of a stills checkpoint ({} for other weights files)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return dict(obj.get("meta", {})) if isinstance(obj, dict) else {}


def pretrained_path(profile: str, data_dir: str | Path | None = None, *, backbone: str = "resnet50",
                    width: int | None = None, size: int | None = None, seed: int = 0) -> Path:
    """Where `pretrained_backbone` keeps (or finds) the weights of ``profile``; makes nothing."""
    if get_profile(profile).pretrain is None:
        return Path(imagenet_weights_path())
    spec = pretrain_spec(profile, backbone=backbone, width=width, size=size, seed=seed)
    return Path(data_dir or default_data_dir()) / "pretrained" / checkpoint_name(spec)


def pretrained_backbone(profile: str, data_dir: str | Path | None = None, *, backbone: str = "resnet50",
                        width: int | None = None, size: int | None = None, seed: int = 0,
                        device: torch.device | str = "cpu", progress: bool | None = None) -> Path:
    """Path of the pretrained weights of ``profile``: torchvision's ImageNet file for
    ``full`` (FileNotFoundError explaining where to put it when missing), else the
    stills checkpoint under ``<data_dir>/pretrained/``, trained on first use.

    Pretraining runs on ``device`` (default CPU: bit-reproducible, with ``PRETRAIN_THREADS``
    threads). The file's cache key says how it was made (``<spec digest>:cpu<threads>`` or
    ``:<accelerator>``); a CPU-made or accelerator-made file is reused by any caller (a
    lease's stand-in is made on its GPU and read by the CPU-side parent); one keyed otherwise
    is made again."""
    path = pretrained_path(profile, data_dir, backbone=backbone, width=width, size=size, seed=seed)
    if get_profile(profile).pretrain is None:
        return path
    spec = pretrain_spec(profile, backbone=backbone, width=width, size=size, seed=seed)

    kind = torch.device(device).type
    made = f"cpu{PRETRAIN_THREADS}" if kind == "cpu" else kind
    also = [f"{spec.digest()}:{k}" for k in (f"cpu{PRETRAIN_THREADS}", "cuda", "mps")]

    def make() -> dict[str, Any]:
        net, meta = train_on_stills(spec, device, progress)
        return {"model": net.state_dict(), "meta": meta}

    def train() -> dict[str, Any]:
        determinism.configure_for_profile(profile)  # a GPU-made stand-in is then the same when made again
        shared = os.environ.get(SHARED_ENV)
        if shared:  # made once in that folder (under its lock), the same file copied into this data folder
            obj = cached(Path(shared) / path.name, f"{spec.digest()}:{made}", make, also=also)
            return {"model": obj["model"], "meta": obj["meta"]}
        return make()

    cached(path, f"{spec.digest()}:{made}", train, also=also)
    return path

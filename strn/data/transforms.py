"""The one augmentation path: crops (and flips) of uint8 batches, then normalisation on the
training device. Used by the training engine, evaluation, inference and the frame baselines.

Batches stay uint8 (B, T, 3, H, W) until `to_input`, so they cross to the device at a
quarter of the float size; crops are drawn from a generator the caller seeds (the engine:
per (seed, epoch, micro-batch)), so a resumed run draws the same ones.

Flip *(choice)*: a horizontal flip turns a left motion into a right one. On the synthetic
set, where MoveLeft and MoveRight are different classes, it would change the class, so it
is off by default; for UCF-101 (no class is defined by left/right) it is the usual
augmentation and the caller turns it on.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def crop_batch(x: torch.Tensor, crop: int, gen: torch.Generator | None, flip: bool = False) -> torch.Tensor:
    """Crop (B, T, C, H, W) to ``crop``: random per sequence (same window for all its frames)
    when ``gen`` is given, else central. ``flip`` mirrors half of the sequences at random."""
    B, T, C, H, W = x.shape
    if H == crop and W == crop and not flip:
        return x
    if gen is None:
        top, left = (H - crop) // 2, (W - crop) // 2
        return x[..., top:top + crop, left:left + crop]
    tops = torch.randint(0, H - crop + 1, (B,), generator=gen).tolist()
    lefts = torch.randint(0, W - crop + 1, (B,), generator=gen).tolist()
    flips = (torch.rand(B, generator=gen) < 0.5).tolist() if flip else [False] * B
    out = []
    for b in range(B):
        xb = x[b, ..., tops[b]:tops[b] + crop, lefts[b]:lefts[b] + crop]
        out.append(xb.flip(-1) if flips[b] else xb)
    return torch.stack(out)


def to_input(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, T, C, H, W) on the host -> normalised float on ``device`` (normalising there)."""
    return normalize(x, device)


def normalize(x_uint8: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32 on ``device``: /255, then ImageNet mean/std.

    The copy is non-blocking (overlaps compute when the loader pins memory) and the
    arithmetic runs on ``device``, not in the loader workers.
    """
    # contiguous: frames arrive as permuted views of (H, W, C) arrays, and convolutions on
    # such strides take slow paths on the CPU (10x seen here).
    x = x_uint8.to(device, non_blocking=True).float().div_(255.0).contiguous()
    mean, std = _mean_std(str(x.device))
    return x.sub_(mean).div_(std)


@functools.lru_cache(maxsize=None)
def _mean_std(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    # Made once per device: building them per batch is a host-to-device copy each time.
    return (torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1))


def frames_input(frames: np.ndarray, crop: int, device: torch.device, gen: torch.Generator | None = None,
                 flip: bool = False) -> torch.Tensor:
    """Single frames uint8 (N, H, W, 3) -> normalised (N, 3, crop, crop) on ``device``, each frame
    cropped on its own (the frame baselines and the pretraining stills)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).unsqueeze(1)  # (N, 1, 3, H, W)
    return to_input(crop_batch(x, crop, gen, flip), device).squeeze(1)

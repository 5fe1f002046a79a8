"""Train/eval transforms of a sequence, and normalisation on the training device.

Transforms work on uint8 (T, 3, H, W) and stay uint8, so batches cross to the device at a
quarter of the float size; ``normalize`` converts there.

Flip *(choice)*: a horizontal flip turns a left motion into a right one. On the synthetic
set, where MoveLeft and MoveRight are different classes, it would change the class, so it
is off by default; for UCF-101 (no class is defined by left/right) it is the usual
augmentation and the caller turns it on.
"""

from __future__ import annotations

import functools

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check(frames: torch.Tensor, crop: int) -> None:
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"expected frames (T, 3, H, W), got {tuple(frames.shape)}")
    if crop > frames.shape[2] or crop > frames.shape[3]:
        raise ValueError(f"crop {crop} larger than frames {tuple(frames.shape[2:])}")


def train_transform(frames: torch.Tensor, crop: int, rng: torch.Generator,
                    flip: bool = False) -> torch.Tensor:
    """One random ``crop`` x ``crop`` window (and, with ``flip``, one coin for a
    horizontal flip) applied to ALL frames: the motion between frames is unchanged."""
    _check(frames, crop)
    h, w = frames.shape[2], frames.shape[3]
    top = int(torch.randint(0, h - crop + 1, (1,), generator=rng))
    left = int(torch.randint(0, w - crop + 1, (1,), generator=rng))
    out = frames[:, :, top : top + crop, left : left + crop]
    if flip and bool(torch.rand(1, generator=rng) < 0.5):
        out = out.flip(-1)
    return out


def eval_transform(frames: torch.Tensor, crop: int) -> torch.Tensor:
    """Centre ``crop`` x ``crop`` window of every frame.

    Both transforms return views, not copies: batching (``torch.stack``) copies the frames
    once anyway, and `normalize` makes the network's input contiguous."""
    _check(frames, crop)
    top, left = (frames.shape[2] - crop) // 2, (frames.shape[3] - crop) // 2
    return frames[:, :, top : top + crop, left : left + crop]


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

"""Decoding sampled frames with PyAV, and the arithmetic that cuts them into sequences.

Sampling (STUDY §2): frames 0, r, 2r, ... of the decoded stream, in decode order of
presentation (PyAV yields frames in presentation order).

Resizing *(choice)*: the shorter side is scaled to ``size`` (aspect kept, by libswscale
through ``VideoFrame.reformat``, bilinear), then the longer side is centre-cropped so
every cached frame is ``size x size``. Square frames keep batches uniform across videos
of different aspect ratios; UCF-101 is 320x240, so a 4:3 frame loses 1/8 on each side,
which is where the action rarely is. ``size=None`` keeps the native resolution.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

# Bump when the decoding or resizing changes the arrays produced: it is part of the
# frame cache key, so stale cache entries are never read.
DECODER_VERSION = 1


class VideoReadError(Exception):
    """A video could not be read. ``path`` and ``reason`` are kept for reports."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read video {self.path}: {reason}")

    def __reduce__(self):  # picklable across processes despite the two-argument init
        return (type(self), (self.path, self.reason))


def _scaled_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the shorter side equal to ``size`` and the aspect ratio kept."""
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size


def _center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def _check_file(path: Path) -> None:
    """Give the common failures a clear reason before FFmpeg gives a cryptic one."""
    if not path.exists():
        raise VideoReadError(path, "file not found")
    if not path.is_file():
        raise VideoReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes)")


def decode_sampled(path: str | os.PathLike, rate: int, size: int | None) -> np.ndarray:
    """Decode frames 0, rate, 2*rate, ... of ``path`` in one pass.

    Returns an array (N, H, W, 3) uint8 RGB; with ``size`` set, H = W = size (see the
    module docstring). Raises VideoReadError (naming the file) when the file is missing,
    empty, not a video, or yields no frame.
    """
    if rate < 1:
        raise ValueError(f"rate must be >= 1, got {rate}")
    path = Path(path)
    _check_file(path)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "no video stream")
            stream = container.streams.video[0]
            # Frame-level threading: decoding is the bottleneck of a cache miss.
            stream.thread_type = "AUTO"
            dims = None
            for i, frame in enumerate(container.decode(stream)):
                if i % rate:
                    continue  # still decoded (inter frames need it), never converted
                if size is None:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    continue
                if dims is None:
                    dims = _scaled_dims(frame.width, frame.height, size)
                img = frame.reformat(width=dims[0], height=dims[1], format="rgb24",
                                     interpolation="BILINEAR").to_ndarray()
                frames.append(_center_crop(img, size))
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:  # corrupt or not a video
        raise VideoReadError(path, f"decoding failed: {exc}") from exc
    if not frames:
        raise VideoReadError(path, "no decodable frames")
    return np.ascontiguousarray(np.stack(frames))


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames a full decode yields (decodes, no colour conversion).

    Used by the data audit; raises VideoReadError like ``decode_sampled``.
    """
    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            n = sum(1 for _ in container.decode(stream))
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(path, f"decoding failed: {exc}") from exc
    if n == 0:
        raise VideoReadError(path, "no decodable frames")
    return n


def n_sampled(n_frames: int, rate: int) -> int:
    """How many of ``n_frames`` decoded frames sampling every ``rate``-th keeps."""
    return -(-n_frames // rate)  # ceil: frame 0 is always kept


def sequence_windows(n_frames: int, seq_len: int) -> list[tuple[int, ...]]:
    """Non-overlapping windows of ``seq_len`` indices into ``n_frames`` sampled frames.

    ``n_frames >= seq_len``: windows (0..T-1), (T..2T-1), ...; a remainder shorter than T
    is dropped (it would need padding in the middle of a video). ``0 < n_frames < T``:
    ONE window padded by repeating the last frame, e.g. n=1, T=3 -> (0, 0, 0) (STUDY §2
    choice; callers count these). ``n_frames == 0``: no window.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if n_frames <= 0:
        return []
    if n_frames < seq_len:
        return [tuple(range(n_frames)) + (n_frames - 1,) * (seq_len - n_frames)]
    return [tuple(range(s, s + seq_len)) for s in range(0, n_frames - seq_len + 1, seq_len)]

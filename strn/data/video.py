"""Decoding sampled frames with PyAV, and the arithmetic that cuts them into sequences.

Sampling (STUDY §2): frames 0, r, 2r, ... of the decoded stream, in decode order of
presentation (PyAV yields frames in presentation order).

Resizing *(choice)*: the shorter side is scaled to ``size`` (aspect kept, by libswscale
through one reused ``VideoReformatter``, bilinear), then the longer side is centre-cropped so
every cached frame is ``size x size``. Square frames keep batches uniform across videos
of different aspect ratios; UCF-101 is 320x240, so a 4:3 frame loses 1/8 on each side,
which is where the action rarely is. ``size=None`` keeps the native resolution.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

_BILINEAR = Interpolation.BILINEAR

# Bump when the decoding or resizing changes the arrays produced: it is part of the
# frame cache key, so stale cache entries are never read.
DECODER_VERSION = 1

# A decode that yields fewer frames than the container header lists, by more than this
# (frames, or this share of the header count, whichever is larger), is a truncated file.
# The slack tolerates headers that are off by a frame or two (packed B-frames, a dropped
# last frame) without skipping a good video.
TRUNCATION_SLACK = (2, 0.02)

# Frames of at least this many pixels are decoded with frame-level threads (see
# ``open_stream``); 160x120 sits between the sizes measured.
FRAME_THREADS_MIN_PIXELS = 160 * 120

_CHECK_DATA = "`strn check-data <root>` lists every unreadable video"
_REPLACE = ("copy or extract it again from the original archive (UCF101.rar), or remove "
            "it from the split lists")


class VideoReadError(Exception):
    """A video could not be read. ``path``, ``reason`` and ``fix`` are kept for reports.

    ``reason`` says what is wrong (short, for tables); ``fix`` what to do about it. The
    message names the file and carries both.
    """

    def __init__(self, path: str | os.PathLike, reason: str, fix: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.fix = fix or f"{_REPLACE}; {_CHECK_DATA}"
        super().__init__(f"cannot read video {self.path}: {reason}. Fix: {self.fix}")

    def __reduce__(self):  # picklable across processes despite the custom init
        return (type(self), (self.path, self.reason, self.fix))


def scaled_dims(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the shorter side equal to ``size`` and the aspect ratio kept."""
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size


def _check_file(path: Path) -> None:
    """Give the common failures a clear reason before FFmpeg gives a cryptic one."""
    if not path.exists():
        raise VideoReadError(path, "file not found",
                             "check the data root and that the archive was fully extracted; "
                             + _CHECK_DATA)
    if not path.is_file():
        raise VideoReadError(path, "not a regular file",
                             "a video path must name a file, not a folder; " + _CHECK_DATA)
    if path.stat().st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes)",
                             "an interrupted download, copy or extraction leaves empty files: "
                             + _REPLACE + "; " + _CHECK_DATA)


def _truncated(path: Path, decoded: int, listed: int) -> None:
    """Raise when ``decoded`` frames fall short of the ``listed`` (header) count."""
    if listed <= 0:  # the container does not say (e.g. some MKV): nothing to compare
        return
    slack = max(TRUNCATION_SLACK[0], int(TRUNCATION_SLACK[1] * listed))
    if decoded < listed - slack:
        raise VideoReadError(
            path, f"truncated: decoded {decoded} of the {listed} frames its header lists",
            "the file is cut short (an interrupted download, copy or extraction): "
            + _REPLACE + "; " + _CHECK_DATA)


def open_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    if not container.streams.video:
        raise VideoReadError(path, "no video stream",
                             "this is not a video (audio only, or another file type under a "
                             ".avi name): " + _REPLACE)
    stream = container.streams.video[0]
    # Frame-level threading ("AUTO") pays on UCF-101-sized frames (320x240: ~1.3x faster
    # decoding) but costs more than it saves on tiny ones (synthetic 64x64: ~1.4x slower,
    # the per-file thread set-up dominates) -- both measured on a shared 2-core machine;
    # FFmpeg's default (slice threads) otherwise.
    ctx = stream.codec_context
    if ctx.width * ctx.height >= FRAME_THREADS_MIN_PIXELS:
        stream.thread_type = "AUTO"
    return stream


def _decode_failed(path: Path, exc: Exception, decoded: int = 0,
                   listed: int = 0) -> VideoReadError:
    what = f"{type(exc).__name__}: {exc}"
    if decoded and listed > decoded:  # it broke part-way: a cut-off file, as a rule
        return VideoReadError(
            path, f"truncated or corrupt: decoding failed after {decoded} of the {listed} "
                  f"frames its header lists ({what})",
            "the file is cut short or damaged (an interrupted download, copy or "
            "extraction): " + _REPLACE + "; " + _CHECK_DATA)
    return VideoReadError(path, f"decoding failed ({what})",
                          "the file is corrupt, truncated or not a video: " + _REPLACE
                          + "; " + _CHECK_DATA)


def decode_sampled(path: str | os.PathLike, rate: int, size: int | None) -> np.ndarray:
    """Decode frames 0, rate, 2*rate, ... of ``path`` in one pass.

    Returns an array (N, H, W, 3) uint8 RGB; with ``size`` set, H = W = size (see the
    module docstring). Raises VideoReadError (naming the file and the fix) when the file
    is missing, empty, not a video, truncated, or yields no frame.

    Speed: every frame is decoded (inter frames depend on the ones before), but only the
    kept ones are converted, by ONE libswscale context reused for the whole video
    (``frame.to_ndarray(format=...)`` builds a new one per frame, which costs more than
    decoding a small frame) and single-threaded (slice threads cost more than they save
    on frames this small; DataLoader workers give the parallelism).
    """
    if rate < 1:
        raise ValueError(f"rate must be >= 1, got {rate}")
    path = Path(path)
    _check_file(path)
    out: np.ndarray | None = None
    n_kept = n_decoded = listed = 0
    try:
        with av.open(str(path)) as container:
            stream = open_stream(container, path)
            listed = stream.frames
            scaler = VideoReformatter()
            dims = None
            for frame in container.decode(stream):
                i, n_decoded = n_decoded, n_decoded + 1
                if i % rate:
                    continue  # still decoded (inter frames need it), never converted
                if dims is None:
                    w, h = frame.width, frame.height
                    dims = (w, h) if size is None else scaled_dims(w, h, size)
                    ow, oh = (w, h) if size is None else (size, size)
                    top, left = (dims[1] - oh) // 2, (dims[0] - ow) // 2
                    out = np.empty((max(1, n_sampled(listed, rate)), oh, ow, 3), np.uint8)
                rgb = scaler.reformat(frame, width=dims[0], height=dims[1], format="rgb24",
                                      interpolation=_BILINEAR, threads=1).planes[0]
                # The converted plane viewed in place (rows padded to line_size) and its
                # centre copied once, straight into the output: no to_ndarray copy, no
                # crop copy, no np.stack copy (issue 16: ~5% of the reader's time).
                img = np.frombuffer(rgb, np.uint8).reshape(dims[1], rgb.line_size)
                if n_kept == len(out):  # the header under-counted: grow
                    out = np.concatenate([out, np.empty_like(out)])
                out[n_kept] = img[top:top + oh, 3 * left:3 * (left + ow)].reshape(oh, ow, 3)
                n_kept += 1
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:  # corrupt or not a video
        raise _decode_failed(path, exc, n_decoded, listed) from exc
    if not n_kept:
        raise VideoReadError(path, "no decodable frames",
                             "the video stream holds no frame (an empty or broken "
                             "recording): " + _REPLACE)
    _truncated(path, n_decoded, listed)
    return out[:n_kept] if n_kept == len(out) else out[:n_kept].copy()


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames a full decode yields (decodes, no colour conversion).

    Used by the data audit; raises VideoReadError like ``decode_sampled``.
    """
    path = Path(path)
    _check_file(path)
    n = listed = 0
    try:
        with av.open(str(path)) as container:
            stream = open_stream(container, path)
            listed = stream.frames
            for _ in container.decode(stream):
                n += 1
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _decode_failed(path, exc, n, listed) from exc
    if n == 0:
        raise VideoReadError(path, "no decodable frames",
                             "the video stream holds no frame (an empty or broken "
                             "recording): " + _REPLACE)
    _truncated(path, n, listed)
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

"""JPEG entries of the frame cache: one file per video, every frame a JPEG (issue #16 item 3).

Why: raw entries of UCF-101 split 1 at r = 10, 256 px take 48.8 GB; JPEG at quality 90 takes
7.6 GB, at a mean absolute error of 3.8 of 255 and about 1 ms of decoding per frame on one
core (``results/bench/cache_codec.json``). Decoding happens where the frames are read (the
DataLoader workers), and only for the frames of the requested window, not the whole video.

File layout (little-endian)::

    b"STRNJPG1" | n, h, w: uint32 x 3 | offsets: uint64 x (n + 1) | crc32: uint32 x n | JPEG data

``offsets`` are relative to the start of the data; frame i is ``data[offsets[i]:offsets[i + 1]]``
and ``crc32[i]`` its checksum. A file whose header, offsets or length disagree raises
``ValueError`` when opened; a frame whose checksum or JPEG data is bad raises
``CorruptEntryError`` when decoded. The cache treats both like an unreadable raw entry: it
decodes the video again and overwrites the entry.
"""
from __future__ import annotations

import mmap
import os
import warnings
import zlib
from pathlib import Path
from typing import Callable, BinaryIO

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

# torchvision 0.29 deprecates its JPEG functions in favour of TorchCodec's; they decode 2x faster
# than PIL here (0.26 against 0.49 ms for a 256 px frame, one thread) and TorchCodec does not load
# on every machine (tests/_peer.py), so they stay until removed; the warning would repeat per worker.
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)

MAGIC = b"STRNJPG1"
_HEAD = len(MAGIC) + 12


class CorruptEntryError(ValueError):
    """A frame of a JPEG entry does not decode or fails its checksum."""


def write_jpeg_entry(fh: BinaryIO, frames: np.ndarray, quality: int) -> None:
    """Write ``frames`` (N, H, W, 3) uint8 to ``fh`` as one JPEG entry at ``quality``."""
    n, h, w = frames.shape[:3]
    # encode_jpeg takes CHW; one thread per process is what the loader workers have anyway.
    blobs = [encode_jpeg(torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1).contiguous(), quality=quality)
             .numpy().tobytes() for f in frames]
    offsets = np.zeros(n + 1, np.uint64)
    offsets[1:] = np.cumsum([len(b) for b in blobs], dtype=np.uint64)
    crcs = np.array([zlib.crc32(b) for b in blobs], np.uint32)
    fh.write(MAGIC + np.array([n, h, w], "<u4").tobytes() + offsets.astype("<u8").tobytes() + crcs.astype("<u4").tobytes())
    for b in blobs:
        fh.write(b)


class JpegFrames:
    """The frames of one JPEG entry, decoded on indexing: ``len``, ``shape``, ``nbytes`` (of the
    encoded file, what an LRU of open entries should count) and ``frames[i]``, ``frames[[i, j]]``,
    ``frames[a:b]`` -> uint8 (…, H, W, 3) arrays, like the raw entry's array.

    ``on_corrupt`` is called once when a frame cannot be decoded; it returns the video's frames
    decoded afresh (an array), from which this and every later index is served.
    """

    def __init__(self, path: Path, on_corrupt: Callable[[], np.ndarray] | None = None) -> None:
        self.path = Path(path)
        # Mapped, not read: the pages are the OS's page cache, shared by every loader worker that
        # keeps this entry open (a private copy per worker would multiply the memory by the workers).
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _HEAD:
                raise ValueError(f"{path} is not a JPEG frame-cache entry (too short: {size} bytes)")
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if data[:len(MAGIC)] != MAGIC:
            raise ValueError(f"{path} is not a JPEG frame-cache entry (bad magic)")
        n, h, w = (int(v) for v in np.frombuffer(data, "<u4", 3, len(MAGIC)))
        table = _HEAD + 8 * (n + 1) + 4 * n
        if len(data) < table:
            raise ValueError(f"{path}: truncated JPEG entry (its table of {n} frames is cut)")
        self._offsets = np.frombuffer(data, "<u8", n + 1, _HEAD).astype(np.int64)
        self._crcs = np.frombuffer(data, "<u4", n, _HEAD + 8 * (n + 1))
        if self._offsets[0] != 0 or np.any(np.diff(self._offsets) <= 0) or len(data) != table + int(self._offsets[-1]):
            raise ValueError(f"{path}: JPEG entry's offsets disagree with its length ({len(data)} bytes)")
        self._data = memoryview(data)[table:]
        self.shape = (n, h, w, 3)
        self.dtype = np.dtype(np.uint8)
        self.nbytes = len(data)
        self._on_corrupt = on_corrupt
        self._fresh: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, i: int) -> np.ndarray:
        blob = self._data[int(self._offsets[i]):int(self._offsets[i + 1])]
        if zlib.crc32(blob) != int(self._crcs[i]):
            raise CorruptEntryError(f"{self.path}: frame {i} fails its checksum")
        try:
            # frombuffer of a read-only buffer warns; the tensor is only read by the decoder.
            chw = decode_jpeg(torch.frombuffer(bytearray(blob), dtype=torch.uint8), mode=ImageReadMode.RGB)
        except RuntimeError as exc:
            raise CorruptEntryError(f"{self.path}: frame {i} does not decode ({exc})") from exc
        if tuple(chw.shape[1:]) != self.shape[1:3]:
            raise CorruptEntryError(f"{self.path}: frame {i} is {tuple(chw.shape[1:])}, the entry says {self.shape[1:3]}")
        return chw.permute(1, 2, 0).numpy()

    def __getitem__(self, idx) -> np.ndarray:
        if self._fresh is not None:
            return self._fresh[idx]
        n = self.shape[0]
        if isinstance(idx, (int, np.integer)):
            ids, single = [range(n)[idx]], True  # range() checks bounds and wraps negatives
        elif isinstance(idx, slice):
            ids, single = list(range(n)[idx]), False
        else:
            ids, single = [range(n)[int(i)] for i in idx], False
        try:
            out = np.empty((len(ids), *self.shape[1:]), np.uint8)
            for k, i in enumerate(ids):
                out[k] = self._decode(i)
        except CorruptEntryError:
            if self._on_corrupt is None:
                raise
            self._fresh = self._on_corrupt()
            return self._fresh[idx]
        return out[0] if single else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)

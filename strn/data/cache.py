"""A disk cache of decoded, sampled, resized frames: decode each video once per setting.

Key: the file's identity (absolute path, size, mtime_ns), the sampling rate, the frame
size, and the decoder (PyAV version + ``DECODER_VERSION``). A replaced or touched video,
another rate or size, or a new decoder gives a new key, so stale frames are never read.

Entries are ``<root>/<k[:2]>/<k>.npy``. A writer saves to a unique temporary name in the
same folder, then ``os.replace``s it onto the final name: the rename is atomic, so a
reader (another DataLoader worker, another process) sees either no entry or a complete
one, and a crash mid-write leaves only a temporary file that is never read. Two processes
missing the same key both decode and both rename; the last rename wins with equal data.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import av
import numpy as np

from strn.data.video import DECODER_VERSION, decode_sampled


class FrameCache:
    """Cached ``decode_sampled``. ``root=None`` disables caching (decode every time)."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root)
        self.decodes = 0  # decodes done by this object (tests, progress reports)

    def key(self, video_path: str | os.PathLike, rate: int, size: int | None) -> str:
        """Hex key of (file identity, rate, size, decoder); raises OSError if missing."""
        path = Path(video_path).resolve()
        st = path.stat()
        ident = {"path": str(path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                 "rate": rate, "size": size, "av": av.__version__, "decoder": DECODER_VERSION}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]

    def entry_path(self, video_path: str | os.PathLike, rate: int, size: int | None) -> Path:
        """Where the entry of this video and setting lives (whether or not it exists)."""
        if self.root is None:
            raise ValueError("this FrameCache has no root (caching disabled)")
        k = self.key(video_path, rate, size)
        return self.root / k[:2] / f"{k}.npy"

    def get(self, video_path: str | os.PathLike, rate: int, size: int | None) -> np.ndarray:
        """Frames (N, H, W, 3) uint8 of ``decode_sampled``; read-only memmap on a hit.

        Raises VideoReadError like ``decode_sampled`` (failures are not cached).
        """
        if self.root is None:
            self.decodes += 1
            return decode_sampled(video_path, rate, size)
        try:
            entry = self.entry_path(video_path, rate, size)
        except FileNotFoundError:
            # Let the decoder raise its VideoReadError naming the missing file.
            return decode_sampled(video_path, rate, size)
        if entry.is_file():
            try:
                return np.load(entry, mmap_mode="r")
            except (ValueError, OSError):
                pass  # unreadable entry (disk trouble): decode again and overwrite it
        self.decodes += 1
        frames = decode_sampled(video_path, rate, size)
        self._write(entry, frames)
        return frames

    @staticmethod
    def _write(entry: Path, frames: np.ndarray) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # Unique per process and call; ends in .tmp, never in .npy, so never loaded.
        tmp = entry.with_name(f"{entry.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, frames)
            os.replace(tmp, entry)
        finally:
            if tmp.exists():
                tmp.unlink()

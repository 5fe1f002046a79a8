"""A disk cache of decoded, sampled, resized frames: decode each video once per setting.

Key: the file's identity (absolute path, size, mtime_ns), the sampling rate, the frame
size, the decoder (PyAV version + ``DECODER_VERSION``) and, for a compressed cache, the
codec. A replaced or touched video, another rate or size, a new decoder or another codec
gives a new key, so stale frames are never read and raw and JPEG entries never mix.

Codecs (``CODECS``): ``raw`` (default) stores the decoded frames as ``.npy``, read as a
memory map at no cost; ``jpeg90`` stores each frame as a JPEG of quality 90
(``strn/data/jpeg_entry.py``): 6.4x smaller, about 1 ms of decoding per frame where it is
read, and different pixels (so ``data.cache_codec`` is part of a run's hash).

Entries are ``<root>/<k[:2]>/<k>.npy`` (raw) or ``<k>.jpgs`` (JPEG). A writer saves to a unique temporary name in the
same folder, then ``os.replace``s it onto the final name: the rename is atomic, so a
reader (another DataLoader worker, another process) sees either no entry or a complete
one, and a crash mid-write leaves only a temporary file that is never read. Two processes
missing the same key both decode and both rename; the last rename wins with equal data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import mmap
import multiprocessing
import os
import re
import uuid
import warnings
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import repeat
from pathlib import Path
from typing import Iterable

import av
import numpy as np

from strn.data.jpeg_entry import JpegFrames, write_jpeg_entry
from strn.data.video import DECODER_VERSION, VideoReadError, decode_sampled
from strn.progress import quiet
from strn.results import file_lock


# codec -> JPEG quality (None: raw frames). The value names the quality so that another one
# is another codec, with its own key and its own configuration hash.
CODECS = {"raw": None, "jpeg90": 90}


@functools.lru_cache(maxsize=1 << 16)
def _key(path: str, nbytes: int, mtime_ns: int, rate: int, size: int | None, codec: str = "raw") -> str:
    """Hex key of one (file identity, setting); memoised: a hit costs no hashing."""
    ident = {"path": path, "bytes": nbytes, "mtime_ns": mtime_ns, "rate": rate, "size": size,
             "av": av.__version__, "decoder": DECODER_VERSION}
    if codec != "raw":  # raw keys stay what they were before codecs existed (existing caches stay valid)
        ident["codec"] = codec
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def _default_keep_open() -> int:
    """1024 open entries, or a quarter of the open-file limit if that is lower.

    Each open entry holds one file descriptor (the map's); DataLoader workers also pass
    tensors through descriptors, so the cache never takes more than a quarter.
    """
    try:
        import resource  # POSIX only: the peak-memory reading of fill()

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # not POSIX: no such limit to respect
        return 1024
    return 1024 if soft == resource.RLIM_INFINITY else max(0, min(1024, soft // 4))


_HEADER = re.compile(rb"^\{'descr': '\|u1', 'fortran_order': False, 'shape': \(([0-9, ]*)\), *\} *\n$")


def map_entry(path: Path) -> np.ndarray:
    """Read-only, memory-mapped frames of an entry (a ``.npy`` file as ``np.save`` writes it).

    The header of our own entries (C-order uint8) is parsed here and the file mapped with
    ``mmap``: ``np.load(mmap_mode="r")`` parses it with ``ast`` and builds an ``np.memmap``,
    which cost most of the time of reading an epoch from a warm cache. Anything else goes to
    ``np.load``, which raises ``ValueError`` for a file that is not a valid ``.npy``.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:6] == b"\x93NUMPY" and head[6] in (1, 2, 3):
            start = 10 if head[6] == 1 else 12
            size = int.from_bytes(head[8:start], "little")
            fh.seek(start)
            m = _HEADER.match(fh.read(size))
            if m is not None:
                shape = tuple(int(d) for d in m.group(1).split(b",") if d.strip())
                count = math.prod(shape)
                if os.fstat(fh.fileno()).st_size == start + size + count:
                    if count == 0:  # an empty video: nothing to map
                        empty = np.zeros(shape, np.uint8)
                        empty.flags.writeable = False
                        return empty
                    buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                    return np.frombuffer(buf, np.uint8, count, offset=start + size).reshape(shape)
    return np.load(path, mmap_mode="r")


class FrameCache:
    """Cached ``decode_sampled``. ``root=None`` disables caching (decode every time).

    A hit costs one ``stat`` of the video (its identity is part of the key, so a replaced
    video is never served stale frames) and, for recently used entries, nothing else:
    they stay memory-mapped in this process, in an LRU of read-only maps bounded by
    ``keep_open`` entries (each holds a file descriptor; default 1024, or a quarter of
    the open-file limit if lower) and ``keep_open_bytes`` (default 256 MiB of entries:
    the pages read stay resident, as page cache). So the sequences of a video, read one
    after another, do not re-open and re-parse its ``.npy`` each time, and a small set
    (the demo's) stays open across epochs. The LRU is per process (dropped when pickled
    to a worker). ``keep_open=0`` turns it off.

    ``codec`` (one of ``CODECS``): how entries are stored. A JPEG entry is returned as a
    ``JpegFrames``, which decodes only the frames it is indexed with.
    """

    def __init__(self, root: str | Path | None, *, keep_open: int | None = None,
                 keep_open_bytes: int = 256 * 2**20, codec: str = "raw") -> None:
        if codec not in CODECS:
            raise ValueError(f"frame cache codec {codec!r} is not known; allowed: {', '.join(CODECS)} "
                             f"(data.cache_codec)")
        self.codec = codec
        self.root = None if root is None else Path(root)
        self.decodes = 0  # decodes done by this object (tests, progress reports)
        self.keep_open = _default_keep_open() if keep_open is None else keep_open
        self.keep_open_bytes = keep_open_bytes
        self._open: OrderedDict[str, np.ndarray] = OrderedDict()  # key -> read-only memmap
        self._open_bytes = 0
        self._resolved: dict[str, str] = {}  # absolute path given -> resolved path

    def __getstate__(self) -> dict:
        # Open maps and memos stay in their process: a worker starts with empty ones.
        state = self.__dict__.copy()
        state["_open"], state["_open_bytes"], state["_resolved"] = OrderedDict(), 0, {}
        return state

    def _remember(self, key: str, frames: np.ndarray) -> None:
        """Keep ``frames`` open; evict the least recently used beyond the bounds."""
        if self.keep_open <= 0 or frames.nbytes > self.keep_open_bytes:
            return
        self._open[key] = frames
        self._open_bytes += frames.nbytes
        while len(self._open) > self.keep_open or self._open_bytes > self.keep_open_bytes:
            _, old = self._open.popitem(last=False)
            self._open_bytes -= old.nbytes

    def _resolve(self, path: str) -> str:
        """``Path(path).resolve()``, memoised for absolute paths (cwd cannot change them)."""
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = os.path.realpath(path)  # what Path.resolve() does, without building Paths
            if os.path.isabs(path):
                self._resolved[path] = resolved
        return resolved

    def key(self, video_path: str | os.PathLike, rate: int, size: int | None) -> str:
        """Hex key of (file identity, rate, size, decoder); raises OSError if missing."""
        path = os.fspath(video_path)
        st = os.stat(path)  # follows links, like resolve: the identity of the target
        return _key(self._resolve(path), st.st_size, st.st_mtime_ns, rate, size, self.codec)

    def _entry(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / (f"{key}.npy" if self.codec == "raw" else f"{key}.jpgs")

    def entry_path(self, video_path: str | os.PathLike, rate: int, size: int | None) -> Path:
        """Where the entry of this video and setting lives (whether or not it exists)."""
        if self.root is None:
            raise ValueError("this FrameCache has no root (caching disabled)")
        return self._entry(self.key(video_path, rate, size))

    def get(self, video_path: str | os.PathLike, rate: int, size: int | None) -> np.ndarray | JpegFrames:
        """Frames (N, H, W, 3) uint8 of ``decode_sampled``; read-only memmap on a raw hit,
        ``JpegFrames`` (decoded when indexed) on a JPEG hit.

        Raises VideoReadError like ``decode_sampled`` (failures are not cached).
        """
        if self.root is None:
            self.decodes += 1
            return decode_sampled(video_path, rate, size)
        try:
            key = self.key(video_path, rate, size)
        except FileNotFoundError:
            # Let the decoder raise its VideoReadError naming the missing file.
            return decode_sampled(video_path, rate, size)
        frames = self._open.get(key)
        if frames is not None:
            self._open.move_to_end(key)
            return frames
        entry = self._entry(key)
        try:
            frames = self._open_entry(entry, video_path, rate, size)
        except FileNotFoundError:
            pass  # a miss
        except (ValueError, OSError):
            pass  # unreadable entry (disk trouble): decode again and overwrite it
        else:
            self._remember(key, frames)
            return frames
        return self._decode_into(entry, video_path, rate, size)

    def _decode_into(self, entry: Path, video_path: str | os.PathLike, rate: int,
                     size: int | None) -> np.ndarray | JpegFrames:
        """Decode the video, write its entry, return its frames as every later read will see them
        (for JPEG: from the entry just written, so a first read never differs from the next)."""
        self.decodes += 1
        frames = decode_sampled(video_path, rate, size)
        self._write(entry, frames, CODECS[self.codec])
        return frames if self.codec == "raw" else JpegFrames(entry)

    def _open_entry(self, entry: Path, video_path, rate: int, size: int | None) -> np.ndarray | JpegFrames:
        if self.codec == "raw":
            return map_entry(entry)

        def redo() -> np.ndarray | JpegFrames:  # a frame that does not decode: the entry is rewritten from the video
            warnings.warn(f"frame cache entry {entry} is corrupt; decoding {video_path} again", RuntimeWarning,
                          stacklevel=3)
            self._open.pop(self.key(video_path, rate, size), None)
            return self._decode_into(entry, video_path, rate, size)

        return JpegFrames(entry, redo)

    def fill(self, video_paths: Iterable[str | os.PathLike], rate: int, size: int | None, *, workers: int = 0,
             progress: bool = True) -> int:
        """Decode the videos that have no entry yet in ``workers`` processes at once; returns
        how many entries were written.

        Indexing a dataset reads every video through `get` in one process; on a first run
        over UCF-101 that is hours of decoding on one core. Filling the cache first spreads
        it over the cores. Missing and unreadable videos are left alone here: `get` meets
        them again and raises the `VideoReadError` that names them. With ``workers`` < 2 this
        process decodes them (under the same lock, so two runs on a fresh folder still decode
        each video once; `get` would decode them too, unlocked, while indexing).
        """
        if self.root is None:
            return 0
        # One filler at a time (a second process waits, then finds the entries made): two runs
        # starting together on a fresh data folder decode each video once, not twice.
        with file_lock(Path(self.root) / ".fill.lock"):
            return self._fill(video_paths, rate, size, workers, progress)

    def _fill(self, video_paths, rate: int, size: int | None, workers: int, progress: bool) -> int:
        todo = []
        for path in video_paths:
            try:
                if not self.entry_path(path, rate, size).exists():
                    todo.append(os.fspath(path))
            except OSError:
                continue  # missing: `get` names it
        if not todo:
            return 0
        from tqdm.auto import tqdm  # ipywidgets-aware bars only when decoding

        bar = dict(total=len(todo), desc="decode into the frame cache", unit="video", disable=quiet(progress),
                   mininterval=2)
        if workers < 2:
            return sum(_fill_one(str(self.root), p, rate, size, self.codec) for p in tqdm(todo, **bar))
        # The platform's default start method, as DataLoader workers use (fork on Linux: the
        # children only decode with PyAV and numpy, so CUDA or OpenMP state in the parent is
        # never touched; spawn elsewhere, which needs the usual `if __name__ == "__main__"`).
        written = 0
        try:
            with ProcessPoolExecutor(min(workers, len(todo)), mp_context=multiprocessing.get_context()) as pool:
                done = pool.map(_fill_one, repeat(str(self.root)), todo, repeat(rate), repeat(size),
                                repeat(self.codec), chunksize=4)
                for ok in tqdm(done, **bar):
                    written += ok
        except BrokenProcessPool as exc:  # entries written so far stay; `get` decodes the rest in this process
            warnings.warn(f"filling the frame cache in {workers} processes failed ({exc}); the remaining videos "
                          "are decoded in this process as they are indexed", RuntimeWarning, stacklevel=2)
        return written

    @staticmethod
    def _write(entry: Path, frames: np.ndarray, quality: int | None = None) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # Unique per process and call; ends in .tmp, never in .npy, so never loaded.
        tmp = entry.with_name(f"{entry.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                if quality is None:
                    np.save(fh, frames)
                else:
                    write_jpeg_entry(fh, frames, quality)
            os.replace(tmp, entry)
        finally:
            if tmp.exists():
                tmp.unlink()


def _fill_one(root: str, path: str, rate: int, size: int | None, codec: str = "raw") -> int:
    """One video into the cache at ``root`` (a `FrameCache.fill` worker): 1 if written."""
    try:
        FrameCache(root, keep_open=0, codec=codec).get(path, rate, size)
    except VideoReadError:
        return 0
    return 1

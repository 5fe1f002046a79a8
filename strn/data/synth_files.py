"""The synthetic set as files: .avi videos and split lists in UCF-101's layout
(`write_synthetic`), and a profile's set installed once under the data folder
(`ensure_synthetic`: private folder, marker last, renamed into place under a lock).
What the clips show is `strn.data.synth`'s."""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from ..paths import usable_cores
from ..progress import quiet
from ..results import file_lock
from .synth import GENERATOR_VERSION, SHAPES, SynthSpec, clip_counts, clip_frames, sample_clip, spec_for_profile

MARKER = ".strn_synthetic.json"  # written last into a finished set: its spec and digest


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25) -> None:
    """Write (N, H, W, 3) uint8 RGB frames as MPEG-4 part 2 in AVI (UCF-101 is Xvid)."""
    n, h, w, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = max(200_000, 4 * w * h * fps)  # high quality at any size
        stream.codec_context.codec_tag = "XVID"
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def split_test_groups(n_groups: int, split: int) -> range:
    """1-based test groups of split 1..3: a contiguous third, as UCF-101 (1-7, 8-14, 15-21)."""
    per = n_groups // 3
    return range((split - 1) * per + 1, split * per + 1)


def _write_lists(lists_dir: Path, spec: SynthSpec, names: list[tuple[str, str, int]]) -> None:
    """classInd, trainlist0k (label 1-based) and testlist0k (no label), CRLF like UCF."""
    lists_dir.mkdir(parents=True, exist_ok=True)
    classes = spec.classes
    lines = [f"{i + 1} {c}" for i, c in enumerate(classes)]
    (lists_dir / "classInd.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    for split in (1, 2, 3):
        test_groups = set(split_test_groups(spec.n_groups, split))
        train = [f"{rel} {classes.index(c) + 1}" for c, rel, g in names if g not in test_groups]
        test = [rel for c, rel, g in names if g in test_groups]
        for name, rows in ((f"trainlist0{split}.txt", train), (f"testlist0{split}.txt", test)):
            (lists_dir / name).write_bytes(("\r\n".join(rows) + "\r\n").encode())


def _write_clip(videos_dir: Path, spec: SynthSpec, job: tuple[str, str, int, int]) -> None:
    path = videos_dir / _clip_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, clip_frames(spec, sample_clip(spec, *job)), fps=spec.fps)


def _clip_path(job: tuple[str, str, int, int]) -> str:
    shape, motion, g, c = job
    return f"{shape + motion}/v_{shape + motion}_g{g:02d}_c{c:02d}.avi"


def write_synthetic(root: str | Path, spec: SynthSpec, *, progress: bool = True, workers: int = 1) -> Path:
    """Write the set described by ``spec`` under ``root`` in UCF-101's layout.

    ``root/UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``root/ucfTrainTestlist/``.
    Returns ``root``. Existing files of the same names are overwritten. ``workers`` > 1: that
    many processes render and encode clips at once (each clip is a function of the spec and
    its key alone, so the files are the same).
    """
    root = Path(root)
    videos_dir = root / "UCF-101"
    counts = clip_counts(spec)
    jobs: list[tuple[str, str, int, int]] = []  # (shape, motion, group, clip)
    for cls in spec.classes:
        shape = next(s for s in SHAPES if cls.startswith(s))
        motion = cls[len(shape):]
        for g in range(1, spec.n_groups + 1):
            jobs += [(shape, motion, g, c) for c in range(1, counts[(shape, g)] + 1)]
    bar = tqdm(total=len(jobs), desc="synthetic videos", disable=quiet(progress))
    written: set[tuple[str, str, int, int]] = set()
    if workers > 1:
        # spawn: a fresh interpreter that loads numpy and PyAV only (no inherited torch threads)
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_write_clip, videos_dir, spec, job): job for job in jobs}
                for fut in as_completed(futures):
                    fut.result()
                    written.add(futures[fut])
                    bar.update()
        except BrokenProcessPool as exc:  # e.g. a __main__ that a fresh interpreter cannot import (stdin)
            warnings.warn(f"writing the synthetic set in {workers} processes failed ({exc}); writing the "
                          f"{len(jobs) - len(written)} remaining clips in this process", stacklevel=2)
    for job in (j for j in jobs if j not in written):
        _write_clip(videos_dir, spec, job)
        bar.update()
    bar.close()
    names = [(shape + motion, _clip_path((shape, motion, g, c)), g) for shape, motion, g, c in jobs]
    _write_lists(root / "ucfTrainTestlist", spec, names)
    return root


def _marker_ok(folder: Path, spec: SynthSpec) -> bool:
    """The set is this spec's and whole: every file its marker lists, of its size and (checked
    once per process) its digest. A marker of older code lists no files: accepted on its spec,
    and given the list by `ensure_synthetic` (the set itself is not rewritten)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        if marker["digest"] != spec.digest():
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    files = marker.get("files")
    if files is None:
        return True
    try:
        if any((folder / rel).stat().st_size != size for rel, (size, _) in files.items()):
            return False
        return _digests_ok(str(folder), (folder / MARKER).stat().st_mtime_ns)
    except (OSError, ValueError, TypeError):
        return False


def _has_file_list(target: Path) -> bool:
    try:
        return "files" in json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False


def file_digests(folder: Path) -> dict[str, list]:
    """``{relative path: [size, sha256 (16 hex)]}`` of every file of a set but its marker."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MARKER and not p.name.startswith(MARKER):
            out[p.relative_to(folder).as_posix()] = [p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()[:16]]
    return out


@functools.lru_cache(maxsize=8)
def _digests_ok(folder: str, marker_mtime_ns: int) -> bool:
    """Every listed file's content digest matches (once per process and marker version: a set
    of a few thousand small videos reads in well under a second)."""
    files = json.loads((Path(folder) / MARKER).read_text())["files"]
    return all(hashlib.sha256((Path(folder) / rel).read_bytes()).hexdigest()[:16] == d
               for rel, (_, d) in files.items())


def _add_file_list(target: Path) -> None:
    """Give an older marker the file list (atomically; a read-only folder keeps the old marker)."""
    try:
        marker = json.loads((target / MARKER).read_text())
        if "files" in marker:
            return
        marker["files"] = file_digests(target)
        tmp = target / (MARKER + f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(marker, indent=1))
        os.replace(tmp, target / MARKER)
    except OSError:
        pass


def ensure_synthetic(profile: str, data_dir: str | Path) -> Path:
    """``data_dir/synthetic-<profile>/``, generated on first use and reused afterwards.

    The set is written into a private temporary folder whose marker file (spec + digest)
    is written last; the folder is then renamed into place. So a crash never leaves a
    folder that looks complete, two processes never write into the same folder, and a
    changed spec or generator version (different digest) regenerates the set.
    """
    spec = spec_for_profile(profile)
    data_dir = Path(data_dir)
    target = data_dir / f"synthetic-{profile}"
    if _marker_ok(target, spec):
        if not _has_file_list(target) and os.access(target, os.W_OK) and os.access(data_dir, os.W_OK):
            with file_lock(data_dir / f".synthetic-{profile}.lock"):  # an older marker: list its files, once
                _add_file_list(target)
        return target
    if target.exists() and not (target / MARKER).exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists, is not empty and was not written by "
                              f"strn's generator (no {MARKER}); move it away and retry")
    data_dir.mkdir(parents=True, exist_ok=True)
    # One writer at a time (an exclusive lock on a file beside the set): a second process
    # waits, then finds the first one's valid set and uses it. A valid set is never moved
    # aside; only a stale one (other digest) is, and only while holding the lock.
    with file_lock(data_dir / f".synthetic-{profile}.lock"):
        if not _marker_ok(target, spec):  # absent, stale or damaged (a file missing, cut or changed)
            _write_and_install(profile, spec, data_dir, target)
    return target


def _write_and_install(profile: str, spec: SynthSpec, data_dir: Path, target: Path) -> None:
    """Write the set into a private folder, marker last, then rename it onto ``target``
    (called with the install lock held, so no valid set is ever moved aside)."""
    tmp = data_dir / f".synthetic-{profile}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        # processes pay off from a few hundred clips (demo: 648; a test's set of dozens writes in one)
        n_clips = sum(clip_counts(spec).values()) * len(spec.motions)
        write_synthetic(tmp, spec, workers=min(usable_cores(), 16) if n_clips >= 200 else 1)
        marker = {"profile": profile, "digest": spec.digest(), "generator_version": GENERATOR_VERSION,
                  "spec": json.loads(spec.to_json()), "files": file_digests(tmp)}
        (tmp / (MARKER + ".tmp")).write_text(json.dumps(marker, indent=1))
        os.replace(tmp / (MARKER + ".tmp"), tmp / MARKER)
        if target.exists():  # stale (other digest) or empty: move aside, then delete
            trash = data_dir / f".synthetic-{profile}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

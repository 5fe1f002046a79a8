"""Torch Dataset of sequences (STUDY §2).

A video's sampled frames are cut into non-overlapping windows of T (``sequence_windows``);
each window is one item with the video's label. Videos that cannot be read are skipped
and reported (or raise), and videos shorter than T sampled frames are padded and counted.
A video that was read at indexing but fails later (damaged or replaced during the run) is
skipped the same way: its sequences come out labelled ``UNREADABLE`` and the training and
evaluation loops drop them with ``drop_unreadable``, which records the video (issue #14).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from strn.data.cache import FrameCache
from strn.data.ucf101 import SplitIndex, VideoEntry
from strn.data.video import VideoReadError, sequence_windows
from strn.progress import quiet
from strn.data.skips import announce, check_limit

# Label of a sequence whose video failed to read after indexing (on_bad_video="skip"). It is
# F.cross_entropy's default ignore_index, so a loss over a batch that still holds one ignores it.
UNREADABLE = -100


class SequenceDataset(Dataset):
    """All sequences of all readable videos of one subset.

    Item: (frames uint8 (T, 3, size, size), label, video_idx) where ``video_idx`` indexes
    ``.videos``. Attributes: ``.videos`` (entries used), ``.sequences`` ((video_idx,
    window) pairs), ``.skipped`` ([{"path", "reason"}]), ``.n_padded`` (videos shorter
    than T sampled frames). Building it reads every video once through ``cache``, which
    fills the cache: later epochs and later datasets of the same setting decode nothing.

    Items are whole resized frames: crops and flips are drawn in the training loop
    (`strn.data.transforms.crop_batch`, seeded per micro-batch), not here.
    """

    def __init__(self, index: SplitIndex, subset: str, *, rate: int, seq_len: int, size: int,
                 cache: FrameCache, on_bad_video: str = "skip", progress: bool = True) -> None:
        if on_bad_video not in ("skip", "raise"):
            raise ValueError(f"on_bad_video must be 'skip' or 'raise', got {on_bad_video!r}")
        self.index, self.subset = index, subset
        self.rate, self.seq_len, self.size = rate, seq_len, size
        self.cache = cache
        self.on_bad_video = on_bad_video
        self._unreadable: set[int] = set()  # indices into .videos skipped after indexing
        self.videos: list[VideoEntry] = []
        self._paths: list[str] = []  # the file of each entry of .videos, made once (items are read often)
        self._n: list[int] = []  # sampled frames of each entry of .videos when indexed
        self.sequences: list[tuple[int, tuple[int, ...]]] = []
        self.skipped: list[dict[str, str]] = []
        self.n_padded = 0
        entries = index.subset(subset)
        bar = tqdm(entries, desc=f"index {subset} videos", disable=quiet(progress))
        for entry in bar:
            path = str(index.videos_dir / entry.path)
            # A listed file that is absent is a broken data folder (or one being replaced), not a bad
            # video: skipping it would silently train and test on less (issue #14).
            if not os.path.lexists(path):
                raise FileNotFoundError(f"{path} is listed in the {subset} split of {index.root} but does not exist; "
                                        f"restore it, or run `strn check-data` on the folder")
            try:
                n = len(cache.get(path, rate, size))
            except VideoReadError as exc:
                if on_bad_video == "raise":
                    raise
                self.skipped.append({"path": entry.path, "reason": exc.reason})
                continue
            video_idx = len(self.videos)
            self.videos.append(entry)
            self._paths.append(path)
            self._n.append(n)
            self.n_padded += n < seq_len
            self.sequences += [(video_idx, w) for w in sequence_windows(n, seq_len)]

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def labels(self) -> list[int]:
        """Label of every video in ``.videos`` (video-level evaluation needs them)."""
        return [v.label for v in self.videos]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        video_idx, window = self.sequences[i]
        entry = self.videos[video_idx]
        try:
            # Fancy indexing copies out of the read-only memmap (a JPEG entry decodes the window
            # here, and re-decodes the video if the entry is corrupt); padding repeats indices.
            window_frames = np.ascontiguousarray(self._frames(video_idx)[list(window)])
        except VideoReadError:
            if self.on_bad_video == "raise":
                raise
            # Possibly in a worker process: the marker travels with the batch, and the main
            # process records the skip (drop_unreadable), reading the video again for its reason.
            return torch.zeros((len(window), 3, self.size, self.size), dtype=torch.uint8), UNREADABLE, video_idx
        clip = torch.from_numpy(window_frames).permute(0, 3, 1, 2)
        return clip, entry.label, video_idx


    def _frames(self, video_idx: int):
        """The video's frames; VideoReadError if it cannot be read or is now shorter than indexed
        (its windows would point past the end)."""
        path = self._paths[video_idx]
        frames = self.cache.get(path, self.rate, self.size)
        if len(frames) < self._n[video_idx]:
            raise VideoReadError(path, f"has {len(frames)} sampled frames, {self._n[video_idx]} when indexed "
                                       "(changed during the run)")
        return frames

    def skip_unreadable(self, video_idx: int) -> None:
        """Record ``.videos[video_idx]``, which failed to read after indexing, as skipped (once):
        printed, listed in ``.skipped`` and counted against the split's skip limit (raises
        ``strn.data.skips.TooManySkippedError`` beyond it)."""
        if video_idx in self._unreadable:
            return
        self._unreadable.add(video_idx)
        try:
            self._frames(video_idx)
            reason = "failed to read during the run, readable again when checked"
        except VideoReadError as exc:
            reason = exc.reason
        skip = {"path": self.videos[video_idx].path, "reason": f"{reason} (after indexing, during the run)"}
        self.skipped.append(skip)
        announce(self.subset, skip)
        check_limit(self.subset, self.skipped, len(self.index.subset(self.subset)))

    @property
    def unreadable(self) -> list[int]:
        """Indices into ``.videos`` skipped after indexing (their sequences were dropped)."""
        return sorted(self._unreadable)


def _base(dataset):
    """The SequenceDataset under ``dataset`` (through ``Subset`` wrappers), or None."""
    while not hasattr(dataset, "skip_unreadable") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return dataset if hasattr(dataset, "skip_unreadable") else None


def drop_unreadable(dataset, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
    """``batch`` (frames, labels, video indices) without the sequences labelled ``UNREADABLE``;
    each of their videos is recorded as skipped by ``dataset`` (``skip_unreadable``). Costs one
    comparison of the labels when nothing failed."""
    frames, labels, videos = batch
    bad = labels == UNREADABLE
    if not bool(bad.any()):
        return batch
    base = _base(dataset)
    for v in videos[bad].unique().tolist():
        base.skip_unreadable(int(v))
    keep = ~bad
    return frames[keep], labels[keep], videos[keep]


def unreadable_videos(dataset) -> list[int]:
    """Video indices of ``dataset`` skipped after indexing (none for other datasets)."""
    base = _base(dataset)
    return base.unreadable if base is not None else []


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool, seed: int,
                num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    """DataLoader whose order (and worker seeds) come from a generator seeded by ``seed``.

    Batches: frames (B, T, 3, H, W) uint8, labels (B,), video indices (B,). Memory is
    pinned when CUDA is present so ``normalize``'s non-blocking copy overlaps compute.
    """
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      num_workers=num_workers, drop_last=drop_last,
                      pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0)

"""Torch Dataset of sequences (STUDY §2).

A video's sampled frames are cut into non-overlapping windows of T (``sequence_windows``);
each window is one item with the video's label. Videos that cannot be read are skipped
and reported (or raise), and videos shorter than T sampled frames are padded and counted.
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
        self.videos: list[VideoEntry] = []
        self._paths: list[str] = []  # the file of each entry of .videos, made once (items are read often)
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
        frames = self.cache.get(self._paths[video_idx], self.rate, self.size)
        # Fancy indexing copies out of the read-only memmap; padding repeats indices.
        clip = torch.from_numpy(np.ascontiguousarray(frames[list(window)])).permute(0, 3, 1, 2)
        return clip, entry.label, video_idx


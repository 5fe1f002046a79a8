"""Statistics of a dataset in UCF-101's layout (thesis 5.1; notebook 05.1).

``dataset_stats(root, rate, seq_len)`` indexes the three official splits with
``read_split`` and reads every listed video's length, frame rate and resolution once
(from the container's stream metadata, falling back to a full decode with
``count_frames`` when the container does not record a frame count; ``exact=True``
always decodes). From the lengths it derives what the study trains on: sampled frames
at the rate r, sequences of T (``sequence_windows``), and how many videos are shorter than
T sampled frames (one padded sequence, STUDY §2).

This module computes; ``strn.report.plots.dataset`` draws what :func:`compute` returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np

from .ucf101 import SplitIndex, read_split
from .video import VideoReadError, count_frames, decode_sampled, n_sampled, sequence_windows


def video_meta(path: str | Path, exact: bool = False) -> dict[str, Any]:
    """{"frames", "fps", "width", "height"} of a video; frames from the stream header
    unless it is missing (0) or ``exact``, then by decoding. Raises VideoReadError."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(path, "no video stream")
            st = container.streams.video[0]
            rate = st.average_rate or st.guessed_rate or st.base_rate
            meta = {"frames": int(st.frames or 0), "fps": float(Fraction(rate)) if rate else float("nan"),
                    "width": int(st.codec_context.width), "height": int(st.codec_context.height)}
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(path, f"cannot open: {exc}") from exc
    if exact or meta["frames"] <= 0:
        meta["frames"] = count_frames(path)
    return meta


@dataclass
class DatasetStats:
    """What ``dataset_stats`` found. ``videos``: one row per listed video (DataFrame with
    path, class, label, group, clip, frames, fps, width, height, sampled, sequences,
    padded, subset_1..3); ``classes``; ``splits``: per split the counts of videos,
    sequences and padded videos of train and test; ``unreadable``: [{path, reason}]."""

    root: str
    rate: int
    seq_len: int
    classes: list[str]
    videos: Any  # pandas DataFrame
    splits: dict[int, dict[str, dict[str, int]]]
    unreadable: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers: the results file of notebook 05.1."""
        v = self.videos
        ok = v[v["frames"] > 0]
        groups = v.groupby("class")["group"].nunique()
        clips = v.groupby(["class", "group"]).size()
        lengths = ok["frames"].to_numpy()
        return {
            "root": self.root, "rate": self.rate, "seq_len": self.seq_len,
            "n_classes": len(self.classes), "n_videos": int(len(v)), "n_unreadable": len(self.unreadable),
            "groups_per_class": {"min": int(groups.min()), "max": int(groups.max()), "mean": float(groups.mean())},
            "clips_per_group": {"min": int(clips.min()), "max": int(clips.max()), "mean": float(clips.mean())},
            "frames": _describe(lengths),
            "seconds": _describe(ok["frames"].to_numpy() / ok["fps"].to_numpy()),
            "sampled_frames": _describe(ok["sampled"].to_numpy()),
            "sequences_per_video": _describe(ok["sequences"].to_numpy()),
            "n_sequences": int(ok["sequences"].sum()),
            "n_padded": int(ok["padded"].sum()),
            "fps": {str(k): int(n) for k, n in ok["fps"].round(3).value_counts().sort_index().items()},
            "resolution": {k: int(n) for k, n in (ok["width"].astype(str) + "x" + ok["height"].astype(str))
                           .value_counts().sort_index().items()},
            "splits": {str(k): s for k, s in self.splits.items()},
            "unreadable": self.unreadable,
        }


def _describe(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"min": 0.0, "median": 0.0, "mean": 0.0, "max": 0.0}
    return {"min": float(np.min(x)), "median": float(np.median(x)), "mean": float(np.mean(x)),
            "max": float(np.max(x))}


def dataset_stats(root: str | Path, rate: int = 10, seq_len: int = 2, *, splits: Sequence[int] = (1, 2, 3),
                  exact: bool = False) -> DatasetStats:
    """Statistics of the dataset at ``root`` for sampling rate ``rate`` and context
    ``seq_len`` (see the module docstring). Every video listed in any of ``splits`` is
    read once; unreadable videos are listed, with frames = 0, not raised."""
    import pandas as pd  # heavy: only where a table is built

    indexes = {k: read_split(root, k) for k in splits}
    first = indexes[splits[0]]
    rows: dict[str, dict[str, Any]] = {}
    unreadable = []
    for k, index in indexes.items():
        for e in index.entries:
            if e.path not in rows:
                rows[e.path] = {"path": e.path, "class": index.classes[e.label], "label": e.label, "group": e.group,
                                "clip": e.clip}
            rows[e.path][f"subset_{k}"] = e.subset
    for path, row in rows.items():
        try:
            row.update(video_meta(first.videos_dir / path, exact=exact))
        except VideoReadError as exc:
            unreadable.append({"path": path, "reason": exc.reason})
            row.update({"frames": 0, "fps": float("nan"), "width": 0, "height": 0})
        row["sampled"] = n_sampled(row["frames"], rate) if row["frames"] else 0
        row["sequences"] = len(sequence_windows(row["sampled"], seq_len))
        row["padded"] = bool(0 < row["sampled"] < seq_len)
    videos = pd.DataFrame(list(rows.values()))
    split_counts = {}
    for k in splits:
        col = videos[f"subset_{k}"]
        split_counts[k] = {sub: {"videos": int((col == sub).sum()),
                                 "readable": int(((col == sub) & (videos["frames"] > 0)).sum()),
                                 "sequences": int(videos.loc[col == sub, "sequences"].sum()),
                                 "padded": int(videos.loc[col == sub, "padded"].sum())}
                           for sub in ("train", "test")}
    return DatasetStats(str(root), rate, seq_len, list(first.classes), videos, split_counts, unreadable)


def split_table(stats: DatasetStats):
    """Videos, sequences and padded videos per split and subset."""
    import pandas as pd  # heavy: only where a table is built

    return pd.DataFrame([{"split": k, "subset": sub, **c} for k, s in stats.splits.items() for sub, c in s.items()])


def class_table(stats: DatasetStats, split: int = 1):
    """Per class: groups, videos in train/test of ``split``, median frames."""
    v = stats.videos
    col = f"subset_{split}"
    t = v.groupby("class").agg(groups=("group", "nunique"), videos=("path", "size"),
                               median_frames=("frames", "median"))
    for sub in ("train", "test"):
        t[f"{sub} (split {split})"] = v[v[col] == sub].groupby("class").size().reindex(t.index, fill_value=0)
    return t.reindex(stats.classes)


def sample_grid_videos(index: SplitIndex, classes: Sequence[str] | None = None, n_classes: int = 4) -> list:
    """One video per class for the sample grid: the first ``n_classes`` classes (or those
    named) and, where they all have it, the same (group, clip) -- in the synthetic set,
    clip cCC of group gGG of every motion of a shape starts from the same frame."""
    names = list(classes) if classes is not None else list(index.classes[:n_classes])
    by_class: dict[str, dict[tuple[int, int], Any]] = {c: {} for c in names}
    for e in index.entries:
        c = index.classes[e.label]
        if c in by_class:
            by_class[c].setdefault((e.group, e.clip), e)
    common = set.intersection(*(set(d) for d in by_class.values())) if names else set()
    if common:  # the shared (group, clip) whose shortest video is longest
        key = max(sorted(common), key=lambda k: min(_frames(index, by_class[c][k]) for c in names))
        return [by_class[c][key] for c in names]
    return [max(by_class[c].values(), key=lambda e: _frames(index, e)) for c in names if by_class[c]]


def _frames(index: SplitIndex, entry) -> int:
    try:
        return video_meta(index.videos_dir / entry.path)["frames"]
    except VideoReadError:
        return 0


def sample_frames(index: SplitIndex, entries: Sequence, rate: int, size: int | None, n_frames: int = 5):
    """The first ``n_frames`` sampled frames (every ``rate``-th) of each entry."""
    return [decode_sampled(index.videos_dir / e.path, rate, size)[:n_frames] for e in entries]


def first_frame_differences(index: SplitIndex, entries: Sequence, frames: Sequence[np.ndarray]):
    """Mean absolute difference (grey levels) between the first frames of every pair of
    the videos, as a class x class DataFrame: about 0 where a single frame cannot tell
    the two classes apart (the synthetic set's motions of one shape)."""
    import pandas as pd  # heavy: only where a table is built

    names = [f"{index.classes[e.label]} g{e.group:02d}c{e.clip:02d}" for e in entries]
    firsts = [f[0].astype(np.float64) for f in frames]
    d = [[float(np.abs(a - b).mean()) for b in firsts] for a in firsts]
    return pd.DataFrame(d, index=names, columns=names)


def checks(stats: DatasetStats):
    """What notebook 05.1 asserts about the data set (check, value, passed)."""
    import pandas as pd  # heavy: only where a table is built

    rows = [{"check": "every listed video is readable", "value": f"{len(stats.unreadable)} unreadable",
             "passed": not stats.unreadable}]
    for k, s in stats.splits.items():
        col = stats.videos[f"subset_{k}"]
        both = stats.videos.groupby(["class", "group"])[f"subset_{k}"].nunique().max()
        rows.append({"check": f"split {k}: train and test cover every video once, groups on one side",
                     "value": f"{s['train']['videos']} train + {s['test']['videos']} test",
                     "passed": s["train"]["videos"] + s["test"]["videos"] == len(stats.videos)
                     and col.notna().all() and both == 1})
    return pd.DataFrame(rows)


def example_video(root, rate: int, seq_len: int, size: int | None = None, split: int = 1, max_sampled: int = 10):
    """A test video of ``split`` for Fig. 4.5: the one with the most sequences among those
    with at most ``max_sampled`` sampled frames (so the figure stays legible).

    Returns (index, entry, sampled frames (N, H, W, 3), windows from ``sequence_windows``)."""
    index = read_split(root, split)
    best, best_key = None, None
    for e in index.subset("test"):
        n = n_sampled(video_meta(index.videos_dir / e.path)["frames"], rate)
        key = (n <= max_sampled, len(sequence_windows(min(n, max_sampled), seq_len)), -n)
        if best_key is None or key > best_key:
            best, best_key = e, key
    frames = decode_sampled(index.videos_dir / best.path, rate, size)[:max_sampled]
    return index, best, frames, sequence_windows(len(frames), seq_len)


def compute(root: str | Path, rate: int, seq_len: int, size: int | None = None, *, split: int = 1,
            n_classes: int = 4, n_frames: int = 5) -> dict[str, Any]:
    """Everything notebook 05.1 shows, computed once: the statistics, the split and class
    tables, sample frames of ``n_classes`` classes (their labels, frames and first-frame
    differences), ``checks``, and ``summary`` (its results JSON). The figures are drawn from
    this, never recomputed."""
    st = dataset_stats(root, rate, seq_len)
    classes = class_table(st, split)
    index = read_split(root, split)
    entries = sample_grid_videos(index, n_classes=n_classes)
    frames = sample_frames(index, entries, rate, size, n_frames=n_frames)
    differences = first_frame_differences(index, entries, frames)
    checked = checks(st)
    summary = {**st.summary(), "classes": classes.reset_index().to_dict(orient="records"),
               "first_frame_differences": differences.round(4).to_dict(), "checks": checked.to_dict(orient="records")}
    samples = {"labels": [f"{index.classes[e.label]}\ng{e.group:02d} c{e.clip:02d}" for e in entries],
               "frames": frames, "rate": rate}
    return {"stats": st, "splits": split_table(st), "split": split, "classes": classes, "samples": samples,
            "first_frame_differences": differences, "checks": checked, "summary": summary}

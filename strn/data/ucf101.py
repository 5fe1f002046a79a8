"""UCF-101's layout: find it on disk and read one official split into an index.

The official lists (``ucfTrainTestlist``): ``classInd.txt`` lines ``"1 ApplyEyeMakeup"``,
``trainlist0k.txt`` lines ``"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"`` (1-based
label, optional), ``testlist0k.txt`` lines without label; CRLF line endings. Labels come
from classInd.txt, never from folder order, and the class of a line is its folder part
(UCF's own files spell ``HandstandPushups/v_HandStandPushups_...``).
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

_NAME_RE = re.compile(r"_g(\d+)_c(\d+)\.avi$", re.IGNORECASE)
SUBSETS = ("train", "val", "test")

# Where the official archives unpack, relative to the root the user gives.
_VIDEO_DIRS = ("UCF-101", "UCF101", ".")
_LIST_DIRS = ("ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist",
              "UCF101TrainTestSplits-RecognitionTask", "UCF-101/ucfTrainTestlist", ".")


@dataclass(frozen=True)
class VideoEntry:
    """One listed video. ``path`` is relative to the videos dir, with forward slashes."""

    path: str
    label: int  # 0-based, from classInd.txt
    group: int
    clip: int
    subset: str  # "train" | "val" | "test"


@dataclass
class SplitIndex:
    """The videos of one split, with their subsets."""

    root: Path
    videos_dir: Path
    classes: list[str]  # classes[label] = name, in classInd order
    split: int
    entries: list[VideoEntry] = field(default_factory=list)

    def subset(self, name: str) -> list[VideoEntry]:
        """Entries of subset ``name`` ("train", "val" or "test"), in list order."""
        if name not in SUBSETS:
            raise ValueError(f"unknown subset {name!r}; allowed: {', '.join(SUBSETS)}")
        return [e for e in self.entries if e.subset == name]


def _has_class_dirs(d: Path) -> bool:
    """True when ``d`` holds at least one sub-folder with an .avi file."""
    return d.is_dir() and any(
        sub.is_dir() and next(sub.glob("*.avi"), None) is not None for sub in d.iterdir())


def find_layout(root: str | Path) -> tuple[Path, Path]:
    """(videos_dir, lists_dir) under ``root`` for the layouts the official archives give.

    Videos: ``root/UCF-101/<Class>/*.avi``, ``root/UCF101/...`` or ``root/<Class>/*.avi``.
    Lists: the folder holding ``classInd.txt``: ``root/ucfTrainTestlist``,
    ``root/UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist``, ... or ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist or is not a folder")
    videos = next((root / d for d in _VIDEO_DIRS if _has_class_dirs(root / d)), None)
    lists = next((root / d for d in _LIST_DIRS if (root / d / "classInd.txt").is_file()), None)
    problems = []
    if videos is None:
        problems.append("no video folder: expected <root>/UCF-101/<ClassName>/*.avi "
                        "(or <root>/<ClassName>/*.avi)")
    if lists is None:
        problems.append("no split lists: expected classInd.txt in <root>/ucfTrainTestlist/ "
                        "(or <root>/UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist/)")
    if problems:
        raise FileNotFoundError(f"UCF-101 layout not found under {root}: " + "; ".join(problems)
                                + ". Unpack UCF101.rar and UCF101TrainTestSplits-"
                                  "RecognitionTask.zip into that folder.")
    return videos.resolve(), lists.resolve()  # type: ignore[union-attr]


def _lines(path: Path) -> list[str]:
    """Non-empty stripped lines; CRLF and a UTF-8 BOM are tolerated."""
    if not path.is_file():
        raise FileNotFoundError(f"split list {path} not found")
    text = path.read_text(encoding="utf-8-sig")
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def read_classes(lists_dir: Path) -> list[str]:
    """Class names ordered by their 1-based index in classInd.txt."""
    pairs = []
    for ln in _lines(lists_dir / "classInd.txt"):
        idx, name = ln.split(maxsplit=1)
        pairs.append((int(idx), name.strip()))
    pairs.sort()
    if [i for i, _ in pairs] != list(range(1, len(pairs) + 1)):
        raise ValueError(f"{lists_dir / 'classInd.txt'}: indices are not 1..{len(pairs)}")
    return [name for _, name in pairs]


def parse_list(path: Path, classes: list[str], subset: str) -> list[VideoEntry]:
    """Entries of one trainlist/testlist file; the label column, if any, is checked."""
    label_of = {c: i for i, c in enumerate(classes)}
    entries = []
    for n, ln in enumerate(_lines(path), 1):
        parts = ln.split()
        rel = parts[0].replace("\\", "/")
        cls = rel.split("/")[0]
        if cls not in label_of:
            raise ValueError(f"{path}:{n}: class {cls!r} of {rel} is not in classInd.txt")
        label = label_of[cls]
        if len(parts) > 1 and int(parts[1]) - 1 != label:
            raise ValueError(f"{path}:{n}: label {parts[1]} disagrees with classInd.txt "
                             f"({cls} is {label + 1})")
        m = _NAME_RE.search(rel)
        if m is None:
            raise ValueError(f"{path}:{n}: {rel} is not named like v_Class_gGG_cCC.avi")
        entries.append(VideoEntry(rel, label, int(m.group(1)), int(m.group(2)), subset))
    return entries


def group_overlap(entries: list[VideoEntry]) -> list[tuple[str, int]]:
    """(class label, group) pairs with clips in more than one subset, as (label, group)."""
    sides: dict[tuple[int, int], set[str]] = {}
    for e in entries:
        sides.setdefault((e.label, e.group), set()).add(e.subset)
    return sorted(k for k, v in sides.items() if len(v) > 1)  # type: ignore[misc]


def missing_files(videos_dir: Path, entries: list[VideoEntry]) -> list[str]:
    """Listed paths that are not files under ``videos_dir``."""
    return [e.path for e in entries if not (videos_dir / e.path).is_file()]


def read_split(root: str | Path, split: int = 1, *, videos_dir: str | Path | None = None,
               lists_dir: str | Path | None = None, check_files: bool = True) -> SplitIndex:
    """Index of official split ``split`` (1, 2 or 3): train entries, then test entries.

    Raises ValueError when a group has clips on both sides (naming it) and, with
    ``check_files``, FileNotFoundError listing the first missing files.
    """
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    root = Path(root)
    if videos_dir is None or lists_dir is None:
        found_videos, found_lists = find_layout(root)
        videos_dir = videos_dir or found_videos
        lists_dir = lists_dir or found_lists
    videos_dir, lists_dir = Path(videos_dir), Path(lists_dir)
    classes = read_classes(lists_dir)
    entries = (parse_list(lists_dir / f"trainlist0{split}.txt", classes, "train")
               + parse_list(lists_dir / f"testlist0{split}.txt", classes, "test"))
    overlap = group_overlap(entries)
    if overlap:
        named = ", ".join(f"{classes[lab]} g{g:02d}" for lab, g in overlap[:5])
        raise ValueError(f"split {split} in {lists_dir}: {len(overlap)} group(s) have clips in "
                         f"both train and test (e.g. {named}); clips of one group must stay "
                         "on one side")
    if check_files:
        missing = missing_files(videos_dir, entries)
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of {len(entries)} listed videos of split {split} are missing "
                f"under {videos_dir}, first: {', '.join(missing[:5])}. Fix: unpack the full "
                "UCF101 archive there, or run `strn check-data` to see every problem.")
    return SplitIndex(root, videos_dir, classes, split, entries)


# The draw of the held-out groups when a run is evaluated on them (``data.eval_subset`` "val"):
# one fixed draw, so every seed and every candidate recipe of a calibration is judged on the
# same validation videos.
VAL_SPLIT_SEED = 0


def read_train_split(root: str | Path, split: int = 1) -> SplitIndex:
    """Index of the training list of split ``split`` only: the test list is neither opened nor
    checked, so nothing built on it can reach a test video (calibration, `strn.study.calibrate`)."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    videos_dir, lists_dir = find_layout(root)
    classes = read_classes(lists_dir)
    entries = parse_list(lists_dir / f"trainlist0{split}.txt", classes, "train")
    missing = missing_files(videos_dir, entries)
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(entries)} training videos of split {split} are missing under "
                                f"{videos_dir}, first: {', '.join(missing[:5])}; run `strn check-data` on {root}")
    return SplitIndex(Path(root), videos_dir, classes, split, entries)


def group_val_split(index: SplitIndex, fraction: float, seed: int) -> SplitIndex:
    """A copy of ``index`` with whole groups of the train subset moved to "val".

    Per class, ``round(fraction * n_groups)`` of its train groups (at least one when
    ``fraction > 0`` and the class has two or more) are drawn with ``seed``; stratifying by
    class keeps every class in both train and val. Groups, not clips, move: val clips
    share no scene with train clips, as test clips do not.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    rng = random.Random(seed)
    groups: dict[int, list[int]] = {}
    for e in index.subset("train"):
        if e.group not in groups.setdefault(e.label, []):
            groups[e.label].append(e.group)
    to_val: set[tuple[int, int]] = set()
    for label in sorted(groups):
        gs = sorted(groups[label])
        k = round(fraction * len(gs))
        if fraction > 0 and len(gs) >= 2:
            k = min(max(k, 1), len(gs) - 1)
        to_val |= {(label, g) for g in rng.sample(gs, k)}
    entries = [dataclasses.replace(e, subset="val")
               if e.subset == "train" and (e.label, e.group) in to_val else e
               for e in index.entries]
    return dataclasses.replace(index, entries=entries)

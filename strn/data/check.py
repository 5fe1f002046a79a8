"""Audit of a dataset folder in UCF-101's layout: what would trip a run, named file by file.

Errors (``report.ok`` is False): layout not found, a split list unreadable or with a
group on both sides, listed files missing, files that cannot be decoded (corrupt, empty).
Warnings: files on disk in no list, videos shorter than T sampled frames (padded, STUDY §2).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from strn.data.ucf101 import (find_layout, group_overlap, missing_files, parse_list,
                              read_classes)
from strn.data.video import VideoReadError, count_frames, n_sampled
from strn.progress import quiet

_SHOW = 20  # paths listed per problem kind in the text report


@dataclass
class DataReport:
    """Result of ``check_data``; ``render()`` gives the text."""

    root: str
    rate: int
    seq_len: int
    videos_dir: str | None = None
    lists_dir: str | None = None
    layout_error: str | None = None
    classes: list[str] = field(default_factory=list)
    splits: dict[int, dict] = field(default_factory=dict)  # n_train, n_test, error
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)  # path, reason
    short: list[dict] = field(default_factory=list)  # path, frames, sampled
    frames: dict[str, int] = field(default_factory=dict)  # path -> decoded frames

    @property
    def ok(self) -> bool:
        split_errors = any(s.get("error") for s in self.splits.values())
        return not (self.layout_error or split_errors or self.missing or self.unreadable)

    def render(self) -> str:
        """Human-readable report, problems named file by file."""
        out = [f"data check: {self.root}"]
        if self.layout_error:
            return "\n".join(out + [f"  ERROR layout: {self.layout_error}", "RESULT: FAILED"])
        out += [f"  videos: {self.videos_dir}", f"  lists:  {self.lists_dir}",
                f"  classes: {len(self.classes)}   video files on disk: "
                f"{len(self.frames) + len(self.unreadable)}"]
        if self.frames:
            lens = sorted(self.frames.values())
            out.append(f"  frames per video: min {lens[0]}, median "
                       f"{statistics.median(lens):g}, max {lens[-1]}")
            seqs = sorted(max(1, n_sampled(n, self.rate) // self.seq_len) for n in lens)
            out.append(f"  every {self.rate}th frame, T={self.seq_len}: sequences per video "
                       f"min {seqs[0]}, median {statistics.median(seqs):g}, max {seqs[-1]}, "
                       f"total {sum(seqs)}")
        for k, s in sorted(self.splits.items()):
            state = f"ERROR {s['error']}" if s.get("error") else "ok"
            out.append(f"  split {k}: train {s.get('n_train', 0)}, test {s.get('n_test', 0)}"
                       f" videos: {state}")
        sections = [
            ("ERROR missing (listed, not on disk)", self.missing),
            ("ERROR unreadable", [f"{u['path']}: {u['reason']}" + (f" (fix: {u['fix']})" if u.get("fix") else "")
                                  for u in self.unreadable]),
            ("warning unlisted (on disk, in no split list)", self.unlisted),
            (f"warning short (fewer than T={self.seq_len} sampled frames at rate {self.rate}: "
             "padded)", [f"{s['path']}: {s['frames']} frames -> {s['sampled']} sampled"
                         for s in self.short]),
        ]
        for title, items in sections:
            if items:
                out.append(f"  {title}: {len(items)}")
                out += [f"    - {x}" for x in items[:_SHOW]]
                if len(items) > _SHOW:
                    out.append(f"    ... and {len(items) - _SHOW} more")
        out.append("RESULT: OK" if self.ok else "RESULT: FAILED")
        return "\n".join(out)


def check_data(root: str | Path, rate: int = 10, seq_len: int = 2, *,
               progress: bool = True) -> DataReport:
    """Check layout, the three split lists, and decode every video file on disk."""
    report = DataReport(root=str(root), rate=rate, seq_len=seq_len)
    try:
        videos_dir, lists_dir = find_layout(root)
        report.classes = read_classes(lists_dir)
    except (FileNotFoundError, ValueError) as exc:
        report.layout_error = str(exc)
        return report
    report.videos_dir, report.lists_dir = str(videos_dir), str(lists_dir)
    listed: set[str] = set()
    for split in (1, 2, 3):
        info: dict = {}
        try:
            train = parse_list(lists_dir / f"trainlist0{split}.txt", report.classes, "train")
            test = parse_list(lists_dir / f"testlist0{split}.txt", report.classes, "test")
        except (FileNotFoundError, ValueError) as exc:
            report.splits[split] = {"error": str(exc)}
            continue
        info.update(n_train=len(train), n_test=len(test))
        overlap = group_overlap(train + test)
        if overlap:
            info["error"] = "groups on both sides: " + ", ".join(
                f"{report.classes[lab]} g{g:02d}" for lab, g in overlap[:5])
        report.splits[split] = info
        for rel in missing_files(videos_dir, train + test):
            if rel not in listed:
                report.missing.append(rel)
        listed |= {e.path for e in train + test}
    on_disk = sorted(p.relative_to(videos_dir).as_posix()
                     for p in videos_dir.glob("*/*") if p.suffix.lower() == ".avi")
    report.unlisted = [p for p in on_disk if p not in listed]
    for rel in tqdm(on_disk, desc="decode videos", disable=quiet(progress)):
        try:
            n = count_frames(videos_dir / rel)
        except VideoReadError as exc:
            report.unreadable.append({"path": rel, "reason": exc.reason, "fix": exc.fix})
            continue
        report.frames[rel] = n
        if n_sampled(n, rate) < seq_len:
            report.short.append({"path": rel, "frames": n, "sampled": n_sampled(n, rate)})
    return report


def check_data_main(root: str, rate: int, seq_len: int) -> str:
    """The printable report (the CLI prints it; exit status from ``check_data().ok``)."""
    return check_data(root, rate, seq_len).render()

"""Helpers for the data tests: tiny videos and hand-made UCF-101 layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from strn.data.synth_files import write_video


def frames_with_index(n: int, h: int = 16, w: int = 16) -> np.ndarray:
    """(n, h, w, 3) uint8 frames whose brightness encodes the frame index (survives
    lossy coding: 8 grey levels apart for 30 frames)."""
    vals = (np.arange(n) * 8 % 240 + 8).astype(np.uint8)
    return np.broadcast_to(vals[:, None, None, None], (n, h, w, 3)).copy()


def tiny_video(path: Path, n_frames: int, h: int = 16, w: int = 16) -> Path:
    """Write an .avi of ``n_frames`` index-coded frames; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames_with_index(n_frames, h, w), fps=25)
    return path


def make_layout(root: Path, classes: list[str], *, n_groups: int = 3, clips: int = 1,
                test_groups: tuple[int, ...] = (1,), n_frames: int = 12,
                class_ind: list[str] | None = None, videos_sub: str = "UCF-101",
                lists_sub: str = "ucfTrainTestlist", label_column: bool = True,
                newline: str = "\r\n") -> Path:
    """A small UCF-101 layout with split 1..3 lists (identical splits), CRLF by default.

    ``class_ind`` sets classInd.txt's order (default: ``classes``); the label column of
    the train lists follows it.
    """
    class_ind = class_ind or classes
    videos = root / videos_sub if videos_sub else root
    lists = root / lists_sub
    lists.mkdir(parents=True, exist_ok=True)
    train, test = [], []
    for cls in classes:
        for g in range(1, n_groups + 1):
            for c in range(1, clips + 1):
                rel = f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"
                tiny_video(videos / rel, n_frames)
                if g in test_groups:
                    test.append(rel)
                else:
                    label = f" {class_ind.index(cls) + 1}" if label_column else ""
                    train.append(rel + label)
    write_list(lists / "classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(class_ind)], newline)
    for k in (1, 2, 3):
        write_list(lists / f"trainlist0{k}.txt", train, newline)
        write_list(lists / f"testlist0{k}.txt", test, newline)
    return root


def write_list(path: Path, lines: list[str], newline: str = "\r\n") -> None:
    path.write_bytes((newline.join(lines) + newline).encode())

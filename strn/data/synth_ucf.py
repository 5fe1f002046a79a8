"""The ``ucf-shaped`` benchmark preset: clips shaped like UCF-101's, for timing only.

UCF-101 is 320x240 MPEG-4 part 2 (Xvid) in AVI at 25 fps, about 7 s a clip (1.06 s to
71 s, mean 7.2 s, 13,320 clips), at a few hundred kbit/s. Decode, resize and cache cost
scale with exactly these, so the data benchmarks measure on this preset instead of the
48 px demo set. The content is a textured background panned by a camera with a moving
blob and sensor noise: enough detail and motion that the encoder spends UCF-like bits.
It carries no labels worth learning and is not a dataset of the study.

Lengths: log-normal around UCF-101's median (about 6 s), clipped to its range; drawn from
``seed`` so a set is reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np


@dataclass(frozen=True)
class UcfShapedSpec:
    """What ``write_ucf_shaped`` writes; the defaults are UCF-101's shape."""

    n_clips: int = 200
    width: int = 320
    height: int = 240
    fps: int = 25
    bit_rate: int = 400_000  # bits/s, UCF-101's order of magnitude
    median_s: float = 6.0
    sigma: float = 0.5  # of log(length): 90% of clips between ~2.6 s and ~14 s
    min_s: float = 1.06
    max_s: float = 71.0
    seed: int = 0

    def lengths(self) -> list[int]:
        """Frame count of each clip."""
        rng = np.random.default_rng(self.seed)
        secs = np.exp(rng.normal(np.log(self.median_s), self.sigma, self.n_clips))
        secs = np.clip(secs, self.min_s, self.max_s)
        return [int(round(s * self.fps)) for s in secs]


def _clip(spec: UcfShapedSpec, index: int, n: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng((spec.seed, index))
    h, w = spec.height, spec.width
    # A background twice the frame's size, panned across: smooth blobs plus fine texture.
    big = rng.integers(0, 256, (h // 8 * 2, w // 8 * 2, 3), dtype=np.uint8)
    bg = np.kron(big, np.ones((8, 8, 1), np.uint8)).astype(np.float32)
    bg = 0.6 * bg + 0.4 * rng.integers(0, 256, bg.shape).astype(np.float32)
    vx, vy = rng.uniform(-1.5, 1.5, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    colour = rng.integers(0, 256, 3).astype(np.float32)
    for t in range(n):
        ox = int(abs(vx * t)) % w
        oy = int(abs(vy * t)) % h
        frame = bg[oy:oy + h, ox:ox + w].copy()
        cx, cy = (w / 2 + 80 * np.sin(t / 15 + index)), (h / 2 + 50 * np.cos(t / 20))
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < 30 ** 2] = colour
        frame += rng.normal(0, 6, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def write_ucf_shaped(root: str | Path, spec: UcfShapedSpec = UcfShapedSpec()) -> list[Path]:
    """Write ``spec.n_clips`` clips ``root/v_UcfShaped_cNNNN.avi``; return their paths.

    A clip already there with the right frame count is kept (a benchmark rerun does not
    regenerate the set).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.json").write_text(str(asdict(spec)))
    paths = []
    for i, n in enumerate(spec.lengths()):
        path = root / f"v_UcfShaped_c{i:04d}.avi"
        paths.append(path)
        if path.exists() and _frames(path) == n:
            continue
        tmp = path.with_suffix(".tmp.avi")
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("mpeg4", rate=spec.fps)
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            stream.bit_rate = spec.bit_rate
            stream.codec_context.codec_tag = "XVID"
            for img in _clip(spec, i, n):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            container.mux(stream.encode())
        tmp.replace(path)
    return paths


def _frames(path: Path) -> int:
    try:
        with av.open(str(path)) as c:
            return c.streams.video[0].frames
    except (av.FFmpegError, OSError):
        return -1

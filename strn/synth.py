"""The built-in synthetic dataset: real .avi files in UCF-101's layout (STUDY §5).

What a class is: ``<Shape><Motion>``, e.g. ``CircleMoveLeft``. A shape moves at constant
speed on a torus (it wraps around the frame edges) over a textured background with a
static distractor blob.

Why it makes the study meaningful:

* One frame shows the shape, so it narrows the class down to the motions of that shape,
  but it says nothing about the direction: start positions are uniform on the torus and
  wrap-around keeps them uniform at every frame, for every direction (no edge to bounce
  from, no blur, no orientation cue). Stronger still, everything but the direction is
  drawn from a random stream seeded by (seed, shape, group, clip) only: clip ``cCC`` of
  group ``gGG`` of ``CircleMoveLeft`` and of ``CircleMoveRight`` share scene, start,
  speed, colour, size, length and noise, so their first frames are identical. Averaging
  per-frame predictions cannot beat chance among the motions of a shape; two frames can.
* Clips of one group share a scene (background colour and texture, distractor), so a
  model can memorise scenes: group-wise splits, as in UCF-101, matter.
* Speed is per video, ``speed`` x width pixels per frame (default 0.0085-0.0185, i.e.
  0.54-1.18 px at 64 px; smoke 0.016-0.031, 0.51-0.99 px at 32 px): between sampled
  frames that is > 1 px at r=2 and < width/2 at r=15, so the wrapped displacement is
  visible and its direction unambiguous at every sampling rate of Table 5.6.
* Lengths vary, and a fraction of videos is short (< 20 frames; clip 1 of group 1 of each
  shape always has <= 10 frames), so one sampled frame at r=10 and padding is exercised.

Frames are a deterministic function of the seed; the file bytes may differ with the
encoder version, the decoded frames are what tests compare.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from strn.progress import quiet

# Bump when the generator changes what it writes: it is part of the marker hash, so an
# existing synthetic folder is regenerated instead of silently reused.
GENERATOR_VERSION = 2
MARKER = ".strn_synthetic.json"

SHAPES: tuple[str, ...] = ("Circle", "Square", "Triangle", "Cross")
# Bright, distinct colours per shape (a second cue of the shape, not of the direction).
SHAPE_COLOURS: dict[str, tuple[int, int, int]] = {
    "Circle": (235, 60, 50), "Square": (60, 200, 70),
    "Triangle": (70, 110, 240), "Cross": (240, 220, 60),
}
# Per motion: unit velocity in image coordinates (x right, y down). Grow/Shrink (motion
# towards or away from the camera) and FadeIn/FadeOut change the object's size or opacity
# along a ramp instead; Shrink and FadeOut play the ramp of Grow and FadeIn backwards, so
# the two classes of a pair show exactly the same frames in opposite order.
MOTIONS: dict[str, tuple[float, float]] = {
    "MoveLeft": (-1.0, 0.0), "MoveRight": (1.0, 0.0),
    "MoveUp": (0.0, -1.0), "MoveDown": (0.0, 1.0),
    "Grow": (0.0, 0.0), "Shrink": (0.0, 0.0),
    "FadeIn": (0.0, 0.0), "FadeOut": (0.0, 0.0),
}
RAMPS: dict[str, tuple[str, bool]] = {  # motion -> (what changes, played backwards)
    "Grow": ("size", False), "Shrink": ("size", True), "FadeIn": ("opacity", False), "FadeOut": ("opacity", True),
}
OPACITY_RANGE = (0.1, 1.0)
RADIUS_RANGE = (0.08, 0.22)  # object radius as a fraction of the frame, for Grow/Shrink


@dataclass(frozen=True)
class SynthSpec:
    """Everything that determines the synthetic set. Defaults are the ``demo`` preset.

    n_shapes: how many of SHAPES; motions: names from MOTIONS; classes = shapes x motions.
    n_groups: groups per class (UCF-101 has 25); clips_per_group: inclusive range.
    size: frame width = height in px; fps: frame rate written to the files.
    min_frames/max_frames: length range of normal videos; short_fraction: share of
    videos drawn from ``short_frames`` instead. speed: px per frame as a fraction of
    ``size``; noise: std of per-pixel Gaussian noise (grey levels). seed: everything.
    """

    n_shapes: int = 3
    motions: tuple[str, ...] = ("MoveLeft", "MoveRight", "MoveUp", "MoveDown")
    n_groups: int = 9
    clips_per_group: tuple[int, int] = (2, 4)
    size: int = 64
    fps: int = 25
    min_frames: int = 30
    max_frames: int = 150
    short_fraction: float = 0.1
    seed: int = 0
    short_frames: tuple[int, int] = (5, 19)
    speed: tuple[float, float] = (0.0085, 0.0185)
    noise: float = 4.0
    opacity: tuple[float, float] = OPACITY_RANGE  # FadeIn/FadeOut ramp from the first to the second
    # True: a scene per (shape, group), so a training scene names its shape and a net can learn
    # the scene instead of the object; False: a scene per group, shared by every class, so
    # the background says nothing about the class (what one frame shows is the object alone).
    scenes_by_shape: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.n_shapes <= len(SHAPES):
            raise ValueError(f"n_shapes must be in 1..{len(SHAPES)}, got {self.n_shapes}")
        bad = [m for m in self.motions if m not in MOTIONS]
        if bad or not self.motions:
            raise ValueError(f"unknown motions {bad}; allowed: {sorted(MOTIONS)}")
        if self.n_groups < 3:
            raise ValueError("n_groups must be >= 3 (three splits, each testing a third)")
        if self.size % 2 or self.size < 16:
            raise ValueError("size must be even and >= 16 (yuv420p encoding)")
        if not 1 <= self.clips_per_group[0] <= self.clips_per_group[1]:
            raise ValueError(f"bad clips_per_group {self.clips_per_group}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError("need 1 <= min_frames <= max_frames")

    @property
    def classes(self) -> list[str]:
        """Class names in classInd order (alphabetical, as UCF-101's classInd.txt)."""
        return sorted(s + m for s in SHAPES[: self.n_shapes] for m in self.motions)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def digest(self) -> str:
        """Hash of the spec and the generator version: what the marker file stores."""
        text = f"v{GENERATOR_VERSION}:{self.to_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


PROFILES: dict[str, SynthSpec] = {
    "smoke": SynthSpec(n_shapes=2, motions=("MoveLeft", "MoveRight"), n_groups=6,
                       clips_per_group=(2, 2), size=32, min_frames=30, max_frames=60,
                       short_fraction=0.15, speed=(0.016, 0.031)),
    # Translation (left/right) and fading (in/out): two kinds of temporal cue, each pair of
    # classes identical frame by frame but for the order. Faster than the default so that
    # the motion between sampled frames is clear at r = 2 (> 1.5 px) and unambiguous at
    # r = 15 (< half the width); clips of at most 100 frames, so fades are not too slow.
    # 27 groups of one clip (issue 15): the same number of videos as 9 groups of 2-4, over
    # three times as many scenes, so that what one frame shows generalises to unseen groups
    # (measured: results/calibration/demo.json, docs/STUDY.md "Demo calibration").
    "demo": SynthSpec(motions=("MoveLeft", "MoveRight", "FadeIn", "FadeOut"), max_frames=100,
                      speed=(0.012, 0.024), n_groups=27, clips_per_group=(1, 1)),
}


def spec_for_profile(profile: str) -> SynthSpec:
    """The synthetic preset of a profile ("smoke" or "demo")."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"no synthetic preset for profile {profile!r}; "
                         f"allowed: {', '.join(PROFILES)}") from None


# ----------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class ClipParams:
    """One clip, fully drawn. ``velocity`` is the only field that depends on the motion."""

    shape: str
    colour: tuple[float, float, float]
    radius: float
    start: tuple[float, float]
    velocity: tuple[float, float]
    n_frames: int
    scene_seed: int
    noise_seed: int
    ramp: str = ""  # "size" (Grow/Shrink), "opacity" (FadeIn/FadeOut) or "" (constant)
    ramp_start: float = 0.0  # ramp position at the first frame of the forward play, in [0, 1]
    ramp_rate: float = 0.0  # ramp change per frame (the ramp stays within [0, 1])
    reverse: bool = False  # play the ramp backwards (Shrink, FadeOut)
    opacity_range: tuple[float, float] = OPACITY_RANGE  # the set's opacity ramp (FadeIn/FadeOut)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def sample_clip(spec: SynthSpec, shape: str, motion: str, group: int, clip: int) -> ClipParams:
    """Draw the parameters of clip ``clip`` of group ``group`` (both 1-based).

    The random stream is keyed by (seed, shape, group, clip), NOT by the motion: the
    classes of one shape get identical clips up to the direction of motion.
    """
    shape_idx = SHAPES.index(shape)
    rng = _rng(spec.seed, shape_idx, group, clip, 1)
    is_short = rng.random() < spec.short_fraction
    if group == 1 and clip == 1:  # guarantee padding at the default rate 10, T = 2
        n_frames = int(rng.integers(spec.short_frames[0], min(10, spec.short_frames[1]) + 1))
    elif is_short:
        n_frames = int(rng.integers(spec.short_frames[0], spec.short_frames[1] + 1))
    else:
        n_frames = int(rng.integers(spec.min_frames, spec.max_frames + 1))
    speed = rng.uniform(*spec.speed) * spec.size
    start = tuple(rng.uniform(0, spec.size, size=2))
    jitter = rng.uniform(-20, 20, size=3)
    colour = tuple(np.clip(np.array(SHAPE_COLOURS[shape]) + jitter, 0, 255))
    radius = rng.uniform(0.12, 0.16) * spec.size
    ux, uy = MOTIONS[motion]
    noise_seed = int(rng.integers(2**31))
    # Drawn after everything else, so that adding the ramps left the other clips unchanged.
    # The ramp moves at twice the speed (in frame widths per frame), but never leaves [0, 1]
    # over the clip: a long clip ramps slower. Its start is uniform where it fits.
    kind, reverse = RAMPS.get(motion, ("", False))
    rate = min(2 * speed / spec.size, 1.0 / max(n_frames - 1, 1))
    ramp_start = float(rng.uniform(0, 1 - rate * (n_frames - 1)))
    return ClipParams(shape=shape, colour=colour, radius=radius, start=start,  # type: ignore[arg-type]
                      velocity=(ux * speed, uy * speed), n_frames=n_frames,
                      scene_seed=int((_rng(spec.seed, shape_idx, group, 2) if spec.scenes_by_shape
                                      else _rng(spec.seed, group, 3)).integers(2**31)),
                      noise_seed=noise_seed, ramp=kind, ramp_start=ramp_start, ramp_rate=rate, reverse=reverse,
                      opacity_range=tuple(spec.opacity))


def ramp(params: ClipParams) -> np.ndarray:
    """(n_frames,) ramp position in [0, 1] per frame (backwards for Shrink/FadeOut)."""
    u = params.ramp_start + params.ramp_rate * np.arange(params.n_frames)
    return u[::-1].copy() if params.reverse else u


def radii(params: ClipParams, size: int) -> np.ndarray:
    """(n_frames,) object radius per frame: constant, or along the ramp for Grow/Shrink."""
    if params.ramp != "size":
        return np.full(params.n_frames, params.radius)
    lo, hi = RADIUS_RANGE
    return (lo + (hi - lo) * ramp(params)) * size


def opacities(params: ClipParams) -> np.ndarray:
    """(n_frames,) object opacity per frame: 1, or along the ramp for FadeIn/FadeOut."""
    if params.ramp != "opacity":
        return np.ones(params.n_frames)
    lo, hi = params.opacity_range
    return lo + (hi - lo) * ramp(params)


def positions(params: ClipParams, size: int) -> np.ndarray:
    """(n_frames, 2) object centres (x, y), wrapped onto the torus [0, size)^2."""
    t = np.arange(params.n_frames, dtype=np.float64)[:, None]
    return (np.asarray(params.start) + t * np.asarray(params.velocity)) % size


def render_scene(scene_seed: int, size: int) -> np.ndarray:
    """Background of a group: (size, size, 3) float in 0..255.

    A mid-dark colour, two low-frequency gratings and a static soft blob (the distractor,
    a shape different from every class shape).
    """
    rng = _rng(scene_seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = rng.uniform(30, 130, size=3)
    texture = np.zeros((size, size))
    for _ in range(2):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
        texture += np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    img = base + 12.0 * texture[..., None] * rng.uniform(0.5, 1.0, size=3)
    cx, cy = rng.uniform(0.15, 0.85, size=2)
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * rng.uniform(0.04, 0.07) ** 2))
    img = img * (1 - blob[..., None]) + rng.uniform(100, 200, size=3) * blob[..., None]
    return img


def shape_coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of ``shape`` at offsets (dx, dy) from its centre.

    Soft edges (one pixel wide) make sub-pixel motion visible.
    """
    dx, dy = np.broadcast_arrays(dx, dy)
    if shape == "Circle":
        inside = radius - np.hypot(dx, dy)
    elif shape == "Square":
        inside = 0.85 * radius - np.maximum(np.abs(dx), np.abs(dy))
    elif shape == "Triangle":  # apex up; outward edge normals at 90, 210, 330 degrees
        ri = 0.6 * radius
        inside = np.minimum.reduce([ri - dy, ri - (-0.866 * dx - 0.5 * dy),
                                    ri - (0.866 * dx - 0.5 * dy)])
    elif shape == "Cross":
        arm = 0.35 * radius
        inside = np.maximum(np.minimum(radius - np.abs(dx), arm - np.abs(dy)),
                            np.minimum(arm - np.abs(dx), radius - np.abs(dy)))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(inside + 0.5, 0.0, 1.0)


def render_frame(scene: np.ndarray, params: ClipParams, centre: tuple[float, float],
                 radius: float | None = None, opacity: float = 1.0) -> np.ndarray:
    """One noiseless frame (H, W, 3) float: the object of ``params`` at ``centre`` (with
    ``radius``, default ``params.radius``).

    Depends on the position and size only, never on the velocity or growth: the direction
    of motion is not in any single frame.
    """
    size = scene.shape[0]
    grid = np.arange(size, dtype=np.float64)
    # Offsets on the torus, so the object wraps around the edges.
    dx = (grid[None, :] - centre[0] + size / 2) % size - size / 2
    dy = (grid[:, None] - centre[1] + size / 2) % size - size / 2
    alpha = opacity * shape_coverage(params.shape, dx, dy, params.radius if radius is None else radius)[..., None]
    return scene * (1 - alpha) + np.asarray(params.colour) * alpha


def clip_frames(spec: SynthSpec, params: ClipParams) -> np.ndarray:
    """All frames of a clip: (n_frames, size, size, 3) uint8, noise included."""
    scene = render_scene(params.scene_seed, spec.size)
    noise_rng = _rng(params.noise_seed)
    out = np.empty((params.n_frames, spec.size, spec.size, 3), dtype=np.uint8)
    tracks = zip(positions(params, spec.size), radii(params, spec.size), opacities(params))
    for t, (centre, radius, opacity) in enumerate(tracks):
        frame = render_frame(scene, params, (centre[0], centre[1]), radius, opacity)
        frame += noise_rng.normal(0.0, spec.noise, size=frame.shape)
        out[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------- files


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


def _clip_counts(spec: SynthSpec) -> dict[tuple[str, int], int]:
    """Clips per (shape, group): shared by the motions of a shape (see sample_clip)."""
    lo, hi = spec.clips_per_group
    return {(s, g): int(_rng(spec.seed, SHAPES.index(s), g, 0).integers(lo, hi + 1))
            for s in SHAPES[: spec.n_shapes] for g in range(1, spec.n_groups + 1)}


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


def write_synthetic(root: str | Path, spec: SynthSpec, *, progress: bool = True) -> Path:
    """Write the set described by ``spec`` under ``root`` in UCF-101's layout.

    ``root/UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``root/ucfTrainTestlist/``.
    Returns ``root``. Existing files of the same names are overwritten.
    """
    root = Path(root)
    videos_dir = root / "UCF-101"
    counts = _clip_counts(spec)
    jobs: list[tuple[str, str, int, int]] = []  # (shape, motion, group, clip)
    for cls in spec.classes:
        shape = next(s for s in SHAPES if cls.startswith(s))
        motion = cls[len(shape):]
        for g in range(1, spec.n_groups + 1):
            jobs += [(shape, motion, g, c) for c in range(1, counts[(shape, g)] + 1)]
    names: list[tuple[str, str, int]] = []
    for shape, motion, g, c in tqdm(jobs, desc="synthetic videos", disable=quiet(progress)):
        cls = shape + motion
        rel = f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"
        (videos_dir / cls).mkdir(parents=True, exist_ok=True)
        write_video(videos_dir / rel, clip_frames(spec, sample_clip(spec, shape, motion, g, c)),
                    fps=spec.fps)
        names.append((cls, rel, g))
    _write_lists(root / "ucfTrainTestlist", spec, names)
    return root


def _marker_ok(folder: Path, spec: SynthSpec) -> bool:
    try:
        return json.loads((folder / MARKER).read_text())["digest"] == spec.digest()
    except (OSError, ValueError, KeyError):
        return False


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
        return target
    if target.exists() and not (target / MARKER).exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists, is not empty and was not written by "
                              f"strn's generator (no {MARKER}); move it away and retry")
    data_dir.mkdir(parents=True, exist_ok=True)
    # One writer at a time (an exclusive lock on a file beside the set): a second process
    # waits, then finds the first one's valid set and uses it. A valid set is never moved
    # aside; only a stale one (other digest) is, and only while holding the lock.
    with _install_lock(data_dir / f".synthetic-{profile}.lock"):
        if not _marker_ok(target, spec):
            _write_and_install(profile, spec, data_dir, target)
    return target


@contextlib.contextmanager
def _install_lock(path: Path):
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_and_install(profile: str, spec: SynthSpec, data_dir: Path, target: Path) -> None:
    """Write the set into a private folder, marker last, then rename it onto ``target``
    (called with the install lock held, so no valid set is ever moved aside)."""
    tmp = data_dir / f".synthetic-{profile}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write_synthetic(tmp, spec)
        marker = {"profile": profile, "digest": spec.digest(),
                  "generator_version": GENERATOR_VERSION, "spec": json.loads(spec.to_json())}
        (tmp / (MARKER + ".tmp")).write_text(json.dumps(marker, indent=1))
        os.replace(tmp / (MARKER + ".tmp"), tmp / MARKER)
        if target.exists():  # stale (other digest) or empty: move aside, then delete
            trash = data_dir / f".synthetic-{profile}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

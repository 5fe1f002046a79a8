"""The built-in synthetic dataset: real .avi files in UCF-101's layout (STUDY §5).

What a class is: ``<Shape><Motion>``, e.g. ``CircleMoveLeft``. A shape moves at constant
speed on a torus (it wraps around the frame edges) over a textured background with a
static distractor blob; or it stays and its size (Grow/Shrink) or opacity (FadeIn/FadeOut)
runs along a ramp that wraps around the same way.

Why it makes the study meaningful:

* One frame shows the shape, so it narrows the class down to the motions of that shape,
  but it says nothing about the direction: start positions (and ramp values) are uniform on
  the torus and wrap-around keeps them uniform at every frame, for every direction (no edge to bounce
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
encoder version, the decoded frames are what tests compare. This module draws the clips;
`strn.data.synth_files` writes them as files and installs a profile's set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..profiles import PROFILES as profile_table

# Bump when the generator changes what it writes: it is part of the marker hash, so an
# existing synthetic folder is regenerated instead of silently reused.
GENERATOR_VERSION = 3  # 3: ramps wrap around like positions (no order cue in a frame's ramp value)

SHAPES: tuple[str, ...] = ("Circle", "Square", "Triangle", "Cross")
# Bright, distinct colours per shape (a second cue of the shape, not of the direction).
SHAPE_COLOURS: dict[str, tuple[int, int, int]] = {
    "Circle": (235, 60, 50), "Square": (60, 200, 70),
    "Triangle": (70, 110, 240), "Cross": (240, 220, 60),
}
# Per motion: unit velocity in image coordinates (x right, y down). Grow/Shrink (motion
# towards or away from the camera) and FadeIn/FadeOut change the object's size or opacity
# along a ramp instead. The ramp lives on a circle, like positions on the torus: it starts
# uniform in [0, 1), moves up (Grow, FadeIn) or down (Shrink, FadeOut) at a constant rate
# and wraps around, so its value at every frame is uniform whatever the direction. (Version
# 2 played the ramp of Grow/FadeIn backwards for Shrink/FadeOut; since sequences are taken
# from the start of a video and a remainder is dropped, the frames a model saw were biased
# to the start of the ramp, low for FadeIn and high for FadeOut, and a frame-average model
# beat the single-frame floor: 0.41-0.46 against 0.5 on the demo, docs/STUDY.md section 7.)
MOTIONS: dict[str, tuple[float, float]] = {
    "MoveLeft": (-1.0, 0.0), "MoveRight": (1.0, 0.0),
    "MoveUp": (0.0, -1.0), "MoveDown": (0.0, 1.0),
    "Grow": (0.0, 0.0), "Shrink": (0.0, 0.0),
    "FadeIn": (0.0, 0.0), "FadeOut": (0.0, 0.0),
}
RAMPS: dict[str, tuple[str, bool]] = {  # motion -> (what changes, ramp runs downwards)
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


# The presets of the profiles that have a synthetic set; their values live in strn/profiles.py.
PROFILES: dict[str, SynthSpec] = {p.name: SynthSpec(**p.synth) for p in profile_table.values() if p.synth is not None}


def spec_for_profile(profile: str) -> SynthSpec:
    """The synthetic preset of a profile (those of strn/profiles.py with a ``synth`` entry)."""
    if profile not in PROFILES:
        raise ValueError(f"no synthetic preset for profile {profile!r}; allowed: {', '.join(PROFILES)}")
    return PROFILES[profile]


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
    ramp_start: float = 0.0  # ramp position at the first frame, in [0, 1)
    ramp_rate: float = 0.0  # ramp change per frame (wrapping around [0, 1))
    reverse: bool = False  # the ramp runs downwards (Shrink, FadeOut)
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
    # The ramp moves at the speed of the moves (in ramp lengths per frame, as positions move
    # in frame widths), so between sampled frames it changes by < 1/2 of its length at
    # r = 15: the wrapped change and its sign are unambiguous, as for the moves.
    kind, reverse = RAMPS.get(motion, ("", False))
    rate = speed / spec.size
    ramp_start = float(rng.uniform(0, 1))
    return ClipParams(shape=shape, colour=colour, radius=radius, start=start,  # type: ignore[arg-type]
                      velocity=(ux * speed, uy * speed), n_frames=n_frames,
                      scene_seed=int((_rng(spec.seed, shape_idx, group, 2) if spec.scenes_by_shape
                                      else _rng(spec.seed, group, 3)).integers(2**31)),
                      noise_seed=noise_seed, ramp=kind, ramp_start=ramp_start, ramp_rate=rate, reverse=reverse,
                      opacity_range=tuple(spec.opacity))


def ramp(params: ClipParams) -> np.ndarray:
    """(n_frames,) ramp position in [0, 1) per frame, wrapping around (downwards for Shrink/FadeOut)."""
    step = -params.ramp_rate if params.reverse else params.ramp_rate
    return (params.ramp_start + step * np.arange(params.n_frames)) % 1.0


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


def clip_counts(spec: SynthSpec) -> dict[tuple[str, int], int]:
    """Clips per (shape, group): shared by the motions of a shape (see sample_clip)."""
    lo, hi = spec.clips_per_group
    return {(s, g): int(_rng(spec.seed, SHAPES.index(s), g, 0).integers(lo, hi + 1))
            for s in SHAPES[: spec.n_shapes] for g in range(1, spec.n_groups + 1)}

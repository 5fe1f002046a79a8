"""The synthetic set: UCF layout, determinism, short videos, single-frame ambiguity."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

import strn.data.synth as synth
import strn.data.synth_files as synth_files
from strn.data.ucf101 import group_overlap, read_split
from strn.data.video import count_frames, decode_sampled
from strn.data.synth import (MOTIONS, OPACITY_RANGE, RADIUS_RANGE, SynthSpec, opacities, clip_frames, positions, radii, ramp,
                        render_frame, render_scene, sample_clip, spec_for_profile)
from strn.data.synth_files import ensure_synthetic, split_test_groups, write_synthetic

SMOKE = spec_for_profile("smoke")


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("smoke"), SMOKE, progress=False)


def test_profiles():
    assert len(SMOKE.classes) == 4 and SMOKE.size == 32
    demo = spec_for_profile("demo")
    assert 8 <= len(demo.classes) <= 12 and demo.size == 64 and demo.fps == 25
    with pytest.raises(ValueError, match="smoke, demo"):
        spec_for_profile("full")
    with pytest.raises(ValueError):
        SynthSpec(motions=("Spin",))


@pytest.mark.parametrize("split", [1, 2, 3])
def test_layout_reads_like_ucf(smoke_root, split):
    idx = read_split(smoke_root, split)
    assert idx.classes == SMOKE.classes
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", c) for c in idx.classes)
    test_groups = {e.group for e in idx.subset("test")}
    assert test_groups == set(split_test_groups(SMOKE.n_groups, split)) == \
        {2 * split - 1, 2 * split}
    assert {e.group for e in idx.subset("train")} == set(range(1, 7)) - test_groups
    assert not group_overlap(idx.entries)
    for e in idx.entries:
        assert re.fullmatch(rf"{idx.classes[e.label]}/v_{idx.classes[e.label]}"
                            rf"_g\d\d_c\d\d\.avi", e.path)
    raw = (smoke_root / f"ucfTrainTestlist/trainlist0{split}.txt").read_bytes()
    assert raw.count(b"\r\n") == len(idx.subset("train"))
    assert re.match(rb"\w+/v_\w+\.avi \d\r\n", raw)


def test_short_videos_present(smoke_root):
    lengths = [count_frames(p) for p in sorted((smoke_root / "UCF-101").glob("*/*.avi"))]
    assert min(lengths) <= 10  # one sampled frame at r=10: padded with T=2
    assert any(n < 20 for n in lengths) and max(lengths) >= 30
    assert all(n <= SMOKE.max_frames for n in lengths)


def test_decoded_frames_match_generator(smoke_root):
    params = sample_clip(SMOKE, "Square", "MoveRight", 4, 2)
    want = clip_frames(SMOKE, params)
    got = decode_sampled(smoke_root / "UCF-101/SquareMoveRight/v_SquareMoveRight_g04_c02.avi",
                         1, None)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).mean() < 8  # lossy coding only


def test_deterministic(tmp_path):
    """The same spec writes the same set, also when two processes write its clips."""
    spec = dataclasses.replace(SMOKE, n_groups=3, clips_per_group=(1, 1), n_shapes=1,
                               max_frames=35)
    a = write_synthetic(tmp_path / "a", spec, progress=False)
    b = write_synthetic(tmp_path / "b", spec, progress=False, workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*.avi"))
    assert len(files) == 2 * 3
    for rel in files:
        np.testing.assert_array_equal(decode_sampled(a / rel, 1, None),
                                      decode_sampled(b / rel, 1, None))
    for name in ("classInd.txt", "trainlist01.txt", "testlist03.txt"):
        assert (a / "ucfTrainTestlist" / name).read_bytes() == \
            (b / "ucfTrainTestlist" / name).read_bytes()
    other = clip_frames(dataclasses.replace(spec, seed=1),
                        sample_clip(dataclasses.replace(spec, seed=1), "Circle", "MoveLeft", 1, 1))
    assert not np.array_equal(other[:5], clip_frames(spec, sample_clip(spec, "Circle",
                                                                       "MoveLeft", 1, 1))[:5])


def test_single_frame_carries_no_direction():
    spec = spec_for_profile("demo")
    clips = {m: sample_clip(spec, "Triangle", m, 3, 2) for m in MOTIONS if m.startswith("Move")}
    # Everything but the velocity is shared by the motions of a shape ...
    strip = [dataclasses.replace(p, velocity=(0.0, 0.0)) for p in clips.values()]
    assert all(s == strip[0] for s in strip)
    # ... so frame 0 is identical, and a frame depends on the position only.
    frames0 = [clip_frames(spec, p)[0] for p in clips.values()]
    assert all(np.array_equal(f, frames0[0]) for f in frames0)
    scene = render_scene(clips["MoveLeft"].scene_seed, spec.size)
    centre = (spec.size - 0.7, 13.25)  # wraps around the right edge
    renders = [render_frame(scene, p, centre) for p in clips.values()]
    assert all(np.array_equal(r, renders[0]) for r in renders)
    # The object's position at any frame is uniform on the torus for every direction
    # (Kolmogorov-Smirnov distance to the uniform distribution, 600 clips).
    for motion in ("MoveLeft", "MoveRight"):
        xs = np.sort([positions(sample_clip(spec, "Circle", motion, g, c), spec.size)[-1, 0]
                      for g in range(1, 31) for c in range(1, 21)]) / spec.size
        ks = np.max(np.abs(xs - (np.arange(1, len(xs) + 1) / len(xs))))
        assert ks < 0.07, (motion, ks)
    # Directions differ: two frames apart, left and right have moved opposite ways.
    p_left, p_right = positions(clips["MoveLeft"], spec.size), positions(clips["MoveRight"],
                                                                          spec.size)
    assert p_left[1, 0] != p_right[1, 0] and p_left[1, 1] == p_right[1, 1]


@pytest.mark.parametrize("profile", ["smoke", "demo", "gpu"])
def test_motion_visible_and_unambiguous_at_all_rates(profile):
    spec = spec_for_profile(profile)
    slowest, fastest = spec.speed[0] * spec.size, spec.speed[1] * spec.size
    assert slowest * 2 >= 1.0  # r=2: more than a pixel between sampled frames
    assert fastest * 15 < spec.size / 2  # r=15: wrapped direction still unambiguous


def test_scene_shared_within_group_not_across():
    a = sample_clip(SMOKE, "Circle", "MoveLeft", 2, 1)
    b = sample_clip(SMOKE, "Circle", "MoveLeft", 2, 2)
    c = sample_clip(SMOKE, "Circle", "MoveLeft", 3, 1)
    assert a.scene_seed == b.scene_seed != c.scene_seed
    assert a.start != b.start


def test_ensure_synthetic_once_then_reused_and_regenerated(tmp_path, monkeypatch):
    tiny = dataclasses.replace(SMOKE, n_shapes=1, n_groups=3, clips_per_group=(1, 1),
                               max_frames=31)
    monkeypatch.setitem(synth.PROFILES, "smoke", tiny)
    calls = []
    real = synth_files.write_synthetic
    monkeypatch.setattr(synth_files, "write_synthetic",
                        lambda root, spec, **kw: calls.append(spec) or real(root, spec,
                                                                           progress=False))
    root = ensure_synthetic("smoke", tmp_path)
    assert root == tmp_path / "synthetic-smoke" and len(calls) == 1
    marker = json.loads((root / synth_files.MARKER).read_text())
    assert marker["digest"] == tiny.digest() and marker["spec"]["n_groups"] == 3
    assert read_split(root, 1).entries
    assert ensure_synthetic("smoke", tmp_path) == root and len(calls) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.suffix != ".lock"]  # no tmp left
    changed = dataclasses.replace(tiny, seed=7)
    monkeypatch.setitem(synth.PROFILES, "smoke", changed)
    ensure_synthetic("smoke", tmp_path)
    assert len(calls) == 2
    assert json.loads((root / synth_files.MARKER).read_text())["digest"] == changed.digest()


def test_ensure_synthetic_refuses_foreign_folder(tmp_path):
    (tmp_path / "synthetic-smoke").mkdir()
    (tmp_path / "synthetic-smoke" / "mine.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="synthetic-smoke"):
        ensure_synthetic("smoke", tmp_path)
    assert (tmp_path / "synthetic-smoke" / "mine.txt").exists()


@pytest.mark.parametrize("forward, backward", [("Grow", "Shrink"), ("FadeIn", "FadeOut")])
def test_ramp_pairs_start_alike_and_run_in_opposite_directions(forward, backward):
    spec = dataclasses.replace(spec_for_profile("smoke"), motions=(forward, backward))
    for group, clip in [(1, 1), (2, 1), (4, 2)]:
        a, b = sample_clip(spec, "Circle", forward, group, clip), sample_clip(spec, "Circle", backward, group, clip)
        ua, ub = ramp(a), ramp(b)
        assert ua[0] == ub[0] and len(ua) == len(ub)  # same first frame, as for the moves
        if len(ua) > 1:
            step_a = (np.diff(ua) + 0.5) % 1.0 - 0.5  # wrapped change per frame
            step_b = (np.diff(ub) + 0.5) % 1.0 - 0.5
            assert np.all(step_a > 0) and np.allclose(step_b, -step_a)
            # between frames 15 apart (Table 5.6's sparsest rate) the wrapped change stays
            # under half the ramp: its sign, the direction, is unambiguous
            assert np.all(15 * step_a < 0.5)
        lo, hi = RADIUS_RANGE if forward == "Grow" else OPACITY_RANGE
        track = radii(a, spec.size) / spec.size if forward == "Grow" else opacities(a)
        assert track.min() >= lo - 1e-9 and track.max() <= hi + 1e-9


@pytest.mark.parametrize("forward, backward", [("FadeIn", "FadeOut"), ("MoveLeft", "MoveRight")])
def test_what_one_sampled_frame_shows_does_not_depend_on_the_direction(forward, backward):
    """The single-frame floor holds for the frames a model is shown: sequences are taken from
    the start of a video at r = 10 and a remainder is dropped, so a ramp anchored to the clip
    would show FadeIn low and FadeOut high (generator v2: a frame-average model beat the
    floor). At each sampled frame index the ramp value (position) is uniform for both."""
    spec = dataclasses.replace(spec_for_profile("demo"), motions=(forward, backward), n_groups=200)
    for t in (0, 10, 20):
        vals = {m: [] for m in (forward, backward)}
        for g in range(1, spec.n_groups + 1):
            for m in vals:
                p = sample_clip(spec, "Square", m, g, 1)
                if p.n_frames > t:
                    vals[m].append(ramp(p)[t] if p.ramp else positions(p, spec.size)[t, 0] / spec.size)
        a, b = (np.asarray(v) for v in vals.values())
        # uniform on [0, 1): means 0.5 +- 0.02 each; v2 had FadeIn ~0 and FadeOut ~1 at t = 0
        assert abs(a.mean() - b.mean()) < 0.1, (t, a.mean(), b.mean())
        assert abs(np.mean(a < 0.5) - np.mean(b < 0.5)) < 0.15, t


def test_scene_per_group_hides_the_class_and_opacity_range_is_the_specs():
    """scenes_by_shape=False: every class of a group shares the scene, so the background
    carries no class information; a set's opacity range bounds its fades."""
    spec = SynthSpec(n_shapes=3, motions=("MoveLeft", "FadeIn", "FadeOut"), n_groups=3, clips_per_group=(1, 1),
                     scenes_by_shape=False, opacity=(0.3, 0.7))
    from strn.data.synth import SHAPES, sample_clip

    scenes = {sample_clip(spec, s, m, 2, 1).scene_seed for s in SHAPES[:3] for m in spec.motions}
    assert len(scenes) == 1
    assert sample_clip(spec, "Circle", "FadeIn", 1, 1).scene_seed != sample_clip(spec, "Circle", "FadeIn", 2, 1).scene_seed
    by_shape = SynthSpec(n_shapes=3, n_groups=3)
    assert len({sample_clip(by_shape, s, "MoveLeft", 2, 1).scene_seed for s in SHAPES[:3]}) == 3
    for motion in ("FadeIn", "FadeOut"):
        ops = opacities(sample_clip(spec, "Square", motion, 2, 1))  # group 1 clip 1 is the short one
        assert ops.min() >= 0.3 - 1e-9 and ops.max() <= 0.7 + 1e-9 and ops.max() - ops.min() > 0.1
    assert spec.digest() != SynthSpec(n_shapes=3, motions=spec.motions, n_groups=3, clips_per_group=(1, 1),
                                      opacity=(0.3, 0.7)).digest()


def test_a_broken_writer_pool_leaves_the_rest_to_this_process(tmp_path, monkeypatch):
    """Processes that cannot start (a __main__ a fresh interpreter cannot import) cost speed,
    not the set: a warning, then every clip written here, the same files."""
    from concurrent.futures.process import BrokenProcessPool

    from strn.data import synth_files

    class Broken:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, *a, **k):
            raise BrokenProcessPool("no processes here")

    spec = dataclasses.replace(SMOKE, n_groups=3, clips_per_group=(1, 1), n_shapes=1, max_frames=35)
    monkeypatch.setattr(synth_files, "ProcessPoolExecutor", Broken)
    with pytest.warns(UserWarning, match="writing the 6 remaining clips in this process"):
        root = write_synthetic(tmp_path / "s", spec, progress=False, workers=2)
    assert len(list(root.rglob("*.avi"))) == 6
    assert (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().count(".avi") == 4

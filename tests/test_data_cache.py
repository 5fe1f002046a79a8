"""FrameCache: reuse, invalidation, and no partial reads after an interrupted write."""

from __future__ import annotations

import os

import numpy as np
import pytest

import strn.data.cache as cache_mod
from strn.data.cache import FrameCache, map_entry
from strn.data.video import VideoReadError, decode_sampled
from tests._data_helpers import tiny_video


@pytest.fixture
def counted(monkeypatch):
    """Count the decoder calls made by the cache."""
    calls = []

    def fake(path, rate, size):
        calls.append((str(path), rate, size))
        return decode_sampled(path, rate, size)

    monkeypatch.setattr(cache_mod, "decode_sampled", fake)
    return calls


def test_second_get_reads_the_entry(tmp_path, counted):
    video = tiny_video(tmp_path / "a.avi", 12)
    cache = FrameCache(tmp_path / "cache")
    first = cache.get(video, 5, None)
    second = cache.get(video, 5, None)
    assert len(counted) == 1
    # mapped from the file, not read into memory, and read-only
    assert not second.flags.owndata and not second.flags.writeable
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, decode_sampled(video, 5, None))
    # a new FrameCache object on the same folder (another process) reuses it too
    FrameCache(tmp_path / "cache").get(video, 5, None)
    assert len(counted) == 1


def test_no_root_decodes_every_time(tmp_path, counted):
    video = tiny_video(tmp_path / "a.avi", 12)
    cache = FrameCache(None)
    cache.get(video, 5, None)
    cache.get(video, 5, None)
    assert len(counted) == 2 and cache.decodes == 2


def test_invalidation(tmp_path, counted):
    video = tiny_video(tmp_path / "a.avi", 12)
    cache = FrameCache(tmp_path / "cache")
    k0 = cache.key(video, 5, None)
    cache.get(video, 5, None)
    cache.get(video, 2, None)  # other rate
    cache.get(video, 5, 8)  # other size
    assert len(counted) == 3
    st = os.stat(video)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: new mtime
    assert cache.key(video, 5, None) != k0
    cache.get(video, 5, None)
    assert len(counted) == 4
    tiny_video(video, 20)  # replaced by a longer video: new size
    got = cache.get(video, 5, None)
    assert len(counted) == 5 and len(got) == 4


def test_interrupted_write_is_never_read(tmp_path, counted, monkeypatch):
    video = tiny_video(tmp_path / "a.avi", 12)
    cache = FrameCache(tmp_path / "cache")
    real_save = np.save

    def crash(fh, arr):  # writes half an entry, then the process "dies"
        real_save(fh, arr[: len(arr) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.get(video, 1, None)
    monkeypatch.setattr(cache_mod.np, "save", real_save)
    entry = cache.entry_path(video, 1, None)
    assert not entry.exists()
    # a crash that left its temporary file behind (no cleanup ran) is ignored as well
    leftover = entry.with_name(entry.stem + ".999.deadbeef.tmp")
    leftover.write_bytes(b"half an entry")
    got = cache.get(video, 1, None)
    assert len(got) == 12 and entry.exists() and leftover.exists()
    assert len(counted) == 2


def test_failures_raise_and_are_not_cached(tmp_path):
    cache = FrameCache(tmp_path / "cache")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 50)
    for path in (bad, tmp_path / "missing.avi"):
        with pytest.raises(VideoReadError):
            cache.get(path, 10, None)
    assert not list((tmp_path / "cache").rglob("*.npy"))


@pytest.mark.parametrize("shape", [(5, 8, 8, 3), (0, 8, 8, 3), (1, 4, 6, 3)])
def test_map_entry_reads_what_np_save_wrote(tmp_path, shape):
    frames = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "e.npy", frames)
    mapped = map_entry(tmp_path / "e.npy")
    assert mapped.shape == shape and mapped.dtype == np.uint8 and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, frames)


def test_map_entry_leaves_other_files_to_np_load(tmp_path):
    np.save(tmp_path / "f.npy", np.arange(6, dtype=np.float32))  # not an entry of ours: np.load reads it
    np.testing.assert_array_equal(map_entry(tmp_path / "f.npy"), np.arange(6, dtype=np.float32))
    np.save(tmp_path / "t.npy", np.zeros((4, 8, 8, 3), np.uint8))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-10])  # truncated
    with pytest.raises(ValueError):
        map_entry(tmp_path / "t.npy")


def test_fill_decodes_in_worker_processes_and_leaves_bad_videos_to_get(tmp_path, counted):
    videos = [tiny_video(tmp_path / f"v{i}.avi", 6 + 3 * i) for i in range(3)]
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 20)
    cache = FrameCache(tmp_path / "cache")
    paths = videos + [bad, tmp_path / "missing.avi"]
    assert cache.fill(paths, 3, 16, workers=2, progress=False) == 3
    assert not counted  # the decoding happened in the worker processes
    for v in videos:
        np.testing.assert_array_equal(cache.get(v, 3, 16), decode_sampled(v, 3, 16))
    assert not counted  # ... and every good video is now read from its entry
    with pytest.raises(VideoReadError):
        cache.get(bad, 3, 16)  # the bad one still reports itself, by name, where it is read
    assert cache.fill(paths, 3, 16, workers=2) == 0  # a second fill finds nothing to do
    # one worker: this process decodes, under the same lock (a second process then finds the entries)
    assert FrameCache(tmp_path / "serial").fill(paths, 3, 16, workers=1, progress=False) == 3
    assert {str(v) for v in videos} <= {c[0] for c in counted}


def test_prepare_with_workers_fills_the_cache_before_indexing(tmp_path):
    from strn.data.prepare import _prepare_cached
    from tests._data_helpers import make_layout

    root = make_layout(tmp_path / "ucf", ["A", "B"], n_groups=3, clips=2)
    prepared = _prepare_cached(str(root), 1, 3, 2, 16, 0.0, 0, "skip", str(tmp_path / "cache"), False, 2)
    assert prepared.train.cache.decodes == 0  # every video was decoded by the fill's workers
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 12
    assert len(prepared.train.videos) == 8 and len(prepared.test.videos) == 4

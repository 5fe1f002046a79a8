"""The JPEG frame cache (``FrameCache(codec="jpeg90")``): error bound, keys and hashes that never
mix with raw, lazy decoding, and corrupt entries handled like corrupt raw entries."""
from __future__ import annotations

import numpy as np
import pytest

import strn.data.cache as cache_mod
from strn.config import config_hash, make_config
from strn.data.cache import FrameCache
from strn.data.jpeg_entry import JpegFrames
from strn.data.video import decode_sampled
from strn.data.synth_files import write_video


@pytest.fixture
def video(tmp_path):
    """A textured video (flat frames would survive JPEG exactly and test nothing)."""
    yy, xx = np.mgrid[0:48, 0:64]
    frames = np.stack([np.stack([128 + 100 * np.sin((xx + 3 * t) / 6), 128 + 80 * np.cos(yy / 5), (xx + yy + t) * 2], -1)
                       for t in range(12)]).astype(np.uint8)
    path = tmp_path / "a.avi"
    write_video(path, frames, fps=25)
    return path


@pytest.fixture
def counted(monkeypatch):
    calls = []

    def fake(path, rate, size):
        calls.append(str(path))
        return decode_sampled(path, rate, size)

    monkeypatch.setattr(cache_mod, "decode_sampled", fake)
    return calls


def test_round_trip_within_the_error_bound(tmp_path, video, counted):
    exact = decode_sampled(video, 2, 32)
    cache = FrameCache(tmp_path / "c", codec="jpeg90")
    first = cache.get(video, 2, 32)
    again = FrameCache(tmp_path / "c", codec="jpeg90").get(video, 2, 32)  # another process: from the entry
    assert len(counted) == 1 and isinstance(again, JpegFrames)
    assert again.shape == exact.shape and len(again) == len(exact)
    got = again[:]
    assert got.dtype == np.uint8
    # the first read (straight after decoding) shows the same JPEG pixels as every later one
    np.testing.assert_array_equal(first[:], got)
    err = np.abs(got.astype(int) - exact.astype(int))
    # quality 90: a few levels of 255 on average (3.8 on UCF-shaped frames, cache_codec.json)
    assert 0 < err.mean() < 6, err.mean()
    # lazy indexing as the dataset uses it: a window of frames, one frame, a slice
    np.testing.assert_array_equal(again[[3, 1]], got[[3, 1]])
    np.testing.assert_array_equal(again[-1], got[-1])
    np.testing.assert_array_equal(again[1:4], got[1:4])
    with pytest.raises(IndexError):
        again[len(exact)]


def test_jpeg_is_smaller_than_raw(tmp_path):
    # a smooth, camera-like frame (the tiny index-coded videos are not what JPEG is for)
    yy, xx = np.mgrid[0:96, 0:128]
    frames = np.stack([np.stack([(xx + 3 * t) % 256, (yy * 2) % 256, (xx + yy) % 256], -1)
                       for t in range(6)]).astype(np.uint8)
    with open(tmp_path / "e.jpgs", "wb") as fh:
        cache_mod.write_jpeg_entry(fh, frames, 90)
    assert (tmp_path / "e.jpgs").stat().st_size < frames.nbytes / 4


def test_keys_entries_and_hashes_never_mix(tmp_path, video, counted):
    raw, jpeg = FrameCache(tmp_path / "c"), FrameCache(tmp_path / "c", codec="jpeg90")
    assert raw.key(video, 2, 32) != jpeg.key(video, 2, 32)
    assert raw.entry_path(video, 2, 32).suffix == ".npy" and jpeg.entry_path(video, 2, 32).suffix == ".jpgs"
    raw.get(video, 2, 32)
    jpeg.get(video, 2, 32)  # the raw entry in the same folder is not read: decoded again
    assert len(counted) == 2
    # the raw key is the one that existed before codecs (old caches stay valid)
    st = __import__("os").stat(video)
    assert raw.key(video, 2, 32) == cache_mod._key.__wrapped__(str(video.resolve()), st.st_size, st.st_mtime_ns, 2, 32)
    with pytest.raises(ValueError, match="cache_codec"):
        FrameCache(tmp_path / "c", codec="png")
    # the run's hash: unchanged for raw (stored results keep theirs), different for JPEG
    base = make_config("smoke")
    assert config_hash(make_config("smoke", {"data": {"cache_codec": "raw"}})) == config_hash(base)
    assert config_hash(make_config("smoke", {"data": {"cache_codec": "jpeg90"}})) != config_hash(base)


def _corrupt_payload(entry):
    data = bytearray(entry.read_bytes())
    data[-40:-20] = bytes(20)  # inside the last frame's JPEG data
    entry.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "payload"])
def test_corrupt_entry_is_decoded_again(tmp_path, video, counted, damage):
    cache = FrameCache(tmp_path / "c", codec="jpeg90", keep_open=0)
    good = cache.get(video, 2, 32)[:]
    entry = cache.entry_path(video, 2, 32)
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:-100])
    elif damage == "garbage":
        entry.write_bytes(b"\x00garbage" * 200)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:
        _corrupt_payload(entry)
    with pytest.warns(RuntimeWarning, match="corrupt") if damage == "payload" else _nothing():
        got = cache.get(video, 2, 32)[:]  # like a bad raw entry: decoded again, entry overwritten
    np.testing.assert_array_equal(got, good)
    assert len(counted) == 2
    np.testing.assert_array_equal(FrameCache(tmp_path / "c", codec="jpeg90").get(video, 2, 32)[:], good)
    assert len(counted) == 2  # the rewritten entry is whole again


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fill_writes_jpeg_entries_in_worker_processes(tmp_path, video, counted):
    cache = FrameCache(tmp_path / "c", codec="jpeg90")
    assert cache.fill([video], 2, 32, workers=2, progress=False) == 1
    assert not counted and cache.entry_path(video, 2, 32).exists()  # decoded in a worker, stored as .jpgs
    assert isinstance(cache.get(video, 2, 32), JpegFrames) and not counted


def test_dataset_reads_a_jpeg_cache(tmp_path):
    from strn.data.datasets import SequenceDataset
    from strn.data.ucf101 import read_split
    from tests._data_helpers import make_layout

    root = make_layout(tmp_path / "ucf", ["A", "B"], n_frames=12)
    kw = dict(rate=2, seq_len=2, size=16, progress=False)
    raw = SequenceDataset(read_split(root, 1), "train", cache=FrameCache(tmp_path / "r"), **kw)
    jpg = SequenceDataset(read_split(root, 1), "train", cache=FrameCache(tmp_path / "j", codec="jpeg90"), **kw)
    assert len(raw) == len(jpg) > 0
    for i in range(len(raw)):
        a, b = raw[i], jpg[i]
        assert a[0].shape == b[0].shape and a[1:] == b[1:]
        assert (a[0].float() - b[0].float()).abs().mean() < 8

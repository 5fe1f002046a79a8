"""decode_sampled against a plain frame-by-frame PyAV decode; sequence arithmetic."""

from __future__ import annotations

import av
import numpy as np
import pytest

from strn.data.video import VideoReadError, count_frames, decode_sampled, n_sampled, \
    sequence_windows
from tests._data_helpers import tiny_video


def reference_decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return tiny_video(tmp_path_factory.mktemp("v") / "a.avi", 23, h=16, w=24)


@pytest.mark.parametrize("rate", [1, 2, 5, 10, 15])
def test_decode_sampled_takes_frames_0_r_2r(video, rate):
    ref = reference_decode(video)
    assert len(ref) == 23
    got = decode_sampled(video, rate, None)
    assert got.dtype == np.uint8 and got.shape == (n_sampled(23, rate), 16, 24, 3)
    np.testing.assert_array_equal(got, ref[::rate])


def test_decode_sampled_resizes_shorter_side_and_center_crops(video):
    got = decode_sampled(video, 5, 8)
    assert got.shape == (5, 8, 8, 3)
    # Frames are flat grey: resizing keeps each frame's level (frame index code).
    ref = reference_decode(video)[::5]
    np.testing.assert_allclose(got.mean(axis=(1, 2, 3)), ref.mean(axis=(1, 2, 3)), atol=2)


def test_count_frames(video):
    assert count_frames(video) == 23


def test_missing_empty_corrupt_raise_naming_the_file(tmp_path):
    missing = tmp_path / "missing.avi"
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    for path, word in ((missing, "not found"), (empty, "empty"), (corrupt, "")):
        with pytest.raises(VideoReadError) as err:
            decode_sampled(path, 10, None)
        assert str(path) in str(err.value) and word in err.value.reason
        with pytest.raises(VideoReadError):
            count_frames(path)


def test_bad_rate():
    with pytest.raises(ValueError):
        decode_sampled("x.avi", 0, None)


@pytest.mark.parametrize("n, t, expected", [
    (0, 2, []),
    (1, 2, [(0, 0)]),
    (1, 3, [(0, 0, 0)]),
    (2, 3, [(0, 1, 1)]),
    (2, 2, [(0, 1)]),
    (5, 2, [(0, 1), (2, 3)]),  # remainder dropped
    (6, 3, [(0, 1, 2), (3, 4, 5)]),
    (4, 1, [(0,), (1,), (2,), (3,)]),
])
def test_sequence_windows(n, t, expected):
    assert sequence_windows(n, t) == expected


def test_sequence_windows_never_overlap_and_stay_in_range():
    for n in range(0, 40):
        for t in (1, 2, 3, 5):
            ws = sequence_windows(n, t)
            flat = [i for w in ws for i in w]
            assert all(len(w) == t for w in ws)
            assert all(0 <= i < max(n, 1) for i in flat)
            if n >= t:
                assert len(ws) == n // t and len(set(flat)) == len(flat)


def test_n_sampled():
    assert [n_sampled(n, 10) for n in (1, 10, 11, 20, 21)] == [1, 1, 2, 2, 3]


def test_video_read_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(VideoReadError("a/b.avi", "empty file (0 bytes)")))
    assert err.path == "a/b.avi" and err.reason == "empty file (0 bytes)" and "a/b.avi" in str(err)

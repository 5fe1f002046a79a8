"""Decoding robustness: a stream without frames, truncated files, audio-only files.

Every failure is a VideoReadError whose message names the file and says how to fix it.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from strn.data.cache import FrameCache
from strn.data.video import VideoReadError, count_frames, decode_sampled
from tests._data_helpers import tiny_video


def _audio(path, with_empty_video: bool):
    with av.open(str(path), mode="w") as c:
        if with_empty_video:  # a video stream that never receives a packet
            v = c.add_stream("mpeg4", rate=25)
            v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in [*a.encode(frame), *a.encode(None)]:
            c.mux(packet)
    return path


def _expect(path, reason_word):
    for fn in (lambda: decode_sampled(path, 10, None), lambda: count_frames(path)):
        with pytest.raises(VideoReadError) as err:
            fn()
        msg = str(err.value)
        assert str(path) in msg and reason_word in err.value.reason, msg
        assert f"Fix: {err.value.fix}" in msg and "archive" in err.value.fix, msg


def test_stream_with_no_frames(tmp_path):
    _expect(_audio(tmp_path / "noframes.avi", with_empty_video=True), "no decodable frames")


def test_no_video_stream(tmp_path):
    _expect(_audio(tmp_path / "audio.avi", with_empty_video=False), "no video stream")


@pytest.mark.parametrize("keep, word", [(0.02, "decoding failed"), (0.3, "truncated"), (0.5, "truncated"),
                                        (0.9, "truncated")])
def test_truncated_file(tmp_path, keep, word):
    full = tiny_video(tmp_path / "full.avi", 60, h=32, w=32)
    data = full.read_bytes()
    cut = tmp_path / f"cut{keep}.avi"
    cut.write_bytes(data[: int(len(data) * keep)])
    _expect(cut, word)
    cache = FrameCache(tmp_path / "cache")  # failures are never cached
    with pytest.raises(VideoReadError):
        cache.get(cut, 10, None)
    assert not list((tmp_path / "cache").rglob("*.npy"))


def test_intact_file_is_not_flagged(tmp_path):
    video = tiny_video(tmp_path / "ok.avi", 60, h=32, w=32)
    assert count_frames(video) == 60 and len(decode_sampled(video, 10, None)) == 6


def test_error_pickles_with_its_fix():
    import pickle

    err = pickle.loads(pickle.dumps(VideoReadError("a.avi", "truncated", "extract it again")))
    assert (err.path, err.reason, err.fix) == ("a.avi", "truncated", "extract it again")
    assert str(err) == "cannot read video a.avi: truncated. Fix: extract it again"

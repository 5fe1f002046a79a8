"""The peer probe skips (with the fix) where TorchCodec imports but cannot load FFmpeg."""
from __future__ import annotations

import pytest

from tests import _peer


def test_failed_library_load_gives_a_reason_with_the_fix(monkeypatch):
    pytest.importorskip("torchcodec.decoders", reason="torchcodec not installed: nothing to simulate")

    def failing_load(path):  # what TorchCodec raises without libavutil.so.*
        raise RuntimeError("Could not load libtorchcodec. Likely causes: FFmpeg is not properly installed\n"
                           "OSError: libavutil.so.56: cannot open shared object file")

    monkeypatch.setattr(_peer, "_decode_one_frame", failing_load)
    reason = _peer.probe()
    assert reason is not None
    assert "cannot decode" in reason and "apt-get install -y ffmpeg" in reason


def test_missing_library_file_gives_a_reason(monkeypatch):
    pytest.importorskip("torchcodec.decoders", reason="torchcodec not installed: nothing to simulate")

    def failing_load(path):
        raise OSError("libavutil.so.58: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(_peer, "_decode_one_frame", failing_load)
    assert "libavutil" in _peer.probe()


def test_load_peer_skips_with_the_reason(monkeypatch):
    from tests import test_data_peer

    monkeypatch.setattr(test_data_peer, "cached_probe", lambda: "torchcodec cannot decode here (x); fix")
    with pytest.raises(pytest.skip.Exception, match="peer unavailable: torchcodec cannot decode here"):
        test_data_peer._load_peer()


def test_probe_agrees_with_a_real_decode():
    """On this machine: the probe says available exactly when a frame really decodes."""
    reason = _peer.probe()
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "v.avi"
            _peer._write_probe_video(path)
            VideoDecoder(str(path))[0]
        works = True
    except Exception:  # noqa: BLE001 -- any failure means "not usable" here
        works = False
    assert (reason is None) == works, reason

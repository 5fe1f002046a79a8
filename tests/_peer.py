"""Is the test-only peer (torchvision's UCF101 over TorchCodec) usable on this machine?

``import torchcodec.decoders`` succeeds even where FFmpeg's shared libraries are missing:
TorchCodec loads them on first use, and then raises (``OSError: libavutil.so.56 ...``
wrapped in a RuntimeError). So availability is probed by decoding one frame of a tiny
video written with PyAV, once per test session.
"""
from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

INSTALL_HINT = ("install FFmpeg's shared libraries (e.g. apt-get install -y ffmpeg; "
                ".ci/run does this), then rerun")


def _write_probe_video(path: Path) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 40 * i, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _decode_one_frame(path: Path) -> None:
    from torchcodec.decoders import VideoDecoder  # loads libtorchcodec and FFmpeg lazily

    VideoDecoder(str(path))[0]


def probe() -> str | None:
    """None when TorchCodec decodes a frame here, else the reason (with the fix)."""
    try:
        import torchcodec.decoders  # noqa: F401
    except ImportError as exc:
        return (f"torchcodec is not installed ({exc}); install the test extra: "
                "pip install -e '.[test]'")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.avi"
        _write_probe_video(path)
        try:
            _decode_one_frame(path)
        except (RuntimeError, OSError) as exc:  # installed, but FFmpeg cannot be loaded
            return f"torchcodec cannot decode here ({_cause(str(exc))}); {INSTALL_HINT}"
    return None


def _cause(message: str) -> str:
    """The missing shared library if the message names one (TorchCodec's is long)."""
    missing = re.search(r"lib[\w.+-]+\.so[.\d]*: cannot open shared object file", message)
    if missing:
        return missing.group(0)
    lines = message.strip().splitlines()
    return lines[0][:160] if lines else "no message"


cached_probe = lru_cache(maxsize=1)(probe)

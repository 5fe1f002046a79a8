"""The ucf-shaped benchmark preset writes what it says, and the reader matches the plain path."""

import av
import numpy as np
from av.video.reformatter import Interpolation

from strn.data.video import scaled_dims, decode_sampled
from strn.data.synth_ucf import UcfShapedSpec, write_ucf_shaped

SPEC = UcfShapedSpec(n_clips=2, median_s=0.6, min_s=0.4, max_s=1.0, sigma=0.3, seed=3)


def test_ucf_shaped_writes_its_spec(tmp_path):
    paths = write_ucf_shaped(tmp_path, SPEC)
    assert len(paths) == 2
    for path, n in zip(paths, SPEC.lengths()):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            assert (s.codec_context.name, s.width, s.height, int(s.average_rate)) == (
                "mpeg4", 320, 240, 25)
            assert sum(1 for _ in c.decode(s)) == n


def test_lengths_follow_the_spec():
    lengths = UcfShapedSpec(n_clips=300).lengths()
    secs = np.array(lengths) / 25
    assert secs.min() >= 1.06 and secs.max() <= 71
    assert 4.5 < np.median(secs) < 8  # UCF-101's median is about 6 s


def test_reader_equals_plain_convert_then_crop(tmp_path):
    """decode_sampled (plane view, one copy) gives the bytes of to_ndarray + crop + stack."""
    path = write_ucf_shaped(tmp_path, SPEC)[0]
    for rate, size in ((3, 112), (1, None)):
        got = decode_sampled(path, rate, size)
        ref = []
        with av.open(str(path)) as c:
            for i, fr in enumerate(c.decode(c.streams.video[0])):
                if i % rate:
                    continue
                w, h = (fr.width, fr.height) if size is None else scaled_dims(fr.width, fr.height, size)
                img = fr.reformat(width=w, height=h, format="rgb24",
                                  interpolation=Interpolation.BILINEAR).to_ndarray()
                if size is not None:
                    t, l = (h - size) // 2, (w - size) // 2
                    img = img[t:t + size, l:l + size]
                ref.append(img)
        assert got.shape == np.stack(ref).shape
        assert np.abs(got.astype(int) - np.stack(ref)).max() <= 1

"""SequenceDataset, the crop/flip/normalise path, bad videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strn.data.cache import FrameCache
from strn.data.datasets import SequenceDataset
from strn.data.transforms import IMAGENET_MEAN, IMAGENET_STD, crop_batch, normalize
from strn.data.ucf101 import read_split
from strn.data.video import VideoReadError
from tests._data_helpers import make_layout, tiny_video


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = make_layout(tmp_path_factory.mktemp("ds"), ["B", "A"], n_groups=3, clips=1,
                       test_groups=(1,), n_frames=25)
    # one short video: 8 frames -> 1 sampled frame at rate 10 -> padded
    tiny_video(root / "UCF-101/A/v_A_g02_c01.avi", 8)
    return root


def make(layout, tmp_path, **kw) -> SequenceDataset:
    args = dict(rate=10, seq_len=2, size=16,
                cache=FrameCache(tmp_path / "cache"), progress=False)
    args.update(kw)
    return SequenceDataset(read_split(layout, 1), "train", **args)


def test_sequences_labels_and_padding(layout, tmp_path):
    ds = make(layout, tmp_path)
    # 4 train videos; 25 frames at r=10 -> 3 sampled -> 1 window; the short one -> 1 padded
    assert len(ds.videos) == 4 and len(ds) == 4 and ds.n_padded == 1 and not ds.skipped
    assert [v.label for v in ds.videos] == ds.labels == [0, 0, 1, 1]
    short = next(i for i, v in enumerate(ds.videos) if v.path == "A/v_A_g02_c01.avi")
    assert (short, (0, 0)) in ds.sequences
    frames, label, vid = ds[0]
    assert frames.dtype == torch.uint8 and frames.shape == (2, 3, 16, 16)  # whole frames: the engine crops
    assert label == ds.videos[vid].label
    # frame 10 of the video (sampled index 1) is brighter than frame 0 (index code)
    assert frames[1].float().mean() > frames[0].float().mean() + 40
    pad, _, _ = ds[[i for i, (v, _) in enumerate(ds.sequences) if v == short][0]]
    assert torch.equal(pad[0], pad[1])
    assert len(make(layout, tmp_path, seq_len=1)) == 3 * 3 + 1
    assert make(layout, tmp_path).cache.decodes == 0  # the index reads from the cache


def test_bad_videos_skipped_with_reason_or_raised(tmp_path):
    root = make_layout(tmp_path / "bad", ["A"], n_groups=5, test_groups=(1,), n_frames=12)
    vids = root / "UCF-101/A"
    (vids / "v_A_g02_c01.avi").write_bytes(np.random.default_rng(1).bytes(4000))
    (vids / "v_A_g03_c01.avi").write_bytes(b"")
    (vids / "v_A_g04_c01.avi").write_bytes(b"\x00" * 10)
    idx = read_split(root, 1, check_files=False)
    ds = SequenceDataset(idx, "train", rate=5, seq_len=2, size=16,
                         cache=FrameCache(tmp_path / "c"), progress=False)
    reasons = {s["path"]: s["reason"] for s in ds.skipped}
    assert set(reasons) == {"A/v_A_g02_c01.avi", "A/v_A_g03_c01.avi", "A/v_A_g04_c01.avi"}
    assert "empty" in reasons["A/v_A_g03_c01.avi"]
    assert [v.path for v in ds.videos] == ["A/v_A_g05_c01.avi"] and len(ds) == 1
    # a listed file that is absent is an error at indexing, never a skip (issue #14)
    (vids / "v_A_g04_c01.avi").unlink()
    with pytest.raises(FileNotFoundError, match="v_A_g04_c01.avi is listed in the train split .* does not exist"):
        SequenceDataset(idx, "train", rate=5, seq_len=2, size=16,
                        cache=FrameCache(None), progress=False)
    (vids / "v_A_g04_c01.avi").write_bytes(b"\x00" * 10)
    with pytest.raises(VideoReadError):
        SequenceDataset(idx, "train", rate=5, seq_len=2, size=16,
                        cache=FrameCache(None), on_bad_video="raise", progress=False)


def test_crop_batch_same_window_for_all_frames_of_a_sequence():
    # frame t holds a gradient shifted by t: the same crop keeps the shift per frame
    base = torch.arange(20 * 20, dtype=torch.int64).view(20, 20) % 200
    seq = torch.stack([(base + 10 * t).to(torch.uint8).expand(3, 20, 20) for t in range(3)])
    batch = seq.unsqueeze(0).expand(4, -1, -1, -1, -1)  # (B=4, T=3, 3, 20, 20)
    g = torch.Generator().manual_seed(0)
    out = crop_batch(batch, 8, g, flip=True)
    assert out.shape == (4, 3, 3, 8, 8)
    for b in range(4):  # identical across the frames of a sequence (flip included)
        assert torch.equal(out[b, 1].long() - out[b, 0].long(), torch.full((3, 8, 8), 10))
    corners = {tuple(crop_batch(batch, 8, torch.Generator().manual_seed(s))[b, 0, 0, 0, :2].tolist())
               for s in range(5) for b in range(4)}
    assert len(corners) > 3  # random per sequence and seed
    flipped = crop_batch(batch, 20, torch.Generator().manual_seed(1), flip=True)
    assert {torch.equal(f, seq.flip(-1)) for f in flipped} == {True, False}  # some sequences mirrored
    assert torch.equal(crop_batch(batch, 20, torch.Generator().manual_seed(1)), batch)  # flip off by default
    assert torch.equal(crop_batch(batch, 10, None), batch[..., 5:15, 5:15])  # no generator: central
    again = crop_batch(batch, 8, torch.Generator().manual_seed(0), flip=True)
    assert torch.equal(again, out)  # a pure function of the generator's seed


def test_normalize():
    x = torch.full((2, 1, 3, 4, 4), 255, dtype=torch.uint8)
    y = normalize(x, "cpu")
    assert y.dtype == torch.float32 and y.shape == x.shape
    for c in range(3):
        assert torch.allclose(y[:, :, c], torch.tensor((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]))


def test_items_are_whole_frames_and_the_dataset_pickles(layout, tmp_path):
    import pickle

    ds = make(layout, tmp_path)
    frames, label, vid = ds[0]
    assert frames.shape == (2, 3, 16, 16) and frames.dtype == torch.uint8  # crops come later, in the engine
    copy = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker started by "spawn" gets
    assert len(copy) == len(ds) and torch.equal(copy[0][0], frames)

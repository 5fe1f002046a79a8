"""Peer agreement: the project's reader against ``torchvision.datasets.UCF101``.

torchvision (0.29) decodes through TorchCodec, an independent FFmpeg binding, and reads
UCF-101's split lists with its own code. On one UCF-layout folder (the smoke synthetic
set) the two must agree on:

* split membership: the set of (video path, class name) of every split 1-3, train and
  test;
* labels: by class NAME. torchvision numbers classes by sorted folder name and ignores
  classInd.txt (and the label column of the train lists); the project numbers them by
  classInd.txt. On the synthetic set both orders are alphabetical, so the integers agree
  too; ``test_class_ind_order_is_followed_names_map_identically`` builds a folder whose
  classInd.txt is NOT alphabetical to show the project follows it while every video
  still maps to the same class name;
* frames: ``decode_sampled(path, r, None)`` (native resolution) equals, bit for bit, the
  peer's frames at indices 0, r, 2r, ...: the peer is built with ``frames_per_clip=1``
  and ``step_between_clips=r``, so its clips of a video are exactly those frames.

The peer is test-only (``torchcodec`` is in the ``test`` extra; TorchCodec loads the
system FFmpeg libraries, which ``.ci/run`` installs). Where it cannot decode (not
installed, or FFmpeg missing: ``tests/_peer.py`` decodes one frame to find out), the
tests skip and say why; ``-ra`` lists the reason in ``make test``'s summary.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from strn.data.ucf101 import read_split
from strn.data.video import count_frames, decode_sampled, n_sampled
from strn.data.synth import spec_for_profile
from strn.data.synth_files import write_synthetic
from tests._data_helpers import make_layout
from tests._peer import cached_probe


def _load_peer():
    """torchvision's UCF101, or a skip naming what is missing and how to get it."""
    reason = cached_probe()
    if reason is not None:
        pytest.skip(f"peer unavailable: {reason}")
    from torchvision.datasets import UCF101

    return UCF101


def _peer(root: Path, fold: int, train: bool, rate: int = 1):
    """UCF101 over ``root``'s videos: one clip per sampled frame (0, rate, 2*rate, ...)."""
    UCF101 = _load_peer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm/"no clip" warnings from VideoClips
        return UCF101(str(root / "UCF-101"), str(root / "ucfTrainTestlist"),
                      frames_per_clip=1, step_between_clips=rate, fold=fold, train=train,
                      output_format="THWC", num_workers=0)


def _peer_members(ds, videos_root: Path) -> set[tuple[str, str]]:
    """(path relative to the videos folder, class name) of every video of the peer.

    The label is what ``UCF101.__getitem__`` returns: ``samples[indices[video_idx]][1]``.
    """
    out = set()
    for video_idx, path in enumerate(ds.video_clips.video_paths):
        label = ds.samples[ds.indices[video_idx]][1]
        out.add((Path(path).relative_to(videos_root).as_posix(), ds.classes[label]))
    return out


def _ours(index, subset: str) -> set[tuple[str, str]]:
    return {(e.path, index.classes[e.label]) for e in index.subset(subset)}


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory) -> Path:
    _load_peer()  # skip before spending time on the videos
    return write_synthetic(tmp_path_factory.mktemp("peer") / "smoke", spec_for_profile("smoke"),
                           progress=False)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_membership_and_labels_agree(smoke_root, split):
    index = read_split(smoke_root, split)
    videos_root = smoke_root / "UCF-101"
    for subset, train in (("train", True), ("test", False)):
        peer = _peer(smoke_root, split, train)
        assert peer.classes == index.classes  # synthetic classInd order is alphabetical
        ours = _ours(index, subset)
        assert len(ours) == len(index.subset(subset)) > 0  # no duplicate listing
        assert _peer_members(peer, videos_root) == ours, (split, subset)
        # Same integers too, here: both orders are alphabetical on this folder.
        ours_int = {(e.path, e.label) for e in index.subset(subset)}
        peer_int = {(Path(p).relative_to(videos_root).as_posix(), peer.samples[peer.indices[v]][1])
                    for v, p in enumerate(peer.video_clips.video_paths)}
        assert peer_int == ours_int


def test_peer_getitem_label_is_the_one_compared(smoke_root):
    """The labels read off ``samples``/``indices`` above are what ``__getitem__`` returns."""
    peer = _peer(smoke_root, 1, True, rate=10**6)  # one clip (frame 0) per video
    assert len(peer) == peer.video_clips.num_videos()
    for i in range(0, len(peer), 7):
        _, _, label = peer[i]
        video_idx, _ = peer.video_clips.get_clip_location(i)
        assert label == peer.samples[peer.indices[video_idx]][1]


def test_class_ind_order_is_followed_names_map_identically(tmp_path):
    _load_peer()
    folders = ["Apple", "Mango", "Zucchini"]  # folder (alphabetical) order
    class_ind = ["Zucchini", "Apple", "Mango"]  # classInd.txt order: differs
    root = make_layout(tmp_path, folders, class_ind=class_ind, n_groups=3,
                       test_groups=(1,), n_frames=4)
    index = read_split(root, 1)
    assert index.classes == class_ind  # the project numbers classes by classInd.txt
    for subset, train in (("train", True), ("test", False)):
        peer = _peer(root, 1, train)
        assert peer.classes == folders  # the peer numbers them by folder order
        assert _peer_members(peer, root / "UCF-101") == _ours(index, subset)
        # ... so the integers differ (e.g. Zucchini is 0 here, 2 there) ...
        ours_int = {(e.path, e.label) for e in index.subset(subset)}
        peer_int = {(Path(p).relative_to(root / "UCF-101").as_posix(),
                     peer.samples[peer.indices[v]][1])
                    for v, p in enumerate(peer.video_clips.video_paths)}
        assert ours_int != peer_int
    # The train list's label column (which the peer ignores) agrees with the project's.
    train_lines = (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split()
    listed = dict(zip(train_lines[0::2], (int(x) - 1 for x in train_lines[1::2])))
    assert listed == {e.path: e.label for e in index.subset("train")}


@pytest.mark.slow
@pytest.mark.parametrize("rate", [1, 10])  # 1: every frame of every video
def test_frames_at_sampled_indices_agree(smoke_root, rate):
    """Every video of split 1 (train + test = the whole set): equal arrays, exactly."""
    index = read_split(smoke_root, 1)
    n_videos = 0
    for train in (True, False):
        peer = _peer(smoke_root, 1, train, rate=rate)
        by_video: dict[int, list[np.ndarray]] = defaultdict(list)
        for i in range(len(peer)):
            clip, _, _ = peer[i]  # (1, H, W, 3) uint8: one frame per clip
            video_idx, clip_idx = peer.video_clips.get_clip_location(i)
            assert len(by_video[video_idx]) == clip_idx  # clips come in frame order
            by_video[video_idx].append(clip.numpy())
        for video_idx, path in enumerate(peer.video_clips.video_paths):
            n = count_frames(path)
            # The peer's clips start at frames 0, rate, 2*rate, ... (its frame count is
            # TorchCodec's own scan of the file, so this also checks the counts agree).
            assert peer.video_clips.clips[video_idx][:, 0].tolist() == list(range(0, n, rate))
            theirs = np.concatenate(by_video[video_idx])
            ours = decode_sampled(path, rate, None)
            side = spec_for_profile("smoke").size
            assert ours.shape == theirs.shape == (n_sampled(n, rate), side, side, 3), path
            np.testing.assert_array_equal(ours, theirs, err_msg=os.fspath(path))
            n_videos += 1
    assert n_videos == len(index.entries)

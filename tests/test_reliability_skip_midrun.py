"""Issue #14: a video that was read at indexing but fails during training or evaluation is skipped
under ``data.on_bad_video=skip`` (recorded, said once, counted against the 1% rule), not the end
of the run; under ``raise`` it still raises."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import strn.train.run as run_mod
import strn.data.skips as skips
from strn.config import make_config
from strn.data.cache import FrameCache
from strn.data.datasets import UNREADABLE, SequenceDataset, drop_unreadable
from strn.data.loader import load_batches
from strn.data.ucf101 import read_split
from strn.data.video import VideoReadError
from strn.data.skips import TooManySkippedError
from tests._data_helpers import make_layout

CLASSES = ["Apple", "Banana", "Cherry"]


def _dataset(tmp_path, on_bad_video="skip", n_groups=3):
    root = make_layout(tmp_path / "ucf", CLASSES, n_groups=n_groups, n_frames=12)
    index = read_split(root, 1)
    ds = SequenceDataset(index, "train", rate=2, seq_len=2, size=16,
                         cache=FrameCache(tmp_path / "cache"), on_bad_video=on_bad_video, progress=False)
    return root, index, ds


def _break(index, entry):
    (index.videos_dir / entry.path).write_bytes(b"damaged after indexing " * 40)


@pytest.mark.parametrize("workers", [0, 1])
def test_video_damaged_after_indexing_is_dropped_and_recorded(tmp_path, capsys, monkeypatch, workers):
    monkeypatch.setattr(skips, "_said", set())
    _, index, ds = _dataset(tmp_path)
    assert not ds.skipped and len(ds.videos) == 6
    bad = ds.videos[2]
    _break(index, bad)
    batches = [list(range(len(ds)))]
    frames, labels, videos = next(load_batches(ds, batches, workers))
    assert (labels == UNREADABLE).sum() == sum(v == 2 for v, _ in ds.sequences)  # marked, in a worker too
    frames, labels, videos = drop_unreadable(ds, (frames, labels, videos))
    assert 2 not in videos.tolist() and (labels != UNREADABLE).all() and len(frames) == len(labels)
    assert ds.skipped == [{"path": bad.path, "reason": ds.skipped[0]["reason"]}]
    assert "during the run" in ds.skipped[0]["reason"] and ds.unreadable == [2]
    drop_unreadable(ds, next(load_batches(ds, batches, 0)))  # a second epoch: recorded once, said once
    assert len(ds.skipped) == 1
    assert sum(bad.path in line for line in capsys.readouterr().err.splitlines()) == 1


def test_video_shorter_than_indexed_is_dropped(tmp_path, monkeypatch):
    _, index, ds = _dataset(tmp_path)
    real_get = ds.cache.get
    short = str(index.videos_dir / ds.videos[0].path)
    monkeypatch.setattr(ds.cache, "get", lambda p, r, s: real_get(p, r, s)[:1] if str(p) == short else real_get(p, r, s))
    i = next(k for k, (v, _) in enumerate(ds.sequences) if v == 0)
    assert ds[i][1] == UNREADABLE  # its windows would index past the end: not an IndexError
    drop_unreadable(ds, (torch.zeros(1, 2, 3, 16, 16, dtype=torch.uint8), torch.tensor([UNREADABLE]), torch.tensor([0])))
    assert "sampled frames" in ds.skipped[0]["reason"]


def test_too_many_failures_during_the_run_stop_it(tmp_path, monkeypatch):
    monkeypatch.setattr(skips, "_said", set())
    _, index, ds = _dataset(tmp_path)
    for v in (0, 1):
        _break(index, ds.videos[v])
    with pytest.raises(TooManySkippedError, match="2 of 6 train videos"):
        drop_unreadable(ds, next(load_batches(ds, [list(range(len(ds)))], 0)))


def test_raise_mode_still_raises(tmp_path):
    _, index, ds = _dataset(tmp_path, on_bad_video="raise")
    _break(index, ds.videos[0])
    with pytest.raises(VideoReadError):
        ds[0]


def test_run_completes_and_records_videos_that_fail_mid_run(tmp_path, monkeypatch, capsys):
    """A whole run: one train and one test video are damaged after indexing (between the first
    pass and training); the run ends normally and its record lists both."""
    monkeypatch.setattr(skips, "_said", set())
    root = make_layout(tmp_path / "ucf", CLASSES, n_groups=4, n_frames=12)
    index = read_split(root, 1)
    train_bad, test_bad = index.subset("train")[0], index.subset("test")[1]
    real_check = skips.check_skipped

    def check_then_damage(data):  # called by run() after indexing, before training
        real_check(data)
        for e in (train_bad, test_bad):
            _break(index, e)

    monkeypatch.setattr(run_mod, "check_skipped", check_then_damage)  # the name run() calls
    cfg = make_config("smoke", {"data": {"root": str(root), "dataset": "ucf101", "rate": 2, "size": 16, "crop": 16},
                                "model": {"weights": "scratch"}, "train": {"epochs": 2}})
    record = run_mod.run(cfg, results_dir=tmp_path / "results", data_dir=tmp_path / "data", progress=False)
    skipped = {s["path"]: s["reason"] for s in record["skipped_videos"]}
    assert set(skipped) == {train_bad.path, test_bad.path}
    assert all("during the run" in r for r in skipped.values())
    n_test = len(index.subset("test"))
    assert record["metrics"]["n_videos"] == n_test - 1 and np.isfinite(record["metrics"]["error_rate"])
    err = capsys.readouterr().err
    for e in (train_bad, test_bad):
        assert sum(e.path in line for line in err.splitlines()) == 1

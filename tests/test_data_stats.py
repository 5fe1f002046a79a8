"""strn.data.stats: statistics of a dataset in UCF-101's layout (notebook 05.1)."""
import json
import shutil

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from strn.data import synth, synth_files
from strn.report import plots
from strn.data import stats
from strn.data.datasets import SequenceDataset
from strn.data.cache import FrameCache
from strn.data.ucf101 import read_split
from strn.data.video import count_frames, n_sampled


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return synth_files.write_synthetic(tmp_path_factory.mktemp("synth"), synth.spec_for_profile("smoke"), progress=False)


@pytest.fixture(scope="module")
def st(root):
    return stats.dataset_stats(root, rate=10, seq_len=2)


def test_split_counts_agree_with_read_split(root, st):
    spec = synth.spec_for_profile("smoke")
    for k in (1, 2, 3):
        index = read_split(root, k)
        for sub in ("train", "test"):
            assert st.splits[k][sub]["videos"] == len(index.subset(sub))
            assert set(st.videos.loc[st.videos[f"subset_{k}"] == sub, "path"]) == {e.path for e in index.subset(sub)}
    assert len(st.videos) == len(read_split(root, 1).entries) == 48
    assert st.classes == spec.classes
    assert (st.videos.groupby("class")["group"].nunique() == spec.n_groups).all()


def test_lengths_sequences_and_padding(root, st):
    v = st.videos.set_index("path")
    for path in list(v.index)[:6]:
        assert v.loc[path, "frames"] == count_frames(root / "UCF-101" / path)
    expected_padded = sum(n_sampled(n, 10) < 2 for n in v["frames"])
    assert st.summary()["n_padded"] == expected_padded > 0  # the smoke set has short clips
    assert (v["sequences"] == [max(1, n_sampled(n, 10) // 2) for n in v["frames"]]).all()


def test_sequences_agree_with_the_training_dataset(root, st, tmp_path):
    index = read_split(root, 1)
    ds = SequenceDataset(index, "test", rate=10, seq_len=2, size=32,
                         cache=FrameCache(tmp_path / "cache"), progress=False)
    assert len(ds) == st.splits[1]["test"]["sequences"]
    assert ds.n_padded == st.splits[1]["test"]["padded"]


def test_summary_is_json_and_checks_pass(st):
    s = json.loads(json.dumps(st.summary()))
    assert s["n_classes"] == 4 and s["n_videos"] == 48 and s["fps"] == {"25.0": 48} and s["resolution"] == {"32x32": 48}
    assert s["clips_per_group"] == {"min": 2, "max": 2, "mean": 2.0}
    assert s["n_sequences"] == sum(s["splits"]["1"][sub]["sequences"] for sub in ("train", "test"))
    assert stats.checks(st)["passed"].all()
    ct = stats.class_table(st, 1)
    assert (ct["train (split 1)"] + ct["test (split 1)"] == ct["videos"]).all()


def test_header_and_decoded_lengths_agree(root):
    path = next((root / "UCF-101").glob("*/*.avi"))
    assert stats.video_meta(path)["frames"] == stats.video_meta(path, exact=True)["frames"] == count_frames(path)


def test_unreadable_video_is_reported_not_raised(root, tmp_path):
    copy = shutil.copytree(root, tmp_path / "copy")
    victim = sorted((copy / "UCF-101").glob("*/*.avi"))[0]
    victim.write_bytes(b"not a video")
    st = stats.dataset_stats(copy, rate=10, seq_len=2, splits=(1,))
    assert [u["path"] for u in st.unreadable] == [f"{victim.parent.name}/{victim.name}"]
    assert st.summary()["n_unreadable"] == 1
    assert not stats.checks(st)["passed"].iloc[0]


def test_sample_grid_single_frames_do_not_reveal_direction(root):
    index = read_split(root, 1)
    entries = stats.sample_grid_videos(index, n_classes=4)
    assert len({(e.group, e.clip) for e in entries}) == 1  # the same clip of every class
    frames = stats.sample_frames(index, entries, rate=10, size=None, n_frames=4)
    d = stats.first_frame_differences(index, entries, frames).to_numpy()
    # CircleMoveLeft/Right and SquareMoveLeft/Right: identical first frames, different shapes differ
    assert d[0, 1] < 1.0 and d[2, 3] < 1.0 and d[0, 2] > 10.0
    # but later frames differ: the direction is visible in a sequence
    assert np.abs(frames[0][-1].astype(float) - frames[1][-1].astype(float)).mean() > 1.0
    fig = plots.dataset.sample_grid([index.classes[e.label] for e in entries], frames, 10)
    assert len(fig.axes) == 16

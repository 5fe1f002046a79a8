"""Reading UCF-101 split lists as published."""

from __future__ import annotations

import pytest

from strn.data.ucf101 import find_layout, group_val_split, read_split
from tests._data_helpers import make_layout, write_list

CLASSES = ["Zebra", "Apple", "Mango"]  # folder (alphabetical) order differs from classInd


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return make_layout(tmp_path_factory.mktemp("ucf"), CLASSES, n_groups=4, clips=2,
                       test_groups=(1,), n_frames=3)


def test_read_split_labels_from_classind_not_folder_order(layout):
    idx = read_split(layout, 2)
    assert idx.classes == CLASSES
    assert idx.split == 2 and idx.videos_dir == (layout / "UCF-101").resolve()
    for e in idx.entries:
        assert CLASSES[e.label] == e.path.split("/")[0]
    zebra = [e for e in idx.entries if e.path.startswith("Zebra/")]
    assert zebra and all(e.label == 0 for e in zebra)
    assert len(idx.subset("train")) == 3 * 3 * 2 and len(idx.subset("test")) == 3 * 1 * 2
    e = idx.subset("train")[0]
    assert (e.group, e.clip, e.subset) == (2, 1, "train")
    assert not any("\r" in e.path for e in idx.entries)


@pytest.mark.parametrize("label_column, newline", [(True, "\r\n"), (False, "\r\n"),
                                                   (True, "\n")])
def test_line_formats(tmp_path, label_column, newline):
    make_layout(tmp_path, ["B", "A"], n_groups=2, n_frames=2, label_column=label_column,
                newline=newline)
    idx = read_split(tmp_path, 1)
    assert [e.label for e in idx.subset("train")] == [0, 1]


def test_wrong_label_column_is_an_error(tmp_path):
    make_layout(tmp_path, ["B", "A"], n_groups=2, n_frames=2)
    write_list(tmp_path / "ucfTrainTestlist/trainlist01.txt", ["B/v_B_g02_c01.avi 2"])
    with pytest.raises(ValueError, match="disagrees"):
        read_split(tmp_path, 1)


def test_group_on_both_sides_is_named(tmp_path):
    make_layout(tmp_path, ["A"], n_groups=2, n_frames=2)
    write_list(tmp_path / "ucfTrainTestlist/testlist01.txt",
               ["A/v_A_g01_c01.avi", "A/v_A_g02_c01.avi"])
    with pytest.raises(ValueError, match="A g02"):
        read_split(tmp_path, 1)


def test_missing_files_listed_with_fix(tmp_path):
    make_layout(tmp_path, ["A"], n_groups=3, n_frames=2)
    (tmp_path / "UCF-101/A/v_A_g03_c01.avi").unlink()
    with pytest.raises(FileNotFoundError) as err:
        read_split(tmp_path, 1)
    msg = str(err.value)
    assert "A/v_A_g03_c01.avi" in msg and "1 of 3" in msg and "Fix" in msg
    assert len(read_split(tmp_path, 1, check_files=False).entries) == 3


def test_find_layout_variants(tmp_path):
    flat = make_layout(tmp_path / "flat", ["A"], n_groups=2, n_frames=2, videos_sub="",
                       lists_sub="UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist")
    videos, lists = find_layout(flat)
    assert videos == flat.resolve() and lists.name == "ucfTrainTestlist"
    assert read_split(flat, 3).entries


def test_find_layout_error_names_root(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        find_layout(tmp_path)
    assert str(tmp_path) in str(err.value) and "classInd.txt" in str(err.value)


def test_bad_split_number(layout):
    with pytest.raises(ValueError):
        read_split(layout, 4)


def test_group_val_split_moves_whole_groups(layout):
    idx = read_split(layout, 1)
    a = group_val_split(idx, 0.34, seed=1)
    assert a.entries is not idx.entries and len(a.entries) == len(idx.entries)
    val = a.subset("val")
    assert val
    # every class keeps train and val, whole (class, group) pairs move
    for lab in range(3):
        assert {e.group for e in val if e.label == lab}
        assert {e.group for e in a.subset("train") if e.label == lab}
    val_pairs = {(e.label, e.group) for e in val}
    assert not val_pairs & {(e.label, e.group) for e in a.subset("train")}
    assert a.subset("test") == idx.subset("test")
    assert group_val_split(idx, 0.34, seed=1).entries == a.entries
    seeds = {tuple(e.path for e in group_val_split(idx, 0.34, seed=s).subset("val"))
             for s in range(8)}
    assert len(seeds) > 1
    assert not group_val_split(idx, 0.0, seed=1).subset("val")

"""check_data names every deliberate fault of a dataset folder."""

from __future__ import annotations

import numpy as np

from strn.data.check import check_data, check_data_main
from tests._data_helpers import make_layout, tiny_video


def test_clean_folder_is_ok(tmp_path):
    make_layout(tmp_path, ["A", "B"], n_groups=3, n_frames=25)
    report = check_data(tmp_path, rate=10, seq_len=2, progress=False)
    assert report.ok and not (report.missing or report.unlisted or report.unreadable
                              or report.short)
    assert report.splits[1] == {"n_train": 4, "n_test": 2}
    text = report.render()
    assert "RESULT: OK" in text and "classes: 2" in text and "min 25" in text


def test_every_fault_is_named(tmp_path):
    make_layout(tmp_path, ["A", "B"], n_groups=4, n_frames=25)
    vids = tmp_path / "UCF-101"
    (vids / "A/v_A_g02_c01.avi").unlink()  # listed, missing
    tiny_video(vids / "B/v_B_g09_c01.avi", 25)  # on disk, unlisted
    (vids / "A/v_A_g03_c01.avi").write_bytes(np.random.default_rng(2).bytes(3000))  # corrupt
    (vids / "B/v_B_g02_c01.avi").write_bytes(b"")  # empty
    tiny_video(vids / "B/v_B_g03_c01.avi", 7)  # too short: 1 sampled frame at r=10
    report = check_data(tmp_path, rate=10, seq_len=2, progress=False)
    assert not report.ok
    assert report.missing == ["A/v_A_g02_c01.avi"]
    assert report.unlisted == ["B/v_B_g09_c01.avi"]
    assert {u["path"] for u in report.unreadable} == {"A/v_A_g03_c01.avi", "B/v_B_g02_c01.avi"}
    assert report.short == [{"path": "B/v_B_g03_c01.avi", "frames": 7, "sampled": 1}]
    text = check_data_main(str(tmp_path), 10, 2)
    for name in ("A/v_A_g02_c01.avi", "B/v_B_g09_c01.avi", "A/v_A_g03_c01.avi",
                 "B/v_B_g02_c01.avi", "B/v_B_g03_c01.avi"):
        assert name in text
    assert "missing" in text and "unlisted" in text and "empty" in text and "short" in text
    assert "RESULT: FAILED" in text
    assert "(fix: " in text  # an unreadable video comes with what to do about it
    # at rate 5 the 7-frame video has 2 sampled frames: no longer short
    assert not check_data(tmp_path, rate=5, seq_len=2, progress=False).short


def test_group_overlap_and_missing_layout(tmp_path):
    make_layout(tmp_path, ["A"], n_groups=2, n_frames=3)
    lists = tmp_path / "ucfTrainTestlist"
    (lists / "testlist02.txt").write_bytes(b"A/v_A_g01_c01.avi\r\nA/v_A_g02_c01.avi\r\n")
    report = check_data(tmp_path, progress=False)
    assert not report.ok and "A g02" in report.splits[2]["error"]
    assert "split 2" in report.render()
    empty = tmp_path / "nothing"
    empty.mkdir()
    text = check_data_main(str(empty), 10, 2)
    assert "layout" in text and str(empty) in text and "FAILED" in text

"""Issue #14: each skipped video is said once with its reason; a split that lost more than 1%
(at least 1 video tolerated) stops the run before training, naming the videos."""
from types import SimpleNamespace

import pytest

import strn.data.skips as skips
from strn.data.skips import TooManySkippedError, allowed_skips, check_skipped


def _data(n_train, n_test, train_skips, test_skips):
    listed = {"train": list(range(n_train)), "test": list(range(n_test))}
    index = SimpleNamespace(subset=lambda split: listed[split])
    sk = lambda names: [{"path": n, "reason": "empty file (0 bytes)"} for n in names]  # noqa: E731
    return SimpleNamespace(index=index, train=SimpleNamespace(skipped=sk(train_skips)),
                           test=SimpleNamespace(skipped=sk(test_skips)))


def test_allowed_skips():
    assert allowed_skips(5) == 1 and allowed_skips(99) == 1 and allowed_skips(200) == 2 and allowed_skips(0) == 1


def test_each_skip_is_printed_once(capsys, monkeypatch):
    monkeypatch.setattr(skips, "_said", set())
    data = _data(99, 99, [], ["a/v_a_g01_c01.avi"])  # 1 of 99: tolerated, said
    check_skipped(data)
    check_skipped(data)  # a second run in the same process does not repeat it
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["strn: skipped video a/v_a_g01_c01.avi (test): empty file (0 bytes)"]


def test_too_many_skips_stop_before_training(monkeypatch):
    monkeypatch.setattr(skips, "_said", set())
    with pytest.raises(TooManySkippedError, match=r"2 of 99 train videos .*x\.avi, y\.avi.*check-data"):
        check_skipped(_data(99, 50, ["x.avi", "y.avi"], []))

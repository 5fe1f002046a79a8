"""Issue #14: an unwritable results folder or a full disk is found before any data is decoded,
and a failed save names the path and the cause."""
import errno
from collections import namedtuple

import pytest
import torch

import strn.train.run as run_mod
import strn.storage as storage
from strn.config import make_config
from strn.results import atomic_torch_save, atomic_write_text

Usage = namedtuple("Usage", "total used free")


def _no_data(*a, **k):
    raise AssertionError("data was prepared before the results folder was probed")


def test_results_folder_that_is_a_file_fails_before_any_data(tmp_path, monkeypatch):
    monkeypatch.setattr(run_mod, "prepare", _no_data)
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("a file, not a folder")  # as root, chmod 0555 would not stop us
    cfg = make_config("smoke", experiment="05_3_learning_algorithms", name="adam-1pct")
    with pytest.raises(OSError, match="cannot write to the results folder .*results"):
        run_mod.run(cfg, results_dir=not_a_folder, data_dir=tmp_path / "data", force=True, progress=False)


def test_unwritable_folder_is_named(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(storage.tempfile, "mkstemp", denied)
    with pytest.raises(OSError, match=f"cannot write to the checkpoint folder {tmp_path}: Permission denied"):
        storage.probe_writable(tmp_path, "checkpoint folder")


def test_too_little_free_space_is_found_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(storage.shutil, "disk_usage", lambda p: Usage(10 * 2**20, 10 * 2**20 - 4096, 4096))
    model = torch.nn.Linear(1000, 100)  # ~400 KB of weights: a checkpoint of ~1.6 MB
    need = storage.checkpoint_bytes(model)
    assert need == 4 * 100_100 * 4
    with pytest.raises(OSError, match="no space left on device for the checkpoint folder") as e:
        storage.probe_writable(tmp_path, "checkpoint folder", need_bytes=need)
    assert e.value.errno == errno.ENOSPC
    storage.probe_writable(tmp_path, "checkpoint folder", need_bytes=1024)  # enough room: passes


def test_full_disk_while_saving_names_the_path(tmp_path, monkeypatch):
    # torch reports a full disk as a bare iostream RuntimeError; the free space tells it apart
    def full(obj, f):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(storage.shutil, "disk_usage", lambda p: Usage(1, 1, 0))
    target = tmp_path / "ck.pt"
    with pytest.raises(OSError, match=f"no space left on device writing {target}"):
        atomic_torch_save({"a": 1}, target)
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_enospc_writing_a_result_names_the_path(tmp_path, monkeypatch):
    def enospc(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", enospc)
    target = tmp_path / "r.json"
    with pytest.raises(OSError, match=f"no space left on device writing {target}"):
        atomic_write_text(target, "{}")
    assert list(tmp_path.iterdir()) == []

"""Fault injection through the command line: values that cannot work are refused before any
work, stored files are checked when read, and paths from a JSON stay inside their folder.
Each probe failed on the code before these checks (accepted, a traceback, or an unnamed file)."""
import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from strn import results as res
from strn.config import config_hash, make_config
from strn.train.provenance import find_reusable

ROOT = str(Path(__file__).resolve().parent.parent)
PROV = {"synth_generator_version": 3, "pretrain_version": 3, "init_digest": "0123456789abcdef"}


def strn(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT, STRN_QUIET="1")
    return subprocess.run([sys.executable, "-m", "strn.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def _record(cfg, **metrics):
    m = {"error_rate": 0.25, "accuracy": 0.75, "mean_class_accuracy": 0.7, "per_class_accuracy": {},
         "clip_accuracy": 0.6, "history": [], **metrics}
    return {"schema_version": res.SCHEMA_VERSION, "experiment": cfg.experiment, "name": cfg.name, "table": "5.3",
            "config": cfg.to_dict(), "config_hash": config_hash(cfg), "profile": cfg.profile,
            "dataset": {"classes": ["a", "b"]}, "split": 1, "seed": cfg.train.seed, "metrics": m,
            "cost": {"wall_s": 1.0}, "thesis": None, "skipped_videos": [], "env": {}, "provenance": dict(PROV),
            "model": {"connections_built": []}}


@pytest.mark.parametrize("args, named", [
    (["--set", "train.batch_size=1"], "train.batch_size"),
    (["--set", "data.seq_len=1000"], "data.seq_len"),
    (["--set", "data.seq_len=9"], "data.seq_len"),  # the smoke videos give fewer frames at rate 10
    (["--set", "model.positions=[]"], "model.positions"),
    (["--seeds", "-1"], "--seeds"),
])
def test_values_that_cannot_work_are_refused_before_any_work(tmp_path, args, named):
    out = strn("run", "05_3_learning_algorithms", "--profile", "smoke", "--data-dir", tmp_path / "data",
               "--results-dir", tmp_path / "results", "--rows", "adam-1pct", *args)
    assert out.returncode == 2, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert not (tmp_path / "data").exists()  # nothing was prepared, pretrained or trained


@pytest.mark.parametrize("top", [0, -3])
def test_top_below_one_is_refused(tmp_path, top):
    out = strn("predict", tmp_path / "v.avi", "--checkpoint", tmp_path / "x.json", "--top", top)
    assert out.returncode == 2 and "--top" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_read_only_results_folder_names_the_option(tmp_path, monkeypatch):
    import tempfile

    from strn.storage import probe_writable

    def refuse(*a, **k):  # what a read-only folder answers (a root user would not see it on a real one)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OSError, match="--results-dir"):
        probe_writable(tmp_path / "x", "results folder")


def test_an_unwritable_results_folder_is_named_through_the_command_line(tmp_path):
    """A folder that cannot be made (its parent is a file; a read-only one answers alike for
    a user other than root): one line naming the folder and the option, before any data."""
    (tmp_path / "file").write_text("")
    out = strn("run", "05_3_learning_algorithms", "--profile", "smoke", "--rows", "adam-1pct", "--data-dir",
               tmp_path / "data", "--results-dir", tmp_path / "file" / "results", timeout=600)
    assert out.returncode == 2, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "--results-dir" in err[0] and str(tmp_path / "file" / "results") in err[0], err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("content", [
    {"error_rate": float("nan")}, {"error_rate": 7.5}, "no metrics", b"\x9d\xff random bytes \x00" * 9])
def test_invalid_stored_results_are_named_set_aside_and_never_used(tmp_path, content):
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    good = make_config("smoke", {"model": {"kind": "frame_avg"}, "train": {"lr": 0.5}}, experiment="e", name="good")
    res.save_result(tmp_path, good, _record(good))
    path = res.result_path(tmp_path, cfg)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        rec = _record(cfg)
        if content == "no metrics":
            rec["metrics"] = {}
        else:
            rec["metrics"].update(content)
        path.write_text(json.dumps(rec))  # NaN written as JSON's NaN, as a careless writer would
    out = strn("summary", "--profile", "smoke", "--results-dir", tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    aside = path.with_name(path.name + ".invalid")
    assert not path.exists() and aside.exists()
    assert f"set aside (invalid, not used): {aside}" in out.stdout
    assert str(path) in out.stderr  # named once, in one line, when it was found
    assert find_reusable(tmp_path, cfg, PROV) is None
    assert find_reusable(tmp_path, good, PROV) is not None  # the others are unaffected


def test_a_file_of_random_bytes_never_blocks_another_run(tmp_path):
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "junk.json").write_bytes(b"\x9d" * 100)
    assert find_reusable(tmp_path, cfg, PROV) is None  # scanned for a same-config record: set aside, not raised
    assert (tmp_path / "other" / "junk.json.invalid").exists()


def _stored_with_checkpoint(tmp_path, experiment="e"):
    cfg = make_config("smoke", experiment=experiment, name="row")
    rec = _record(cfg)
    folder = tmp_path / "results" / "e"
    folder.mkdir(parents=True)
    (folder / "row__seed0.json").write_text(json.dumps(rec))
    ckpt = tmp_path / "results" / "checkpoints" / "e" / f"row__seed0__{config_hash(cfg)}.pt"
    ckpt.parent.mkdir(parents=True)
    return folder / "row__seed0.json", ckpt


def test_a_json_cannot_point_outside_its_results_folder(tmp_path):
    path, _ = _stored_with_checkpoint(tmp_path, experiment="../../evil")
    with pytest.raises(ValueError, match="not a plain folder name"):
        res.result_path(tmp_path, make_config("smoke", experiment="../../evil"))
    out = strn("evaluate", path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert str(path) in out.stderr and "evil" in out.stderr


@pytest.mark.parametrize("kind", ["truncated", "pickled object"])
def test_a_bad_checkpoint_is_one_line_naming_the_file(tmp_path, kind):
    path, ckpt = _stored_with_checkpoint(tmp_path)
    if kind == "truncated":
        torch.save({"model": {"w": torch.zeros(1000)}}, ckpt)
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    else:
        torch.save({"model": pathlib.PurePosixPath("x"), "optimizer": {}, "state": {}, "grads": None,
                    "config_hash": "h", "torch_rng": None}, ckpt)
    out = strn("evaluate", path)
    assert out.returncode == 2, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and str(ckpt) in err[0] and "weights_only=False" not in err[0], err

import json
import os
import subprocess
import sys
import time

import pytest

from strn import results as res
from strn.config import make_config
from strn.train.provenance import find_reusable


def _record(cfg, error=0.25):
    return {"schema_version": res.SCHEMA_VERSION, "experiment": cfg.experiment, "name": cfg.name, "table": "5.3",
            "config": cfg.to_dict(), "config_hash": res.config_hash(cfg), "profile": cfg.profile,
            "dataset": {}, "split": 1, "seed": cfg.train.seed,
            "metrics": {"error_rate": error, "accuracy": 1 - error, "mean_class_accuracy": 0.7,
                        "per_class_accuracy": {}, "clip_accuracy": 0.6, "history": []},
            "cost": {"wall_s": 1.0}, "thesis": 0.197, "skipped_videos": [], "env": {}, "provenance": dict(PROV)}


PROV = {"synth_generator_version": 3, "pretrain_version": 3, "init_digest": "0123456789abcdef"}


def test_save_find_and_reject_changed_config(tmp_path):
    # a frame model: no connection to plan, the record's other fields decide
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    path = res.save_result(tmp_path, cfg, _record(cfg))
    assert path == tmp_path / "e" / "row__seed0.json"
    assert find_reusable(tmp_path, cfg, PROV)["metrics"]["error_rate"] == 0.25
    assert find_reusable(tmp_path, cfg, dict(PROV, init_digest="other")) is None
    changed = make_config("smoke", {"train": {"lr": 0.5}, "model": {"kind": "frame_avg"}}, experiment="e", name="row")
    assert find_reusable(tmp_path, changed, PROV) is None


def test_load_results_reads_runs_not_the_folders_beside_them(tmp_path):
    """results/gpu/lease/phases.json (a lease's log) stopped `strn summary --profile gpu`."""
    cfg = make_config("smoke", experiment="e", name="row")
    res.save_result(tmp_path, cfg, _record(cfg))
    for folder in (res.LEASE_DIR, res.SUMMARY_DIR, "executed"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "phases.json").write_text('{"phases": []}')
    assert [r["name"] for r in res.load_results(tmp_path)] == ["row"]
    (tmp_path / "e" / "stray.json").write_text('{"phases": []}')  # inside an experiment: named, set aside
    assert [r["name"] for r in res.load_results(tmp_path)] == ["row"]
    assert res.set_aside_files(tmp_path) == [tmp_path / "e" / "stray.json.invalid"]


def test_record_missing_keys_is_refused(tmp_path):
    cfg = make_config("smoke", experiment="e", name="row")
    rec = _record(cfg)
    del rec["env"]
    with pytest.raises(ValueError, match="env"):
        res.save_result(tmp_path, cfg, rec)


def test_truncated_json_is_named_and_ignored_by_cache(tmp_path):
    cfg = make_config("smoke", experiment="e", name="row")
    p = res.result_path(tmp_path, cfg)
    p.parent.mkdir(parents=True)
    p.write_text('{"schema_version": 1, "metr')
    with pytest.raises(ValueError, match="row__seed0.json is not valid JSON"):
        res.load_result(p)
    assert find_reusable(tmp_path, cfg, PROV) is None
    assert res.set_aside_files(tmp_path) == [p.with_name(p.name + ".invalid")]


def test_crash_while_writing_never_leaves_a_truncated_file(tmp_path):
    """A process killed in the middle of writing leaves the previous file intact."""
    target = tmp_path / "r.json"
    target.write_text(json.dumps({"old": True}))
    code = (
        "import os, sys, strn.results as r\n"
        "real = os.replace\n"
        "def die(*a, **k): os._exit(9)\n"  # killed after the temp file is written, before the rename
        "os.replace = die\n"
        f"r.atomic_write_text({str(target)!r}, 'x' * 10_000_000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd())
    assert proc.returncode == 9
    assert json.loads(target.read_text()) == {"old": True}


def test_mean_std():
    assert res.mean_std([0.2]) == (0.2, 0.0)
    m, s = res.mean_std([0.1, 0.3])
    assert m == pytest.approx(0.2) and s == pytest.approx(0.1414, abs=1e-3)


def test_environment_names_versions():
    env = res.environment("cpu")
    assert {"python", "torch", "torchvision", "av", "device", "git_commit", "git_dirty"} <= set(env)


def test_cached_computes_once_and_again_on_a_new_key_force_or_a_torn_file(tmp_path):
    import torch

    calls = []

    def compute():
        calls.append(1)
        return {"x": torch.arange(3) * len(calls)}

    p = tmp_path / "c" / "a.pt"
    a = res.cached(p, "k1", compute)
    b = res.cached(p, "k1", compute)
    assert len(calls) == 1 and b["key"] == "k1" and torch.equal(a["x"], b["x"])
    assert torch.equal(res.cached(p, "k2", compute)["x"], torch.arange(3) * 2)  # another key: computed again
    res.cached(p, "k2", compute, force=True)
    assert len(calls) == 3
    p.write_bytes(b"torn")  # unreadable: computed again, never an error
    assert res.cached(p, "k2", compute)["key"] == "k2" and len(calls) == 4
    assert not [q for q in p.parent.iterdir() if q.name.endswith(".tmp")]  # written atomically

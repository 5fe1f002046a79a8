"""Like with like: a stored result stands for a run only when it started from the same data
generator, pretraining and initial weights (and is the same kind of run: a control never
stands for a normal one); every committed record says what it started from."""
import json
from pathlib import Path

import pytest

from strn import results as res
from strn.config import config_hash, make_config
from strn.train.provenance import KEYS, ProvenanceMismatch, find_reusable, mismatch, provenance

ROOT = Path(__file__).resolve().parent.parent
PROV = {"synth_generator_version": 3, "pretrain_version": 3, "init_digest": "0123456789abcdef"}


def _record(cfg, **top):
    return {"schema_version": res.SCHEMA_VERSION, "experiment": cfg.experiment, "name": cfg.name, "table": None,
            "config": cfg.to_dict(), "config_hash": config_hash(cfg), "profile": cfg.profile, "dataset": {},
            "split": 1, "seed": 0, "metrics": {"error_rate": 0.2, "accuracy": 0.8, "mean_class_accuracy": 0.8,
                                               "per_class_accuracy": {}, "clip_accuracy": 0.8, "history": []},
            "cost": {}, "thesis": None, "skipped_videos": [], "env": {}, "provenance": dict(PROV),
            "model": {"connections_built": []}, **top}


def test_every_committed_record_says_what_it_started_from():
    paths = [p for prof in ("demo", "gpu") for p in (ROOT / "results" / prof).glob("05_*/*.json")]
    assert len(paths) > 100
    for p in paths:
        rec = json.loads(p.read_text())
        assert set(KEYS) <= set(rec.get("provenance", {})), p
        assert res.problems(rec) == [], p
        from_weights = "baseline" in rec or rec["config"]["model"]["weights"] != "scratch"
        if from_weights and rec["provenance"]["init_digest"] is None:
            assert rec["provenance"].get("note"), p  # unknown: the record says why


@pytest.mark.parametrize("key, other", [("synth_generator_version", 2), ("pretrain_version", 2),
                                        ("init_digest", "fedcba9876543210")])
def test_a_provenance_mismatch_retrains_or_stops_naming_both_values(tmp_path, key, other):
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    res.save_result(tmp_path, cfg, _record(cfg))
    assert find_reusable(tmp_path, cfg, PROV) is not None
    asked = dict(PROV, **{key: other})
    assert find_reusable(tmp_path, cfg, asked) is None  # retrained by the caller
    with pytest.raises(ProvenanceMismatch) as e:
        find_reusable(tmp_path, cfg, asked, strict=True)
    msg = str(e.value)
    assert "\n" not in msg and key in msg and repr(PROV[key]) in msg and repr(other) in msg


def test_a_record_without_provenance_is_read_but_never_reused(tmp_path):
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    rec = _record(cfg)
    del rec["provenance"]
    res.save_result(tmp_path, cfg, rec)
    assert [r["name"] for r in res.load_results(tmp_path)] == ["row"]
    assert find_reusable(tmp_path, cfg, PROV) is None


def test_a_control_run_never_stands_for_a_normal_one(tmp_path):
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    res.save_result(tmp_path, cfg, _record(cfg, control="schedule-length"))
    assert find_reusable(tmp_path, cfg, PROV) is None
    assert find_reusable(tmp_path, cfg, PROV, control="schedule-length") is not None
    normal = _record(cfg)
    assert mismatch(normal, cfg, PROV, control="schedule-length")[0] == "identity"


def test_provenance_of_a_run(tmp_path):
    import torch

    w = tmp_path / "w.pt"
    torch.save({"model": {"a": torch.ones(3)}, "meta": {"train_s": 1.0}}, w)
    cfg = make_config("smoke")
    p = provenance(cfg, w)
    assert p["synth_generator_version"] is not None and p["pretrain_version"] is not None
    torch.save({"model": {"a": torch.ones(3)}, "meta": {"train_s": 2.0}}, w)  # other timings: same weights
    assert provenance(cfg, w)["init_digest"] == p["init_digest"]
    torch.save({"model": {"a": torch.zeros(3)}}, w)
    assert provenance(cfg, w)["init_digest"] != p["init_digest"]
    ucf = make_config("full", {"data": {"dataset": "ucf101"}})
    assert provenance(ucf, None) == {"synth_generator_version": None, "pretrain_version": None, "init_digest": None}


def test_backfill_is_idempotent():
    from strn.study import backfill_provenance as mod

    rec = json.loads(next((ROOT / "results" / "demo").glob("05_3*/*.json")).read_text())
    assert mod.backfill(rec, None) is None  # already there: left as it is


def test_a_result_made_while_a_video_was_skipped_is_not_reused_once_it_reads(tmp_path):
    from strn.data.ucf101 import find_layout
    from strn.data.synth_files import ensure_synthetic

    root = ensure_synthetic("smoke", tmp_path)
    videos, _ = find_layout(root)
    video = sorted(videos.rglob("*.avi"))[0]
    good = video.read_bytes()
    cfg = make_config("smoke", {"model": {"kind": "frame_avg"}}, experiment="e", name="row")
    rec = _record(cfg, skipped_videos=[{"path": video.relative_to(videos).as_posix(), "reason": "no stream"}])
    rec["dataset"] = {"root": str(root)}
    video.write_bytes(b"\x00" * 64)  # still damaged: the stored numbers are what this data gives
    assert mismatch(rec, cfg, PROV) is None
    video.write_bytes(good)  # repaired: the run is made again with it
    kind, why = mismatch(rec, cfg, PROV)
    assert kind == "identity" and str(video) in why

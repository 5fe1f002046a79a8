"""Expected full-profile cost per notebook (strn/study/cost.py): arithmetic on measured rates."""
import json

import pytest

from strn.study import cost
from strn.config import make_config


def _bench(tmp_path, train_fps=2000.0, eval_fps=4000.0, strn_T5=500.0, warm=True):
    rows = []
    for mode in ("train", "inference"):
        for T in (2, 3, 5):
            s = strn_T5 if (T == 5 and mode == "train") else 1000.0
            rows.append({"batch": 64, "T": T, "mode": mode, "strn_frames_per_s": s, "plain_frames_per_s": 1000.0,
                         "strn_peak_gib": float(T), "plain_peak_gib": 1.0})
    rows.append({"batch": 16, "T": 2, "mode": "train", "strn_frames_per_s": 1.0, "plain_frames_per_s": 1.0,
                 "strn_peak_gib": 99.0, "plain_peak_gib": 99.0})  # another micro-batch: must be ignored
    (tmp_path / "gpu.json").write_text(json.dumps({"env": {"device_name": "Card"}, "model": rows}))
    eng = [{"workers": 8, "micro_batch": 64, "shapes_warm": warm, "train_frames_per_s": train_fps,
            "eval_frames_per_s": eval_fps, "train_peak_gib": 6.0}]
    (tmp_path / "gpu_engine.json").write_text(json.dumps({"rows": eng}))
    return cost.load_rates(tmp_path / "gpu.json", tmp_path / "gpu_engine.json")


def test_one_run_is_epochs_times_frames_over_rate(tmp_path):
    rates = _bench(tmp_path)
    cfg = make_config("full")
    train_f, test_f = cost.frames(cfg)
    assert train_f == 179_000 and test_f == cost.TEST_FRAMES_R10
    expected = cfg.train.epochs * train_f / 2000.0 + cfg.train.epochs * test_f / 4000.0
    assert cost.run_seconds(cfg, rates) == pytest.approx(expected)
    # every 2nd frame: five times the frames; T = 5 steps at half the rate of T = 2
    assert cost.run_seconds(make_config("full", {"data": {"rate": 2}}), rates) == pytest.approx(5 * expected)
    slow = cost.run_seconds(make_config("full", {"data": {"seq_len": 5}}), rates)
    assert slow == pytest.approx(cfg.train.epochs * (train_f / 1000.0 + test_f / 4000.0))


def test_configurations_shared_between_notebooks_are_counted_once(tmp_path):
    rates = _bench(tmp_path)
    rows = {r["notebook"]: r for r in cost.notebook_estimates(rates)}
    assert [r["notebook"] for r in cost.notebook_estimates(rates)] == cost.notebooks()
    assert rows["05_3_learning_algorithms"]["runs"] == 4  # ADAM 1%, ADAM 10%, RPROP 10%, ADAM 10% at equal steps
    # the equal-steps row runs ADAM 10% for as many optimiser steps as ADAM 1%: ~10x its epochs
    exp = cost.get_experiment("05_3_learning_algorithms")
    by_name = {r.name: r for r in exp.rows}
    eq = cost._full_config(exp, by_name["adam-10pct-equal-steps"], 0)
    assert eq.train.epochs >= 9 * cost._full_config(exp, by_name["adam-10pct"], 0).train.epochs
    # identity at 98-104, T = 2, r = 10, split 1 is 05.3's ADAM 1% row: trained once
    assert rows["05_4_recurrent_connection"]["runs"] == 5 and "earlier notebook" in rows["05_4_recurrent_connection"]["note"]
    assert rows["05_6_temporal_context"]["peak_gib"] == 5.0  # T = 5's step, not the micro-batch-16 row
    assert rows["03_technical_details"]["hours"] == 0 and rows["03_technical_details"]["peak_gib"] is None
    # doubling the engine's measured rates halves every GPU projection
    fast = {r["notebook"]: r["hours"] for r in cost.notebook_estimates(_bench(tmp_path, 4000.0, 8000.0))}
    for key, r in rows.items():
        assert r["hours"] == pytest.approx(2 * fast[key]), key
    md = cost.markdown(rates, list(rows.values()))
    assert "| 05_5_sampling_rate |" in md and "Card" in md and "GB at every 10th frame" in md


def test_engine_rows_measured_with_cold_shapes_are_not_used(tmp_path):
    with pytest.raises(ValueError, match="no warm engine row"):
        _bench(tmp_path, warm=False)


def test_engine_rows_of_the_gpu_run_itself_come_first(tmp_path):
    _bench(tmp_path)  # writes gpu.json (no engine rows) and gpu_engine.json (2,000 frames/s)
    gpu = json.loads((tmp_path / "gpu.json").read_text())
    gpu["engine"] = [{"workers": 8, "micro_batch": 64, "shapes_warm": True, "train_frames_per_s": 3000.0,
                      "eval_frames_per_s": 6000.0, "train_peak_gib": 6.0}]
    (tmp_path / "gpu.json").write_text(json.dumps(gpu))
    assert cost.load_rates(tmp_path / "gpu.json", tmp_path / "gpu_engine.json").train_fps == 3000.0
    assert cost.load_rates(tmp_path / "gpu.json").eval_fps == 6000.0

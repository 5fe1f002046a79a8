"""The README's performance section is generated from the benchmark JSON, not typed."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_render", ROOT / "benchmarks" / "render.py")
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)


def test_section_renders_ratios_and_targets(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({
        "device": "cpu", "env": {"device_name": "x86_64", "cpu_threads": 2, "torch": "2.x"}, "target": 1.05,
        "worst_train_ratio_T2_T5": 0.987,
        "rows": [{"config": "narrow", "T": 2, "mode": "train", "plain_s": 0.0601, "strn_s": 0.0593, "ratio": 0.987}]}))
    (tmp_path / "data.json").write_text(json.dumps({
        "env": {}, "ratios": {"cached_vs_decode": {"value": 12.5, "target": 10.0, "met": True}}}))
    md = render.section(tmp_path)
    assert "| narrow | 2 | train | 60.1 | 59.3 | 0.987 |" in md
    assert "| cached vs decode | 12.50× | ≥ 10.0× (met) |" in md
    assert "0.987 (target ≤ 1.05)" in md


def test_readme_section_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{render.START}\nold numbers\n{render.END}\nrest\n")
    assert render.render_readme(readme, tmp_path)  # no JSON: a placeholder replaces the old text
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert not render.render_readme(readme, tmp_path)  # idempotent
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="markers"):
        render.render_readme(readme, tmp_path)


def test_committed_readme_matches_committed_results():
    readme = (ROOT / "README.md").read_text()
    bench = ROOT / "results" / "bench"
    assert f"{render.START}\n{render.summary(bench)}\n{render.END}" in readme
    assert len(render.summary(bench).splitlines()) <= 10  # the README keeps a short block
    assert f"{render.START}\n{render.section(bench)}\n{render.END}" in (ROOT / "benchmarks" / "README.md").read_text()


def test_loader_and_cache_tables(tmp_path):
    def epochs(*ratios):
        return [{"ratio_to_in_memory": r, "first_batch_s": 0.2 if i == 0 else 0.05} for i, r in enumerate(ratios)]

    cost = {"items_ms": 8.0, "stack_shared_ms": 20.0, "old_stack_ms": 12.0, "old_to_shared_memory_ms": 25.0,
            "batch_sequences": 64}
    peer = {"frames_per_s": 420.0, "ratio_to_in_memory": 0.962, "epochs": epochs(0.93, 0.978, 0.98),
            "worker_cpu_s": 0.8, "seconds": 18.3, "projected_full_epoch_ratio": 0.981, "target": 0.95,
            "batches_per_epoch": 20, "worker_cost_one_batch": cost}
    (tmp_path / "loader.json").write_text(json.dumps({
        "dataset": "ucf-shaped", "rate": 10, "seq_len": 2, "size": 256, "batch_size": 64, "workers": 1, "repeat": 3,
        "batches": 20, "epochs": 3, "step": {"s_per_frame": 0.00224},
        "peers": {"in_memory": {"frames_per_s": 446.0, "epochs": epochs(1, 1, 1), "worker_cpu_s": 0.0, "seconds": 17.2},
                  "raw_cache": peer, "jpeg_cache": dict(peer, ratio_to_in_memory=0.95, projected_full_epoch_ratio=0.97),
                  "raw_cache_before": dict(peer, ratio_to_in_memory=0.91, worker_cost_one_batch=None)},
        "demo_setting_batch_cost_ms": {"raw": {"items_ms": 1, "stack_shared_ms": 0.5},
                                       "jpeg90": {"items_ms": 6, "stack_shared_ms": 0.5}}}))
    (tmp_path / "cache_codec.json").write_text(json.dumps({"frames": 10, "size": 256, "split1_frames_r10": 248400,
        "codecs": {"jpeg90": {"bytes_per_frame": 30755, "split1_r10_gb": 7.64, "read_ms_per_frame": 0.96,
                              "mean_abs_error_0_255": 3.84}}}))
    md = render.section(tmp_path)
    assert ("| raw cache | 3 × 20 | 420 | 0.962 | 0.930 / 0.978 / 0.980 | 0.20 / 0.05 / 0.05 | 0.80 / 18.3 | "
            "8 + 20 (64 sequences) | 12 + 25 |") in md
    assert "| raw cache before | 3 × 20 | 420 | 0.910 |" in md
    assert "| jpeg90 | 30,755 | 7.6 GB | 0.960 | 3.84 |" in md
    assert "0.96 (raw cache) / 0.95 (JPEG cache) of the in-memory rate over a run of 3 epochs of 20 batches" in md
    assert "(raw, per epoch: 0.93 / 0.98 / 0.98), projected 0.98 / 0.97" in md and "replaced 0.91" in md
    assert "1.5 ms from the raw cache and 6.5 ms from the JPEG cache" in md


def test_committed_full_study_page_has_the_generated_full_profile_cost():
    readme = (ROOT / "docs" / "FULL_STUDY.md").read_text()
    body = render.cost_section(ROOT / "results" / "bench")
    assert "| 05_5_sampling_rate |" in body
    assert f"{render.COST_START}\n{body}\n{render.COST_END}" in readme


def test_gpu_rows_and_engine_table(tmp_path):
    row = {"mode": "train", "T": 2, "batch": 64, "plain_frames_per_s": 4000.0, "strn_frames_per_s": 3900.0,
           "ratio": 1.0256, "strn_peak_gib": 5.6, "strn_peak_fraction": 0.13}
    (tmp_path / "gpu.json").write_text(json.dumps({
        "env": {"device_name": "NVIDIA X1", "torch": "2.x"}, "matmul": {"tflops": 700.0, "n": 8192},
        "check": {"fp32_rel_err": 1e-6, "bf16_rel_err": 5e-3}, "model": [row], "compile": [], "skipped": [],
        "target_epoch_s": 60.0}))
    (tmp_path / "gpu_engine.json").write_text(json.dumps({"env": {"device_name": "NVIDIA X1"}, "rows": [
        {"workers": 0, "micro_batch": 64, "shapes_warm": False, "train_frames_per_s": 800.0, "eval_frames_per_s": 1.0,
         "train_peak_gib": 5.8, "split1_epoch_s": 987.0},
        {"workers": 0, "micro_batch": 64, "shapes_warm": True, "train_frames_per_s": 3500.0,
         "eval_frames_per_s": 5000.0, "train_peak_gib": 5.8, "split1_epoch_s": 51.0}]}))
    md = render.section(tmp_path)
    assert "| train | 2 | 64 | 4,000 | 3,900 | 1.026 | 5.6 | 13% |" in md
    assert "| 0 | 64 | 3,500 | 5,000 | 5.8 | 51 | met (on the X1) |" in md
    assert "987" not in md and "| 800 |" not in md  # the cold-shape row is not shown

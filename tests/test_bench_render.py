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
    assert render.section(ROOT / "results" / "bench") in readme


def test_committed_readme_has_the_generated_full_profile_cost():
    readme = (ROOT / "README.md").read_text()
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

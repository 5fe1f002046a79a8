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

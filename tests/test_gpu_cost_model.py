"""benchmarks/gpu_cost_model.py: the lease's per-phase projection from the first lease's
measurements counts every configuration the library's experiments train, and its verdict
follows from its numbers."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_cost_model as cm  # noqa: E402

from strn.study.experiments import EXPERIMENTS  # noqa: E402


def test_projection_covers_every_experiment_and_states_what_must_give():
    out = cm.project(ROOT / "results/gpu", ROOT / "results/demo",
                     json.loads((ROOT / "results/gpu/lease/phases.json").read_text()), None, None,
                     json.loads((ROOT / "results/bench/gpu.json").read_text()))
    trained = {k for k, e in EXPERIMENTS.items() if not e.runner}
    assert {j["experiment"] for j in out["jobs"]} == trained
    assert any(j["row"].endswith("equal-steps") and j["epochs"] > 12 for j in out["jobs"])
    assert abs(out["total_s"] - sum(out["phases_s"].values())) < 1e-6
    assert out["fits"] == (out["total_s"] <= out["budget_s"])
    r = out["rates_first_lease"]
    assert r["jobs_fitted"] >= 5 and r["fixed_s"] > 0 and r["per_frame_s"] > 0
    # the speed-up asked of the STRN training brings the total to the budget exactly
    other = out["total_s"] - out["phases_s"]["training (STRN jobs)"]
    assert abs(other + out["phases_s"]["training (STRN jobs)"] / out["training_speedup_needed"] - out["budget_s"]) < 1e-6
    dense = out["with_dense_rates"]
    assert dense["cuda_graph_fixed"]["training_s"] < dense["first_lease_fixed"]["training_s"]


def test_measured_levers_project_the_training_per_setting():
    levers = {"settings": {"default": {"seeds_stacked": 3, "fixed_s": 0.01, "per_frame_s": 1e-5},
                           "unstacked": {"seeds_stacked": 1, "fixed_s": 0.01, "per_frame_s": 1e-5},
                           "cuda_graph": {"error": "RuntimeError: x"}}}
    jobs = [{"micro_batches": 100, "train_frames": 1000, "eval_frames": 0}]
    out = cm.lever_projection(levers, jobs, {"per_eval_frame_s": 0.0})
    assert set(out) == {"default", "unstacked"}
    assert abs(out["default"] - 1.01) < 1e-9 and abs(out["unstacked"] - 3.01) < 1e-9  # three seeds, one by one

"""benchmarks/gpu_profile.sh, the one command a GPU lease runs, works end to end where no GPU
is (smoke profile, CPU, a deadline it meets): a broken script would cost a lease. Every phase
the lease runs runs here: preflight, data beside the pretraining, the stand-in's digest, the
levers, every run of every experiment (control runs and frame baselines included), the
engine's rate, the report, the packing. Run again on its own output it trains nothing and
makes the same stand-in."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from strn.study.experiments import EXPERIMENTS
from strn.study.parallel import experiment_configs

ROOT = Path(__file__).resolve().parent.parent


def _lease(tmp_path: Path, out: Path, data: Path, args: str = "") -> subprocess.CompletedProcess:
    work = tmp_path / "repo"
    (work / "benchmarks").mkdir(parents=True, exist_ok=True)
    for name in ("gpu_profile.py", "gpu_profile.sh", "gpu_levers.py", "bench_gpu.py", "bench_model.py"):
        (work / "benchmarks" / name).write_bytes((ROOT / "benchmarks" / name).read_bytes())
    env = dict(os.environ, OMP_NUM_THREADS="1", STRN_QUIET="1", MPLBACKEND="Agg", PROFILE="smoke", DEVICE="cpu",
               JOBS="2", OUT=str(out), DATA=str(data), PY=sys.executable, DEADLINE="1500", PYTHONPATH=str(ROOT),
               RESULTS=str(tmp_path / "results"), FIGURES=str(tmp_path / "figures"),
               ARGS=f"--loader-workers 2 --levers-budget 900 {args}")
    proc = subprocess.run(["bash", "benchmarks/gpu_profile.sh"], cwd=work, capture_output=True, text=True,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "study exit status 0" in proc.stdout, proc.stdout[-3000:]
    return proc


@pytest.mark.fresh_stand_in  # pretrains on a fresh data folder: the point of the test
def test_gpu_profile_script_runs_every_phase_on_a_cpu_and_a_rerun_trains_nothing(tmp_path):
    out, data = tmp_path / "out", tmp_path / "data"
    _lease(tmp_path, out, data)
    phases = json.loads((out / "phases.json").read_text())
    at = {p["phase"]: p for p in phases}
    assert [p["phase"] for p in phases] == ["start", "preflight", "pretraining", "synthetic set and frame caches",
                                            "levers", "training", "engine", "report"]
    assert at["synthetic set and frame caches"]["data_keys"] >= 2
    assert at["preflight"]["stack"] is True  # the stacked smoke job ran on this device
    assert at["training"]["runs"] >= 17 and at["training"]["new_records"] >= 17
    # the stand-in's digest is recorded beside the runs, and this was its first making
    stand_in = json.loads((tmp_path / "results" / "lease" / "stand_in.json").read_text())
    assert stand_in["digest"] == at["pretraining"]["stand_in_digest"] and at["pretraining"]["reproduced"] is None
    levers = json.loads((out / "levers.json").read_text())
    for name in ("default", "toggle_determinism", "no_channels_last", "fp32", "host_frames", "unstacked"):
        row = levers["settings"][name]
        assert "error" not in row, row
        assert row["fixed_s"] >= 0 and row["per_frame_s"] >= 0
    assert levers["settings"]["toggle_determinism"]["deterministic"] is not levers["deterministic_default"]
    assert levers["settings"]["default"]["repeatable"] is True  # a CPU repeats itself
    engine = json.loads((out / "gpu_engine.json").read_text())
    assert [r["workers"] for r in engine["rows"]] == [0, 2] and engine["loader_ratio"] > 0
    with tarfile.open(out / "results_smoke.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("/report.html") for n in names)
    assert not any("checkpoints" in n for n in names)
    stored = {Path(n).parent.name for n in names if n.endswith("__seed0.json")}
    # every experiment the library defines (a new one included) and the frame baselines
    wanted = {c.experiment for c, _, _ in experiment_configs("smoke", device="cpu", data_dir=data)}
    wanted |= {k for k, e in EXPERIMENTS.items() if e.runner is not None and k.startswith("05_2")}
    assert wanted <= stored, wanted - stored
    assert any("05_7_splits_and_sota/frame-average__seed0" in n for n in names)

    # Again over its own results, from a fresh data folder (the stand-in made anew): nothing trains.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").glob("*/*.json")}
    out2 = tmp_path / "out2"
    _lease(tmp_path, out2, tmp_path / "data2", "--no-stack --no-levers --no-engine --no-report")
    again = {p["phase"]: p for p in json.loads((out2 / "phases.json").read_text())}
    assert again["training"]["new_records"] == 0
    assert again["pretraining"]["reproduced"] is True
    assert again["pretraining"]["stand_in_digest"] == at["pretraining"]["stand_in_digest"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "results").glob("*/*.json")} == before


def test_a_stand_in_with_another_digest_is_refused(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_profile
    import torch

    weights = tmp_path / "stills.pt"
    state = {"w": torch.arange(6, dtype=torch.float32)}
    torch.save({"model": state, "meta": {"test_accuracy": 0.5}}, weights)
    first = gpu_profile.stand_in(weights, tmp_path / "results", "cpu")
    assert first["reproduced"] is None and (tmp_path / "results" / "lease" / "stand_in.json").exists()
    assert gpu_profile.stand_in(weights, tmp_path / "results", "cpu")["reproduced"] is True
    state["w"][0] = 0.5
    torch.save({"model": state, "meta": {}}, weights)
    other = gpu_profile.stand_in(weights, tmp_path / "results", "cpu")
    assert other["reproduced"] is False and other["stored_digest"] == first["digest"] != other["digest"]

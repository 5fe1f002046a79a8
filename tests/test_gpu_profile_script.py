"""benchmarks/gpu_profile.sh, the one command a GPU lease runs (issue 15 item 6), works end
to end where no GPU is (smoke profile, CPU, a deadline it meets): a broken script would cost a
lease. It trains every run, packs them, and reports each phase."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_profile_script_trains_stores_and_packs_on_a_cpu(tmp_path):
    out = tmp_path / "out"
    work = tmp_path / "repo"
    (work / "benchmarks").mkdir(parents=True)
    for name in ("gpu_profile.py", "gpu_profile.sh"):
        (work / "benchmarks" / name).write_bytes((ROOT / "benchmarks" / name).read_bytes())
    env = dict(os.environ, OMP_NUM_THREADS="1", STRN_QUIET="1", PROFILE="smoke", DEVICE="cpu", JOBS="2",
               OUT=str(out), DATA=str(tmp_path / "data"), PY=sys.executable, DEADLINE="400",
               PYTHONPATH=str(ROOT), RESULTS=str(tmp_path / "results"))
    proc = subprocess.run(["bash", "benchmarks/gpu_profile.sh"], cwd=work, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "study exit status 0" in proc.stdout, proc.stdout[-3000:]
    phases = json.loads((out / "phases.json").read_text())
    assert [p["phase"] for p in phases] == ["start", "preflight", "synthetic set", "frame caches", "pretraining",
                                            "training"]
    assert phases[1]["stack"] is True  # the stacked smoke job ran on this device
    assert phases[-1]["runs"] >= 17
    with tarfile.open(out / "results_smoke.tar.gz") as tar:
        names = tar.getnames()
    stored = [n for n in names if n.endswith(".json") and "__seed0" in n]
    assert any("05_7_splits_and_sota/frame-average__seed0" in n for n in stored)
    assert any("05_2_baselines/" in n for n in stored)
    assert not any("checkpoints" in n for n in names)

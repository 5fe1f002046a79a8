"""benchmarks/bench_gpu.py runs end to end (--smoke: CPU, narrow net, 32 px) and writes
every section; its numbers here mean nothing, only that the script works where no GPU is."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def test_bench_gpu_smoke_writes_every_section(tmp_path):
    out = tmp_path / "gpu.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", STRN_QUIET="1")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"), "--smoke", "--no-compile",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = json.loads(out.read_text())
    assert d["smoke"] and d["check"]["fp32_rel_err"] < 1e-5 and d["check"]["finite"]
    assert {(r["mode"], r["T"], r["batch"]) for r in d["model"]} == \
        {(m, T, b) for m in ("train", "inference") for T in (2, 3, 5) for b in (16, 64)}
    assert all(r["strn_gflop_per_frame"] > 0 and r["ratio"] > 0 for r in d["model"])
    assert [(e["workers"], e["micro_batch"]) for e in d["engine"]] == [(0, 64), (0, 16), (8, 64), (8, 16)]
    assert all(e["split1_epoch_s"] > 0 for e in d["engine"]) and not d["skipped"]
    assert "best split-1 epoch" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where there is no GPU")
def test_bench_gpu_without_cuda_says_what_to_do():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py")], capture_output=True, text=True)
    assert proc.returncode != 0 and "--smoke" in proc.stderr

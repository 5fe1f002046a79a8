"""The ``gpu`` profile's study on one lent GPU, as one prepared command (issue 15 item 6).

A lease is minutes long and cannot be extended, so this script does everything in one go,
in the order that keeps the most if it is cut short (`benchmarks/gpu_profile.sh` wraps it
in a deadline and packs what it stored):

1. ``preflight``: one smoke run on the device, then two smoke seeds as one stacked job
   (`strn.stacked_run`). The first failing stops the script at once (a bug costs seconds of
   the lease, not minutes); the second failing only turns stacking off.
2. The synthetic set (one process per core), every frame cache the runs read (decoded by
   as many processes) and the stand-in pretraining, on the GPU, before any run starts, so
   that no two workers do the same preparation.
3. `strn.parallel.train_all` with ``share_gpu``: ``--jobs`` processes train the runs side by
   side on the one GPU (a run's 1% steps are too small to keep a GPU busy: ~30 ms of kernel
   launches each, results/bench/gpu.json), the seeds of a configuration stacked when the
   preflight allowed it, then the frame baselines. Each finished run is stored as it ends.

Prints one JSON line per phase (``{"phase": ..., "s": ...}``) and writes ``--log`` the same.

    python benchmarks/gpu_profile.py --profile gpu --device cuda --jobs 10
    python benchmarks/gpu_profile.py --profile smoke --device cpu --jobs 2   # the CPU check
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from strn.experiments import EXPERIMENTS  # noqa: E402
from strn.parallel import experiment_configs, fill_caches, train_all  # noqa: E402
from strn.paths import usable_cores  # noqa: E402
from strn.pretrain import load_meta, pretrained_backbone  # noqa: E402
from strn.rows import row_config  # noqa: E402
from strn.run import run  # noqa: E402
from strn.stacked_run import run_stacked  # noqa: E402
from strn.synth_files import ensure_synthetic  # noqa: E402

LOG: list[dict] = []


def phase(log_path: Path | None, name: str, t0: float, **info) -> None:
    entry = {"phase": name, "s": round(time.perf_counter() - t0, 1), **info}
    LOG.append(entry)
    print(json.dumps(entry), flush=True)
    if log_path:
        log_path.write_text(json.dumps(LOG, indent=1))


def preflight(device: str) -> tuple[bool, str]:
    """A smoke run on ``device`` (raises if it fails), then two smoke seeds stacked: (ok, why not)."""
    exp = EXPERIMENTS["05_4_recurrent_connection"]
    row = next(r for r in exp.rows if r.name == "conv-98-104")
    with tempfile.TemporaryDirectory() as tmp:
        run(row_config(exp, row, "smoke", 0, device), results_dir=Path(tmp) / "r", data_dir=Path(tmp) / "d",
            progress=False)
        try:
            run_stacked([row_config(exp, row, "smoke", s, device) for s in (0, 1)], results_dir=Path(tmp) / "s",
                        data_dir=Path(tmp) / "d", progress=False)
        except Exception as e:  # noqa: BLE001 - stacking is an optimisation: the runs go on without it
            return False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    return True, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--jobs", type=int, default=10, help="training processes sharing the device")
    ap.add_argument("--results-dir", type=Path, default=None, help="default: results/<profile>")
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--log", type=Path, default=None, help="the phases as JSON")
    ap.add_argument("--no-stack", action="store_true", help="one run per seed even where stacking works")
    a = ap.parse_args()
    t0 = time.perf_counter()
    dev = torch.device(a.device)
    info = {"device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "torch": torch.__version__, "cores": usable_cores()}
    phase(a.log, "start", t0, **info)

    stack, why = (False, "--no-stack") if a.no_stack else preflight(a.device)
    phase(a.log, "preflight", t0, stack=stack, why_not=why[-2000:])

    ensure_synthetic(a.profile, a.data_dir)
    phase(a.log, "synthetic set", t0)
    configs = experiment_configs(a.profile, device=a.device, data_dir=a.data_dir)
    # every frame cache the runs read, decoded by one process per core (train_all would use --jobs)
    n_train = fill_caches([c for c, _, _ in configs], a.data_dir, usable_cores())
    phase(a.log, "frame caches", t0, data_keys=len(n_train))
    m = configs[0][0].model
    weights = pretrained_backbone(a.profile, a.data_dir, backbone=m.backbone, width=m.width,
                                  size=configs[0][0].data.crop, device=a.device, progress=False)
    phase(a.log, "pretraining", t0, weights=weights.name, test_accuracy=load_meta(weights).get("test_accuracy"))

    n = train_all(a.profile, jobs=a.jobs, device=a.device, results_dir=a.results_dir, data_dir=a.data_dir,
                  stack=stack, share_gpu=True)
    phase(a.log, "training", t0, runs=n)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``gpu`` profile's study on one lent GPU, as one prepared command.

A lease is minutes long and cannot be extended, so this script does everything in one go,
in the order that keeps the most if it is cut short (`benchmarks/gpu_profile.sh` wraps it
in a deadline and packs what it stored):

1. ``preflight``: one smoke run on the device, then two smoke seeds as one stacked job
   (`strn.train.stacked_run`). The first failing stops the script at once (a bug costs seconds of
   the lease, not minutes); the second failing only turns stacking off.
2. ``synthetic set`` (one process per core) and ``frame caches`` (every cache the runs read).
3. ``levers`` (`benchmarks/gpu_levers.py`): the study's stacked step timed for a few steps
   under each lever (determinism on/off: its cost; channels_last; bf16; frames on the device;
   stacking; CUDA graphs), written to ``--levers-out``; ``--tune`` then keeps channels_last
   only where it was measured faster; `benchmarks/gpu_cost_model.py` projects the study from it.
4. ``pretraining``: the stand-in, on the GPU, with the profile's kernel settings
   (`strn.train.determinism`: deterministic in the gpu profile). Its weights' digest goes into
   ``<results>/lease/stand_in.json``; where that file exists already (a later lease over stored
   runs) the new stand-in must have the same digest, else the script stops before training:
   runs from two stand-ins are never mixed.
5. ``training``: `strn.study.parallel.train_all` with ``share_gpu``: every run the notebooks ask
   for (every experiment of `strn.study.experiments`, its control runs, the frame baselines),
   ``--jobs`` processes sharing the GPU, the seeds of a configuration stacked. A run already
   stored is not trained again (``new_records`` says how many were).
6. ``engine``: the engine's rate at the thesis's setting (224 px, T = 2, micro-batch 64,
   bf16, channels_last; `benchmarks/bench_gpu.py`'s ``engine``) in memory and with
   ``--loader-workers`` loader workers, written to ``--engine-out``.
7. ``report``: `strn report` over the stored runs (the notebooks and the HTML report; it
   trains nothing, every run being stored), unless ``--no-report``.

Prints one JSON line per phase (``{"phase": ..., "s": ...}``) and writes ``--log`` the same.

    python benchmarks/gpu_profile.py --profile gpu --device cuda --jobs 10
    python benchmarks/gpu_profile.py --profile smoke --device cpu --jobs 2   # the CPU dry run
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from strn.train import determinism  # noqa: E402
from strn.config import make_config  # noqa: E402
from strn.study.experiments import EXPERIMENTS  # noqa: E402
from strn.study.parallel import experiment_configs, fill_caches, train_all  # noqa: E402
from strn.paths import usable_cores  # noqa: E402
from strn.train.pretrain import load_meta, pretrained_backbone  # noqa: E402
from strn.results import LEASE_DIR, atomic_write_text  # noqa: E402
from strn.study.rows import row_config  # noqa: E402
from strn.data.prepare import prepare  # noqa: E402
from strn.train.run import run  # noqa: E402
from strn.train.stacked_run import run_stacked  # noqa: E402
from strn.data.synth_files import ensure_synthetic  # noqa: E402

LOG: list[dict] = []
# the stand-in every stored run started from; beside the lease's logs, where no reader takes it for a run
STAND_IN = Path(LEASE_DIR) / "stand_in.json"


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


def records(results_dir: Path) -> dict[str, int]:
    """Every stored record (path: modification time in ns): what a phase wrote or rewrote."""
    return {str(p): p.stat().st_mtime_ns for p in results_dir.glob("*/*.json")} if results_dir.exists() else {}


def stand_in(weights: Path, results_dir: Path, device: str) -> dict:
    """The stand-in's digest, checked against ``<results>/lease/stand_in.json`` (written when absent)."""
    state = torch.load(weights, map_location="cpu", weights_only=True)["model"]
    meta = load_meta(weights)
    made = {"file": weights.name, "digest": determinism.state_digest(state), "device": device,
            "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
            "torch": torch.__version__, "deterministic": determinism.deterministic(),
            "test_accuracy": meta.get("test_accuracy")}
    path = results_dir / STAND_IN
    if path.exists():
        stored = json.loads(path.read_text())
        made["stored_digest"] = stored.get("digest")
        made["reproduced"] = stored.get("digest") == made["digest"] and stored.get("file") == made["file"]
    else:
        made["reproduced"] = None  # nothing stored to compare with: this stand-in is the record
        atomic_write_text(path, json.dumps(made, indent=1) + "\n")
    return made


def prepare_data(a: argparse.Namespace) -> int:
    """The synthetic set (one process per core) and every frame cache the runs read (as many
    decoding processes); prints its seconds and the largest training set as one JSON line."""
    os.nice(5)  # below the process that feeds the GPU meanwhile (its kernel launches need a core); workers inherit it
    t0 = time.perf_counter()
    ensure_synthetic(a.profile, a.data_dir)
    t1 = time.perf_counter()
    configs = experiment_configs(a.profile, device=a.device, data_dir=a.data_dir)
    n_train = fill_caches([c for c, _, _ in configs], a.data_dir, usable_cores())
    base = len(prepare(make_config(a.profile), a.data_dir, progress=False).train)  # the rate-10, T = 2 set
    a.log.write_text(json.dumps({"synthetic_s": round(t1 - t0, 1), "caches_s": round(time.perf_counter() - t1, 1),
                                 "data_keys": len(n_train), "n_train_base": base}))
    return 0


def levers_phase(a: argparse.Namespace, n: int) -> dict:
    """`gpu_levers.measure` at the study's 1% step and its micro-batch size (`--levers-out`)."""
    import gpu_levers
    from strn.train.engine import step_size

    cfg = make_config(a.profile)  # the profile's base: its 1% step and micro-batch size
    # n: the training set of most runs (the profile's base), so ``small`` is their 1% step
    small = step_size(n, cfg.train.update_every)
    large = max(cfg.train.batch_size, small + 2) if a.device.startswith("cuda") else small * 2
    out = gpu_levers.measure(a.profile, a.device, (small, large), budget_s=a.levers_budget)
    if a.levers_out:
        atomic_write_text(a.levers_out, json.dumps(out, indent=1) + "\n")
    out["channels_last_chosen"] = gpu_levers.best_channels_last(out) if a.tune else determinism.channels_last()
    return out


def engine_phase(a: argparse.Namespace) -> dict:
    """bench_gpu's ``engine`` at the thesis's setting, in memory and with loader workers (fastest kernels)."""
    import bench_gpu

    sizes = {}
    if not a.device.startswith("cuda"):  # the dry run: bench_gpu --smoke's sizes; its numbers mean nothing
        bench_gpu.DEV, bench_gpu.PX, bench_gpu.SIZE, bench_gpu.WIDTH = torch.device("cpu"), 32, 40, 8
        sizes = {"n": 40, "n_eval": 20}
    old = determinism.deterministic()
    determinism.configure(deterministic=False)  # the thesis's setting is the full profile's: autotuned kernels
    try:
        rows = [bench_gpu.engine(w, 64, **sizes) for w in (0, a.loader_workers)]
    finally:
        determinism.configure(deterministic=old)
    fps = [r["train_frames_per_s"] for r in rows]
    out = {"benchmark": "gpu-engine", "setting": "224 px, T = 2, micro-batch 64, bf16, channels_last",
           "rows": rows, "train_frames_per_s": fps[0], "loader_workers": a.loader_workers,
           "loader_ratio": fps[1] / fps[0], "target_frames_per_s": 6000, "target_loader_ratio": 0.95,
           "device_name": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu (dry run)"}
    if a.engine_out:
        atomic_write_text(a.engine_out, json.dumps(out, indent=1) + "\n")
    return {k: out[k] for k in ("train_frames_per_s", "loader_ratio")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--jobs", type=int, default=10, help="training processes sharing the device")
    ap.add_argument("--results-dir", type=Path, default=None, help="default: results/<profile>")
    ap.add_argument("--figures-dir", type=Path, default=None, help="the report's figures; default: figures/<profile>")
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--log", type=Path, default=None, help="the phases as JSON")
    ap.add_argument("--no-stack", action="store_true", help="one run per seed even where stacking works")
    ap.add_argument("--deterministic", choices=("profile", "on", "off"), default="profile",
                    help="deterministic CUDA kernels (strn/train/determinism.py); default: as the profile says")
    ap.add_argument("--no-levers", dest="levers", action="store_false", help="skip the levers phase")
    ap.add_argument("--levers-budget", type=float, default=40.0, help="seconds for the levers phase")
    ap.add_argument("--levers-out", type=Path, default=None, help="the levers phase's JSON")
    ap.add_argument("--tune", action="store_true", help="train with the levers measured best (channels_last)")
    ap.add_argument("--no-engine", dest="engine", action="store_false", help="skip the engine measurement")
    ap.add_argument("--engine-out", type=Path, default=None, help="the engine measurement's JSON")
    ap.add_argument("--loader-workers", type=int, default=8)
    ap.add_argument("--no-report", dest="report", action="store_false", help="skip strn report")
    ap.add_argument("--prepare-data", action="store_true", help=argparse.SUPPRESS)  # the data process (main's)
    a = ap.parse_args()
    if a.prepare_data:
        return prepare_data(a)
    results_dir = a.results_dir or Path("results") / a.profile
    t0 = time.perf_counter()
    # before any CUDA work: cuBLAS reads its workspace setting once; spawned workers inherit it
    if a.deterministic == "profile":
        determinism.configure_for_profile(a.profile)
    else:
        determinism.configure(deterministic=a.deterministic == "on")
    dev = torch.device(a.device)
    info = {"device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "torch": torch.__version__, "cores": usable_cores(), "deterministic": determinism.deterministic()}
    phase(a.log, "start", t0, **info)

    # The synthetic set and the frame caches are CPU work: a process of their own makes them
    # while this one runs the preflight and the pretraining on the GPU.
    prepared_json = Path(tempfile.mkdtemp()) / "prepared.json"
    data = subprocess.Popen([sys.executable, __file__, "--prepare-data", "--profile", a.profile, "--device", a.device,
                             "--data-dir", str(a.data_dir), "--log", str(prepared_json)])
    try:
        stack, why = (False, "--no-stack") if a.no_stack else preflight(a.device)
        phase(a.log, "preflight", t0, stack=stack, why_not=why[-2000:])
        cfg0 = make_config(a.profile)  # the network every run starts from: the profile's base
        weights = pretrained_backbone(a.profile, a.data_dir, backbone=cfg0.model.backbone, width=cfg0.model.width,
                                      size=cfg0.data.crop, device=a.device, progress=False)
        made = stand_in(weights, results_dir, a.device)
        phase(a.log, "pretraining", t0, weights=weights.name, test_accuracy=made["test_accuracy"],
              stand_in_digest=made["digest"], reproduced=made["reproduced"])
    except BaseException:
        data.terminate()  # a failed preflight ends the lease's script at once, the data process too
        raise
    if data.wait():
        raise SystemExit(f"gpu_profile.py: preparing the data failed (exit {data.returncode}); see the log above")
    prepared = json.loads(prepared_json.read_text())
    phase(a.log, "synthetic set and frame caches", t0, **prepared)
    if made["reproduced"] is False:
        print(f"the stand-in made here ({made['digest']}) is not the one the runs in {results_dir} started from "
              f"({made['stored_digest']}, {results_dir / STAND_IN}): not training into that folder; start from "
              f"an empty one (FRESH=1 benchmarks/gpu_profile.sh)", file=sys.stderr)
        return 4

    if a.levers:
        lv = levers_phase(a, prepared["n_train_base"])
        determinism.configure(channels_last=lv["channels_last_chosen"])
        phase(a.log, "levers", t0, channels_last=lv["channels_last_chosen"], repeatable={
            k: r["repeatable"] for k, r in lv["settings"].items() if "repeatable" in r}, speedups={
            k: round(r["speedup_small"], 3) for k, r in lv["settings"].items() if "speedup_small" in r},
            errors={k: r["error"] for k, r in lv["settings"].items() if "error" in r}, skipped=lv["skipped"])
    before = records(results_dir)
    n = train_all(a.profile, jobs=a.jobs, device=a.device, results_dir=results_dir, data_dir=a.data_dir,
                  stack=stack, share_gpu=True)
    after = records(results_dir)
    phase(a.log, "training", t0, runs=n, new_records=sum(after.get(p) != before.get(p) for p in after))
    if a.engine:
        phase(a.log, "engine", t0, **engine_phase(a))
    if a.report:
        try:
            from strn.report.build import build_report  # papermill and jupyter: only here
        except ImportError as e:  # the lease's image has neither unless carried as wheels (benchmarks/README.md)
            phase(a.log, "report", t0, html=None, why_not=f"{e}: draw it from the packed results with "
                  f"`strn report --profile {a.profile}` (it trains nothing)")
            return 0
        html = build_report(a.profile, device=a.device, results_dir=results_dir, figures_dir=a.figures_dir,
                            data_dir=a.data_dir, jobs=max(a.jobs, 2), stack_seeds=stack)
        phase(a.log, "report", t0, html=str(html))
    return 0


if __name__ == "__main__":
    sys.exit(main())

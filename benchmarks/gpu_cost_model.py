"""Per-phase GPU time of the gpu profile's study in one lease (benchmarks/gpu_profile.sh), projected.

Nothing here is timed. The inputs are measurements:

* the first lease (results/gpu/lease/phases.json and the records it stored under results/gpu):
  the preparation phases' seconds, and for each finished stacked configuration its training
  and wall seconds with ``JOBS`` processes time-sharing the GPU at 94-100% busy
  (results/gpu/lease/dmon.txt);
* the amount of work of every configuration the study trains, from the library's own
  experiments (`strn.study.experiments.EXPERIMENTS`: a new experiment or control run is counted
  without a change here) and the training-set sizes the records name (sizes of data the first
  lease did not reach are the demo's, scaled by the ratio of the two sets at rate 10, T = 2);
* optionally the CPU dry run's phases (``--dry-run``: recorded, proof that every phase ran) and
  a lease's levers.json (``--levers``: the step's fixed and per-frame seconds measured on the
  card under each lever).

Model (assumptions, each stated in the JSON): with the GPU busy all the time, one process of
``JOBS`` gets 1/``JOBS`` of it, so a job's GPU seconds are its wall seconds / ``JOBS``. A stacked
job's training GPU seconds = ``fixed`` x micro-batches + ``per_frame`` x frames trained (frames
of all its seeds), its evaluation = ``per_eval_frame`` x frames evaluated; the three rates are
fitted to the first lease's finished jobs by least squares. Frame baselines: the first lease's
mean GPU seconds per stored row, times the rows. The projection is then compared to the 9
minutes of GPU time a 15-minute lease leaves after the machine's start and the transfers, and
the speed-up the training must get from the levers to fit is stated.

    python benchmarks/gpu_cost_model.py --out results/gpu/lease/cost_model.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from strn.train.engine import epoch_plan, step_size  # noqa: E402
from strn.study.experiments import DEFAULT_SEEDS, EXPERIMENTS  # noqa: E402
from strn.results import atomic_write_text  # noqa: E402
from strn.study.rows import row_config  # noqa: E402

BUDGET_S = 540.0  # 9 minutes of GPU time: a 15-minute lease less start-up (~2-4 min) and transfers
LEASE_JOBS = 10  # processes sharing the GPU in the first lease (results/gpu/README.md)
ENGINE_S = 20.0  # the engine phase: two bench_gpu.engine rows (~4 s warm-up, ~2-5 s timed each)
LEVERS_S = 40.0  # the levers phase's budget (gpu_profile.py --levers-budget)
GRAPH_FIXED_S = 0.0015  # assumed fixed seconds per micro-batch with the step captured as a CUDA graph
REPORT_S_DEFAULT = 90.0  # the report phase when no dry run is given: notebooks over stored runs, CPU work


def data_key(cfg) -> tuple:
    d = cfg.data
    return d.rate, d.seq_len, d.split


def sizes(results: Path, demo: Path) -> dict[tuple, tuple[int, int]]:
    """(training, test) sequences per (rate, T, split): the first lease's records, else the
    demo's scaled by the two sets' ratio at rate 10, T = 2, split 1."""
    def read(folder: Path) -> dict[tuple, tuple[int, int]]:
        out = {}
        for p in sorted(folder.glob("*/*__seed0.json")):
            r = json.loads(p.read_text())
            d, ds = r["config"]["data"], r.get("dataset", {})
            if r["config"]["model"]["kind"] in ("strn", "frame_avg") and ds.get("n_train_sequences"):
                out.setdefault((d["rate"], d["seq_len"], d["split"]), (ds["n_train_sequences"],
                                                                       ds["n_test_sequences"]))
        return out
    gpu, dem = read(results), read(demo)
    ratio = gpu[(10, 2, 1)][0] / dem[(10, 2, 1)][0]
    return {**{k: (round(a * ratio), round(b * ratio)) for k, (a, b) in dem.items()}, **gpu}


def work(cfg, n: int, n_test: int, k: int) -> dict[str, float]:
    """Micro-batches, frames trained and frames evaluated of one stacked job of ``k`` seeds."""
    t = cfg.train
    plan = epoch_plan(n, step_size(n, t.update_every), t.batch_size, 0, 0)
    evals = t.epochs if t.eval_each_epoch else 1
    return {"micro_batches": t.epochs * len(plan), "train_frames": t.epochs * n * cfg.data.seq_len * k,
            "eval_frames": evals * n_test * cfg.data.seq_len * k}


def fit_rates(results: Path, sz: dict, jobs: int) -> dict[str, float]:
    """fixed (s per micro-batch), per_frame, per_eval_frame: least squares over the first lease's jobs."""
    rows, train_s, eval_s, eval_frames = [], [], [], []
    seen = set()
    for p in sorted(results.glob("*/*__seed0.json")):
        r = json.loads(p.read_text())
        c = r["cost"]
        if "stacked_train_s" not in c or c["stacked_wall_s"] in seen:
            continue
        seen.add(c["stacked_wall_s"])  # one job, however many rows name it
        cfg = _config(r["config"])
        n, n_test = sz[data_key(cfg)]
        w = work(cfg, n, n_test, len(c["stacked_seeds"]))
        rows.append([w["micro_batches"], w["train_frames"]])
        train_s.append(c["stacked_train_s"] / jobs)
        eval_s.append((c["stacked_wall_s"] - c["stacked_train_s"]) / jobs)
        eval_frames.append(w["eval_frames"])
    (fixed, per_frame), *_ = np.linalg.lstsq(np.array(rows, float), np.array(train_s), rcond=None)
    return {"fixed_s": float(fixed), "per_frame_s": float(per_frame),
            "per_eval_frame_s": float(np.sum(eval_s) / np.sum(eval_frames)), "jobs_fitted": len(rows)}


def _config(d: dict):
    from strn.config import config_from_dict
    return config_from_dict(d)


def study_jobs(profile: str, sz: dict) -> list[dict]:
    """Every stacked job of the study: each configuration the experiments train, its seeds together."""
    seeds = list(DEFAULT_SEEDS[profile])
    out, seen = [], set()
    for key in sorted(EXPERIMENTS):
        exp = EXPERIMENTS[key]
        if exp.runner:
            continue
        for row in exp.rows:
            cfg = row_config(exp, row, profile, seeds[0], "cuda")
            n, n_test = sz.get(data_key(cfg), sz[(10, 2, 1)])
            if row.equal_steps_to:  # as strn.study.experiments.equal_steps_config, on the estimated set size
                ref = row_config(exp, next(r for r in exp.rows if r.name == row.equal_steps_to), profile, seeds[0])
                steps = lambda c: sum(mb.ends_step for mb in epoch_plan(  # noqa: E731
                    n, step_size(n, c.train.update_every), c.train.batch_size, 0, 0))
                cfg.train.epochs = -(-ref.train.epochs * steps(ref) // steps(cfg))
            from strn.config import config_hash
            h = config_hash(cfg)
            if h in seen:
                continue
            seen.add(h)
            out.append({"experiment": key, "row": row.name, "epochs": cfg.train.epochs,
                        **work(cfg, n, n_test, len(seeds))})
    return out


def baseline_rows(results: Path, jobs: int) -> tuple[float, int]:
    """Mean GPU seconds per frame-baseline row in the first lease, and the rows of a study."""
    walls = [json.loads(p.read_text())["cost"].get("wall_s", 0.0) for p in results.glob("05_2_baselines/*.json")]
    exp = EXPERIMENTS["05_2_baselines"]
    return (sum(walls) / len(walls) / jobs if walls else 1.0), len(exp.rows) * len(DEFAULT_SEEDS["gpu"])


def project(results: Path, demo: Path, phases: list[dict], dry_run: list[dict] | None,
            levers: dict | None, bench: dict | None = None, jobs: int = LEASE_JOBS) -> dict:
    sz = sizes(results, demo)
    rates = fit_rates(results, sz, jobs)
    jobs_list = study_jobs("gpu", sz)
    for j in jobs_list:
        j["gpu_s"] = (rates["fixed_s"] * j["micro_batches"] + rates["per_frame_s"] * j["train_frames"]
                      + rates["per_eval_frame_s"] * j["eval_frames"])
    at = {p["phase"]: p["s"] for p in phases}
    data_s = at["frame caches"] - at["preflight"]  # synthetic set and frame caches: CPU work
    prep = {"preflight": at["preflight"] - at["start"], "pretraining": at["pretraining"] - at["frame caches"]}
    # the lease script makes the data in a process of its own beside the preflight and the pretraining
    prep["synthetic set and frame caches (beside them)"] = max(0.0, data_s - sum(prep.values()))
    per_row, n_rows = baseline_rows(results, jobs)
    # The report is CPU work: the dry run proves it runs and how long on the machine it ran on
    # (recorded below), but 2 shared cores say little about 16; REPORT_S_DEFAULT stands for it.
    report_s = REPORT_S_DEFAULT
    training = sum(j["gpu_s"] for j in jobs_list)
    phases_s = {**prep, "levers": LEVERS_S, "training (STRN jobs)": training, "training (frame baselines)":
                per_row * n_rows, "engine": ENGINE_S, "report": report_s}
    total = sum(phases_s.values())
    fixed_total = total - training
    need = training / max(BUDGET_S - fixed_total, 1e-9)  # the speed-up the STRN training must get
    out = {"budget_s": BUDGET_S, "rates_first_lease": rates, "phases_s": phases_s, "total_s": total,
           "fits": total <= BUDGET_S, "training_speedup_needed": need, "jobs": jobs_list,
           "assumptions": [
               f"one of {jobs} processes time-sharing a fully busy GPU gets 1/{jobs} of it (dmon: 94-100% busy)",
               "a stacked job's GPU seconds = fixed x micro-batches + per_frame x frames trained + per_eval_frame x "
               "frames evaluated, fitted to the first lease's finished jobs",
               "training-set sizes the first lease did not reach: the demo's, scaled by the ratio of the sets",
               "preflight and pretraining as in the first lease (pretraining now deterministic: its cost is the "
               "levers phase's toggle_determinism, unknown until a lease); the synthetic set and frame caches "
               "(CPU) are made beside them and cost only what exceeds them",
               f"the report is CPU work: {REPORT_S_DEFAULT:.0f} s on the lease's 16 cores (the CPU dry run's own "
               "time, on the machine it ran on, is recorded as dry_run_phase_ends_s)",
               f"budget {BUDGET_S:.0f} s: a 15-minute lease less the machine's start and the transfers"]}
    if dry_run:
        out["dry_run_phase_ends_s"] = {p["phase"]: p["s"] for p in dry_run}
    if bench:
        out["with_dense_rates"] = dense_scenario(bench, jobs_list, rates, fixed_total)
        best = out["with_dense_rates"]["cuda_graph_fixed"]
        out["with_dense_rates"]["cuda_graph_fixed_report_off_lease"] = {
            "total_s": best["total_s"] - report_s, "fits": best["total_s"] - report_s <= BUDGET_S}
        d = out["with_dense_rates"]
        out["what_must_deliver"] = [
            f"per frame trained: {d['per_frame_s']:.2e} s (the engine's single-process dense rate at 112 px) against "
            f"{rates['per_frame_s']:.2e} in the first lease: {rates['per_frame_s'] / d['per_frame_s']:.1f}x; the "
            "levers phase measures it (settings default, unstacked, no_channels_last)",
            f"per frame evaluated: {d['per_eval_frame_s']:.2e} s against {rates['per_eval_frame_s']:.2e}: "
            f"{rates['per_eval_frame_s'] / d['per_eval_frame_s']:.1f}x (evaluation is already one pass for the "
            "stacked seeds; the first lease's rate includes loading frames with 10 processes on 16 cores)",
            f"per micro-batch fixed: {GRAPH_FIXED_S * 1e3:.1f} ms against {rates['fixed_s'] * 1e3:.1f} ms: a CUDA "
            "graph of the step (setting cuda_graph, measured; not yet in the training path)",
            f"the report ({report_s:.0f} s of CPU) drawn after the lease from the packed runs unless papermill's "
            "wheels are carried: with all three above the lease then needs "
            f"{d['cuda_graph_fixed_report_off_lease']['total_s']:.0f} s of {BUDGET_S:.0f}"]
    if levers:
        out["levers"] = lever_projection(levers, jobs_list, rates)
    return out


def dense_scenario(bench: dict, jobs_list: list[dict], rates: dict, other_s: float) -> dict:
    """The study if its steps ran at the engine's measured single-process rates (results/bench/gpu.json:
    the STRN step at T = 2, 64 sequences, 224 px, on an H200), scaled to 112 px by pixels
    (4x the frames per second, an optimistic scaling: smaller maps fill the card less), with the
    first lease's fixed seconds per micro-batch, and again with a CUDA graph's fixed seconds
    (``GRAPH_FIXED_S``, an assumption until the levers phase measures it)."""
    row = lambda mode: next(r for r in bench["model"] if r["mode"] == mode and r["T"] == 2 and r["batch"] == 64)  # noqa: E731
    scale = (224 / 112) ** 2
    per_frame, per_eval = 1 / (row("train")["strn_frames_per_s"] * scale), 1 / (row("inference")["strn_frames_per_s"] * scale)
    out = {"per_frame_s": per_frame, "per_eval_frame_s": per_eval, "pixel_scale": scale}
    for name, fixed in (("first_lease_fixed", rates["fixed_s"]), ("cuda_graph_fixed", GRAPH_FIXED_S)):
        training = sum(fixed * j["micro_batches"] + per_frame * j["train_frames"] + per_eval * j["eval_frames"]
                       for j in jobs_list)
        out[name] = {"fixed_s": fixed, "training_s": training, "total_s": training + other_s,
                     "fits": training + other_s <= BUDGET_S}
    return out


def lever_projection(levers: dict, jobs_list: list[dict], rates: dict) -> dict:
    """The STRN training's GPU seconds with each measured setting's fixed and per-frame seconds
    (one process alone on the card: no overlap between processes assumed, so an upper bound)."""
    out = {}
    for name, row in levers.get("settings", {}).items():
        if "fixed_s" not in row:
            continue
        per_seed = 3 / row["seeds_stacked"]  # an unstacked setting trains the seeds one after another
        out[name] = sum(per_seed * (row["fixed_s"] * j["micro_batches"]) + row["per_frame_s"] * j["train_frames"]
                        + rates["per_eval_frame_s"] * j["eval_frames"] for j in jobs_list)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "results/gpu")
    ap.add_argument("--demo", type=Path, default=ROOT / "results/demo")
    ap.add_argument("--lease", type=Path, default=ROOT / "results/gpu/lease/phases.json")
    ap.add_argument("--dry-run", type=Path, default=None, help="phases.json of the CPU dry run")
    ap.add_argument("--levers", type=Path, default=None, help="levers.json of a lease")
    ap.add_argument("--bench", type=Path, default=ROOT / "results/bench/gpu.json", help="bench_gpu.py's model rates")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    out = project(a.results, a.demo, json.loads(a.lease.read_text()),
                  json.loads(a.dry_run.read_text()) if a.dry_run else None,
                  json.loads(a.levers.read_text()) if a.levers else None,
                  json.loads(a.bench.read_text()) if a.bench and a.bench.exists() else None)
    for name, s in out["phases_s"].items():
        print(f"{name:46s} {s:7.0f} s")
    print(f"{'total':46s} {out['total_s']:7.0f} s of {out['budget_s']:.0f}: "
          f"{'fits' if out['fits'] else 'does NOT fit'}; the STRN training must run "
          f"{out['training_speedup_needed']:.2f}x as fast as in the first lease")
    for name, sc in out.get("with_dense_rates", {}).items():
        if isinstance(sc, dict):
            print(f"at the engine's single-process rates, {name}: {sc['total_s']:.0f} s "
                  f"({'fits' if sc['fits'] else 'does NOT fit'})")
    for name, s in out.get("levers", {}).items():
        print(f"STRN training with lever {name} (measured): {s:.0f} s")
    for line in out.get("what_must_deliver", []):
        print(f"- {line}")
    if a.out:
        atomic_write_text(a.out, json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Expected GPU time and memory of each notebook at the ``full`` profile, from a measured run.

Nothing here is timed: the per-frame rates and peak memories come from the GPU benchmark
(`benchmarks/bench_gpu.py`: ``results/bench/gpu.json`` for the model step at each T, and
``results/bench/gpu_engine.json`` for the training engine and evaluation), and the amount
of work from the experiments' own configurations. A projection is

    epochs x training frames / training rate + evaluations x test frames / evaluation rate

per configuration, where the engine's rate (STRN, T = 2) is scaled to other T and to the
plain per-frame network by the ratio of their measured step rates. Configurations are
counted once, in the master's notebook order: results are shared by configuration hash,
so a row that an earlier notebook trained costs a later one nothing. Decoding UCF-101 into
the frame cache (the first pass over the videos) is CPU work and not in these numbers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any, Iterable

from ..config import RunConfig, config_hash, make_config
from .experiments import DEFAULT_SEEDS, EXPERIMENTS, get_experiment, steps_per_epoch
from ..profiles import get_profile
from .rows import row_config

# Split 1 of UCF-101: 9,537 training and 3,783 test videos; at every 10th frame about 179,000
# training frames (issue: benchmarks). Test frames in proportion to the videos.
TRAIN_FRAMES_R10 = 179_000
TEST_FRAMES_R10 = round(TRAIN_FRAMES_R10 * 3783 / 9537)
# The notebooks before the experiments': no GPU work, no experiment.
NO_GPU_WORK = {"03_technical_details": "small MLPs and recurrent cells on the CPU",
               "04_architecture": "parameter and MAC counts on the meta device",
               "05_1_dataset": "statistics of the videos: decoding, CPU-bound"}


def notebooks() -> list[str]:
    """The master's order: the notebooks without GPU work, then every declared experiment's (`strn.study.tables`)."""
    return [*NO_GPU_WORK, *EXPERIMENTS]


@dataclass(frozen=True)
class Rates:
    """Measured rates on one card (frames per second) and peak memories (GiB)."""
    device: str
    train_fps: float  # the engine: STRN, T = 2, the profile's micro-batch and workers
    eval_fps: float  # the engine's evaluation, same run
    step_fps: dict[tuple[str, int, str], float]  # (kind "strn"/"plain", T, "train"/"inference") -> bare step rate
    step_peak_gib: dict[tuple[str, int, str], float]
    micro_batch: int
    workers: int

    def scale(self, kind: str, T: int, mode: str) -> float:
        """Rate of (kind, T) relative to STRN at T = 2, from the bare step measurements."""
        ref = self.step_fps[("strn", 2, mode)]
        return self.step_fps[(kind, self._nearest_T(kind, T, mode), mode)] / ref

    def peak_gib(self, kind: str, T: int) -> float:
        return self.step_peak_gib[(kind, self._nearest_T(kind, T, "train"), "train")]

    def _nearest_T(self, kind: str, T: int, mode: str) -> int:
        measured = sorted(t for k, t, m in self.step_fps if k == kind and m == mode)
        if not measured:
            raise KeyError(f"no {mode} step of {kind!r} in the GPU benchmark")
        return min(measured, key=lambda t: (abs(t - T), -t))  # a tie goes to the larger, costlier T


def engine_rows(gpu: dict[str, Any], engine_json: str | Path | None = None) -> list[dict[str, Any]]:
    """The engine rows measured with every input shape seen before (``shapes_warm``): those of
    the GPU run ``gpu`` (bench_gpu.py's JSON) where it has any (bench_gpu.py warms up so since
    2026-11-26), else those of ``engine_json`` (the separate warm run the first GPU run needed)."""
    own = [r for r in gpu.get("engine", []) if r.get("shapes_warm")]
    if own or engine_json is None or not Path(engine_json).exists():
        return own
    return [r for r in json.loads(Path(engine_json).read_text())["rows"] if r.get("shapes_warm")]


def load_rates(gpu_json: str | Path, engine_json: str | Path | None = None, *, micro_batch: int = 64,
               workers: int = 8) -> Rates:
    """Rates from the committed GPU benchmark files; the engine row of ``micro_batch`` and
    ``workers`` (the full profile's) whose shapes were warm (`engine_rows`)."""
    gpu = json.loads(Path(gpu_json).read_text())
    rows = [r for r in engine_rows(gpu, engine_json) if r["micro_batch"] == micro_batch and r["workers"] == workers]
    if not rows:
        raise ValueError(f"no warm engine row with micro-batch {micro_batch} and {workers} workers in {gpu_json}"
                         f"{f' or {engine_json}' if engine_json else ''}; run benchmarks/bench_gpu.py on a GPU")
    e = rows[-1]
    step_fps: dict[tuple[str, int, str], float] = {}
    step_peak: dict[tuple[str, int, str], float] = {}
    for r in gpu["model"]:
        if r["batch"] != micro_batch:
            continue
        for kind in ("strn", "plain"):
            step_fps[(kind, r["T"], r["mode"])] = r[f"{kind}_frames_per_s"]
            step_peak[(kind, r["T"], r["mode"])] = r[f"{kind}_peak_gib"]
    return Rates(device=gpu["env"]["device_name"], train_fps=e["train_frames_per_s"], eval_fps=e["eval_frames_per_s"],
                 step_fps=step_fps, step_peak_gib=step_peak,
                 micro_batch=micro_batch, workers=workers)


def frames(cfg: RunConfig) -> tuple[int, int]:
    """(training, test) sampled frames of one epoch of ``cfg`` on UCF-101 (split 1's sizes)."""
    return round(TRAIN_FRAMES_R10 * 10 / cfg.data.rate), round(TEST_FRAMES_R10 * 10 / cfg.data.rate)


def run_seconds(cfg: RunConfig, rates: Rates) -> float:
    """Training and evaluation seconds of one STRN / frame-average run."""
    kind = "plain" if cfg.model.kind == "frame_avg" else "strn"
    T = cfg.data.seq_len
    train_f, test_f = frames(cfg)
    evals = (cfg.train.epochs - 1 if cfg.train.eval_each_epoch else 0) + 1
    return (cfg.train.epochs * train_f / (rates.train_fps * rates.scale(kind, T, "train"))
            + evals * test_f / (rates.eval_fps * rates.scale(kind, T, "inference")))


def baselines_seconds(seeds: Iterable[int], rates: Rates) -> float:
    """Tables 5.1/5.2 at full: one feature pass of the ImageNet backbone over every train and
    test frame, and per seed one epoch of frame finetuning plus a feature pass of the
    finetuned backbone (`strn.study.frame_baselines`). The feature classifiers are not counted."""
    train_f, test_f = frames(make_config("full"))
    # Features of single frames: the plain network's inference rate, relative to the engine's evaluation.
    feature_pass = (train_f + test_f) / (rates.eval_fps * rates.scale("plain", 2, "inference"))
    finetune = get_profile("full").finetune.epochs * train_f / (rates.train_fps * rates.scale("plain", 2, "train"))
    return feature_pass + sum(finetune + feature_pass for _ in seeds)


def _full_config(exp, row, seed: int) -> RunConfig:
    """The row's ``full`` configuration; an equal-steps row gets the epochs that match its
    reference row's optimiser steps on split 1 (as ``experiments.equal_steps_config`` does
    on the real training set, which needs the data; here its size is the known split-1 one)."""
    cfg = row_config(exp, row, "full", seed)
    if not row.equal_steps_to:
        return cfg
    ref = row_config(exp, next(r for r in exp.rows if r.name == row.equal_steps_to), "full", seed)
    n = TRAIN_FRAMES_R10 * 10 // cfg.data.rate // cfg.data.seq_len  # training sequences of split 1
    target = ref.train.epochs * steps_per_epoch(n, ref.train.update_every, ref.train.batch_size)
    epochs = math.ceil(target / steps_per_epoch(n, cfg.train.update_every, cfg.train.batch_size))
    return row_config(exp, row, "full", seed, derived={"train": {"epochs": epochs}})


def notebook_estimates(rates: Rates, seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """One row per notebook of the master: new configurations, expected GPU hours and peak GiB."""
    seeds = DEFAULT_SEEDS["full"] if seeds is None else seeds
    done: set[str] = set()
    out = []
    for key in notebooks():
        if key in NO_GPU_WORK:
            out.append({"notebook": key, "runs": 0, "hours": 0.0, "peak_gib": None, "note": NO_GPU_WORK[key]})
            continue
        exp = get_experiment(key)
        if exp.runner is not None:  # its own runner: the frame baselines' feature passes and finetuning
            out.append({"notebook": key, "runs": len(seeds), "hours": baselines_seconds(seeds, rates) / 3600,
                        "peak_gib": rates.peak_gib("plain", 2), "note": exp.cost_note})
            continue
        seconds, runs, peak, shared = 0.0, 0, 0.0, 0
        for row in exp.rows:
            for seed in seeds:
                cfg = _full_config(exp, row, seed)
                h = config_hash(cfg)
                if h in done:
                    shared += 1
                    continue
                done.add(h)
                runs += 1
                seconds += run_seconds(cfg, rates)
                peak = max(peak, rates.peak_gib("plain" if cfg.model.kind == "frame_avg" else "strn",
                                                cfg.data.seq_len))
        shared_note = f"{shared} configuration(s) already trained by an earlier notebook" if shared else ""
        out.append({"notebook": key, "runs": runs, "hours": seconds / 3600, "peak_gib": peak or None,
                    "note": "; ".join(n for n in (exp.cost_note, shared_note) if n)})
    return out


def markdown(rates: Rates, rows: list[dict[str, Any]]) -> str:
    total = sum(r["hours"] for r in rows)
    lines = ["| notebook | new training runs | expected GPU hours | peak GPU memory | note |", "|---|---|---|---|---|"]
    for r in rows:
        mem = f"{r['peak_gib']:.1f} GiB" if r["peak_gib"] else "–"
        lines.append(f"| {r['notebook']} | {r['runs']} | {r['hours']:.2f} | {mem} | {r['note']} |")
    lines += ["", f"Total: about {total:.1f} GPU hours on one {rates.device} (seeds {DEFAULT_SEEDS['full']}), "
              f"projected from the engine's measured {rates.train_fps:,.0f} training and {rates.eval_fps:,.0f} "
              f"evaluation frames/s (micro-batch {rates.micro_batch}, {rates.workers} loader workers).",
              "", f"Disk for the frame cache: {cache_gb(10):.0f} GB at every 10th frame, {cache_gb(2):.0f} GB at every 2nd "
              "(05.5), since the cache keeps each sampled frame decoded."]
    return "\n".join(lines)


def cache_gb(rate: int) -> float:
    """Decoded frames of split 1 (train + test) at ``rate``, as the frame cache stores them (uint8 RGB)."""
    cfg = make_config("full", {"data": {"rate": rate}})
    return sum(frames(cfg)) * cfg.data.size ** 2 * 3 / 1e9

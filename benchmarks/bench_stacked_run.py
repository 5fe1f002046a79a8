"""The seeds of one demo configuration trained as 3 single-seed runs and as one stacked job
(strn/train/stacked_run.py), side by side in one script run, one thread, interleaved by rounds
(separate first in even rounds, stacked first in odd ones, so drift in the machine's load
falls on both).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_stacked_run.py [--epochs 2] [--rounds 1] \
        [--data-dir data] [--config conv-98-104]

Prints each way's wall seconds (the whole `run` / `run_stacked` call: model build, training,
per-epoch test evaluation, records; data and pretrained weights are prepared before timing),
their ratio, and each seed's final test video error both ways. The errors differ by float
rounding amplified over training (grouped kernels sum in another order), not by design: each
seed keeps its initialisation, shuffle, crops and optimiser state (tests/test_stacked_run.py
shows the records equal to 1e-6 in float64).

Why: the demo trains 17 configurations x 3 seeds of a narrow net whose optimiser step is mostly
fixed per-kernel overhead; stacked, one kernel serves all three seeds.
"""
import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from strn.study.parallel import experiment_configs
from strn.data.prepare import prepare
from strn.train.run import resolve_weights, run
from strn.train.stacked_run import run_stacked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--config", default="conv-98-104")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfgs = [c for c, _, _ in experiment_configs("demo", seeds=args.seeds, device="cpu", data_dir=args.data_dir)
            if c.name == args.config and c.experiment == "05_4_recurrent_connection"]
    if len(cfgs) != len(args.seeds):
        raise SystemExit(f"configuration {args.config!r} of 05_4_recurrent_connection not found in the demo")
    cfgs = [dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=args.epochs)) for c in cfgs]
    prepare(cfgs[0], args.data_dir, progress=False)  # frames decoded and weights pretrained before timing
    resolve_weights(cfgs[0], args.data_dir)
    times: dict[str, list[float]] = {"separate": [], "stacked": []}
    errors: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def separate() -> list[float]:
            return [run(c, results_dir=Path(tmp) / "separate", data_dir=args.data_dir, force=True,
                        progress=False)["metrics"]["error_rate"] for c in cfgs]

        def stacked() -> list[float]:
            recs = run_stacked(cfgs, results_dir=Path(tmp) / "stacked", data_dir=args.data_dir, force=True,
                               progress=False)
            return [r["metrics"]["error_rate"] for r in recs]

        for r in range(args.rounds):
            order = [("separate", separate), ("stacked", stacked)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                errors[name] = fn()
                times[name].append(time.perf_counter() - t0)
                print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    sep, stk = min(times["separate"]), min(times["stacked"])
    print(f"demo {cfgs[0].experiment}/{args.config}, seeds {args.seeds}, {args.epochs} epochs, 1 thread "
          f"(best of {args.rounds} round(s)): separate {sep:.1f} s, stacked {stk:.1f} s, "
          f"separate / stacked = {sep / stk:.2f}x")
    for s, a, b in zip(args.seeds, errors["separate"], errors["stacked"]):
        print(f"seed {s}: final test video error separate {a:.3f}, stacked {b:.3f}")


if __name__ == "__main__":
    main()

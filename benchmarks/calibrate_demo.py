"""Calibrate the demo profile: video error against epochs for the three rows that decide it.

Trains the frame-average baseline, the thesis's identity STRN at 98-104 (T = 2, r = 10,
Adam updating every 1%) and a conv STRN at 98-104 for ``--epochs`` epochs with the demo
profile (plus ``--variant`` overrides), evaluating on the test videos after every epoch,
and appends the per-epoch history of each run to a JSON file (default
``results/calibration/demo.json``). Nothing is written into results/demo: runs and data go
under ``--work`` (default /tmp/strn-calibration).

    PYTHONPATH=. python benchmarks/calibrate_demo.py --variant before --epochs 12
    PYTHONPATH=. python benchmarks/calibrate_demo.py --variant after --epochs 12

A variant names a synthetic-set spec and config overrides (``variants()`` below), or is a new
label built from ``--base`` with ``--set`` (configuration), ``--spec`` (synthetic set) and
``--pretrain`` (stand-in pretraining) fields. Each set is generated under
``<work>/data-<spec digest>/`` (variants of one set share it and its frame cache; results go
under ``<work>/<variant>/``). Times are the
process's CPU seconds (``resource.getrusage``) as well as wall seconds, so that they mean
something on a shared machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROWS = {
    "frame-average": {"model": {"kind": "frame_avg"}},
    "identity-98-104": {"model": {"connection": "identity", "positions": ["98-104"]}},
    "conv-98-104": {"model": {"connection": "conv", "positions": ["98-104"]}},
    # the other rows of Table 5.4 (not run by default)
    "conv-5-11": {"model": {"connection": "conv", "positions": ["5-11"]}},
    "conv-49-55": {"model": {"connection": "conv", "positions": ["49-55"]}},
    "conv-86-92": {"model": {"connection": "conv", "positions": ["86-92"]}},
    "conv_relu-98-104": {"model": {"connection": "conv_relu", "positions": ["98-104"]}},
}
DEFAULT_ROWS = ("frame-average", "identity-98-104", "conv-98-104")


def variants():
    from strn import synth

    before = synth.SynthSpec(motions=("MoveLeft", "MoveRight", "FadeIn", "FadeOut"), max_frames=100,
                             speed=(0.012, 0.024))
    return {
        # The demo as committed before issue 15 (synthetic generator v2, 9 groups of 2-4 clips).
        "before": (before, {}),
        # The same number of videos spread over three times as many scenes.
        "groups27": (dataclasses.replace(before, n_groups=27, clips_per_group=(1, 1)), {}),
        # The profile's current preset (whatever strn/synth.py and strn/config.py say now).
        "after": (synth.spec_for_profile("demo"), {}),
    }


def _json_value(text: str):
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return tuple(v) if isinstance(v, list) else v


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", required=True, help="a name of VARIANTS, or a new label for --base with --set/--spec")
    ap.add_argument("--base", default="after", help="the variant whose set and overrides a new label starts from")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="configuration override of this variant, e.g. train.lr_schedule=cosine (repeatable)")
    ap.add_argument("--spec", action="append", default=[], metavar="FIELD=VALUE",
                    help="synthetic-set field of this variant, e.g. n_groups=36 (repeatable; JSON values)")
    ap.add_argument("--pretrain", action="append", default=[], metavar="FIELD=VALUE",
                    help="stand-in pretraining field of this variant, e.g. epochs=4 (repeatable; JSON values)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--work", default="/tmp/strn-calibration")
    ap.add_argument("--out", default=str(REPO / "results" / "calibration" / "demo.json"))
    args = ap.parse_args()
    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        ap.error(f"--rows: unknown row(s) {', '.join(unknown)}; allowed: {', '.join(ROWS)}")

    import torch

    from strn import synth
    from strn.config import make_config
    from strn.convergence import record_convergence
    from strn.reference import reference_levels
    from strn.run import run

    if args.threads:
        torch.set_num_threads(args.threads)
    from strn import pretrain
    from strn.cli import parse_sets
    from strn.rows import deep_merge

    known = variants()
    spec, extra = known[args.variant] if args.variant in known else known[args.base]
    spec = dataclasses.replace(spec, **{k: _json_value(v) for k, v in (f.split("=", 1) for f in args.spec)})
    extra = deep_merge(extra, parse_sets(args.set))
    if args.pretrain:  # this process only: the variant's stand-in pretraining
        fields = {k: _json_value(v) for k, v in (f.split("=", 1) for f in args.pretrain)}
        base_spec = pretrain.pretrain_spec
        pretrain.pretrain_spec = lambda *a, **kw: dataclasses.replace(base_spec(*a, **kw), **fields)
    synth.PROFILES["demo"] = spec  # this process only: the variant's set is the demo's set
    work = Path(args.work) / args.variant
    data_dir = Path(args.work) / f"data-{spec.digest()}"  # shared by the variants of one set (and pretraining)
    os.environ["STRN_DATA_DIR"] = str(data_dir)
    out = Path(args.out)
    for name in args.rows.split(","):
        overrides = deep_merge(deep_merge(extra, ROWS[name]),
                                {"train": {"epochs": args.epochs, "seed": args.seed, "eval_each_epoch": True}})
        cfg = make_config("demo", overrides, experiment=f"calibration-{args.variant}", name=name)
        c0, w0 = cpu_seconds(), time.perf_counter()
        rec = run(cfg, results_dir=work / "results", data_dir=data_dir, progress=False)
        entry = {"variant": args.variant, "generator_version": synth.GENERATOR_VERSION, "base": args.base, "set": args.set, "spec_set": args.spec,
                 "pretrain_set": args.pretrain, "row": name, "seed": args.seed, "epochs": args.epochs,
                 "spec": dataclasses.asdict(spec), "config": rec["config"],
                 "history": rec["metrics"]["history"], "error_rate": rec["metrics"]["error_rate"],
                 "convergence": record_convergence(rec),
                 "reference": reference_levels(spec),
                 "train_s": rec["cost"]["train_s"], "wall_s": time.perf_counter() - w0,
                 "cpu_s": cpu_seconds() - c0, "threads": torch.get_num_threads(),
                 "n_train_sequences": rec["dataset"]["n_train_sequences"],
                 "n_test_videos": rec["dataset"]["n_test_videos"]}
        h = entry["history"]
        print(f"{args.variant:10s} {name:16s} " + " ".join(f"{r.get('test_error', float('nan')):.2f}" for r in h),
              f"| loss {h[0]['train_loss']:.2f}->{h[-1]['train_loss']:.2f} train {entry['train_s']:.0f}s "
              f"cpu {entry['cpu_s']:.0f}s converged={entry['convergence']['converged']}", flush=True)
        data = json.loads(out.read_text()) if out.exists() else {"runs": []}
        data["runs"] = [r for r in data["runs"] if (r["variant"], r["row"], r["seed"], r["epochs"])
                        != (args.variant, name, args.seed, args.epochs)] + [entry]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()

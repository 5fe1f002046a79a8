"""Calibrate the demo's data design on validation: a thin caller of `strn.calibrate`.

`strn calibrate recipes` chooses among configuration recipes (each profile's `calibration`, strn/profiles.py).
A data design (the synthetic set's spec, the stand-in pretraining) is not a configuration
field, so this script makes one a candidate: it swaps the demo's set and pretraining for this
process only (as the earlier test-error calibration did), then calls `strn.calibrate.calibrate`
with the variant as an extra candidate. Every number it records is a validation error on
held-out training groups of the variant's own set (strn/calibrate.py: the rule, the share, and
why the test split is never read); results go into the same file as `strn calibrate recipes`
(default results/calibration/validation.json), each entry with its set's spec.

    PYTHONPATH=. python benchmarks/calibrate_demo.py --variant groups72 --spec n_groups=72
    PYTHONPATH=. python benchmarks/calibrate_demo.py --variant after-e24 --set train.epochs=24

A variant is one of ``variants()`` below or a new label built from ``--base`` with ``--set``
(configuration), ``--spec`` (synthetic set) and ``--pretrain`` (stand-in pretraining) fields;
each set is generated under ``<work>/data-<spec digest>/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def variants():
    from strn import synth

    before = synth.SynthSpec(motions=("MoveLeft", "MoveRight", "FadeIn", "FadeOut"), max_frames=100,
                             speed=(0.012, 0.024))
    return {
        # The demo as committed before issue 15 (synthetic generator v2, 9 groups of 2-4 clips).
        "before": (before, {}),
        # The same number of videos spread over three times as many scenes.
        "groups27": (dataclasses.replace(before, n_groups=27, clips_per_group=(1, 1)), {}),
        # The profile's current preset (whatever strn/profiles.py says now).
        "after": (synth.spec_for_profile("demo"), {}),
    }


def _json_value(text: str):
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return tuple(v) if isinstance(v, list) else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", required=True, help="a name of variants(), or a new label for --base with --set/--spec")
    ap.add_argument("--base", default="after", help="the variant whose set and overrides a new label starts from")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="configuration override of this variant, e.g. train.epochs=24 (repeatable)")
    ap.add_argument("--spec", action="append", default=[], metavar="FIELD=VALUE",
                    help="synthetic-set field of this variant, e.g. n_groups=72 (repeatable; JSON values)")
    ap.add_argument("--pretrain", action="append", default=[], metavar="FIELD=VALUE",
                    help="stand-in pretraining field of this variant, e.g. epochs=4 (repeatable; JSON values)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", default="/tmp/strn-calibration")
    ap.add_argument("--out", default=None, help="default: results/calibration/validation.json")
    args = ap.parse_args()

    from strn import pretrain, synth
    from strn.calibrate import calibrate
    from strn.cli import parse_sets
    from strn.rows import deep_merge

    known = variants()
    spec, extra = known[args.variant] if args.variant in known else known[args.base]
    spec = dataclasses.replace(spec, **{k: _json_value(v) for k, v in (f.split("=", 1) for f in args.spec)})
    overrides = deep_merge(extra, parse_sets(args.set))
    fields = {k: _json_value(v) for k, v in (f.split("=", 1) for f in args.pretrain)}
    if fields:  # this process only: the variant's stand-in pretraining
        base_spec = pretrain.pretrain_spec
        pretrain.pretrain_spec = lambda *a, **kw: dataclasses.replace(base_spec(*a, **kw), **fields)
    synth.PROFILES["demo"] = spec  # this process only: the variant's set is the demo's set
    data_dir = Path(args.work) / f"data-{spec.digest()}"  # shared by the variants of one set (and pretraining)
    d = calibrate("demo", names=[args.variant], seeds=[int(s) for s in args.seeds.split(",")],
                  work=Path(args.work) / args.variant, out=args.out, data_dir=data_dir, extra={args.variant: overrides},
                  info={"spec": dataclasses.asdict(spec), "pretrain_set": args.pretrain,
                        "generator_version": synth.GENERATOR_VERSION})
    c = d["candidates"][args.variant]
    print(f"{args.variant}: score {c['score']:.3f} on validation; chosen so far: {d['chosen']} ({d['why']})")


if __name__ == "__main__":
    main()

"""Calibrating the demo's data design on validation (`strn calibrate design`).

`strn calibrate recipes` chooses among configuration recipes (each profile's `calibration`,
strn/profiles.py). A data design (the synthetic set's spec, the stand-in pretraining) is not a
configuration field, so `calibrate_design` makes one a candidate: it swaps the demo's set and
pretraining while it runs (`this_design`; restored afterwards), then calls
`strn.study.calibrate.calibrate` with the variant as an extra candidate. Every number it records
is a validation error on held-out training groups of the variant's own set
(strn/study/calibrate.py: the rule, the share, and why the test split is never read); results
go into the same file as `strn calibrate recipes` (default results/calibration/validation.json),
each entry with its set's spec.

    strn calibrate design --candidate groups72 --spec n_groups=72
    strn calibrate design --candidate after-e24 --set train.epochs=24

A variant is one of `variants()` or a new label built from ``base`` with configuration
overrides, synthetic-set fields and stand-in pretraining fields; each set is generated under
``<work>/data-<spec digest>/``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..data import synth
from ..train import pretrain
from .calibrate import calibrate
from .rows import deep_merge


def variants() -> dict[str, tuple[synth.SynthSpec, dict[str, Any]]]:
    """The named data designs: each a synthetic-set spec and configuration overrides."""
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


def json_fields(items: Sequence[str]) -> dict[str, Any]:
    """``["n_groups=72", "speed=[0.01,0.02]"]`` -> fields (JSON values, lists as tuples; else strings)."""
    out = {}
    for item in items:
        key, _, text = item.partition("=")
        try:
            v = json.loads(text)
        except ValueError:
            v = text
        out[key] = tuple(v) if isinstance(v, list) else v
    return out


@contextlib.contextmanager
def this_design(spec: synth.SynthSpec, pretrain_fields: Mapping[str, Any]) -> Iterator[None]:
    """The demo's synthetic set is ``spec`` and its stand-in pretraining has ``pretrain_fields``
    while this is open (this process only), as they were afterwards."""
    base_spec, base_set = pretrain.pretrain_spec, synth.PROFILES["demo"]
    if pretrain_fields:
        pretrain.pretrain_spec = lambda *a, **kw: dataclasses.replace(base_spec(*a, **kw), **pretrain_fields)
    synth.PROFILES["demo"] = spec
    try:
        yield
    finally:
        pretrain.pretrain_spec, synth.PROFILES["demo"] = base_spec, base_set


def calibrate_design(variant: str, *, base: str = "after", overrides: Mapping[str, Any] | None = None,
                     spec_fields: Sequence[str] = (), pretrain_fields: Sequence[str] = (),
                     seeds: Sequence[int] = (0, 1, 2), work: str | Path = "/tmp/strn-calibration",
                     out: str | Path | None = None) -> dict[str, Any]:
    """Calibrate the data design ``variant`` (a name of `variants`, or a new label built from
    ``base`` with ``overrides``, ``spec_fields`` and ``pretrain_fields``, each ``FIELD=VALUE``)
    on the demo's calibration rows; returns the calibration file's data with every candidate."""
    known = variants()
    spec, extra = known[variant] if variant in known else known[base]
    spec = dataclasses.replace(spec, **json_fields(spec_fields))
    data_dir = Path(work) / f"data-{spec.digest()}"  # shared by the variants of one set (and pretraining)
    with this_design(spec, json_fields(pretrain_fields)):
        return calibrate("demo", names=[variant], seeds=seeds, work=Path(work) / variant, out=out, data_dir=data_dir,
                         extra={variant: deep_merge(extra, dict(overrides or {}))},
                         info={"spec": dataclasses.asdict(spec), "pretrain_set": list(pretrain_fields),
                               "generator_version": synth.GENERATOR_VERSION})

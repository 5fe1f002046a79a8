"""What a table row is: `Row`, `Experiment`, and the configuration of a (row, profile, seed).

Kept apart from the table itself (`strn.experiments`) so that a runner named in the table
(`strn.frame_baselines.run_baselines`) can build its rows' configurations without
importing the table that names it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .config import RunConfig, config_hash, make_config


@dataclass(frozen=True)
class Row:
    name: str  # file-safe label, unique in its experiment
    columns: Mapping[str, str]  # what the table shows to identify the row, e.g. {"Algorithm": "ADAM"}
    overrides: Mapping[str, Any]  # nested config overrides on top of the profile
    thesis: float | None  # the thesis's error rate for this configuration
    thesis_extra: Mapping[str, Any] = field(default_factory=dict)  # other thesis columns, e.g. training hours
    # A row the thesis has no number for but a claim compares with another thesis number:
    # that number, and where it comes from and why (shown in the table as "thesis reference").
    reference: float | None = None
    reference_note: str = ""
    # Train as many epochs as give the optimiser steps of this other row (same experiment):
    # "ADAM 10% at equal optimiser steps" takes ~10x the epochs of ADAM 1%, so ~10x its cost.
    equal_steps_to: str | None = None
    # What a runner needs beyond the configuration (the frame baselines: tap, method, z-norm, finetuned).
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    key: str  # notebook stem, e.g. "05_3_learning_algorithms"
    table: str  # thesis table, e.g. "5.3"
    title: str
    rows: tuple[Row, ...]
    notes: str = ""
    profile_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per-profile tweaks
    # Runs the experiment instead of one STRN training per row and seed (the baselines of
    # Tables 5.1/5.2 train on frozen features): runner(exp, profile, *, seeds, device,
    # results_dir, data_dir, force, overrides, progress) -> records in row x seed order.
    runner: Callable[..., list[dict[str, Any]]] | None = None


def feature_row_name(tap: str, method: str, znorm: bool, finetuned: bool) -> str:
    """Row name of a frame-feature baseline (Tables 5.1/5.2), e.g. ``block3-finetuned-avg-raw``."""
    return f"{tap}{'-finetuned' if finetuned else ''}-{method}-{'znorm' if znorm else 'raw'}"


def deep_merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def row_config(exp: Experiment, row: Row, profile: str, seed: int, device: str = "auto",
               extra: Mapping[str, Any] | None = None, derived: Mapping[str, Any] | None = None) -> RunConfig:
    """The row's configuration. ``derived``: settings computed for the row itself (the
    equal-steps row's epochs), part of its canonical file; ``extra``: a user's ``--set``
    variant, filed under its own name."""
    overrides = deep_merge(exp.profile_overrides.get(profile, {}), row.overrides)
    overrides = deep_merge(overrides, {"train": {"seed": seed, "device": device}})
    overrides = deep_merge(overrides, derived or {})
    cfg = make_config(profile, deep_merge(overrides, extra or {}), experiment=exp.key, name=row.name)
    if extra:
        return _variant_name(cfg, make_config(profile, overrides, experiment=exp.key, name=row.name))
    return cfg


def _variant_name(cfg: RunConfig, canonical: RunConfig) -> RunConfig:
    """A ``--set`` variant that changes the numbers is filed as ``<row>__<hash8>``, so it never
    overwrites the row's canonical ``<row>__seed<k>.json`` (a sweep keeps every variant)."""
    h = config_hash(cfg)
    if h != config_hash(canonical):
        cfg.name = f"{cfg.name}__{h[:8]}"
    return cfg

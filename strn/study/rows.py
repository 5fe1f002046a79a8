"""What an experiment is: its `Row`s, its `Claim`s, its `Figure`s, gathered in one
`Experiment`; and the configuration of a (row, profile, seed).

Kept apart from the declarations themselves (`strn.study.tables`) so that a runner named in one
(`strn.study.frame_baselines.run_baselines`) can build its rows' configurations without
importing the declaration that names it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..config import RunConfig, config_from_dict, config_hash, make_config
from ..profiles import PROFILES


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
    # Seeds this row trains on a profile, where its comparisons need more than the profile's
    # default (profile name -> how many; `row_seeds`): e.g. {"demo": 6} for the thesis model.
    seeds: Mapping[str, int] = field(default_factory=dict)

    @property
    def compared(self) -> float | None:
        """The thesis's number, or where it has none, the reference a claim compares the row with."""
        return self.thesis if self.thesis is not None else self.reference


@dataclass(frozen=True)
class Claim:
    """A claim about an experiment's own rows: ``judge(records) -> (verdict, text)``, written with
    the comparisons of `strn.study.comparisons` (`errors(records, row)`, `beats`, `all_of`, ...);
    `strn.study.claims.judge` evaluates it, with its robustness columns."""
    id: int  # the claim's number in the study (docs/STUDY.md section 4)
    text: str  # what the thesis says, with its UCF-101 numbers
    judge: Callable[[Sequence[dict[str, Any]]], tuple[str, str]]


# What a `Figure` can be, by how it is drawn (`strn.report.plots.draw`): from the experiment's table and
# records ("error_bars", "training_curves", "error_and_cost", "confusion"), from the order test's
# table ("order_test"), or per seed from two rows, by the report ("seed_pairs": the central figure).
TABLE_FIGURES = ("error_bars", "training_curves", "error_and_cost", "confusion")
MAIN_FIGURE = "error_bars"  # the name of the figure saved as the experiment's key alone


@dataclass(frozen=True)
class Figure:
    """A figure of an experiment: what is drawn, its title, and the report's caption."""
    name: str  # saved as ``<key>_<name>`` (``<key>`` alone for MAIN_FIGURE)
    kind: str  # one of TABLE_FIGURES, "order_test" or "seed_pairs"
    title: str
    caption: str = ""  # the report's caption; error bars and training curves get one from the table
    columns: tuple[str, ...] = ()  # error bars: the columns naming a row (default: all); error_and_cost: the x column
    apart: tuple[str, tuple[str, ...]] | None = None  # error_and_cost: (column, values) drawn apart from the series
    rows: tuple[str, ...] = ()  # confusion: the best run among these rows; seed_pairs: (from, to)
    ticks: tuple[str, ...] = ()  # seed_pairs: the two rows' tick labels
    note: str = ""  # error_and_cost: what to read the training time against

    def stem(self, key: str) -> str:
        return key if self.name == MAIN_FIGURE else f"{key}_{self.name}"


def table_figures(title: str, columns: Sequence[str] = ()) -> tuple[Figure, Figure]:
    """The two figures every experiment shows: its error bars, thesis beside reproduced (``title``;
    ``columns``: those naming a row), and its training curves."""
    return (Figure(MAIN_FIGURE, "error_bars", title, columns=tuple(columns)),
            Figure("training_curves", "training_curves",
                   f"{title.split(':')[0]}: loss and test error during training (first seed of each configuration)"))


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
    # The rows the experiment's claims compare (strn/study/claims.py), declared here as data: each is
    # trained once more, one seed, with 1.5x the epochs (`control_config`) where the profile's
    # ``controls`` is on. Never shown as table rows (`strn.results.table_records`).
    control_rows: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()  # comparisons between its own rows (a claim reading another row is an error)
    figures: tuple[Figure, ...] = ()  # what its notebook draws (`strn.report.notebook.Context.figures`), in order
    cost_note: str = ""  # beside its projected GPU hours (`strn.study.cost`)

    def __post_init__(self) -> None:
        names = {r.name for r in self.rows}
        unknown = sorted(set(self.control_rows) - names)
        if unknown:
            raise ValueError(f"experiment {self.key}: control_rows {unknown} are not rows of it (strn/study/tables.py)")
        unknown = sorted({n for f in self.figures for n in f.rows} - names)
        if unknown:
            raise ValueError(f"experiment {self.key}: figure rows {unknown} are not rows of it (strn/study/tables.py)")

    def figure(self, name: str) -> Figure:
        try:
            return next(f for f in self.figures if f.name == name)
        except StopIteration:
            raise KeyError(f"experiment {self.key} declares no figure {name!r}; "
                           f"it has {', '.join(f.name for f in self.figures)}") from None

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)


# The schedule-length control: the same recipe with this many times the epochs (rounded up).
SCHEDULE_LENGTH = "schedule-length"
CONTROL_EPOCHS_FACTOR = 1.5


def control_config(cfg: RunConfig) -> RunConfig:
    """The schedule-length control of a row's configuration: 1.5x its epochs (rounded up), the
    same recipe otherwise (a cosine schedule anneals over the longer run), marked ``control``
    so that its file and hash differ from every table row's."""
    d = cfg.to_dict()
    d["train"]["epochs"] = math.ceil(cfg.train.epochs * CONTROL_EPOCHS_FACTOR)
    d["control"] = SCHEDULE_LENGTH
    return config_from_dict(d)


def row_seeds(row: Row, profile: str, seeds: Sequence[int] | None = None) -> list[int]:
    """The seeds ``row`` trains: ``seeds`` when the caller names them; else the profile's default,
    extended by the next integers to ``row.seeds[profile]`` where the row declares more."""
    if seeds is not None:
        return list(seeds)
    base = list(PROFILES[profile].seeds)
    want = row.seeds.get(profile, len(base))
    return base + list(range(max(base) + 1, max(base) + 1 + want - len(base))) if want > len(base) else base


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

"""Running and tabulating the experiments declared in `strn.study.tables` (:data:`EXPERIMENTS`).

A notebook calls :func:`run_experiment` with a profile; it trains every row for every
seed (or reads the stored results back) and :func:`summary_table` puts the reproduced
numbers (mean ± std over seeds) beside the thesis's.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from tqdm.auto import tqdm

from ..train.engine import epoch_plan, step_size
from ..profiles import PROFILES
from ..progress import progress_enabled
from ..results import mean_std, table_records
from .rows import Experiment, Row, control_config, row_config, row_seeds
from ..data.prepare import prepare
from ..train.run import run
from .tables import EXPERIMENTS

# The default seeds of each profile (strn/profiles.py); a row may declare more (`Row.seeds`).
DEFAULT_SEEDS = {name: list(p.seeds) for name, p in PROFILES.items()}


def get_experiment(key: str) -> Experiment:
    try:
        return EXPERIMENTS[key]
    except KeyError:
        raise KeyError(f"experiment {key!r} is not known; known: {', '.join(sorted(EXPERIMENTS))}") from None


def steps_per_epoch(n_sequences: int, update_every: float, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``n_sequences`` (the training engine's own plan)."""
    return sum(mb.ends_step for mb in epoch_plan(n_sequences, step_size(n_sequences, update_every), batch_size, 0, 0))


def equal_steps_config(exp: Experiment, row: Row, profile: str, seed: int, device: str = "auto",
                       extra: Mapping[str, Any] | None = None, data_dir: str | Path | None = None):
    """``row``'s configuration with the epochs that give it as many optimiser steps as row
    ``row.equal_steps_to`` takes (rounded up), on this profile's training set."""
    ref = next(r for r in exp.rows if r.name == row.equal_steps_to)
    ref_cfg = row_config(exp, ref, profile, seed, device, extra)
    cfg = row_config(exp, row, profile, seed, device, extra)
    n = len(prepare(cfg, data_dir, progress=False).train)
    target = ref_cfg.train.epochs * steps_per_epoch(n, ref_cfg.train.update_every, ref_cfg.train.batch_size)
    epochs = math.ceil(target / steps_per_epoch(n, cfg.train.update_every, cfg.train.batch_size))
    return row_config(exp, row, profile, seed, device, extra, derived={"train": {"epochs": epochs}})


def run_config(exp: Experiment, row: Row, profile: str, seed: int, device: str = "auto",
               extra: Mapping[str, Any] | None = None, data_dir: str | Path | None = None):
    """The configuration a row trains with (`equal_steps_config` for an equal-steps row)."""
    return (equal_steps_config(exp, row, profile, seed, device, extra, data_dir) if row.equal_steps_to
            else row_config(exp, row, profile, seed, device, extra))


def experiment_runs(exp: Experiment, profile: str, *, seeds: list[int] | None = None, device: str = "auto",
                    data_dir: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                    rows: list[str] | None = None, controls: bool | None = None) -> list[tuple[Row, Any]]:
    """(row, configuration) of every run of an STRN experiment: each row for its seeds
    (`strn.study.rows.row_seeds`), then, where ``controls`` (default: the profile's), each control row's
    schedule-length control with the first seed (`strn.study.rows.control_config`)."""
    picked = [row for row in exp.rows if not rows or row.name in rows]
    out = [(row, run_config(exp, row, profile, s, device, overrides, data_dir))
           for row in picked for s in row_seeds(row, profile, seeds)]
    if PROFILES[profile].controls if controls is None else controls:
        first = (list(seeds) if seeds else DEFAULT_SEEDS[profile])[0]
        out += [(row, control_config(run_config(exp, row, profile, first, device, overrides, data_dir)))
                for row in picked if row.name in exp.control_rows]
    return out


def run_experiment(key: str, profile: str = "demo", *, seeds: list[int] | None = None, device: str = "auto",
                   results_dir: str | Path | None = None, data_dir: str | Path | None = None, force: bool = False,
                   overrides: Mapping[str, Any] | None = None, progress: bool | None = None,
                   rows: list[str] | None = None, controls: bool | None = None) -> list[dict[str, Any]]:
    """Every row of the experiment (or those named in ``rows``) for every seed, and the control
    runs of its control rows (``controls``; default: the profile's); stored results are read
    back unless ``force``. Tables take `strn.results.table_records` of what this returns."""
    exp = get_experiment(key)
    # Checked before any runner (05_2's own included), so an unknown name never trains every row.
    unknown = sorted(set(rows or []) - {r.name for r in exp.rows})
    if unknown:
        raise KeyError(f"{key} has no row(s) {', '.join(unknown)}; rows: {', '.join(r.name for r in exp.rows)}")
    if exp.runner:
        return exp.runner(
            exp, profile, seeds=list(DEFAULT_SEEDS[profile] if seeds is None else seeds), device=device,
            results_dir=results_dir, data_dir=data_dir, force=force, overrides=overrides, progress=progress)
    jobs = experiment_runs(exp, profile, seeds=seeds, device=device, data_dir=data_dir, overrides=overrides,
                           rows=rows, controls=controls)
    records = []
    for row, cfg in tqdm(jobs, desc=exp.key, unit="run", disable=not progress_enabled(progress)):
        records.append(run(cfg, results_dir=results_dir, data_dir=data_dir, force=force, table=exp.table,
                           thesis=row.thesis, progress=progress))
    return records


def best_record(records: list[dict[str, Any]], names: list[str] | None = None) -> dict[str, Any]:
    """The run with the lowest error (among rows ``names`` when given)."""
    pool = [r for r in table_records(records) if names is None or r.get("name") in names]
    if not pool:
        raise ValueError("no runs to choose the best from")
    return min(pool, key=lambda r: r["metrics"]["error_rate"])


def _connections_label(records: list[dict[str, Any]]) -> str | None:
    """What the runs of a row built ("layer4.2 identity, layer4.1 identity"; "none"), from
    ``model.connections_built``; None when no run records it (older results)."""
    labels = []
    for r in records:
        built = r.get("model", {}).get("connections_built")
        if built is None:
            continue
        lab = ", ".join(f"{c['block']} {c['kind']}" + (f" (delay {c['delay']})" if c.get("delay", 1) != 1 else "")
                        for c in built) or "none"
        if lab not in labels:
            labels.append(lab)
    return " | ".join(labels) or None


def summary_table(key: str, records: list[dict[str, Any]]):
    """One line per row: its columns, the thesis error beside the reproduced error (mean ± std
    over seeds; never subtracted: the thesis's numbers are UCF-101's, the reproduced ones may be
    another set's), each row's rank within the table by either, and the cost. Control runs
    (records with a ``control`` field) are left out. ``.attrs["rank_agreement"]``: `rank_agreement`."""
    exp = get_experiment(key)
    records = table_records(records)  # control runs are no table row
    lines = []
    for row in exp.rows:
        mine = [r for r in records if not r.get("control")
                and (r.get("name") == row.name or str(r.get("name")).startswith(row.name + "__"))]
        errs = [r["metrics"]["error_rate"] for r in mine]
        m, s = mean_std(errs)
        line = dict(row.columns)
        line.update({
            "thesis error": row.thesis,
            **row.thesis_extra,
            "error (mean)": m,
            "error (std)": s,
            "reproduced": f"{m:.3f} ± {s:.3f}" if mine else "not run",
            "thesis reference": (f"{row.reference:.3f} ({row.reference_note})" if row.reference is not None
                                 else None),
            "connections built": _connections_label(mine),
            "optimizer steps": mean_std(r["cost"]["optimizer_steps"] for r in mine)[0]
            if mine and all("optimizer_steps" in r.get("cost", {}) for r in mine) else None,
            "seeds": len(mine),
            "train s (mean)": mean_std(r["cost"]["train_s"] for r in mine)[0] if mine else None,
        })
        lines.append(line)
    table = pd.DataFrame(lines)
    ranked = table["thesis error"].notna() & (table["seeds"] > 0)
    # ranks among the rows that have both numbers (1: the lowest error); ties share the lower rank
    table["thesis rank"] = table["thesis error"].where(ranked).rank(method="min").astype("Int64")
    table["reproduced rank"] = table["error (mean)"].where(ranked).rank(method="min").astype("Int64")
    table.attrs["rank_agreement"] = rank_agreement(table)
    return table


def rank_agreement(table) -> dict[str, Any]:
    """Do the rows come out in the thesis's order? Kendall's tau (scipy, tau-b) between the
    thesis errors and the reproduced mean errors over the rows that have both: 1 the same
    order, -1 reversed, None with fewer than 3 such rows (or all tied)."""
    from scipy import stats  # local: only tables need it

    both = table[table["thesis error"].notna() & (table["seeds"] > 0)]
    n = len(both)
    tau = None
    if n >= 3:
        t = stats.kendalltau(both["thesis error"].astype(float), both["error (mean)"].astype(float)).statistic
        tau = None if t != t else float(t)
    text = (f"rank agreement with the thesis over {n} rows: Kendall's tau {tau:+.2f}" if tau is not None
            else f"rank agreement: not computed ({n} rows with both numbers)")
    return {"kendall_tau": tau, "rows": n, "text": text}

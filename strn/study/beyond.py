"""Notebook 06 (beyond the thesis): the cost of each row beside its error.

Parameters and multiply-accumulates of one prediction (one sequence of T frames at the run's
crop, batch 1) are counted by `strn.study.architecture` (Conv2d and Linear only, on the meta device:
nothing is computed) on the model each row's stored configuration builds, with the run's
number of classes. TSM's shift and STRN's identity connection add none of either; what differs
between rows is the frames each block must compute.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .architecture import count_macs, count_params
from ..config import config_from_dict
from .experiments import get_experiment, summary_table
from ..model.build import build_model, tsm_options


def model_cost(config: dict[str, Any], num_classes: int) -> dict[str, int]:
    """Parameters and MACs per prediction of the model a stored configuration builds."""
    cfg = config_from_dict(config)
    m, d = cfg.model, cfg.data
    with torch.device("meta"):
        model = build_model(m.kind, num_classes=num_classes, seq_len=d.seq_len, backbone=m.backbone, width=m.width,
                            connection=m.connection, positions=m.positions, special3=m.special3, **tsm_options(m))
    macs = count_macs(model, torch.zeros(1, d.seq_len, 3, d.crop, d.crop, device="meta"))
    return {"parameters": count_params(model), "MACs per prediction": macs}


def cost_table(key: str, records: Sequence[dict[str, Any]]):
    """The experiment's summary table (`strn.study.experiments.summary_table`) with each row's
    parameters and MACs per prediction (blank for a row without runs)."""
    table = summary_table(key, list(records))
    params, macs = [], []
    for row in get_experiment(key).rows:
        rec = next((r for r in records if r.get("name") == row.name), None)
        cost = model_cost(rec["config"], len(rec["dataset"]["classes"])) if rec else {}
        params.append(cost.get("parameters"))
        macs.append(cost.get("MACs per prediction"))
    at = list(table.columns).index("error (std)") + 1
    table.insert(at, "parameters", params)
    table.insert(at + 1, "MACs per prediction", macs)
    return table


__all__ = ["cost_table", "model_cost"]

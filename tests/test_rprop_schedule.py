"""RPROP runs without a learning-rate schedule, and its records say so (docs/STUDY.md section 3)."""
import dataclasses

import pytest
import torch

from strn.config import TrainConfig
from strn.train.engine import make_optimizer
from strn.study.experiments import get_experiment, row_config


def _steps(lrs):
    """Rprop's updates on a fixed gradient when the group's lr is set to each of ``lrs`` in turn."""
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Rprop([p], lr=0.01)
    out = []
    for lr in lrs:
        for g in opt.param_groups:
            g["lr"] = lr
        before = p.detach().clone()
        p.grad = torch.ones(3)
        opt.step()
        out.append((p.detach() - before).abs().max().item())
    return out


def test_rprop_reads_lr_only_for_its_first_step():
    # the same updates whether the rate is held or annealed to 0 after the first step
    assert _steps([0.01, 0.01, 0.01]) == pytest.approx(_steps([0.01, 0.001, 0.0]))


def test_rprop_with_a_schedule_is_refused_and_the_row_runs_without_one():
    params = [torch.nn.Parameter(torch.zeros(2))]
    cfg = dataclasses.replace(TrainConfig(), optimizer="rprop", lr_schedule="cosine")
    with pytest.raises(ValueError, match="lr_schedule=constant"):
        make_optimizer(params, cfg)
    exp = get_experiment("05_3_learning_algorithms")
    row = next(r for r in exp.rows if r.name == "rprop-10pct")
    for profile in ("smoke", "demo", "gpu"):
        c = row_config(exp, row, profile, 0, "cpu")
        assert c.train.optimizer == "rprop" and c.train.lr_schedule == "constant"
        make_optimizer(params, c.train)

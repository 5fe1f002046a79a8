"""Schedule-length control runs (strn.study.rows.control_config) and per-row seeds (strn.study.rows.row_seeds):
made, marked, stored apart, never a table row, never reused for one."""
import dataclasses
import json
import math

import pytest

from strn.train.provenance import expected, find_reusable

from strn import results as res
from strn.study import experiments, parallel
from strn.train import run as run_module
from strn.config import config_hash, make_config
from strn.study.experiments import EXPERIMENTS, best_record, experiment_runs, run_experiment, summary_table
from strn.profiles import PROFILES
from strn.study.rows import SCHEDULE_LENGTH, Experiment, Row, control_config, row_config, row_seeds


def test_every_strn_claim_declares_its_deciding_rows_as_control_rows():
    for exp in EXPERIMENTS.values():
        if exp.runner or not exp.claims:  # the frame-feature classifiers (claims 1-2) train in their own runner
            continue
        assert exp.control_rows, f"{exp.key} judges a claim but declares no control_rows"
    assert set(EXPERIMENTS["05_7_splits_and_sota"].control_rows) == {"split-1", "frame-average"}
    with pytest.raises(ValueError, match="control_rows"):
        Experiment("x", "0", "t", rows=(Row("a", {}, {}, None),), control_rows=("b",))


def test_control_config_is_the_row_with_half_again_the_epochs_marked_and_filed_apart(tmp_path):
    cfg = make_config("demo", {"train": {"epochs": 16, "seed": 0}}, experiment="e", name="r")
    ctl = control_config(cfg)
    assert ctl.train.epochs == 24 and ctl.control == SCHEDULE_LENGTH
    assert (ctl.experiment, ctl.name, ctl.train.seed) == (cfg.experiment, cfg.name, cfg.train.seed)
    assert control_config(make_config("smoke")).train.epochs == math.ceil(1.5 * make_config("smoke").train.epochs)
    # everything else the same recipe
    a, b = cfg.to_dict(), ctl.to_dict()
    a["train"].pop("epochs"), b["train"].pop("epochs"), a.pop("control"), b.pop("control")
    assert a == b
    # its hash differs even from a table row's run that happens to train as many epochs
    same_epochs = make_config("demo", {"train": {"epochs": 24, "seed": 0}}, experiment="e", name="r")
    assert config_hash(ctl) != config_hash(same_epochs) and config_hash(ctl) != config_hash(cfg)
    assert res.result_path(tmp_path, ctl).name == "r__seed0__control-schedule-length.json"
    assert res.result_path(tmp_path, cfg).name == "r__seed0.json"


def test_experiment_runs_add_one_control_per_control_row_with_the_first_seed():
    exp = EXPERIMENTS["05_6_temporal_context"]
    runs = experiment_runs(exp, "smoke", seeds=[3, 4])
    ctl = [c for _, c in runs if c.control]
    assert sorted(c.name for c in ctl) == sorted(exp.control_rows) and {c.train.seed for c in ctl} == {3}
    assert len(runs) - len(ctl) == 2 * len(exp.rows)
    assert not [c for _, c in experiment_runs(exp, "smoke", controls=False) if c.control]
    assert PROFILES["smoke"].controls and PROFILES["demo"].controls
    # the pool trains them too, each configuration once (the thesis model's control is shared)
    pool = [c for c, _, _ in parallel.experiment_configs("smoke") if c.control]
    assert len(pool) == len({config_hash(c) for c in pool}) > 0
    assert {c.name for c in pool} >= {"conv-5-11", "frame-average", "rate-15"}


def test_rows_may_declare_more_seeds_than_the_profile(monkeypatch):
    row = Row("r", {}, {}, None, seeds={"demo": 6})
    assert row_seeds(row, "demo") == [0, 1, 2, 3, 4, 5]
    assert row_seeds(row, "smoke") == list(PROFILES["smoke"].seeds)  # not declared for smoke
    assert row_seeds(row, "demo", [7]) == [7]  # seeds the caller names win
    assert row_seeds(Row("q", {}, {}, None), "demo") == [0, 1, 2]
    exp = EXPERIMENTS["05_6_temporal_context"]
    more = dataclasses.replace(exp.rows[0], seeds={"smoke": 3})
    monkeypatch.setitem(EXPERIMENTS, exp.key, dataclasses.replace(exp, rows=(more, *exp.rows[1:])))
    runs = experiment_runs(EXPERIMENTS[exp.key], "smoke", controls=False)
    assert sorted(c.train.seed for _, c in runs if c.name == more.name) == [0, 1, 2]
    assert [c.train.seed for _, c in runs if c.name == "context-5"] == [0]


def _fake(name, err, control=None):
    r = {"name": name, "seed": 0, "metrics": {"error_rate": err}}
    return dict(r, control=control) if control else r


def test_table_records_leave_out_controls_everywhere_a_table_is_drawn():
    recs = [_fake("split-1", 0.4), _fake("split-1", 0.1, SCHEDULE_LENGTH)]
    assert res.table_records(recs) == recs[:1] and res.control_records(recs) == recs[1:]
    assert best_record(recs)["metrics"]["error_rate"] == 0.4  # never the control, though lower


def test_smoke_run_makes_a_marked_control_beside_the_row_and_reads_both_back(tmp_path, monkeypatch):
    kw = dict(device="cpu", results_dir=tmp_path / "results", data_dir=tmp_path / "data", progress=False,
              rows=["frame-average"])
    recs = run_experiment("05_7_splits_and_sota", "smoke", **kw)
    normal, ctl = [r for r in recs if not r.get("control")], res.control_records(recs)
    assert len(normal) == 1 and len(ctl) == 1
    n, c = normal[0], ctl[0]
    assert (c["experiment"], c["name"], c["seed"]) == (n["experiment"], n["name"], n["seed"])
    assert c["config"]["control"] == SCHEDULE_LENGTH and "reused_from" not in c
    assert c["config"]["train"]["epochs"] == math.ceil(1.5 * n["config"]["train"]["epochs"])
    assert c["config_hash"] != n["config_hash"]
    files = sorted(p.name for p in (tmp_path / "results" / "05_7_splits_and_sota").glob("*.json"))
    assert files == ["frame-average__seed0.json", "frame-average__seed0__control-schedule-length.json"]
    assert json.loads((tmp_path / "results" / "05_7_splits_and_sota" / files[1]).read_text())["control"] == \
        SCHEDULE_LENGTH
    table = summary_table("05_7_splits_and_sota", recs)
    line = table[table["seeds"] > 0]
    assert len(line) == 1 and int(line["seeds"].iloc[0]) == 1
    assert line["error (mean)"].iloc[0] == n["metrics"]["error_rate"]
    # read back, not retrained; and a control is never found for the row (nor the row for it)
    monkeypatch.setattr(run_module, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = run_experiment("05_7_splits_and_sota", "smoke", **kw)
    assert [r["config_hash"] for r in again] == [r["config_hash"] for r in recs]
    row_cfg = experiments.run_config(EXPERIMENTS["05_7_splits_and_sota"], EXPERIMENTS["05_7_splits_and_sota"].rows[-1],
                                     "smoke", 0, "cpu")
    found = find_reusable(tmp_path / "results", row_cfg, expected(row_cfg, kw.get("data_dir")))
    assert found["config_hash"] == n["config_hash"] and not found.get("control")


def test_claims_count_no_control_as_a_seed_of_its_row():
    from strn.study.claims import judge

    recs = [dict(_fake("split-1", 0.2), experiment="05_7_splits_and_sota"),
            dict(_fake("frame-average", 0.5), experiment="05_7_splits_and_sota")]
    flipped = [dict(_fake("split-1", 0.9, SCHEDULE_LENGTH), experiment="05_7_splits_and_sota",
                    metrics={"error_rate": 0.9, "converged": False})]
    assert [v.verdict for v in judge("05_7_splits_and_sota", recs + flipped)] == \
        [v.verdict for v in judge("05_7_splits_and_sota", recs)] == ["reproduced"]


@pytest.mark.parametrize("profile", ["demo", "gpu", "smoke"])
def test_rows_of_one_configuration_train_the_same_seeds(profile):
    """The thesis's model is one configuration under five names (ADAM 1%, rate 10, context 2,
    split 1, identity 98-104): one stored run per seed, so each name must ask for the same
    seeds, or one table would show six seeds of it and another three."""
    from strn.study.tables import THESIS_MODEL_SEEDS

    seen: dict[str, tuple[str, list[int]]] = {}
    for exp in EXPERIMENTS.values():
        if exp.runner is not None:
            continue
        for row in exp.rows:
            h = config_hash(row_config(exp, row, profile, 0))
            seeds = row_seeds(row, profile)
            first = seen.setdefault(h, (f"{exp.key}/{row.name}", seeds))
            assert seeds == first[1], f"{exp.key}/{row.name} trains seeds {seeds}, {first[0]} {first[1]}"
    exp = EXPERIMENTS["05_4_recurrent_connection"]
    thesis = config_hash(row_config(exp, next(r for r in exp.rows if r.name == "identity-98-104"), profile, 0))
    assert len(seen[thesis][1]) == THESIS_MODEL_SEEDS.get(profile, len(PROFILES[profile].seeds))

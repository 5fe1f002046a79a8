"""The convergence rule (strn/convergence.py) and the reference levels (strn/reference.py)."""
import dataclasses

import pytest

from strn.config import make_config
from strn.convergence import convergence
from strn.reference import dataset_levels, reference_levels, single_frame_floor
from strn.run import run
from strn.synth import PROFILES, SynthSpec


def _hist(losses, errors):
    return [{"epoch": i + 1, "train_loss": l, "test_error": e} for i, (l, e) in enumerate(zip(losses, errors))]


def test_flat_history_converged():
    c = convergence(_hist([2.0, 0.9, 0.50, 0.49, 0.49], [0.8, 0.4, 0.21, 0.20, 0.21]))
    assert c["converged"] is True
    assert c["window"] == 3 and c["train_loss_rel_change"] == pytest.approx(0.01 / 0.50)
    assert c["test_error_change"] == pytest.approx(0.0)


def test_loss_still_falling_is_not_converged():
    # the identity 98-104 run of the old demo: 1.99 -> 1.50 -> 1.37 -> 1.31 -> 1.28 (and error flat)
    c = convergence(_hist([1.99, 1.50, 1.37, 1.31, 1.28], [0.70, 0.78, 0.71, 0.72, 0.71]))
    assert c["converged"] is False and "train loss still falling" in c["reason"]


def test_error_still_falling_is_not_converged():
    c = convergence(_hist([1.0, 0.5, 0.40, 0.39, 0.39], [0.8, 0.6, 0.50, 0.40, 0.30]))
    assert c["converged"] is False and c["reason"] == "test error still falling"


def test_near_zero_loss_counts_as_flat():
    c = convergence(_hist([1.0, 0.5, 0.012, 0.008, 0.005], [0.5, 0.3, 0.2, 0.2, 0.2]))
    assert c["train_loss_rel_change"] > 0.5 and c["converged"] is True


def test_too_few_epochs_or_missing_errors_is_not_converged():
    assert convergence(_hist([1.0], [0.5]))["converged"] is False
    no_eval = [{"epoch": i, "train_loss": 0.5} for i in range(4)]
    c = convergence(no_eval)
    assert c["converged"] is False and "test_error" in c["reason"]


def test_reference_levels_of_the_presets():
    # smoke: 2 shapes x MoveLeft/MoveRight; demo: order-only twins in every class
    assert reference_levels(PROFILES["smoke"]) == {"chance_error": pytest.approx(0.75), "single_frame_floor": 0.5}
    demo = reference_levels(PROFILES["demo"])
    assert demo["chance_error"] == pytest.approx(1 - 1 / len(PROFILES["demo"].classes))
    assert 0 <= demo["single_frame_floor"] < demo["chance_error"]


def test_single_frame_floor_counts_only_order_twins():
    base = SynthSpec()
    # four directions: left/right and up/down are twins -> 0.5; no twin at all -> 0
    assert single_frame_floor(base) == 0.5
    assert single_frame_floor(dataclasses.replace(base, motions=("MoveLeft", "MoveUp"))) == 0.0
    # a UCF-like mix: two twins among six motions -> (2 * 0.5) / 6
    mix = dataclasses.replace(base, motions=("MoveLeft", "MoveRight", "Grow", "FadeIn", "MoveUp", "Shrink"))
    assert single_frame_floor(mix) == pytest.approx((4 * 0.5) / 6)


def test_non_synthetic_folder_has_no_floor(tmp_path):
    assert dataset_levels(tmp_path, 101) == {"chance_error": pytest.approx(1 - 1 / 101), "single_frame_floor": None}


def test_smoke_run_records_convergence_and_levels(tmp_path):
    cfg = make_config("smoke", experiment="adhoc", name="levels")
    rec = run(cfg, results_dir=tmp_path / "results", data_dir=tmp_path / "data", progress=False)
    assert isinstance(rec["metrics"]["converged"], bool)
    assert rec["metrics"]["convergence"]["converged"] == rec["metrics"]["converged"]
    assert rec["dataset"]["chance_error"] == pytest.approx(0.75)
    assert rec["dataset"]["single_frame_floor"] == 0.5

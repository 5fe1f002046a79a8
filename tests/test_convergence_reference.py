"""The convergence rule (strn/convergence.py) and the reference levels (strn/reference.py)."""
import dataclasses

import pytest

from strn.config import make_config
from strn.convergence import convergence, fall_standard_error, fall_weights, fitted_fall, t95, window_for
from strn.reference import dataset_levels, reference_levels, single_frame_floor
from strn.run import run
from strn.synth import PROFILES, SynthSpec


def _hist(losses, errors):
    return [{"epoch": i + 1, "train_loss": l, "test_error": e} for i, (l, e) in enumerate(zip(losses, errors))]


def test_flat_history_converged():
    c = convergence(_hist([2.0, 0.9, 0.50, 0.49, 0.49, 0.48], [0.8, 0.4, 0.21, 0.20, 0.21, 0.20]), n_test_videos=216)
    assert c["converged"] is True and c["window"] == 4 and c["version"] == 3
    # least-squares fall over the last 4 epochs: weights (-0.9, -0.3, 0.3, 0.9) -> 0.018
    assert c["train_loss_fall"] == pytest.approx(0.9 * 0.50 + 0.3 * 0.49 - 0.3 * 0.49 - 0.9 * 0.48)
    assert c["test_error_fall"] == pytest.approx(0.9 * 0.21 + 0.3 * 0.20 - 0.3 * 0.21 - 0.9 * 0.20)


def test_fall_weights_are_the_least_squares_line():
    assert fall_weights(4) == pytest.approx([-0.9, -0.3, 0.3, 0.9])
    assert fitted_fall([1.0, 0.8, 0.6, 0.4, 0.2]) == pytest.approx(0.8)  # a straight line: first - last
    assert fitted_fall([0.5, 0.5, 0.5]) == pytest.approx(0.0)


def test_loss_still_falling_is_not_converged():
    # the identity 98-104 run of the first demo: 1.99 -> 1.50 -> 1.37 -> 1.31 -> 1.28 (and error flat):
    # the last 4 epochs still gain 29% of what the run gained
    c = convergence(_hist([1.99, 1.50, 1.37, 1.31, 1.28], [0.70, 0.78, 0.71, 0.72, 0.71]), n_test_videos=216)
    assert c["converged"] is False and "train loss still falling" in c["reason"]
    assert c["train_loss_share"] == pytest.approx(0.29, abs=0.01)


def test_an_oscillating_loss_without_a_trend_has_levelled_off():
    """RPROP 10% seed 2 of the committed demo: the loss bottoms out at epoch 6 and then jumps
    about (0.74 .. 1.11) while the test error stands still. Its last 4 epochs' line falls by
    0.129, 14% of the run's fall (version 2: "still falling"), but the scatter about that line
    gives the fall a standard error of 0.106: t = 1.2, far from the one-sided 5% bound 2.92."""
    losses = [1.72, 1.02, 0.83, 0.79, 0.75, 0.74, 0.74, 0.75, 0.89, 0.82, 0.88, 1.11, 0.88, 0.91, 0.92, 0.74]
    errors = [0.6, 0.55] + [0.55] * 14
    c = convergence(_hist(losses, errors), n_test_videos=216)
    assert c["train_loss_share"] > 0.10  # version 2 would say "train loss still falling"
    assert c["train_loss_fall_t"] == pytest.approx(1.2, abs=0.05) and c["train_loss_t_bound"] == 2.92
    assert c["converged"] is True


def test_a_noisy_but_steady_fall_is_still_falling():
    """Scatter does not excuse a trend: the loss falls by 0.02 an epoch over 8 epochs with
    +-0.01 noise (t about 10)."""
    losses = [2.0] * 24 + [0.9 - 0.02 * i + (0.01 if i % 2 else -0.01) for i in range(8)]
    c = convergence(_hist(losses, [0.3] * 32), n_test_videos=216)
    assert c["window"] == 8 and c["train_loss_fall_t"] > c["train_loss_t_bound"]
    assert c["converged"] is False and c["reason"] == "train loss still falling"


def test_fall_standard_error_and_t_quantiles():
    assert fall_standard_error([1.0, 0.8, 0.6, 0.4]) == pytest.approx(0.0, abs=1e-12)  # a straight line
    assert fall_standard_error([1.0, 0.5]) is None
    # the standard error of (slope x 3) from the residuals' variance over 2 degrees of freedom
    ys = [0.88, 0.91, 0.92, 0.74]
    slope = sum((i - 1.5) * y for i, y in enumerate(ys)) / 5
    ss = sum((y - sum(ys) / 4 - slope * (i - 1.5)) ** 2 for i, y in enumerate(ys))
    assert fall_standard_error(ys) == pytest.approx(3 * (ss / 2 / 5) ** 0.5)
    assert [t95(d) for d in (2, 3, 36, 500)] == [2.920, 2.353, 1.684, 1.645]
    assert t95(11) == 1.782  # between entries: the smaller bound (never more lenient than exact, 1.796)
    with pytest.raises(ValueError):
        t95(0)


def test_error_still_falling_is_not_converged():
    c = convergence(_hist([1.0, 0.5, 0.40, 0.39, 0.39, 0.39], [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]), n_test_videos=216)
    assert c["converged"] is False and c["reason"] == "test error still falling"


def test_memorising_net_counts_as_levelled_off():
    """A net that fits its training set keeps sharpening: the loss falls by a third over the
    window (0.12 -> 0.08), but that is 2% of what the run gained; rule version 1 (5% of the
    loss's own value) called this run unconverged."""
    c = convergence(_hist([2.0, 1.0, 0.3, 0.12, 0.10, 0.09, 0.08], [0.5, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2]),
                    n_test_videos=216)
    assert c["converged"] is True and c["train_loss_share"] < 0.03


def test_error_tolerance_is_the_test_sets_sampling_noise():
    """A swing of 0.05 between first and last epoch (rule version 1 failed it) whose least-squares
    fall, 0.033, is within one sampling s.d. of the fall on 216 videos (0.045), but not on 5,000
    (where the floor 0.03 applies) nor without a count."""
    hist = _hist([1.0, 0.6, 0.5, 0.5, 0.5, 0.5], [0.6, 0.5, 0.45, 0.38, 0.42, 0.40])
    small = convergence(hist, n_test_videos=216)
    assert small["converged"] is True
    assert small["test_error_fall"] == pytest.approx(0.033, abs=1e-3)
    assert small["test_error_tolerance"] == pytest.approx(1.342 * (0.4125 * 0.5875 / 216) ** 0.5, rel=1e-3)
    assert convergence(hist, n_test_videos=5000)["converged"] is False
    assert convergence(hist)["converged"] is False


def test_rising_error_counts_as_levelled_off():
    c = convergence(_hist([1.0, 0.5, 0.3, 0.3, 0.3, 0.3], [0.2, 0.2, 0.25, 0.3, 0.35, 0.4]), n_test_videos=216)
    assert c["converged"] is True and c["test_error_fall"] < 0


def test_window_is_the_last_quarter_of_the_run():
    """The 10%-update row at equal steps trains 10x the epochs: its window is 40 of 160 epochs
    (400 optimiser steps, as the 1% rows' 4 of 16), so an early plateau with a late fall fails."""
    assert [window_for(e) for e in (1, 4, 10, 16, 17, 40, 160)] == [4, 4, 4, 4, 5, 10, 40]
    losses = [2.0 - 0.01 * i for i in range(120)] + [0.8 - 0.001 * i for i in range(40)]
    errors = [0.5] * 120 + [0.5 - 0.004 * i for i in range(40)]  # falls by 0.16 over the last 40
    c = convergence(_hist(losses, errors), n_test_videos=216)
    assert c["window"] == 40 and c["converged"] is False and c["reason"] == "test error still falling"
    # the same history judged on its last 4 epochs alone would pass
    assert convergence(_hist(losses, errors), n_test_videos=216, window=4)["converged"] is True


def test_too_few_epochs_or_missing_errors_is_not_converged():
    assert convergence(_hist([1.0], [0.5]))["converged"] is False
    assert convergence(_hist([1.0, 0.5, 0.5], [0.5, 0.5, 0.5]))["converged"] is False  # window is 4
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

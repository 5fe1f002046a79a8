"""The error rates of the convergence rule (strn/train/convergence.py), measured by simulation.

Histories of 16 epochs (the demo's), with a constant rate and with a cosine annealed to 0; in
the rule's window the training loss and the test error scatter about their course with the
demo's epoch-to-epoch noise (Adam rows of the committed demo: loss 0.01-0.03 about its line,
test error 0.005-0.01). Still-falling histories: one series falls over the last quarter of
the run's learning by 1.2 times its tolerance. Flat histories: both series level. Fixed
random seeds, 2,000 histories per case: each rate known to about +-1% (two standard errors at
5%), which the bound asserted allows.

Weakening the rule makes these tests fail (checked): version 3's "not significantly falling
counts as levelled" calls noisy still-falling histories settled (about a third of them);
ignoring the schedule (a window of the last 4 epochs, as version 3) calls every annealed
history settled that still learns at the rate it has.
"""
import math

import numpy as np
import pytest

from strn.train.convergence import ERROR_ABS, LOSS_SHARE, convergence, rate_mass, window_for

EPOCHS, N_SIM = 16, 2000
MC_TOLERANCE = 2 * math.sqrt(0.05 * 0.95 / N_SIM)


def _history(rng, schedule, loss_fall, error_fall, sd_loss, sd_err):
    """A run whose loss falls from 2.0 and error from 0.8 early, then, over the rule's window, by
    ``loss_fall`` and ``error_fall`` in proportion to the learning-rate mass spent, plus noise."""
    mass = rate_mass(EPOCHS, schedule)
    w = window_for(EPOCHS, schedule)
    start = mass[-w]
    out = []
    for i, m in enumerate(mass):
        late = max(0.0, (m - start) / (1.0 - start))  # 0 before the window, 1 at the end
        early = min(1.0, m / start)
        loss = 2.0 - 1.4 * early - loss_fall * late
        err = 0.8 - 0.4 * early - error_fall * late
        out.append({"epoch": i + 1, "train_loss": loss + sd_loss * rng.standard_normal(),
                    "test_error": err + sd_err * rng.standard_normal()})
    return out


def _settled_rate(schedule, loss_fall, error_fall, sd_loss, sd_err, seed):
    rng = np.random.default_rng(seed)
    return sum(convergence(_history(rng, schedule, loss_fall, error_fall, sd_loss, sd_err),
                           lr_schedule=schedule)["converged"] for _ in range(N_SIM)) / N_SIM


NOISE = [(0.01, 0.005), (0.03, 0.01), (0.08, 0.02)]  # the last: noisier than any Adam row of the demo


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("sd_loss, sd_err", NOISE)
@pytest.mark.parametrize("what", ["loss", "error"])
def test_still_falling_histories_are_called_settled_at_most_5_percent_of_the_time(schedule, sd_loss, sd_err, what):
    # 20% above the tolerance; the loss's is 10% of its fall over the run (1.4 + the late fall)
    loss_fall = 1.2 * LOSS_SHARE * 1.4 / (1 - LOSS_SHARE) if what == "loss" else 0.0
    error_fall = 1.2 * ERROR_ABS if what == "error" else 0.0
    assert _settled_rate(schedule, loss_fall, error_fall, sd_loss, sd_err, seed=3) <= 0.05 + MC_TOLERANCE


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("sd_loss, sd_err", NOISE[:2])
def test_flat_histories_are_called_still_falling_at_most_5_percent_of_the_time(schedule, sd_loss, sd_err):
    assert 1 - _settled_rate(schedule, 0.0, 0.0, sd_loss, sd_err, seed=5) <= 0.05 + MC_TOLERANCE

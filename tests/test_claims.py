import pytest

from strn import claims


def recs(**errs):
    return [{"name": n, "metrics": {"error_rate": e}, "cost": {"train_s": 1.0}} for n, es in errs.items() for e in es]


@pytest.mark.parametrize("a, b, verdict", [
    ([0.20, 0.21, 0.19], [0.30, 0.31, 0.29], claims.REPRODUCED),
    ([0.30, 0.31, 0.29], [0.20, 0.21, 0.19], claims.NOT_REPRODUCED),
    ([0.20, 0.25, 0.15], [0.22, 0.27, 0.17], claims.INCONCLUSIVE),  # within the spread
    ([0.200], [0.203], claims.INCONCLUSIVE),  # one seed: half a point at least
    ([], [0.2], claims.INCONCLUSIVE),
])
def test_beats(a, b, verdict):
    assert claims.beats(a, b)[0] == verdict


def test_about_equal():
    assert claims.about_equal([0.2, 0.21], [0.205, 0.2])[0] == claims.REPRODUCED
    assert claims.about_equal([0.2, 0.21], [0.4, 0.41])[0] == claims.NOT_REPRODUCED


def test_claim3_needs_both_comparisons():
    good = recs(**{"adam-1pct": [0.1, 0.11], "adam-10pct": [0.3, 0.31], "rprop-10pct": [0.3, 0.32]})
    (v,) = claims.judge("05_3_learning_algorithms", good)
    assert v.claim == 3 and v.verdict == claims.REPRODUCED and "0.105" in v.test
    half = recs(**{"adam-1pct": [0.1, 0.11], "adam-10pct": [0.3, 0.31], "rprop-10pct": [0.05, 0.06]})
    assert claims.judge("05_3_learning_algorithms", half)[0].verdict == claims.NOT_REPRODUCED


def test_claim5_checks_cost_order():
    rs = recs(**{"rate-2": [0.2], "rate-5": [0.2], "rate-10": [0.2], "rate-15": [0.4]})
    for r, t in zip(rs, [40.0, 20.0, 10.0, 5.0]):
        r["cost"]["train_s"] = t
    assert claims.judge("05_5_sampling_rate", rs)[0].verdict == claims.REPRODUCED
    rs[0]["cost"]["train_s"] = 1.0  # densest sampling cheapest: not as the thesis says
    assert claims.judge("05_5_sampling_rate", rs)[0].verdict == claims.NOT_REPRODUCED


def test_every_numbered_experiment_has_its_claim():
    ids = {c for key in claims.CLAIMS for c, _, _ in claims.CLAIMS[key]}
    assert {3, 4, 5, 6, 7} <= ids

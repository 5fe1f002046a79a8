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


def _thesis_records(flip: bool = False):
    """One run per row of every experiment, with the thesis's own number (or 1 - it)."""
    from strn import experiments

    out = []
    for key, exp in experiments.EXPERIMENTS.items():
        for row in exp.rows:
            ref = row.thesis if row.thesis is not None else getattr(row, "reference", None)
            if ref is None:
                continue
            hours = row.thesis_extra.get("thesis training time (h)", 1.0)
            out.append({"experiment": key, "name": row.name, "seed": 0,
                        "metrics": {"error_rate": 1 - ref if flip else ref},
                        "cost": {"train_s": 1 / hours if flip else hours}})
    return out


def _all_verdicts(records):
    from strn import experiments

    # the thesis's claims only: those beyond it compare rows the thesis has no number for
    return {v.claim: v for key in experiments.EXPERIMENTS for v in claims.judge(key, records)
            if not v.text.startswith("Beyond the thesis")}


def test_the_thesis_own_numbers_reproduce_every_claim():
    verdicts = _all_verdicts(_thesis_records())
    assert sorted(verdicts) == [1, 2, 3, 4, 5, 6, 7]
    assert {c: v.verdict for c, v in verdicts.items()} == {c: claims.REPRODUCED for c in range(1, 8)}
    assert "tie within the thesis's precision" in verdicts[4].text and "not worse" in verdicts[4].test


def test_reversed_thesis_numbers_reproduce_no_claim():
    verdicts = _all_verdicts(_thesis_records(flip=True))
    assert {c: v.verdict for c, v in verdicts.items()} == {c: claims.NOT_REPRODUCED for c in range(1, 8)}


def test_unconverged_runs_make_a_claim_inconclusive_not_refuted():
    rs = recs(**{"adam-1pct": [0.3], "adam-10pct": [0.1], "rprop-10pct": [0.1]})
    for r in rs:
        r.update(experiment="05_3_learning_algorithms", seed=0)
    rs[0]["metrics"]["converged"] = False
    (v,) = claims.judge("05_3_learning_algorithms", rs)
    assert v.verdict == claims.NOT_CONVERGED and v.unconverged == ("adam-1pct seed 0",)
    assert "not converged: adam-1pct seed 0" in v.test
    good = recs(**{"adam-1pct": [0.1], "adam-10pct": [0.3], "rprop-10pct": [0.3]})
    good[1]["metrics"]["converged"] = False
    assert claims.judge("05_3_learning_algorithms", good)[0].verdict == claims.REPRODUCED_UNCONVERGED
    for r in good:
        r["metrics"]["converged"] = True  # converged everywhere: the plain verdict
    assert claims.judge("05_3_learning_algorithms", good)[0].verdict == claims.REPRODUCED


def test_claims_beyond_the_thesis_compare_strn_with_tsm_and_tsm_with_the_frame_average():
    key = "06_beyond_the_thesis"
    rs = recs(**{"identity-98-104": [0.10, 0.11], "tsm-98-104": [0.30, 0.31], "tsm-all": [0.20, 0.21],
                 "frame-average": [0.50, 0.51]})
    v8, v9 = claims.judge(key, rs)
    assert (v8.claim, v9.claim) == (8, 9) and v8.text.startswith("Beyond the thesis:")
    assert v8.verdict == v9.verdict == claims.REPRODUCED
    swapped = recs(**{"identity-98-104": [0.30, 0.31], "tsm-98-104": [0.10, 0.11], "tsm-all": [0.50, 0.51],
                      "frame-average": [0.20, 0.21]})
    assert [v.verdict for v in claims.judge(key, swapped)] == [claims.NOT_REPRODUCED, claims.NOT_REPRODUCED]
    # the shift in layer4.2 alone losing to STRN, but the shift in every block tying: not all of claim 8 holds
    mixed = recs(**{"identity-98-104": [0.10, 0.11], "tsm-98-104": [0.30, 0.31], "tsm-all": [0.10, 0.11]})
    assert claims.judge(key, mixed)[0].verdict == claims.INCONCLUSIVE


def test_not_worse_accepts_a_tie_and_rejects_a_clear_loss():
    assert claims.not_worse([0.234], [0.231])[0] == claims.REPRODUCED
    assert claims.not_worse([0.30], [0.231])[0] == claims.NOT_REPRODUCED


def test_claim3_is_judged_at_equal_optimiser_steps_too():
    base = {"adam-1pct": [0.1], "adam-10pct": [0.3], "rprop-10pct": [0.3]}
    (v,) = claims.judge("05_3_learning_algorithms", recs(**base, **{"adam-10pct-equal-steps": [0.05]}))
    assert v.verdict == claims.NOT_REPRODUCED and "at equal optimiser steps: 0.100" in v.test
    (v,) = claims.judge("05_3_learning_algorithms", recs(**base, **{"adam-10pct-equal-steps": [0.3]}))
    assert v.verdict == claims.REPRODUCED


def test_equal_steps_row_scales_epochs_to_the_reference_steps(tmp_path, monkeypatch):
    from strn import experiments

    monkeypatch.setenv("STRN_QUIET", "1")
    exp = experiments.get_experiment("05_3_learning_algorithms")
    row = next(r for r in exp.rows if r.equal_steps_to)
    cfg = experiments.equal_steps_config(exp, row, "smoke", 0, "cpu", data_dir=tmp_path)
    ref = experiments.row_config(exp, next(r for r in exp.rows if r.name == "adam-1pct"), "smoke", 0, "cpu")
    from strn.run import prepare

    n = len(prepare(cfg, tmp_path, progress=False).train)
    spe = lambda c: experiments.steps_per_epoch(n, c.train.update_every, c.train.batch_size)  # noqa: E731
    assert cfg.train.update_every == 0.10 and cfg.train.epochs > ref.train.epochs
    assert (cfg.train.epochs - 1) * spe(cfg) < ref.train.epochs * spe(ref) <= cfg.train.epochs * spe(cfg)


def test_only_the_rows_a_claim_compares_decide_it():
    """An unconverged run of a row the claim does not read leaves its verdict plain."""
    def tag(rs, experiment):
        for i, r in enumerate(rs):
            r.update(experiment=experiment, seed=i)
            r["metrics"]["converged"] = True
        return rs

    rs = tag(recs(**{"split-1": [0.1, 0.11], "frame-average": [0.5, 0.51], "split-2": [0.2, 0.21]}),
             "05_7_splits_and_sota")
    rs[-1]["metrics"]["converged"] = False  # split 2: not compared by claim 7
    (v,) = claims.judge("05_7_splits_and_sota", rs)
    assert v.verdict == claims.REPRODUCED and v.unconverged == ()
    rs[0]["metrics"]["converged"] = False  # split 1: compared
    (v,) = claims.judge("05_7_splits_and_sota", rs)
    assert v.verdict == claims.REPRODUCED_UNCONVERGED and v.unconverged == ("split-1 seed 0",)
    # claim 6 reads context 2, 3 and 5, not Special3
    rs = tag(recs(**{"context-2": [0.2], "context-3": [0.2], "context-5": [0.4], "special3": [0.3]}),
             "05_6_temporal_context")
    rs[-1]["metrics"]["converged"] = False
    assert claims.judge("05_6_temporal_context", rs)[0].unconverged == ()

import pytest
from scipy import stats

from strn.study import claims


def recs(**errs):
    return [{"name": n, "metrics": {"error_rate": e}, "cost": {"train_s": 1.0}} for n, es in errs.items() for e in es]


@pytest.mark.parametrize("a, b, verdict", [
    ([0.20, 0.21, 0.19], [0.30, 0.31, 0.29], claims.REPRODUCED),
    ([0.30, 0.31, 0.29], [0.20, 0.21, 0.19], claims.NOT_REPRODUCED),
    ([0.20, 0.25, 0.15], [0.22, 0.27, 0.17], claims.INCONCLUSIVE),  # the interval spans 0
    ([0.20, 0.21, 0.19], [0.24, 0.25, 0.23], claims.REPRODUCED),  # the margin rule (0.04 > s.d. 0.01) agrees
    ([0.20, 0.30, 0.10], [0.31, 0.40, 0.22], claims.INCONCLUSIVE),  # 0.11 > s.d. 0.1: the margin rule said reproduced
    ([0.200], [0.203], claims.REPRODUCED),  # one value per row (the thesis's numbers): taken as exact
    ([], [0.2], claims.INCONCLUSIVE),
])
def test_beats(a, b, verdict):
    assert claims.beats(a, b)[0] == verdict


def test_beats_states_the_welch_interval():
    c = claims.beats([0.20, 0.21, 0.19], [0.30, 0.31, 0.29])
    half = stats.t.ppf(0.975, 2) * (0.01 ** 2 / 3 + 0.01 ** 2 / 3) ** 0.5  # Welch's s.e., min(n) - 1 = 2 dof
    assert (c.interval.low, c.interval.high) == pytest.approx((-0.1 - half, -0.1 + half))
    assert "-0.100 [95% CI" in c.text and c.verdict == claims.REPRODUCED


def test_about_equal_needs_the_interval_inside_the_bound():
    assert claims.about_equal([0.200, 0.201, 0.199], [0.202, 0.203, 0.201])[0] == claims.REPRODUCED
    assert claims.about_equal([0.2, 0.21], [0.4, 0.41])[0] == claims.NOT_REPRODUCED
    # means 0.002 apart, but the seeds scatter by 0.05: a tie within 0.01 is not shown
    assert claims.about_equal([0.15, 0.20, 0.25], [0.152, 0.202, 0.252])[0] == claims.INCONCLUSIVE


def test_claim3_needs_both_comparisons():
    good = recs(**{"adam-1pct": [0.1, 0.11, 0.1], "adam-10pct": [0.3, 0.31, 0.3], "rprop-10pct": [0.3, 0.32, 0.3]})
    (v,) = claims.judge("05_3_learning_algorithms", good)
    assert v.claim == 3 and v.verdict == claims.REPRODUCED and "0.103" in v.test
    half = recs(**{"adam-1pct": [0.1, 0.11, 0.1], "adam-10pct": [0.3, 0.31, 0.3], "rprop-10pct": [0.05, 0.06, 0.05]})
    assert claims.judge("05_3_learning_algorithms", half)[0].verdict == claims.NOT_REPRODUCED


def test_claim5_checks_cost_order():
    rs = recs(**{"rate-2": [0.2], "rate-5": [0.2], "rate-10": [0.2], "rate-15": [0.4]})
    for r, t in zip(rs, [40.0, 20.0, 10.0, 5.0]):
        r["cost"]["train_s"] = t
    assert claims.judge("05_5_sampling_rate", rs)[0].verdict == claims.REPRODUCED
    rs[0]["cost"]["train_s"] = 1.0  # densest sampling cheapest: not as the thesis says
    assert claims.judge("05_5_sampling_rate", rs)[0].verdict == claims.NOT_REPRODUCED


def test_every_numbered_experiment_has_its_claim():
    from strn.study import experiments

    ids = [c.id for exp in experiments.EXPERIMENTS.values() for c in exp.claims]
    assert {3, 4, 5, 6, 7} <= set(ids) and len(ids) == len(set(ids))


def _thesis_records(flip: bool = False):
    """One run per row of every experiment, with the thesis's own number (or 1 - it)."""
    from strn.study import experiments

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
    from strn.study import experiments

    # the thesis's claims only: those beyond it compare rows the thesis has no number for
    return {v.claim: v for key in experiments.EXPERIMENTS for v in claims.judge(key, records)
            if not v.text.startswith("Beyond the thesis")}


def test_the_thesis_own_numbers_reproduce_every_claim():
    verdicts = _all_verdicts(_thesis_records())
    assert sorted(verdicts) == [1, 2, 3, 4, 5, 6, 7]
    assert {c: v.verdict for c, v in verdicts.items()} == {c: claims.REPRODUCED for c in range(1, 8)}
    assert "tie within the thesis's precision" in verdicts[4].text and "not worse" in verdicts[4].test
    assert "conv-98-104 < conv-86-92" in verdicts[4].interval  # the later the better, at the last two positions


def test_reversed_thesis_numbers_reproduce_no_claim():
    verdicts = _all_verdicts(_thesis_records(flip=True))
    assert {c: v.verdict for c, v in verdicts.items()} == {c: claims.NOT_REPRODUCED for c in range(1, 8)}


def _hist(falling: bool):
    """16 epochs of a constant-rate run: flat, or still falling fast in its last half."""
    loss = [2.0 - 0.1 * i for i in range(16)] if falling else [2.0 - 0.2 * i for i in range(8)] + [0.5] * 8
    err = [0.8 - 0.03 * i for i in range(16)] if falling else [0.8 - 0.05 * i for i in range(8)] + [0.4] * 8
    return [{"epoch": i + 1, "train_loss": l, "test_error": e} for i, (l, e) in enumerate(zip(loss, err))]


def test_convergence_stands_beside_the_verdict_never_inside_it():
    """An unconverged deciding run leaves the word alone and says so in its own column; the
    stored metrics.converged is not read: the current rule is applied to the history."""
    rs = recs(**{"adam-1pct": [0.3], "adam-10pct": [0.1], "rprop-10pct": [0.1]})
    for r in rs:
        r.update(experiment="05_3_learning_algorithms", seed=0)
        r["metrics"].update(history=_hist(False), converged=False)  # stored word: stale, ignored
    rs[0]["metrics"].update(history=_hist(True), converged=True)
    (v,) = claims.judge("05_3_learning_algorithms", rs)
    assert v.verdict == claims.NOT_REPRODUCED and v.converged is False and v.unconverged == ("adam-1pct seed 0",)
    assert "not converged: adam-1pct seed 0" in v.test
    rs[0]["metrics"]["history"] = _hist(False)
    (v,) = claims.judge("05_3_learning_algorithms", rs)
    assert v.verdict == claims.NOT_REPRODUCED and v.converged is True and v.unconverged == ()
    del rs[1]["metrics"]["history"]  # no history: unknown
    assert claims.judge("05_3_learning_algorithms", rs)[0].converged is None
    assert all(" (" not in w and w in claims.DEFINITIONS for w in claims.VERDICTS)


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
    assert claims.not_worse([0.25, 0.30, 0.35], [0.231, 0.232, 0.233])[0] == claims.INCONCLUSIVE


def test_claim3_is_judged_at_equal_optimiser_steps_too():
    base = {"adam-1pct": [0.1], "adam-10pct": [0.3], "rprop-10pct": [0.3]}
    (v,) = claims.judge("05_3_learning_algorithms", recs(**base, **{"adam-10pct-equal-steps": [0.05]}))
    assert v.verdict == claims.NOT_REPRODUCED and "at equal optimiser steps: 0.100" in v.test
    (v,) = claims.judge("05_3_learning_algorithms", recs(**base, **{"adam-10pct-equal-steps": [0.3]}))
    assert v.verdict == claims.REPRODUCED


def test_equal_steps_row_scales_epochs_to_the_reference_steps(tmp_path, monkeypatch):
    from strn.study import experiments

    monkeypatch.setenv("STRN_QUIET", "1")
    exp = experiments.get_experiment("05_3_learning_algorithms")
    row = next(r for r in exp.rows if r.equal_steps_to)
    cfg = experiments.equal_steps_config(exp, row, "smoke", 0, "cpu", data_dir=tmp_path)
    ref = experiments.row_config(exp, next(r for r in exp.rows if r.name == "adam-1pct"), "smoke", 0, "cpu")
    from strn.data.prepare import prepare

    n = len(prepare(cfg, tmp_path, progress=False).train)
    spe = lambda c: experiments.steps_per_epoch(n, c.train.update_every, c.train.batch_size)  # noqa: E731
    assert cfg.train.update_every == 0.10 and cfg.train.epochs > ref.train.epochs
    assert (cfg.train.epochs - 1) * spe(cfg) < ref.train.epochs * spe(ref) <= cfg.train.epochs * spe(cfg)


def test_only_the_rows_a_claim_compares_decide_it():
    """An unconverged run of a row the claim does not read leaves its verdict plain."""
    def tag(rs, experiment):
        for i, r in enumerate(rs):
            r.update(experiment=experiment, seed=i)
            r["metrics"]["history"] = _hist(False)
        return rs

    rs = tag(recs(**{"split-1": [0.1, 0.11], "frame-average": [0.5, 0.51], "split-2": [0.2, 0.21]}),
             "05_7_splits_and_sota")
    rs[-1]["metrics"]["history"] = _hist(True)  # split 2: not compared by claim 7
    (v,) = claims.judge("05_7_splits_and_sota", rs)
    assert v.verdict == claims.REPRODUCED and v.unconverged == () and v.converged is True
    rs[0]["metrics"]["history"] = _hist(True)  # split 1: compared
    (v,) = claims.judge("05_7_splits_and_sota", rs)
    assert v.verdict == claims.REPRODUCED and v.unconverged == ("split-1 seed 0",) and v.converged is False
    # claim 6 reads context 2, 3 and 5, not Special3
    rs = tag(recs(**{"context-2": [0.2], "context-3": [0.2], "context-5": [0.4], "special3": [0.3]}),
             "05_6_temporal_context")
    rs[-1]["metrics"]["history"] = _hist(True)
    assert claims.judge("05_6_temporal_context", rs)[0].unconverged == ()


def _claim7_records(split1, frame, experiment="05_7_splits_and_sota"):
    rs = recs(**{"split-1": split1, "frame-average": frame})
    for r in rs:
        r.update(experiment=experiment, seed=[x for x in (split1 if r["name"] == "split-1" else frame)].index(
            r["metrics"]["error_rate"]))
    return rs


def test_leave_one_seed_out_flags_a_verdict_carried_by_one_seed():
    steady = _claim7_records([0.20, 0.21, 0.19], [0.40, 0.41, 0.39])
    (v,) = claims.judge("05_7_splits_and_sota", steady)
    assert v.verdict == claims.REPRODUCED and v.leave_one_out is True
    # seed 2 alone makes split 1 look as good as the frame average: without it the gap is clear
    one = _claim7_records([0.20, 0.21, 0.45], [0.40, 0.41, 0.44])
    (v,) = claims.judge("05_7_splits_and_sota", one)
    assert v.verdict == claims.INCONCLUSIVE and v.leave_one_out is False
    assert claims.judge("05_7_splits_and_sota", steady[:2] + steady[3:5])[0].leave_one_out is None  # 2 seeds


def test_schedule_control_swaps_each_deciding_rows_same_seed_run():
    rs = _claim7_records([0.20, 0.21, 0.19], [0.40, 0.41, 0.39])
    assert claims.judge("05_7_splits_and_sota", rs)[0].schedule_control is None  # no control runs
    ctrl = [dict(r, control="schedule-length", metrics={"error_rate": e}) for r, e in ((rs[0], 0.60), (rs[3], 0.40))]
    (v,) = claims.judge("05_7_splits_and_sota", rs + ctrl)
    # the table still reads the normal runs only; with split 1's seed 0 at 0.60 the gap is not shown
    assert v.verdict == claims.REPRODUCED and "0.200±0.010" in v.reproduced_numbers and v.schedule_control is False
    ctrl[0]["metrics"] = {"error_rate": 0.18}
    assert claims.judge("05_7_splits_and_sota", rs + ctrl)[0].schedule_control is True
    assert claims.judge("05_7_splits_and_sota", rs + ctrl[:1])[0].schedule_control is None  # frame average: none


def test_avg_vs_gru_is_not_testable_on_the_synthetic_set_and_the_taps_are_still_judged():
    from strn.study.rows import feature_row_name

    rs = []
    for t, base in (("block4", 0.2), ("block3", 0.3), ("block2", 0.4)):
        for m in ("avg", "gru"):
            for z in (True, False):
                for s in range(3):
                    rs.append({"name": feature_row_name(t, m, z, False), "seed": s, "experiment": "05_2_baselines",
                               "metrics": {"error_rate": base + 0.01 * s + (0.1 if m == "avg" else 0.0)},
                               "dataset": {"kind": "synthetic", "single_frame_floor": 0.5}})
    v = claims.judge("05_2_baselines", rs)[0]
    assert v.verdict == claims.REPRODUCED and "avg<GRU: not testable" in v.test and "single-frame floor" in v.note
    for r in rs:
        r["dataset"] = {"kind": "ucf101", "single_frame_floor": None}
    v = claims.judge("05_2_baselines", rs)[0]  # on UCF-101 it is judged: the average loses here
    assert v.verdict == claims.NOT_REPRODUCED and "not testable" not in v.test
    assert claims.all_of([claims.not_testable("x", "why")])[0] == claims.NOT_TESTABLE


def test_verdict_frame_has_the_robustness_columns_and_every_word_is_defined():
    verdicts = _all_verdicts(_thesis_records())
    frame = claims.verdict_frame(list(verdicts.values()))
    assert list(frame.columns) == ["claim", "thesis says", "thesis numbers", "reproduced numbers", "verdict", "interval",
                                   "converged", "leave one seed out", "schedule-length control", "decided by", "note"]
    assert set(frame["verdict"]) <= set(claims.VERDICTS)
    for word in ("interval", "converged", "leave one seed out", "schedule-length control", *claims.VERDICTS):
        assert claims.DEFINITIONS[word]
    assert "taken as exact" in verdicts[7].interval


def test_claim6_shows_the_padding_beside_its_verdict():
    rs = recs(**{"context-2": [0.2, 0.21, 0.2], "context-3": [0.2, 0.2, 0.21], "context-5": [0.4, 0.41, 0.4]})
    for r in rs:
        padded = 228 if r["name"] == "context-5" else 28
        r["dataset"] = {"n_padded_videos": padded, "n_train_videos": 432, "n_test_videos": 216,
                        "n_test_sequences": 216 if padded == 228 else 476}
    (v,) = claims.judge("05_6_temporal_context", rs)
    assert "context-5: 228 of 648 videos padded (35%), 1.0 windows per test video" in v.note


def test_a_row_that_was_not_run_does_not_blank_the_robustness_columns():
    """Claim 3 reads the equal-steps row when it was run; without it, leave-one-out still applies."""
    rs = recs(**{"adam-1pct": [0.10, 0.11, 0.10], "adam-10pct": [0.30, 0.31, 0.30], "rprop-10pct": [0.30, 0.32, 0.30]})
    for i, r in enumerate(rs):
        r["seed"] = i % 3
    (v,) = claims.judge("05_3_learning_algorithms", rs)
    assert v.verdict == claims.REPRODUCED and v.leave_one_out is not None


def test_claim5_cost_is_the_frames_trained_not_the_shared_machines_seconds():
    """A denser sampling trains on more frames; the seconds a run took on a shared machine (or
    its equal share of a stacked job) must not decide the cost part of claim 5."""
    from strn.study.comparisons import costs_increase, training_frames

    def rec(name, seqs, secs):
        return {"name": name, "dataset": {"n_train_sequences": seqs}, "cost": {"train_s": secs},
                "config": {"train": {"epochs": 16}, "data": {"seq_len": 2}}}

    dense, sparse = rec("rate-2", 3000, 30.0), rec("rate-10", 600, 40.0)  # the sparse one ran beside others
    assert training_frames(dense) == 3000 * 16 * 2
    c = costs_increase([dense, sparse], ["rate-2", "rate-10"])
    assert c.verdict == "reproduced" and "training frames" in c.text and "40.0" in c.text
    assert costs_increase([rec("rate-2", 500, 1.0), sparse], ["rate-2", "rate-10"]).verdict == "not reproduced"

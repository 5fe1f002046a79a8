"""The tables put the thesis's number beside the reproduced one (never subtracted) and say
whether the rows come out in the thesis's order."""
import pytest

from strn.study import experiments


def _recs(errors, key="05_4_recurrent_connection"):
    return [{"experiment": key, "name": n, "seed": s, "metrics": {"error_rate": e + 0.001 * s},
             "cost": {"train_s": 1.0}} for n, e in errors.items() for s in range(3)]


def test_no_difference_column_and_ranks_beside_the_numbers():
    t = experiments.summary_table("05_4_recurrent_connection", _recs(
        {"conv-5-11": 0.5, "conv-49-55": 0.4, "conv-86-92": 0.3, "identity-98-104": 0.1, "conv-98-104": 0.2,
         "conv_relu-98-104": 0.25}))
    assert "difference" not in t.columns
    assert list(t["thesis rank"]) == [6, 5, 4, 1, 3, 2] and list(t["reproduced rank"]) == [6, 5, 4, 1, 2, 3]
    agree = t.attrs["rank_agreement"]
    assert agree["rows"] == 6 and agree["kendall_tau"] == pytest.approx(13 / 15)  # one pair swapped of 15
    assert "Kendall's tau +0.87" in agree["text"]


def test_reversed_order_and_control_runs():
    recs = _recs({"conv-5-11": 0.1, "conv-49-55": 0.2, "conv-86-92": 0.3})
    recs.append({"experiment": "05_4_recurrent_connection", "name": "conv-5-11", "seed": 0, "control": "schedule-length",
                 "metrics": {"error_rate": 0.9}, "cost": {"train_s": 1.0}})
    t = experiments.summary_table("05_4_recurrent_connection", recs)
    assert t.loc[0, "seeds"] == 3 and t.loc[0, "error (mean)"] == pytest.approx(0.101)  # the control is not a seed
    assert t.attrs["rank_agreement"]["kendall_tau"] == pytest.approx(-1.0)
    two = experiments.summary_table("05_4_recurrent_connection", _recs({"conv-5-11": 0.1, "conv-49-55": 0.2}))
    assert two.attrs["rank_agreement"]["kendall_tau"] is None

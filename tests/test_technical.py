"""strn.study.technical: activations, optimisers and gradients through time (notebook 03)."""
import json

import numpy as np
import pytest

from strn import results
from strn.study import technical


def test_activation_derivatives_match_closed_forms():
    c = technical.activation_curves(-3, 3, 61)
    s = 1 / (1 + np.exp(-c["sigmoid"]["x"]))
    np.testing.assert_allclose(c["sigmoid"]["dy"], s * (1 - s), atol=1e-12)
    np.testing.assert_allclose(c["tanh"]["dy"], 1 - np.tanh(c["tanh"]["x"]) ** 2, atol=1e-12)
    np.testing.assert_allclose(c["identity"]["dy"], 1.0)
    x = c["relu"]["x"]
    np.testing.assert_allclose(c["relu"]["dy"][x > 0], 1.0)
    np.testing.assert_allclose(c["relu"]["dy"][x < 0], 0.0)
    sm = c["softmax"]
    np.testing.assert_allclose(sm["dy"], sm["y"] * (1 - sm["y"]), atol=1e-12)
    ex = technical.softmax_example((2.0, 1.0, 0.1))
    assert sum(ex["softmax"]) == pytest.approx(1.0)
    np.testing.assert_allclose(ex["jacobian_diag"], [p * (1 - p) for p in ex["softmax"]], atol=1e-12)


@pytest.fixture(scope="module")
def optim():
    return technical.compare_optimizers("smoke")


def test_every_optimizer_lowers_the_loss(optim):
    rows = {(r["mode"], r["optimizer"]): r for r in optim["table"]}
    assert set(rows) == {(m, o) for m in ("full-batch", "mini-batch") for o in ("adam", "rprop", "sgd")}
    for r in rows.values():
        assert r["final loss"] < r["initial loss"], r
    # one initial model for all: the starting loss is the same
    assert len({round(r["initial loss"], 12) for r in rows.values()}) == 1
    # full-batch RPROP fits the spirals (its sign steps grow where the gradient keeps its sign)
    assert rows[("full-batch", "rprop")]["final loss"] < 0.5 * rows[("full-batch", "rprop")]["initial loss"]
    assert len(optim["curves"]["full-batch"]["adam"]) == technical.sizes("smoke")["full_steps"] + 1


def test_optimizer_comparison_is_deterministic(optim):
    again = technical.compare_optimizers("smoke", optimizers=("adam",))
    assert again["curves"]["mini-batch"]["adam"] == optim["curves"]["mini-batch"]["adam"]


def test_bptt_gradients_vanish_in_a_tanh_rnn_but_not_through_a_residual_chain():
    study = technical.bptt_study("smoke")
    T = technical.sizes("smoke")["rnn_T"]
    rnn, gru, res = (study["norms"][c] for c in ("rnn_tanh", "gru", "residual"))
    assert rnn.shape == (technical.sizes("smoke")["rnn_seeds"], T)
    assert np.all(rnn[:, 0] < 1e-3 * rnn[:, -1])  # every seed
    assert np.all(np.diff(np.log(rnn.mean(0))) > 0)  # monotone towards the loss
    np.testing.assert_allclose(res, res[:, -1:].repeat(T, 1), rtol=1e-6)  # constant in t
    r = study["ratio_first_to_last"]
    assert r["rnn_tanh"] < r["gru"] < 1e-1 and r["residual"] == pytest.approx(1.0)


def test_bptt_rejects_unknown_cell():
    with pytest.raises(ValueError, match="unknown cell"):
        technical.bptt_gradient_norms("lstm", 3)


def test_summary_and_checks(tmp_path, optim):
    study = technical.bptt_study("smoke", cells=technical.CELLS)
    checks = technical.checks(optim, study)
    assert checks["passed"].all(), checks
    path = results.write_summary(tmp_path, "03_technical_details", "smoke", technical.summary(optim, study))
    assert path == tmp_path / "summaries" / "03_technical_details.json"
    rec = json.loads(path.read_text())
    assert rec["experiment"] == "03_technical_details" and rec["profile"] == "smoke" and "env" in rec
    assert len(rec["optimizers"]["table"]) == 6 and len(rec["bptt"]["mean_norms"]["gru"]) == study["T"]

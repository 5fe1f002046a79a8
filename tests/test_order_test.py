"""The order test: reordering, errors from checkpoints, stored and read back without them,
a clear "missing" without either, retraining on request, the table and the figure."""
import json
import shutil

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from strn.report import plots  # noqa: E402
from strn.study import order_test  # noqa: E402
from strn.config import make_config  # noqa: E402
from strn.train.run import checkpoint_path, run  # noqa: E402

KEY = "06_beyond_the_thesis"


def test_reorder_reverses_and_freezes_on_the_time_axis():
    x = torch.arange(2 * 3).float().view(2, 3, 1, 1, 1).expand(2, 3, 3, 2, 2)  # (B, T, C, H, W)
    assert torch.equal(order_test.reorder(x, "normal"), x)
    assert torch.equal(order_test.reorder(x, "reversed")[:, 0], x[:, 2])
    frozen = order_test.reorder(x, "frozen")
    assert frozen.shape == x.shape and all(torch.equal(frozen[:, t], x[:, -1]) for t in range(3))
    with pytest.raises(ValueError, match="unknown order-test mode"):
        order_test.Reordered(torch.nn.Identity(), "shuffled")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An STRN and a frame-average smoke run (1 epoch, no pretraining) with their checkpoints."""
    tmp = tmp_path_factory.mktemp("order")
    mp = pytest.MonkeyPatch()
    mp.setenv("STRN_QUIET", "1")
    results, data = tmp / "results", tmp / "data"
    records = []
    for name, kind in (("identity-98-104", "strn"), ("frame-average", "frame_avg")):
        cfg = make_config("smoke", {"model": {"kind": kind, "weights": "scratch"}, "data": {"seq_len": 3}},
                          experiment=KEY, name=name)
        records.append(run(cfg, results_dir=results, data_dir=data, progress=False))
    yield {"results": results, "data": data, "records": records, "tmp": tmp}
    mp.undo()


def test_errors_from_checkpoints_are_stored_and_read_back_without_them(trained, monkeypatch):
    recs, results = trained["records"], trained["results"]
    entries = order_test.run_order_test(KEY, recs, results, data_dir=trained["data"])
    assert [e["status"] for e in entries] == ["ok", "ok"]
    for e, r in zip(entries, recs):
        assert e["normal"] == pytest.approx(r["metrics"]["error_rate"])  # the same model, evaluated again
        assert not e["retrained"] and e["frozen_frame"] == "last"
    avg = entries[1]
    assert avg["reversed"] == pytest.approx(avg["normal"])  # the frame average is order-free
    stored = json.loads(order_test.order_test_path(results, KEY).read_text())
    assert [(e["name"], e["seed"]) for e in stored["entries"]] == [(r["name"], r["seed"]) for r in recs]
    # a fresh clone: the JSON, no checkpoint; nothing may be computed
    clone = trained["tmp"] / "clone"
    shutil.copytree(results, clone, ignore=shutil.ignore_patterns("checkpoints"))
    monkeypatch.setattr(order_test, "order_errors", lambda *a, **k: pytest.fail("recomputed"))
    again = order_test.run_order_test(KEY, recs, clone, data_dir=trained["data"])
    assert [{m: e[m] for m in order_test.MODES} for e in again] == [{m: e[m] for m in order_test.MODES}
                                                                   for e in entries]


def test_without_stored_errors_or_checkpoint_the_entry_says_so(trained, tmp_path):
    entries = order_test.run_order_test(KEY, trained["records"], tmp_path, data_dir=trained["data"])
    assert [e["status"] for e in entries] == ["missing", "missing"]
    assert "no checkpoint" in entries[0]["note"] and "retrain=True" in entries[0]["note"]
    assert not order_test.order_test_path(tmp_path, KEY).exists()
    table = order_test.order_table(KEY, entries)
    assert table["note"].notna().sum() == 2


def test_a_reused_record_finds_the_checkpoint_of_its_table(trained, tmp_path):
    rec = trained["records"][0]
    reused = dict(rec, experiment="other", name="copy", reused_from=f"{KEY}/{rec['name']}",
                  config=dict(rec["config"], experiment="other", name="copy"))
    assert order_test.checkpoint_of(reused, trained["results"]) == checkpoint_path(
        trained["results"], make_config("smoke", {"model": {"weights": "scratch"}, "data": {"seq_len": 3}},
                                        experiment=KEY, name=rec["name"]))
    assert order_test.checkpoint_of(dict(reused, reused_from=None), trained["results"]) is None


def test_retrain_makes_the_missing_checkpoint(trained):
    results = trained["tmp"] / "retrain"
    shutil.copytree(trained["results"], results, ignore=shutil.ignore_patterns("checkpoints", "summaries"))
    rec = trained["records"][1]
    (entry,) = order_test.run_order_test(KEY, [rec], results, data_dir=trained["data"], retrain=True)
    assert entry["status"] == "ok" and entry["retrained"]
    assert entry["checkpoint"].startswith(str(order_test.RETRAINED_DIR))
    assert json.loads((results / KEY / "frame-average__seed0.json").read_text()) == rec  # record untouched


def test_table_and_figure(trained):
    entries = order_test.run_order_test(KEY, trained["records"], trained["results"], data_dir=trained["data"])
    table = order_test.order_table(KEY, entries)
    assert list(table["row"]) == ["STRN identity 98-104 (the thesis's model)", "frame average (no temporal connection)"]
    assert table["reversed - normal"].iloc[1] == pytest.approx(0.0)
    per_seed = order_test.order_table(KEY, entries, per_seed=True)
    assert list(per_seed["seed"]) == [0, 0]
    fig = plots.order_test.order_bars(table, trained["records"], "order test")
    assert plots.figure_problems(fig) == []

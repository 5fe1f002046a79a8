"""Tables 5.1/5.2 pipeline (strn.study.frame_baselines, strn.train.features, strn.train.baseline_training):
features, classifiers, results files, read-back, claims."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from strn.train import baseline_training as bt
from strn.study import claims, experiments, tables
from strn.train import features
from strn.study import frame_baselines as fb
from strn.data.transforms import frames_input
from strn.train.metrics import video_metrics
from strn.study.rows import feature_row_name
from strn.model.backbone import build_backbone
from strn.model.baselines import FrameFeatureExtractor
from strn.results import REQUIRED_KEYS, REQUIRED_METRICS


KEY = "05_2_baselines"
EXP = experiments.get_experiment(KEY)


def _boom(*a, **k):
    raise AssertionError("should have been read from a cache")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bl")
    mp = pytest.MonkeyPatch()
    mp.setenv("STRN_QUIET", "1")
    kw = dict(results_dir=tmp / "res", data_dir=tmp / "data")
    records = experiments.run_experiment(KEY, "smoke", **kw)
    yield {"tmp": tmp, "kw": kw, "records": records}
    mp.undo()


def test_experiment_registered_with_all_thesis_cells():
    exp = experiments.get_experiment(KEY)
    assert exp.runner is fb.run_baselines and exp.table == "5.1/5.2"
    assert len(exp.rows) == 16 and len({r.name for r in exp.rows}) == 16
    thesis = {r.name: r.thesis for r in exp.rows}
    assert thesis["block4-avg-znorm"] == 0.236 and thesis["block3-gru-raw"] == 0.325
    assert thesis["block2-gru-raw"] == 0.493 and thesis["block3-finetuned-avg-raw"] == 0.410
    for r in exp.rows:
        s = r.params
        assert feature_row_name(s["tap"], s["method"], s["znorm"], s["finetuned"]) == r.name
        assert r.overrides["model"]["kind"] == f"feat_{s['method']}" and r.overrides["train"]["lr"] == 0.01
    assert [c.id for c in exp.claims] == [1, 2]


def test_results_json_complete(smoke):
    recs = smoke["records"]
    exp = experiments.get_experiment(KEY)
    assert [r["name"] for r in recs] == [row.name for row in exp.rows]
    files = sorted((smoke["kw"]["results_dir"] / KEY).glob("*.json"))
    assert len(files) == 16
    for p in files:
        rec = json.loads(p.read_text())
        assert set(REQUIRED_KEYS) <= set(rec) and set(REQUIRED_METRICS) <= set(rec["metrics"])
        row = next(r for r in exp.rows if r.name == rec["name"])
        assert rec["thesis"] == row.thesis and rec["experiment"] == KEY and rec["profile"] == "smoke"
        assert {k: rec["baseline"][k] for k in ("tap", "method", "znorm", "finetuned")} == dict(row.params)
        m = rec["metrics"]
        assert m["error_rate"] == pytest.approx(1 - m["accuracy"])
        assert len(m["history"]) == rec["config"]["train"]["epochs"] and "test_error" in m["history"][-1]
        assert rec["config"]["model"]["kind"] == f"feat_{rec['baseline']['method']}"
        assert rec["config"]["train"]["lr"] == 0.01
        assert rec["cost"]["train_frames_per_s"] > 0
        assert rec["baseline"]["weights"].startswith("stills:")
        assert rec["baseline"]["pretrain"]["test_accuracy"] is not None
        assert rec["baseline"]["finetuned"] == ("finetune" in rec["baseline"])
        assert rec["model"]["connections_built"] == []  # frame models: recorded, and empty


def test_znorm_statistics_come_from_training_frames_only(smoke):
    for rec in smoke["records"]:
        n_train = rec["dataset"]["n_train_frames"]
        assert rec["baseline"]["znorm_frames"] == (n_train if rec["baseline"]["znorm"] else 0)


def test_znorm_fit_sees_no_test_feature(monkeypatch):
    import strn.model.baselines as mb

    seen = []
    real = mb.fit_znorm
    monkeypatch.setattr(mb, "fit_znorm", lambda x, m=None: seen.append((x.clone(), m.clone())) or real(x, m))
    g = torch.Generator().manual_seed(0)

    def part(n_videos, offset):
        lengths = torch.randint(1, 5, (n_videos,), generator=g)
        f = torch.randn(int(lengths.sum()), 6, generator=g) + offset
        return {"block4": f, "lengths": lengths, "labels": torch.randint(0, 3, (n_videos,), generator=g)}

    feats = {"train": part(10, 0.0), "test": part(5, 1000.0)}  # test features far away
    cfg = experiments.row_config(experiments.get_experiment(KEY), experiments.get_experiment(KEY).rows[0],
                                 "smoke", 0, "cpu")
    out = bt.train_feature_classifier(cfg, "block4", True, feats, 3, torch.device("cpu"))
    (x, m), = seen
    assert torch.equal(x[m], feats["train"]["block4"])  # exactly the training frames
    assert out["znorm_frames"] == len(feats["train"]["block4"])


def test_one_pass_taps_match_the_extractor():
    net = build_backbone(width=4, num_classes=3).eval()
    frames = [np.random.default_rng(i).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8) for i, n in enumerate((3, 1, 4))]
    ds = SimpleNamespace(videos=[SimpleNamespace(path=str(i), label=i % 3) for i in range(3)], rate=1, size=32,
                         index=SimpleNamespace(videos_dir=Path("/x")),
                         cache=SimpleNamespace(get=lambda p, r, s: frames[int(Path(p).name)]))
    out = features.extract_features(net, ds, 32, torch.device("cpu"), batch_size=2)
    assert out["lengths"].tolist() == [3, 1, 4] and out["labels"].tolist() == [0, 1, 2]
    x = frames_input(np.concatenate(frames), 32, torch.device("cpu"))
    for tap in ("block2", "block3", "block4"):
        ref = FrameFeatureExtractor(net, tap)(x)
        assert torch.allclose(out[tap], ref, atol=1e-5), tap


def test_video_metrics():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    m = video_metrics(probs, torch.tensor([0, 1, 1]), 2)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["per_class_accuracy"] == [1.0, 0.5]
    assert m["confusion"] == [[1, 0], [1, 1]] and m["mean_class_accuracy"] == pytest.approx(0.75)


def test_rerun_reads_back_without_computing(smoke, monkeypatch):
    monkeypatch.setattr(fb, "_run_row", _boom)
    again = experiments.run_experiment(KEY, "smoke", **smoke["kw"])
    assert again == smoke["records"]


def test_features_and_pretraining_cached_across_result_folders(smoke, monkeypatch):
    import strn.train.pretrain as pt

    feats = sorted((smoke["kw"]["data_dir"] / "features").glob("*.pt"))
    assert len(feats) == 2  # pretrained and finetuned backbones, all taps in one file each
    monkeypatch.setattr(features, "extract_features", _boom)
    monkeypatch.setattr(pt, "train_on_stills", _boom)
    other = smoke["tmp"] / "res2"
    recs = fb.run_baselines(EXP, "smoke", seeds=[0], results_dir=other, data_dir=smoke["kw"]["data_dir"])
    # same numbers: features, pretrained and (deterministic CPU) finetuned backbone reused
    assert [r["metrics"]["error_rate"] for r in recs] == [r["metrics"]["error_rate"] for r in smoke["records"]]


def test_changed_baseline_key_is_recomputed(smoke):
    res = smoke["tmp"] / "res3"
    base = fb.run_baselines(EXP, "smoke", seeds=[0], results_dir=res, data_dir=smoke["kw"]["data_dir"])
    p = res / KEY / "block2-avg-raw__seed0.json"
    rec = json.loads(p.read_text())
    rec["baseline"]["key"] = "stale"
    rec["metrics"]["error_rate"] = 42.0
    p.write_text(json.dumps(rec))
    again = fb.run_baselines(EXP, "smoke", seeds=[0], results_dir=res, data_dir=smoke["kw"]["data_dir"])
    fixed = next(r for r in again if r["name"] == "block2-avg-raw")
    assert fixed["metrics"]["error_rate"] == next(r for r in base if r["name"] == "block2-avg-raw")["metrics"]["error_rate"]


def test_claims_judged(smoke):
    verdicts = claims.judge(KEY, smoke["records"])
    assert [v.claim for v in verdicts] == [1, 2]
    assert all(v.verdict in claims.VERDICTS for v in verdicts)
    assert "avg<GRU" in verdicts[0].test and "block4<block3" in verdicts[0].test and "pretrained<finetuned block3" in verdicts[1].test


def test_claim_logic_on_made_up_records():
    def rec(name, err):
        return {"name": name, "metrics": {"error_rate": err}}

    good = [rec(feature_row_name(t, m, z, f), e) for (t, m, f), errs in tables.FEATURE_THESIS.items()
            for z, e in zip((True, False), errs)]
    assert [v.verdict for v in claims.judge(KEY, good)] == [claims.REPRODUCED] * 2  # the thesis's own numbers
    flipped = [dict(r, metrics={"error_rate": 1 - r["metrics"]["error_rate"]}) for r in good]
    assert [v.verdict for v in claims.judge(KEY, flipped)] == [claims.NOT_REPRODUCED] * 2


def test_claim1_averages_over_seeds_with_all_rows():
    names = [feature_row_name(t, m, z, False) for t in ("block4", "block3", "block2") for m in ("avg",) for z in (True, False)]
    recs = [{"name": n, "seed": s, "metrics": {"error_rate": 0.1 * s + i}} for s in (0, 1) for i, n in enumerate(names)]
    assert claims.mean_per_seed(recs, names) == pytest.approx([2.5, 2.6])
    assert claims.mean_per_seed(recs[:-1], names) == pytest.approx([2.5])  # seed 1 incomplete

import time

import pytest

from strn.config import make_config
from strn.data.prepare import dataset_root
from strn.train.run import run


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    return {"data": tmp / "data", "results": tmp / "results"}


def test_run_writes_results_then_serves_them_back_quickly(smoke_env):
    cfg = make_config("smoke", experiment="05_3_learning_algorithms", name="adam-1pct")
    first = run(cfg, results_dir=smoke_env["results"], data_dir=smoke_env["data"], table="5.3", thesis=0.197,
                progress=False)
    assert first["thesis"] == 0.197 and first["metrics"]["history"]
    assert first["model"]["connections_built"] == [{"block": "layer4.2", "kind": "identity", "delay": 1}]
    t0 = time.perf_counter()
    again = run(cfg, results_dir=smoke_env["results"], data_dir=smoke_env["data"], progress=False)
    assert time.perf_counter() - t0 < 1.0
    assert again == first
    # the same configuration under another table is filed again, not retrained
    other = make_config("smoke", experiment="05_5_sampling_rate", name="rate-10")
    shared = run(other, results_dir=smoke_env["results"], data_dir=smoke_env["data"], thesis=0.197, progress=False)
    assert shared["reused_from"] == "05_3_learning_algorithms/adam-1pct"
    assert shared["metrics"] == first["metrics"] and shared["experiment"] == "05_5_sampling_rate"
    assert (smoke_env["results"] / "05_5_sampling_rate" / "rate-10__seed0.json").exists()


def test_missing_dataset_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; set data.root"):
        dataset_root(make_config("smoke", {"data": {"root": str(tmp_path / "nope")}}))
    cfg = make_config("smoke", {"data": {"dataset": "ucf101"}})
    with pytest.raises(FileNotFoundError, match=r"UCF-101 was not found at .*UCF101"):
        dataset_root(cfg, tmp_path)


def test_stored_run_built_otherwise_is_not_served_back(smoke_env):
    """A result that does not record the connections this code builds is retrained."""
    import json

    from strn.config import config_hash
    from strn.train.provenance import mismatch
    from strn.results import SCHEMA_VERSION, result_path

    cfg = make_config("smoke", {"data": {"seq_len": 5}}, experiment="05_6_temporal_context", name="context-5")
    prov = {"synth_generator_version": 3, "pretrain_version": 3, "init_digest": "x"}
    base = {"schema_version": SCHEMA_VERSION, "config_hash": config_hash(cfg), "provenance": prov}
    old = dict(base, model={"connections_built": [{"block": "layer4.0", "kind": "projection", "delay": 1}]})
    assert mismatch(old, cfg, prov)[0] == "identity" and mismatch(dict(base, metrics={}), cfg, prov)[0] == "identity"
    now = dict(base, model={"connections_built": [{"block": b, "kind": "identity", "delay": 1}
                                                  for b in ("layer4.2", "layer4.1", "layer3.5", "layer3.4")]})
    assert mismatch(now, cfg, prov) is None
    assert result_path(smoke_env["results"], cfg).name == "context-5__seed0.json"
    assert json.dumps(now)  # plain data: goes into the JSON as is

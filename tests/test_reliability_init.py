"""Reliability: a configuration's stored numbers do not depend on what the data folder had cached.

The stand-in pretraining draws from torch's generator; a run that seeded torch and then
pretrained (on a fresh data folder) started from another initialisation than one that found
the stand-in cached, and whichever ran first was stored and reused by hash."""
import shutil

import pytest

from strn.config import make_config
from strn.train.run import run


@pytest.mark.fresh_stand_in  # pretrains on a fresh data folder: the point of the test
def test_fresh_and_warm_data_folders_store_the_same_numbers(tmp_path):
    cfg = make_config("smoke", {"train": {"epochs": 1}}, experiment="05_3_learning_algorithms", name="adam-1pct")
    data = tmp_path / "data"
    fresh = run(cfg, results_dir=tmp_path / "r1", data_dir=data, progress=False)  # pretrains the stand-in here
    shutil.rmtree(data / "cache", ignore_errors=True)  # the frames decode again; the stand-in stays cached
    warm = run(cfg, results_dir=tmp_path / "r2", data_dir=data, progress=False)
    def numbers(history):  # every number but the timings
        return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]

    assert numbers(fresh["metrics"]["history"]) == numbers(warm["metrics"]["history"])
    assert fresh["metrics"]["error_rate"] == warm["metrics"]["error_rate"]
    assert fresh["metrics"]["per_class_accuracy"] == warm["metrics"]["per_class_accuracy"]


def test_pretraining_leaves_the_callers_generators_as_it_found_them():
    """Every path that may pretrain on first use (run, stacked seeds, frame baselines, notebooks)
    goes through `train_on_stills`: torch's generator after it is the one before it, so what the
    caller draws next (its model's initialisation) does not depend on whether it pretrained."""
    import dataclasses

    import torch

    from strn.train.pretrain import pretrain_spec, train_on_stills

    spec = dataclasses.replace(pretrain_spec("smoke"), n_train=32, n_test=16, n_scenes=4, epochs=1, size=16)
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    train_on_stills(spec, progress=False)
    assert torch.equal(torch.rand(4), expected)

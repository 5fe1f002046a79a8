import re

import pytest

from strn.config import ConfigError, config_from_dict, config_hash, make_config


@pytest.mark.parametrize("profile", ["smoke", "demo"])
def test_profiles_build_and_validate(profile):
    cfg = make_config(profile)
    assert cfg.profile == profile
    assert cfg.data.crop <= cfg.data.size
    assert cfg.model.kind == "strn" and cfg.model.connection == "identity"


def test_full_profile_is_the_thesis_configuration():
    cfg = make_config("full", {"data": {"root": "/somewhere/UCF101"}})
    assert (cfg.model.backbone, cfg.model.width, cfg.data.crop, cfg.data.rate, cfg.data.seq_len) == ("resnet50", 64, 224, 10, 2)
    assert (cfg.train.optimizer, cfg.train.update_every) == ("adam", 0.01)
    assert cfg.model.weights == "imagenet" and cfg.data.dataset == "ucf101"


@pytest.mark.parametrize("overrides, message", [
    ({"train": {"optimiser": "adam"}}, "unknown configuration key 'train.optimiser'"),
    ({"bogus": 1}, "unknown configuration key 'bogus'"),
    ({"train": {"optimizer": "lbfgs"}}, "allowed values: adam, rprop, sgd"),
    ({"model": {"connection": "lstm"}}, "allowed values: identity, conv, conv_relu"),
    ({"train": {"update_every": 1.5}}, "'train.update_every'"),
    ({"train": {"update_every": 0}}, "'train.update_every'"),
    ({"data": {"rate": 0}}, "'data.rate' must be a positive integer"),
    ({"data": {"split": 4}}, "'data.split' is 4; allowed values: 1, 2, 3"),
    ({"data": {"crop": 64, "size": 48}}, "cannot exceed"),
    ({"train": {"epochs": "3"}}, "'train.epochs' must be of type int"),
    ({"train": {"batch_size": True}}, "'train.batch_size' must be of type int"),
    ({"model": {"special3": True}}, "needs 'data.seq_len' >= 3"),
    ({"train": {"lr": -1.0}}, "'train.lr' must be positive"),
])
def test_bad_values_are_rejected_with_the_key_named(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config("smoke", overrides)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="allowed: smoke, demo, gpu, full"):
        make_config("huge")


def test_full_profile_refuses_the_synthetic_set():
    with pytest.raises(ConfigError, match="UCF-101"):
        make_config("full", {"data": {"dataset": "synthetic"}})


def test_hash_ignores_labels_and_device_but_not_numbers():
    a = make_config("smoke", experiment="x", name="a")
    b = make_config("smoke", {"train": {"device": "cuda"}}, experiment="y", name="b")
    c = make_config("smoke", {"train": {"seed": 1}})
    d = make_config("smoke", {"data": {"rate": 5}})
    assert config_hash(a) == config_hash(b)
    assert len({config_hash(a), config_hash(c), config_hash(d)}) == 3


def test_round_trip_through_dict():
    cfg = make_config("demo", {"model": {"positions": ["layer4.2", "layer4.1"]}, "data": {"seq_len": 3}})
    again = config_from_dict(cfg.to_dict())
    assert again == cfg and config_hash(again) == config_hash(cfg)


def test_lr_schedule_keeps_old_hashes_and_changes_new_ones():
    # The committed results were stored before train.lr_schedule existed: the default must not
    # move their hashes, and a cosine run must not be mistaken for a constant one.
    import json
    from pathlib import Path

    stored = sorted(Path("tests/data/trained_smoke").rglob("*.json"))
    recs = [json.loads(p.read_text()) for p in stored]
    recs = [r for r in recs if "config_hash" in r and "config" in r]
    assert recs, "the committed smoke run has results JSONs"
    for r in recs:
        cfg_dict = {k: v for k, v in r["config"].items()}
        assert config_hash(config_from_dict(cfg_dict)) == r["config_hash"]
    base = make_config("smoke")
    cos = make_config("smoke", {"train": {"lr_schedule": "cosine"}})
    assert config_hash(base) != config_hash(cos)
    with pytest.raises(ConfigError, match="lr_schedule"):
        make_config("smoke", {"train": {"lr_schedule": "linear"}})


def test_cosine_schedule_decays_to_zero_and_constant_is_flat():
    from strn.train.engine import scheduled_lr

    cos = make_config("smoke", {"train": {"lr_schedule": "cosine", "lr": 1e-3}}).train
    const = make_config("smoke", {"train": {"lr": 1e-3}}).train
    lrs = [scheduled_lr(cos, s, 10) for s in range(11)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[5] == pytest.approx(5e-4) and lrs[10] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert {scheduled_lr(const, s, 10) for s in range(11)} == {1e-3}


def test_digest_is_canonical_json():
    from strn.digest import digest

    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1}) != digest({"a": 1, "b": [2, 1]})
    assert len(digest({}, 12)) == 12 and digest({}, 12) == digest({})[:12]


def test_profile_table_is_the_one_source_of_profile_facts():
    from strn.data import synth
    from strn.profiles import PROFILES, get_profile

    for name, p in PROFILES.items():
        cfg = make_config(name, {"data": {"dataset": "ucf101"}} if p.synth is None else {})
        assert cfg.train.lr == p.base["train"]["lr"] and cfg.model.width == p.base["model"]["width"]
        assert (name in synth.PROFILES) == (p.synth is not None)
    assert synth.spec_for_profile("smoke").size == get_profile("smoke").synth["size"]
    with pytest.raises(ValueError, match="strn/profiles.py"):
        get_profile("huge")
    with pytest.raises(ConfigError, match="'full' runs on UCF-101"):
        make_config("full", {"data": {"dataset": "synthetic"}})

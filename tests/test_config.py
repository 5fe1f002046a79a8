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
    with pytest.raises(ConfigError, match="allowed: smoke, demo, full"):
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

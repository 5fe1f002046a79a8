"""The online temporal shift module: shapes, causality (and that the check catches a leak),
a zero shift is the plain ResNet, zero parameters, and agreement with a frame-by-frame
reference of the paper's operation."""

import pytest
import torch

from strn.config import ConfigError, config_hash, make_config
from strn.model.build import build_model, tsm_options
from strn.model.tsm import TSM, residual_branch, shifted_channels

# (shift_positions, seq_len, shift_fraction): the two rows of notebook 06 and other fractions/contexts
CONFIGS = [(None, 2, 0.125), (["layer4.2"], 2, 0.125), (None, 3, 0.25), (["98-104"], 3, 0.125),
           (["layer1.0", "layer3.2"], 4, 0.5)]
IDS = ["all-T2", "l42-T2", "all-T3-quarter", "span-T3", "two-T4-half"]


def tsm(positions, seq_len, fraction, width=8, cls=TSM):
    torch.manual_seed(0)
    model = build_model("tsm", num_classes=5, seq_len=seq_len, width=width, shift_positions=positions,
                        shift_fraction=fraction)
    if cls is not TSM:
        model.__class__ = cls
    return model.eval()


class LeakyTSM(TSM):
    """A deliberately wrong shift: channels [:fold] of step t come from step t+1 (zeros at the end)."""

    def shift(self, h, steps_in, steps_out, fold):
        now = h[:, [steps_in.index(t) for t in steps_out]]
        nxt = torch.cat([h[:, 1:, :fold], torch.zeros_like(h[:, :1, :fold])], dim=1)
        return torch.cat([nxt[:, [steps_in.index(t) for t in steps_out]], now[:, :, fold:]], dim=2)


def future_leaks(model, seq_len, px=32):
    """Steps t whose features change when only frames after t change (empty for a causal model)."""
    torch.manual_seed(1)
    x = torch.randn(2, seq_len, 3, px, px)
    with torch.no_grad():
        base = model.forward_steps(x)
        leaks = []
        for t in range(seq_len - 1):
            y = x.clone()
            y[:, t + 1:] = torch.randn_like(y[:, t + 1:])
            if not torch.allclose(model.forward_steps(y)[:, :t + 1], base[:, :t + 1], atol=1e-6):
                leaks.append(t)
    return leaks


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_shapes(positions, seq_len, fraction):
    model = tsm(positions, seq_len, fraction)
    x = torch.randn(3, seq_len, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (3, 5)
        assert model.forward_features(x).shape == (3, model.num_features)
        assert model.forward_steps(x).shape == (3, seq_len, model.num_features)
        # the last step of every-step features is what forward_features computes
        assert torch.allclose(model.forward_steps(x)[:, -1], model.forward_features(x), atol=1e-5)


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_causal_frame_t_never_sees_t_plus_1(positions, seq_len, fraction):
    assert future_leaks(tsm(positions, seq_len, fraction), seq_len) == []


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_the_causality_check_catches_a_shift_from_the_future(positions, seq_len, fraction):
    assert future_leaks(tsm(positions, seq_len, fraction, cls=LeakyTSM), seq_len) != []


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_the_past_is_used(positions, seq_len, fraction):
    """The last step's output changes with frame T-2 (the shift reads t-1), unlike the plain ResNet's."""
    model = tsm(positions, seq_len, fraction)
    x = torch.randn(2, seq_len, 3, 32, 32)
    y = x.clone()
    y[:, -2] = torch.randn_like(y[:, -2])
    with torch.no_grad():
        assert not torch.allclose(model(x), model(y), atol=1e-4)


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_zero_shift_equals_the_plain_backbone_on_the_last_frame(positions, seq_len, fraction):
    model = tsm(positions, seq_len, 0.0)
    x = torch.randn(2, seq_len, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model.backbone(x[:, -1]))
    assert model.context == 1 and model.plan(seq_len).stem == (seq_len - 1,)


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_zero_parameters_added(positions, seq_len, fraction):
    model = tsm(positions, seq_len, fraction)
    plain = build_model("frame", num_classes=5, seq_len=1, width=8)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    assert set(model.state_dict()) == {f"backbone.{k}" for k in plain.state_dict()}


def reference(model, x):
    """The paper's online TSM written frame by frame: every block on every step, step t's shifted
    channels copied from step t-1 of the block's input (zeros at t = 0)."""
    bb = model.backbone
    frames = [bb.maxpool(bb.relu(bb.bn1(bb.conv1(x[:, t])))) for t in range(x.shape[1])]
    for name in model._block_names:
        block = bb.get_submodule(name)
        if name not in model.shifts:
            frames = [block(f) for f in frames]
            continue
        fold = shifted_channels(frames[0].shape[1], model.shift_fraction)
        out = []
        for t, f in enumerate(frames):
            s = f.clone()
            s[:, :fold] = frames[t - 1][:, :fold] if t > 0 else 0
            short = f if block.downsample is None else block.downsample(f)
            out.append(torch.relu(residual_branch(block, s) + short))
        frames = out
    return bb.fc(torch.flatten(bb.avgpool(frames[-1]), 1))


@pytest.mark.parametrize("positions,seq_len,fraction", CONFIGS, ids=IDS)
def test_agrees_with_a_frame_by_frame_reference(positions, seq_len, fraction):
    model = tsm(positions, seq_len, fraction)
    x = torch.randn(2, seq_len, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(model, x), atol=1e-5)


def test_only_needed_steps_are_computed():
    """TSM at layer4.2 with T = 2 runs two frames up to layer4.1 and one through layer4.2, as
    STRN's identity connection there; in every block, the last block runs one frame only."""
    one = tsm(["layer4.2"], 2, 0.125)
    assert one.plan(2).blocks["layer4.1"] == ((0, 1), (0, 1)) and one.plan(2).blocks["layer4.2"] == ((0, 1), (1,))
    every = tsm(None, 2, 0.125)
    assert every.plan(2).blocks["layer4.2"] == ((0, 1), (1,)) and every.context == 17


def test_configuration_builds_the_model_and_keeps_other_hashes():
    cfg = make_config("smoke", {"model": {"kind": "tsm", "shift_positions": ["98-104"]}})
    assert cfg.model.shift_positions == ["layer4.2"]
    model = build_model("tsm", num_classes=3, seq_len=2, width=8, **tsm_options(cfg.model))
    assert model.shifts == ["layer4.2"] and model.shift_fraction == 0.125
    every = make_config("smoke", {"model": {"kind": "tsm", "shift_positions": list(model._block_names)}})
    assert every.model.shift_positions is None  # all blocks listed == the default: one hash
    assert config_hash(every) == config_hash(make_config("smoke", {"model": {"kind": "tsm"}}))
    assert config_hash(every) != config_hash(cfg)
    # an STRN configuration hashes without the new fields (its stored results keep their hash)
    strn = make_config("smoke")
    assert config_hash(strn) == config_hash(make_config("smoke", {"model": {"shift_fraction": 0.125}}))
    assert tsm_options(strn.model) == {}


@pytest.mark.parametrize("overrides,match", [
    ({"kind": "tsm", "shift_fraction": 1.5}, "shift_fraction"),
    ({"kind": "strn", "shift_positions": ["layer4.2"]}, "tsm' only"),
    ({"kind": "tsm", "positions": ["layer4.2"]}, "shift_positions"),
    ({"kind": "tsm", "shift_positions": ["layer9.9"]}, "shift_positions"),
])
def test_configuration_errors_name_the_field(overrides, match):
    with pytest.raises(ConfigError, match=match):
        make_config("smoke", {"model": overrides})


def test_the_configuration_accepts_every_model_kind_a_run_builds():
    from strn.model.build import MODEL_KINDS

    # "frame" is built inside the frame baselines' finetuning only, never named by a configuration
    for kind in MODEL_KINDS:
        if kind != "frame":
            assert make_config("smoke", {"model": {"kind": kind}}).model.kind == kind
    with pytest.raises(ConfigError, match="model.kind"):
        make_config("smoke", {"model": {"kind": "tsm_offline"}})

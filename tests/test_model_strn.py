"""The STRN: exactness, receptive field, gradients, trimming, positions."""

import copy

import pytest
import torch
import torch.nn.functional as F

from strn.model.backbone import build_backbone
from strn.model.build import build_model
from strn.model.positions import THESIS_POSITIONS
from strn.model.strn import STRN, Connection, TemporalConnection, plan_connections


@pytest.fixture(scope="module")
def r50():
    torch.manual_seed(0)
    return build_backbone("resnet50", num_classes=10)


def strn_on(backbone, connections, **kw):
    return STRN(copy.deepcopy(backbone), connections, **kw)


def narrow(seq_len, width=8, **kw):
    torch.manual_seed(1)
    return build_model("strn", num_classes=6, seq_len=seq_len, width=width, **kw)


# ---------------------------------------------------------------- no connection == ResNet


@pytest.mark.parametrize("width,px,batch", [(64, 64, 1), (64, 32, 2), (8, 64, 2), (16, 48, 1)])
def test_no_connection_equals_torchvision_on_last_frame(r50, width, px, batch):
    net = r50 if width == 64 else build_backbone("resnet50", width=width, num_classes=10)
    model = STRN(net, []).eval()
    x = torch.randn(batch, 3, 3, px, px)
    with torch.no_grad():
        assert torch.equal(model(x), net(x[:, -1]))
        assert model.forward_features(x).shape == (batch, net.fc.in_features)


def test_build_model_with_empty_positions_is_plain_resnet():
    model = narrow(3, positions=[]).eval()
    assert model.connections == [] and model.context == 1
    x = torch.randn(2, 3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model.backbone(x[:, -1]))


# ---------------------------------------------------------------- parameters


def _tparams(model):
    return sum(p.numel() for p in model.temporal.parameters() if p.requires_grad)


def test_identity_has_no_parameters_and_learned_ones_do():
    assert _tparams(narrow(2, connection="identity")) == 0
    c = 8 * 8 * 4  # layer4 width at width 8
    assert _tparams(narrow(2, connection="conv")) == c * c
    assert _tparams(narrow(2, connection="conv_relu")) == c * c + 2 * c
    assert _tparams(narrow(2, connection="projection")) == c * c + 2 * c


@pytest.mark.parametrize("position", ["layer1.0", "layer3.0", "layer4.0"])
def test_identity_request_at_changing_block_becomes_projection(position):
    m = narrow(2, positions=[position])
    assert m.connections == [Connection(position, "projection", 1)]
    assert _tparams(m) > 0
    with pytest.raises(ValueError, match="projection"):
        narrow(2, positions=[position], strict_identity=True)
    with pytest.raises(ValueError, match="projection is needed"):
        TemporalConnection("identity", 64, 256, 1)


def test_unknown_kind():
    with pytest.raises(ValueError, match="conv_relu"):
        narrow(2, connection="lstm")


# ---------------------------------------------------------------- reference implementation


def _pre_relu(block, x):
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.relu(block.bn2(block.conv2(out)))
    out = block.bn3(block.conv3(out))
    return out + (x if block.downsample is None else block.downsample(x))


def reference(model, x):
    """Every frame through every block, step by step, straight from the formula."""
    bb = model.backbone
    T = x.shape[1]
    h = [bb.maxpool(bb.relu(bb.bn1(bb.conv1(x[:, t])))) for t in range(T)]
    for name, block in [(f"layer{s}.{i}", b) for s in range(1, 5) for i, b in enumerate(getattr(bb, f"layer{s}"))]:
        key = name.replace(".", "_")
        if key in model.temporal:
            r = model.temporal[key]
            h = [
                F.relu(_pre_relu(block, h[t]) + (r(h[t - r.delay]) if t >= r.delay else 0))
                for t in range(T)
            ]
        else:
            h = [block(ht) for ht in h]
    return bb.fc(torch.flatten(bb.avgpool(h[-1]), 1))


@pytest.mark.parametrize(
    "seq_len,kw",
    [
        (2, {}),
        (3, {"connection": "conv"}),
        (5, {"connection": "conv_relu"}),
        (5, {}),
        (3, {"special3": True}),
        (2, {"positions": ["5-11"], "connection": "conv"}),
        (3, {"positions": ["49-55", "86-92"], "connection": "projection"}),
    ],
)
def test_matches_step_by_step_reference(seq_len, kw):
    model = narrow(seq_len, **kw).eval()
    for p in model.temporal.parameters():  # non-trivial BN statistics in R
        if p.dim() == 1:
            torch.nn.init.normal_(p)
    x = torch.randn(2, seq_len, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(model, x), rtol=1e-4, atol=1e-5)
        # shorter inputs: missing predecessors contribute zero, after R
        torch.testing.assert_close(model(x[:, -1:]), reference(model, x[:, -1:]), rtol=1e-4, atol=1e-5)


def test_first_frame_gets_zero_temporal_term_after_r():
    model = narrow(2, connection="conv_relu").eval()
    torch.nn.init.normal_(model.temporal["layer4_2"].r[1].bias)  # BN bias would leak if R saw zeros
    x = torch.randn(2, 1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model.backbone(x[:, 0]))


# ---------------------------------------------------------------- receptive field


def _changes(model, x):
    """For each frame index: does replacing that frame change the last-step output?"""
    with torch.no_grad():
        base = model(x)
        out = []
        for i in range(x.shape[1]):
            y = x.clone()
            y[:, i] = torch.randn_like(y[:, i]) * 3
            out.append(not torch.equal(model(y), base))
    return out


@pytest.mark.parametrize(
    "seq_len,width,kw",
    [(2, 8, {}), (3, 8, {}), (5, 8, {}), (2, 16, {"connection": "conv"}), (3, 8, {"connection": "conv_relu"})],
)
def test_receptive_field_is_last_T_frames(seq_len, width, kw):
    model = narrow(seq_len, width=width, **kw).eval()
    assert model.context == seq_len
    n = seq_len + 2  # two extra, earlier frames
    x = torch.randn(1, n, 3, 32, 32)
    assert _changes(model, x) == [i >= n - seq_len for i in range(n)]


def test_receptive_field_resnet50_T2(r50):
    model = strn_on(r50, [("98-104", "identity", 1)]).eval()
    assert _changes(model, torch.randn(1, 3, 3, 32, 32)) == [False, True, True]


def test_special3_skips_previous_frame():
    model = narrow(3, special3=True).eval()
    assert model.connections == [Connection("layer4.2", "identity", 2)] and model.context == 3
    # output at t=3 depends on frames 3 and 1 only (frame 2 is skipped)
    assert _changes(model, torch.randn(1, 3, 3, 32, 32)) == [True, False, True]
    assert _changes(model, torch.randn(1, 5, 3, 32, 32)) == [False, False, True, False, True]


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("connection", ["identity", "conv", "conv_relu"])
def test_gradient_reaches_previous_frame_only_through_connection(connection):
    for positions, expect in ((None, True), ([], False)):
        model = narrow(2, connection=connection, positions=positions).eval()
        x = torch.randn(2, 3, 3, 32, 32, requires_grad=True)
        F.cross_entropy(model(x), torch.tensor([1, 2])).backward()
        g = x.grad
        assert g[:, -1].abs().sum() > 0
        assert bool(g[:, -2].abs().sum() > 0) is expect
        assert torch.count_nonzero(g[:, 0]) == 0  # outside the context


def test_gradient_reaches_connection_parameters_in_train_mode():
    model = narrow(3, connection="conv").train()
    x = torch.randn(2, 3, 3, 64, 64)
    F.cross_entropy(model(x), torch.tensor([0, 5])).backward()
    for key in ("layer4_2", "layer4_1"):
        assert model.temporal[key].r.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- every position, both sizes


# the four thesis positions with every connection type, plus other blocks and spellings
R50_CASES = [([p], c) for p in THESIS_POSITIONS for c in ("identity", "conv", "conv_relu")] + [
    (p, "identity") for p in (["layer2.0"], ["layer1.1"], ["layer3.5", "layer2.2"], [(98, 104)])
]


@pytest.mark.parametrize("positions,connection", R50_CASES, ids=str)
def test_positions_forward_backward_resnet50(r50, positions, connection):
    model = strn_on(r50, plan_connections(seq_len=2, connection=connection, positions=positions)).train()
    x = torch.randn(1, 2, 3, 64, 64)  # 64 px: layer4 maps are 2x2, enough for train-mode BN at B=1
    y = model(x)
    assert y.shape == (1, 10)
    y.sum().backward()
    for p in model.temporal.parameters():
        assert p.grad is not None


@pytest.mark.parametrize("seq_len", [2, 3, 5])
def test_default_placements_resnet50(r50, seq_len):
    model = strn_on(r50, plan_connections(seq_len=seq_len))
    model(torch.randn(1, seq_len, 3, 64, 64)).sum().backward()
    expect = ["layer4.2", "layer4.1", "layer3.5", "layer3.4"][: seq_len - 1]
    assert [c.block for c in model.connections] == expect
    # layer4.0 changes channels and stride: the default skips it, so every connection is identity
    assert [c.kind for c in model.connections] == ["identity"] * (seq_len - 1)


NARROW_CASES = [(2, {"positions": [p]}) for p in THESIS_POSITIONS]
NARROW_CASES += [(3, {}), (5, {}), (3, {"special3": True})]


@pytest.mark.parametrize(
    "width,connection", [(8, "identity"), (8, "conv_relu"), (16, "identity"), (16, "conv")]
)
@pytest.mark.parametrize("seq_len,kw", NARROW_CASES)
def test_positions_forward_backward_narrow(width, seq_len, kw, connection):
    model = narrow(seq_len, width=width, connection=connection, **kw).train()
    x = torch.randn(2, seq_len, 3, 32, 32, requires_grad=True)
    model(x).sum().backward()
    assert x.grad[:, -1].abs().sum() > 0


def test_resnet18_basic_blocks_work():
    model = build_model("strn", num_classes=3, seq_len=3, backbone="resnet18", width=8, connection="conv").eval()
    assert [c.block for c in model.connections] == ["layer4.1", "layer3.1"]  # a stage's first block is skipped
    assert _changes(model, torch.randn(1, 4, 3, 32, 32)) == [False, True, True, True]


# ---------------------------------------------------------------- trimming


def _count_frames(model, x, modules):
    seen = {}
    hooks = [
        model.get_submodule(m).register_forward_hook(lambda mod, inp, out, m=m: seen.__setitem__(m, inp[0].shape[0]))
        for m in modules
    ]
    model(x)
    for h in hooks:
        h.remove()
    return seen


WATCH = ["backbone.conv1", "backbone.layer3.5.conv1", "backbone.layer4.0.conv1", "backbone.layer4.1.conv1", "backbone.layer4.2.conv1"]


@pytest.mark.parametrize(
    "seq_len,kw,expect",
    [
        # frames per sequence seen by: stem, layer3.5, layer4.0, layer4.1, layer4.2 (residual branch)
        (5, {"positions": []}, [1, 1, 1, 1, 1]),  # plain ResNet: last frame only
        (5, {"positions": ["layer4.2"]}, [2, 2, 2, 2, 1]),  # frames 4, 5; layer4.2's branch on 5 only
        (5, {"positions": ["layer4.0"]}, [2, 2, 1, 1, 1]),
        (5, {}, [5, 3, 3, 2, 1]),  # default T=5 (3.4, 3.5, 4.1, 4.2): one frame dropped per connection
        (3, {}, [3, 3, 3, 2, 1]),
        (3, {"special3": True}, [2, 2, 2, 2, 1]),  # frames 1 and 3, never 2
    ],
)
def test_only_needed_frames_are_computed(seq_len, kw, expect):
    model = narrow(seq_len, **kw).eval()
    B = 2
    with torch.no_grad():
        seen = _count_frames(model, torch.randn(B, seq_len, 3, 32, 32), WATCH)
    assert [seen[m] for m in WATCH] == [B * e for e in expect]


def test_connection_map_runs_on_source_frames_only():
    model = narrow(5, connection="conv").eval()  # R at layer3.4, layer3.5, layer4.1, layer4.2
    mods = [f"temporal.{k}" for k in ("layer3_4", "layer3_5", "layer4_1", "layer4_2")]
    with torch.no_grad():
        seen = _count_frames(model, torch.randn(1, 5, 3, 32, 32), mods)
    assert [seen[m] for m in mods] == [4, 3, 2, 1]
    with torch.no_grad():  # a 2-frame input to the T=5 model: each R maps frame 1 for frame 2, once
        seen = _count_frames(model, torch.randn(1, 2, 3, 32, 32), mods)
    assert seen == {m: 1 for m in mods}


def test_plan_is_per_sequence_length():
    model = narrow(3)
    assert model.plan(3).stem == (0, 1, 2)
    assert model.plan(7).stem == (4, 5, 6)
    assert model.plan(1).stem == (0,)


def test_deepcopy_uses_its_own_weights():
    model = narrow(2, connection="conv").eval()
    twin = copy.deepcopy(model)
    x = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), twin(x))
        twin.backbone.layer4[2].conv3.weight.mul_(2)
        twin.temporal["layer4_2"].r.weight.mul_(0.5)
        assert not torch.equal(model(x), twin(x))
        torch.testing.assert_close(twin(x), reference(twin, x), rtol=1e-4, atol=1e-5)

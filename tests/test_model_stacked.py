"""K models stacked into one grouped model (strn/model/stacked.py) compute and train as the K models.

The comparisons run in float64: at these tiny sizes (32 px: layer4's maps are 1x1, so its
BatchNorm normalises over B values) float32 rounding is amplified to ~1e-3 in the logits, which
would hide a real mixing of models behind a loose tolerance; in float64 the stacked model is the
K models to ~1e-12. One float32 check keeps the default dtype covered (loose: rounding)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from strn.model.build import build_model
from strn.model.stacked import stack_inputs, stack_models, unstack_logits, unstack_state_dicts

K, B, CLASSES, SIZE = 3, 4, 5, 32

# (kind, seq_len, build kwargs): every temporal connection kind, several connections, special3,
# a connection whose identity request becomes a projection, and the frame-average baseline.
CASES = {
    "identity": ("strn", 2, dict(connection="identity")),
    "projection-at-layer4.0": ("strn", 2, dict(connection="identity", positions=["layer4.0"])),
    "conv": ("strn", 2, dict(connection="conv")),
    "conv_relu-two-connections": ("strn", 3, dict(connection="conv_relu")),
    "special3": ("strn", 3, dict(connection="identity", special3=True)),
    "frame_avg": ("frame_avg", 2, {}),
}


def _models(case: str, dtype: torch.dtype = torch.float64) -> tuple[list[nn.Module], int]:
    kind, t, kw = CASES[case]
    models = []
    for seed in range(K):
        torch.manual_seed(seed)
        models.append(build_model(kind, num_classes=CLASSES, seq_len=t, width=8, **kw).to(dtype))
    return models, t


def _inputs(t: int, seed: int, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, t, 3, SIZE, SIZE, generator=g, dtype=dtype) for _ in range(K)]


@pytest.mark.parametrize("case", list(CASES))
def test_stacked_forward_is_each_models_forward(case):
    models, t = _models(case)
    if case.startswith("projection"):
        assert models[0].connections[0].kind == "projection"
    stacked = stack_models(models)
    xs = _inputs(t, 1)
    outs = unstack_logits(stacked(stack_inputs(xs)), K)  # train mode: batch statistics per channel
    for m, x, o in zip(models, xs, outs):
        assert o.shape == (B, CLASSES)
        torch.testing.assert_close(o, m(x), atol=1e-10, rtol=1e-10)


def test_stacked_forward_in_float32_differs_by_rounding_only():
    models, t = _models("conv", torch.float32)
    xs = _inputs(t, 1, torch.float32)
    outs = unstack_logits(stack_models(models)(stack_inputs(xs)), K)
    for m, x, o in zip(models, xs, outs):
        torch.testing.assert_close(o, m(x), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("case", list(CASES))
def test_three_adam_steps_stacked_equal_separate_training(case):
    models, t = _models(case)
    template = build_model(CASES[case][0], num_classes=CLASSES, seq_len=t, width=8, **CASES[case][2]).double()
    stacked = stack_models(models)
    opt = torch.optim.Adam(stacked.parameters(), lr=1e-3)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    for step in range(3):
        xs = _inputs(t, 10 + step)
        ys = [torch.randint(0, CLASSES, (B,), generator=torch.Generator().manual_seed(100 * step + k)) for k in range(K)]
        outs = unstack_logits(stacked(stack_inputs(xs)), K)
        sum(F.cross_entropy(o, y) for o, y in zip(outs, ys)).backward()
        opt.step()
        opt.zero_grad()
        for m, o_, x, y in zip(models, opts, xs, ys):
            F.cross_entropy(m(x), y).backward()
            o_.step()
            o_.zero_grad()
    plain = []
    for sd in unstack_state_dicts(stacked, template, K):
        m = build_model(CASES[case][0], num_classes=CLASSES, seq_len=t, width=8, **CASES[case][2]).double()
        m.load_state_dict(sd, strict=True)
        plain.append(m.eval())
    stacked.eval()
    x = _inputs(t, 99)[0]
    with torch.no_grad():
        st = unstack_logits(stacked(stack_inputs([x] * K)), K)
        for k in range(K):
            torch.testing.assert_close(plain[k](x), st[k], atol=1e-10, rtol=1e-10)  # the same weights, unstacked
            torch.testing.assert_close(models[k].eval()(x), st[k], atol=1e-6, rtol=1e-6)  # rounding only
        # the models really trained apart: not three copies of one
        assert (st[0] - st[1]).abs().max() > 1e-2


def test_a_module_that_cannot_be_stacked_is_named():
    models, _ = _models("conv")
    for m in models:
        m.backbone.fc = nn.Sequential(nn.Linear(m.backbone.fc.in_features, CLASSES), nn.LayerNorm(CLASSES))
    with pytest.raises(ValueError, match=r"'backbone\.fc\.1' of type LayerNorm"):
        stack_models(models)
    gru = [build_model("feat_gru", num_classes=CLASSES, seq_len=2, width=8) for _ in range(2)]
    with pytest.raises(ValueError, match="FeatureGRUClassifier"):
        stack_models(gru)


def test_models_of_different_architectures_are_refused():
    a = build_model("strn", num_classes=CLASSES, seq_len=2, width=8, connection="conv")
    b = build_model("strn", num_classes=CLASSES, seq_len=2, width=8, connection="conv_relu")
    with pytest.raises(ValueError, match="model 1 differs in architecture"):
        stack_models([a, b])

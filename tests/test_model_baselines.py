"""Baselines of Tables 5.1/5.2 and the frame-average model."""

import math

import pytest
import torch
import torch.nn.functional as F

from strn.model.backbone import build_backbone
from strn.model.baselines import (
    FeatureAvgClassifier,
    FeatureGRUClassifier,
    FrameAverage,
    FrameFeatureExtractor,
    build_feature_extractor,
    fit_znorm,
)
from strn.model.build import build_model


@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("tap", ["block2", "block3", "block4"])
def test_extractor_shapes(width, tap):
    ext = build_feature_extractor(tap=tap, width=width)
    dim = {"block2": 2, "block3": 4, "block4": 8}[tap] * width * 4
    assert ext.out_dim == dim
    assert ext(torch.randn(3, 3, 32, 32)).shape == (3, dim)
    assert ext(torch.randn(2, 4, 3, 32, 32)).shape == (2, 4, dim)
    # build_model derives the same in_dim for the classifier
    assert build_model("feat_avg", num_classes=5, seq_len=4, width=width, tap=tap).head.in_features == dim


def test_block4_is_the_networks_pooled_feature():
    net = build_backbone("resnet50", width=8).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = {}
    net.avgpool.register_forward_hook(lambda m, i, o: feats.setdefault("f", o.flatten(1)))
    net(x)
    torch.testing.assert_close(FrameFeatureExtractor(net, "block4")(x), feats["f"])


def test_extractor_is_frozen():
    ext = build_feature_extractor(tap="block3", width=8)
    ext.train()
    assert not ext.training and not ext.backbone.training
    assert all(not p.requires_grad for p in ext.parameters())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    f = ext(x)
    assert not f.requires_grad
    assert torch.equal(f, ext(x))  # eval-mode BN: deterministic, batch independent
    before = ext.backbone.layer1[0].bn1.running_mean.clone()
    ext(torch.randn(4, 3, 32, 32) * 5)
    assert torch.equal(before, ext.backbone.layer1[0].bn1.running_mean)


def test_unknown_tap():
    with pytest.raises(ValueError, match="block4"):
        build_feature_extractor(tap="block5", width=8)


def test_fit_znorm_uses_only_given_features_and_mask():
    train = torch.randn(2, 5, 4) * 3 + 7
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    train[0, 3:] = 1e6  # padding must not count
    mean, std = fit_znorm(train, mask)
    real = train[mask]
    torch.testing.assert_close(mean, real.mean(0))
    torch.testing.assert_close(std, real.std(0, unbiased=False))
    const = torch.ones(10, 3)
    m, s = fit_znorm(const)
    assert torch.equal(s, torch.ones(3))  # constant dims: std 1, not a division by ~0


def test_avg_classifier_znorm_with_train_stats():
    torch.manual_seed(0)
    train = torch.randn(50, 6) * 4 + 2
    test = torch.randn(3, 5, 6) * 10 - 5  # other statistics: must not be used
    stats = fit_znorm(train)
    clf = FeatureAvgClassifier(6, 4, znorm_stats=stats)
    expected = clf.head((test.mean(1) - stats[0]) / stats[1])
    torch.testing.assert_close(clf(test), expected)
    # mask: padded frames ignored
    padded = torch.cat([test, torch.full((3, 2, 6), 1e3)], 1)
    mask = torch.cat([torch.ones(3, 5), torch.zeros(3, 2)], 1).bool()
    torch.testing.assert_close(clf(padded, mask), expected)
    # no stats: plain mean
    plain = FeatureAvgClassifier(6, 4)
    torch.testing.assert_close(plain(test), plain.head(test.mean(1)))
    assert {k for k in clf.state_dict()} >= {"znorm.mean", "znorm.std"}


def test_gru_classifier_hidden_128_and_padding():
    torch.manual_seed(0)
    clf = build_model("feat_gru", num_classes=5, seq_len=4, width=8, tap="block4")
    assert clf.gru.hidden_size == 128 and clf.gru.input_size == 256 and clf.head.in_features == 128
    feats = torch.randn(2, 4, 256)
    out = clf(feats)
    assert out.shape == (2, 5)
    # padding at the end is ignored: a video of 3 real frames == the same 3 frames unpadded
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    padded = clf(feats, mask)
    torch.testing.assert_close(padded[0], clf(feats[:1, :3])[0])
    torch.testing.assert_close(padded[1], out[1])
    out.sum().backward()
    assert clf.gru.weight_ih_l0.grad.abs().sum() > 0


def test_gru_znorm_applied_per_frame():
    stats = (torch.full((6,), 2.0), torch.full((6,), 4.0))
    a = FeatureGRUClassifier(6, 3, hidden=8, znorm_stats=stats)
    b = FeatureGRUClassifier(6, 3, hidden=8)
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.startswith("znorm")}, strict=False)
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(a(x), b((x - 2) / 4))


def test_frame_average_is_log_of_mean_probabilities():
    torch.manual_seed(0)
    model = build_model("frame_avg", num_classes=5, seq_len=3, width=8).eval()
    assert isinstance(model, FrameAverage)
    x = torch.randn(2, 3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        probs = torch.stack([F.softmax(model.backbone(x[:, t]), -1) for t in range(3)], 1).mean(1)
    torch.testing.assert_close(out.exp(), probs)
    torch.testing.assert_close(F.softmax(out, -1), probs)
    y = torch.tensor([1, 3])
    torch.testing.assert_close(F.cross_entropy(out, y), -probs[torch.arange(2), y].log().mean())
    assert math.isclose(out.exp().sum(-1)[0].item(), 1.0, rel_tol=1e-5)


def test_frame_classifier_is_plain_resnet():
    net = build_model("frame", num_classes=9, seq_len=1, width=8)
    assert net.fc.out_features == 9
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 9)


def test_build_model_rejects_unknown():
    with pytest.raises(ValueError, match="strn"):
        build_model("lstm", num_classes=3, seq_len=2)
    with pytest.raises(TypeError, match="hidden"):
        build_model("feat_avg", num_classes=3, seq_len=2, hidden=5)

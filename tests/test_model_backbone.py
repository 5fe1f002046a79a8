"""Backbones and weight loading (strn.model.backbone)."""

import os

import pytest
import torch
import torchvision
from torchvision.models.resnet import Bottleneck

from strn.model.backbone import IMAGENET_FILE, NarrowResNet, build_backbone, load_weights
from strn.model.build import build_model


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_resnet50_is_torchvision_resnet50():
    net = build_backbone("resnet50")
    assert type(net) is torchvision.models.ResNet
    assert _shapes(net) == _shapes(torchvision.models.resnet50())


def test_narrow_at_width_64_has_resnet50_topology():
    assert _shapes(NarrowResNet(width=64)) == _shapes(torchvision.models.resnet50())


@pytest.mark.parametrize("width", [8, 16])
def test_narrow_shape_and_names(width):
    net = build_backbone("resnet50", width=width, num_classes=7)
    assert isinstance(net, torchvision.models.ResNet)
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert all(isinstance(b, Bottleneck) for i in range(1, 5) for b in getattr(net, f"layer{i}"))
    full = set(dict(torchvision.models.resnet50().named_modules()))
    assert set(dict(net.named_modules())) == full  # every module name of the thesis net exists
    assert net.conv1.out_channels == width
    planes = [getattr(net, f"layer{i}")[0].conv1.out_channels for i in range(1, 5)]
    assert planes == [width, 2 * width, 4 * width, 8 * width]
    assert net.fc.in_features == 32 * width and net.fc.out_features == 7
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="resnet50"):
        build_backbone("vgg16")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A temporary TORCH_HOME, and no network: a download attempt fails as offline."""
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "hub" / "checkpoints"


def test_imagenet_absent_raises_with_file_and_folder(hub):
    net = build_backbone("resnet50", width=8)
    with pytest.raises(FileNotFoundError) as e:
        load_weights(net, "imagenet")
    msg = str(e.value)
    assert IMAGENET_FILE == "resnet50-0676ba61.pth"  # IMAGENET1K_V1, not V2's resnet50-11ad3fa6.pth
    assert IMAGENET_FILE in msg and str(hub) in msg and "download.pytorch.org" in msg and "IMAGENET1K_V1" in msg
    with pytest.raises(FileNotFoundError, match=IMAGENET_FILE):
        build_model("strn", num_classes=5, seq_len=2, width=8, weights="imagenet")


def test_imagenet_from_hub_cache_keeps_new_head(hub):
    hub.mkdir(parents=True)
    src = torchvision.models.resnet50()
    torch.save(src.state_dict(), hub / IMAGENET_FILE)
    model = build_model("strn", num_classes=5, seq_len=3, weights="imagenet", connection="conv")
    sd = model.state_dict()
    assert torch.equal(sd["backbone.layer3.1.conv2.weight"], src.layer3[1].conv2.weight)
    assert sd["backbone.fc.weight"].shape == (5, 2048)  # 1000-class head skipped
    report = load_weights(torchvision.models.resnet50(), "imagenet")
    assert not report.missing and not report.dropped


def test_imagenet_on_narrow_net_is_an_error(hub):
    hub.mkdir(parents=True)
    torch.save(torchvision.models.resnet50().state_dict(), hub / IMAGENET_FILE)
    with pytest.raises(ValueError, match="shape"):
        load_weights(build_backbone("resnet50", width=8), "imagenet")


@pytest.mark.parametrize("wrap", [True, False])
def test_checkpoint_round_trip(tmp_path, wrap):
    a = build_model("strn", num_classes=4, seq_len=2, width=8, connection="conv_relu")
    path = tmp_path / "ckpt.pt"
    torch.save({"model": a.state_dict(), "epoch": 3} if wrap else a.state_dict(), path)
    b = build_model("strn", num_classes=4, seq_len=2, width=8, connection="conv_relu", weights=str(path))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    x = torch.randn(2, 2, 3, 32, 32)
    assert torch.equal(a.eval()(x), b.eval()(x))


def test_frame_classifier_checkpoint_into_strn_and_back(tmp_path):
    frame = build_model("frame", num_classes=4, seq_len=1, width=8)
    torch.save({"model": frame.state_dict()}, tmp_path / "frame.pt")
    strn = build_model("strn", num_classes=4, seq_len=2, width=8, weights=str(tmp_path / "frame.pt"))
    assert torch.equal(strn.backbone.layer2[0].conv1.weight, frame.layer2[0].conv1.weight)
    # and an STRN checkpoint's backbone into a plain ResNet (temporal keys dropped)
    torch.save({"model": strn.state_dict()}, tmp_path / "strn.pt")
    plain = build_backbone("resnet50", width=8, num_classes=4)
    report = load_weights(plain, str(tmp_path / "strn.pt"))
    assert torch.equal(plain.fc.weight, frame.fc.weight)
    assert report.dropped == [] and report.missing == []


def test_missing_path():
    with pytest.raises(FileNotFoundError):
        load_weights(build_backbone("resnet50", width=8), os.path.join("no", "such.pt"))


def test_imagenet_v2_remains_a_choice(hub):
    hub.mkdir(parents=True)
    src = torchvision.models.resnet50()
    torch.save(src.state_dict(), hub / "resnet50-11ad3fa6.pth")
    with pytest.raises(FileNotFoundError, match=IMAGENET_FILE):  # V2's file does not stand in for V1
        load_weights(torchvision.models.resnet50(), "imagenet")
    report = load_weights(torchvision.models.resnet50(), "imagenet_v2")
    assert report.source.endswith("resnet50-11ad3fa6.pth") and not report.missing

"""torchvision ResNet backbones, full size or narrow, and weight loading.

`build_backbone("resnet50")` at width 64 *is* `torchvision.models.resnet50()`. Narrow
variants (width < 64) keep the exact module tree of the full net -- conv1, bn1, layer1..
layer4 of [3, 4, 6, 3] Bottlenecks, avgpool, fc -- with every channel count scaled by
width / 64, so every thesis position (STUDY §1) exists in the small profiles too.

"imagenet" is torchvision's ResNet50_Weights.IMAGENET1K_V1 ("imagenet_v2": IMAGENET1K_V2),
read from the torch hub cache, downloaded (hash-checked) where a network exists, and
otherwise explained: which file to put where.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models import ResNet50_Weights
from torchvision.models import resnet as tv_resnet
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

__all__ = [
    "ARCHS",
    "IMAGENET_FILE",
    "IMAGENET_URL",
    "LoadReport",
    "NarrowResNet",
    "build_backbone",
    "imagenet_weights_path",
    "load_weights",
]

# name -> (block type, blocks per stage)
ARCHS: dict[str, tuple[type[BasicBlock | Bottleneck], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
}

# torchvision's ResNet50_Weights.IMAGENET1K_V1 (the original He et al. training recipe,
# closest to what the thesis used); V2's file is accepted too when it is the only one.
IMAGENET_FILE = "resnet50-0676ba61.pth"
IMAGENET_URL = "https://download.pytorch.org/models/" + IMAGENET_FILE


class NarrowResNet(ResNet):
    """torchvision ResNet with every channel count scaled by ``width / 64``.

    Stem ``width`` channels; stage planes width, 2w, 4w, 8w (x block.expansion at the
    output). Same module names and block layout as the full net; torchvision's
    ``_make_layer`` and init are reused. ``ResNet.__init__`` hard-codes 64 channels, so
    it is replaced here (and only here) by the same body with ``width``.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck] = Bottleneck,
        layers: list[int] | tuple[int, ...] = (3, 4, 6, 3),
        *,
        width: int = 64,
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        norm_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        nn.Module.__init__(self)
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # Bottleneck inner width = planes * base_width / 64 = planes
        self.width = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)

        # torchvision's init, verbatim in effect.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)


def build_backbone(name: str = "resnet50", *, width: int = 64, num_classes: int = 1000) -> ResNet:
    """A torchvision ResNet, randomly initialised (see `load_weights`).

    Args:
        name: one of `ARCHS` ("resnet50" is the thesis net).
        width: stem channels; 64 is torchvision's net exactly, smaller values give the
            narrow variant of the same shape (`NarrowResNet`).
        num_classes: output units of ``fc``.
    """
    if name not in ARCHS:
        raise ValueError(f"unknown backbone {name!r}; valid: {sorted(ARCHS)}")
    if width == 64:
        return getattr(tv_resnet, name)(weights=None, num_classes=num_classes)
    block, layers = ARCHS[name]
    return NarrowResNet(block, layers, width=width, num_classes=num_classes)


# --------------------------------------------------------------------------- weights


@dataclass
class LoadReport:
    """What `load_weights` did: source file, keys loaded, and keys left as initialised."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model keys not in the file
    dropped: list[str] = field(default_factory=list)  # file keys not used (head shape, extras)


IMAGENET_WEIGHTS = {"imagenet": "IMAGENET1K_V1", "imagenet_v2": "IMAGENET1K_V2"}  # weights= -> torchvision enum


def imagenet_weights_path(which: str = "imagenet") -> str:
    """Path of torchvision's ResNet-50 ImageNet file, ``ResNet50_Weights.IMAGENET1K_V1``
    (``which="imagenet"``, `IMAGENET_FILE`) or ``IMAGENET1K_V2`` (``"imagenet_v2"``), in the
    torch hub checkpoints folder. Missing, it is downloaded through torchvision's weights API
    (hash-checked); where that fails (offline), FileNotFoundError says which file to put where.
    """
    w = ResNet50_Weights[IMAGENET_WEIGHTS[which]]
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    path = os.path.join(folder, os.path.basename(w.url))
    if os.path.isfile(path):
        return path
    try:
        torch.hub.load_state_dict_from_url(w.url, progress=False, check_hash=True)
    except Exception as e:  # noqa: BLE001 - offline, proxy, hash mismatch: all end in the same advice
        raise FileNotFoundError(
            f"ImageNet weights ({which}: torchvision ResNet50_Weights.{w.name}) not found: expected "
            f"{os.path.basename(w.url)} in {folder}, and downloading it failed ({type(e).__name__}: {e}). On a "
            f"machine with internet, fetch {w.url} and copy it into that folder (it is "
            f"torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it), or pass weights=<path to the .pth "
            f"file>; or use weights='scratch'."
        ) from e
    return path


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    # Project checkpoints are {"model": state_dict, ...}; bare state dicts also accepted.
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} holds neither a state dict nor a checkpoint with key 'model'")
    return dict(obj)


def _is_head(key: str) -> bool:
    return key.split(".")[-2:-1] == ["fc"] or key.startswith(("fc.", "backbone.fc.", "head."))


def _load_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> LoadReport:
    """Load `sd` into `model`, bridging bare-ResNet keys and ``backbone.``-prefixed keys.

    A classifier head whose shape differs (other num_classes) is left as initialised; any
    other shape mismatch is an error, and so is a missing key outside the head and the
    temporal connections (``temporal.``), which pretrained backbones cannot hold.
    """
    target = model.state_dict()
    model_prefixed = any(k.startswith("backbone.") for k in target)
    file_prefixed = any(k.startswith("backbone.") for k in sd)
    if model_prefixed and not file_prefixed:
        sd = {"backbone." + k: v for k, v in sd.items()}
    elif file_prefixed and not model_prefixed:
        sd = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    report = LoadReport(source=source)
    use: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k not in target:
            report.dropped.append(k)
        elif target[k].shape != v.shape:
            if not _is_head(k):
                raise ValueError(
                    f"{source}: shape of {k} is {tuple(v.shape)} in the file but "
                    f"{tuple(target[k].shape)} in the model (other backbone or width?)"
                )
            report.dropped.append(k)
        else:
            use[k] = v
    report.missing = [k for k in target if k not in use]
    # Old torchvision files lack BN's num_batches_tracked (BN fills it in itself).
    bad = [
        k
        for k in report.missing
        if not (_is_head(k) or k.startswith("temporal.") or k.endswith("num_batches_tracked"))
    ]
    if bad:
        raise ValueError(f"{source} does not fit the model: {len(bad)} keys missing, e.g. {bad[:5]}")
    model.load_state_dict(use, strict=False)
    report.loaded = sorted(use)
    return report


def load_weights(model: nn.Module, weights: str) -> LoadReport | None:
    """Initialise `model` in place from `weights`.

    Args:
        model: a torchvision ResNet, or a module of this package holding one as
            ``.backbone`` (STRN, FrameAverage, FrameFeatureExtractor).
        weights: "scratch" (nothing happens, returns None); "imagenet" (torchvision's
            ResNet-50 IMAGENET1K file from the local hub cache, see
            `imagenet_weights_path`; only fits resnet50 at width 64); or a path to a
            checkpoint of this project (dict with key "model") or a plain state dict.
            A bare ResNet state dict loads into ``model.backbone``; a ``backbone.``-
            prefixed one loads into a bare ResNet. An fc of another size is skipped.
    """
    if weights == "scratch":
        return None
    path = imagenet_weights_path(weights) if weights in IMAGENET_WEIGHTS else weights
    return _load_state_dict(model, _read_state_dict(path), source=path)

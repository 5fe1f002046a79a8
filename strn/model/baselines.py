"""Baselines of Tables 5.1 / 5.2 and the frame-average model (STUDY §1 "Feature taps", §3).

* `FrameFeatureExtractor`: a frozen ResNet cut at a tap -- block2 (after layer2, thesis
  layer 48), block3 (after layer3, layer 85), block4 (after the global pool, layer 105);
  spatial maps are globally average-pooled to vectors (*choice*).
* `FeatureAvgClassifier` (Fig. 5.1a): mean of the frame features over the video, optional
  z-normalisation, linear layer.
* `FeatureGRUClassifier` (Fig. 5.1b): GRU (128 units) over the frame features, linear
  layer on the last hidden state.
* `FrameAverage`: the per-frame ResNet whose video prediction is the mean of per-frame
  softmax probabilities, trainable end to end.
* `build_frame_classifier`: the frame-level model finetuned on single frames with the
  video's label (Table 5.2): just the backbone with fc -> num_classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence
from torchvision.models.resnet import ResNet

from .backbone import build_backbone, load_weights

__all__ = [
    "TAPS",
    "FeatureAvgClassifier",
    "FeatureGRUClassifier",
    "FrameAverage",
    "FrameFeatureExtractor",
    "ZNorm",
    "build_feature_extractor",
    "build_frame_classifier",
    "fit_znorm",
    "tap_dim",
]

TAPS = ("block2", "block3", "block4")
_TAP_LAYERS = {"block2": 2, "block3": 3, "block4": 4}


def tap_dim(backbone: ResNet, tap: str) -> int:
    """Feature size at a tap (ResNet-50: 512, 1024, 2048)."""
    if tap not in _TAP_LAYERS:
        raise ValueError(f"unknown tap {tap!r}; valid: {TAPS}")
    last = getattr(backbone, f"layer{_TAP_LAYERS[tap]}")[-1]
    return (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features


class FrameFeatureExtractor(nn.Module):
    """Frozen ResNet features at a tap: (N, C, H, W) -> (N, D), or (B, T, ...) -> (B, T, D).

    Always in eval mode (BN uses running statistics) and without gradients, as the thesis
    extracts fixed ImageNet (or frame-finetuned) features; ``train()`` cannot undo that.
    Layers after the tap are not run.
    """

    def __init__(self, backbone: ResNet, tap: str = "block4") -> None:
        super().__init__()
        self.out_dim = tap_dim(backbone, tap)
        self.tap = tap
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FrameFeatureExtractor:
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]  # (N,) or (B, T)
        bb = self.backbone
        h = bb.maxpool(bb.relu(bb.bn1(bb.conv1(x.reshape(-1, *x.shape[-3:])))))  # (N, C, H, W)
        for s in range(1, _TAP_LAYERS[self.tap] + 1):
            h = getattr(bb, f"layer{s}")(h)
        f = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)  # (N, D): block4 = the net's own avgpool
        return f.reshape(*lead, f.shape[-1])


def fit_znorm(features: Tensor, mask: Tensor | None = None, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Per-dimension (mean, std) of TRAINING frame features, for `ZNorm`.

    features (N, D) or (B, T, D) with an optional mask (B, T), True = real frame. Constant
    dimensions (std < eps) get std 1, so they map to 0 instead of blowing up.
    """
    f = features.detach().float()
    if f.dim() == 3:
        f = f[mask.bool()] if mask is not None else f.reshape(-1, f.shape[-1])
    if f.dim() != 2 or f.shape[0] == 0:
        raise ValueError(f"expected features (N, D) or (B, T, D) with N > 0, got {tuple(features.shape)}")
    mean = f.mean(0)
    std = f.std(0, unbiased=False)
    return mean, torch.where(std < eps, torch.ones_like(std), std)


class ZNorm(nn.Module):
    """(x - mean) / std with fixed statistics (buffers); the identity when none are set."""

    def __init__(self, dim: int, stats: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("enabled", torch.tensor(False))
        if stats is not None:
            self.set_stats(*stats)

    def set_stats(self, mean: Tensor, std: Tensor) -> None:
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise ValueError(f"z-norm stats must have shape {tuple(self.mean.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std)
        self.enabled.fill_(True)

    def forward(self, x: Tensor) -> Tensor:  # (..., D)
        return (x - self.mean) / self.std if bool(self.enabled) else x


def _check_mask(feats: Tensor, mask: Tensor | None) -> Tensor:
    if feats.dim() == 2:
        feats = feats.unsqueeze(1)
    if feats.dim() != 3:
        raise ValueError(f"expected features (B, T, D), got {tuple(feats.shape)}")
    if mask is None:
        return torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
    if mask.shape != feats.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} != features (B, T) {tuple(feats.shape[:2])}")
    return mask.bool()


class FeatureAvgClassifier(nn.Module):
    """Mean frame feature -> optional z-norm -> Linear (Fig. 5.1a).

    Input (B, T, D) frame features and an optional mask (B, T) (True = real frame, for
    videos padded to a common length); output logits (B, num_classes). Z-norm is affine,
    so normalising the mean equals the mean of normalised frames: the same frame-level
    statistics (`fit_znorm` on training frames) serve both baselines.
    """

    def __init__(self, in_dim: int, num_classes: int, znorm_stats: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__()
        self.znorm = ZNorm(in_dim, znorm_stats)
        self.head = nn.Linear(in_dim, num_classes)

    def forward_features(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        m = _check_mask(feats, mask)
        feats = feats if feats.dim() == 3 else feats.unsqueeze(1)  # (B, T, D)
        w = m.to(feats.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = (feats * w).sum(1) / w.sum(1).clamp_min(1)  # (B, D)
        return self.znorm(mean)

    def forward_head(self, f: Tensor) -> Tensor:
        return self.head(f)

    def forward(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(feats, mask))


class FeatureGRUClassifier(nn.Module):
    """Optional z-norm per frame -> GRU(hidden) -> Linear on the last hidden state (Fig. 5.1b).

    Input (B, T, D) and an optional mask (B, T) of real frames, padding at the END; the
    last hidden state is the one after each video's last real frame.
    """

    def __init__(
        self, in_dim: int, num_classes: int, hidden: int = 128, znorm_stats: tuple[Tensor, Tensor] | None = None
    ) -> None:
        super().__init__()
        self.znorm = ZNorm(in_dim, znorm_stats)
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        m = _check_mask(feats, mask)
        x = self.znorm(feats if feats.dim() == 3 else feats.unsqueeze(1))  # (B, T, D)
        if mask is None:
            _, h = self.gru(x)
        else:
            lengths = m.sum(1).clamp_min(1).cpu()
            _, h = self.gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return h[-1]  # (B, hidden)

    def forward_head(self, f: Tensor) -> Tensor:
        return self.head(f)

    def forward(self, feats: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(feats, mask))


class FrameAverage(nn.Module):
    """Per-frame ResNet; prediction = mean of per-frame softmax probabilities.

    Input (B, T, C, H, W); output log(mean_t softmax(logits_t)) (B, num_classes), computed
    stably as logsumexp_t(log_softmax_t) - log T. These are normalised log-probabilities,
    so ``F.cross_entropy`` on them (whose log_softmax leaves them unchanged) is exactly
    the NLL of the averaged distribution, and softmax of them gives the mean
    probabilities -- training and evaluation code can treat it like any logits model.
    All B*T frames go through the backbone as one batch.
    """

    def __init__(self, backbone: ResNet) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            x = x.unsqueeze(1)
        b, t = x.shape[:2]
        logits = self.backbone(x.flatten(0, 1)).unflatten(0, (b, t))  # (B, T, K)
        return torch.logsumexp(F.log_softmax(logits, dim=-1), dim=1) - math.log(t)  # (B, K)


def build_frame_classifier(
    *, num_classes: int, backbone: str = "resnet50", width: int = 64, weights: str = "scratch"
) -> ResNet:
    """The frame-level model of Table 5.2: a plain ResNet with fc -> num_classes, trained on
    single frames labelled with their video's class. An ImageNet fc of another size is
    left randomly initialised."""
    net = build_backbone(backbone, width=width, num_classes=num_classes)
    load_weights(net, weights)
    return net


def build_feature_extractor(
    *, tap: str = "block4", backbone: str = "resnet50", width: int = 64, weights: str = "scratch"
) -> FrameFeatureExtractor:
    """Frozen extractor for Tables 5.1 (weights="imagenet") / 5.2 (a frame-classifier
    checkpoint; its fc is unused and skipped)."""
    net = build_backbone(backbone, width=width)
    load_weights(net, weights)
    return FrameFeatureExtractor(net, tap)

"""`build_model`: one entry point for every model of the study."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ..config import MODEL_KIND_CHOICES
from .backbone import ARCHS, build_backbone, load_weights
from .baselines import FeatureAvgClassifier, FeatureGRUClassifier, TAPS, FrameAverage, build_frame_classifier
from .strn import STRN, block_names, plan_connections
from .tsm import DEFAULT_SHIFT_FRACTION, TSM

__all__ = ["MODEL_KINDS", "build_model", "connections_built", "tsm_options"]

MODEL_KINDS = (*MODEL_KIND_CHOICES, "frame")  # a run's kinds and the frame baselines' single-frame classifier


def build_model(
    kind: str,
    *,
    num_classes: int,
    seq_len: int,
    backbone: str = "resnet50",
    width: int = 64,
    connection: str = "identity",
    positions: Sequence | None = None,
    special3: bool = False,
    weights: str = "scratch",
    **kw: Any,
) -> nn.Module:
    """Build a model of the study.

    Args:
        kind: "strn" -- ResNet with temporal skip connections (`STRN`), input (B, T, C, H,
            W), logits of the last step; "frame_avg" -- per-frame ResNet, returns the log
            of the mean per-frame softmax (`FrameAverage`: cross-entropy on it is the NLL
            of the averaged distribution); "frame" -- plain ResNet on single frames
            (frame finetuning, Table 5.2); "feat_avg" / "feat_gru" -- the Table 5.1
            classifiers on precomputed frame features (B, T, D) (extract them with
            `baselines.build_feature_extractor`); "tsm" -- the online temporal shift module
            on the same ResNet (`TSM`), input and output as "strn".
        num_classes: output classes.
        seq_len: frames per sequence T; for "strn" without `positions`, the default
            placement puts T-1 connections at the last T-1 blocks.
        backbone, width: `build_backbone` arguments (width < 64: narrow ResNet).
        connection: "identity" | "projection" | "conv" | "conv_relu" (strn only).
            "identity" at a block changing channels/stride becomes a "projection" (1x1
            conv + BN like the block's downsample), unless kw strict_identity=True.
        positions: strn blocks ("layer4.2") or thesis spans ("98-104", (98, 104)); None
            -> `default_positions(seq_len)`; [] -> no connection.
        special3: strn with one delay-2 connection at the last block (Fig. 5.3).
        weights: "scratch" | "imagenet" | path to a checkpoint/state dict (`load_weights`).
            For "strn"/"frame_avg"/"frame", a bare ResNet file loads into the backbone and
            a full checkpoint of the same model loads whole. Ignored by feat_* kinds,
            whose weights are those of their feature extractor.
        **kw: strn: strict_identity (bool). tsm: shift_fraction (1/8), shift_positions (None:
            every block; else blocks or thesis spans as ``positions``). feat_avg / feat_gru: tap ("block4"), in_dim
            (overrides the size derived from backbone/width/tap), znorm_stats ((mean, std)
            from `baselines.fit_znorm` on training features); feat_gru: hidden (128).
    """
    def take(allowed: set[str]) -> dict[str, Any]:
        extra = set(kw) - allowed
        if extra:
            raise TypeError(f"build_model({kind!r}) got unexpected arguments {sorted(extra)}")
        return kw

    if kind in ("strn", "tsm", "frame_avg", "frame"):
        net = build_backbone(backbone, width=width, num_classes=num_classes)
        if kind == "tsm":
            opts = take({"shift_fraction", "shift_positions"})
            if positions is not None or special3:
                raise ValueError("build_model('tsm'): positions/special3 place STRN connections; give the shifting "
                                 "blocks as shift_positions")
            model: nn.Module = TSM(net, opts.get("shift_positions"),
                                   shift_fraction=float(opts.get("shift_fraction", DEFAULT_SHIFT_FRACTION)))
        elif kind == "strn":
            opts = take({"strict_identity"})
            conns = plan_connections(
                seq_len=seq_len, connection=connection, positions=positions, special3=special3,
                blocks=block_names(net),
            )
            model = STRN(net, conns, strict_identity=bool(opts.get("strict_identity", False)))
        elif kind == "frame_avg":
            take(set())
            model = FrameAverage(net)
        else:
            take(set())
            model = net
        load_weights(model, weights)
        return model

    if kind in ("feat_avg", "feat_gru"):
        opts = take({"tap", "in_dim", "znorm_stats"} | ({"hidden"} if kind == "feat_gru" else set()))
        tap = opts.get("tap", "block4")
        if tap not in TAPS:
            raise ValueError(f"unknown tap {tap!r}; valid: {TAPS}")
        if backbone not in ARCHS:
            raise ValueError(f"unknown backbone {backbone!r}; valid: {sorted(ARCHS)}")
        # stage s of the net has 2**(s-1) * width planes, times the block expansion
        default_dim = {"block2": 2, "block3": 4, "block4": 8}[tap] * width * ARCHS[backbone][0].expansion
        in_dim = opts.get("in_dim") or default_dim
        stats: tuple[Tensor, Tensor] | None = opts.get("znorm_stats")
        if kind == "feat_avg":
            return FeatureAvgClassifier(in_dim, num_classes, znorm_stats=stats)
        return FeatureGRUClassifier(in_dim, num_classes, hidden=opts.get("hidden", 128), znorm_stats=stats)

    raise ValueError(f"unknown model kind {kind!r}; valid: {MODEL_KINDS}")


def tsm_options(model_cfg: Any) -> dict[str, Any]:
    """The `build_model` keywords of a ModelConfig that only a "tsm" model takes ({} for others)."""
    if model_cfg.kind != "tsm":
        return {}
    return {"shift_fraction": model_cfg.shift_fraction, "shift_positions": model_cfg.shift_positions}


def connections_built(model: nn.Module) -> list[dict[str, Any]]:
    """What a model's temporal connections actually are, for the results JSON
    (``model.connections_built``): [{"block": "layer4.2", "kind": "identity", "delay": 1}, ...],
    after any identity -> projection substitution; [] for models without them."""
    return [{"block": c.block, "kind": c.kind, "delay": c.delay} for c in getattr(model, "connections", [])]


# Keep build_frame_classifier importable from here too (the frame kind above is the same).
__all__ += ["build_frame_classifier"]

"""Frame features of Tables 5.1/5.2 and their cache.

Every sampled frame (every r-th) of every train and test video goes through a frozen
`FrameFeatureExtractor` (eval-mode BN, centre crop, the engine's normalisation); the three
taps block2/block3/block4 come out of ONE pass (forward hooks on layer2 and layer3, globally
average-pooled like the extractor does). Cached as ``<data_dir>/features/<weights>-<key>.pt``
(atomic), keyed by the weights and the data setting (`strn.results.cached`).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data.transforms import frames_input
from ..digest import digest
from ..model.baselines import FrameFeatureExtractor, build_feature_extractor
from ..results import cached

# Bump when the baseline pipeline changes what a stored feature file or result means. Still 1 after
# the move onto the engine (issue 12): smoke's 16 rows are bit-identical on the CPU; only the
# finetuning's random crops (crop < size or flip: the full profile, never run) are drawn differently.
PIPELINE_VERSION = 1
EXTRACT_BATCH = 256  # frames per forward pass


def video_frames(ds, i: int) -> np.ndarray:
    """All sampled frames (N, H, W, 3) uint8 of video ``i`` of a SequenceDataset (frame cache)."""
    return ds.cache.get(ds.index.videos_dir / ds.videos[i].path, ds.rate, ds.size)


def data_id(cfg: RunConfig, data) -> dict[str, Any]:
    """What identifies the frames a baseline sees: folder, split, sampling, sizes, the videos."""
    d = cfg.data
    return {"root": str(data.index.root), "split": d.split, "rate": d.rate, "size": d.size, "crop": d.crop,
            "val_fraction": d.val_fraction, "train": [v.path for v in data.train.videos],
            "test": [v.path for v in data.test.videos]}


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, ds, crop: int, device: torch.device,
                     batch_size: int = EXTRACT_BATCH) -> dict[str, Any]:
    """Features of every sampled frame of every video of ``ds`` at the three taps, in one
    pass of a block4 `FrameFeatureExtractor` (hooks pool layer2/layer3 outputs).

    Returns {"block2"|"block3"|"block4": (N_frames, D) float32 CPU, "lengths": (V,),
    "labels": (V,)}; frames of video v are rows lengths[:v].sum() onwards."""
    ext = FrameFeatureExtractor(backbone, "block4").to(device)
    taps: dict[str, list[torch.Tensor]] = {"block2": [], "block3": [], "block4": []}
    grab: dict[str, torch.Tensor] = {}
    hooks = [getattr(ext.backbone, f"layer{s}").register_forward_hook(
        lambda m, i, o, t=t: grab.__setitem__(t, torch.flatten(F.adaptive_avg_pool2d(o, 1), 1)))
        for s, t in ((2, "block2"), (3, "block3"))]
    try:
        lengths = []
        pending: list[np.ndarray] = []
        n_pending = 0

        def flush() -> None:
            nonlocal pending, n_pending
            if not pending:
                return
            x = frames_input(np.concatenate(pending), crop, device)
            taps["block4"].append(ext(x).float().cpu())
            for t in ("block2", "block3"):
                taps[t].append(grab[t].float().cpu())
            pending, n_pending = [], 0

        for i in range(len(ds.videos)):
            fr = video_frames(ds, i)
            lengths.append(len(fr))
            pending.append(np.asarray(fr))
            n_pending += len(fr)
            if n_pending >= batch_size:
                flush()
        flush()
    finally:
        for h in hooks:
            h.remove()
    out: dict[str, Any] = {t: torch.cat(v) for t, v in taps.items()}
    out["lengths"] = torch.tensor(lengths, dtype=torch.long)
    out["labels"] = torch.tensor([v.label for v in ds.videos], dtype=torch.long)
    return out


def cached_features(weights: str | Path, weights_id: str, cfg: RunConfig, data, data_dir: Path,
                    device: torch.device, force: bool = False) -> dict[str, Any]:
    """{"train": features, "test": features, "extract_s": seconds spent extracting (0 when
    read back)} of a backbone, read from / written to ``<data_dir>/features/``."""
    key = digest({"v": PIPELINE_VERSION, "weights": weights_id, "backbone": cfg.model.backbone,
                  "width": cfg.model.width, "data": data_id(cfg, data)})
    path = data_dir / "features" / f"{weights_id.split(':')[0]}-{key}.pt"
    spent = {"extract_s": 0.0}

    def extract() -> dict[str, Any]:
        t0 = time.perf_counter()
        backbone = build_feature_extractor(tap="block4", backbone=cfg.model.backbone, width=cfg.model.width,
                                           weights=str(weights)).backbone
        obj = {"weights": weights_id, "train": extract_features(backbone, data.train, cfg.data.crop, device),
               "test": extract_features(backbone, data.test, cfg.data.crop, device)}
        spent["extract_s"] = time.perf_counter() - t0
        return obj

    return dict(cached(path, key, extract, force=force), **spent)


def padded(feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N_frames, D) + lengths (V,) -> (V, T_max, D) zero-padded at the end, mask (V, T_max)."""
    t_max = int(lengths.max())
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    out = feats.new_zeros(len(lengths), t_max, feats.shape[1])
    out[mask] = feats
    return out, mask

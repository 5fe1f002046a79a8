"""The two trainings of the frame baselines (Tables 5.1/5.2), both through the engine
(`strn.train.engine.fit_source`): a classifier on frame features (one example per video, one
optimiser step per mini-batch of videos) and the frame finetuning of the pretrained backbone
(single frames labelled with their video's class, plain mini-batch Adam)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..config import RunConfig
from ..data.transforms import frames_input
from ..digest import digest
from .engine import fit_source
from .features import PIPELINE_VERSION, data_id, padded, video_frames
from .metrics import video_metrics
from ..model import baselines as mb
from ..model.build import build_model
from ..profiles import FinetuneSettings
from ..results import cached

FINETUNE_DIR = "05_2_baselines"  # <results_dir>/checkpoints/<this>/: the finetuned backbones


class FeatureBatches:
    """Videos as zero-padded feature sequences (V, T_max, D) with their masks, on one device."""

    def __init__(self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.mask, self.y, self.n = x, mask, y, len(y)

    def load(self, batches: list[list[int]]):
        return (torch.tensor(b, device=self.x.device) for b in batches)

    def forward(self, model, idx: torch.Tensor, gen) -> tuple[torch.Tensor, torch.Tensor, int]:
        return model(self.x[idx], self.mask[idx]), self.y[idx], int(self.mask[idx].sum())


class FrameBatches:
    """Single frames ``index`` = [(video, frame)] of a SequenceDataset, labelled with their
    video's class; cropped (and flipped) per frame from the engine's generator."""

    def __init__(self, ds, index: list[tuple[int, int]], *, crop: int, flip: bool, device: torch.device) -> None:
        self.ds, self.index, self.crop, self.flip, self.device = ds, index, crop, flip, device
        self.labels = torch.tensor([ds.videos[v].label for v, _ in index])
        self.n = len(index)

    def load(self, batches: list[list[int]]):
        for b in batches:
            yield np.stack([video_frames(self.ds, self.index[i][0])[self.index[i][1]] for i in b]), self.labels[b]

    def forward(self, model, batch, gen) -> tuple[torch.Tensor, torch.Tensor, int]:
        frames, labels = batch
        x = frames_input(frames, self.crop, self.device, gen, self.flip)
        return model(x), labels.to(self.device), len(labels)


def train_feature_classifier(cfg: RunConfig, tap: str, znorm: bool, feats: Mapping[str, Any],
                             num_classes: int, device: torch.device) -> dict[str, Any]:
    """Train the row's classifier (cfg.model.kind) on training-video features, evaluate on
    test videos after every epoch; returns {"metrics", "history", "train_s", "frames_trained",
    "steps", "znorm_frames"}."""
    tr, te = feats["train"], feats["test"]
    x_tr, m_tr = padded(tr[tap], tr["lengths"])
    x_te, m_te = padded(te[tap], te["lengths"])
    stats = mb.fit_znorm(x_tr, m_tr) if znorm else None  # training videos only
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model.kind, num_classes=num_classes, seq_len=cfg.data.seq_len,
                        backbone=cfg.model.backbone, width=cfg.model.width, tap=tap, in_dim=x_tr.shape[-1],
                        znorm_stats=stats)

    @torch.no_grad()
    def test(net: torch.nn.Module, dev: torch.device) -> dict[str, Any]:
        net.eval()
        return video_metrics(net(x_te.to(dev), m_te.to(dev)).float().softmax(1).cpu(), te["labels"], num_classes)

    # fp32 on every device (no autocast): the classifiers are tiny, and their numbers stay those of the thesis setup.
    train_cfg = dataclasses.replace(cfg.train, amp=False)
    out = fit_source(model, lambda dev: FeatureBatches(x_tr.to(dev), m_tr.to(dev), tr["labels"].to(dev)), train_cfg,
                     device=device, evaluate=test, seqs_per_step=cfg.train.batch_size, progress=False)
    return {"metrics": out.metrics, "history": out.history, "train_s": out.train_seconds,
            "frames_trained": out.frames_trained, "steps": out.steps,
            "znorm_frames": int(m_tr.sum()) if znorm else 0}


def finetuned_backbone(cfg: RunConfig, data, weights: str | Path, weights_id: str, settings: FinetuneSettings,
                       results_dir: Path, device: torch.device, force: bool = False,
                       progress: bool | None = None) -> tuple[Path, str, dict[str, Any]]:
    """Table 5.2: the frame classifier, from the pretrained backbone, trained on single
    training frames with their video's label. Returns (checkpoint, weights id, info)."""
    ds = data.train
    h = digest({"v": PIPELINE_VERSION, "weights": weights_id, "settings": dataclasses.asdict(settings),
                "lr": cfg.train.lr, "seed": cfg.train.seed, "backbone": cfg.model.backbone, "width": cfg.model.width,
                "flip": cfg.data.flip, "data": data_id(cfg, data)})
    path = results_dir / "checkpoints" / FINETUNE_DIR / f"finetuned-seed{cfg.train.seed}-{h}.pt"

    def finetune() -> dict[str, Any]:
        t0 = time.perf_counter()
        frame_index = [(v, f) for v in range(len(ds.videos)) for f in range(len(video_frames(ds, v)))]
        if settings.max_frames and len(frame_index) > settings.max_frames:
            g = torch.Generator().manual_seed(cfg.train.seed)
            keep = sorted(torch.randperm(len(frame_index), generator=g)[:settings.max_frames].tolist())
            frame_index = [frame_index[i] for i in keep]
        torch.manual_seed(cfg.train.seed)
        net = mb.build_frame_classifier(num_classes=len(data.classes), backbone=cfg.model.backbone,
                                        width=cfg.model.width, weights=str(weights))
        # Plain Adam at the profile's learning rate in fp32, one step per mini-batch of frames, no test set.
        train_cfg = dataclasses.replace(cfg.train, optimizer="adam", weight_decay=0.0, lr_schedule="constant",
                                        epochs=settings.epochs, batch_size=settings.batch_size, amp=False)
        out = fit_source(net, lambda dev: FrameBatches(ds, frame_index, crop=cfg.data.crop, flip=cfg.data.flip,
                                                       device=dev),
                         train_cfg, device=device, seqs_per_step=settings.batch_size, progress=progress)
        history = [{"epoch": r["epoch"], "train_loss": r["train_loss"], "train_frame_accuracy": r["train_clip_accuracy"]}
                   for r in out.history]
        net.cpu().eval()
        meta = {"key": h, "from": weights_id, "settings": dataclasses.asdict(settings), "lr": cfg.train.lr,
                "n_frames": len(frame_index), "history": history, "train_s": time.perf_counter() - t0}
        return {"model": net.state_dict(), "meta": meta}

    obj = cached(path, h, finetune, force=force)
    return path, f"finetuned:{h}", dict(obj["meta"])

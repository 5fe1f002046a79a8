"""Tables 5.1 and 5.2 end to end (the runner of ``05_2_baselines``): frozen frame features ->
average pooling or GRU-128.

1. **Pretrained backbone.** ``full``: torchvision's ImageNet ResNet-50 (as the thesis).
   ``smoke``/``demo``: the still-image stand-in of `strn.train.pretrain` (shape x size on
   single rendered stills: no motion, no video labels), trained once per profile and
   cached under ``<data_dir>/pretrained/``.
2. **Features, once per (weights, data setting)**: `strn.train.features`.
3. **Classifiers (video level).** One example per video, all its sampled frames:
   *avg* = `FeatureAvgClassifier` on the mean of the video's frame features (thesis
   Fig. 5.1a); *GRU* = `FeatureGRUClassifier` (128 units) over the video's frame
   sequence, prediction from the last hidden state (Fig. 5.1b). *(choice)*: the whole
   video rather than T-frame sequences, as the thesis averages/recurs over the video's
   frames; "clip" accuracy is therefore the video accuracy (one clip per video).
   Z-normalisation statistics come from the training videos' frames only (`fit_znorm`).
   ADAM, lr 0.01 (thesis), mini-batches of videos from `strn.train.fit.epoch_plan`, a few
   epochs (``train.epochs`` of the row's configuration), test error after each epoch.
4. **Table 5.2, frame-finetuned features.** `build_frame_classifier` starting from the
   pretrained backbone is trained on single frames labelled with their video's class
   (Adam at the profile's learning rate, random crops when crop < size), cached under
   ``<results_dir>/checkpoints/05_2_baselines/``; its features go through step 2 and the
   avg classifier of step 3. Finetuning is repeated per seed.

Each (row, seed) writes one results JSON (`strn.train.record.make_record`). The configuration's
``model.kind`` is ``feat_avg``/``feat_gru``; tap, z-norm, finetuning and the weights are not
`RunConfig` fields, so they are in ``record["baseline"]`` together with a ``key`` hashing all
of it: a stored result is read back only when its ``config_hash`` AND ``baseline.key`` match.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from .. import results as res
from ..train.baseline_training import finetuned_backbone, train_feature_classifier
from ..config import RunConfig, config_hash
from ..digest import digest
from ..train.features import PIPELINE_VERSION, cached_features
from ..model.backbone import IMAGENET_FILE
from ..paths import default_data_dir, default_results_dir
from ..train.pretrain import checkpoint_name, load_meta, pretrain_spec, pretrained_backbone
from ..profiles import get_profile
from ..train.provenance import expected, find_reusable, provenance
from ..train.record import make_record, train_cost
from .rows import Experiment, Row, row_config
from ..data.prepare import prepare
from ..data.skips import check_skipped
from ..train.engine import peak_memory_mb, resolve_device


class _Pipeline:
    """Everything shared by the rows of one seed, computed on first use."""

    def __init__(self, profile: str, cfg: RunConfig, data_dir: Path, results_dir: Path, device: torch.device,
                 force: bool, progress: bool | None) -> None:
        self.profile, self.cfg, self.data_dir, self.results_dir = profile, cfg, data_dir, results_dir
        self.device, self.force, self.progress = device, force, progress
        self._data = self._pre = self._ft = None
        self._feats: dict[str, dict[str, Any]] = {}
        self.cost: dict[str, float] = {}

    @property
    def data(self):
        if self._data is None:
            data = prepare(self.cfg, self.data_dir, self.progress)
            check_skipped(data)  # the same rule as strn.train.run: each skip said once, too many stop here
            self._data = data
        return self._data

    def pretrained(self) -> tuple[Path, str, dict[str, Any]]:
        if self._pre is None:
            t0 = time.perf_counter()
            path = pretrained_backbone(self.profile, self.data_dir, backbone=self.cfg.model.backbone,
                                       width=self.cfg.model.width, size=self.cfg.data.crop, progress=self.progress)
            self.cost["pretrain_s"] = time.perf_counter() - t0
            meta = load_meta(path) if get_profile(self.profile).pretrain else {}  # ImageNet's file has none
            self._pre = (path, weights_id(self.profile, self.cfg), meta)
        return self._pre

    def finetuned(self) -> tuple[Path, str, dict[str, Any]]:
        if self._ft is None:
            path, wid, _ = self.pretrained()
            self._ft = finetuned_backbone(self.cfg, self.data, path, wid, get_profile(self.profile).finetune,
                                          self.results_dir, self.device, self.force, self.progress)
            self.cost["finetune_s"] = self._ft[2]["train_s"]
        return self._ft

    def features(self, finetuned: bool) -> dict[str, Any]:
        path, wid, _ = self.finetuned() if finetuned else self.pretrained()
        if wid not in self._feats:
            self._feats[wid] = cached_features(path, wid, self.cfg, self.data, self.data_dir, self.device,
                                               self.force)
        return self._feats[wid]


def weights_id(profile: str, cfg: RunConfig) -> str:
    """Identity of the pretrained weights, known without training them."""
    if get_profile(profile).pretrain is None:
        return f"imagenet:{IMAGENET_FILE}"
    spec = pretrain_spec(profile, backbone=cfg.model.backbone, width=cfg.model.width, size=cfg.data.crop)
    return f"stills:{checkpoint_name(spec)}"


def baseline_key(profile: str, cfg: RunConfig, params: Mapping[str, Any]) -> str:
    """What, beyond ``config_hash``, determines a row's numbers."""
    finetune = get_profile(profile).finetune
    return digest({"v": PIPELINE_VERSION, "config": config_hash(cfg), "row": dict(params),
                   "weights": weights_id(profile, cfg),
                   "finetune": dataclasses.asdict(finetune) if params["finetuned"] else None,
                   "finetune_lr": cfg.train.lr if params["finetuned"] else None})


def _run_row(p: _Pipeline, exp: Experiment, row: Row, cfg: RunConfig, key: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    spec = dict(row.params)
    feats = p.features(spec["finetuned"])
    data = p.data
    out = train_feature_classifier(cfg, spec["tap"], spec["znorm"], feats, len(data.classes), p.device)
    pre_path, pre_id, pre_meta = p.pretrained()
    baseline = {"key": key, **spec, "protocol": "video level: one example per video, all sampled frames",
                "znorm_from": "training frames" if spec["znorm"] else None, "znorm_frames": out["znorm_frames"],
                "feature_dim": int(feats["train"][spec["tap"]].shape[1]),
                "weights": pre_id, "weights_path": str(pre_path),
                "pretrain": {k: pre_meta.get(k) for k in ("task", "classes", "spec", "test_accuracy", "chance",
                                                          "history", "train_s")} if pre_meta else None}
    if spec["finetuned"]:
        _, ft_id, ft_meta = p.finetuned()
        baseline.update(finetuned_weights=ft_id, finetune=ft_meta)
    n_train_videos, n_test_videos = len(data.train.videos), len(data.test.videos)
    record = make_record(
        cfg, data, table=exp.table, thesis=row.thesis, metrics=out["metrics"], history=out["history"],
        device=p.device, connections_built=[],  # frame models over features: no temporal skip connection
        provenance=provenance(cfg, pre_path, pretrained=True),
        dataset={"n_train_frames": int(feats["train"]["lengths"].sum()),
                 "n_test_frames": int(feats["test"]["lengths"].sum()),
                 "n_train_sequences": n_train_videos, "n_test_sequences": n_test_videos},
        cost=train_cost(t0, out["train_s"], out["frames_trained"], out["steps"], p.device,
                        peak_memory_mb=peak_memory_mb(p.device),
                        # shared by several rows (0 when read from the cache):
                        extract_s=feats["extract_s"], pretrain_s=p.cost.get("pretrain_s"),
                        finetune_s=p.cost.get("finetune_s") if spec["finetuned"] else None),
        baseline=baseline)
    res.save_result(p.results_dir, cfg, record)
    return record


def _stored(exp: Experiment, row: Row, profile: str, seed: int, device: str, results_dir: Path,
            overrides: Mapping[str, Any] | None, prov: dict[str, Any] | None
            ) -> tuple[RunConfig, str, dict[str, Any] | None]:
    """(configuration, baseline key, the stored record if it is this row's numbers: the one
    reuse rule of `strn.train.provenance.find_reusable`, with the baseline key, in the row's own file)."""
    cfg = row_config(exp, row, profile, seed, device, overrides)
    bkey = baseline_key(profile, cfg, row.params)
    return cfg, bkey, find_reusable(results_dir, cfg, prov, baseline_key=bkey, same_config=False)


def missing_seeds(exp: Experiment, profile: str, *, seeds: Sequence[int], device: str = "auto",
                  results_dir: str | Path | None = None, data_dir: str | Path | None = None) -> list[int]:
    """The seeds with a row of Tables 5.1/5.2 not stored yet (what `strn.study.parallel` hands a worker);
    every seed while the pretrained weights are not made (nothing can be shown to match them)."""
    results_dir = Path(results_dir or default_results_dir(profile))
    prov = expected(row_config(exp, exp.rows[0], profile, 0, device), data_dir, pretrained=True)
    return [s for s in seeds if any(_stored(exp, row, profile, s, device, results_dir, None, prov)[2] is None
                                    for row in exp.rows)]


def prepare_shared(exp: Experiment, profile: str, *, device: str = "auto", results_dir: str | Path | None = None,
                   data_dir: str | Path | None = None) -> None:
    """Make what every seed's rows share, once: the pretrained backbone and its features (one
    file under ``<data_dir>/features/``). `strn.study.parallel` calls it in the parent, so worker
    processes that train different seeds side by side only read it. The finetuned backbones
    and their features are per seed and made by the seed's own worker."""
    results_dir = Path(results_dir or default_results_dir(profile))
    data_dir = Path(data_dir or default_data_dir())
    cfg = row_config(exp, exp.rows[0], profile, 0, device)
    _Pipeline(profile, cfg, data_dir, results_dir, resolve_device(cfg.train.device), False, False).features(False)


def run_baselines(exp: Experiment, profile: str, *, seeds: Sequence[int], device: str = "auto",
                  results_dir: str | Path | None = None, data_dir: str | Path | None = None, force: bool = False,
                  overrides: Mapping[str, Any] | None = None, progress: bool | None = None) -> list[dict[str, Any]]:
    """Every row of Tables 5.1/5.2 for every seed (the runner of ``05_2_baselines``).

    A stored result is read back when its config hash and ``baseline.key`` match (nothing
    is pretrained, extracted or finetuned then), unless ``force``."""
    results_dir = Path(results_dir or default_results_dir(profile))
    data_dir = Path(data_dir or default_data_dir())
    done: dict[tuple[str, int], dict[str, Any]] = {}
    cfg0 = row_config(exp, exp.rows[0], profile, 0, device, overrides)
    # The weights first (pretrained on first use), before any seed draws: what a stored row must
    # have started from is then known, and no seed's draws depend on whether they were cached.
    pre = pretrained_backbone(profile, data_dir, backbone=cfg0.model.backbone, width=cfg0.model.width,
                              size=cfg0.data.crop, progress=progress)
    prov = provenance(cfg0, pre, pretrained=True)
    for seed in seeds:
        p = None
        for row in exp.rows:
            cfg, bkey, stored = _stored(exp, row, profile, seed, device, results_dir, overrides, prov)
            if stored is not None and not force:
                done[(row.name, seed)] = stored
                continue
            if p is None:
                p = _Pipeline(profile, cfg, data_dir, results_dir, resolve_device(cfg.train.device), force, progress)
            done[(row.name, seed)] = _run_row(p, exp, row, cfg, bkey)
    return [done[(row.name, s)] for row in exp.rows for s in seeds]

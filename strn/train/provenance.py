"""Whether a stored result may stand for the run being asked for: one decision, one place.

A stored result is found by ``config_hash``, which leaves out what the run started from: the
synthetic generator's version (what the videos show), the stand-in pretraining's version and
the initial weights themselves (one stand-in draw moves a row by several points). Every
record therefore carries ``provenance``::

    {"synth_generator_version": 3 | None (UCF-101 or a user's folder),
     "pretrain_version": 3 | None (no stand-in: ImageNet or scratch),
     "init_digest": "<16 hex>" | None (scratch: the seed alone initialises)}

and `find_reusable` reads a stored record back only when its schema, hash, ``control``,
``connections_built`` (STRN), ``baseline.key`` (frame baselines) and these three fields all
match the run asked for. `strn.train.run`, `strn.train.stacked_run`, `strn.study.frame_baselines` and
`strn.study.parallel` all ask here. A provenance mismatch retrains (the file is rewritten by the
new run); with ``strict`` it is a `ProvenanceMismatch` naming the file and both values.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import results as res
from ..config import RunConfig, config_hash
from ..model.backbone import IMAGENET_WEIGHTS, imagenet_weights_path
from ..profiles import get_profile
from ..data.synth import GENERATOR_VERSION

KEYS = ("synth_generator_version", "pretrain_version", "init_digest")
STRICT_ENV = "STRN_NO_RETRAIN_MISMATCH"


class ProvenanceMismatch(RuntimeError):
    """A stored result of this configuration was made from other data or other initial weights."""


@lru_cache(maxsize=16)
def _digest_file(path: str, mtime_ns: int, size: int) -> str:
    import torch  # local: results are read (summary, report) without torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    sd = obj["model"] if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    h = hashlib.sha256()
    for k in sorted(sd):  # the tensors only: a file's other entries (timings, cache key) do not initialise
        t = sd[k]
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def weights_digest(path: str | Path) -> str:
    """Digest of the tensors of a weights file (a project checkpoint's ``model`` or a plain
    state dict); computed once per file version in a process."""
    st = Path(path).stat()
    return _digest_file(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def synth_version(cfg: RunConfig) -> int | None:
    return GENERATOR_VERSION if cfg.data.dataset == "synthetic" and not cfg.data.root else None


def uses_standin(cfg: RunConfig) -> bool:
    return cfg.model.weights == "pretrained" and get_profile(cfg.profile).pretrain is not None


def weights_file(cfg: RunConfig, data_dir: str | Path | None) -> Path | None:
    """The initial weights' file of ``cfg`` without making it (None: scratch)."""
    from .pretrain import pretrained_path  # local: pretrain loads torch, this module is read without it

    w = cfg.model.weights
    if w == "scratch":
        return None
    if w == "pretrained":
        return pretrained_path(cfg.profile, data_dir, backbone=cfg.model.backbone, width=cfg.model.width,
                               size=cfg.data.crop)
    return Path(imagenet_weights_path(w)) if w in IMAGENET_WEIGHTS else Path(w)


def provenance(cfg: RunConfig, weights: str | Path | None, *, pretrained: bool | None = None) -> dict[str, Any]:
    """The provenance of a run of ``cfg`` starting from the file ``weights`` (None or
    "scratch": no file). ``pretrained``: whether that file is the profile's stand-in (default:
    what ``cfg.model.weights`` says; frame baselines always start from it)."""
    from .pretrain import PRETRAIN_VERSION  # local: as in weights_file

    standin = uses_standin(cfg) if pretrained is None else pretrained and get_profile(cfg.profile).pretrain is not None
    has_file = weights is not None and str(weights) != "scratch"
    return {"synth_generator_version": synth_version(cfg), "pretrain_version": PRETRAIN_VERSION if standin else None,
            "init_digest": weights_digest(weights) if has_file else None}


def expected(cfg: RunConfig, data_dir: str | Path | None, *, pretrained: bool | None = None) -> dict[str, Any] | None:
    """The provenance a run of ``cfg`` would have, from the weights already on disk; None when
    they are not made yet (nothing stored can then be shown to match: the caller resolves the
    weights, or counts the run as still to do)."""
    if pretrained:
        from .pretrain import pretrained_path  # local: as in weights_file

        path = pretrained_path(cfg.profile, data_dir, backbone=cfg.model.backbone, width=cfg.model.width,
                               size=cfg.data.crop)
    else:
        path = weights_file(cfg, data_dir)
    if path is not None and not path.is_file():
        return None
    return provenance(cfg, path, pretrained=pretrained)


def planned_connections(cfg: RunConfig) -> list[dict[str, Any]]:
    """The connections this code builds for ``cfg`` (model made on the meta device: no memory,
    no weights), as ``record["model"]["connections_built"]``."""
    import torch  # local: as in _digest_file

    from ..model.build import build_model, connections_built, tsm_options

    m = cfg.model
    with torch.device("meta"):
        model = build_model(m.kind, num_classes=2, seq_len=cfg.data.seq_len, backbone=m.backbone, width=m.width,
                            connection=m.connection, positions=m.positions, special3=m.special3, **tsm_options(m))
    return connections_built(model)


def mismatch(record: dict[str, Any], cfg: RunConfig, prov: dict[str, Any] | None, *,
             baseline_key: str | None = None, control: str | None = None) -> tuple[str, str] | None:
    """None when ``record`` may stand for a run of ``cfg`` with provenance ``prov``; else
    (kind, one-line reason): kind "identity" (another configuration) or "provenance"."""
    if record.get("schema_version") != res.SCHEMA_VERSION:
        return "identity", f"schema {record.get('schema_version')} (this code writes {res.SCHEMA_VERSION})"
    if record.get("config_hash") != config_hash(cfg):
        return "identity", f"config_hash {record.get('config_hash')} (asked for {config_hash(cfg)})"
    control = control or cfg.control or None  # the run's own control field unless the caller names one
    if record.get("control") != control:  # a control run never stands for a normal one, nor the reverse
        return "identity", f"control {record.get('control')!r} (asked for {control!r})"
    if baseline_key is not None and (record.get("baseline") or {}).get("key") != baseline_key:
        return "identity", f"baseline.key {(record.get('baseline') or {}).get('key')} (asked for {baseline_key})"
    if cfg.model.kind == "strn":  # the default placement may change under an unchanged hash
        built = (record.get("model") or {}).get("connections_built")
        planned = planned_connections(cfg)
        if built != planned:
            return "identity", f"connections_built {built} (this code builds {planned})"
    repaired = _repaired_video(record, cfg)
    if repaired:  # its numbers left that video out; the data have it now
        return "identity", f"video {repaired} was skipped by the stored run and reads now"
    if prov is None:
        return "provenance", "the initial weights are not made yet, so the stored ones cannot be matched"
    stored = record.get("provenance") or {}
    for k in KEYS:
        if k not in stored:
            return "provenance", f"provenance.{k} not recorded (this run: {prov[k]!r})"
        if stored[k] != prov[k]:
            return "provenance", f"provenance.{k} {stored[k]!r} stored, {prov[k]!r} for this run"
    return None


def _repaired_video(record: dict[str, Any], cfg: RunConfig) -> str | None:
    """A video the stored run skipped that decodes now (None: none). Skips are rare (at most
    1% of a split), so decoding them again costs little; a record from another machine, whose
    data folder is not here, names nothing."""
    skipped = record.get("skipped_videos") or []
    if not skipped:
        return None
    from ..data.ucf101 import find_layout  # local (both): PyAV, only when a stored run skipped videos
    from ..data.video import VideoReadError, decode_sampled

    try:
        videos, _ = find_layout((record.get("dataset") or {}).get("root") or "")
    except FileNotFoundError:
        return None
    for s in skipped:
        path = videos / str(s.get("path", ""))
        try:
            if path.is_file() and len(decode_sampled(path, cfg.data.rate, cfg.data.size)):
                return str(path)
        except (VideoReadError, OSError, ValueError):
            continue
    return None


def find_reusable(results_dir: str | Path, cfg: RunConfig, prov: dict[str, Any] | None, *,
                  baseline_key: str | None = None, control: str | None = None, same_config: bool = True,
                  strict: bool = False) -> dict[str, Any] | None:
    """The stored record that may stand for this run: its own file first, then (``same_config``)
    one of the same configuration filed under another experiment or row. Invalid files are set
    aside (`strn.results.read_result`). ``strict``: a provenance mismatch raises
    `ProvenanceMismatch` instead of returning None (which retrains); also set by
    ``$STRN_NO_RETRAIN_MISMATCH=1`` (``--no-retrain-mismatch``: it reaches worker processes and
    notebook kernels too)."""
    strict = strict or os.environ.get(STRICT_ENV) == "1"
    own = res.result_path(results_dir, cfg)
    paths = [own] + ([p for p in sorted(Path(results_dir).glob("*/*.json")) if p != own] if same_config else [])
    for path in paths:
        if not path.is_file():
            continue
        if path != own and not _same_hash(path, cfg):
            continue
        record = res.read_result(path)
        if record is None:
            continue
        why = mismatch(record, cfg, prov, baseline_key=baseline_key, control=control)
        if why is None:
            return record
        if why[0] == "provenance" and strict and prov is not None:
            raise ProvenanceMismatch(f"{path}: {why[1]}; run without --no-retrain-mismatch to retrain it")
    return None


def _same_hash(path: Path, cfg: RunConfig) -> bool:
    """A cheap look at another file's hash before validating it (most files are other configurations)."""
    try:
        return json.loads(path.read_bytes()).get("config_hash") == config_hash(cfg)
    except (OSError, ValueError, AttributeError):  # unreadable: read_result names and sets it aside
        return path.suffix == ".json"

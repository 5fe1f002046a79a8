"""Using a trained model: rebuild it from its stored configuration, evaluate it, predict.

A training run leaves a results JSON (``<results>/<experiment>/<row>__seed<k>.json``, with the
configuration) and a checkpoint (``<results>/checkpoints/<experiment>/<row>__seed<k>__<hash>.pt``,
with the weights). Either one names the other; nothing here writes over them.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import results as res
from ..train.checkpoint import read_checkpoint
from ..config import RunConfig, config_from_dict, config_hash
from ..data.transforms import crop_batch, to_input
from ..data.video import decode_sampled, sequence_windows
from ..model.build import build_model, tsm_options
from ..data.prepare import prepare
from ..train.run import checkpoint_path
from ..train.determinism import place_model
from ..train.engine import resolve_device
from ..train.fit import evaluate


@dataclass
class TrainedModel:
    model: torch.nn.Module
    cfg: RunConfig
    classes: list[str]
    record: dict[str, Any]
    checkpoint: Path
    device: torch.device

    @torch.no_grad()
    def predict(self, video: str | Path, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` classes of one video file with their probabilities: the mean of its
        sequences' softmax outputs (the study's video-level rule), central crops."""
        d = self.cfg.data
        frames = torch.from_numpy(decode_sampled(video, d.rate, d.size)).permute(0, 3, 1, 2)  # (N, C, H, W)
        windows = sequence_windows(len(frames), d.seq_len)
        if not windows:
            raise ValueError(f"{video}: no frame could be sampled at every {d.rate}th frame")
        x = torch.stack([frames[list(w)] for w in windows])  # (S, T, C, H, W) uint8
        probs = torch.zeros(len(self.classes), dtype=torch.float64)
        for i in range(0, len(x), 32):
            logits = self.model(to_input(crop_batch(x[i:i + 32].to(self.device), d.crop, None), self.device))
            probs += logits.float().softmax(1).double().sum(0).cpu()
        probs /= len(x)
        p, k = probs.topk(min(top, len(self.classes)))
        return [(self.classes[int(c)], float(v)) for v, c in zip(p, k)]


def _locate(path: Path) -> tuple[dict[str, Any], Path]:
    """(results record, checkpoint) from either of the two files."""
    if path.suffix == ".json":
        record = res.load_result(path)
        cfg = config_from_dict(record["config"])
        # The JSON names its checkpoint through its experiment: a plain folder name only
        # (`strn.results.result_path`), so no record can point a read outside its results folder.
        try:
            ckpt = checkpoint_path(path.parent.parent, cfg)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        inside = (path.parent.parent / "checkpoints").resolve()
        if not ckpt.resolve().is_relative_to(inside):
            raise ValueError(f"{path}: its checkpoint path {ckpt} leaves {inside}")
        if not ckpt.exists():
            raise FileNotFoundError(f"{path} has no checkpoint: {ckpt} is missing; {retrain_hint(record, path.parent.parent)}")
        return record, ckpt
    if path.suffix == ".pt":
        stem = path.stem.rsplit("__", 1)[0]
        json_path = path.parent.parent.parent / path.parent.name / f"{stem}.json"
        if not json_path.exists():
            raise FileNotFoundError(f"checkpoint {path} has no results JSON at {json_path}, which holds its "
                                    f"configuration; keep the results folder layout (<results>/checkpoints/...)")
        return res.load_result(json_path), path
    raise ValueError(f"{path}: give a results JSON (.json) or a checkpoint (.pt)")


def load_trained(path: str | Path, device: str = "cpu") -> TrainedModel:
    """The trained model of a results JSON or a checkpoint, in eval mode on ``device``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    record, ckpt = _locate(path)
    cfg = config_from_dict(record["config"])
    state = read_checkpoint(ckpt, required=("model",))  # the one reader; a model needs only its weights
    if state.get("config_hash") not in (None, config_hash(cfg)):
        raise ValueError(f"checkpoint {ckpt} belongs to another configuration than {record['experiment']}/"
                         f"{record['name']} (hash {state.get('config_hash')}, expected {config_hash(cfg)})")
    classes = list(record["dataset"]["classes"])
    m = cfg.model
    # weights="scratch": the checkpoint replaces every weight, no pretraining is needed to rebuild
    model = build_model(m.kind, num_classes=len(classes), seq_len=cfg.data.seq_len, backbone=m.backbone,
                        width=m.width, connection=m.connection, positions=m.positions, special3=m.special3,
                        **tsm_options(m), weights="scratch")
    model.load_state_dict(state["model"])
    dev = resolve_device(device)
    place_model(model, dev).eval()
    return TrainedModel(model, cfg, classes, record, ckpt, dev)


def evaluate_trained(path: str | Path, device: str = "cpu", data_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a trained model on its configuration's test split again (nothing is written
    except the frame cache); returns the metrics beside the stored ones."""
    tm = load_trained(path, device)
    data = prepare(tm.cfg, data_dir, progress=False)
    metrics = evaluate(tm.model, data.test, len(data.test.videos), len(data.classes), crop=tm.cfg.data.crop,
                       device=tm.device, amp=tm.cfg.train.amp, progress=False)
    return {"experiment": tm.record["experiment"], "name": tm.record["name"], "seed": tm.record["seed"],
            "checkpoint": str(tm.checkpoint), "error_rate": metrics["error_rate"],
            "stored_error_rate": tm.record["metrics"]["error_rate"], "accuracy": metrics["accuracy"],
            "mean_class_accuracy": metrics["mean_class_accuracy"], "clip_accuracy": metrics["clip_accuracy"],
            "n_videos": metrics["n_videos"]}


def retrain_command(record: dict[str, Any], results_dir: str | Path) -> str | None:
    """The ``strn run`` command that trains ``record``'s configuration again and leaves its
    checkpoint where :func:`load_trained` looks (under ``results_dir``), or None where no
    command can (no experiment row of that name, a row with its own runner). Checked: the
    command's configuration has the record's hash and name."""
    from .experiments import get_experiment  # local: inference needs the experiments only for this message
    from .rows import row_config

    cfg = config_from_dict(record["config"])
    try:
        exp = get_experiment(record.get("experiment") or "")
    except KeyError:
        return None
    row = next((r for r in exp.rows if r.name == cfg.name.split("__")[0]), None)
    if row is None or exp.runner:
        return None
    # the equal-steps row computes its epochs itself: they are the row's, not a --set
    derived = {"train": {"epochs": cfg.train.epochs}} if row.equal_steps_to else None
    canonical = _leaves(row_config(exp, row, cfg.profile, cfg.train.seed, derived=derived).to_dict())
    skip = {"experiment", "name", "profile", "train.device", "train.seed"}
    sets = {k: v for k, v in _leaves(cfg.to_dict()).items() if k not in skip and canonical.get(k) != v}
    extra: dict[str, Any] = {}
    for key, value in sets.items():
        *parents, leaf = key.split(".")
        node = extra
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    again = row_config(exp, row, cfg.profile, cfg.train.seed, extra=extra or None, derived=derived)
    if config_hash(again) != config_hash(cfg) or again.name != cfg.name:
        return None
    flags = "".join(f" --set {shlex.quote(f'{k}={_set_value(v)}')}" for k, v in sets.items())
    return (f"strn run {exp.key} --profile {cfg.profile} --rows {row.name} --seeds {cfg.train.seed} --force "
            f"--results-dir {results_dir}{flags}")


def retrain_hint(record: dict[str, Any], results_dir: str | Path) -> str:
    """What to do about a run without its checkpoint, as the end of an error message."""
    from .experiments import EXPERIMENTS  # local: see retrain_command

    exp = EXPERIMENTS.get(record.get("experiment") or "")
    if exp is not None and exp.runner:
        return (f"{exp.key}'s runs are classifiers on stored frame features and keep no checkpoint; evaluate and "
                f"predict take the STRN and frame-average runs of {', '.join(k for k, e in EXPERIMENTS.items() if not e.runner)}")
    cmd = retrain_command(record, results_dir)
    if cmd is None:
        return (f"its configuration is no experiment row's; retrain it from Python with strn.train.run.run("
                f"strn.config.config_from_dict(<its 'config'>), results_dir={str(results_dir)!r}, force=True)")
    return f"train it again (this replaces its results JSON with the new run's) with `{cmd}`"


def _set_value(v: Any) -> str:
    """``v`` as --set reads it back (JSON, or a plain string where that is not JSON)."""
    if isinstance(v, str):
        try:
            json.loads(v)
        except json.JSONDecodeError:
            return v
    return json.dumps(v, separators=(",", ":"))


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


__all__ = ["TrainedModel", "load_trained", "evaluate_trained", "retrain_command"]

"""Run configuration: dataclasses of documented defaults, profiles, validation and hashing.

A run is fully described by a :class:`RunConfig`. Profiles (STUDY §5) give the base
configuration; experiments override a few fields. Unknown keys and out-of-range values
are rejected with a message that names the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .digest import digest
from .profiles import PROFILES as profile_table

PROFILES = tuple(profile_table)  # their facts: strn/profiles.py


class ConfigError(ValueError):
    """A configuration key or value is not allowed; the message says which and what is."""


@dataclass
class DataConfig:
    dataset: str = "synthetic"  # "synthetic" (built-in, generated on first use) or "ucf101"
    root: str | None = None  # dataset folder; None: the synthetic set of the profile under data_dir
    split: int = 1  # UCF-101 split 1, 2 or 3
    rate: int = 10  # sampling rate r: every r-th frame (thesis default 10; Table 5.6)
    seq_len: int = 2  # T, frames per sequence (the temporal context)
    size: int = 48  # frames are resized to size x size before cropping
    crop: int = 48  # network input side (random crop for training, center crop for eval)
    flip: bool = False  # random horizontal flip; off by default: it swaps left/right motion classes
    val_fraction: float = 0.0  # whole groups of the train list held out for validation
    # What a run is evaluated on: "test" (the split's test list), or "val": the held-out groups
    # (val_fraction > 0, drawn with VAL_SPLIT_SEED whatever the training seed), the test list
    # never read (calibration, strn/study/calibrate.py)
    eval_subset: str = "test"
    on_bad_video: str = "skip"  # "skip" (listed in results as skipped_videos) or "raise"
    num_workers: int = 0  # DataLoader workers, and processes decoding into the frame cache on a first run
    cache_codec: str = "raw"  # frame cache entries: "raw" (decoded frames) or "jpeg90" (JPEG q90: 6.4x smaller,
    # other pixels, ~1 ms/frame to decode in the loader; strn/data/cache.py)


@dataclass
class ModelConfig:
    kind: str = "strn"  # "strn", "tsm" (online temporal shift, strn/model/tsm.py), "frame_avg" (per-frame ResNet,
    # mean probabilities), "feat_avg", "feat_gru"
    backbone: str = "resnet50"  # torchvision-style ResNet of [3, 4, 6, 3] Bottleneck blocks
    width: int = 64  # base width: 64 is ResNet-50; smaller is a narrow net of the same shape
    connection: str = "identity"  # temporal skip connection R: "identity", "conv", "conv_relu"
    positions: list[str] | None = None  # blocks ("layer4.2") or thesis layers ("98-104"); None: last T-1 blocks
    special3: bool = False  # one connection at the last block that skips a frame (Fig. 5.3)
    weights: str = "scratch"  # "scratch", "pretrained" (the profile's stand-in for ImageNet, strn/train/pretrain.py;
    # ImageNet for full), "imagenet" (torchvision's file, local) or a checkpoint path
    shift_fraction: float = 0.125  # tsm only: fraction of a shifting block's input channels taken from frame t-1
    shift_positions: list[str] | None = None  # tsm only: blocks that shift ("layer4.2", "98-104"); None: every block


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # "adam", "rprop" or "sgd"
    lr: float = 1e-3  # learning rate (Rprop: initial step size)
    lr_schedule: str = "constant"  # "constant", or "cosine": lr x (1 + cos(pi x step / all steps)) / 2, to 0 at the end
    update_every: float = 0.01  # step the optimiser once every this fraction of training sequences
    batch_size: int = 8  # micro-batch size (sequences per forward pass)
    epochs: int = 4
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    amp: bool = True  # bf16 autocast on CUDA; always fp32 on CPU
    compile: bool = False  # torch.compile the model
    eval_each_epoch: bool = True  # evaluate on the test videos after every epoch (training curves)
    checkpoint_minutes: float = 10.0  # wall minutes between checkpoints (and one at every epoch end)
    checkpoint_every: int = 0  # also checkpoint every this many micro-batches (0: off; tests use it)
    # Subnormal floats flushed to zero on the CPU while training and evaluating (torch.set_flush_denormal).
    # The smoke profile's tiny nets drift into subnormal gradients in their second epoch and a step then
    # costs 5-10x (measured, docs/TESTING.md); the demo's runs have none (bit-identical with and without).
    flush_denormal: bool = False


@dataclass
class RunConfig:
    experiment: str = "adhoc"
    name: str = "run"  # the configuration's label within its experiment (a table row)
    # "" for a table row's run; "schedule-length" for its control run (1.5x the epochs,
    # strn.study.experiments.control_config): never a table row, never reused for one
    control: str = ""
    profile: str = "demo"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Fields that do not change the numbers a run produces: left out of the hash.
_NOT_HASHED = {"experiment", "name", "profile", "data.num_workers", "train.device", "train.checkpoint_every",
               "train.checkpoint_minutes"}

# What a run's model.kind and model.connection may be: the model package builds exactly these
# (strn/model/build.py adds its single-frame classifier, strn/model/strn.py the projection a
# connection becomes where identity is impossible), taken from here so the lists never part.
MODEL_KIND_CHOICES = ("strn", "tsm", "frame_avg", "feat_avg", "feat_gru")
CONNECTION_CHOICES = ("identity", "conv", "conv_relu")

_CHOICES = {
    "profile": PROFILES,
    "data.dataset": ("synthetic", "ucf101"),
    "data.split": (1, 2, 3),
    "data.on_bad_video": ("skip", "raise"),
    "data.cache_codec": ("raw", "jpeg90"),
    "data.eval_subset": ("test", "val"),
    "control": ("", "schedule-length"),
    "model.kind": MODEL_KIND_CHOICES,
    "model.connection": CONNECTION_CHOICES,
    "train.optimizer": ("adam", "rprop", "sgd"),
    "train.lr_schedule": ("constant", "cosine"),
}
# Fields added after results were stored: left out of the hash while they hold these values,
# so every configuration that existed before them keeps its hash (and its stored results).
_HASHED_UNLESS = {"train.lr_schedule": "constant", "data.cache_codec": "raw", "data.eval_subset": "test",
                  "train.flush_denormal": False, "model.shift_fraction": 0.125, "model.shift_positions": None,
                  # hashed: a control run is never found for, nor reused as, a table row's run
                  "control": ""}
_POSITIVE = {"data.rate", "data.seq_len", "data.size", "data.crop", "model.width", "train.batch_size", "train.epochs"}


def _profile_base(profile: str) -> Mapping[str, Any]:
    """The base configuration of a profile (STUDY §5), as overrides of the defaults: strn/profiles.py."""
    if profile not in profile_table:
        raise ConfigError(f"profile {profile!r} is not known; allowed: {', '.join(PROFILES)} (strn/profiles.py)")
    return profile_table[profile].base


def _merge_into(obj: Any, overrides: Mapping[str, Any], prefix: str = "") -> None:
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown configuration key {path!r}; allowed keys here: {', '.join(sorted(names))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path!r} takes a mapping of its fields, got {value!r}")
            _merge_into(current, value, prefix=f"{path}.")
        else:
            setattr(obj, key, list(value) if isinstance(value, tuple) else value)


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def validate(cfg: RunConfig) -> RunConfig:
    """Check types, choices and ranges; raise :class:`ConfigError` naming the key."""
    flat = _flat(cfg.to_dict())
    defaults = _flat(RunConfig().to_dict())
    for key, value in flat.items():
        default = defaults[key]
        if default is not None and not isinstance(default, list):
            ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, bool):
                ok = False
            if not ok:
                raise ConfigError(f"{key!r} must be of type {type(default).__name__}, got {value!r}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(f"{key!r} is {value!r}; allowed values: {', '.join(map(str, _CHOICES[key]))}")
        if key in _POSITIVE and value < 1:
            raise ConfigError(f"{key!r} must be a positive integer, got {value!r}")
    if not 0 < cfg.train.update_every <= 1:
        raise ConfigError(f"'train.update_every' is a fraction of the training data in (0, 1], got {cfg.train.update_every!r}")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(f"'data.val_fraction' must be in [0, 1), got {cfg.data.val_fraction!r}")
    if cfg.data.eval_subset == "val" and cfg.data.val_fraction <= 0:
        raise ConfigError("'data.eval_subset' is 'val' but 'data.val_fraction' is 0: set a share of training "
                          "groups to hold out, e.g. data.val_fraction=0.1667")
    if not math.isfinite(cfg.train.lr) or cfg.train.lr <= 0:
        raise ConfigError(f"'train.lr' must be positive and finite, got {cfg.train.lr!r}")
    _check_reliability_ranges(cfg)
    if cfg.data.crop > cfg.data.size:
        raise ConfigError(f"'data.crop' ({cfg.data.crop}) cannot exceed 'data.size' ({cfg.data.size})")
    if cfg.model.special3 and cfg.data.seq_len < 3:
        raise ConfigError("'model.special3' needs 'data.seq_len' >= 3 (it reaches frame t-2)")
    _check_shift(cfg)  # before the placement below, which makes a default placement None
    if cfg.model.positions is not None:
        # Canonical module names, and None for the default placement, so that the same
        # network always has the same hash (and its results are shared between tables).
        # local: the strn.model package loads torch, and a configuration is checked without it (strn --help)
        from .model.positions import default_positions, resolve_positions

        try:
            cfg.model.positions = resolve_positions(cfg.model.positions)
        except ValueError as e:
            raise ConfigError(f"'model.positions': {e}") from None
        if not cfg.model.special3 and cfg.model.positions == default_positions(cfg.data.seq_len):
            cfg.model.positions = None
    if cfg.data.dataset == "synthetic" and profile_table[cfg.profile].synth is None:
        raise ConfigError(f"profile {cfg.profile!r} runs on UCF-101 (it has no synthetic set): set 'data.dataset' to "
                          f"'ucf101' and 'data.root' to its folder")
    return cfg


def _check_shift(cfg: RunConfig) -> None:
    """The temporal shift's fields: a fraction in [0, 1]; shifting blocks as canonical names (None for
    every block, so the same network always has the same hash); STRN's placement fields unused."""
    m = cfg.model
    if not 0 <= m.shift_fraction <= 1:
        raise ConfigError(f"'model.shift_fraction' must be in [0, 1], got {m.shift_fraction!r}")
    if m.kind != "tsm":
        if m.shift_fraction != 0.125 or m.shift_positions is not None:
            raise ConfigError("'model.shift_fraction' and 'model.shift_positions' apply to model.kind 'tsm' only; "
                              f"remove them or set model.kind to 'tsm' (it is {m.kind!r})")
        return
    if m.positions is not None or m.special3:
        raise ConfigError("model.kind 'tsm' places no STRN connection: give its shifting blocks as "
                          "'model.shift_positions' instead of 'model.positions' / 'model.special3'")
    if m.shift_positions is not None:
        from .model.positions import BLOCK_NAMES, resolve_positions  # local: see validate

        try:
            m.shift_positions = resolve_positions(m.shift_positions)
        except ValueError as e:
            raise ConfigError(f"'model.shift_positions': {e}") from None
        if sorted(m.shift_positions) == sorted(BLOCK_NAMES):
            m.shift_positions = None


_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _check_reliability_ranges(cfg: RunConfig) -> None:
    """Values that would fail only after hours of work, or silently misbehave."""
    t = cfg.train
    for key, value in (("train.weight_decay", t.weight_decay), ("train.checkpoint_minutes", t.checkpoint_minutes)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{key!r} must be a finite number >= 0, got {value!r}")
    if t.checkpoint_every < 0:
        raise ConfigError(f"'train.checkpoint_every' must be >= 0 (0: off), got {t.checkpoint_every!r}")
    if not _DEVICE_RE.match(t.device):
        raise ConfigError(f"'train.device' is {t.device!r}; allowed: auto, cpu, cuda, cuda:N, mps")
    if cfg.data.num_workers < 0:
        raise ConfigError(f"'data.num_workers' must be >= 0, got {cfg.data.num_workers!r}")
    if t.batch_size < 2:
        raise ConfigError(f"'train.batch_size' is {t.batch_size}: BatchNorm cannot train on a micro-batch of one "
                          f"example; use 2 or more")
    if t.seed < 0:
        raise ConfigError(f"'train.seed' must be >= 0, got {t.seed!r}")
    _check_seq_len(cfg)


def _check_seq_len(cfg: RunConfig) -> None:
    """A temporal context the network or the data cannot give, found before any data or weights are made."""
    m, d = cfg.model, cfg.data
    if m.kind == "strn" and m.positions is not None and not m.positions and not m.special3:
        raise ConfigError("'model.positions' is empty: an STRN needs at least one temporal connection (e.g. "
                          "[\"98-104\"]), or use model.kind=frame_avg for a model without one")
    if m.kind == "strn" and m.positions is None and not m.special3:
        from .model.positions import default_positions  # local: as in validate

        try:
            default_positions(d.seq_len)
        except ValueError as e:
            raise ConfigError(f"'data.seq_len' is {d.seq_len}: {e}") from None
    if d.dataset == "synthetic" and not d.root and profile_table[cfg.profile].synth is not None:
        from .data.synth import spec_for_profile  # local: numpy, only for a synthetic set's lengths

        longest = -(-spec_for_profile(cfg.profile).max_frames // d.rate)  # frames sampled from the longest video
        if d.seq_len > longest:
            raise ConfigError(f"'data.seq_len' is {d.seq_len}: the {cfg.profile} synthetic videos give at most "
                              f"{longest} frames at 'data.rate' {d.rate}; use {longest} or less")


def make_config(profile: str = "demo", overrides: Mapping[str, Any] | None = None, **top: Any) -> RunConfig:
    """The profile's base configuration with ``overrides`` (nested dicts) applied, validated.

    >>> make_config("smoke", {"train": {"optimizer": "rprop"}}, experiment="x").train.optimizer
    'rprop'
    """
    cfg = RunConfig(profile=profile)
    _merge_into(cfg, _profile_base(profile))
    _merge_into(cfg, dict(top))
    _merge_into(cfg, dict(overrides or {}))
    return validate(cfg)


def config_from_dict(d: Mapping[str, Any]) -> RunConfig:
    """Rebuild a configuration from :meth:`RunConfig.to_dict` output (e.g. a results JSON)."""
    cfg = RunConfig()
    _merge_into(cfg, d)
    return validate(cfg)


def config_hash(cfg: RunConfig) -> str:
    """Hash of everything that changes the numbers (not labels, device or worker counts)."""
    flat = {k: v for k, v in _flat(cfg.to_dict()).items()
            if k not in _NOT_HASHED and not (k in _HASHED_UNLESS and v == _HASHED_UNLESS[k])}
    return digest(flat, 16)  # the stored results are found by these 16 digits: never change how they are made

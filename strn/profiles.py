"""The profiles (STUDY §5), one table: every fact that differs between smoke, demo and full.

Everything that needs a profile fact reads it here (`get_profile(name).<field>`): the base
configuration (`strn.config`), the synthetic preset (`strn.data.synth`), the still-image
pretraining (`strn.train.pretrain`), the default seeds (`strn.study.experiments`), the frame
baselines' settings (`strn.study.frame_baselines`) and the problem sizes of notebook 03
(`strn.study.technical`). To change a profile, change its entry in PROFILES below; nothing
else branches on a profile's name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class FinetuneSettings:
    """Frame finetuning of Table 5.2 (lr: the profile's ``train.lr``)."""
    epochs: int
    batch_size: int
    max_frames: int | None = None  # cap on training frames per epoch (sampled once, seeded); None: all


@dataclass(frozen=True)
class Profile:
    name: str
    # Overrides of the RunConfig defaults (strn/config.py), nested like a configuration.
    base: Mapping[str, Any]
    # Fields of strn.data.synth.SynthSpec for the built-in synthetic set; None: no synthetic set (UCF-101).
    synth: Mapping[str, Any] | None
    # Fields of strn.train.pretrain.PretrainSpec for the still-image stand-in of ImageNet; None: ImageNet itself.
    pretrain: Mapping[str, Any] | None
    seeds: tuple[int, ...]  # default seeds of every experiment
    # Tables 5.1/5.2: configuration overrides of the feature classifiers (ADAM lr 0.01 comes from the rows).
    baseline_train: Mapping[str, Any]
    finetune: FinetuneSettings  # Table 5.2's frame finetuning
    technical: Mapping[str, int] = field(default_factory=dict)  # notebook 03's problem sizes (strn.study.technical)
    # Deterministic CUDA kernels (strn/train/determinism.py): a rerun on the same card and software
    # gives the same weights. Changes nothing on a CPU.
    deterministic: bool = False
    # Train each claim's deciding rows once more, one seed, with 1.5x the epochs (the
    # schedule-length control, strn.study.rows.control_config): the verdicts' robustness check.
    controls: bool = True
    # Candidate recipes of `strn calibrate recipes` (strn/study/calibrate.py: chosen on validation by
    # its written rule): name -> overrides of this profile's configuration.
    calibration: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"current": {}})


# Notebook 03 (strn/study/technical.py): smoke runs in well under 3 s on one CPU thread; full uses
# demo's sizes (nothing there needs a GPU).
_TECHNICAL_SMOKE = {"n_points": 256, "hidden": 16, "full_steps": 120, "mini_epochs": 12, "batch": 32,
                    "rnn_T": 20, "rnn_hidden": 32, "rnn_seeds": 3}
_TECHNICAL_DEMO = {"n_points": 512, "hidden": 32, "full_steps": 200, "mini_epochs": 20, "batch": 32,
                   "rnn_T": 50, "rnn_hidden": 64, "rnn_seeds": 5}

_DEMO = Profile(
    "demo",
    # The built-in synthetic set, ResNet-50 shape at 1/8 width, 48 px, initialised like the
    # thesis from a pretrained backbone (strn/train/pretrain.py's stand-in for ImageNet: a
    # still-image task that carries no motion). The recipe is the calibrated one (issue 15,
    # docs/STUDY.md section 7, results/calibration/history/demo.json): Adam updating every 1% of the
    # data as the thesis, at 8e-3 annealed to 0 by a cosine over 16 epochs (the thesis fixes
    # neither the rate nor a schedule; the conv rows' test error still fell over epochs 9-12;
    # 18 epochs, tried, left more runs still falling in their last quarter, 15 of 51 against
    # 6-7 at 16: docs/STUDY.md section 7, results/calibration/history/demo_e18_stacked.json); width 8
    # because an optimiser step costs half of width 16's on a CPU core
    # (benchmarks/bench_step_cpu.py) and 3 seeds x 17 configurations must fit the budget;
    # micro-batches of 128 (only BatchNorm sees them: every step, 1% or 10%, is one micro-batch).
    base={"data": {"size": 48, "crop": 48}, "model": {"width": 8, "weights": "pretrained"},
          "train": {"epochs": 16, "batch_size": 128, "lr": 8e-3, "lr_schedule": "cosine"}},
    # Translation (left/right) and fading (in/out): two kinds of temporal cue, each pair of
    # classes identical frame by frame but for the order. Faster than the default so that
    # the motion between sampled frames is clear at r = 2 (> 1.5 px) and unambiguous at
    # r = 15 (< half the width). Calibrated (issue 15): 54 groups of one clip, each group's
    # scene shared by all classes (a background names no class, so what one frame shows is
    # the object: shape, and the kind of motion, since a fading object is see-through at
    # 0.45-0.8 opacity and a moving one opaque); clips of 30-60 frames.
    synth={"motions": ("MoveLeft", "MoveRight", "FadeIn", "FadeOut"), "max_frames": 60,
           "speed": (0.012, 0.024), "n_groups": 54, "clips_per_group": (1, 1),
           "scenes_by_shape": False, "opacity": (0.45, 0.8)},
    # about half a minute of pretraining on a core (PretrainSpec's defaults are demo's)
    pretrain={"width": 8, "size": 48},
    seeds=(0, 1, 2),  # three seeds (issue 15)
    baseline_train={"train": {"epochs": 40, "batch_size": 16}},
    finetune=FinetuneSettings(epochs=3, batch_size=32),
    technical=_TECHNICAL_DEMO,
    # The recipe as it is, one step down and two up in rate, and 1.5x the epochs. Fixed before
    # any calibration run. Not offered: width 16 (an optimiser step costs twice width 8's on a
    # CPU core, so `make report` from empty would pass the 60-minute budget on 2 cores), and
    # more than 24 epochs (the same budget: the 16-epoch demo with its controls takes ~40 min).
    calibration={"current": {}, "lr-4e-3": {"train": {"lr": 4e-3}}, "lr-1.6e-2": {"train": {"lr": 1.6e-2}},
                 "lr-3.2e-2": {"train": {"lr": 3.2e-2}}, "epochs-24": {"train": {"epochs": 24}}},
)


# Issue 15 item 6: demo's study at the closest this project comes to the thesis's scale without
# UCF-101, for one lent GPU (benchmarks/gpu_profile.sh): the full-width ResNet-50 at 112 px on
# twice demo's groups (108: 864 training videos of split 1), demo's classes, motions, protocol,
# seeds and baselines. Adam at 1e-3 (the usual rate for a full-width ResNet-50; demo's 8e-3 was
# calibrated for width 8) annealed by a cosine over 12 epochs: every 1% step sees twice demo's
# sequences, and GPU time comes in leases of minutes. Not calibrated beforehand (the lease is
# the only GPU time there is): the runs' own convergence records say whether that sufficed.
_GPU = dataclasses.replace(
    _DEMO, name="gpu",
    base={"data": {"size": 112, "crop": 112}, "model": {"width": 64, "weights": "pretrained"},
          "train": {"epochs": 12, "batch_size": 128, "lr": 1e-3, "lr_schedule": "cosine"}},
    synth={**_DEMO.synth, "n_groups": 108, "size": 112},
    # the stand-in for ImageNet at the network's width and input size (seconds on a GPU)
    pretrain={"width": 64, "size": 112, "n_train": 8000, "n_test": 800},
    # a later lease retrains the stand-in: it must be the same weights as the stored runs'
    deterministic=True,
    calibration={"current": {}},
)

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile(
        "smoke",
        # Seconds on a CPU: tiny synthetic set, narrow net, 32 px, one epoch. Subnormal floats
        # flushed to zero: this tiny net's gradients turn subnormal in a second epoch (the
        # controls') and a step then costs 5-10x on a CPU (docs/TESTING.md).
        base={"data": {"size": 32, "crop": 32}, "model": {"width": 8, "weights": "pretrained"},
              "train": {"epochs": 1, "batch_size": 8, "lr": 3e-3, "flush_denormal": True}},
        synth={"n_shapes": 2, "motions": ("MoveLeft", "MoveRight"), "n_groups": 6, "clips_per_group": (2, 2),
               "size": 32, "min_frames": 30, "max_frames": 60, "short_fraction": 0.15, "speed": (0.016, 0.031)},
        # seconds of pretraining
        pretrain={"width": 8, "size": 32, "n_train": 1024, "n_test": 384, "n_scenes": 48, "epochs": 3,
                  "batch_size": 32, "lr": 3e-3},
        seeds=(0,),
        baseline_train={"train": {"epochs": 15, "batch_size": 8}},
        finetune=FinetuneSettings(epochs=3, batch_size=16),
        technical=_TECHNICAL_SMOKE,
        calibration={"current": {}, "lr-1e-3": {"train": {"lr": 1e-3}}},
    ),
    _DEMO,
    _GPU,
    Profile(
        "full",
        # The thesis at scale: UCF-101, ResNet-50 (ImageNet weights), 224 px, every 10th frame,
        # T = 2, Adam updating every 1% of the data. Micro-batches of 64 sequences: gradients
        # accumulate over the 1% whatever their size (only BatchNorm sees them, as batches of
        # 64 x T frames), and on a GPU 16 were bound by kernel launches
        # (results/bench/gpu_engine.json: 1,034 against 2,266 frames/s with 8 workers).
        # Frame cache as JPEG q90: split 1 at r = 10 in 7.6 GB instead of 48.8 GB
        # (results/bench/cache_codec.json), and the loader still keeps up with 8 workers
        # (results/bench/loader.json).
        base={"data": {"dataset": "ucf101", "size": 256, "crop": 224, "rate": 10, "flip": True, "num_workers": 8,
                       "cache_codec": "jpeg90"},
              "model": {"width": 64, "weights": "imagenet"},
              "train": {"epochs": 4, "batch_size": 64, "lr": 1e-4}},
        synth=None,  # UCF-101 only: 'data.dataset' must be 'ucf101'
        pretrain=None,  # torchvision's ImageNet weights
        seeds=(0,),
        baseline_train={"train": {"epochs": 30, "batch_size": 64}},
        finetune=FinetuneSettings(epochs=1, batch_size=64),
        technical=_TECHNICAL_DEMO,
        # off: on UCF-101 the controls are 14 more configurations at 1.5x the epochs, days of a
        # GPU; `strn.study.experiments.run_experiment(..., controls=True)` trains them when wanted
        controls=False,
    ),
)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile {name!r} is not known; allowed: {', '.join(PROFILES)} "
                         f"(strn/profiles.py)") from None

"""How a process runs its CUDA kernels: deterministic or fastest, channels_last or not.

Why: on a GPU the same run, rerun on the same card and software, gives other weights unless
the kernels are chosen for determinism: cuDNN autotuning picks algorithms by timing (a
different pick sums in another order), some cuBLAS paths split sums by a workspace size that
varies, and atomics add in arrival order. A lease that retrains the stand-in pretraining
would then start its runs from other weights than the stored runs (one stand-in draw moves a
demo row by 5-7 points). With ``deterministic`` on, the same card and software give the same
weights, which `state_digest` checks.

What "on" sets, once per process and before any CUDA work: ``CUBLAS_WORKSPACE_CONFIG``
(cuBLAS's deterministic workspace), ``torch.use_deterministic_algorithms`` (warn-only: an
operation without a deterministic CUDA kernel still runs and warns, so a lease is never
lost to it; `state_digest` of two runs tells whether it mattered), cuDNN deterministic and
no autotuning. On a CPU none of this changes anything (a CPU run is already repeatable for a
fixed thread count), so it is applied on CUDA devices only.

The settings travel to `strn.study.parallel`'s spawned workers through the environment
(``STRN_DETERMINISTIC``, ``STRN_CHANNELS_LAST``), which `place_model` below reads when
it places a model. Neither is part of a configuration: they do not enter the configuration
hash (channels_last changes float rounding only, as a thread count does). Whether a profile
runs deterministic is its ``deterministic`` field (strn/profiles.py).
"""
from __future__ import annotations

import hashlib
import os
from typing import Mapping

import torch

from ..profiles import get_profile

__all__ = ["CUBLAS_WORKSPACE", "apply", "channels_last", "configure", "configure_for_profile", "deterministic",
           "state_digest"]

CUBLAS_WORKSPACE = ":4096:8"  # what NVIDIA documents for deterministic cuBLAS (CUDA 10.2+)
_DET_ENV, _CL_ENV = "STRN_DETERMINISTIC", "STRN_CHANNELS_LAST"


def configure(deterministic: bool | None = None, channels_last: bool | None = None) -> None:
    """Set this process's (and its future workers') kernel settings; None leaves one as it is.
    Call before the first CUDA operation: cuBLAS reads its workspace setting once."""
    if deterministic is not None:
        os.environ[_DET_ENV] = "1" if deterministic else "0"
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if channels_last is not None:
        os.environ[_CL_ENV] = "1" if channels_last else "0"


def configure_for_profile(profile: str) -> None:
    """Deterministic kernels where the profile asks for them (``Profile.deterministic``); an
    explicit setting of this process (`configure`, ``STRN_DETERMINISTIC``) is kept."""
    if get_profile(profile).deterministic and _DET_ENV not in os.environ:
        configure(deterministic=True)


def deterministic() -> bool:
    return os.environ.get(_DET_ENV, "0") == "1"


def channels_last() -> bool:
    """Models in channels_last (the default: bf16 convolutions run NHWC on tensor cores)."""
    return os.environ.get(_CL_ENV, "1") == "1"


def apply(device: torch.device) -> None:
    """Put this process's settings into torch for a model about to run on ``device``."""
    if device.type != "cuda":
        return
    det = deterministic()
    if det:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(det, warn_only=True)
    torch.backends.cudnn.deterministic = det
    torch.backends.cudnn.benchmark = not det  # autotuning picks kernels by timing: not repeatable


def state_digest(state: Mapping[str, torch.Tensor], n: int = 16) -> str:
    """sha256 of a state dict's tensors (names, dtypes, shapes and bytes, in name order): equal
    digests, bit-identical weights."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:n]


def place_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``model`` to ``device`` in channels_last: bf16 convolutions run NHWC on CUDA's tensor
    cores, oneDNN's made a CPU step 1.36x faster (benchmarks/bench_step_cpu.py). On CUDA
    also cuDNN autotuning (input shapes are fixed within a run), or deterministic kernels
    instead; both settings are the process's (this module's)."""
    model.to(device)
    if channels_last():
        model.to(memory_format=torch.channels_last)
    apply(device)  # cuDNN autotuning unless the process runs deterministic kernels
    return model

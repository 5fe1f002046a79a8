"""strn/train/determinism.py: the process's kernel settings, on in the gpu profile only, applied on
CUDA devices only, and the weights digest that tells whether a rerun reproduced a stand-in."""
import os

import pytest
import torch

from strn.train import determinism
from strn.train.engine import place_model
from strn.profiles import PROFILES


@pytest.fixture
def clean_env(monkeypatch):
    for k in ("STRN_DETERMINISTIC", "STRN_CHANNELS_LAST", "CUBLAS_WORKSPACE_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield monkeypatch
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2], flags[3]


def test_only_the_gpu_profile_asks_for_deterministic_kernels():
    assert {n for n, p in PROFILES.items() if p.deterministic} == {"gpu"}


def test_configure_for_profile_sets_the_environment_workers_inherit(clean_env):
    determinism.configure_for_profile("smoke")
    assert not determinism.deterministic() and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    determinism.configure_for_profile("gpu")
    assert determinism.deterministic() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == determinism.CUBLAS_WORKSPACE
    determinism.configure(deterministic=False)
    determinism.configure_for_profile("gpu")  # an explicit setting of the process is kept
    assert not determinism.deterministic()


def test_apply_sets_torch_on_cuda_devices_and_leaves_a_cpu_alone(clean_env):
    determinism.configure(deterministic=True)
    torch.use_deterministic_algorithms(False)
    determinism.apply(torch.device("cpu"))
    assert not torch.are_deterministic_algorithms_enabled()
    determinism.apply(torch.device("cuda"))  # flags only: no CUDA call is made
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark
    determinism.configure(deterministic=False)
    determinism.apply(torch.device("cuda"))
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark


def test_channels_last_is_a_process_setting_of_place_model(clean_env):
    conv = torch.nn.Conv2d(3, 4, 3)
    assert place_model(conv, torch.device("cpu")).weight.is_contiguous(memory_format=torch.channels_last)
    determinism.configure(channels_last=False)
    conv = torch.nn.Conv2d(3, 4, 3)
    assert place_model(conv, torch.device("cpu")).weight.is_contiguous()


def test_state_digest_tells_bit_identical_weights_apart():
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 3).state_dict()
    b = {k: v.clone() for k, v in a.items()}
    assert determinism.state_digest(a) == determinism.state_digest(b)
    b["weight"][0, 0] = torch.nextafter(b["weight"][0, 0], torch.tensor(2.0))  # one ulp
    assert determinism.state_digest(a) != determinism.state_digest(b)
    assert determinism.state_digest({"n": torch.tensor(3)}) != determinism.state_digest({"n": torch.tensor(4)})

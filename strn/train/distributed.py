"""Data parallel training across processes started by ``torchrun`` (gloo on CPU, NCCL on GPU).

The unit of parallel work is the micro-batch: the micro-batches of one optimiser step are
dealt round-robin to the ranks, each rank accumulates the gradients of its share, and the
gradients are summed across ranks once per step. Since every micro-batch's loss is already
divided by the step's size, the sum is exactly the single-process gradient of the step,
whatever the number of ranks. BatchNorm statistics are per rank during a step; rank 0's
running statistics are broadcast after each step so all ranks hold the same model.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) every function here is a no-op
and rank 0 of 1 is all there is.
"""
from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist
from torch import nn


def init_from_env() -> bool:
    """Join the process group that torchrun describes in the environment; True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def local_device() -> torch.device | None:
    """This rank's GPU under torchrun with CUDA, else None (use the configured device)."""
    if rank_world()[1] > 1 and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return None


def sum_gradients(model: nn.Module) -> None:
    """All-reduce (sum) every parameter's gradient; a rank without work contributes zeros."""
    if rank_world()[1] == 1:
        return
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def broadcast_buffers(model: nn.Module) -> None:
    if rank_world()[1] == 1:
        return
    for b in model.buffers():
        dist.broadcast(b, src=0)


def _reduce(t: torch.Tensor, op) -> torch.Tensor:
    if rank_world()[1] == 1:
        return t
    if dist.get_backend() == "nccl" and t.device.type != "cuda":  # NCCL reduces GPU tensors only
        on_gpu = t.to(local_device())
        dist.all_reduce(on_gpu, op=op)
        t.copy_(on_gpu.cpu())
    else:
        dist.all_reduce(t, op=op)
    return t


def sum_(t: torch.Tensor) -> torch.Tensor:
    """In-place all-reduce sum of a tensor (identity on one process)."""
    return _reduce(t, dist.ReduceOp.SUM)


def max_(t: torch.Tensor) -> torch.Tensor:
    """In-place all-reduce maximum of a tensor (identity on one process)."""
    return _reduce(t, dist.ReduceOp.MAX)


def barrier() -> None:
    if rank_world()[1] > 1:
        dist.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. writing a dataset or cache), then the other ranks."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()

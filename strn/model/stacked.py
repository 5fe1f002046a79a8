"""K models of one architecture as ONE grouped model: the seeds of a configuration trained in lockstep.

Why: at the demo's sizes (width 8, 48 px, one CPU thread) an optimiser step is mostly fixed
per-kernel overhead, so K small models cost nearly K times one. Stacked, every kernel runs
once for all K: every Conv2d gets K times the channels and K times the ``groups`` (model k
owns channel block k, and a grouped convolution never mixes blocks), every BatchNorm2d
normalises the stacked channels (per channel, hence exactly per model), and the classifier
``fc`` becomes a `GroupedLinear` (one 1x1 grouped Conv1d). Nothing else of these
architectures touches channels across models, so the stacked forward is each model's
forward side by side, up to float rounding; and Adam is elementwise, so one Adam over the
stacked parameters is K independent Adams.

Layout: input (B, T, 3K, H, W) = the K inputs concatenated along channels (`stack_inputs`);
output (B, K * classes), model k's logits in columns [k * classes, (k + 1) * classes)
(`unstack_logits`). Every stacked parameter and buffer holds model k's tensor as its k-th
block along dim 0, under the same key as in the plain model, so `unstack_state_dicts` is a
slicing.

Only module types whose behaviour is known to stay per-model are accepted (`_PASS`,
`_STACK`); anything else is an error naming the module, never a silently mixed model.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .baselines import FrameAverage
from .strn import STRN, TemporalConnection

__all__ = ["GroupedLinear", "StackedFrameAverage", "stack_inputs", "stack_models", "unstack_logits",
           "unstack_optimizer_states", "unstack_state_dicts"]


class GroupedLinear(nn.Module):
    """K Linear layers of the same shape as one grouped 1x1 convolution: (B, K*in) -> (B, K*out).

    ``weight`` (K*out, in) and ``bias`` (K*out,) stack the K layers' tensors along dim 0, so
    slicing block k gives back Linear k's ``weight`` / ``bias``."""

    def __init__(self, in_features: int, out_features: int, k: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features, self.k = in_features, out_features, k
        self.weight = nn.Parameter(torch.empty(k * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(k * out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:  # (B, K*in) -> (B, K*out)
        return F.conv1d(x.unsqueeze(-1), self.weight.unsqueeze(-1), self.bias, groups=self.k).squeeze(-1)

    def extra_repr(self) -> str:
        return f"k={self.k}, in_features={self.in_features}, out_features={self.out_features}"


class StackedFrameAverage(nn.Module):
    """`FrameAverage` of K stacked backbones: the softmax and the mean over frames are taken per
    model (a plain FrameAverage would normalise over all K * classes logits at once).
    Input (B, T, 3K, H, W); output (B, K * classes), model k's log mean probabilities in block k."""

    def __init__(self, backbone: nn.Module, k: int) -> None:
        super().__init__()
        self.backbone, self.k = backbone, k

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            x = x.unsqueeze(1)
        b, t = x.shape[:2]
        logits = self.backbone(x.flatten(0, 1)).unflatten(0, (b, t)).unflatten(-1, (self.k, -1))  # (B, T, K, C)
        out = torch.logsumexp(F.log_softmax(logits, dim=-1), dim=1) - math.log(t)  # (B, K, C)
        return out.flatten(1)  # (B, K*C)


# Containers and parameter-free modules whose forward is per channel (or per model block) as it is.
_PASS = (nn.Sequential, nn.ModuleDict, nn.ModuleList, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity,
         Bottleneck, BasicBlock, ResNet, STRN, TemporalConnection)
_STACK = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def _cat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.detach() for t in tensors], 0).clone()


def _stack_leaf(src: Sequence[nn.Module]) -> nn.Module:
    """One stacked module from the K models' modules of the same name (all of one `_STACK` type)."""
    c, k = src[0], len(src)
    if isinstance(c, nn.Conv2d):
        if c.padding_mode != "zeros":
            raise ValueError(f"stack_models: Conv2d with padding_mode {c.padding_mode!r} is not supported")
        new: nn.Module = nn.Conv2d(c.in_channels * k, c.out_channels * k, c.kernel_size, c.stride, c.padding,
                                   c.dilation, c.groups * k, c.bias is not None)
        new.weight.data = _cat([s.weight for s in src])  # (K*out, in/groups, kh, kw)
        if c.bias is not None:
            new.bias.data = _cat([s.bias for s in src])
    elif isinstance(c, nn.BatchNorm2d):
        new = nn.BatchNorm2d(c.num_features * k, eps=c.eps, momentum=c.momentum, affine=c.affine,
                             track_running_stats=c.track_running_stats)
        if c.affine:
            new.weight.data, new.bias.data = _cat([s.weight for s in src]), _cat([s.bias for s in src])
        if c.track_running_stats:
            new.running_mean = _cat([s.running_mean for s in src])
            new.running_var = _cat([s.running_var for s in src])
            counts = {int(s.num_batches_tracked) for s in src}
            if len(counts) != 1:
                raise ValueError(f"stack_models: BatchNorm2d layers have seen different numbers of batches {counts}")
            new.num_batches_tracked = src[0].num_batches_tracked.detach().clone()
    else:  # nn.Linear
        new = GroupedLinear(c.in_features, c.out_features, k, bias=c.bias is not None)
        new.weight.data = _cat([s.weight for s in src])  # (K*out, in)
        if c.bias is not None:
            new.bias.data = _cat([s.bias for s in src])
    return new.to(c.weight.device if getattr(c, "weight", None) is not None else "cpu")


def _check_alike(models: Sequence[nn.Module]) -> None:
    first = models[0].state_dict()
    for i, m in enumerate(models[1:], 1):
        sd = m.state_dict()
        if list(sd) != list(first) or any(sd[n].shape != first[n].shape for n in sd):
            raise ValueError(f"stack_models: model {i} differs in architecture from model 0 "
                             f"(state-dict keys or shapes); only models of one configuration can be stacked")


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """One module computing the K ``models`` side by side (see the module docstring).

    The weights and BatchNorm buffers are copied; the ``models`` are left untouched. Raises
    ValueError naming the first module whose type is not known to stack (a GRU, a LayerNorm,
    a parameter-free module that may mix channels), or when the models differ in architecture.
    """
    if len(models) < 1:
        raise ValueError("stack_models: no model given")
    _check_alike(models)
    k = len(models)
    top = models[0]
    if isinstance(top, FrameAverage):
        return StackedFrameAverage(stack_models([m.backbone for m in models]), k)
    for name, mod in top.named_modules():
        if not isinstance(mod, _PASS + _STACK):
            where = name or "the model itself"
            raise ValueError(f"stack_models: cannot stack module {where!r} of type {type(mod).__name__}: only "
                             f"{', '.join(t.__name__ for t in _STACK)} are stacked and only known per-channel modules "
                             f"pass through (strn/model/stacked.py: add a rule for it, or train its seeds one by one)")
    stacked = copy.deepcopy(top)
    subs = [dict(m.named_modules()) for m in models]
    for name, mod in list(stacked.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, _STACK):
                full = f"{name}.{child_name}" if name else child_name
                setattr(mod, child_name, _stack_leaf([s[full] for s in subs]))
    if isinstance(stacked, STRN):
        stacked._plans = {}
    return stacked


def unstack_state_dicts(stacked: nn.Module, template: nn.Module, k: int) -> list[dict[str, Tensor]]:
    """The K models' state dicts out of a `stack_models` result; each loads into ``template``'s
    architecture with ``strict=True``. Block k along dim 0 of every stacked tensor is model k's;
    a scalar (BatchNorm's ``num_batches_tracked``) is shared."""
    want = template.state_dict()
    have = stacked.state_dict()
    if set(want) != set(have):
        raise ValueError(f"unstack_state_dicts: keys of the stacked model and the template differ "
                         f"(e.g. {sorted(set(want) ^ set(have))[:3]}); is the template the stacked models' architecture?")
    out: list[dict[str, Tensor]] = [{} for _ in range(k)]
    for key, ref in want.items():
        t = have[key].detach()
        if t.dim() == 0:
            parts = [t.clone() for _ in range(k)]
        else:
            if t.shape[0] != k * ref.shape[0]:
                raise ValueError(f"unstack_state_dicts: {key} has {t.shape[0]} rows, not {k} x {ref.shape[0]}")
            parts = [p.clone().reshape(ref.shape) for p in t.chunk(k, 0)]
        for i in range(k):
            out[i][key] = parts[i].contiguous()
    return out


def unstack_optimizer_states(state: dict[str, Any], template: nn.Module, k: int) -> list[dict[str, Any]]:
    """The K models' optimiser state dicts out of the state dict of an optimiser over a stacked
    model's parameters (Adam, SGD, ...: per-parameter tensors shaped like the parameter), for an
    optimiser over ``template.parameters()`` in the same order (`stack_models` keeps the order).
    A per-parameter tensor is sliced like its parameter; a scalar (Adam's ``step``) is shared."""
    shapes = [p.shape for p in template.parameters()]
    out = []
    for i in range(k):
        per: dict[int, dict[str, Any]] = {}
        for idx, st in state["state"].items():
            if idx >= len(shapes):
                raise ValueError(f"unstack_optimizer_states: parameter {idx} is not in the template "
                                 f"({len(shapes)} parameters)")
            per[idx] = {name: (v.chunk(k, 0)[i].clone().reshape(shapes[idx])
                               if isinstance(v, Tensor) and v.dim() > 0 else copy.deepcopy(v))
                        for name, v in st.items()}
        out.append({"state": per, "param_groups": copy.deepcopy(state["param_groups"])})
    return out


def stack_inputs(xs: Sequence[Tensor]) -> Tensor:
    """K inputs (B, T, 3, H, W) (or (B, 3, H, W)) -> one stacked input (B, T, 3K, H, W)."""
    return torch.cat(list(xs), dim=-3)


def unstack_logits(logits: Tensor, k: int) -> list[Tensor]:
    """Stacked output (B, K * classes) -> K outputs (B, classes)."""
    return list(logits.unflatten(1, (k, -1)).unbind(1))

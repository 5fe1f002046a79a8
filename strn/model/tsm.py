"""Online (causal) Temporal Shift Module beside STRN: Lin, Gan and Han, "TSM: Temporal Shift
Module for Efficient Video Understanding", ICCV 2019, in its online form (their section 3.3).

The same torchvision ResNet as STRN, applied to every frame; at chosen residual blocks a
fraction of the channels of the residual branch's input comes from the previous frame:

    out_t = relu( F(shift(in)_t) + shortcut(in_t) ),
    shift(in)_t[:c] = in_{t-1}[:c]  (zeros at t = 0),  shift(in)_t[c:] = in_t[c:]

with c = round(fraction x channels). The shortcut keeps the unshifted input ("residual
shift", the paper's choice: the block's identity path keeps the current frame whole). The
shift only ever reads t-1, never t+1: the prediction at the last frame could be made online.
It adds zero parameters and zero multiply-accumulates; what it costs is the frames a block
must compute for its successor's shift.

Against STRN: STRN's identity connection at layer4.2 *adds* the whole block input of frame
t-1 to the block's output; TSM at layer4.2 *replaces* 1/8 of the channels the residual
branch reads with frame t-1's. Same place, same zero parameters, a different operation.

Computation follows STRN's (`strn.model.strn`): the prediction is the logits of the last
step only, so walking the network backwards gives the steps each block must produce (a
shifting block needs at its input its output steps and each of them minus one); all
needed frames of a stage run as one batch. With a zero fraction nothing is shifted and the
output equals the plain ResNet on the last frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import ResNet

from .positions import resolve_positions
from .strn import StepPlan, block_names, per_frame, residual_branch

__all__ = ["DEFAULT_SHIFT_FRACTION", "TSM", "shift_channels", "shifted_channels"]

DEFAULT_SHIFT_FRACTION = 0.125  # the paper's 1/8 of the channels from the past (online TSM)


def shifted_channels(channels: int, fraction: float) -> int:
    """How many of ``channels`` come from the previous frame."""
    return int(round(channels * fraction))


def shift_channels(x: Tensor, steps_in: tuple[int, ...], steps_out: tuple[int, ...], fold: int) -> Tensor:
    """The shifted input of steps ``steps_out``: x (B, len(steps_in), C, H, W) holds steps
    ``steps_in``; channels [:fold] of step t are those of step t-1 (zeros at t = 0), the others
    those of step t. Returns (B, len(steps_out), C, H, W)."""
    pos_now = [steps_in.index(t) for t in steps_out]
    now = x.index_select(1, torch.tensor(pos_now, device=x.device))  # (B, n_out, C, H, W)
    if fold == 0:
        return now
    # a zero frame in front stands for "no predecessor" (t = 0): index 0 of the padded tensor
    padded = torch.cat([torch.zeros_like(x[:, :1, :fold]), x[:, :, :fold]], dim=1)  # (B, 1 + n_in, fold, H, W)
    pos_prev = [0 if t == 0 else 1 + steps_in.index(t - 1) for t in steps_out]
    prev = padded.index_select(1, torch.tensor(pos_prev, device=x.device))  # (B, n_out, fold, H, W)
    return torch.cat([prev, now[:, :, fold:]], dim=2)


class TSM(nn.Module):
    """ResNet with an online temporal shift in chosen blocks; logits of the last time step.

    Args:
        backbone: a torchvision-style ResNet (layer1..layer4), kept as ``self.backbone`` with
            its module names, so any ResNet state dict loads into it unchanged.
        shift_positions: blocks that shift ("layer4.2") or thesis spans ("98-104"); None:
            every residual block (the paper's placement).
        shift_fraction: fraction of each shifted block's input channels taken from t-1, in [0, 1].

    Input (B, T, C, H, W) (or (B, C, H, W) as T = 1); output (B, num_classes).
    """

    def __init__(self, backbone: ResNet, shift_positions: Sequence | None = None, *,
                 shift_fraction: float = DEFAULT_SHIFT_FRACTION) -> None:
        super().__init__()
        if not 0.0 <= shift_fraction <= 1.0:
            raise ValueError(f"shift_fraction must be in [0, 1], got {shift_fraction}")
        self.backbone = backbone
        self._block_names = block_names(backbone)
        self.shift_fraction = float(shift_fraction)
        self.shifts: list[str] = (list(self._block_names) if shift_positions is None
                                  else resolve_positions(shift_positions, self._block_names))
        self._plans: dict[tuple[int, bool], StepPlan] = {}

    @property
    def context(self) -> int:
        """Trailing frames the output can see: one more per shifting block (each reaches t-1)."""
        return 1 + len(self.shifts) if self.shift_fraction > 0 else 1

    @property
    def num_features(self) -> int:
        return self.backbone.fc.in_features

    def plan(self, seq_len: int, every_step: bool = False) -> StepPlan:
        """Which time steps each stage computes for a sequence of ``seq_len`` frames: those the
        last step needs, or (``every_step``) all of them."""
        key = (seq_len, every_step)
        if key not in self._plans:
            need: tuple[int, ...] = tuple(range(seq_len)) if every_step else (seq_len - 1,)
            blocks = {}
            for name in reversed(self._block_names):
                out = need
                if name in self.shifts and self.shift_fraction > 0:
                    need = tuple(sorted(set(out) | {t - 1 for t in out if t >= 1}))
                blocks[name] = (need, out)
            self._plans[key] = StepPlan(need, blocks)
        return self._plans[key]

    def shift(self, h: Tensor, steps_in: tuple[int, ...], steps_out: tuple[int, ...], fold: int) -> Tensor:
        """The residual branch's input of a shifting block (`shift_channels`: from t-1 only)."""
        return shift_channels(h, steps_in, steps_out, fold)

    def _shift_block(self, block: nn.Module, h: Tensor, steps_in: tuple[int, ...],
                     steps_out: tuple[int, ...]) -> Tensor:
        # h: (B, len(steps_in), C, H, W) -> (B, len(steps_out), C', H', W')
        fold = shifted_channels(h.shape[2], self.shift_fraction)
        x = shift_channels(h, steps_in, steps_out, 0)  # (B, n_out, C, H, W): the unshifted input
        xs = self.shift(h, steps_in, steps_out, fold)  # (B, n_out, C, H, W): the residual branch's input
        b, n = x.shape[:2]
        flat = x.flatten(0, 1)
        shortcut = flat if block.downsample is None else block.downsample(flat)
        return F.relu(residual_branch(block, xs.flatten(0, 1)) + shortcut).unflatten(0, (b, n))

    def _frames(self, x: Tensor, every_step: bool) -> Tensor:
        """The last stage's output of the planned steps: (B, T, C, H, W) -> (B, n, C', H', W')."""
        if x.dim() == 4:
            x = x.unsqueeze(1)
        if x.dim() != 5:
            raise ValueError(f"expected input (B, T, C, H, W), got shape {tuple(x.shape)}")
        plan = self.plan(x.shape[1], every_step)
        bb = self.backbone
        h = x.index_select(1, torch.tensor(plan.stem, device=x.device))  # (B, n, C, H, W)
        h = per_frame(lambda z: bb.maxpool(bb.relu(bb.bn1(bb.conv1(z)))), h)  # stem
        for name in self._block_names:
            block = bb.get_submodule(name)  # looked up each time: survives deepcopy / module swaps
            steps_in, steps_out = plan.blocks[name]
            if name in self.shifts and self.shift_fraction > 0:
                h = self._shift_block(block, h, steps_in, steps_out)
            else:
                h = per_frame(block, h)  # a block that does not shift keeps its steps (see `plan`)
        return h

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled feature of the last time step: (B, T, C, H, W) -> (B, D)."""
        h = self._frames(x, every_step=False)  # only the last step is left: (B, 1, C, H, W)
        return torch.flatten(self.backbone.avgpool(h[:, -1]), 1)  # (B, D)

    def forward_steps(self, x: Tensor) -> Tensor:
        """Pooled features of every time step, as an online model emits them: (B, T, C, H, W) ->
        (B, T, D); step t depends on frames <= t only (what the causality tests check)."""
        h = self._frames(x, every_step=True)  # (B, T, C', H', W')
        return torch.flatten(per_frame(self.backbone.avgpool, h), 2)  # (B, T, D)

    def forward_head(self, features: Tensor) -> Tensor:
        return self.backbone.fc(features)  # (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def extra_repr(self) -> str:
        return f"shift_fraction={self.shift_fraction}, shifts={len(self.shifts)} blocks"

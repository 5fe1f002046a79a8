"""Spatio Temporal Residual Network (thesis ch. 4, STUDY §1).

A torchvision ResNet applied to every frame of a sequence, with temporal skip
connections at chosen residual blocks:

    out_t = relu( F(in_t) + shortcut(in_t) + R(in_{t-delay}) )

F is the block's residual branch, shortcut its identity or downsample, R the temporal
connection; the temporal term joins before the block's final ReLU (*choice*). A step with
no predecessor (t < delay) gets a zero temporal term -- zero *after* R, so a BN inside R
does not leak its bias into frame 1.

Computation. The prediction is the logits of the LAST step only, so the forward pass
walks the network backwards once per sequence length to find which time steps each block
must produce: the head needs {T-1}; a block with a connection of delay d needs at its
input its output steps plus each of them shifted by d (dropping t < 0), but runs its
residual branch only on its output steps; R runs only on the shifted steps. All needed
frames of a stage go through it as one batch (B*n, C, H, W) -- no Python loop over t.
Consequences: with no connection only x[:, -1] is computed (output == the plain ResNet
on the last frame, bit for bit); with one connection at layer4.2, two frames go through
layers up to layer4.1 and one through layer4.2; Special3 (delay 2) computes frames
T-3 and T-1 only, never T-2.

BatchNorm: in training mode the frames of a batch share batch statistics, as in
per-frame training of the backbone (the frames seen are the ones computed above).

Parameters and state dicts: ``backbone`` is left untouched (its keys are torchvision's,
under ``backbone.``; ``model.backbone.layer4[2]`` is the original Bottleneck), and the
connections live in ``temporal`` (a ModuleDict keyed "layer4_2"), so any ResNet state
dict -- ImageNet or frame-finetuned -- loads into ``model.backbone`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import ResNet

from ..config import CONNECTION_CHOICES
from .positions import BLOCK_NAMES, default_positions, resolve_position, resolve_positions

__all__ = [
    "CONNECTION_KINDS",
    "STRN",
    "Connection",
    "TemporalConnection",
    "block_names",
    "plan_connections",
]

# identity: R(x) = x, no parameters; only where the block keeps channels and stride.
# projection: 1x1 conv (block's stride) + BN, i.e. a copy of the block's downsample branch;
#     what an "identity" request becomes where identity is impossible.
# conv: 1x1 conv (block's stride), linear, no bias (bn3 of the block already adds one).
# conv_relu: 1x1 conv + BN + ReLU; the BN keeps the non-linear term on the scale of the
#     block's own BN outputs (STUDY §1 allows BN here, *choice*).
CONNECTION_KINDS = (*CONNECTION_CHOICES, "projection")  # what model.connection may ask for, and projection


class Connection(NamedTuple):
    block: str  # module name, e.g. "layer4.2"
    kind: str  # one of CONNECTION_KINDS (after any identity -> projection substitution)
    delay: int  # frames back: 1, or 2 for Special3


def block_names(backbone: nn.Module) -> list[str]:
    """Residual blocks of a torchvision-style ResNet, input to output ("layer1.0", ...)."""
    names = []
    for s in range(1, 5):
        layer = getattr(backbone, f"layer{s}", None)
        if layer is None:
            raise ValueError(f"backbone has no layer{s}: not a torchvision-style ResNet")
        names += [f"layer{s}.{i}" for i in range(len(layer))]
    return names


def _block_io(block: nn.Module) -> tuple[int, int, int]:
    """(in channels, out channels, stride) of a Bottleneck / BasicBlock."""
    last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
    return block.conv1.in_channels, last_bn.num_features, block.stride


class TemporalConnection(nn.Module):
    """R of one block: maps in_{t-delay} (N, C_in, H, W) to the block's output shape."""

    def __init__(self, kind: str, in_channels: int, out_channels: int, stride: int, *, delay: int = 1) -> None:
        super().__init__()
        if kind not in CONNECTION_KINDS:
            raise ValueError(f"unknown connection kind {kind!r}; valid: {CONNECTION_KINDS}")
        if delay < 1:
            raise ValueError(f"delay must be >= 1, got {delay}")
        self.kind, self.delay = kind, delay
        if kind == "identity":
            if in_channels != out_channels or stride != 1:
                raise ValueError(
                    f"identity connection impossible here ({in_channels} -> {out_channels} channels, "
                    f"stride {stride}): a projection is needed -- use kind 'projection' (1x1 conv + BN "
                    f"like the block's downsample) or 'conv'"
                )
            self.r: nn.Module = nn.Identity()
        else:
            conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
            if kind == "conv":
                self.r = conv
            else:
                layers = [conv, nn.BatchNorm2d(out_channels)]
                if kind == "conv_relu":
                    layers.append(nn.ReLU(inplace=True))
                self.r = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, C_out, H/s, W/s)
        return self.r(x)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, delay={self.delay}"


def residual_branch(block: nn.Module, x: Tensor) -> Tensor:
    """F(x): the block's residual branch, i.e. its forward without shortcut and final ReLU."""
    out = block.relu(block.bn1(block.conv1(x)))
    if hasattr(block, "conv3"):  # Bottleneck; else BasicBlock
        out = block.relu(block.bn2(block.conv2(out)))
        return block.bn3(block.conv3(out))
    return block.bn2(block.conv2(out))


def _take(h: Tensor, have: tuple[int, ...], want: tuple[int, ...]) -> Tensor:
    """Select time steps `want` (sorted) from h (B, len(have), ...) holding steps `have`."""
    if have == want:
        return h
    pos = [have.index(t) for t in want]
    if pos == list(range(pos[0], pos[0] + len(pos))):
        return h.narrow(1, pos[0], len(pos))  # a view: no copy for trailing windows
    return h.index_select(1, torch.tensor(pos, device=h.device))


def per_frame(fn: Callable[[Tensor], Tensor], h: Tensor) -> Tensor:
    """Apply a 2D module to every frame at once: (B, n, C, H, W) -> (B, n, C', H', W')."""
    b, n = h.shape[:2]
    return fn(h.flatten(0, 1)).unflatten(0, (b, n))


class StepPlan(NamedTuple):
    """Which time steps a forward pass computes: those fed to the stem, and each block's in and out steps."""
    stem: tuple[int, ...]  # time steps fed to the stem
    blocks: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]  # name -> (in steps, out steps)


class STRN(nn.Module):
    """ResNet with temporal skip connections; logits of the last time step.

    Args:
        backbone: a torchvision-style ResNet (layer1..layer4 of Bottleneck/BasicBlock);
            kept as ``self.backbone`` with its module names and state-dict keys.
        connections: (block, kind, delay) triples; block is a module name or thesis span
            ("98-104"); at most one per block. An "identity" request at a block that
            changes channels or stride becomes a "projection" (recorded in
            ``self.connections``) unless ``strict_identity``, which raises instead.

    Input (B, T, C, H, W) (or (B, C, H, W) as T = 1); output (B, num_classes).
    ``context`` = 1 + sum of delays: the number of trailing frames the output can see.
    """

    def __init__(
        self,
        backbone: ResNet,
        connections: Sequence[Connection | tuple[str, str, int]] = (),
        *,
        strict_identity: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        names = block_names(backbone)
        self._block_names = names
        self.temporal = nn.ModuleDict()
        self.connections: list[Connection] = []
        for block, kind, delay in connections:
            name = resolve_position(block, names)
            key = name.replace(".", "_")
            if key in self.temporal:
                raise ValueError(f"two connections at {name}; connections sit at distinct blocks")
            c_in, c_out, stride = _block_io(backbone.get_submodule(name))
            if kind == "identity" and (c_in != c_out or stride != 1) and not strict_identity:
                kind = "projection"
            self.temporal[key] = TemporalConnection(kind, c_in, c_out, stride, delay=int(delay))
            self.connections.append(Connection(name, kind, int(delay)))
        self._plans: dict[int, StepPlan] = {}

    @property
    def context(self) -> int:
        return 1 + sum(c.delay for c in self.connections)

    @property
    def num_features(self) -> int:
        return self.backbone.fc.in_features

    def plan(self, seq_len: int) -> StepPlan:
        """Which time steps each stage computes for a sequence of `seq_len` frames."""
        if seq_len not in self._plans:
            need = (seq_len - 1,)
            blocks = {}
            for name in reversed(self._block_names):
                out = need
                key = name.replace(".", "_")
                if key in self.temporal:
                    conn = self.temporal[key]
                    need = tuple(sorted(set(out) | {t - conn.delay for t in out if t - conn.delay >= 0}))
                blocks[name] = (need, out)
            self._plans[seq_len] = StepPlan(need, blocks)
        return self._plans[seq_len]

    def _temporal_block(
        self,
        block: nn.Module,
        conn: TemporalConnection,
        h: Tensor,
        steps_in: tuple[int, ...],
        steps_out: tuple[int, ...],
    ) -> Tensor:
        # h: (B, len(steps_in), C, H, W) -> (B, len(steps_out), C', H', W')
        x = _take(h, steps_in, steps_out)  # (B, n_out, C, H, W)
        b, n = x.shape[:2]
        flat = x.flatten(0, 1)
        shortcut = flat if block.downsample is None else block.downsample(flat)
        y = (residual_branch(block, flat) + shortcut).unflatten(0, (b, n))
        src = tuple(t - conn.delay for t in steps_out if t - conn.delay >= 0)
        if src:
            r = per_frame(conn, _take(h, steps_in, src))  # (B, n_src, C', H', W')
            k = n - len(src)  # the first k output steps have no predecessor: zero term
            y = y + r if k == 0 else torch.cat([y[:, :k], y[:, k:] + r], dim=1)
        return F.relu(y)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled feature of the last time step: (B, T, C, H, W) -> (B, D)."""
        if x.dim() == 4:
            x = x.unsqueeze(1)
        if x.dim() != 5:
            raise ValueError(f"expected input (B, T, C, H, W), got shape {tuple(x.shape)}")
        plan = self.plan(x.shape[1])
        bb = self.backbone
        h = _take(x, tuple(range(x.shape[1])), plan.stem)  # (B, n, C, H, W)
        h = per_frame(lambda z: bb.maxpool(bb.relu(bb.bn1(bb.conv1(z)))), h)  # stem
        for name in self._block_names:
            block = bb.get_submodule(name)  # looked up each time: survives deepcopy / module swaps
            key = name.replace(".", "_")
            if key in self.temporal:
                h = self._temporal_block(block, self.temporal[key], h, *plan.blocks[name])
            else:
                h = per_frame(block, h)
        # only the last step is left: (B, 1, C, H, W)
        return torch.flatten(bb.avgpool(h[:, -1]), 1)  # (B, D)

    def forward_head(self, features: Tensor) -> Tensor:
        return self.backbone.fc(features)  # (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def plan_connections(
    *,
    seq_len: int,
    connection: str = "identity",
    positions: Sequence | None = None,
    special3: bool = False,
    blocks: Sequence[str] | None = None,
) -> list[Connection]:
    """Connection triples for a context of `seq_len` frames.

    positions None -> `default_positions(seq_len)` (the last seq_len-1 blocks), delay 1
    each; [] -> none (the plain per-frame ResNet on the last frame). ``special3`` -> one
    connection of delay 2 at the last block (Fig. 5.3's "identity layer"); positions may
    then only name that block.
    """
    valid = list(blocks) if blocks is not None else list(BLOCK_NAMES)
    if connection not in CONNECTION_KINDS:
        raise ValueError(f"unknown connection {connection!r}; valid: {CONNECTION_KINDS}")
    if special3:
        last = valid[-1]
        if positions is not None and resolve_positions(positions, valid) != [last]:
            raise ValueError(
                f"special3 places one delay-2 connection at the last block {last}; got positions {positions}"
            )
        return [Connection(last, connection, 2)]
    names = default_positions(seq_len, valid) if positions is None else resolve_positions(positions, valid)
    return [Connection(n, connection, 1) for n in names]

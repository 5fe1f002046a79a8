"""Thesis layer numbers <-> torchvision module names (STUDY §1).

The thesis counts ResNet-50 as 106 layers, 105 being the global average pool and 106 the
softmax output, and names connection positions by layer spans ("98-104"). torchvision's
ResNet-50 has 53 convs + 53 BNs, so no count of "each conv and each BN" reaches 106 with
pool and output on top. The numbering below is the one that reproduces *every* number
the thesis gives (*choice*, documented for notebook 04):

* stem: 1 conv1, 2 bn1, 3 relu, 4 maxpool;
* each bottleneck block: conv1, bn1, conv2, bn2, conv3, bn3 (6 layers), preceded in the
  first block of a stage by its downsample projection counted as ONE layer (conv+BN);
* 105 avgpool, 106 fc (+softmax).

This gives layer2 ending at 48 and layer3 at 85 (the thesis's block2/block3 taps), 105
the pool (block4 tap), and a block's thesis span runs from the layer that feeds its
shortcut (the projection, or the previous block's last BN) to its own last BN:
layer1.0 = 5-11, layer3.0 = 49-55, layer4.0 = 86-92, layer4.2 = 98-104 -- exactly the
four positions of Table 5.4.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "BLOCK_NAMES",
    "THESIS_POSITIONS",
    "LayerRow",
    "block_span",
    "default_positions",
    "layer_table",
    "resolve_position",
    "resolve_positions",
]

RESNET50_LAYERS = (3, 4, 6, 3)
# All 16 bottleneck blocks of ResNet-50, input to output.
BLOCK_NAMES: tuple[str, ...] = tuple(
    f"layer{s + 1}.{b}" for s, n in enumerate(RESNET50_LAYERS) for b in range(n)
)


class LayerRow(NamedTuple):
    index: int  # thesis layer number, 1..106
    module: str  # torchvision module name ("layer1.0.downsample", "avgpool", ...)
    kind: str  # conv | bn | relu | pool | proj (1x1 conv + BN) | fc
    block: str  # enclosing block ("layer4.2"), or "stem" / "head"


def layer_table() -> list[LayerRow]:
    """The 106-layer numbering of the thesis's ResNet-50 (see module docstring)."""
    rows: list[LayerRow] = []

    def add(module: str, kind: str, block: str) -> None:
        rows.append(LayerRow(len(rows) + 1, module, kind, block))

    for m, k in (("conv1", "conv"), ("bn1", "bn"), ("relu", "relu"), ("maxpool", "pool")):
        add(m, k, "stem")
    for name in BLOCK_NAMES:
        if name.endswith(".0"):  # every stage of ResNet-50 opens with a projection block
            add(f"{name}.downsample", "proj", name)
        for i in (1, 2, 3):
            add(f"{name}.conv{i}", "conv", name)
            add(f"{name}.bn{i}", "bn", name)
    add("avgpool", "pool", "head")
    add("fc", "fc", "head")
    assert len(rows) == 106
    return rows


def block_span(block: str) -> tuple[int, int]:
    """Thesis span of a block: (layer feeding its shortcut, its last BN)."""
    rows = [r for r in layer_table() if r.block == block]
    if not rows:
        raise ValueError(f"unknown block {block!r}; valid: {', '.join(BLOCK_NAMES)}")
    first = rows[0].index if rows[0].kind == "proj" else rows[0].index - 1
    return first, rows[-1].index


# The four positions of Table 5.4 (identical to block_span of each block).
THESIS_POSITIONS: dict[str, str] = {
    "5-11": "layer1.0",
    "49-55": "layer3.0",
    "86-92": "layer4.0",
    "98-104": "layer4.2",
}

_SPAN = re.compile(r"^\s*(\d+)\s*[-\u2013\u2014:]\s*(\d+)\s*$")
_NAME = re.compile(r"^\s*(layer[1-4])\s*(?:\.(\d+)|\[(\d+)\])\s*$")


def _valid_message(valid: Sequence[str]) -> str:
    spans = ", ".join(f"{a}-{b}" for a, b in (block_span(n) for n in BLOCK_NAMES))
    return (
        f"valid positions: thesis spans {sorted(THESIS_POSITIONS, key=lambda s: int(s.split('-')[0]))} "
        f"(every ResNet-50 block has one: {spans}) as 'a-b' or (a, b), or module names "
        f"{', '.join(valid)}"
    )


def resolve_position(position: str | tuple[int, int] | Sequence[int], valid: Sequence[str] = BLOCK_NAMES) -> str:
    """Module name of a connection position.

    Accepts a thesis span ("98-104", "98–104", (98, 104)) or a block name
    ("layer4.2", "layer4[2]"). `valid` lists the model's blocks (default: ResNet-50's).
    """
    span: tuple[int, int] | None = None
    if isinstance(position, str):
        m = _SPAN.match(position)
        if m:
            span = (int(m.group(1)), int(m.group(2)))
        else:
            n = _NAME.match(position)
            if n:
                name = f"{n.group(1)}.{n.group(2) or n.group(3)}"
                if name in valid:
                    return name
            raise ValueError(f"unknown position {position!r}; {_valid_message(valid)}")
    elif isinstance(position, Sequence) and len(position) == 2 and all(isinstance(v, int) for v in position):
        span = (int(position[0]), int(position[1]))
    else:
        raise ValueError(f"position must be a str or a (first, last) pair, got {position!r}; {_valid_message(valid)}")
    for name in BLOCK_NAMES:
        if block_span(name) == span and name in valid:
            return name
    raise ValueError(f"no block spans thesis layers {span[0]}-{span[1]}; {_valid_message(valid)}")


def resolve_positions(positions: Sequence, valid: Sequence[str] = BLOCK_NAMES) -> list[str]:
    """`resolve_position` for each; duplicates are an error (connections sit at distinct blocks)."""
    names = [resolve_position(p, valid) for p in positions]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"positions must be distinct blocks; repeated: {dup}")
    return names


def default_positions(context: int, valid: Sequence[str] = BLOCK_NAMES) -> list[str]:
    """Default placement for temporal context T: the last T-1 blocks where an identity
    connection is possible, last first -- every block but the first of a stage (".0"), which
    changes channels and stride in a Bottleneck ResNet (*choice*, STUDY §1: the thesis's
    connections in Table 5.7 are identity mappings).

    default_positions(2) == ["layer4.2"]; (3) adds "layer4.1"; (5) -> layer4.2, layer4.1,
    layer3.5, layer3.4 (layer4.0 is skipped: 1024 -> 2048 channels, stride 2).
    """
    if context < 1:
        raise ValueError(f"temporal context must be >= 1, got {context}")
    keep = [n for n in reversed(valid) if not n.endswith(".0")]
    if context - 1 > len(keep):
        raise ValueError(f"context {context} needs {context - 1} distinct blocks that keep channels and stride; "
                         f"the net has {len(keep)}")
    return keep[: context - 1]

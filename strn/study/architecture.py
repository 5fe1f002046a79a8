"""Thesis ch. 4 computed from the code (notebook 04): what the block diagrams (Figs. 4.1/4.2)
and the unrolled network over T frames (Figs. 4.3, 4.4, 5.2, 5.3) show, the 106-layer table,
and parameter and multiply-accumulate (MAC) counts. :func:`compute` returns it all as data
(with the video of Fig. 4.5 from ``data.stats.example_video``); ``strn.report.plots.architecture``
draws it.

Every figure's data reads the structure of a built model: the boxes of a block are its
submodules, the frames a block processes come from ``STRN.plan(T)``, the temporal arrows
from ``STRN.connections``. Nothing is a hand-written constant.

MAC counting: forward hooks on every ``nn.Conv2d`` and ``nn.Linear`` (MACs = output
elements x in_channels/groups x kh x kw; Linear: output elements x in_features). BN,
ReLU, pooling and the additions of the shortcuts are not counted (the usual convention;
they are < 1% of ResNet-50's MACs). Counting runs on the ``meta`` device: shapes
propagate, nothing is computed, so ResNet-50 at 224 px costs milliseconds.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.stats import example_video
from ..model import build_model
from ..model.positions import BLOCK_NAMES, THESIS_POSITIONS, block_span, layer_table

# ------------------------------------------------------------------------ counting


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, x: torch.Tensor, per_module: bool = False):
    """Multiply-accumulates of one forward pass of ``model(x)`` (Conv2d and Linear only).

    Returns the total, or (total, {module name: MACs}) with ``per_module``. A module
    called several times (a block run on several frames) is summed over its calls.
    """
    names = {m: n for n, m in model.named_modules()}
    per: dict[str, int] = {}

    def hook(mod: nn.Module, inputs, out: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
        else:
            macs = out.numel() * mod.in_features
        per[names[mod]] = per.get(names[mod], 0) + int(macs)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(x)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    total = sum(per.values())
    return (total, per) if per_module else total


@dataclass(frozen=True)
class CostConfig:
    """One row of the cost table: a model of the study at one width and input size."""

    label: str
    kind: str = "strn"  # "strn" or "frame" (the plain per-frame ResNet)
    seq_len: int = 2
    width: int = 64
    px: int = 224
    connection: str = "identity"
    positions: tuple | None = None  # None: the default placement (last T-1 blocks)
    special3: bool = False
    num_classes: int = 101

    def build(self, device: str | torch.device = "meta") -> nn.Module:
        with torch.device(device):
            return build_model(self.kind, num_classes=self.num_classes, seq_len=self.seq_len, width=self.width,
                               connection=self.connection,
                               positions=None if self.positions is None else list(self.positions),
                               special3=self.special3)


def profile_networks() -> list[tuple[str, int, int, int]]:
    """(profile, width, px, classes) of every profile whose network is narrow (width < 64),
    read from strn/profiles.py: smoke and demo."""
    from ..config import make_config  # local: config and synth are needed only for these rows
    from ..data.synth import PROFILES as synth_presets

    nets = []
    for name, spec in synth_presets.items():
        cfg = make_config(name)
        if cfg.model.width < 64:
            nets.append((name, cfg.model.width, cfg.data.crop, len(spec.classes)))
    return nets


def default_cost_configs(narrow: Sequence[tuple[str, int, int, int]] | None = None) -> list[CostConfig]:
    """The networks of the study: ResNet-50 at 224 px with every connection type and
    context of chapter 5, then the narrow nets of the profiles, given as (profile, width,
    px, classes); default: ``profile_networks()``."""
    rows = [CostConfig("ResNet-50, one frame", kind="frame", seq_len=1),
            CostConfig("STRN T=2, no connection", positions=()),
            CostConfig("STRN T=2, identity 98-104"),
            CostConfig("STRN T=2, conv 98-104", connection="conv"),
            CostConfig("STRN T=2, conv_relu 98-104", connection="conv_relu"),
            CostConfig("STRN T=2, conv 86-92", connection="conv", positions=("86-92",)),
            CostConfig("STRN T=2, conv 49-55", connection="conv", positions=("49-55",)),
            CostConfig("STRN T=2, conv 5-11", connection="conv", positions=("5-11",)),
            CostConfig("STRN T=3, identity", seq_len=3),
            CostConfig("STRN Special3, identity", seq_len=3, special3=True),
            CostConfig("STRN T=5, identity", seq_len=5)]
    for profile, width, px, classes in profile_networks() if narrow is None else narrow:
        rows += [CostConfig(f"{profile}: ResNet-50 w{width}, one frame", kind="frame", seq_len=1, width=width,
                            px=px, num_classes=classes),
                 CostConfig(f"{profile}: STRN w{width} T=2, identity 98-104", width=width, px=px,
                            num_classes=classes)]
    return rows


def cost_row(cfg: CostConfig) -> dict[str, Any]:
    """Parameters and MACs of one configuration (batch 1, meta device)."""
    model = cfg.build("meta")
    shape = (1, 3, cfg.px, cfg.px) if cfg.kind == "frame" else (1, cfg.seq_len, 3, cfg.px, cfg.px)
    macs = count_macs(model, torch.zeros(shape, device="meta"))
    conns = getattr(model, "connections", [])
    frames = len(model.plan(cfg.seq_len).stem) if hasattr(model, "plan") else 1
    return {"configuration": cfg.label, "width": cfg.width, "input px": cfg.px, "T": cfg.seq_len,
            "connections": ", ".join(f"{c.block} {c.kind} d{c.delay}" for c in conns) or "-",
            "params": count_params(model),
            "temporal params": sum(p.numel() for p in model.temporal.parameters()) if hasattr(model, "temporal") else 0,
            "MACs": macs, "frames through stem": frames}


def cost_table(configs: Sequence[CostConfig] | None = None):
    """DataFrame of parameters and MACs, with the cost relative to the plain ResNet of the
    same width and input size on ONE frame (``x plain``) and on all T frames (``x T
    frames``, what averaging T per-frame predictions costs)."""
    import pandas as pd  # heavy: only where a table is built

    configs = list(configs or default_cost_configs())
    df = pd.DataFrame([cost_row(c) for c in configs])
    plain = {(c.width, c.px): r["MACs"] for c, (_, r) in zip(configs, df.iterrows()) if c.kind == "frame"}
    for c in configs:  # a plain reference for every (width, px) in the table
        if (c.width, c.px) not in plain:
            plain[(c.width, c.px)] = cost_row(CostConfig("ref", kind="frame", seq_len=1, width=c.width, px=c.px,
                                                         num_classes=c.num_classes))["MACs"]
    ref = np.array([plain[(c.width, c.px)] for c in configs], dtype=float)
    df["GMACs"] = df["MACs"] / 1e9
    df["x plain"] = df["MACs"] / ref
    df["x T frames"] = df["MACs"] / (ref * df["T"])
    return df


# ------------------------------------------------------------------ the 106 layers


def layer_frame():
    """``layer_table()`` as a DataFrame; ``thesis position`` names the Table 5.4 span a
    layer belongs to (5-11, 49-55, 86-92, 98-104)."""
    import pandas as pd  # heavy: only where a table is built

    spans = {name: (span, block_span(name)) for span, name in THESIS_POSITIONS.items()}
    rows = []
    for r in layer_table():
        pos = next((s for s, (a, b) in spans.values() if a <= r.index <= b), "")
        rows.append({"layer": r.index, "module": r.module, "kind": r.kind, "block": r.block, "thesis position": pos})
    return pd.DataFrame(rows).set_index("layer")


# ------------------------------------------------------------- a block as boxes

def _module_label(m: nn.Module) -> tuple[str, str]:
    if isinstance(m, nn.Conv2d):
        k = "x".join(map(str, m.kernel_size))
        s = f", stride {m.stride[0]}" if m.stride[0] != 1 else ""
        return f"{k} conv {m.in_channels}->{m.out_channels}{s}", "conv"
    if isinstance(m, nn.BatchNorm2d):
        return f"BN ({m.num_features})", "bn"
    if isinstance(m, nn.ReLU):
        return "ReLU", "relu"
    if isinstance(m, nn.Identity):
        return "identity", "proj"
    return type(m).__name__, "io"


def residual_branch(block: nn.Module) -> list[tuple[str, str]]:
    """(label, kind) of the residual branch F of a Bottleneck/BasicBlock, in forward
    order: conv_i, bn_i and a ReLU after every BN but the last (torchvision's forward,
    mirrored by ``strn.model.strn.residual_branch``)."""
    convs = [n for n, _ in block.named_children() if n.startswith("conv")]
    out = []
    for i, name in enumerate(convs, 1):
        out.append(_module_label(getattr(block, name)))
        out.append(_module_label(getattr(block, f"bn{i}")))
        if i < len(convs):
            out.append(("ReLU", "relu"))
    return out


def shortcut_label(block: nn.Module) -> str:
    if block.downsample is None:
        return "identity shortcut"
    return "projection: " + " + ".join(_module_label(m)[0] for m in block.downsample)


def temporal_label(conn_module: nn.Module | None, delay: int) -> str | None:
    if conn_module is None:
        return None
    inner = conn_module.r
    parts = [inner] if not isinstance(inner, nn.Sequential) else list(inner)
    body = "\n+ ".join(_module_label(m)[0] for m in parts)
    return f"R ({conn_module.kind}):\n{body}\nfrom frame t-{delay}"


def block_diagram(model: nn.Module, block_name: str, title: str | None = None) -> dict[str, Any]:
    """One residual block of ``model`` (an STRN or a plain ResNet) as the boxes of its diagram
    (Figs. 4.1/4.2), read from its submodules: the residual branch F, the spatial shortcut, the
    temporal connection R if the model has one at this block. Plain data, drawn by
    ``strn.report.plots.architecture.draw_block``."""
    backbone = model.backbone if hasattr(model, "backbone") and hasattr(model, "temporal") else model
    block = backbone.get_submodule(block_name)
    key = block_name.replace(".", "_")
    conn = model.temporal[key] if hasattr(model, "temporal") and key in model.temporal else None
    return {"title": title or block_name, "block": block_name, "in_channels": block.conv1.in_channels,
            "branch": residual_branch(block), "shortcut": shortcut_label(block),
            "temporal": temporal_label(conn, conn.delay) if conn is not None else None,
            "temporal_kind": conn.kind if conn is not None else None, "delay": conn.delay if conn is not None else None}


# ------------------------------------------------------------- unrolled network


def unrolled(model: nn.Module, seq_len: int) -> dict[str, Any]:
    """What an STRN computes on a sequence of ``seq_len`` frames, from ``model.plan``.

    rows: ["stem", block names..., "head"]; labels: what each row is called in the figure;
    computed[row]: the frames (0-based) the row produces; temporal: (block, src frame, dst
    frame, kind, delay) for every temporal term actually added (the block's input at src joins
    its output at dst); connections: [{block, kind, delay}]. Plain data: JSON-ready.
    """
    plan = model.plan(seq_len)
    names = list(plan.blocks)[::-1]  # plan.blocks is filled output -> input
    conns = {c.block: c for c in model.connections}
    computed = {"stem": tuple(plan.stem)}
    temporal = []
    for name in names:
        steps_in, steps_out = plan.blocks[name]
        computed[name] = tuple(steps_out)
        if name in conns:
            c = conns[name]
            temporal += [(name, t - c.delay, t, c.kind, c.delay) for t in steps_out if t - c.delay >= 0]
    computed["head"] = (seq_len - 1,)
    rows = ["stem", *names, "head"]
    labels = []
    for r in rows:  # a connected block is named with its thesis span and the kind and delay of R
        c = conns.get(r)
        span = f" ({'-'.join(map(str, block_span(r)))})" if c is not None and r in BLOCK_NAMES else ""
        labels.append(r if c is None else f"{r}{span}  [{c.kind}, t-{c.delay}]")
    return {"T": seq_len, "rows": rows, "labels": labels, "computed": computed, "temporal": temporal,
            "connections": [{"block": c.block, "kind": c.kind, "delay": c.delay} for c in model.connections]}


def resnet50_reference_macs() -> tuple[int, int]:
    """(MACs, parameters) of torchvision's resnet50 (1000 classes) at 224 px, batch 1:
    4,089,184,256 MACs and 25,557,032 parameters."""
    import torchvision  # heavy: only for the reference model of the counts

    with torch.device("meta"):
        net = torchvision.models.resnet50(weights=None)
    return count_macs(net, torch.zeros(1, 3, 224, 224, device="meta")), count_params(net)


def checks(costs, panels: Sequence[tuple[nn.Module, int, str]]):
    """What notebook 04 asserts about the drawn networks and the counts (check, value, passed)."""
    import pandas as pd  # heavy: only where a table is built

    by = costs.set_index("configuration")
    rows = []
    macs, params = resnet50_reference_macs()
    rows.append({"check": "torchvision ResNet-50 at 224 px: 4.09 GMACs, 25.6 M parameters",
                 "value": f"{macs:,} MACs, {params:,} params",
                 "passed": macs == 4_089_184_256 and params == 25_557_032})
    rows.append({"check": "STRN without connection costs exactly the plain ResNet on one frame",
                 "value": f"{by.loc['STRN T=2, no connection', 'MACs']:,}",
                 "passed": by.loc["STRN T=2, no connection", "MACs"] == by.loc["ResNet-50, one frame", "MACs"]})
    rows.append({"check": "identity connections add no parameters",
                 "value": int(by.loc["STRN T=2, identity 98-104", "temporal params"]),
                 "passed": by.loc["STRN T=2, identity 98-104", "temporal params"] == 0})
    for model, T, title in panels:
        lay = unrolled(model, T)
        drawn = sorted({b for b, *_ in lay["temporal"]})
        rows.append({"check": f"{title}: temporal arrows exactly at the model's connections",
                     "value": ", ".join(drawn) or "-",
                     "passed": drawn == sorted(c.block for c in model.connections)})
        rows.append({"check": f"{title}: the head sees only the last frame, the stem at most T frames",
                     "value": f"stem frames {list(lay['computed']['stem'])}",
                     "passed": lay["computed"]["head"] == (T - 1,) and len(lay["computed"]["stem"]) <= T})
    lt = layer_frame()
    rows.append({"check": "106 layers; thesis positions 5-11, 49-55, 86-92, 98-104 are 7 layers each",
                 "value": f"{len(lt)} rows", "passed": len(lt) == 106 and
                 all((lt["thesis position"] == s).sum() == 7 for s in THESIS_POSITIONS)})
    return pd.DataFrame(rows)


def study_models(width: int = 64, num_classes: int = 101) -> dict[str, tuple[nn.Module, int]]:
    """The STRNs of the thesis's figures, built on the meta device (structure only):
    title -> (model, T)."""
    specs = {"T=2 (Fig. 4.3)": CostConfig("", seq_len=2),
             "T=3 (Fig. 4.4)": CostConfig("", seq_len=3),
             "T=5 (Fig. 5.2)": CostConfig("", seq_len=5),
             "Special3 (Fig. 5.3)": CostConfig("", seq_len=3, special3=True)}
    return {t: (dataclasses.replace(c, width=width, num_classes=num_classes).build("meta"), c.seq_len) for t, c in specs.items()}


def block_models(width: int = 64, num_classes: int = 101) -> list[tuple[nn.Module, str, str]]:
    """Panels of Figs. 4.1/4.2: (model, block, title) -- the last block plain, with an
    identity connection, and the first block of layer4 (86-92) with a conv connection,
    where the channels change and identity is impossible."""
    plain = CostConfig("", positions=(), width=width, num_classes=num_classes).build("meta")
    ident = CostConfig("", width=width, num_classes=num_classes).build("meta")
    conv = CostConfig("", connection="conv", positions=("86-92",), width=width, num_classes=num_classes).build("meta")
    return [(plain, "layer4.2", "Fig. 4.1: residual block (layer4.2, thesis 98-104)"),
            (ident, "layer4.2", "Fig. 4.2: spatio-temporal block, identity R"),
            (conv, "layer4.0", "spatio-temporal block at 86-92 (layer4.0), conv R")]


def compute(width: int, root, rate: int, seq_len: int, size: int | None = None) -> dict[str, Any]:
    """Everything notebook 04 shows, computed once from models of ``width`` (meta device) and
    one test video of the dataset at ``root`` (sampled every ``rate``-th frame, windows of
    ``seq_len``): diagrams, unrolled layouts, plans, the cost and layer tables, ``checks``,
    and ``summary`` (its results JSON). The figures are drawn from this, never recomputed."""
    models = study_models(width)
    costs = cost_table()
    checked = checks(costs, [(m, T, title) for title, (m, T) in models.items()])
    plans = [{"figure": t, "T": T, "connections": ", ".join(f"{c.block} {c.kind} t-{c.delay}" for c in m.connections),
              "frames through the stem": list(m.plan(T).stem)} for t, (m, T) in models.items()]
    _, entry, frames, windows = example_video(root, rate, seq_len, size)
    video = {"path": entry.path, "frames": frames, "windows": windows, "rate": rate,
             "title": f"{entry.path}: {len(frames)} sampled frames (every {rate}th) -> {len(windows)} sequences "
                      f"of T={seq_len}"}
    summary = {"costs": costs.to_dict(orient="records"),
               "plans": {t: {"T": T, "stem": list(m.plan(T).stem), "connections": [list(c) for c in m.connections]}
                         for t, (m, T) in models.items()},
               "checks": checked.to_dict(orient="records")}
    return {"blocks": [block_diagram(m, name, title) for m, name, title in block_models(width)],
            "unrolled": {t: unrolled(m, T) for t, (m, T) in models.items()}, "plans": plans, "costs": costs,
            "layers": layer_frame(), "video": video, "checks": checked, "summary": summary}

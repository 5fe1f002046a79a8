"""Thesis ch. 4 drawn from the code (notebook 04): block diagrams (Figs. 4.1/4.2), the
unrolled network over T frames (Figs. 4.3, 4.4, 5.2, 5.3), the video -> sequences ->
mean-of-probabilities procedure (Fig. 4.5), the 106-layer table, and parameter and
multiply-accumulate (MAC) counts.

Every figure reads the structure of a built model: the boxes of a block are its
submodules, the frames a block processes come from ``STRN.plan(T)``, the temporal arrows
from ``STRN.connections``. Nothing is a hand-written constant.

MAC counting: forward hooks on every ``nn.Conv2d`` and ``nn.Linear`` (MACs = output
elements x in_channels/groups x kh x kw; Linear: output elements x in_features). BN,
ReLU, pooling and the additions of the shortcuts are not counted (the usual convention;
they are < 1% of ResNet-50's MACs). Counting runs on the ``meta`` device: shapes
propagate, nothing is computed, so ResNet-50 at 224 px costs milliseconds.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .model import build_model
from .model.positions import BLOCK_NAMES, THESIS_POSITIONS, block_span, layer_table

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


def default_cost_configs(narrow: Sequence[tuple[int, int, int]] = ((8, 32, 4), (16, 48, 12))) -> list[CostConfig]:
    """The networks of the study: ResNet-50 at 224 px with every connection type and
    context of chapter 5, then the narrow nets of the profiles, given as (width, px,
    classes) -- smoke 8 at 32 px, demo 16 at 48 px."""
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
    for width, px, classes in narrow:
        rows += [CostConfig(f"narrow ResNet-50 w{width}, one frame", kind="frame", seq_len=1, width=width, px=px,
                            num_classes=classes),
                 CostConfig(f"narrow STRN w{width} T=2, identity 98-104", width=width, px=px, num_classes=classes)]
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
    import pandas as pd

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


def plot_costs(df):
    """MACs per sequence relative to the plain ResNet on one frame, with T (the cost of
    running the plain net on every frame) marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.32 * len(df) + 1.2))
    y = np.arange(len(df))[::-1]
    ax.barh(y, df["x plain"], color=["#9e9e9e" if c == "-" else "#1f77b4" for c in df["connections"]])
    ax.scatter(df["T"], y, marker="|", s=200, color="#d62728", label="T x plain (every frame computed fully)", zorder=3)
    for yi, v in zip(y, df["x plain"]):
        ax.text(v + 0.03, yi, f"{v:.2f}", va="center", fontsize=7)
    ax.set_yticks(y, [f"{c}  ({px} px)" for c, px in zip(df["configuration"], df["input px"])], fontsize=7)
    ax.set_xlabel("MACs per sequence / MACs of the plain ResNet on one frame")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Cost of a prediction: only the frames the last step needs are computed", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ the 106 layers


def layer_frame():
    """``layer_table()`` as a DataFrame; ``thesis position`` names the Table 5.4 span a
    layer belongs to (5-11, 49-55, 86-92, 98-104)."""
    import pandas as pd

    spans = {name: (span, block_span(name)) for span, name in THESIS_POSITIONS.items()}
    rows = []
    for r in layer_table():
        pos = next((s for s, (a, b) in spans.values() if a <= r.index <= b), "")
        rows.append({"layer": r.index, "module": r.module, "kind": r.kind, "block": r.block, "thesis position": pos})
    return pd.DataFrame(rows).set_index("layer")


def styled_layer_frame(df=None):
    """The layer table with the rows of the four thesis positions highlighted."""
    df = layer_frame() if df is None else df
    return df.style.apply(lambda row: ["background-color: #ffe9a8" if row["thesis position"] else ""] * len(row),
                          axis=1)


# ------------------------------------------------------------- drawing primitives

_COLORS = {"conv": "#cfe2f3", "bn": "#d9ead3", "relu": "#fff2cc", "add": "#ffffff", "proj": "#ead1dc",
           "temporal": "#f4cccc", "io": "#eeeeee"}
_KIND_COLORS = {"identity": "#d62728", "projection": "#9467bd", "conv": "#ff7f0e", "conv_relu": "#8c564b"}


def _box(ax, x, y, text, color, w=2.0, h=0.42, fontsize=7):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, p, q, color="0.2", rad=0.0, lw=1.0, ls="-"):
    ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, ls=ls,
                                                    shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={rad}"))


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
    mirrored by ``strn.model.strn._residual``)."""
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


def draw_block(ax, model: nn.Module, block_name: str, title: str | None = None) -> dict[str, Any]:
    """Draw one residual block of ``model`` (an STRN or a plain ResNet) bottom-up: input,
    the residual branch F from its submodules, the spatial shortcut, the temporal
    connection R if the model has one at this block, the sum and the final ReLU.
    Returns what was drawn (for tests)."""
    backbone = model.backbone if hasattr(model, "backbone") and hasattr(model, "temporal") else model
    block = backbone.get_submodule(block_name)
    key = block_name.replace(".", "_")
    conn = model.temporal[key] if hasattr(model, "temporal") and key in model.temporal else None
    branch = residual_branch(block)
    ys = np.arange(1, len(branch) + 1) * 0.7
    _box(ax, 0, 0, f"in$_t$ ({block.conv1.in_channels} ch)", _COLORS["io"])
    prev = (0, 0)
    for y, (label, kind) in zip(ys, branch):
        _box(ax, 0, y, label, _COLORS[kind], fontsize=7 if len(label) < 20 else 6)
        _arrow(ax, (prev[0], prev[1] + 0.21), (0, y - 0.21))
        prev = (0, y)
    y_add = ys[-1] + 0.8
    _box(ax, 0, y_add, "+", _COLORS["add"], w=0.4)
    _arrow(ax, (0, ys[-1] + 0.21), (0, y_add - 0.21))
    _box(ax, 0, y_add + 0.8, "ReLU -> out$_t$", _COLORS["relu"])
    _arrow(ax, (0, y_add + 0.21), (0, y_add + 0.8 - 0.21))
    sc = shortcut_label(block)
    mid = ys[len(ys) // 2]
    _box(ax, 2.5, mid, sc.replace(": ", ":\n").replace(" + ", "\n+ "), _COLORS["proj"], w=2.0, h=0.8, fontsize=6)
    _arrow(ax, (0.85, 0.0), (2.5, mid - 0.4), rad=0.2)
    _arrow(ax, (2.5, mid + 0.4), (0.2, y_add), rad=0.2)
    tl = temporal_label(conn, conn.delay if conn is not None else 1)
    if tl is not None:
        color = _KIND_COLORS.get(conn.kind, "#d62728")
        _box(ax, -2.5, 0, f"in$_{{t-{conn.delay}}}$", _COLORS["io"], w=1.2)
        _box(ax, -2.5, mid, tl, _COLORS["temporal"], w=2.0, h=1.0, fontsize=6)
        _arrow(ax, (-2.5, 0.21), (-2.5, mid - 0.5), color=color)
        _arrow(ax, (-2.5, mid + 0.5), (-0.2, y_add), color=color, rad=-0.2, lw=1.4)
    ax.set_xlim(-3.6, 3.6)
    ax.set_ylim(-0.5, y_add + 1.3)
    ax.axis("off")
    ax.set_title(title or block_name, fontsize=8)
    return {"branch": branch, "shortcut": sc, "temporal": tl}


def plot_blocks(panels: Sequence[tuple[nn.Module, str, str]]):
    """One panel per (model, block name, title): Fig. 4.1 (a plain residual block) beside
    Fig. 4.2 (the same block with a temporal skip connection)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 5.2))
    for ax, (model, name, title) in zip(np.atleast_1d(axes), panels):
        draw_block(ax, model, name, title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------- unrolled network


def unrolled(model: nn.Module, seq_len: int) -> dict[str, Any]:
    """What an STRN computes on a sequence of ``seq_len`` frames, from ``model.plan``.

    rows: ["stem", block names..., "head"]; computed[row]: the frames (0-based) the row
    produces; temporal: (block, src frame, dst frame, kind, delay) for every temporal
    term actually added (the block's input at src joins its output at dst).
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
    return {"T": seq_len, "rows": ["stem", *names, "head"], "computed": computed, "temporal": temporal,
            "connections": list(model.connections)}


def draw_unrolled(ax, layout: dict[str, Any], title: str) -> None:
    from matplotlib.patches import Rectangle

    rows, T = layout["rows"], layout["T"]
    conn_blocks = {c.block: c for c in layout["connections"]}
    for i, row in enumerate(rows):
        for t in range(T):
            on = t in layout["computed"][row]
            color = "#1f77b4" if on else "white"
            if on and row in conn_blocks:
                color = _KIND_COLORS.get(conn_blocks[row].kind, "#d62728")
            ax.add_patch(Rectangle((t - 0.3, i - 0.35), 0.6, 0.7, fc=color, ec="0.2" if on else "0.6", lw=0.6))
    idx = {r: i for i, r in enumerate(rows)}
    for block, src, dst, kind, delay in layout["temporal"]:
        i = idx[block]
        _arrow(ax, (src + 0.3, i - 1), (dst - 0.3, i), color=_KIND_COLORS.get(kind, "#d62728"), lw=1.4,
               rad=-0.25 if delay > 1 else 0.0)
    labels = []
    for r in rows:
        if r in conn_blocks:
            a, b = block_span(r) if r in BLOCK_NAMES else (None, None)
            c = conn_blocks[r]
            labels.append(f"{r}" + (f" ({a}-{b})" if a else "") + f"  [{c.kind}, t-{c.delay}]")
        else:
            labels.append(r)
    ax.set_yticks(range(len(rows)), labels, fontsize=6)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r in conn_blocks:
            tick.set_color(_KIND_COLORS.get(conn_blocks[r].kind, "#d62728"))
            tick.set_fontweight("bold")
    ax.set_xticks(range(T), [f"frame {t + 1}" for t in range(T)], fontsize=7)
    ax.set_xlim(-0.6, T - 0.4)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_title(title, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def plot_unrolled(panels: Sequence[tuple[nn.Module, int, str]]):
    """The network unrolled over its frames, one panel per (model, T, title): filled
    cells are the (block, frame) pairs the forward pass computes; coloured arrows the
    temporal skip connections; blank cells frames that are never computed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels) + 1.5, 5.6),
                             gridspec_kw={"width_ratios": [T + 1.5 for _, T, _ in panels]})
    for ax, (model, T, title) in zip(np.atleast_1d(axes), panels):
        draw_unrolled(ax, unrolled(model, T), title)
    fig.suptitle("STRN unrolled over the frames of one sequence (input at the bottom, prediction from the last frame)",
                 fontsize=9)
    fig.tight_layout()
    return fig


# -------------------------------------------------------- video -> sequences (Fig. 4.5)


def plot_video_sequences(frames: np.ndarray, windows: Sequence[tuple[int, ...]], rate: int, title: str = ""):
    """Fig. 4.5 from a real video: its sampled frames (every ``rate``-th), the
    non-overlapping windows of T cut from them (a padded window repeats its last frame),
    one STRN prediction p_j per window, and the video's distribution as their mean."""
    import matplotlib.pyplot as plt

    n = len(frames)
    used = sorted({i for w in windows for i in w})
    m = len(windows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * n + 1.5), 3.6))
    for i in range(n):
        ax.imshow(frames[i], extent=(i, i + 0.9, 2.2, 3.1), interpolation="nearest")
        ax.text(i + 0.45, 3.2, f"{i * rate}", ha="center", fontsize=6)
        if i not in used:
            ax.plot([i, i + 0.9], [2.2, 3.1], color="0.4", lw=0.8)
    ax.text(-0.1, 3.2, "frame #", ha="right", fontsize=6)
    for j, w in enumerate(windows):
        lo, hi = min(w), max(w) + 0.9
        color = f"C{j % 10}"
        ax.plot([lo, lo, hi, hi], [2.1, 2.0, 2.0, 2.1], color=color, lw=1.5)
        cx = (lo + hi) / 2
        pad = " (padded)" if len(set(w)) < len(w) else ""
        _box(ax, cx, 1.3, f"STRN on seq. {j + 1}{pad}\n-> p$_{{{j + 1}}}$", "#cfe2f3", w=min(2.0, hi - lo - 0.1),
             h=0.6, fontsize=6)
        _arrow(ax, (cx, 2.0), (cx, 1.6), color=color)
        _arrow(ax, (cx, 1.0), ((n - 0.1) / 2, 0.35), color=color)
    _box(ax, (n - 0.1) / 2, 0.05, f"p(video) = mean of the {m} sequence distributions -> argmax", "#fff2cc",
         w=min(n, 6.0), h=0.5, fontsize=7)
    ax.set_xlim(-0.7, n + 0.2)
    ax.set_ylim(-0.35, 3.4)
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def example_video(root, rate: int, seq_len: int, size: int | None = None, split: int = 1, max_sampled: int = 10):
    """A test video of ``split`` for Fig. 4.5: the one with the most sequences among those
    with at most ``max_sampled`` sampled frames (so the figure stays legible).

    Returns (entry, sampled frames (N, H, W, 3), windows from ``sequence_windows``)."""
    from .data.stats import video_meta
    from .data.ucf101 import read_split
    from .data.video import decode_sampled, n_sampled, sequence_windows

    index = read_split(root, split)
    best, best_key = None, None
    for e in index.subset("test"):
        n = n_sampled(video_meta(index.videos_dir / e.path)["frames"], rate)
        key = (n <= max_sampled, len(sequence_windows(min(n, max_sampled), seq_len)), -n)
        if best_key is None or key > best_key:
            best, best_key = e, key
    frames = decode_sampled(index.videos_dir / best.path, rate, size)[:max_sampled]
    return index, best, frames, sequence_windows(len(frames), seq_len)


def resnet50_reference_macs() -> tuple[int, int]:
    """(MACs, parameters) of torchvision's resnet50 (1000 classes) at 224 px, batch 1:
    4,089,184,256 MACs and 25,557,032 parameters."""
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.resnet50(weights=None)
    return count_macs(net, torch.zeros(1, 3, 224, 224, device="meta")), count_params(net)


def checks(costs, panels: Sequence[tuple[nn.Module, int, str]]):
    """What notebook 04 asserts about the drawn networks and the counts (check, value, passed)."""
    import pandas as pd

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
    return {t: (_replace(c, width=width, num_classes=num_classes).build("meta"), c.seq_len) for t, c in specs.items()}


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


def _replace(cfg: CostConfig, **kw) -> CostConfig:
    import dataclasses

    return dataclasses.replace(cfg, **kw)

"""What every figure shares: saving, the readability check, and the boxes and arrows of the
diagrams."""
from __future__ import annotations

from pathlib import Path


def save_figure(fig, figures_dir: str | Path, name: str) -> list[Path]:
    """Save ``fig`` as PNG and PDF under ``figures_dir``; returns both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = [figures_dir / f"{name}.png", figures_dir / f"{name}.pdf"]
    for p in paths:
        # PDF and PNG without timestamps, so that unchanged figures give unchanged files.
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    return paths


MAX_SERIES = 10  # matplotlib's colour cycle: an 11th line repeats the first one's colour


def figure_problems(fig) -> list[str]:
    """What a reader would miss in ``fig``: no title, an axes without axis labels, tick labels
    that run into each other (a long label hanging past its neighbours), more than
    ``MAX_SERIES`` data lines on one axes, text written over another text or over a marker,
    text that reaches outside the canvas (matplotlib's tight bounding box against the
    figure's own)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>" and a.axison]
    # A diagram drawn with its axes off still carries its title on them.
    titled = any(a.get_title(loc) for a in fig.axes for loc in ("left", "center", "right"))
    if not (fig._suptitle and fig._suptitle.get_text()) and not titled:
        problems.append("no title")
    for a in axes:
        shares_x = any(b is not a and b.bbox.bounds == a.bbox.bounds and b.get_xlabel() for b in axes)
        if not a.get_xlabel() and not shares_x:
            problems.append(f"axes {a.get_title() or a.get_label()!r} has no x label")
        if not a.get_ylabel():
            problems.append(f"axes {a.get_title() or a.get_label()!r} has no y label")
        problems += _overlapping_ticks(a, renderer)
        series = [line for line in a.get_lines() if len(line.get_xdata()) > 2]  # 2 points: a reference line
        if len(series) > MAX_SERIES:
            problems.append(f"axes {a.get_title() or a.get_label()!r} has {len(series)} series on one axis (more "
                            f"than {MAX_SERIES}: colours repeat; draw small multiples)")
        problems += _text_over_markers(a, renderer)
    problems += _overlapping_texts(fig, renderer)
    canvas = fig.bbox
    tight = fig.get_tightbbox(renderer).transformed(fig.dpi_scale_trans)
    if tight.x0 < -1 or tight.y0 < -1 or tight.x1 > canvas.x1 + 1 or tight.y1 > canvas.y1 + 1:
        problems.append(f"text outside the canvas: tight bbox {tuple(round(v) for v in tight.extents)} vs "
                        f"figure {tuple(round(v) for v in canvas.extents)}")
    return problems


def _overlapping_ticks(ax, renderer) -> list[str]:
    out = []
    for axis, ticks in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ticks if t.get_visible() and t.get_text()]
        for i, (text, a) in enumerate(boxes):
            for other, b in boxes[i + 1:]:
                if _overlap(a, b):
                    out.append(f"axes {ax.get_title() or ax.get_label()!r}: {axis} tick labels {text!r} and "
                               f"{other!r} overlap")
    return out


def _overlap(a, b) -> bool:
    # More than a pixel of shared width and height: boxes that merely touch pass.
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1


def _texts(fig) -> list[tuple[str, object]]:
    """Every visible, non-empty text of ``fig`` but the tick labels (checked per axis), named."""
    found = [(f"suptitle {fig._suptitle.get_text()!r}", fig._suptitle)] if fig._suptitle else []
    found += [(f"text {t.get_text()!r}", t) for t in fig.texts]
    for ax in fig.axes:
        found += [(f"title {t.get_text()!r}", t) for t in (ax.title, ax._left_title, ax._right_title)]
        if ax.axison:
            found += [(f"label {t.get_text()!r}", t) for t in (ax.xaxis.label, ax.yaxis.label)]
        found += [(f"text {t.get_text()!r}", t) for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            found += [(f"legend {t.get_text()!r}", t) for t in legend.get_texts()]
            found += [(f"legend title {legend.get_title().get_text()!r}", legend.get_title())]
    unique = {id(t): (n, t) for n, t in found}  # the suptitle is one of fig.texts too
    return [(n, t) for n, t in unique.values() if t.get_visible() and t.get_text().strip()]


def _overlapping_texts(fig, renderer) -> list[str]:
    boxes = [(n, t.get_window_extent(renderer)) for n, t in _texts(fig)]
    return [f"{n} and {m} overlap" for i, (n, a) in enumerate(boxes) for m, b in boxes[i + 1:] if _overlap(a, b)]


def _text_over_markers(ax, renderer) -> list[str]:
    """Texts written in the axes (value labels, annotations) that cover a scatter marker."""
    from matplotlib.collections import PathCollection  # markers of scatter()
    from matplotlib.transforms import Affine2D

    out = []
    for coll in ax.collections:
        if not isinstance(coll, PathCollection) or not len(coll.get_offsets()) or not coll.get_transforms().size:
            continue
        path, scales = coll.get_paths()[0], coll.get_transforms()
        offsets = coll.get_offset_transform().transform(coll.get_offsets())
        pad = max(coll.get_linewidths(), default=1.0) * ax.figure.dpi / 72 / 2
        for i, (x, y) in enumerate(offsets):
            marker = path.get_extents(Affine2D(scales[i % len(scales)]).translate(x, y))
            # the stroke around the path: a '|' marker has no width but its line's
            marker = marker.expanded(1, 1).padded(pad)
            for t in ax.texts:
                if t.get_visible() and t.get_text().strip() and _overlap(t.get_window_extent(renderer), marker):
                    out.append(f"axes {ax.get_title() or ax.get_label()!r}: text {t.get_text()!r} covers a marker "
                               f"of {coll.get_label()!r}")
    return out


# ------------------------------------------------------------------ diagram primitives

def box(ax, x, y, text, color, w=2.0, h=0.42, fontsize=7):
    """A rounded box centred at (x, y) with ``text`` in it."""
    from matplotlib.patches import FancyBboxPatch  # only the diagrams draw patches

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax, p, q, color="0.2", rad=0.0, lw=1.0, ls="-"):
    """An arrow from point p to point q (data coordinates), curved by ``rad``."""
    ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, ls=ls,
                                                    shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={rad}"))

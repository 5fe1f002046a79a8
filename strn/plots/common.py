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


def figure_problems(fig) -> list[str]:
    """What a reader would miss in ``fig``: no title, an axes without axis labels, tick labels
    that run into each other (a long label hanging past its neighbours), text that reaches
    outside the canvas (matplotlib's tight bounding box against the figure's own)."""
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
                # More than a pixel of shared width and height: labels that merely touch pass.
                if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                    out.append(f"axes {ax.get_title() or ax.get_label()!r}: {axis} tick labels {text!r} and "
                               f"{other!r} overlap")
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

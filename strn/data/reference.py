"""Reference levels of a dataset: chance and the single-frame floor (issue 15, STUDY §5).

* ``chance_error`` = 1 - 1/n_classes: the error of a constant guess on balanced classes.
* ``single_frame_floor``: the lowest video error any model that sees the frames of a
  video one at a time (and pools them in any order-free way, e.g. the frame-average
  baseline) can reach on the synthetic set, derived from the set's design
  (`strn.data.synth`): two motions that are each other's reverse (MoveLeft/MoveRight,
  MoveUp/MoveDown, Grow/Shrink, FadeIn/FadeOut) give clips of a shape whose frames have,
  at every frame index, the same distribution (positions and ramp values uniform on their
  torus, the same random stream for both), so such classes are indistinguishable
  without the order; every other pair of classes differs in what single frames show
  (shape, colour, size/opacity ramp, or the line the object moves along). Classes fall
  into groups of k order-only twins and a model can do no better than pick one of them:
  error 1 - 1/k per group. Motions of a shape have the same number of clips, so the
  floor is the mean of 1 - 1/k over classes. It is a lower bound (it grants that
  everything else is told apart perfectly). ``None`` for UCF-101 (no design to derive
  it from).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .synth import SynthSpec
from .synth_files import MARKER

# Motion -> the motion that shows the same frames in the opposite order.
REVERSE = {"MoveLeft": "MoveRight", "MoveRight": "MoveLeft", "MoveUp": "MoveDown", "MoveDown": "MoveUp",
           "Grow": "Shrink", "Shrink": "Grow", "FadeIn": "FadeOut", "FadeOut": "FadeIn"}


def chance_error(n_classes: int) -> float:
    return 1.0 - 1.0 / n_classes


def single_frame_floor(spec) -> float:
    """Lowest error of an order-blind model on the synthetic set ``spec`` (a SynthSpec)."""
    motions = set(spec.motions)
    # The same for every shape (classes = shapes x motions), so the mean over motions.
    errs = [0.5 if REVERSE.get(m) in motions else 0.0 for m in spec.motions]
    return sum(errs) / len(errs)


def reference_levels(spec) -> dict[str, Any]:
    """``{"chance_error", "single_frame_floor"}`` of a synthetic spec."""
    return {"chance_error": chance_error(len(spec.classes)), "single_frame_floor": single_frame_floor(spec)}


def dataset_levels(root: str | Path, n_classes: int) -> dict[str, Any]:
    """The levels of the dataset folder ``root``: a synthetic set is recognised by the
    marker file its generator writes (holding its spec); anything else (UCF-101) gets
    chance only and ``single_frame_floor: None``."""
    try:
        raw = json.loads((Path(root) / MARKER).read_text())["spec"]
        spec = SynthSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except (OSError, ValueError, KeyError, TypeError):
        return {"chance_error": chance_error(n_classes), "single_frame_floor": None}
    return reference_levels(spec)

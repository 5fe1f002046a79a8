"""Which kinds of motion each row gets right, on the synthetic sets.

Per-class accuracy (`metrics.per_class_accuracy` of every run) averaged over the classes of
each kind of motion (moves, fades, size changes), then mean ± std over seeds. Why: a row's
video error mixes questions the data asks in different ways (on the demo set the direction
of a move is an offset between frames, that of a fade a small change of opacity between
them), so this breakdown is the evidence a notebook shows when it explains a row, e.g. the
thesis's identity connection against the learned ones (issue 15). A model at the
single-frame floor names the shape and the kind and guesses the direction: about 0.5 of
each kind. UCF-101's classes are not built this way: there is no breakdown (None).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import pandas as pd

from ..results import mean_std, table_records
from ..data.synth import MOTIONS, SHAPES

KINDS = {"Move": "moves", "Fade": "fades", "Grow": "size changes", "Shrink": "size changes"}


def motion_kind(class_name: str) -> str | None:
    """'CircleFadeIn' -> 'fades'; None for a name that is not <Shape><Motion> of the synthetic set."""
    for shape in SHAPES:
        motion = class_name[len(shape):] if class_name.startswith(shape) else None
        if motion in MOTIONS:
            return next(kind for prefix, kind in KINDS.items() if motion.startswith(prefix))
    return None


def accuracy_by_motion(records: Sequence[dict[str, Any]]) -> pd.DataFrame | None:
    """One line per row (in the records' order): accuracy on each kind of motion as
    "mean ± std" over seeds, the seeds counted, and how many of them converged."""
    per_row: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    converged: dict[str, list[bool]] = defaultdict(list)
    for rec in table_records(records):  # control runs are no table row
        per_class = rec["metrics"]["per_class_accuracy"]
        kinds = {c: motion_kind(c) for c in per_class}
        if None in kinds.values():
            return None
        by_kind: dict[str, list[float]] = defaultdict(list)
        for c, acc in per_class.items():
            by_kind[kinds[c]].append(acc)
        for kind, accs in by_kind.items():
            per_row[rec["name"]][kind].append(sum(accs) / len(accs))
        converged[rec["name"]].append(rec["metrics"].get("converged") is True)
    if not per_row:
        return None
    kinds_seen = [k for k in dict.fromkeys(KINDS.values()) if any(k in v for v in per_row.values())]
    lines = []
    for name, by_kind in per_row.items():
        line: dict[str, Any] = {"row": name}
        for kind in kinds_seen:
            m, s = mean_std(by_kind.get(kind, []))
            line[f"accuracy on {kind}"] = f"{m:.3f} ± {s:.3f}" if by_kind.get(kind) else "–"
        line["seeds"] = len(converged[name])
        line["converged"] = f"{sum(converged[name])} of {len(converged[name])}"
        lines.append(line)
    return pd.DataFrame(lines).set_index("row")

"""Video-level metrics from per-video class probabilities: the numbers every results JSON holds
(STRN runs through `train.evaluate`, the feature baselines directly)."""
from __future__ import annotations

from typing import Any

import torch


def video_metrics(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Error rate, accuracy, mean class accuracy, per-class accuracy and confusion matrix from
    per-video class probabilities (N, K) and labels (N,). Clip accuracy is the accuracy here
    (one clip per video); `evaluate` replaces it with the sequence-level number."""
    pred = probs.argmax(1).cpu()
    true = labels.cpu()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((true, pred), torch.ones_like(true), accumulate=True)
    per_class = [(confusion[c, c] / confusion[c].sum()).item() if confusion[c].sum() > 0 else None
                 for c in range(num_classes)]
    present = [a for a in per_class if a is not None]
    accuracy = (pred == true).double().mean().item() if len(true) else float("nan")
    return {
        "error_rate": 1.0 - accuracy,
        "accuracy": accuracy,
        "mean_class_accuracy": sum(present) / len(present) if present else float("nan"),
        "per_class_accuracy": per_class,
        "clip_accuracy": accuracy,
        "confusion": confusion.tolist(),
        "n_videos": len(true),
        "n_sequences": len(true),
    }

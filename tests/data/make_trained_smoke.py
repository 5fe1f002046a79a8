"""Writes tests/data/trained_smoke/: a smoke run's results JSON and its checkpoint (model
weights only, to keep it small), which tests/test_inference.py evaluates and predicts with.

Rerun when the checkpoint format or the smoke model changes:
    STRN_QUIET=1 .venv/bin/python tests/data/make_trained_smoke.py
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from strn.config import make_config
from strn.results import atomic_torch_save
from strn.train.run import checkpoint_path, run

OUT = Path(__file__).resolve().parent / "trained_smoke"


def main() -> None:
    cfg = make_config("smoke", {"train": {"epochs": 2}, "model": {"weights": "scratch"}},
                      experiment="05_3_learning_algorithms", name="adam-1pct")
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        run(cfg, results_dir=results, data_dir=Path(tmp) / "data", progress=False)
        ckpt = checkpoint_path(results, cfg)
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        shutil.rmtree(OUT, ignore_errors=True)
        (OUT / cfg.experiment).mkdir(parents=True)
        shutil.copy(results / cfg.experiment / "adam-1pct__seed0.json", OUT / cfg.experiment)
        slim = checkpoint_path(OUT, cfg)
        slim.parent.mkdir(parents=True)
        # What inference needs: the weights and the configuration hash they belong to.
        atomic_torch_save({"model": state["model"], "config_hash": state.get("config_hash")}, slim)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

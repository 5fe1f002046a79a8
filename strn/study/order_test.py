"""The order test: does a trained sequence model use the order of its frames?

Each trained run is evaluated again on its test split three ways, with the study's
video-level rule (`strn.train.fit.evaluate`): ``normal`` (the frames as sampled), ``reversed``
(every sequence's frames in the opposite order) and ``frozen`` (every frame of a sequence
replaced by a copy of its LAST frame, the one the prediction is made at: the sequence then
carries no motion at all). The error change from normal is the model's use of order and of
motion; an order-free model (the frame average) keeps its error when the frames are reversed.
On the synthetic sets every motion has a reverse twin, so a model that reads the order well
goes to (or above) the single-frame floor when the frames are reversed.

Source of the models: the run's checkpoint (`strn.train.run.checkpoint_path`), or, for a record
reused from another table (``reused_from``), that table's checkpoint. The errors are stored
in ``<results_dir>/summaries/<experiment>_order_test.json`` (one entry per row and seed, with
the configuration hash it belongs to), so that re-rendering on a fresh clone, which has no
checkpoints, reads them back and trains nothing.

When neither a stored entry nor a checkpoint exists, the entry says so (``status``
"missing", with the command that makes the checkpoint) and nothing is computed, unless
``retrain``: the run is then trained again from its own configuration into
``<results_dir>/checkpoints/order_test_retrained/`` (the seeds of one configuration stacked,
as `strn report` trains them; the stored record is never touched). A retrained model is the
same recipe and seed, not the same weights bit for bit (thread counts and stacking change the
float rounding), so its entry has ``retrained: true`` and both the stored error and the
retrained model's own normal error; reversed and frozen are compared with the latter.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..config import RunConfig, config_from_dict, config_hash
from .inference import load_trained
from ..results import SUMMARY_DIR, mean_std, table_records, write_summary
from ..data.prepare import prepare
from ..train.run import checkpoint_path, run
from ..train.stacked_run import check_stackable, run_stacked
from ..train.fit import evaluate

MODES = ("normal", "reversed", "frozen")
FROZEN_FRAME = "last"  # the frame every frame of a "frozen" sequence is a copy of
RETRAINED_DIR = Path("checkpoints") / "order_test_retrained"  # under the results folder: ignored by git


def reorder(x: Tensor, mode: str) -> Tensor:
    """A batch of sequences (B, T, C, H, W) as the order test shows it to the model."""
    if mode == "normal":
        return x
    if mode == "reversed":
        return x.flip(1)
    if mode == "frozen":
        return x[:, -1:].expand_as(x)  # T copies of the last frame
    raise ValueError(f"unknown order-test mode {mode!r}; valid: {MODES}")


class Reordered(nn.Module):
    """``model`` fed every sequence reordered by `reorder` (for `strn.train.fit.evaluate`)."""

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        reorder(torch.zeros(1, 1, 1, 1, 1), mode)  # an unknown mode fails here, not mid-evaluation
        self.model, self.mode = model, mode

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C, H, W) -> (B, num_classes)
        return self.model(reorder(x, self.mode))


def order_test_path(results_dir: str | Path, experiment: str) -> Path:
    return Path(results_dir) / SUMMARY_DIR / f"{experiment}_order_test.json"


def _entry_key(e: dict[str, Any]) -> tuple:
    return e["name"], e["seed"], e["config_hash"]


def stored_entries(results_dir: str | Path, experiment: str) -> list[dict[str, Any]]:
    path = order_test_path(results_dir, experiment)
    return json.loads(path.read_text())["entries"] if path.exists() else []


def checkpoint_of(record: dict[str, Any], results_dir: str | Path) -> Path | None:
    """The checkpoint of a run: its own, or that of the table its record was reused from."""
    cfg = config_from_dict(record["config"])
    own = checkpoint_path(results_dir, cfg)
    if own.exists():
        return own
    if record.get("reused_from"):
        exp, name = record["reused_from"].split("/", 1)
        cfg.experiment, cfg.name = exp, name
        theirs = checkpoint_path(results_dir, cfg)
        if theirs.exists():
            return theirs
    return None


def order_errors(checkpoint: str | Path, *, device: str = "cpu", data_dir: str | Path | None = None
                 ) -> dict[str, float]:
    """Video error of a trained model's test split in each of `MODES`."""
    tm = load_trained(checkpoint, device)
    data = prepare(tm.cfg, data_dir, progress=False)
    out = {}
    for mode in MODES:
        m = evaluate(Reordered(tm.model, mode), data.test, len(data.test.videos), len(data.classes),
                     crop=tm.cfg.data.crop, device=tm.device, amp=tm.cfg.train.amp, progress=False)
        out[mode] = float(m["error_rate"])
    return out


def _retrain(cfgs: list[RunConfig], results_dir: Path, data_dir: str | Path | None) -> None:
    """Train the runs of ``cfgs`` again into the retraining folder (stacked where they can be)."""
    where = results_dir / RETRAINED_DIR
    groups: dict[str, list[RunConfig]] = {}
    for c in cfgs:
        d = c.to_dict()
        d["train"] = dict(d["train"], seed=None)
        groups.setdefault(repr(d), []).append(c)
    for group in groups.values():
        try:
            check_stackable(group)
            stack = len(group) > 1
        except ValueError:
            stack = False
        if stack:
            run_stacked(group, results_dir=where, data_dir=data_dir, progress=False)
        else:
            for c in group:
                run(c, results_dir=where, data_dir=data_dir, progress=False)


def run_order_test(experiment: str, records: Sequence[dict[str, Any]], results_dir: str | Path, *,
                   data_dir: str | Path | None = None, device: str = "cpu", retrain: bool = False,
                   force: bool = False) -> list[dict[str, Any]]:
    """The order test of every record (one entry per row and seed, in the records' order):
    read back from the stored JSON, else computed from the checkpoint (and stored), else
    (``retrain``) computed from a retrained model, else a "missing" entry saying why."""
    results_dir = Path(results_dir)
    records = table_records(records)  # the rows' own runs: a schedule-length control is no seed of its row
    stored = {} if force else {_entry_key(e): e for e in stored_entries(results_dir, experiment)}
    keys = [(r["name"], r["seed"], config_hash(config_from_dict(r["config"]))) for r in records]
    if retrain:
        lost = [config_from_dict(r["config"]) for r, k in zip(records, keys)
                if k not in stored and checkpoint_of(r, results_dir) is None]
        _retrain(lost, results_dir, data_dir)
    entries, changed = [], False
    for r, k in zip(records, keys):
        if k in stored and stored[k].get("status") == "ok":
            entries.append(stored[k])
            continue
        entry = {"name": r["name"], "seed": r["seed"], "config_hash": k[2], "kind": r["config"]["model"]["kind"],
                 "stored_error": float(r["metrics"]["error_rate"]), "frozen_frame": FROZEN_FRAME}
        ckpt, retrained = checkpoint_of(r, results_dir), False
        if ckpt is None:
            cfg = config_from_dict(r["config"])
            again = checkpoint_path(results_dir / RETRAINED_DIR, cfg)
            ckpt, retrained = (again, True) if again.exists() else (None, False)
        if ckpt is None:
            entry.update(status="missing", note=(
                f"no stored order test in {order_test_path(results_dir, experiment)} and no checkpoint of "
                f"{experiment}/{r['name']} seed {r['seed']} (checkpoints are not committed): run "
                f"strn.study.order_test.run_order_test(..., retrain=True), or retrain it with `strn run {experiment} "
                f"--rows {r['name']} --force`"))
        else:
            entry.update(status="ok", retrained=retrained, checkpoint=str(ckpt.relative_to(results_dir)),
                         **order_errors(ckpt, device=device, data_dir=data_dir))
            changed = True
        entries.append(entry)
    if changed:
        keep = {_entry_key(e): e for e in stored_entries(results_dir, experiment)}
        keep.update({_entry_key(e): e for e in entries if e["status"] == "ok"})
        write_summary(results_dir, f"{experiment}_order_test", records[0]["profile"] if records else "?",
                      {"frozen_frame": FROZEN_FRAME, "modes": list(MODES), "entries": list(keep.values())})
    return entries


def order_table(experiment: str, entries: Sequence[dict[str, Any]], per_seed: bool = False):
    """One line per row (mean ± std over seeds; ``per_seed``: per row and seed) of the normal,
    reversed and frozen errors and their changes from normal, in the experiment's row order."""
    import pandas as pd  # local: the order test's numbers need no pandas

    from .experiments import get_experiment  # local: the experiments table loads every runner

    exp = get_experiment(experiment)
    lines = []
    for row in exp.rows:
        mine = [e for e in entries if e["name"] == row.name]
        label = " / ".join(str(v) for v in row.columns.values())
        done = [e for e in mine if e.get("status") == "ok"]
        groups = [[e] for e in done] if per_seed else ([done] if done else [])
        for g in groups:
            line = {"row": label, **({"seed": g[0]["seed"]} if per_seed else {"seeds": len(g)})}
            for mode in MODES:
                line[f"{mode} (mean)"], line[f"{mode} (std)"] = mean_std([e[mode] for e in g])
            for mode in MODES[1:]:
                line[f"{mode} - normal"] = line[f"{mode} (mean)"] - line["normal (mean)"]
            line["stored error"] = mean_std([e["stored_error"] for e in g])[0]
            line["retrained"] = sum(bool(e.get("retrained")) for e in g)
            lines.append(line)
        missing = [e for e in mine if e.get("status") != "ok"]
        if missing:
            seeds = ", ".join(str(e["seed"]) for e in missing)
            lines.append({"row": label, "note": f"seed(s) {seeds}: {missing[0]['note']}"})
    return pd.DataFrame(lines)


__all__ = ["FROZEN_FRAME", "MODES", "Reordered", "checkpoint_of", "order_errors", "order_table", "order_test_path",
           "reorder", "run_order_test", "stored_entries"]

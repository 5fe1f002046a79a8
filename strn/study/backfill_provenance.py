"""Give stored results records made before `provenance` existed the fields from what is known.

    python -m strn.study.backfill_provenance results/demo --data-dir /work/data-demo
    python -m strn.study.backfill_provenance results/gpu

Nothing is retrained. For each record without ``provenance`` (idempotent: a record that has
it is left as it is):

* ``synth_generator_version`` and ``pretrain_version``: the values of ``GENERATOR_VERSION``
  (strn/data/synth.py) and ``PRETRAIN_VERSION`` (strn/train/pretrain.py) at the commit the record names
  (``env.git_commit``), read with ``git show``; null for UCF-101 (or a user's data.root) and for
  a run that did not start from the stand-in.
* ``init_digest``: the digest of the stand-in's weights (`strn.train.provenance.weights_digest`) where
  the stand-in this code makes for the record's configuration lies under ``--data-dir`` AND its
  version is the one the record's commit had (same version and same spec: the same file name,
  and CPU pretraining is pinned to a thread count, so the same weights). Otherwise null, with
  ``provenance.note`` saying why: such a record is never reused (`strn.train.provenance.mismatch`:
  a null digest never equals a made stand-in's), so nothing new is mixed with it.
* ``provenance.backfilled``: true, so a reader can tell these from fields recorded at run time.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

from ..config import config_from_dict
from ..train.pretrain import PRETRAIN_VERSION, pretrained_path
from ..train.provenance import uses_standin, weights_digest
from ..paths import REPO_ROOT
from ..results import LEASE_DIR, SUMMARY_DIR

ROOT = REPO_ROOT


def version_at(commit: str | None, path: str, name: str) -> int | None:
    """``name = <int>`` in ``path`` at ``commit`` (None when unknown). The paths are those the
    records' commits had (before strn/ was split into layers: strn/synth.py, strn/pretrain.py)."""
    if not commit:
        return None
    out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True)
    m = re.search(rf"^{name} = (\d+)", out.stdout, re.M) if out.returncode == 0 else None
    return int(m.group(1)) if m else None


def backfill(record: dict, data_dir: Path | None) -> dict | None:
    """The provenance to add to ``record`` (None: it has one already)."""
    if isinstance(record.get("provenance"), dict):
        return None
    cfg = config_from_dict(record["config"])
    commit = record.get("env", {}).get("git_commit")
    notes = []
    synthetic = cfg.data.dataset == "synthetic" and not cfg.data.root
    synth_v = version_at(commit, "strn/synth.py", "GENERATOR_VERSION") if synthetic else None
    if synthetic and synth_v is None:
        notes.append(f"generator version unknown: commit {commit} not in this repository")
    standin = "baseline" in record or uses_standin(cfg)
    pre_v = version_at(commit, "strn/pretrain.py", "PRETRAIN_VERSION") if standin else None
    digest = None
    if standin:
        path = pretrained_path(cfg.profile, data_dir, backbone=cfg.model.backbone, width=cfg.model.width,
                               size=cfg.data.crop) if data_dir else None
        if pre_v != PRETRAIN_VERSION:
            notes.append(f"stand-in version {pre_v} at commit {commit}, not this code's {PRETRAIN_VERSION}: "
                         f"its weights are not on record and cannot be remade here")
        elif path is None or not path.is_file():
            notes.append("the stand-in's weights were made where the run ran (a lease's GPU) and not carried back, "
                         "so their digest is unknown")
        else:
            digest = weights_digest(path)
    out = {"synth_generator_version": synth_v, "pretrain_version": pre_v, "init_digest": digest, "backfilled": True}
    if notes:
        out["note"] = "; ".join(notes)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir", type=Path)
    ap.add_argument("--data-dir", type=Path, default=None, help="the data folder holding the profile's stand-in")
    a = ap.parse_args()
    changed = 0
    for p in sorted(a.results_dir.rglob("*.json")):
        if {"executed", SUMMARY_DIR, LEASE_DIR} & set(p.relative_to(a.results_dir).parts):
            continue
        record = json.loads(p.read_text())
        prov = backfill(record, a.data_dir)
        if prov is None:
            continue
        record["provenance"] = prov
        p.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        changed += 1
    print(f"{changed} records given provenance under {a.results_dir}")


if __name__ == "__main__":
    main()

"""Calibration on held-out groups: a profile's recipe is chosen by validation error, never test.

Every choice of recipe (rate, schedule, epochs, width, resolution) for a profile is made here,
on **validation**: within the split's training groups, one group in six per class
(``VAL_SHARE``; `strn.data.ucf101.group_val_split`, one fixed draw ``VAL_SPLIT_SEED`` so that
every seed and every candidate is judged on the same videos) is held out, the model trains on
the other five and is evaluated on the held-out ones. The runs are built with
``data.eval_subset = "val"``, whose data path (`strn.run.prepare`) indexes the training list
only (`strn.data.ucf101.read_train_split`): the test list is never opened, so no number here
can come from a test video. The test split is read only by the study's own runs
(`strn.experiments`), with the recipe this chose.

The rule (`choose`, written down before any calibration run; ``RULE`` is stored with every
result):

0. The time budget first (`make report` from empty in at most 60 minutes on 2 cores): a
   candidate that trains more than ``BUDGET_FACTOR`` (1.2) times the frames of the profile's
   current recipe is not eligible, whatever it scores. Why 1.2: the current demo with its
   schedule-length controls is projected at about 50 minutes from empty (its 16-epoch rows took
   25 minutes, the controls and notebook 06 add about as much again), and its time grows with
   the frames trained. Added after the rate candidates had run and before the 24-epoch one had
   finished, when that projection showed 24 epochs at about 73 minutes; its runs are kept in
   the file, marked over the budget.
1. Candidates all of whose runs converged (`strn.convergence`, ``metrics.converged``) are
   eligible; when none is, all are, and the result says so.
2. Score = the mean over the calibration rows (``ROWS``: the frame average and the identity
   and conv STRN at 98-104, the rows that decide claims 4 and 7) of each row's mean
   validation error over seeds, plus the standard deviation over seeds of the thesis model's
   (identity 98-104) validation error: low error for every row alike, and seeds that agree.
3. The lowest score wins; candidates within ``TIE`` (0.005, half a point) of it are a tie,
   broken by the fewest training frames (epochs x training sequences x T, summed over the
   runs: the cheaper recipe), then by name.

`identity_seeds` measures the thesis model's seed spread on validation (stacked seeds:
`strn.stacked_run`) and writes results/calibration/identity_seeds.json. `strn calibrate`
runs both from the command line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import ConfigError, RunConfig, make_config
from .data.ucf101 import VAL_SPLIT_SEED
from .experiments import get_experiment
from .paths import REPO_ROOT
from .profiles import get_profile
from .results import atomic_write_text, mean_std
from .rows import deep_merge
from .stacked_run import run_stacked

VAL_SHARE = 1 / 6  # one training group in six (per class) held out as validation
TIE = 0.005  # scores closer than half a point are a tie (broken by cost)
BUDGET_FACTOR = 1.2  # training frames over the current recipe's: beyond this, over the time budget
SELECTED_ON = "validation"
CALIBRATION_DIR = REPO_ROOT / "results" / "calibration"
# The calibration rows, as (experiment, row) of the study: their overrides are the study's own.
ROWS = (("05_7_splits_and_sota", "frame-average"), ("05_4_recurrent_connection", "identity-98-104"),
        ("05_4_recurrent_connection", "conv-98-104"))
THESIS_MODEL = ("05_4_recurrent_connection", "identity-98-104")
RULE = (f"within the time budget: at most {BUDGET_FACTOR}x the current recipe's training frames; eligible: "
        "of those, candidates all of whose runs converged (else all, said so); score: mean over the rows of each "
        "row's mean validation error over seeds + std over seeds of identity-98-104's validation error; lowest "
        f"score wins, scores within {TIE} are a tie broken by fewest training frames, then name")

_FORBIDDEN = ("eval_subset", "val_fraction", "split")  # what a candidate may not change: the validation set


def candidates(profile: str) -> dict[str, Mapping[str, Any]]:
    """The candidate recipes of ``profile`` (its ``calibration`` in strn/profiles.py)."""
    return dict(get_profile(profile).calibration)


def validation_config(profile: str, candidate: Mapping[str, Any], experiment: str, row: str, seed: int,
                      *, label: str = "current", device: str = "auto") -> RunConfig:
    """The configuration of ``row`` (of the study's ``experiment``) under ``candidate`` with
    ``seed``, evaluated on the held-out groups. A candidate that touches the validation set
    itself (``data.eval_subset``, ``data.val_fraction``, ``data.split``) is refused."""
    touched = [k for k in _FORBIDDEN if k in candidate.get("data", {})]
    if touched:
        raise ConfigError(f"calibration candidate {label!r} sets data.{', data.'.join(touched)}: the validation set "
                          f"is fixed (strn/calibrate.py VAL_SHARE); remove it from the candidate")
    r = next((x for x in get_experiment(experiment).rows if x.name == row), None)
    if r is None:
        raise KeyError(f"calibration row {row!r} is not a row of {experiment} (strn/experiments.py)")
    overrides = deep_merge(deep_merge(candidate, r.overrides),
                           {"data": {"val_fraction": VAL_SHARE, "eval_subset": "val"},
                            "train": {"seed": seed, "device": device, "eval_each_epoch": True}})
    return make_config(profile, overrides, experiment=f"calibration-{label}", name=row)


def _run_seeds(cfgs: list[RunConfig], results_dir: Path, data_dir: str | Path | None) -> list[dict[str, Any]]:
    recs = run_stacked(cfgs, results_dir=results_dir, data_dir=data_dir, progress=False)
    bad = [r for r in recs if r.get("evaluated_on") != SELECTED_ON]
    if bad:  # never happens unless the data path changed: a test number must not reach a choice
        raise RuntimeError(f"calibration run {bad[0]['name']} was not evaluated on validation; see strn/run.py prepare")
    return recs


def run_entry(rec: dict[str, Any]) -> dict[str, Any]:
    """What a calibration file keeps of one run."""
    cfg = rec["config"]
    return {"row": rec["name"], "seed": rec["seed"], "val_error": rec["metrics"]["error_rate"],
            "converged": rec["metrics"].get("converged"), "epochs": cfg["train"]["epochs"],
            "train_frames": rec["dataset"]["n_train_sequences"] * cfg["train"]["epochs"] * cfg["data"]["seq_len"],
            "n_val_videos": rec["dataset"]["n_test_videos"], "single_frame_floor": rec["dataset"].get("single_frame_floor"),
            "train_s": rec["cost"]["train_s"],
            "history": rec["metrics"]["history"], "selected_on": SELECTED_ON}


def score(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A candidate's numbers under the rule: per-row mean/std, thesis model's std, score, cost."""
    rows = sorted({r["row"] for r in runs})
    per_row = {n: mean_std(r["val_error"] for r in runs if r["row"] == n) for n in rows}
    thesis_std = per_row.get(THESIS_MODEL[1], (float("nan"), 0.0))[1]
    return {"per_row": {n: {"mean": m, "std": s} for n, (m, s) in per_row.items()},
            "score": sum(m for m, _ in per_row.values()) / len(per_row) + thesis_std,
            "all_converged": all(r["converged"] is True for r in runs),
            "train_frames": sum(r["train_frames"] for r in runs)}


def choose(scored: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The chosen candidate by ``RULE`` and why, from `score` of each candidate."""
    if not scored:
        raise ValueError("no calibration candidate was run; nothing to choose from")
    budget = scored["current"]["train_frames"] * BUDGET_FACTOR if "current" in scored else float("inf")
    over = sorted(k for k, v in scored.items() if v["train_frames"] > budget)
    scored = {k: v for k, v in scored.items() if k not in over}  # never empty: "current" is within
    pool = {k: v for k, v in scored.items() if v["all_converged"]}
    note = "" if pool else "no candidate converged in every run, so all within the budget were eligible; "
    pool = pool or dict(scored)
    best = min(v["score"] for v in pool.values())
    tied = sorted((v["train_frames"], k) for k, v in pool.items() if v["score"] <= best + TIE)
    name = tied[0][1]
    note = (f"over the time budget (more than {BUDGET_FACTOR}x the current recipe's training frames), not "
            f"eligible: {', '.join(over)}; " if over else "") + note
    why = (f"{note}score {pool[name]['score']:.3f} (lowest {best:.3f}); "
           + (f"tied within {TIE} with {', '.join(k for _, k in tied[1:])}, chosen as the fewest training frames"
              if len(tied) > 1 else "no tie"))
    return name, why


def _load(out: Path, profile: str) -> dict[str, Any]:
    if not out.exists():
        return {}
    data = json.loads(out.read_text())
    if data.get("profile") != profile:
        raise ValueError(f"{out} holds the calibration of profile {data.get('profile')!r}, not {profile!r}; "
                         f"give another --out")
    return data


def calibrate(profile: str, *, names: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
              work: str | Path = "/tmp/strn-calibration", out: str | Path | None = None,
              data_dir: str | Path | None = None, device: str = "auto",
              extra: Mapping[str, Mapping[str, Any]] | None = None, info: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """Train each candidate (``names``; default all of the profile's and ``extra``'s) on every
    calibration row for ``seeds`` (stacked) on validation, merge them into ``out`` (default
    results/calibration/validation.json; a candidate run again replaces its entry) and choose
    among all candidates there by ``RULE``. ``extra``: candidates a caller defines (name ->
    overrides; benchmarks/calibrate_demo.py's data designs); ``info``: what else each entry
    records (its synthetic set)."""
    known = {**candidates(profile), **(extra or {})}
    names = list(names or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"calibration candidate(s) {', '.join(unknown)} unknown for profile {profile!r}; known: "
                       f"{', '.join(known)} (strn/profiles.py calibration)")
    out = Path(out or CALIBRATION_DIR / "validation.json")
    data = _load(out, profile)
    entries = dict(data.get("candidates", {}))
    results_dir = Path(work) / profile
    for name in names:
        runs = []
        for exp, row in ROWS:
            cfgs = [validation_config(profile, known[name], exp, row, s, label=name, device=device) for s in seeds]
            runs += [run_entry(r) for r in _run_seeds(cfgs, results_dir, data_dir)]
        entries[name] = {"overrides": known[name], "selected_on": SELECTED_ON, "runs": runs, **score(runs),
                         **dict(info or {})}
    return _write_choice(out, profile, entries)


def rechoose(profile: str, out: str | Path | None = None) -> dict[str, Any]:
    """Apply ``RULE`` again to the candidates stored in ``out`` (trains nothing)."""
    out = Path(out or CALIBRATION_DIR / "validation.json")
    data = _load(out, profile)
    if not data:
        raise FileNotFoundError(f"{out} does not exist: run `strn calibrate recipes --profile {profile}` first")
    return _write_choice(out, profile, dict(data["candidates"]))


def _write_choice(out: Path, profile: str, entries: dict[str, Any]) -> dict[str, Any]:
    chosen, why = choose(entries)
    budget = entries["current"]["train_frames"] * BUDGET_FACTOR if "current" in entries else float("inf")
    for e in entries.values():
        e["over_budget"] = e["train_frames"] > budget
    data = {"profile": profile, "selected_on": SELECTED_ON, "val_share": VAL_SHARE, "val_split_seed": VAL_SPLIT_SEED,
            "rule": RULE, "rows": [f"{e}/{r}" for e, r in ROWS], "candidates": entries, "chosen": chosen,
            "why": why}
    atomic_write_text(out, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def identity_seeds(profile: str, n_seeds: int = 10, *, candidate: str = "current",
                   work: str | Path = "/tmp/strn-calibration", out: str | Path | None = None,
                   data_dir: str | Path | None = None, device: str = "auto") -> dict[str, Any]:
    """The thesis model (identity 98-104) under ``candidate`` over seeds 0..n_seeds-1, stacked,
    on validation: per-seed validation error, recipe and epochs, written to ``out`` (default
    results/calibration/identity_seeds.json)."""
    if n_seeds < 2:
        raise ValueError(f"identity_seeds: n_seeds is {n_seeds}; a spread needs at least 2 seeds")
    known = candidates(profile)
    if candidate not in known:
        raise KeyError(f"calibration candidate {candidate!r} unknown for profile {profile!r}; known: "
                       f"{', '.join(known)} (strn/profiles.py calibration)")
    cfgs = [validation_config(profile, known[candidate], *THESIS_MODEL, s, label=candidate, device=device)
            for s in range(n_seeds)]
    runs = [run_entry(r) for r in _run_seeds(cfgs, Path(work) / profile, data_dir)]
    errs = [r["val_error"] for r in runs]
    m, s = mean_std(errs)
    data = {"profile": profile, "selected_on": SELECTED_ON, "row": "/".join(THESIS_MODEL), "candidate": candidate,
            "recipe": cfgs[0].to_dict()["train"] | {"seed": None}, "model": cfgs[0].to_dict()["model"],
            "epochs": cfgs[0].train.epochs, "val_share": VAL_SHARE, "val_split_seed": VAL_SPLIT_SEED,
            "n_seeds": n_seeds, "mean": m, "std": s, "min": min(errs), "max": max(errs),
            "standard_error": s / n_seeds ** 0.5, "seeds": runs}
    atomic_write_text(Path(out or CALIBRATION_DIR / "identity_seeds.json"), json.dumps(data, indent=1) + "\n")
    return data


def draw(profile: str = "demo", *, validation: str | Path | None = None, identity: str | Path | None = None,
         figures_dir: str | Path | None = None) -> list[Path]:
    """Draw the stored calibration (`strn.plots.calibration`) as ``figures/<profile>/calibration``:
    computing and drawing are separate steps, so restyling the figure never retrains."""
    from .plots.calibration import calibration_figure  # local: matplotlib
    from .plots.common import figure_problems, save_figure

    vpath = Path(validation or CALIBRATION_DIR / "validation.json")
    if not vpath.exists():
        raise FileNotFoundError(f"{vpath} does not exist: run `strn calibrate recipes --profile {profile}` first")
    val = _load(vpath, profile)
    ipath = Path(identity or CALIBRATION_DIR / "identity_seeds.json")
    ident = json.loads(ipath.read_text()) if ipath.exists() else None
    if ident is not None and ident.get("profile") != profile:
        ident = None
    fig = calibration_figure(val, THESIS_MODEL[1], ident)
    problems = figure_problems(fig)
    if problems:
        raise RuntimeError("calibration figure: " + "; ".join(problems))
    return save_figure(fig, Path(figures_dir or REPO_ROOT / "figures" / profile), "calibration")


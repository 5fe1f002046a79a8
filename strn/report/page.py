"""What the report page shows, gathered from the stored results and figures; its layout is
``templates/report_body.html.j2`` (rendered by `strn.report.build.report_page`)."""
from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from ..study import claims, experiments
from .notebook_runs import at_a_time, wall_seconds
from .plots import draw
from .plots.central import dataset_level, per_seed
from ..train.convergence import record_convergence
from .plots.common import save_figure
from ..results import load_results

CENTRAL = "strn_vs_frame_average"  # the central figure's name under figures/<profile>/
LONG = 90  # characters: a longer cell of the claims table opens on demand (the claim's own text excepted)
CLAIM_TEXT = ("thesis says", "claim text", "text")

# Today's words; `strn.study.claims.DEFINITIONS`, where it exists, overrides them word by word.
DEFINITIONS = {
    "reproduced": "the runs here show what the thesis claims, beyond their seeds' noise.",
    "not reproduced": "the runs here show the opposite, beyond their seeds' noise.",
    "inconclusive": "these runs cannot tell either way.",
    "not testable": "this data or these runs cannot show what the claim is about.",
    "thesis says": "the claim, as the thesis states it (its UCF-101 numbers in brackets).",
    "decided by": "each comparison the claim needs, with the rows' errors (mean ± std over seeds, n runs) and "
                  "its interval.",
    "single-frame floor": "the lowest video error any model that ignores the order of frames can reach on the "
                          "synthetic set (classes that differ only in the direction of motion look alike).",
}
VERDICT_WORDS = ("reproduced", "not reproduced", "inconclusive", "not testable")

# By the end of a figure's name: what it shows (the experiments' figures carry their own, `strn.study.tables`).
CAPTIONS = {
    "_activations": "Activation functions and their derivatives (chapter 3).",
    "_optimizers": "ADAM, RPROP and SGD from the same initial weights on two spirals (chapter 3), full-batch and "
                   "mini-batch: how fast each loss falls.",
    "_bptt": "The gradient back-propagated through time at initialisation, by distance from the loss "
             "(chapter 3): which chains let it vanish.",
    "_blocks": "A residual block, and spatio-temporal blocks with an identity and a conv temporal connection "
               "(Figs. 4.1-4.2, chapter 4).",
    "_unrolled": "STRN unrolled over the frames of one sequence (chapter 4).",
    "_costs": "What a prediction computes: only the frames the last time step needs (chapter 4).",
    "_video_sequences": "How a video becomes sequences of T frames every r-th frame, and its prediction the mean "
                        "of their class distributions (chapter 4).",
    "_class_counts": "Videos per class in the training and test lists (5.1).",
    "_lengths": "Frames per video (dashed: too short for one sequence, padded) and sequences per video (5.1).",
    "_samples": "The first sampled frames of one video per class (5.1): what one frame shows.",
    # drawn by `strn calibrate plot` from results/calibration/ (docs/STUDY.md, "Calibration on held-out groups")
    "calibration": "The recipe chosen on held-out training groups (validation; the test split is never read): each "
                   "candidate's score by the written rule (left), the calibration rows' validation error per epoch "
                   "under the recipe before and the one chosen (middle), and the thesis model's validation error "
                   "over ten seeds (right).",
}


def verdict_class(word: Any) -> str:
    """The page's colour class of a verdict word ("" for anything else)."""
    w = str(word).lower()
    for prefix in ("not reproduced", "not testable", "reproduced", "inconclusive"):
        if w.startswith(prefix):
            return prefix.replace(" ", "-")
    return ""


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v) or "–"
    return str(v) if str(v) else "–"


def claims_table(frame) -> dict[str, Any]:
    """Whatever columns `claims.verdict_frame` returns, as the template's table: the verdict
    word coloured, a long cell opening on demand."""
    columns = [str(c) for c in frame.columns]
    rows = []
    for rec in frame.to_dict("records"):
        row = []
        for c in columns:
            text = _text(rec[c])
            row.append({"text": text, "verdict": verdict_class(text) if c == "verdict" else "",
                        "long": len(text) > LONG and c not in CLAIM_TEXT,
                        "cls": "claim-text" if c in CLAIM_TEXT else "n" if isinstance(rec[c], (int, float)) else ""})
        rows.append(row)
    return {"columns": columns, "rows": rows}


def definitions(frame, extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """One line per word of the claims table: the verdict words, its columns, and ``extra``
    terms the page uses; `claims.DEFINITIONS` first, this module's where it has none."""
    theirs = dict(getattr(claims, "DEFINITIONS", {}) or {})
    known = {**DEFINITIONS, **theirs}
    found = [str(v) for v in frame["verdict"].unique()] if "verdict" in frame else []
    text = " ".join(_text(v) for v in frame.to_numpy().ravel()) if len(frame) else ""
    used = ("margin",) if "margin" in text else ()
    words = [*VERDICT_WORDS, *found, *map(str, frame.columns), *theirs, *used, *extra]
    return [(w, known[w]) for w in dict.fromkeys(words) if w in known]


def _figure(path: Path, caption: str) -> dict[str, str]:
    return {"src": "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode(), "alt": path.stem,
            "name": path.name, "caption": caption}


def caption(path: Path) -> str:
    return next((c for suffix, c in CAPTIONS.items() if path.stem.endswith(suffix)), path.stem.replace("_", " "))


def _converged(records: list[dict[str, Any]]) -> str:
    # the current rule on the stored history, not the verdict stored when the run was made
    flags = [None if (c := record_convergence(r)) is None else c["converged"] for r in records]
    if not flags or any(f is None for f in flags):
        return "?"
    return "yes" if all(flags) else f"no ({sum(not f for f in flags)} of {len(flags)})"


def experiment_table(key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One experiment's rows: row | thesis | reproduced mean ± std | seeds | rank (thesis /
    reproduced) | converged (control runs are not rows)."""
    t = experiments.summary_table(key, records)
    rows = []
    for row, (_, line) in zip(experiments.get_experiment(key).rows, t.iterrows()):
        mine = [r for r in records if r.get("name") == row.name and not r.get("control")]
        ranks = (line["thesis rank"], line["reproduced rank"])
        cells = [" / ".join(str(v) for v in row.columns.values()), "–" if row.thesis is None else f"{row.thesis:.3f}",
                 line["reproduced"], str(int(line["seeds"])),
                 "–" if any(pd.isna(x) for x in ranks) else f"{ranks[0]} / {ranks[1]}",
                 _converged(mine) if mine else "–"]
        rows.append([{"text": c, "cls": "" if i == 0 else "n"} for i, c in enumerate(cells)])
    return {"columns": ["row", "thesis", "reproduced mean ± std", "seeds", "rank (thesis / reproduced)", "converged"],
            "rows": rows, "agreement": t.attrs.get("rank_agreement", {}).get("text", "")}


def _sections(results_dir: Path, figures_dir: Path, seeds: int) -> tuple[list[dict[str, Any]], list[Any]]:
    out, verdicts = [], []
    for key, exp in experiments.EXPERIMENTS.items():
        recs = load_results(results_dir, key) if (results_dir / key).exists() else []
        if not recs:
            continue
        judged = claims.judge(key, recs)
        verdicts += judged
        ids = ", ".join(str(v.claim) for v in judged)
        floor = " Dotted: chance; dashed: the single-frame floor." if dataset_level(recs, "single_frame_floor") else ""
        over = _n(seeds, "seed") if seeds < 2 else "each row's seeds, the table's seeds column"
        own = {"error_bars": f"Table {exp.table}, row by row: the thesis's UCF-101 error (grey) beside this run's "
                             f"(blue: mean ± std over {over}).{floor}" + (f" Claim {ids} reads these rows." if ids else ""),
               "training_curves": f"How each configuration of Table {exp.table} learned: training loss and test video "
                                  f"error per epoch (first seed)."}
        saved = {f.stem(key): f for f in exp.figures if f.kind != "seed_pairs"}
        figs = [_figure(p, saved[p.stem].caption or own.get(saved[p.stem].kind) or caption(p))
                for p in sorted(figures_dir / f"{stem}.png" for stem in saved) if p.exists()]
        main = next((f for f in figs if f["alt"] == key), None)
        out.append({"id": key, "table": exp.table, "title": exp.title, "rows": experiment_table(key, recs),
                    "claims": [{"claim": v.claim, "verdict": v.verdict, "cls": verdict_class(v.verdict)}
                               for v in judged],
                    "main": main, "more": [f for f in figs if f is not main]})
    return out, verdicts


def central_figure(results_dir: Path, figures_dir: Path) -> dict[str, str] | None:
    """The figure an experiment declares as its rows per seed ("seed_pairs": claim 7's two rows,
    `strn.study.tables`), saved as ``figures_dir/strn_vs_frame_average``."""
    import matplotlib.pyplot as plt  # local: drawn only when a page is made

    exp, spec = next(((e, f) for e in experiments.EXPERIMENTS.values() for f in e.figures if f.kind == "seed_pairs"),
                     (None, None))
    recs = load_results(results_dir, exp.key) if exp and (results_dir / exp.key).exists() else []
    if not per_seed(recs, spec.rows if spec else ("", "")):
        return None
    fig = draw(exp, spec, None, recs)
    png = save_figure(fig, figures_dir, CENTRAL)[0]
    plt.close(fig)
    thesis = [exp.row(n).compared for n in spec.rows]
    grey = f" Grey: the thesis's UCF-101 pair ({thesis[0]:.3f} → {thesis[1]:.3f})." if None not in thesis else ""
    floor = dataset_level(recs, "single_frame_floor")
    below = f" Dashed red: the single-frame floor ({floor:.2f}), the lowest error a model that ignores the order " \
            f"of frames can reach on this data; only a model that uses the order can go below it." if floor else ""
    return _figure(png, f"{spec.caption}{grey}{below}")


def lead_sentence(profile: str, records: list[dict[str, Any]], n_claims: int) -> str:
    """One sentence: what was run, and on what data."""
    stored = [r for r in records if "reused_from" not in r]
    controls = sum(1 for r in stored if r.get("control"))
    per_row: dict[tuple[Any, Any], set[Any]] = {}
    for r in records:  # a row read back from another experiment has its seeds all the same
        if r.get("seed") is not None and not r.get("control"):
            per_row.setdefault((r.get("experiment"), r.get("name")), set()).add(r.get("seed"))
    counts = sorted({len(s) for s in per_row.values()})
    seeds = (_n(counts[0], "seed") + " each" if len(counts) == 1 else
             f"{counts[0]}–{counts[-1]} seeds per row" if counts else "no seeds")
    ds = [r.get("dataset") or {} for r in stored]
    kinds = {d.get("kind") for d in ds}
    classes = Counter(len(d.get("classes") or []) for d in ds).most_common(1)
    sizes = Counter((d.get("n_train_videos"), d.get("n_test_videos")) for d in ds).most_common(1)
    n_classes = classes[0][0] if classes else "?"
    train, test = sizes[0][0] if sizes else ("?", "?")
    data = (f"the built-in synthetic set ({n_classes} classes of shapes that move or fade; {train} training and "
            f"{test} test videos) instead of UCF-101" if kinds == {"synthetic"} else
            f"UCF-101 ({n_classes} classes; {train} training and {test} test videos per split)")
    devices = sorted({"a CPU" if str(env.get("device") or "cpu") == "cpu" else str(env.get("device_name") or "a GPU")
                      for env in (r.get("env") or {} for r in stored)})
    return (f"The thesis's Tables 5.1–5.8 were rerun as {_n(len(stored) - controls, 'training run')} (profile "
            f"{profile}, {seeds}, on {' and '.join(devices)}"
            f"{f'; {controls} more with a longer schedule as controls' if controls else ''}) on {data}, and its {_n(n_claims, 'claim')} "
            f"judged from them beside its own UCF-101 numbers.")


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def provenance_line(results_dir: str | Path) -> str:
    """Which code the runs trained here were made by, in words: how many versions of it and
    whether each tree was clean (the commit itself is in every results file, ``env.git_commit``;
    the page speaks to readers, who need to know that the code is one and recorded, not its hash)."""
    trees: dict[str, bool] = {}
    for r in load_results(results_dir):
        if "reused_from" not in r:
            env = r.get("env") or {}
            commit = env.get("git_commit") or "unknown"
            trees[commit] = trees.get(commit, False) or bool(env.get("git_dirty"))
    if not trees:
        return "no stored runs"
    n = sum(1 for r in load_results(results_dir) if "reused_from" not in r)
    dirty = sum(trees.values())
    code = ("one version of the code" if len(trees) == 1 else f"{len(trees)} versions of the code")
    state = ("committed, with no uncommitted changes" if not dirty else
             "with uncommitted changes" if dirty == len(trees) else f"{dirty} of them with uncommitted changes")
    return f"the {_n(n, 'run')} trained were made by {code}, {state}; each results file records its commit"


def skipped_videos(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every video some run skipped (``skipped_videos`` of the records), once per path."""
    seen: dict[str, dict[str, str]] = {}
    for r in records:
        for s in r.get("skipped_videos") or []:
            seen.setdefault(s["path"], s)
    return [seen[p] for p in sorted(seen)]


def skipped_text(records: list[dict[str, Any]]) -> str:
    skipped = skipped_videos(records)
    if not skipped:
        return "no video was skipped"
    listed = "; ".join(f"{s['path']} ({s.get('reason', '?')})" for s in skipped[:5])
    return f"{len(skipped)} video(s) skipped: {listed}" + (" ..." if len(skipped) > 5 else "")


def _plain(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols = list(rows[0]) if rows else []
    return {"columns": cols, "rows": [[{"text": _text(r[c]), "cls": "" if i == 0 else "n"} for i, c in enumerate(cols)]
                                      for r in rows]}


def environment_rows(results_dir: str | Path) -> list[dict[str, Any]]:
    """Where the results came from: the devices, versions and code state of the stored runs
    (whether the code had uncommitted changes; its commit is in each results file)."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in load_results(results_dir):
        env = r.get("env", {})
        key = (env.get("device_name"), env.get("torch"), env.get("av"), bool(env.get("git_dirty")))
        rows.setdefault(key, {"device": env.get("device_name"), "torch": env.get("torch"), "av": env.get("av"),
                              "code": "uncommitted changes" if env.get("git_dirty") else "committed",
                              "runs": 0, "training s (sum)": 0.0})
        rows[key]["runs"] += 1
        rows[key]["training s (sum)"] += r["cost"].get("train_s") or 0.0
    return [dict(r, **{"training s (sum)": f"{r['training s (sum)']:.0f}"}) for r in rows.values()]


def made(profile: str, results_dir: Path, records: list[dict[str, Any]], runs: list[dict[str, Any]] | None):
    """The page's last section: how it was made."""
    paragraphs = [
        f"`strn report --profile {profile}` (or `make report`) executed every numbered notebook of the study with "
        f"this profile through papermill (executed copies in results/{profile}/executed/, the sources untouched), "
        "training only what was not stored yet; this master notebook then gathered every table and claim from the "
        f"results JSON (results/{profile}/<experiment>/<row>__seed<k>.json). Tables, claims and figures are drawn "
        "from those files only.",
        "Source: M. A. Iqbal, Convolutional Networks for Action Recognition, Master thesis, University of Bonn, "
        "2017; this reproduction's specification is docs/STUDY.md.",
        f"Provenance: {provenance_line(results_dir)}. Videos: "
        f"{skipped_text([r for r in records if 'reused_from' not in r])}."]
    if runs:
        side = at_a_time(runs)
        paragraphs.append(f"This execution: {sum(r['status'] == 'ok' for r in runs)} of {len(runs)} notebooks ok in "
                          f"{wall_seconds(runs):.0f} s" + (f" ({side} at a time)." if side > 1 else "."))
    rows = [{k: v for k, v in r.items() if k in ("notebook", "status", "seconds", "error") and
             (k != "error" or any(x.get("error") for x in runs))} for r in runs or []]
    return {"paragraphs": paragraphs, "notebooks": _plain(rows), "environment": _plain(environment_rows(results_dir))}


def page_context(profile: str, results_dir: str | Path, figures_dir: str | Path,
                 runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything `templates/report_body.html.j2` shows."""
    results_dir, figures_dir = Path(results_dir), Path(figures_dir)
    records = load_results(results_dir) if results_dir.exists() else []
    seeds = len({r.get("seed") for r in records}) or 1
    sections, verdicts = _sections(results_dir, figures_dir, seeds)
    frame = claims.verdict_frame(sorted(verdicts, key=lambda v: v.claim))
    central = central_figure(results_dir, figures_dir)
    others = [p for p in sorted(figures_dir.glob("*.png")) if p.stem != CENTRAL
              and not any(p.stem.startswith(k) for k in experiments.EXPERIMENTS)]
    notebooks = [p for p in others if p.stem[:1].isdigit()]  # named after their notebook, "03_..."
    groups = [{"title": "The other notebooks' figures (chapters 3, 4, 5.1)",
               "figures": [_figure(p, caption(p)) for p in notebooks]},
              {"title": "How the recipe was chosen (docs/STUDY.md, \"Calibration on held-out groups\")",
               "figures": [_figure(p, caption(p)) for p in others if p not in notebooks]}]
    return {"lead": lead_sentence(profile, records, len(frame)), "claims": claims_table(frame),
            "definitions": definitions(frame, ("single-frame floor",) if central else ()), "central": central,
            "sections": sections, "groups": [g for g in groups if g["figures"]],
            "made": made(profile, results_dir, records, runs)}

"""The ``strn`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .config import PROFILES, ConfigError
from .paths import default_results_dir

# The subcommands import their modules inside their functions: `strn --help` and argument
# errors load neither torch nor pandas nor papermill.


def _report(a: argparse.Namespace) -> int:
    from .report import build_report  # local: papermill, and through it pandas and torch

    t0 = time.perf_counter()
    html = build_report(a.profile, device=a.device, force=a.force, results_dir=a.results_dir,
                        figures_dir=a.figures_dir, data_dir=a.data_dir, jobs=a.jobs, stack_seeds=a.stack_seeds)
    print(f"report written to {html} in {time.perf_counter() - t0:.0f} s")
    return 0


def _summary(a: argparse.Namespace) -> int:
    from .report import write_summary_markdown  # local: see the note above _report

    from .results import set_aside_files  # local: see the note above _report

    results_dir = a.results_dir or default_results_dir(a.profile)
    print(f"written {write_summary_markdown(results_dir, a.profile)}")
    for p in set_aside_files(results_dir):  # invalid results files, renamed and never read as runs
        print(f"set aside (invalid, not used): {p}")
    return 0


def _synth(a: argparse.Namespace) -> int:
    # local (both): numpy and PyAV
    from .synth import spec_for_profile
    from .synth_files import write_synthetic  # PyAV: loaded by the command that needs it, not by `strn --help`

    t0 = time.perf_counter()
    root = write_synthetic(a.root, spec_for_profile(a.profile))
    print(f"synthetic '{a.profile}' set written to {root} in {time.perf_counter() - t0:.1f} s")
    return 0


def _check_data(a: argparse.Namespace) -> int:
    from .data.check import check_data  # local: PyAV

    if a.rate < 1 or a.seq_len < 1:
        raise ConfigError(f"check-data: --rate and --seq-len must be positive integers, got --rate {a.rate} "
                          f"--seq-len {a.seq_len}")

    report = check_data(a.root, a.rate, a.seq_len)
    print(report.render())
    return 0 if report.ok else 1


def parse_sets(items: list[str]) -> dict:
    """``["train.lr=0.01", "model.positions=[\"layer4.2\"]"]`` -> nested overrides (values as JSON,
    else as strings)."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE (e.g. train.lr=0.01), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _train_all(a: argparse.Namespace) -> int:
    from .parallel import default_jobs, train_all  # local: torch and the experiments

    if a.force:
        raise ConfigError("train-all trains only what is not stored yet; move the results folder away to retrain")
    t0 = time.perf_counter()
    jobs = default_jobs() if a.jobs is None else a.jobs
    n = train_all(a.profile, jobs=jobs, device=a.device, results_dir=a.results_dir, data_dir=a.data_dir,
                  stack=a.stack_seeds, share_gpu=True)
    print(f"{n} STRN runs of profile {a.profile!r} stored (and the frame baselines) in "
          f"{time.perf_counter() - t0:.0f} s; `strn report --profile {a.profile}` draws them")
    return 0


def _run(a: argparse.Namespace) -> int:
    # local (all three): torch and pandas
    from . import distributed
    # torch, pandas and the experiments: loaded by the command that needs them, not by `strn --help`
    from .experiments import run_experiment, summary_table
    from .notebook import parse_seeds

    from .preempt import exit_between_runs

    distributed.init_from_env()  # a no-op unless started by torchrun
    exit_between_runs()  # several rows in one process: a SIGTERM between them ends it with 143 too

    seeds = parse_seeds(a.seeds)  # "0,1,2"; the same rule as the notebooks' parameter
    if seeds is not None and any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {a.seeds}: seeds are integers >= 0")
    recs = run_experiment(a.experiment, a.profile, seeds=seeds, device=a.device, results_dir=a.results_dir,
                          data_dir=a.data_dir, force=a.force, overrides=parse_sets(a.set),
                          rows=a.rows.split(",") if a.rows else None)
    if distributed.is_main():
        print(summary_table(a.experiment, recs).to_string(index=False))
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    from .inference import evaluate_trained  # local: torch

    m = evaluate_trained(a.path, device=a.device, data_dir=a.data_dir)
    width = max(len(k) for k in m)
    print("\n".join(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in m.items()))
    return 0


def _predict(a: argparse.Namespace) -> int:
    if a.top < 1:
        raise ConfigError(f"--top {a.top}: give 1 or more classes to show")
    from .inference import load_trained  # local: torch

    for cls, p in load_trained(a.checkpoint, device=a.device).predict(a.video, top=a.top):
        print(f"{p:7.3f}  {cls}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strn", description="Spatio Temporal Residual Networks: the study, reproduced.")
    p.add_argument("--debug", action="store_true", help="show a traceback for every error")
    sub = p.add_subparsers(dest="command", required=True)

    def outputs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--profile", choices=PROFILES, default="demo")
        sp.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")
        sp.add_argument("--force", action="store_true", help="retrain even where results for the configuration exist")
        sp.add_argument("--no-retrain-mismatch", action="store_true",
                        help="stop with an error where a stored result was made from other data or initial weights "
                             "(default: retrain it)")
        sp.add_argument("--results-dir", default=None, help="default: results/<profile>")
        sp.add_argument("--data-dir", default=None, help="datasets and frame cache; default: $STRN_DATA_DIR or data/")

    r = sub.add_parser("report", help="run every notebook with one profile and build the HTML report")
    outputs(r)
    r.add_argument("--figures-dir", default=None, help="default: figures/<profile>")
    r.add_argument("--jobs", type=int, default=None,
                   help="CPU only: train the STRN runs first in this many one-thread processes (default: one per core; 1: off)")
    r.add_argument("--no-stack-seeds", dest="stack_seeds", action="store_false",
                   help="CPU pool: one process per seed instead of the seeds of a configuration as one stacked model "
                        "(stacked is about 1.5x faster on the demo; the numbers differ by float rounding)")
    r.set_defaults(func=_report)

    t = sub.add_parser("train-all", help="train every run of a profile's notebooks in a pool of processes "
                                         "(no notebooks; on a GPU they share it)")
    outputs(t)
    t.add_argument("--jobs", type=int, default=None, help="processes at once (default: one per core; at least 2)")
    t.add_argument("--no-stack-seeds", dest="stack_seeds", action="store_false",
                   help="one process per seed instead of the seeds of a configuration as one stacked model")
    t.set_defaults(func=_train_all)

    m = sub.add_parser("summary", help="rewrite results/<profile>/summary.md from the stored results (no training)")
    m.add_argument("--profile", choices=PROFILES, default="demo")
    m.add_argument("--results-dir", default=None, help="default: results/<profile>")
    m.set_defaults(func=_summary)

    s = sub.add_parser("synth", help="write the built-in synthetic dataset in UCF-101 layout")
    s.add_argument("root", type=Path)
    s.add_argument("--profile", choices=("smoke", "demo", "gpu"), default="demo")
    s.set_defaults(func=_synth)

    c = sub.add_parser("check-data", help="audit a UCF-101-layout folder and print a report")
    c.add_argument("root", type=Path)
    c.add_argument("--rate", type=int, default=10, help="sampling rate r (every r-th frame)")
    c.add_argument("--seq-len", type=int, default=2, help="frames per sequence T")
    c.set_defaults(func=_check_data)

    e = sub.add_parser("run", help="train one experiment's configurations (no notebook)")
    e.add_argument("experiment", help="e.g. 05_3_learning_algorithms")
    outputs(e)
    e.add_argument("--seeds", default=None, help="comma-separated, default: the profile's")
    e.add_argument("--rows", default=None, help="comma-separated row names, default: all")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value, e.g. --set train.epochs=2 (repeatable)")
    e.set_defaults(func=_run)

    v = sub.add_parser("evaluate", help="evaluate a trained model again on its test split (writes no results)")
    v.add_argument("path", type=Path, help="a results JSON or its checkpoint (.pt)")
    v.add_argument("--device", default="cpu")
    v.add_argument("--data-dir", default=None, help="datasets and frame cache; default: $STRN_DATA_DIR or data/")
    v.set_defaults(func=_evaluate)

    pr = sub.add_parser("predict", help="the top classes of one video with a trained model")
    pr.add_argument("video", type=Path)
    pr.add_argument("--checkpoint", type=Path, required=True, help="a results JSON or its checkpoint (.pt)")
    pr.add_argument("--top", type=int, default=5)
    pr.add_argument("--device", default="cpu")
    pr.set_defaults(func=_predict)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_retrain_mismatch", False):
        os.environ["STRN_NO_RETRAIN_MISMATCH"] = "1"  # read by strn.provenance, in workers and kernels too
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the results folder and checkpoints resume the rest",
              file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one error path: expected errors as one line
        if getattr(args, "debug", False) or not isinstance(e, _expected_errors()):
            raise
        print(f"strn: error: {_one_line(e)} (rerun with --debug for a traceback)", file=sys.stderr)
        return 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user can cause and fix (bad configuration, data, disk): one line, no traceback."""
    from .data.video import VideoReadError  # local: PyAV

    return (ConfigError, VideoReadError, FileNotFoundError, FileExistsError, KeyError, ValueError, OSError,
            RuntimeError)


def _one_line(e: BaseException) -> str:
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e) or type(e).__name__
    return " ".join(msg.split())


if __name__ == "__main__":
    sys.exit(main())

"""The ``strn`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from pathlib import Path

from .config import PROFILES, ConfigError, make_config
from .paths import default_results_dir

# The subcommands import their modules inside their functions: `strn --help` and argument
# errors load neither torch nor pandas nor papermill.


def _report(a: argparse.Namespace) -> int:
    from .report.build import build_report, final_line, verdict_counts  # local: papermill, and through it pandas and torch

    t0 = time.perf_counter()
    html = build_report(a.profile, device=a.device, force=a.force, results_dir=a.results_dir,
                        figures_dir=a.figures_dir, data_dir=a.data_dir, jobs=a.jobs, stack_seeds=a.stack_seeds,
                        verbose=a.verbose)
    print(final_line(html, time.perf_counter() - t0, verdict_counts(html.parent)), flush=True)
    return 0


def _summary(a: argparse.Namespace) -> int:
    from .report.build import write_summary_markdown  # local: see the note above _report
    from .results import load_results, set_aside_files

    folder = Path(a.results_dir or default_results_dir(a.profile))
    # A summary "generated from" a folder with no run in it would claim results that do not exist.
    if not folder.is_dir() or not load_results(folder):
        where = f" --results-dir {folder}" if a.results_dir else ""
        raise ConfigError(f"summary: {folder} holds no results JSON{'' if folder.is_dir() else ' (no such folder)'}; "
                          f"make them with `strn report --profile {a.profile}{where}`, or give the folder that "
                          f"holds them with --results-dir")
    print(f"written {write_summary_markdown(folder, a.profile)}")
    for p in set_aside_files(folder):  # invalid results files, renamed and never read as runs
        print(f"set aside (invalid, not used): {p}")
    return 0


def _synth(a: argparse.Namespace) -> int:
    # local (both): numpy and PyAV
    from .data.synth import spec_for_profile
    from .data.synth_files import write_synthetic  # PyAV: loaded by the command that needs it, not by `strn --help`

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
    from .study.parallel import default_jobs, train_all  # local: torch and the experiments

    if a.force:
        raise ConfigError("train-all trains only what is not stored yet; move the results folder away to retrain")
    t0 = time.perf_counter()
    jobs = default_jobs() if a.jobs is None else a.jobs
    n = train_all(a.profile, jobs=jobs, device=a.device, results_dir=a.results_dir, data_dir=a.data_dir,
                  stack=a.stack_seeds, share_gpu=True)
    print(f"{n} STRN runs of profile {a.profile!r} stored (and the frame baselines) in "
          f"{time.perf_counter() - t0:.0f} s; `strn report --profile {a.profile}{_folders(a)}` draws them")
    return 0


def _folders(a: argparse.Namespace) -> str:
    """The --results-dir and --data-dir a command was given, for the command it suggests next."""
    return "".join(f" --{flag} {v}" for flag, v in (("results-dir", a.results_dir), ("data-dir", a.data_dir)) if v)


def _run(a: argparse.Namespace) -> int:
    # local (all three): torch and pandas
    from .train import distributed
    # torch, pandas and the experiments: loaded by the command that needs them, not by `strn --help`
    from .study.experiments import get_experiment, run_experiment, summary_table
    from .report.notebook import parse_seeds

    from .train.preempt import exit_between_runs

    if a.experiment is None:
        raise ConfigError(f"run: name an experiment ({', '.join(_experiment_keys())}); "
                          f"`strn run --help` lists them with their rows")
    distributed.init_from_env()  # a no-op unless started by torchrun
    exit_between_runs()  # several rows in one process: a SIGTERM between them ends it with 143 too

    seeds = parse_seeds(a.seeds)  # "0,1,2"; the same rule as the notebooks' parameter
    overrides = parse_sets(a.set)
    # Checked before anything runs, so that a bad name or --set value is the only output.
    get_experiment(a.experiment)
    make_config(a.profile, overrides)
    if seeds is not None and any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {a.seeds}: seeds are integers >= 0")
    recs = run_experiment(a.experiment, a.profile, seeds=seeds, device=a.device, results_dir=a.results_dir,
                          data_dir=a.data_dir, force=a.force, overrides=overrides,
                          rows=a.rows.split(",") if a.rows else None)
    if distributed.is_main():
        print(summary_table(a.experiment, recs).to_string(index=False))
    return 0


def _calibrate(a: argparse.Namespace) -> int:
    from .report.notebook import parse_seeds
    from .report.plots.calibration import draw  # local: matplotlib, and (below) torch and the experiments
    from .study.calibrate import calibrate, identity_seeds, rechoose
    from .study.checks import retrain_rows
    from .study.design import calibrate_design

    if a.what == "plot":
        print(*draw(a.profile, validation=a.out))
        return 0
    if a.what == "retrain":  # one thread, as `strn report` trains the demo
        import torch  # local: as above

        torch.set_num_threads(1)
        for e in retrain_rows(a.rows.split(","), label=a.candidate, epochs=a.epochs, precise_bn_n=a.precise_bn,
                              bn_batch=a.bn_batch, data_dir=a.data_dir, work=a.work, out=a.out):
            print(f"{e['label']} {e['row']} seed {e['seed']}: {e['error_rate']:.3f} converged={e['converged']}")
        return 0
    if a.what == "identity-seeds":
        d = identity_seeds(a.profile, a.n_seeds, candidate=a.candidate or "current", work=a.work, out=a.out,
                           data_dir=a.data_dir, device=a.device)
        print(f"identity-98-104 on validation over {d['n_seeds']} seeds: {d['mean']:.3f} ± {d['std']:.3f} "
              f"(min {d['min']:.3f}, max {d['max']:.3f})")
        return 0
    if a.what == "design":
        d = calibrate_design(a.candidate, base=a.base, overrides=parse_sets(a.set), spec_fields=a.spec,
                             pretrain_fields=a.pretrain, seeds=parse_seeds(a.seeds) or [0, 1, 2], work=a.work, out=a.out)
    else:
        d = rechoose(a.profile, a.out) if a.what == "choose" else calibrate(a.profile, names=a.candidate.split(",") if a.candidate else None,
                  seeds=parse_seeds(a.seeds) or [0, 1, 2], work=a.work, out=a.out, data_dir=a.data_dir,
                  device=a.device)
    for name, c in sorted(d["candidates"].items(), key=lambda kv: kv[1]["score"]):
        print(f"{name:16s} score {c['score']:.3f}  converged {'yes' if c['all_converged'] else 'no'}  "
              + ("(over the time budget)  " if c.get("over_budget") else "")
              + "  ".join(f"{r} {v['mean']:.3f}±{v['std']:.3f}" for r, v in c["per_row"].items()))
    print(f"chosen on validation: {d['chosen']} ({d['why']})")
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    from .study.inference import evaluate_trained  # local: torch

    m = evaluate_trained(a.path, device=a.device, data_dir=a.data_dir)
    width = max(len(k) for k in m)
    print("\n".join(f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}" for k, v in m.items()))
    return 0


def _predict(a: argparse.Namespace) -> int:
    if a.top < 1:
        raise ConfigError(f"--top {a.top}: give 1 or more classes to show")
    from .study.inference import load_trained  # local: torch

    if not a.video.is_file():
        raise FileNotFoundError(f"predict: video {a.video} {'is a folder' if a.video.is_dir() else 'does not exist'}; "
                                f"give the path of one video file (e.g. an .avi)")
    for cls, p in load_trained(a.checkpoint, device=a.device).predict(a.video, top=a.top):
        print(f"{p:7.3f}  {cls}")
    return 0


# One line per profile for `--profile`'s help (what each costs; the facts are in strn/profiles.py).
PROFILE_HELP = {
    "smoke": "tiny synthetic set, seconds on a CPU (the tests)",
    "demo": "built-in synthetic set, ResNet-50 shape at width 8 and 48 px, CPU minutes",
    "gpu": "the synthetic set at full width and 112 px, one GPU",
    "full": "UCF-101 with ImageNet weights at 224 px, the thesis's scale (GPU days)",
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, except where there is none to show (None, flags)
    or the help already says it; an epilog (run's list of experiments) kept line by line."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or isinstance(action.default, bool) or action.default == [] \
                or "default" in text:
            return text
        return super()._get_help_string(action)


def _experiment_keys() -> list[str]:
    from .study.experiments import EXPERIMENTS  # local: torch and pandas, only for `strn run` without a name or --help

    return sorted(EXPERIMENTS)


def _experiments_text() -> str:
    from .study.experiments import EXPERIMENTS  # local: see _experiment_keys

    lines = ["experiments (the first argument) and their rows (--rows):"]
    for k, e in sorted(EXPERIMENTS.items()):
        lines += [f"  {k}", *textwrap.wrap(f"Table {e.table}: {e.title}", 88, initial_indent=" " * 4,
                                           subsequent_indent=" " * 4),
                  *textwrap.wrap(f"rows: {', '.join(r.name for r in e.rows)}", 88, initial_indent=" " * 4,
                                 subsequent_indent=" " * 10, break_on_hyphens=False)]
    return "\n".join(lines)


class _RunHelp(argparse.Action):
    """`strn run --help`: the usual help, then the experiments (looked up only when asked, so
    that `strn --help` stays light)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.epilog = _experiments_text()
        parser.print_help()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="strn", description="Spatio Temporal Residual Networks: the study, reproduced.",
                                formatter_class=_HelpFormatter)
    p.add_argument("--debug", action="store_true", help="show a traceback for every error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def parser(name: str, help: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter, **kw)

    def profile(sp: argparse.ArgumentParser, choices=PROFILES) -> None:
        sp.add_argument("--profile", choices=choices, default="demo",
                        help="; ".join(f"{k}: {PROFILE_HELP.get(k, 'see strn/profiles.py')}" for k in choices)
                        + " (default: %(default)s)")

    def outputs(sp: argparse.ArgumentParser) -> None:
        profile(sp)
        sp.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")
        sp.add_argument("--force", action="store_true", help="retrain even where results for the configuration exist")
        sp.add_argument("--no-retrain-mismatch", action="store_true",
                        help="stop with an error where a stored result was made from other data or initial weights "
                             "(default: retrain it)")
        sp.add_argument("--results-dir", default=None, help="default: results/<profile>")
        sp.add_argument("--data-dir", default=None, help="datasets and frame cache; default: $STRN_DATA_DIR or data/")

    r = parser("report", "run every notebook with one profile and build the HTML report")
    outputs(r)
    r.add_argument("--figures-dir", default=None, help="default: figures/<profile>")
    r.add_argument("--jobs", type=int, default=None,
                   help="CPU only: train the STRN runs first in this many one-thread processes (default: one per core; 1: off)")
    r.add_argument("--no-stack-seeds", dest="stack_seeds", action="store_false",
                   help="CPU pool: one process per seed instead of the seeds of a configuration as one stacked model "
                        "(stacked is about 1.5x faster on the demo; the numbers differ by float rounding)")
    r.add_argument("--verbose", action="store_true",
                   help="show everything the training pool, papermill and the kernels print (default: one line per "
                        "phase; the rest goes to <results-dir>/executed/strn_report.log)")
    r.set_defaults(func=_report)

    t = parser("train-all", "train every run of a profile's notebooks in a pool of processes "
                            "(no notebooks; on a GPU they share it)")
    outputs(t)
    t.add_argument("--jobs", type=int, default=None, help="processes at once (default: one per core; at least 2)")
    t.add_argument("--no-stack-seeds", dest="stack_seeds", action="store_false",
                   help="one process per seed instead of the seeds of a configuration as one stacked model")
    t.set_defaults(func=_train_all)

    m = parser("summary", "rewrite results/<profile>/summary.md from the stored results (no training)")
    profile(m)
    m.add_argument("--results-dir", default=None, help="default: results/<profile>")
    m.set_defaults(func=_summary)

    s = parser("synth", "write the built-in synthetic dataset in UCF-101 layout")
    s.add_argument("root", type=Path, help="folder to write it to (UCF-101/<Class>/<file>.avi and ucfTrainTestlist/)")
    profile(s, ("smoke", "demo", "gpu"))
    s.set_defaults(func=_synth)

    c = parser("check-data", "audit a UCF-101-layout folder and print a report")
    c.add_argument("root", type=Path, help="the dataset folder (holding UCF-101/ and ucfTrainTestlist/)")
    c.add_argument("--rate", type=int, default=10, help="sampling rate r (every r-th frame)")
    c.add_argument("--seq-len", type=int, default=2, help="frames per sequence T")
    c.set_defaults(func=_check_data)

    e = parser("run", "train one experiment's configurations (no notebook); --help lists the experiments",
               add_help=False)
    e.add_argument("-h", "--help", action=_RunHelp, help="show this help and the experiments, and exit")
    e.add_argument("experiment", nargs="?", default=None,
                   help="the experiment (a notebook's name, e.g. 05_3_learning_algorithms); without it, the list")
    outputs(e)
    e.add_argument("--seeds", default=None, help="comma-separated, e.g. 0,1,2; default: the profile's")
    e.add_argument("--rows", default=None, help="comma-separated row names (listed by --help); default: all")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration value, e.g. --set train.epochs=2 (repeatable)")
    e.set_defaults(func=_run)

    k = parser("calibrate", "choose a profile's recipe on held-out training groups (never the test "
                            "split), or measure the thesis model's seed spread there")
    k.add_argument("what", choices=("recipes", "choose", "identity-seeds", "plot", "design", "retrain"),
                   help="recipes: train the candidates and choose by the rule of strn/study/calibrate.py; identity-seeds: "
                        "identity 98-104 over --n-seeds seeds; choose: apply the rule again to the stored candidates; plot: draw the stored calibration as "
                        "figures/<profile>/calibration.png (trains nothing); design: the demo's data design --candidate "
                        "(strn/study/design.py); retrain: demo --rows with one thing changed, labelled --candidate "
                        "(strn/study/checks.py)")
    profile(k)
    k.add_argument("--candidate", default=None, help="comma-separated candidate names (strn/profiles.py calibration); "
                                                     "default: all (recipes), current (identity-seeds)")
    k.add_argument("--seeds", default=None, help="recipes: comma-separated seeds, default 0,1,2")
    k.add_argument("--n-seeds", type=int, default=10, help="identity-seeds: seeds 0..N-1 (default 10)")
    k.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="design: configuration override")
    for flag, what in (("--spec", "synthetic-set field"), ("--pretrain", "stand-in pretraining field")):
        k.add_argument(flag, action="append", default=[], metavar="FIELD=VALUE", help=f"design: {what} (JSON value)")
    k.add_argument("--base", default="after", help="design: the variant a new --candidate starts from")
    k.add_argument("--rows", default="", help="retrain: comma-separated demo configuration names")
    k.add_argument("--epochs", type=int, default=0, help="retrain: the cosine's length (0: the profile's)")
    k.add_argument("--precise-bn", type=int, default=0, metavar="N", help="retrain: BatchNorm statistics from N "
                                                                         "training sequences before each evaluation")
    k.add_argument("--bn-batch", type=int, default=128, help="retrain: batch size of --precise-bn")
    k.add_argument("--work", default="/tmp/strn-calibration", help="where the calibration runs are stored")
    k.add_argument("--out", default=None, help="default: validation.json, identity_seeds.json or history/demo_checks.json in results/calibration/")
    k.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")
    k.add_argument("--data-dir", default=None, help="datasets and frame cache; default: $STRN_DATA_DIR or data/")
    k.set_defaults(func=_calibrate)

    v = parser("evaluate", "evaluate a trained model again on its test split (writes no results)")
    v.add_argument("path", type=Path, help="a results JSON or its checkpoint (.pt)")
    v.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    v.add_argument("--data-dir", default=None, help="datasets and frame cache; default: $STRN_DATA_DIR or data/")
    v.set_defaults(func=_evaluate)

    pr = parser("predict", "the top classes of one video with a trained model")
    pr.add_argument("video", type=Path, help="a video file (e.g. .avi)")
    pr.add_argument("--checkpoint", type=Path, required=True, help="a results JSON or its checkpoint (.pt)")
    pr.add_argument("--top", type=int, default=5, help="how many classes to print")
    pr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    pr.set_defaults(func=_predict)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_retrain_mismatch", False):
        os.environ["STRN_NO_RETRAIN_MISMATCH"] = "1"  # read by strn.train.provenance, in workers and kernels too
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

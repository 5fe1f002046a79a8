"""What a study notebook calls: resolve its parameters, run its experiment, render.

Every numbered notebook has one ``parameters`` cell with the names of
:data:`NOTEBOOK_PARAMETERS` and then calls :func:`setup`. Papermill only warns about a
parameter a notebook does not declare; :func:`setup` turns that into an error by reading
the cell papermill injected.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import plots
from .. import results
from ..study import architecture, experiments, motion_breakdown, technical
from ..study import claims as claims_mod
from ..config import PROFILES, ConfigError, make_config
from ..data import stats as dataset_stats
from ..paths import default_figures_dir, default_results_dir
from ..data.prepare import dataset_root

NOTEBOOK_PARAMETERS = ("profile", "device", "seeds", "force", "results_dir", "figures_dir", "data_dir")
# What each profile is, as the notebooks' parameters cell says it (tests/test_lab.py checks that
# both name every profile of strn/profiles.py).
PROFILE_HELP = {"smoke": "seconds, CI", "demo": "built-in synthetic set, CPU minutes",
                "gpu": "the demo's set at 112 px, full-width net, one GPU", "full": "UCF-101, GPU"}


class UndeclaredParameterError(NameError):
    pass


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def injected_parameters() -> tuple[set[str], set[str]] | None:
    """(declared, injected) names when running under papermill in IPython, else None.

    Papermill inserts a cell starting with ``# Parameters`` right after the cell tagged
    ``parameters``; IPython keeps the source of every executed cell in ``In``.
    """
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return None
    history = ip.user_ns.get("In", [])
    for i in range(len(history) - 1, 0, -1):
        if history[i].lstrip().startswith("# Parameters"):
            return _assigned_names(history[i - 1]), _assigned_names(history[i])
    return None


def reject_undeclared() -> None:
    found = injected_parameters()
    if found is None:
        return
    declared, injected = found
    unknown = sorted(injected - declared)
    if unknown:
        raise UndeclaredParameterError(f"parameter(s) {', '.join(unknown)} are not declared by this notebook; "
                                       f"it takes: {', '.join(sorted(declared))}")


@dataclass
class Context:
    """The resolved parameters of one notebook execution."""
    profile: str
    device: str
    seeds: list[int] | None
    force: bool
    results_dir: Path
    figures_dir: Path
    data_dir: Path | None

    def run(self, key: str) -> list[dict[str, Any]]:
        """Train (or read back) every configuration of experiment ``key``."""
        return experiments.run_experiment(key, self.profile, seeds=self.seeds, device=self.device,
                                          results_dir=self.results_dir, data_dir=self.data_dir, force=self.force)

    def table(self, key: str, records: list[dict[str, Any]]):
        return experiments.summary_table(key, records)

    def by_motion(self, records: list[dict[str, Any]]):
        """Accuracy by kind of motion per row (`strn.study.motion_breakdown`); None on UCF-101."""
        return motion_breakdown.accuracy_by_motion(records)

    def claims(self, key: str, records: list[dict[str, Any]]):
        return claims_mod.verdict_frame(claims_mod.judge(key, records))

    def save(self, fig, name: str) -> list[Path]:
        return plots.save_figure(fig, self.figures_dir, name)

    def figures(self, key: str, table, records: list[dict[str, Any]]) -> list[Path]:
        """Draw and save every figure experiment ``key`` declares that is drawn from its table
        (error bars as ``<key>``, training curves as ``<key>_training_curves``, ...)."""
        figs = plots.experiment_figures(experiments.get_experiment(key), table, records)
        return [p for name, fig in figs.items() for p in self.save(fig, name)]

    def figure(self, key: str, name: str, data, records: list[dict[str, Any]]) -> list[Path]:
        """Draw and save experiment ``key``'s figure ``name`` as it declares it (`strn.study.tables`),
        from ``data`` (its table; the order test's table for the order test) and the records."""
        exp = experiments.get_experiment(key)
        spec = exp.figure(name)
        return self.save(plots.draw(exp, spec, data, records), spec.stem(key))

    def compute(self, key: str) -> dict[str, Any]:
        """What a notebook that trains nothing (03, 04, 05.1) shows, computed once by its module
        (see :data:`COMPUTE`); its ``summary`` is written to ``<results_dir>/summaries/<key>.json``.
        Figures are drawn from the returned data."""
        if key not in COMPUTE:
            raise KeyError(f"notebook {key!r} computes nothing; strn.report.notebook.COMPUTE knows {', '.join(COMPUTE)}")
        data = COMPUTE[key](self)
        results.write_summary(self.results_dir, key, self.profile, data["summary"])
        return data

    def checks(self, data: dict[str, Any]):
        """The notebook's own checks (``data["checks"]``: check, value, passed); an error
        listing the failed ones if any failed."""
        frame = data["checks"]
        if not frame["passed"].all():
            raise AssertionError(f"failed checks:\n{frame[~frame['passed']].to_string()}")
        return frame


def _technical(ctx: Context) -> dict[str, Any]:
    return technical.compute(ctx.profile)


def _architecture(ctx: Context) -> dict[str, Any]:
    cfg = make_config(ctx.profile)  # the profile's width and sampling, as its runs use them
    return architecture.compute(cfg.model.width, dataset_root(cfg, ctx.data_dir), cfg.data.rate, cfg.data.seq_len,
                                cfg.data.size)


def _dataset(ctx: Context) -> dict[str, Any]:
    cfg = make_config(ctx.profile)
    return dataset_stats.compute(dataset_root(cfg, ctx.data_dir), cfg.data.rate, cfg.data.seq_len, cfg.data.size)


# The notebooks that compute instead of training: key -> what computes their data.
COMPUTE = {"03_technical_details": _technical, "04_architecture": _architecture, "05_1_dataset": _dataset}


def parse_seeds(seeds: Any) -> list[int] | None:
    """The ``seeds`` parameter in every form papermill or the CLI hands over: ``None``; an int
    (``-p seeds 0``); a list of ints; a string ``"0,1,2"`` or ``"[0, 1, 2]"`` (``-p seeds "[0,1,2]"``,
    ``--seeds 0,1,2``). Anything else is an error naming the accepted forms."""
    def bad() -> ConfigError:
        return ConfigError(f"parameter seeds={seeds!r} is not understood; give an integer (-p seeds 0), a "
                           f"comma-separated list (-p seeds 0,1,2) or a list (-p seeds \"[0,1,2]\")")

    if seeds is None:
        return None
    if isinstance(seeds, bool):
        raise bad()
    if isinstance(seeds, int):
        return [seeds]
    if isinstance(seeds, str):
        text = seeds.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        parts = [t.strip() for t in text.split(",") if t.strip()]
        if not parts or not all(t.lstrip("-").isdigit() for t in parts):
            raise bad()
        return [int(t) for t in parts]
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(s, int) and not isinstance(s, bool)
                                                          for s in seeds):
        return list(seeds)
    raise bad()


def setup(profile: str = "demo", device: str = "auto", seeds: Any = None, force: bool = False,
          results_dir: str | None = None, figures_dir: str | None = None, data_dir: str | None = None) -> Context:
    """Check the notebook's parameters and resolve the output folders of the profile."""
    reject_undeclared()
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is not known; allowed: "
                          f"{'; '.join(f'{p} ({PROFILE_HELP.get(p, p)})' for p in PROFILES)}")
    return Context(profile=profile, device=device, seeds=parse_seeds(seeds),
                   force=bool(force),
                   results_dir=Path(results_dir) if results_dir else default_results_dir(profile),
                   figures_dir=Path(figures_dir) if figures_dir else default_figures_dir(profile),
                   data_dir=Path(data_dir) if data_dir else None)

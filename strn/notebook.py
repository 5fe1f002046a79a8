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

from . import claims as claims_mod
from . import experiments, plots
from .config import PROFILES, ConfigError
from .paths import default_figures_dir, default_results_dir

NOTEBOOK_PARAMETERS = ("profile", "device", "seeds", "force", "results_dir", "figures_dir", "data_dir")


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

    def claims(self, key: str, records: list[dict[str, Any]]):
        return claims_mod.verdict_frame(claims_mod.judge(key, records))

    def save(self, fig, name: str) -> list[Path]:
        return plots.save_figure(fig, self.figures_dir, name)


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
        raise ConfigError(f"profile {profile!r} is not known; allowed: {', '.join(PROFILES)}")
    return Context(profile=profile, device=device, seeds=parse_seeds(seeds),
                   force=bool(force),
                   results_dir=Path(results_dir) if results_dir else default_results_dir(profile),
                   figures_dir=Path(figures_dir) if figures_dir else default_figures_dir(profile),
                   data_dir=Path(data_dir) if data_dir else None)

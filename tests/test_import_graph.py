"""The shape of `strn/`: no import cycle (module-level and function-level imports alike,
read from the AST), lower layers never import higher ones, and no file over 400 lines."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "strn"
MAX_LINES = 400
# The layers, bottom to top: a module may import its own layer and those below it. The bottom is
# the top-level modules every layer reads (configuration, paths, digests, profiles, progress, the
# results files, storage checks); `strn.cli` and the package root sit on top.
LAYERS = ("bottom", "data", "model", "train", "study", "report", "cli")
TOP_LEVEL = {"strn.config", "strn.digest", "strn.paths", "strn.profiles", "strn.progress", "strn.results",
             "strn.storage"}
# Leaf modules of a higher package that the bottom's `strn.config` reads to validate a
# configuration (the canonical block names; a synthetic set's lengths). They may import only the
# bottom layer themselves (checked below), so reading them pulls nothing above it in.
READ_BY_CONFIG = {"strn.model.positions", "strn.data.synth"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The strn modules ``name`` imports anywhere in its file (a package import counts as its __init__)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base[:len(base) - node.level + 1]
                mod = ".".join(pkg + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from .pkg import mod` depends on the submodule; `from .mod import name` on the module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t in known and t != name:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_finder_sees_a_cycle_and_function_level_imports(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from .y import z\n")
    assert _imports("strn.x", p, {"strn.x", "strn.y"}) == {"strn.y"}
    p.write_text("from . import y\n")
    assert _imports("strn.x", p, {"strn", "strn.x", "strn.y"}) == {"strn.y"}


def layer(module: str) -> str:
    """The layer of a module of strn/, by its package (`strn.train.run` -> "train")."""
    parts = module.split(".")
    if module in TOP_LEVEL:
        return "bottom"
    if module == "strn" or parts[1] == "cli":
        return "cli"
    assert parts[1] in LAYERS, f"{module}: a new top-level module or package needs a place in LAYERS (tests/test_import_graph.py)"
    return parts[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer, as "a (layer) -> b (layer)"."""
    out = []
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if LAYERS.index(layer(d)) <= LAYERS.index(layer(m)):
                continue
            if m == "strn.config" and d in READ_BY_CONFIG:
                continue
            out.append(f"{m} ({layer(m)}) -> {d} ({layer(d)})")
    return out


def test_layer_finder_sees_an_upward_import():
    assert upward_imports({"strn.data.x": {"strn.train.run"}, "strn.train.run": {"strn.data.x"}}) == [
        "strn.data.x (data) -> strn.train.run (train)"]
    assert upward_imports({"strn.report.page": {"strn.study.claims", "strn.config"}, "strn.cli": {"strn.report.page"}}) == []
    assert upward_imports({"strn.config": {"strn.model.positions"}}) == []
    assert upward_imports({"strn.config": {"strn.model.strn"}}) == ["strn.config (bottom) -> strn.model.strn (model)"]


def test_lower_layers_never_import_higher_ones():
    """data -> model -> train -> study -> report -> cli, over config/paths/digest/profiles/progress/
    results/storage at the bottom (each subpackage's __init__ docstring says what it may import)."""
    bad = upward_imports(import_graph())
    assert not bad, "a lower layer imports a higher one (move the shared piece down, or the caller up):\n" + "\n".join(bad)


def test_what_config_reads_above_the_bottom_imports_only_the_bottom():
    graph = import_graph()
    for m in READ_BY_CONFIG:
        assert {layer(d) for d in graph[m]} <= {"bottom"}, f"{m} imports {sorted(graph[m])}: strn.config may not read it"


def test_each_subpackage_says_what_it_holds_and_may_import():
    for pkg in LAYERS[1:-1]:
        doc = ast.get_docstring(ast.parse((PKG / pkg / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"strn/{pkg}/__init__.py: say what the package holds and what it may import"


def test_the_top_level_stays_small():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 10, f"strn/ has {len(top)} top-level modules ({', '.join(top)}): put new ones in a layer's package"
    assert {f"strn.{p[:-3]}" for p in top} - {"strn.__init__", "strn.cli"} <= TOP_LEVEL


def test_no_import_cycle_in_strn():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle in strn/: {' -> '.join(cycle)}; move the shared piece into a module both can import"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG.parent)))
def test_no_file_over_400_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PKG.parent)} has {n} lines (at most {MAX_LINES}); split it by job"

"""The README's results table, generated from the stored results (never typed).

One line per claim: what the thesis says, then per profile folder that holds results (demo,
gpu) the verdict word with its robustness flags beside it. ``python -m strn.report.readme_table
[README.md]`` rewrites the block between the two markers; `tests/test_readme.py` checks that
the committed README holds what the committed results give.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ..paths import REPO_ROOT

BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
PROFILES = ("demo", "gpu")  # the committed result folders, in the order the table shows them
FLAGS = (("converged", "not converged"), ("leave one seed out", "rests on every seed"),
         ("schedule-length control", "changes with a longer schedule"))


def _short(text: str) -> str:
    """The claim without its parenthesised detail (the report has it whole)."""
    return re.sub(r"\s*\([^()]*(\([^()]*\)[^()]*)*\)", "", str(text)).strip()


def _cell(line: dict[str, Any] | None) -> str:
    if line is None:
        return "not run"
    flags = [what for col, what in FLAGS if str(line.get(col, "")).strip() == "no"]
    if "missing runs" in str(line.get("decided by", "")):  # a row the claim compares was not run there
        flags.insert(0, "rows not run")
    return f"**{line['verdict']}**" + (f" ({'; '.join(flags)})" if flags else "")


def claims_rows(results_root: Path, profiles: Sequence[str] = PROFILES) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows from ``results_root/<profile>/`` (folders without results: left out)."""
    from .build import summary  # local: pandas and the experiments load only when the table is made
    from ..results import load_results

    frames = {p: summary(results_root / p)[1] for p in profiles
              if (results_root / p).is_dir() and load_results(results_root / p)}
    lines = {p: {int(r["claim"]): r for r in f.to_dict("records")} for p, f in frames.items()}
    ids = sorted({c for by_claim in lines.values() for c in by_claim})
    header = ["claim", "the thesis says", *frames]
    rows = []
    for c in ids:
        first = next(by_claim[c] for by_claim in lines.values() if c in by_claim)
        rows.append([str(c), _short(first["thesis says"]), *(_cell(lines[p].get(c)) for p in frames)])
    return header, rows


def markdown(results_root: Path | None = None) -> str:
    header, rows = claims_rows(Path(results_root or REPO_ROOT / "results"))
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


def demo_time(results_root: Path | None = None) -> str:
    """The demo's time as `strn report` wrote it (``summaries/timing.json``): the same number
    the report and summary.md quote, without the commit (the README names none)."""
    from .timing import minutes, read_timing

    t = read_timing(Path(results_root or REPO_ROOT / "results") / "demo")
    if "from_empty_s" in t:
        return (f"The demo from an empty results folder: {minutes(t['from_empty_s'])} "
                f"({t.get('trained_runs', '?')} training runs) on {t.get('cores', '?')} CPU core(s).")
    return ("The demo has not been timed from an empty results folder with the current code yet"
            + (f"; re-rendering it over the stored runs takes {minutes(t['last_render_s'])}." if "last_render_s" in t
               else "."))


def block(results_root: Path | None = None) -> str:
    return f"{BEGIN}\n{markdown(results_root)}\n\n{demo_time(results_root)}\n{END}"


def current_block(readme: str) -> str | None:
    m = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), readme, re.S)
    return m.group(0) if m else None


def update(readme_path: Path, results_root: Path | None = None) -> bool:
    """Rewrite the README's table; True when it changed. A README without the markers is an error."""
    text = readme_path.read_text()
    old = current_block(text)
    if old is None:
        raise ValueError(f"{readme_path} has no {BEGIN} ... {END} block: add the two markers where the table goes")
    new = block(results_root)
    if new != old:
        readme_path.write_text(text.replace(old, new))
    return new != old


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "README.md"
    print(f"{path}: {'rewritten' if update(path) else 'already up to date'}")

"""The README speaks to users: short, its results table generated from the committed results,
no commit hashes or issue numbers (history lives in docs/)."""
import re
from pathlib import Path

import pytest

from strn.report import readme_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_is_short():
    assert len(README.splitlines()) <= 150


def test_readme_table_is_what_the_committed_results_give():
    assert readme_table.current_block(README) == readme_table.block(ROOT / "results")


def test_readme_names_no_commit_or_issue():
    assert not re.search(r"\b[0-9a-f]{7,40}\b", README), "a commit hash in the README"
    assert not re.search(r"\bissue\s*#?\d+", README, re.I), "an issue number in the README"


def test_update_needs_the_markers(tmp_path):
    p = tmp_path / "README.md"
    p.write_text("no table here\n")
    with pytest.raises(ValueError, match="results-table:begin"):
        readme_table.update(p, ROOT / "results")


def test_update_rewrites_only_the_block(tmp_path):
    p = tmp_path / "README.md"
    p.write_text(f"intro\n{readme_table.BEGIN}\nSTALE-TABLE\n{readme_table.END}\nrest\n")
    assert readme_table.update(p, ROOT / "results")
    text = p.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "STALE-TABLE" not in text
    assert "| claim | the thesis says | demo |" in text
    assert not readme_table.update(p, ROOT / "results")  # idempotent

"""`make lab` leaves `git status` clean: the git filter it installs (nbstripout --keep-id)
leaves every committed notebook byte for byte as it is, and every notebook declares the
kernel Lab, papermill and `strn report` all use. It sets that filter once, only where none is
set, and says what it did; the notebooks' parameter help names every profile."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from strn.config import PROFILES
from strn.report.notebook import PROFILE_HELP

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_makefile_installs_the_filter_with_keep_id():
    make = (ROOT / "Makefile").read_text()
    assert 'NBSTRIPOUT := "$(abspath $(BIN))/python" -m nbstripout --keep-id' in make
    assert "git config filter.nbstripout.clean '$(NBSTRIPOUT)'" in make and "ipykernel install" not in make
    assert "$(LAB_STAMP):" in make


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbstripout_filter_leaves_the_notebook_unchanged(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", str(copy)], check=True)
    assert copy.read_bytes() == path.read_bytes()
    assert nbformat.read(path, as_version=4).metadata["kernelspec"]["name"] == "python3"


def _lab_git(repo: Path) -> str:
    """`make lab`'s git step in ``repo`` (Lab itself is not started); what it printed."""
    bindir = Path(sys.executable).parent
    out = subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "lab-git", f"BIN={bindir}"], cwd=repo,
                         capture_output=True, text=True, check=True)
    return out.stdout


def _git_state(repo: Path) -> tuple[bytes, bytes]:
    info = repo / ".git" / "info" / "attributes"
    return (repo / ".git" / "config").read_bytes(), info.read_bytes() if info.exists() else b""


@pytest.mark.skipif(not shutil.which("make") or not shutil.which("git"), reason="needs make and git")
def test_make_lab_sets_the_git_filter_once_and_says_so(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    first = _lab_git(tmp_path)
    assert "set the git filter nbstripout (--keep-id)" in first
    clean = subprocess.run(["git", "config", "--get", "filter.nbstripout.clean"], cwd=tmp_path, capture_output=True,
                           text=True, check=True).stdout
    assert clean.strip().endswith("-m nbstripout --keep-id")
    assert b"*.ipynb filter=nbstripout" in _git_state(tmp_path)[1]
    state = _git_state(tmp_path)
    second = _lab_git(tmp_path)
    assert "already set" in second and "left as it is" in second
    assert _git_state(tmp_path) == state  # the second call touched nothing


@pytest.mark.skipif(not shutil.which("make") or not shutil.which("git"), reason="needs make and git")
def test_make_lab_leaves_a_users_own_filter_alone(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "config", "filter.nbstripout.clean", "my-own-cleaner"], cwd=tmp_path, check=True)
    state = _git_state(tmp_path)
    assert "already set in this clone (my-own-cleaner)" in _lab_git(tmp_path)
    assert _git_state(tmp_path) == state


def _profile_comment(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return next(line for line in cell.source.splitlines() if line.startswith("profile"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_profile_parameter_help_names_every_profile(path):
    comment = _profile_comment(path)
    named = set(re.findall(r'"(\w+)" \(', comment.split("#", 1)[1]))
    assert named == set(PROFILES), f"{path.name}: the profile comment names {sorted(named)}, not {sorted(PROFILES)}"
    for name, help_text in PROFILE_HELP.items():
        assert f'"{name}" ({help_text})' in comment
    assert set(PROFILE_HELP) == set(PROFILES)

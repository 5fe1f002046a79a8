"""`make lab` leaves `git status` clean: the git filter it installs (nbstripout --keep-id)
leaves every committed notebook byte for byte as it is, and every notebook declares the
kernel Lab, papermill and `strn report` all use."""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_makefile_installs_the_filter_with_keep_id():
    make = (ROOT / "Makefile").read_text()
    assert "nbstripout --keep-id'" in make and "ipykernel install" not in make
    assert "$(LAB_STAMP):" in make


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbstripout_filter_leaves_the_notebook_unchanged(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", str(copy)], check=True)
    assert copy.read_bytes() == path.read_bytes()
    assert nbformat.read(path, as_version=4).metadata["kernelspec"]["name"] == "python3"

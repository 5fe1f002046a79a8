"""Suite-wide fixtures: what many tests would otherwise make again each (docs/TESTING.md).

* The smoke profile's stand-in for ImageNet (`strn.train.pretrain`) is a deterministic function of
  its spec: it is pretrained once per test session, in a folder shared by every xdist worker,
  every subprocess and every notebook kernel (``$STRN_STAND_IN_CACHE``), and copied into each
  test's own data folder from there. A test about making the stand-in itself is marked
  ``fresh_stand_in``: it trains its own, as outside the suite.
* A test that names no data folder gets a session folder (``$STRN_DATA_DIR``, unless set), not
  the repository's ``data/``: with tests side by side (xdist), a file written there while the
  notebooks run would fail their check that they write nowhere else.
"""
import os
from pathlib import Path

import pytest
import torch

from strn.paths import REPO_ROOT, usable_cores
from strn.train.pretrain import SHARED_ENV

REPO_DATA = REPO_ROOT / "data"


def _listing(folder: Path) -> set[str]:
    """Two levels of a folder (cheap even over a big data set): enough to see a dataset or cache appear."""
    return {str(p.relative_to(folder)) for pattern in ("*", "*/*") for p in folder.glob(pattern)}


def pytest_configure(config):
    """Under xdist, the cores shared out between the workers: torch's intra-op threads spin while
    they wait, so two workers of two threads each on two cores ran some smoke runs tens of times
    slower (05_5's rate-5 run: 240 s, 2.6 s alone). Kernels and subprocesses inherit the count."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        threads = max(1, usable_cores() // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def _shared_root(tmp_path_factory, worker_id: str):
    """A folder all xdist workers of this session see (the parent of their own base folders)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session", autouse=True)
def shared_stand_in(tmp_path_factory, request):
    worker = getattr(request.config, "workerinput", {}).get("workerid", "master")
    folder = _shared_root(tmp_path_factory, worker) / "stand_in"
    folder.mkdir(parents=True, exist_ok=True)
    mp = pytest.MonkeyPatch()
    mp.setenv(SHARED_ENV, str(folder))
    if not os.environ.get("STRN_DATA_DIR"):  # a test that names no data folder writes none into the repository
        mp.setenv("STRN_DATA_DIR", str(folder.parent / "data"))
    yield folder
    mp.undo()


@pytest.fixture(autouse=True)
def _fresh_stand_in(request, monkeypatch):
    if request.node.get_closest_marker("fresh_stand_in"):
        monkeypatch.delenv(SHARED_ENV, raising=False)



@pytest.fixture(autouse=True)
def _repository_data_untouched(request):
    """Fails the test during which something appeared in the repository's ``data/``. Under xdist the
    writer may be the test running on the other worker: its name is in the message's timing."""
    before = _listing(REPO_DATA)
    yield
    new = _listing(REPO_DATA) - before
    assert not new, (f"{request.node.nodeid} (or a test beside it under xdist) wrote into {REPO_DATA}: "
                     f"{sorted(new)[:6]}; tests write into tmp_path or $STRN_DATA_DIR")

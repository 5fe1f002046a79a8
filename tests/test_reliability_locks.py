"""One writer for shared preparation: a second process waits and reuses what the first made;
a damaged synthetic set is found by its marker's file digests and written again."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from strn.train.preempt import PREEMPT_EXIT
from strn.data.synth_files import MARKER, ensure_synthetic

ROOT = str(Path(__file__).resolve().parent.parent)

ENSURE = "import sys; sys.path.insert(0, {root!r}); from strn.data.synth_files import ensure_synthetic; " \
         "ensure_synthetic('smoke', {data!r})"


def _ensure_in_new_process(data):  # a fresh process: no digest verified earlier in this one
    out = subprocess.run([sys.executable, "-c", ENSURE.format(root=ROOT, data=str(data))], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_damaged_synthetic_set_is_written_again(tmp_path):
    root = ensure_synthetic("smoke", tmp_path)
    marker = json.loads((root / MARKER).read_text())
    videos = sorted(root.rglob("*.avi"))
    assert set(marker["files"]) >= {v.relative_to(root).as_posix() for v in videos}
    good = videos[0].read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # same size, other content
    videos[0].write_bytes(bytes(damaged))
    videos[1].write_bytes(videos[1].read_bytes()[:100])  # cut short
    _ensure_in_new_process(tmp_path)
    assert videos[0].read_bytes() == good  # the generator is deterministic: the same file again
    assert json.loads((root / MARKER).read_text())["files"] == marker["files"]


def test_an_older_marker_is_given_its_file_list_without_rewriting_the_set(tmp_path):
    root = ensure_synthetic("smoke", tmp_path)
    marker = json.loads((root / MARKER).read_text())
    files = marker.pop("files")
    (root / MARKER).write_text(json.dumps(marker, indent=1))  # as older code wrote it
    before = {p: p.stat().st_ino for p in root.rglob("*.avi")}
    _ensure_in_new_process(tmp_path)
    assert {p: p.stat().st_ino for p in root.rglob("*.avi")} == before  # not one video written again
    assert json.loads((root / MARKER).read_text())["files"] == files
    _ensure_in_new_process(tmp_path)
    assert {p: p.stat().st_ino for p in root.rglob("*.avi")} == before


CACHED = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, {root!r})
    from strn.results import cached
    def compute():
        with open({count!r}, "a") as f:
            f.write("x")
        time.sleep(3)
        return {{"v": 1}}
    cached({path!r}, "k", compute)
''')


def test_two_processes_preparing_one_cached_file_compute_it_once(tmp_path):
    """The stand-in, the features and the finetuned backbones go through `strn.results.cached`:
    before its lock, two runs on a fresh data folder both pretrained (157 s each on the demo)."""
    code = CACHED.format(root=ROOT, count=str(tmp_path / "count"), path=str(tmp_path / "w.pt"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    assert (tmp_path / "count").read_text() == "x"


STAND_IN = textwrap.dedent('''
    import sys, time, torch
    sys.path.insert(0, {root!r})
    import strn.train.pretrain
    def pretraining(spec, device="cpu", progress=None):  # counted, and slow enough for the other to arrive
        with open({count!r}, "a") as f:
            f.write("x")
        time.sleep(3)
        return torch.nn.Linear(1, 1), {{}}
    strn.train.pretrain.train_on_stills = pretraining
    strn.train.pretrain.pretrained_backbone("smoke", {data!r})
''')


@pytest.mark.fresh_stand_in  # counts its own (stubbed) pretraining: no shared stand-in
def test_two_processes_asking_for_the_stand_in_pretrain_it_once(tmp_path):
    """`pretrained_backbone` itself (its pretraining stubbed): two runs on a fresh data folder
    pretrained twice before the lock (157 s each on the demo)."""
    code = STAND_IN.format(root=ROOT, count=str(tmp_path / "count"), data=str(tmp_path / "data"))
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    assert (tmp_path / "count").read_text() == "x"
    assert len(list((tmp_path / "data").rglob("stills-*.pt"))) == 1


FILL = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    import strn.data.cache as cache
    decode_one = cache._fill_one
    def counted(*a):  # every video decoded into the cache, whichever process does it
        with open({count!r}, "a") as f:
            f.write("x")
        time.sleep(0.05)
        return decode_one(*a)
    cache._fill_one = counted
    cache.FrameCache({cache!r}).fill(sorted(Path({videos!r}).rglob("*.avi")), 10, 32, workers=0, progress=False)
''')


def test_two_processes_filling_one_frame_cache_decode_each_video_once(tmp_path):
    """As a smoke run does (no loader workers): the second filler waits, then finds every entry made."""
    root = ensure_synthetic("smoke", tmp_path / "data")
    n = len(list(root.rglob("*.avi")))
    code = FILL.format(root=ROOT, count=str(tmp_path / "count"), cache=str(tmp_path / "cache"), videos=str(root))
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    assert len((tmp_path / "count").read_text()) == n


def test_two_concurrent_runs_of_one_configuration_train_it_once(tmp_path):
    """Two `strn run` of one configuration on one fresh data and results folder: one trains,
    the other waits for its lock and reads the stored record back; the run's epoch log has each
    epoch once (before: both trained and both appended epoch 1). Each stops once its first run
    is stored or read back (tests/_sigterm_cli.py), so the control run is not trained; scratch
    weights: the stand-in has its own test above."""
    env = {**os.environ, "PYTHONPATH": ROOT, "STRN_QUIET": "1"}
    cmd = [sys.executable, str(Path(ROOT) / "tests" / "_sigterm_cli.py"), "between", "run",
           "05_3_learning_algorithms", "--profile", "smoke", "--rows", "adam-1pct", "--seeds", "0", "--set",
           "model.weights=scratch", "--results-dir", str(tmp_path / "results"), "--data-dir", str(tmp_path / "data")]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [PREEMPT_EXIT] * 2, [o[1][-1500:] for o in outs]
    assert all("between runs" in err for _, err in outs)
    (log,) = [p for p in (tmp_path / "results").rglob("adam-1pct__*.epochs.csv") if "control" not in p.name]
    (path,) = [p for p in (tmp_path / "results").rglob("adam-1pct__*seed0.json")]
    rows = [line for line in log.read_text().splitlines()[1:] if line.strip()]
    assert len(rows) == json.loads(path.read_text())["config"]["train"]["epochs"], rows  # not one row per process

"""One writer for shared preparation: a second process waits and reuses what the first made;
a damaged synthetic set is found by its marker's file digests and written again."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from strn.synth_files import MARKER, ensure_synthetic

ROOT = str(Path(__file__).resolve().parent.parent)

ENSURE = "import sys; sys.path.insert(0, {root!r}); from strn.synth_files import ensure_synthetic; " \
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


def test_two_concurrent_runs_of_one_configuration_train_it_once(tmp_path):
    """Two `strn run` of the same configuration on one fresh data and results folder: one trains
    (the stand-in, the caches and the run itself each made once), the other waits for its lock
    and reads the stored result back; the per-run epoch log has each epoch once."""
    env = {**__import__("os").environ, "PYTHONPATH": ROOT, "STRN_QUIET": "1"}
    cmd = [sys.executable, "-m", "strn.cli", "run", "05_3_learning_algorithms", "--profile", "smoke",
           "--rows", "adam-1pct", "--seeds", "0", "--results-dir", str(tmp_path / "results"),
           "--data-dir", str(tmp_path / "data")]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1500:] for o in outs]
    records = sorted((tmp_path / "results").glob("05_3_learning_algorithms/*.json"))
    assert "adam-1pct__seed0.json" in [r.name for r in records]
    for r in records:  # the row and, where the profile trains it, its schedule-length control
        rec = json.loads(r.read_text())
        ckpts = list((tmp_path / "results" / "checkpoints").rglob(f"{r.stem}__{rec['config_hash']}.epochs.csv"))
        assert len(ckpts) == 1, r.name
        rows = [line for line in ckpts[0].read_text().splitlines()[1:] if line.strip()]
        assert len(rows) == rec["config"]["train"]["epochs"], (r.name, rows)  # not one row per process
    assert len(list((tmp_path / "data").rglob("stills-*.pt"))) == 1  # one stand-in

"""Every notebook runs top to bottom under papermill with profile="smoke" and writes its
results and figures where it is told, and nowhere else."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from strn.report import build as report, notebook_runs
from strn.study.parallel import default_jobs
from strn.report.notebook import NOTEBOOK_PARAMETERS
from strn.results import REQUIRED_KEYS, REQUIRED_METRICS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))
NUMBERED = notebook_runs.numbered_notebooks()
SUMMARY_ONLY = {"03_technical_details", "04_architecture", "05_1_dataset"}


def _repo_files() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return {line[3:] for line in out.splitlines() if "__pycache__" not in line and ".pytest_cache" not in line}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_source_notebooks_are_clean_and_parameterized(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "commit without outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    declared = set(pm.inspect_notebook(str(path)))
    assert set(NOTEBOOK_PARAMETERS) <= declared
    assert not any("def " in c.source or "class " in c.source for c in code), "logic lives in strn/, not notebooks"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Each numbered notebook executed once with profile smoke, outputs in a temp folder;
    progress as `strn report` sets it (one plain line per epoch: checked below)."""
    tmp = tmp_path_factory.mktemp("smoke")
    data, results, figures = tmp / "data", tmp / "results", tmp / "figures"
    mp = pytest.MonkeyPatch()
    mp.setenv("STRN_DATA_DIR", str(data))
    mp.delenv("STRN_QUIET", raising=False)
    mp.setenv("STRN_PROGRESS", "log")
    before = _repo_files()
    executed = {}
    for src in NUMBERED:
        dst = tmp / "executed" / src.name
        notebook_runs.execute(src, dst, {"profile": "smoke", "results_dir": str(results), "figures_dir": str(figures)})
        executed[src.stem] = dst
    after = _repo_files()
    yield {"tmp": tmp, "results": results, "figures": figures, "executed": executed, "new_files": after - before}
    mp.undo()


def test_notebooks_write_only_into_the_given_folders(smoke_run):
    assert smoke_run["new_files"] == set()


@pytest.mark.parametrize("stem", [p.stem for p in NUMBERED])
def test_notebook_results_and_figures(smoke_run, stem):
    results = sorted((smoke_run["results"] / stem).glob("*.json"))
    summary = smoke_run["results"] / "summaries" / f"{stem}.json"
    if stem in SUMMARY_ONLY:  # computes numbers but trains nothing: one summary file
        data = json.loads(summary.read_text())
        assert data["profile"] == "smoke" and data["experiment"] == stem and "env" in data
    else:
        assert results, f"{stem} wrote no results JSON"
    for p in results:
        rec = json.loads(p.read_text())
        assert set(REQUIRED_KEYS) <= set(rec)
        assert set(REQUIRED_METRICS) <= set(rec["metrics"])
        assert rec["profile"] == "smoke" and rec["experiment"] == stem
        assert 0.0 <= rec["metrics"]["error_rate"] <= 1.0
        assert rec["metrics"]["error_rate"] == pytest.approx(1 - rec["metrics"]["accuracy"])
        assert rec["cost"]["train_frames_per_s"] > 0
    figs = sorted(smoke_run["figures"].glob(f"{stem}*.png"))
    assert figs, f"{stem} saved no figure"
    for f in figs:
        assert f.with_suffix(".pdf").exists()
        assert f.stat().st_size > 1000
    nb = nbformat.read(smoke_run["executed"][stem], as_version=4)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def test_rerun_reads_results_back_instead_of_training(smoke_run, tmp_path):
    src = NUMBERED[-1]
    stored = {p: p.stat().st_mtime_ns for p in (smoke_run["results"] / src.stem).glob("*.json")}
    notebook_runs.execute(src, tmp_path / "again.ipynb", {"profile": "smoke", "results_dir": str(smoke_run["results"]),
                                                   "figures_dir": str(tmp_path / "fig")})
    assert stored and {p: p.stat().st_mtime_ns for p in stored} == stored


def test_master_builds_the_report_from_stored_results(smoke_run, capfd):
    """`strn report` over stored runs: one line per phase and a final line with the report's path,
    the verdict counts and the time; none of the kernels' warnings or bars."""
    from strn import cli

    capfd.readouterr()
    assert cli.main(["report", "--profile", "smoke", "--results-dir", str(smoke_run["results"]),
                     "--figures-dir", str(smoke_run["figures"])]) == 0
    seen = capfd.readouterr()
    lines = seen.out.strip().splitlines()
    phases = ["[1/4] data: ", "[2/4] training: ", "[3/4] notebooks: ", "[4/4] report: "]
    assert len(lines) >= 4 and all(line.startswith(p) for line, p in zip(lines, phases)), seen.out
    assert f"[3/4] notebooks: {len(NUMBERED)} of {len(NUMBERED)} ok" in lines[2]
    assert "0 run(s) trained" in lines[1]
    html = smoke_run["results"] / "report.html"
    counts = report.verdict_counts(smoke_run["results"])
    assert len(lines) == 5 and lines[4].startswith("done in ") and str(html) in lines[4]
    assert f"The {sum(counts.values())} claims: " in lines[4] and all(f"{n} {w}" in lines[4] for w, n in counts.items())
    for noise in ("IPKernelApp", "KeyboardInterrupt", "%|", "Executing"):
        assert noise not in seen.out + seen.err
    assert "IPKernelApp" in (smoke_run["results"] / "executed" / "strn_report.log").read_text()
    text = html.read_text()
    assert "reproduced mean ± std" in text and "0.197" in text  # the thesis's Table 5.3 beside ours
    assert "reproduced" in text and "not run" not in text
    assert text.count("data:image/png;base64") >= len(list(smoke_run["figures"].glob("*.png")))  # every figure
    timing = json.loads((smoke_run["results"] / "summaries" / "timing.json").read_text())
    assert "from_empty_s" not in timing and timing["last_render_s"] > 0  # the runs were stored before
    summary = (smoke_run["results"] / "summary.md").read_text()
    assert "Results of profile `smoke`" in summary and "| 5.3 | ADAM / 1% | 0.197 |" in summary
    assert "05_3_learning_algorithms | ok |" in summary and "The latest `strn report`" in summary
    master = nbformat.read(smoke_run["results"] / "executed" / "00_master.ipynb", as_version=4)
    assert not any(o.get("output_type") == "error" for c in master.cells for o in c.get("outputs", []))
    for src in NUMBERED:
        assert (smoke_run["results"] / "executed" / src.name).exists()
    # every run was stored, so the notebooks were executed side by side, one per core
    injected = next(c.source for c in master.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert f"jobs = {default_jobs()}" in injected


def test_notebooks_side_by_side_keep_their_order_and_report_failures(smoke_run, tmp_path):
    stems = ["04_architecture", "05_1_dataset"]
    kw = dict(results_dir=smoke_run["results"], figures_dir=tmp_path / "fig", notebooks=stems, jobs=2)
    runs = notebook_runs.run_notebooks("smoke", **kw)
    assert [r["notebook"] for r in runs] == stems and [r["status"] for r in runs] == ["ok", "ok"]
    assert notebook_runs.at_a_time(runs) == 2 and notebook_runs.wall_seconds(runs) < sum(r["seconds"] for r in runs)
    bad = notebook_runs.run_notebooks("smoke", seeds="x", **kw)  # every notebook rejects the seeds
    assert [r["notebook"] for r in bad] == stems and [r["status"] for r in bad] == ["failed", "failed"]
    assert all("seeds='x' is not understood" in r["error"] for r in bad)


def test_wall_time_and_concurrency_of_notebook_rows():
    rows = [{"seconds": 10, "started": 0, "ended": 10}, {"seconds": 8, "started": 0.1, "ended": 8.1},
            {"seconds": 5, "started": 8.1, "ended": 13.1}, {"seconds": 3, "started": 10, "ended": 13}]
    assert notebook_runs.wall_seconds(rows) == pytest.approx(13.1) and notebook_runs.at_a_time(rows) == 2
    one_by_one = [{"seconds": 4, "started": 0, "ended": 4}, {"seconds": 5, "started": 4, "ended": 9}]
    assert notebook_runs.wall_seconds(one_by_one) == 9 and notebook_runs.at_a_time(one_by_one) == 1
    # rows of an older execution carry no start and end: their sum, one at a time
    assert notebook_runs.wall_seconds([{"seconds": 1}, {"seconds": 2}]) == 3 and notebook_runs.at_a_time([{"seconds": 1}]) == 1


def test_undeclared_parameter_is_rejected_by_the_executor(tmp_path):
    with pytest.raises(ValueError, match="does not declare parameter.*epochs"):
        notebook_runs.execute(NUMBERED[0], tmp_path / "x.ipynb", {"profile": "smoke", "epochs": 3})


def test_undeclared_parameter_is_rejected_under_plain_papermill(tmp_path):
    """`papermill ... -p epochs 3` only warns in papermill itself; the notebook refuses it."""
    proc = subprocess.run([sys.executable, "-m", "papermill", str(NUMBERED[0]), str(tmp_path / "x.ipynb"),
                           "-p", "profile", "smoke", "-p", "epochs", "3", "-p", "results_dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"})
    assert proc.returncode != 0
    assert "UndeclaredParameterError" in proc.stderr + proc.stdout and "epochs" in proc.stderr + proc.stdout


def _chromium():
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_page_in_headless_chromium(smoke_run, tmp_path):
    """The report as a reader's browser renders it: no traceback or warning; the answer first
    (what was run, the claims with their words defined), every experiment's table with its
    verdicts, every figure; how it was made at the end; readable at a phone's width."""
    import html as html_mod
    import re

    from strn.study import experiments

    chromium = _chromium()
    if not chromium:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    page = smoke_run["results"] / "report.html"
    if not page.exists():
        report.build_report("smoke", results_dir=smoke_run["results"], figures_dir=smoke_run["figures"])
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    text = html_mod.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)[^>]*>.*?</\1>", "", dom, flags=re.S)))
    assert "Traceback" not in text and "WARNING" not in text and "Warning" not in text
    order = [text.index(s) for s in ("were rerun as", "The thesis's claims, judged", "not reproduced:",
                                     "How this page was made", "How long it took")]
    assert order == sorted(order)
    keys = [k for k in experiments.EXPERIMENTS if (smoke_run["results"] / k).exists()]
    assert dom.count('<section class="experiment" id=') == len(keys)
    assert dom.count('<table class="claims">') == 1 and dom.count('class="verdict ') >= 5
    pngs = list(smoke_run["figures"].glob("*.png"))
    for p in pngs:
        assert f'alt="{p.stem}"' in dom, f"{p.name} is not in the report"
    assert "…" not in text  # no evidence cut short
    for size in ("1400,1000", "400,900"):
        shot = tmp_path / f"report_{size.split(',')[0]}.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={size}",
                        f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 10_000


def test_executed_notebook_has_few_stream_outputs(smoke_run):
    """Progress under papermill is one plain line per epoch, not one output per bar refresh
    (05_3 trained every run it shows in `smoke_run`, with STRN_PROGRESS=log)."""
    dst = smoke_run["executed"]["05_3_learning_algorithms"]
    nb = nbformat.read(dst, as_version=4)
    streams = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    text = "".join(o.get("text", "") for o in streams)
    # at most one line per epoch trained (the rows and their schedule-length controls), not one per refresh
    epochs = sum(json.loads(p.read_text())["config"]["train"]["epochs"]
                 for p in (smoke_run["results"]).glob("05_3_learning_algorithms/*.json"))
    assert 0 < len(streams) <= epochs, (len(streams), epochs)
    assert "epoch 1/" in text and "IProgress" not in text

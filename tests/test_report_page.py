"""The report page leads with the answer (what was run on what data, the claims with their words
defined, the central figure), renders whatever columns the verdicts come with, and its main
command is quiet: one line per phase, the kernels' and workers' noise in a log file."""
import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from strn.report import build as report, notebook_runs, timing  # noqa: E402
from strn.report import page as report_page  # noqa: E402
from strn.study import claims  # noqa: E402
from strn.report.plots import draw, figure_problems  # noqa: E402
from strn.report.plots.central import per_seed  # noqa: E402
from strn.results import load_results  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "results" / "demo"
FIGURES = Path(__file__).resolve().parent.parent / "figures" / "demo"
needs_demo = pytest.mark.skipif(not (DEMO / "05_7_splits_and_sota").exists(), reason="no committed demo results")


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)))


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    figures = tmp_path_factory.mktemp("figures")  # the central figure is saved here, not in figures/demo
    if FIGURES.exists():
        for p in FIGURES.glob("*.png"):
            shutil.copy(p, figures / p.name)
    return report.report_page("demo", DEMO, figures).data, figures


@needs_demo
def test_first_screen_order_answer_first_how_it_was_made_last(demo_page):
    html, figures = demo_page
    text = _text(html)
    where = [text.index(s) for s in ("were rerun as", "The thesis's claims, judged", "inconclusive:",
                                     "The thesis's central comparison", "Table 5.1/5.2:", "Table 5.8:",
                                     "How this page was made", "papermill")]
    assert where == sorted(where)
    lead = text[:text.index("The thesis's claims, judged")]
    assert "synthetic set" in lead and "training runs" in lead and "papermill" not in lead
    assert (figures / "strn_vs_frame_average.png").exists() and (figures / "strn_vs_frame_average.pdf").exists()
    for word in report_page.VERDICT_WORDS:  # every verdict word defined on the page, in one line
        assert re.search(rf"{word}: [^\n]{{10,200}}", text), word


@needs_demo
def test_every_caption_says_what_its_own_figure_shows(demo_page):
    html, _ = demo_page
    captions = [_text(c).rsplit("(", 1)[0].strip() for c in re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)]
    assert len(captions) >= 8
    assert len(set(captions)) == len(captions), "a caption repeats: say what each figure shows"
    assert "Look at the ordering" not in html


def test_claims_table_renders_whatever_columns_the_verdicts_have(monkeypatch):
    frame = pd.DataFrame([
        {"claim": 1, "thesis says": "A beats B.", "thesis numbers": "0.236 vs 0.239",
         "reproduced numbers": "0.549 ± 0.010 vs 0.503 ± 0.047", "verdict": "not testable", "interval": "[-0.1, 0.0]",
         "converged": True, "leave one seed out": "same", "schedule-length control": "same",
         "decided by": "x" * 200, "note": "short"},
        {"claim": 2, "thesis says": "C beats D.", "verdict": "reproduced", "decided by": "y"},
        {"claim": 3, "thesis says": "E.", "verdict": "not reproduced", "decided by": "z"},
        {"claim": 4, "thesis says": "F.", "verdict": "inconclusive", "decided by": "w"}])
    table = report_page.claims_table(frame)
    assert table["columns"] == list(frame.columns)
    verdicts = [c["verdict"] for row in table["rows"] for c, col in zip(row, table["columns"]) if col == "verdict"]
    assert verdicts == ["not-testable", "reproduced", "not-reproduced", "inconclusive"]
    assert [c["long"] for c in table["rows"][0]][table["columns"].index("decided by")]  # opens on demand
    monkeypatch.setattr(claims, "DEFINITIONS", {"interval": "the difference's range.", "reproduced": "theirs."},
                        raising=False)
    defs = dict(report_page.definitions(frame))
    assert defs["interval"] == "the difference's range." and defs["reproduced"] == "theirs."
    assert defs["not testable"] == report_page.DEFINITIONS["not testable"]  # this module's where theirs has none
    css = (Path(report_page.__file__).parent / "templates" / "report.css").read_text()
    assert all(f".verdict.{c}" in css for c in verdicts)


@needs_demo
def test_central_figure_is_readable_and_per_seed():
    from strn.study.experiments import get_experiment

    exp = get_experiment("05_7_splits_and_sota")
    recs = load_results(DEMO, exp.key)
    spec = next(f for f in exp.figures if f.kind == "seed_pairs")
    seeds = per_seed(recs, spec.rows)
    assert len(seeds) == len({r["seed"] for r in recs if r["name"] == "split-1"}) >= 1
    fig = draw(exp, spec, None, recs)
    assert figure_problems(fig) == []
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith("single-frame floor") for label in labels)
    assert sum(label.startswith("seed ") for label in labels) == len(seeds)


NOISY = ("import sys, os; print('[IPKernelApp] WARNING | Kernel is running over TCP without encryption', "
         "file=sys.stderr); print('KeyboardInterrupt caught in kernel.'); print('100%|####| 9/9', file=sys.stderr)")


@pytest.mark.parametrize("quiet", [True, False])
def test_terminal_keeps_child_processes_noise_out_unless_verbose(tmp_path, capfd, quiet):
    log = tmp_path / "log.txt"
    with notebook_runs.terminal(log, quiet=quiet) as out:
        out("[1/4] data: ready")
        subprocess.run([sys.executable, "-c", NOISY], check=True)  # a kernel inherits the descriptors
        print("a library's own line")
    seen = capfd.readouterr()
    both = seen.out + seen.err
    assert "[1/4] data: ready" in seen.out
    assert ("IPKernelApp" in both and "KeyboardInterrupt" in both and "a library's own line" in both) is not quiet
    if quiet:
        assert both.strip() == "[1/4] data: ready"
        assert "IPKernelApp" in log.read_text() and "a library's own line" in log.read_text()


def test_terminal_shows_a_long_phase_before_it_ends(tmp_path, capfd):
    said = []
    with notebook_runs.terminal(tmp_path / "log.txt", quiet=True) as out:
        out("[2/4] training: ", end="")
        said.append(capfd.readouterr().out)  # shown while the phase runs
        out("[2/4] training: 3 run(s) trained")
        out("[3/4] notebooks: 9 of 9 ok")
    said.append(capfd.readouterr().out)
    assert said == ["[2/4] training: ", "3 run(s) trained\n[3/4] notebooks: 9 of 9 ok\n"]
    with notebook_runs.terminal(tmp_path / "log.txt", quiet=False) as out:  # verbose: whole lines
        out("[2/4] training: ", end="")
        out("[2/4] training: 3 run(s) trained")
    assert capfd.readouterr().out == "[2/4] training ...\n[2/4] training: 3 run(s) trained\n"


def test_terminal_says_where_the_output_went_on_an_error(tmp_path, capfd):
    with pytest.raises(RuntimeError):
        with notebook_runs.terminal(tmp_path / "log.txt", quiet=True):
            raise RuntimeError("boom")
    assert f"everything it printed is in {tmp_path / 'log.txt'}" in capfd.readouterr().out


def test_timing_from_empty_is_kept_and_quoted(tmp_path):
    kw = dict(cores=2, device="cpu", commit="abcdef1234567", dirty=False)
    timing.record_build(tmp_path, 1482.0, from_empty=True, trained=114, **kw)
    data = timing.record_build(tmp_path, 85.0, from_empty=False, trained=0, **kw)
    assert data["from_empty_s"] == 1482.0 and data["last_render_s"] == 85.0 and data["cores"] == 2
    assert json.loads(timing.timing_path(tmp_path).read_text()) == data
    text = " ".join(timing.timing_sentences(data))
    assert "24.7 min (1482 s" in text and "114 training runs" in text
    assert "abcdef" not in text and data["commit"] == "abcdef1234567"  # the hash in the file, not the words
    assert "85 s" in text and "training nothing" in text
    assert load_results(tmp_path) == []  # beside the summaries: never read as a run
    assert "has been timed here yet" in timing.timing_sentences({})[0]


@needs_demo
def test_runs_are_counted_once_and_seeds_per_row(tmp_path):
    recs = load_results(DEMO, "05_7_splits_and_sota")
    trained = [r for r in recs if "reused_from" not in r]
    assert len(trained) < len(recs), "05.7 reads rows trained by other experiments back"
    shutil.copytree(DEMO / "05_7_splits_and_sota", tmp_path / "05_7_splits_and_sota")
    assert timing.trained_runs(tmp_path) == len(trained)  # a record read back is not a training run
    lead = report_page.lead_sentence("demo", recs, 9)
    n_split1 = len({r["seed"] for r in recs if r["name"] == "split-1" and not r.get("control")})
    n_frame = len({r["seed"] for r in recs if r["name"] == "frame-average" and not r.get("control")})
    assert n_split1 != n_frame and f"{min(n_split1, n_frame)}–{max(n_split1, n_frame)} seeds per row" in lead
    controls = sum(1 for r in trained if r.get("control"))
    assert f"{len(trained) - controls} training runs" in lead and f"{controls} more with a longer schedule" in lead
    same = [r for r in recs if r["name"] == "frame-average" and not r.get("control")]
    assert "seeds each" in report_page.lead_sentence("demo", same, 1)
    assert "controls" not in report_page.lead_sentence("demo", same, 1)


@needs_demo
def test_the_report_links_the_reviewers_answers():
    html = (DEMO / "report.html").read_text()
    links = re.findall(r'href="([^"]*REVIEWER\.md)"', html)
    assert links and all((DEMO / link).resolve().is_file() for link in links)
    answers = (DEMO / links[0]).resolve().read_text()
    for heading in ("## Numbers", "## Choices", "## Validity of the miniature", "## Provenance", "## Cost"):
        assert heading in answers  # the reviewer's checklist, section by section


@needs_demo
@pytest.mark.parametrize("page", ["report.html", "summary.md"])
def test_the_report_names_no_commit_issue_or_rule_version(page):
    text = (DEMO / page).read_text()
    if page.endswith(".html"):
        text = _text(text[text.find('class="strn-report"'):])  # the page, not its embedded images and styles
    assert not re.search(r"\b[0-9a-f]{7,40}\b", text), "a commit hash on the page"
    assert not re.search(r"\bissue\s*#?\d+", text, re.I), "an issue number on the page"
    assert not re.search(r"\b(rule )?version \d+\b", text, re.I), "a rule version on the page"

"""Skipped videos are counted in the summary and on the report page."""
import json
import shutil
from html import unescape

from strn.report import build as report, page


def test_skipped_videos_are_listed_once_and_counted(tmp_path):
    recs = [{"skipped_videos": [{"path": "A/v_a.avi", "reason": "no video stream"}]},
            {"skipped_videos": [{"path": "A/v_a.avi", "reason": "no video stream"},
                                {"path": "B/v_b.avi", "reason": "truncated"}]},
            {"skipped_videos": []}, {}]
    assert [s["path"] for s in page.skipped_videos(recs)] == ["A/v_a.avi", "B/v_b.avi"]
    text = page.skipped_text(recs)
    assert text.startswith("2 video(s) skipped") and "truncated" in text
    assert page.skipped_text([{}]) == "no video was skipped"


def test_summary_and_report_page_say_what_was_skipped(tmp_path):
    results = tmp_path / "results"
    shutil.copytree("tests/data/trained_smoke", results)
    path = next(results.rglob("*__seed0.json"))
    rec = json.loads(path.read_text())
    rec["skipped_videos"] = [{"path": "Apple/v_Apple_g01_c01.avi", "reason": "no video stream"}]
    path.write_text(json.dumps(rec))
    summary = report.write_summary_markdown(results, "smoke").read_text()
    assert "Videos: 1 video(s) skipped: Apple/v_Apple_g01_c01.avi (no video stream)" in summary
    figures = tmp_path / "figures"
    figures.mkdir()
    assert "1 video(s) skipped" in report.report_page("smoke", results, figures).data


def test_report_puts_notebook_figures_and_calibration_figures_under_their_own_headings(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, figures = tmp_path / "results", tmp_path / "figures"
    shutil.copytree("tests/data/trained_smoke", results)
    figures.mkdir()
    for name in ("03_technical_details_bptt", "calibration"):
        plt.figure(figsize=(1, 1)).savefig(figures / f"{name}.png")
        plt.close("all")
    html = unescape(report.report_page("smoke", results, figures).data)
    notebooks = html.index("The other notebooks' figures")
    checks = html.index("How the recipe was chosen")
    assert notebooks < html.index("03_technical_details_bptt") < checks
    assert html.index("calibration.png") > checks

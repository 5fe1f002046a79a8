"""Every figure of the study, by chapter; each is drawn from data a compute step returned or
stored, never by training or recomputing (restyling a figure reruns nothing).

- ``common``: ``save_figure``, ``figure_problems`` (the readability check), diagram boxes and arrows
- ``technical``: notebook 03 (chapter 3), from ``strn.study.technical.compute``'s data
- ``architecture``: notebook 04 (chapter 4), from ``strn.study.architecture.compute``'s data
- ``dataset``: notebook 05.1, from ``strn.data.stats.compute``'s data
- ``results``: notebooks 05.2-05.7 and 06, from stored results JSON (re-exported here: ``plots.error_bars``)
- ``order_test``: notebook 06's order test, from ``strn.study.order_test.order_table``'s table
- ``central``: two rows per seed (the report's central figure)

An experiment's figures are declared with it (`strn.study.rows.Figure` in `strn.study.tables`); `draw`
draws one of them, `experiment_figures` every one drawn from the experiment's table.
"""
from typing import Any, Sequence

from . import architecture, dataset, order_test, technical
from .central import strn_vs_frame_average
from .common import figure_problems, save_figure
from .results import confusion, error_and_cost, error_bars, reference_lines, row_labels, training_curves
from ...results import table_records
from ...study.rows import TABLE_FIGURES


def draw(exp, figure, data, records: Sequence[dict[str, Any]]):
    """Figure ``figure`` of experiment ``exp`` (`strn.study.rows.Figure`), from ``data`` (the experiment's
    summary table; the order test's table for "order_test") and the stored records."""
    records = table_records(records)  # control runs are no table row
    if figure.kind == "error_bars":
        return error_bars(data, list(figure.columns or exp.rows[0].columns), figure.title, records=records)
    if figure.kind == "training_curves":
        return training_curves(records, figure.title)
    if figure.kind == "error_and_cost":
        return error_and_cost(data, figure.columns[0], figure.title, apart=figure.apart, note=figure.note)
    if figure.kind == "confusion":
        pool = [r for r in records if r.get("name") in figure.rows]
        return confusion(min(pool, key=lambda r: r["metrics"]["error_rate"]), figure.title or None)
    if figure.kind == "order_test":
        return order_test.order_bars(data, records, figure.title)
    if figure.kind == "seed_pairs":
        thesis = tuple(exp.row(n).compared for n in figure.rows)
        return strn_vs_frame_average(records, figure.rows, figure.ticks, figure.title,
                                     thesis=None if None in thesis else thesis)
    raise ValueError(f"figure {figure.name} of {exp.key}: unknown kind {figure.kind!r}")


def experiment_figures(exp, table, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every figure ``exp`` declares that is drawn from its summary table (``table``) and records
    (error bars, training curves, ...), by the name it is saved under (`strn.study.rows.Figure.stem`)."""
    return {f.stem(exp.key): draw(exp, f, table, records) for f in exp.figures if f.kind in TABLE_FIGURES}


__all__ = ["architecture", "dataset", "order_test", "technical", "figure_problems", "save_figure", "confusion", "draw",
           "error_and_cost", "error_bars", "experiment_figures", "reference_lines", "row_labels", "training_curves"]

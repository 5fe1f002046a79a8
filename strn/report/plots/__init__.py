"""Every figure of the study, by chapter; each is drawn from data a compute step returned or
stored, never by training or recomputing (restyling a figure reruns nothing).

- ``common``: ``save_figure``, ``figure_problems`` (the readability check), diagram boxes and arrows
- ``technical``: notebook 03 (chapter 3), from ``strn.study.technical.compute``'s data
- ``architecture``: notebook 04 (chapter 4), from ``strn.study.architecture.compute``'s data
- ``dataset``: notebook 05.1, from ``strn.data.stats.compute``'s data
- ``results``: notebooks 05.2-05.7 and 06, from stored results JSON (re-exported here: ``plots.error_bars``)
- ``order_test``: notebook 06's order test, from ``strn.study.order_test.order_table``'s table
"""
from . import architecture, dataset, order_test, technical
from .common import figure_problems, save_figure
from .results import (ERROR_FIGURES, confusion, error_and_cost, error_bars, experiment_figures, reference_lines,
                      row_labels, training_curves)

__all__ = ["architecture", "dataset", "order_test", "technical", "figure_problems", "save_figure", "ERROR_FIGURES",
           "confusion", "error_and_cost", "error_bars", "experiment_figures", "reference_lines", "row_labels", "training_curves"]

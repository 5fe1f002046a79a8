"""The report (layer 5): notebooks, figures, tables and the HTML page, drawn from stored records.

- ``notebook``: what a study notebook calls (resolve its parameters, run its experiment, render);
- ``notebook_runs``: executing the notebooks with papermill, one at a time or side by side;
- ``build``: `strn report` (train what is missing, execute the notebooks, export the page) and
  summary.md; ``page``: what the page shows, laid out by ``templates/`` (Jinja2);
- ``plots``: every figure, by chapter; ``readme_table``: the README's results table;
  ``timing``: how long `strn report` took.

May import every layer below: the bottom layer, ``strn.data``, ``model``, ``train`` and
``study`` (tests/test_import_graph.py). Only ``strn.cli`` (and the package root) import it.
"""

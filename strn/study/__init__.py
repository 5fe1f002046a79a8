"""The study (layer 4): the thesis's experiments as data, and what is judged from their records.

- declarations and runners: ``rows`` (a table row and its configuration), ``experiments``
  (every table), ``frame_baselines`` (Tables 5.1/5.2 end to end), ``parallel`` (a profile's
  runs in a pool of processes), ``inference`` (a trained model used again);
- judgements: ``claims`` and ``comparisons`` (the thesis's claims, decided by intervals),
  ``order_test``, ``motion_breakdown``, ``beyond`` and ``cost`` (notebook 06 and the GPU cost);
- the chapters computed from the code: ``technical`` (ch. 3), ``architecture`` (ch. 4);
- choosing a profile's recipe on validation: ``calibrate`` (`strn calibrate recipes`),
  ``design`` (the demo's data design, `strn calibrate design`), ``checks`` (demo rows
  retrained with one thing changed, `strn calibrate retrain`); ``backfill_provenance`` gave
  records made before provenance existed their fields.

May import: the bottom layer, ``strn.data``, ``strn.model`` and ``strn.train``. Never
``report`` (tests/test_import_graph.py): a figure of the study is drawn in ``strn.report.plots``.
"""

"""Data (layer 1, above the bottom): what a run reads, and facts about it.

- UCF-101's layout and splits (``ucf101``), PyAV decoding (``video``), the frame cache
  (``cache``, ``jpeg_entry``), sequence datasets and the training loader (``datasets``,
  ``loader``, ``transforms``), a run's data made ready (``prepare``), skipped videos
  (``skips``), the audit of a folder (``check``) and the dataset's figures' data (``stats``);
- the built-in synthetic set: what its clips show (``synth``), as files (``synth_files``), and
  the ucf-shaped benchmark preset (``synth_ucf``);
- reference levels of a dataset (``reference``: chance, the single-frame floor) and the
  published numbers the thesis quotes (``published``).

May import: the bottom layer only (``strn.config``, ``paths``, ``profiles``, ``digest``,
``progress``, ``results``, ``storage``). Never ``model``, ``train``, ``study`` or ``report``
(tests/test_import_graph.py).
"""

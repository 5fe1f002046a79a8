"""Training (layer 3): one engine trains every network of the study, and a run's record.

- the engine and its parts: ``engine`` (the epoch loop, accumulation, evaluation hook, exact
  resume), ``plan`` (an epoch's plan from (seed, epoch)), ``checkpoint``, ``preempt`` (SIGTERM),
  ``determinism``, ``distributed`` (torchrun), ``metrics`` (video-level metrics);
- trainings through it: ``fit`` (STRN and the frame average on sequences, and ``evaluate``),
  ``stacked_fit`` / ``stacked_run`` (K seeds as one stacked model), ``pretrain`` (the
  stand-in for ImageNet), ``features`` and ``baseline_training`` (the frame baselines);
- one run end to end: ``run`` (configuration -> data -> model -> training -> record, or the
  stored record read back), ``provenance`` (may a stored record stand for this run?),
  ``record`` (the record's shape), ``convergence`` (did it converge?) and ``intervals``
  (Welch's interval and the t quantile both of those rules use).

May import: the bottom layer, ``strn.data`` and ``strn.model``. Never ``study`` or ``report``
(tests/test_import_graph.py).
"""

"""Models (layer 2): torchvision ResNets with temporal skip connections (``strn``, placed by
``positions``), the temporal shift module beside them (``tsm``), the thesis baselines
(``baselines``), K seeds as one stacked model (``stacked``) and one builder (``build``). Building
a model never trains one: pretrained weights are resolved before, by the caller
(`strn.train.run.resolve_weights`).

May import: the bottom layer and ``strn.data``. Never ``train``, ``study`` or ``report``
(tests/test_import_graph.py).
"""
from .backbone import build_backbone, load_weights
from .build import build_model
from .positions import default_positions, layer_table, resolve_positions
from .strn import STRN
from .tsm import TSM

__all__ = ["STRN", "TSM", "build_backbone", "build_model", "default_positions", "layer_table", "load_weights",
           "resolve_positions"]

"""Models: torchvision ResNets with temporal skip connections, the temporal shift module beside
them, and the thesis baselines."""
from .backbone import build_backbone, load_weights
from .build import build_model
from .positions import default_positions, layer_table, resolve_positions
from .strn import STRN
from .tsm import TSM

__all__ = ["STRN", "TSM", "build_backbone", "build_model", "default_positions", "layer_table", "load_weights",
           "resolve_positions"]

"""Models: torchvision ResNets with temporal skip connections, and the thesis baselines."""
from .backbone import build_backbone, load_weights
from .build import build_model
from .positions import default_positions, layer_table, resolve_positions
from .strn import STRN

__all__ = ["STRN", "build_backbone", "build_model", "default_positions", "layer_table", "load_weights",
           "resolve_positions"]

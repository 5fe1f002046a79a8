"""strn: a reproducible study of Spatio Temporal Residual Networks (Iqbal, 2017)."""

__version__ = "0.1.0"


def load_trained(path, device: str = "cpu"):
    """A trained model from its results JSON or checkpoint (see :mod:`strn.study.inference`)."""
    # local: `import strn` (and `strn --help`) stays free of torch
    from .study.inference import load_trained as _load

    return _load(path, device)

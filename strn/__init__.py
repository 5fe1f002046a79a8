"""strn: a reproducible study of Spatio Temporal Residual Networks (Iqbal, 2017)."""

__version__ = "0.1.0"

"""toygan: a small, exact testbed for the theory of GANs (Goodfellow et al., 2014)."""

from .core.distributions import PRESETS, GaussianMixture, preset
from .core.nn import MLP

__all__ = ["GaussianMixture", "MLP", "PRESETS", "preset"]
__version__ = "0.1.0"

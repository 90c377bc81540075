"""Old import path, kept for scripts written against it: now toygan.core.theory (and
toygan.core.stats for Estimate, mean_stderr, wilson_interval)."""

from .core.stats import *  # noqa: F401, F403
from .core.theory import *  # noqa: F401, F403

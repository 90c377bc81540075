"""Old import path, kept for scripts written against it: now toygan.core.theory (and
toygan.core.stats for Estimate, mean_stderr, wilson_interval; toygan.core.fdiv for
f_divergence and the f-GAN bound)."""

from .core.fdiv import f_divergence, optimal_critic, variational_bound  # noqa: F401, E402
from .core.stats import *  # noqa: F401, F403
from .core.theory import *  # noqa: F401, F403

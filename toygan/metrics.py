"""Old import path, kept for scripts written against it: now toygan.core.metrics (and
toygan.core.modes for the mode statistics)."""

from .core.metrics import *  # noqa: F401, F403
from .core.modes import *  # noqa: F401, F403

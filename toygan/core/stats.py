"""Statistics of repeated measurements: a Monte Carlo estimate with its standard error,
the mean and standard error of a sample, and the Wilson interval of a proportion. The one
place these are computed (metrics, population tables, reproduce and claims use them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate with its standard error."""

    value: float
    stderr: float


def mean_stderr(values: np.ndarray) -> tuple[float, float]:
    """The mean of Monte Carlo terms and its standard error (sample std, ddof 1, / sqrt n)."""
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95 % for the default z): the
    p whose score test |p_hat - p| / sqrt(p (1 - p) / n) <= z. Unlike p_hat +- z se it stays
    inside [0, 1] and is not empty at 0 or n successes (Wilson 1927; Brown, Cai and
    DasGupta 2001 recommend it for small n)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    p_hat, z2 = successes / n, z * z
    centre = (p_hat + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p_hat * (1 - p_hat) / n + z2 / (4 * n * n))
    # At 0 or n successes the bound on that side is exactly 0 or 1 (centre - half cancels
    # to within rounding: 1 - 1e-16 would leave p_hat = 1 outside its own interval).
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi

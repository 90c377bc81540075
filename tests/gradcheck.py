"""Central finite differences in float64, shared by every backward test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def directional_derivative(
    f: Callable[[np.ndarray], float], x: np.ndarray, direction: np.ndarray, eps: float = 1e-6
) -> float:
    """(f(x + eps d) - f(x - eps d)) / (2 eps), the central difference along d."""
    return (f(x + eps * direction) - f(x - eps * direction)) / (2.0 * eps)


def assert_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    grad: np.ndarray,
    rng: np.random.Generator,
    n_directions: int = 3,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """Check <grad, d> against the central difference of f along random unit directions."""
    x = np.asarray(x, dtype=np.float64)
    for _ in range(n_directions):
        d = rng.standard_normal(x.shape)
        d /= np.linalg.norm(d) or 1.0
        numeric = directional_derivative(f, x, d, eps)
        analytic = float(np.sum(grad * d))
        err = abs(numeric - analytic)
        assert err <= atol + rtol * max(abs(numeric), abs(analytic)), (
            f"directional derivative: analytic {analytic:.12g} vs numeric {numeric:.12g} "
            f"(abs err {err:.3g})"
        )

"""Hypothesis strategies shared by the proofs: random Gaussian mixtures within fixed bounds.

A mixture has 1-3 components (``max_components``), means in [-4, 4] on every axis, stds in
[0.05, 2] per axis and (unnormalised) weights in [0.1, 1]. These are the bounds every claim in
`proofs/` is stated under; `toygan.claims_analytic.random_mixture` draws from the same box.
"""

from __future__ import annotations

from hypothesis import strategies as st

from toygan.core.distributions import GaussianMixture

MEAN_BOUND = 4.0
STD_MIN, STD_MAX = 0.05, 2.0
WEIGHT_MIN, WEIGHT_MAX = 0.1, 1.0


@st.composite
def mixtures(draw, dim: int = 1, max_components: int = 3, std_min: float = STD_MIN):
    """A GaussianMixture in `dim` dimensions within the documented bounds."""
    k = draw(st.integers(1, max_components))
    coords = st.floats(-MEAN_BOUND, MEAN_BOUND, allow_nan=False)
    means = [[draw(coords) for _ in range(dim)] for _ in range(k)]
    stds = [[draw(st.floats(std_min, STD_MAX)) for _ in range(dim)] for _ in range(k)]
    weights = [draw(st.floats(WEIGHT_MIN, WEIGHT_MAX)) for _ in range(k)]
    return GaussianMixture(means, stds, weights)


def mixtures_1d(max_components: int = 3):
    return mixtures(1, max_components)


def mixtures_2d(max_components: int = 2):
    return mixtures(2, max_components)


def fraction_of_profile(fraction: float, minimum: int = 3) -> int:
    """max_examples for an expensive test: a fraction of the loaded profile's, at least minimum."""
    from hypothesis import settings

    return max(minimum, int(settings().max_examples * fraction))

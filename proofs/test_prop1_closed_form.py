"""Prop. 1 (Goodfellow et al. 2014, Sec. 4.1): the optimal discriminator.

Claim (paper): "For G fixed, the optimal discriminator D is
D*_G(x) = p_data(x) / (p_data(x) + p_g(x))."

Measured, for random 1-D mixtures (proofs.strategies) and a few 2-D ones, with V computed by
exact quadrature (theory.value with logits=True and optimal_discriminator_logit):
- V(G, D*) - V(G, D) for smooth perturbations D = sigmoid(logit D* + eps sin(w x + phi)),
  eps in [-1, 1], and pointwise ones D = clip(D* + a sin(w x + phi), 1e-9, 1 - 1e-9);
  >= 0 always, and > 0 for eps != 0 wherever the curvature E_{p+q}[D*(1 - D*) h^2] makes the
  gap measurable (kappa eps^2 > 1e-8; for disjoint p, q the gap underflows);
- the first variation: dV/deps at eps = 0 by central differences (delta 1e-3), relative to
  the secant slope |V(0.1) - V(0)| / 0.1;
- the functional derivative p/D* - q/(1 - D*) on a grid, relative to p + q, in log space.
Tolerance: gap >= -1e-11 (quadrature error ~1e-12); derivative ratio <= 1e-3 (where
kappa > 1e-4); functional derivative residual <= 1e-9 (log-densities reach -1e5 on the
grid, so rounding in log space is ~1e-11).
Measured when written: min gap 3.36e-05 and max derivative ratio 2.2e-06 over 4 seeded
pairs (claims_analytic quick); full (25 pairs): min gap 3.36e-05, max ratio 2.2e-06.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.strategies import fraction_of_profile, mixtures
from toygan.claims.analytic import (
    check_prop1,
    curvature,
    derivative_at_optimum,
    functional_derivative_residual,
    pointwise_gap,
    smooth_gap,
)

freq = st.floats(0.2, 5.0)
phase = st.floats(0.0, 2 * math.pi)


@given(mixtures(1), mixtures(1), st.floats(-1.0, 1.0), freq, phase)
def test_smooth_perturbations_never_beat_d_star(p, q, eps, w, phi):
    gap = smooth_gap(p, q, eps, w, phi)
    assert gap >= -1e-11
    if curvature(p, q, w, phi) * eps**2 > 1e-8:
        assert gap > 0


@given(mixtures(1), mixtures(1), st.floats(0.0, 0.2), freq, phase)
def test_pointwise_perturbations_never_beat_d_star(p, q, amplitude, w, phi):
    assert pointwise_gap(p, q, amplitude, w, phi) >= -1e-11


@settings(max_examples=fraction_of_profile(0.05, 2))
@given(mixtures(2, 1), mixtures(2, 2), st.floats(-1.0, 1.0), freq, phase)
def test_d_star_is_optimal_2d(p, q, eps, w, phi):
    assert smooth_gap(p, q, eps, w, phi) >= -1e-10


@settings(max_examples=fraction_of_profile(0.5))
@given(mixtures(1), mixtures(1), freq, phase)
def test_first_variation_vanishes_at_d_star(p, q, w, phi):
    if curvature(p, q, w, phi) > 1e-4:
        slope0, slope_far = derivative_at_optimum(p, q, w, phi)
        assert slope0 <= 1e-3 * slope_far


@given(mixtures(1), mixtures(1))
def test_functional_derivative_is_zero_pointwise(p, q):
    x = np.linspace(-12.0, 12.0, 2001)[:, None]
    # log-densities reach -1e5 on this grid, so exp(log p - log D* - log(p + q)) carries
    # rounding of ~1e-16 * 1e5
    assert functional_derivative_residual(p, q, x) <= 1e-9


def test_claim_check_passes():
    result = check_prop1(quick=True)
    assert result.passed and result.measured >= -1e-10

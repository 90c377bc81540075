"""toygan.theory: exact quadrature of V, D*, C(G), KL and JSD against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon as scipy_js

from toygan.core import theory
from toygan.core.distributions import GaussianMixture, preset

LOG4 = math.log(4.0)


@st.composite
def mixtures(draw, dim: int, max_components: int = 3):
    k = draw(st.integers(1, max_components))
    coords = st.floats(-4.0, 4.0, allow_nan=False)
    means = [[draw(coords) for _ in range(dim)] for _ in range(k)]
    stds = [[draw(st.floats(0.01, 2.0)) for _ in range(dim)] for _ in range(k)]
    weights = [draw(st.floats(0.1, 1.0)) for _ in range(k)]
    return GaussianMixture(means, stds, weights)


def gaussian_kl(mu1, s1, mu2, s2) -> float:
    """KL between diagonal Gaussians, closed form."""
    mu1, s1, mu2, s2 = map(np.asarray, (mu1, s1, mu2, s2))
    return float(np.sum(np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5))


@pytest.mark.parametrize(("dim", "tol"), [(1, 1e-9), (2, 1e-7)])
def test_kl_of_two_gaussians_matches_the_closed_form(dim, tol):
    rng = np.random.default_rng(dim)
    for _ in range(5):
        mu1, mu2 = rng.uniform(-2, 2, dim), rng.uniform(-2, 2, dim)
        s1, s2 = rng.uniform(0.01, 1.5, dim), rng.uniform(0.01, 1.5, dim)
        p = GaussianMixture([mu1], [s1])
        q = GaussianMixture([mu2], [s2])
        exact = gaussian_kl(mu1, s1, mu2, s2)
        got = theory.kl_divergence(p, q)
        assert abs(got.value - exact) <= tol * max(1.0, exact), (got, exact)


@given(mixtures(1))
def test_densities_integrate_to_one_1d(p):
    total = theory.integrate(lambda x, lp, lq: np.exp(lp), p, p)
    assert abs(total.value - 1.0) < 1e-9 and total.error < 1e-9


def test_densities_integrate_to_one_2d_presets():
    for name in ("mixture8", "grid25", "ring8_pacgan"):
        p = preset(name)
        total = theory.integrate(lambda x, lp, lq: np.exp(lp), p, p)
        assert abs(total.value - 1.0) < 1e-7, (name, total)


@given(mixtures(1), mixtures(1))
def test_theorem_1_identity_and_bounds_1d(p, q):
    jsd = theory.jensen_shannon(p, q)
    c = theory.virtual_training_criterion(p, q)
    assert abs(c.value - (-LOG4 + 2 * jsd.value)) < 1e-9
    assert -1e-12 <= jsd.value <= math.log(2) + 1e-12
    assert abs(jsd.value - theory.jensen_shannon(q, p).value) < 1e-9
    assert c.value >= -LOG4 - 1e-12
    assert jsd.error < 1e-8


@given(mixtures(2, max_components=2), mixtures(2, max_components=2))
def test_theorem_1_identity_2d(p, q):
    jsd = theory.jensen_shannon(p, q)
    c = theory.virtual_training_criterion(p, q)
    assert abs(c.value - (-LOG4 + 2 * jsd.value)) < 1e-7
    assert -1e-10 <= jsd.value <= math.log(2) + 1e-10


def test_jsd_is_zero_only_for_equal_distributions():
    p = preset("trimodal1d")
    assert abs(theory.jensen_shannon(p, p).value) < 1e-12
    shifted = GaussianMixture(p.means + 1e-2, p.stds, p.weights)
    assert theory.jensen_shannon(p, shifted).value > 1e-6
    far = GaussianMixture(p.means + 100.0, p.stds, p.weights)
    assert abs(theory.jensen_shannon(p, far).value - math.log(2)) < 1e-9


def test_jsd_agrees_with_scipy_on_a_fine_discretisation():
    p, q = preset("bimodal1d"), preset("trimodal1d")
    x = np.linspace(-12, 12, 200_001)[:, None]
    # scipy returns the square root of the JSD; base e by default.
    discrete = scipy_js(p.prob(x), q.prob(x)) ** 2
    assert abs(theory.jensen_shannon(p, q).value - discrete) < 1e-8


def test_optimal_discriminator_is_finite_everywhere():
    p, q = preset("gauss1d"), preset("bimodal1d")
    x = np.array([[-1e4], [-50.0], [0.0], [4.0], [50.0], [1e4]])
    d = theory.optimal_discriminator(p, q, x)
    assert np.all(np.isfinite(d)) and np.all((d >= 0) & (d <= 1))
    mid = np.array([[1.0], [3.0]])
    direct = p.prob(mid) / (p.prob(mid) + q.prob(mid))
    np.testing.assert_allclose(theory.optimal_discriminator(p, q, mid), direct, rtol=1e-12)


def test_value_at_d_star_is_c_and_any_other_d_is_lower():
    p, q = preset("bimodal1d"), preset("trimodal1d")
    c = theory.virtual_training_criterion(p, q).value
    v_star = theory.value(p, q, lambda x: theory.optimal_discriminator_logit(p, q, x),
                          logits=True).value
    assert abs(v_star - c) < 1e-9
    # As probabilities D* rounds to 1 where p_g / p_data < 1e-16: V is then -inf, honestly.
    as_probability = theory.value(p, q, lambda x: theory.optimal_discriminator(p, q, x))
    assert as_probability.value == -np.inf
    for scale in (0.9, 0.99):
        v = theory.value(p, q, lambda x, s=scale: s * theory.optimal_discriminator(p, q, x))
        assert v.value < c
    assert theory.value(p, q, lambda x: np.full(len(x), 0.5)).value == pytest.approx(-LOG4)


def test_monte_carlo_estimators_agree_with_quadrature():
    rng = np.random.default_rng(0)
    p, q = preset("bimodal1d"), preset("trimodal1d")
    xp, xq = p.sample(20000, rng), q.sample(20000, rng)
    kl = theory.kl_divergence_mc(p, q, xp)
    assert abs(kl.value - theory.kl_divergence(p, q).value) < 4 * kl.stderr
    js = theory.jensen_shannon_mc(p, q, xp, xq)
    assert abs(js.value - theory.jensen_shannon(p, q).value) < 4 * js.stderr


def test_mixture_of_mixtures_and_kde_mixture():
    p, q = preset("gauss1d"), preset("bimodal1d")
    mix = theory.mixture_of_mixtures(p, q, 0.25)
    np.testing.assert_allclose(mix.weights, [0.25, 0.75 * 0.3, 0.75 * 0.7])
    with pytest.raises(ValueError):
        theory.mixture_of_mixtures(p, q, 1.5)
    kde = theory.kde_mixture(np.array([0.0, 1.0, 2.0]), 0.1)
    assert kde.n_components == 3 and kde.dim == 1 and np.allclose(kde.stds, 0.1)

"""f-divergences and the f-GAN bound (Nowozin, Cseke and Tomioka 2016, Table 1, Eq. 4),
LSGAN's optimal discriminator and chi^2 criterion (Mao et al. 2017, Prop. 1, Thm. 1) and the
non-saturating gradient (Arjovsky and Bottou 2017, Thm. 2.5), by quadrature on random 1-D
and 2-D Gaussian mixtures (toygan.core.fdiv, toygan.claims.fgan).

Claims:
- D_f(p || q) >= 0, = 0 at q = p; KL and reverse KL equal core.theory's, JS = 2 JSD,
  GAN = 2 JSD - log 4;
- E_p T - E_q f*(T) equals D_f at T* = f'(p/q) and is lower for T* - delta h (delta > 0);
- for every coding (a, b, c), C(G) = ((a + b)/2 - c)^2 + ((b - a)/2)^2 chi2(p_g || m);
- d/dt E_{p_g(t)}[-log D*_0] = d/dt [KL(p_g(t) || p_d) - 2 JSD(p_g(t) || p_d)] at t = 0.
Tolerances: 1e-9 (identities by quadrature; measured 1e-15 to 1e-12 when written), 1e-6 for
the gradients (central differences with h = 1e-4; measured 5e-10).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs.strategies import fraction_of_profile
from toygan.claims.fgan import CLAIMS, bound_gap, lsgan_criterion, ns_gradient_gap
from toygan.core import fdiv, theory
from toygan.core.distributions import GaussianMixture


@st.composite
def covered_pairs(draw, dim: int | None = None):
    """(p, q): q's components at least as wide as all of p's, so chi^2 is finite."""
    dim = dim or draw(st.sampled_from([1, 2]))
    k = draw(st.integers(1, 3))
    means = np.array(draw(st.lists(st.lists(st.floats(-2, 2), min_size=dim, max_size=dim),
                                   min_size=k, max_size=k)))
    stds = np.array(draw(st.lists(st.lists(st.floats(0.3, 1.0), min_size=dim, max_size=dim),
                                  min_size=k, max_size=k)))
    weights = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=k, max_size=k)))
    q_mean = np.array(draw(st.lists(st.floats(-1, 1), min_size=dim, max_size=dim)))
    widen = draw(st.floats(1.0, 2.0))
    q = GaussianMixture(q_mean[None], np.full((1, dim), widen * float(stds.max()) + 0.5))
    return GaussianMixture(means, stds, weights), q


@settings(max_examples=fraction_of_profile(0.3))
@given(pair=covered_pairs())
def test_f_divergences_agree_with_theory_and_are_non_negative(pair):
    p, q = pair
    jsd = theory.jensen_shannon(p, q).value
    want = {"kl": theory.kl_divergence(p, q).value, "reverse_kl": theory.kl_divergence(q, p).value,
            "jensen_shannon": 2 * jsd, "gan": 2 * jsd - math.log(4)}
    for name in fdiv.DIVERGENCES:
        value = fdiv.f_divergence(p, q, name).value
        if name in want:
            assert abs(value - want[name]) <= 1e-9
        if name != "gan":
            assert value >= -1e-12
            assert abs(fdiv.f_divergence(p, p, name).value) <= 1e-12


@settings(max_examples=fraction_of_profile(0.2))
@given(pair=covered_pairs(), name=st.sampled_from(list(fdiv.DIVERGENCES)),
       delta=st.floats(0.02, 0.5))
def test_the_variational_bound_is_tight_only_at_the_optimal_critic(pair, name, delta):
    p, q = pair
    tight = fdiv.variational_bound(p, q, name).value
    assert abs(tight - fdiv.f_divergence(p, q, name).value) <= 1e-9
    assert bound_gap(p, q, name, delta) > 0


@settings(max_examples=fraction_of_profile(0.2))
@given(pair=covered_pairs(), a=st.floats(-2, 1), gap=st.floats(0.1, 3), c=st.floats(-1, 2))
def test_the_lsgan_criterion_is_an_affine_chi2(pair, a, gap, c):
    p_d, p_g = pair
    b = a + gap
    chi2 = fdiv.f_divergence(p_g, theory.mixture_of_mixtures(p_d, p_g, 0.5), "pearson").value
    want = ((a + b) / 2 - c) ** 2 + ((b - a) / 2) ** 2 * chi2
    assert abs(lsgan_criterion(p_d, p_g, a, b, c) - want) <= 1e-9


@settings(max_examples=fraction_of_profile(0.2))
@given(pair=covered_pairs(dim=1), shift=st.floats(-1, 1), scale=st.floats(-1, 1))
def test_the_non_saturating_gradient_is_that_of_kl_minus_2_jsd(pair, shift, scale):
    p_d, p_g = pair
    lhs, rhs = ns_gradient_gap(p_d, p_g, np.array([shift]), scale)
    assert abs(lhs - rhs) <= 1e-6


def test_every_f_gan_claim_holds_quick(tmp_path):
    for claim in CLAIMS:
        result = claim.check(True, tmp_path)
        assert result.passed, f"{result.name}: {result.measured} ({result.details})"
    assert (tmp_path / "fgan_bound.png").is_file()


def test_a_trained_critic_reaches_the_bound():
    from toygan.claims.fgan_learned import check_learned

    result = check_learned(True)
    assert result.passed, result.details


def test_a_clipped_wgan_critic_has_the_optimal_slope_sign():
    from toygan.claims.fgan_learned import check_wgan_critic

    result = check_wgan_critic(True)
    assert result.passed, result.details

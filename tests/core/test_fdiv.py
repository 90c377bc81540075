"""core.fdiv's pieces against their definitions: each critic term is the conjugate of the
activation (Table 2), with derivatives by central differences; f' is the derivative of f;
the Fenchel-Young inequality f(u) + f*(t) >= u t holds with equality at t = f'(u)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toygan.core import fdiv

NAMES = list(fdiv.DIVERGENCES)


@given(name=st.sampled_from(NAMES), v=st.floats(-5, 5))
def test_critic_terms_are_the_activation_and_its_conjugate(name, v):
    div = fdiv.get_divergence(name)
    x = np.array([v, v + 1e-6, v - 1e-6])
    g, dg, h, dh = fdiv.critic_terms(name, x)
    assert g[0] == pytest.approx(div.activation(x)[0], rel=1e-12, abs=1e-12)
    assert h[0] == pytest.approx(div.conjugate(div.activation(x))[0], rel=1e-9, abs=1e-12)
    assert dg[0] == pytest.approx((g[1] - g[2]) / 2e-6, rel=1e-5, abs=1e-7)
    assert dh[0] == pytest.approx((h[1] - h[2]) / 2e-6, rel=1e-5, abs=1e-7)


@given(name=st.sampled_from(NAMES), log_u=st.floats(-4, 4))
def test_f_prime_is_the_derivative_and_fenchel_young_is_tight_there(name, log_u):
    div = fdiv.get_divergence(name)
    u, e = np.exp(log_u), 1e-6
    f = lambda uu: div.f_log(np.log(np.array([uu])))[0]  # noqa: E731
    t = div.f_prime_log(np.array([log_u]))[0]
    assert t == pytest.approx((f(u + e) - f(u - e)) / (2 * e), rel=1e-5, abs=1e-7)
    assert f(u) + div.conjugate(np.array([t]))[0] == pytest.approx(u * t, rel=1e-9, abs=1e-9)
    for other in (t - 0.3, t - 0.05):  # below the conjugate domain's edge, always inside
        assert f(u) + div.conjugate(np.array([other]))[0] >= u * other - 1e-12


def test_every_divergence_vanishes_at_one():
    for name in NAMES:
        assert fdiv.get_divergence(name).f_log(np.zeros(1))[0] == pytest.approx(
            0.0 if name != "gan" else -np.log(4.0), abs=1e-15)


def test_an_unknown_divergence_is_refused():
    with pytest.raises(ValueError, match="unknown f-divergence"):
        fdiv.get_divergence("tv")

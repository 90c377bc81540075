"""Gradient penalties (core.penalties): values and parameter gradients against central
finite differences in float64, per member weights, and the WGAN-GP direction at zero."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.gradcheck import assert_gradient
from toygan.core.nn import MLP
from toygan.core.penalties import penalty_direction, penalty_gradient


def reference_value(kind: str, grad_x: np.ndarray, gamma: np.ndarray) -> float:
    sq = (grad_x**2).sum(axis=-1)
    if kind == "wgan-gp":
        return float((gamma * ((np.sqrt(sq) - 1.0) ** 2).mean(axis=1)).sum())
    return float((0.5 * gamma * sq.mean(axis=1)).sum())


@given(kind=st.sampled_from(["r1", "r2", "wgan-gp"]),
       activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid", "maxout"]),
       P=st.integers(1, 3), n=st.integers(1, 6), width=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1))
def test_penalty_gradient_matches_finite_differences(kind, activation, P, n, width, seed):
    rng = np.random.default_rng(seed)
    D = MLP([2, width, width, 1], activation, population=P, dtype=np.float64)
    D.init([np.random.default_rng([seed, i]) for i in range(P)])
    D.params += 0.1 * rng.standard_normal(D.params.shape)
    x = rng.standard_normal((P, n, 2))
    gamma = rng.uniform(0.1, 10.0, P)

    def value(params):
        base = D.params.copy()
        D.params[...] = params
        try:
            return reference_value(kind, D.input_gradient(x).copy(), gamma)
        finally:
            D.params[...] = base

    got = penalty_gradient(D, x, kind, gamma)
    assert got.shape == (P,)
    assert float(got.sum()) == pytest.approx(value(D.params.copy()), rel=1e-12, abs=1e-14)
    assert_gradient(value, D.params.copy(), D.grads.copy(), rng, eps=1e-6, rtol=1e-5,
                    atol=1e-7)


def test_r1_of_a_linear_critic_is_gamma_half_its_weight_norm_squared():
    D = MLP([3, 1], population=1, dtype=np.float64)
    D.params[0, :3] = [1.0, -2.0, 0.5]
    value = penalty_gradient(D, np.ones((1, 4, 3)), "r1", 2.0)
    assert value[0] == pytest.approx(0.5 * 2.0 * 5.25)
    np.testing.assert_allclose(D.grads[0, :3], 2.0 * np.array([1.0, -2.0, 0.5]))
    assert D.grads[0, 3] == 0.0  # the bias does not move grad_x D


def test_wgan_gp_direction_is_zero_where_the_gradient_vanishes():
    grad_x = np.zeros((1, 2, 2))
    grad_x[0, 1] = [3.0, 4.0]
    value, u = penalty_direction("wgan-gp", grad_x, 1.0)
    assert value[0] == pytest.approx((1.0 + 16.0) / 2)
    assert np.all(u[0, 0] == 0.0)
    np.testing.assert_allclose(u[0, 1], 2 * (5 - 1) / 5 * np.array([3.0, 4.0]) / 2)


def test_an_unknown_penalty_is_refused():
    with pytest.raises(ValueError, match="unknown penalty"):
        penalty_direction("r3", np.zeros((1, 1, 1)), 1.0)

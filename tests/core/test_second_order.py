"""The MLP's second-order passes (gradient penalties need them), against central finite
differences in float64 over shapes, activations, members and dropout masks:
- `tangent(u)` is the directional derivative of the forward pass along u;
- `tangent_backward(gy, gydot)` is the parameter gradient of
  S = sum(gy * D(x)) + sum(gydot * tangent(u)) with u held fixed;
- `input_gradient` is grad_x of the output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.core.test_nn import EPS, KINK_MARGIN, build, cases, reference_forward
from tests.gradcheck import assert_gradient, directional_derivative
from toygan.core.nn import MLP, Dropout


def tangent_objective(mlp: MLP, x, u, gy, gydot, forward=None):
    """S(params) and its analytic parameter gradient."""
    forward = forward or mlp.forward

    def S(params):
        base = mlp.params.copy()
        mlp.params[...] = params
        try:
            out = forward(x).copy()
            return float(np.sum(gy * out) + np.sum(gydot * mlp.tangent(u)))
        finally:
            mlp.params[...] = base

    forward(x)
    mlp.tangent(u)
    mlp.tangent_backward(gy, gydot)
    return S, mlp.grads.copy()


@given(case=cases(min_hidden=0))
def test_tangent_is_the_directional_derivative_of_the_forward_pass(case):
    mlp, x, r, rng = build(case)
    _, margin = reference_forward(case, mlp.params, x)
    assume(margin > KINK_MARGIN)
    u = rng.standard_normal(x.shape)
    mlp.forward(x)
    analytic = float(np.sum(r * mlp.tangent(u)))
    numeric = directional_derivative(lambda xx: float(np.sum(r * mlp.forward(xx))), x, u, EPS)
    assert abs(analytic - numeric) <= 1e-8 + 1e-6 * abs(numeric)


@given(case=cases(min_hidden=0))
def test_tangent_backward_matches_finite_differences(case):
    mlp, x, r, rng = build(case)
    _, margin = reference_forward(case, mlp.params, x)
    assume(margin > KINK_MARGIN)
    u = rng.standard_normal(x.shape)
    gydot = rng.standard_normal(r.shape)
    S, grads = tangent_objective(mlp, x, u, r, gydot)
    assert_gradient(S, mlp.params.copy(), grads, rng, eps=EPS, rtol=1e-5, atol=1e-7)


@given(case=cases(max_hidden=2), p=st.sampled_from((0.2, 0.5)))
def test_tangent_passes_with_a_fixed_dropout_mask(case, p):
    mlp, x, r, rng = build(case, dropout=p)
    seed = case.seed + 1

    def forward(xx):
        mlp.set_rng(np.random.default_rng(seed))
        return mlp.forward(xx)

    forward(x)
    masks = [layer.mask.copy() for layer in mlp.layers if isinstance(layer, Dropout)]
    assume(any(np.any(m == 0.0) for m in masks))
    _, margin = reference_forward(case, mlp.params, x, masks)
    assume(margin > KINK_MARGIN)
    u = rng.standard_normal(x.shape)
    S, grads = tangent_objective(mlp, x, u, r, rng.standard_normal(r.shape), forward)
    assert_gradient(S, mlp.params.copy(), grads, rng, eps=EPS, rtol=1e-5, atol=1e-7)


@given(case=cases(min_hidden=0))
def test_input_gradient_matches_finite_differences(case):
    case = type(case)(**{**case.__dict__, "sizes": (*case.sizes[:-1], 1)})
    mlp, x, _, rng = build(case)
    _, margin = reference_forward(case, mlp.params, x)
    assume(margin > KINK_MARGIN)
    grad = mlp.input_gradient(x).copy()
    assert grad.shape == x.shape
    assert_gradient(lambda xx: float(np.sum(mlp.forward(xx))), x, grad, rng, eps=EPS)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "maxout"])
def test_float32_second_order_agrees_with_float64(activation):
    nets = {}
    for dtype in (np.float32, np.float64):
        mlp = MLP([2, 16, 16, 1], activation, population=2, dtype=dtype)
        mlp.init([np.random.default_rng(i) for i in range(2)])
        nets[dtype] = mlp
    nets[np.float32].params[...] = nets[np.float64].params
    rng = np.random.default_rng(3)
    x, u = rng.standard_normal((2, 32, 2)), rng.standard_normal((2, 32, 2))
    gy, gydot = rng.standard_normal((2, 32, 1)), np.ones((2, 32, 1))
    grads = {}
    for dtype, mlp in nets.items():
        mlp.forward(x)
        mlp.tangent(u)
        mlp.tangent_backward(gy, gydot)
        assert mlp.grads.dtype == dtype
        grads[dtype] = mlp.grads.astype(np.float64)
    scale = np.abs(grads[np.float64]).max()
    assert np.abs(grads[np.float32] - grads[np.float64]).max() <= 1e-4 * scale


def test_batch_norm_refuses_second_order_passes():
    mlp = MLP([2, 4, 1], batchnorm=True)
    assert "batch norm" in mlp.second_order_unsupported()
    mlp.forward(np.zeros((1, 3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="batch norm"):
        mlp.tangent(np.zeros((1, 3, 2), dtype=np.float32))

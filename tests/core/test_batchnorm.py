"""BatchNorm and MLP(batchnorm=True): forward against a plain NumPy reference, backward
against central finite differences in float64, the member axis, gradient identities,
dtypes, allocation, and the kernel backends' per-op only (not fused) support.

The layer's checks compare the full gradient, coordinate by coordinate, with central
differences (step 1e-6): the error's norm must be within rtol 1e-6 of the numeric
gradient's norm (plus atol 1e-8 for the vanishing gradients of a batch of one). The MLP
checks use the directional checker of tests/test_nn.py (every member and layer at once, then
each parameterised layer's slice). As there, an example is redrawn when a ReLU input or a
maxout tie lies within KINK_MARGIN of the kink.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.gradcheck import assert_gradient
from toygan.core.nn import MLP, BatchNorm, Dropout, Linear, Maxout, ReLU, Tanh

STEP = 1e-6
KINK_MARGIN = 100 * STEP
BN_EPS = 1e-5


# ------------------------------------------------------------------ helpers
def ref_batchnorm(x, gamma, beta, eps=BN_EPS):
    """y from the definition; gamma, beta (..., F). np.var is the biased variance."""
    mu = np.mean(x, axis=-2, keepdims=True)
    var = np.var(x, axis=-2, keepdims=True)
    return gamma[..., None, :] * (x - mu) / np.sqrt(var + eps) + beta[..., None, :]


def numeric_gradient(f, x: np.ndarray, step: float = STEP) -> np.ndarray:
    """Central differences of the scalar f, one coordinate of x at a time (x is restored)."""
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + step
        up = f(x)
        flat[i] = keep - step
        down = f(x)
        flat[i] = keep
        gflat[i] = (up - down) / (2.0 * step)
    return grad


def assert_gradient_norm(analytic, numeric, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    err = float(np.linalg.norm(analytic - numeric))
    scale = float(np.linalg.norm(numeric))
    assert err <= atol + rtol * scale, f"gradient error {err:.3g} vs norm {scale:.3g}"


def assert_tight(actual, expected, rtol: float = 1e-12) -> None:
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def bound_layer(lead: tuple, n_features: int, rng, eps: float = BN_EPS, dtype=np.float64):
    """A BatchNorm bound to a random (lead..., 2F) buffer and NaN-filled grads."""
    layer = BatchNorm(n_features, eps)
    params = np.empty((*lead, layer.n_params), dtype=dtype)
    params[..., :n_features] = 1.0 + 0.5 * rng.standard_normal((*lead, n_features))
    params[..., n_features:] = rng.standard_normal((*lead, n_features))
    grads = np.full_like(params, np.nan)
    layer.bind(params, grads)
    return layer, params, grads


LEADS = ((), (1,), (3,))  # (): the MLP's P = 1 path, 2-D arrays


@st.composite
def layer_inputs(draw, min_batch: int = 1, leads: tuple = LEADS):
    lead = draw(st.sampled_from(leads))
    batch = draw(st.integers(min_batch, 7))
    n_features = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    # The scale 3e-3 puts the variance near eps, where eps matters; the offset tests centering.
    scale = draw(st.sampled_from((3e-3, 0.3, 1.0, 10.0)))
    offset = draw(st.sampled_from((0.0, 5.0)))
    rng = np.random.default_rng(seed)
    x = offset + scale * rng.standard_normal((*lead, batch, n_features))
    return lead, x, rng


# ------------------------------------------------------------------ the layer
@given(inputs=layer_inputs())
def test_forward_matches_reference(inputs):
    lead, x, rng = inputs
    f = x.shape[-1]
    layer, params, _ = bound_layer(lead, f, rng)
    gamma, beta = params[..., :f], params[..., f:]
    y = layer.forward(x)
    assert y.shape == x.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, ref_batchnorm(x, gamma, beta), rtol=1e-10, atol=1e-10)


@given(inputs=layer_inputs(min_batch=2))
def test_output_has_mean_beta_and_std_gamma(inputs):
    lead, x, rng = inputs
    f = x.shape[-1]
    layer, params, _ = bound_layer(lead, f, rng)
    gamma, beta = params[..., :f], params[..., f:]
    y = layer.forward(x)
    var = np.var(x, axis=-2)
    np.testing.assert_allclose(np.mean(y, axis=-2), beta, rtol=1e-9, atol=1e-9)
    # std(y) = |gamma| sqrt(var / (var + eps)): eps shrinks low-variance features.
    expected_std = np.abs(gamma) * np.sqrt(var / (var + BN_EPS))
    np.testing.assert_allclose(np.std(y, axis=-2), expected_std, rtol=1e-9, atol=1e-9)


def test_init_gamma_one_beta_zero_and_identity_like_output():
    layer = BatchNorm(3)
    row = np.full(layer.n_params, 7.0)
    layer.init(row, np.random.default_rng(0))
    np.testing.assert_array_equal(row, [1, 1, 1, 0, 0, 0])
    params, grads = row.copy(), np.zeros_like(row)
    layer.bind(params, grads)
    assert layer.gamma.shape == layer.beta.shape == (1, 3)
    assert np.shares_memory(layer.beta, params) and np.shares_memory(layer.beta_grad, grads)
    x = np.random.default_rng(1).standard_normal((2500, 3))
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)


@given(inputs=layer_inputs())
def test_backward_matches_finite_differences(inputs):
    lead, x, rng = inputs
    layer, params, grads = bound_layer(lead, x.shape[-1], rng)
    r = rng.standard_normal(x.shape)  # L = sum(y * r), so dL/dy = r
    layer.forward(x)
    dx = layer.backward(r).copy()
    assert dx.shape == x.shape
    assert not np.isnan(grads).any()  # backward writes into the bound buffer
    g = grads.copy()

    def loss_of_x(xx):
        return float(np.sum(layer.forward(xx) * r))

    base = params.copy()

    def loss_of_params(p):
        params[...] = p  # in place: the layer's views see it
        try:
            return float(np.sum(layer.forward(x) * r))
        finally:
            params[...] = base

    assert_gradient_norm(dx, numeric_gradient(loss_of_x, x.copy()))
    numeric = numeric_gradient(loss_of_params, base.copy())
    f = x.shape[-1]
    assert_gradient_norm(g[..., :f], numeric[..., :f])  # dgamma
    assert_gradient_norm(g[..., f:], numeric[..., f:])  # dbeta
    np.testing.assert_allclose(g[..., f:], r.sum(axis=-2), rtol=1e-12)  # dbeta = sum(g)


@given(inputs=layer_inputs(min_batch=2))
def test_input_gradient_sums_to_zero_and_is_orthogonal_to_xhat(inputs):
    lead, x, rng = inputs
    f = x.shape[-1]
    layer, params, _ = bound_layer(lead, f, rng)
    gamma = params[..., None, :f]
    r = rng.standard_normal(x.shape)
    layer.forward(x)
    dx = layer.backward(r)
    var = np.var(x, axis=-2, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (x - np.mean(x, axis=-2, keepdims=True)) * inv_std
    scale = np.max(np.abs(gamma * inv_std * r))  # the size of dx's terms
    # L is invariant to shifting a feature of the whole batch ...
    np.testing.assert_allclose(dx.sum(axis=-2), 0.0, atol=1e-12 * scale * x.shape[-2])
    # ... and, but for eps, to scaling it: sum(dx xhat) = gamma inv_std sum(g xhat) *
    # eps / (var + eps), which vanishes as eps -> 0 (and is ~0 where var >> eps).
    residual = gamma * inv_std * np.sum(r * xhat, axis=-2, keepdims=True) * BN_EPS / (
        var + BN_EPS)
    np.testing.assert_allclose(np.sum(dx * xhat, axis=-2, keepdims=True), residual,
                               atol=1e-12 * scale * x.shape[-2])


def test_input_gradient_is_orthogonal_to_xhat_as_eps_vanishes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 4))
    r = rng.standard_normal(x.shape)
    layer, _, _ = bound_layer((3,), 4, rng, eps=1e-300)
    layer.gamma[...], layer.beta[...] = 1.0, 0.0
    xhat = layer.forward(x).copy()
    dx = layer.backward(r)
    np.testing.assert_allclose(np.sum(dx * xhat, axis=-2), 0.0, atol=1e-13)
    np.testing.assert_allclose(np.sum(dx, axis=-2), 0.0, atol=1e-13)


@given(inputs=layer_inputs())
def test_backward_overwrites_grads_and_honours_flags(inputs):
    lead, x, rng = inputs
    layer, _, grads = bound_layer(lead, x.shape[-1], rng)
    r = rng.standard_normal(x.shape)
    layer.forward(x)
    dx = layer.backward(r).copy()
    once = grads.copy()
    layer.backward(r)  # again: overwrite, not accumulate
    np.testing.assert_array_equal(grads, once)
    grads[...] = rng.standard_normal(grads.shape)
    assert layer.backward(r, input_grad=False) is None
    np.testing.assert_array_equal(grads, once)
    grads[...] = 5.0
    np.testing.assert_array_equal(layer.backward(r, param_grads=False), dx)
    assert np.all(grads == 5.0)
    assert layer.backward(r, input_grad=False, param_grads=False) is None
    assert np.all(grads == 5.0)


@given(inputs=layer_inputs(leads=((3,),)))
def test_population_member_equals_single_layer(inputs):
    lead, x, rng = inputs
    f = x.shape[-1]
    layer, params, grads = bound_layer(lead, f, rng)
    r = rng.standard_normal(x.shape)
    y = layer.forward(x).copy()
    dx = layer.backward(r).copy()
    for i in range(3):
        single, p1, g1 = bound_layer((), f, rng)
        p1[...] = params[i]
        assert_tight(single.forward(x[i]), y[i])
        assert_tight(single.backward(r[i]), dx[i])
        assert_tight(g1, grads[i])


def test_a_batch_of_one_gives_beta_and_zero_gradients():
    rng = np.random.default_rng(0)
    layer, params, grads = bound_layer((2,), 3, rng)
    x = rng.standard_normal((2, 1, 3))
    r = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.forward(x), params[:, None, 3:])
    np.testing.assert_array_equal(layer.backward(r), 0.0)
    np.testing.assert_array_equal(grads[:, :3], 0.0)
    np.testing.assert_array_equal(grads[:, 3:], r[:, 0])


@pytest.mark.parametrize("lead", [(), (3,)])
def test_float32_close_to_float64(lead):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((*lead, 50, 8))
    r = rng.standard_normal(x.shape)
    l64, p64, g64 = bound_layer(lead, 8, rng)
    l32, p32, g32 = bound_layer(lead, 8, rng, dtype=np.float32)
    p32[...] = p64
    y64 = l64.forward(x).copy()
    dx64 = l64.backward(r).copy()
    y32 = l32.forward(x.astype(np.float32))
    dx32 = l32.backward(r.astype(np.float32))
    assert y32.dtype == dx32.dtype == g32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)


def test_steady_state_reuses_buffers_and_makes_no_large_temporaries():
    rng = np.random.default_rng(0)
    layer, _, _ = bound_layer((), 64, rng)
    x = rng.standard_normal((2500, 64))
    r = rng.standard_normal(x.shape)
    y = layer.forward(x)
    dx = layer.backward(r)
    n_buffers = len(layer._buffers)
    tracemalloc.start()
    try:
        assert layer.forward(x) is y
        assert layer.backward(r) is dx
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(layer._buffers) == n_buffers
    assert peak < x.nbytes // 8, peak  # nothing of the batch's size is allocated


@pytest.mark.parametrize(
    "make",
    [
        lambda: BatchNorm(0),
        lambda: BatchNorm(3, eps=0.0),
        lambda: BatchNorm(3, eps=-1e-5),
        lambda: BatchNorm(3).forward(np.zeros((4, 2))),
    ],
)
def test_rejects_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_repr():
    assert repr(BatchNorm(5)) == "BatchNorm(5, eps=1e-05)"
    assert "BatchNorm(6, eps=1e-05)" in repr(MLP([2, 3, 1], "maxout", pieces=2, batchnorm=True))


# ------------------------------------------------------------------ MLP(batchnorm=True)
@dataclass(frozen=True)
class Case:
    population: int
    sizes: tuple[int, ...]
    activation: str
    output_activation: str
    batch: int
    pieces: int
    seed: int


@st.composite
def cases(draw, min_hidden: int = 1, max_hidden: int = 2) -> Case:
    n_hidden = draw(st.integers(min_hidden, max_hidden))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n_hidden + 2, max_size=n_hidden + 2))
    activation = draw(st.sampled_from(("relu", "maxout")))
    return Case(
        population=draw(st.sampled_from((1, 3))),
        sizes=tuple(sizes),
        activation=activation,
        output_activation=draw(st.sampled_from(("identity", "tanh"))),
        batch=draw(st.integers(2, 6)),
        pieces=5 if activation == "maxout" else 2,
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def build(case: Case, dtype=np.float64, dropout: float = 0.0):
    mlp = MLP(
        case.sizes, case.activation, case.output_activation, population=case.population,
        dtype=dtype, dropout=dropout, pieces=case.pieces, batchnorm=True,
    )
    mlp.init([np.random.default_rng([case.seed, i]) for i in range(case.population)])
    rng = np.random.default_rng(case.seed)
    mlp.params += 0.1 * rng.standard_normal(mlp.params.shape)  # gamma != 1, beta != 0
    x = rng.standard_normal((case.population, case.batch, case.sizes[0]))
    r = rng.standard_normal((case.population, case.batch, case.sizes[-1]))
    return mlp, x, r, rng


def reference_forward(case: Case, params: np.ndarray, x: np.ndarray):
    """The output from the documented layout (hidden: W, b, gamma, beta; output: W, b) and
    the distance of the activations' inputs from the nearest kink or maxout tie."""
    h, margin, offset = x, np.inf, 0
    n_layers = len(case.sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(case.sizes[:-1], case.sizes[1:], strict=True)):
        hidden = i < n_layers - 1
        if hidden and case.activation == "maxout":
            n_out *= case.pieces
        w = params[:, offset:offset + n_in * n_out].reshape(-1, n_in, n_out)
        offset += n_in * n_out
        b = params[:, offset:offset + n_out]
        offset += n_out
        z = h @ w + b[:, None, :]
        if not hidden:
            h = np.tanh(z) if case.output_activation == "tanh" else z
            continue
        gamma = params[:, offset:offset + n_out]
        beta = params[:, offset + n_out:offset + 2 * n_out]
        offset += 2 * n_out
        z = ref_batchnorm(z, gamma, beta)
        if case.activation == "relu":
            margin = min(margin, float(np.min(np.abs(z))))
            h = np.maximum(z, 0.0)
        else:
            grouped = z.reshape(*z.shape[:-1], -1, case.pieces)
            top2 = np.sort(grouped, axis=-1)[..., -2:]
            margin = min(margin, float(np.min(top2[..., 1] - top2[..., 0])))
            h = grouped.max(axis=-1)
    assert offset == params.shape[1]
    return h, margin


def value(mlp, x, r) -> float:
    return float(np.sum(mlp.forward(x) * r))


def param_loss(mlp, x, r, where=slice(None)):
    base = mlp.params.copy()

    def f(p):
        mlp.params[:, where] = p
        try:
            return value(mlp, x, r)
        finally:
            mlp.params[...] = base

    return f


@given(case=cases())
def test_mlp_forward_matches_reference_and_backward_matches_finite_differences(case):
    mlp, x, r, rng = build(case)
    expected, margin = reference_forward(case, mlp.params, x)
    out = mlp.forward(x)
    assert out.shape == (case.population, case.batch, case.sizes[-1])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    assume(margin > KINK_MARGIN)
    mlp.forward(x)
    dx = mlp.backward(r).copy()
    grads = mlp.grads.copy()
    assert_gradient(lambda xx: value(mlp, xx, r), x, dx, rng, eps=STEP)
    assert_gradient(param_loss(mlp, x, r), mlp.params.copy(), grads, rng, eps=STEP)
    kinds = set()
    for layer, where in mlp.slices():
        kinds.add(type(layer))
        assert_gradient(param_loss(mlp, x, r, where), mlp.params[:, where].copy(),
                        grads[:, where], rng, eps=STEP)
    assert kinds == {Linear, BatchNorm}


@given(case=cases())
def test_mlp_population_member_equals_single_network(case):
    big, x, r, _ = build(case)
    out = big.forward(x).copy()
    dx = big.backward(r).copy()
    grads = big.grads.copy()
    _, margin = reference_forward(case, big.params, x)
    assume(margin > 1e-9)  # no sign or argmax decision may flip between 2-D and 3-D paths
    for i in range(case.population):
        single = MLP(case.sizes, case.activation, case.output_activation, population=1,
                     dtype=np.float64, pieces=case.pieces, batchnorm=True)
        single.params[0] = big.params[i]
        assert_tight(single.forward(x[i:i + 1])[0], out[i])
        assert_tight(single.backward(r[i:i + 1])[0], dx[i])
        assert_tight(single.grads[0], grads[i])


@given(case=cases())
def test_mlp_backward_overwrites_grads_and_input_grad_false_returns_none(case):
    mlp, x, r, rng = build(case)
    mlp.forward(x)
    dx = mlp.backward(r).copy()
    once = mlp.grads.copy()
    mlp.backward(r)
    np.testing.assert_array_equal(mlp.grads, once)
    mlp.grads[...] = rng.standard_normal(mlp.grads.shape)
    mlp.forward(x)
    assert mlp.backward(r, input_grad=False) is None
    np.testing.assert_array_equal(mlp.grads, once)
    mlp.grads[...] = 3.0
    mlp.forward(x)
    np.testing.assert_array_equal(mlp.backward(r, param_grads=False), dx)
    assert np.all(mlp.grads == 3.0)


@pytest.mark.parametrize("activation", ["relu", "maxout"])
def test_mlp_float32_close_to_float64(activation):
    case = Case(2, (3, 8, 8, 2), activation, "identity", 64, 5, 5)
    m64, x, r, _ = build(case)
    m32 = MLP(case.sizes, activation, population=2, pieces=5, batchnorm=True)
    m32.params[...] = m64.params
    out64 = m64.forward(x).copy()
    dx64 = m64.backward(r).copy()
    out32 = m32.forward(x)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    dx32 = m32.backward(r)
    assert dx32.dtype == np.float32 and m32.grads.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(m32.grads, m64.grads, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("activation, pieces", [("relu", 2), ("maxout", 5), ("tanh", 2)])
def test_mlp_layer_order_layout_and_init(activation, pieces):
    sizes = [3, 4, 6, 2]
    k = pieces if activation == "maxout" else 1
    plain = MLP(sizes, activation, "tanh", population=2, pieces=pieces, dropout=0.5)
    mlp = MLP(sizes, activation, "tanh", population=2, pieces=pieces, dropout=0.5,
              batchnorm=True)
    act = {"relu": ReLU, "maxout": Maxout, "tanh": Tanh}[activation]
    assert [type(layer) for layer in mlp.layers] == [
        Linear, BatchNorm, act, Dropout, Linear, BatchNorm, act, Dropout, Linear, Tanh]
    assert [type(layer) for layer in plain.layers] == [
        Linear, act, Dropout, Linear, act, Dropout, Linear, Tanh]
    assert [layer.n_features for layer in mlp.layers if isinstance(layer, BatchNorm)] == [
        4 * k, 6 * k]
    assert mlp.n_params == plain.n_params + 2 * (4 * k + 6 * k)
    rngs = lambda: [np.random.default_rng(1), np.random.default_rng(2)]  # noqa: E731
    plain.init(rngs())
    mlp.params[...] = 7.0
    mlp.init(rngs())
    # BN draws nothing at init: the Linear layers start where they start without BN.
    linears = [where for layer, where in mlp.slices() if isinstance(layer, Linear)]
    np.testing.assert_array_equal(
        np.concatenate([mlp.params[:, w] for w in linears], axis=1), plain.params)
    for layer, where in mlp.slices():
        if isinstance(layer, BatchNorm):
            f = layer.n_features
            np.testing.assert_array_equal(mlp.params[:, where][:, :f], 1.0)
            np.testing.assert_array_equal(mlp.params[:, where][:, f:], 0.0)
            assert np.shares_memory(layer.gamma, mlp.params)
            assert layer.gamma.shape == layer.beta_grad.shape == (2, 1, f)


def test_mlp_without_hidden_layers_has_no_batchnorm():
    mlp = MLP([3, 2], batchnorm=True)
    assert [type(layer) for layer in mlp.layers] == [Linear]


def test_kernel_backends_take_batchnorm_but_not_fused():
    from toygan.device.arrays import Device
    from toygan.device.mlp import DeviceMLP

    mlp = MLP([2, 4, 1], batchnorm=True)
    assert DeviceMLP(mlp, Device("reference")).fused_unsupported() == "batch norm is not fused"

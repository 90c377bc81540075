"""Layers and MLPs: forward against an independent reference, backward against central
finite differences in float64, the member axis, initialisation, dtypes and argument checks.

Every backward check differentiates the scalar L = sum(out * R) for a fixed random R, so
dL/dout = R. ReLU, LeakyReLU and maxout are piecewise linear: an example is redrawn
(hypothesis.assume) when a pre-activation lies within KINK_MARGIN of a kink or two maxout
pieces are within KINK_MARGIN of a tie, since a central difference with step 1e-6 could
then straddle the kink. The margin is 100 steps: a unit direction moves a pre-activation by
at most step * (Lipschitz constant), far below that for these small nets with O(1) weights.
Tolerances are the checker's defaults (rtol 1e-6, atol 1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.gradcheck import assert_gradient
from toygan.core.nn import (
    MLP,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    Maxout,
    ReLU,
    Sigmoid,
    Tanh,
    activation_layer,
)

EPS = 1e-6
KINK_MARGIN = 100 * EPS
HIDDEN = ("relu", "leaky_relu", "tanh", "sigmoid", "maxout")
OUTPUTS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")


# ------------------------------------------------------------------ reference
def ref_activation(name: str, z: np.ndarray, leak: float, pieces: int) -> np.ndarray:
    """Activations written directly from their definitions (no toygan code)."""
    if name == "identity":
        return z
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, leak * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "maxout":
        return z.reshape(*z.shape[:-1], z.shape[-1] // pieces, pieces).max(axis=-1)
    raise AssertionError(name)


def kink_distance(name: str, z: np.ndarray, leak: float, pieces: int) -> float:
    """How far the pre-activations z are from the activation's non-smooth set."""
    if name in ("relu", "leaky_relu") and z.size:
        return float(np.min(np.abs(z)))
    if name == "maxout" and pieces > 1 and z.size:
        grouped = np.sort(z.reshape(*z.shape[:-1], z.shape[-1] // pieces, pieces), axis=-1)
        return float(np.min(grouped[..., -1] - grouped[..., -2]))
    return np.inf


@dataclass(frozen=True)
class Case:
    population: int
    sizes: tuple[int, ...]
    activation: str
    output_activation: str
    batch: int
    leak: float
    pieces: int
    seed: int


@st.composite
def cases(draw, min_hidden: int = 1, max_hidden: int = 3) -> Case:
    n_hidden = draw(st.integers(min_hidden, max_hidden))
    sizes = draw(st.lists(st.integers(1, 9), min_size=n_hidden + 2, max_size=n_hidden + 2))
    activation = draw(st.sampled_from(HIDDEN))
    output_activation = draw(st.sampled_from(OUTPUTS))
    leak = draw(st.sampled_from((0.0, 0.01, 0.2, 0.5)))
    pieces = draw(st.integers(1, 3)) if activation == "maxout" else 2
    return Case(
        population=draw(st.integers(1, 3)),
        sizes=tuple(sizes),
        activation=activation,
        output_activation=output_activation,
        batch=draw(st.integers(1, 7)),
        leak=leak,
        pieces=pieces,
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def build(case: Case, dtype=np.float64, dropout: float = 0.0):
    """The MLP of a case with random (nonzero) biases, an input x and an output weight R."""
    mlp = MLP(
        case.sizes, case.activation, case.output_activation, population=case.population,
        dtype=dtype, dropout=dropout, leak=case.leak, pieces=case.pieces,
    )
    mlp.init([np.random.default_rng([case.seed, i]) for i in range(case.population)])
    rng = np.random.default_rng(case.seed)
    mlp.params += 0.1 * rng.standard_normal(mlp.params.shape)
    x = rng.standard_normal((case.population, case.batch, case.sizes[0]))
    r = rng.standard_normal((case.population, case.batch, case.sizes[-1]))
    return mlp, x, r, rng


def unpack(case: Case, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (P, n_in, n_out), b (P, n_out)) per Linear, read from the documented flat layout:
    each layer's row-major weight followed by its bias, hidden layers `pieces` times wider
    for maxout."""
    out, offset = [], 0
    n_layers = len(case.sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(case.sizes[:-1], case.sizes[1:], strict=True)):
        if i < n_layers - 1 and case.activation == "maxout":
            n_out *= case.pieces
        w = params[:, offset:offset + n_in * n_out].reshape(-1, n_in, n_out)
        offset += n_in * n_out
        b = params[:, offset:offset + n_out]
        offset += n_out
        out.append((w, b))
    assert offset == params.shape[1]
    return out


def reference_forward(case: Case, params: np.ndarray, x: np.ndarray, masks=None):
    """The MLP's output computed independently, and the distance of its pre-activations
    from the nearest kink. `masks`: the dropout multipliers after each hidden activation."""
    layers = unpack(case, params)
    h, margin = x, np.inf
    for i, (w, b) in enumerate(layers):
        z = h @ w + b[:, None, :]
        name = case.activation if i < len(layers) - 1 else case.output_activation
        margin = min(margin, kink_distance(name, z, case.leak, case.pieces))
        h = ref_activation(name, z, case.leak, case.pieces)
        if masks is not None and i < len(layers) - 1:
            h = h * masks[i].reshape(h.shape)
    return h, margin


def value(mlp: MLP, x: np.ndarray, r: np.ndarray) -> float:
    return float(np.sum(mlp.forward(x) * r))


def param_loss(mlp: MLP, x: np.ndarray, r: np.ndarray, where=slice(None)):
    """L as a function of mlp.params[:, where] (restored after each evaluation)."""
    base = mlp.params.copy()

    def f(p: np.ndarray) -> float:
        mlp.params[:, where] = p
        try:
            return value(mlp, x, r)
        finally:
            mlp.params[...] = base

    return f


def check_mlp_gradients(mlp: MLP, x: np.ndarray, r: np.ndarray, rng) -> None:
    mlp.forward(x)
    dx = mlp.backward(r).copy()
    grads = mlp.grads.copy()
    assert dx.shape == x.shape
    assert_gradient(lambda xx: value(mlp, xx, r), x, dx, rng, eps=EPS)
    # Every member and layer at once, then each Linear's slice on its own (so a small
    # layer's error cannot hide behind a large one's).
    assert_gradient(param_loss(mlp, x, r), mlp.params.copy(), grads, rng, eps=EPS)
    for _, where in mlp.slices():
        assert_gradient(
            param_loss(mlp, x, r, where), mlp.params[:, where].copy(), grads[:, where], rng,
            eps=EPS,
        )


def assert_tight(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-12) -> None:
    """Equal up to a few ulps of the array's scale (matmul paths may sum differently)."""
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ------------------------------------------------------------------ whole MLPs
@given(case=cases(min_hidden=0))
def test_mlp_forward_matches_reference(case):
    mlp, x, _, _ = build(case)
    expected, _ = reference_forward(case, mlp.params, x)
    out = mlp.forward(x)
    assert out.shape == (case.population, case.batch, case.sizes[-1])
    assert out.dtype == np.float64
    assert_tight(out, expected)


@given(case=cases())
def test_mlp_backward_matches_finite_differences(case):
    mlp, x, r, rng = build(case)
    _, margin = reference_forward(case, mlp.params, x)
    assume(margin > KINK_MARGIN)
    check_mlp_gradients(mlp, x, r, rng)


@given(case=cases(max_hidden=2), p=st.sampled_from((0.2, 0.5)))
def test_mlp_dropout_backward_matches_finite_differences_with_fixed_mask(case, p):
    mlp, x, r, rng = build(case, dropout=p)
    seed = case.seed + 1

    def forward(xx):
        mlp.set_rng(np.random.default_rng(seed))  # the same rng state: the same masks
        return mlp.forward(xx)

    out = forward(x).copy()
    masks = [layer.mask.copy() for layer in mlp.layers if isinstance(layer, Dropout)]
    assert len(masks) == len(case.sizes) - 2
    # Some unit is really dropped, else this would only repeat the plain-MLP check.
    assume(any(np.any(m == 0.0) for m in masks))
    expected, margin = reference_forward(case, mlp.params, x, masks)
    assert_tight(out, expected)  # dropout acts after each hidden activation
    assume(margin > KINK_MARGIN)

    forward(x)
    dx = mlp.backward(r).copy()
    grads = mlp.grads.copy()
    assert_gradient(lambda xx: float(np.sum(forward(xx) * r)), x, dx, rng, eps=EPS)
    base = mlp.params.copy()

    def f(params):
        mlp.params[...] = params
        try:
            return float(np.sum(forward(x) * r))
        finally:
            mlp.params[...] = base

    assert_gradient(f, base, grads, rng, eps=EPS)


@given(case=cases(min_hidden=0, max_hidden=2))
def test_population_member_equals_single_network(case):
    big, x, r, _ = build(case)
    out = big.forward(x).copy()
    dx = big.backward(r).copy()
    grads = big.grads.copy()
    # Sign/argmax decisions must not flip between the 2-D and 3-D matmul paths.
    _, margin = reference_forward(case, big.params, x)
    assume(margin > 1e-9)
    fresh = MLP(
        case.sizes, case.activation, case.output_activation, population=case.population,
        dtype=np.float64, leak=case.leak, pieces=case.pieces,
    )
    fresh.init([np.random.default_rng([case.seed, j]) for j in range(case.population)])
    for i in range(case.population):
        single = MLP(
            case.sizes, case.activation, case.output_activation, population=1,
            dtype=np.float64, leak=case.leak, pieces=case.pieces,
        )
        # init: member i of the population is the single run started from rng i.
        single.init([np.random.default_rng([case.seed, i])])
        np.testing.assert_array_equal(single.params[0], fresh.params[i])
        single.params[0] = big.params[i]
        assert_tight(single.forward(x[i:i + 1])[0], out[i])
        assert_tight(single.backward(r[i:i + 1])[0], dx[i])
        assert_tight(single.grads[0], grads[i])


@given(case=cases())
def test_param_grads_false_leaves_grads_and_gives_input_gradient(case):
    mlp, x, r, rng = build(case)
    mlp.forward(x)
    dx_full = mlp.backward(r).copy()
    sentinel = rng.standard_normal(mlp.grads.shape)
    mlp.grads[...] = sentinel
    mlp.forward(x)
    dx = mlp.backward(r, input_grad=True, param_grads=False)
    np.testing.assert_array_equal(mlp.grads, sentinel)
    np.testing.assert_array_equal(dx, dx_full)


@given(case=cases())
def test_input_grad_false_returns_none_and_fills_grads(case):
    mlp, x, r, rng = build(case)
    mlp.forward(x)
    mlp.backward(r)
    grads_full = mlp.grads.copy()
    mlp.grads[...] = rng.standard_normal(mlp.grads.shape)
    mlp.forward(x)
    assert mlp.backward(r, input_grad=False) is None
    np.testing.assert_array_equal(mlp.grads, grads_full)
    # Neither gradient: still None, grads untouched.
    mlp.grads[...] = 3.0
    mlp.forward(x)
    assert mlp.backward(r, input_grad=False, param_grads=False) is None
    assert np.all(mlp.grads == 3.0)


@given(case=cases())
def test_backward_overwrites_grads_instead_of_accumulating(case):
    mlp, x, r, _ = build(case)
    mlp.forward(x)
    mlp.backward(r)
    once = mlp.grads.copy()
    assume(np.any(once != 0))
    mlp.backward(r)
    np.testing.assert_array_equal(mlp.grads, once)


def test_backward_follows_the_latest_forward_of_another_batch_size():
    case = Case(2, (3, 5, 2), "tanh", "identity", 4, 0.2, 2, 11)
    mlp, x, r, rng = build(case)
    other = rng.standard_normal((2, 6, 3))
    mlp.forward(x)
    expected = mlp.backward(r).copy()
    mlp.forward(other)  # evaluation at another batch size in between
    mlp.forward(x)
    np.testing.assert_array_equal(mlp.backward(r), expected)


def test_float32_backward_close_to_float64():
    case = Case(2, (3, 8, 8, 2), "tanh", "sigmoid", 5, 0.2, 2, 5)
    m64, x, r, _ = build(case)
    m32 = MLP(case.sizes, "tanh", "sigmoid", population=2)
    m32.params[...] = m64.params
    out64 = m64.forward(x).copy()
    dx64 = m64.backward(r).copy()
    out32 = m32.forward(x)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-6)
    dx32 = m32.backward(r)  # float64 grad_out into a float32 net
    assert dx32.dtype == np.float32 and m32.grads.dtype == np.float32
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m32.grads, m64.grads, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("leak", [0.0, 0.01, 0.5])
def test_output_leaky_relu_uses_the_networks_leak(leak):
    # MLP(leak=...) is the network's leaky-ReLU slope; a leaky_relu output layer should use
    # it too, not a hidden default.
    mlp = MLP([1, 1], "leaky_relu", "leaky_relu", dtype=np.float64, leak=leak)
    mlp.params[0] = [1.0, 0.0]  # w = 1, b = 0: the output is leaky_relu(x)
    out = mlp.forward(np.array([[[-2.0], [3.0]]]))
    np.testing.assert_array_equal(out[0, :, 0], [-2.0 * leak, 3.0])


# ------------------------------------------------------------------ layers directly
shapes_2d_or_3d = st.one_of(
    st.tuples(st.integers(1, 7), st.integers(1, 9)),
    st.tuples(st.integers(1, 3), st.integers(1, 7), st.integers(1, 9)),
)


@given(
    name=st.sampled_from(("relu", "leaky_relu", "tanh", "sigmoid", "maxout", "identity")),
    shape=shapes_2d_or_3d,
    leak=st.sampled_from((0.0, 0.01, 0.2, 0.5)),
    pieces=st.integers(1, 3),
    scale=st.sampled_from((0.5, 3.0)),
    seed=st.integers(0, 2**32 - 1),
)
def test_activation_layer_forward_and_backward(name, shape, leak, pieces, scale, seed):
    rng = np.random.default_rng(seed)
    layer = activation_layer(name, leak=leak, pieces=pieces)
    if name == "maxout":
        shape = (*shape[:-1], shape[-1] * pieces)
    x = scale * rng.standard_normal(shape)
    assume(kink_distance(name, x, leak, pieces) > KINK_MARGIN)
    expected = ref_activation(name, x, leak, pieces)
    y = layer.forward(x).copy()
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-15)
    r = rng.standard_normal(expected.shape)
    dx = layer.backward(r).copy()
    assert dx.shape == x.shape
    assert_gradient(lambda xx: float(np.sum(layer.forward(xx) * r)), x, dx, rng, eps=EPS)
    layer.forward(x)
    assert layer.backward(r, input_grad=False) is None


@pytest.mark.parametrize(
    "layer, x, expected",
    [
        (ReLU(), [-2.0, -0.5, 0.5, 3.0], [0.0, 0.0, 1.0, 1.0]),
        (LeakyReLU(0.1), [-2.0, -0.5, 0.5, 3.0], [0.1, 0.1, 1.0, 1.0]),
        (Tanh(), [0.0, 1.0], [1.0, 1.0 - np.tanh(1.0) ** 2]),
        (Sigmoid(), [0.0, -40.0], [0.25, np.exp(-40.0) / (1 + np.exp(-40.0)) ** 2]),
        (Maxout(2), [1.0, 3.0, -1.0, -2.0], [0.0, 1.0, 1.0, 0.0]),
        (Maxout(2), [2.0, 2.0], [1.0, 0.0]),  # a tie: the first maximal piece
        (Identity(), [-1.0, 2.0], [1.0, 1.0]),
    ],
    ids=["relu", "leaky_relu", "tanh", "sigmoid", "maxout", "maxout_tie", "identity"],
)
def test_activation_layer_known_derivatives(layer, x, expected):
    x = np.array([x])
    layer.forward(x)
    dx = layer.backward(np.ones((1, x.shape[1] // getattr(layer, "pieces", 1))))
    np.testing.assert_allclose(dx[0], expected, rtol=1e-12)


def test_sigmoid_and_tanh_saturate_without_warnings():
    x = np.array([[-1e4, -800.0, 0.0, 800.0, 1e4]])
    with np.errstate(all="raise"):
        s = Sigmoid().forward(x)
        t = Tanh().forward(x)
    np.testing.assert_array_equal(s, [[0.0, 0.0, 0.5, 1.0, 1.0]])
    np.testing.assert_array_equal(t, [[-1.0, -1.0, 0.0, 1.0, 1.0]])


@given(
    n_in=st.integers(1, 9),
    n_out=st.integers(1, 9),
    batch=st.integers(1, 7),
    population=st.one_of(st.none(), st.integers(1, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_linear_forward_and_backward(n_in, n_out, batch, population, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(n_in, n_out)
    assert layer.n_params == n_in * n_out + n_out
    lead = () if population is None else (population,)
    params = rng.standard_normal((*lead, layer.n_params))
    grads = np.full_like(params, np.nan)
    layer.bind(params, grads)
    x = rng.standard_normal((*lead, batch, n_in))
    r = rng.standard_normal((*lead, batch, n_out))
    w = params[..., : n_in * n_out].reshape(*lead, n_in, n_out)
    b = params[..., n_in * n_out:]
    assert_tight(layer.forward(x), x @ w + b[..., None, :])
    dx = layer.backward(r).copy()
    assert not np.isnan(grads).any()  # backward writes into the bound buffer
    g = grads.copy()
    assert_gradient(lambda xx: float(np.sum(layer.forward(xx) * r)), x, dx, rng, eps=EPS)
    base = params.copy()

    def f(p):
        params[...] = p  # in place: the layer's views see it
        try:
            return float(np.sum(layer.forward(x) * r))
        finally:
            params[...] = base

    assert_gradient(f, base, g, rng, eps=EPS)
    layer.forward(x)
    grads[...] = 5.0
    np.testing.assert_array_equal(layer.backward(r, param_grads=False), dx)
    assert np.all(grads == 5.0)
    assert layer.backward(r, input_grad=False) is None
    np.testing.assert_array_equal(grads, g)


# ------------------------------------------------------------------ dropout
@given(
    shape=shapes_2d_or_3d,
    p=st.sampled_from((0.1, 0.5, 0.9)),
    seed=st.integers(0, 2**32 - 1),
)
def test_dropout_train_backward_matches_finite_difference_with_fixed_mask(shape, p, seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(p)
    x = rng.standard_normal(shape)
    r = rng.standard_normal(shape)

    def forward(xx):
        layer.rng = np.random.default_rng(seed + 1)
        return layer.forward(xx)

    y = forward(x).copy()
    # Inverted dropout: each unit is dropped or scaled by 1/(1-p).
    dropped = y == 0.0
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1.0 - p), rtol=1e-15)
    dx = layer.backward(r).copy()
    np.testing.assert_array_equal(dx[dropped], 0.0)
    np.testing.assert_allclose(dx[~dropped], r[~dropped] / (1.0 - p), rtol=1e-15)
    assert_gradient(lambda xx: float(np.sum(forward(xx) * r)), x, dx, rng, eps=EPS)
    forward(x)
    assert layer.backward(r, input_grad=False) is None


def test_dropout_statistics_and_fresh_masks():
    p = 0.3
    layer = Dropout(p, rng=np.random.default_rng(0))
    x = np.ones((4, 50_000))
    y = layer.forward(x).copy()
    n = x.size
    frac = np.mean(y == 0.0)
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert set(np.unique(y)) == {0.0, 1.0 / (1.0 - p)}
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    assert not np.array_equal(layer.forward(x), y)  # the next draw is a new mask


@given(shape=shapes_2d_or_3d, p=st.sampled_from((0.0, 0.5)), seed=st.integers(0, 2**32 - 1))
def test_dropout_eval_is_identity(shape, p, seed):
    rng = np.random.default_rng(seed)
    layer = Dropout(p, rng=np.random.default_rng(0))
    layer.training = False
    x = rng.standard_normal(shape)
    r = rng.standard_normal(shape)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(r), r)


def test_mlp_dropout_eval_equals_network_without_dropout():
    case = Case(3, (2, 7, 7, 1), "relu", "identity", 6, 0.2, 2, 4)
    with_dropout, x, r, _ = build(case, dropout=0.5)
    plain, _, _, _ = build(case)
    assert with_dropout.n_params == plain.n_params
    np.testing.assert_array_equal(with_dropout.params, plain.params)
    with_dropout.set_rng(np.random.default_rng(1))
    train_out = with_dropout.forward(x).copy()
    assert with_dropout.eval() is with_dropout
    eval_out = with_dropout.forward(x).copy()
    np.testing.assert_array_equal(eval_out, plain.forward(x))
    np.testing.assert_array_equal(with_dropout.backward(r), plain.backward(r))
    np.testing.assert_array_equal(with_dropout.grads, plain.grads)
    assert not np.array_equal(train_out, eval_out)
    assert with_dropout.train() is with_dropout
    assert not np.array_equal(with_dropout.forward(x), eval_out)


def test_dropout_in_training_needs_an_rng():
    mlp = MLP([2, 4, 1], dropout=0.5)
    with pytest.raises(RuntimeError):
        mlp.forward(np.zeros((1, 3, 2)))
    mlp.eval()
    mlp.forward(np.zeros((1, 3, 2)))  # eval mode needs no rng


# ------------------------------------------------------------------ initialisation
def excess_kurtosis(w: np.ndarray) -> float:
    w = w - w.mean()
    return float(np.mean(w**4) / np.mean(w**2) ** 2 - 3.0)


def layer_weights(mlp: MLP, member: int):
    out = []
    for layer, where in mlp.slices():
        flat = mlp.params[member, where]
        nw = layer.n_in * layer.n_out
        out.append((layer.n_in, layer.n_out, flat[:nw], flat[nw:]))
    return out


def assert_he(w: np.ndarray, fan_in: int, leak: float = 0.0) -> None:
    std = np.sqrt(2.0 / (1.0 + leak**2) / fan_in)
    assert abs(w.std() / std - 1.0) < 0.02, (w.std(), std)
    assert abs(w.mean()) < 5 * std / np.sqrt(w.size)
    assert abs(excess_kurtosis(w)) < 0.15  # normal, not uniform (-1.2)


def assert_glorot(w: np.ndarray, fan_in: int, fan_out: int) -> None:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.max(np.abs(w)) <= limit
    assert np.max(np.abs(w)) > 0.99 * limit
    assert abs(w.std() / (limit / np.sqrt(3.0)) - 1.0) < 0.02
    assert abs(excess_kurtosis(w) + 1.2) < 0.15  # uniform


@pytest.mark.parametrize("activation, leak", [("relu", 0.2), ("leaky_relu", 0.5)])
def test_he_init_for_rectifier_hidden_layers_glorot_for_output(activation, leak):
    mlp = MLP([300, 400, 300, 200], activation, population=2, dtype=np.float64, leak=leak)
    mlp.params[...] = 7.0  # init must overwrite everything, biases included
    mlp.init([np.random.default_rng(1), np.random.default_rng(2)])
    hidden_leak = leak if activation == "leaky_relu" else 0.0
    for member in range(2):
        (i1, _, w1, b1), (i2, _, w2, b2), (i3, o3, w3, b3) = layer_weights(mlp, member)
        assert_he(w1, i1, hidden_leak)
        assert_he(w2, i2, hidden_leak)
        assert_glorot(w3, i3, o3)
        for b in (b1, b2, b3):
            assert np.all(b == 0.0)
    assert not np.array_equal(mlp.params[0], mlp.params[1])


@pytest.mark.parametrize("activation, pieces", [("tanh", 2), ("sigmoid", 2), ("maxout", 3)])
def test_glorot_init_for_other_activations(activation, pieces):
    mlp = MLP([300, 250, 200], activation, pieces=pieces, dtype=np.float64)
    mlp.init([np.random.default_rng(3)])
    (i1, o1, w1, b1), (i2, o2, w2, b2) = layer_weights(mlp, 0)
    assert o1 == 250 * (pieces if activation == "maxout" else 1)
    assert_glorot(w1, i1, o1)
    assert_glorot(w2, i2, o2)
    assert np.all(b1 == 0.0) and np.all(b2 == 0.0)


def test_init_is_reproducible_and_needs_one_rng_per_member():
    a = MLP([3, 5, 2], population=2)
    b = MLP([3, 5, 2], population=2)
    a.init([np.random.default_rng(0), np.random.default_rng(1)])
    b.init([np.random.default_rng(0), np.random.default_rng(1)])
    np.testing.assert_array_equal(a.params, b.params)
    with pytest.raises(ValueError):
        a.init([np.random.default_rng(0)])


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_parameter_count_and_layout(pieces):
    mlp = MLP([3, 4, 5, 2], "maxout", pieces=pieces, population=2)
    k = pieces
    assert mlp.n_params == (3 * 4 * k + 4 * k) + (4 * 5 * k + 5 * k) + (5 * 2 + 2)
    assert mlp.params.shape == mlp.grads.shape == (2, mlp.n_params)
    for layer, where in mlp.slices():
        assert np.shares_memory(layer.weight, mlp.params)
        mlp.params[:, where] = np.arange(layer.n_params)
        np.testing.assert_array_equal(layer.weight[1].ravel(), np.arange(layer.n_in * layer.n_out))
        np.testing.assert_array_equal(layer.bias[1].ravel(), np.arange(layer.n_in * layer.n_out,
                                                                       layer.n_params))


# ------------------------------------------------------------------ dtypes
def test_float32_is_the_default_dtype():
    mlp = MLP([2, 3, 1], population=2)
    assert mlp.params.dtype == np.float32 and mlp.grads.dtype == np.float32
    out = mlp.forward(np.zeros((2, 4, 2), dtype=np.float64))
    assert out.dtype == np.float32
    assert mlp.backward(np.ones((2, 4, 1))).dtype == np.float32


def test_float64_on_request():
    mlp = MLP([2, 3, 1], dtype=np.float64)
    assert mlp.params.dtype == np.float64 and mlp.grads.dtype == np.float64
    out = mlp.forward(np.zeros((1, 4, 2), dtype=np.float32))
    assert out.dtype == np.float64
    assert mlp.backward(np.ones((1, 4, 1), dtype=np.float32)).dtype == np.float64


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(sizes=[3]),
        dict(sizes=[]),
        dict(sizes=[3, 0, 1]),
        dict(sizes=[0, 2]),
        dict(sizes=[2, -1]),
        dict(sizes=[2, 1], activation="softmax"),
        dict(sizes=[2, 3, 1], activation="swish"),
        dict(sizes=[2, 3, 1], output_activation="softmax"),
        dict(sizes=[2, 3, 1], output_activation="maxout"),
        dict(sizes=[2, 3, 1], population=0),
        dict(sizes=[2, 3, 1], dtype=np.int64),
        dict(sizes=[2, 3, 1], dtype=np.float16),
        dict(sizes=[2, 3, 1], activation="leaky_relu", leak=1.0),
        dict(sizes=[2, 3, 1], activation="maxout", pieces=0),
        dict(sizes=[2, 3, 1], dropout=1.0),
    ],
)
def test_mlp_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        MLP(**kwargs)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4, 2), (1, 4, 3), (1, 1, 4, 2), (4,)])
def test_mlp_rejects_wrong_input_shape(shape):
    mlp = MLP([2, 3, 1])
    with pytest.raises(ValueError):
        mlp.forward(np.zeros(shape))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Linear(0, 2),
        lambda: Linear(2, 0),
        lambda: Linear(2, 2, init="xavier"),
        lambda: LeakyReLU(1.0),
        lambda: LeakyReLU(-0.1),
        lambda: Maxout(0),
        lambda: Dropout(1.0),
        lambda: Dropout(-0.1),
        lambda: activation_layer("gelu"),
        lambda: Maxout(2).forward(np.zeros((3, 5))),
    ],
)
def test_layers_reject_bad_arguments(make):
    with pytest.raises(ValueError):
        make()

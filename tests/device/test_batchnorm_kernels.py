"""batchnorm.cu against its NumPy references (toygan.device.reference), through the
emulator in CI and on the GPU (or the CuPy stand-in) where the `cuda` kinds run; the
backward also against central finite differences of the forward kernel, in float64.

Shapes include 1, primes and sizes either side of the tile (16) on both axes; inputs are
random normals, some shifted far from zero (where a one-pass variance would cancel);
outputs are poisoned and fenced (kernel_check.Output), member-strided where the kernels
take a stride. The error bounds follow kernel_check's table: a batch mean differs by a
sum's bound over B terms, and the normalisation carries it, scaled by 1/std.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.gradcheck import assert_gradient
from tests.kernel_check import DTYPES, TOLERANCES, Backend, Output, assert_close, backend_kinds
from toygan.device import reference
from toygan.device.geometry import ACTIVATION_CODES

# Every test in each fiber order of tests/device/conftest.py.
pytestmark = pytest.mark.usefixtures("fiber_order")

KINDS = [pytest.param(k, marks=pytest.mark.gpu) if k == "cuda" else k for k in backend_kinds()]
ROWS = st.sampled_from([1, 2, 7, 16, 17, 33, 129, 513])
WIDTHS = st.sampled_from([1, 2, 3, 15, 16, 17, 33])
MEMBERS = st.sampled_from([1, 2, 3])
SEEDS = st.integers(0, 2**32 - 1)
EPS = 1e-5
LEAK = 0.2
# Sizes either side of the tile on both axes, with several members, in every run.
EXAMPLES = [dict(P=2, B=513, N=17), dict(P=1, B=1, N=33), dict(P=3, B=17, N=1),
            dict(P=1, B=16, N=16)]

_BACKENDS: dict = {}


def backend(kind: str, dtype: str) -> Backend:
    if (kind, dtype) not in _BACKENDS:
        _BACKENDS[kind, dtype] = Backend(kind, dtype)
    return _BACKENDS[kind, dtype]


def with_examples(**extra):
    def decorate(test):
        for sizes in EXAMPLES:
            for dtype in DTYPES:
                test = example(dtype=dtype, seed=5, **sizes, **extra)(test)
        return test
    return decorate


def bn_params(rng, P, N, dtype):
    """gamma, beta as the (P, 2, N) block of a wider flat buffer (member-strided)."""
    flat = rng.standard_normal((P, 3 + 2 * N + 4)).astype(dtype)
    return flat, flat[:, 3:3 + 2 * N].reshape(P, 2, N)


def device_view(be, flat, N):
    return be.to_device(flat)[:, 3:3 + 2 * N].reshape(flat.shape[0], 2, N)


def forward_reference(x, gb, act):
    P, B, N = x.shape
    y, xhat, inv_std = np.empty_like(x), np.empty_like(x), np.empty((P, N), x.dtype)
    reference.batchnorm_forward(x, gb, y, xhat, inv_std, EPS, act, LEAK)
    return y, xhat, inv_std


@pytest.mark.parametrize("kind", KINDS)
@with_examples(act="leaky_relu", shift=100.0, strided=True)
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, B=ROWS, N=WIDTHS,
       act=st.sampled_from(sorted(ACTIVATION_CODES)), shift=st.sampled_from([0.0, 100.0]),
       strided=st.booleans(), seed=SEEDS)
def test_batchnorm_forward(kind, dtype, P, B, N, act, shift, strided, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    # x as a member-strided view (rows before it in each member), like D's input halves.
    parent = (rng.standard_normal((P, B + 2, N)) * 3 + shift).astype(dtype)
    x = parent[:, 2:] if strided else np.ascontiguousarray(parent[:, 2:])
    flat, gb = bn_params(rng, P, N, dtype)
    y = Output(be, (P, B, N), lead_rows=3 if strided else 0)
    xhat, inv_std = Output(be, (P, B, N)), Output(be, (P, N))
    dev_x = be.to_device(parent)[:, 2:] if strided else be.to_device(x)
    be.ops.batchnorm_forward(dev_x, device_view(be, flat, N), y.array, xhat.array,
                             inv_std.array, EPS, act, LEAK)
    want_y, want_xhat, want_s = forward_reference(x, gb, act)
    s = want_s[:, None].astype(np.float64)
    # The two means differ by a sum's bound over B terms of |x| (then / B); the relative
    # error of inv_std is within that of a sum of B positive terms (the squares).
    mean_abs = np.abs(x.astype(np.float64)).mean(axis=1, keepdims=True)
    bound_xhat = s * tol.reduction(B, mean_abs) + tol.reduction(B, np.abs(want_xhat))
    gamma, beta = np.abs(gb[:, :1]), np.abs(gb[:, 1:])
    # Activations are 1-Lipschitz; then their own rounding.
    bound_y = (gamma * bound_xhat + tol.elementwise(gamma * np.abs(want_xhat) + beta)
               + tol.elementwise(np.abs(want_y)))
    assert_close("batchnorm_forward inv_std", inv_std.result(), want_s,
                 tol.reduction(B, want_s))
    assert_close("batchnorm_forward xhat", xhat.result(), want_xhat, bound_xhat)
    assert_close("batchnorm_forward y", y.result(), want_y, bound_y)


@pytest.mark.parametrize("kind", KINDS)
@with_examples(param_grads=True)
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, B=ROWS, N=WIDTHS, param_grads=st.booleans(),
       seed=SEEDS)
def test_batchnorm_backward(kind, dtype, P, B, N, param_grads, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    x = (rng.standard_normal((P, B, N)) * 2 + 1).astype(dtype)
    flat, gb = bn_params(rng, P, N, dtype)
    _, xhat, inv_std = forward_reference(x, gb, "identity")
    dy = rng.standard_normal((P, B, N)).astype(dtype)
    dx = Output(be, (P, B, N))
    # ggb as a member-strided view into a gradient buffer (rows before it in each member).
    ggb = Output(be, (P, 2, N), lead_rows=3) if param_grads else None
    be.ops.batchnorm_backward(be.to_device(dy), be.to_device(xhat), be.to_device(inv_std),
                              device_view(be, flat, N), dx.array,
                              None if ggb is None else ggb.array)
    want_dx, want_ggb = np.empty_like(dy), np.empty((P, 2, N), dtype)
    reference.batchnorm_backward(dy, xhat, inv_std, gb, want_dx, want_ggb)
    g, h = np.abs(dy.astype(np.float64)), np.abs(xhat.astype(np.float64))
    scale = np.abs(gb[:, :1] * inv_std[:, None])
    mean_g, mean_gx = g.mean(axis=1, keepdims=True), (g * h).mean(axis=1, keepdims=True)
    bound_dx = scale * (tol.reduction(B, mean_g) + h * tol.reduction(B, mean_gx)
                        + tol.elementwise(g + h * mean_gx + mean_g)) \
        + tol.elementwise(np.abs(want_dx))
    assert_close("batchnorm_backward dx", dx.result(), want_dx, bound_dx)
    if ggb is not None:  # result() also checks the rows around it were not written
        bound = np.concatenate([tol.reduction(B, (g * h).sum(axis=1, keepdims=True)),
                                tol.reduction(B, g.sum(axis=1, keepdims=True))], axis=1)
        assert_close("batchnorm_backward ggb", ggb.result(), want_ggb, bound)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("act", ["identity", "tanh", "sigmoid"])
def test_batchnorm_backward_matches_finite_differences(kind, act):
    """In float64: the gradient of sum(w * y) through both kernels, with respect to x,
    gamma and beta, against central differences of the forward kernel."""
    be, rng = backend(kind, "float64"), np.random.default_rng(3)
    P, B, N = 2, 19, 17
    x = rng.standard_normal((P, B, N)) * 1.5 - 0.5
    gb = rng.standard_normal((P, 2, N))
    w = rng.standard_normal((P, B, N))

    def forward(x, gb):
        outs = [Output(be, s) for s in ((P, B, N), (P, B, N), (P, N))]
        be.ops.batchnorm_forward(be.to_device(x), be.to_device(gb), *[o.array for o in outs],
                                 EPS, act, LEAK)
        return [o.result() for o in outs]

    y, xhat, inv_std = forward(x, gb)
    dy = w * reference.activation_grad(y, act, LEAK)  # what linear_backward_input hands down
    dx, ggb = Output(be, (P, B, N)), Output(be, (P, 2, N))
    be.ops.batchnorm_backward(be.to_device(dy), be.to_device(xhat), be.to_device(inv_std),
                              be.to_device(gb), dx.array, ggb.array)
    assert_gradient(lambda v: float((w * forward(v, gb)[0]).sum()), x, dx.result(), rng)
    assert_gradient(lambda v: float((w * forward(x, v.reshape(gb.shape))[0]).sum()), gb,
                    ggb.result(), rng)


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_of_one_normalises_to_beta_with_zero_gradients(kind):
    be = backend(kind, "float32")
    x = np.array([[[3.0, -2.0, 7.5]]], np.float32)
    gb = np.array([[[2.0, -1.0, 0.5], [0.25, -3.0, 1.0]]], np.float32)
    y, xhat, inv_std = (Output(be, s) for s in ((1, 1, 3), (1, 1, 3), (1, 3)))
    be.ops.batchnorm_forward(be.to_device(x), be.to_device(gb), y.array, xhat.array,
                             inv_std.array, EPS, "identity", 0.0)
    assert np.array_equal(y.result(), gb[:, 1:]) and not xhat.result().any()
    dx, ggb = Output(be, (1, 1, 3)), Output(be, (1, 2, 3))
    dy = np.array([[[1.0, 2.0, -4.0]]], np.float32)
    be.ops.batchnorm_backward(be.to_device(dy), be.to_device(xhat.result()),
                              be.to_device(inv_std.result()), be.to_device(gb), dx.array,
                              ggb.array)
    assert not dx.result().any()
    assert np.array_equal(ggb.result(), np.concatenate([np.zeros_like(dy), dy], axis=1))


def test_the_wrappers_check_shapes_and_layouts():
    be = backend("emu", "float32")
    x, gb = np.zeros((2, 5, 3), np.float32), np.ones((2, 2, 3), np.float32)
    y, xhat, s = np.empty_like(x), np.empty_like(x), np.empty((2, 3), np.float32)
    with pytest.raises(ValueError, match="batchnorm_forward"):
        be.ops.batchnorm_forward(x, gb[:1], y, xhat, s, EPS, "relu", 0.0)
    with pytest.raises(ValueError, match="xhat must be contiguous"):
        wide = np.empty((2, 5, 6), np.float32)
        be.ops.batchnorm_forward(x, gb, y, wide[:, :, :3], s, EPS, "relu", 0.0)
    with pytest.raises(ValueError, match="dtype"):
        be.ops.batchnorm_forward(x.astype(np.float64), gb, y, xhat, s, EPS, "relu", 0.0)
    with pytest.raises(ValueError, match="batchnorm_backward"):
        be.ops.batchnorm_backward(x, xhat, s, gb, y, np.empty((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match="batchnorm_forward"):  # an empty batch has no mean
        empty = np.empty((2, 0, 3), np.float32)
        be.ops.batchnorm_forward(empty, gb, empty, empty, s, EPS, "relu", 0.0)

"""Every CUDA kernel against its NumPy reference (toygan.reference), through the emulator
in CI and on the GPU when one is present (marked `gpu`).

Shapes include 1, primes and sizes either side of the tile (16) and block (256) sizes;
data are random normals, never zeros; outputs are poisoned and fenced (kernel_check.Output).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.kernel_check import DTYPES, TOLERANCES, Backend, Output, assert_close, backend_kinds
from toygan.device import reference
from toygan.device.geometry import ACTIVATION_CODES, LOSS_CODES, MAX_MODES

# Every test in each fiber order of tests/device/conftest.py.
pytestmark = pytest.mark.usefixtures("fiber_order")

KINDS = [pytest.param(k, marks=pytest.mark.gpu) if k == "cuda" else k for k in backend_kinds()]
ROWS = st.sampled_from([1, 2, 7, 16, 17, 127, 128, 129, 513])
WIDTHS = st.sampled_from([1, 2, 3, 7, 16, 17, 33, 128, 129])
MEMBERS = st.sampled_from([1, 2, 3])
SEEDS = st.integers(0, 2**32 - 1)
FUSED = st.sampled_from(sorted(ACTIVATION_CODES))
# Hypothesis favours small draws; these make sure every run covers sizes either side of
# the tile and the block, with several members.
LINEAR_EXAMPLES = [
    dict(P=2, B=513, K=129, N=127), dict(P=1, B=129, K=128, N=1), dict(P=3, B=1, K=1, N=129),
    dict(P=1, B=127, K=17, N=16),
]


def linear_examples(test):
    for sizes in LINEAR_EXAMPLES:
        for dtype in DTYPES:
            test = example(dtype=dtype, seed=7, **sizes, **EXTRA[test.__name__])(test)
    return test


EXTRA = {"test_linear_forward": dict(act="leaky_relu", strided=True),
         "test_linear_backward_input": dict(act="tanh", use_mask=True),
         "test_linear_backward_params": {}}

_BACKENDS: dict = {}


def backend(kind: str, dtype: str) -> Backend:
    if (kind, dtype) not in _BACKENDS:
        _BACKENDS[kind, dtype] = Backend(kind, dtype)
    return _BACKENDS[kind, dtype]


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def flat_params(rng, P, K, N, dtype):
    """A layer's (P, K+1, N) block inside a wider flat buffer, as in a network."""
    flat = normal(rng, (P, 5 + (K + 1) * N + 3), dtype)
    return flat, flat[:, 5:5 + (K + 1) * N].reshape(P, K + 1, N)


# ------------------------------------------------------------------ linear.cu
@pytest.mark.parametrize("kind", KINDS)
@linear_examples
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, B=ROWS, K=WIDTHS, N=WIDTHS, act=FUSED,
       strided=st.booleans(), seed=SEEDS)
def test_linear_forward(kind, dtype, P, B, K, N, act, strided, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    x = normal(rng, (P, B, K), dtype)
    flat, wb = flat_params(rng, P, K, N, dtype)
    out = Output(be, (P, B, N), lead_rows=3 if strided else 0)
    dev_flat = be.to_device(flat)
    dev_wb = dev_flat[:, 5:5 + (K + 1) * N].reshape(P, K + 1, N)
    be.ops.linear_forward(be.to_device(x), dev_wb, out.array, act, 0.2)
    want = np.empty((P, B, N), dtype)
    reference.linear_forward(x, wb, want, act, 0.2)
    magnitude = np.abs(x) @ np.abs(wb[:, :K]) + np.abs(wb[:, K:])
    # The product's rounding (activations are 1-Lipschitz) plus the activation's own.
    bound = tol.reduction(K + 1, magnitude) + tol.elementwise(np.abs(want))
    assert_close("linear_forward", out.result(), want, bound)


@pytest.mark.parametrize("kind", KINDS)
@linear_examples
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, B=ROWS, K=WIDTHS, N=WIDTHS, act=FUSED,
       use_mask=st.booleans(), seed=SEEDS)
def test_linear_backward_input(kind, dtype, P, B, K, N, act, use_mask, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    dy = normal(rng, (P, B, N), dtype)
    flat, wb = flat_params(rng, P, K, N, dtype)
    y_below = reference.activate(normal(rng, (P, B, K), dtype), act, 0.2).astype(dtype)
    mask = (rng.random((P, B, K)) >= 0.5).astype(dtype) * dtype_of(dtype)(2) if use_mask else None
    out = Output(be, (P, B, K))
    dev_flat = be.to_device(flat)
    dev_wb = dev_flat[:, 5:5 + (K + 1) * N].reshape(P, K + 1, N)
    be.ops.linear_backward_input(be.to_device(dy), dev_wb, be.to_device(y_below),
                                 None if mask is None else be.to_device(mask), out.array, act,
                                 0.2)
    want = np.empty((P, B, K), dtype)
    reference.linear_backward_input(dy, wb, y_below, mask, want, act, 0.2)
    scale = np.abs(reference.activation_grad(y_below, act, 0.2))
    if mask is not None:
        scale = scale * mask
    magnitude = (np.abs(dy) @ np.abs(wb[:, :K]).swapaxes(1, 2)) * scale
    assert_close("linear_backward_input", out.result(), want, tol.reduction(N, magnitude))


def dtype_of(name):
    return np.dtype(name).type


@pytest.mark.parametrize("kind", KINDS)
@linear_examples
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, B=ROWS, K=WIDTHS, N=WIDTHS, seed=SEEDS)
def test_linear_backward_params(kind, dtype, P, B, K, N, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    x, dy = normal(rng, (P, B, K), dtype), normal(rng, (P, B, N), dtype)
    out = Output(be, (P, K + 1, N))
    be.ops.linear_backward_params(be.to_device(x), be.to_device(dy), out.array)
    want = np.empty((P, K + 1, N), dtype)
    reference.linear_backward_params(x, dy, want)
    x1 = np.concatenate([np.abs(x), np.ones((P, B, 1), dtype)], axis=2)
    magnitude = x1.swapaxes(1, 2) @ np.abs(dy)
    assert_close("linear_backward_params", out.result(), want, tol.reduction(B, magnitude))


# ------------------------------------------------------------- activations.cu
@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), rows=ROWS, F=WIDTHS, pieces=st.sampled_from([1, 2, 3, 5]),
       ties=st.booleans(), seed=SEEDS)
def test_maxout_forward_and_backward(kind, dtype, rows, F, pieces, ties, seed):
    be, rng = backend(kind, dtype), np.random.default_rng(seed)
    z = normal(rng, (1, rows, F * pieces), dtype)
    if ties:  # coarse values make equal pieces common: the first maximal piece must win
        z = np.round(z).astype(dtype)
    y, arg = Output(be, (1, rows, F)), Output(be, (1, rows, F), np.int32)
    be.ops.maxout_forward(be.to_device(z), y.array, arg.array, pieces)
    want_y, want_arg = np.empty((1, rows, F), dtype), np.empty((1, rows, F), np.int32)
    reference.maxout_forward(z, want_y, want_arg, pieces)
    assert_close("maxout_forward y", y.result(), want_y, 0.0)
    assert_close("maxout_forward arg", arg.result(), want_arg, 0)

    dy = normal(rng, (1, rows, F), dtype)
    dz = Output(be, (1, rows, F * pieces))
    be.ops.maxout_backward(be.to_device(dy), be.to_device(want_arg), dz.array, pieces)
    want_dz = np.empty((1, rows, F * pieces), dtype)
    reference.maxout_backward(dy, want_arg, want_dz, pieces)
    assert_close("maxout_backward", dz.result(), want_dz, 0.0)


@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), n=ROWS, p=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
       seed=SEEDS)
def test_dropout_forward(kind, dtype, n, p, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    x = normal(rng, (1, n, 3), dtype)
    u = rng.random((1, n, 3)).astype(dtype)
    y, mask = Output(be, (1, n, 3)), Output(be, (1, n, 3))
    be.ops.dropout_forward(be.to_device(x), be.to_device(u), y.array, mask.array, p)
    want_y, want_mask = np.empty_like(x), np.empty_like(x)
    reference.dropout_forward(x, u, want_y, want_mask, p)
    assert_close("dropout mask", mask.result(), want_mask, tol.elementwise(want_mask))
    assert_close("dropout y", y.result(), want_y, tol.elementwise(np.abs(want_y)))


# ------------------------------------------------------------------ losses.cu
@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, m=ROWS, loss=st.sampled_from(sorted(LOSS_CODES)),
       scale=st.sampled_from([1.0, 30.0]), seed=SEEDS)
def test_losses(kind, dtype, P, m, loss, scale, seed):
    """Both sides of every loss; scale 30 drives the logits where a naive form overflows."""
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    for side, rows in (("discriminator", 2 * m), ("generator", m)):
        logits = (normal(rng, (P, rows, 1), dtype) * dtype_of(dtype)(scale))
        grad, value = Output(be, (P, rows, 1)), Output(be, (P,))
        getattr(be.ops, f"loss_{side}")(be.to_device(logits), grad.array, value.array, loss)
        want_grad, want_value = np.empty_like(logits), np.empty((P,), dtype)
        getattr(reference, f"loss_{side}")(logits, want_grad, want_value, loss)
        assert_close(f"loss_{side} grad", grad.result(), want_grad,
                     tol.elementwise(np.abs(want_grad) + 1.0 / m))
        # The value is a mean of per-sample terms no larger than |l| + 1 (+ l^2/2 for LS).
        terms = (np.abs(logits) + 1 + 0.5 * logits.astype(np.float64) ** 2)[..., 0]
        assert_close(f"loss_{side} value", value.result(), want_value,
                     tol.reduction(rows, terms.sum(axis=1) / m))


# ------------------------------------------------------------------- optim.cu
@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), n=st.sampled_from([1, 7, 255, 256, 257, 4099]),
       rule=st.sampled_from(["sgd", "adam", "rmsprop", "clip"]), seed=SEEDS)
def test_optimizer_updates(kind, dtype, n, rule, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    params, grads = normal(rng, (n,), dtype), normal(rng, (n,), dtype)
    states = [np.abs(normal(rng, (n,), dtype)) for _ in range(2)]
    args = {"sgd": (1e-2, 0.9), "adam": (0.5, 0.999, 1e-8, 2e-4 / (1 - 0.5**3),
                                         1 / np.sqrt(1 - 0.999**3)),
            "rmsprop": (1e-3, 0.99, 1e-8), "clip": (0.5,)}[rule]
    n_states = {"sgd": 1, "adam": 2, "rmsprop": 1, "clip": 0}[rule]
    name = "clip_params" if rule == "clip" else f"{rule}_update"
    dev = [be.to_device(params)] + ([be.to_device(grads)] if n_states else [])
    dev += [be.to_device(s) for s in states[:n_states]]
    getattr(be.ops, name)(*dev, *args)
    host = [params.copy()] + ([grads] if n_states else []) + [s.copy() for s in states[:n_states]]
    getattr(reference, name)(*host, *args)
    for i, label in ((0, "params"), *((2 + j, f"state {j}") for j in range(n_states))):
        got = be.to_host(dev[i])
        # Each element is a short chain of roundings; the update step bounds its size.
        magnitude = np.abs(host[i]) + np.abs(host[i] - ([params] + [grads] + states)[i]) + 1e-3
        assert_close(f"{name} {label}", got, host[i], tol.elementwise(magnitude))


# ------------------------------------------------------------------ random.cu
# Random123's published known-answer vectors for Philox4x32-10.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("counter,key,expected", PHILOX_KAT)
def test_philox_known_answers(kind, counter, key, expected):
    be = backend(kind, "float32")
    counters = np.array([counter], dtype=np.uint32)
    want = np.empty((1, 4), np.uint32)
    reference.philox4x32(counters, want, key)
    assert tuple(int(w) for w in want[0]) == expected, "reference Philox"
    out = Output(be, (1, 4), np.uint32)
    be.ops.philox4x32(be.to_device(counters), out.array, key)
    assert tuple(int(w) for w in out.result()[0]) == expected, "kernel Philox"


@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), n=st.sampled_from([1, 3, 4, 5, 1023, 1025, 4099]),
       call=st.sampled_from([0, 1, 2**32 + 7]), seed=SEEDS)
def test_random_draws(kind, dtype, n, call, seed):
    be, tol = backend(kind, dtype), TOLERANCES[np.dtype(dtype)]
    key = (seed & 0xFFFFFFFF, (seed * 2654435761) & 0xFFFFFFFF)
    uniform, normal_ = Output(be, (n,)), Output(be, (n,))
    be.ops.random_uniform(uniform.array, key, call, -1.0, 3.0)
    be.ops.random_normal(normal_.array, key, call)
    want_u, want_z = np.empty(n, dtype), np.empty(n, dtype)
    reference.random_uniform(want_u, key, call, -1.0, 3.0)
    reference.random_normal(want_z, key, call)
    assert_close("random_uniform", uniform.result(), want_u, tol.elementwise(np.abs(want_u)))
    # cos(2 pi u) near its zeros: an absolute error of a few ulps of the radius (<= 6).
    assert_close("random_normal", normal_.result(), want_z, tol.elementwise(8.0))
    assert ((want_u > -1) & (want_u < 3)).all()


@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), P=st.sampled_from([1, 3]), n=st.sampled_from([1, 5, 37]),
       seed=SEEDS)
def test_member_draws_are_each_members_own_stream(kind, dtype, P, n, seed):
    """random_*_members: member p draws what random_* draws with its key and call."""
    be, rng = backend(kind, dtype), np.random.default_rng(seed)
    keys = rng.integers(0, 2**32, (P, 2), dtype=np.uint32)
    calls = rng.integers(0, 2**40, P, dtype=np.uint64)
    for name, extra in (("uniform", (-2.0, 3.0)), ("normal", ())):
        out = Output(be, (P, n))
        getattr(be.ops, f"random_{name}_members")(out.array, be.to_device(keys), calls, *extra)
        want = np.empty((P, n), dtype)  # the reference: random_* member by member
        getattr(reference, f"random_{name}_members")(want, keys, calls, *extra)
        assert_close(f"random_{name}_members", out.result(), want,
                     TOLERANCES[np.dtype(dtype)].elementwise(np.abs(want) + 1))


def test_random_streams_have_the_right_distribution():
    n = 200_000
    u, z = np.empty(n), np.empty(n)
    reference.random_uniform(u, (1, 2), 0, 0.0, 1.0)
    reference.random_normal(z, (1, 2), 0)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(z.mean()) < 5 / np.sqrt(n) and abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    other = np.empty(n)
    reference.random_normal(other, (1, 2), 1)  # the next call: fresh numbers
    assert abs(np.corrcoef(z, other)[0, 1]) < 5 / np.sqrt(n)


# ----------------------------------------------------------------- mixture.cu
@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), P=MEMBERS, n=ROWS, C=st.sampled_from([1, 3, 8, 25]),
       dim=st.sampled_from([1, 2, 3]), seed=SEEDS)
def test_mixture_sample(kind, dtype, P, n, C, dim, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    weights = rng.dirichlet(np.ones(C))
    cdf = np.cumsum(weights).astype(dtype)
    cdf[-1] = 1
    means, stds = normal(rng, (C, dim), dtype), (rng.random((C, dim)) + 0.1).astype(dtype)
    u = rng.random((P, n)).astype(dtype)
    z = normal(rng, (P, n, dim), dtype)
    out = Output(be, (P, n, dim), lead_rows=n)  # like D's input: real rows first
    be.ops.mixture_sample(*(be.to_device(a) for a in (u, z, cdf, means, stds)), out.array)
    want = np.empty((P, n, dim), dtype)
    reference.mixture_sample(u, z, cdf, means, stds, want)
    assert_close("mixture_sample", out.result(), want,
                 tol.elementwise(np.abs(means).max() + np.abs(want) + np.abs(z)))


@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), n=st.sampled_from([1, 7, 255, 256, 257, 2500]),
       C=st.sampled_from([1, 2, 8, 25, MAX_MODES]), dim=st.sampled_from([1, 2, 3]),
       seed=SEEDS)
def test_nearest_mode_and_histogram(kind, dtype, n, C, dim, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    means = (normal(rng, (C, dim), dtype) * 4).astype(dtype)
    inv_stds = (1 / (rng.random((C, dim)) + 0.2)).astype(dtype)
    x = (means[rng.integers(0, C, n)] + normal(rng, (n, dim), dtype) * 0.7).astype(dtype)
    mode, dist = Output(be, (n,), np.int32), Output(be, (n,))
    dev_args = [be.to_device(a) for a in (x, means, inv_stds)]
    be.ops.nearest_mode(*dev_args, mode.array, dist.array)
    want_mode, want_dist = np.empty(n, np.int32), np.empty(n, dtype)
    reference.nearest_mode(x, means, inv_stds, want_mode, want_dist)
    assert_close("nearest_mode mode", mode.result(), want_mode, 0)
    assert_close("nearest_mode dist", dist.result(), want_dist,
                 tol.reduction(dim, want_dist + 1.0))

    counts = Output(be, (C,), np.int32)
    be.ops.mode_histogram(be.to_device(want_mode), be.to_device(want_dist), counts.array, 3.0)
    want_counts = np.empty(C, np.int32)
    reference.mode_histogram(want_mode, want_dist, want_counts, 3.0)
    assert_close("mode_histogram", counts.result(), want_counts, 0)


def test_mode_histogram_refuses_more_modes_than_it_holds():
    be = backend("emu", "float32")
    with pytest.raises(ValueError, match="at most"):
        be.ops.mode_histogram(np.zeros(3, np.int32), np.zeros(3, np.float32),
                              np.zeros(MAX_MODES + 1, np.int32), 3.0)

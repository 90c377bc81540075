"""The fused training steps (kernels/fused.cu) against their NumPy references, through the
emulator in CI and on a GPU when present; and the engine's fused path against its per-op
path and the NumPy engine.

The fused kernels and the references sum the same products in different orders (a chunk's
rows, then blocks; the reference: whole matrix products). Through a chain of L <= 4 layers
of <= 129-term sums each element differs by at most ~(2L + 1) * 129 unit roundoffs of the
largest term, so the bound is 2^10 units of (|element| + the member's term scale: its
largest element, or the sum of |dL/dlogit| / m behind the output bias when that is larger,
as when a gradient cancels to rounding noise): an unwritten element (poisoned NaN), a wrong
chunk or a wrong row is off by O(1).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.kernel_check import DTYPES, TOLERANCES, Backend, Output, assert_close, backend_kinds
from toygan.config import Config, ConfigError
from toygan.device import reference
from toygan.device.geometry import (
    FUSED_MAX_BLOCKS,
    LOSS_CODES,
    fused_blocks,
    fused_chunks,
    fused_rows,
    fused_unsupported,
)
from toygan.gan.device_gan import DeviceGAN

# Every test in each fiber order of tests/device/conftest.py.
pytestmark = pytest.mark.usefixtures("fiber_order")

KINDS = [pytest.param(k, marks=pytest.mark.gpu) if k == "cuda" else k for k in backend_kinds()]
ACTS = st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"])
WIDTHS = st.sampled_from([1, 2, 3, 17, 33, 128, 129])
_BACKENDS: dict = {}


def backend(kind: str, dtype: str) -> Backend:
    if (kind, dtype) not in _BACKENDS:
        _BACKENDS[kind, dtype] = Backend(kind, dtype)
    return _BACKENDS[kind, dtype]


def n_params(dims) -> int:
    return sum((k + 1) * n for k, n in zip(dims[:-1], dims[1:], strict=True))


def bound(tol, want, terms=None) -> np.ndarray:
    """2^10 units of (|element| + its member's scale): the largest element of the member's
    output, or `terms` (P,) where larger -- the sum of |terms| behind the output bias's
    gradient, which a gradient that cancels to ~0 (a Wasserstein critic's output bias, a
    member whose ReLUs are all dead) still carries as rounding."""
    scale = np.abs(want).reshape(want.shape[0], -1).max(axis=1)
    if terms is not None:
        scale = np.maximum(scale, terms)
    scale = scale.reshape((-1,) + (1,) * (want.ndim - 1))
    return 1024 * tol.unit * (np.abs(want) + scale)


def _term_scale(layers, acts, scale) -> np.ndarray:
    """The scale of the terms behind an MLP's output, from its input's `scale`:
    S_(l+1) = |W_l| (|a_l| + S_l) + |b_l| (every activation is 1-Lipschitz), the running
    error bound of a chain of sums -- an output that cancels to ~0 still carries rounding
    of the order of its largest terms."""
    for wb, a in zip(layers, acts[:-1], strict=True):
        k = a.shape[-1]
        scale = (np.abs(a) + scale) @ np.abs(wb[:, :k]) + np.abs(wb[:, k:])
    return scale


def loss_term_scale(step, x_real, noise, g_params, d_params, g_dims, d_dims, g_act, d_act,
                    loss) -> tuple[np.ndarray, np.ndarray]:
    """Per member, sum_r |dL/dlogit_r| / m, the |terms| of the output bias's gradient, and
    sum_r (|L_r| + |dL/dlogit_r| S_r) / m, those of the loss, where S_r is the logit's term
    scale through G and D (a Wasserstein loss, -logit, cancels to ~0 with the logit)."""
    P, m = noise.shape[:2]
    scale, value_scale = np.empty(P), np.empty(P)
    for p in range(P):
        g_layers = reference._mlp_layers(g_params[p].astype(np.float64), g_dims)
        d_layers = reference._mlp_layers(d_params[p].astype(np.float64), d_dims)
        fake = reference._mlp_forward(g_layers, g_act, 0.2, noise[p:p + 1].astype(np.float64))
        fake_scale = _term_scale(g_layers, fake, 0.0)
        if step == "discriminator":
            real = x_real[p:p + 1].astype(np.float64)
            inputs = np.concatenate([real, fake[-1]], axis=1)
            input_scale = np.concatenate([np.zeros_like(real), fake_scale], axis=1)
        else:
            inputs, input_scale = fake[-1], fake_scale
        d_acts = reference._mlp_forward(d_layers, d_act, 0.2, inputs)
        logits = d_acts[-1][0, :, 0]
        logit_scale = _term_scale(d_layers, d_acts, input_scale)[0, :, 0]
        if step == "discriminator":
            v, g = reference._discriminator_terms(logits, np.arange(2 * m) < m, loss)
        else:
            v, g = reference._generator_terms(logits, loss)
        scale[p] = np.abs(g).sum() / m
        value_scale[p] = (np.abs(v) + np.abs(g) * logit_scale).sum() / m
    return scale, value_scale


@st.composite
def networks(draw):
    dim, nz = draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2, 3]))
    g_hidden = draw(st.lists(WIDTHS, min_size=1, max_size=3))
    d_hidden = draw(st.lists(WIDTHS, min_size=1, max_size=3))
    return (nz, *g_hidden, dim), (dim, *d_hidden, 1)


FUSED_EXAMPLES = [
    # The default mixture8 model; a batch that leaves a partial last chunk.
    dict(nets=((2, 128, 128, 2), (2, 128, 128, 1)), m=37, P=1, blocks="all"),
    # Several members, one block looping over every chunk; single-row chunks are m = 1.
    dict(nets=((3, 17, 2), (2, 33, 3, 1)), m=40, P=3, blocks="one"),
    dict(nets=((1, 129, 1), (1, 2, 1)), m=1, P=2, blocks="all"),
]
# A Wasserstein logit that cancels: its loss is off by ~15x a bound scaled by |loss| alone.
CANCELLING_EXAMPLE = dict(dtype="float64", nets=((3, 129, 2), (2, 33, 129, 1)), m=1, P=2,
                          blocks="all", g_act="tanh", d_act="tanh", loss="wasserstein", seed=18)


def fused_examples(test):
    for ex in FUSED_EXAMPLES:
        for dtype in DTYPES:
            test = example(dtype=dtype, g_act="relu", d_act="leaky_relu", loss="nonsaturating",
                           seed=5, **ex)(test)
    return example(**CANCELLING_EXAMPLE)(test)


def draw_inputs(rng, dtype, P, m, g_dims, d_dims):
    def normal(shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    # Weights scaled like He initialisation keep every layer's output of order one.
    def params(dims):
        return np.concatenate([normal((P, (k + 1) * n), np.sqrt(2.0 / (k + 1)))
                               for k, n in zip(dims[:-1], dims[1:], strict=True)], axis=1)

    return (normal((P, m + 3, d_dims[0])), normal((P, m, g_dims[0])), params(g_dims),
            params(d_dims))


@pytest.mark.parametrize("kind", KINDS)
@fused_examples
@given(dtype=st.sampled_from(DTYPES), nets=networks(), m=st.sampled_from([1, 2, 15, 16, 17, 37]),
       P=st.sampled_from([1, 2]), blocks=st.sampled_from(["one", "two", "all"]), g_act=ACTS,
       d_act=ACTS, loss=st.sampled_from(sorted(LOSS_CODES)), seed=st.integers(0, 2**32 - 1))
def test_fused_steps_match_reference(kind, dtype, nets, m, P, blocks, g_act, d_act, loss, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]
    g_dims, d_dims = nets
    assert fused_unsupported(g_dims, d_dims, np.dtype(dtype).itemsize) is None
    padded_real, noise, g_params, d_params = draw_inputs(rng, dtype, P, m, g_dims, d_dims)
    # The real rows are a member-strided view, as the engine passes D's input buffer.
    x_real = padded_real[:, 3:]
    R = fused_rows(g_dims, d_dims, np.dtype(dtype).itemsize)
    for step in ("discriminator", "generator"):
        chunks = fused_chunks(m, R, step == "discriminator")
        n_blocks = {"one": 1, "two": min(2, chunks), "all": fused_blocks(chunks)}[blocks]
        n = n_params(d_dims if step == "discriminator" else g_dims)
        partial, loss_partial = Output(be, (P, n_blocks, n)), Output(be, (P, n_blocks))
        want_partial, want_loss = np.empty((P, n_blocks, n), dtype), np.empty((P, n_blocks), dtype)
        nets_args = (g_dims, d_dims, g_act, 0.2, d_act, 0.2, loss)
        if step == "discriminator":
            device_real = be.to_device(padded_real)[:, 3:]
            be.ops.fused_discriminator_step(device_real, be.to_device(noise),
                                            be.to_device(g_params), be.to_device(d_params),
                                            *nets_args, partial.array, loss_partial.array)
            reference.fused_discriminator_step(x_real, noise, g_params, d_params, *nets_args,
                                               want_partial, want_loss)
        else:
            be.ops.fused_generator_step(be.to_device(noise), be.to_device(g_params),
                                        be.to_device(d_params), *nets_args, partial.array,
                                        loss_partial.array)
            reference.fused_generator_step(noise, g_params, d_params, *nets_args, want_partial,
                                           want_loss)
        terms, value_terms = loss_term_scale(step, x_real, noise, g_params, d_params, g_dims,
                                             d_dims, g_act, d_act, loss)
        assert_close(f"{step} partial gradients", partial.result(), want_partial,
                     bound(tol, want_partial, terms))
        assert_close(f"{step} partial losses", loss_partial.result(), want_loss,
                     bound(tol, want_loss, value_terms))


def test_partial_gradients_sum_to_the_per_op_gradient():
    """The reference's block partials add up to the gradient the per-op references give
    (the fused steps compute the same quantity, only grouped by chunks)."""
    rng, dtype, m, P = np.random.default_rng(2), np.float64, 21, 2
    g_dims, d_dims = (2, 9, 2), (2, 7, 5, 1)
    padded_real, noise, g_params, d_params = draw_inputs(rng, dtype, P, m, g_dims, d_dims)
    x_real = padded_real[:, 3:]
    d_partial, loss_partial = np.empty((P, 3, n_params(d_dims))), np.empty((P, 3))
    reference.fused_discriminator_step(x_real, noise, g_params, d_params, g_dims, d_dims, "tanh",
                                       0.0, "relu", 0.0, "minimax", d_partial, loss_partial)
    # Per-op: G forward, D forward on [real, fake], loss_discriminator, D backward.
    g_layers = reference._mlp_layers(g_params[0], g_dims)
    d_layers = reference._mlp_layers(d_params[0], d_dims)
    fake = reference._mlp_forward(g_layers, "tanh", 0.0, noise[:1])[-1]
    acts = reference._mlp_forward(d_layers, "relu", 0.0,
                                  np.concatenate([x_real[:1], fake], axis=1))
    grad, value = np.empty_like(acts[-1]), np.empty(1)
    reference.loss_discriminator(acts[-1], grad, value, "minimax")
    gwbs = [np.empty_like(wb) for wb in d_layers]
    reference._mlp_backward(d_layers, acts, "relu", 0.0, grad, gwbs, input_grad=False)
    want = np.concatenate([g.reshape(-1) for g in gwbs])
    np.testing.assert_allclose(d_partial[0].sum(axis=0), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss_partial[0].sum() / m, value[0], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@given(dtype=st.sampled_from(DTYPES), P=st.sampled_from([1, 3]),
       blocks=st.sampled_from([1, 2, 7, FUSED_MAX_BLOCKS]), n=st.sampled_from([1, 33, 257]),
       rule=st.sampled_from(["sgd", "adam", "rmsprop"]), clip=st.sampled_from([0.0, 0.05]),
       seed=st.integers(0, 2**32 - 1))
def test_fused_update_matches_reference(kind, dtype, P, blocks, n, rule, clip, seed):
    be, rng, tol = backend(kind, dtype), np.random.default_rng(seed), TOLERANCES[np.dtype(dtype)]

    def normal(shape):
        return rng.standard_normal(shape).astype(dtype)

    partial, loss_partial = normal((P, blocks, n)), normal((P, blocks))
    params, s1, s2 = normal((P, n)), np.abs(normal((P, n))), np.abs(normal((P, n)))
    hyper = {"sgd": (1e-2, 0.9), "adam": (0.5, 0.999, 1e-8, 2e-4 / (1 - 0.5**3),
                                          1 / np.sqrt(1 - 0.999**3)),
             "rmsprop": (1e-3, 0.99, 1e-8)}[rule]
    inv_m = 1 / 37
    want = [a.copy() for a in (params, s1, s2)]
    want_grads, want_value = np.empty((P, n), dtype), np.empty(P, dtype)
    reference.fused_update(partial, *want[:1], want_grads, *want[1:], rule, hyper, clip,
                           loss_partial, want_value, inv_m)
    got = [be.to_device(a) for a in (params, s1, s2)]
    grads, value = Output(be, (P, n)), Output(be, (P,))
    be.ops.fused_update(be.to_device(partial), got[0], grads.array, got[1], got[2], rule, hyper,
                        clip, be.to_device(loss_partial), value.array, inv_m)
    magnitude = np.abs(partial.astype(np.float64)).sum(axis=1)
    assert_close("fused_update grads", grads.result(), want_grads,
                 tol.reduction(blocks, magnitude))
    assert_close("fused_update value", value.result(), want_value,
                 tol.reduction(blocks, np.abs(loss_partial.astype(np.float64)).sum(axis=1)
                               * inv_m))
    # The update divides by sqrt of a state that holds g^2: the sums' rounding shows at
    # the scale of the step (lr), as in the per-op optimiser test of test_engine.
    for name, g, w in zip(("params", "s1", "s2"), got, want, strict=True):
        assert_close(f"fused_update {name}", be.to_host(g), w,
                     1024 * tol.unit * (np.abs(w) + 1e-2))


# ----------------------------------------------------------------- the engine
def small_config(**overrides) -> Config:
    base = dict(preset="mixture8", hidden=[19, 17], batch=37, noise_dim=3, k=2, seed=3,
                dtype="float64", eval_every=5, eval_samples=300, backend="emu")
    base.update(overrides)
    return Config(**base)


@pytest.mark.parametrize("kind", ["reference", *KINDS])
@pytest.mark.parametrize("case", [
    dict(),
    # The critic's output bias has an exactly zero gradient under the Wasserstein loss;
    # RMSprop and Adam would divide its rounding noise by eps (see test_engine), SGD not.
    dict(loss="wasserstein", optimizer="sgd", d_activation="tanh", clip=0.05),
    dict(loss="least_squares", optimizer="rmsprop", g_activation="sigmoid", noise="uniform"),
], ids=["default", "wasserstein-sgd-clip", "least_squares-rmsprop"])
def test_fused_and_per_op_paths_follow_the_same_trajectory(kind, case):
    """With the engine's own Philox draws, three iterations of each path agree (float64)."""
    gans = []
    for path in ("fused", "per-op"):
        config = small_config(kernels=path, **case)
        gans.append(DeviceGAN(config, config.validate(), kind))
    assert [g.kernel_path for g in gans] == ["fused", "per-op"]
    for _ in range(3):
        losses = [gan.iteration() for gan in gans]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    a, b = (gan.state_dict() for gan in gans)
    for key in ("g_params", "d_params", "opt_d.m", "opt_g.m", "opt_d.velocity",
                "opt_g.square_avg"):
        if key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(gans[0].grad_norms(), gans[1].grad_norms(), rtol=1e-10)
    assert a["philox"] == b["philox"]


def test_auto_picks_fused_where_the_networks_allow():
    default = small_config()
    assert DeviceGAN(default, default.validate(), "emu").kernel_path == "fused"
    for options in (dict(d_activation="maxout"), dict(dropout=0.2)):
        config = small_config(**options)
        assert DeviceGAN(config, config.validate(), "emu").kernel_path == "per-op"
        forced = small_config(kernels="fused", **options)
        with pytest.raises(ConfigError, match="--kernels fused: .* not fused"):
            DeviceGAN(forced, forced.validate(), "emu")


def test_networks_too_wide_for_the_pool_fall_back():
    reason = fused_unsupported((2, 4000, 2), (2, 4000, 1), 4)
    assert reason is not None and "shared pool" in reason
    config = small_config(hidden=[4000], dtype="float32")
    assert DeviceGAN(config, config.validate(), "reference").kernel_path == "per-op"
    too_deep = small_config(hidden=[3] * 7)
    assert DeviceGAN(too_deep, too_deep.validate(), "reference").kernel_path == "per-op"


def test_fused_on_the_numpy_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="--kernels fused runs on the kernel backends"):
        Config(kernels="fused", backend="numpy").validate()
    with pytest.raises(ConfigError, match="unknown kernels"):
        Config(kernels="fast").validate()

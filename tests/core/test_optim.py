"""Optimisers: each step against a per-element reference of PyTorch's rule (float64),
checkpoint round trips, argument checks, in-place updates, and descent on a quadratic."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toygan.core.nn import MLP
from toygan.core.optim import SGD, Adam, RMSprop, make_optimizer


# ------------------------------------------------------------------ references
# Scalar Python, one element at a time, written from torch.optim's single-tensor code
# (weight_decay 0, no nesterov/amsgrad/centered, dampening 0, maximize False).
class RefSGD:
    def __init__(self, lr, momentum):
        self.lr, self.momentum, self.buf = lr, momentum, None

    def step(self, p, g):
        self.buf = g if self.buf is None else self.momentum * self.buf + g
        return p - self.lr * self.buf


class RefAdam:
    def __init__(self, lr, beta1, beta2, eps):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = 0.0
        self.t = 0

    def step(self, p, g):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        bias_correction1 = 1 - self.beta1**self.t
        bias_correction2 = 1 - self.beta2**self.t
        step_size = self.lr / bias_correction1
        denom = math.sqrt(self.v) / math.sqrt(bias_correction2) + self.eps
        return p - step_size * self.m / denom


class RefRMSprop:
    def __init__(self, lr, alpha, eps):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.square_avg = 0.0

    def step(self, p, g):
        self.square_avg = self.alpha * self.square_avg + (1 - self.alpha) * g * g
        return p - self.lr * g / (math.sqrt(self.square_avg) + self.eps)


def run_reference(make_ref, p0: np.ndarray, grad_seq: list[np.ndarray]) -> list[np.ndarray]:
    """The parameters after each step, element by element."""
    flat = [float(v) for v in p0.ravel()]
    refs = [make_ref() for _ in flat]
    history = []
    for g in grad_seq:
        flat = [ref.step(p, float(gj)) for ref, p, gj in zip(refs, flat, g.ravel(), strict=True)]
        history.append(np.array(flat).reshape(p0.shape))
    return history


def assert_steps_match(opt, make_ref, p0, grad_seq) -> None:
    expected = run_reference(make_ref, p0, grad_seq)
    params, grads = opt.params, opt.grads
    for t, (g, want) in enumerate(zip(grad_seq, expected, strict=True)):
        grads[...] = g  # the trainer writes gradients in place between steps
        opt.step()
        assert opt.params is params and opt.grads is grads
        np.testing.assert_array_equal(grads, g)  # step reads the gradients, never writes them
        np.testing.assert_allclose(params, want, rtol=1e-12, atol=1e-15,
                                   err_msg=f"after step {t + 1}")
    assert opt.steps == len(grad_seq)


@st.composite
def problems(draw):
    """A (P, n) parameter buffer and a sequence of gradients of varied scale, some zeros."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 6)))
    n_steps = draw(st.integers(1, 6))
    scale = 10.0 ** draw(st.integers(-3, 2))
    p0 = rng.standard_normal(shape)
    grad_seq = []
    for _ in range(n_steps):
        g = scale * rng.standard_normal(shape)
        g[rng.random(shape) < 0.15] = 0.0
        grad_seq.append(g)
    return p0, grad_seq


lrs = st.floats(1e-4, 1.0)
unit = st.floats(0.0, 0.999)


# ------------------------------------------------------------------ update rules
@given(problem=problems(), lr=lrs, momentum=unit)
def test_sgd_matches_reference(problem, lr, momentum):
    p0, grad_seq = problem
    opt = SGD(p0.copy(), np.zeros_like(p0), lr, momentum=momentum)
    assert_steps_match(opt, lambda: RefSGD(lr, momentum), p0, grad_seq)


@given(
    problem=problems(), lr=lrs, beta1=unit, beta2=st.floats(0.0, 0.9999),
    eps=st.sampled_from((1e-8, 1e-3)),
)
def test_adam_matches_reference(problem, lr, beta1, beta2, eps):
    p0, grad_seq = problem
    opt = Adam(p0.copy(), np.zeros_like(p0), lr, beta1=beta1, beta2=beta2, eps=eps)
    assert_steps_match(opt, lambda: RefAdam(lr, beta1, beta2, eps), p0, grad_seq)


@given(problem=problems(), lr=lrs, alpha=unit, eps=st.sampled_from((1e-8, 1e-3)))
def test_rmsprop_matches_reference(problem, lr, alpha, eps):
    p0, grad_seq = problem
    opt = RMSprop(p0.copy(), np.zeros_like(p0), lr, alpha=alpha, eps=eps)
    assert_steps_match(opt, lambda: RefRMSprop(lr, alpha, eps), p0, grad_seq)


def test_adam_first_step_is_lr_times_sign_of_gradient():
    # Bias correction: m_hat = g, v_hat = g^2, so the first step is lr * g / (|g| + eps).
    p = np.zeros((1, 3))
    opt = Adam(p, np.array([[4.0, -0.25, 0.0]]), lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    opt.step()
    np.testing.assert_allclose(p, [[-0.1 * 4 / (4 + 1e-8), 0.1 * 0.25 / (0.25 + 1e-8), 0.0]],
                               rtol=1e-12)


DEFAULT_REFS = {
    "sgd": lambda lr: RefSGD(lr, 0.9),
    "adam": lambda lr: RefAdam(lr, 0.5, 0.999, 1e-8),
    "rmsprop": lambda lr: RefRMSprop(lr, 0.99, 1e-8),
}
CLASSES = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


@pytest.mark.parametrize("name", sorted(DEFAULT_REFS))
def test_make_optimizer_uses_documented_defaults(name):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((2, 5))
    grad_seq = [rng.standard_normal((2, 5)) for _ in range(4)]
    opt = make_optimizer(name, p0.copy(), np.zeros_like(p0), 0.01)
    assert type(opt) is CLASSES[name]
    assert_steps_match(opt, lambda: DEFAULT_REFS[name](0.01), p0, grad_seq)


def test_float32_buffers_stay_float32_and_follow_the_rule():
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal((2, 4))
    grad_seq = [rng.standard_normal((2, 4)) for _ in range(3)]
    expected = run_reference(lambda: RefAdam(1e-2, 0.5, 0.999, 1e-8), p0, grad_seq)[-1]
    params = p0.astype(np.float32)
    grads = np.zeros_like(params)
    opt = make_optimizer("adam", params, grads, 1e-2)
    for g in grad_seq:
        grads[...] = g
        opt.step()
    assert params.dtype == np.float32
    for value in opt.state_dict().values():
        assert value.dtype in (np.float32, np.int64)
    np.testing.assert_allclose(params, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ checkpoints
def save_and_load(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Through an .npz file, as the trainer's checkpoint does."""
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("name", sorted(CLASSES))
@given(before=st.integers(0, 4), after=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_state_dict_round_trip_gives_identical_steps(name, before, after, seed):
    rng = np.random.default_rng(seed)
    shape = (2, 5)
    grad_seq = [rng.standard_normal(shape) for _ in range(before + after)]
    params = rng.standard_normal(shape)
    grads = np.zeros(shape)
    original = make_optimizer(name, params, grads, 0.05)
    for g in grad_seq[:before]:
        grads[...] = g
        original.step()
    state = save_and_load(original.state_dict())
    assert int(state["steps"]) == before
    params_copy = params.copy()
    grads_copy = np.zeros(shape)
    restored = make_optimizer(name, params_copy, grads_copy, 0.05)
    restored.load_state_dict(state)
    assert restored.steps == before
    for g in grad_seq[before:]:
        grads[...] = g
        grads_copy[...] = g
        original.step()
        restored.step()
        np.testing.assert_array_equal(params_copy, params)
    for key, value in original.state_dict().items():
        np.testing.assert_array_equal(restored.state_dict()[key], value)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_dict_holds_the_rule_state(name):
    rng = np.random.default_rng(3)
    params = rng.standard_normal((2, 3))
    grads = rng.standard_normal((2, 3))
    opt = make_optimizer(name, params, grads, 0.1)
    opt.step()
    state = opt.state_dict()
    expected_keys = {"sgd": {"velocity"}, "adam": {"m", "v"}, "rmsprop": {"square_avg"}}[name]
    assert set(state) == {"steps"} | expected_keys
    for key in expected_keys:
        assert state[key].shape == params.shape
        assert np.any(state[key] != 0)  # one step with nonzero gradients moved it


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_load_state_dict_rejects_wrong_shapes(name):
    opt = make_optimizer(name, np.zeros((2, 3)), np.zeros((2, 3)), 0.1)
    other = make_optimizer(name, np.zeros((2, 4)), np.zeros((2, 4)), 0.1)
    with pytest.raises(ValueError):
        opt.load_state_dict(save_and_load(other.state_dict()))


# ------------------------------------------------------------------ arguments
BAD_LRS = [0.0, -1e-3, float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("lr", BAD_LRS)
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_bad_learning_rates_raise(name, lr):
    p = np.zeros((1, 3))
    with pytest.raises(ValueError):
        make_optimizer(name, p, np.zeros_like(p), lr)
    with pytest.raises(ValueError):
        CLASSES[name](p, np.zeros_like(p), lr)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_momentum_raises(momentum):
    p = np.zeros((1, 3))
    with pytest.raises(ValueError):
        SGD(p, np.zeros_like(p), 0.1, momentum=momentum)


@pytest.mark.parametrize(
    "beta1, beta2",
    [(-0.1, 0.999), (1.0, 0.999), (0.5, 1.0), (0.5, -0.1), (float("nan"), 0.999),
     (0.5, float("nan")), (2.0, 2.0)],
)
def test_bad_adam_betas_raise(beta1, beta2):
    p = np.zeros((1, 3))
    with pytest.raises(ValueError):
        Adam(p, np.zeros_like(p), 0.1, beta1=beta1, beta2=beta2)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, float("nan")])
def test_bad_rmsprop_alpha_raises(alpha):
    p = np.zeros((1, 3))
    with pytest.raises(ValueError):
        RMSprop(p, np.zeros_like(p), 0.1, alpha=alpha)


def test_mismatched_buffers_and_unknown_names_raise():
    with pytest.raises(ValueError):
        make_optimizer("adam", np.zeros((2, 3)), np.zeros((2, 4)), 0.1)
    with pytest.raises(ValueError):
        make_optimizer("adagrad", np.zeros((2, 3)), np.zeros((2, 3)), 0.1)


@pytest.mark.parametrize("momentum", [0.0, 0.999])
def test_edge_hyperparameters_are_accepted(momentum):
    p = np.zeros((1, 2))
    SGD(p, np.zeros_like(p), 1e-9, momentum=momentum)
    Adam(p, np.zeros_like(p), 1e3, beta1=momentum, beta2=momentum)
    RMSprop(p, np.zeros_like(p), 0.5, alpha=momentum)


# ------------------------------------------------------------------ in place, with an MLP
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_updates_are_in_place_on_the_mlp_buffers(name):
    mlp = MLP([2, 4, 3, 1], "tanh", population=2, dtype=np.float64)
    mlp.init([np.random.default_rng(0), np.random.default_rng(1)])
    params_buffer, grads_buffer = mlp.params, mlp.grads
    opt = make_optimizer(name, mlp.params, mlp.grads, 0.05)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 2))
    r = rng.standard_normal((2, 5, 1))
    for _ in range(3):
        before = mlp.params.copy()
        mlp.forward(x)
        mlp.backward(r)
        grads_after_backward = mlp.grads.copy()
        opt.step()
        assert mlp.params is params_buffer and mlp.grads is grads_buffer
        assert np.all(mlp.params != before)
        np.testing.assert_array_equal(mlp.grads, grads_after_backward)
    # The layers' views still see the buffer: the net computes with the updated values.
    for layer, where in mlp.slices():
        assert np.shares_memory(layer.weight, mlp.params)
        np.testing.assert_array_equal(
            layer.weight, mlp.params[:, where][:, : layer.n_in * layer.n_out].reshape(
                2, layer.n_in, layer.n_out))
    fresh = MLP([2, 4, 3, 1], "tanh", population=2, dtype=np.float64)
    fresh.params[...] = mlp.params
    np.testing.assert_array_equal(mlp.forward(x), fresh.forward(x))


@pytest.mark.parametrize("name, lr", [("sgd", 0.05), ("adam", 0.02), ("rmsprop", 0.05)])
def test_each_optimiser_minimises_a_convex_quadratic(name, lr):
    rng = np.random.default_rng(4)
    curvature = rng.uniform(0.5, 2.0, (3, 6))
    target = rng.standard_normal((3, 6))
    params = target + 3.0 * rng.standard_normal((3, 6))
    grads = np.zeros_like(params)

    def loss():
        return 0.5 * np.sum(curvature * (params - target) ** 2, axis=1)

    start = loss()
    opt = make_optimizer(name, params, grads, lr)
    for _ in range(1000):
        np.multiply(curvature, params - target, out=grads)
        opt.step()
    assert np.all(loss() < 1e-3 * start), (loss(), start)

"""GAN losses: gradients against central differences (float64), values against the naive
formulas where those are safe, stability at extreme logits, sign conventions, and the
minimax / non-saturating comparison of the paper's Section 3."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.gradcheck import assert_gradient
from toygan.core.losses import (
    LOSSES,
    GANLoss,
    bce_discriminator,
    get_loss,
    least_squares_discriminator,
    least_squares_generator,
    minimax_generator,
    nonsaturating_generator,
    wasserstein_critic,
    wasserstein_generator,
)

DISCRIMINATOR = [bce_discriminator, wasserstein_critic, least_squares_discriminator]
GENERATOR = [
    minimax_generator, nonsaturating_generator, wasserstein_generator, least_squares_generator,
]


def ids(fn) -> str:
    return fn.__name__


# ------------------------------------------------------------------ naive formulas
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def batch_mean(v):
    return v.mean(axis=(1, 2))


NAIVE_DISCRIMINATOR = {
    bce_discriminator: lambda r, f: -(
        batch_mean(np.log(sigmoid(r))) + batch_mean(np.log(1.0 - sigmoid(f)))
    ),
    wasserstein_critic: lambda r, f: batch_mean(f) - batch_mean(r),
    least_squares_discriminator: lambda r, f: 0.5 * batch_mean((r - 1.0) ** 2)
    + 0.5 * batch_mean(f**2),
}
NAIVE_GENERATOR = {
    minimax_generator: lambda f: batch_mean(np.log(1.0 - sigmoid(f))),
    nonsaturating_generator: lambda f: -batch_mean(np.log(sigmoid(f))),
    wasserstein_generator: lambda f: -batch_mean(f),
    least_squares_generator: lambda f: 0.5 * batch_mean((f - 1.0) ** 2),
}


def softplus_ref(t: float) -> float:
    """log(1 + e^t) in Python floats, stable for any t."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def sigmoid_ref(t: float) -> float:
    """1 / (1 + e^-t) in Python floats, stable for any t."""
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    return math.exp(t) / (1.0 + math.exp(t))


@contextmanager
def strict_floats(underflow: bool):
    """Warnings are errors, and so are overflow, division by zero and invalid operations.
    `underflow=False` lets underflow through: for |logit| >~ 745 softplus is evaluated as
    |l| + log1p(exp(-|l|)), whose exp(-|l|) rounds to 0 (the exact answer to double
    precision) and np.logaddexp flags that as an underflow; NumPy ignores it by default."""
    with warnings.catch_warnings(), np.errstate(
        all="raise", under="raise" if underflow else "ignore"
    ):
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------ strategies
populations = st.integers(1, 3)
batches = st.integers(1, 7)


def logits(population: int, batch: int, low: float, high: float):
    return arrays(
        np.float64, (population, batch, 1),
        elements=st.floats(low, high, allow_nan=False, allow_infinity=False),
    )


@st.composite
def random_logits(draw):
    """Seeded normal logits of a drawn scale (the finite-difference tests)."""
    population = draw(populations)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from((0.1, 1.0, 3.0)))
    real = scale * rng.standard_normal((population, draw(batches), 1))
    fake = scale * rng.standard_normal((population, draw(batches), 1))
    return real, fake, rng


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("loss", DISCRIMINATOR, ids=ids)
@given(case=random_logits())
def test_discriminator_gradients_match_finite_differences(loss, case):
    real, fake, rng = case
    value, grad_real, grad_fake = loss(real, fake)
    assert value.shape == (real.shape[0],)
    assert grad_real.shape == real.shape and grad_fake.shape == fake.shape
    # A random weighting of the members: member i's gradient must be that of value[i].
    w = rng.standard_normal(real.shape[0])
    assert_gradient(lambda r: float(w @ loss(r, fake)[0]), real, w[:, None, None] * grad_real,
                    rng)
    assert_gradient(lambda f: float(w @ loss(real, f)[0]), fake, w[:, None, None] * grad_fake,
                    rng)


@pytest.mark.parametrize("loss", GENERATOR, ids=ids)
@given(case=random_logits())
def test_generator_gradients_match_finite_differences(loss, case):
    _, fake, rng = case
    value, grad = loss(fake)
    assert value.shape == (fake.shape[0],)
    assert grad.shape == fake.shape
    w = rng.standard_normal(fake.shape[0])
    assert_gradient(lambda f: float(w @ loss(f)[0]), fake, w[:, None, None] * grad, rng)


@pytest.mark.parametrize("loss", DISCRIMINATOR, ids=ids)
def test_discriminator_gradient_carries_each_batch_size(loss):
    # Real and fake batches of different sizes: each gradient is 1/its own batch.
    real = np.zeros((1, 2, 1))
    fake = np.zeros((1, 5, 1))
    _, grad_real, grad_fake = loss(real, fake)
    one_real = loss(real[:, :1], fake)[1]
    one_fake = loss(real, fake[:, :1])[2]
    np.testing.assert_allclose(grad_real, np.repeat(one_real, 2, axis=1) / 2, rtol=1e-15)
    np.testing.assert_allclose(grad_fake, np.repeat(one_fake, 5, axis=1) / 5, rtol=1e-15)


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("loss", DISCRIMINATOR, ids=ids)
@given(data=st.data(), population=populations, n_real=batches, n_fake=batches)
def test_discriminator_values_match_naive_formulas(loss, data, population, n_real, n_fake):
    # |logit| <= 6: sigmoid and 1 - sigmoid are far from 0 and 1, so the naive logs are exact
    # to ~1e-14 relative.
    real = data.draw(logits(population, n_real, -6.0, 6.0))
    fake = data.draw(logits(population, n_fake, -6.0, 6.0))
    value = loss(real, fake)[0]
    np.testing.assert_allclose(value, NAIVE_DISCRIMINATOR[loss](real, fake), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("loss", GENERATOR, ids=ids)
@given(data=st.data(), population=populations, n_fake=batches)
def test_generator_values_match_naive_formulas(loss, data, population, n_fake):
    fake = data.draw(logits(population, n_fake, -6.0, 6.0))
    np.testing.assert_allclose(loss(fake)[0], NAIVE_GENERATOR[loss](fake), rtol=1e-10,
                               atol=1e-12)


# Within |l| <= 700 nothing underflows either; beyond, underflow is let through (see
# strict_floats).
MODERATE_EXTREMES = [80.0, -80.0, 700.0, -700.0, 0.0]
EXTREMES = MODERATE_EXTREMES + [1e4, -1e4, 745.0, -745.0, 1e300, -1e300]


def extreme_logits(values, population: int = 2) -> np.ndarray:
    """Every value in every member, in a different order per member."""
    rows = [np.roll(values, k) for k in range(population)]
    return np.array(rows, dtype=np.float64)[..., None]


@pytest.mark.parametrize("values, underflow", [(MODERATE_EXTREMES, True), (EXTREMES, False)])
@pytest.mark.parametrize("loss", DISCRIMINATOR, ids=ids)
def test_discriminator_is_finite_and_silent_at_extreme_logits(loss, values, underflow):
    real = extreme_logits(values)
    fake = extreme_logits(values)[:, ::-1]
    if loss is least_squares_discriminator:  # squares the raw output: 1e300 overflows
        real, fake = np.clip(real, -1e4, 1e4), np.clip(fake, -1e4, 1e4)
    with strict_floats(underflow):
        value, grad_real, grad_fake = loss(real, fake)
    for a in (value, grad_real, grad_fake):
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("values, underflow", [(MODERATE_EXTREMES, True), (EXTREMES, False)])
@pytest.mark.parametrize("loss", GENERATOR, ids=ids)
def test_generator_is_finite_and_silent_at_extreme_logits(loss, values, underflow):
    fake = extreme_logits(values)
    if loss is least_squares_generator:
        fake = np.clip(fake, -1e4, 1e4)
    with strict_floats(underflow):
        value, grad = loss(fake)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("r", EXTREMES)
@pytest.mark.parametrize("f", EXTREMES)
def test_bce_values_and_gradients_at_extreme_logits(r, f):
    real = np.full((1, 3, 1), r)
    fake = np.full((1, 3, 1), f)
    underflow = max(abs(r), abs(f)) <= 700
    with strict_floats(underflow):
        value, grad_real, grad_fake = bce_discriminator(real, fake)
        g_minimax = minimax_generator(fake)
        g_nonsat = nonsaturating_generator(fake)
    # -log sigmoid(r) = softplus(-r), -log(1 - sigmoid(f)) = softplus(f)
    expected = softplus_ref(-r) + softplus_ref(f)
    assert value[0] == pytest.approx(expected, rel=1e-13, abs=1e-300)
    assert g_minimax[0][0] == pytest.approx(-softplus_ref(f), rel=1e-13, abs=1e-300)
    assert g_nonsat[0][0] == pytest.approx(softplus_ref(-f), rel=1e-13, abs=1e-300)
    # d/dr softplus(-r) = -sigmoid(-r); d/df softplus(f) = sigmoid(f); each over batch 3.
    np.testing.assert_allclose(grad_real, -sigmoid_ref(-r) / 3, rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad_fake, sigmoid_ref(f) / 3, rtol=1e-12, atol=0)


def test_bce_at_wrong_side_logits_grows_linearly_instead_of_overflowing():
    # A discriminator that is confidently wrong: loss = |logit| per term, exactly.
    real = np.full((1, 4, 1), -1e4)
    fake = np.full((1, 4, 1), 1e4)
    value, grad_real, grad_fake = bce_discriminator(real, fake)
    assert value[0] == 2e4
    np.testing.assert_array_equal(grad_real, -0.25)
    np.testing.assert_array_equal(grad_fake, 0.25)
    # and confidently right: loss and gradients vanish.
    value, grad_real, grad_fake = bce_discriminator(fake, real)
    assert value[0] == 0.0
    assert np.all(grad_real == 0.0) and np.all(grad_fake == 0.0)


# ------------------------------------------------------------------ sign conventions
deltas = st.floats(0.01, 1.0)


@given(data=st.data(), population=populations, n=batches, delta=deltas)
def test_raising_real_logits_lowers_discriminator_losses(data, population, n, delta):
    real = data.draw(logits(population, n, -10.0, 10.0))
    fake = data.draw(logits(population, n, -10.0, 10.0))
    for loss in (bce_discriminator, wasserstein_critic):
        assert np.all(loss(real + delta, fake)[0] < loss(real, fake)[0])
        assert np.all(loss(real, fake)[1] < 0)
    # Least squares pulls real outputs towards 1: lower loss while still below 1.
    below = np.minimum(real, 1.0 - delta)
    lsq = least_squares_discriminator
    assert np.all(lsq(below + delta, fake)[0] < lsq(below, fake)[0])


@given(data=st.data(), population=populations, n=batches, delta=deltas)
def test_raising_fake_logits_raises_discriminator_losses(data, population, n, delta):
    real = data.draw(logits(population, n, -10.0, 10.0))
    fake = data.draw(logits(population, n, -10.0, 10.0))
    for loss in (bce_discriminator, wasserstein_critic):
        assert np.all(loss(real, fake + delta)[0] > loss(real, fake)[0])
        assert np.all(loss(real, fake)[2] > 0)
    # Least squares pulls fake outputs towards 0.
    above = np.maximum(fake, 0.0)
    lsq = least_squares_discriminator
    assert np.all(lsq(real, above + delta)[0] > lsq(real, above)[0])


@given(data=st.data(), population=populations, n=batches, delta=deltas)
def test_raising_fake_logits_lowers_generator_losses(data, population, n, delta):
    fake = data.draw(logits(population, n, -10.0, 10.0))
    for loss in (minimax_generator, nonsaturating_generator, wasserstein_generator):
        assert np.all(loss(fake + delta)[0] < loss(fake)[0])
        assert np.all(loss(fake)[1] < 0)
    below = np.minimum(fake, 1.0 - delta)
    assert np.all(least_squares_generator(below + delta)[0] < least_squares_generator(below)[0])


# ------------------------------------------------------------------ minimax vs non-saturating
def test_minimax_and_nonsaturating_share_the_fixed_point():
    # At D(G(z)) = 1/2 (logit 0), where the game's equilibrium puts D, both generator losses
    # have the same gradient; both are decreasing in the logit everywhere, so they push G
    # the same way.
    fake = np.zeros((2, 4, 1))
    g_mm = minimax_generator(fake)[1]
    g_ns = nonsaturating_generator(fake)[1]
    np.testing.assert_allclose(g_mm, -1.0 / 8.0, rtol=1e-15)
    np.testing.assert_allclose(g_ns, -1.0 / 8.0, rtol=1e-15)
    grid = np.linspace(-20, 20, 81).reshape(1, -1, 1)
    assert np.all(minimax_generator(grid)[1] < 0)
    assert np.all(nonsaturating_generator(grid)[1] < 0)


def test_bce_discriminator_is_stationary_at_one_half_when_real_and_fake_coincide():
    # The same point seen as real and as fake (p_g = p_data): the optimal D is 1/2 (logit 0).
    def slope(logit: float) -> float:
        x = np.full((1, 3, 1), logit)
        _, grad_real, grad_fake = bce_discriminator(x, x)
        return float(grad_real.sum() + grad_fake.sum())

    assert slope(0.0) == 0.0
    assert slope(-1.0) < 0 < slope(1.0)


def test_nonsaturating_gradient_is_much_larger_when_d_rejects_fakes():
    # Early in training D confidently rejects fakes: logit -5, D(G(z)) ~ 0.0067.
    fake = np.full((1, 8, 1), -5.0)
    g_mm = minimax_generator(fake)[1]
    g_ns = nonsaturating_generator(fake)[1]
    ratio = np.abs(g_ns).sum() / np.abs(g_mm).sum()
    assert ratio > 100
    # sigmoid(5) / sigmoid(-5) = e^5 exactly
    assert ratio == pytest.approx(math.exp(5.0), rel=1e-12)


# ------------------------------------------------------------------ pairs
def test_minimax_game_is_zero_sum_in_the_fake_logits():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((3, 5, 1))
    fake = rng.standard_normal((3, 6, 1))
    for name in ("minimax", "wasserstein"):
        pair = LOSSES[name]
        d_value, _, d_grad_fake = pair.discriminator(real, fake)
        g_value, g_grad = pair.generator(fake)
        np.testing.assert_allclose(d_grad_fake + g_grad, 0.0, atol=1e-15)
        # D loss + G loss depends on the real logits only.
        other_fake = rng.standard_normal(fake.shape)
        total = d_value + g_value
        total_other = pair.discriminator(real, other_fake)[0] + pair.generator(other_fake)[0]
        np.testing.assert_allclose(total, total_other, rtol=1e-12)


FGAN = [name for name in LOSSES if name.startswith("fgan_")]


@pytest.mark.parametrize("name", FGAN)
@given(case=random_logits())
def test_fgan_gradients_match_finite_differences(name, case):
    real, fake, rng = case
    pair = LOSSES[name]
    _, grad_real, grad_fake = pair.discriminator(real, fake)
    w = rng.standard_normal(real.shape[0])
    # The conjugates grow like exp(v): at logits of scale 3 a loss value reaches ~1e3, and a
    # central difference of step 1e-6 then carries ~1e-7 of rounding. Step 1e-5 and an
    # absolute slack of 1e-7 keep the check about rounding; a wrong gradient is off by O(1).
    check = {"eps": 1e-5, "atol": 1e-7}
    assert_gradient(lambda r: float(w @ pair.discriminator(r, fake)[0]), real,
                    w[:, None, None] * grad_real, rng, **check)
    assert_gradient(lambda f: float(w @ pair.discriminator(real, f)[0]), fake,
                    w[:, None, None] * grad_fake, rng, **check)
    _, grad = pair.generator(fake)
    assert_gradient(lambda f: float(w @ pair.generator(f)[0]), fake, w[:, None, None] * grad,
                    rng, **check)


@pytest.mark.parametrize("name", FGAN)
@given(case=random_logits())
def test_fgan_values_are_the_bound_written_from_table_2(name, case):
    """D's loss is -(mean g_f(v_real) - mean f*(g_f(v_fake))), G's the negative fake term,
    with g_f and f* the activation and conjugate of core.fdiv (a second spelling of each)."""
    from toygan.core import fdiv

    real, fake, _ = case
    div = fdiv.get_divergence(name.removeprefix("fgan_"))
    want_d = -(batch_mean(div.activation(real)) - batch_mean(div.conjugate(div.activation(fake))))
    value_d = LOSSES[name].discriminator(real, fake)[0]
    np.testing.assert_allclose(value_d, want_d, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(LOSSES[name].generator(fake)[0],
                               -batch_mean(div.conjugate(div.activation(fake))), rtol=1e-10,
                               atol=1e-12)


def test_losses_table():
    assert set(LOSSES) == {"minimax", "nonsaturating", "wasserstein", "least_squares",
                           "fgan_kl", "fgan_reverse_kl", "fgan_pearson", "fgan_hellinger",
                           "fgan_jensen_shannon"}
    for name, pair in LOSSES.items():
        assert isinstance(pair, GANLoss) and pair.name == name
        assert get_loss(name) is pair
    assert LOSSES["minimax"].generator is minimax_generator
    assert LOSSES["nonsaturating"].generator is nonsaturating_generator
    assert LOSSES["minimax"].discriminator is bce_discriminator
    assert LOSSES["nonsaturating"].discriminator is bce_discriminator
    assert LOSSES["wasserstein"].discriminator is wasserstein_critic
    assert LOSSES["wasserstein"].generator is wasserstein_generator
    assert LOSSES["least_squares"].discriminator is least_squares_discriminator
    assert LOSSES["least_squares"].generator is least_squares_generator
    assert [n for n, p in LOSSES.items() if p.output_is_probability] == [
        "minimax", "nonsaturating"
    ]
    assert [n for n, p in LOSSES.items() if p.clip] == ["wasserstein"]
    with pytest.raises(ValueError):
        get_loss("hinge")

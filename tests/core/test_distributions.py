"""Tests for toygan.distributions: Gaussian mixtures, presets and spec resolution."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, stats
from scipy.special import logsumexp

from toygan.core.distributions import PRESETS, GaussianMixture, MixtureSpecError, preset, resolve

# The 1-D quadrature calls log_prob once per abscissa (~1500 calls per mixture), so it runs
# a third of the profile's examples; the other property tests use the profile as it is.
QUAD_EXAMPLES = max(5, settings.default.max_examples // 3)

# ------------------------------------------------------------------ strategies
MEAN = st.floats(-5.0, 5.0, allow_nan=False)
STD = st.floats(0.05, 2.0, allow_nan=False)
WEIGHT = st.floats(0.1, 1.0, allow_nan=False)


@st.composite
def mixture_specs(draw, dims=(1, 2, 3), max_k=5):
    """(means, stds, weights) as passed to GaussianMixture; stds scalar, (K,) or (K, dim)."""
    dim = draw(st.sampled_from(dims))
    k = draw(st.integers(1, max_k))
    means = draw(arrays(np.float64, (k, dim), elements=MEAN))
    kind = draw(st.sampled_from(["scalar", "isotropic", "diagonal"]))
    if kind == "scalar":
        stds = draw(STD)
    elif kind == "isotropic":
        stds = draw(arrays(np.float64, (k,), elements=STD))
    else:
        stds = draw(arrays(np.float64, (k, dim), elements=STD))
    weights = draw(arrays(np.float64, (k,), elements=WEIGHT))
    return means, stds, weights


def full_stds(stds, k: int, dim: int) -> np.ndarray:
    """The (K, dim) per-axis stds a spec describes, built independently of the class."""
    stds = np.asarray(stds, dtype=np.float64)
    if stds.ndim == 0:
        return np.full((k, dim), float(stds))
    if stds.ndim == 1:
        return np.tile(stds[:, None], (1, dim))
    return stds


def reference_component_logpdf(mixture: GaussianMixture, x: np.ndarray) -> np.ndarray:
    """log w_k + log N(x; mu_k, diag s_k^2) from scipy.stats, (n, K)."""
    cols = [
        math.log(w) + stats.multivariate_normal(mu, np.diag(s**2)).logpdf(x).reshape(len(x))
        for mu, s, w in zip(mixture.means, mixture.stds, mixture.weights, strict=True)
    ]
    return np.stack(cols, axis=1)


def points_near_modes(mixture: GaussianMixture, rng: np.random.Generator, per_mode: int):
    """Points within 4 stds of every mode (the naive density sum cannot underflow there)."""
    u = rng.uniform(-4.0, 4.0, size=(mixture.n_components, per_mode, mixture.dim))
    pts = mixture.means[:, None, :] + mixture.stds[:, None, :] * u
    return pts.reshape(-1, mixture.dim)


def brute_force_nearest_vectorised(g: GaussianMixture, x: np.ndarray):
    """Nearest mode by std-normalised distance, one component at a time."""
    d2 = np.stack(
        [(((x - mu) / s) ** 2).sum(axis=1) for mu, s in zip(g.means, g.stds, strict=True)], 1
    )
    return d2.argmin(axis=1), np.sqrt(d2.min(axis=1))


# -------------------------------------------------------------- construction
@given(mixture_specs())
def test_construction_shapes_and_normalised_weights(spec):
    means, stds, weights = spec
    k, dim = means.shape
    g = GaussianMixture(means, stds, weights)
    assert g.dim == dim
    assert g.n_components == k
    assert g.modes.shape == (k, dim)
    np.testing.assert_array_equal(g.modes, means)
    assert g.stds.shape == (k, dim)
    np.testing.assert_array_equal(g.stds, full_stds(stds, k, dim))
    assert g.weights.shape == (k,)
    assert abs(g.weights.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(g.weights, weights / weights.sum(), rtol=1e-12)


def test_one_dimensional_means_are_components():
    g = GaussianMixture([-1.0, 0.5, 3.0], [0.1, 0.2, 0.3])
    assert (g.dim, g.n_components) == (1, 3)
    np.testing.assert_array_equal(g.means, [[-1.0], [0.5], [3.0]])
    np.testing.assert_array_equal(g.stds, [[0.1], [0.2], [0.3]])
    np.testing.assert_allclose(g.weights, [1 / 3] * 3, rtol=1e-15)


def test_isotropic_versus_diagonal_stds():
    means = [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    iso = GaussianMixture(means, [0.5, 2.0])
    np.testing.assert_array_equal(iso.stds, [[0.5] * 3, [2.0] * 3])
    diag = GaussianMixture(means, [[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(diag.stds, [[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    # A diagonal component is a product of independent 1-D normals.
    x = np.array([[0.3, -0.2, 0.1]])
    expected = math.log(0.5) + sum(
        stats.norm(m, s).logpdf(v)
        for m, s, v in zip(means[0], [0.1, 0.2, 0.3], x[0], strict=True)
    )
    np.testing.assert_allclose(diag.component_log_prob(x)[0, 0], expected, rtol=1e-12)


def test_mixture_is_read_only():
    g = GaussianMixture([[0.0, 0.0], [1.0, 1.0]], 0.5, [1.0, 3.0])
    for arr in (g.means, g.stds, g.weights):
        with pytest.raises(ValueError):
            arr[0] = 7.0


def test_construction_does_not_freeze_or_alias_caller_arrays():
    """A mixture is a value: the caller's arrays stay writable and later edits to them (or to
    the array they view) do not reach the mixture."""
    means = np.array([[0.0, 0.0], [1.0, 1.0]])
    stds = np.array([[0.5, 0.5], [0.25, 0.25]])
    base = np.zeros((3, 2))
    g = GaussianMixture(means, stds)
    assert means.flags.writeable, "GaussianMixture made the caller's means array read-only"
    assert stds.flags.writeable, "GaussianMixture made the caller's stds array read-only"
    h = GaussianMixture(base[:2], 1.0)
    base[0, 0] = 5.0
    np.testing.assert_array_equal(h.means, [[0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(g.means, [[0.0, 0.0], [1.0, 1.0]])


def test_huge_finite_weights_still_normalise():
    """Finite, positive weights describe a distribution, however large they are."""
    try:
        g = GaussianMixture([[0.0], [1.0]], 1.0, [1e308, 1e308])
    except MixtureSpecError:
        return  # refusing them with a clear error is acceptable too
    np.testing.assert_allclose(g.weights, [0.5, 0.5], rtol=1e-12)
    assert np.isfinite(g.log_prob(np.array([0.0]))).all()


# ------------------------------------------------------------------ bad specs
BAD_SPECS = [
    pytest.param(dict(means=[[0.0], [1.0]], stds=0.0), r"stds must be positive", id="zero-std"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=[1.0, -0.5]), r"stds must be positive",
                 id="negative-std"),
    pytest.param(dict(means=[[0.0, 0.0]], stds=[[1.0, 0.0]]), r"stds must be positive",
                 id="zero-diagonal-std"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=float("nan")), r"stds must be finite",
                 id="nan-std"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=float("inf")), r"stds must be finite",
                 id="inf-std"),
    pytest.param(dict(means=[[0.0], [float("nan")]], stds=1.0), r"means must be finite",
                 id="nan-mean"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=1.0, weights=[0.5, float("nan")]),
                 r"weights must be finite", id="nan-weight"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=1.0, weights=[0.0, 0.0]),
                 r"weights must sum to a positive", id="zero-weights"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=1.0, weights=[-0.5, 1.5]),
                 r"weights must be non-negative", id="negative-weight"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=1.0, weights=[1.0, 1.0, 1.0]),
                 r"weights must have shape \(2,\)", id="weights-too-long"),
    pytest.param(dict(means=[[0.0], [1.0]], stds=1.0, weights=[[0.5, 0.5]]),
                 r"weights must have shape \(2,\)", id="weights-2d"),
    pytest.param(dict(means=[[0.0, 0.0], [1.0, 1.0]], stds=[1.0, 1.0, 1.0]),
                 r"stds must be a scalar, \(2,\) or \(2, 2\)", id="stds-wrong-length"),
    pytest.param(dict(means=[[0.0, 0.0], [1.0, 1.0]], stds=[[1.0, 1.0, 1.0]] * 2),
                 r"stds must be .*got \(2, 3\)", id="stds-wrong-dim"),
    pytest.param(dict(means=[[0.0, 0.0, 0.0]] * 2, stds=[1.0, 1.0, 1.0]),
                 r"stds must be", id="stds-per-axis-not-per-component"),
    pytest.param(dict(means=[], stds=1.0), r"means must have shape \(K, dim\)", id="empty-means"),
    pytest.param(dict(means=np.zeros((0, 2)), stds=1.0), r"means must have shape",
                 id="no-components"),
    pytest.param(dict(means=np.zeros((2, 0)), stds=1.0), r"means must have shape",
                 id="zero-dim"),
    pytest.param(dict(means=np.zeros((2, 2, 2)), stds=1.0), r"means must have shape",
                 id="means-3d"),
]


@pytest.mark.parametrize("kwargs, message", BAD_SPECS)
def test_bad_specs_raise_clear_errors(kwargs, message):
    with pytest.raises(MixtureSpecError, match=message):
        GaussianMixture(**kwargs)


def test_mixture_spec_error_is_a_value_error():
    assert issubclass(MixtureSpecError, ValueError)


@pytest.mark.parametrize(
    "spec, message",
    [
        pytest.param([[0.0]], r"must be a JSON object", id="not-a-dict"),
        pytest.param({"stds": 1.0}, r"needs 'means'", id="no-means"),
        pytest.param({"means": [[0.0]]}, r"needs 'stds'", id="no-stds"),
        pytest.param({"means": [[0.0]], "stds": 1.0, "colour": "red", "alpha": 1},
                     r"unknown mixture fields: alpha, colour", id="unknown-fields"),
        pytest.param({"means": [[0.0], [1.0, 2.0]], "stds": 1.0}, r"bad mixture spec",
                     id="ragged-means"),
        pytest.param({"means": [["a"]], "stds": 1.0}, r"bad mixture spec", id="string-means"),
        pytest.param({"means": [[0.0]], "stds": -1.0}, r"stds must be positive",
                     id="negative-std"),
    ],
)
def test_from_dict_rejects_bad_specs(spec, message):
    with pytest.raises(MixtureSpecError, match=message):
        GaussianMixture.from_dict(spec)


# --------------------------------------------------------------- log-density
@settings(max_examples=QUAD_EXAMPLES)
@given(mixture_specs(dims=(1,)))
def test_log_prob_integrates_to_one_1d(spec):
    g = GaussianMixture(*spec)

    def density(x: float) -> float:
        return math.exp(g.log_prob(np.array([x]))[0])

    edges = [-math.inf, *sorted(set(g.means[:, 0].tolist())), math.inf]
    total = sum(
        integrate.quad(density, a, b, epsabs=1e-12, epsrel=1e-12, limit=200)[0]
        for a, b in itertools.pairwise(edges)
    )
    assert abs(total - 1.0) < 1e-8


def gauss_hermite_integral_of_p(g: GaussianMixture, n_nodes: int) -> float:
    """int p(x) dx = sum_k int p(x) r_k(x) dx with reference responsibilities r_k (scipy),
    each term by tensor Gauss-Hermite quadrature under component k's own Gaussian."""
    z1, w1 = hermegauss(n_nodes)  # int f(z) exp(-z^2/2) dz ~ sum w_i f(z_i)
    z = np.array(list(itertools.product(z1, repeat=g.dim)))
    wz = np.prod(np.array(list(itertools.product(w1, repeat=g.dim))), axis=1)
    total = 0.0
    for k in range(g.n_components):
        x = g.means[k] + g.stds[k] * z
        ref = reference_component_logpdf(g, x)
        log_r_k = ref[:, k] - logsumexp(ref, axis=1)
        # p(x) r_k(x) dx = p(x) r_k(x) prod(s_k) exp(|z|^2/2) * exp(-|z|^2/2) dz
        log_f = g.log_prob(x) + log_r_k + np.log(g.stds[k]).sum() + 0.5 * (z * z).sum(axis=1)
        total += float(np.sum(wz * np.exp(log_f)))
    return total


@given(mixture_specs(dims=(2,)))
def test_log_prob_integrates_to_one_2d(spec):
    g = GaussianMixture(*spec)
    assert abs(gauss_hermite_integral_of_p(g, 24) - 1.0) < 1e-6


@given(mixture_specs(dims=(3,), max_k=3))
def test_log_prob_integrates_to_one_3d(spec):
    g = GaussianMixture(*spec)
    assert abs(gauss_hermite_integral_of_p(g, 12) - 1.0) < 1e-6


def grid_integral(g: GaussianMixture, margin: float = 8.0, per_std: float = 2.0) -> float:
    """Black-box Riemann sum of p over bounds(margin), step min(std)/per_std.

    For a sum of Gaussians the equally spaced rule is spectrally accurate (error of order
    exp(-2 pi^2 per_std^2)), so this needs no knowledge of how p is built.
    """
    lo, hi = g.bounds(margin)
    step = g.stds.min() / per_std
    axes = [np.arange(a, b + step, step) for a, b in zip(lo, hi, strict=True)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, g.dim)
    total = 0.0
    for chunk in np.array_split(mesh, max(1, len(mesh) // 200_000)):
        total += float(np.exp(g.log_prob(chunk)).sum())
    return total * step**g.dim


@pytest.mark.parametrize(
    "mixture",
    [
        pytest.param(lambda: preset("mixture8"), id="mixture8"),
        pytest.param(lambda: preset("grid25"), id="grid25"),
        pytest.param(lambda: preset("ring8_pacgan"), id="ring8_pacgan"),
        pytest.param(
            lambda: GaussianMixture(
                [[0.0, 0.0], [0.5, -0.3], [2.0, 1.0]],
                [[0.3, 0.6], [0.4, 0.3], [1.0, 0.5]],
                [0.2, 0.5, 0.3],
            ),
            id="overlapping-diagonal-2d",
        ),
        pytest.param(
            lambda: GaussianMixture([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]], [0.4, 0.6], [1, 3]),
            id="3d",
        ),
    ],
)
def test_log_prob_integrates_to_one_on_a_grid(mixture):
    assert abs(grid_integral(mixture()) - 1.0) < 1e-6


@given(mixture_specs(), st.integers(0, 2**32 - 1))
def test_log_prob_matches_scipy_sum(spec, seed):
    g = GaussianMixture(*spec)
    x = points_near_modes(g, np.random.default_rng(seed), per_mode=8)
    naive = np.log(np.exp(reference_component_logpdf(g, x)).sum(axis=1))
    np.testing.assert_allclose(g.log_prob(x), naive, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(g.prob(x), np.exp(naive), rtol=1e-9)


@given(mixture_specs(), st.integers(0, 2**32 - 1))
def test_component_log_prob_shape_and_consistency(spec, seed):
    g = GaussianMixture(*spec)
    x = points_near_modes(g, np.random.default_rng(seed), per_mode=3)
    clp = g.component_log_prob(x)
    assert clp.shape == (len(x), g.n_components)
    np.testing.assert_allclose(clp, reference_component_logpdf(g, x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(logsumexp(clp, axis=1), g.log_prob(x), rtol=1e-12, atol=1e-12)
    assert g.log_prob(x).shape == (len(x),)


@given(mixture_specs())
def test_log_prob_far_from_modes_is_finite(spec):
    g = GaussianMixture(*spec)
    x = np.full((2, g.dim), 1e3)
    x[1] *= -1.0
    ref = reference_component_logpdf(g, x)
    with np.errstate(divide="ignore"):
        naive = np.log(np.exp(ref).sum(axis=1))
    assert np.all(naive == -np.inf)  # the naive sum underflows to log(0) here
    out = g.log_prob(x)
    assert np.all(np.isfinite(out))
    assert np.all(out < -1e4)
    np.testing.assert_allclose(out, logsumexp(ref, axis=1), rtol=1e-10)


def test_zero_weight_component_is_ignored():
    g = GaussianMixture([[0.0], [5.0]], 1.0, [1.0, 0.0])
    x = np.linspace(-3, 8, 23)
    np.testing.assert_allclose(g.log_prob(x), stats.norm(0, 1).logpdf(x), rtol=1e-12)
    assert np.all(g.sample_components(10_000, np.random.default_rng(0)) == 0)


def test_points_shape_checks():
    one = GaussianMixture([[0.0], [1.0]], 1.0)
    np.testing.assert_array_equal(one.log_prob(np.array([0.0, 1.0])),
                                  one.log_prob(np.array([[0.0], [1.0]])))
    two = GaussianMixture([[0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        two.log_prob(np.zeros(2))
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        two.log_prob(np.zeros((4, 3)))


# ------------------------------------------------------------------- sampling
MOMENT_CASES = [
    pytest.param(lambda: preset("gauss1d"), id="gauss1d"),
    pytest.param(lambda: preset("bimodal1d"), id="bimodal1d"),
    pytest.param(lambda: preset("trimodal1d"), id="trimodal1d"),
    pytest.param(lambda: preset("mixture8"), id="mixture8"),
    pytest.param(lambda: preset("grid25"), id="grid25"),
    pytest.param(
        lambda: GaussianMixture(
            [[0.0, 1.0], [2.0, -1.0], [-1.0, -2.0]],
            [[0.3, 1.5], [1.0, 0.2], [0.5, 0.5]],
            [0.5, 0.2, 0.3],
        ),
        id="diagonal-2d",
    ),
    pytest.param(
        lambda: GaussianMixture(
            [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-2.0, 0.5, 1.0]], [0.5, 1.0, 0.25], [2, 1, 1]
        ),
        id="isotropic-3d",
    ),
]


@pytest.mark.parametrize("mixture", MOMENT_CASES)
def test_sample_moments_match(mixture):
    g = mixture()
    n = 200_000
    x = g.sample(n, np.random.default_rng(12345))
    assert x.shape == (n, g.dim)
    assert x.dtype == np.float64
    mean, cov = g.mean(), g.covariance()
    # independent reference moments
    ref_mean = g.weights @ g.means
    ref_cov = sum(
        w * (np.diag(s**2) + np.outer(mu - ref_mean, mu - ref_mean))
        for mu, s, w in zip(g.means, g.stds, g.weights, strict=True)
    )
    np.testing.assert_allclose(mean, ref_mean, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12)
    assert cov.shape == (g.dim, g.dim)
    # sample mean: 5 standard errors per axis
    mean_se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(axis=0) - mean) <= 5 * mean_se), (x.mean(axis=0), mean)
    # sample covariance: 5 standard errors of each product term
    c = x - x.mean(axis=0)
    prods = c[:, :, None] * c[:, None, :]
    cov_se = prods.std(axis=0) / math.sqrt(n)
    assert np.all(np.abs(prods.mean(axis=0) - cov) <= 5 * cov_se + 1e-12), (
        prods.mean(axis=0), cov)


@pytest.mark.parametrize(
    "mixture",
    [
        pytest.param(lambda: preset("mixture8"), id="mixture8"),
        pytest.param(lambda: preset("grid25"), id="grid25"),
        pytest.param(
            lambda: GaussianMixture(
                [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]],
                [[0.5, 0.1, 1.0], [0.2, 0.2, 0.2], [1.0, 0.3, 0.05]],
                [0.5, 0.3, 0.2],
            ),
            id="separated-diagonal-3d",
        ),
    ],
)
def test_sample_residuals_are_standard_normal(mixture):
    """On well-separated modes, (x - mu_k) / s_k about the nearest mode is N(0, I)."""
    g = mixture()
    n = 200_000
    x = g.sample(n, np.random.default_rng(31))
    k, _ = brute_force_nearest_vectorised(g, x)
    z = (x - g.means[k]) / g.stds[k]
    assert np.all(np.abs(z.mean(axis=0)) <= 5 / math.sqrt(n))
    assert np.all(np.abs(z.var(axis=0) - 1.0) <= 5 * math.sqrt(2 / n))
    corr = np.corrcoef(z.T)[np.triu_indices(g.dim, 1)]
    assert np.all(np.abs(corr) <= 5 / math.sqrt(n))


@pytest.mark.parametrize("name", ["gauss1d", "bimodal1d", "trimodal1d"])
def test_1d_samples_follow_mixture_cdf(name):
    g = preset(name)
    x = g.sample(200_000, np.random.default_rng(2024))[:, 0]

    def cdf(t):
        t = np.asarray(t)[..., None]
        return (g.weights * stats.norm.cdf((t - g.means[:, 0]) / g.stds[:, 0])).sum(axis=-1)

    assert stats.kstest(x, cdf).pvalue > 1e-6


@given(mixture_specs(), st.integers(0, 2**32 - 1), st.integers(1, 50))
def test_sample_is_reproducible(spec, seed, n):
    g = GaussianMixture(*spec)
    a = g.sample(n, np.random.default_rng(seed))
    b = g.sample(n, np.random.default_rng(seed))
    assert a.shape == (n, g.dim)
    np.testing.assert_array_equal(a, b)
    c = g.sample(n, np.random.default_rng(seed + 1))
    assert not np.array_equal(a, c)


def chi_square_bound(k: int) -> float:
    return float(stats.chi2.ppf(1.0 - 1e-6, max(k - 1, 1)))


@pytest.mark.parametrize(
    "weights", [[1.0], [0.3, 0.7], [0.2, 0.5, 0.3], [1, 2, 3, 4, 5], [0.01, 0.99], [1] * 25]
)
def test_component_frequencies_match_weights(weights):
    k = len(weights)
    g = GaussianMixture(np.arange(k, dtype=float), 0.1, weights)
    n = 200_000
    comp = g.sample_components(n, np.random.default_rng(7))
    assert comp.shape == (n,)
    assert comp.min() >= 0 and comp.max() <= k - 1
    counts = np.bincount(comp, minlength=k)
    expected = n * g.weights
    stat = float(np.sum((counts - expected) ** 2 / expected))
    assert stat <= chi_square_bound(k), (counts, expected)


@pytest.mark.parametrize(
    "mixture",
    [
        pytest.param(lambda: preset("mixture8"), id="mixture8"),
        pytest.param(lambda: preset("grid25"), id="grid25"),
        pytest.param(lambda: preset("trimodal1d"), id="trimodal1d-overlapping"),
        pytest.param(
            lambda: GaussianMixture([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], 0.5, [0.1, 0.6, 0.3]),
            id="unequal-2d",
        ),
    ],
)
def test_sample_mode_frequencies_match_weights(mixture):
    g = mixture()
    n = 200_000
    x = g.sample(n, np.random.default_rng(99))
    # Responsibility-weighted counts are unbiased for n w_k even when components overlap.
    clp = g.component_log_prob(x)
    resp = np.exp(clp - logsumexp(clp, axis=1, keepdims=True))
    soft = resp.sum(axis=0)
    se = np.sqrt(n * g.weights * (1 - g.weights)) + 1e-9
    assert np.all(np.abs(soft - n * g.weights) <= 5 * se), (soft, n * g.weights)


# -------------------------------------------------------------------- presets
def test_mixture8_has_eight_distinct_modes_on_the_circle():
    g = preset("mixture8")
    assert g.name == "mixture8"
    assert (g.n_components, g.dim) == (8, 2)
    angles = 2 * np.pi * np.arange(8) / 8
    expected = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    np.testing.assert_allclose(g.modes, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(g.modes, axis=1), 2.0, rtol=1e-12)
    # 8 distinct modes: the closest pair is one chord apart (a linspace ring repeats angle 0)
    d = np.linalg.norm(g.modes[:, None] - g.modes[None], axis=-1)
    d[np.diag_indices(8)] = np.inf
    np.testing.assert_allclose(d.min(), 4.0 * math.sin(math.pi / 8), rtol=1e-12)
    assert len({(round(a, 9), round(b, 9)) for a, b in g.modes}) == 8
    np.testing.assert_array_equal(g.stds, 0.02)
    np.testing.assert_allclose(g.weights, 1 / 8, rtol=1e-15)


def test_ring8_pacgan():
    g = preset("ring8_pacgan")
    assert (g.n_components, g.dim) == (8, 2)
    angles = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(
        g.modes, np.stack([np.cos(angles), np.sin(angles)], axis=1), atol=1e-12
    )
    np.testing.assert_array_equal(g.stds, 0.01)
    np.testing.assert_allclose(g.weights, 1 / 8, rtol=1e-15)


def test_grid25():
    g = preset("grid25")
    assert g.name == "grid25"
    assert (g.n_components, g.dim) == (25, 2)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {(float(a), float(b)) for a, b in g.modes} == expected
    np.testing.assert_array_equal(g.stds, 0.05)
    np.testing.assert_allclose(g.weights, 1 / 25, rtol=1e-15)


@pytest.mark.parametrize(
    "name, means, stds, weights",
    [
        ("gauss1d", [4.0], [0.5], [1.0]),
        ("bimodal1d", [-2.0, 2.0], [0.5, 1.0], [0.3, 0.7]),
        ("trimodal1d", [-3.0, 0.0, 3.0], [0.3, 0.6, 0.4], [0.2, 0.5, 0.3]),
    ],
)
def test_1d_presets(name, means, stds, weights):
    g = preset(name)
    assert g.name == name
    assert g.dim == 1
    assert g.n_components == len(means)
    np.testing.assert_array_equal(g.means[:, 0], means)
    np.testing.assert_array_equal(g.stds[:, 0], stds)
    np.testing.assert_allclose(g.weights, weights, rtol=1e-12)


def test_bimodal_and_trimodal_have_unequal_weights():
    for name in ("bimodal1d", "trimodal1d"):
        w = preset(name).weights
        assert np.ptp(w) > 0.1, name


def test_every_preset_is_listed_and_builds():
    assert {"mixture8", "grid25", "gauss1d", "bimodal1d", "trimodal1d"} <= set(PRESETS)
    for name, (description, build) in PRESETS.items():
        assert description
        g = build()
        assert isinstance(g, GaussianMixture)
        assert g.name == name
        assert resolve(name).name == name


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(MixtureSpecError) as info:
        preset("mixture9")
    message = str(info.value)
    assert "mixture9" in message
    for name in PRESETS:
        assert name in message
    with pytest.raises(MixtureSpecError, match="known presets"):
        resolve("no-such-thing")


# ----------------------------------------------------------------- nearest mode
def brute_force_nearest(g: GaussianMixture, x: np.ndarray):
    index, dist = [], []
    for point in x:
        best, best_d2 = -1, math.inf
        for k in range(g.n_components):
            d2 = sum(((point[d] - g.means[k, d]) / g.stds[k, d]) ** 2 for d in range(g.dim))
            if d2 < best_d2:
                best, best_d2 = k, d2
        index.append(best)
        dist.append(math.sqrt(best_d2))
    return np.array(index), np.array(dist)


@given(mixture_specs(), st.integers(0, 2**32 - 1))
def test_nearest_mode_matches_brute_force(spec, seed):
    g = GaussianMixture(*spec)
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-7, 7, size=(20, g.dim)), g.means])
    index, dist = g.nearest_mode(x)
    ref_index, ref_dist = brute_force_nearest(g, x)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-10, atol=1e-12)
    # where two modes tie (to rounding) either index is right: compare distances to them
    z = (x[:, None, :] - g.means[None]) / g.stds[None]
    d_at_index = np.sqrt((z**2).sum(-1))[np.arange(len(x)), index]
    np.testing.assert_allclose(d_at_index, ref_dist, rtol=1e-10, atol=1e-12)
    z2 = np.sort((z**2).sum(-1), axis=1)
    clear = z2[:, 1] > z2[:, 0] * (1 + 1e-9) + 1e-12 if g.n_components > 1 else True
    np.testing.assert_array_equal(index[clear], ref_index[clear])
    # a mode is its own nearest mode, at distance 0, unless another mode coincides with it
    assert np.all(dist[-g.n_components:] == 0.0)


def test_nearest_mode_uses_per_axis_stds():
    # Euclidean-nearest is mode 0, but mode 1 is wide along x, so it is nearer in stds.
    g = GaussianMixture([[0.0, 0.0], [3.0, 0.0]], [[0.1, 0.1], [10.0, 0.1]])
    index, dist = g.nearest_mode(np.array([[1.0, 0.0], [0.0, 0.05]]))
    np.testing.assert_array_equal(index, [1, 0])
    np.testing.assert_allclose(dist, [0.2, 0.5], rtol=1e-12)


# -------------------------------------------------------------- resolve / dicts
@given(mixture_specs())
def test_to_dict_from_dict_round_trip(spec):
    g = GaussianMixture(*spec, name="roundtrip")
    d = g.to_dict()
    assert set(d) == {"name", "means", "stds", "weights"}
    h = GaussianMixture.from_dict(json.loads(json.dumps(d)))
    assert h.name == "roundtrip"
    np.testing.assert_array_equal(h.means, g.means)
    np.testing.assert_array_equal(h.stds, g.stds)
    np.testing.assert_allclose(h.weights, g.weights, rtol=1e-15)


def assert_same_mixture(a: GaussianMixture, b: GaussianMixture) -> None:
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.stds, b.stds)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-15)


SPEC = {"means": [[0.0, 1.0], [2.0, 3.0]], "stds": [0.5, 0.25], "weights": [1, 3]}


def test_resolve_preset_name():
    assert_same_mixture(resolve("mixture8"), preset("mixture8"))
    assert resolve("  grid25\n").name == "grid25"


def test_resolve_inline_json():
    g = resolve(json.dumps(SPEC))
    assert g.name == "custom"
    np.testing.assert_array_equal(g.means, SPEC["means"])
    np.testing.assert_array_equal(g.stds, [[0.5, 0.5], [0.25, 0.25]])
    np.testing.assert_allclose(g.weights, [0.25, 0.75])
    assert resolve(" " + json.dumps({**SPEC, "name": "inline"})).name == "inline"


def test_resolve_dict():
    g = resolve(dict(SPEC, name="fromdict"))
    assert g.name == "fromdict"
    np.testing.assert_allclose(g.weights, [0.25, 0.75])


def test_resolve_json_file(tmp_path):
    path = tmp_path / "two_blobs.json"
    path.write_text(json.dumps(SPEC))
    g = resolve(str(path))
    assert g.name == "two_blobs"  # named after the file when the spec has no name
    assert_same_mixture(g, GaussianMixture.from_dict(SPEC))
    named = tmp_path / "other.json"
    named.write_text(json.dumps(dict(SPEC, name="blobs")))
    assert resolve(str(named)).name == "blobs"
    # an existing file is read whatever its suffix
    plain = tmp_path / "spec.txt"
    plain.write_text(json.dumps(SPEC))
    assert_same_mixture(resolve(str(plain)), g)


def test_resolve_round_trips_to_dict(tmp_path):
    g = preset("trimodal1d")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(g.to_dict()))
    for spec in (g.to_dict(), json.dumps(g.to_dict()), str(path)):
        h = resolve(spec)
        assert h.name == "trimodal1d"
        assert_same_mixture(h, g)


def test_resolve_missing_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(MixtureSpecError, match=re.escape(f"mixture file not found: {missing}")):
        resolve(str(missing))
    with pytest.raises(MixtureSpecError):
        resolve(str(tmp_path / "nope"))


def test_resolve_bad_json(tmp_path):
    with pytest.raises(MixtureSpecError, match="inline mixture is not valid JSON"):
        resolve('{"means": [[0.0]], ')
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(MixtureSpecError, match="cannot read mixture file"):
        resolve(str(broken))
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(MixtureSpecError, match="must be a JSON object"):
        resolve(str(listing))


@pytest.mark.parametrize("where", ["dict", "inline", "file"])
def test_resolve_rejects_unknown_fields(where, tmp_path):
    spec = dict(SPEC, std=0.1)
    if where == "dict":
        arg = spec
    elif where == "inline":
        arg = json.dumps(spec)
    else:
        path = tmp_path / "extra.json"
        path.write_text(json.dumps(spec))
        arg = str(path)
    with pytest.raises(MixtureSpecError, match="unknown mixture fields: std"):
        resolve(arg)


def test_bounds_hold_the_modes():
    g = GaussianMixture([[0.0, 1.0], [2.0, -3.0]], [[0.5, 0.1], [1.0, 2.0]])
    lo, hi = g.bounds(4.0)
    np.testing.assert_allclose(lo, [-2.0, -11.0])
    np.testing.assert_allclose(hi, [6.0, 5.0])

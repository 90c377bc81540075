"""Tests for toygan.metrics: mode statistics, the Gaussian KDE and the JSD estimate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats
from scipy.special import logsumexp

from toygan.core.distributions import GaussianMixture, preset
from toygan.core.metrics import jsd_estimate, kde_bandwidth, kde_log_prob
from toygan.core.modes import HIGH_QUALITY_STDS, STRICT_COVERAGE_COUNT, mode_statistics

LOG2 = math.log(2.0)
# ~100 log-density calls per interval under quad: a third of the profile's examples.
QUAD_EXAMPLES = max(5, settings.default.max_examples // 3)


# ----------------------------------------------------------- mode statistics
# Three modes, far apart; mode 1 is diagonal (narrow along x, wide along y).
HAND = GaussianMixture([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], [[1.0, 1.0], [0.5, 2.0], [1.0, 1.0]])


def hand_samples(n_mode1: int = 19) -> np.ndarray:
    return np.array(
        [[0.0, 0.0]] * 25  # exactly on mode 0: high quality
        + [[10.0 + 0.5 * 2.9, 0.0]] * (n_mode1 - 1)  # 2.9 stds from mode 1 along x
        + [[10.0, 2.0 * 2.9]]  # 2.9 stds from mode 1 along y (5.8 units away)
        + [[0.0, 10.0 + 3.1]]  # 3.1 stds from mode 2: not high quality
        + [[5.0, 0.0]] * 5  # half way between modes 0 and 1: 5 stds from mode 0
        + [[0.0, 3.0]]  # exactly 3 stds from mode 0: not *below* 3
    )


def test_mode_statistics_by_hand():
    assert (HIGH_QUALITY_STDS, STRICT_COVERAGE_COUNT) == (3.0, 20)
    x = hand_samples()
    stats_ = mode_statistics(HAND, x)
    assert stats_["modes_total"] == 3
    assert stats_["mode_histogram"] == [25, 19, 0]
    assert stats_["modes_covered"] == 2
    assert stats_["modes_covered_20"] == 1  # 19 samples at mode 1 is one short
    assert stats_["high_quality_fraction"] == pytest.approx(44 / 51, rel=1e-15)
    h = np.array([25, 19]) / 44
    assert stats_["reverse_kl"] == pytest.approx(math.log(3) + np.sum(h * np.log(h)), rel=1e-12)
    assert set(stats_) == {
        "modes_total", "modes_covered", "modes_covered_20", "high_quality_fraction",
        "reverse_kl", "mode_histogram", "mode_entropy", "mode_mass", "modes_covered_veegan",
        "high_quality_fraction_veegan", "reverse_kl_veegan",
    }
    assert stats_["mode_entropy"] == pytest.approx(-np.sum(h * np.log(h)), rel=1e-12)
    assert stats_["mode_mass"] == pytest.approx([25 / 51, 19 / 51, 0.0], rel=1e-15)
    # VEEGAN's rule (Euclidean nearest mode, within 3 of its largest std, here 2 for mode 1)
    # agrees on these samples; the midpoint (5, 0) ties and goes to the first mode.
    assert stats_["modes_covered_veegan"] == 2
    assert stats_["high_quality_fraction_veegan"] == pytest.approx(44 / 51, rel=1e-15)


def test_the_two_rules_differ_on_a_diagonal_mode():
    # 3.5 per-axis stds from mode 1 along x (PacGAN code: not high quality), but only 1.75
    # units from it, 0.875 of its largest std (VEEGAN's wording: high quality).
    x = np.array([[10.0 + 0.5 * 3.5, 0.0]] * 4 + [[0.0, 0.0]] * 4)
    out = mode_statistics(HAND, x)
    assert (out["modes_covered"], out["high_quality_fraction"]) == (1, 0.5)
    assert (out["modes_covered_veegan"], out["high_quality_fraction_veegan"]) == (2, 1.0)
    assert out["reverse_kl"] == pytest.approx(math.log(3))
    assert out["reverse_kl_veegan"] == pytest.approx(math.log(3) - math.log(2))


def test_strict_coverage_needs_twenty():
    assert mode_statistics(HAND, hand_samples(20))["modes_covered_20"] == 2
    assert mode_statistics(HAND, hand_samples(20))["mode_histogram"] == [25, 20, 0]


def test_mode_statistics_threshold_and_strict_count_arguments():
    out = mode_statistics(HAND, hand_samples(), threshold=3.5, strict_count=1)
    # now the 3.1-std and the 3.0-std points are high quality too; 5-std points are not
    assert out["mode_histogram"] == [26, 19, 1]
    assert out["modes_covered"] == 3
    assert out["modes_covered_1"] == 3
    assert "modes_covered_20" not in out
    assert out["high_quality_fraction"] == pytest.approx(46 / 51)
    tight = mode_statistics(HAND, hand_samples(), threshold=1.0)
    assert tight["mode_histogram"] == [25, 0, 0]
    assert tight["reverse_kl"] == pytest.approx(math.log(3), rel=1e-12)


def test_reverse_kl_none_without_high_quality_samples():
    far = np.array([[5.0, 5.0], [100.0, -100.0], [0.0, 3.5]])
    out = mode_statistics(HAND, far)
    assert out["reverse_kl"] is None
    assert out["high_quality_fraction"] == 0.0
    assert out["modes_covered"] == 0
    assert out["modes_covered_20"] == 0
    assert out["mode_histogram"] == [0, 0, 0]


def test_reverse_kl_zero_for_a_perfect_histogram():
    g = GaussianMixture([[0.0], [10.0], [20.0], [30.0]], 1.0, [1, 2, 3, 4])
    x = np.repeat(g.means, [10, 20, 30, 40], axis=0)
    out = mode_statistics(g, x)
    assert out["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["mode_histogram"] == [10, 20, 30, 40]
    eq = preset("mixture8")
    assert mode_statistics(eq, np.repeat(eq.modes, 3, axis=0))["reverse_kl"] == pytest.approx(
        0.0, abs=1e-12
    )


@st.composite
def counts_and_weights(draw):
    k = draw(st.integers(1, 8))
    counts = draw(arrays(np.int64, (k,), elements=st.integers(0, 40)))
    if counts.sum() == 0:
        counts[draw(st.integers(0, k - 1))] = 1
    weights = draw(arrays(np.float64, (k,), elements=st.floats(0.1, 1.0)))
    return counts, weights


@given(counts_and_weights())
def test_reverse_kl_is_kl_of_histogram_to_weights(cw):
    counts, weights = cw
    k = len(counts)
    modes = 10.0 * np.arange(k, dtype=float)[:, None] * np.array([[1.0, -1.0]])
    unequal = GaussianMixture(modes, 0.5, weights)
    equal = GaussianMixture(modes, 0.5)
    rng = np.random.default_rng(int(counts.sum()))
    # high-quality samples scattered within 2.5 stds of their mode
    offsets = rng.uniform(-1.0, 1.0, size=(int(counts.sum()), 2)) * 0.5 * 2.5 / math.sqrt(2)
    x = np.repeat(modes, counts, axis=0) + offsets
    h = counts / counts.sum()
    out = mode_statistics(unequal, x)
    assert out["mode_histogram"] == counts.tolist()
    assert out["modes_covered"] == int(np.count_nonzero(counts))
    assert out["modes_covered_20"] == int(np.count_nonzero(counts >= 20))
    assert out["high_quality_fraction"] == 1.0
    assert out["reverse_kl"] == pytest.approx(stats.entropy(h, weights), rel=1e-9, abs=1e-12)
    assert out["reverse_kl"] >= -1e-12
    eq = mode_statistics(equal, x)["reverse_kl"]
    assert eq == pytest.approx(math.log(k) - stats.entropy(h), rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------- KDE
def kde_terms(points, centres, h):
    """-|x - c|^2 / (2 h^2) for every point and centre, (n, m), by direct differences."""
    d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return -0.5 * d2 / h**2


def naive_kde_density(points, centres, h):
    """The KDE as a plain average of Gaussian densities (underflows far from the centres)."""
    norm = (2 * math.pi * h * h) ** (centres.shape[1] / 2)
    return np.exp(kde_terms(points, centres, h)).mean(axis=1) / norm


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_kde_log_prob_matches_naive_sum_across_chunks(dim):
    rng = np.random.default_rng(dim)
    centres = rng.standard_normal((300, dim))
    points = rng.standard_normal((2500, dim)) * 1.5  # 3 chunks: 1024 + 1024 + 452
    for h in (0.05, 0.3, 2.0):
        out = kde_log_prob(points, centres, h)
        assert out.shape == (2500,)
        assert np.all(np.isfinite(out))
        # the naive sum where it is a normal float64 (exp is float32 inside: ~1e-7 relative)
        dens = naive_kde_density(points, centres, h)
        normal = dens > 1e-250
        assert normal.mean() > 0.9
        np.testing.assert_allclose(out[normal], np.log(dens[normal]), rtol=0, atol=2e-6)
        # everywhere, against a float64 log-space sum
        ref = logsumexp(kde_terms(points, centres, h), axis=1) - math.log(len(centres))
        ref -= 0.5 * dim * math.log(2 * math.pi * h * h)
        np.testing.assert_allclose(out, ref, rtol=1e-9, atol=2e-6)
        # chunking does not mix rows up: each point alone gives the same answer
        for i in (0, 1023, 1024, 1025, 2047, 2048, 2499):
            np.testing.assert_allclose(
                kde_log_prob(points[i : i + 1], centres, h), out[i : i + 1], atol=1e-12
            )


def test_kde_log_prob_far_points_are_finite():
    centres = np.zeros((10, 2))
    out = kde_log_prob(np.array([[1e3, 1e3], [0.0, 0.0]]), centres, 0.01)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], -0.5 * 2e6 / 1e-4 - math.log(2 * math.pi * 1e-4), rtol=1e-9)
    np.testing.assert_allclose(out[1], -math.log(2 * math.pi * 1e-4), rtol=1e-6)


# The KDE exponentiates in float32 (relative noise ~1e-7), which quad may report as roundoff.
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@settings(max_examples=QUAD_EXAMPLES)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 30), st.just(1)), elements=st.floats(-3, 3)),
    st.floats(0.05, 1.0),
)
def test_kde_integrates_to_one_1d(centres, h):
    def density(t: float) -> float:
        return math.exp(kde_log_prob(np.array([[t]]), centres, h)[0])

    edges = [-math.inf, *sorted(set(centres[:, 0].tolist())), math.inf]
    total = sum(
        integrate.quad(density, a, b, epsabs=1e-8, epsrel=1e-8, limit=200)[0]
        for a, b in itertools.pairwise(edges)
    )
    assert abs(total - 1.0) < 1e-6


@given(
    arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-3, 3)),
    st.floats(0.05, 1.0),
)
def test_kde_integrates_to_one_2d(centres, h):
    # equally spaced rule with step h/2: spectrally accurate for Gaussian bumps
    step = h / 2
    axes = [np.arange(c.min() - 9 * h, c.max() + 9 * h, step) for c in centres.T]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
    total = float(np.exp(kde_log_prob(mesh, centres, h)).sum()) * step**2
    assert abs(total - 1.0) < 1e-6


def test_kde_bandwidth_small_for_narrow_modes():
    g = preset("mixture8")
    for seed, n in ((0, 1000), (1, 1500), (2, 2000)):
        x = g.sample(n, np.random.default_rng(seed))
        h = kde_bandwidth(x)
        assert 0.02 / 3 <= h <= 0.02 * 3, (seed, n, h)


def test_kde_bandwidth_large_for_broad_gaussian():
    x = np.random.default_rng(5).standard_normal((2000, 2))
    h = kde_bandwidth(x)
    silverman = 2000 ** (-1 / 6)  # ~0.28 for a unit 2-D normal
    assert silverman / 3 <= h <= silverman * 3, h
    assert h > 10 * kde_bandwidth(preset("mixture8").sample(2000, np.random.default_rng(5)))


def test_kde_bandwidth_deterministic_and_scale_equivariant():
    x = preset("trimodal1d").sample(800, np.random.default_rng(11))
    h = kde_bandwidth(x)
    assert h == kde_bandwidth(x.copy())
    assert np.isfinite(h) and h > 0
    np.testing.assert_allclose(kde_bandwidth(10.0 * x), 10.0 * h, rtol=1e-9)
    np.testing.assert_allclose(kde_bandwidth(x + 3.0), h, rtol=1e-9)


def test_kde_bandwidth_needs_three_samples():
    with pytest.raises(ValueError, match="at least 3 samples"):
        kde_bandwidth(np.zeros((2, 2)))
    assert np.isfinite(kde_bandwidth(np.array([[0.0], [1.0], [2.0]])))
    assert np.isfinite(kde_bandwidth(np.zeros((5, 2))))  # all equal: still a finite bandwidth


# --------------------------------------------------------------------- JSD
def discrete_jsd(p: np.ndarray, q: np.ndarray) -> float:
    """JSD in nats between weight vectors; the exact JSD of two mixtures of the same
    well-separated components with these weights."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log(p / m), 0.0)
        b = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(0.5 * (a.sum() + b.sum()))


def run_jsd(mixture, fake_mixture, n, seed):
    rng = np.random.default_rng(seed)
    fake = fake_mixture.sample(n, rng)
    real = mixture.sample(n, rng)
    noise = rng.standard_normal(fake.shape)
    return jsd_estimate(mixture, fake, real, noise)


def check_output(out):
    assert set(out) == {"jsd_estimate", "jsd_stderr", "kde_bandwidth", "kl_data_g",
                        "kl_data_g_stderr", "kl_g_data", "kl_g_data_stderr"}
    for key in ("kl_data_g", "kl_g_data"):  # KL >= 0 up to Monte Carlo error
        assert math.isfinite(out[key]) and out[key] >= -3 * out[key + "_stderr"] - 1e-12
    assert out["jsd_stderr"] > 0
    assert math.isfinite(out["jsd_stderr"])
    assert math.isfinite(out["kde_bandwidth"]) and out["kde_bandwidth"] > 0
    se = out["jsd_stderr"]
    # 1e-12: rounding of log 2 itself when p and q are disjoint (se is then ~1e-19)
    assert -3 * se - 1e-12 <= out["jsd_estimate"] <= LOG2 + 3 * se + 1e-12, out


@pytest.mark.parametrize("name", ["mixture8", "trimodal1d", "grid25"])
def test_jsd_small_against_p_data_itself(name):
    g = preset(name)
    out = run_jsd(g, g, 2000, seed=3)
    check_output(out)
    assert out["jsd_estimate"] < 0.05, out


def test_exact_one_mode_jsd_formula():
    # p_g = one component of mixture8 (weight 1/8), disjoint from the other seven:
    # JSD = 1/2[(1/8) log(2 (1/8) / (1/8 + 1)) + (7/8) log 2] + 1/2 log(2 / (1/8 + 1))
    w = 1 / 8
    exact = 0.5 * (w * math.log(2 * w / (w + 1)) + (1 - w) * LOG2) + 0.5 * math.log(2 / (w + 1))
    assert exact == pytest.approx(0.4969291266, abs=1e-9)
    q = np.zeros(8)
    q[0] = 1.0
    assert discrete_jsd(np.full(8, w), q) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("n_modes", [1, 2, 4])
def test_jsd_for_mode_collapse_matches_exact_value(n_modes):
    g = preset("mixture8")
    q = np.zeros(8)
    q[:: 8 // n_modes] = 1.0 / n_modes  # modes spread round the ring
    collapsed = GaussianMixture(g.means, g.stds, q)
    exact = discrete_jsd(g.weights, q)
    out = run_jsd(g, collapsed, 2000, seed=n_modes)
    check_output(out)
    # a few standard errors plus the KDE's smoothing bias
    assert abs(out["jsd_estimate"] - exact) <= 5 * out["jsd_stderr"] + 0.02, (out, exact)


def test_jsd_decreases_as_modes_are_recovered():
    g = preset("mixture8")
    values = []
    for n_modes in (1, 2, 4, 8):
        q = np.zeros(8)
        q[:: 8 // n_modes] = 1.0 / n_modes
        values.append(run_jsd(g, GaussianMixture(g.means, g.stds, q), 1000, 17)["jsd_estimate"])
    assert values == sorted(values, reverse=True), values
    assert values[0] > 0.4 and values[-1] < 0.05


@pytest.mark.parametrize("name", ["mixture8", "gauss1d"])
def test_jsd_near_log2_far_from_all_modes(name):
    g = preset(name)
    far = GaussianMixture(g.means + 100.0, g.stds, g.weights)
    out = run_jsd(g, far, 1000, seed=8)
    check_output(out)
    assert abs(out["jsd_estimate"] - LOG2) < 1e-6, out


@pytest.mark.parametrize("case", ["self", "collapsed", "shifted-1d"])
def test_jsd_matches_its_definition(case):
    """Recompute the Monte Carlo estimate and its standard error from the docstring's
    formula, at the bandwidth jsd_estimate chose, with a float64 log-space KDE."""
    g = preset("trimodal1d" if case == "shifted-1d" else "mixture8")
    rng = np.random.default_rng(21)
    if case == "self":
        fake = g.sample(700, rng)
    elif case == "collapsed":
        fake = GaussianMixture(g.means[:3], g.stds[:3]).sample(700, rng)
    else:
        fake = g.sample(700, rng) + 0.4
    real = g.sample(500, rng)
    noise = rng.standard_normal(fake.shape)
    out = jsd_estimate(g, fake, real, noise)
    h = out["kde_bandwidth"]
    assert h == kde_bandwidth(fake)

    def log_q(x):
        terms = kde_terms(x, fake, h)
        return logsumexp(terms, axis=1) - math.log(len(fake)) - 0.5 * g.dim * math.log(
            2 * math.pi * h * h
        )

    from_q = fake + h * noise  # one draw from the KDE per centre
    a = g.log_prob(real) - (np.logaddexp(g.log_prob(real), log_q(real)) - LOG2)
    b = log_q(from_q) - (np.logaddexp(g.log_prob(from_q), log_q(from_q)) - LOG2)
    value = 0.5 * (a.mean() + b.mean())
    stderr = 0.5 * math.sqrt(a.var() / len(a) + b.var() / len(b))
    assert out["jsd_estimate"] == pytest.approx(value, abs=1e-6)
    assert out["jsd_stderr"] == pytest.approx(stderr, rel=1e-4)


def test_jsd_is_deterministic_given_its_random_inputs():
    g = preset("mixture8")
    rng = np.random.default_rng(4)
    fake, real = g.sample(500, rng), g.sample(500, rng)
    noise = rng.standard_normal(fake.shape)
    assert jsd_estimate(g, fake, real, noise) == jsd_estimate(g, fake, real, noise)


@given(
    st.sampled_from(["mixture8", "trimodal1d", "bimodal1d"]),
    st.integers(1, 255),
    st.floats(0.2, 20.0),
    st.floats(-3.0, 3.0),
    st.integers(0, 2**32 - 1),
)
def test_jsd_within_bounds(name, mask, spread, shift, seed):
    g = preset(name)
    keep = np.array([(mask >> k) & 1 for k in range(g.n_components)], dtype=float)
    if keep.sum() == 0:
        keep[0] = 1.0
    fake_mixture = GaussianMixture(g.means + shift, g.stds * spread, keep)
    out = run_jsd(g, fake_mixture, 300, seed)
    check_output(out)


def test_kde_log_prob_is_accurate_far_from_the_origin():
    # |a|^2 + |b|^2 - 2ab cancels badly at large coordinates unless the sets are centred.
    rng = np.random.default_rng(0)
    centres, points = rng.normal(size=(300, 2)) * 0.01, rng.normal(size=(50, 2)) * 0.01
    near = kde_log_prob(points, centres, 0.005)
    for shift in (1e3, 1e6):
        far = kde_log_prob(points + shift, centres + shift, 0.005)
        np.testing.assert_allclose(far, near, rtol=0, atol=1e-6)


def test_d_dstar_gap_is_zero_at_d_star_and_positive_elsewhere():
    from toygan.core import theory
    from toygan.core.metrics import jsd_estimate, kde_bandwidth

    rng = np.random.default_rng(1)
    mixture = preset("bimodal1d")
    fake = rng.normal(0.5, 1.5, size=(600, 1))
    real, noise = mixture.sample(600, rng), rng.standard_normal((600, 1))
    kde = theory.kde_mixture(fake, kde_bandwidth(fake))

    def d_star(x):
        return theory.optimal_discriminator(mixture, kde, x)

    at_optimum = jsd_estimate(mixture, fake, real, noise, d_star)["d_dstar_gap"]
    assert at_optimum < 1e-5  # the KDE's float32 exponentials, nothing more
    half = jsd_estimate(mixture, fake, real, noise, lambda x: np.full(len(x), 0.5))
    h = half["kde_bandwidth"]
    points = np.concatenate([real, fake + h * noise])
    expected = np.abs(0.5 - d_star(points)).mean()
    assert abs(half["d_dstar_gap"] - expected) < 1e-5 and expected > 0.05
    assert "d_dstar_gap" not in jsd_estimate(mixture, fake, real, noise)

"""Figures of a generator's samples against the known data distribution.

Every function documents its definition and source. The evaluation of a run calls the cheap
ones (`sample_metrics`) at every evaluation and the expensive ones (`expensive_metrics`) at
a configurable cadence; `collapse_events` reads the sequence of evaluations and flags
collapse and mode hopping.

Mode statistics follow VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018); the
divergences use exact densities of p_data and a Gaussian KDE of G's samples (p_g is only
known through samples); precision/recall follow Kynkaanniemi et al. (2019), density/coverage
Naeem et al. (2020); the Parzen-window log-likelihood is the evaluation of Goodfellow et al.
(2014), reported beside the exact log-likelihood that a toy problem allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .distributions import GaussianMixture
from .modes import mode_statistics
from .modes import sq_distances as _sq_distances
from .stats import mean_stderr


def _log_sum_exp_rows(a: np.ndarray) -> np.ndarray:
    """logsumexp over axis 1, overwriting `a`.

    The shifted exponents are <= 0 and are exponentiated in float32 (3x faster than
    float64 here; the relative error of the sum, ~1e-7 sqrt(n), is far below the Monte
    Carlo error of every estimate that uses it); the sum is accumulated in float64.
    """
    top = a.max(axis=1, keepdims=True)
    a -= top
    shifted = a.astype(np.float32)
    np.exp(shifted, out=shifted)
    return np.log(shifted.sum(axis=1, dtype=np.float64)) + top[:, 0]


def _row_chunks(a: np.ndarray, b: np.ndarray, rows: int = 1024):
    """(slice of a's rows, their squared distances to all of b), 1024 rows at a time: the
    pairwise matrices stay bounded in memory for large sets."""
    for start in range(0, len(a), rows):
        where = slice(start, start + rows)
        yield where, _sq_distances(a[where], b)


def kde_log_prob(points: np.ndarray, centres: np.ndarray, bandwidth: float) -> np.ndarray:
    """log of the isotropic Gaussian KDE with the given centres and bandwidth, at points."""
    dim = centres.shape[1]
    log_norm = math.log(len(centres)) + 0.5 * dim * math.log(2.0 * math.pi * bandwidth**2)
    out = np.empty(len(points))
    for where, d2 in _row_chunks(points, centres):
        d2 *= -0.5 / bandwidth**2
        out[where] = _log_sum_exp_rows(d2) - log_norm
    return out


def kde_bandwidth(samples: np.ndarray, validation_fraction: float = 0.1) -> float:
    """Isotropic bandwidth by likelihood cross-validation.

    The last `validation_fraction` of the samples is held out; the bandwidth maximising
    their mean log-likelihood under the KDE of the rest is chosen from a log-spaced grid
    (3 decades below the samples' scale in half-decade steps, then refined to steps of
    10^(1/8)). Rule-of-thumb bandwidths (Scott,
    Silverman) assume one bump; on the presets' narrow modes (std 0.02 on a ring of radius
    2) they smooth over 10x the mode width and make every generator look far from p_data.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n_val = max(1, int(len(samples) * validation_fraction))
    fit, val = samples[:-n_val], samples[-n_val:]
    if len(fit) < 2:
        raise ValueError("kde_bandwidth needs at least 3 samples")
    scale = float(np.mean(np.std(samples, axis=0))) or 1.0
    score = _kde_scorer(val, fit)
    grid = scale * np.logspace(-3.0, 0.0, 7)  # half-decade steps
    best = max(grid, key=score)
    fine = best * np.logspace(-0.25, 0.25, 5)  # then steps of 10^(1/8), ~1.33x
    return float(max(fine, key=score))


def _kde_scorer(points: np.ndarray, centres: np.ndarray) -> Callable[[float], float]:
    """h -> mean log-likelihood of points under the KDE of centres with bandwidth h; the
    distances are computed once for all bandwidths tried."""
    d2 = _sq_distances(points, centres)
    log_n = math.log(len(centres))
    dim = centres.shape[1]

    def score(h: float) -> float:
        log_norm = log_n + 0.5 * dim * math.log(2.0 * math.pi * h * h)
        return float(np.mean(_log_sum_exp_rows(d2 * (-0.5 / (h * h)))) - log_norm)

    return score


def jsd_estimate(
    mixture: GaussianMixture,
    fake: np.ndarray,
    real: np.ndarray,
    noise: np.ndarray,
    discriminator: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Monte Carlo JSD(p_data || KDE of fake), in nats, with its standard error.

    real: draws from p_data; noise: standard normal draws shaped like `fake`, used to draw
    from the KDE (fake + h * noise). Fixing `real` and `noise` across evaluations (common
    random numbers) makes successive estimates comparable.
    JSD = 1/2 E_p[log p - log m] + 1/2 E_q[log q - log m], m = (p + q) / 2.

    Also both KLs on the same points: `kl_data_g` = KL(p_data || q) = E_p[log p - log q]
    (large when G misses modes) and `kl_g_data` = KL(q || p_data) = E_q[log q - log p]
    (large when G puts mass where the data has none), each with its standard error.

    With `discriminator` (D's probabilities at points), also `d_dstar_gap`: the
    (p + q)/2-weighted mean |D - D*| with D* = p / (p + q), q the same KDE (Prop. 1 says a
    D trained to its optimum has gap 0), estimated on the same points.
    """
    fake = np.asarray(fake, dtype=np.float64)
    h = kde_bandwidth(fake)
    from_q = fake + h * noise
    terms, kls, gaps = [], [], []
    for points, own in ((real, "p"), (from_q, "q")):
        log_p = mixture.log_prob(points)
        log_q = kde_log_prob(points, fake, h)
        log_sum = np.logaddexp(log_p, log_q)
        log_m = log_sum - math.log(2.0)
        terms.append((log_p if own == "p" else log_q) - log_m)
        kls.append(log_p - log_q if own == "p" else log_q - log_p)
        if discriminator is not None:
            d_star = np.exp(log_p - log_sum)
            gaps.append(np.abs(np.asarray(discriminator(points)) - d_star).mean())
    value = 0.5 * (terms[0].mean() + terms[1].mean())
    stderr = 0.5 * math.sqrt(
        terms[0].var() / len(terms[0]) + terms[1].var() / len(terms[1])
    )
    out = {"jsd_estimate": float(value), "jsd_stderr": float(stderr), "kde_bandwidth": h}
    for key, diffs in (("kl_data_g", kls[0]), ("kl_g_data", kls[1])):
        out[key], out[key + "_stderr"] = mean_stderr(diffs)
    if gaps:
        out["d_dstar_gap"] = float(0.5 * (gaps[0] + gaps[1]))
    return out


# ------------------------------------------------------------------ transport
def _mixture_1d(means: np.ndarray, stds: np.ndarray, weights: np.ndarray):
    """CDF F, partial first moment M(x) = int_-inf^x t p(t) dt, and quantile of a 1-D
    Gaussian mixture (vectorised; the quantile by bisection to float64 resolution)."""
    from scipy.special import ndtr  # Phi, accurate in both tails

    def parts(x):
        z = (np.asarray(x, dtype=np.float64)[..., None] - means) / stds
        return z, ndtr(z), np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    def cdf(x):
        _, phi_cdf, _ = parts(x)
        return phi_cdf @ weights

    def partial_mean(x):
        # int_-inf^x t N(t; mu, s) dt = mu Phi(z) - s phi(z)
        _, phi_cdf, phi = parts(x)
        return (means * phi_cdf - stds * phi) @ weights

    def quantile(u):
        u = np.asarray(u, dtype=np.float64)
        lo = np.full(u.shape, (means - 40.0 * stds).min())
        hi = np.full(u.shape, (means + 40.0 * stds).max())
        for _ in range(200):  # each halving is exact; stop when the bracket cannot shrink
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            if np.all((hi - lo) <= 4 * np.spacing(np.maximum(abs(lo), abs(hi)))):
                break
        return 0.5 * (lo + hi)

    return cdf, partial_mean, quantile


def wasserstein1_exact(means: np.ndarray, stds: np.ndarray, weights: np.ndarray,
                       samples: np.ndarray) -> float:
    """W1 between the empirical distribution of 1-D samples and a 1-D Gaussian mixture.

    W1 = int_0^1 |Q_n(u) - Q(u)| du (Q_n, Q the quantile functions). Q_n is the i-th order
    statistic x_(i) on ((i-1)/n, i/n]; on that interval int |x_(i) - Q(u)| du is split where
    Q(u) = x_(i) and each side is a difference of the mixture's partial first moment M, in
    closed form; only the quantiles Q(i/n) are found numerically (bisection). No Monte
    Carlo, no grid: the error is that of float64.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = len(x)
    cdf, partial_mean, quantile = _mixture_1d(np.ravel(means), np.ravel(stds),
                                              np.ravel(weights))
    u = np.arange(n + 1) / n
    q = quantile(u[1:-1])
    q = np.concatenate([[-np.inf], q, [np.inf]])
    u0, u1, q0, q1 = u[:-1], u[1:], q[:-1], q[1:]
    ua = np.clip(cdf(x), u0, u1)
    qa = np.clip(x, q0, q1)
    m0, ma, m1 = partial_mean(q0), partial_mean(qa), partial_mean(q1)
    below = x * (ua - u0) - (ma - m0)  # Q(u) <= x there
    above = (m1 - ma) - x * (u1 - ua)
    return float(np.sum(np.maximum(below, 0.0) + np.maximum(above, 0.0)))


def wasserstein1_to_data(mixture: GaussianMixture, samples: np.ndarray) -> float:
    """W1(G's samples, p_data) for a 1-D mixture, exactly (see `wasserstein1_exact`)."""
    if mixture.dim != 1:
        raise ValueError("the exact W1 is for 1-D data; use sliced_wasserstein in 2-D")
    return wasserstein1_exact(mixture.means[:, 0], mixture.stds[:, 0], mixture.weights,
                              samples)


def slice_directions(dim: int, n: int = 64) -> np.ndarray:
    """n unit vectors: evenly spaced half-circle angles in 2-D (deterministic, so successive
    evaluations use the same slices), a fixed-seed draw on the sphere otherwise."""
    if dim == 2:
        angles = np.pi * np.arange(n) / n
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    v = np.random.default_rng(0).standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_directions: int = 64) -> float:
    """Sliced W1 (Rabin et al., 2011; Bonneel et al., 2015): the mean over directions u of
    W1 between the projections u.a and u.b, each the mean |difference| of the sorted
    projections (equal sample counts). Two samples of one distribution give a small positive
    value, O(spread / sqrt(n)): compare runs evaluated with equal n."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs equal shapes, got {a.shape} and {b.shape}")
    u = slice_directions(a.shape[1], n_directions)
    pa, pb = np.sort(a @ u.T, axis=0), np.sort(b @ u.T, axis=0)
    return float(np.abs(pa - pb).mean())


def frechet_distance(mixture: GaussianMixture, samples: np.ndarray) -> float:
    """Frechet (2-Wasserstein) distance between Gaussian fits: the mixture's exact mean and
    covariance against the samples' (the FID formula, Heusel et al., 2017, on raw
    coordinates): |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)."""
    x = np.asarray(samples, np.float64).reshape(len(samples), -1)
    mu1, s1 = mixture.mean(), mixture.covariance()
    mu2 = x.mean(axis=0)
    s2 = np.atleast_2d(np.cov(x, rowvar=False))

    def psd_sqrt(m):
        w, v = np.linalg.eigh(0.5 * (m + m.T))
        return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T

    r1 = psd_sqrt(s1)
    cross = psd_sqrt(r1 @ s2 @ r1)
    value = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(cross)
    return float(max(value, 0.0))


def mean_log_likelihood(mixture: GaussianMixture, samples: np.ndarray) -> dict:
    """Exact mean log p_data of G's samples (nats), with its standard error: high when G's
    samples sit on the data's modes, whether or not G covers them all."""
    mean, stderr = mean_stderr(mixture.log_prob(samples))
    return {"loglik_data_of_g": mean, "loglik_data_of_g_stderr": stderr}


# ------------------------------------------------------------------ Parzen
def parzen_log_likelihood(
    mixture: GaussianMixture,
    fake: np.ndarray,
    validation: np.ndarray,
    test: np.ndarray,
    sigmas: np.ndarray | None = None,
) -> dict:
    """The paper's evaluation: a Gaussian Parzen window fitted to G's samples, its width
    sigma chosen on held-out validation data from a log-spaced grid (as the paper's code
    did; here 3 decades below the validation data's scale in 16 steps, so the grid is the
    same at every evaluation of a run), then the mean log-likelihood
    of held-out test data (nats, with its standard error).

    Beside it, `loglik_test_exact`: the exact mean log p_data of the same test points. For
    a perfect G the Parzen figure would equal it up to the estimator's bias, which the
    difference `parzen_bias` shows (negative: Parzen windows underestimate).
    """
    fake = np.asarray(fake, np.float64)
    validation = np.asarray(validation, np.float64)
    if sigmas is None:
        scale = float(np.mean(np.std(validation, axis=0))) or 1.0
        sigmas = scale * np.logspace(-3.0, 0.0, 16)
    score = _kde_scorer(validation, fake)
    scores = [score(s) for s in sigmas]
    best = int(np.argmax(scores))
    sigma = float(sigmas[best])
    parzen, stderr = mean_stderr(kde_log_prob(test, fake, sigma))
    exact = float(mixture.log_prob(test).mean())
    return {"parzen_loglik": parzen,
            "parzen_loglik_stderr": stderr,
            "parzen_sigma": sigma,
            "parzen_sigma_at_grid_edge": best in (0, len(sigmas) - 1),
            "loglik_test_exact": exact,
            "parzen_bias": parzen - exact}


# ---------------------------------------------------- nearest-neighbour sets
def knn_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point of the same set."""
    if not 1 <= k < len(points):
        raise ValueError(f"k = {k} needs at least {k + 1} points, got {len(points)}")
    radii = np.empty(len(points))
    for where, d2 in _row_chunks(points, points):
        # Index k after sorting: index 0 is the point itself (distance 0).
        radii[where] = np.sqrt(np.partition(d2, k, axis=1)[:, k])
    return radii


def _within(d2: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """d2 <= r2 with a relative slack of 1e-12: |a|^2 + |b|^2 - 2ab rounds, and a point
    exactly on a sphere (or on a centre of radius 0) must not fall out by rounding."""
    return d2 <= r2 * (1.0 + 1e-12) + 1e-300


def _inside_counts(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each query, how many balls B(centre_i, radius_i) hold it, with <= (closed balls:
    a query on a centre with radius 0, or on a sphere, counts)."""
    counts = np.empty(len(queries), dtype=np.int64)
    r2 = radii**2
    for where, d2 in _row_chunks(queries, centres):
        counts[where] = np.count_nonzero(_within(d2, r2), axis=1)
    return counts


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict:
    """Improved precision and recall (Kynkaanniemi et al., 2019), k-NN manifolds with k = 3.

    precision: fraction of fake samples inside the real manifold (the union of closed balls
    around real samples, radius = distance to the k-th nearest real neighbour); recall:
    fraction of real samples inside the fake manifold.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = np.mean(_inside_counts(fake, real, knn_radii(real, k)) > 0)
    recall = np.mean(_inside_counts(real, fake, knn_radii(fake, k)) > 0)
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict:
    """Density and coverage (Naeem et al., 2020), k = 5, balls around real samples only.

    density = (1 / (k M)) sum_j #{i : fake_j in B(real_i, r_i)} (about 1 when the sets
    match; above 1 when fakes crowd the modes); coverage = fraction of real samples whose
    ball holds at least one fake. Balls are closed (<=): with < a fake sample equal to a
    real one, or real duplicates (radius 0), would count as outside, a known bug elsewhere.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    radii = knn_radii(real, k)
    density = _inside_counts(fake, real, radii).sum() / (k * len(fake))
    # Coverage asks, per real ball, whether any fake lies in it: nearest fake within r_i.
    nearest = np.empty(len(real))
    for where, d2 in _row_chunks(real, fake):
        nearest[where] = d2.min(axis=1)
    coverage = np.mean(_within(nearest, radii**2))
    return {"density": float(density), "coverage": float(coverage)}


# ------------------------------------------------------------ per evaluation
def sample_metrics(mixture: GaussianMixture, fake: np.ndarray, real: np.ndarray,
                   kde_noise: np.ndarray,
                   discriminator: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """The cheap figures, logged at every evaluation: mode statistics, JSD and both KLs
    through the KDE, D-vs-D* gap, exact log-likelihood under p_data, Frechet distance, and
    W1 (exact, 1-D) or sliced W1 (against `real`, 2-D and up)."""
    out = mode_statistics(mixture, fake)
    out.update(jsd_estimate(mixture, fake, real, kde_noise, discriminator))
    out.update(mean_log_likelihood(mixture, fake))
    out["frechet"] = frechet_distance(mixture, fake)
    if mixture.dim == 1:
        out["wasserstein1"] = wasserstein1_to_data(mixture, fake)
    else:
        out["sliced_wasserstein1"] = sliced_wasserstein(fake, real)
    return out


def expensive_metrics(mixture: GaussianMixture, fake: np.ndarray, real: np.ndarray,
                      validation: np.ndarray) -> dict:
    """The figures that cost O(n^2) distance work several times over, logged at a cadence:
    Parzen-window log-likelihood (sigma chosen on `validation`, tested on `real`),
    precision/recall (k = 3) and density/coverage (k = 5) of `fake` against `real`."""
    out = parzen_log_likelihood(mixture, fake, validation, real)
    out.update(precision_recall(real, fake, k=3))
    out.update(density_coverage(real, fake, k=5))
    return out

"""The paper's quantities, computed exactly for Gaussian mixtures.

V(G, D)  = E_{p_data}[log D(x)] + E_{p_g}[log(1 - D(x))]
D*(x)    = p_data(x) / (p_data(x) + p_g(x))                       (Prop. 1)
C(G)     = V(G, D*) = -log 4 + 2 JSD(p_data || p_g)                (Thm. 1)

"Exactly" means by deterministic quadrature, not Monte Carlo. An integral over R^dim
(dim 1 or 2) is split by a partition of unity over the components of both mixtures,
r_j(x) = c_j(x) / sum_i c_i(x) with c_i = w_i N_i, and each piece f r_j is integrated on a
box of +-10 std around component j with a tensor-product composite Gauss-Legendre rule.
The rule's breakpoints sit at mu_j +- {0.5, 1, 2, 3, 4, 6} std_j and at the same offsets of
every narrower component whose box meets j's, so every bump is resolved on its own scale
however narrow, and no grid is spent far from every component. The error estimate compares
n and 2n - 1 nodes per sub-interval (`Integral.error`). Integrands are evaluated in log
space.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .distributions import GaussianMixture, log_gaussian_components
from .losses import log_sigmoid
from .stats import Estimate, mean_stderr, wilson_interval  # noqa: F401 (also importable from here)

LOG2 = math.log(2.0)
BOX_STDS = 10.0  # beyond 10 std a Gaussian's mass (7.6e-24) is below every tolerance here
_OFFSETS = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 6.0])


@dataclass(frozen=True)
class Integral:
    """A quadrature result: the value and an estimate of its absolute error."""

    value: float
    error: float

    def __float__(self) -> float:
        return self.value


def _box_rule(means, stds, j: int, order: int, meets: np.ndarray):
    """Points and weights on component j's box, refined at every narrower bump inside."""
    lo, hi = means[j] - BOX_STDS * stds[j], means[j] + BOX_STDS * stds[j]
    inside = meets & np.all(stds <= stds[j], axis=1)
    axes = []
    for a in range(means.shape[1]):
        mu, sd = means[inside, a][:, None], stds[inside, a][:, None]
        marks = np.concatenate([mu.ravel(), (mu + sd * _OFFSETS).ravel(),
                                (mu - sd * _OFFSETS).ravel(), [lo[a], hi[a]]])
        edges = np.unique(np.clip(marks, lo[a], hi[a]))
        edges = edges[np.concatenate([[True], np.diff(edges) > 1e-9 * (hi[a] - lo[a])])]
        nodes, weights = np.polynomial.legendre.leggauss(order)
        half = (edges[1:, None] - edges[:-1, None]) / 2.0
        axes.append((((edges[1:, None] + edges[:-1, None]) / 2.0 + half * nodes).ravel(),
                     (half * weights).ravel()))
    if len(axes) == 1:
        return axes[0][0][:, None], axes[0][1]
    (x, wx), (y, wy) = axes
    xx, yy = np.meshgrid(x, y, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1), np.outer(wx, wy).ravel()


def _log_sum(log_c: np.ndarray) -> np.ndarray:
    if log_c.shape[1] == 0:
        return np.full(len(log_c), -np.inf)
    top = log_c.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(log_c - top).sum(axis=1))


Integrand = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def integrate(
    integrand: Integrand, p: GaussianMixture, q: GaussianMixture, order: int | None = None
) -> Integral:
    """The integral over R^dim of integrand(x, log p(x), log q(x)), with an error estimate.

    The integrand must be negligible beyond 10 std of every component of p and q (true of
    every density-weighted quantity here). Components whose boxes miss j's box are more
    than 10 std from all of its points, so there they are left out of log p, log q and the
    partition (their share is below e^-50). The error is the difference between orders
    `order` and 2 * order - 1 (default 10 in 1-D, 6 in 2-D, where nodes cost their square).
    """
    if order is None:
        order = 10 if p.dim == 1 else 6
    if p.dim != q.dim:
        raise ValueError(f"p and q differ in dimension ({p.dim} vs {q.dim})")
    if p.dim > 2:
        raise ValueError("exact quadrature is implemented in 1-D and 2-D")
    means = np.concatenate([p.means, q.means])
    stds = np.concatenate([p.stds, q.stds])
    with np.errstate(divide="ignore"):
        log_w = np.log(np.concatenate([p.weights, q.weights]))
    from_p = np.arange(len(means)) < p.n_components
    massive = np.isfinite(log_w)  # zero-weight components need no box
    lo, hi = means - BOX_STDS * stds, means + BOX_STDS * stds
    values = []
    for n in (order, 2 * order - 1):
        total = 0.0
        for j in np.flatnonzero(massive):
            meets = massive & np.all((hi > lo[j]) & (lo < hi[j]), axis=1)
            points, weights = _box_rule(means, stds, j, n, meets)
            near = np.flatnonzero(meets)
            k = int(np.searchsorted(near, j))
            for start in range(0, len(points), 1 << 15):  # bounded memory
                x = points[start : start + (1 << 15)]
                log_c = log_gaussian_components(x, means[near], stds[near], log_w[near])
                log_p = _log_sum(log_c[:, from_p[near]])
                log_q = _log_sum(log_c[:, ~from_p[near]])
                share = np.exp(log_c[:, k] - np.logaddexp(log_p, log_q))  # c_j / (p + q)
                values_x = integrand(x, log_p, log_q)
                total += float(np.dot(weights[start : start + (1 << 15)], share * values_x))
        values.append(total)
    return Integral(values[1], abs(values[1] - values[0]))


# ------------------------------------------------------------------ the paper
def _density_times_log_ratio(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """a (log a - log b), with the limit 0 where a = 0 (log a = -inf)."""
    out = np.zeros_like(log_a)
    has_mass = np.isfinite(log_a)
    out[has_mass] = np.exp(log_a[has_mass]) * (log_a[has_mass] - log_b[has_mass])
    return out


def log_optimal_discriminator(
    p_data: GaussianMixture, p_g: GaussianMixture, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(log D*(x), log(1 - D*(x))) computed from log-densities: no 0/0, no overflow."""
    log_p, log_q = p_data.log_prob(x), p_g.log_prob(x)
    log_sum = np.logaddexp(log_p, log_q)
    return log_p - log_sum, log_q - log_sum


def optimal_discriminator(p_data: GaussianMixture, p_g: GaussianMixture, x) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Prop. 1), via log-densities.

    Where both densities underflow (far from every mode) the ratio of their log-densities
    still decides, so D* is defined everywhere.
    """
    return np.exp(log_optimal_discriminator(p_data, p_g, x)[0])


def optimal_discriminator_logit(p_data: GaussianMixture, p_g: GaussianMixture, x) -> np.ndarray:
    """logit D*(x) = log p_data(x) - log p_g(x): D* without rounding to 0 or 1."""
    return p_data.log_prob(x) - p_g.log_prob(x)


def value(
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    discriminator: Callable[[np.ndarray], np.ndarray],
    logits: bool = False,
) -> Integral:
    """V(G, D) = E_{p_data}[log D] + E_{p_g}[log(1 - D)] for any D on arrays of points.

    With logits=True, `discriminator` returns logits l and log D = -softplus(-l),
    log(1 - D) = -softplus(l) are exact; a D given as probabilities rounds to 1 where
    p_g / p_data < 1e-16, and there log(1 - D) = -inf makes V = -inf although those points
    carry mass e^-37 relative. Where a density is below 1e-300 its term is taken as 0 (a D
    that underflowed there would turn a vanishing term into 0 * inf).
    """

    def integrand(x, log_p, log_q):
        out = np.asarray(discriminator(x), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if logits:
                log_d, log_1md = log_sigmoid(out), log_sigmoid(-out)
            else:
                log_d, log_1md = np.log(out), np.log1p(-out)
            p, q = np.exp(log_p), np.exp(log_q)
            return np.where(p > 1e-300, p * log_d, 0.0) + np.where(q > 1e-300, q * log_1md, 0.0)

    return integrate(integrand, p_data, p_g)


def virtual_training_criterion(p_data: GaussianMixture, p_g: GaussianMixture) -> Integral:
    """C(G) = max_D V(G, D) = V(G, D*), integrated in log space."""

    def integrand(x, log_p, log_q):
        log_sum = np.logaddexp(log_p, log_q)
        return _density_times_log_ratio(log_p, log_sum) + _density_times_log_ratio(log_q, log_sum)

    return integrate(integrand, p_data, p_g)


def kl_divergence(p: GaussianMixture, q: GaussianMixture) -> Integral:
    """KL(p || q) = E_p[log p - log q] in nats."""

    def integrand(x, log_p, log_q):
        # log q with all of q's components: q's far tail decides KL where q has no near mass.
        return _density_times_log_ratio(log_p, q.log_prob(x))

    return integrate(integrand, p, q)


def jensen_shannon(p: GaussianMixture, q: GaussianMixture) -> Integral:
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, in nats; in [0, log 2]."""

    def integrand(x, log_p, log_q):
        log_m = np.logaddexp(log_p, log_q) - LOG2
        return 0.5 * (
            _density_times_log_ratio(log_p, log_m) + _density_times_log_ratio(log_q, log_m)
        )

    return integrate(integrand, p, q)


def mixture_of_mixtures(p: GaussianMixture, q: GaussianMixture, lam: float) -> GaussianMixture:
    """The mixture lam p + (1 - lam) q (for the convexity of C in p_g)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    return GaussianMixture(
        np.concatenate([p.means, q.means]),
        np.concatenate([p.stds, q.stds]),
        np.concatenate([lam * p.weights, (1.0 - lam) * q.weights]),
        name=f"{lam:g}*{p.name}+{1 - lam:g}*{q.name}",
    )


def kde_mixture(samples: np.ndarray, bandwidth: float, name: str = "kde") -> GaussianMixture:
    """A Gaussian KDE of samples as the equal-weight mixture it is."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    return GaussianMixture(samples, bandwidth, None, name)


# -------------------------------------------------------------- Monte Carlo
def kl_divergence_mc(p: GaussianMixture, q: GaussianMixture, samples_p: np.ndarray) -> Estimate:
    """KL(p || q) from samples of p, when only samples are at hand (densities known)."""
    return Estimate(*mean_stderr(p.log_prob(samples_p) - q.log_prob(samples_p)))


def jensen_shannon_mc(
    p: GaussianMixture, q: GaussianMixture, samples_p: np.ndarray, samples_q: np.ndarray
) -> Estimate:
    """JSD(p || q) from samples of both sides (densities known), with its standard error."""
    parts = []
    for samples, own in ((samples_p, 0), (samples_q, 1)):
        logs = (p.log_prob(samples), q.log_prob(samples))
        log_m = np.logaddexp(*logs) - LOG2
        parts.append(mean_stderr(logs[own] - log_m))
    return Estimate(
        0.5 * (parts[0][0] + parts[1][0]), 0.5 * math.hypot(parts[0][1], parts[1][1])
    )

"""f-divergences between Gaussian mixtures, exactly (by the quadrature of core.theory), and
the variational bound behind f-GAN (Nowozin, Cseke and Tomioka 2016).

D_f(P || Q) = integral q f(p / q), f convex with f(1) = 0. The generators f are those of the
paper's Table 1; each `Divergence` also holds f' (the optimal critic T*(x) = f'(p(x)/q(x)),
the paper's Eq. 5 and Sec. 2.3), the Fenchel conjugate f* and the output activation g_f of
Table 2, which maps a real network output v into the domain of f*.

    D_f(P || Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))]     (Eq. 4; equality at T = T*)

Everything is evaluated from log p and log q (u = p / q as exp(log p - log q)), so that
ratios far in the tails neither overflow nor lose the density that weights them.
Note on "jensen_shannon": with Table 1's generator f(u) = -(u + 1) log((1 + u) / 2) +
u log u, the integral of q f(p / q) is KL(p || m) + KL(q || m) = 2 JSD(p || q), m = (p + q)/2
(core.theory.jensen_shannon is JSD); "gan" is 2 JSD - log 4, the GAN's C(G).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .distributions import GaussianMixture
from .losses import FGAN_TERMS
from .theory import Integral, integrate

Array = np.ndarray


@dataclass(frozen=True)
class Divergence:
    name: str
    f_log: Callable[[Array], Array]  # f(u) as a function of log u
    f_prime_log: Callable[[Array], Array]  # f'(u) as a function of log u: T*
    conjugate: Callable[[Array], Array]  # f*(t) on the domain of f*
    activation: Callable[[Array], Array]  # g_f: R -> domain of f* (Table 2)


def _softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


DIVERGENCES: dict[str, Divergence] = {
    "kl": Divergence(
        "kl", lambda lu: np.exp(lu) * lu, lambda lu: 1.0 + lu,
        lambda t: np.exp(t - 1.0), lambda v: v),
    "reverse_kl": Divergence(
        "reverse_kl", lambda lu: -lu, lambda lu: -np.exp(-lu),
        lambda t: -1.0 - np.log(-t), lambda v: -np.exp(-v)),
    "pearson": Divergence(
        "pearson", lambda lu: np.expm1(lu) ** 2, lambda lu: 2.0 * np.expm1(lu),
        lambda t: 0.25 * t * t + t, lambda v: v),
    "hellinger": Divergence(
        "hellinger", lambda lu: np.expm1(0.5 * lu) ** 2, lambda lu: -np.expm1(-0.5 * lu),
        lambda t: t / (1.0 - t), lambda v: -np.expm1(-v)),
    "jensen_shannon": Divergence(
        "jensen_shannon",
        lambda lu: np.exp(lu) * lu - (np.exp(lu) + 1.0) * (np.logaddexp(0.0, lu) - math.log(2)),
        lambda lu: math.log(2.0) + lu - np.logaddexp(0.0, lu),
        lambda t: -np.log(2.0 - np.exp(t)), lambda v: math.log(2.0) - _softplus(-v)),
    "gan": Divergence(
        "gan", lambda lu: np.exp(lu) * lu - (np.exp(lu) + 1.0) * np.logaddexp(0.0, lu),
        lambda lu: lu - np.logaddexp(0.0, lu),
        lambda t: -np.log(-np.expm1(t)), lambda v: -_softplus(-v)),
}


def get_divergence(name: str) -> Divergence:
    try:
        return DIVERGENCES[name]
    except KeyError:
        raise ValueError(f"unknown f-divergence {name!r}; choose from "
                         f"{', '.join(DIVERGENCES)}") from None


def f_divergence(p: GaussianMixture, q: GaussianMixture, name: str) -> Integral:
    """D_f(p || q) = integral q f(p / q), with the quadrature's error estimate."""
    div = get_divergence(name)

    def integrand(x, log_p, log_q):
        return np.exp(log_q) * div.f_log(log_p - log_q)

    return integrate(integrand, p, q)


def optimal_critic(p: GaussianMixture, q: GaussianMixture, x: Array, name: str) -> Array:
    """T*(x) = f'(p(x) / q(x)): the critic at which the variational bound is tight."""
    return get_divergence(name).f_prime_log(p.log_prob(x) - q.log_prob(x))


def variational_bound(p: GaussianMixture, q: GaussianMixture, name: str,
                      critic: Callable[[Array, Array, Array], Array] | None = None) -> Integral:
    """E_p[T] - E_q[f*(T)] by quadrature; T = critic(x, log p, log q) (default: T*)."""
    div = get_divergence(name)

    def integrand(x, log_p, log_q):
        t = div.f_prime_log(log_p - log_q) if critic is None else critic(x, log_p, log_q)
        return np.exp(log_p) * t - np.exp(log_q) * div.conjugate(t)

    return integrate(integrand, p, q)


def critic_terms(name: str, v: Array) -> tuple[Array, Array, Array, Array]:
    """(T, dT/dv, f*(T), d f*(T)/dv) for raw critic outputs v, T = g_f(v) (Table 2)."""
    get_divergence(name)
    return FGAN_TERMS[name](v)

"""GAN losses on the discriminator's logits: value and gradient, numerically stable.

Every loss is something to minimise. Logits have shape (P, batch, 1); each function returns
the per-member value, shape (P,), the batch mean, and the gradient of that mean with
respect to the logits (same shape as the logits, so it already carries the 1/batch factor).

With D(x) = sigmoid(l) the paper's terms are written through softplus(t) = log(1 + e^t):
  log D = -softplus(-l),  log(1 - D) = -softplus(l),
which never takes log(0) and never overflows (np.logaddexp), and whose derivatives are
sigmoids (scipy's expit is overflow-free).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

Array = np.ndarray


def softplus(x: Array) -> Array:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(0.0, x)


def log_sigmoid(x: Array) -> Array:
    """log D for D = sigmoid(x)."""
    return -softplus(-x)


def _mean(values: Array) -> Array:
    return values.mean(axis=(1, 2))


# ------------------------------------------------------------- discriminator
def bce_discriminator(real: Array, fake: Array) -> tuple[Array, Array, Array]:
    """The paper's D objective as a loss: -(mean log D(x) + mean log(1 - D(G(z))))."""
    value = _mean(softplus(-real)) + _mean(softplus(fake))
    grad_real = -expit(-real) / real.shape[1]
    grad_fake = expit(fake) / fake.shape[1]
    return value, grad_real, grad_fake


def wasserstein_critic(real: Array, fake: Array) -> tuple[Array, Array, Array]:
    """WGAN critic: mean f(G(z)) - mean f(x) (Lipschitz by weight clipping in the trainer)."""
    value = _mean(fake) - _mean(real)
    grad_real = np.full_like(real, -1.0 / real.shape[1])
    grad_fake = np.full_like(fake, 1.0 / fake.shape[1])
    return value, grad_real, grad_fake


def least_squares_discriminator(real: Array, fake: Array) -> tuple[Array, Array, Array]:
    """LSGAN (a=0, b=1): 1/2 mean (f(x) - 1)^2 + 1/2 mean f(G(z))^2 on the raw output."""
    value = 0.5 * _mean((real - 1.0) ** 2) + 0.5 * _mean(fake**2)
    grad_real = (real - 1.0) / real.shape[1]
    grad_fake = fake / fake.shape[1]
    return value, grad_real, grad_fake


# ----------------------------------------------------------------- generator
def minimax_generator(fake: Array) -> tuple[Array, Array]:
    """Algorithm 1's G loss: mean log(1 - D(G(z))) (saturates when D rejects G early on)."""
    value = -_mean(softplus(fake))
    return value, -expit(fake) / fake.shape[1]


def nonsaturating_generator(fake: Array) -> tuple[Array, Array]:
    """The paper's heuristic (Sec. 3): maximise log D(G(z)), i.e. minimise -mean log D."""
    value = _mean(softplus(-fake))
    return value, -expit(-fake) / fake.shape[1]


def wasserstein_generator(fake: Array) -> tuple[Array, Array]:
    return -_mean(fake), np.full_like(fake, -1.0 / fake.shape[1])


def least_squares_generator(fake: Array) -> tuple[Array, Array]:
    """LSGAN (c=1): 1/2 mean (f(G(z)) - 1)^2."""
    return 0.5 * _mean((fake - 1.0) ** 2), (fake - 1.0) / fake.shape[1]


@dataclass(frozen=True)
class GANLoss:
    """A matched pair: the discriminator's loss and the generator's loss."""

    name: str
    discriminator: Callable[[Array, Array], tuple[Array, Array, Array]]
    generator: Callable[[Array], tuple[Array, Array]]
    output_is_probability: bool  # True when sigmoid(logit) is D's probability of "real"
    clip: bool = False  # weight clipping of the critic after each D step (WGAN)


# ------------------------------------------------------------------ f-GAN
def _sigmoid(v: Array) -> Array:
    return np.exp(-softplus(-v))


# The f-GAN critic's two terms as functions of the network's raw output v (Nowozin et al.
# 2016, Table 2): T = g_f(v) and f*(T) = f*(g_f(v)), with their derivatives in v, in forms
# that do not overflow: (g, g', f* o g, (f* o g)'). core.fdiv holds the divergences.
FGAN_TERMS: dict[str, Callable[[Array], tuple[Array, Array, Array, Array]]] = {
    "kl": lambda v: (v, np.ones_like(v), np.exp(v - 1.0), np.exp(v - 1.0)),
    "reverse_kl": lambda v: (-np.exp(-v), np.exp(-v), v - 1.0, np.ones_like(v)),
    "pearson": lambda v: (v, np.ones_like(v), 0.25 * v * v + v, 0.5 * v + 1.0),
    "hellinger": lambda v: (-np.expm1(-v), np.exp(-v), np.expm1(v), np.exp(v)),
    "jensen_shannon": lambda v: (np.log(2.0) - softplus(-v), _sigmoid(-v),
                                 softplus(v) - np.log(2.0), _sigmoid(v)),
    "gan": lambda v: (-softplus(-v), _sigmoid(-v), softplus(v), _sigmoid(v)),
}


def fgan_loss(divergence: str) -> GANLoss:
    """f-GAN's saddle point (Nowozin et al. 2016, Eq. 6): D maximises E_P g(v) - E_Q f*(g(v))
    (its loss is the negative), G minimises the same, i.e. -E_Q f*(g(v(G(z))))."""
    terms = FGAN_TERMS[divergence]

    def discriminator(real: Array, fake: Array) -> tuple[Array, Array, Array]:
        g, dg, _, _ = terms(real)
        _, _, h, dh = terms(fake)
        return _mean(h) - _mean(g), -dg / real.shape[1], dh / fake.shape[1]

    def generator(fake: Array) -> tuple[Array, Array]:
        _, _, h, dh = terms(fake)
        return -_mean(h), -dh / fake.shape[1]

    return GANLoss(f"fgan_{divergence}", discriminator, generator, False)


# The losses the kernels implement (kernels/loss_terms.cuh); the f-GAN ones are numpy only.
KERNEL_LOSSES = ("minimax", "nonsaturating", "wasserstein", "least_squares")

LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", bce_discriminator, minimax_generator, True),
    "nonsaturating": GANLoss("nonsaturating", bce_discriminator, nonsaturating_generator, True),
    "wasserstein": GANLoss(
        "wasserstein", wasserstein_critic, wasserstein_generator, False, clip=True
    ),
    "least_squares": GANLoss(
        "least_squares", least_squares_discriminator, least_squares_generator, False
    ),
    **{f"fgan_{name}": fgan_loss(name) for name in FGAN_TERMS if name != "gan"},
}


def get_loss(name: str) -> GANLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}") from None

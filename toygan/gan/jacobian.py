"""The Jacobian of a GAN's joint gradient field, by central differences of the engine's own
gradients (Mescheder, Nowozin and Geiger 2017, "The Numerics of GANs"; Mescheder et al. 2018).

The field is v(theta_G, theta_D) = (-grad_G L_G, -grad_D L_D) on one fixed minibatch (the real
samples and the noise held fixed, so v is a deterministic function of the parameters), with D's
gradient penalty when the run has one. `equilibrium_gan` builds a point where v = 0 exactly on
that minibatch: the real samples are the noise samples, G is the identity map (a linear G,
MLP([d, d]), with W = I and b = 0), and D's output layer is zero, so D = 0 everywhere.
"""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..core.distributions import GaussianMixture
from ..core.nn import MLP
from ..core.optim import make_optimizer
from .numpy_gan import GAN


def fixed_field(gan: GAN, real: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """v at the current parameters, on the given minibatch (both steps see `noise`)."""
    gan.sample_real = lambda: real
    gan.training_noise = lambda: noise
    try:
        gan.discriminator_gradients()
        gan.generator_gradients()
    finally:
        del gan.sample_real, gan.training_noise
    return -np.concatenate([gan.G.grads[0], gan.D.grads[0]]).astype(np.float64)


def field_jacobian(gan: GAN, real: np.ndarray, noise: np.ndarray, h: float = 1e-6
                   ) -> np.ndarray:
    """dv/dtheta, (n, n) for n = G's and D's parameters, by central differences."""
    n_g = gan.G.params.shape[1]
    theta = np.concatenate([gan.G.params[0], gan.D.params[0]]).astype(np.float64)

    def put(t):
        gan.G.params[0], gan.D.params[0] = t[:n_g], t[n_g:]

    J = np.empty((theta.size, theta.size))
    try:
        for i in range(theta.size):
            step = np.zeros_like(theta)
            step[i] = h
            put(theta + step)
            plus = fixed_field(gan, real, noise)
            put(theta - step)
            J[:, i] = (plus - fixed_field(gan, real, noise)) / (2 * h)
    finally:
        put(theta)
    return J


def equilibrium_gan(penalty: str = "none", gamma: float = 1.0, hidden: int = 8,
                    batch: int = 512, seed: int = 0, dim: int = 2
                    ) -> tuple[GAN, np.ndarray]:
    """A float64 GAN at an exact equilibrium of its minibatch (see the module doc), and that
    minibatch: N(0, I) data, a linear G at the identity, D a tanh MLP with hidden width
    `hidden` whose output layer is zero."""
    mixture = GaussianMixture(np.zeros((1, dim)), np.ones((1, dim)), name="normal")
    config = Config(preset="normal", mixture=mixture.to_dict(), hidden=[hidden],
                    dtype="float64", penalty=penalty, gamma=gamma, batch=batch,
                    noise_dim=dim, d_activation="tanh", loss="minimax", optimizer="sgd")
    gan = GAN(config, mixture)
    rng = np.random.default_rng(seed)
    gan.D.init([rng])
    gan.D.params[0, -(hidden + 1):] = 0.0  # the output layer: D = 0
    gan.G = MLP([dim, dim], population=1, dtype=np.float64)
    gan.G.params[0, : dim * dim] = np.eye(dim).ravel()  # W = I, b = 0
    gan.opt_g = make_optimizer("sgd", gan.G.params, gan.G.grads, config.lr_g)
    return gan, rng.standard_normal((1, batch, dim))

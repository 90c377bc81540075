"""Gradient penalties on the discriminator, through the MLP's second-order passes.

For D's output d(x) (the logit for the GAN losses, the critic's value for Wasserstein) and a
batch x of n points per member:
- R1 (Mescheder et al. 2018): gamma / 2 * mean_i |grad_x d(x_i)|^2 on real samples;
- R2: the same on generated samples;
- WGAN-GP (Gulrajani et al. 2017): lambda * mean_i (|grad_x d(x_i)| - 1)^2 at random
  interpolates of real and generated samples (the caller draws them).

The parameter gradient of a penalty P(grad_x d) is the gradient of <grad_x d, u> with
u = dP/d(grad_x d) held fixed: one forward and backward pass for grad_x d, one tangent pass
in direction u and its reverse (toygan.core.nn.layers, "Second order").
"""

from __future__ import annotations

import numpy as np

from .nn import MLP

PENALTIES = ("none", "r1", "r2", "wgan-gp")


def penalty_direction(kind: str, grad_x: np.ndarray, gamma) -> tuple[np.ndarray, np.ndarray]:
    """The penalty's value per member (P,) and u = dP/d(grad_x) (the shape of grad_x),
    for grad_x (P, n, dim) and gamma a number or one per member (P,)."""
    P, n = grad_x.shape[:2]
    weight = np.broadcast_to(np.asarray(gamma, dtype=np.float64), (P,))
    sq = np.einsum("pnd,pnd->pn", grad_x, grad_x, dtype=np.float64)  # |grad_x d(x_i)|^2
    if kind in ("r1", "r2"):
        value = 0.5 * weight * sq.mean(axis=1)
        u = grad_x * (weight / n)[:, None, None].astype(grad_x.dtype)
        return value, u
    if kind == "wgan-gp":
        norm = np.sqrt(sq)
        value = weight * ((norm - 1.0) ** 2).mean(axis=1)
        # d/dg (|g| - 1)^2 = 2 (|g| - 1) g / |g|; at g = 0 the direction is undefined: 0.
        safe = np.where(norm > 0, norm, 1.0)
        scale = np.where(norm > 0, 2.0 * (norm - 1.0) / safe, 0.0) * (weight / n)[:, None]
        return value, grad_x * scale[..., None].astype(grad_x.dtype)
    raise ValueError(f"unknown penalty {kind!r}; choose from {', '.join(PENALTIES[1:])}")


def penalty_gradient(D: MLP, x: np.ndarray, kind: str, gamma) -> np.ndarray:
    """Overwrite D.grads with the parameter gradient of the penalty at points x
    (P, n, D's input width); returns the penalty's value per member (P,)."""
    grad_x = D.input_gradient(x)
    value, u = penalty_direction(kind, grad_x, gamma)
    out_shape = (*x.shape[:2], 1)
    D.tangent(u)
    D.tangent_backward(np.zeros(out_shape, dtype=D.dtype), np.ones(out_shape, dtype=D.dtype))
    return value

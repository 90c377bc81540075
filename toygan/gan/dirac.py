"""The Dirac-GAN (core.dirac) trained by toygan's own parts: a one-parameter generator
G(z) = theta and a linear discriminator D(x) = psi x, both core.nn MLPs, with the losses of
core.losses, the penalties of core.penalties (through the second-order passes), the
optimisers of core.optim and the update schemes of gan.updates. The claims measure this,
not the closed form, so they test the code.

G is MLP([1, 1]) with its weight held at 0 (only the bias, theta, trains); D is MLP([1, 1])
with its bias held at 0 (only the weight, psi, trains). p_data = delta_0: the real
minibatch is one point at 0, and G's one sample is theta.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..core.losses import get_loss
from ..core.nn import MLP
from ..core.optim import make_optimizer
from ..core.penalties import penalty_gradient
from .updates import UPDATES


class DiracGAN:
    def __init__(self, theta: float, psi: float, loss: str = "minimax",
                 penalty: str = "none", gamma: float = 0.0, optimizer: str = "sgd",
                 lr: float = 0.1, update: str = "simultaneous", clip: float | None = None,
                 ) -> None:
        if penalty not in ("none", "r1", "r2"):
            raise ValueError(f"the Dirac-GAN takes r1 or r2, not {penalty!r}")
        self.loss = get_loss(loss)
        self.penalty, self.gamma, self.clip = penalty, gamma, clip
        self.G = MLP([1, 1], population=1, dtype=np.float64)
        self.D = MLP([1, 1], population=1, dtype=np.float64)
        self.G.params[0] = [0.0, theta]  # weight 0, bias theta
        self.D.params[0] = [psi, 0.0]  # weight psi, bias 0
        self.opt_g = make_optimizer(optimizer, self.G.params, self.G.grads, lr)
        self.opt_d = make_optimizer(optimizer, self.D.params, self.D.grads, lr)
        if optimizer == "sgd":  # plain gradient steps, as in the paper's analysis
            self.opt_g.momentum = self.opt_d.momentum = 0.0
        self.config = SimpleNamespace(k=1)
        self.update = UPDATES[update](self)
        self.zero = np.zeros((1, 1, 1))

    @property
    def point(self) -> np.ndarray:
        """(theta, psi)."""
        return np.array([self.G.params[0, 1], self.D.params[0, 0]])

    @point.setter
    def point(self, value) -> None:
        self.G.params[0] = [0.0, value[0]]
        self.D.params[0] = [value[1], 0.0]

    # the four parts an update scheme calls (as on numpy_gan.GAN)
    def discriminator_gradients(self) -> float:
        fake = self.G.forward(self.zero).copy()
        logits = self.D.forward(np.concatenate([self.zero, fake], axis=1))
        value, grad_real, grad_fake = self.loss.discriminator(logits[:, :1], logits[:, 1:])
        self.D.backward(np.concatenate([grad_real, grad_fake], axis=1), input_grad=False)
        if self.penalty != "none":
            loss_grads = self.D.grads.copy()
            points = self.zero if self.penalty == "r1" else fake
            penalty_gradient(self.D, points, self.penalty, self.gamma)
            self.D.grads += loss_grads
        self.D.grads[0, 1] = 0.0  # the bias stays 0
        return float(value[0])

    def apply_discriminator(self) -> None:
        self.opt_d.step()
        if self.clip is not None:
            np.clip(self.D.params, -self.clip, self.clip, out=self.D.params)

    def generator_gradients(self) -> float:
        fake = self.G.forward(self.zero)
        value, grad = self.loss.generator(self.D.forward(fake))
        grad_fake = self.D.backward(grad, input_grad=True, param_grads=False)
        self.G.backward(grad_fake, input_grad=False)
        self.G.grads[0, 0] = 0.0  # the weight stays 0
        return float(value[0])

    def discriminator_step(self) -> float:
        value = self.discriminator_gradients()
        self.apply_discriminator()
        return value

    def generator_step(self) -> float:
        value = self.generator_gradients()
        self.opt_g.step()
        return value

    # what the claims measure
    def field(self) -> np.ndarray:
        """The gradient field (-dL_G/dtheta, -dL_D/dpsi) at the current point, from the
        engine's gradients (no update)."""
        self.discriminator_gradients()
        self.generator_gradients()
        return -np.array([self.G.grads[0, 1], self.D.grads[0, 0]])

    def iteration(self) -> np.ndarray:
        self.update.iteration()
        return self.point

    def trajectory(self, steps: int) -> np.ndarray:
        """(steps + 1, 2): the starting point and every iteration's (theta, psi)."""
        return np.array([self.point, *(self.iteration() for _ in range(steps))])


def engine_jacobian(loss: str = "minimax", penalty: str = "none", gamma: float = 0.0,
                    h: float = 1e-6) -> np.ndarray:
    """The field's Jacobian at (0, 0) by central differences of the engine's field."""
    gan = DiracGAN(0.0, 0.0, loss, penalty, gamma)
    columns = []
    for e in np.eye(2):
        gan.point = h * e
        plus = gan.field()
        gan.point = -h * e
        minus = gan.field()
        columns.append((plus - minus) / (2 * h))
    return np.array(columns).T


def engine_update_map(update: str, lr: float, loss: str = "minimax", penalty: str = "none",
                      gamma: float = 0.0, h: float = 1e-6) -> np.ndarray:
    """The Jacobian at (0, 0) of one iteration of the engine's update scheme (plain SGD
    steps of size lr), by central differences."""
    columns = []
    for e in np.eye(2):
        ends = []
        for sign in (1.0, -1.0):
            gan = DiracGAN(*(sign * h * e), loss, penalty, gamma, lr=lr, update=update)
            ends.append(gan.iteration())
        columns.append((ends[0] - ends[1]) / (2 * h))
    return np.array(columns).T

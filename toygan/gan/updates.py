"""Update schemes of the numpy GAN step: how an iteration moves G and D (config.update).

- alternating: Algorithm 1 of the paper, k D steps, then a G step against the new D;
- simultaneous: both gradients at the same point, then both updates (the scheme the
  convergence analyses of Mescheder et al. 2017/2018 start from);
- extragradient: a simultaneous look-ahead step, then both players update from where they
  started with the look-ahead point's gradients (Korpelevich; with Adam, the look-ahead is
  taken by the optimiser too and its state put back, as in Gidel et al. 2019's ExtraAdam);
- optimistic: simultaneous, with the optimiser fed 2 g_t - g_(t-1) (optimistic gradient
  descent, Daskalakis et al. 2018; the first step is a plain one).
Each needs k = 1 except alternating (Config.validate). A population runs alternating only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .numpy_gan import GAN


class Alternating:
    def __init__(self, gan: GAN) -> None:
        self.gan = gan

    def iteration(self) -> tuple[float, float]:
        gan = self.gan
        for _ in range(gan.config.k):
            loss_d = gan.discriminator_step()
        return loss_d, gan.generator_step()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        pass


class Simultaneous(Alternating):
    def gradients(self) -> tuple[float, float]:
        """Both players' gradients at the current point (G's against the current D)."""
        return self.gan.discriminator_gradients(), self.gan.generator_gradients()

    def apply(self) -> None:
        self.gan.apply_discriminator()
        self.gan.opt_g.step()

    def iteration(self) -> tuple[float, float]:
        losses = self.gradients()
        self.apply()
        return losses


class Extragradient(Simultaneous):
    def iteration(self) -> tuple[float, float]:
        gan = self.gan
        start = [(net.params.copy(), opt.state_dict())
                 for net, opt in ((gan.G, gan.opt_g), (gan.D, gan.opt_d))]
        super().iteration()  # the look-ahead step
        losses = self.gradients()  # at the look-ahead point, on fresh minibatches
        for (params, state), net, opt in zip(start, (gan.G, gan.D), (gan.opt_g, gan.opt_d),
                                             strict=True):
            net.params[...] = params
            opt.load_state_dict(state)
        self.apply()
        return losses


class Optimistic(Simultaneous):
    def __init__(self, gan: GAN) -> None:
        super().__init__(gan)
        self.previous = {"g": np.zeros_like(gan.G.grads), "d": np.zeros_like(gan.D.grads)}
        self.started = False

    def iteration(self) -> tuple[float, float]:
        gan = self.gan
        losses = self.gradients()
        for name, net in (("g", gan.G), ("d", gan.D)):
            previous = self.previous[name]
            if not self.started:
                previous[...] = net.grads
            fed = 2.0 * net.grads - previous
            previous[...] = net.grads
            net.grads[...] = fed
        self.started = True
        self.apply()
        return losses

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"optimistic.g": self.previous["g"].copy(),
                "optimistic.d": self.previous["d"].copy(),
                "optimistic.started": np.array(self.started)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name in ("g", "d"):
            self.previous[name][...] = state[f"optimistic.{name}"]
        self.started = bool(state["optimistic.started"])


UPDATES = {"alternating": Alternating, "simultaneous": Simultaneous,
           "extragradient": Extragradient, "optimistic": Optimistic}

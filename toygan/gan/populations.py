"""P GANs of one architecture in lockstep on the numpy backend (toygan.training's
population trainer drives them).

What makes member i equal to the single run of its configuration (tested):
- its parameters are initialised, and its minibatches and noise drawn, from the streams of
  its own seed (gan.streams.random_streams), in the same order and shapes as a single run's;
- per-member learning rates go through the same float arithmetic as a scalar one
  (optim.Optimizer._as_params);
- with k differing between members, every member runs max(k) D steps in lockstep and the
  update of a member past its own k is masked (its parameters, gradients, optimiser state,
  step count and dropout generator put back; it draws no minibatch or noise);
- it is evaluated by the single run's own code on a one-member copy of its networks
  (`member`), with its own evaluation sets.
No op mixes members, so a member that diverges does not affect the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from ..config import Config, ConfigError
from ..core.distributions import GaussianMixture
from ..core.losses import get_loss
from ..core.nn import MLP
from .networks import CheckpointError, build_networks, restore_networks
from .numpy_gan import GAN, NumpyNetworks
from .streams import TRAINING_STREAMS, draw_noise


class PopulationGAN(GAN):
    """P GANs in lockstep on the numpy backend: GAN with a member axis of P (see the module
    doc for what makes member i equal to the single run of its configuration)."""

    def __init__(self, configs: list[Config], mixture: GaussianMixture) -> None:
        if configs[0].update != "alternating":
            raise ConfigError(f"--update {configs[0].update}: a population trains with "
                              "alternating updates only; train single runs (or a sweep)")
        super().__init__(configs[0], mixture, members=configs)
        self.configs = configs
        self.k = np.array([c.k for c in configs])
        self.alive = np.ones(self.P, dtype=bool)
        self.noise = np.zeros(self.noise_shape, dtype=self.d_input.dtype)
        self._active = self.alive
        self._member_view: MemberGAN | None = None

    def sample_real(self) -> np.ndarray:
        m = self.config.batch
        for i in np.flatnonzero(self._active):
            self.d_input[i, :m] = self.mixture.sample(m * self.pack, self.rngs[i]["data"]
                                                      ).reshape(m, -1)
        return self.d_input[:, :m]

    def interpolation_weights(self) -> np.ndarray:
        weights = np.zeros((self.P, self.config.batch, 1), dtype=self.d_input.dtype)
        for i in np.flatnonzero(self._active):
            weights[i] = self.rngs[i]["data"].random(weights.shape[1:], dtype=weights.dtype)
        return weights

    def training_noise(self) -> np.ndarray:
        shape = (1, *self.noise.shape[1:])
        for i in np.flatnonzero(self._active):
            self.noise[i] = draw_noise(self.config, shape, self.rngs[i]["noise"])[0]
        return self.noise

    def _masked(self, optimizer, step: Callable[[], object]):
        """Run `step` (which updates `optimizer`'s parameters) for the active members only:
        the others' parameters, gradients, optimiser state and step counts are put back."""
        frozen = ~self._active
        if not frozen.any():
            return step()
        arrays = [optimizer.params, optimizer.grads] + [
            v for k, v in optimizer.state_dict().items() if k != "steps"]
        saved = [a[frozen].copy() for a in arrays]
        steps = optimizer.steps.copy()
        # D's dropout draws from every member's generator; a masked member's must not move.
        dropout = {i: self.rngs[i]["dropout"].bit_generator.state
                   for i in np.flatnonzero(frozen)}
        value = step()
        for a, s in zip(arrays, saved, strict=True):
            a[frozen] = s
        optimizer.steps[frozen] = steps[frozen]
        for i, state in dropout.items():
            self.rngs[i]["dropout"].bit_generator.state = state
        return value

    def iteration(self) -> tuple[np.ndarray, np.ndarray]:
        """One lockstep iteration; (D loss, G loss) per member (NaN for members that took
        no step)."""
        loss_d = np.full(self.P, np.nan)
        for j in range(int(self.k[self.alive].max(initial=0))):
            self._active = self.alive & (self.k > j)
            values = self._masked(self.opt_d, self._discriminator_values)
            loss_d[self._active] = values[self._active]
        self._active = self.alive
        loss_g = np.full(self.P, np.nan)
        values = self._masked(self.opt_g, self._generator_values)
        loss_g[self.alive] = values[self.alive]
        return loss_d, loss_g

    # GAN's steps return member 0's loss; step_values holds every member's.
    def _discriminator_values(self) -> np.ndarray:
        self.discriminator_step()
        return np.asarray(self.step_values, dtype=np.float64).reshape(self.P)

    def _generator_values(self) -> np.ndarray:
        self.generator_step()
        return np.asarray(self.step_values, dtype=np.float64).reshape(self.P)

    def members_finite(self) -> np.ndarray:
        return (np.isfinite(self.G.params).all(axis=1) & np.isfinite(self.D.params).all(axis=1))

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Every member's parameters, on the host."""
        return self.G.params.copy(), self.D.params.copy()

    def restore_member(self, i: int, snapshot: tuple[np.ndarray, np.ndarray]) -> None:
        self.G.params[i], self.D.params[i] = snapshot[0][i], snapshot[1][i]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every member's parameters, optimiser states, training streams and whether it is
        alive."""
        state = {"g_params": self.G.params.copy(), "d_params": self.D.params.copy(),
                 "alive": self.alive.copy()}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state.update({f"{prefix}.{k}": np.array(v, copy=True)
                          for k, v in opt.state_dict().items()})
        state["rng.members"] = np.array(json.dumps(
            [{name: r[name].bit_generator.state for name in TRAINING_STREAMS}
             for r in self.rngs]))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "rng.members" not in state:
            raise CheckpointError("the checkpoint was written by a kernel backend (emu or "
                                  "cuda); resume it with the same --backend")
        restore_networks(state, self, np.copyto)
        members = json.loads(str(state["rng.members"]))
        if len(members) != self.P:
            raise CheckpointError(f"the checkpoint holds {len(members)} members, not {self.P}")
        for r, saved in zip(self.rngs, members, strict=True):
            for name in TRAINING_STREAMS:
                r[name].bit_generator.state = saved[name]
        self.alive[...] = state["alive"]

    def member(self, i: int) -> MemberGAN:
        """Member i as a one-member GAN (its parameters and last gradients): what
        evaluate_record inspects, computed exactly as for a single run."""
        if self._member_view is None:
            self._member_view = MemberGAN(self.config, self.mixture)
        self._member_view.load(self.configs[i], self.G, self.D, i)
        return self._member_view


class MemberGAN(NumpyNetworks):
    """One member of a population, for evaluation: one-member copies of G and D."""

    def __init__(self, config: Config, mixture: GaussianMixture) -> None:
        self.config, self.mixture = config, mixture
        self.loss = get_loss(config.loss)
        self.P = 1
        self.G, self.D = build_networks(config, mixture, None)

    def load(self, config: Config, G: MLP, D: MLP, i: int) -> None:
        """Member i's configuration, parameters and last gradients."""
        self.config = config
        for ours, theirs in ((self.G, G), (self.D, D)):
            ours.params[0] = theirs.params[i]
            ours.grads[0] = theirs.grads[i]

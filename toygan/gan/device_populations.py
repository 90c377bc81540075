"""A population on the kernel backends (emu, cuda): DeviceGAN with a member axis of P.

The kernels already run every member in one launch (linear, losses, mixture sampling, the
fused steps: grid.z or grid.y is the member). What a population adds, so that member i
draws and updates exactly as the single run of its configuration:
- Philox draws with a key and a call counter per member (random_*_members, random.cu);
  a member past its own k draws nothing (its counters do not advance);
- optimiser updates launched per run of consecutive members with the same learning rate
  and step count (a grid cell; one launch without a grid), so each member updates with its
  own; members past their own k are not launched, and their gradients are put back to those
  of their last step (the per-op backward writes every member's).
Dropout is not supported here (its masks would need per-member keys inside DeviceMLP).
"""

from __future__ import annotations

import numpy as np

from ..config import Config, ConfigError
from ..core import optim
from ..core.distributions import GaussianMixture
from ..device import DeviceOptimizer
from .device_gan import PHILOX_STREAMS, DeviceGAN
from .networks import CheckpointError, build_networks, restore_networks
from .streams import STREAMS, random_streams


class MemberOptimizer(DeviceOptimizer):
    """DeviceOptimizer over P members, each with its own learning rate and step count."""

    def __init__(self, name: str, params, grads, lrs: list[float], device, beta1: float,
                 gan: DevicePopulationGAN) -> None:
        super().__init__(name, params, grads, lrs[0], device, beta1)
        self.member_rules = [optim.make_optimizer(name, np.zeros((1, 1)), np.zeros((1, 1)),
                                                  lr, beta1) for lr in lrs]
        self.member_steps = np.zeros(len(lrs), dtype=np.int64)
        self.last_grads = device.zeros(tuple(params.shape))
        self.gan = gan

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**super().state_dict(), "member_steps": self.member_steps.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if tuple(state["member_steps"].shape) != self.member_steps.shape:
            raise ValueError(f"optimizer state member_steps: shape "
                             f"{state['member_steps'].shape} != {self.member_steps.shape}")
        super().load_state_dict(state)
        self.member_steps[...] = state["member_steps"]

    def _member_hyper(self, p: int) -> tuple[float, ...]:
        self.rule, self.steps = self.member_rules[p], int(self.member_steps[p])
        return self.hyperparameters()

    def _groups(self) -> list[tuple[int, int]]:
        """The active members as runs [start, stop) of consecutive rows with the same
        learning rate and step count (a grid cell's members share them): one launch each,
        a single launch for a population without a grid."""
        groups: list[tuple[int, int]] = []
        for p in np.flatnonzero(self.gan._active):
            p = int(p)
            if groups and groups[-1][1] == p and self._same(groups[-1][0], p):
                groups[-1] = (groups[-1][0], p + 1)
            else:
                groups.append((p, p + 1))
        return groups

    def _same(self, a: int, b: int) -> bool:
        return (self.member_rules[a].lr == self.member_rules[b].lr
                and self.member_steps[a] == self.member_steps[b])

    def _rows(self, start: int, stop: int) -> tuple:
        return tuple(a[start:stop] for a in (self.params, self.grads, *self._states()))

    def step(self) -> None:
        update = getattr(self.device.ops, f"{self.name}_update")
        n_states = 2 if self.name == "adam" else 1
        groups = self._groups()
        for start, stop in groups:
            self.member_steps[start:stop] += 1
            params, grads, *states = self._rows(start, stop)
            update(params, grads, *states[:n_states], *self._member_hyper(start))
        self._keep_last_grads(groups)

    def _keep_last_grads(self, groups: list[tuple[int, int]]) -> None:
        """The per-op backward wrote every member's gradient: members that sat this step
        out get back the gradient of their last step (what grad_norms reports). Only
        needed when members can sit out while others step (k differs, or one diverged)."""
        if len(set(self.gan.k.tolist())) == 1 and self.gan.alive.all():
            return
        for p in np.flatnonzero(~self.gan._active):
            self.grads[p] = self.last_grads[p]
        for start, stop in groups:
            self.last_grads[start:stop] = self.grads[start:stop]

    def fused_step(self, partial, clip: float, loss_partial, value, inv_m: float) -> None:
        # fused_update writes only the gradients of the members it updates.
        for start, stop in self._groups():
            self.member_steps[start:stop] += 1
            params, grads, s1, s2 = self._rows(start, stop)
            self.device.ops.fused_update(partial[start:stop], params, grads, s1, s2,
                                         self.name, self._member_hyper(start), clip,
                                         loss_partial[start:stop], value[start:stop], inv_m)


class DevicePopulationGAN(DeviceGAN):
    """P GANs in lockstep on emu or cuda (see the module doc)."""

    def __init__(self, configs: list[Config], mixture: GaussianMixture, kind: str) -> None:
        if any(c.dropout > 0 for c in configs):
            raise ConfigError("a population on the kernel backends has no dropout; use "
                              "--backend numpy")
        self.configs = configs
        super().__init__(configs[0], mixture, kind)
        self.k = np.array([c.k for c in configs])
        self.alive = np.ones(self.P, dtype=bool)
        self._active = self.alive.copy()
        self._evaluator: DeviceGAN | None = None

    def _streams_and_networks(self, config: Config, mixture: GaussianMixture) -> tuple:
        self.P = len(self.configs)
        streams = [random_streams(c.seed) for c in self.configs]
        self.rngs = [rng for _, rng in streams]
        self.rng = self.rngs[0]
        self.keys = {}
        for name in PHILOX_STREAMS:
            words = [seeds[STREAMS.index(name)].generate_state(2) for seeds, _ in streams]
            self.keys[name] = self.device.upload(np.array(words, dtype=np.uint32), np.uint32)
        self.calls = {name: np.zeros(self.P, dtype=np.int64) for name in PHILOX_STREAMS}
        return build_networks(config, mixture, self.rngs)

    def _optimizers(self, config: Config) -> tuple:
        return tuple(
            MemberOptimizer(config.optimizer, net.params, net.grads,
                            [getattr(c, lr) for c in self.configs], self.device,
                            config.adam_beta1, self)
            for net, lr in ((self.G, "lr_g"), (self.D, "lr_d")))

    # ------------------------------------------------------------ draws
    def _member_calls(self, stream: str) -> np.ndarray:
        """Each member's next call of `stream`; only the active members' advance."""
        calls = self.calls[stream].copy()
        self.calls[stream][self._active] += 1
        return calls

    def sample_real(self) -> None:
        ops, P = self.ops, self.P
        ops.random_uniform_members(self.u_data, self.keys["data"], self._member_calls("data"),
                                   0.0, 1.0)
        ops.random_normal_members(self.z_data.reshape(P, -1), self.keys["data"],
                                  self._member_calls("data"))
        ops.mixture_sample(self.u_data, self.z_data, self.cdf, self.means, self.stds,
                           self.real_samples)

    def training_noise(self):
        calls, flat = self._member_calls("noise"), self.noise.reshape(self.P, -1)
        if self.config.noise == "normal":
            self.ops.random_normal_members(flat, self.keys["noise"], calls)
        else:
            self.ops.random_uniform_members(flat, self.keys["noise"], calls, -1.0, 1.0)
        return self.noise

    # ------------------------------------------------------------ the step
    def iteration(self) -> tuple[np.ndarray, np.ndarray]:
        """One lockstep iteration; each member's losses (NaN where it took no step)."""
        loss_d, loss_g = np.full(self.P, np.nan), np.full(self.P, np.nan)
        for j in range(int(self.k[self.alive].max(initial=0))):
            self._active = self.alive & (self.k > j)
            self.steps.discriminator()
            values = self.device.download(self.values[0])
            loss_d[self._active] = values[self._active]
        self._active = self.alive.copy()
        if self._active.any():
            self.steps.generator()
            values = self.device.download(self.values[1])
            loss_g[self._active] = values[self._active]
        return loss_d, loss_g

    # ------------------------------------------------------------ members
    def members_finite(self) -> np.ndarray:
        xp = self.device.xp
        finite = xp.isfinite(self.G.params).all(axis=1) & xp.isfinite(self.D.params).all(axis=1)
        return self.device.download(finite)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        return self.device.download(self.G.params), self.device.download(self.D.params)

    def restore_member(self, i: int, snapshot: tuple[np.ndarray, np.ndarray]) -> None:
        xp = self.device.xp
        self.G.params[i] = xp.asarray(snapshot[0][i])
        self.D.params[i] = xp.asarray(snapshot[1][i])

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every member's parameters, optimiser states, Philox call counters and whether it
        is alive (the keys follow from the seeds)."""
        state = {"g_params": self.device.download(self.G.params),
                 "d_params": self.device.download(self.D.params), "alive": self.alive.copy()}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state.update({f"{prefix}.{k}": v for k, v in opt.state_dict().items()})
        state.update({f"calls.{name}": c.copy() for name, c in self.calls.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        xp = self.device.xp
        if "calls.data" not in state:
            raise CheckpointError("the checkpoint was written by the numpy backend, whose "
                                  "random streams the kernel backends do not draw from; "
                                  "resume it with --backend numpy")
        restore_networks(state, self, lambda target, host: target.__setitem__(
            Ellipsis, xp.asarray(host)))
        for name in self.calls:
            self.calls[name][...] = state[f"calls.{name}"]
        self.alive[...] = state["alive"]

    def member(self, i: int) -> DeviceGAN:
        """A one-member DeviceGAN holding member i's parameters and last gradients: it
        evaluates with the very kernels of member i's single run."""
        if self._evaluator is None:
            self._evaluator = DeviceGAN(self.configs[0], self.mixture, self.device.kind)
        view = self._evaluator
        view.config = self.configs[i]
        for ours, theirs in ((view.G, self.G), (view.D, self.D)):
            ours.params[0] = theirs.params[i]
            ours.grads[0] = theirs.grads[i]
        return view

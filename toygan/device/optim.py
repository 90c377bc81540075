"""`DeviceOptimizer`: core.optim's update rules as one kernel launch over a network's flat
parameter buffer (and the fused steps' reduce-and-update kernel)."""

from __future__ import annotations

import numpy as np

from ..core import optim
from .arrays import Device


class DeviceOptimizer:
    """toygan.core.optim's rules as one kernel launch over a network's flat buffer.

    The host optimiser of the same name validates the settings and supplies the
    hyperparameters and the state's names, so checkpoints have the numpy backend's layout.
    """

    def __init__(self, name: str, params, grads, lr: float, device: Device,
                 beta1: float = 0.5) -> None:
        shape = tuple(params.shape)
        # The host rule validates the settings and names the state; it holds no real data.
        self.rule = optim.make_optimizer(name, np.zeros((1, 1)), np.zeros((1, 1)), lr, beta1)
        self.name, self.params, self.grads, self.device = name, params, grads, device
        self.steps = 0
        self.state = {key: device.zeros(shape) for key in self.rule.state_dict() if key != "steps"}

    def hyperparameters(self) -> tuple[float, ...]:
        """The kernels' scalar arguments for the current step (Adam's bias corrections
        folded in on the host): sgd (lr, momentum), adam (beta1, beta2, eps, step_size,
        inv_sqrt_bc2), rmsprop (lr, alpha, eps)."""
        rule = self.rule
        if self.name == "sgd":
            return rule.lr, rule.momentum
        if self.name == "adam":
            step_size = rule.lr / (1.0 - rule.beta1**self.steps)
            inv_sqrt_bc2 = 1.0 / np.sqrt(1.0 - rule.beta2**self.steps)
            return rule.beta1, rule.beta2, rule.eps, step_size, inv_sqrt_bc2
        return rule.lr, rule.alpha, rule.eps

    def _states(self) -> tuple:
        s = self.state
        if self.name == "adam":
            return s["m"], s["v"]
        only = s["velocity"] if self.name == "sgd" else s["square_avg"]
        return only, only

    def step(self) -> None:
        self.steps += 1
        update = getattr(self.device.ops, f"{self.name}_update")
        states = self._states()[:2 if self.name == "adam" else 1]
        update(self.params, self.grads, *states, *self.hyperparameters())

    def fused_step(self, partial, clip: float, loss_partial, value, inv_m: float) -> None:
        """Sums the fused step's partial gradients into grads and updates, in one kernel."""
        self.steps += 1
        self.device.ops.fused_update(partial, self.params, self.grads, *self._states(),
                                     self.name, self.hyperparameters(), clip, loss_partial,
                                     value, inv_m)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"steps": np.array(self.steps, dtype=np.int64)}
        state.update({key: self.device.download(a) for key, a in self.state.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for key, target in self.state.items():
            if tuple(state[key].shape) != tuple(target.shape):
                raise ValueError(f"optimizer state {key}: shape {state[key].shape} != "
                                 f"{tuple(target.shape)}")
            target[...] = self.device.xp.asarray(state[key].astype(target.dtype))
        self.steps = int(state["steps"])

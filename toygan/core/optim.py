"""Optimisers over one flat parameter buffer per network, updated in place.

`params` and `grads` are the (P, n_params) buffers of an MLP, so one call updates every
layer of every member. The update rules follow PyTorch's conventions (SGD momentum as
v <- mu v + g, p <- p - lr v; Adam with bias correction; RMSprop with eps outside the
square root) so that benchmarks against it compare like with like.
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "adam", "rmsprop")


class Optimizer:
    """`lr` is one rate, or one per member ((P,) values: toygan.gan.populations); then `steps`
    counts each member's updates, so members may take different numbers of steps."""

    def __init__(self, params: np.ndarray, grads: np.ndarray, lr) -> None:
        if not (np.all(np.isfinite(lr)) and np.all(np.asarray(lr) > 0)):
            raise ValueError(f"learning rate must be positive, got {lr}")
        if params.shape != grads.shape:
            raise ValueError(f"params {params.shape} and grads {grads.shape} differ")
        self.params, self.grads = params, grads
        if np.ndim(lr) == 0:
            self.lr, self.steps = float(lr), 0
        else:
            self.lr = np.asarray(lr, dtype=np.float64).reshape(-1, 1)
            if len(self.lr) != params.shape[0]:
                raise ValueError(f"{len(self.lr)} learning rates for {params.shape[0]} members")
            self.steps = np.zeros((params.shape[0], 1), dtype=np.int64)
        self._scratch = np.empty_like(params)

    def _as_params(self, factor):
        """A per-member factor in the parameters' dtype: the same float arithmetic as a
        Python-float scalar (NumPy casts those to the array's dtype), so member i of a
        population updates exactly as a single run would."""
        return factor.astype(self.params.dtype) if isinstance(factor, np.ndarray) else factor

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"steps": np.array(self.steps, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for key, value in state.items():
            current = getattr(self, key)
            if isinstance(current, np.ndarray):
                if current.shape != value.shape:
                    raise ValueError(
                        f"optimizer state {key}: shape {value.shape} != {current.shape}"
                    )
                current[...] = value
            else:
                setattr(self, key, int(value))


class SGD(Optimizer):
    """Minibatch SGD with (heavy-ball) momentum, the rule of the paper's experiments."""

    def __init__(self, params, grads, lr: float, momentum: float = 0.9) -> None:
        super().__init__(params, grads, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.velocity = np.zeros_like(params)

    def step(self) -> None:
        v = self.velocity
        v *= self.momentum
        v += self.grads
        np.multiply(v, self._as_params(self.lr), out=self._scratch)
        self.params -= self._scratch
        self.steps += 1

    def state_dict(self):
        return {**super().state_dict(), "velocity": self.velocity}


class Adam(Optimizer):
    """Adam (Kingma & Ba). GAN practice since DCGAN uses beta1 = 0.5."""

    def __init__(
        self, params, grads, lr: float, beta1: float = 0.5, beta2: float = 0.999, eps=1e-8
    ) -> None:
        super().__init__(params, grads, lr)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"Adam betas must be in [0, 1), got {beta1}, {beta2}")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)

    def step(self) -> None:
        self.steps += 1
        g, m, v, s = self.grads, self.m, self.v, self._scratch
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=s)
        m += s
        v *= self.beta2
        np.multiply(g, g, out=s)
        s *= 1.0 - self.beta2
        v += s
        # p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
        step_size = self._as_params(self.lr / (1.0 - self.beta1**self.steps))
        np.sqrt(v, out=s)
        s *= 1.0 / np.sqrt(1.0 - self.beta2**self.steps)
        s += self.eps
        np.divide(m, s, out=s)
        s *= step_size
        self.params -= s

    def state_dict(self):
        return {**super().state_dict(), "m": self.m, "v": self.v}


class RMSprop(Optimizer):
    def __init__(self, params, grads, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, grads, lr)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"RMSprop alpha must be in [0, 1), got {alpha}")
        self.alpha, self.eps = alpha, eps
        self.square_avg = np.zeros_like(params)

    def step(self) -> None:
        g, sq, s = self.grads, self.square_avg, self._scratch
        sq *= self.alpha
        np.multiply(g, g, out=s)
        s *= 1.0 - self.alpha
        sq += s
        np.sqrt(sq, out=s)
        s += self.eps
        np.divide(g, s, out=s)
        s *= self._as_params(self.lr)
        self.params -= s
        self.steps += 1

    def state_dict(self):
        return {**super().state_dict(), "square_avg": self.square_avg}


def make_optimizer(name: str, params: np.ndarray, grads: np.ndarray, lr,
                   beta1: float = 0.5) -> Optimizer:
    """The optimiser `name`; beta1 is Adam's first-moment decay (ignored by the others)."""
    if name == "sgd":
        return SGD(params, grads, lr)
    if name == "adam":
        return Adam(params, grads, lr, beta1=beta1)
    if name == "rmsprop":
        return RMSprop(params, grads, lr)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")

"""The benchmark's array-library peer: one Algorithm-1 iteration of a ReLU-MLP GAN written
plainly against an array module `xp`, as a researcher would write it without toygan:
NumPy on a CPU (the "plain NumPy" peer), CuPy on a GPU (cuBLAS matrix products, CuPy's
elementwise kernels).

Same model as toygan's numpy engine: the initial parameters are copied from
`train.build_networks`, the D loss is the BCE of real and generated halves, the G loss the
non-saturating -log D(G(z)), Adam (PyTorch's form) for both networks. A test feeds both the
same minibatches and compares the parameters after an iteration.
"""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..core.distributions import GaussianMixture
from ..gan.networks import build_networks
from ..gan.streams import random_streams


def _sigmoid(xp, x):
    return 0.5 * (1.0 + xp.tanh(0.5 * x))  # no overflow for any x


def _softplus(xp, x):
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class ArrayMLP:
    """Linear layers with ReLU between them; forward keeps what backward needs."""

    def __init__(self, host, xp, dtype) -> None:
        self.xp, self.weights, self.biases = xp, [], []
        for layer, where in host.slices():
            flat = host.params[0, where]
            nw = layer.n_in * layer.n_out
            self.weights.append(xp.asarray(flat[:nw].reshape(layer.n_in, layer.n_out), dtype))
            self.biases.append(xp.asarray(flat[nw:], dtype))

    def parameters(self) -> list:
        return [*self.weights, *self.biases]

    def forward(self, x):
        self.inputs, h = [], x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            self.inputs.append(h)
            h = h @ w + b
            if i + 1 < len(self.weights):
                h = self.xp.maximum(h, 0)
        return h

    def backward(self, grad, param_grads: bool = True, input_grad: bool = False):
        """dL/d(output) -> dL/d(input) (when input_grad); parameter gradients in
        self.grads (W..., b...)."""
        gw, gb = [], []
        for i in range(len(self.weights) - 1, -1, -1):
            if param_grads:
                gw.append(self.inputs[i].T @ grad)
                gb.append(grad.sum(axis=0))
            if i == 0 and not input_grad:
                break
            grad = grad @ self.weights[i].T
            if i > 0:
                grad = grad * (self.inputs[i] > 0)
        self.grads = [*gw[::-1], *gb[::-1]]
        return grad if input_grad else None


class ArrayAdam:
    def __init__(self, params: list, lr: float, beta1: float, xp) -> None:
        self.params, self.lr, self.beta1, self.beta2, self.eps = params, lr, beta1, 0.999, 1e-8
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]
        self.t, self.xp = 0, xp

    def step(self, grads: list) -> None:
        self.t += 1
        step_size = self.lr / (1 - self.beta1**self.t)
        inv_sqrt_bc2 = 1 / np.sqrt(1 - self.beta2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= step_size * (m / (self.xp.sqrt(v) * inv_sqrt_bc2 + self.eps))


class ArrayGAN:
    """The default model's GAN on `xp` (numpy or cupy); k = 1, non-saturating, Adam."""

    def __init__(self, config: Config, mixture: GaussianMixture, xp) -> None:
        if config.loss != "nonsaturating" or config.k != 1 or config.optimizer != "adam":
            raise ValueError("the array peer implements the default model only")
        self.xp, self.dtype, self.m = xp, np.dtype(config.dtype), config.batch
        self.noise_dim = config.noise_dim
        host_g, host_d = build_networks(config, mixture, random_streams(config.seed)[1])
        self.G, self.D = ArrayMLP(host_g, xp, self.dtype), ArrayMLP(host_d, xp, self.dtype)
        self.opt_g = ArrayAdam(self.G.parameters(), config.lr_g, config.adam_beta1, xp)
        self.opt_d = ArrayAdam(self.D.parameters(), config.lr_d, config.adam_beta1, xp)
        self.means = xp.asarray(mixture.means, self.dtype)
        self.stds = xp.asarray(mixture.stds, self.dtype)
        self.weights = mixture.weights
        if xp is np:
            rng = np.random.default_rng(config.seed)
            self._normal = lambda shape: rng.standard_normal(shape, dtype=self.dtype)
            self._component = lambda n: rng.choice(len(self.weights), n, p=self.weights)
        else:  # CuPy's own generator, on the device
            xp.random.seed(config.seed)
            self._normal = lambda shape: xp.random.standard_normal(shape, dtype=self.dtype)
            # Not random.choice(p=...): CuPy checks p on the host, two synchronisations per
            # draw. The inverse CDF at uniform draws stays on the device.
            cdf = xp.asarray(np.cumsum(mixture.weights) / np.sum(mixture.weights))
            last = len(self.weights) - 1  # a uniform draw above cdf[-1] by rounding
            self._component = lambda n: xp.minimum(
                xp.searchsorted(cdf, xp.random.random_sample(n), side="right"), last)

    def sample_real(self):
        c = self._component(self.m)
        return self.means[c] + self.stds[c] * self._normal((self.m, self.means.shape[1]))

    def discriminator_step(self, real=None, noise=None) -> object:
        xp, m = self.xp, self.m
        real = self.sample_real() if real is None else real
        noise = self._normal((m, self.noise_dim)) if noise is None else noise
        logits = self.D.forward(xp.concatenate([real, self.G.forward(noise)]))
        sign = xp.concatenate([-xp.ones((m, 1), self.dtype), xp.ones((m, 1), self.dtype)])
        # BCE: softplus(-l) on real, softplus(l) on fake; derivative sign * sigmoid(sign l)
        loss = _softplus(xp, sign * logits).sum() / m
        self.D.backward(sign * _sigmoid(xp, sign * logits) / m)
        self.opt_d.step(self.D.grads)
        return loss

    def generator_step(self, noise=None) -> object:
        xp, m = self.xp, self.m
        noise = self._normal((m, self.noise_dim)) if noise is None else noise
        logits = self.D.forward(self.G.forward(noise))
        loss = _softplus(xp, -logits).sum() / m
        grad_fake = self.D.backward(-_sigmoid(xp, -logits) / m, param_grads=False,
                                    input_grad=True)
        self.G.backward(grad_fake)
        self.opt_g.step(self.G.grads)
        return loss

    def iteration(self) -> tuple:
        """One iteration; the losses stay on the device (no synchronisation)."""
        return self.discriminator_step(), self.generator_step()

    def flat_params(self, mlp: ArrayMLP) -> np.ndarray:
        """toygan's flat layout (per layer W then b), on the host, for comparisons."""
        to_host = (lambda a: a.get()) if self.xp is not np else np.asarray
        return np.concatenate([np.concatenate([to_host(w).ravel(), to_host(b)])
                               for w, b in zip(mlp.weights, mlp.biases, strict=True)])

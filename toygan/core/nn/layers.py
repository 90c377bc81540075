"""Layers and MLPs with explicit forward and backward passes, batched over a member axis.

Shapes. Every network holds one flat parameter buffer `params` of shape (P, n_params) (and
`grads` of the same shape); P is the number of population members trained in lockstep. A
Linear layer's weight is a view (P, n_in, n_out) into that buffer, its bias a view
(P, 1, n_out). Activations are (P, batch, features).

The single run pays nothing for the member axis: at P = 1 the network drops the axis once,
at its boundary, by taking views, and every layer then works on plain 2-D arrays. Layers use
only axis -1/-2 operations, so the same code serves (batch, F) and (P, batch, F).

Contract. `forward(x)` keeps what `backward` needs and returns an array the layer owns: it
is overwritten by the layer's next forward of the same batch size, so copy it to keep it.
`backward(g)` must follow the forward it differentiates; it returns dL/dx (or None when the
input gradient is not asked for) and overwrites the parameter gradients (no accumulation).

Second order (gradient penalties). After `forward(x)`, `tangent(xdot)` pushes an input
direction through the layer: ydot = (dy/dx) xdot, the forward-mode derivative. The pair
(y, ydot) is a function of x, xdot and the parameters; `tangent_backward(gy, gydot)` is its
reverse pass: given the adjoints of y and ydot it returns those of x and xdot and overwrites
the parameter gradients. With xdot = u held fixed, ydot at D's output is <grad_x D, u>, so
the parameter gradient of sum(gydot * ydot) is that of <grad_x D, u>: what a penalty on
grad_x D needs (toygan.core.penalties). Checked against finite differences in float64.
"""

from __future__ import annotations

import math

import numpy as np


class Layer:
    """Base class. Parameterless layers leave n_params at 0 and ignore bind/init."""

    n_params = 0

    def __init__(self) -> None:
        self._buffers: dict[tuple, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple, dtype) -> np.ndarray:
        # One buffer per (role, shape): the training step allocates nothing after its first
        # iteration, and evaluation at another batch size gets its own buffers.
        key = (name, shape)
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[key] = buf
        return buf

    def bind(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Take views into the flat (P, n_params) or, at P = 1, (n_params,) slices."""

    def init(self, params: np.ndarray, rng: np.random.Generator) -> None:
        """Fill one member's slice (n_params,) of the parameter buffer."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self, grad_out: np.ndarray, input_grad: bool = True, param_grads: bool = True
    ) -> np.ndarray | None:
        raise NotImplementedError

    def tangent(self, xdot: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no second-order pass")

    def tangent_backward(self, gy: np.ndarray, gydot: np.ndarray, input_grad: bool = True,
                         param_grads: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
        raise NotImplementedError(f"{type(self).__name__} has no second-order pass")

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class Linear(Layer):
    """y = x W + b; W (n_in, n_out), b (n_out,) per member.

    init: 'he' (normal, std sqrt(gain2 / fan_in), gain2 = 2 / (1 + leak^2) for (leaky) ReLU)
    or 'glorot' (uniform on +-sqrt(6 / (fan_in + fan_out))). Biases start at 0.
    """

    def __init__(self, n_in: int, n_out: int, init: str = "glorot", leak: float = 0.0) -> None:
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise ValueError(f"Linear needs positive sizes, got {n_in} -> {n_out}")
        if init not in ("he", "glorot"):
            raise ValueError(f"unknown init {init!r}")
        self.n_in, self.n_out, self.init_rule, self.leak = n_in, n_out, init, leak
        self.n_params = n_in * n_out + n_out

    def bind(self, params: np.ndarray, grads: np.ndarray) -> None:
        lead = params.shape[:-1]  # () at P = 1, (P,) otherwise
        nw = self.n_in * self.n_out
        self.weight = params[..., :nw].reshape(*lead, self.n_in, self.n_out)
        self.bias = params[..., nw:].reshape(*lead, 1, self.n_out)
        self.weight_grad = grads[..., :nw].reshape(*lead, self.n_in, self.n_out)
        self.bias_grad = grads[..., nw:].reshape(*lead, 1, self.n_out)
        for view, base in ((self.weight, params), (self.weight_grad, grads)):
            assert np.shares_memory(view, base), "parameter views must not be copies"

    def init(self, params: np.ndarray, rng: np.random.Generator) -> None:
        nw = self.n_in * self.n_out
        if self.init_rule == "he":
            std = math.sqrt(2.0 / (1.0 + self.leak**2) / self.n_in)
            w = rng.standard_normal((self.n_in, self.n_out)) * std
        else:
            limit = math.sqrt(6.0 / (self.n_in + self.n_out))
            w = rng.uniform(-limit, limit, (self.n_in, self.n_out))
        params[:nw] = w.ravel()
        params[nw:] = 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        y = self._buffer("y", x.shape[:-1] + (self.n_out,), x.dtype)
        if self.n_in == 1:
            # An outer product: OpenBLAS's gemm with inner size 1 is 3-4x slower than this.
            np.multiply(x, self.weight, out=y)
        else:
            np.matmul(x, self.weight, out=y)
        y += self.bias
        return y

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if param_grads:
            np.matmul(self.x.swapaxes(-1, -2), grad_out, out=self.weight_grad)
            np.add.reduce(grad_out, axis=-2, keepdims=True, out=self.bias_grad)
        if not input_grad:
            return None
        dx = self._buffer("dx", self.x.shape, grad_out.dtype)
        if self.n_out == 1:
            # An outer product again (D's output layer): gemm with inner size 1 is slow.
            np.multiply(grad_out, self.weight.swapaxes(-1, -2), out=dx)
        else:
            np.matmul(grad_out, self.weight.swapaxes(-1, -2), out=dx)
        return dx

    def _times_weight(self, a: np.ndarray, name: str) -> np.ndarray:
        out = self._buffer(name, a.shape[:-1] + (self.n_out,), a.dtype)
        if self.n_in == 1:
            return np.multiply(a, self.weight, out=out)
        return np.matmul(a, self.weight, out=out)

    def _times_weight_t(self, a: np.ndarray, name: str) -> np.ndarray:
        out = self._buffer(name, a.shape[:-1] + (self.n_in,), a.dtype)
        if self.n_out == 1:
            return np.multiply(a, self.weight.swapaxes(-1, -2), out=out)
        return np.matmul(a, self.weight.swapaxes(-1, -2), out=out)

    def tangent(self, xdot):
        # ydot = xdot W: the bias does not depend on x.
        self.xdot = xdot
        return self._times_weight(xdot, "ydot")

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        # y = x W + b and ydot = xdot W: dW = x^T gy + xdot^T gydot, db = sum(gy).
        if param_grads:
            np.matmul(self.x.swapaxes(-1, -2), gy, out=self.weight_grad)
            second = self._buffer("t_wgrad", self.weight_grad.shape, gy.dtype)
            np.matmul(self.xdot.swapaxes(-1, -2), gydot, out=second)
            self.weight_grad += second
            np.sum(gy, axis=-2, keepdims=True, out=self.bias_grad)
        if not input_grad:
            return None
        return self._times_weight_t(gy, "t_gx"), self._times_weight_t(gydot, "t_gxdot")

    def __repr__(self) -> str:
        return f"Linear({self.n_in}, {self.n_out}, init={self.init_rule!r})"


class BatchNorm(Layer):
    """Batch normalisation per feature over the batch axis, per member, with affine gamma, beta.

    mu = mean(x), var = mean((x - mu)^2) (biased), xhat = (x - mu) / sqrt(var + eps) and
    y = gamma * xhat + beta, all reductions over the batch axis (-2) of one member's batch.
    Parameters: gamma (starts at 1) then beta (starts at 0), n_params = 2 F; views shaped
    (..., 1, F) like Linear's bias.

    Backward, with g = dL/dy and sums/means over the batch axis:
    dgamma = sum(g xhat), dbeta = sum(g),
    dx = gamma / sqrt(var + eps) * (g - mean(g) - xhat * mean(g xhat)).

    The statistics are always those of the batch being normalised, in training and in
    evaluation alike: there are no running averages. The toy generators are evaluated on
    large batches (2500 noise draws), where batch statistics are accurate, and the network
    then keeps no state outside its parameter buffer, so checkpoints and the member axis
    need nothing new. (As in PacGAN-style setups, BN is meant for the generator only; in a
    discriminator it would couple the samples of a minibatch.) A batch of one has var = 0,
    hence y = beta and zero gradients for x and gamma.
    """

    def __init__(self, n_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError(f"BatchNorm needs a positive feature count, got {n_features}")
        if not eps > 0.0:
            raise ValueError(f"BatchNorm eps must be positive, got {eps}")
        self.n_features, self.eps = n_features, float(eps)
        self.n_params = 2 * n_features

    def bind(self, params: np.ndarray, grads: np.ndarray) -> None:
        lead = params.shape[:-1]  # () at P = 1, (P,) otherwise
        f = self.n_features
        self.gamma = params[..., :f].reshape(*lead, 1, f)
        self.beta = params[..., f:].reshape(*lead, 1, f)
        self.gamma_grad = grads[..., :f].reshape(*lead, 1, f)
        self.beta_grad = grads[..., f:].reshape(*lead, 1, f)
        for view, base in ((self.gamma, params), (self.gamma_grad, grads)):
            assert np.shares_memory(view, base), "parameter views must not be copies"

    def init(self, params: np.ndarray, rng: np.random.Generator) -> None:
        params[: self.n_features] = 1.0
        params[self.n_features:] = 0.0

    def forward(self, x):
        if x.shape[-1] != self.n_features:
            raise ValueError(f"BatchNorm({self.n_features}) got {x.shape[-1]} features")
        stat_shape = x.shape[:-2] + (1, self.n_features)
        mu = self._buffer("mu", stat_shape, x.dtype)
        inv_std = self._buffer("inv_std", stat_shape, x.dtype)
        xhat = self._buffer("xhat", x.shape, x.dtype)
        y = self._buffer("y", x.shape, x.dtype)
        np.mean(x, axis=-2, keepdims=True, out=mu)
        np.subtract(x, mu, out=xhat)
        np.multiply(xhat, xhat, out=y)  # y is scratch for the squares
        np.mean(y, axis=-2, keepdims=True, out=inv_std)  # the biased variance
        inv_std += self.eps
        np.sqrt(inv_std, out=inv_std)
        np.reciprocal(inv_std, out=inv_std)
        xhat *= inv_std
        self.xhat, self.inv_std = xhat, inv_std
        np.multiply(xhat, self.gamma, out=y)
        y += self.beta
        return y

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not (input_grad or param_grads):
            return None
        xhat, dtype = self.xhat, grad_out.dtype
        stat_shape = self.inv_std.shape
        dx = self._buffer("dx", xhat.shape, dtype)
        sum_gx = self._buffer("sum_gx", stat_shape, dtype)
        sum_g = self._buffer("sum_g", stat_shape, dtype)
        np.multiply(grad_out, xhat, out=dx)  # dx is scratch for g * xhat
        np.sum(dx, axis=-2, keepdims=True, out=sum_gx)
        np.sum(grad_out, axis=-2, keepdims=True, out=sum_g)
        if param_grads:
            np.copyto(self.gamma_grad, sum_gx)
            np.copyto(self.beta_grad, sum_g)
        if not input_grad:
            return None
        inv_n = 1.0 / xhat.shape[-2]
        sum_gx *= inv_n  # now mean(g xhat)
        sum_g *= inv_n  # now mean(g)
        np.multiply(xhat, sum_gx, out=dx)
        dx += sum_g
        np.subtract(grad_out, dx, out=dx)
        np.multiply(self.gamma, self.inv_std, out=sum_gx)  # sum_gx is scratch for the scale
        dx *= sum_gx
        return dx

    def __repr__(self) -> str:
        return f"BatchNorm({self.n_features}, eps={self.eps:g})"

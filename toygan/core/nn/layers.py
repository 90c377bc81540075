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
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "maxout", "identity")


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
            np.sum(grad_out, axis=-2, keepdims=True, out=self.bias_grad)
        if not input_grad:
            return None
        dx = self._buffer("dx", self.x.shape, grad_out.dtype)
        if self.n_out == 1:
            # An outer product again (D's output layer): gemm with inner size 1 is slow.
            np.multiply(grad_out, self.weight.swapaxes(-1, -2), out=dx)
        else:
            np.matmul(grad_out, self.weight.swapaxes(-1, -2), out=dx)
        return dx

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


class ReLU(Layer):
    """max(x, 0) as x * [x > 0]: the 0/1 mask, kept in the array's dtype, serves the
    backward pass too, and two float multiplies are 2-3x faster than np.maximum and a
    boolean-mask multiply (measured on (1024, 128) float32)."""

    def forward(self, x):
        above = self._buffer("above", x.shape, np.bool_)
        np.greater(x, 0, out=above)
        self.mask = mask = self._buffer("mask", x.shape, x.dtype)
        np.copyto(mask, above)
        y = self._buffer("y", x.shape, x.dtype)
        return np.multiply(x, mask, out=y)

    def backward(self, grad_out, input_grad=True, param_grads=True):
        # The kink at 0 gets derivative 0 (the subgradient PyTorch also uses).
        if not input_grad:
            return None
        dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        return np.multiply(grad_out, self.mask, out=dx)


class LeakyReLU(Layer):
    def __init__(self, leak: float = 0.2) -> None:
        super().__init__()
        if not 0.0 <= leak < 1.0:
            raise ValueError(f"LeakyReLU slope must be in [0, 1), got {leak}")
        self.leak = leak

    def forward(self, x):
        # max(x, a x) equals leaky ReLU for 0 <= a < 1 and needs no mask.
        self.y = y = self._buffer("y", x.shape, x.dtype)
        np.multiply(x, self.leak, out=y)
        return np.maximum(x, y, out=y)

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        np.multiply(grad_out, self.leak, out=dx)
        np.copyto(dx, grad_out, where=self.y > 0)
        return dx

    def __repr__(self) -> str:
        return f"LeakyReLU({self.leak})"


class Tanh(Layer):
    def forward(self, x):
        self.y = y = self._buffer("y", x.shape, x.dtype)
        return np.tanh(x, out=y)

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        np.multiply(self.y, self.y, out=dx)
        np.subtract(1, dx, out=dx)
        return np.multiply(dx, grad_out, out=dx)


class Sigmoid(Layer):
    def forward(self, x):
        # expit is the overflow-free logistic function.
        self.y = y = self._buffer("y", x.shape, x.dtype)
        return expit(x, out=y)

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        np.subtract(1, self.y, out=dx)
        dx *= self.y
        return np.multiply(dx, grad_out, out=dx)


class Identity(Layer):
    def forward(self, x):
        return x

    def backward(self, grad_out, input_grad=True, param_grads=True):
        return grad_out if input_grad else None


class Maxout(Layer):
    """Max over groups of `pieces` consecutive features: (.., F * pieces) -> (.., F).

    The paper's discriminators used maxout units; a maxout unit is a Linear layer of width
    F * pieces followed by this layer. Ties send the gradient to the first maximal piece.
    """

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"maxout needs at least 1 piece, got {pieces}")
        self.pieces = pieces

    def forward(self, x):
        if x.shape[-1] % self.pieces:
            raise ValueError(f"maxout: {x.shape[-1]} features do not split in {self.pieces}")
        grouped = x.reshape(*x.shape[:-1], x.shape[-1] // self.pieces, self.pieces)
        self.in_shape = x.shape
        self.argmax = np.argmax(grouped, axis=-1)[..., None]
        y = self._buffer("y", grouped.shape[:-1], x.dtype)
        y[...] = np.take_along_axis(grouped, self.argmax, axis=-1)[..., 0]
        return y

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        dx = self._buffer("dx", self.in_shape, grad_out.dtype)
        dx.fill(0)
        grouped = dx.reshape(*grad_out.shape, self.pieces)
        np.put_along_axis(grouped, self.argmax, grad_out[..., None], axis=-1)
        return dx

    def __repr__(self) -> str:
        return f"Maxout({self.pieces})"


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability p and scale by 1/(1-p).

    Draws come from `rng`, which the owner sets (and checkpoints); in eval mode it is the
    identity.
    """

    def __init__(self, p: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.rng, self.training = p, rng, True

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self.mask = None
            return x
        if self.rng is None:
            raise RuntimeError("Dropout in training mode needs an rng (MLP.set_rng)")
        self.mask = mask = self._buffer("mask", x.shape, x.dtype)
        if isinstance(self.rng, list):  # one generator per member (toygan.gan.populations)
            keep = np.stack([r.random(x.shape[1:], dtype=x.dtype) for r in self.rng]) >= self.p
        else:
            keep = self.rng.random(x.shape, dtype=x.dtype) >= self.p
        np.multiply(keep, 1.0 / (1.0 - self.p), out=mask)
        y = self._buffer("y", x.shape, x.dtype)
        return np.multiply(x, mask, out=y)

    def backward(self, grad_out, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        if self.mask is None:
            return grad_out
        dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        return np.multiply(grad_out, self.mask, out=dx)

    def __repr__(self) -> str:
        return f"Dropout({self.p})"


def activation_layer(name: str, leak: float = 0.2, pieces: int = 2) -> Layer:
    if name == "relu":
        return ReLU()
    if name == "leaky_relu":
        return LeakyReLU(leak)
    if name == "tanh":
        return Tanh()
    if name == "sigmoid":
        return Sigmoid()
    if name == "maxout":
        return Maxout(pieces)
    if name == "identity":
        return Identity()
    raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")

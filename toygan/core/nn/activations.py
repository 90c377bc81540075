"""Activations (and Dropout): parameterless layers, each a forward/backward pair and a
tangent pair for the second-order passes (see toygan.core.nn.layers for the contract).

Tangent pair of an elementwise y = s(z): `tangent(zdot)` = s'(z) zdot; `tangent_backward(gy,
gydot)` = (gy s'(z) + gydot zdot s''(z), gydot s'(z)). ReLU, LeakyReLU, Maxout and Dropout
are piecewise linear (s'' = 0 off the kinks; the kinks get the first-order pass's choice).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .layers import Layer

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "maxout", "identity")


class ReLU(Layer):
    """max(x, 0), one pass over memory. The 0/1 mask [y > 0] of the backward and tangent
    passes is made from the output when one of them first asks for it: a forward that is
    only evaluated (G's samples for D's step, evaluation) pays nothing for it. Multiplying
    by a boolean mask is as fast as by a float one (measured on (8192, 128) float32)."""

    def forward(self, x):
        self.y = y = self._buffer("y", x.shape, x.dtype)
        self._mask_of = None  # the mask below is of an earlier forward
        return np.maximum(x, 0, out=y)

    def _mask(self) -> np.ndarray:
        if self._mask_of is not self.y:
            self.mask = self._buffer("mask", self.y.shape, np.bool_)
            np.greater(self.y, 0, out=self.mask)
            self._mask_of = self.y
        return self.mask

    # Set by the MLP for a hidden ReLU, whose grad_out is the input gradient buffer of the
    # layer above, read by nobody else: masking it in place halves the memory traffic.
    grad_in_place = False

    def backward(self, grad_out, input_grad=True, param_grads=True):
        # The kink at 0 gets derivative 0 (the subgradient PyTorch also uses).
        if not input_grad:
            return None
        if self.grad_in_place:
            dx = grad_out
        else:
            dx = self._buffer("dx", grad_out.shape, grad_out.dtype)
        return np.multiply(grad_out, self._mask(), out=dx)

    def tangent(self, xdot):
        return _scaled(self, xdot, self._mask(), "ydot")

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        mask = self._mask()
        return _scaled(self, gy, mask, "t_gx"), _scaled(self, gydot, mask, "t_gxdot")


def _scaled(layer: Layer, a: np.ndarray, scale: np.ndarray, name: str) -> np.ndarray:
    return np.multiply(a, scale, out=layer._buffer(name, a.shape, a.dtype))


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

    def _slope(self) -> np.ndarray:
        slope = self._buffer("slope", self.y.shape, self.y.dtype)
        slope.fill(self.leak)
        np.copyto(slope, 1, where=self.y > 0)
        return slope

    def tangent(self, xdot):
        return _scaled(self, xdot, self._slope(), "ydot")

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        slope = self._slope()
        return _scaled(self, gy, slope, "t_gx"), _scaled(self, gydot, slope, "t_gxdot")

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

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        """s'(z) = 1 - y^2 and s''(z) = -2 y (1 - y^2), from y = tanh(z)."""
        d1 = self._buffer("d1", self.y.shape, self.y.dtype)
        np.square(self.y, out=d1)
        np.subtract(1, d1, out=d1)
        d2 = np.multiply(self.y, d1, out=self._buffer("d2", self.y.shape, self.y.dtype))
        d2 *= -2
        return d1, d2

    def tangent(self, xdot):
        return _smooth_tangent(self, xdot)

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        return _smooth_tangent_backward(self, gy, gydot) if input_grad else None


def _smooth_tangent(layer, zdot: np.ndarray) -> np.ndarray:
    layer.zdot = zdot
    d1, _ = layer.derivatives()
    return _scaled(layer, zdot, d1, "ydot")


def _smooth_tangent_backward(layer, gy: np.ndarray, gydot: np.ndarray) -> tuple:
    # z -> (y, ydot) = (s(z), s'(z) zdot): gz = gy s' + gydot zdot s'', gzdot = gydot s'.
    d1, d2 = layer.derivatives()
    gz = _scaled(layer, gy, d1, "t_gx")
    curvature = _scaled(layer, gydot, layer.zdot, "t_curvature")
    curvature *= d2
    gz += curvature
    return gz, _scaled(layer, gydot, d1, "t_gxdot")


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

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        """s'(z) = y (1 - y) and s''(z) = s'(z) (1 - 2 y), from y = sigmoid(z)."""
        d1 = np.subtract(1, self.y, out=self._buffer("d1", self.y.shape, self.y.dtype))
        d1 *= self.y
        d2 = np.multiply(self.y, -2, out=self._buffer("d2", self.y.shape, self.y.dtype))
        d2 += 1
        d2 *= d1
        return d1, d2

    def tangent(self, xdot):
        return _smooth_tangent(self, xdot)

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        return _smooth_tangent_backward(self, gy, gydot) if input_grad else None


class Identity(Layer):
    def forward(self, x):
        return x

    def backward(self, grad_out, input_grad=True, param_grads=True):
        return grad_out if input_grad else None

    def tangent(self, xdot):
        return xdot

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        return (gy, gydot) if input_grad else None


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

    def tangent(self, xdot):
        # The chosen piece carries the direction (the same choice as the forward pass).
        grouped = xdot.reshape(*xdot.shape[:-1], xdot.shape[-1] // self.pieces, self.pieces)
        ydot = self._buffer("ydot", grouped.shape[:-1], xdot.dtype)
        ydot[...] = np.take_along_axis(grouped, self.argmax, axis=-1)[..., 0]
        return ydot

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        out = []
        for a, name in ((gy, "t_gx"), (gydot, "t_gxdot")):
            g = self._buffer(name, self.in_shape, a.dtype)
            g.fill(0)
            np.put_along_axis(g.reshape(*a.shape, self.pieces), self.argmax, a[..., None],
                              axis=-1)
            out.append(g)
        return out[0], out[1]

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

    def tangent(self, xdot):
        # The forward pass's mask: the penalty differentiates the network it evaluated.
        if self.mask is None:
            return xdot
        return _scaled(self, xdot, self.mask, "ydot")

    def tangent_backward(self, gy, gydot, input_grad=True, param_grads=True):
        if not input_grad:
            return None
        if self.mask is None:
            return gy, gydot
        return _scaled(self, gy, self.mask, "t_gx"), _scaled(self, gydot, self.mask, "t_gxdot")

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

"""The MLP: Linear layers with activations (and optional BatchNorm and Dropout) over one
flat parameter buffer per network, batched over the member axis (see toygan.core.nn.layers
for the shapes and the forward/backward contract)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .activations import Dropout, ReLU, activation_layer
from .layers import BatchNorm, Layer, Linear


class MLP:
    """sizes[0] -> sizes[1] -> ... -> sizes[-1], `activation` after every hidden Linear.

    Hidden layers of ReLU/LeakyReLU networks start from He initialisation, the others (and
    the output layer) from Glorot. With activation='maxout', hidden Linear layers are
    `pieces` times wider and a Maxout layer reduces them to the stated width.

    batchnorm=True puts a BatchNorm after every hidden Linear, before its activation (for
    maxout it normalises the widened Linear output, width * pieces features); never after
    the output layer. A hidden block is then Linear, BatchNorm, activation[, Dropout], and
    its parameters lie W, b, gamma, beta in the flat buffer. The Linear bias is kept (BN
    cancels it, so its gradient vanishes up to rounding) and BN's init draws nothing, so the
    Linear weights start from the same draws as without BN. BN uses the statistics of the
    batch it is given, in eval mode too (see BatchNorm): an output depends on the whole batch.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str = "identity",
        population: int = 1,
        dtype=np.float32,
        dropout: float = 0.0,
        leak: float = 0.2,
        pieces: int = 2,
        batchnorm: bool = False,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"an MLP needs at least input and output sizes >= 1, got {sizes}")
        if population < 1:
            raise ValueError(f"population must be >= 1, got {population}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {dropout}")
        if output_activation == "maxout":
            raise ValueError("maxout is a hidden-layer activation")
        activation_layer(activation)  # validates the name
        self.sizes, self.activation, self.population = sizes, activation, population
        self.batchnorm = bool(batchnorm)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        rule = "he" if activation in ("relu", "leaky_relu") else "glorot"
        widen = pieces if activation == "maxout" else 1
        self.layers: list[Layer] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            if last:
                self.layers.append(Linear(n_in, n_out, "glorot"))
                if output_activation != "identity":
                    self.layers.append(activation_layer(output_activation, leak, pieces))
                continue
            lin_leak = leak if activation == "leaky_relu" else 0.0
            self.layers.append(Linear(n_in, n_out * widen, rule, lin_leak))
            if self.batchnorm:
                self.layers.append(BatchNorm(n_out * widen))
            hidden = activation_layer(activation, leak, pieces)
            if isinstance(hidden, ReLU):
                hidden.grad_in_place = True  # its grad_out is the input gradient of a layer
            self.layers.append(hidden)
            if dropout > 0.0:
                self.layers.append(Dropout(dropout))
        self.n_params = sum(layer.n_params for layer in self.layers)
        self.params = np.zeros((population, self.n_params), dtype=self.dtype)
        self.grads = np.zeros_like(self.params)
        self._own: dict[tuple, np.ndarray] = {}  # the MLP's own buffers, by shape
        self._bind()

    def _bind(self) -> None:
        # At P = 1 the layers see (n_params,) slices, hence 2-D weights and activations.
        params = self.params[0] if self.population == 1 else self.params
        grads = self.grads[0] if self.population == 1 else self.grads
        offset = 0
        for layer in self.layers:
            end = offset + layer.n_params
            layer.bind(params[..., offset:end], grads[..., offset:end])
            offset = end

    def slices(self) -> list[tuple[Layer, slice]]:
        """Each parameterised layer with its slice of the flat buffer."""
        out, offset = [], 0
        for layer in self.layers:
            if layer.n_params:
                out.append((layer, slice(offset, offset + layer.n_params)))
            offset += layer.n_params
        return out

    def init(self, rngs: Sequence[np.random.Generator]) -> None:
        """Initialise member i from rngs[i] (so a member equals a single run with its rng)."""
        if len(rngs) != self.population:
            raise ValueError(f"need {self.population} generators, got {len(rngs)}")
        for member, rng in enumerate(rngs):
            for layer, where in self.slices():
                row = np.zeros(layer.n_params)
                layer.init(row, rng)
                self.params[member, where] = row

    def set_rng(self, rng) -> None:
        """Dropout's generator, or a list of one per member."""
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.rng = rng

    def train(self, mode: bool = True) -> MLP:
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.training = mode
        return self

    def eval(self) -> MLP:
        return self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (P, batch, sizes[0]) -> (P, batch, sizes[-1]); the result is owned by the MLP."""
        if x.ndim != 3 or x.shape[0] != self.population or x.shape[2] != self.sizes[0]:
            raise ValueError(
                f"input must be (P={self.population}, batch, {self.sizes[0]}), got {x.shape}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        h = x[0] if self.population == 1 else x
        for layer in self.layers:
            h = layer.forward(h)
        return h[None] if self.population == 1 else h

    def backward(
        self, grad_out: np.ndarray, input_grad: bool = True, param_grads: bool = True
    ) -> np.ndarray | None:
        """Backpropagate dL/d(output); fills `grads` (unless param_grads=False, which leaves
        them stale: the G step needs D's input gradient only) and returns dL/d(input)."""
        if grad_out.dtype != self.dtype:
            grad_out = grad_out.astype(self.dtype)
        g = grad_out[0] if self.population == 1 else grad_out
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            g = self.layers[i].backward(g, input_grad or i > 0, param_grads)
        if g is None:
            return None
        return g[None] if self.population == 1 else g

    # ------------------------------------------------------------ second order
    def second_order_unsupported(self) -> str | None:
        """Why the second-order passes cannot run on this network, or None."""
        if self.batchnorm:
            return ("batch norm has no second-order pass (it couples a batch's samples; "
                    "toygan puts it in generators only)")
        return None

    def input_gradient(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """grad_x of the network's (single) output at each point of x (P, n, sizes[0]):
        one forward and one backward pass with output gradient `weights` (default 1), no
        parameter gradients. Keeps the forward for `tangent` and `tangent_backward`."""
        if self.sizes[-1] != 1:
            raise ValueError("input_gradient needs a network with one output")
        out = self.forward(x)
        ones = self._ones(out.shape)
        if weights is not None:
            np.multiply(ones, weights, out=ones)
        return self.backward(ones, input_grad=True, param_grads=False)

    def _ones(self, shape: tuple) -> np.ndarray:
        buf = self._own.get(shape)
        if buf is None:
            buf = self._own[shape] = np.empty(shape, dtype=self.dtype)
        buf.fill(1)
        return buf

    def tangent(self, xdot: np.ndarray) -> np.ndarray:
        """The forward-mode derivative of the last forward in input direction xdot (the
        shape of that input): (P, n, sizes[-1]); at one output, <grad_x D(x_i), xdot_i>."""
        reason = self.second_order_unsupported()
        if reason:
            raise ValueError(reason)
        if xdot.dtype != self.dtype:
            xdot = xdot.astype(self.dtype)
        h = xdot[0] if self.population == 1 else xdot
        for layer in self.layers:
            h = layer.tangent(h)
        return h[None] if self.population == 1 else h

    def tangent_backward(self, grad_out: np.ndarray, grad_tangent: np.ndarray) -> None:
        """Fill `grads` with the parameter gradient of sum(grad_out * output) +
        sum(grad_tangent * tangent output), the last forward's and tangent's (the input
        direction held fixed)."""
        g = grad_out[0] if self.population == 1 else grad_out
        gdot = grad_tangent[0] if self.population == 1 else grad_tangent
        g, gdot = g.astype(self.dtype, copy=False), gdot.astype(self.dtype, copy=False)
        for i in range(len(self.layers) - 1, -1, -1):
            pair = self.layers[i].tangent_backward(g, gdot, input_grad=i > 0)
            if pair is not None:
                g, gdot = pair

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"MLP(P={self.population}, {self.n_params} params: {inner})"

"""`DeviceMLP`: a core.nn.MLP's structure and parameters on a Device, its forward and
backward passes as kernel launches (one per layer and op)."""

from __future__ import annotations

import numpy as np

from ..core import nn
from .arrays import Device

_ACTIVATION_NAMES = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh",
                     nn.Sigmoid: "sigmoid", nn.Identity: "identity", nn.Maxout: "maxout"}


class _Block:
    """A Linear layer with what follows it: batch norm, an activation and dropout."""

    def __init__(self, linear: nn.Linear, offset: int) -> None:
        self.n_in, self.n_out, self.offset = linear.n_in, linear.n_out, offset
        self.act, self.leak, self.pieces, self.dropout = "identity", 0.0, 1, 0.0
        self.bn_offset: int | None = None  # gamma, beta's place in the flat buffer
        self.bn_eps = 0.0

    @property
    def width(self) -> int:
        """Features after the activation (maxout divides by its pieces)."""
        return self.n_out // self.pieces


class DeviceMLP:
    """An nn.MLP's structure and parameters on a device; forward and backward as kernels.

    Per Linear layer: linear_forward with the activation fused, then maxout_forward or
    dropout_forward when the layer has them; backward: linear_backward_params, and
    linear_backward_input carrying the gradient through the activation (and dropout mask)
    of the layer below, or followed by maxout_backward. A layer with batch norm runs
    linear_forward without activation, then batchnorm_forward with the activation fused
    (it keeps xhat and inv_std); backward, batchnorm_backward turns the gradient of its
    output (the activation's input) into that of the Linear output, and writes dgamma and
    dbeta, before the Linear layer's own backward.
    """

    def __init__(self, host: nn.MLP, device: Device) -> None:
        self.device, self.ops, self.P = device, device.ops, host.population
        self.sizes = host.sizes
        self.blocks: list[_Block] = []
        offset = 0
        for layer in host.layers:
            if isinstance(layer, nn.Linear):
                self.blocks.append(_Block(layer, offset))
            elif isinstance(layer, nn.BatchNorm):
                self.blocks[-1].bn_offset, self.blocks[-1].bn_eps = offset, layer.eps
            elif isinstance(layer, nn.Dropout):
                self.blocks[-1].dropout = layer.p
            elif type(layer) in _ACTIVATION_NAMES:
                block = self.blocks[-1]
                block.act = _ACTIVATION_NAMES[type(layer)]
                block.leak = getattr(layer, "leak", 0.0)
                block.pieces = getattr(layer, "pieces", 1)
            else:
                raise ValueError(f"the kernel backends have no {layer!r}")
            offset += layer.n_params
        if self.blocks[-1].act != "identity" or self.blocks[-1].bn_offset is not None:
            raise ValueError("the kernel backends need an identity output activation "
                             "(no batch norm after the output layer)")
        self.params = device.upload(host.params)
        self.grads = device.zeros(host.params.shape)
        self.wb = [self._view(self.params, b) for b in self.blocks]
        self.gwb = [self._view(self.grads, b) for b in self.blocks]
        self.gb = [self._bn_view(self.params, b) for b in self.blocks]
        self.ggb = [self._bn_view(self.grads, b) for b in self.blocks]
        self.training = True
        self.dropout_key: tuple[int, int] = (0, 0)
        self.next_dropout_call = None  # callable giving the Philox call number
        self._buffers: dict[int, dict[str, list]] = {}

    def fused_unsupported(self) -> str | None:
        """Why this network cannot run in the fused steps, or None when it can."""
        hidden = {b.act for b in self.blocks[:-1]}
        if any(b.act == "maxout" for b in self.blocks):
            return "maxout is not fused"
        if any(b.dropout > 0 for b in self.blocks):
            return "dropout is not fused"
        if any(b.bn_offset is not None for b in self.blocks):
            # The fused kernels take a chunk of rows at a time; batch norm needs them all.
            return "batch norm is not fused"
        if len(hidden) > 1:
            return f"hidden layers with different activations {sorted(hidden)}"
        return None

    @property
    def hidden(self) -> tuple[str, float]:
        """The hidden layers' activation and leak (identity for a one-layer network)."""
        b = self.blocks[0] if len(self.blocks) > 1 else self.blocks[-1]
        return b.act, b.leak

    def _view(self, flat, block: _Block):
        size = (block.n_in + 1) * block.n_out
        return flat[:, block.offset:block.offset + size].reshape(
            self.P, block.n_in + 1, block.n_out)

    def _bn_view(self, flat, block: _Block):
        """(P, 2, n_out): gamma and beta (or their gradients), None without batch norm."""
        if block.bn_offset is None:
            return None
        return flat[:, block.bn_offset:block.bn_offset + 2 * block.n_out].reshape(
            self.P, 2, block.n_out)

    def _batch_buffers(self, batch: int) -> dict[str, list]:
        bufs = self._buffers.get(batch)
        if bufs is None:
            d, P = self.device, self.P
            bufs = {"z": [], "y": [], "arg": [], "u": [], "mask": [], "h": [], "dz": [],
                    "dy": [], "zgrad": [], "bn": [], "xhat": [], "inv_std": [], "dlin": []}
            for i, b in enumerate(self.blocks):
                bufs["z"].append(d.empty((P, batch, b.n_out)))
                # Batch norm: its output (the activation's, fused), what its backward needs
                # and the gradient of the Linear output it hands down.
                bn = b.bn_offset is not None
                for key, shape in (("bn", (P, batch, b.n_out)), ("xhat", (P, batch, b.n_out)),
                                   ("inv_std", (P, b.n_out)), ("dlin", (P, batch, b.n_out))):
                    bufs[key].append(d.empty(shape) if bn else None)
                maxout = b.act == "maxout"
                bufs["y"].append(d.empty((P, batch, b.width)) if maxout else None)
                bufs["arg"].append(d.empty((P, batch, b.width), np.int32) if maxout else None)
                drop = b.dropout > 0
                bufs["u"].append(d.empty((P, batch, b.width)) if drop else None)
                bufs["mask"].append(d.empty((P, batch, b.width)) if drop else None)
                bufs["h"].append(d.empty((P, batch, b.width)) if drop else None)
                bufs["dz"].append(d.empty((P, batch, b.n_in)))  # dL/d(block below's z)
                # Below a maxout block: its output gradient, then its pre-maxout gradient.
                below_maxout = i > 0 and self.blocks[i - 1].act == "maxout"
                bufs["dy"].append(d.empty((P, batch, b.n_in)) if below_maxout else None)
                bufs["zgrad"].append(d.empty((P, batch, b.n_out)) if maxout else None)
            self._buffers[batch] = bufs
        return bufs

    def forward(self, x, out=None):
        """x (P, batch, sizes[0]) on the device -> (P, batch, sizes[-1]), owned by the MLP
        (or written into `out`, which may be a member-strided view)."""
        batch = x.shape[1]
        bufs = self._batch_buffers(batch)
        self._inputs, self._masks = [], []
        h = x
        last = len(self.blocks) - 1
        for i, b in enumerate(self.blocks):
            self._inputs.append(h)
            z = out if (i == last and out is not None) else bufs["z"][i]
            fused = "identity" if b.act == "maxout" else b.act
            if b.bn_offset is None:
                self.ops.linear_forward(h, self.wb[i], z, fused, b.leak)
                h = z
            else:
                self.ops.linear_forward(h, self.wb[i], z, "identity", 0.0)
                h = bufs["bn"][i]
                self.ops.batchnorm_forward(z, self.gb[i], h, bufs["xhat"][i],
                                           bufs["inv_std"][i], b.bn_eps, fused, b.leak)
            if b.act == "maxout":
                self.ops.maxout_forward(h, bufs["y"][i], bufs["arg"][i], b.pieces)
                h = bufs["y"][i]
            mask = None
            if b.dropout > 0 and self.training:
                u, mask = bufs["u"][i], bufs["mask"][i]
                self.ops.random_uniform(u, self.dropout_key, self.next_dropout_call(), 0.0, 1.0)
                self.ops.dropout_forward(h, u, bufs["h"][i], mask, b.dropout)
                h = bufs["h"][i]
            self._masks.append(mask)
        self._batch = batch
        return h

    def _activation_output(self, i: int):
        """What block i's activation produced (before its dropout mask)."""
        bufs, b = self._buffers[self._batch], self.blocks[i]
        if b.act == "maxout":
            return bufs["y"][i]
        return bufs["z"][i] if b.bn_offset is None else bufs["bn"][i]

    def backward(self, grad_out, input_grad: bool = True, param_grads: bool = True):
        """grad_out = dL/d(output) (the output activation is the identity); fills `grads`
        unless param_grads=False; returns dL/d(input) when input_grad."""
        bufs, ops = self._buffers[self._batch], self.ops
        g = grad_out
        for i in range(len(self.blocks) - 1, -1, -1):
            if self.blocks[i].bn_offset is not None:  # g: dL/d(batch norm's output)
                ops.batchnorm_backward(g, bufs["xhat"][i], bufs["inv_std"][i], self.gb[i],
                                       bufs["dlin"][i], self.ggb[i] if param_grads else None)
                g = bufs["dlin"][i]
            if param_grads:
                ops.linear_backward_params(self._inputs[i], g, self.gwb[i])
            if i == 0:
                if not input_grad:
                    return None
                ops.linear_backward_input(g, self.wb[i], None, None, bufs["dz"][i],
                                          "identity", 0.0)
                return bufs["dz"][i]
            below = self.blocks[i - 1]
            mask = self._masks[i - 1]
            if below.act == "maxout":
                ops.linear_backward_input(g, self.wb[i], None, mask, bufs["dy"][i], "identity",
                                          0.0)
                g = bufs["zgrad"][i - 1]
                ops.maxout_backward(bufs["dy"][i], bufs["arg"][i - 1], g, below.pieces)
            else:
                ops.linear_backward_input(g, self.wb[i], self._activation_output(i - 1), mask,
                                          bufs["dz"][i], below.act, below.leak)
                g = bufs["dz"][i]
        return None

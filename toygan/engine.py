"""Algorithm 1 on the kernels: MLPs, optimisers and the GAN step written against an `ops`
object, which is either `toygan.reference` (NumPy) or `ops.KernelOps` over the emulator or
a GPU. The same code runs three ways; tests compare them step for step.

Two paths through an iteration: `per-op` (one kernel per layer and op: the reference path)
and `fused` (kernels/fused.cu: the D step and the G step one kernel each, then one
reduce-and-update kernel per network), chosen by `config.kernels` ('auto' takes fused
where the networks allow it).

Arrays live on the device (`Device.xp`: NumPy for reference/emu, CuPy for cuda). Every
buffer of the training step comes from `Device.empty`, which counts allocations, and is
allocated once per batch size: after the first iteration a step allocates nothing.

Random draws come from the counter-based Philox kernels (random.cu): each stream (data,
noise, dropout) has a key derived from the run's seed and a call counter, which is all the
state a checkpoint needs, and the emulator draws exactly what a GPU draws. Initial
parameters and the evaluation sets come from the same NumPy streams as the numpy backend.
"""

from __future__ import annotations

import json

import numpy as np
from scipy.special import expit

from . import nn, optim, reference
from .config import Config, ConfigError
from .distributions import GaussianMixture
from .losses import get_loss
from .ops import KernelOps, fused_blocks, fused_chunks, fused_rows, fused_unsupported
from .train import (
    STREAMS,
    CheckpointError,
    build_networks,
    draw_noise,
    random_streams,
    restore_networks,
)

KINDS = ("reference", "emu", "cuda")
PHILOX_STREAMS = ("data", "noise", "dropout")


class Device:
    """Where arrays live and which implementation of the ops runs on them."""

    def __init__(self, kind: str, dtype="float32") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown device kind {kind!r}; choose from {', '.join(KINDS)}")
        self.kind, self.dtype = kind, np.dtype(dtype)
        self.allocations = 0
        if kind == "reference":
            self.xp, self.ops = np, reference
        else:
            from .launch import load_module

            module = load_module(kind, self.dtype.name)
            self.ops = KernelOps(module)
            if kind == "cuda":
                import cupy

                self.xp = cupy
            else:
                self.xp = np

    def empty(self, shape: tuple[int, ...], dtype=None):
        self.allocations += 1
        return self.xp.empty(shape, dtype=self.dtype if dtype is None else dtype)

    def zeros(self, shape: tuple[int, ...], dtype=None):
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def upload(self, host: np.ndarray, dtype=None):
        a = self.empty(host.shape, dtype or self.dtype)
        a[...] = self.xp.asarray(np.asarray(host, dtype=a.dtype))
        return a

    def download(self, a) -> np.ndarray:
        return a.get() if self.kind == "cuda" else np.array(a, copy=True)


# ---------------------------------------------------------------------- MLP
_ACTIVATION_NAMES = {nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Tanh: "tanh",
                     nn.Sigmoid: "sigmoid", nn.Identity: "identity", nn.Maxout: "maxout"}


class _Block:
    """A Linear layer with what follows it: an activation and dropout."""

    def __init__(self, linear: nn.Linear, offset: int) -> None:
        self.n_in, self.n_out, self.offset = linear.n_in, linear.n_out, offset
        self.act, self.leak, self.pieces, self.dropout = "identity", 0.0, 1, 0.0

    @property
    def width(self) -> int:
        """Features after the activation (maxout divides by its pieces)."""
        return self.n_out // self.pieces


class DeviceMLP:
    """An nn.MLP's structure and parameters on a device; forward and backward as kernels.

    Per Linear layer: linear_forward with the activation fused, then maxout_forward or
    dropout_forward when the layer has them; backward: linear_backward_params, and
    linear_backward_input carrying the gradient through the activation (and dropout mask)
    of the layer below, or followed by maxout_backward.
    """

    def __init__(self, host: nn.MLP, device: Device) -> None:
        self.device, self.ops, self.P = device, device.ops, host.population
        self.sizes = host.sizes
        self.blocks: list[_Block] = []
        offset = 0
        for layer in host.layers:
            if isinstance(layer, nn.Linear):
                self.blocks.append(_Block(layer, offset))
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
        if self.blocks[-1].act != "identity":
            raise ValueError("the kernel backends need an identity output activation")
        self.params = device.upload(host.params)
        self.grads = device.zeros(host.params.shape)
        self.wb = [self._view(self.params, b) for b in self.blocks]
        self.gwb = [self._view(self.grads, b) for b in self.blocks]
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

    def _batch_buffers(self, batch: int) -> dict[str, list]:
        bufs = self._buffers.get(batch)
        if bufs is None:
            d, P = self.device, self.P
            bufs = {"z": [], "y": [], "arg": [], "u": [], "mask": [], "h": [], "dz": [],
                    "dy": [], "zgrad": []}
            for i, b in enumerate(self.blocks):
                bufs["z"].append(d.empty((P, batch, b.n_out)))
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
            self.ops.linear_forward(h, self.wb[i], z, fused, b.leak)
            h = z
            if b.act == "maxout":
                self.ops.maxout_forward(z, bufs["y"][i], bufs["arg"][i], b.pieces)
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
        return bufs["y"][i] if b.act == "maxout" else bufs["z"][i]

    def backward(self, grad_out, input_grad: bool = True, param_grads: bool = True):
        """grad_out = dL/d(output) (the output activation is the identity); fills `grads`
        unless param_grads=False; returns dL/d(input) when input_grad."""
        bufs, ops = self._buffers[self._batch], self.ops
        g = grad_out
        for i in range(len(self.blocks) - 1, -1, -1):
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


# ---------------------------------------------------------------- optimisers
class DeviceOptimizer:
    """toygan.optim's rules as one kernel launch over a network's flat buffer.

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


# ----------------------------------------------------------------------- GAN
class DeviceGAN:
    """train.GAN's interface (iteration, generate, discriminate, state) on a Device."""

    def __init__(self, config: Config, mixture: GaussianMixture, kind: str) -> None:
        self.config, self.mixture = config, mixture
        self.device = device = Device(kind, config.dtype)
        self.ops = device.ops
        self.loss = get_loss(config.loss)
        host_g, host_d = self._streams_and_networks(config, mixture)
        m, dim = config.batch, mixture.dim
        self.G, self.D = DeviceMLP(host_g, device), DeviceMLP(host_d, device)
        self.D.dropout_key = self.keys["dropout"]
        self.D.next_dropout_call = lambda: self._next_call("dropout")
        self.opt_g, self.opt_d = self._optimizers(config)
        self.cdf = device.upload(mixture.component_cdf())
        self.means = device.upload(mixture.means)
        self.stds = device.upload(mixture.stds)
        self.d_input = device.empty((self.P, 2 * m, dim))
        self.d_grad = device.empty((self.P, 2 * m, 1))
        self.g_grad = device.empty((self.P, m, 1))
        self.values = device.empty((2, self.P))  # D and G loss
        self.u_data = device.empty((self.P, m))
        self.z_data = device.empty((self.P, m, dim))
        self.noise = device.empty((self.P, m, config.noise_dim))
        self._eval_buffers: dict = {}
        self.kernel_path = self._choose_kernel_path(config.kernels)
        if self.kernel_path == "fused":
            self._fused_buffers(m)

    def _streams_and_networks(self, config: Config, mixture: GaussianMixture) -> tuple:
        """The run's NumPy streams, Philox keys and call counters; G and D on the host."""
        seeds, self.rng = random_streams(config.seed)
        self.keys = {name: tuple(int(w) for w in seeds[STREAMS.index(name)].generate_state(2))
                     for name in PHILOX_STREAMS}
        self.calls = dict.fromkeys(PHILOX_STREAMS, 0)
        self.P = 1
        return build_networks(config, mixture, self.rng)

    def _optimizers(self, config: Config) -> tuple:
        return (DeviceOptimizer(config.optimizer, self.G.params, self.G.grads, config.lr_g,
                                self.device, config.adam_beta1),
                DeviceOptimizer(config.optimizer, self.D.params, self.D.grads, config.lr_d,
                                self.device, config.adam_beta1))

    # ------------------------------------------------------------ fused path
    def _choose_kernel_path(self, choice: str) -> str:
        """'fused' where the networks allow it (or an error when fused was asked for and
        they do not), else 'per-op'."""
        if choice == "per-op":
            return "per-op"
        reason = (self.G.fused_unsupported() or self.D.fused_unsupported()
                  or fused_unsupported(tuple(self.G.sizes), tuple(self.D.sizes),
                                     self.device.dtype.itemsize))
        if reason is None:
            return "fused"
        if choice == "fused":
            raise ConfigError(f"--kernels fused: {reason}; use --kernels auto or per-op")
        return "per-op"

    def _fused_buffers(self, m: int) -> None:
        d, P = self.device, self.P
        rows = fused_rows(tuple(self.G.sizes), tuple(self.D.sizes), d.dtype.itemsize)
        self.fused_blocks = {
            name: fused_blocks(fused_chunks(m, rows, name == "d")) for name in ("d", "g")}
        self.partial = {name: d.empty((P, blocks, net.params.shape[1]))
                        for (name, blocks), net in zip(self.fused_blocks.items(),
                                                       (self.D, self.G), strict=True)}
        self.loss_partial = {name: d.empty((P, blocks))
                             for name, blocks in self.fused_blocks.items()}

    def _fused_networks(self) -> tuple:
        (g_act, g_leak), (d_act, d_leak) = self.G.hidden, self.D.hidden
        return (self.G.params, self.D.params, self.G.sizes, self.D.sizes, g_act, g_leak, d_act,
                d_leak, self.loss.name)

    def _fused_discriminator_step(self) -> None:
        m = self.config.batch
        self.sample_real()
        noise = self.training_noise()
        self.ops.fused_discriminator_step(self.d_input[:, :m], noise, *self._fused_networks(),
                                          self.partial["d"], self.loss_partial["d"])
        clip = self.config.clip if self.loss.clip else 0.0
        self.opt_d.fused_step(self.partial["d"], clip, self.loss_partial["d"], self.values[0],
                              1.0 / m)

    def _fused_generator_step(self) -> None:
        self.ops.fused_generator_step(self.training_noise(), *self._fused_networks(),
                                      self.partial["g"], self.loss_partial["g"])
        self.opt_g.fused_step(self.partial["g"], 0.0, self.loss_partial["g"], self.values[1],
                              1.0 / self.config.batch)

    def _next_call(self, stream: str) -> int:
        self.calls[stream] += 1
        return self.calls[stream] - 1

    def draw_noise(self, shape, rng):
        return draw_noise(self.config, shape, rng)

    # ------------------------------------------------------------- the step
    def sample_real(self) -> None:
        """Writes m real samples per member into the first half of D's input."""
        ops, m = self.ops, self.config.batch
        ops.random_uniform(self.u_data, self.keys["data"], self._next_call("data"), 0.0, 1.0)
        ops.random_normal(self.z_data, self.keys["data"], self._next_call("data"))
        ops.mixture_sample(self.u_data, self.z_data, self.cdf, self.means, self.stds,
                           self.d_input[:, :m])

    def training_noise(self):
        """Draws G's noise minibatch into its buffer and returns it."""
        call = self._next_call("noise")
        if self.config.noise == "normal":
            self.ops.random_normal(self.noise, self.keys["noise"], call)
        else:
            self.ops.random_uniform(self.noise, self.keys["noise"], call, -1.0, 1.0)
        return self.noise

    def discriminator_step(self) -> float:
        self._discriminator_launches()
        return float(self.values[0, 0])

    def generator_step(self) -> float:
        self._generator_launches()
        return float(self.values[1, 0])

    def iteration(self) -> tuple[float, float]:
        self.launch_iteration()
        losses = self.device.download(self.values[:, 0])
        return float(losses[0]), float(losses[1])

    def launch_iteration(self) -> None:
        """One iteration's kernels, without reading anything back: the losses stay in
        `values` (a CUDA graph can capture this; see toygan.bench)."""
        for _ in range(self.config.k):
            self._discriminator_launches()
        self._generator_launches()

    def _discriminator_launches(self) -> None:
        if self.kernel_path == "fused":
            self._fused_discriminator_step()
            return
        ops, m = self.ops, self.config.batch
        self.sample_real()
        self.G.forward(self.training_noise(), out=self.d_input[:, m:])
        logits = self.D.forward(self.d_input)
        ops.loss_discriminator(logits, self.d_grad, self.values[0], self.loss.name)
        self.D.backward(self.d_grad, input_grad=False)
        self.opt_d.step()
        if self.loss.clip:
            ops.clip_params(self.D.params, self.config.clip)

    def _generator_launches(self) -> None:
        if self.kernel_path == "fused":
            self._fused_generator_step()
            return
        fake = self.G.forward(self.training_noise())
        logits = self.D.forward(fake)
        self.ops.loss_generator(logits, self.g_grad, self.values[1], self.loss.name)
        grad_fake = self.D.backward(self.g_grad, input_grad=True, param_grads=False)
        self.G.backward(grad_fake, input_grad=False)
        self.opt_g.step()

    # --------------------------------------------------------- inspection
    def _eval_input(self, host: np.ndarray):
        key = host.shape
        if key not in self._eval_buffers:
            self._eval_buffers[key] = self.device.empty(host.shape)
        buf = self._eval_buffers[key]
        buf[...] = self.device.xp.asarray(host.astype(self.device.dtype))
        return buf

    def generate(self, z: np.ndarray) -> np.ndarray:
        out = self.G.forward(self._eval_input(np.asarray(z)))
        return self.device.download(out)[0].astype(np.float64)

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        self.D.training = False
        try:
            logits = self.D.forward(self._eval_input(np.asarray(x)[None]))
            logits = self.device.download(logits)[0, :, 0].astype(np.float64)
        finally:
            self.D.training = True
        return expit(logits) if self.loss.output_is_probability else logits

    def grad_norms(self) -> tuple[float, float]:
        xp = self.device.xp
        return float(xp.linalg.norm(self.D.grads)), float(xp.linalg.norm(self.G.grads))

    def parameters_finite(self) -> bool:
        xp = self.device.xp
        return bool(xp.isfinite(self.G.params).all() and xp.isfinite(self.D.params).all())

    # ---------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"g_params": self.device.download(self.G.params),
                 "d_params": self.device.download(self.D.params)}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for key, value in opt.state_dict().items():
                state[f"{prefix}.{key}"] = value
        state["philox"] = np.array(json.dumps({"keys": self.keys, "calls": self.calls}))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "philox" not in state:
            raise CheckpointError(
                "the checkpoint was written by the numpy backend, whose random streams the "
                "kernel backends (emu, cuda) do not draw from; resume it with --backend numpy")
        xp = self.device.xp
        restore_networks(state, self, lambda target, host: target.__setitem__(
            Ellipsis, xp.asarray(host)))
        philox = json.loads(str(state["philox"]))
        if {k: tuple(v) for k, v in philox["keys"].items()} != self.keys:
            raise CheckpointError("the checkpoint's random streams are from another seed")
        self.calls = {k: int(v) for k, v in philox["calls"].items()}

"""Algorithm 1 on the kernels: the GAN step written against a `Device`'s ops, which are
either the NumPy references (`toygan.device.reference`) or `KernelOps` over the emulator or
a GPU. The same code runs three ways; tests compare them step for step.

How a D step and a G step launch (per-op or fused) is a `KernelSteps` object
(gan/kernel_steps.py), chosen once from `config.kernels`.

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

from ..config import Config
from ..core.distributions import GaussianMixture
from ..core.losses import get_loss
from ..device import Device, DeviceMLP, DeviceOptimizer
from .kernel_steps import choose_steps
from .networks import CheckpointError, build_networks, restore_networks
from .streams import STREAMS, draw_noise, random_streams

PHILOX_STREAMS = ("data", "noise", "dropout")


class DeviceGAN:
    """The GANStep interface (iteration, generate, discriminate, state) on a Device."""

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
        # PacGAN packing, as on the numpy backend: D judges m packs of `pack` consecutive
        # samples side by side. Per member, D's input (2m, pack * dim) is the same memory
        # as 2m * pack samples (m * pack real, then m * pack generated) of dim each, so
        # the samples are written into views and no kernel packs them.
        self.pack = pack = config.pack
        samples = device.empty((self.P, 2 * m * pack, dim))
        self.d_input = samples.reshape(self.P, 2 * m, pack * dim)
        self.real_samples, self.fake_samples = samples[:, :m * pack], samples[:, m * pack:]
        self.d_grad = device.empty((self.P, 2 * m, 1))
        self.g_grad = device.empty((self.P, m, 1))
        self.values = device.empty((2, self.P))  # D and G loss
        self.u_data = device.empty((self.P, m * pack))
        self.z_data = device.empty((self.P, m * pack, dim))
        self.noise = device.empty((self.P, m * pack, config.noise_dim))
        self._eval_buffers: dict = {}
        self.steps = choose_steps(self, config.kernels)

    @property
    def kernel_path(self) -> str:
        """'fused' or 'per-op': which KernelSteps this GAN runs."""
        return self.steps.name

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

    def _next_call(self, stream: str) -> int:
        self.calls[stream] += 1
        return self.calls[stream] - 1

    def draw_noise(self, shape, rng):
        return draw_noise(self.config, shape, rng)

    # ------------------------------------------------------------- the step
    def sample_real(self) -> None:
        """Writes m real packs (m * pack samples) per member into the first half of D's
        input."""
        ops = self.ops
        ops.random_uniform(self.u_data, self.keys["data"], self._next_call("data"), 0.0, 1.0)
        ops.random_normal(self.z_data, self.keys["data"], self._next_call("data"))
        ops.mixture_sample(self.u_data, self.z_data, self.cdf, self.means, self.stds,
                           self.real_samples)

    def packed(self, x):
        """(P, n * pack, dim) -> (P, n, pack * dim), a view: consecutive samples side by
        side (x contiguous per member, as G's output is)."""
        return x.reshape(x.shape[0], x.shape[1] // self.pack, x.shape[2] * self.pack)

    def unpacked(self, x):
        """The inverse view of `packed`: D's input gradient as G's output gradient."""
        return x.reshape(x.shape[0], x.shape[1] * self.pack, x.shape[2] // self.pack)

    def training_noise(self):
        """Draws G's noise minibatch (m * pack samples per member) into its buffer and
        returns it."""
        call = self._next_call("noise")
        if self.config.noise == "normal":
            self.ops.random_normal(self.noise, self.keys["noise"], call)
        else:
            self.ops.random_uniform(self.noise, self.keys["noise"], call, -1.0, 1.0)
        return self.noise

    def discriminator_step(self) -> float:
        self.steps.discriminator()
        return float(self.values[0, 0])

    def generator_step(self) -> float:
        self.steps.generator()
        return float(self.values[1, 0])

    def iteration(self) -> tuple[float, float]:
        self.launch_iteration()
        losses = self.device.download(self.values[:, 0])
        return float(losses[0]), float(losses[1])

    def launch_iteration(self) -> None:
        """One iteration's kernels, without reading anything back: the losses stay in
        `values` (a CUDA graph can capture this; see toygan.bench)."""
        for _ in range(self.config.k):
            self.steps.discriminator()
        self.steps.generator()

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

"""The two ways a DeviceGAN runs a D step and a G step on the kernels, behind one interface
(`discriminator()`, `generator()`), as a fused and a simple network sit behind one network
interface in tiny-cuda-nn:

- `PerOpSteps`: one kernel per layer and op (linear, activation, loss, update): the
  reference path, which runs any network;
- `FusedSteps`: kernels/fused.cu, the D step and the G step one kernel each, then one
  reduce-and-update kernel per network; only for the networks it supports.

`choose_steps` is where `config.kernels` ('auto', 'fused', 'per-op') becomes one of them.
Both write the step's loss per member into `gan.values` (row 0: D, row 1: G).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..config import ConfigError
from ..device.geometry import fused_blocks, fused_chunks, fused_rows, fused_unsupported

if TYPE_CHECKING:
    from .device_gan import DeviceGAN


class KernelSteps(Protocol):
    name: str

    def discriminator(self) -> None: ...

    def generator(self) -> None: ...


class PerOpSteps:
    """One kernel per layer and op."""

    name = "per-op"

    def __init__(self, gan: DeviceGAN) -> None:
        self.gan = gan

    def discriminator(self) -> None:
        gan = self.gan
        ops = gan.ops
        gan.sample_real()
        # G writes its m * pack samples straight into the generated half of D's input.
        gan.G.forward(gan.training_noise(), out=gan.fake_samples)
        logits = gan.D.forward(gan.d_input)
        ops.loss_discriminator(logits, gan.d_grad, gan.values[0], gan.loss.name)
        gan.D.backward(gan.d_grad, input_grad=False)
        gan.opt_d.step()
        if gan.loss.clip:
            ops.clip_params(gan.D.params, gan.config.clip)

    def generator(self) -> None:
        gan = self.gan
        fake = gan.G.forward(gan.training_noise())
        logits = gan.D.forward(gan.packed(fake))
        gan.ops.loss_generator(logits, gan.g_grad, gan.values[1], gan.loss.name)
        grad_fake = gan.D.backward(gan.g_grad, input_grad=True, param_grads=False)
        gan.G.backward(gan.unpacked(grad_fake), input_grad=False)
        gan.opt_g.step()


class FusedSteps:
    """One kernel per step and one reduce-and-update kernel per network. The step kernels
    write per-block partial gradients and losses into buffers allocated here, once."""

    name = "fused"

    def __init__(self, gan: DeviceGAN) -> None:
        self.gan = gan
        d, P, m = gan.device, gan.P, gan.config.batch
        rows = fused_rows(tuple(gan.G.sizes), tuple(gan.D.sizes), d.dtype.itemsize)
        self.blocks = {
            name: fused_blocks(fused_chunks(m, rows, name == "d")) for name in ("d", "g")}
        self.partial = {name: d.empty((P, blocks, net.params.shape[1]))
                        for (name, blocks), net in zip(self.blocks.items(), (gan.D, gan.G),
                                                       strict=True)}
        self.loss_partial = {name: d.empty((P, blocks)) for name, blocks in self.blocks.items()}

    def _networks(self) -> tuple:
        gan = self.gan
        (g_act, g_leak), (d_act, d_leak) = gan.G.hidden, gan.D.hidden
        return (gan.G.params, gan.D.params, gan.G.sizes, gan.D.sizes, g_act, g_leak, d_act,
                d_leak, gan.loss.name)

    def discriminator(self) -> None:
        gan = self.gan
        m = gan.config.batch
        gan.sample_real()
        noise = gan.training_noise()
        gan.ops.fused_discriminator_step(gan.real_samples, noise, *self._networks(),
                                         self.partial["d"], self.loss_partial["d"])
        clip = gan.config.clip if gan.loss.clip else 0.0
        gan.opt_d.fused_step(self.partial["d"], clip, self.loss_partial["d"], gan.values[0],
                             1.0 / m)

    def generator(self) -> None:
        gan = self.gan
        gan.ops.fused_generator_step(gan.training_noise(), *self._networks(),
                                     self.partial["g"], self.loss_partial["g"])
        gan.opt_g.fused_step(self.partial["g"], 0.0, self.loss_partial["g"], gan.values[1],
                             1.0 / gan.config.batch)


def choose_steps(gan: DeviceGAN, choice: str) -> PerOpSteps | FusedSteps:
    """FusedSteps where the networks allow it (or an error when fused was asked for and
    they do not), else PerOpSteps."""
    if choice == "per-op":
        return PerOpSteps(gan)
    # Packing: the fused D step takes one sample per row of D's input.
    reason = ("packing (pack > 1) is not fused" if gan.pack > 1 else None)
    reason = (reason or gan.G.fused_unsupported() or gan.D.fused_unsupported()
              or fused_unsupported(tuple(gan.G.sizes), tuple(gan.D.sizes),
                                   gan.device.dtype.itemsize))
    if reason is None:
        return FusedSteps(gan)
    if choice == "fused":
        raise ConfigError(f"--kernels fused: {reason}; use --kernels auto or per-op")
    return PerOpSteps(gan)

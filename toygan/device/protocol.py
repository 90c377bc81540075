"""`Ops`: the one interface of the ops a GAN step runs on a device.

Two implementations satisfy it: `toygan.device.reference` (a module of NumPy functions, the
reference of each kernel) and `toygan.device.ops.KernelOps` (the kernels, on the emulator or
a GPU). Each op has the same name and arguments in both; every op writes its outputs into
arrays it is given and allocates nothing. tests/device/test_ops_protocol.py checks that both
implement every method with these parameter names.
"""

from __future__ import annotations

from typing import Protocol


class Ops(Protocol):
    def linear_forward(self, x, wb, y, act: str, leak: float) -> None:
        ...

    def linear_backward_input(self, dy, wb, y_below, mask, dx, act: str, leak: float) -> None:
        ...

    def linear_backward_params(self, x, dy, gwb) -> None:
        ...

    def maxout_forward(self, z, y, arg, pieces: int) -> None:
        ...

    def maxout_backward(self, dy, arg, dz, pieces: int) -> None:
        ...

    def dropout_forward(self, x, u, y, mask, p: float) -> None:
        ...

    def batchnorm_forward(self, x, gb, y, xhat, inv_std, eps: float, act: str,
                          leak: float) -> None:
        ...

    def batchnorm_backward(self, dy, xhat, inv_std, gb, dx, ggb) -> None:
        ...

    def loss_discriminator(self, logits, grad, value, loss: str) -> None:
        ...

    def loss_generator(self, logits, grad, value, loss: str) -> None:
        ...

    def sgd_update(self, params, grads, velocity, lr, momentum) -> None:
        ...

    def adam_update(self, params, grads, m, v, beta1, beta2, eps, step_size,
                    inv_sqrt_bc2) -> None:
        ...

    def rmsprop_update(self, params, grads, square_avg, lr, alpha, eps) -> None:
        ...

    def clip_params(self, params, c: float) -> None:
        ...

    def philox4x32(self, counters, out, key: tuple[int, int]) -> None:
        ...

    def random_uniform(self, out, key: tuple[int, int], call: int, lo: float, hi: float):
        ...

    def random_normal(self, out, key: tuple[int, int], call: int) -> None:
        ...

    def random_uniform_members(self, out, keys, calls, lo: float, hi: float) -> None:
        ...

    def random_normal_members(self, out, keys, calls) -> None:
        ...

    def mixture_sample(self, u, z, cdf, means, stds, out) -> None:
        ...

    def nearest_mode(self, x, means, inv_stds, mode, dist) -> None:
        ...

    def mode_histogram(self, mode, dist, counts, threshold: float) -> None:
        ...

    def fused_discriminator_step(self, x_real, noise, g_params, d_params, g_dims, d_dims,
                                 g_act: str, g_leak: float, d_act: str, d_leak: float,
                                 loss: str, d_partial, loss_partial) -> None:
        ...

    def fused_generator_step(self, noise, g_params, d_params, g_dims, d_dims, g_act: str,
                             g_leak: float, d_act: str, d_leak: float, loss: str, g_partial,
                             loss_partial) -> None:
        ...

    def fused_update(self, partial, params, grads, s1, s2, rule: str, hyper, clip: float,
                     loss_partial, value, inv_m: float) -> None:
        ...

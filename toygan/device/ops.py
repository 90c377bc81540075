"""The kernels as Python functions: argument checks and the launch geometry, in one place.

`KernelOps(module)` has one method per kernel, with the name and arguments of its NumPy
reference in `toygan.device.reference`; it takes the grid and block from
`toygan.device.geometry` and launches the kernel through `module.launch` (the emulator's or
CuPy's, `toygan.device.launch`). So the geometry the emulator tests in CI is the geometry a
GPU runs. `Ops` is the protocol that both the references and `KernelOps` satisfy.
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import (
    ACTIVATION_CODES,
    LOSS_CODES,
    MAX_MODES,
    RULE_CODES,
    Geometry,
    column_geometry,
    elementwise_geometry,
    fused_chunks,
    fused_geometry,
    fused_rows,
    fused_unsupported,
    per_member_geometry,
    single_block_geometry,
    tiled_geometry,
)


# ------------------------------------------------------------------ checks
def member_stride(a, name: str) -> np.int32:
    """Elements between members of a (P, rows, cols) array whose members are contiguous."""
    item = a.itemsize
    if a.ndim != 3 or a.strides[2] != item or a.strides[1] != a.shape[2] * item:
        raise ValueError(f"{name}: each member must be a contiguous row-major matrix, got "
                         f"shape {a.shape} strides {a.strides}")
    return np.int32(a.strides[0] // item)


def _contiguous(a, name: str, dtype) -> None:
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be contiguous")
    if a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)}")


def _check_dtype(dtype, *named) -> None:
    for name, a in named:
        if a.dtype != dtype:
            raise ValueError(f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)}")


def _i32(value: int) -> np.int32:
    if not 0 <= value < 2**31:
        raise ValueError(f"size {value} does not fit the kernels' int arguments")
    return np.int32(value)


def _u32_pair(value: int) -> tuple[np.uint32, np.uint32]:
    return np.uint32(value & 0xFFFFFFFF), np.uint32((value >> 32) & 0xFFFFFFFF)


class KernelOps:
    """The kernels of one compiled module (emulator or CUDA), called like the references."""

    def __init__(self, module) -> None:
        self.module = module
        self.dtype = np.dtype(module.dtype)
        self.real = self.dtype.type

        self._layouts: dict[tuple[int, ...], object] = {}
        self._call_buffers: dict[int, object] = {}

    def _launch(self, name: str, geometry: Geometry, *args) -> None:
        grid, block = geometry
        self.module.launch(name, grid, block, args)

    def _layout(self, dims: tuple[int, ...]):
        """The int32 layout [L, d0, ..., dL] on the device, uploaded once per network."""
        if dims not in self._layouts:
            host = np.array([len(dims) - 1, *dims], dtype=np.int32)
            if self.module.kind == "cuda":
                import cupy

                host = cupy.asarray(host)
            self._layouts[dims] = host
        return self._layouts[dims]

    # ------------------------------------------------------------ linear.cu
    def linear_forward(self, x, wb, y, act: str, leak: float) -> None:
        P, B, K = x.shape
        N = wb.shape[2]
        if wb.shape[:2] != (P, K + 1) or y.shape != (P, B, N):
            raise ValueError(f"linear_forward: x {x.shape}, wb {wb.shape}, y {y.shape}")
        _check_dtype(self.dtype, ("x", x), ("wb", wb), ("y", y))
        self._launch("linear_forward", tiled_geometry(N, B, P), x, wb, y, _i32(B), _i32(K),
                     _i32(N), member_stride(x, "x"), member_stride(wb, "wb"),
                     member_stride(y, "y"), np.int32(ACTIVATION_CODES[act]), self.real(leak))

    def linear_backward_input(self, dy, wb, y_below, mask, dx, act: str, leak: float) -> None:
        P, B, N = dy.shape
        K = dx.shape[2]
        if wb.shape != (P, K + 1, N) or dx.shape != (P, B, K):
            raise ValueError(f"linear_backward_input: dy {dy.shape}, wb {wb.shape}, "
                             f"dx {dx.shape}")
        for name, a in (("dy", dy), ("dx", dx)):
            _contiguous(a, name, self.dtype)
        if act != "identity":
            _contiguous(y_below, "y_below", self.dtype)
        if mask is not None:
            _contiguous(mask, "mask", self.dtype)
        self._launch("linear_backward_input", tiled_geometry(K, B, P), dy, wb,
                     dx if y_below is None else y_below, dx if mask is None else mask, dx,
                     _i32(B), _i32(K), _i32(N), member_stride(wb, "wb"),
                     np.int32(ACTIVATION_CODES[act]), self.real(leak),
                     np.int32(mask is not None))

    def linear_backward_params(self, x, dy, gwb) -> None:
        P, B, K = x.shape
        N = dy.shape[2]
        if dy.shape != (P, B, N) or gwb.shape != (P, K + 1, N):
            raise ValueError(f"linear_backward_params: x {x.shape}, dy {dy.shape}, "
                             f"gwb {gwb.shape}")
        _contiguous(dy, "dy", self.dtype)
        _check_dtype(self.dtype, ("x", x), ("gwb", gwb))
        self._launch("linear_backward_params", tiled_geometry(N, K + 1, P), x, dy, gwb,
                     _i32(B), _i32(K), _i32(N), member_stride(x, "x"),
                     member_stride(gwb, "gwb"))

    # ------------------------------------------------------- activations.cu
    def maxout_forward(self, z, y, arg, pieces: int) -> None:
        rows, F = int(np.prod(y.shape[:-1])), y.shape[-1]
        if z.shape[-1] != F * pieces:
            raise ValueError(f"maxout_forward: z {z.shape} is not y {y.shape} x {pieces}")
        for name, a in (("z", z), ("y", y)):
            _contiguous(a, name, self.dtype)
        _contiguous(arg, "arg", np.int32)
        self._launch("maxout_forward", elementwise_geometry(rows * F), z, y, arg, _i32(rows),
                     _i32(F), _i32(pieces))

    def maxout_backward(self, dy, arg, dz, pieces: int) -> None:
        rows, F = int(np.prod(dy.shape[:-1])), dy.shape[-1]
        for name, a in (("dy", dy), ("dz", dz)):
            _contiguous(a, name, self.dtype)
        _contiguous(arg, "arg", np.int32)
        self._launch("maxout_backward", elementwise_geometry(rows * F), dy, arg, dz,
                     _i32(rows), _i32(F), _i32(pieces))

    def dropout_forward(self, x, u, y, mask, p: float) -> None:
        for name, a in (("x", x), ("u", u), ("y", y), ("mask", mask)):
            _contiguous(a, name, self.dtype)
        self._launch("dropout_forward", elementwise_geometry(x.size), x, u, y, mask,
                     _i32(x.size), self.real(p))

    # --------------------------------------------------------- batchnorm.cu
    def batchnorm_forward(self, x, gb, y, xhat, inv_std, eps: float, act: str,
                          leak: float) -> None:
        P, B, N = x.shape
        if B < 1 or gb.shape != (P, 2, N) or y.shape != x.shape or xhat.shape != x.shape \
                or inv_std.shape != (P, N):
            raise ValueError(f"batchnorm_forward: x {x.shape}, gb {gb.shape}, y {y.shape}, "
                             f"xhat {xhat.shape}, inv_std {inv_std.shape}")
        _check_dtype(self.dtype, ("x", x), ("gb", gb), ("y", y))
        for name, a in (("xhat", xhat), ("inv_std", inv_std)):
            _contiguous(a, name, self.dtype)
        self._launch("batchnorm_forward", column_geometry(N, P), x, gb, y, xhat, inv_std,
                     _i32(B), _i32(N), member_stride(x, "x"), member_stride(gb, "gb"),
                     member_stride(y, "y"), self.real(eps), np.int32(ACTIVATION_CODES[act]),
                     self.real(leak))

    def batchnorm_backward(self, dy, xhat, inv_std, gb, dx, ggb) -> None:
        P, B, N = dy.shape
        if B < 1 or xhat.shape != dy.shape or dx.shape != dy.shape or inv_std.shape != (P, N) \
                or gb.shape != (P, 2, N) or (ggb is not None and ggb.shape != (P, 2, N)):
            raise ValueError(f"batchnorm_backward: dy {dy.shape}, xhat {xhat.shape}, gb "
                             f"{gb.shape}, dx {dx.shape}, ggb {getattr(ggb, 'shape', None)}")
        for name, a in (("dy", dy), ("xhat", xhat), ("inv_std", inv_std), ("dx", dx)):
            _contiguous(a, name, self.dtype)
        _check_dtype(self.dtype, ("gb", gb), *(() if ggb is None else (("ggb", ggb),)))
        # Without ggb the kernel writes no parameter gradient; dx stands in for the pointer.
        self._launch("batchnorm_backward", column_geometry(N, P), dy, xhat, inv_std, gb, dx,
                     dx if ggb is None else ggb, _i32(B), _i32(N), member_stride(gb, "gb"),
                     member_stride(dx if ggb is None else ggb, "ggb"),
                     np.int32(ggb is not None))

    # ------------------------------------------------------------ losses.cu
    def loss_discriminator(self, logits, grad, value, loss: str) -> None:
        P, two_m, _ = logits.shape
        for name, a in (("logits", logits), ("grad", grad), ("value", value)):
            _contiguous(a, name, self.dtype)
        self._launch("loss_discriminator", per_member_geometry(P), logits, grad, value,
                     _i32(two_m // 2), np.int32(LOSS_CODES[loss]))

    def loss_generator(self, logits, grad, value, loss: str) -> None:
        P, m, _ = logits.shape
        for name, a in (("logits", logits), ("grad", grad), ("value", value)):
            _contiguous(a, name, self.dtype)
        self._launch("loss_generator", per_member_geometry(P), logits, grad, value, _i32(m),
                     np.int32(LOSS_CODES[loss]))

    # ------------------------------------------------------------- optim.cu
    def _flat(self, *named) -> int:
        for name, a in named:
            _contiguous(a, name, self.dtype)
        return named[0][1].size

    def sgd_update(self, params, grads, velocity, lr, momentum) -> None:
        n = self._flat(("params", params), ("grads", grads), ("velocity", velocity))
        self._launch("sgd_update", elementwise_geometry(n), params, grads, velocity, _i32(n),
                     self.real(lr), self.real(momentum))

    def adam_update(self, params, grads, m, v, beta1, beta2, eps, step_size,
                    inv_sqrt_bc2) -> None:
        n = self._flat(("params", params), ("grads", grads), ("m", m), ("v", v))
        r = self.real
        self._launch("adam_update", elementwise_geometry(n), params, grads, m, v, _i32(n),
                     r(beta1), r(beta2), r(eps), r(step_size), r(inv_sqrt_bc2))

    def rmsprop_update(self, params, grads, square_avg, lr, alpha, eps) -> None:
        n = self._flat(("params", params), ("grads", grads), ("square_avg", square_avg))
        r = self.real
        self._launch("rmsprop_update", elementwise_geometry(n), params, grads, square_avg,
                     _i32(n), r(lr), r(alpha), r(eps))

    def clip_params(self, params, c: float) -> None:
        n = self._flat(("params", params))
        self._launch("clip_params", elementwise_geometry(n), params, _i32(n), self.real(c))

    # ------------------------------------------------------------ random.cu
    def philox4x32(self, counters, out, key: tuple[int, int]) -> None:
        _contiguous(counters, "counters", np.uint32)
        _contiguous(out, "out", np.uint32)
        n = counters.shape[0]
        self._launch("philox4x32", elementwise_geometry(n), counters, out, _i32(n),
                     np.uint32(key[0]), np.uint32(key[1]))

    def random_uniform(self, out, key: tuple[int, int], call: int, lo: float, hi: float):
        _contiguous(out, "out", self.dtype)
        self._launch("random_uniform", elementwise_geometry(math.ceil(out.size / 4)), out,
                     _i32(out.size), np.uint32(key[0]), np.uint32(key[1]), *_u32_pair(call),
                     self.real(lo), self.real(hi))

    def random_normal(self, out, key: tuple[int, int], call: int) -> None:
        _contiguous(out, "out", self.dtype)
        self._launch("random_normal", elementwise_geometry(math.ceil(out.size / 4)), out,
                     _i32(out.size), np.uint32(key[0]), np.uint32(key[1]), *_u32_pair(call))

    def _member_draw_args(self, out, keys, calls) -> tuple:
        """(n, P, keys, calls) for a *_members kernel: keys a (P, 2) uint32 device array,
        calls P call numbers, written as (low, high) words into a buffer kept per P (so a
        step allocates nothing after the first)."""
        P = out.shape[0]
        _contiguous(out, "out", self.dtype)
        _contiguous(keys, "keys", np.uint32)
        if keys.shape != (P, 2) or len(calls) != P:
            raise ValueError(f"member draws: out {out.shape}, keys {keys.shape}, "
                             f"{len(calls)} calls")
        host = np.empty((P, 2), dtype=np.uint32)
        calls = np.asarray(calls, dtype=np.uint64)
        host[:, 0], host[:, 1] = calls & 0xFFFFFFFF, calls >> 32
        buffer = self._call_buffers.get(P)
        if buffer is None:
            if self.module.kind == "cuda":
                import cupy

                buffer = cupy.empty((P, 2), dtype=np.uint32)
            else:
                buffer = np.empty((P, 2), dtype=np.uint32)
            self._call_buffers[P] = buffer
        if self.module.kind == "cuda":
            buffer.set(host)
        else:
            buffer[...] = host
        return _i32(out[0].size), _i32(P), keys, buffer

    def random_uniform_members(self, out, keys, calls, lo: float, hi: float) -> None:
        n, P, keys, buffer = self._member_draw_args(out, keys, calls)
        self._launch("random_uniform_members",
                     elementwise_geometry(int(P) * math.ceil(int(n) / 4)), out, n, P, keys,
                     buffer, self.real(lo), self.real(hi))

    def random_normal_members(self, out, keys, calls) -> None:
        n, P, keys, buffer = self._member_draw_args(out, keys, calls)
        self._launch("random_normal_members",
                     elementwise_geometry(int(P) * math.ceil(int(n) / 4)), out, n, P, keys,
                     buffer)

    # ----------------------------------------------------------- mixture.cu
    def mixture_sample(self, u, z, cdf, means, stds, out) -> None:
        P, n, dim = out.shape
        C = len(cdf)
        if u.shape != (P, n) or z.shape != (P, n, dim) or means.shape != (C, dim):
            raise ValueError(f"mixture_sample: u {u.shape}, z {z.shape}, means {means.shape}, "
                             f"out {out.shape}")
        for name, a in (("u", u), ("z", z), ("cdf", cdf), ("means", means), ("stds", stds)):
            _contiguous(a, name, self.dtype)
        self._launch("mixture_sample", elementwise_geometry(P * n), u, z, cdf, means, stds,
                     out, _i32(P), _i32(n), _i32(C), _i32(dim), member_stride(out, "out"))

    def nearest_mode(self, x, means, inv_stds, mode, dist) -> None:
        n, dim = x.shape
        C = len(means)
        for name, a in (("x", x), ("means", means), ("inv_stds", inv_stds), ("dist", dist)):
            _contiguous(a, name, self.dtype)
        _contiguous(mode, "mode", np.int32)
        self._launch("nearest_mode", elementwise_geometry(n), x, means, inv_stds, mode, dist,
                     _i32(n), _i32(C), _i32(dim))

    def mode_histogram(self, mode, dist, counts, threshold: float) -> None:
        C = len(counts)
        if C > MAX_MODES:
            raise ValueError(f"mode_histogram holds at most {MAX_MODES} modes, got {C}")
        _contiguous(mode, "mode", np.int32)
        _contiguous(counts, "counts", np.int32)
        _contiguous(dist, "dist", self.dtype)
        self._launch("mode_histogram", single_block_geometry(), mode, dist, counts,
                     _i32(len(mode)), _i32(C), self.real(threshold))

    # ------------------------------------------------------------- fused.cu
    def _fused_step(self, name, discriminator, m, inputs, g_params, d_params, g_dims, d_dims,
                    g_act, g_leak, d_act, d_leak, loss, partial, loss_partial,
                    extra=()) -> None:
        g_dims, d_dims = tuple(g_dims), tuple(d_dims)
        reason = fused_unsupported(g_dims, d_dims, self.dtype.itemsize)
        if reason:
            raise ValueError(f"{name}: {reason}")
        P, blocks = loss_partial.shape
        R = fused_rows(g_dims, d_dims, self.dtype.itemsize)
        chunks = fused_chunks(m, R, discriminator)
        if not 1 <= blocks <= chunks:
            raise ValueError(f"{name}: {blocks} blocks for {chunks} chunks")
        if g_params.shape[0] != P or d_params.shape[0] != P or partial.shape[:2] != (P, blocks):
            raise ValueError(f"{name}: members and blocks disagree: params {g_params.shape}, "
                             f"{d_params.shape}, partial {partial.shape}, loss_partial "
                             f"{loss_partial.shape}")
        for label, a in (*inputs, ("g_params", g_params), ("d_params", d_params),
                         ("partial", partial), ("loss_partial", loss_partial)):
            if label != "x_real":
                _contiguous(a, label, self.dtype)
        self._launch(name, fused_geometry(blocks, P), *[a for _, a in inputs], g_params,
                     d_params, self._layout(g_dims), self._layout(d_dims),
                     np.int32(ACTIVATION_CODES[g_act]), self.real(g_leak),
                     np.int32(ACTIVATION_CODES[d_act]), self.real(d_leak), _i32(m), _i32(R),
                     np.int32(LOSS_CODES[loss]), _i32(g_params.shape[1]),
                     _i32(d_params.shape[1]), *extra, partial, loss_partial)

    def fused_discriminator_step(self, x_real, noise, g_params, d_params, g_dims, d_dims,
                                 g_act: str, g_leak: float, d_act: str, d_leak: float,
                                 loss: str, d_partial, loss_partial) -> None:
        P, m, dim = x_real.shape
        if noise.shape != (P, m, g_dims[0]) or dim != d_dims[0]:
            raise ValueError(f"fused_discriminator_step: x_real {x_real.shape}, noise "
                             f"{noise.shape}, G {tuple(g_dims)}, D {tuple(d_dims)}")
        _check_dtype(self.dtype, ("x_real", x_real))
        self._fused_step("fused_discriminator_step", True, m,
                         (("x_real", x_real), ("noise", noise)), g_params, d_params, g_dims,
                         d_dims, g_act, g_leak, d_act, d_leak, loss, d_partial, loss_partial,
                         extra=(member_stride(x_real, "x_real"),))

    def fused_generator_step(self, noise, g_params, d_params, g_dims, d_dims, g_act: str,
                             g_leak: float, d_act: str, d_leak: float, loss: str, g_partial,
                             loss_partial) -> None:
        P, m, nz = noise.shape
        if nz != g_dims[0]:
            raise ValueError(f"fused_generator_step: noise {noise.shape}, G {tuple(g_dims)}")
        self._fused_step("fused_generator_step", False, m, (("noise", noise),), g_params,
                         d_params, g_dims, d_dims, g_act, g_leak, d_act, d_leak, loss,
                         g_partial, loss_partial)

    def fused_update(self, partial, params, grads, s1, s2, rule: str, hyper, clip: float,
                     loss_partial, value, inv_m: float) -> None:
        P, blocks, n = partial.shape
        for label, a in (("partial", partial), ("params", params), ("grads", grads),
                         ("s1", s1), ("s2", s2), ("loss_partial", loss_partial),
                         ("value", value)):
            _contiguous(a, label, self.dtype)
        if params.shape != (P, n) or grads.shape != (P, n) or loss_partial.shape != (P, blocks):
            raise ValueError(f"fused_update: partial {partial.shape}, params {params.shape}, "
                             f"loss_partial {loss_partial.shape}")
        h = [self.real(x) for x in (*hyper, 0, 0, 0, 0, 0)[:5]]
        self._launch("fused_update", elementwise_geometry(P * n), partial, _i32(blocks),
                     params, grads, s1, s2, _i32(n), _i32(P), np.int32(RULE_CODES[rule]), *h,
                     self.real(clip), loss_partial, value, self.real(inv_m))

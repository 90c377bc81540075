"""NumPy references of the CUDA kernels in kernels/: one function per kernel, same name,
same arguments as the kernel's wrapper in `toygan.ops`, writing into the same outputs.

They are the specification the kernels are tested against (tests/test_kernels.py) and a
backend of their own: `toygan.engine` runs on this module or on `ops.KernelOps`
interchangeably, which is how one training step is compared across numpy, emu and cuda.
Shapes are those documented at the top of each .cu file; `act` is an activation name
(`ops.ACTIVATION_CODES`), `loss` a loss name (`ops.LOSS_CODES`). Arithmetic is done in the
arrays' own dtype, as the kernels do.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .losses import softplus


# ------------------------------------------------------------------ activations
def activate(z: np.ndarray, act: str, leak: float) -> np.ndarray:
    if act == "relu":
        return np.maximum(z, 0)
    if act == "leaky_relu":
        return np.where(z > 0, z, z * z.dtype.type(leak))
    if act == "tanh":
        return np.tanh(z)
    if act == "sigmoid":
        return expit(z)
    if act == "identity":
        return z
    raise ValueError(f"no fused activation {act!r}")


def activation_grad(y: np.ndarray, act: str, leak: float) -> np.ndarray:
    """act'(z) written through y = act(z), as the forward pass keeps y."""
    one = y.dtype.type(1)
    if act == "relu":
        return (y > 0).astype(y.dtype)
    if act == "leaky_relu":
        return np.where(y > 0, one, y.dtype.type(leak))
    if act == "tanh":
        return one - y * y
    if act == "sigmoid":
        return y * (one - y)
    if act == "identity":
        return np.ones_like(y)
    raise ValueError(f"no fused activation {act!r}")


# ---------------------------------------------------------------------- linear.cu
def linear_forward(x, wb, y, act: str, leak: float) -> None:
    k = x.shape[-1]
    y[...] = activate(x @ wb[:, :k] + wb[:, k:], act, leak)


def linear_backward_input(dy, wb, y_below, mask, dx, act: str, leak: float) -> None:
    k = dx.shape[-1]
    g = dy @ wb[:, :k].swapaxes(-1, -2)
    if act != "identity":
        g *= activation_grad(y_below, act, leak)
    if mask is not None:
        g *= mask
    dx[...] = g


def linear_backward_params(x, dy, gwb) -> None:
    k = x.shape[-1]
    gwb[:, :k] = x.swapaxes(-1, -2) @ dy
    gwb[:, k] = dy.sum(axis=1)


# ----------------------------------------------------------------- activations.cu
def maxout_forward(z, y, arg, pieces: int) -> None:
    grouped = z.reshape(*y.shape, pieces)
    arg[...] = np.argmax(grouped, axis=-1)  # first maximal piece on ties, as the kernel
    y[...] = np.take_along_axis(grouped, arg[..., None].astype(np.intp), axis=-1)[..., 0]


def maxout_backward(dy, arg, dz, pieces: int) -> None:
    grouped = dz.reshape(*dy.shape, pieces)
    grouped[...] = np.where(np.arange(pieces) == arg[..., None], dy[..., None], 0)


def dropout_forward(x, u, y, mask, p: float) -> None:
    scale = x.dtype.type(1) / (x.dtype.type(1) - x.dtype.type(p))
    mask[...] = np.where(u >= x.dtype.type(p), scale, x.dtype.type(0))
    y[...] = x * mask


# ---------------------------------------------------------------------- losses.cu
def loss_discriminator(logits, grad, value, loss: str) -> None:
    m = logits.shape[1] // 2
    real, fake = logits[:, :m, 0], logits[:, m:, 0]
    one = logits.dtype.type(1)
    if loss == "wasserstein":
        v_real, v_fake = -real, fake
        g_real, g_fake = np.full_like(real, -1), np.full_like(fake, 1)
    elif loss == "least_squares":
        v_real, v_fake = 0.5 * (real - one) ** 2, 0.5 * fake**2
        g_real, g_fake = real - one, fake
    elif loss in ("minimax", "nonsaturating"):
        v_real, v_fake = softplus(-real), softplus(fake)
        g_real, g_fake = -expit(-real), expit(fake)
    else:
        raise ValueError(f"unknown loss {loss!r}")
    grad[:, :m, 0] = g_real / m
    grad[:, m:, 0] = g_fake / m
    value[...] = (v_real.sum(axis=1) + v_fake.sum(axis=1)) / m


def loss_generator(logits, grad, value, loss: str) -> None:
    fake = logits[..., 0]
    m = fake.shape[1]
    if loss == "minimax":
        v, g = -softplus(fake), -expit(fake)
    elif loss == "nonsaturating":
        v, g = softplus(-fake), -expit(-fake)
    elif loss == "wasserstein":
        v, g = -fake, np.full_like(fake, -1)
    elif loss == "least_squares":
        v, g = 0.5 * (fake - 1) ** 2, fake - 1
    else:
        raise ValueError(f"unknown loss {loss!r}")
    grad[..., 0] = g / m
    value[...] = v.sum(axis=1) / m


# ----------------------------------------------------------------------- optim.cu
def sgd_update(params, grads, velocity, lr: float, momentum: float) -> None:
    velocity *= velocity.dtype.type(momentum)
    velocity += grads
    params -= params.dtype.type(lr) * velocity


def adam_update(params, grads, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2) -> None:
    t = params.dtype.type
    m[...] = t(beta1) * m + (t(1) - t(beta1)) * grads
    v[...] = t(beta2) * v + (t(1) - t(beta2)) * (grads * grads)
    params -= t(step_size) * (m / (np.sqrt(v) * t(inv_sqrt_bc2) + t(eps)))


def rmsprop_update(params, grads, square_avg, lr, alpha, eps) -> None:
    t = params.dtype.type
    square_avg[...] = t(alpha) * square_avg + (t(1) - t(alpha)) * (grads * grads)
    params -= t(lr) * (grads / (np.sqrt(square_avg) + t(eps)))


def clip_params(params, c: float) -> None:
    np.clip(params, -c, c, out=params)


# ---------------------------------------------------------------------- random.cu
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LOW = np.uint64(0xFFFFFFFF)


def philox4x32(counters, out, key: tuple[int, int]) -> None:
    """Philox4x32-10 of each row of counters (n, 4) uint32 under key (k0, k1)."""
    c = [counters[:, q].astype(np.uint64) for q in range(4)]
    k0, k1 = key
    for round_ in range(10):
        if round_:
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        p0, p1 = _M0 * c[0], _M1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _LOW,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & _LOW]
    out[...] = np.stack(c, axis=1).astype(np.uint32)


def _philox_words(n: int, key: tuple[int, int], call: int) -> np.ndarray:
    """The first n words of a call: groups g = 0.. with counter (g, 0, call_lo, call_hi)."""
    groups = (n + 3) // 4
    counters = np.zeros((groups, 4), dtype=np.uint32)
    counters[:, 0] = np.arange(groups, dtype=np.uint32)
    counters[:, 2] = call & 0xFFFFFFFF
    counters[:, 3] = call >> 32
    words = np.empty_like(counters)
    philox4x32(counters, words, key)
    return words


def _uniform_open(words: np.ndarray, dtype) -> np.ndarray:
    return ((words >> 9).astype(dtype) + dtype(0.5)) * dtype(2.0**-23)


def random_uniform(out, key: tuple[int, int], call: int, lo: float, hi: float) -> None:
    t = out.dtype.type
    u = _uniform_open(_philox_words(out.size, key, call).ravel()[: out.size], t)
    out.reshape(-1)[...] = t(lo) + (t(hi) - t(lo)) * u


def random_normal(out, key: tuple[int, int], call: int) -> None:
    t = out.dtype.type
    u = _uniform_open(_philox_words(out.size, key, call), t)  # (groups, 4)
    radius = np.sqrt(t(-2) * np.log(u[:, 0::2]))
    angle = t(6.283185307179586) * u[:, 1::2]
    z = np.empty_like(u)
    z[:, 0::2] = radius * np.cos(angle)
    z[:, 1::2] = radius * np.sin(angle)
    out.reshape(-1)[...] = z.ravel()[: out.size]


# --------------------------------------------------------------------- mixture.cu
def mixture_sample(u, z, cdf, means, stds, out) -> None:
    component = np.minimum((u[..., None] >= cdf).sum(axis=-1), len(cdf) - 1)
    out[...] = means[component] + stds[component] * z


def nearest_mode(x, means, inv_stds, mode, dist) -> None:
    t = (x[:, None, :] - means[None]) * inv_stds[None]
    d2 = (t * t).sum(axis=-1)
    mode[...] = np.argmin(d2, axis=1)
    dist[...] = np.sqrt(d2[np.arange(len(x)), mode])


def mode_histogram(mode, dist, counts, threshold: float) -> None:
    high_quality = dist < dist.dtype.type(threshold)
    counts[...] = np.bincount(mode[high_quality], minlength=len(counts))

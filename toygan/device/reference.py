"""NumPy references of the CUDA kernels in kernels/: one function per kernel, same name,
same arguments as the kernel's wrapper in `toygan.device.ops`, writing into the same outputs.

They are the specification the kernels are tested against (tests/test_kernels.py) and a
backend of their own: `toygan.gan.device_gan` runs on this module or on `ops.KernelOps`
interchangeably, which is how one training step is compared across numpy, emu and cuda.
Shapes are those documented at the top of each .cu file; `act` is an activation name
(`ops.ACTIVATION_CODES`), `loss` a loss name (`ops.LOSS_CODES`). Arithmetic is done in the
arrays' own dtype, as the kernels do.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..core.losses import softplus
from .geometry import fused_chunks, fused_rows


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


# ------------------------------------------------------------------- batchnorm.cu
def batchnorm_forward(x, gb, y, xhat, inv_std, eps: float, act: str, leak: float) -> None:
    """Batch statistics per member and feature over axis 1 (two passes, biased variance);
    gb (P, 2, N) holds gamma (row 0) and beta (row 1)."""
    t, B = x.dtype.type, x.shape[1]
    mean = x.sum(axis=1, keepdims=True) / t(B)
    d = x - mean
    s = t(1) / np.sqrt((d * d).sum(axis=1, keepdims=True) / t(B) + t(eps))
    inv_std[...] = s[:, 0]
    xhat[...] = d * s
    y[...] = activate(gb[:, :1] * xhat + gb[:, 1:], act, leak)


def batchnorm_backward(dy, xhat, inv_std, gb, dx, ggb) -> None:
    """dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)); ggb (unless None) gets
    sum(dy xhat) and sum(dy) over the batch."""
    t, B = dy.dtype.type, dy.shape[1]
    sum_g = dy.sum(axis=1, keepdims=True)
    sum_gx = (dy * xhat).sum(axis=1, keepdims=True)
    if ggb is not None:
        ggb[:, :1], ggb[:, 1:] = sum_gx, sum_g
    scale = gb[:, :1] * inv_std[:, None]
    dx[...] = (dy - (xhat * (sum_gx / t(B)) + sum_g / t(B))) * scale


# ---------------------------------------------------------------------- losses.cu
def _discriminator_terms(logits, is_real, loss: str):
    """Per-logit D loss and its derivative (loss_terms.cuh); real samples where is_real."""
    one = logits.dtype.type(1)
    if loss == "wasserstein":
        return np.where(is_real, -logits, logits), np.where(is_real, -one, one)
    if loss == "least_squares":
        r = np.where(is_real, logits - one, logits)
        return logits.dtype.type(0.5) * r * r, r
    if loss in ("minimax", "nonsaturating"):
        v = np.where(is_real, softplus(-logits), softplus(logits))
        return v, np.where(is_real, -expit(-logits), expit(logits))
    raise ValueError(f"unknown loss {loss!r}")


def _generator_terms(fake, loss: str):
    """Per-logit G loss and its derivative (loss_terms.cuh)."""
    one = fake.dtype.type(1)
    if loss == "minimax":
        return -softplus(fake), -expit(fake)
    if loss == "nonsaturating":
        return softplus(-fake), -expit(-fake)
    if loss == "wasserstein":
        return -fake, np.full_like(fake, -1)
    if loss == "least_squares":
        return fake.dtype.type(0.5) * (fake - one) ** 2, fake - one
    raise ValueError(f"unknown loss {loss!r}")


def loss_discriminator(logits, grad, value, loss: str) -> None:
    m = logits.shape[1] // 2
    is_real = (np.arange(2 * m) < m)[None]
    v, g = _discriminator_terms(logits[..., 0], is_real, loss)
    grad[..., 0] = g / m
    value[...] = v.sum(axis=1) / m


def loss_generator(logits, grad, value, loss: str) -> None:
    fake = logits[..., 0]
    m = fake.shape[1]
    v, g = _generator_terms(fake, loss)
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


def random_uniform_members(out, keys, calls, lo: float, hi: float) -> None:
    """Member p of out (P, n) draws random_uniform with key keys[p] and call calls[p]."""
    for p in range(out.shape[0]):
        random_uniform(out[p], (int(keys[p, 0]), int(keys[p, 1])), int(calls[p]), lo, hi)


def random_normal_members(out, keys, calls) -> None:
    for p in range(out.shape[0]):
        random_normal(out[p], (int(keys[p, 0]), int(keys[p, 1])), int(calls[p]))


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


# ----------------------------------------------------------------------- fused.cu
def _mlp_layers(params, dims) -> list:
    """Views (K+1, N) of each Linear layer's block in one member's flat parameters."""
    blocks, offset = [], 0
    for k, n in zip(dims[:-1], dims[1:], strict=False):
        blocks.append(params[offset:offset + (k + 1) * n].reshape(1, k + 1, n))
        offset += (k + 1) * n
    return blocks


def _mlp_forward(layers, act: str, leak: float, x) -> list:
    """The activations a_0 = x, ..., a_L of an MLP (hidden `act`, identity output)."""
    acts = [x]
    for i, wb in enumerate(layers):
        y = np.empty((1, x.shape[1], wb.shape[2]), dtype=x.dtype)
        linear_forward(acts[-1], wb, y, act if i + 1 < len(layers) else "identity", leak)
        acts.append(y)
    return acts


def _mlp_backward(layers, acts, act: str, leak: float, dz, gwbs, input_grad: bool):
    """Back from dz = dL/d(output); parameter gradients into gwbs (unless None)."""
    for i in range(len(layers) - 1, -1, -1):
        if gwbs is not None:
            linear_backward_params(acts[i], dz, gwbs[i])
        if i == 0 and not input_grad:
            return None
        dx = np.empty_like(acts[i])
        linear_backward_input(dz, layers[i], acts[i] if i else None, None, dx,
                              act if i else "identity", leak)
        dz = dx
    return dz


def _fused_chunks_of_block(block: int, blocks: int, chunks: int) -> list[int]:
    return list(range(block, chunks, blocks))


def fused_discriminator_step(x_real, noise, g_params, d_params, g_dims, d_dims, g_act: str,
                             g_leak: float, d_act: str, d_leak: float, loss: str, d_partial,
                             loss_partial) -> None:
    """Per block b of the kernel's grid, the sum over the rows of its chunks (fused.cu) of
    the D loss's parameter gradient (carrying 1/m) and of the per-row losses."""
    P, m, _ = x_real.shape
    blocks = loss_partial.shape[1]
    R = fused_rows(tuple(g_dims), tuple(d_dims), x_real.dtype.itemsize)
    real_chunks = fused_chunks(m, R, False)
    t = x_real.dtype.type
    for p in range(P):
        g_layers, d_layers = _mlp_layers(g_params[p], g_dims), _mlp_layers(d_params[p], d_dims)
        fake = _mlp_forward(g_layers, g_act, g_leak, noise[p:p + 1])[-1]
        inputs = np.concatenate([x_real[p:p + 1], fake], axis=1)
        for b in range(blocks):
            rows = []
            for c in _fused_chunks_of_block(b, blocks, 2 * real_chunks):
                start = c * R if c < real_chunks else m + (c - real_chunks) * R
                stop = min(start + R, m if c < real_chunks else 2 * m)
                rows.extend(range(start, stop))
            rows = np.array(rows)
            acts = _mlp_forward(d_layers, d_act, d_leak, inputs[:, rows])
            logits = acts[-1][0, :, 0]
            is_real = rows < m
            v, g = _discriminator_terms(logits, is_real, loss)
            dz = (g / t(m)).reshape(1, -1, 1)
            gwbs = [np.empty_like(wb) for wb in d_layers]
            _mlp_backward(d_layers, acts, d_act, d_leak, dz, gwbs, input_grad=False)
            d_partial[p, b] = np.concatenate([gwb.reshape(-1) for gwb in gwbs])
            loss_partial[p, b] = v.sum()


def fused_generator_step(noise, g_params, d_params, g_dims, d_dims, g_act: str, g_leak: float,
                         d_act: str, d_leak: float, loss: str, g_partial,
                         loss_partial) -> None:
    """Per block b, the sum over its chunks' rows of the G loss's parameter gradient
    (through D's input gradient, carrying 1/m) and of the per-row losses."""
    P, m, _ = noise.shape
    blocks = loss_partial.shape[1]
    R = fused_rows(tuple(g_dims), tuple(d_dims), noise.dtype.itemsize)
    for p in range(P):
        g_layers, d_layers = _mlp_layers(g_params[p], g_dims), _mlp_layers(d_params[p], d_dims)
        for b in range(blocks):
            rows = np.concatenate([np.arange(c * R, min(c * R + R, m)) for c in
                                   _fused_chunks_of_block(b, blocks, fused_chunks(m, R, False))])
            g_acts = _mlp_forward(g_layers, g_act, g_leak, noise[p:p + 1, rows])
            d_acts = _mlp_forward(d_layers, d_act, d_leak, g_acts[-1])
            v, g = _generator_terms(d_acts[-1][..., 0], loss)
            grad = (g / noise.dtype.type(m))[..., None]
            grad_fake = _mlp_backward(d_layers, d_acts, d_act, d_leak, grad, None, True)
            gwbs = [np.empty_like(wb) for wb in g_layers]
            _mlp_backward(g_layers, g_acts, g_act, g_leak, grad_fake, gwbs, input_grad=False)
            g_partial[p, b] = np.concatenate([gwb.reshape(-1) for gwb in gwbs])
            loss_partial[p, b] = v.sum()


def fused_update(partial, params, grads, s1, s2, rule: str, hyper, clip: float, loss_partial,
                 value, inv_m: float) -> None:
    """grads = the sum of the blocks' partial gradients; then the rule's update (the
    references above) and clipping when clip > 0; value = inv_m x the summed losses."""
    grads[...] = partial.sum(axis=1)
    if rule == "sgd":
        sgd_update(params, grads, s1, *hyper[:2])
    elif rule == "adam":
        adam_update(params, grads, s1, s2, *hyper[:5])
    elif rule == "rmsprop":
        rmsprop_update(params, grads, s1, *hyper[:3])
    else:
        raise ValueError(f"unknown rule {rule!r}")
    if clip > 0:
        clip_params(params, clip)
    value[...] = loss_partial.sum(axis=1) * value.dtype.type(inv_m)

// optim.cu: optimiser updates over one flat parameter buffer (all layers, all members),
// in place, with the rules of toygan.optim (PyTorch's conventions):
//   sgd_update      v = momentum v + g;                     p -= lr v
//   adam_update     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//                   p -= step_size m / (sqrt(v) * inv_sqrt_bc2 + eps),
//                   step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t) (host)
//   rmsprop_update  s = alpha s + (1-alpha) g^2;            p -= lr g / (sqrt(s) + eps)
//   clip_params     p = min(max(p, -c), c)                  (WGAN's weight clipping)
// Shapes: params, grads and every state buffer (n,) with n = P * n_params.
// Launch geometry: 1-D, blocks of BLOCK_1D threads, grid-stride loops.
#include "common.cuh"

#define GRID_STRIDE(at, n)                                                  \
    for (long at = (long)blockIdx.x * blockDim.x + threadIdx.x; at < (n); \
         at += (long)gridDim.x * blockDim.x)

extern "C" __global__ void sgd_update(real* __restrict__ params, const real* __restrict__ grads,
                                      real* __restrict__ velocity, int n, real lr,
                                      real momentum) {
    GRID_STRIDE(at, n) {
        const real v = momentum * velocity[at] + grads[at];
        velocity[at] = v;
        params[at] -= lr * v;
    }
}

extern "C" __global__ void adam_update(real* __restrict__ params, const real* __restrict__ grads,
                                       real* __restrict__ m, real* __restrict__ v, int n,
                                       real beta1, real beta2, real eps, real step_size,
                                       real inv_sqrt_bc2) {
    GRID_STRIDE(at, n) {
        const real g = grads[at];
        const real m_new = beta1 * m[at] + ((real)1 - beta1) * g;
        const real v_new = beta2 * v[at] + ((real)1 - beta2) * (g * g);
        m[at] = m_new;
        v[at] = v_new;
        params[at] -= step_size * (m_new / (r_sqrt(v_new) * inv_sqrt_bc2 + eps));
    }
}

extern "C" __global__ void rmsprop_update(real* __restrict__ params,
                                          const real* __restrict__ grads,
                                          real* __restrict__ square_avg, int n, real lr,
                                          real alpha, real eps) {
    GRID_STRIDE(at, n) {
        const real g = grads[at];
        const real s = alpha * square_avg[at] + ((real)1 - alpha) * (g * g);
        square_avg[at] = s;
        params[at] -= lr * (g / (r_sqrt(s) + eps));
    }
}

extern "C" __global__ void clip_params(real* __restrict__ params, int n, real c) {
    GRID_STRIDE(at, n) { params[at] = r_min(r_max(params[at], -c), c); }
}

// optim.cu: optimiser updates over one flat parameter buffer (all layers, all members),
// in place, with the rules of toygan.core.optim (PyTorch's conventions; the formulas are in
// update_rules.cuh, shared with the fused steps):
//   sgd_update, adam_update, rmsprop_update   one rule over every element;
//   clip_params     p = min(max(p, -c), c)    (WGAN's weight clipping)
// Shapes: params, grads and every state buffer (n,) with n = P * n_params.
// Launch geometry: 1-D, blocks of BLOCK_1D threads, grid-stride loops.
#include "update_rules.cuh"

extern "C" __global__ void sgd_update(real* __restrict__ params, const real* __restrict__ grads,
                                      real* __restrict__ velocity, int n, real lr,
                                      real momentum) {
    GRID_STRIDE(at, n) {
        sgd_rule(params[at], grads[at], velocity[at], lr, momentum);
    }
}

extern "C" __global__ void adam_update(real* __restrict__ params, const real* __restrict__ grads,
                                       real* __restrict__ m, real* __restrict__ v, int n,
                                       real beta1, real beta2, real eps, real step_size,
                                       real inv_sqrt_bc2) {
    GRID_STRIDE(at, n) {
        adam_rule(params[at], grads[at], m[at], v[at], beta1, beta2, eps, step_size,
                  inv_sqrt_bc2);
    }
}

extern "C" __global__ void rmsprop_update(real* __restrict__ params,
                                          const real* __restrict__ grads,
                                          real* __restrict__ square_avg, int n, real lr,
                                          real alpha, real eps) {
    GRID_STRIDE(at, n) {
        rmsprop_rule(params[at], grads[at], square_avg[at], lr, alpha, eps);
    }
}

extern "C" __global__ void clip_params(real* __restrict__ params, int n, real c) {
    GRID_STRIDE(at, n) { params[at] = r_min(r_max(params[at], -c), c); }
}

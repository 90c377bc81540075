// update_rules.cuh: one parameter's optimiser update, with the rules of toygan.core.optim
// (PyTorch's conventions), shared by the per-op update kernels (optim.cu) and the fused
// reduce-and-update kernel (fused.cu):
//   sgd      v = momentum v + g;                     p -= lr v
//   adam     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//            p -= step_size m / (sqrt(v) * inv_sqrt_bc2 + eps),
//            step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t) (host)
//   rmsprop  s = alpha s + (1-alpha) g^2;            p -= lr g / (sqrt(s) + eps)
// Rule codes (toygan.device.geometry.RULE_CODES): 0 sgd, 1 adam, 2 rmsprop.
#pragma once
#include "common.cuh"

#define RULE_SGD 0
#define RULE_ADAM 1
#define RULE_RMSPROP 2

__device__ __forceinline__ void sgd_rule(real& p, real g, real& velocity, real lr,
                                         real momentum) {
    const real v = momentum * velocity + g;
    velocity = v;
    p -= lr * v;
}

__device__ __forceinline__ void adam_rule(real& p, real g, real& m, real& v, real beta1,
                                          real beta2, real eps, real step_size,
                                          real inv_sqrt_bc2) {
    const real m_new = beta1 * m + ((real)1 - beta1) * g;
    const real v_new = beta2 * v + ((real)1 - beta2) * (g * g);
    m = m_new;
    v = v_new;
    p -= step_size * (m_new / (r_sqrt(v_new) * inv_sqrt_bc2 + eps));
}

__device__ __forceinline__ void rmsprop_rule(real& p, real g, real& square_avg, real lr,
                                             real alpha, real eps) {
    const real s = alpha * square_avg + ((real)1 - alpha) * (g * g);
    square_avg = s;
    p -= lr * (g / (r_sqrt(s) + eps));
}

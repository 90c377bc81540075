// losses.cu: the GAN losses on D's logits, per sample and their batch mean.
//
// Every loss is minimised; the gradient is that of the batch mean, so it carries the 1/m
// factor. The per-logit terms (and the loss codes) are in loss_terms.cuh.
//
//   loss_discriminator  logits (P, 2m): rows 0..m-1 D's output on real samples, m..2m-1 on
//                       generated ones -> grad (P, 2m), value (P,) = mean over the real half
//                       + mean over the generated half:
//                         minimax, non-saturating: softplus(-l) | softplus(l)   (BCE)
//                         Wasserstein:              -l          | l
//                         least squares:            (l-1)^2 / 2 | l^2 / 2
//   loss_generator      logits (P, m) on generated samples -> grad (P, m), value (P,):
//                         minimax -softplus(l); non-saturating softplus(-l);
//                         Wasserstein -l; least squares (l-1)^2 / 2.
// Launch geometry: one block of BLOCK_1D threads per member (grid (P, 1, 1)); each thread
// strides over the samples, then a shared-memory tree reduction gives the mean.
#include "loss_terms.cuh"

// Sums `own` over the block; the result is valid in thread 0. Every thread must call it.
__device__ __forceinline__ real block_sum(real own, real* scratch) {
    const int t = threadIdx.x;
    scratch[t] = own;
    __syncthreads();
    for (int half = BLOCK_1D / 2; half > 0; half /= 2) {
        if (t < half) scratch[t] += scratch[t + half];
        __syncthreads();
    }
    return scratch[0];
}

extern "C" __global__ void loss_discriminator(const real* __restrict__ logits,
                                              real* __restrict__ grad,
                                              real* __restrict__ value, int m, int kind) {
    __shared__ real scratch[BLOCK_1D];
    const int p = blockIdx.x;
    logits += (long)p * 2 * m;
    grad += (long)p * 2 * m;
    const real inv_m = (real)1 / (real)m;
    real sum = 0;
    for (int i = threadIdx.x; i < 2 * m; i += blockDim.x) {
        const real l = logits[i];
        real v, g;
        discriminator_loss_term(l, i < m, kind, v, g);
        grad[i] = g * inv_m;
        sum += v;
    }
    const real total = block_sum(sum, scratch);
    if (threadIdx.x == 0) value[p] = total * inv_m;
}

extern "C" __global__ void loss_generator(const real* __restrict__ logits,
                                          real* __restrict__ grad, real* __restrict__ value,
                                          int m, int kind) {
    __shared__ real scratch[BLOCK_1D];
    const int p = blockIdx.x;
    logits += (long)p * m;
    grad += (long)p * m;
    const real inv_m = (real)1 / (real)m;
    real sum = 0;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        const real l = logits[i];
        real v, g;
        generator_loss_term(l, kind, v, g);
        grad[i] = g * inv_m;
        sum += v;
    }
    const real total = block_sum(sum, scratch);
    if (threadIdx.x == 0) value[p] = total * inv_m;
}

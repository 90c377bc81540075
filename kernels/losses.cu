// losses.cu: the GAN losses on D's logits, per sample and their batch mean.
//
// Loss codes (toygan.ops.LOSS_CODES): 0 minimax, 1 non-saturating, 2 Wasserstein,
// 3 least squares. Every loss is minimised; the gradient is that of the batch mean, so it
// carries the 1/m factor. softplus and sigmoid are the overflow-free forms of common.cuh.
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
#include "common.cuh"

#define LOSS_MINIMAX 0
#define LOSS_NONSATURATING 1
#define LOSS_WASSERSTEIN 2
#define LOSS_LEAST_SQUARES 3

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
        const bool real_half = i < m;
        real v, g;
        if (kind == LOSS_WASSERSTEIN) {
            v = real_half ? -l : l;
            g = real_half ? (real)-1 : (real)1;
        } else if (kind == LOSS_LEAST_SQUARES) {
            const real r = real_half ? l - (real)1 : l;
            v = (real)0.5 * r * r;
            g = r;
        } else {  // binary cross-entropy: -log D(x) and -log(1 - D(G(z)))
            v = real_half ? softplus(-l) : softplus(l);
            g = real_half ? -sigmoid(-l) : sigmoid(l);
        }
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
        if (kind == LOSS_MINIMAX) {  // log(1 - D(G(z))) = -softplus(l)
            v = -softplus(l);
            g = -sigmoid(l);
        } else if (kind == LOSS_NONSATURATING) {  // -log D(G(z)) = softplus(-l)
            v = softplus(-l);
            g = -sigmoid(-l);
        } else if (kind == LOSS_WASSERSTEIN) {
            v = -l;
            g = (real)-1;
        } else {
            const real r = l - (real)1;
            v = (real)0.5 * r * r;
            g = r;
        }
        grad[i] = g * inv_m;
        sum += v;
    }
    const real total = block_sum(sum, scratch);
    if (threadIdx.x == 0) value[p] = total * inv_m;
}

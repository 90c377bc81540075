// loss_terms.cuh: the value and gradient of each GAN loss for one logit, shared by the
// per-sample loss kernels (losses.cu) and the fused training steps (fused.cu).
//
// Loss codes (toygan.device.geometry.LOSS_CODES): 0 minimax, 1 non-saturating, 2 Wasserstein,
// 3 least squares. softplus and sigmoid are the overflow-free forms of common.cuh.
#pragma once
#include "common.cuh"

#define LOSS_MINIMAX 0
#define LOSS_NONSATURATING 1
#define LOSS_WASSERSTEIN 2
#define LOSS_LEAST_SQUARES 3

// D's loss on one logit l, of a real sample (real_half) or a generated one:
//   minimax, non-saturating: softplus(-l) | softplus(l)   (BCE)
//   Wasserstein:              -l          | l
//   least squares:            (l-1)^2 / 2 | l^2 / 2
// v is the loss, g its derivative in l (without the batch's 1/m).
__device__ __forceinline__ void discriminator_loss_term(real l, bool real_half, int kind,
                                                        real& v, real& g) {
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
}

// G's loss on D's logit l of a generated sample: minimax -softplus(l) (= log(1 - D));
// non-saturating softplus(-l) (= -log D); Wasserstein -l; least squares (l-1)^2 / 2.
__device__ __forceinline__ void generator_loss_term(real l, int kind, real& v, real& g) {
    if (kind == LOSS_MINIMAX) {
        v = -softplus(l);
        g = -sigmoid(l);
    } else if (kind == LOSS_NONSATURATING) {
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
}

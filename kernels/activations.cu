// activations.cu: the layers between Linear layers that are not fused into them.
// (ReLU, leaky ReLU, tanh and sigmoid are fused: their forward into linear_forward, their
// backward into linear_backward_input.)
//
//   maxout_forward   z (R, F * pieces) -> y (R, F): y[r, f] = max_q z[r, f * pieces + q],
//                    arg[r, f] = the first q attaining it (int32);
//   maxout_backward  dy (R, F), arg -> dz (R, F * pieces): dy at the winning piece, 0 at the
//                    others (every element of dz is written, no zero-fill needed);
//   dropout_forward  x, u (n) uniform on (0, 1) -> mask = (u >= p) / (1 - p), y = x * mask.
// R = P * batch rows (activations are contiguous over members). Launch geometry: 1-D,
// blocks of BLOCK_1D threads, one thread per output element of the forward (R * F or n),
// grid-stride loops so any grid size is correct.
#include "common.cuh"

extern "C" __global__ void maxout_forward(const real* __restrict__ z, real* __restrict__ y,
                                          int* __restrict__ arg, int R, int F, int pieces) {
    const long n = (long)R * F;
    for (long at = (long)blockIdx.x * blockDim.x + threadIdx.x; at < n;
         at += (long)gridDim.x * blockDim.x) {
        const real* group = z + at * pieces;  // row r, unit f: z[r, f*pieces ..]
        real best = group[0];
        int best_q = 0;
        for (int q = 1; q < pieces; ++q) {
            if (group[q] > best) {
                best = group[q];
                best_q = q;
            }
        }
        y[at] = best;
        arg[at] = best_q;
    }
}

extern "C" __global__ void maxout_backward(const real* __restrict__ dy,
                                           const int* __restrict__ arg,
                                           real* __restrict__ dz, int R, int F, int pieces) {
    const long n = (long)R * F;
    for (long at = (long)blockIdx.x * blockDim.x + threadIdx.x; at < n;
         at += (long)gridDim.x * blockDim.x) {
        real* group = dz + at * pieces;
        for (int q = 0; q < pieces; ++q) group[q] = q == arg[at] ? dy[at] : (real)0;
    }
}

extern "C" __global__ void dropout_forward(const real* __restrict__ x,
                                           const real* __restrict__ u, real* __restrict__ y,
                                           real* __restrict__ mask, int n, real p) {
    const real scale = (real)1 / ((real)1 - p);
    for (long at = (long)blockIdx.x * blockDim.x + threadIdx.x; at < n;
         at += (long)gridDim.x * blockDim.x) {
        const real keep = u[at] >= p ? scale : (real)0;
        mask[at] = keep;
        y[at] = x[at] * keep;
    }
}

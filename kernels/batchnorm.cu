// batchnorm.cu: batch normalisation (toygan.core.nn.BatchNorm), forward and backward,
// batched over population members, with the activation that follows it fused in.
//
// Per member and feature, over the B rows of the member's batch: mean = sum(x) / B,
// var = sum((x - mean)^2) / B (biased, two passes), inv_std = 1 / sqrt(var + eps),
// xhat = (x - mean) inv_std, y = act(gamma xhat + beta). The statistics are always the
// batch's own (no running averages), as in the numpy layer.
//
// Shapes (member p of P; "stride" = elements from one member to the next):
//   x       (P, B, N)  the Linear layer's output                    member stride sx
//   gb      (P, 2, N)  row 0 gamma, row 1 beta (in the flat params)  member stride sg
//   y       (P, B, N)  act(gamma xhat + beta)                        member stride sy
//   xhat    (P, B, N)  kept for the backward                         contiguous
//   inv_std (P, N)     kept for the backward                         contiguous
//   dy      (P, B, N)  dL/d(gamma xhat + beta): the activation's derivative is already
//                      applied (linear_backward_input or maxout_backward did it)
//   dx      (P, B, N)  dL/dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat))
//   ggb     (P, 2, N)  dL/dgamma = sum(dy xhat), dL/dbeta = sum(dy)  member stride sgg
// Within a member every matrix is contiguous row-major.
//
// Launch geometry (toygan.device.geometry.column_geometry): blocks of TILE x TILE threads,
// grid (ceil(N / TILE), 1, P). threadIdx.x is a feature (column j = blockIdx.x * TILE +
// threadIdx.x), threadIdx.y one of TILE lanes striding over the rows; the lanes' partial
// sums meet in shared memory and are added in a fixed tree order, so a run is reproducible
// bit for bit (no atomics). Threads past the last feature load nothing but meet every
// barrier.
#include "common.cuh"

// The sum of `own` over the TILE lanes of the caller's column, returned to every thread of
// the column. Each thread writes its own slot before any is read; the last barrier keeps
// the next call's writes from overtaking this call's reads. Every thread must call it.
__device__ __forceinline__ real column_sum(real own, real (*scratch)[TILE + 1]) {
    const int tx = threadIdx.x, ty = threadIdx.y;
    scratch[ty][tx] = own;
    __syncthreads();
    for (int half = TILE / 2; half > 0; half /= 2) {
        if (ty < half) scratch[ty][tx] += scratch[ty + half][tx];
        __syncthreads();
    }
    const real total = scratch[0][tx];
    __syncthreads();
    return total;
}

extern "C" __global__ void batchnorm_forward(const real* __restrict__ x,
                                             const real* __restrict__ gb,
                                             real* __restrict__ y, real* __restrict__ xhat,
                                             real* __restrict__ inv_std, int B, int N, int sx,
                                             int sg, int sy, real eps, int act, real leak) {
    __shared__ real scratch[TILE][TILE + 1];
    const int p = blockIdx.z, ty = threadIdx.y;
    const int j = blockIdx.x * TILE + threadIdx.x;
    const bool column = j < N;
    x += (long)p * sx;
    y += (long)p * sy;
    gb += (long)p * sg;
    xhat += (long)p * B * N;
    inv_std += (long)p * N;
    real sum = 0;
    if (column)
        for (int i = ty; i < B; i += TILE) sum += x[(long)i * N + j];
    const real mean = column_sum(sum, scratch) / (real)B;
    // The variance from the deviations, not as mean(x^2) - mean^2, which cancels to
    // noise when |mean| is large against the spread (a Linear bias, say).
    real squares = 0;
    if (column) {
        for (int i = ty; i < B; i += TILE) {
            const real d = x[(long)i * N + j] - mean;
            squares += d * d;
        }
    }
    const real var = column_sum(squares, scratch) / (real)B;
    if (!column) return;  // no barrier follows
    const real s = (real)1 / r_sqrt(var + eps);
    if (ty == 0) inv_std[j] = s;
    const real gamma = gb[j], beta = gb[N + j];
    for (int i = ty; i < B; i += TILE) {
        const long at = (long)i * N + j;
        const real h = (x[at] - mean) * s;
        xhat[at] = h;
        y[at] = activate(gamma * h + beta, act, leak);
    }
}

// dx and, when param_grads, ggb (otherwise ggb is not touched and may be any pointer).
extern "C" __global__ void batchnorm_backward(const real* __restrict__ dy,
                                              const real* __restrict__ xhat,
                                              const real* __restrict__ inv_std,
                                              const real* __restrict__ gb,
                                              real* __restrict__ dx, real* __restrict__ ggb,
                                              int B, int N, int sg, int sgg,
                                              int param_grads) {
    __shared__ real scratch[TILE][TILE + 1];
    const int p = blockIdx.z, ty = threadIdx.y;
    const int j = blockIdx.x * TILE + threadIdx.x;
    const bool column = j < N;
    const long rows = (long)p * B * N;
    dy += rows;
    xhat += rows;
    dx += rows;
    inv_std += (long)p * N;
    gb += (long)p * sg;
    ggb += (long)p * sgg;
    real sum_g = 0, sum_gx = 0;
    if (column) {
        for (int i = ty; i < B; i += TILE) {
            const long at = (long)i * N + j;
            sum_g += dy[at];
            sum_gx += dy[at] * xhat[at];
        }
    }
    const real total_g = column_sum(sum_g, scratch);
    const real total_gx = column_sum(sum_gx, scratch);
    if (!column) return;  // no barrier follows
    if (param_grads && ty == 0) {
        ggb[j] = total_gx;
        ggb[N + j] = total_g;
    }
    const real mean_g = total_g / (real)B, mean_gx = total_gx / (real)B;
    const real scale = gb[j] * inv_std[j];
    for (int i = ty; i < B; i += TILE) {
        const long at = (long)i * N + j;
        dx[at] = (dy[at] - (xhat[at] * mean_gx + mean_g)) * scale;
    }
}

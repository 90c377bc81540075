// mixture.cu: the data distribution (a Gaussian mixture with C components, diagonal
// stds, in `dim` dimensions) and the mode statistics of the metrics.
//
//   mixture_sample  u (P * n,) uniform on (0, 1), z (P * n, dim) standard normal ->
//                   out[p, i] = means[c] + stds[c] * z[p * n + i], c = the first
//                   component with u < cdf[c] (the last one if none: rounding of cdf);
//                   out is (P, n, dim) with member stride `so` (D's input buffer holds the
//                   real samples in the first half of each member's rows).
//   nearest_mode    x (n, dim) -> mode (n,) int32, the component minimising the
//                   std-normalised distance || (x - mu_c) * inv_std_c || (first on ties),
//                   and dist (n,) that distance (the PacGAN rule, toygan.core.metrics);
//   mode_histogram  mode, dist (n,) -> counts (C,) int32: the samples within `threshold`
//                   of their nearest mode (the high-quality ones), per mode.
// cdf (C,), means, stds, inv_stds (C, dim). Launch geometry: 1-D blocks of BLOCK_1D
// threads, one thread per row, grid-stride; mode_histogram runs as ONE block (grid 1) that
// counts in shared memory with atomics and then writes every count, zeros included
// (C <= MAX_MODES).
#include "common.cuh"

extern "C" __global__ void mixture_sample(const real* __restrict__ u, const real* __restrict__ z,
                                          const real* __restrict__ cdf,
                                          const real* __restrict__ means,
                                          const real* __restrict__ stds, real* __restrict__ out,
                                          int P, int n, int C, int dim, int so) {
    const long rows = (long)P * n;
    for (long r = (long)blockIdx.x * blockDim.x + threadIdx.x; r < rows;
         r += (long)gridDim.x * blockDim.x) {
        int c = 0;
        while (c < C - 1 && !(u[r] < cdf[c])) ++c;
        const long p = r / n, i = r % n;
        real* row = out + p * so + i * dim;
        for (int d = 0; d < dim; ++d)
            row[d] = means[c * dim + d] + stds[c * dim + d] * z[r * dim + d];
    }
}

extern "C" __global__ void nearest_mode(const real* __restrict__ x,
                                        const real* __restrict__ means,
                                        const real* __restrict__ inv_stds,
                                        int* __restrict__ mode, real* __restrict__ dist, int n,
                                        int C, int dim) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x) {
        real best = 0;
        int best_c = 0;
        for (int c = 0; c < C; ++c) {
            real d2 = 0;
            for (int d = 0; d < dim; ++d) {
                const real t = (x[i * dim + d] - means[c * dim + d]) * inv_stds[c * dim + d];
                d2 += t * t;
            }
            if (c == 0 || d2 < best) {
                best = d2;
                best_c = c;
            }
        }
        mode[i] = best_c;
        dist[i] = r_sqrt(best);
    }
}

extern "C" __global__ void mode_histogram(const int* __restrict__ mode,
                                          const real* __restrict__ dist,
                                          int* __restrict__ counts, int n, int C,
                                          real threshold) {
    __shared__ int histogram[MAX_MODES];
    for (int c = threadIdx.x; c < C; c += blockDim.x) histogram[c] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (dist[i] < threshold) atomicAdd(&histogram[mode[i]], 1);
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) counts[c] = histogram[c];
}

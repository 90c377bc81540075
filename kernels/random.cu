// random.cu: counter-based random numbers (Philox4x32-10, Salmon et al. 2011), so a run's
// draws depend only on (key, counter): reproducible on any backend, resumable from a
// counter, and the same from the emulator as from a GPU.
//
//   philox4x32      counters (n, 4) uint32, key (k0, k1) -> out (n, 4) uint32: the raw
//                   generator (checked against Random123's known-answer vectors);
//   random_uniform  out (n,): lo + (hi - lo) u, u uniform on (0, 1);
//   random_normal   out (n,): standard normal draws by the Box-Muller transform;
//   random_uniform_members, random_normal_members: out (P, n), member p with its own key
//                   and call (arrays keys (P, 2), calls (P, 2) = low, high word): a
//                   population's members each draw what their single run would.
// Element e of a call belongs to group g = e / 4, which uses counter (g, 0, call_lo,
// call_hi): the four 32-bit words of a group give four uniforms, or two Box-Muller pairs.
// A uniform is u = ((r >> 9) + 1/2) 2^-23: 23 random bits, never 0 or 1, and exactly the
// same number in float and double. The caller advances (call_lo, call_hi) by one per call.
// Launch geometry: 1-D, blocks of BLOCK_1D threads, one thread per group, grid-stride.
#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ void philox4x32_10(unsigned int c[4], unsigned int k0,
                                              unsigned int k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const unsigned int hi0 = __umulhi(PHILOX_M0, c[0]), lo0 = PHILOX_M0 * c[0];
        const unsigned int hi1 = __umulhi(PHILOX_M1, c[2]), lo1 = PHILOX_M1 * c[2];
        const unsigned int c1 = c[1], c3 = c[3];
        c[0] = hi1 ^ c1 ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c3 ^ k1;
        c[3] = lo0;
    }
}

__device__ __forceinline__ real uniform_open(unsigned int r) {
    return ((real)(r >> 9) + (real)0.5) * (real)1.1920928955078125e-07;  // 2^-23
}

extern "C" __global__ void philox4x32(const unsigned int* __restrict__ counters,
                                      unsigned int* __restrict__ out, int n, unsigned int k0,
                                      unsigned int k1) {
    for (long g = (long)blockIdx.x * blockDim.x + threadIdx.x; g < n;
         g += (long)gridDim.x * blockDim.x) {
        unsigned int c[4] = {counters[4 * g], counters[4 * g + 1], counters[4 * g + 2],
                             counters[4 * g + 3]};
        philox4x32_10(c, k0, k1);
        for (int q = 0; q < 4; ++q) out[4 * g + q] = c[q];
    }
}

// Group g of a call: four uniforms lo + (hi - lo) u into out[4g ..] (those below n).
__device__ __forceinline__ void uniform_group(real* out, long n, long g, unsigned int k0,
                                              unsigned int k1, unsigned int call_lo,
                                              unsigned int call_hi, real lo, real hi) {
    unsigned int c[4] = {(unsigned int)g, 0u, call_lo, call_hi};
    philox4x32_10(c, k0, k1);
    for (int q = 0; q < 4 && 4 * g + q < n; ++q)
        out[4 * g + q] = lo + (hi - lo) * uniform_open(c[q]);
}

// Group g of a call: two Box-Muller pairs into out[4g ..] (those below n).
__device__ __forceinline__ void normal_group(real* out, long n, long g, unsigned int k0,
                                             unsigned int k1, unsigned int call_lo,
                                             unsigned int call_hi) {
    const real two_pi = (real)6.283185307179586;
    unsigned int c[4] = {(unsigned int)g, 0u, call_lo, call_hi};
    philox4x32_10(c, k0, k1);
    for (int pair = 0; pair < 2; ++pair) {
        const real radius = r_sqrt((real)-2 * r_log(uniform_open(c[2 * pair])));
        const real angle = two_pi * uniform_open(c[2 * pair + 1]);
        const long at = 4 * g + 2 * pair;
        if (at < n) out[at] = radius * r_cos(angle);
        if (at + 1 < n) out[at + 1] = radius * r_sin(angle);
    }
}

extern "C" __global__ void random_uniform(real* __restrict__ out, int n, unsigned int k0,
                                          unsigned int k1, unsigned int call_lo,
                                          unsigned int call_hi, real lo, real hi) {
    GRID_STRIDE(g, ((long)n + 3) / 4) uniform_group(out, n, g, k0, k1, call_lo, call_hi, lo, hi);
}

extern "C" __global__ void random_normal(real* __restrict__ out, int n, unsigned int k0,
                                         unsigned int k1, unsigned int call_lo,
                                         unsigned int call_hi) {
    GRID_STRIDE(g, ((long)n + 3) / 4) normal_group(out, n, g, k0, k1, call_lo, call_hi);
}

// Population draws: member p of out (P, n) draws exactly what random_uniform /
// random_normal would with its own key (keys[2p], keys[2p+1]) and call (calls[2p] low
// word, calls[2p+1] high word). One thread per group of four, over every member.
extern "C" __global__ void random_uniform_members(real* __restrict__ out, int n, int P,
                                                  const unsigned int* __restrict__ keys,
                                                  const unsigned int* __restrict__ calls,
                                                  real lo, real hi) {
    const long groups = ((long)n + 3) / 4;
    GRID_STRIDE(at, groups * P) {
        const long p = at / groups;
        uniform_group(out + p * n, n, at % groups, keys[2 * p], keys[2 * p + 1], calls[2 * p],
                      calls[2 * p + 1], lo, hi);
    }
}

extern "C" __global__ void random_normal_members(real* __restrict__ out, int n, int P,
                                                 const unsigned int* __restrict__ keys,
                                                 const unsigned int* __restrict__ calls) {
    const long groups = ((long)n + 3) / 4;
    GRID_STRIDE(at, groups * P) {
        const long p = at / groups;
        normal_group(out + p * n, n, at % groups, keys[2 * p], keys[2 * p + 1], calls[2 * p],
                     calls[2 * p + 1]);
    }
}

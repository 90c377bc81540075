// linear.cu: the Linear layer, forward and backward, batched over population members.
//
// A layer's parameters are one (K+1) x N block `wb` of the network's flat buffer: rows
// 0..K-1 are the weight W (K inputs, N outputs, row-major), row K is the bias b. Seen that
// way the bias is the weight of a constant input 1, and its gradient is the last row of the
// weight gradient, so one product computes both.
//
// Shapes (member p of P; "stride" = elements from one member to the next):
//   x      (P, B, K)   layer input, rows of K            member stride sx
//   wb     (P, K+1, N) weights and bias                  member stride sw
//   y      (P, B, N)   act(x W + b)                      member stride sy
//   dy     (P, B, N)   dL/d(pre-activation of this layer)
//   dx     (P, B, K)   dL/d(pre-activation of the layer below), see linear_backward_input
//   gwb    (P, K+1, N) dL/dW and dL/db
// Within a member every matrix is contiguous row-major.
//
// Launch geometry (toygan.device.geometry computes it): blocks of TILE x TILE threads; each thread owns
// one output element (row = blockIdx.y * TILE + threadIdx.y, column = blockIdx.x * TILE +
// threadIdx.x), grid.z = P. The reduction dimension is walked in TILE-wide slabs staged in
// shared memory; threads outside the output still load (zeros) and meet every barrier.
#include "common.cuh"

// y = act(x W + b). grid (ceil(N / TILE), ceil(B / TILE), P).
extern "C" __global__ void linear_forward(const real* __restrict__ x,
                                          const real* __restrict__ wb, real* __restrict__ y,
                                          int B, int K, int N, int sx, int sw, int sy,
                                          int act, real leak) {
    __shared__ real x_tile[TILE][TILE + 1];
    __shared__ real w_tile[TILE][TILE + 1];
    const int p = blockIdx.z, tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * TILE + ty, j = blockIdx.x * TILE + tx;
    x += (long)p * sx;
    wb += (long)p * sw;
    y += (long)p * sy;
    real acc = 0;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        x_tile[ty][tx] = (i < B && k0 + tx < K) ? x[(long)i * K + k0 + tx] : (real)0;
        w_tile[ty][tx] = (k0 + ty < K && j < N) ? wb[(long)(k0 + ty) * N + j] : (real)0;
        __syncthreads();
        for (int kk = 0; kk < TILE; ++kk) acc += x_tile[ty][kk] * w_tile[kk][tx];
        __syncthreads();
    }
    if (i < B && j < N) y[(long)i * N + j] = activate(acc + wb[(long)K * N + j], act, leak);
}

// dx = (dy W^T) * act'(y_below) * mask: the input gradient of this layer carried through
// the activation (and dropout mask, when use_mask) of the layer below, so it comes out as
// the gradient of that layer's pre-activation. y_below is the activation's output (before
// the mask), as the forward kept it; act = ACT_IDENTITY ignores it (the network's input, or
// a maxout layer, whose backward is its own kernel).
// grid (ceil(K / TILE), ceil(B / TILE), P).
extern "C" __global__ void linear_backward_input(const real* __restrict__ dy,
                                                 const real* __restrict__ wb,
                                                 const real* __restrict__ y_below,
                                                 const real* __restrict__ mask,
                                                 real* __restrict__ dx, int B, int K, int N,
                                                 int sw, int act, real leak, int use_mask) {
    __shared__ real dy_tile[TILE][TILE + 1];
    __shared__ real wt_tile[TILE][TILE + 1];
    const int p = blockIdx.z, tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * TILE + ty, k = blockIdx.x * TILE + tx;
    const long rows = (long)p * B;
    dy += rows * N;
    wb += (long)p * sw;
    real acc = 0;
    for (int j0 = 0; j0 < N; j0 += TILE) {
        dy_tile[ty][tx] = (i < B && j0 + tx < N) ? dy[(long)i * N + j0 + tx] : (real)0;
        // wt_tile[jj][kk] = W[k0 + kk][j0 + jj], i.e. W^T.
        wt_tile[ty][tx] = (j0 + ty < N && k < K) ? wb[(long)k * N + j0 + ty] : (real)0;
        __syncthreads();
        for (int jj = 0; jj < TILE; ++jj) acc += dy_tile[ty][jj] * wt_tile[jj][tx];
        __syncthreads();
    }
    if (i < B && k < K) {
        const long at = (rows + i) * K + k;
        if (act != ACT_IDENTITY) acc *= activation_grad(y_below[at], act, leak);
        if (use_mask) acc *= mask[at];
        dx[at] = acc;
    }
}

// gwb = [x, 1]^T dy: rows 0..K-1 the weight gradient, row K the bias gradient (the sum of
// dy over the batch). grid (ceil(N / TILE), ceil((K + 1) / TILE), P).
extern "C" __global__ void linear_backward_params(const real* __restrict__ x,
                                                  const real* __restrict__ dy,
                                                  real* __restrict__ gwb, int B, int K,
                                                  int N, int sx, int sg) {
    __shared__ real xt_tile[TILE][TILE + 1];
    __shared__ real dy_tile[TILE][TILE + 1];
    const int p = blockIdx.z, tx = threadIdx.x, ty = threadIdx.y;
    const int k = blockIdx.y * TILE + ty, j = blockIdx.x * TILE + tx;
    x += (long)p * sx;
    dy += (long)p * B * N;
    gwb += (long)p * sg;
    real acc = 0;
    for (int i0 = 0; i0 < B; i0 += TILE) {
        // xt_tile[kk][ii] = [x, 1][i0 + ii][k]: the constant column K is the bias' input.
        const int ix = i0 + tx;
        real v = 0;
        if (ix < B && k < K) v = x[(long)ix * K + k];
        else if (ix < B && k == K) v = 1;
        xt_tile[ty][tx] = v;
        dy_tile[ty][tx] = (i0 + ty < B && j < N) ? dy[(long)(i0 + ty) * N + j] : (real)0;
        __syncthreads();
        for (int ii = 0; ii < TILE; ++ii) acc += xt_tile[ty][ii] * dy_tile[ii][tx];
        __syncthreads();
    }
    if (k <= K && j < N) gwb[(long)k * N + j] = acc;
}

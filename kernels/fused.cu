// fused.cu: Algorithm 1's discriminator and generator steps as one kernel each, plus one
// kernel that reduces the gradient and applies the optimiser, in the manner of
// tiny-cuda-nn's fully fused MLP: a block takes a chunk of up to R minibatch rows through
// G and D, forward and backward, with every activation and gradient of the chunk kept in
// shared memory; weights are read from global memory (L1/L2), each by one thread per row
// group and layer visit (one group for layers at least FUSED_THREADS wide); only the
// parameter gradients leave the block.
//
//   fused_discriminator_step  real rows x (P, m, dim) and noise (P, m, nz) -> for each
//       block b, the sum over its rows of dL_D/d(D's params) into d_partial[p, b, :] and
//       the sum of the per-row D losses into loss_partial[p, b]. Fake rows run G forward
//       first (G's output is D's input in shared memory).
//   fused_generator_step      noise (P, m, nz) -> G's partial gradients g_partial[p, b, :]
//       of the generator loss (through D's input gradient) and loss_partial[p, b].
//   fused_update              grads[p, :] = sum_b partial[p, b, :] (in block order, so a
//       run is reproducible bit for bit); then the optimiser rule (update_rules.cuh) and,
//       when clip > 0, WGAN's clipping; value[p] = inv_m sum_b loss_partial[p, b].
// The per-row gradients carry the batch's 1/m, as in losses.cu, so the sums are the
// gradients of the batch-mean losses.
//
// Networks: flat parameters (P, n_params) laid out as toygan.core.nn.MLP's (per Linear layer a
// (K+1) x N block, rows 0..K-1 W, row K the bias); the int32 layout [L, d0, ..., dL] gives
// the L Linear layers (L <= FUSED_MAX_LAYERS); hidden layers use the activation `act`
// (common.cuh codes, `leak` for leaky ReLU), the output layer the identity. Maxout and
// dropout are not fused: the engine runs the per-op kernels for them.
//
// Chunks: R rows (rows_per_chunk, <= FUSED_ROWS; toygan.device.geometry.fused_rows picks the largest R
// whose chunk fits FUSED_POOL_BYTES). The D step has 2 ceil(m/R) chunks, the real ones
// first, so a chunk is all real or all generated; the G step has ceil(m/R). Block b takes
// chunks b, b + gridDim.x, ... and accumulates into its own partial row (no atomics).
//
// Shared memory of one chunk, row-major with odd row strides ld(d) = d | 1 (rows read in
// parallel fall in different banks): G's activations a_0 (noise) .. a_{L-1}, then D's
// a_0 (= G's output for fake rows) .. a_L (logits), then two gradient buffers of the widest
// layer, used in turn down the backward pass.
//
// Launch geometry: blocks of FUSED_THREADS threads; grid (blocks, P) with blocks <= the
// number of chunks (toygan.device.geometry.fused_geometry). fused_update: 1-D grid-stride over P x n.
// Within a layer a thread owns one output column and a group of rows (N >= FUSED_THREADS:
// all rows, columns strided; narrower layers split the rows between FUSED_THREADS / N
// groups so that every thread works); barriers separate the layers.
#include "common.cuh"
#include "loss_terms.cuh"
#include "update_rules.cuh"

__device__ __forceinline__ int fused_ld(int d) { return d | 1; }

struct FusedNet {
    const real* params;
    int L;
    int dims[FUSED_MAX_LAYERS + 1];
    int offset[FUSED_MAX_LAYERS];  // start of layer l's (K+1) x N block in params
    real* acts[FUSED_MAX_LAYERS + 1];  // a_l in shared memory (R x ld(d_l))
    int act;
    real leak;
};

__device__ __forceinline__ void fused_load(FusedNet& net, const int* __restrict__ layout,
                                           const real* params, int act, real leak) {
    net.params = params;
    net.L = layout[0];
    int offset = 0;
    for (int l = 0; l <= net.L; ++l) net.dims[l] = layout[1 + l];
    for (int l = 0; l < net.L; ++l) {
        net.offset[l] = offset;
        offset += (net.dims[l] + 1) * net.dims[l + 1];
    }
    net.act = act;
    net.leak = leak;
}

// The chunk's product with a layer's weights, column by column: for r < rows, c < C,
//   store(r, c, init[c] + sum_{t < T} in[r][t] w[t * st + c * sc])     (init null: 0).
// A thread owns one column c and a group of rows, whose sums it keeps in registers, so it
// reads each weight once. The forward pass is (T, C, st, sc) = (K, N, N, 1) with the bias
// as init; the input gradient is (N, K, 1, N): the same weights, transposed.
template <typename Store>
__device__ __forceinline__ void chunk_product(const real* in, int T, const real* __restrict__ w,
                                              int st, int sc, const real* __restrict__ init,
                                              int C, int rows, Store store) {
    const int ldi = fused_ld(T);
    const int groups = C >= FUSED_THREADS ? 1 : FUSED_THREADS / C;
    for (int item = threadIdx.x; item < groups * C; item += FUSED_THREADS) {
        const int g = item / C, c = item % C;
        real acc[FUSED_ROWS];
        const real start = init != nullptr ? init[c] : (real)0;
        for (int q = 0; q < FUSED_ROWS; ++q) acc[q] = start;
        for (int t = 0; t < T; ++t) {
            const real wt = w[(long)t * st + (long)c * sc];
            for (int q = 0; q < FUSED_ROWS; ++q) {
                const int r = g + q * groups;
                if (r < rows) acc[q] += in[r * ldi + t] * wt;
            }
        }
        for (int q = 0; q < FUSED_ROWS; ++q) {
            const int r = g + q * groups;
            if (r < rows) store(r, c, acc[q]);
        }
    }
}

// out[r][j] = act(b[j] + sum_k in[r][k] W[k][j]) for r < rows, j < N.
__device__ __forceinline__ void chunk_linear_forward(const real* in, int K,
                                                     const real* __restrict__ wb, int N,
                                                     real* out, int rows, int act, real leak) {
    const int ldo = fused_ld(N);
    chunk_product(in, K, wb, N, 1, wb + (long)K * N, N, rows, [&](int r, int j, real z) {
        out[r * ldo + j] = activate(z, act, leak);
    });
}

// dx[r][k] = (sum_j dz[r][j] W[k][j]) * act'(a_below[r][k]): the gradient of the layer
// below's pre-activation (act = ACT_IDENTITY: of this layer's input itself).
__device__ __forceinline__ void chunk_linear_backward_input(const real* dz, int N,
                                                            const real* __restrict__ wb, int K,
                                                            const real* a_below, int act,
                                                            real leak, real* dx, int rows) {
    const int ldx = fused_ld(K);
    chunk_product(dz, N, wb, 1, N, nullptr, K, rows, [&](int r, int k, real s) {
        if (act != ACT_IDENTITY) s *= activation_grad(a_below[r * ldx + k], act, leak);
        dx[r * ldx + k] = s;
    });
}

// gwb[k][j] (+)= sum_r [in, 1][r][k] dz[r][j]: the chunk's share of the weight gradient
// (rows 0..K-1) and bias gradient (row K), added to what earlier chunks left when
// `accumulate`.
__device__ __forceinline__ void chunk_linear_backward_params(const real* in, int K,
                                                             const real* dz, int N,
                                                             real* __restrict__ gwb, int rows,
                                                             bool accumulate) {
    const int ldi = fused_ld(K), ldz = fused_ld(N);
    for (int item = threadIdx.x; item < (K + 1) * N; item += FUSED_THREADS) {
        const int k = item / N, j = item % N;
        real acc = 0;
        if (k < K) {
            for (int r = 0; r < rows; ++r) acc += in[r * ldi + k] * dz[r * ldz + j];
        } else {
            for (int r = 0; r < rows; ++r) acc += dz[r * ldz + j];
        }
        gwb[item] = accumulate ? gwb[item] + acc : acc;
    }
}

// The network forward from acts[0] to acts[L] (hidden activation, identity output).
__device__ void fused_forward(const FusedNet& net, int rows) {
    for (int l = 0; l < net.L; ++l) {
        const bool hidden = l + 1 < net.L;
        chunk_linear_forward(net.acts[l], net.dims[l], net.params + net.offset[l],
                             net.dims[l + 1], net.acts[l + 1], rows,
                             hidden ? net.act : ACT_IDENTITY, net.leak);
        __syncthreads();
    }
}

// The network backward from dL/d(output) in grad_a (the output is linear, so this is also
// its pre-activation gradient). Parameter gradients go to gwb (unless null); the gradient
// of the network's input is left in the returned buffer when input_grad.
__device__ real* fused_backward(const FusedNet& net, real* grad_a, real* grad_b, int rows,
                                real* gwb, bool accumulate, bool input_grad) {
    real* dz = grad_a;
    real* spare = grad_b;
    for (int l = net.L - 1; l >= 0; --l) {
        const int K = net.dims[l], N = net.dims[l + 1];
        const real* wb = net.params + net.offset[l];
        if (gwb != nullptr)
            chunk_linear_backward_params(net.acts[l], K, dz, N, gwb + net.offset[l], rows,
                                         accumulate);
        if (l > 0 || input_grad)
            chunk_linear_backward_input(dz, N, wb, K, net.acts[l],
                                        l > 0 ? net.act : ACT_IDENTITY, net.leak, spare,
                                        rows);
        __syncthreads();
        real* t = dz;
        dz = spare;
        spare = t;
    }
    return dz;
}

// Places both networks' activations and the two gradient buffers in the pool (the layout
// toygan.device.geometry.fused_pool_elements counts). G's output buffer is D's input buffer.
__device__ __forceinline__ void fused_place(FusedNet& g, FusedNet& d, real* pool, int R,
                                            real*& grad_a, real*& grad_b) {
    int widest = 1;
    for (int l = 0; l < g.L; ++l) {
        g.acts[l] = pool;
        pool += R * fused_ld(g.dims[l]);
        widest = max(widest, g.dims[l]);
    }
    for (int l = 0; l <= d.L; ++l) {
        d.acts[l] = pool;
        pool += R * fused_ld(d.dims[l]);
        widest = max(widest, d.dims[l]);
    }
    g.acts[g.L] = d.acts[0];
    grad_a = pool;
    grad_b = pool + R * fused_ld(widest);
}

// Copies rows [row0, row0 + rows) of a (m, width) matrix into a chunk buffer.
__device__ __forceinline__ void chunk_load(const real* __restrict__ src, int row0, int rows,
                                           int width, real* dst) {
    const int ld = fused_ld(width);
    for (int e = threadIdx.x; e < rows * width; e += FUSED_THREADS)
        dst[(e / width) * ld + e % width] = src[(long)(row0 + e / width) * width + e % width];
}

// Both networks of member p, placed in the block's pool.
struct FusedStep {
    FusedNet g, d;
    real *grad_a, *grad_b;
    real block_loss;
};

__device__ __forceinline__ void fused_begin(FusedStep& s, real* pool, int R,
                                            const real* g_params, const real* d_params,
                                            const int* g_layout, const int* d_layout, int g_act,
                                            real g_leak, int d_act, real d_leak, int n_g,
                                            int n_d) {
    const int p = blockIdx.y;
    fused_load(s.g, g_layout, g_params + (long)p * n_g, g_act, g_leak);
    fused_load(s.d, d_layout, d_params + (long)p * n_d, d_act, d_leak);
    fused_place(s.g, s.d, pool, R, s.grad_a, s.grad_b);
    s.block_loss = 0;
}

// From D's logits (after fused_forward(d)): each row's loss term (side 0 generator, 1 D on
// real rows, 2 D on generated rows); its derivative x inv_m into grad_a, the loss added to
// block_loss (thread 0, in row order).
__device__ __forceinline__ void fused_chunk_loss(FusedStep& s, real* row_loss, int rows,
                                                 int side, int kind, real inv_m) {
    const int ld = fused_ld(s.d.dims[s.d.L]);
    const int r = (int)threadIdx.x;
    if (r < rows) {
        const real l = s.d.acts[s.d.L][r * ld];
        real v, grad;
        if (side == 0) generator_loss_term(l, kind, v, grad);
        else discriminator_loss_term(l, side == 1, kind, v, grad);
        s.grad_a[r * ld] = grad * inv_m;
        row_loss[r] = v;
    }
    __syncthreads();
    if (threadIdx.x == 0)
        for (int q = 0; q < rows; ++q) s.block_loss += row_loss[q];
}

// grid (blocks, P), FUSED_THREADS threads.
extern "C" __global__ void fused_discriminator_step(
    const real* __restrict__ x_real, const real* __restrict__ noise,
    const real* __restrict__ g_params, const real* __restrict__ d_params,
    const int* __restrict__ g_layout, const int* __restrict__ d_layout, int g_act, real g_leak,
    int d_act, real d_leak, int m, int R, int loss_kind, int n_g, int n_d, int sx,
    real* __restrict__ d_partial, real* __restrict__ loss_partial) {
    __shared__ real pool[FUSED_POOL_BYTES / sizeof(real)];
    __shared__ real row_loss[FUSED_ROWS];
    FusedStep s;
    fused_begin(s, pool, R, g_params, d_params, g_layout, d_layout, g_act, g_leak, d_act,
                d_leak, n_g, n_d);
    const int p = blockIdx.y, dim = s.d.dims[0], nz = s.g.dims[0];
    const int real_chunks = (m + R - 1) / R;
    real* partial = d_partial + ((long)p * gridDim.x + blockIdx.x) * n_d;
    for (int c = blockIdx.x; c < 2 * real_chunks; c += gridDim.x) {
        const bool real_half = c < real_chunks;
        const int row0 = (real_half ? c : c - real_chunks) * R;
        const int rows = min(R, m - row0);
        // real_half is the same for every thread of the block: both branches' barriers
        // are reached uniformly. fused_forward ends with a barrier of its own.
        if (real_half) {
            chunk_load(x_real + (long)p * sx, row0, rows, dim, s.d.acts[0]);
            __syncthreads();
        } else {
            chunk_load(noise + (long)p * m * nz, row0, rows, nz, s.g.acts[0]);
            __syncthreads();
            fused_forward(s.g, rows);
        }
        fused_forward(s.d, rows);
        fused_chunk_loss(s, row_loss, rows, real_half ? 1 : 2, loss_kind, (real)1 / (real)m);
        fused_backward(s.d, s.grad_a, s.grad_b, rows, partial, c != (int)blockIdx.x, false);
    }
    if (threadIdx.x == 0) loss_partial[(long)p * gridDim.x + blockIdx.x] = s.block_loss;
}

// grid (blocks, P), FUSED_THREADS threads.
extern "C" __global__ void fused_generator_step(
    const real* __restrict__ noise, const real* __restrict__ g_params,
    const real* __restrict__ d_params, const int* __restrict__ g_layout,
    const int* __restrict__ d_layout, int g_act, real g_leak, int d_act, real d_leak, int m,
    int R, int loss_kind, int n_g, int n_d, real* __restrict__ g_partial,
    real* __restrict__ loss_partial) {
    __shared__ real pool[FUSED_POOL_BYTES / sizeof(real)];
    __shared__ real row_loss[FUSED_ROWS];
    FusedStep s;
    fused_begin(s, pool, R, g_params, d_params, g_layout, d_layout, g_act, g_leak, d_act,
                d_leak, n_g, n_d);
    const int p = blockIdx.y, nz = s.g.dims[0];
    const int chunks = (m + R - 1) / R;
    real* partial = g_partial + ((long)p * gridDim.x + blockIdx.x) * n_g;
    for (int c = blockIdx.x; c < chunks; c += gridDim.x) {
        const int row0 = c * R, rows = min(R, m - row0);
        chunk_load(noise + (long)p * m * nz, row0, rows, nz, s.g.acts[0]);
        __syncthreads();
        fused_forward(s.g, rows);
        fused_forward(s.d, rows);
        fused_chunk_loss(s, row_loss, rows, 0, loss_kind, (real)1 / (real)m);
        // D's input gradient is G's output gradient (G's output layer is linear).
        real* grad_fake = fused_backward(s.d, s.grad_a, s.grad_b, rows, nullptr, false, true);
        real* spare = grad_fake == s.grad_a ? s.grad_b : s.grad_a;
        fused_backward(s.g, grad_fake, spare, rows, partial, c != (int)blockIdx.x, false);
    }
    if (threadIdx.x == 0) loss_partial[(long)p * gridDim.x + blockIdx.x] = s.block_loss;
}

// 1-D grid-stride over P x n parameters. Hyperparameters by rule: sgd (h0 lr, h1
// momentum), adam (h0 beta1, h1 beta2, h2 eps, h3 step_size, h4 inv_sqrt_bc2), rmsprop (h0
// lr, h1 alpha, h2 eps); s2 is used by adam only. clip <= 0: no clipping.
extern "C" __global__ void fused_update(const real* __restrict__ partial, int blocks,
                                        real* __restrict__ params, real* __restrict__ grads,
                                        real* __restrict__ s1, real* __restrict__ s2, int n,
                                        int P, int rule, real h0, real h1, real h2, real h3,
                                        real h4, real clip,
                                        const real* __restrict__ loss_partial,
                                        real* __restrict__ value, real inv_m) {
    GRID_STRIDE(at, (long)P * n) {
        const long p = at / n, i = at % n;
        const real* column = partial + p * blocks * (long)n + i;
        real grad = 0;
        for (int b = 0; b < blocks; ++b) grad += column[(long)b * n];
        grads[at] = grad;
        if (rule == RULE_SGD) sgd_rule(params[at], grad, s1[at], h0, h1);
        else if (rule == RULE_ADAM) adam_rule(params[at], grad, s1[at], s2[at], h0, h1, h2, h3, h4);
        else rmsprop_rule(params[at], grad, s1[at], h0, h1, h2);
        if (clip > (real)0) params[at] = r_min(r_max(params[at], -clip), clip);
    }
    if (blockIdx.x == 0) {
        for (int p = threadIdx.x; p < P; p += blockDim.x) {
            real total = 0;
            for (int b = 0; b < blocks; ++b) total += loss_partial[(long)p * blocks + b];
            value[p] = total * inv_m;
        }
    }
}

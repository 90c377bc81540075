// common.cuh: what every kernel file shares.
//
// `real` is float, or double when the module is compiled with -DTOYGAN_DOUBLE (the float64
// runs and gradient checks). Math goes through the r_* overloads so that a float kernel calls
// expf/logf/... on every compiler (NVRTC, nvcc, and g++ through the emulator in emu.h).
// Activation codes match toygan.device.geometry.ACTIVATION_CODES.
#pragma once

#ifdef TOYGAN_DOUBLE
typedef double real;
#else
typedef float real;
#endif

// Square tile of the shared-memory matrix products: blocks of TILE x TILE threads.
#define TILE 16
// Threads per block of the 1-D (elementwise, reduction) kernels; a power of two.
#define BLOCK_1D 256
// Largest number of mixture components the shared-memory histogram holds.
#define MAX_MODES 1024

// Fused training steps (fused.cu): threads per block, the most rows of a chunk (each
// thread keeps that many accumulators), the most Linear layers per network, and the bytes
// of shared memory one block keeps its chunk's activations and gradients in.
#define FUSED_THREADS 256
#define FUSED_ROWS 16
#define FUSED_MAX_LAYERS 6
#define FUSED_POOL_BYTES 47104

// A grid-stride loop over n elements (1-D kernels: any grid size is correct).
#define GRID_STRIDE(at, n)                                                  \
    for (long at = (long)blockIdx.x * blockDim.x + threadIdx.x; at < (n); \
         at += (long)gridDim.x * blockDim.x)

#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_TANH 3
#define ACT_SIGMOID 4

__device__ __forceinline__ float r_exp(float x) { return expf(x); }
__device__ __forceinline__ double r_exp(double x) { return exp(x); }
__device__ __forceinline__ float r_log(float x) { return logf(x); }
__device__ __forceinline__ double r_log(double x) { return log(x); }
__device__ __forceinline__ float r_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double r_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float r_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double r_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float r_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double r_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float r_cos(float x) { return cosf(x); }
__device__ __forceinline__ double r_cos(double x) { return cos(x); }
__device__ __forceinline__ float r_sin(float x) { return sinf(x); }
__device__ __forceinline__ double r_sin(double x) { return sin(x); }
__device__ __forceinline__ float r_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double r_abs(double x) { return fabs(x); }
__device__ __forceinline__ float r_min(float a, float b) { return fminf(a, b); }
__device__ __forceinline__ double r_min(double a, double b) { return fmin(a, b); }
__device__ __forceinline__ float r_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double r_max(double a, double b) { return fmax(a, b); }

// log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
__device__ __forceinline__ real softplus(real x) {
    return r_max(x, (real)0) + r_log1p(r_exp(-r_abs(x)));
}

// The logistic function without overflow: e^x is only taken for x < 0.
__device__ __forceinline__ real sigmoid(real x) {
    if (x >= (real)0) return (real)1 / ((real)1 + r_exp(-x));
    const real e = r_exp(x);
    return e / ((real)1 + e);
}

__device__ __forceinline__ real activate(real z, int act, real leak) {
    switch (act) {
        case ACT_RELU: return z > (real)0 ? z : (real)0;
        case ACT_LEAKY_RELU: return z > (real)0 ? z : leak * z;
        case ACT_TANH: return r_tanh(z);
        case ACT_SIGMOID: return sigmoid(z);
        default: return z;
    }
}

// The activation's derivative written through its output y = act(z), which is what the
// forward pass keeps (ReLU's kink at 0 gets 0, as in toygan.core.nn and PyTorch).
__device__ __forceinline__ real activation_grad(real y, int act, real leak) {
    switch (act) {
        case ACT_RELU: return y > (real)0 ? (real)1 : (real)0;
        case ACT_LEAKY_RELU: return y > (real)0 ? (real)1 : leak;
        case ACT_TANH: return (real)1 - y * y;
        case ACT_SIGMOID: return y * ((real)1 - y);
        default: return (real)1;
    }
}

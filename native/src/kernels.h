// Float32 kernels over plain row-major buffers. Shapes and strides come already simplified
// from the TypeScript side (runtime/backends/native.ts): broadcast strides are 0, adjacent
// axes that can be merged are merged, and every output buffer is allocated (zeroed) by the caller.
#pragma once

#include <cstdint>

namespace mnxc {

constexpr int kMaxRank = 8;

/**
 * What the product does to each block of rows while it is in cache: nothing, exact GELU, + addend [batch, M, N], or × GELU′(addend)
 * (addend [batch, M, N]: GELU's input; the product is the gradient of GELU's output).
 */
enum class Epilogue { None = 0, Gelu = 1, Add = 2, GeluGrad = 3 };
/**
 * What the product does to A's values before multiplying (A is read once, never written): nothing, x·(1 + erf(x/√2)) = 2·GELU(x),
 * or x − centre[k] (float32, per column k of op(A): centre is [batchA, K]; GroupNorm's x − μ without the centred tensor).
 */
enum class Prologue { None = 0, Gelu2 = 1, Centre = 2 };

/**
 * C[b] = op(A[b])·op(B[b]) (+ bias [N] on every row if not null); A is [batchA, M, K] ([batchA, K, M] if transA), B [batchB, K, N]
 * ([batchB, N, K] if transB); batch b uses A[b % batchA], B[b % batchB]. Then the epilogue, row block by row block.
 */
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t batchA, int64_t batchB, int64_t m, int64_t k, int64_t n,
            bool transA, bool transB, const float* bias = nullptr, Epilogue epilogue = Epilogue::None, const float* addend = nullptr,
            Prologue prologue = Prologue::None, const float* centre = nullptr);

enum class Binary { Add, Sub, Mul, Div, Max, Min, SquaredDifference, Pow };
/** out[i] = op(a[i·sa], b[i·sb]) over `shape` (rank ≤ kMaxRank) with element strides sa, sb (0 where broadcast). */
void binary(Binary op, const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* sa, const int64_t* sb);

/** out = Σ inputs (k arrays of n values each). */
void addN(const float* const* inputs, int k, float* out, int64_t n);

enum class Unary { Exp, Erf, Neg, Sqrt, Rsqrt, Square, Abs, Relu, Log, Reciprocal, Sigmoid, Tanh, Step, Elu, Softplus, Sign };
void unary(Unary op, const float* x, float* out, int64_t n, float alpha);

/** out[o, i] = Σ_r x[o, r, i] (x is [outer, reduce, inner]). */
void sumReduce(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner);

/** dst[dstOffset + Σ idx·dstStrides] = src[srcOffset + Σ idx·srcStrides] over `shape`. */
void stridedCopy(const float* src, float* dst, int rank, const int64_t* shape, const int64_t* srcStrides, const int64_t* dstStrides);
void fill(float* dst, int64_t n, float value);

/** out[o, j, i] = x[o, idx[j], i] for x [outer, axisLen, inner]. */
void gather(const float* x, const int32_t* idx, float* out, int64_t outer, int64_t axisLen, int64_t nIdx, int64_t inner);

/** Depthwise 3-D convolution geometry (channel multiplier 1, NDHWC, filter [kD, kH, kW, C]). */
struct Conv3dGeom {
  int64_t n, c;
  int64_t in[3];   // D, H, W of the input
  int64_t out[3];  // D, H, W of the output
  int64_t k[3];
  int64_t stride[3];
  int64_t padBefore[3];
  int64_t dilation[3];
};
/** y = conv(x, w) (+ bias if not null); y is zero-initialised by the caller. */
void dwConv3dForward(const Conv3dGeom& g, const float* x, const float* w, const float* bias, float* y);
/** dx = the adjoint of the convolution applied to dy. */
void dwConv3dBackpropInput(const Conv3dGeom& g, const float* dy, const float* w, float* dx);
/** dw (and db if not null) from x and dy. */
void dwConv3dBackpropFilter(const Conv3dGeom& g, const float* x, const float* dy, float* dw, float* db);

/** y = scale·x·Φ(x) (exact GELU; scale 2 gives x·(1 + erf(x/√2))); dx = dy·(Φ(x) + x·φ(x)). */
void gelu(const float* x, float* y, int64_t n, float scale = 1.0f);
void geluGrad(const float* x, const float* dy, float* dx, int64_t n);

/**
 * GroupNorm statistics of x [N, V, C] (groups of C/groups consecutive channels): mean and σ⁻¹ = 1/√(var + eps) per sample and
 * channel ([N, C], each channel holding its group's values). One pass over x: Σx and Σx² in double, var = E[x²] − μ² in double;
 * centred = x − mean (float32) in a second pass, only if not null.
 */
void groupNormStats(const float* x, float* centred, float* mean, float* rstd, int64_t n, int64_t v, int64_t c, int64_t groups, double eps);
/** y[n, v, c] = x[n, v, c]·scale[n, c] + shift[n, c]. */
void channelAffine(const float* x, const float* scale, const float* shift, float* y, int64_t n, int64_t v, int64_t c);
/**
 * GroupNorm's gradient from dy, centred = x − μ, rstd [N, C] and gamma [C]: dx (all of dy's size), dgamma and dbeta [C] (each if
 * not null). Two passes: the per-channel sums Σdy, Σdy·(x − μ) (double), then dx = dy·k1 + (x − μ)·k2 + k3.
 */
void groupNormBackward(const float* dy, const float* centred, const float* rstd, const float* gamma, float* dx, float* dgamma, float* dbeta,
                       int64_t n, int64_t v, int64_t c, int64_t groups);

/** y = softmax of each row of x [rows, k]. */
void softmax(const float* x, float* y, int64_t rows, int64_t k);

}  // namespace mnxc

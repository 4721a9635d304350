#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif

#include "pool.h"

namespace mnxc {

// ---------------------------------------------------------------------------------------------
// SIMD vectors through the GCC/Clang vector extension: the compiler picks AVX-512, AVX2 or
// SSE/NEON instructions from the -march flags the addon is built with.
#if defined(__AVX512F__)
constexpr int VW = 16;
#elif defined(__AVX__)
constexpr int VW = 8;
#else
constexpr int VW = 4;
#endif
typedef float vf __attribute__((vector_size(VW * 4)));

static inline vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
static inline vf vsplat(float x) { return vf{} + x; }
typedef int32_t vi __attribute__((vector_size(VW * 4)));
static inline vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
// a < c ? a : c and a > c ? a : c (c where a is NaN): one instruction each where the ISA has one with exactly these semantics.
#if defined(__AVX512F__)
// (the zero-masked forms with every lane set: the plain ones trip GCC 12's -Wuninitialized in its own header)
static inline vf vmin(vf a, float c) { return (vf)_mm512_maskz_min_ps(__mmask16(0xffff), (__m512)a, _mm512_set1_ps(c)); }
static inline vf vmax(vf a, float c) { return (vf)_mm512_maskz_max_ps(__mmask16(0xffff), (__m512)a, _mm512_set1_ps(c)); }
#elif defined(__AVX__)
static inline vf vmin(vf a, float c) { return (vf)_mm256_min_ps((__m256)a, _mm256_set1_ps(c)); }
static inline vf vmax(vf a, float c) { return (vf)_mm256_max_ps((__m256)a, _mm256_set1_ps(c)); }
#else
static inline vf vmin(vf a, float c) { return vselect(a < c, a, vsplat(c)); }
static inline vf vmax(vf a, float c) { return vselect(a > c, a, vsplat(c)); }
#endif

/** e^x, Cephes' single-precision polynomial (relative error ~2 ulp); 0 below −88.38. */
static inline vf vexp(vf x) {
  x = vmax(vmin(x, 88.3762626647949f), -88.3762626647949f);
  const vf t = x * 1.44269504088896341f + 0.5f;
#if defined(__AVX512F__)
  const vf fl = (vf)_mm512_maskz_roundscale_ps(__mmask16(0xffff), (__m512)t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // floor
#else
  vf fl = __builtin_convertvector(__builtin_convertvector(t, vi), vf);
  fl = vselect(fl > t, fl - 1.0f, fl);  // floor (t is within ±128)
#endif
  x = x - fl * 0.693359375f + fl * 2.12194440e-4f;
  const vf z = x * x;
  vf y = vsplat(1.9875691500E-4f);
  y = y * x + 1.3981999507E-3f;
  y = y * x + 8.3334519073E-3f;
  y = y * x + 4.1665795894E-2f;
  y = y * x + 1.6666665459E-1f;
  y = y * x + 5.0000001201E-1f;
  y = y * z + x + 1.0f;
  const vi e = (__builtin_convertvector(fl, vi) + 127) << 23;
  return y * (vf)e;
}

/** erf(x), Eigen's rational approximation on [−4, 4] (a few ulp; ±1 outside). */
static inline vf verf(vf x) {
  x = vmax(vmin(x, 4.0f), -4.0f);
  const vf x2 = x * x;
  vf p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = x * p;
  vf q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return p / q;
}

/** out[i] = f(x[i]) with a vector function, in parallel; the tail runs through a padded vector. */
template <typename F>
static void unaryVec(F f, const float* x, float* out, int64_t n) {
  pool().parallelFor(n, 32768, [&](int64_t s, int64_t e) {
    int64_t i = s;
    for (; i + VW <= e; i += VW) vstore(out + i, f(vload(x + i)));
    if (i < e) {
      float tmp[VW] = {};
      for (int64_t j = i; j < e; j++) tmp[j - i] = x[j];
      vstore(tmp, f(vload(tmp)));
      for (int64_t j = i; j < e; j++) out[j] = tmp[j - i];
    }
  });
}

static inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < VW; i++) s += v[i];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Matrix product. B is used as row-major [K, Np] (Np a multiple of NR; packed with zero
// columns when needed); an R×NR tile of C is kept in registers over a K chunk of a task.
// With AVX-512's 32 registers the tile is 8 rows (16 accumulators: 16 FMAs per 2 loads of B and 8
// broadcasts of A; 4 rows left the product load-bound at half the FMA rate); with 16, 4 rows.
// Each output is summed over k in order whatever the tile and the K chunks (a chunk after the first
// reloads the tile's partial sums from C, which holds them exactly), so the results do not depend on
// the blocking. The bias and the epilogue are applied to the tile while it is still in registers.
constexpr int MR = VW == 16 ? 8 : 4;
constexpr int NR = 2 * VW;

/** GELU′(x)·g, as geluGrad computes it. */
static inline vf geluGradVec(vf x, vf g) {
  const float invSqrt2Pi = float(0.3989422804014327);
  return g * (0.5f * (1.0f + verf(x * float(M_SQRT1_2))) + x * vexp(-0.5f * x * x) * invSqrt2Pi);
}

/** One vector of the epilogue: v is the product (+ bias), a the addend's values. */
template <Epilogue E>
static inline vf epilogueVec(vf v, vf a) {
  if (E == Epilogue::Gelu) return 0.5f * v * (1.0f + verf(v * float(M_SQRT1_2)));
  if (E == Epilogue::GeluGrad) return geluGradVec(a, v);
  if (E == Epilogue::Add) return v + a;
  return v;
}

/**
 * What a tile does after its K chunk: `last` = the chunk is the last one (add the bias — `bias` at the tile's first column, or null —
 * and apply the epilogue with `addend`, laid out as C, at the tile's first element); otherwise C keeps the partial sums.
 */
struct TileEnd {
  bool first, last;
  const float* bias;
  const float* addend;
};

template <int R, Epilogue E>
static inline void microTile(const float* __restrict a, int64_t ars, int64_t aks, const float* __restrict b, int64_t ldb, int64_t kc,
                             float* __restrict c, int64_t ldc, int64_t ncols, const TileEnd& te) {
  vf acc[R][2];
  const bool full = ncols == NR;
  if (te.first) {
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = vf{};
  } else {
    for (int r = 0; r < R; r++) {
      if (full) {
        acc[r][0] = vload(c + r * ldc), acc[r][1] = vload(c + r * ldc + VW);
      } else {
        float tmp[NR] = {};
        for (int64_t j = 0; j < ncols; j++) tmp[j] = c[r * ldc + j];
        acc[r][0] = vload(tmp), acc[r][1] = vload(tmp + VW);
      }
    }
  }
  for (int64_t k = 0; k < kc; k++) {
    const vf b0 = vload(b + k * ldb), b1 = vload(b + k * ldb + VW);
    for (int r = 0; r < R; r++) {
      const vf av = vsplat(a[r * ars + k * aks]);
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  if (te.last) {
    if (te.bias) {
      vf b0, b1;
      if (full) {
        b0 = vload(te.bias), b1 = vload(te.bias + VW);
      } else {
        float tmp[NR] = {};
        for (int64_t j = 0; j < ncols; j++) tmp[j] = te.bias[j];
        b0 = vload(tmp), b1 = vload(tmp + VW);
      }
      for (int r = 0; r < R; r++) acc[r][0] += b0, acc[r][1] += b1;
    }
    if (E != Epilogue::None) {
      for (int r = 0; r < R; r++) {
        vf a0 = vf{}, a1 = vf{};
        if (E != Epilogue::Gelu) {
          const float* ar = te.addend + r * ldc;
          if (full) {
            a0 = vload(ar), a1 = vload(ar + VW);
          } else {
            float tmp[NR] = {};
            for (int64_t j = 0; j < ncols; j++) tmp[j] = ar[j];
            a0 = vload(tmp), a1 = vload(tmp + VW);
          }
        }
        acc[r][0] = epilogueVec<E>(acc[r][0], a0);
        acc[r][1] = epilogueVec<E>(acc[r][1], a1);
      }
    }
  }
  for (int r = 0; r < R; r++) {
    float* cr = c + r * ldc;
    if (full) {
      vstore(cr, acc[r][0]);
      vstore(cr + VW, acc[r][1]);
    } else {
      float tmp[NR];
      vstore(tmp, acc[r][0]);
      vstore(tmp + VW, acc[r][1]);
      for (int64_t j = 0; j < ncols; j++) cr[j] = tmp[j];
    }
  }
}

template <Epilogue E>
static inline void tileRows(int64_t rows, const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t kc, float* c, int64_t ldc,
                            int64_t ncols, const TileEnd& te) {
  switch (rows) {
    case 8: microTile<8, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 7: microTile<7, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 6: microTile<6, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 5: microTile<5, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 4: microTile<4, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 3: microTile<3, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    case 2: microTile<2, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
    default: microTile<1, E>(a, ars, aks, b, ldb, kc, c, ldc, ncols, te); break;
  }
}

// Column panel of a row block (and K chunk of a split-K part): a KC × NC panel of B (256 KiB) stays
// in L2 while the block's rows pass over it. Row blocks keep their whole K in one pass (measured:
// chunking K = 512 or 1024 there lost 3–8% to reloading C); the split-K parts, thousands of k long
// over a few rows, gain 10–50% from the chunks.
constexpr int64_t KC = 256, NC = 256;

/**
 * Asks for the lines of the tile at (i, j) of C (for writing) and of the addend (for reading) one tile ahead of their use: C is
 * usually far larger than the caches (MedNeXt's expansions write 128 MiB at 64³), and without this each tile's first store waited
 * for its lines (measured: +15–25% on the expansion products at K = 32–64, GELU or not).
 */
// GCC 12 at -O3 deleted the loop below when its body was only __builtin_prefetch calls (no prefetch left in the binary), so on x86 the hints are
// asm statements, which it keeps.
static inline void prefetchWrite(const float* p) {
#if defined(__x86_64__) && defined(__PRFCHW__)
  asm volatile("prefetchw %0" : : "m"(*p));
#elif defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}
static inline void prefetchRead(const float* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

template <Epilogue E>
static inline void prefetchTile(const float* c, const float* addend, int64_t n, int64_t i, int64_t j, int64_t i1, int64_t j1) {
  if (i >= i1) return;
  const int64_t rows = std::min<int64_t>(MR, i1 - i);
  for (int64_t r = 0; r < rows; r++) {
    prefetchWrite(c + (i + r) * n + j);
    if (j + VW < j1) prefetchWrite(c + (i + r) * n + j + VW);
    if (E == Epilogue::Add) {
      prefetchRead(addend + (i + r) * n + j);
      if (j + VW < j1) prefetchRead(addend + (i + r) * n + j + VW);
    }
  }
}

/**
 * C rows [i0, i1) of one product (C [·, n], row-major): A(i, k) at a[i·ars + k·aks], k in [0, kc), in K chunks of kChunk; then
 * + bias [n] (if not null) and the epilogue with `addend` (laid out as C; ignored for None and Gelu). `prefetch`: C is an output
 * in memory (not a small partial that stays in cache).
 */
template <Epilogue E>
static void gemmRowsE(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t kc, float* c, int64_t n, int64_t i0,
                      int64_t i1, const float* bias, const float* addend, int64_t kChunk, bool prefetch) {
  for (int64_t j0 = 0; j0 < n; j0 += NC) {
    const int64_t j1 = std::min(n, j0 + NC);
    for (int64_t k0 = 0; k0 < kc; k0 += kChunk) {
      const int64_t k1 = std::min(kc, k0 + kChunk);
      for (int64_t i = i0; i < i1; i += MR) {
        const int64_t rows = std::min<int64_t>(MR, i1 - i);
        for (int64_t j = j0; j < j1; j += NR) {
          const TileEnd te{k0 == 0, k1 == kc, bias ? bias + j : nullptr, addend ? addend + i * n + j : nullptr};
          if (prefetch && k1 == kc) prefetchTile<E>(c, addend, n, i + (j + NR < j1 ? 0 : MR), j + NR < j1 ? j + NR : j0, i1, j1);
          tileRows<E>(rows, a + i * ars + k0 * aks, ars, aks, b + k0 * ldb + j, ldb, k1 - k0, c + i * n + j, n, std::min<int64_t>(NR, n - j), te);
        }
      }
    }
  }
}

static void applyEpilogue(Epilogue e, float* c, const float* addend, int64_t len);

/**
 * gemmRowsE for a runtime epilogue. GELU′ (an erf and an exp per value, ~40 constants and temporaries) goes in a second pass over
 * the block while it is in L1: in registers beside 16 accumulators it spilled and ran 10% slower than the pass (measured).
 */
static void gemmRows(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t kc, float* c, int64_t n, int64_t i0,
                     int64_t i1, const float* bias = nullptr, Epilogue e = Epilogue::None, const float* addend = nullptr, int64_t kChunk = 0) {
  const bool prefetch = kChunk <= 0;  // the row-block path (the split-K parts pass their chunk)
  if (kChunk <= 0) kChunk = std::max<int64_t>(kc, 1);
  switch (e) {
    case Epilogue::Gelu: return gemmRowsE<Epilogue::Gelu>(a, ars, aks, b, ldb, kc, c, n, i0, i1, bias, addend, kChunk, prefetch);
    case Epilogue::Add: return gemmRowsE<Epilogue::Add>(a, ars, aks, b, ldb, kc, c, n, i0, i1, bias, addend, kChunk, prefetch);
    case Epilogue::GeluGrad:
      gemmRowsE<Epilogue::None>(a, ars, aks, b, ldb, kc, c, n, i0, i1, bias, nullptr, kChunk, prefetch);
      return applyEpilogue(Epilogue::GeluGrad, c + i0 * n, addend + i0 * n, (i1 - i0) * n);
    default: return gemmRowsE<Epilogue::None>(a, ars, aks, b, ldb, kc, c, n, i0, i1, bias, addend, kChunk, prefetch);
  }
}

/** GELU in place, + addend, or × GELU′(addend) on `len` contiguous outputs (the epilogue after a split-K sum). */
static void applyEpilogue(Epilogue e, float* c, const float* addend, int64_t len) {
  if (e == Epilogue::None) return;
  int64_t i = 0;
  const auto step = [&](vf v, vf a) {
    if (e == Epilogue::Gelu) return epilogueVec<Epilogue::Gelu>(v, a);
    if (e == Epilogue::GeluGrad) return epilogueVec<Epilogue::GeluGrad>(v, a);
    return epilogueVec<Epilogue::Add>(v, a);
  };
  for (; i + VW <= len; i += VW) vstore(c + i, step(vload(c + i), addend ? vload(addend + i) : vf{}));
  if (i < len) {  // the tail through a padded vector, so every element gets the same arithmetic
    float tc[VW] = {}, ta[VW] = {};
    for (int64_t j = i; j < len; j++) tc[j - i] = c[j], ta[j - i] = addend ? addend[j] : 0.0f;
    vstore(tc, step(vload(tc), vload(ta)));
    for (int64_t j = i; j < len; j++) c[j] = tc[j - i];
  }
}

/** dst[i] = src[i]·(1 + erf(src[i]/√2)) over len values (as gelu with scale 2; dst may be src). */
static void gelu2Into(const float* src, float* dst, int64_t len) {
  const auto f = [](vf v) { return 1.0f * v * (1.0f + verf(v * float(M_SQRT1_2))); };
  int64_t i = 0;
  for (; i + VW <= len; i += VW) vstore(dst + i, f(vload(src + i)));
  if (i < len) {
    float t[VW] = {};
    for (int64_t j = i; j < len; j++) t[j - i] = src[j];
    vstore(t, f(vload(t)));
    for (int64_t j = i; j < len; j++) dst[j] = t[j - i];
  }
}

/**
 * The prologue's A for a block: rows [r0, r1) and columns [k0, k1) of op(A) (A at `a`, [M, K] or [K, M] if transposed) through
 * 2·GELU, or minus centre[column] (Centre), row-major into buf ([r1 − r0, k1 − k0]).
 */
static void prologueBlock(Prologue pro, const float* centre, const float* a, bool transA, int64_t m, int64_t k, int64_t r0, int64_t r1,
                          int64_t k0, int64_t k1, float* buf) {
  const int64_t kc = k1 - k0;
  if (pro == Prologue::Centre) {
    for (int64_t r = r0; r < r1; r++) {
      float* __restrict dst = buf + (r - r0) * kc;
      const float* __restrict mu = centre + k0;
      if (!transA) {
        const float* __restrict src = a + r * k + k0;
        for (int64_t j = 0; j < kc; j++) dst[j] = src[j] - mu[j];
      } else {
        for (int64_t j = 0; j < kc; j++) dst[j] = a[(k0 + j) * m + r] - mu[j];
      }
    }
    return;
  }
  if (!transA) {
    for (int64_t r = r0; r < r1; r++) gelu2Into(a + r * k + k0, buf + (r - r0) * kc, kc);
    return;
  }
  for (int64_t r = r0; r < r1; r++)
    for (int64_t kk = k0; kk < k1; kk++) buf[(r - r0) * kc + (kk - k0)] = a[kk * m + r];
  gelu2Into(buf, buf, (r1 - r0) * kc);
}

void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t batchA, int64_t batchB, int64_t m, int64_t k, int64_t n,
            bool transA, bool transB, const float* bias, Epilogue epilogue, const float* addend, Prologue prologue, const float* centre) {
  Pool& p = pool();
  const int64_t np = (n + NR - 1) / NR * NR;
  const bool pack = transB || np != n;
  std::vector<float> packed;
  const float* bUse = b;
  int64_t ldb = n;
  if (pack) {
    packed.assign(size_t(batchB * k * np), 0.0f);
    p.parallelFor(batchB * k, 256, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; t++) {
        const int64_t bb = t / k, kk = t % k;
        float* dst = packed.data() + (bb * k + kk) * np;
        const float* src = b + bb * k * n;
        if (transB)
          for (int64_t j = 0; j < n; j++) dst[j] = src[j * k + kk];
        else
          std::memcpy(dst, src + kk * n, sizeof(float) * n);
      }
    });
    bUse = packed.data();
    ldb = np;
  }
  const int64_t ars = transA ? 1 : k, aks = transA ? m : 1;
  const int64_t bStride = k * ldb;
  constexpr int64_t MB = 64;  // rows per task
  const int64_t mBlocks = (m + MB - 1) / MB;
  if (batch * mBlocks >= 8 || k < 1024) {
    p.parallelFor(batch * mBlocks, 1, [&](int64_t s, int64_t e) {
      thread_local std::vector<float> buf;
      if (prologue != Prologue::None && buf.size() < size_t(MB * k)) buf.resize(size_t(MB * k));
      for (int64_t t = s; t < e; t++) {
        const int64_t bi = t / mBlocks, i0 = (t % mBlocks) * MB;
        const int64_t i1 = std::min(m, i0 + MB);
        if (prologue == Prologue::None) {
          gemmRows(a + (bi % batchA) * m * k + i0 * ars, ars, aks, bUse + (bi % batchB) * bStride, ldb, k, c + bi * m * n + i0 * n, n, 0, i1 - i0,
                   bias, epilogue, addend ? addend + bi * m * n + i0 * n : nullptr);
        } else {  // this block's rows of op(A) through the prologue, in cache, then the product
          prologueBlock(prologue, centre ? centre + (bi % batchA) * k : nullptr, a + (bi % batchA) * m * k, transA, m, k, i0, i1, 0, k, buf.data());
          gemmRows(buf.data(), k, 1, bUse + (bi % batchB) * bStride, ldb, k, c + bi * m * n + i0 * n, n, 0, i1 - i0, bias, epilogue,
                   addend ? addend + bi * m * n + i0 * n : nullptr);
        }
      }
    });
    return;
  }
  // Few output rows and a long K (a voxel sum, or Xᵀ·dY): split K into a fixed number of parts
  // (a function of the shape only), one partial product each, then add the parts in order.
  const int64_t parts = std::min<int64_t>(64, std::max<int64_t>(2, k / 512));
  const int64_t kPart = (k + parts - 1) / parts;
  std::vector<float> partial(size_t(batch * parts * m * n), 0.0f);
  p.parallelFor(batch * parts, 1, [&](int64_t s, int64_t e) {
    thread_local std::vector<float> buf;
    if (prologue != Prologue::None && buf.size() < size_t(m * kPart)) buf.resize(size_t(m * kPart));
    for (int64_t t = s; t < e; t++) {
      const int64_t bi = t / parts, k0 = (t % parts) * kPart, kc = std::min(k, k0 + kPart) - k0;
      if (kc <= 0) continue;
      if (prologue == Prologue::None) {
        gemmRows(a + (bi % batchA) * m * k + k0 * aks, ars, aks, bUse + (bi % batchB) * bStride + k0 * ldb, ldb, kc,
                 partial.data() + t * m * n, n, 0, m, nullptr, Epilogue::None, nullptr, KC);
      } else if (transA && prologue == Prologue::Gelu2) {  // this part's rows of A (contiguous) through the prologue, then the product
        gelu2Into(a + (bi % batchA) * m * k + k0 * m, buf.data(), kc * m);
        gemmRows(buf.data(), 1, m, bUse + (bi % batchB) * bStride + k0 * ldb, ldb, kc, partial.data() + t * m * n, n, 0, m, nullptr,
                 Epilogue::None, nullptr, KC);
      } else {
        prologueBlock(prologue, centre ? centre + (bi % batchA) * k : nullptr, a + (bi % batchA) * m * k, transA, m, k, 0, m, k0, k0 + kc, buf.data());
        gemmRows(buf.data(), kc, 1, bUse + (bi % batchB) * bStride + k0 * ldb, ldb, kc, partial.data() + t * m * n, n, 0, m, nullptr,
                 Epilogue::None, nullptr, KC);
      }
    }
  });
  const int64_t mn = m * n;
  p.parallelFor(batch * mn, 4096, [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; t++) {
      const int64_t bi = t / mn, idx = t % mn;
      double acc = 0;
      for (int64_t q = 0; q < parts; q++) acc += partial[size_t((bi * parts + q) * mn + idx)];
      c[t] = bias ? float(acc) + bias[idx % n] : float(acc);
    }
  });
  p.parallelFor(batch * m, 64, [&](int64_t s, int64_t e) { applyEpilogue(epilogue, c + s * n, addend ? addend + s * n : nullptr, (e - s) * n); });
}

// ---------------------------------------------------------------------------------------------
// Element-wise binary operations with broadcasting.

struct RowPlan {
  int64_t outer, inner, segLen, segs;
};
static RowPlan planRows(int rank, const int64_t* shape) {
  RowPlan r;
  r.inner = shape[rank - 1];
  r.outer = 1;
  for (int d = 0; d < rank - 1; d++) r.outer *= shape[d];
  r.segLen = r.inner;
  if (r.inner > 16384) r.segLen = 8192;
  r.segs = (r.inner + r.segLen - 1) / r.segLen;
  return r;
}
/** Offsets of outer row `o` (an index over shape[0 .. rank-2]) in two strided buffers. */
static inline void rowOffsets(int64_t o, int rank, const int64_t* shape, const int64_t* s1, const int64_t* s2, int64_t& off1,
                              int64_t& off2) {
  off1 = off2 = 0;
  for (int d = rank - 2; d >= 0; d--) {
    const int64_t i = o % shape[d];
    o /= shape[d];
    off1 += i * s1[d];
    off2 += i * s2[d];
  }
}

/**
 * fn(row, start, len, off1, off2) over every segment of every innermost row of `shape`, in
 * parallel: row is the outer index, [start, start + len) the part of the row, off1 / off2 the
 * row's offsets in two buffers with strides s1 / s2.
 */
template <typename F>
static void forEachSegment(int rank, const int64_t* shape, const int64_t* s1, const int64_t* s2, F&& fn) {
  const RowPlan plan = planRows(rank, shape);
  const int64_t chunk = std::max<int64_t>(1, 32768 / plan.segLen);
  pool().parallelFor(plan.outer * plan.segs, chunk, [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; t++) {
      const int64_t o = t / plan.segs, start = (t % plan.segs) * plan.segLen;
      int64_t off1, off2;
      rowOffsets(o, rank, shape, s1, s2, off1, off2);
      fn(o, start, std::min(plan.segLen, plan.inner - start), off1, off2);
    }
  });
}

template <typename F>
static void binaryImpl(F f, const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* sa,
                       const int64_t* sb) {
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1], inner = shape[rank - 1];
  forEachSegment(rank, shape, sa, sb, [&](int64_t o, int64_t start, int64_t len, int64_t oa, int64_t ob) {
    const float* __restrict pa = a + oa + start * ia;
    const float* __restrict pb = b + ob + start * ib;
    float* __restrict po = out + o * inner + start;
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < len; i++) po[i] = f(pa[i], pb[i]);
    } else if (ia == 1 && ib == 0) {
      const float bv = pb[0];
      for (int64_t i = 0; i < len; i++) po[i] = f(pa[i], bv);
    } else if (ia == 0 && ib == 1) {
      const float av = pa[0];
      for (int64_t i = 0; i < len; i++) po[i] = f(av, pb[i]);
    } else {
      for (int64_t i = 0; i < len; i++) po[i] = f(pa[i * ia], pb[i * ib]);
    }
  });
}

void binary(Binary op, const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* sa, const int64_t* sb) {
  switch (op) {
    case Binary::Add: return binaryImpl([](float x, float y) { return x + y; }, a, b, out, rank, shape, sa, sb);
    case Binary::Sub: return binaryImpl([](float x, float y) { return x - y; }, a, b, out, rank, shape, sa, sb);
    case Binary::Mul: return binaryImpl([](float x, float y) { return x * y; }, a, b, out, rank, shape, sa, sb);
    case Binary::Div: return binaryImpl([](float x, float y) { return x / y; }, a, b, out, rank, shape, sa, sb);
    case Binary::Max:
      return binaryImpl([](float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); }, a, b, out, rank, shape, sa, sb);
    case Binary::Min:
      return binaryImpl([](float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); }, a, b, out, rank, shape, sa, sb);
    case Binary::SquaredDifference:
      return binaryImpl([](float x, float y) { return (x - y) * (x - y); }, a, b, out, rank, shape, sa, sb);
    case Binary::Pow: return binaryImpl([](float x, float y) { return std::pow(x, y); }, a, b, out, rank, shape, sa, sb);
  }
}

void addN(const float* const* inputs, int k, float* out, int64_t n) {
  pool().parallelFor(n, 32768, [&](int64_t s, int64_t e) {
    float* __restrict po = out;
    const float* __restrict a = inputs[0];
    for (int64_t i = s; i < e; i++) po[i] = a[i];
    for (int j = 1; j < k; j++) {
      const float* __restrict b = inputs[j];
      for (int64_t i = s; i < e; i++) po[i] += b[i];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Element-wise unary operations.

template <typename F>
static void unaryImpl(F f, const float* x, float* out, int64_t n) {
  pool().parallelFor(n, 32768, [&](int64_t s, int64_t e) {
    const float* __restrict px = x;
    float* __restrict po = out;
    for (int64_t i = s; i < e; i++) po[i] = f(px[i]);
  });
}

void unary(Unary op, const float* x, float* out, int64_t n, float alpha) {
  switch (op) {
    case Unary::Exp: return unaryVec([](vf v) { return vexp(v); }, x, out, n);
    case Unary::Erf: return unaryVec([](vf v) { return verf(v); }, x, out, n);
    case Unary::Neg: return unaryImpl([](float v) { return -v; }, x, out, n);
    case Unary::Sqrt: return unaryImpl([](float v) { return std::sqrt(v); }, x, out, n);
    case Unary::Rsqrt: return unaryImpl([](float v) { return 1.0f / std::sqrt(v); }, x, out, n);
    case Unary::Square: return unaryImpl([](float v) { return v * v; }, x, out, n);
    case Unary::Abs: return unaryImpl([](float v) { return std::fabs(v); }, x, out, n);
    case Unary::Relu: return unaryImpl([](float v) { return v != v ? v : (v > 0 ? v : 0.0f); }, x, out, n);
    case Unary::Log: return unaryImpl([](float v) { return std::log(v); }, x, out, n);
    case Unary::Reciprocal: return unaryImpl([](float v) { return 1.0f / v; }, x, out, n);
    case Unary::Sigmoid: return unaryImpl([](float v) { return 1.0f / (1.0f + std::exp(-v)); }, x, out, n);
    case Unary::Tanh: return unaryImpl([](float v) { return std::tanh(v); }, x, out, n);
    case Unary::Step: return unaryImpl([alpha](float v) { return v != v ? NAN : (v > 0 ? 1.0f : alpha); }, x, out, n);
    case Unary::Elu: return unaryImpl([](float v) { return v >= 0 ? v : std::exp(v) - 1.0f; }, x, out, n);
    case Unary::Softplus: return unaryImpl([](float v) { return std::log1p(std::exp(-std::fabs(v))) + std::max(v, 0.0f); }, x, out, n);
    case Unary::Sign: return unaryImpl([](float v) { return v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f); }, x, out, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Sum over the middle axis of [outer, reduce, inner]. Float partial sums over blocks of 256,
// added up in double: as close to the cpu backend (which adds in double) as it needs to be.

static double sumContiguous(const float* x, int64_t len) {
  double total = 0;
  int64_t i = 0;
  while (i < len) {
    const int64_t end = std::min(len, i + 1024);
    vf acc0 = vf{}, acc1 = vf{};
    for (; i + 2 * VW <= end; i += 2 * VW) {
      acc0 += vload(x + i);
      acc1 += vload(x + i + VW);
    }
    float rest = 0;
    for (; i < end; i++) rest += x[i];
    total += double(hsum(acc0 + acc1)) + rest;
  }
  return total;
}

void sumReduce(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner) {
  Pool& p = pool();
  if (reduce == 0) return;  // out stays zero
  // Parts of the reduced axis: a function of the shape only, so results do not depend on threads.
  const int64_t tasksWithoutSplit = outer * std::max<int64_t>(1, inner / 4096);
  const int64_t parts = tasksWithoutSplit >= 8 ? 1 : std::min<int64_t>(64, std::max<int64_t>(1, reduce * inner / 65536));
  const int64_t rPart = (reduce + parts - 1) / parts;
  if (inner == 1) {
    std::vector<double> partial(size_t(outer * parts), 0.0);
    p.parallelFor(outer * parts, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, rPart)), [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; t++) {
        const int64_t o = t / parts, r0 = (t % parts) * rPart, r1 = std::min(reduce, r0 + rPart);
        if (r1 > r0) partial[size_t(t)] = sumContiguous(x + o * reduce + r0, r1 - r0);
      }
    });
    for (int64_t o = 0; o < outer; o++) {
      double acc = 0;
      for (int64_t q = 0; q < parts; q++) acc += partial[size_t(o * parts + q)];
      out[o] = float(acc);
    }
    return;
  }
  const int64_t segLen = std::min<int64_t>(inner, 4096);
  const int64_t segs = (inner + segLen - 1) / segLen;
  std::vector<double> partial(size_t(outer * parts * inner), 0.0);
  p.parallelFor(outer * segs * parts, 1, [&](int64_t s, int64_t e) {
    std::vector<float> accF(static_cast<size_t>(segLen), 0.0f);
    for (int64_t t = s; t < e; t++) {
      const int64_t q = t % parts, seg = (t / parts) % segs, o = t / parts / segs;
      const int64_t i0 = seg * segLen, len = std::min(segLen, inner - i0);
      const int64_t r0 = q * rPart, r1 = std::min(reduce, r0 + rPart);
      double* __restrict accD = partial.data() + (o * parts + q) * inner + i0;
      float* __restrict af = accF.data();
      for (int64_t r = r0; r < r1;) {
        const int64_t rEnd = std::min(r1, r + 256);
        std::fill(af, af + len, 0.0f);
        for (; r < rEnd; r++) {
          const float* __restrict row = x + (o * reduce + r) * inner + i0;
          for (int64_t i = 0; i < len; i++) af[i] += row[i];
        }
        for (int64_t i = 0; i < len; i++) accD[i] += af[i];
      }
    }
  });
  p.parallelFor(outer * inner, 16384, [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; t++) {
      const int64_t o = t / inner, i = t % inner;
      double acc = 0;
      for (int64_t q = 0; q < parts; q++) acc += partial[size_t((o * parts + q) * inner + i)];
      out[t] = float(acc);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Copies (slice, pad, transpose) and gathers.

void stridedCopy(const float* src, float* dst, int rank, const int64_t* shape, const int64_t* ss, const int64_t* ds) {
  const int64_t is = ss[rank - 1], id = ds[rank - 1];
  forEachSegment(rank, shape, ss, ds, [&](int64_t, int64_t start, int64_t len, int64_t os, int64_t od) {
    const float* ps = src + os + start * is;
    float* pd = dst + od + start * id;
    if (is == 1 && id == 1)
      std::memcpy(pd, ps, sizeof(float) * len);
    else
      for (int64_t i = 0; i < len; i++) pd[i * id] = ps[i * is];
  });
}

void fill(float* dst, int64_t n, float value) {
  pool().parallelFor(n, 65536, [&](int64_t s, int64_t e) { std::fill(dst + s, dst + e, value); });
}

void gather(const float* x, const int32_t* idx, float* out, int64_t outer, int64_t axisLen, int64_t nIdx, int64_t inner) {
  pool().parallelFor(outer * nIdx, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; t++) {
      const int64_t o = t / nIdx, j = t % nIdx;
      std::memcpy(out + t * inner, x + (o * axisLen + idx[j]) * inner, sizeof(float) * inner);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Depthwise 3-D convolution, NDHWC, one filter per channel: y[o] = Σ_tap x[o·s − p + tap·d]·w[tap].

static inline void madd(float* __restrict acc, const float* __restrict a, const float* __restrict b, int64_t c) {
  for (int64_t i = 0; i < c; i++) acc[i] += a[i] * b[i];
}

/**
 * The (a, b) taps of output row `row` (sample, depth, height) that fall inside the input, in
 * order: the input row each reads (`xrows`) and its index a·kH + b (`taps`). Returns how many.
 */
static int64_t inputRows(const Conv3dGeom& g, const float* x, int64_t row, const float** xrows, int64_t* taps) {
  const int64_t nn = row / (g.out[0] * g.out[1]), od = (row / g.out[1]) % g.out[0], oh = row % g.out[1];
  int64_t count = 0;
  for (int64_t a = 0; a < g.k[0]; a++) {
    const int64_t id = od * g.stride[0] - g.padBefore[0] + a * g.dilation[0];
    if (id < 0 || id >= g.in[0]) continue;
    for (int64_t b = 0; b < g.k[1]; b++) {
      const int64_t ih = oh * g.stride[1] - g.padBefore[1] + b * g.dilation[1];
      if (ih < 0 || ih >= g.in[1]) continue;
      xrows[count] = x + ((nn * g.in[0] + id) * g.in[1] + ih) * g.in[2] * g.c;
      taps[count++] = a * g.k[1] + b;
    }
  }
  return count;
}

/**
 * R consecutive outputs along W of one channel vector, all K taps of each (a, b) row inside the
 * input: the K weights stay in registers and each input vector is loaded once for the R·K
 * products it takes part in (instead of one load of input and weight per product). Each output
 * still sums its taps in (a, b, t) order, so the result equals the one-output loop's.
 *   xs[j] + xOff: the input at the block's first tap; ws[j] + c: the (a, b) row's weights.
 */
template <int K, int R, int S>
static inline void dwBlock(const float* const* xs, const float* const* ws, int64_t nab, int64_t xOff, int64_t c, int64_t C, vf init, float* y) {
  vf acc[R];
  for (int r = 0; r < R; r++) acc[r] = init;
  for (int64_t j = 0; j < nab; j++) {
    const float* xp = xs[j] + xOff;
    const float* wp = ws[j] + c;
    vf wv[K];
    for (int t = 0; t < K; t++) wv[t] = vload(wp + t * C);
#pragma GCC unroll 64
    for (int i = 0; i < (R - 1) * S + K; i++) {
      const vf xv = vload(xp + i * C);
#pragma GCC unroll 8
      for (int t = 0; t < K; t++) {
        const int o = (i - t) / S;
        if (i >= t && (i - t) % S == 0 && o < R) acc[o] += xv * wv[t];
      }
    }
  }
  for (int r = 0; r < R; r++) vstore(y + r * C, acc[r]);
}

/** Outputs [lo, hi) of a row (every tap inside the input, W stride S, dilation 1) in register blocks; returns where it stopped. */
template <int K, int S>
static int64_t dwRowBlocked(const float* const* xs, const float* const* ws, int64_t nab, int64_t lo, int64_t hi, int64_t pw, int64_t C,
                            const float* bias, float* yrow) {
  const int64_t cv = C / VW * VW;
  int64_t ow = lo;
  for (; ow + 8 <= hi; ow += 8)
    for (int64_t c = 0; c < cv; c += VW) dwBlock<K, 8, S>(xs, ws, nab, (ow * S - pw) * C + c, c, C, bias ? vload(bias + c) : vf{}, yrow + ow * C + c);
  for (; ow + 4 <= hi; ow += 4)
    for (int64_t c = 0; c < cv; c += VW) dwBlock<K, 4, S>(xs, ws, nab, (ow * S - pw) * C + c, c, C, bias ? vload(bias + c) : vf{}, yrow + ow * C + c);
  return ow;
}

/** Dispatch on the W kernel size and stride (3, 5, 7; 1, 2). */
template <template <int, int> class F, typename... A>
static int64_t byKernelStride(int64_t k, int64_t s, A... args) {
  if (s == 1) {
    if (k == 3) return F<3, 1>::run(args...);
    if (k == 5) return F<5, 1>::run(args...);
    return F<7, 1>::run(args...);
  }
  if (k == 3) return F<3, 2>::run(args...);
  if (k == 5) return F<5, 2>::run(args...);
  return F<7, 2>::run(args...);
}
template <int K, int S>
struct RowBlocked {
  static int64_t run(const float* const* xs, const float* const* ws, int64_t nab, int64_t lo, int64_t hi, int64_t pw, int64_t C, const float* bias,
                     float* yrow) {
    return dwRowBlocked<K, S>(xs, ws, nab, lo, hi, pw, C, bias, yrow);
  }
};

/** The outputs [lo, hi) along W whose taps all fall inside the input (stride s, dilation 1). */
static inline void interior(int64_t outW, int64_t inW, int64_t k, int64_t s, int64_t p, int64_t& lo, int64_t& hi) {
  lo = std::min(outW, p > 0 ? (p + s - 1) / s : 0);
  const int64_t last = inW - k + p;  // ow·s ≤ last
  hi = std::max(lo, std::min(outW, last < 0 ? 0 : last / s + 1));
}

void dwConv3dForward(const Conv3dGeom& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t C = g.c, rows = g.n * g.out[0] * g.out[1];
  const int64_t kw = g.k[2], sw = g.stride[2], pw = g.padBefore[2], dw = g.dilation[2], inW = g.in[2];
  const int64_t cv = C / VW * VW;
  // Register blocks along W where every tap of an output is inside the input: ow in [lo, hi).
  const bool blocked = (sw == 1 || sw == 2) && dw == 1 && cv > 0 && (kw == 3 || kw == 5 || kw == 7);
  int64_t lo, hi;
  interior(g.out[2], inW, kw, sw, pw, lo, hi);
  pool().parallelFor(rows, 1, [&](int64_t s, int64_t e) {
    std::vector<const float*> xrows(static_cast<size_t>(g.k[0] * g.k[1])), wrows(xrows.size());
    std::vector<int64_t> taps(xrows.size());
    for (int64_t row = s; row < e; row++) {
      const int64_t nab = inputRows(g, x, row, xrows.data(), taps.data());
      for (int64_t j = 0; j < nab; j++) wrows[size_t(j)] = w + taps[size_t(j)] * kw * C;
      float* yrow = y + row * g.out[2] * C;
      int64_t done = lo;  // outputs [lo, done) are finished in every channel vector
      if (blocked) done = byKernelStride<RowBlocked>(kw, sw, (const float* const*)xrows.data(), (const float* const*)wrows.data(), nab, lo, hi, pw, C, bias, yrow);
      for (int64_t ow = 0; ow < g.out[2]; ow++) {
        const int64_t iw0 = ow * sw - pw;
        // Taps t with 0 ≤ iw0 + t·dw < inW.
        int64_t t0 = 0, t1 = kw;
        while (t0 < t1 && iw0 + t0 * dw < 0) t0++;
        while (t1 > t0 && iw0 + (t1 - 1) * dw >= inW) t1--;
        float* yp = yrow + ow * C;
        // Each output accumulates in a register over its taps, in (a, b, t) order, stored once.
        int64_t c = ow >= lo && ow < done ? cv : 0;
        for (; c + VW <= C; c += VW) {
          vf acc = bias ? vload(bias + c) : vf{};
          for (int64_t j = 0; j < nab; j++) {
            const float* xp = xrows[size_t(j)] + iw0 * C + c;
            const float* wp = wrows[size_t(j)] + c;
            for (int64_t t = t0; t < t1; t++) acc += vload(xp + t * dw * C) * vload(wp + t * C);
          }
          vstore(yp + c, acc);
        }
        for (; c < C; c++) {
          float acc = bias ? bias[c] : 0.0f;
          for (int64_t j = 0; j < nab; j++)
            for (int64_t t = t0; t < t1; t++) acc += xrows[size_t(j)][(iw0 + t * dw) * C + c] * wrows[size_t(j)][t * C + c];
          yp[c] = acc;
        }
      }
    }
  });
}

/** The output index o with o·s − p + tap·d = i, or −1. */
static inline int64_t sourceOf(int64_t i, int64_t tap, int64_t s, int64_t p, int64_t d, int64_t outLen) {
  const int64_t t = i + p - tap * d;
  if (t < 0 || t % s != 0) return -1;
  const int64_t o = t / s;
  return o < outLen ? o : -1;
}

void dwConv3dBackpropInput(const Conv3dGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t C = g.c;
  if (g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1) {
    // With stride 1 the adjoint is a convolution of dy with the filter reversed along every
    // axis, padded by (k − 1)·d − p: dx[i] = Σ_t dy[i + p − t·d]·w[t] = Σ_t' dy[i − p' + t'·d]·w[k − 1 − t'].
    Conv3dGeom f = g;
    for (int i = 0; i < 3; i++) {
      f.in[i] = g.out[i];
      f.out[i] = g.in[i];
      f.padBefore[i] = (g.k[i] - 1) * g.dilation[i] - g.padBefore[i];
    }
    std::vector<float> flipped(size_t(g.k[0] * g.k[1] * g.k[2] * C));
    for (int64_t a = 0; a < g.k[0]; a++)
      for (int64_t b = 0; b < g.k[1]; b++)
        for (int64_t t = 0; t < g.k[2]; t++)
          std::memcpy(flipped.data() + ((a * g.k[1] + b) * g.k[2] + t) * C,
                      w + (((g.k[0] - 1 - a) * g.k[1] + (g.k[1] - 1 - b)) * g.k[2] + (g.k[2] - 1 - t)) * C, sizeof(float) * C);
    dwConv3dForward(f, dy, flipped.data(), nullptr, dx);
    return;
  }
  // Strided: per input row the (a, b) taps that reach it (the dy and filter rows), and per input
  // column the (ow, t) taps, the same for every row (computed once).
  const int64_t rows = g.n * g.in[0] * g.in[1], kw = g.k[2];
  std::vector<int64_t> colStart(size_t(g.in[2] + 1)), colOw, colT;
  for (int64_t iw = 0; iw < g.in[2]; iw++) {
    colStart[size_t(iw)] = int64_t(colOw.size());
    for (int64_t t = 0; t < kw; t++) {
      const int64_t ow = sourceOf(iw, t, g.stride[2], g.padBefore[2], g.dilation[2], g.out[2]);
      if (ow < 0) continue;
      colOw.push_back(ow * C);
      colT.push_back(t * C);
    }
  }
  colStart[size_t(g.in[2])] = int64_t(colOw.size());
  pool().parallelFor(rows, 1, [&](int64_t s, int64_t e) {
    std::vector<const float*> ds(static_cast<size_t>(g.k[0] * g.k[1])), ws(ds.size());
    for (int64_t row = s; row < e; row++) {
      const int64_t nn = row / (g.in[0] * g.in[1]), id = (row / g.in[1]) % g.in[0], ih = row % g.in[1];
      // The (a, b) taps that reach this input row, in order.
      int64_t nab = 0;
      for (int64_t a = 0; a < g.k[0]; a++) {
        const int64_t od = sourceOf(id, a, g.stride[0], g.padBefore[0], g.dilation[0], g.out[0]);
        if (od < 0) continue;
        for (int64_t b = 0; b < g.k[1]; b++) {
          const int64_t oh = sourceOf(ih, b, g.stride[1], g.padBefore[1], g.dilation[1], g.out[1]);
          if (oh < 0) continue;
          ds[size_t(nab)] = dy + ((nn * g.out[0] + od) * g.out[1] + oh) * g.out[2] * C;
          ws[size_t(nab++)] = w + (a * g.k[1] + b) * kw * C;
        }
      }
      for (int64_t iw = 0; iw < g.in[2]; iw++) {
        const int64_t q0 = colStart[size_t(iw)], q1 = colStart[size_t(iw + 1)];
        float* dxp = dx + (row * g.in[2] + iw) * C;
        int64_t c = 0;
        for (; c + VW <= C; c += VW) {
          vf acc{};
          for (int64_t j = 0; j < nab; j++)
            for (int64_t q = q0; q < q1; q++) acc += vload(ds[size_t(j)] + colOw[size_t(q)] + c) * vload(ws[size_t(j)] + colT[size_t(q)] + c);
          vstore(dxp + c, acc);
        }
        for (; c < C; c++) {
          float acc = 0.0f;
          for (int64_t j = 0; j < nab; j++)
            for (int64_t q = q0; q < q1; q++) acc += ds[size_t(j)][colOw[size_t(q)] + c] * ws[size_t(j)][colT[size_t(q)] + c];
          dxp[c] = acc;
        }
      }
    }
  });
}

/**
 * The filter gradient of R consecutive outputs along W of one channel vector against one (a, b)
 * input row (all K taps inside it): the K sums stay in registers and each dy and input vector is
 * loaded once. Adds the R-output sums to acc[t·C + c].
 */
template <int K, int R, int S>
static inline void dwFilterBlock(const float* xp, const float* dyp, int64_t C, vf* sums) {
  vf dv[R];
  for (int r = 0; r < R; r++) dv[r] = vload(dyp + r * C);
#pragma GCC unroll 64
  for (int i = 0; i < (R - 1) * S + K; i++) {
    const vf xv = vload(xp + i * C);
#pragma GCC unroll 8
    for (int t = 0; t < K; t++) {
      const int o = (i - t) / S;
      if (i >= t && (i - t) % S == 0 && o < R) sums[t] += xv * dv[o];
    }
  }
}

/** Filter-gradient sums of the outputs [lo, hi) of one row against one (a, b) input row, per channel vector, added to arow. Returns where it stopped. */
template <int K, int S>
static int64_t dwFilterRow(const float* xrow, const float* dyrow, float* arow, int64_t lo, int64_t hi, int64_t pw, int64_t C) {
  const int64_t cv = C / VW * VW;
  const int64_t end = lo + (hi - lo) / 8 * 8;
  if (end == lo) return lo;
  for (int64_t c = 0; c < cv; c += VW) {
    vf sums[K];
    for (int t = 0; t < K; t++) sums[t] = vf{};
    for (int64_t ow = lo; ow < end; ow += 8) dwFilterBlock<K, 8, S>(xrow + (ow * S - pw) * C + c, dyrow + ow * C + c, C, sums);
    for (int t = 0; t < K; t++) vstore(arow + t * C + c, vload(arow + t * C + c) + sums[t]);
  }
  return end;
}
template <int K, int S>
struct FilterRow {
  static int64_t run(const float* xrow, const float* dyrow, float* arow, int64_t lo, int64_t hi, int64_t pw, int64_t C) {
    return dwFilterRow<K, S>(xrow, dyrow, arow, lo, hi, pw, C);
  }
};

void dwConv3dBackpropFilter(const Conv3dGeom& g, const float* x, const float* dy, float* dw, float* db) {
  const int64_t C = g.c, rows = g.n * g.out[0] * g.out[1];
  const int64_t taps = g.k[0] * g.k[1] * g.k[2], per = (taps + 1) * C;
  const int64_t parts = std::min<int64_t>(rows, 64);  // a function of the shape only
  const int64_t rPart = (rows + parts - 1) / parts;
  const int64_t kw = g.k[2], pw = g.padBefore[2], cv = C / VW * VW;
  const int64_t sw = g.stride[2];
  const bool blocked = (sw == 1 || sw == 2) && g.dilation[2] == 1 && cv > 0 && (kw == 3 || kw == 5 || kw == 7);
  int64_t lo, hi;
  interior(g.out[2], g.in[2], kw, sw, pw, lo, hi);
  std::vector<float> partial(size_t(parts * per), 0.0f);
  pool().parallelFor(parts, 1, [&](int64_t s, int64_t e) {
    std::vector<const float*> xrows(static_cast<size_t>(g.k[0] * g.k[1]));
    std::vector<int64_t> abTaps(xrows.size());
    for (int64_t q = s; q < e; q++) {
      float* acc = partial.data() + q * per;
      float* accB = acc + taps * C;
      for (int64_t row = q * rPart; row < std::min(rows, (q + 1) * rPart); row++) {
        const int64_t nab = inputRows(g, x, row, xrows.data(), abTaps.data());
        const float* dyrow = dy + row * g.out[2] * C;
        int64_t done = lo;  // outputs [lo, done) of this row are summed in every channel vector
        if (blocked) {
          for (int64_t j = 0; j < nab; j++) {
            float* arow = acc + abTaps[size_t(j)] * kw * C;
            done = byKernelStride<FilterRow>(kw, sw, xrows[size_t(j)], dyrow, arow, lo, hi, pw, C);
          }
        }
        for (int64_t ow = 0; ow < g.out[2]; ow++) {
          const float* dyp = dyrow + ow * C;
          for (int64_t c = 0; c < C; c++) accB[c] += dyp[c];
          const int64_t c0 = ow >= lo && ow < done ? cv : 0;  // channels still to do for this output
          if (c0 == C) continue;
          for (int64_t j = 0; j < nab; j++) {
            float* arow = acc + abTaps[size_t(j)] * kw * C;
            for (int64_t t = 0; t < kw; t++) {
              const int64_t iw = ow * g.stride[2] - pw + t * g.dilation[2];
              if (iw < 0 || iw >= g.in[2]) continue;
              madd(arow + t * C + c0, dyp + c0, xrows[size_t(j)] + iw * C + c0, C - c0);
            }
          }
        }
      }
    }
  });
  for (int64_t i = 0; i < per; i++) {
    double v = 0;
    for (int64_t q = 0; q < parts; q++) v += partial[size_t(q * per + i)];
    if (i < taps * C)
      dw[i] = float(v);
    else if (db)
      db[i - taps * C] = float(v);
  }
}

// ---------------------------------------------------------------------------------------------
// GELU, exact (erf) form, and its derivative.

void gelu(const float* x, float* y, int64_t n, float scale) {
  // scale·½ first: for scale 2 the result is x·(1 + erf(x/√2)) rounded once, as the op chain has it.
  const float half = 0.5f * scale;
  unaryVec([half](vf v) { return half * v * (1.0f + verf(v * float(M_SQRT1_2))); }, x, y, n);
}

void geluGrad(const float* x, const float* dy, float* dx, int64_t n) {
  const float invSqrt2Pi = float(0.3989422804014327);
  auto grad = [invSqrt2Pi](vf v, vf g) { return g * (0.5f * (1.0f + verf(v * float(M_SQRT1_2))) + v * vexp(-0.5f * v * v) * invSqrt2Pi); };
  pool().parallelFor(n, 32768, [&](int64_t s, int64_t e) {
    int64_t i = s;
    for (; i + VW <= e; i += VW) vstore(dx + i, grad(vload(x + i), vload(dy + i)));
    if (i < e) {
      float tx[VW] = {}, tg[VW] = {};
      for (int64_t j = i; j < e; j++) tx[j - i] = x[j], tg[j - i] = dy[j];
      vstore(tx, grad(vload(tx), vload(tg)));
      for (int64_t j = i; j < e; j++) dx[j] = tx[j - i];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// GroupNorm over [N, V, C] (V voxels, channels last; groups of C/G consecutive channels).
// Per-channel sums run over a fixed number of row ranges per sample (a function of the shape
// only), each accumulating in double; the ranges are then added in order, so results do not
// depend on threads.

// Per-channel sums over `rows` rows of c channels: s1[j] += Σ a[r, j] and s2[j] += Σ a[r, j]·b[r, j] (b = a if Square), in double.
// Rows go in tiles of ~64 KB (in L2); within a tile, each block of channels is summed over the tile's rows in registers, two
// rows at a time into separate accumulators (independent chains), then added to s1, s2. The order of additions is a function
// of (rows, c) only.
typedef double vd __attribute__((vector_size(VW * 4)));
typedef float vh __attribute__((vector_size(VW * 2)));
constexpr int DW = VW / 2;  // doubles per vector
static inline vd vloadWide(const float* p) {
  vh h;
  std::memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, vd);
}
static inline void vaddTo(double* p, vd v) {
  vd o;
  std::memcpy(&o, p, sizeof o);
  o += v;
  std::memcpy(p, &o, sizeof o);
}

/** Channels [j, j + NV·DW) over rows [0, rows) (row stride c). */
template <bool Square, int NV>
static inline void channelBlockSums(const float* a, const float* b, int64_t rows, int64_t c, int64_t j, double* s1, double* s2) {
  vd p0[NV], q0[NV], p1[NV], q1[NV];
  for (int u = 0; u < NV; u++) p0[u] = q0[u] = p1[u] = q1[u] = vd{};
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float* ar = a + r * c + j;
    const float* br = Square ? ar : b + r * c + j;
    for (int u = 0; u < NV; u++) {
      const vd x0 = vloadWide(ar + u * DW), x1 = vloadWide(ar + c + u * DW);
      const vd y0 = Square ? x0 : vloadWide(br + u * DW), y1 = Square ? x1 : vloadWide(br + c + u * DW);
      p0[u] += x0;
      q0[u] += x0 * y0;
      p1[u] += x1;
      q1[u] += x1 * y1;
    }
  }
  if (r < rows) {
    const float* ar = a + r * c + j;
    const float* br = Square ? ar : b + r * c + j;
    for (int u = 0; u < NV; u++) {
      const vd x0 = vloadWide(ar + u * DW), y0 = Square ? x0 : vloadWide(br + u * DW);
      p0[u] += x0;
      q0[u] += x0 * y0;
    }
  }
  for (int u = 0; u < NV; u++) {
    vaddTo(s1 + j + u * DW, p0[u] + p1[u]);
    vaddTo(s2 + j + u * DW, q0[u] + q1[u]);
  }
}

template <bool Square>
static void channelSums(const float* a, const float* b, int64_t rows, int64_t c, double* s1, double* s2) {
  constexpr int NV = 4;
  const int64_t tile = std::max<int64_t>(2, 16384 / c);
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t tr = std::min(tile, rows - r0);
    const float* at = a + r0 * c;
    const float* bt = Square ? at : b + r0 * c;
    int64_t j = 0;
    for (; j + NV * DW <= c; j += NV * DW) channelBlockSums<Square, NV>(at, bt, tr, c, j, s1, s2);
    for (; j + 2 * DW <= c; j += 2 * DW) channelBlockSums<Square, 2>(at, bt, tr, c, j, s1, s2);
    for (; j + DW <= c; j += DW) channelBlockSums<Square, 1>(at, bt, tr, c, j, s1, s2);
    for (; j < c; j++) {
      double p = 0, q = 0;
      for (int64_t r = 0; r < tr; r++) {
        const double x = at[r * c + j], y = Square ? x : double(bt[r * c + j]);
        p += x;
        q += x * y;
      }
      s1[j] += p;
      s2[j] += q;
    }
  }
}

/** fn(sample, row0, row1) over the N·V rows of [N, V, C] in parallel, each call within one sample (no division per row). */
template <typename F>
static void forSampleRows(int64_t n, int64_t v, int64_t c, F&& fn) {
  pool().parallelFor(n * v, std::max<int64_t>(1, 32768 / c), [&](int64_t s, int64_t e) {
    while (s < e) {
      const int64_t nn = s / v, stop = std::min(e, (nn + 1) * v);
      fn(nn, s, stop);
      s = stop;
    }
  });
}

namespace {
struct GnPlan {
  int64_t n, v, c, groups, cg, parts, rPart;
  GnPlan(int64_t n_, int64_t v_, int64_t c_, int64_t g_) : n(n_), v(v_), c(c_), groups(g_), cg(c_ / g_) {
    parts = std::min<int64_t>(64, std::max<int64_t>(1, v * c / 65536));
    rPart = (v + parts - 1) / parts;
  }
  /** fn(sample, row0, row1, partialIndex) over every part, in parallel. */
  template <typename F>
  void forParts(F&& fn) const {
    pool().parallelFor(n * parts, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; t++) {
        const int64_t nn = t / parts, r0 = (t % parts) * rPart, r1 = std::min(v, r0 + rPart);
        if (r1 > r0) fn(nn, r0, r1, t);
      }
    });
  }
  /** Σ over the parts: partial [N·parts, k·C] → out [N, k·C]. */
  void reduceParts(const std::vector<double>& partial, std::vector<double>& out, int64_t k) const {
    out.assign(size_t(n * k * c), 0.0);
    for (int64_t nn = 0; nn < n; nn++)
      for (int64_t q = 0; q < parts; q++) {
        const double* p = partial.data() + (nn * parts + q) * k * c;
        double* o = out.data() + nn * k * c;
        for (int64_t i = 0; i < k * c; i++) o[i] += p[i];
      }
  }
  /** [N, C] → Σ over each group's channels, broadcast back to its channels. */
  void groupSum(const double* in, double* out) const {
    for (int64_t nn = 0; nn < n; nn++)
      for (int64_t g = 0; g < groups; g++) {
        double s = 0;
        for (int64_t j = 0; j < cg; j++) s += in[nn * c + g * cg + j];
        for (int64_t j = 0; j < cg; j++) out[nn * c + g * cg + j] = s;
      }
  }
};
}  // namespace

void groupNormStats(const float* x, float* centred, float* mean, float* rstd, int64_t n, int64_t v, int64_t c, int64_t groups, double eps) {
  const GnPlan plan(n, v, c, groups);
  const double count = double(v) * double(plan.cg);
  // One pass: Σx and Σx² per channel (double), then var = E[x²] − μ² per group in double. x² of a float32 is exact in double,
  // and the sums keep ~16 digits, so the cancellation of an offset mean (μ²/var up to ~1e6) leaves ≥ 10 digits of var.
  std::vector<double> partial(size_t(n * plan.parts * 2 * c), 0.0), sums, s1(size_t(n * c)), s2(size_t(n * c)), g1(size_t(n * c)),
      g2(size_t(n * c));
  plan.forParts([&](int64_t nn, int64_t r0, int64_t r1, int64_t t) {
    double* acc = partial.data() + t * 2 * c;
    channelSums<true>(x + (nn * v + r0) * c, nullptr, r1 - r0, c, acc, acc + c);
  });
  plan.reduceParts(partial, sums, 2);
  for (int64_t nn = 0; nn < n; nn++)
    for (int64_t j = 0; j < c; j++) {
      s1[size_t(nn * c + j)] = sums[size_t(nn * 2 * c + j)];
      s2[size_t(nn * c + j)] = sums[size_t(nn * 2 * c + c + j)];
    }
  plan.groupSum(s1.data(), g1.data());
  plan.groupSum(s2.data(), g2.data());
  for (int64_t i = 0; i < n * c; i++) {
    const double mu = g1[size_t(i)] / count;
    const double var = std::max(0.0, g2[size_t(i)] / count - mu * mu);
    mean[i] = float(mu);
    rstd[i] = float(1.0 / std::sqrt(var + eps));
  }
  if (!centred) return;
  forSampleRows(n, v, c, [&](int64_t nn, int64_t s, int64_t e) {
    const float* __restrict mu = mean + nn * c;
    for (int64_t row = s; row < e; row++) {
      const float* __restrict xr = x + row * c;
      float* __restrict out = centred + row * c;
      for (int64_t j = 0; j < c; j++) out[j] = xr[j] - mu[j];
    }
  });
}

void channelAffine(const float* x, const float* scale, const float* shift, float* y, int64_t n, int64_t v, int64_t c) {
  forSampleRows(n, v, c, [&](int64_t nn, int64_t s, int64_t e) {
    const float* __restrict a = scale + nn * c;
    const float* __restrict b = shift + nn * c;
    for (int64_t row = s; row < e; row++) {
      const float* __restrict xr = x + row * c;
      float* __restrict yr = y + row * c;
      for (int64_t j = 0; j < c; j++) yr[j] = xr[j] * a[j] + b[j];
    }
  });
}

void groupNormBackward(const float* dy, const float* centred, const float* rstd, const float* gamma, float* dx, float* dgamma, float* dbeta,
                       int64_t n, int64_t v, int64_t c, int64_t groups) {
  const GnPlan plan(n, v, c, groups);
  const double count = double(v) * double(plan.cg);
  // Pass 1: A = Σ dy, B = Σ dy·(x − μ) per sample and channel.
  std::vector<double> partial(size_t(n * plan.parts * 2 * c), 0.0), sums;
  plan.forParts([&](int64_t nn, int64_t r0, int64_t r1, int64_t t) {
    double* acc = partial.data() + t * 2 * c;
    channelSums<false>(dy + (nn * v + r0) * c, centred + (nn * v + r0) * c, r1 - r0, c, acc, acc + c);
  });
  plan.reduceParts(partial, sums, 2);
  // Coefficients: dx = dy·k1 + (x − μ)·k2 + k3.
  std::vector<double> ga(size_t(n * c)), gb(size_t(n * c)), sa(size_t(n * c)), sb(size_t(n * c));
  std::vector<double> dg(size_t(c), 0.0), db(size_t(c), 0.0);
  for (int64_t nn = 0; nn < n; nn++)
    for (int64_t j = 0; j < c; j++) {
      const double A = sums[size_t(nn * 2 * c + j)], Bx = sums[size_t(nn * 2 * c + c + j)] * rstd[nn * c + j];  // Σ dy·x̂
      dg[size_t(j)] += Bx;
      db[size_t(j)] += A;
      ga[size_t(nn * c + j)] = gamma[j] * A;
      gb[size_t(nn * c + j)] = gamma[j] * Bx;
    }
  plan.groupSum(ga.data(), sa.data());
  plan.groupSum(gb.data(), sb.data());
  std::vector<float> k1(size_t(n * c)), k2(size_t(n * c)), k3(size_t(n * c));
  for (int64_t i = 0; i < n * c; i++) {
    const double r = rstd[i];
    k1[size_t(i)] = float(r * gamma[i % c]);
    k2[size_t(i)] = float(-r * r / count * sb[size_t(i)]);
    k3[size_t(i)] = float(-r / count * sa[size_t(i)]);
  }
  for (int64_t j = 0; j < c; j++) {
    if (dgamma) dgamma[j] = float(dg[size_t(j)]);
    if (dbeta) dbeta[j] = float(db[size_t(j)]);
  }
  // Pass 2.
  forSampleRows(n, v, c, [&](int64_t nn, int64_t s, int64_t e) {
    const float* __restrict p1 = k1.data() + nn * c;
    const float* __restrict p2 = k2.data() + nn * c;
    const float* __restrict p3 = k3.data() + nn * c;
    for (int64_t row = s; row < e; row++) {
      const float* __restrict g = dy + row * c;
      const float* __restrict cr = centred + row * c;
      float* __restrict out = dx + row * c;
      for (int64_t j = 0; j < c; j++) out[j] = g[j] * p1[j] + cr[j] * p2[j] + p3[j];
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax over the last axis: exp(x − max) / Σ exp(x − max), row by row.

void softmax(const float* x, float* y, int64_t rows, int64_t k) {
  pool().parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, k)), [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; r++) {
      const float* __restrict xr = x + r * k;
      float* __restrict yr = y + r * k;
      float m = -INFINITY;
      for (int64_t j = 0; j < k; j++) m = xr[j] > m || xr[j] != xr[j] ? xr[j] : m;
      float sum = 0;
      for (int64_t j = 0; j < k; j++) sum += (yr[j] = std::exp(xr[j] - m));
      for (int64_t j = 0; j < k; j++) yr[j] /= sum;
    }
  });
}

}  // namespace mnxc

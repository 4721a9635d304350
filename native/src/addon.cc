// Node-API bindings of the kernels: synchronous functions over Float32Arrays that the caller
// allocates (the TF.js cpu backend's own buffers, so nothing is copied). Every size is checked
// against the arrays' lengths here, so a wrong call throws instead of reading out of bounds.
#include <node_api.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace mnxc {

Pool& pool() {
  static Pool instance([] {
    const char* env = std::getenv("MNXC_NATIVE_THREADS");
    int n = env ? std::atoi(env) : 0;
    if (n <= 0) n = int(std::thread::hardware_concurrency());
    return n > 0 ? n : 1;
  }());
  return instance;
}

}  // namespace mnxc

namespace {

using mnxc::kMaxRank;

struct Failure {
  std::string message;
};

void check(napi_env env, napi_status status) {
  if (status != napi_ok) throw Failure{"Node-API call failed"};
}

template <typename T>
T* typedArray(napi_env env, napi_value v, napi_typedarray_type want, int64_t& length, const char* what) {
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is));
  if (!is) throw Failure{std::string(what) + ": expected a typed array"};
  napi_typedarray_type type;
  size_t len;
  void* data;
  check(env, napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr));
  if (type != want) throw Failure{std::string(what) + ": wrong typed array type"};
  length = int64_t(len);
  return static_cast<T*>(data);
}

float* f32(napi_env env, napi_value v, int64_t need, const char* what) {
  int64_t len;
  float* p = typedArray<float>(env, v, napi_float32_array, len, what);
  if (len < need) throw Failure{std::string(what) + ": array too short (" + std::to_string(len) + " < " + std::to_string(need) + ")"};
  return p;
}

bool isNull(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

int64_t i64(napi_env env, napi_value v) {
  int64_t out;
  if (napi_get_value_int64(env, v, &out) != napi_ok) throw Failure{"expected a number"};
  return out;
}

double f64(napi_env env, napi_value v) {
  double out;
  if (napi_get_value_double(env, v, &out) != napi_ok) throw Failure{"expected a number"};
  return out;
}

bool boolean(napi_env env, napi_value v) {
  bool out;
  if (napi_get_value_bool(env, v, &out) != napi_ok) throw Failure{"expected a boolean"};
  return out;
}

std::vector<int64_t> ints(napi_env env, napi_value v) {
  bool is = false;
  check(env, napi_is_array(env, v, &is));
  if (!is) throw Failure{"expected an array of integers"};
  uint32_t n;
  check(env, napi_get_array_length(env, v, &n));
  std::vector<int64_t> out(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    check(env, napi_get_element(env, v, i, &e));
    out[i] = i64(env, e);
  }
  return out;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/** The first `want` arguments (missing optional ones, up to `most`, are undefined). */
std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want, size_t most = 0) {
  most = std::max(most, want);
  std::vector<napi_value> argv(most);
  size_t argc = most;
  check(env, napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc < want) throw Failure{"expected " + std::to_string(want) + " arguments"};
  for (size_t i = argc; i < most; i++) argv[i] = undefinedValue(env);
  return argv;
}

/** Elements a strided view over `shape` reaches from its start, +1 (0 for an empty shape). */
int64_t extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); d++) {
    if (shape[d] <= 0) return 0;
    if (strides[d] < 0) throw Failure{"negative stride"};
    last += (shape[d] - 1) * strides[d];
  }
  return last + 1;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) {
    if (x < 0) throw Failure{"negative size"};
    p *= x;
  }
  return p;
}

template <typename F>
napi_value guarded(napi_env env, F f) {
  try {
    return f();
  } catch (const Failure& e) {
    napi_throw_error(env, nullptr, ("mnxc native: " + e.message).c_str());
    return nullptr;
  }
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, threads, simd;
  napi_create_object(env, &obj);
  napi_create_int32(env, mnxc::pool().size(), &threads);
#if defined(__AVX512F__)
  const char* s = "AVX-512";
#elif defined(__AVX2__)
  const char* s = "AVX2";
#elif defined(__AVX__)
  const char* s = "AVX";
#elif defined(__ARM_NEON)
  const char* s = "NEON";
#else
  const char* s = "SSE/none";
#endif
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &simd);
  napi_set_named_property(env, obj, "threads", threads);
  napi_set_named_property(env, obj, "simd", simd);
  return obj;
}

// matmul(a, b, out, batch, batchA, batchB, m, k, n, transA, transB[, bias [n] | null])
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 11, 12);
    const int64_t batch = i64(env, a[3]), ba = i64(env, a[4]), bb = i64(env, a[5]);
    const int64_t m = i64(env, a[6]), k = i64(env, a[7]), n = i64(env, a[8]);
    if (batch < 1 || ba < 1 || bb < 1 || m < 0 || k < 0 || n < 0) throw Failure{"matmul: bad sizes"};
    const float* pa = f32(env, a[0], ba * m * k, "matmul a");
    const float* pb = f32(env, a[1], bb * k * n, "matmul b");
    float* pc = f32(env, a[2], batch * m * n, "matmul out");
    const float* bias = isNull(env, a[11]) ? nullptr : f32(env, a[11], n, "matmul bias");
    if (m > 0 && n > 0 && k > 0) mnxc::matmul(pa, pb, pc, batch, ba, bb, m, k, n, boolean(env, a[9]), boolean(env, a[10]), bias);
    else if (bias && m > 0 && n > 0)
      for (int64_t r = 0; r < batch * m; r++)
        for (int64_t j = 0; j < n; j++) pc[r * n + j] = bias[j];
    return undefinedValue(env);
  });
}

// matmulEpilogue(a, b, out, m, k, n, bias, epilogue, addend): out = epilogue(a·b + bias), one
// sample, no transposes; epilogue 1 = exact GELU, 2 = + addend [m, n] (a separate entry point, so
// JavaScript can tell an addon built before it).
napi_value MatMulEpilogue(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    const int64_t m = i64(env, a[3]), k = i64(env, a[4]), n = i64(env, a[5]), e = i64(env, a[7]);
    if (m < 1 || k < 1 || n < 1) throw Failure{"matmulEpilogue: bad sizes"};
    if (e != int64_t(mnxc::Epilogue::Gelu) && e != int64_t(mnxc::Epilogue::Add)) throw Failure{"matmulEpilogue: unknown epilogue"};
    const float* pa = f32(env, a[0], m * k, "matmulEpilogue a");
    const float* pb = f32(env, a[1], k * n, "matmulEpilogue b");
    float* pc = f32(env, a[2], m * n, "matmulEpilogue out");
    const float* bias = f32(env, a[6], n, "matmulEpilogue bias");
    const float* addend = e == int64_t(mnxc::Epilogue::Add) ? f32(env, a[8], m * n, "matmulEpilogue addend") : nullptr;
    mnxc::matmul(pa, pb, pc, 1, 1, 1, m, k, n, false, false, bias, mnxc::Epilogue(e), addend);
    return undefinedValue(env);
  });
}

// matmulFused(a, b, out, m, k, n, transA, transB, bias | null, prologue, epilogue, addend | null[, centre [k]]): out =
// epilogue(prologue(op(a))·op(b) + bias), one sample; prologue 1 = x·(1 + erf(x/√2)) on a's values, 2 = x − centre[column];
// epilogue 0 none, 1 GELU, 2 + addend [m, n], 3 × GELU′(addend).
napi_value MatMulFused(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 12, 13);
    const int64_t m = i64(env, a[3]), k = i64(env, a[4]), n = i64(env, a[5]), pro = i64(env, a[9]), e = i64(env, a[10]);
    if (m < 1 || k < 1 || n < 1) throw Failure{"matmulFused: bad sizes"};
    if (pro < 0 || pro > int64_t(mnxc::Prologue::Centre)) throw Failure{"matmulFused: unknown prologue"};
    if (e < 0 || e > int64_t(mnxc::Epilogue::GeluGrad)) throw Failure{"matmulFused: unknown epilogue"};
    const float* pa = f32(env, a[0], m * k, "matmulFused a");
    const float* pb = f32(env, a[1], k * n, "matmulFused b");
    float* pc = f32(env, a[2], m * n, "matmulFused out");
    const float* bias = isNull(env, a[8]) ? nullptr : f32(env, a[8], n, "matmulFused bias");
    const bool needsAddend = e == int64_t(mnxc::Epilogue::Add) || e == int64_t(mnxc::Epilogue::GeluGrad);
    const float* addend = needsAddend ? f32(env, a[11], m * n, "matmulFused addend") : nullptr;
    const float* centre = pro == int64_t(mnxc::Prologue::Centre) ? f32(env, a[12], k, "matmulFused centre") : nullptr;
    mnxc::matmul(pa, pb, pc, 1, 1, 1, m, k, n, boolean(env, a[6]), boolean(env, a[7]), bias, mnxc::Epilogue(e), addend, mnxc::Prologue(pro),
                 centre);
    return undefinedValue(env);
  });
}

// binary(op, a, b, out, shape, stridesA, stridesB)
napi_value BinaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    const int64_t op = i64(env, a[0]);
    if (op < 0 || op > int64_t(mnxc::Binary::Pow)) throw Failure{"binary: unknown op"};
    auto shape = ints(env, a[4]), sa = ints(env, a[5]), sb = ints(env, a[6]);
    if (shape.empty() || shape.size() > size_t(kMaxRank) || sa.size() != shape.size() || sb.size() != shape.size())
      throw Failure{"binary: bad rank"};
    const float* pa = f32(env, a[1], extent(shape, sa), "binary a");
    const float* pb = f32(env, a[2], extent(shape, sb), "binary b");
    float* po = f32(env, a[3], product(shape), "binary out");
    if (product(shape) > 0)
      mnxc::binary(mnxc::Binary(op), pa, pb, po, int(shape.size()), shape.data(), sa.data(), sb.data());
    return undefinedValue(env);
  });
}

// addN([arrays], out): out = Σ arrays, all of out's length
napi_value AddN(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 2);
    int64_t n;
    float* po = typedArray<float>(env, a[1], napi_float32_array, n, "addN out");
    bool is = false;
    check(env, napi_is_array(env, a[0], &is));
    uint32_t k = 0;
    if (is) check(env, napi_get_array_length(env, a[0], &k));
    if (k == 0) throw Failure{"addN: expected a non-empty array of inputs"};
    std::vector<const float*> ins(k);
    for (uint32_t i = 0; i < k; i++) {
      napi_value e;
      check(env, napi_get_element(env, a[0], i, &e));
      ins[i] = f32(env, e, n, "addN input");
    }
    mnxc::addN(ins.data(), int(k), po, n);
    return undefinedValue(env);
  });
}

// unary(op, x, out, alpha)
napi_value UnaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    const int64_t op = i64(env, a[0]);
    if (op < 0 || op > int64_t(mnxc::Unary::Sign)) throw Failure{"unary: unknown op"};
    int64_t n;
    const float* px = typedArray<float>(env, a[1], napi_float32_array, n, "unary x");
    float* po = f32(env, a[2], n, "unary out");
    mnxc::unary(mnxc::Unary(op), px, po, n, float(f64(env, a[3])));
    return undefinedValue(env);
  });
}

// sum(x, out, outer, reduce, inner)
napi_value Sum(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    const int64_t outer = i64(env, a[2]), reduce = i64(env, a[3]), inner = i64(env, a[4]);
    if (outer < 0 || reduce < 0 || inner < 0) throw Failure{"sum: bad sizes"};
    const float* px = f32(env, a[0], outer * reduce * inner, "sum x");
    float* po = f32(env, a[1], outer * inner, "sum out");
    if (outer > 0 && inner > 0) mnxc::sumReduce(px, po, outer, reduce, inner);
    return undefinedValue(env);
  });
}

// copy(src, srcOffset, dst, dstOffset, shape, srcStrides, dstStrides)
napi_value Copy(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    const int64_t so = i64(env, a[1]), dof = i64(env, a[3]);
    auto shape = ints(env, a[4]), ss = ints(env, a[5]), ds = ints(env, a[6]);
    if (shape.empty() || shape.size() > size_t(kMaxRank) || ss.size() != shape.size() || ds.size() != shape.size() || so < 0 || dof < 0)
      throw Failure{"copy: bad arguments"};
    const float* ps = f32(env, a[0], so + extent(shape, ss), "copy src");
    float* pd = f32(env, a[2], dof + extent(shape, ds), "copy dst");
    if (product(shape) > 0) mnxc::stridedCopy(ps + so, pd + dof, int(shape.size()), shape.data(), ss.data(), ds.data());
    return undefinedValue(env);
  });
}

// fill(dst, value)
napi_value Fill(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 2);
    int64_t n;
    float* pd = typedArray<float>(env, a[0], napi_float32_array, n, "fill dst");
    mnxc::fill(pd, n, float(f64(env, a[1])));
    return undefinedValue(env);
  });
}

// gather(x, indices (Int32Array), out, outer, axisLen, inner)
napi_value Gather(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 6);
    const int64_t outer = i64(env, a[3]), axisLen = i64(env, a[4]), inner = i64(env, a[5]);
    int64_t nIdx;
    const int32_t* idx = typedArray<int32_t>(env, a[1], napi_int32_array, nIdx, "gather indices");
    if (outer < 0 || axisLen < 0 || inner < 0) throw Failure{"gather: bad sizes"};
    for (int64_t j = 0; j < nIdx; j++)
      if (idx[j] < 0 || idx[j] >= axisLen) throw Failure{"gather: index out of range"};
    const float* px = f32(env, a[0], outer * axisLen * inner, "gather x");
    float* po = f32(env, a[2], outer * nIdx * inner, "gather out");
    if (outer * nIdx * inner > 0) mnxc::gather(px, idx, po, outer, axisLen, nIdx, inner);
    return undefinedValue(env);
  });
}

// dwconv3d(mode, geometry [n, c, in×3, out×3, k×3, stride×3, padBefore×3, dilation×3], p0, p1, p2, p3)
//   mode 0: forward (x, w, bias | null, y); 1: backprop input (dy, w, dx, -); 2: backprop filter (x, dy, dw, db | null)
napi_value DwConv3d(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 6);
    const int64_t mode = i64(env, a[0]);
    auto v = ints(env, a[1]);
    if (v.size() != 20) throw Failure{"dwconv3d: geometry needs 20 numbers"};
    mnxc::Conv3dGeom g;
    g.n = v[0];
    g.c = v[1];
    for (int i = 0; i < 3; i++) {
      g.in[i] = v[2 + i];
      g.out[i] = v[5 + i];
      g.k[i] = v[8 + i];
      g.stride[i] = v[11 + i];
      g.padBefore[i] = v[14 + i];
      g.dilation[i] = v[17 + i];
      if (g.in[i] < 1 || g.out[i] < 1 || g.k[i] < 1 || g.stride[i] < 1 || g.dilation[i] < 1 || g.padBefore[i] < 0)
        throw Failure{"dwconv3d: bad geometry"};
    }
    if (g.n < 1 || g.c < 1) throw Failure{"dwconv3d: bad geometry"};
    const int64_t xs = g.n * g.in[0] * g.in[1] * g.in[2] * g.c;
    const int64_t ys = g.n * g.out[0] * g.out[1] * g.out[2] * g.c;
    const int64_t ws = g.k[0] * g.k[1] * g.k[2] * g.c;
    if (mode == 0) {
      const float* bias = isNull(env, a[4]) ? nullptr : f32(env, a[4], g.c, "dwconv3d bias");
      mnxc::dwConv3dForward(g, f32(env, a[2], xs, "dwconv3d x"), f32(env, a[3], ws, "dwconv3d filter"), bias, f32(env, a[5], ys, "dwconv3d y"));
    } else if (mode == 1) {
      mnxc::dwConv3dBackpropInput(g, f32(env, a[2], ys, "dwconv3d dy"), f32(env, a[3], ws, "dwconv3d filter"), f32(env, a[4], xs, "dwconv3d dx"));
    } else if (mode == 2) {
      float* db = isNull(env, a[5]) ? nullptr : f32(env, a[5], g.c, "dwconv3d db");
      mnxc::dwConv3dBackpropFilter(g, f32(env, a[2], xs, "dwconv3d x"), f32(env, a[3], ys, "dwconv3d dy"), f32(env, a[4], ws, "dwconv3d dw"), db);
    } else {
      throw Failure{"dwconv3d: unknown mode"};
    }
    return undefinedValue(env);
  });
}

// gelu(x, y[, scale = 1]) and geluGrad(x, dy, dx)
napi_value Gelu(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 2, 3);
    int64_t n;
    const float* px = typedArray<float>(env, a[0], napi_float32_array, n, "gelu x");
    const float scale = isNull(env, a[2]) ? 1.0f : float(f64(env, a[2]));
    mnxc::gelu(px, f32(env, a[1], n, "gelu y"), n, scale);
    return undefinedValue(env);
  });
}

napi_value GeluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    int64_t n;
    const float* px = typedArray<float>(env, a[0], napi_float32_array, n, "geluGrad x");
    mnxc::geluGrad(px, f32(env, a[1], n, "geluGrad dy"), f32(env, a[2], n, "geluGrad dx"), n);
    return undefinedValue(env);
  });
}

/** [n, v, c, groups] checked: all ≥ 1 (v ≥ 0) and groups dividing c. */
void gnSizes(napi_env env, const std::vector<napi_value>& a, size_t at, int64_t& n, int64_t& v, int64_t& c, int64_t& g, const char* what) {
  n = i64(env, a[at]);
  v = i64(env, a[at + 1]);
  c = i64(env, a[at + 2]);
  g = i64(env, a[at + 3]);
  if (n < 1 || v < 0 || c < 1 || g < 1 || c % g != 0) throw Failure{std::string(what) + ": bad sizes"};
}

// groupNormStats(x, centred | null, mean [n·c], rstd [n·c], n, v, c, groups, eps)
napi_value GroupNormStats(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    int64_t n, v, c, g;
    gnSizes(env, a, 4, n, v, c, g, "groupNormStats");
    const float* px = f32(env, a[0], n * v * c, "groupNormStats x");
    float* pc = isNull(env, a[1]) ? nullptr : f32(env, a[1], n * v * c, "groupNormStats centred");
    float* pm = f32(env, a[2], n * c, "groupNormStats mean");
    float* pr = f32(env, a[3], n * c, "groupNormStats rstd");
    mnxc::groupNormStats(px, pc, pm, pr, n, v, c, g, f64(env, a[8]));
    return undefinedValue(env);
  });
}

// channelAffine(x, scale [n·c], shift [n·c], y, n, v, c): y = x·scale + shift per sample and channel
napi_value ChannelAffine(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    const int64_t n = i64(env, a[4]), v = i64(env, a[5]), c = i64(env, a[6]);
    if (n < 1 || v < 0 || c < 1) throw Failure{"channelAffine: bad sizes"};
    const float* px = f32(env, a[0], n * v * c, "channelAffine x");
    const float* ps = f32(env, a[1], n * c, "channelAffine scale");
    const float* pb = f32(env, a[2], n * c, "channelAffine shift");
    float* py = f32(env, a[3], n * v * c, "channelAffine y");
    mnxc::channelAffine(px, ps, pb, py, n, v, c);
    return undefinedValue(env);
  });
}

// groupNormBackward(dy, centred, rstd [n·c], gamma [c], dx, dgamma [c] | null, dbeta [c] | null, n, v, c, groups)
napi_value GroupNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 11);
    int64_t n, v, c, g;
    gnSizes(env, a, 7, n, v, c, g, "groupNormBackward");
    const int64_t all = n * v * c;
    const float* pdy = f32(env, a[0], all, "groupNormBackward dy");
    const float* pc = f32(env, a[1], all, "groupNormBackward centred");
    const float* pr = f32(env, a[2], n * c, "groupNormBackward rstd");
    const float* pg = f32(env, a[3], c, "groupNormBackward gamma");
    float* pdx = f32(env, a[4], all, "groupNormBackward dx");
    float* pdg = isNull(env, a[5]) ? nullptr : f32(env, a[5], c, "groupNormBackward dgamma");
    float* pdb = isNull(env, a[6]) ? nullptr : f32(env, a[6], c, "groupNormBackward dbeta");
    mnxc::groupNormBackward(pdy, pc, pr, pg, pdx, pdg, pdb, n, v, c, g);
    return undefinedValue(env);
  });
}

// softmax(x, y, rows, k): softmax over the last axis of x [rows, k]
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    const int64_t rows = i64(env, a[2]), k = i64(env, a[3]);
    if (rows < 0 || k < 1) throw Failure{"softmax: bad sizes"};
    const float* px = f32(env, a[0], rows * k, "softmax x");
    float* py = f32(env, a[1], rows * k, "softmax y");
    mnxc::softmax(px, py, rows, k);
    return undefinedValue(env);
  });
}

/**
 * glibc serves large allocations (TF.js's Float32Arrays: up to ~70 MB per activation here) with
 * fresh mmap()s and unmaps them on free, so every kernel output pays a page fault per 4 KiB
 * (measured: 10× the time of the kernel itself). Keeping freed memory in the heap instead makes
 * allocation a reuse. MNXC_NATIVE_MALLOC=0 leaves malloc alone.
 */
void tuneMalloc() {
#if defined(__GLIBC__)
  const char* env = std::getenv("MNXC_NATIVE_MALLOC");
  if (env && env[0] == '0') return;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

napi_value Init(napi_env env, napi_value exports) {
  tuneMalloc();
  // How many prologue kinds matmulFused knows (3: none, 2·GELU, centre), for the TypeScript side to tell an older build.
  napi_value prologues;
  napi_create_int32(env, int32_t(mnxc::Prologue::Centre) + 1, &prologues);
  const napi_property_descriptor props[] = {
      {"matmulPrologues", nullptr, nullptr, nullptr, nullptr, prologues, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmulEpilogue", nullptr, MatMulEpilogue, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmulFused", nullptr, MatMulFused, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, BinaryOp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addN", nullptr, AddN, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, UnaryOp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sum", nullptr, Sum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copy", nullptr, Copy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fill", nullptr, Fill, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gather", nullptr, Gather, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dwconv3d", nullptr, DwConv3d, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNormStats", nullptr, GroupNormStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffine", nullptr, ChannelAffine, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNormBackward", nullptr, GroupNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

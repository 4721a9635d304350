{
  # Built by `mnxc setup native` (runtime/setup/native.ts) with npm's own node-gyp, on the
  # machine that runs it: -march=native picks that CPU's SIMD (AVX2/FMA, AVX-512, NEON).
  "targets": [
    {
      "target_name": "mnxc_native",
      "sources": ["src/addon.cc", "src/kernels.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fno-math-errno", "-pthread", "-Wall", "-Wno-unused-function"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-mcpu=native", "-fno-math-errno"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/O2", "/arch:AVX2", "/std:c++17"] }
      }
    }
  ]
}

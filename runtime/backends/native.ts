/**
 * The `native` backend: TF.js's `cpu` backend (a `MathBackendCPU` instance under another name,
 * with every cpu kernel) whose hot kernels run in our C++ addon (native/, built by
 * `mnxc setup native` into `.mnxc/native/`). The addon works on the cpu backend's own
 * Float32Arrays, so nothing is copied in or out; a kernel pattern it does not handle (another
 * dtype, an unusual broadcast) falls back to the cpu kernel.
 *
 * While `native` is the active backend, the depthwise 3-D convolutions (plain and transposed)
 * and GELU run as single native kernels with their gradients (ops `depthwiseConv3d`,
 * `depthwiseConvTranspose3d`, `gelu`): no padded copies, depth slabs or zero-inserted inputs.
 * GroupNorm and the fused ops `geluPointwise` / `normPointwise` run their element-wise work as
 * native passes (statistics, normalisation, the gradient's sums and combination) around the
 * native matrix product, which adds the bias while the rows are in cache.
 *
 * The parts (native/):
 *   addon.ts        finding, loading and describing the C++ addon; its build stamp
 *   cpu-data.ts     the cpu backend's kernel arguments and tensor storage, as the kernels see them
 *   cpu-kernels.ts  native versions of cpu kernels (fall back to the cpu kernel when they cannot)
 *   own-kernels.ts  mnxc's own kernels (3-D depthwise convolutions, GELU, GroupNorm, biased product)
 *   register.ts     the `native` backend's registration with TF.js
 *   pooled-backend.ts  the backend class: the cpu backend recycling its kernels' output arrays
 *   ops.ts          ops with gradients over those kernels
 *   install.ts      putting the ops into the op table while `native` is active
 */

export {
  NATIVE_ADDON,
  NATIVE_HOME,
  NATIVE_HOME_LABEL,
  NATIVE_STAMP,
  describeNativeBackend,
  loadNativeBackend,
  nativeAddon,
  readNativeStamp,
  type NativeAddon,
  type NativeStamp,
} from './native/addon.js';
export { installNativeOps } from './native/install.js';
export { defaultPoolCap, PooledCpuBackend, poolSetting } from './native/pooled-backend.js';
export { nativeDepthwiseConv3d, nativeDepthwiseConvTranspose3d, nativeGelu, nativeGeluPointwise, nativeGroupNorm, nativeNormPointwise } from './native/ops.js';

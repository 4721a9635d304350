#!/usr/bin/env python3
"""PyTorch reference timing for mnxc's sliding-window benchmark row (bench/cases.ts, kind 'sliding').

The same algorithm as runtime/infer (nnU-Net v1 `_internal_predict_3D_3Dconv_tiled`, no mirroring):
window starts per axis n = ceil((S - P) / (step * P)) + 1 spread evenly over 0 .. S - P and rounded
half to even; each window through the network (deep supervision on, as in mnxc's row, so every head
is computed), softmax of the full-resolution head, probabilities x Gaussian importance map (sigma =
P / 8, scipy's truncation at 4 sigma, maximum 1, zeros replaced by the smallest positive value)
accumulated with the map itself in float32, divided at the end. One window at a time, torch.no_grad(),
float32, torch threads = os.cpu_count() unless --threads.

  python3 bench/torch_sliding.py [--mednext PATH/torch_mednext.py] --variant S --kernel 3 \
      --volume 160,160,96 --patch 64,64,64 --repeat 1

The network is torch_mednext.py's MedNeXt (--mednext, else $MNXC_TORCH_BENCH, else
bench/torch_mednext.py beside this script). One window warms up, then --repeat timed
whole runs; prints one JSON line in torch_mednext.py's style ("sliding_s": min and median seconds,
"peak_rss_mb": the process's peak resident memory). --print-windows prints the window starts instead.

--case runs bench/case.ts's `case` row instead: the same synthetic int16 scan (--case-shape x,y,z at
--case-spacing mm, written as a gzipped NIfTI-1 file) read back, cropped to its non-zero box,
resampled to --case-target mm as nnU-Net v1 `resample_data_or_seg` does it (per slice
skimage.transform.resize, order 3, mode 'edge', no anti-aliasing, then order 0 along the coarse axis
by scipy map_coordinates, mode 'nearest'; 3-D order 3 when the spacing is not anisotropic),
z-scored, windows of --patch through the network (--case-windows timed without mirroring after one
warm-up, and one with nnU-Net's 8 mirrored passes averaging softmax), accumulated, divided, and
exported as nnU-Net v1 `save_segmentation_nifti_from_softmax` (order 1 in-plane, order 0 along the
coarse axis, argmax, pasted into the crop box, written gzipped): each part timed once ("parts", in
seconds), or with --case-full every window of one fold without mirroring and no mirrored window
("seconds" is then the measured case; setting up the scan file is never timed).
"""
import argparse, importlib.util, json, math, os, resource, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def triple(text):
    xs = [int(v) for v in text.split(",")]
    if len(xs) == 1:
        xs = xs * 3
    if len(xs) != 3 or min(xs) < 1:
        raise argparse.ArgumentTypeError(f"expected N or N,N,N, got '{text}'")
    return xs


def window_starts(size, patch, step):
    """runtime/infer/steps.ts windowStarts (Python's round() rounds halves to even, as numpy)."""
    if size < patch:
        raise ValueError(f"size {size} is smaller than the patch {patch} (pad first)")
    n = math.ceil((size - patch) / (step * patch)) + 1
    if n == 1:
        return [0]
    actual = (size - patch) / (n - 1)
    return [int(round(actual * i)) for i in range(n)]


def window_grid(size, patch, step):
    per = [window_starts(s, p, step) for s, p in zip(size, patch)]
    return [(a, b, c) for a in per[0] for b in per[1] for c in per[2]]


def gaussian_importance_map(torch, patch, sigma_scale=1 / 8):
    """runtime/infer/gaussian.ts: product of truncated 1-D Gaussians (float64), stored as float32."""
    profiles = []
    for p in patch:
        sigma = p * sigma_scale
        centre, radius = p // 2, math.floor(4 * sigma + 0.5)
        profiles.append(torch.tensor([math.exp(-0.5 * (i - centre) ** 2 / sigma ** 2) if abs(i - centre) <= radius else 0.0
                                      for i in range(p)], dtype=torch.float64))
    g = (profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]).float()
    g[g == 0] = g[g > 0].min()
    return g


def synthetic_volume(torch, channels, shape):
    """bench/cases.ts's volume: data[i] = sin(0.001 i) + ((i * 2654435761) mod 97) / 97, [C, d0, d1, d2]."""
    n = channels * shape[0] * shape[1] * shape[2]
    i = torch.arange(n, dtype=torch.float64)
    data = torch.sin(i * 0.001) + torch.remainder(torch.arange(n, dtype=torch.int64) * 2654435761, 97).double() / 97
    return data.float().reshape(channels, *shape)


def predict_sliding_window(torch, net, volume, classes, patch, step, importance):
    """mnxc's predictSlidingWindow for a volume at least as large as the patch (no padding needed)."""
    C, *shape = volume.shape
    if any(s < p for s, p in zip(shape, patch)):
        raise ValueError(f"volume {shape} is smaller than the patch {patch}")
    sums = torch.zeros(classes, *shape, dtype=torch.float32)
    weights = torch.zeros(*shape, dtype=torch.float32)
    p0, p1, p2 = patch
    for a, b, c in window_grid(shape, patch, step):
        x = volume[None, :, a:a + p0, b:b + p1, c:c + p2].contiguous()
        out = net(x)
        probabilities = torch.softmax((out[0] if isinstance(out, list) else out)[0], dim=0)
        sums[:, a:a + p0, b:b + p1, c:c + p2] += probabilities * importance
        weights[a:a + p0, b:b + p1, c:c + p2] += importance
    return torch.where(weights > 0, sums / weights, torch.zeros((), dtype=torch.float32))


def ct_volume(np, shape):
    """bench/case.ts ctVolume: v[i] = 2 * ((7919 i) mod 1000) - 999, x fastest; array order [z, y, x]."""
    n = shape[0] * shape[1] * shape[2]
    v = (2 * ((np.arange(n, dtype=np.int64) * 7919) % 1000) - 999).astype(np.int16)
    return v.reshape(shape[2], shape[1], shape[0])


def write_nifti_gz(np, path, data, spacing_xyz):
    """A minimal NIfTI-1 file (348-byte header, no extension), gzipped; data in array order [z, y, x]."""
    import gzip, struct
    codes = {np.dtype(np.int16): (4, 16), np.dtype(np.uint8): (2, 8), np.dtype(np.float32): (16, 32)}
    code, bits = codes[data.dtype]
    z, y, x = data.shape
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, x, y, z, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, code, bits)
    struct.pack_into("<8f", hdr, 76, 1, *spacing_xyz, 1, 1, 1, 1)
    struct.pack_into("<f", hdr, 108, 352)
    struct.pack_into("<f", hdr, 112, 1)
    struct.pack_into("<hh", hdr, 252, 0, 1)
    struct.pack_into("<4f", hdr, 280, spacing_xyz[0], 0, 0, 0)
    struct.pack_into("<4f", hdr, 296, 0, spacing_xyz[1], 0, 0)
    struct.pack_into("<4f", hdr, 312, 0, 0, spacing_xyz[2], 0)
    hdr[344:348] = b"n+1\0"
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(bytes(hdr) + b"\0\0\0\0" + np.ascontiguousarray(data).tobytes())


def read_nifti_gz(np, path):
    import gzip, struct
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dim = struct.unpack_from("<8h", raw, 40)
    code = struct.unpack_from("<h", raw, 70)[0]
    offset = int(struct.unpack_from("<f", raw, 108)[0])
    dtype = {4: np.int16, 2: np.uint8, 16: np.float32}[code]
    x, y, z = dim[1:4]
    return np.frombuffer(raw, dtype=dtype, offset=offset, count=x * y * z).reshape(z, y, x)


def resample_nnunet(np, data, new_shape, axis, order, order_z):
    """nnU-Net v1 resample_data_or_seg(is_seg=False) of one channel [d0, d1, d2] (float64 result)."""
    from skimage.transform import resize
    from scipy.ndimage import map_coordinates
    data = data.astype(float)
    if tuple(data.shape) == tuple(new_shape):
        return data
    if axis is None:
        return resize(data, new_shape, order, mode="edge", anti_aliasing=False)
    plane = [s for a, s in enumerate(new_shape) if a != axis]
    slices = [resize(np.take(data, i, axis), plane, order, mode="edge", anti_aliasing=False) for i in range(data.shape[axis])]
    stacked = np.stack(slices, axis)
    if stacked.shape[axis] == new_shape[axis]:
        return stacked
    grids = np.mgrid[tuple(slice(0, s) for s in new_shape)].astype(float)
    coords = np.array([(o / n) * (g + 0.5) - 0.5 for g, o, n in zip(grids, stacked.shape, new_shape)])
    return map_coordinates(stacked, coords, order=order_z, mode="nearest")


def run_case(tm, a):
    """The `case` row (see the module docstring); prints one JSON line (progress on stderr)."""
    import tempfile
    import numpy as np
    torch = tm.torch
    t_start = time.perf_counter()

    def log(text):
        print(f"  [case torch] {text} at {time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)
    shape_xyz, spacing_xyz, target = a.case_shape, a.case_spacing, a.case_target
    tmp = tempfile.mkdtemp(prefix="mnxc-torch-case-")
    try:
        image = os.path.join(tmp, "ct_0000.nii.gz")
        write_nifti_gz(np, image, ct_volume(np, shape_xyz), spacing_xyz)
        spacing = list(reversed(spacing_xyz))  # array order z, y, x
        parts = {}
        c0 = time.process_time()
        t0 = time.perf_counter()
        t = time.perf_counter()
        data = read_nifti_gz(np, image)
        parts["read_s"] = time.perf_counter() - t
        log("read: %.1f s" % parts["read_s"])
        t = time.perf_counter()
        nz = np.argwhere(data != 0)
        lo, hi = nz.min(0), nz.max(0) + 1
        box = tuple(slice(l, h) for l, h in zip(lo, hi))
        cropped = data[box]
        new_shape = [int(np.round(s / target * n)) for s, n in zip(spacing, cropped.shape)]
        aniso = max(spacing) / min(spacing) > 3
        coarse = [i for i, s in enumerate(spacing) if s == max(spacing)]
        axis = coarse[0] if aniso and len(coarse) == 1 else None
        pre = resample_nnunet(np, cropped, new_shape, axis, 3, 0)
        pre = ((pre - pre.mean()) / (pre.std() + 1e-8)).astype(np.float32)
        volume = torch.from_numpy(pre)[None]
        parts["preprocess_s"] = time.perf_counter() - t
        log("preprocess: %.1f s" % parts["preprocess_s"])
        shape = list(pre.shape)
        net = tm.MedNeXt(1, 32, a.classes, kernel_size=a.kernel, deep_supervision=not a.no_deep_supervision,
                         do_res=True, do_res_up_down=True, **tm.VARIANTS[a.variant]).eval()
        checkpoint = os.path.join(tmp, "checkpoint_final.pth")
        torch.save(net.state_dict(), checkpoint)
        t = time.perf_counter()
        net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        parts["load_weights_s"] = time.perf_counter() - t
        log("load_weights: %.1f s" % parts["load_weights_s"])
        importance = gaussian_importance_map(torch, a.patch)
        grid = window_grid(shape, a.patch, a.step)
        p0, p1, p2 = a.patch
        sums = torch.zeros(a.classes, *shape, dtype=torch.float32)
        weights = torch.zeros(*shape, dtype=torch.float32)

        def head(x):
            out = net(x)
            return (out[0] if isinstance(out, list) else out)[0]

        mid = len(grid) // 2
        network, accumulate = [], []
        with torch.no_grad():
            def window(i):
                a0, b0, c0_ = grid[i]
                t = time.perf_counter()
                x = volume[None, :, a0:a0 + p0, b0:b0 + p1, c0_:c0_ + p2].contiguous()
                return x, time.perf_counter() - t

            x, _ = window(mid)
            torch.softmax(head(x), 0)  # warm-up
            order = range(len(grid)) if a.case_full else [(mid + 1 + w) % len(grid) for w in range(a.case_windows)]
            for i in order:
                x, extract = window(i)
                t = time.perf_counter()
                probabilities = torch.softmax(head(x), 0)
                network.append(time.perf_counter() - t)
                log("window %d: %.2f s" % (len(network), network[-1]))
                t = time.perf_counter()
                a0, b0, c0_ = grid[i]
                sums[:, a0:a0 + p0, b0:b0 + p1, c0_:c0_ + p2] += probabilities * importance
                weights[a0:a0 + p0, b0:b0 + p1, c0_:c0_ + p2] += importance
                accumulate.append(extract + time.perf_counter() - t)
            x, _ = window(mid)
            t = time.perf_counter()
            dims = [] if a.case_full else [2, 3, 4]
            combos = [[d for j, d in enumerate(dims) if m >> j & 1] for m in range(8)]
            mean = None
            for flip in combos:
                xi = torch.flip(x, flip) if flip else x
                p = torch.softmax(head(xi), 0)
                p = torch.flip(p, [d - 1 for d in flip]) if flip else p
                mean = p if mean is None else mean + p
            mean = mean / len(combos)
            if not a.case_full:
                parts["window_mirrored_s"] = time.perf_counter() - t
                log("window_mirrored: %.1f s" % parts["window_mirrored_s"])
        parts["window_s"] = sorted(network)[len(network) // 2] if len(network) % 2 else sum(sorted(network)[len(network) // 2 - 1:len(network) // 2 + 1]) / 2
        parts["accumulate_s"] = sorted(accumulate)[len(accumulate) // 2] if len(accumulate) % 2 else sum(sorted(accumulate)[len(accumulate) // 2 - 1:len(accumulate) // 2 + 1]) / 2
        t = time.perf_counter()
        probabilities = torch.where(weights > 0, sums / weights, torch.zeros((), dtype=torch.float32)).numpy()
        parts["result_s"] = time.perf_counter() - t
        log("result: %.1f s" % parts["result_s"])
        t = time.perf_counter()
        labels = None
        best = None
        for k in range(a.classes):
            r = resample_nnunet(np, probabilities[k], cropped.shape, axis, 1, 0)
            if best is None:
                best, labels = r, np.zeros(r.shape, np.uint8)
            else:
                better = r > best
                best = np.where(better, r, best)
                labels[better] = k
        full = np.zeros(data.shape, np.uint8)
        full[box] = labels
        write_nifti_gz(np, os.path.join(tmp, "ct.nii.gz"), full, spacing_xyz)
        parts["export_s"] = time.perf_counter() - t
        log("export: %.1f s" % parts["export_s"])
        parts.update(windows=len(grid), shape=shape, mirrors=8, timed_windows=len(network))
        result = {"engine": f"torch {torch.__version__}", "threads": a.threads, "variant": a.variant, "kernel": a.kernel,
                  "patch": a.patch, "full": a.case_full, "parts": parts, "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        print(json.dumps(result))
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def load_mednext(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("torch_mednext", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mednext", metavar="PATH", default=os.environ.get("MNXC_TORCH_BENCH") or os.path.join(HERE, "torch_mednext.py"))
    p.add_argument("--variant", default="S")
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--no-deep-supervision", action="store_true")
    p.add_argument("--volume", type=triple, default=[160, 160, 96])
    p.add_argument("--patch", type=triple, default=[64, 64, 64])
    p.add_argument("--step", type=float, default=0.5)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--print-windows", action="store_true")
    p.add_argument("--case", action="store_true", help="the case row (see above)")
    p.add_argument("--case-shape", type=triple, default=[512, 512, 200])
    p.add_argument("--case-spacing", type=lambda t: [float(v) for v in t.split(",")], default=[0.8, 0.8, 2.5])
    p.add_argument("--case-target", type=float, default=1.0)
    p.add_argument("--case-windows", type=int, default=2)
    p.add_argument("--case-full", action="store_true")
    a = p.parse_args()
    if a.print_windows:
        print(json.dumps(window_grid(a.volume, a.patch, a.step)))
        return

    if not os.path.exists(a.mednext):
        sys.exit(f"torch_sliding.py: no torch_mednext.py at {a.mednext} (--mednext)")
    tm = load_mednext(a.mednext)
    torch = tm.torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.case:
        run_case(tm, a)
        return
    # As torch_mednext.py builds it (and examples/mednext.mnx's variants): width 32, residual blocks.
    net = tm.MedNeXt(1, 32, a.classes, kernel_size=a.kernel, deep_supervision=not a.no_deep_supervision,
                     do_res=True, do_res_up_down=True, **tm.VARIANTS[a.variant]).eval()
    volume = synthetic_volume(torch, 1, a.volume)
    importance = gaussian_importance_map(torch, a.patch)
    windows = len(window_grid(a.volume, a.patch, a.step))
    times = []
    with torch.no_grad():
        net(torch.zeros(1, 1, *a.patch))  # warm-up: one window, as mnxc's row
        for _ in range(a.repeat):
            t = time.perf_counter()
            result = predict_sliding_window(torch, net, volume, a.classes, a.patch, a.step, importance)
            times.append(time.perf_counter() - t)
    if not bool(torch.isfinite(result).all()):
        sys.exit("torch_sliding.py: non-finite probabilities")
    print(json.dumps({
        "engine": f"torch {torch.__version__}", "threads": a.threads, "variant": a.variant,
        "kernel": a.kernel, "classes": a.classes, "volume": a.volume, "patch": a.patch, "step": a.step,
        "windows": windows, "params": sum(q.numel() for q in net.parameters()),
        "sliding_s": {"min": min(times), "median": sorted(times)[len(times) // 2]},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()

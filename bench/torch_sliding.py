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

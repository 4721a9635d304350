#!/usr/bin/env python3
"""PyTorch reference timings for MedNeXt, to compare mnxc against in the same run.

A compact PyTorch MedNeXt v1 whose state_dict names, shapes and outputs equal the official
implementation's (checked against tests/fixtures/mednext-reference). Needs torch (CPU build is fine).

  python3 torch_mednext.py --check ../tests/fixtures/mednext-reference        # parity with the fixtures
  python3 torch_mednext.py --variant S --kernel 3 --size 64 --repeat 3  # timings as JSON

Timings: forward (no grad), then one training step (forward, Dice+CE-free mean loss over all
deep-supervision heads, backward, AdamW step), each after --warmup (default 1) untimed runs, as
mnxc's rows warm up once. Prints a JSON line after the forward runs (forward_s, its peak RSS) and
another, complete, after the training steps. Report ratios measured in one run, not absolutes.
"""
import argparse, json, math, os, resource, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = {
    "S": dict(exp_r=2, block_counts=[2] * 9),
    "B": dict(exp_r=[2, 3, 4, 4, 4, 4, 4, 3, 2], block_counts=[2] * 9),
    "M": dict(exp_r=[2, 3, 4, 4, 4, 4, 4, 3, 2], block_counts=[3, 4, 4, 4, 4, 4, 4, 4, 3]),
    "L": dict(exp_r=[3, 4, 8, 8, 8, 8, 8, 4, 3], block_counts=[3, 4, 8, 8, 8, 8, 8, 4, 3]),
}


class Block(nn.Module):
    """Depthwise conv -> GroupNorm(C groups) -> 1x1 expand -> GELU -> 1x1 compress (+ residual)."""

    def __init__(self, cin, cout, r, k, do_res=True, stride=1, transpose=False):
        super().__init__()
        conv = nn.ConvTranspose3d if transpose else nn.Conv3d
        self.do_res = do_res
        self.conv1 = conv(cin, cin, k, stride=stride, padding=k // 2, groups=cin)
        self.norm = nn.GroupNorm(cin, cin)
        self.conv2 = nn.Conv3d(cin, r * cin, 1)
        self.act = nn.GELU()
        self.conv3 = nn.Conv3d(r * cin, cout, 1)

    def forward(self, x):
        y = self.conv3(self.act(self.conv2(self.norm(self.conv1(x)))))
        return x + y if self.do_res else y


class Resample(Block):
    """Stride-2 block; the residual path is a strided 1x1 (transposed) conv."""

    def __init__(self, cin, cout, r, k, do_res, up):
        super().__init__(cin, cout, r, k, do_res=False, stride=2, transpose=up)
        self.up, self.resample_do_res = up, do_res
        if do_res:
            conv = nn.ConvTranspose3d if up else nn.Conv3d
            self.res_conv = conv(cin, cout, 1, stride=2)

    def forward(self, x):
        y = super().forward(x)
        if self.up:
            y = F.pad(y, (1, 0, 1, 0, 1, 0))
        if self.resample_do_res:
            res = self.res_conv(x)
            y = y + (F.pad(res, (1, 0, 1, 0, 1, 0)) if self.up else res)
        return y


class OutBlock(nn.Module):
    def __init__(self, cin, ncls):
        super().__init__()
        self.conv_out = nn.ConvTranspose3d(cin, ncls, 1)

    def forward(self, x):
        return self.conv_out(x)


class MedNeXt(nn.Module):
    def __init__(self, in_channels, n_channels, n_classes, exp_r=4, kernel_size=7,
                 deep_supervision=False, do_res=False, do_res_up_down=False,
                 block_counts=(2,) * 9):
        super().__init__()
        r = [exp_r] * 9 if isinstance(exp_r, int) else list(exp_r)
        c, k, n = n_channels, kernel_size, block_counts
        self.do_ds = deep_supervision
        self.stem = nn.Conv3d(in_channels, c, 1)
        for i in range(4):
            w = c * 2 ** i
            setattr(self, f"enc_block_{i}", nn.Sequential(*[Block(w, w, r[i], k, do_res) for _ in range(n[i])]))
            setattr(self, f"down_{i}", Resample(w, 2 * w, r[i + 1], k, do_res_up_down, up=False))
        self.bottleneck = nn.Sequential(*[Block(16 * c, 16 * c, r[4], k, do_res) for _ in range(n[4])])
        for i in (3, 2, 1, 0):
            w = c * 2 ** i
            setattr(self, f"up_{i}", Resample(2 * w, w, r[8 - i], k, do_res_up_down, up=True))
            setattr(self, f"dec_block_{i}", nn.Sequential(*[Block(w, w, r[8 - i], k, do_res) for _ in range(n[8 - i])]))
        self.out_0 = OutBlock(c, n_classes)
        self.dummy_tensor = nn.Parameter(torch.tensor([1.0]))
        if deep_supervision:
            for i in range(1, 5):
                setattr(self, f"out_{i}", OutBlock(c * 2 ** i, n_classes))

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for i in range(4):
            x = getattr(self, f"enc_block_{i}")(x)
            skips.append(x)
            x = getattr(self, f"down_{i}")(x)
        x = self.bottleneck(x)
        ds = [self.out_4(x)] if self.do_ds else []
        for i in (3, 2, 1, 0):
            x = getattr(self, f"dec_block_{i}")(skips[i] + getattr(self, f"up_{i}")(x))
            if self.do_ds and i > 0:
                ds.insert(0, getattr(self, f"out_{i}")(x))
        out = self.out_0(x)
        return [out] + ds if self.do_ds else out


def check(folder):
    from safetensors.torch import load_file
    worst = 0.0
    for case in ("tiny_k3_ds", "tiny_k5_nods", "tiny_k3_upkern_to_k5"):
        cfg = json.load(open(os.path.join(folder, case + ".json")))
        args = cfg.get("constructor_args") or cfg.get("config") or cfg.get("args")
        keep = {k: v for k, v in args.items() if k in MedNeXt.__init__.__code__.co_varnames}
        net = MedNeXt(**keep).eval()
        net.load_state_dict(load_file(os.path.join(folder, case + ".weights.safetensors")))
        io = load_file(os.path.join(folder, case + ".io.safetensors"))
        with torch.no_grad():
            outs = net(io["input"])
        outs = outs if isinstance(outs, list) else [outs]
        for i, o in enumerate(outs):
            ref = io[f"out_{i}"]
            err = (o - ref).abs().max().item()
            worst = max(worst, err / (1e-4 + 1e-3 * ref.abs().max().item()))
            print(f"{case} out_{i} max|diff| {err:.2e}")
    print("worst error / tolerance:", round(worst, 4))
    return worst <= 1.0


def bench(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = MedNeXt(1, 32, 3, kernel_size=a.kernel, deep_supervision=True, do_res=True,
                  do_res_up_down=True, **VARIANTS[a.variant])
    x = torch.randn(a.batch, 1, a.size, a.size, a.size)
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=3e-5, eps=1e-4)
    fwd, step = [], []
    result = {
        "engine": f"torch {torch.__version__}", "threads": a.threads, "variant": a.variant,
        "kernel": a.kernel, "input": [a.batch, 1, a.size, a.size, a.size], "warmup": a.warmup,
        "params": sum(p.numel() for p in net.parameters()),
    }
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The forward runs first, printed as soon as they are done (a training step that outgrows
    # memory then loses only its own row), then the training steps; the warm-up runs are not timed.
    for _ in range(a.warmup + a.repeat):
        t = time.perf_counter()
        with torch.no_grad():
            net(x)
        fwd.append(time.perf_counter() - t)
    fwd = fwd[a.warmup:]
    result.update(forward_s={"min": min(fwd), "median": sorted(fwd)[len(fwd) // 2]}, forward_peak_rss_mb=peak(), peak_rss_mb=peak())
    print(json.dumps(result), flush=True)
    for _ in range(a.warmup + a.repeat):
        t = time.perf_counter()
        opt.zero_grad()
        loss = sum(o.float().mean() for o in net(x))
        loss.backward()
        opt.step()
        step.append(time.perf_counter() - t)
    step = step[a.warmup:]
    result.update(train_step_s={"min": min(step), "median": sorted(step)[len(step) // 2]}, peak_rss_mb=peak())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", metavar="FIXTURES")
    p.add_argument("--variant", default="S", choices=VARIANTS)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed forward + training steps first (as mnxc's rows)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    if a.check:
        sys.exit(0 if check(a.check) else 1)
    bench(a)

#!/usr/bin/env python3
"""deltavk's dvk_linear beside PyTorch's F.linear (cuBLAS) on the same GPU, in one run.

Tooling only (the library and its tests need no Python). On a machine with a CUDA GPU, PyTorch
and a Vulkan driver for the same GPU:

    python3 scripts/bench_linear.py --dvk build-release/dvk [--configs 0,1,2] [--quick]

prints one JSON line per measurement and then the Markdown table of docs/performance.md:
  - prefill-shaped fp16 products, x [M, K] times weight [N, K]^T, M = 4096 and 16384, N and K
    from 2048 to 8192: dvk's TFLOP/s against F.linear's (cuBLAS, fp16 in, fp32 accumulate);
  - decode-shaped products, M = 1..16 rows, weights 2048 x 8192 and 8192 x 2048 fp16: the
    weight bytes per second against the GPU's copy bandwidth measured in the same run
    (torch's device-to-device copy, bytes read + written). Both sides rotate through several
    copies of the weights (together larger than the 60 MB L2) so weights come from memory.
PyTorch is timed with CUDA events around back-to-back batches (median of runs), dvk with its
own bench (Vulkan timestamps around back-to-back batches, median), the same method.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F


def cuda_time_ms(fn, calls, runs=30, warmup=5):
    """Median over runs of the time per call of `calls` back-to-back calls of fn."""
    for _ in range(warmup):
        fn(0)
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for i in range(calls):
            fn(i)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return statistics.median(times)


def calls_for(fn, target_ms=20.0):
    probe = cuda_time_ms(fn, 1, runs=3, warmup=2)
    return max(1, min(1000, int(target_ms / max(probe, 1e-4)) + 1))


def torch_linear(M, N, K, dtype, rotate=1):
    xs = [torch.randn(M, K, device="cuda", dtype=dtype) for _ in range(rotate)]
    ws = [torch.randn(N, K, device="cuda", dtype=dtype) / K ** 0.5 for _ in range(rotate)]

    def fn(i):
        F.linear(xs[i % rotate], ws[i % rotate])

    ms = cuda_time_ms(fn, calls_for(fn))
    del xs, ws
    return ms


def torch_copy_gbps(nbytes=4 << 30):
    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)

    def fn(i):
        b.copy_(a)

    ms = cuda_time_ms(fn, 4, runs=20)
    del a, b
    return 2 * nbytes / (ms * 1e-3) * 1e-9


def dvk_bench(dvk, args, config=None):
    env = dict(os.environ)
    if config is not None:
        env["DVK_LINEAR_CONFIG"] = str(config)
    cmd = [dvk, "bench", "linear", "--json"] + args
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(json.dumps({"error": " ".join(cmd), "stderr": out.stderr.strip()}), flush=True)
        return None
    for line in out.stdout.splitlines():
        if line.startswith("{") and '"function"' in line:
            return json.loads(line)
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dvk", default="build-release/dvk")
    p.add_argument("--configs", default="", help="DVK_LINEAR_CONFIG values to sweep (default: "
                   "the library's own choice only)")
    p.add_argument("--quick", action="store_true", help="fewer shapes")
    a = p.parse_args()
    configs = [None] + [int(c) for c in a.configs.split(",") if c != ""]
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}), flush=True)

    copy = torch_copy_gbps()
    print(json.dumps({"copy_gb_per_s": copy}), flush=True)

    prefill = [(4096, 4096, 4096), (4096, 2048, 2048), (4096, 8192, 8192), (4096, 2048, 8192),
               (4096, 8192, 2048), (16384, 4096, 4096), (16384, 8192, 8192), (16384, 2048, 2048)]
    if a.quick:
        prefill = prefill[:3]
    rows = []
    for (M, N, K) in prefill:
        for dtype, name in ((torch.float16, "f16"),) + (((torch.bfloat16, "bf16"),)
                                                      if (M, N, K) == (4096, 4096, 4096) else ()):
            t_ms = torch_linear(M, N, K, dtype)
            flops = 2.0 * M * N * K
            best = None
            for c in configs:
                r = dvk_bench(a.dvk, ["--M", str(M), "--N", str(N), "--K", str(K), "--dtype", name,
                                      "--no-bias"], c)
                if r is None:
                    continue
                r["config"] = c
                print(json.dumps(r), flush=True)
                if best is None or r["median_ms"] < best["median_ms"]:
                    best = r
            row = {"kind": "prefill", "M": M, "N": N, "K": K, "dtype": name, "torch_ms": t_ms,
                   "torch_tflops": flops / t_ms * 1e-9}
            if best:
                row.update(dvk_ms=best["median_ms"], dvk_tflops=best["tflop_per_s"],
                           config=best["config"], ratio=(flops / best["median_ms"] * 1e-9) /
                           (flops / t_ms * 1e-9))
            print(json.dumps(row), flush=True)
            rows.append(row)

    decode = [(m, n, k) for (n, k) in ((2048, 8192), (8192, 2048)) for m in (1, 4, 16)]
    if not a.quick:
        decode += [(2, 2048, 8192), (8, 2048, 8192)]
    for (M, N, K) in decode:
        rotate = 8  # 8 x 32 MiB of weights: well past the L2
        t_ms = torch_linear(M, N, K, torch.float16, rotate)
        wbytes = 2.0 * N * K
        best = None
        for c in configs:
            r = dvk_bench(a.dvk, ["--M", str(M), "--N", str(N), "--K", str(K), "--dtype", "f16",
                                  "--no-bias", "--rotate", str(rotate)], c)
            if r is None:
                continue
            r["config"] = c
            print(json.dumps(r), flush=True)
            if best is None or r["median_ms"] < best["median_ms"]:
                best = r
        row = {"kind": "decode", "M": M, "N": N, "K": K, "dtype": "f16", "torch_ms": t_ms,
               "torch_weight_gbps": wbytes / (t_ms * 1e-3) * 1e-9, "copy_gbps": copy}
        if best:
            g = wbytes / (best["median_ms"] * 1e-3) * 1e-9
            row.update(dvk_ms=best["median_ms"], dvk_weight_gbps=g, of_copy=g / copy)
        print(json.dumps(row), flush=True)
        rows.append(row)

    print("\n| kind | M | N | K | dtype | deltavk | PyTorch (cuBLAS) | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if r["kind"] == "prefill":
            d = (f"{r['dvk_ms']:.3f} ms, {r['dvk_tflops']:.0f} TFLOP/s" if "dvk_ms" in r
                 else "failed")
            ratio = f"{r['ratio'] * 100:.0f}% of PyTorch" if "ratio" in r else ""
            print(f"| prefill | {r['M']} | {r['N']} | {r['K']} | {r['dtype']} | {d} | "
                  f"{r['torch_ms']:.3f} ms, {r['torch_tflops']:.0f} TFLOP/s | {ratio} |")
        else:
            d = (f"{r['dvk_ms'] * 1e3:.1f} us, {r['dvk_weight_gbps']:.0f} GB/s" if "dvk_ms" in r
                 else "failed")
            ratio = f"{r['of_copy'] * 100:.0f}% of copy" if "of_copy" in r else ""
            print(f"| decode | {r['M']} | {r['N']} | {r['K']} | {r['dtype']} | {d} | "
                  f"{r['torch_ms'] * 1e3:.1f} us, {r['torch_weight_gbps']:.0f} GB/s | {ratio} |")
    print(f"\ncopy bandwidth (torch, read + written): {copy:.0f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

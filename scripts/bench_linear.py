#!/usr/bin/env python3
"""deltavk's dvk_linear beside PyTorch's F.linear (cuBLAS) on the same GPU, in one run.

Tooling only (the library and its tests need no Python). On a machine with a CUDA GPU, PyTorch
and a Vulkan driver for the same GPU:

    python3 scripts/bench_linear.py --dvk build-release/dvk [--configs 0,1,2] [--quick]
    python3 scripts/bench_linear.py --dvk build-release/dvk --sweep [--budget 450]

prints one JSON line per measurement and then the Markdown table of docs/performance.md:
  - prefill-shaped fp16 products, x [M, K] times weight [N, K]^T, M = 4096 and 16384, N and K
    from 2048 to 8192: dvk's TFLOP/s against F.linear's (cuBLAS, fp16 in, fp32 accumulate);
  - decode-shaped products, M = 1..16 rows, weights 2048 x 8192 and 8192 x 2048 fp16: the
    weight bytes per second against the GPU's copy bandwidth measured in the same run
    (torch's device-to-device copy, bytes read + written). Both sides rotate through several
    copies of the weights (together larger than the 60 MB L2) so weights come from memory.
PyTorch is timed with CUDA events around back-to-back batches (median of runs), dvk with its
own bench (Vulkan timestamps around back-to-back batches, median), the same method.

--sweep is the diagnostic run (see sweep() below): every tensor-core configuration and the
DVK_LINEAR_DIAG ablations at M = N = K = 4096, the best two configurations at 16384 x 8192 x
8192, and the decode path's variants (DVK_LINEAR_DECODE plans, tensor-core configurations 4 and
8, their ablations and per-kernel times) at 2048 x 8192, M = 1..16, weights out of L2. One JSON
line per measurement, with the driver's pipeline statistics (registers, ...) where it has them;
items past the time budget are skipped (and say so), most important first.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

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


def dvk_run(dvk, args, env_extra, timeout=120):
    """One `dvk bench linear --json` with extra environment variables: its result line (or an
    error), the kernels' times of --stages and the driver's pipeline statistics."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in env_extra.items()})
    env["DVK_PIPELINE_STATS"] = "1"
    cmd = [dvk, "bench", "linear", "--json"] + args
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "cmd": " ".join(cmd)}
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-400:], "cmd": " ".join(cmd)}
    r = None
    for line in out.stdout.splitlines():
        if line.startswith("{") and '"function"' in line:
            r = json.loads(line)
    if r is None:
        return {"error": "no result", "cmd": " ".join(cmd)}
    if "stages" in r:  # --stages: the per-kernel times, a list inside the one object
        r["kernels"] = r.pop("stages")
    stats = [l.split("pipeline ", 1)[1] for l in out.stderr.splitlines() if "pipeline linear/" in l]
    if stats:
        r["pipelines"] = stats
    return r


def sweep(a):
    """The diagnostic run: see the module's docstring. What each item tells is in its "why"."""
    t_start = time.time()
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "sweep": "start"}), flush=True)
    copy = torch_copy_gbps()
    print(json.dumps({"copy_gb_per_s": copy}), flush=True)
    torch_ms = {}

    def emit(kind, why, env, M, N, K, dtype="f16", rotate=1, stages=False):
        if time.time() - t_start > a.budget:
            print(json.dumps({"kind": kind, "skipped": "time budget", "env": env, "M": M}),
                  flush=True)
            return None
        args = ["--M", str(M), "--N", str(N), "--K", str(K), "--dtype", dtype, "--no-bias"]
        if rotate > 1:
            args += ["--rotate", str(rotate)]
        if stages:
            args += ["--stages"]
        r = dvk_run(a.dvk, args, env)
        row = {"kind": kind, "why": why, "env": env, "M": M, "N": N, "K": K, "dtype": dtype}
        if "error" in r:
            row["error"] = r["error"]
        else:
            row["median_ms"] = r["median_ms"]
            flops = 2.0 * M * N * K
            row["tflop_per_s"] = flops / r["median_ms"] * 1e-9
            if rotate > 1:
                row["weight_gbps"] = 2.0 * N * K / (r["median_ms"] * 1e-3) * 1e-9
                row["of_copy"] = row["weight_gbps"] / copy
            key = (M, N, K, dtype, rotate)
            if key in torch_ms:
                row["of_torch"] = torch_ms[key] / r["median_ms"]
            for k in ("kernels", "pipelines"):
                if k in r:
                    row[k] = r[k]
        print(json.dumps(row), flush=True)
        return row

    def best(rows, n):
        ok = [r for r in rows if r and "median_ms" in r]
        return sorted(ok, key=lambda r: r["median_ms"])[:n]

    # PyTorch on the same shapes, first (a few seconds)
    for (M, N, K) in ((4096, 4096, 4096), (16384, 8192, 8192)):
        torch_ms[(M, N, K, "f16", 1)] = torch_linear(M, N, K, torch.float16)
    for M in (1, 2, 4, 8, 16):
        torch_ms[(M, 2048, 8192, "f16", 8)] = torch_linear(M, 2048, 8192, torch.float16, 8)
    print(json.dumps({"torch_ms": {str(k): v for k, v in torch_ms.items()}}), flush=True)

    S = (4096, 4096, 4096)
    # 1. every tensor-core configuration of the prefill shape (5-7 and 9 are new: one buffer
    #    with twice the work per barrier, two workgroups per SM, or 16 subgroups)
    tiled = [emit("tiled", "configuration", {"DVK_LINEAR_CONFIG": c}, *S)
             for c in (0, 1, 2, 3, 5, 6, 7, 9)]
    # 2. where the time of the tensor-core kernel goes: DVK_LINEAR_DIAG bits (tiled.h) on
    #    configuration 1 (the best of the first run) and on the best new one
    diags = [
        (1, "no global loads in the K loop: the cost of loading the tiles (latency, L2)"),
        (2, "no shared stores: the cost of the stores (loads still waited for there)"),
        (3, "neither: operand reads + products + barriers"),
        (4, "operands read once: the cost of the coopMatLoads from shared memory"),
        (7, "products + barriers only"),
        (39, "products only (no barriers): the products' rate in this code"),
        (8, "no operand reads, no products: loads + stores + barriers (data movement)"),
        (10, "loads + barriers only"),
        (11, "barriers + epilogue only: the floor"),
        (16, "no epilogue"),
        (32, "no barriers in the K loop (races): the cost of synchronisation"),
    ]
    new_best = best([r for r in tiled[4:]], 1)
    ablate = [1] + ([int(new_best[0]["env"]["DVK_LINEAR_CONFIG"])] if new_best else [])
    for c in ablate:
        for bits, why in diags:
            emit("ablation", why, {"DVK_LINEAR_CONFIG": c, "DVK_LINEAR_DIAG": bits}, *S)

    # 3. the decode path at 2048 x 8192, weights out of L2 (8 copies): the automatic choice,
    #    the plan the first run measured (before this change), and neighbours of the new plan
    #    ("RPT,SPLITS,LANES,WG[,UNROLL[,XDIRECT]]": XDIRECT = 1 reads x from memory, unstaged,
    #    so no K slices are needed); from M = 4 on the tensor-core configurations 4, 8, 10
    D = (2048, 8192)
    old_plan = {1: "1,1,32,256,8", 2: "1,1,16,256,8", 4: "1,1,16,256,8", 8: "1,2,8,256,4",
                16: "2,4,8,256,2"}
    plans = {1: ["1,1,64,256", "2,1,32,256", "1,2,32,256", "1,1,32,128", "1,1,128,256,4",
                 "1,1,32,256,8,1"],
             2: ["2,2,16,256", "1,4,16,256", "1,1,32,256", "1,2,32,256", "2,1,128,256,4,1",
                 "4,1,128,256,2,1"],
             4: ["2,4,8,256", "1,8,8,256", "2,8,8,256", "1,4,16,256", "1,2,16,256",
                 "4,4,32,256", "4,1,128,256,2,1", "2,1,64,256,4,1"],
             8: ["2,16,8,256", "4,8,8,256", "1,8,8,256", "2,8,8,256,8", "4,16,8,256,2",
                 "4,8,32,256", "4,1,128,256,2,1", "4,1,256,256,2,1"],
             16: ["4,16,8,256", "4,8,8,256", "2,16,8,256", "4,32,8,256,2",
                  "4,1,128,256,1,1"]}
    for M in (1, 2, 4, 8, 16):
        emit("decode", "automatic", {}, M, *D, rotate=8)
        emit("decode", "the first run's plan", {"DVK_LINEAR_DECODE": old_plan[M]}, M, *D,
             rotate=8)
    for M in (1, 2, 4, 8, 16):
        for pl in plans[M]:
            emit("decode", "plan", {"DVK_LINEAR_DECODE": pl}, M, *D, rotate=8)
        if M >= 4:
            for c in (4, 8, 10):
                emit("decode", "tensor cores", {"DVK_LINEAR_CONFIG": c}, M, *D, rotate=8)
    # per-kernel times; where the tensor-core decode's time goes
    emit("decode", "per kernel", {"DVK_LINEAR_DECODE": "1,8,8,256"}, 4, *D, rotate=8,
         stages=True)
    emit("decode", "per kernel", {"DVK_LINEAR_CONFIG": 4}, 16, *D, rotate=8, stages=True)
    emit("decode", "per kernel", {"DVK_LINEAR_CONFIG": 10}, 16, *D, rotate=8, stages=True)
    for bits, why in ((1, diags[0][1]), (8, diags[6][1]), (7, diags[4][1]), (32, diags[10][1]),
                      (16, diags[9][1])):
        emit("decode-ablation", why, {"DVK_LINEAR_CONFIG": 4, "DVK_LINEAR_DIAG": bits}, 16, *D,
             rotate=8)

    # 4. the best two configurations on the large product, bf16 on the best
    for r in best(tiled, 2):
        emit("tiled-large", "configuration", r["env"], 16384, 8192, 8192)
    for r in best(tiled, 1):
        emit("tiled-bf16", "configuration", r["env"], *S, dtype="bf16")
    # 5. the other shape of the first run's decode table, automatic, against its numbers
    for M in (1, 4, 16):
        emit("decode", "automatic, other shape", {}, M, 8192, 2048, rotate=8)
    # 6. short ablations of the remaining configurations
    for c in (0, 2, 6, 7, 9):
        for bits in (7, 8, 32):
            emit("ablation", dict(diags)[bits], {"DVK_LINEAR_CONFIG": c, "DVK_LINEAR_DIAG": bits},
                 *S)
    print(json.dumps({"sweep": "end", "seconds": time.time() - t_start}), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dvk", default="build-release/dvk")
    p.add_argument("--configs", default="", help="DVK_LINEAR_CONFIG values to sweep (default: "
                   "the library's own choice only)")
    p.add_argument("--quick", action="store_true", help="fewer shapes")
    p.add_argument("--sweep", action="store_true", help="the diagnostic run (configurations, "
                   "DVK_LINEAR_DIAG ablations, decode plans) instead of the table")
    p.add_argument("--budget", type=float, default=450.0, help="--sweep: seconds after which "
                   "the remaining items are skipped")
    a = p.parse_args()
    if a.sweep:
        return sweep(a)
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

#!/usr/bin/env python3
"""deltavk on the CPU beside the C reference and PyTorch, in one run on the same cores.

For each sequence mixer and shape, times (medians):
  - deltavk on lavapipe in its default mode: `dvk bench OP ... --reference --json`, GPU
    timestamps of the dispatches (lavapipe's run on the CPU's threads);
  - deltavk's C reference (double precision, one thread), from the same `dvk bench` call;
  - PyTorch on the CPU running fla's naive functions of the same mathematics (fp32), the
    recurrent and the chunked one (softmax attention: torch's scaled_dot_product_attention,
    causal; Infini-attention has none), with torch's threads set to the cores deltavk's
    lavapipe uses; the better of the two is the figure the targets of issue 16 compare with.
The fla functions are loaded by path from fla-core's files (no install: fla-core needs Triton);
PyTorch comes from a venv (tooling only: the library and its tests never need Python):

    python3 -m venv /tmp/venv-cpu
    /tmp/venv-cpu/bin/pip install torch einops --index-url https://download.pytorch.org/whl/cpu
    pip download fla-core==0.6.0 --no-deps -d /tmp/fla && (cd /tmp/fla && unzip -o -q fla_core-*.whl)
    /tmp/venv-cpu/bin/python scripts/bench_cpu.py --fla /tmp/fla [--dvk build/dvk] [--quick]

Prints one markdown table row per (operator, shape): the three times and deltavk's ratios to
the C reference and to PyTorch's best. The machine should be idle: read ratios, not times,
when it is not (the load average is printed).
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import torch


def load(fla_dir, rel):
    path = os.path.join(fla_dir, "fla", "ops", rel)
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def median_time(fn, iters, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def inputs(B, T, H, K, V, seed=0):
    """Random inputs in fla's [B, T, H, D] layout, as the dvk bench draws them in kind:
    L2-normalised keys, betas in (0, 1), log decays in (-1, 0)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    q, k, v = r(B, T, H, K), r(B, T, H, K), r(B, T, H, V)
    k = torch.nn.functional.normalize(k, dim=-1)
    beta = torch.rand(B, T, H, generator=g)
    g_head = -torch.rand(B, T, H, generator=g)
    g_chan = -0.1 * torch.rand(B, T, H, K, generator=g)
    h0 = 0.1 * r(B, H, K, V)
    return dict(q=q, k=k, v=v, beta=beta, g_head=g_head, g_chan=g_chan, h0=h0)


def torch_candidates(op, x, fla):
    """(name, callable) pairs of fla's naive functions for the operator; each computes the
    operator's output (and final state where the function offers it)."""
    q, k, v, beta, h0 = x["q"], x["k"], x["v"], x["beta"], x["h0"]
    T = q.shape[1]
    hf = lambda t: t.transpose(1, 2).contiguous()  # noqa: E731  [B,T,H,D] -> [B,H,T,D]
    out = []
    if op == "delta_rule":
        m = fla["delta_rule"]
        qh, kh, vh, bh = hf(q), hf(k), hf(v), beta.transpose(1, 2).contiguous()
        out.append(("recurrent", lambda: m.delta_rule_recurrence(qh, kh, vh, bh, h0)))
        if T % 32 == 0:
            out.append(("chunk", lambda: m.delta_rule_chunkwise(qh, kh, vh, bh, 32)))
    elif op == "gated_delta_rule":
        m = fla["gated_delta_rule"]
        g = x["g_head"]
        out.append(("recurrent", lambda: m.naive_recurrent_gated_delta_rule(
            q, k, v, beta, g, initial_state=h0, output_final_state=True)))
        if T % 64 == 0:
            out.append(("chunk", lambda: m.naive_chunk_gated_delta_rule(
                q, k, v, g, beta, initial_state=h0, output_final_state=True)))
    elif op == "kda":
        m = fla["kda"]
        g = x["g_chan"]
        out.append(("recurrent", lambda: m.naive_recurrent_kda(
            q, k, v, g, beta, initial_state=h0, output_final_state=True)))
        if T % 64 == 0:
            out.append(("chunk", lambda: m.naive_chunk_kda(
                q, k, v, g, beta, initial_state=h0, output_final_state=True)))
    elif op in ("dplr", "rwkv7"):
        m = fla["dplr"]
        qh, kh, vh = hf(q), hf(k), hf(v)
        a, b = -hf(k), hf(k) * hf(beta[..., None].expand_as(k))
        gk = hf(x["g_chan"])
        out.append(("recurrent", lambda: m.dplr_recurrence(qh, kh, vh, a, b, gk, h0)))
        if T % 32 == 0:
            out.append(("chunk", lambda: m.dplr_chunkwise(qh, kh, vh, a, b, gk, h0,
                                                          chunk_size=32)))
    elif op == "linear_attn":
        m = fla["linear_attn"]
        out.append(("recurrent", lambda: m.naive_recurrent_linear_attn(
            q, k, v, initial_state=h0, output_final_state=True, normalize=True)))
        if T % 64 == 0:
            out.append(("chunk", lambda: m.naive_chunk_linear_attn(q, k, v, normalize=True)))
    elif op == "softmax_attn":
        qh, kh, vh = hf(q), hf(k), hf(v)
        sdpa = torch.nn.functional.scaled_dot_product_attention
        out.append(("sdpa", lambda: sdpa(qh, kh, vh, is_causal=True)))
    return out


def dvk_bench(dvk, op, B, T, H, K, V, iters):
    cmd = [dvk, "bench", op, "--B", str(B), "--T", str(T), "--H", str(H), "--K", str(K),
           "--V", str(V), "--iters", str(iters), "--warmup", "2", "--repeat", "1",
           "--reference", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fla", required=True,
                    help="folder holding fla-core's unpacked files (fla/ops/...)")
    ap.add_argument("--dvk", default="build/dvk")
    ap.add_argument("--ops", default="delta_rule,gated_delta_rule,kda,rwkv7,dplr,linear_attn,"
                    "softmax_attn,infini_attn")
    ap.add_argument("--quick", action="store_true",
                    help="only the small shape and the decode step")
    ap.add_argument("--iters", type=int, default=5)
    args = ap.parse_args()

    threads = int(os.environ.get("LP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(max(1, threads))
    fla = {
        "delta_rule": load(args.fla, "delta_rule/naive.py"),
        "gated_delta_rule": load(args.fla, "gated_delta_rule/naive.py"),
        "kda": load(args.fla, "kda/naive.py"),
        "dplr": load(args.fla, "generalized_delta_rule/dplr/naive.py"),
        "linear_attn": load(args.fla, "linear_attn/naive.py"),
    }
    shapes = [(1, 1024, 4, 64, 64), (16, 1, 4, 64, 64)]
    if not args.quick:
        shapes.insert(1, (1, 4096, 8, 128, 128))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("| op | B,T,H,K,V | deltavk on lavapipe (default mode) | C reference (double, 1 thread)"
          " | PyTorch CPU, fla naive recurrent / chunk | deltavk / C ref | deltavk / PyTorch best |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with torch.no_grad():
        for op in args.ops.split(","):
            for (B, T, H, K, V) in shapes:
                d = dvk_bench(args.dvk, op, B, T, H, K, V, args.iters)
                x = inputs(B, T, H, K, V)
                tt = {n: median_time(f, args.iters) for n, f in torch_candidates(op, x, fla)}
                dev = d["median_ms"]
                if tt:
                    best = min(tt.values())
                    tstr = " / ".join(f"{tt[n]:.2f} ms ({n})" for n in tt)
                    vs_torch = f"{dev / best:.2f}"
                else:
                    tstr, vs_torch = "(no PyTorch function of this operator)", ""
                print(f"| {op} | {B},{T},{H},{K},{V} | {dev:.2f} ms | {d['reference_ms']:.2f} ms "
                      f"| {tstr} | {dev / d['reference_ms']:.2f} | {vs_torch} |", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""deltavk's chunked operators beside fla's Triton kernels, in one run on one GPU.

For each operator and shape (issue "Tensor cores on every vendor": B,T,H,D = 4,4096,16,128 and
1,16384,16,128), times fla's chunked forward (bf16 q, k, v and gates, fp32 state, reading h0 and
writing ht; the median of triton.testing.do_bench) and then `dvk bench OP ... --mode chunk
--dtype f16 --json` (fp16 storage, fp32 state, h0 read and ht written; the median of Vulkan
timestamps) once per cooperative-matrix extension asked for (DVK_COOPMAT). Prints a markdown
table, and every measurement as one JSON object per line to --json FILE.

Tooling only: needs PyTorch with a GPU, Triton and fla-core (0.6.0 was measured); the library
and its tests need none of them.

    python3 scripts/bench_fla.py --dvk build-release/dvk [--coopmat nv,khr] [--json out.jsonl]
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F
import triton.testing

SHAPES = [(4, 4096, 16, 128), (1, 16384, 16, 128)]
OPS = ["delta_rule", "gated_delta_rule", "kda", "rwkv7", "linear_attn"]


def fla_call(op, B, T, H, D):
    """The fla call of `op` on random inputs of the shape, as a closure (inputs made once)."""
    dev, bf = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*s, dtype=bf):
        return torch.randn(*s, device=dev, generator=g, dtype=torch.float32).to(dtype)

    q, v = rnd(B, T, H, D), rnd(B, T, H, D)
    k = F.normalize(rnd(B, T, H, D, dtype=torch.float32), dim=-1).to(bf)  # unit-norm keys
    beta = torch.sigmoid(rnd(B, T, H, dtype=torch.float32)).to(bf)
    h0 = rnd(B, H, D, D, dtype=torch.float32)
    if op == "delta_rule":
        from fla.ops.delta_rule import chunk_delta_rule
        return lambda: chunk_delta_rule(q, k, v, beta, initial_state=h0, output_final_state=True)
    if op == "gated_delta_rule":
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule
        gate = F.logsigmoid(rnd(B, T, H, dtype=torch.float32))
        return lambda: chunk_gated_delta_rule(q, k, v, gate, beta, initial_state=h0,
                                              output_final_state=True)
    if op == "kda":
        from fla.ops.kda import chunk_kda
        gate = F.logsigmoid(rnd(B, T, H, D, dtype=torch.float32))
        return lambda: chunk_kda(q, k, v, gate, beta, initial_state=h0, output_final_state=True)
    if op == "rwkv7":
        from fla.ops.rwkv7 import chunk_rwkv7
        w = F.logsigmoid(rnd(B, T, H, D, dtype=torch.float32)).to(bf)  # log decay
        a_gate = torch.sigmoid(rnd(B, T, H, D, dtype=torch.float32))
        a = (-k.float()).to(bf)
        b = (k.float() * a_gate).to(bf)
        return lambda: chunk_rwkv7(q, w, k, v, a, b, initial_state=h0, output_final_state=True)
    if op == "linear_attn":
        from fla.ops.linear_attn import chunk_linear_attn
        z0 = torch.rand(B, 1, H, D, device=dev, generator=g)
        return lambda: chunk_linear_attn(q, k, v, initial_state=(h0, z0),
                                         output_final_state=True, normalize=True)
    raise ValueError(op)


def dvk_bench(dvk, op, B, T, H, D, coopmat):
    env = dict(os.environ, DVK_COOPMAT=coopmat)
    args = [dvk, "bench", op, "--B", str(B), "--T", str(T), "--H", str(H), "--K", str(D),
            "--V", str(D), "--mode", "chunk", "--dtype", "f16", "--json"]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dvk", required=True, help="the dvk tool")
    ap.add_argument("--coopmat", default="nv,khr", help="DVK_COOPMAT values, comma-separated")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--json", help="also write every measurement here, one object per line")
    a = ap.parse_args()
    exts = [e for e in a.coopmat.split(",") if e]
    import fla
    rows, records = [], []
    for op in a.ops.split(","):
        for (B, T, H, D) in SHAPES:
            f = fla_call(op, B, T, H, D)
            f()
            torch.cuda.synchronize()
            fla_ms = triton.testing.do_bench(f, warmup=25, rep=200, return_mode="median")
            del f
            torch.cuda.empty_cache()
            rec = {"op": op, "B": B, "T": T, "H": H, "D": D, "fla_version": fla.__version__,
                   "fla_ms": fla_ms, "device": torch.cuda.get_device_name()}
            cells = []
            for e in exts:
                j = dvk_bench(a.dvk, op, B, T, H, D, e)
                rec["dvk_" + e + "_ms"] = j["median_ms"]
                cells.append(f"{j['median_ms']:.3f} ms ({j['median_ms'] / fla_ms:.2f}x)")
            records.append(rec)
            rows.append(f"| {op} | {B},{T},{H},{D} | {fla_ms:.3f} ms | " + " | ".join(cells) + " |")
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"| op | B,T,H,D | fla {fla.__version__} (bf16) | " +
          " | ".join(f"deltavk fp16, {e.upper()}" for e in exts) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in exts) + " |")
    print("\n".join(rows))
    if a.json:
        with open(a.json, "w") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()

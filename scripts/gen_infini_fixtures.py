#!/usr/bin/env python3
"""Generate the fixtures of the Infini-Transformer language model (infini-transformer-pytorch
0.0.2's InfiniTransformer, its CausalAttention and FeedForward) on two tiny random
configurations, on the CPU.

Needs (a venv; only PyTorch's CPU path is used):

    python3 -m venv .venv
    .venv/bin/pip install torch numpy safetensors
    .venv/bin/pip install infini-transformer-pytorch==0.0.2   # pulls rotary-embedding-torch, einops
    .venv/bin/python scripts/gen_infini_fixtures.py [--out tests/fixtures]

(made with torch 2.15.0, infini-transformer-pytorch 0.0.2, rotary-embedding-torch 0.9.1, einops
0.8.2; `__metadata__` records the versions actually used.)

The model runs segment by segment through the package's own API: `logits, mems =
model(tokens_s, past_memories=mems, return_memories=True)`, mems None for the first segment
(the package has no segmenting wrapper in 0.0.2: a call is one segment, its rotary positions
0..n-1, its causal softmax attention inside it, its memories those of the calls before). The
last segment is shorter than the others (the package takes any length).

Configurations (torch.manual_seed(seed) for the package's own init, then, from a generator of
the same seed, so that every path contributes):
  head_gates uniform(-2, 2) (the package's 10 gives the memory a weight of 4.5e-5);
  to_qkv.weight x 2.5 (q, k of std ~1.4, so elu's negative side matters);
  every RMSNorm gamma 1 + 0.2 normal; the biases (FeedForward, to_logits) 0.1 normal added.

  infini_lm_plain   num_tokens 64, dim 48, depth 2, heads 2, dim_head 16, ff_mult 4 (FeedForward
                    inner 128), plain memory; B 2, segments 8, 8, 8, 5 (T 29)
  infini_lm_delta   num_tokens 50, dim 40, depth 2, heads 3, dim_head 8, ff_mult 2 (inner 53),
                    use_mem_delta_rule=True; B 2, segments 6, 6, 6, 3 (T 21)

Files per configuration (float32 but tokens, row-major):
  <name>.safetensors     the model's state_dict under its own names and shapes (token_emb.weight,
                         layers.<i>.0.{head_gates, norm.gamma, rotary_emb.freqs, to_qkv.weight,
                         to_out.weight}, layers.<i>.1.{norm.gamma, proj_in.weight, proj_in.bias,
                         proj_out.weight, proj_out.bias}, norm.gamma, to_logits.{weight, bias})
  <name>_io.safetensors  tokens [B,T] int32; segments [S] int32 (the segment lengths);
                         logits [B,T,V] (every segment's logits, concatenated along T);
                         logits_one [B,T,V] (the whole sequence in one call: one segment);
                         memories.<i>.kv [B,H,D,D], memories.<i>.norm [B,H,D] (the memories
                           returned by the last segment's call: kv key-major, [.., dk, dv]);
                         attn1_x [B,T,dim], attn1_y [B,T,dim] (the input and output of
                           layers.1.0, the second block's CausalAttention, every segment
                           concatenated: the attention layer on its own)
                         ff1_x, ff1_y [B,T,dim] (the input and output of layers.1.1, the second
                           block's FeedForward, without the residual)
"""
import argparse
import importlib.metadata
import os

import safetensors.torch
import torch
from infini_transformer_pytorch import InfiniTransformer

CASES = {
    # name: (num_tokens, dim, depth, heads, dim_head, ff_mult, delta, B, segments, seed)
    "infini_lm_plain": (64, 48, 2, 2, 16, 4, False, 2, (8, 8, 8, 5), 20261213),
    "infini_lm_delta": (50, 40, 2, 3, 8, 2, True, 2, (6, 6, 6, 3), 20261214),
}
DISTS = ("torch", "infini-transformer-pytorch", "rotary-embedding-torch", "einops",
         "safetensors")


def versions():
    return " ".join(f"{d}={importlib.metadata.version(d)}" for d in DISTS)


def make_model(num_tokens, dim, depth, heads, dim_head, ff_mult, delta, seed):
    torch.manual_seed(seed)
    model = InfiniTransformer(num_tokens=num_tokens, dim=dim, depth=depth, dim_head=dim_head,
                              heads=heads, ff_mult=ff_mult, use_mem_delta_rule=delta).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("head_gates"):
                p.copy_(torch.rand(p.shape, generator=g) * 4.0 - 2.0)
            elif name.endswith("to_qkv.weight"):
                p.mul_(2.5)
            elif name.endswith("gamma"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def make(out_dir, name, case):
    num_tokens, dim, depth, heads, dim_head, ff_mult, delta, B, segments, seed = case
    model = make_model(num_tokens, dim, depth, heads, dim_head, ff_mult, delta, seed)
    T = sum(segments)
    g = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, num_tokens, (B, T), generator=g)

    cap = {}
    attn1 = model.layers[1][0]
    attn1.register_forward_hook(
        lambda m, args, kwargs, out: cap.update(x=args[0] if args else kwargs["x"], y=out[0]),
        with_kwargs=True)
    ff1 = model.layers[1][1]
    ff1.register_forward_hook(lambda m, args, out: cap.update(ff_x=args[0], ff_y=out))
    logits, xs, ys, ffx, ffy, mems, at = [], [], [], [], [], None, 0
    with torch.no_grad():
        for n in segments:
            lg, mems = model(tokens[:, at:at + n], past_memories=mems, return_memories=True)
            logits.append(lg)
            xs.append(cap["x"])
            ys.append(cap["y"])
            ffx.append(cap["ff_x"])
            ffy.append(cap["ff_y"])
            at += n
        logits_one = model(tokens)
    weights = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    io = dict(tokens=tokens.to(torch.int32), segments=torch.tensor(segments, dtype=torch.int32),
              logits=torch.cat(logits, dim=1), logits_one=logits_one,
              attn1_x=torch.cat(xs, dim=1), attn1_y=torch.cat(ys, dim=1),
              ff1_x=torch.cat(ffx, dim=1), ff1_y=torch.cat(ffy, dim=1))
    for i, (kv, norm) in enumerate(mems):
        io[f"memories.{i}.kv"] = kv
        io[f"memories.{i}.norm"] = norm
    io = {k: v.detach().contiguous() for k, v in io.items()}
    meta = {
        "recipe": "scripts/gen_infini_fixtures.py",
        "class": "infini_transformer_pytorch.InfiniTransformer",
        "versions": versions(),
        "seed": str(seed),
        "config": f"num_tokens={num_tokens} dim={dim} depth={depth} heads={heads} "
                  f"dim_head={dim_head} ff_mult={ff_mult} use_mem_delta_rule={delta}",
        "segments": " ".join(str(n) for n in segments),
        "call": "logits_s, mems = model(tokens[:, seg], past_memories=mems, "
                "return_memories=True) per segment (mems None first)",
    }
    for fname, tensors in ((name, weights), (name + "_io", io)):
        path = os.path.join(out_dir, fname + ".safetensors")
        safetensors.torch.save_file(tensors, path, metadata=meta)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
        for k, v in tensors.items():
            print(f"  {k:28s} {str(v.dtype):14s} {list(v.shape)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    for name, case in CASES.items():
        make(args.out, name, case)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the fixture of Qwen3-Next's Gated DeltaNet layer (transformers'
Qwen3NextGatedDeltaNet) on a tiny random configuration, on the CPU.

Needs (a venv; only PyTorch's CPU path is used):

    python3 -m venv .venv
    .venv/bin/pip install torch transformers safetensors
    .venv/bin/python scripts/gen_qwen3next_fixtures.py [--out tests/fixtures]

(made with torch 2.15.0 and transformers 5.24.0; `__metadata__` records the versions actually
used.) The layer runs on transformers' own PyTorch fallbacks (torch_chunk_gated_delta_rule,
torch_recurrent_gated_delta_rule, its causal_conv1d_fn / causal_conv1d_update): no fla, no
causal-conv1d, nothing fetched from a hub.

Configuration: hidden_size 64, linear_num_key_heads 2, linear_key_head_dim 16,
linear_num_value_heads 4 (two value heads per key head: q and k are repeated),
linear_value_head_dim 16, linear_conv_kernel_dim 4, rms_norm_eps 1e-6, hidden_act silu,
float32. Parameters (torch.manual_seed(SEED), set explicitly so every path contributes):
projections and the conv weight normal with std 1/sqrt(fan_in); A = uniform(0.05, 1.5) and
A_log = log(A) (the package draws A from [0.01, 16], whose strongest decays forget a token at
once); dt_bias normal(0, 0.5); the gated norm's weight 1 + normal(0, 0.2) (the package stores
the weight itself, initialised to ones: no "1 + w").

File qwen3next_gdn_tiny.safetensors (float32, row-major):
  in_proj_qkvz.weight [192, 64], in_proj_ba.weight [8, 64], conv1d.weight [128, 1, 4],
  dt_bias [4], A_log [4], norm.weight [16], out_proj.weight [64, 64]
                          the layer's state_dict, under its own names and shapes
  x [2, 37, 64]           the input hidden states (B = 2, T = 37), normal(0, 1)
  y [2, 37, 64]           the layer's output on x in one call, with a cache (prefill path:
                          torch_chunk_gated_delta_rule, chunk 64)
  recurrent_state [2, 4, 16, 16]  the cache's recurrent state after that call: per batch row and
                          value head, key-major [K, V] (what the rule's S is in deltavk.h)
  conv_state [2, 128, 4]  the cache's conv state after it: the last 4 inputs of the conv (its
                          pre-activation input channels q, k, v concatenated), oldest first
  y_seg [2, 37, 64]       the same input in two calls sharing a cache: tokens [0, 20), then
                          [20, 37) (both chunked, the second from the first's states)
  y_tok [2, 37, 64]       the same input one token per call sharing a cache (the first call
                          prefill, the others transformers' decode path:
                          causal_conv1d_update and torch_recurrent_gated_delta_rule)

File qwen3next_gdn_odd.safetensors: the same tensors for another shape, seed SEED + 1: hidden
40, 3 key heads of 8 and 3 value heads of 12 (K != V, one value head per key head), conv
kernel 3, B = 1, T = 23, split after 9 tokens.
"""
import argparse
import os

import safetensors.torch
import torch
import transformers
from transformers import Qwen3NextConfig
from transformers.cache_utils import DynamicCache
from transformers.models.qwen3_next.modeling_qwen3_next import Qwen3NextGatedDeltaNet

SEED = 20261203

# name: (hidden, key heads, key head size, value heads, value head size, conv kernel, B, T, split)
CASES = {
    "qwen3next_gdn_tiny": (64, 2, 16, 4, 16, 4, 2, 37, 20),
    "qwen3next_gdn_odd": (40, 3, 8, 3, 12, 3, 1, 23, 9),
}


def make_layer(hidden, hk, dk, hv, dv, w, B, T, seed):
    config = Qwen3NextConfig(
        hidden_size=hidden,
        num_hidden_layers=1,
        layer_types=["linear_attention"],
        linear_num_key_heads=hk,
        linear_key_head_dim=dk,
        linear_num_value_heads=hv,
        linear_value_head_dim=dv,
        linear_conv_kernel_dim=w,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        vocab_size=32,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        intermediate_size=64,
        moe_intermediate_size=32,
        num_experts=2,
        num_experts_per_tok=1,
    )
    layer = Qwen3NextGatedDeltaNet(config, layer_idx=0).float().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for lin in (layer.in_proj_qkvz, layer.in_proj_ba, layer.out_proj):
            w = lin.weight
            w.copy_(torch.randn(w.shape, generator=g) / w.shape[1] ** 0.5)
        w = layer.conv1d.weight
        w.copy_(torch.randn(w.shape, generator=g) / w.shape[-1] ** 0.5)
        A = torch.empty(layer.A_log.shape).uniform_(0.05, 1.5, generator=g)
        layer.A_log.copy_(torch.log(A))
        layer.dt_bias.copy_(torch.randn(layer.dt_bias.shape, generator=g) * 0.5)
        layer.norm.weight.copy_(1 + 0.2 * torch.randn(layer.norm.weight.shape, generator=g))
    x = torch.randn(B, T, config.hidden_size, generator=g)
    return config, layer, x


def run(config, layer, x, pieces):
    """The layer over x in calls of the given lengths, one cache shared by all of them."""
    cache = DynamicCache(config=config)
    ys, at = [], 0
    for n in pieces:
        ys.append(layer(x[:, at:at + n], cache=cache))
        at += n
    return torch.cat(ys, dim=1), cache


def make(out_dir, name, case, seed):
    hidden, hk, dk, hv, dv, w, B, T, split = case
    config, layer, x = make_layer(hidden, hk, dk, hv, dv, w, B, T, seed)
    with torch.no_grad():
        y_plain = layer(x)                       # no cache at all
        y, cache = run(config, layer, x, [T])
        y_seg, _ = run(config, layer, x, [split, T - split])
        y_tok, _ = run(config, layer, x, [1] * T)
    rec = cache.get_recurrent_state(0).contiguous()
    conv = cache.get_conv_state(0).contiguous()
    for what, other in (("no cache", y_plain), ("two segments", y_seg), ("token by token", y_tok)):
        err = ((other - y).pow(2).mean() / y.pow(2).mean()).sqrt().item()
        print(f"{what:>15} vs whole: relative RMS {err:.2e}")
        assert err < 1e-5, what
    tensors = {k: v.detach().contiguous() for k, v in layer.state_dict().items()}
    tensors.update(x=x, y=y, y_seg=y_seg, y_tok=y_tok, recurrent_state=rec, conv_state=conv)
    meta = {
        "recipe": "scripts/gen_qwen3next_fixtures.py",
        "class": "transformers.models.qwen3_next.modeling_qwen3_next.Qwen3NextGatedDeltaNet",
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "seed": str(seed),
        "config": f"hidden_size={hidden} linear_num_key_heads={hk} linear_key_head_dim={dk} "
                  f"linear_num_value_heads={hv} linear_value_head_dim={dv} "
                  f"linear_conv_kernel_dim={w} rms_norm_eps=1e-6 hidden_act=silu",
        "split": str(split),
    }
    path = os.path.join(out_dir, name + ".safetensors")
    safetensors.torch.save_file({k: v.float() for k, v in tensors.items()}, path, metadata=meta)
    for k, v in tensors.items():
        print(f"  {k:22s} {list(v.shape)}")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    for i, (name, case) in enumerate(CASES.items()):
        make(args.out, name, case, SEED + i)


if __name__ == "__main__":
    main()

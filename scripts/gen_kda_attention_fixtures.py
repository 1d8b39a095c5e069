#!/usr/bin/env python3
"""Generate the fixtures of the KDA seed, KDAAttention of mohsinm-dev/kda-attention, on tiny
random weights, on the CPU.

The package's code is not part of deltavk and is never committed here. Read it from its public
snapshot into a scratch folder and give this script that folder:

    git clone https://github.com/mohsinm-dev/kda-attention /tmp/scratch/kda-attention
    python3 -m venv .venv && .venv/bin/pip install torch safetensors
    .venv/bin/python scripts/gen_kda_attention_fixtures.py /tmp/scratch/kda-attention \
        [--out tests/fixtures]

(made with torch 2.15.0 from the snapshot at b626330; `__metadata__` records what was used.)
The script imports `kda_attn` from that folder (no install) and runs KDAAttention as it is:
    q, k, v = w_q x, w_k x, w_v x (Linear with bias; heads of d_head, no normalisation);
    α = σ(w_alpha x) per channel; β = softplus(w_beta x) per head;
    S ← (I − β k kᵀ) Diag(α) S + β k vᵀ;  o = Sᵀ q;  y = w_o o.

Two configurations, one weights file each (the module's state_dict under its own names) and
one file of inputs and outputs (kda_attention_<case>_io.safetensors):
  kda_attention_tiny  KDAAttention(d_model=32, n_heads=4)               (d_head 8)
  kda_attention_odd   KDAAttention(d_model=20, n_heads=3, d_head=6)     (H·d_head 18 != 20)
Weights: PyTorch's default initialisation under torch.manual_seed(SEED + i), then the gate
biases moved off their constant init so every channel decays at its own rate and β varies:
w_alpha.bias = 2 + 0.5·normal (the package's 2.0 plus noise), w_beta.bias = 0.3·normal.
Inputs normal(0, 1), B = 2, T = 19. Tensors of the io file:
  x [B,T,D]          the input
  y [B,T,D], S [B,H,dk,dv]     forward(x, mode="scan") from a zero state: output, final S
  y_step [B,T,D]     the same sequence through .step() one token at a time (S carried)
  S0 [B,H,dk,dv]     a random initial state (normal · 0.3)
  y_s0, S_s0         forward(x, KDAState(S0), mode="scan"): continuing from S0
"""
import argparse
import os
import sys

import safetensors.torch
import torch

SEED = 20261204
B, T = 2, 19
CASES = {"tiny": dict(d_model=32, n_heads=4), "odd": dict(d_model=20, n_heads=3, d_head=6)}


def rel(a, b):
    return ((a.double() - b.double()).pow(2).mean() / b.double().pow(2).mean()).sqrt().item()


def make(kda, out_dir, case, kwargs, seed):
    torch.manual_seed(seed)
    layer = kda.KDAAttention(**kwargs).float().eval()
    with torch.no_grad():
        layer.w_alpha.bias.copy_(2 + 0.5 * torch.randn(layer.w_alpha.bias.shape))
        layer.w_beta.bias.copy_(0.3 * torch.randn(layer.w_beta.bias.shape))
    D = kwargs["d_model"]
    x = torch.randn(B, T, D)
    S0 = 0.3 * torch.randn(B, layer.n_heads, layer.d_k, layer.d_v)
    with torch.no_grad():
        y, st = layer(x, state=None, mode="scan")
        state = layer.init_state(B)
        outs = []
        for t in range(T):
            y_t, state = layer.step(x[:, t], state)
            outs.append(y_t)
        y_step = torch.stack(outs, dim=1)
        y_s0, st0 = layer(x, state=kda.KDAState(S=S0.clone()), mode="scan")
    err = rel(y_step, y)
    print(f"kda_attention_{case}: step vs scan: rel RMS {err:.2e}")
    assert err < 1e-6
    weights = {k: v.detach().float().contiguous() for k, v in layer.state_dict().items()}
    io = {"x": x, "y": y, "S": st.S, "y_step": y_step, "S0": S0, "y_s0": y_s0, "S_s0": st0.S}
    meta = {
        "recipe": "scripts/gen_kda_attention_fixtures.py",
        "package": "mohsinm-dev/kda-attention kda_attn.KDAAttention",
        "module": "KDAAttention(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")",
        "torch": torch.__version__.split("+")[0],
        "seed": str(seed),
    }
    name = f"kda_attention_{case}"
    for suffix, tensors in (("", weights), ("_io", io)):
        path = os.path.join(out_dir, name + suffix + ".safetensors")
        safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, path,
                                    metadata=meta)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes): "
              + ", ".join(f"{k} {list(v.shape)}" for k, v in tensors.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("package", help="a checkout of mohsinm-dev/kda-attention")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.package))
    import kda_attn  # noqa: E402  (the scratch checkout's)
    for i, (case, kwargs) in enumerate(CASES.items()):
        make(kda_attn, args.out, case, kwargs, SEED + i)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the fixtures of the DeltaNet seed (aykutcayir34/DeltaNet, the notebook version with
TransformerDeltaNet: commit 0e2b40f) on tiny random weights, on the CPU.

The seed's code is not part of deltavk and is never committed here. Read it from its public
snapshot into a scratch folder and give this script the notebook's path:

    git clone https://github.com/aykutcayir34/DeltaNet /tmp/scratch/DeltaNet
    git -C /tmp/scratch/DeltaNet show 0e2b40f:deltanet.ipynb > /tmp/scratch/deltanet.ipynb
    python3 -m venv .venv && .venv/bin/pip install torch safetensors
    .venv/bin/python scripts/gen_deltanet_fixtures.py /tmp/scratch/deltanet.ipynb \
        [--out tests/fixtures]

(made with torch 2.15.0; `__metadata__` records the versions actually used.) The script runs
the notebook's definition cells (imports, `def`, `class`) and nothing else of it.

The seed's `chunk_delta_rule` builds its UT transform over the whole sequence but solves only
the first chunk_size rows of it, so it is the delta rule only when T equals the chunk size (and
T must be a multiple of it). deltavk computes the delta rule itself for every T. So each
fixture holds two runs of the seed's modules on the same weights:
  x_chunk, y_chunk   [B, C, d]  T = C = the chunk size, the seed's own code as it is (float32)
  x, y               [B, T, d]  T = 21 or 13 (not a multiple of C), the seed's modules with their
                                chunk_delta_rule replaced by the token-by-token delta rule
                                (float64, stored as float32):
                                  u_t = β_t (v_t − Sᵀ k_t);  S ← S + k_t u_tᵀ;  o_t = Sᵀ q_t
  state.<i> [B, 1, d, d]        the final S of the i-th DeltaNet module run (key-major), from
                                that token-by-token run
At T = C the two agree (checked below to 1e-5); at T = 2C the seed's chunked output is wrong
(the relative error is printed).

Four modules, one weights file each (the module's state_dict under its own names) and one file
of inputs and outputs (deltanet_<name>_io.safetensors):
  deltanet_layer   DeltaNet(d_model=16, chunk_size=8)                        B = 2, T = 21
  deltanet_block   TransformerBlock(d_model=16, chunk_size=8, ff_hidden_dim=24)   B = 2, T = 21
  deltanet_model   TransformerDeltaNet(d_model=16, chunk_size=8, num_layers=2)    B = 2, T = 21
  deltanet_odd     TransformerDeltaNet(d_model=12, chunk_size=4, num_layers=3)    B = 1, T = 13
Weights: PyTorch's default initialisation under torch.manual_seed(SEED + i), then every RMSNorm
scale set to 1 + 0.2·normal (the seed initialises them to ones) so the norms' weights count.
Inputs normal(0, 1).
"""
import argparse
import json
import os
import sys

import safetensors.torch
import torch

SEED = 20261203
# name: (kind, d_model, chunk size, ff_hidden_dim or num_layers, B, T)
CASES = {
    "layer": ("layer", 16, 8, 0, 2, 21),
    "block": ("block", 16, 8, 24, 2, 21),
    "model": ("model", 16, 8, 2, 2, 21),
    "odd": ("model", 12, 4, 3, 1, 13),
}


def load_seed(notebook):
    """The notebook's definitions (imports, functions, classes) in a namespace."""
    with open(notebook) as f:
        nb = json.load(f)
    ns = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        if src.lstrip().startswith(("import", "from", "def ", "class ")):
            exec(compile(src, notebook, "exec"), ns)
    for name in ("chunk_delta_rule", "RMSNorm", "DeltaNet", "TransformerBlock",
                 "TransformerDeltaNet"):
        if name not in ns:
            sys.exit(f"{notebook}: no {name}: not the notebook version with TransformerDeltaNet")
    return ns


def recurrent_delta_rule(finals):
    """The delta rule token by token, a drop-in for the seed's chunk_delta_rule (any T); the
    final state of each call is appended to `finals`."""
    def rule(Q, K, V, beta, chunk_size):
        Bn, L, d = Q.shape
        S = torch.zeros(Bn, d, d, dtype=Q.dtype)
        O = torch.empty_like(V)
        for t in range(L):
            k, v, q = K[:, t], V[:, t], Q[:, t]
            u = beta[:, t, None] * (v - torch.einsum("bk,bkv->bv", k, S))
            S = S + k[:, :, None] * u[:, None, :]
            O[:, t] = torch.einsum("bk,bkv->bv", q, S)
        finals.append(S.clone())
        return O
    return rule


def rel(a, b):
    return ((a.double() - b.double()).pow(2).mean() / b.double().pow(2).mean()).sqrt().item()


def make(ns, out_dir, name, case, seed):
    kind, D, C, n, B, T_LONG = case
    torch.manual_seed(seed)
    if kind == "layer":
        module = ns["DeltaNet"](D, C)
    elif kind == "block":
        module = ns["TransformerBlock"](D, C, n)
    else:
        module = ns["TransformerDeltaNet"](D, C, n)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, ns["RMSNorm"]):
                m.scale.copy_(1 + 0.2 * torch.randn(m.scale.shape))
    module = module.float().eval()
    x_chunk = torch.randn(B, C, D)
    x = torch.randn(B, T_LONG, D)
    x_2c = torch.randn(B, 2 * C, D)
    seed_rule = ns["chunk_delta_rule"]
    with torch.no_grad():
        y_chunk = module(x_chunk)                      # the seed as it is, T = C
        y_2c_seed = module(x_2c)                       # ... and at T = 2C (wrong)
        finals = []
        ns["chunk_delta_rule"] = recurrent_delta_rule(finals)
        m64 = module.double()
        y_chunk_rec = m64(x_chunk.double())
        y_2c_rec = m64(x_2c.double())
        finals.clear()
        y = m64(x.double())
        ns["chunk_delta_rule"] = seed_rule
        module = module.float()
    err = rel(y_chunk, y_chunk_rec)
    print(f"deltanet_{name}: T = C = {C}: seed's chunked vs token-by-token: rel RMS {err:.2e}")
    assert err < 1e-5
    print(f"deltanet_{name}: T = 2C = {2 * C}: seed's chunked vs token-by-token: "
          f"rel RMS {rel(y_2c_seed, y_2c_rec):.2e} (the seed's chunk_delta_rule is wrong here)")
    weights = {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
    io = {"x_chunk": x_chunk, "y_chunk": y_chunk, "x": x, "y": y.float()}
    for i, S in enumerate(finals):
        io[f"state.{i}"] = S.float().reshape(B, 1, D, D).contiguous()
    meta = {
        "recipe": "scripts/gen_deltanet_fixtures.py",
        "seed_code": "aykutcayir34/DeltaNet deltanet.ipynb at 0e2b40f",
        "module": {"layer": f"DeltaNet({D}, {C})", "block": f"TransformerBlock({D}, {C}, {n})",
                   "model": f"TransformerDeltaNet({D}, {C}, {n})"}[kind],
        "torch": torch.__version__.split("+")[0],
        "seed": str(seed),
    }
    name = f"deltanet_{name}"
    for suffix, tensors in (("", weights), ("_io", io)):
        path = os.path.join(out_dir, name + suffix + ".safetensors")
        safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, path,
                                    metadata=meta)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes): "
              + ", ".join(f"{k} {list(v.shape)}" for k, v in tensors.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", help="deltanet.ipynb of aykutcayir34/DeltaNet at 0e2b40f")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    ns = load_seed(args.notebook)
    for i, (name, case) in enumerate(CASES.items()):
        make(ns, args.out, name, case, SEED + i)


if __name__ == "__main__":
    main()

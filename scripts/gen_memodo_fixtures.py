#!/usr/bin/env python3
"""Generate the fixtures of Memodo's layer (PyPI memodo 1.0.0, `memodo.MemodoLayer`) on small
random configurations, on the CPU.

Needs (a venv; the package declares torch but does not pull it in):

    python3 -m venv .venv
    .venv/bin/pip install memodo==1.0.0 torch safetensors
    .venv/bin/python scripts/gen_memodo_fixtures.py [--out tests/fixtures]

(made with memodo 1.0.0 and torch 2.15.0; `__metadata__` records the versions used.)

Two wirings are recorded for each layer:
  the package's   MemodoLayer.forward itself: res = x; x = LayerNorm(x); x = TokenLerp(x);
                  y = bias; for each head: y = O(head(y)) (the heads are chained and fed from
                  `bias`: x never reaches them); y = y * gating(y + x * gating_res);
                  returns res + y, time-major [T, B, C] (use_residual=True, time_dim=-2).
  the README's    what the package's README describes, composed here from the package's own
                  modules (the same parameters): R = x; xn = LayerNorm(R);
                  x' = TokenLerp(xn); block = bias + sum_j O_j(head_j(x')) (every head reads
                  x'); returns R + block * gating(xn), batch-major [B, T, C]. The README writes
                  silu in the gate and in the token shift; the modules (and so this) use GELU.

Parameters (torch.manual_seed is not used: one torch.Generator seeded with SEED + case), set
so that every path contributes: every Linear normal with std 1/sqrt(fan_in) and biases
normal(0, 0.3), except in each head I (weight std 0.3/sqrt(fan_in), bias 1 + normal(0, 0.5):
decays sigma(i) mostly in 0.6..0.9), A and B (std 0.1/sqrt(fan_in); B is zero at the
package's init), so that the states stay bounded over the sequence; each head's O is then
scaled so that its output along the package's chain has an RMS of 1; the heads'
learned initial states normal(0, 0.5), the token shift's learned initial token normal(0, 1)
(both non-zero, so the first token sees them);
premix and gating_res uniform(0, 1); the LayerNorm's weight 1 + normal(0, 0.2) and bias
normal(0, 0.1); `bias` normal(0, 1) (zero at init: the heads would then read only their
projections' biases).

File memodo_layer_tiny.safetensors (float32, row-major): num_channels C = 64, attn_feats
[16, 16], lerp_feats 16, gating_feats 16; B = 2, T = 37:
  the layer's state_dict under its own names and shapes (norm.*, token_lerp.*, deltanets.J.*,
                bias, gating_res, gating.*)
  x [2, 37, 64]            the input, normal(0, 1), batch-major
  y [37, 2, 64]            the package's output on x in one call from its learned initial
                           states, as it returns it: time-major
  state.0 [2, 64]          the package's final states after that call: the token shift's
  state.1, state.2 [2, 16, 16]  and each head's M (out = M^T s; deltavk's key-major state is
                           its transpose)
  y_readme [2, 37, 64]     the README's wiring on x, from the learned initial states
  readme_state.0 .. .2     its final states, in the same layouts
The script checks, before writing, that the package fed the same x in two segments (split
SPLIT) and one token per call, its state carried, gives the whole call's output and states.

File memodo_layer_odd.safetensors: the same for C = 40, attn_feats [12, 7, 20], lerp_feats 9,
gating_feats 11, B = 1, T = 23, split 9 (heads of three sizes, state.1 .. state.3).
"""
import argparse
import os

import numpy
import safetensors.torch
import torch

import memodo

SEED = 20261213

# name: (C, attn_feats, lerp_feats, gating_feats, B, T, split)
CASES = {
    "memodo_layer_tiny": (64, [16, 16], 16, 16, 2, 37, 20),
    "memodo_layer_odd": (40, [12, 7, 20], 9, 11, 1, 23, 9),
}


def make_layer(C, feats, lerp, gating, T, seed):
    layer = memodo.MemodoLayer(num_channels=C, attn_feats=feats, lerp_feats=lerp,
                               gating_feats=gating).float().eval()
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=g) * std

    with torch.no_grad():
        for name, p in layer.named_parameters():
            leaf = name.split(".")[-1]
            if leaf == "weight" and p.dim() == 2:
                std = 1 / p.shape[1] ** 0.5
                if name.endswith((".A.weight", ".B.weight")):
                    std *= 0.1
                elif name.endswith(".I.weight"):
                    std *= 0.3
                p.copy_(normal(p.shape, std))
            elif name.endswith(".I.bias"):
                p.copy_(1.0 + normal(p.shape, 0.5))
            elif leaf == "bias" and name.startswith(("token_lerp", "deltanets", "gating")):
                p.copy_(normal(p.shape, 0.3))
            elif name.startswith("deltanets") and leaf == "initial":
                p.copy_(normal(p.shape, 0.5))
            elif name == "token_lerp.initial" or name == "bias":
                p.copy_(normal(p.shape, 1.0))
            elif name in ("token_lerp.premix", "gating_res"):
                p.copy_(torch.rand(p.shape, generator=g))
            elif name == "norm.weight":
                p.copy_(1 + normal(p.shape, 0.2))
            elif name == "norm.bias":
                p.copy_(normal(p.shape, 0.1))
            else:
                raise SystemExit(f"unexpected parameter {name}")
        # Each head's O scaled so that its output has an RMS of 1 along the package's chain
        # (which does not depend on x) over T tokens: unscaled, each head's larger state feeds
        # the next one's projections and the output grows by orders of magnitude per head.
        y = torch.zeros(T, 1, C) + layer.bias
        for head in layer.deltanets:
            y, _ = head(y, None)
            rms = y.pow(2).mean().sqrt()
            head.O.weight.mul_(1 / rms)
            y = y / rms
    return layer, g


def readme_forward(layer, x, state=None):
    """The README's wiring from the package's modules; x [B, T, C] -> [B, T, C]."""
    R = x.transpose(0, 1)
    xn = layer.norm(R)
    state = [None] * (len(layer.deltanets) + 1) if state is None else list(state)
    xl, state[0] = layer.token_lerp(xn, state[0])
    block = torch.zeros_like(xl) + layer.bias
    for j, head in enumerate(layer.deltanets):
        yj, state[j + 1] = head(xl, state[j + 1])
        block = block + yj
    return (R + block * layer.gating(xn)).transpose(0, 1), state


def run(fn, x, pieces):
    """fn over x [B, T, C] in calls of the given lengths, the state carried; outputs are
    concatenated along fn's time axis (0 for the package's time-major output)."""
    state, ys, at = None, [], 0
    for n in pieces:
        y, state = fn(x[:, at:at + n], state)
        ys.append(y)
        at += n
    return ys, state


def rel(a, b):
    return ((a - b).pow(2).mean() / b.pow(2).mean()).sqrt().item()


def make(out_dir, name, case, seed):
    C, feats, lerp, gating, B, T, split = case
    layer, g = make_layer(C, feats, lerp, gating, T, seed)
    x = torch.randn(B, T, C, generator=g)
    tensors = {k: v.detach().clone().contiguous() for k, v in layer.state_dict().items()}
    with torch.no_grad():
        for label, fn, tdim in (("package", layer, 0), ("readme", lambda a, s: readme_forward(
                layer, a, s), 1)):
            (y,), state = run(fn, x, [T])
            for what, pieces in (("two segments", [split, T - split]),
                                 ("token by token", [1] * T)):
                ys, st = run(fn, x, pieces)
                err = max([rel(torch.cat(ys, dim=tdim), y)] +
                          [rel(a.expand_as(b), b) for a, b in zip(st, state)])
                print(f"{label:>8} {what:>15} vs whole: relative RMS {err:.2e}")
                assert err < 1e-5, (label, what)
            prefix = "" if label == "package" else "readme_"
            tensors["y" if label == "package" else "y_readme"] = y.contiguous()
            for j, s in enumerate(state):
                # A head whose input never varies still returns [B, F, F] (its x has a batch).
                tensors[f"{prefix}state.{j}"] = s.expand(B, *s.shape[-(1 if j == 0 else 2):]) \
                    .contiguous()
            print(f"{label:>8} y: rms {y.pow(2).mean().sqrt().item():.3f}, states' max |.| "
                  + " ".join(f"{s.abs().max().item():.2f}" for s in state))
    tensors["x"] = x
    meta = {
        "recipe": "scripts/gen_memodo_fixtures.py",
        "class": "memodo.MemodoLayer",
        "memodo": "1.0.0",
        "torch": torch.__version__.split("+")[0],
        "numpy": numpy.__version__,
        "seed": str(seed),
        "config": f"num_channels={C} attn_feats={feats} lerp_feats={lerp} "
                  f"gating_feats={gating} use_residual=True time_dim=-2",
        "split": str(split),
    }
    path = os.path.join(out_dir, name + ".safetensors")
    safetensors.torch.save_file({k: v.float().contiguous() for k, v in tensors.items()}, path,
                                metadata=meta)
    for k, v in tensors.items():
        print(f"  {k:28s} {list(v.shape)}")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    from importlib.metadata import version
    assert version("memodo") == "1.0.0", version("memodo")
    for i, (name, case) in enumerate(CASES.items()):
        make(args.out, name, case, SEED + i)


if __name__ == "__main__":
    main()

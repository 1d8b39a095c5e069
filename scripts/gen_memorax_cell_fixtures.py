#!/usr/bin/env python3
"""Generate the fixtures of memorax's LinearAttentionCell (the whole cell: query/key/value
projections, elu+1, the normalised read, RMSNorm and the output Dense) run by the package's own
Memoroid scan, on tiny random weights, on the CPU.

Needs (a venv; memorax 1.0.1 from PyPI with JAX's CPU wheels):

    python3 -m venv .venv
    .venv/bin/pip install 'jax[cpu]' flax numpy safetensors memorax==1.0.1
    .venv/bin/python scripts/gen_memorax_cell_fixtures.py [--out tests/fixtures]

(made with jax/jaxlib 0.10.2, flax 0.12.8, memorax 1.0.1, numpy and safetensors from PyPI;
`__metadata__` records the versions actually used.) The package is imported and run as it is:
    Memoroid(cell=LinearAttentionCell(head_dim=D, num_heads=H, ...)).apply(params, x, mask,
                                                                           initial_carry)
which computes, per sequence b and head h (phi(x) = elu(x) + 1, no scale, eps = 1e-6):
    q, k, v = x Wq, x Wk, x Wv          (DenseGeneral, no bias; kernels [C, H, D])
    done[t] = 1: the carry into token t is dropped (the initial carry included)
    S_t = S_{t-1} + v_t phi(k_t)^T (value-major);  z_t = z_{t-1} + phi(k_t)
    o_t = S_t phi(q_t) / max(phi(q_t) . z_t, eps)     (heads outermost: [B, T, H*D])
    y_t = RMSNorm(o_t) (Flax: o / sqrt(mean(o^2) + 1e-6) * scale) @ Dense kernel + bias
with the state summed by jax.lax.associative_scan (tree order: ~1e-7 relative differences from a
sequential sum). The script checks the package's numbers against that recurrence written in
float64 numpy (reference(): ~1.5e-7 relative RMS) and the two-segment run against the one call.

Two configurations, one weights file and one file of inputs and outputs each:
  memorax_cell_tiny     LinearAttentionCell(head_dim=16, num_heads=2), C = 32
  memorax_cell_odd      LinearAttentionCell(head_dim=5, num_heads=3),  C = 21
The weights file holds the cell's parameters under their Flax paths inside the cell, joined by
'/' (model.init(...)['params']['cell'] flattened): query/kernel, key/kernel, value/kernel
[C, H, D]; RMSNorm_0/scale [H*D]; Dense_0/kernel [H*D, C], Dense_0/bias [C]. (In the Memoroid's
own variables these sit under params/cell/.) Weights: kernels lecun_normal (the cell's
kernel_init, as memorax's examples use), the Dense bias normal(0.5) (bias_init), and the RMSNorm
scale moved off its init of ones to 1 + 0.5 normal so that it counts; seeds SEED + i (jax
PRNGKey for the parameters, numpy default_rng for the rest).

The io file (memorax_cell_<case>_io.safetensors), B = 2, T = 37, in memorax's own layouts (its
carry is (state [B,1,H,V,K] value-major, normalizer [B,1,H,K])):
  x [B,T,C]                       normal(0, 1)
  done [B,T]                      Memoroid's `mask` as 0/1 (row 0: t = 0, 9, 10, 30; row 1:
                                  t = 17, 36): token t starts a new episode
  initial_carry/state, initial_carry/normalizer   a non-zero carry: sum over 5 earlier random
                                  tokens of v phi(k)^T and phi(k) (phi(k) > 0, so z stays > 0)
  y [B,T,C], carry/state, carry/normalizer        the whole sequence from initial_carry
  y_segments, carry_segments/...  the same sequence as two calls, tokens [0, 16) then [16, 37),
                                  the first call's returned carry handed to the second
  y_zero_carry, carry_zero_carry/...  the whole sequence without initial_carry (the cell's
                                  initialize_carry: zeros)
  o [B,T,H,D]                     the normalised read (the RMSNorm's input, captured with
                                  flax.linen.intercept_methods) of the whole-sequence call
"""
import argparse
import importlib.metadata
import json
import os

import numpy as np
from safetensors.numpy import save_file

SEED = 20261213
B, T, SPLIT, PRE = 2, 37, 16, 5
CASES = {"tiny": dict(C=32, H=2, D=16), "odd": dict(C=21, H=3, D=5)}
DISTS = ("jax", "jaxlib", "flax", "memorax", "numpy", "safetensors")


def versions():
    out = {}
    for d in DISTS:
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "absent"
    return out


def flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict) or hasattr(v, "items"):
            out.update(flatten(v, prefix + k + "/"))
        else:
            out[prefix + k] = np.ascontiguousarray(np.asarray(v, dtype=np.float32))
    return out


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(((a - b) ** 2).mean() / (b ** 2).mean()))


def reference(w, x, done, state0, norm0):
    """The cell in float64 numpy, token by token (the recurrence the scan computes)."""
    Bn, Tn, C = x.shape
    Wq, Wk, Wv = (w[n + "/kernel"].astype(np.float64) for n in ("query", "key", "value"))
    H, D = Wq.shape[1:]
    phi = lambda a: np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0)))
    q = phi(np.einsum("btc,chd->bthd", x, Wq))
    k = phi(np.einsum("btc,chd->bthd", x, Wk))
    v = np.einsum("btc,chd->bthd", x, Wv)
    S, z = state0[:, 0].astype(np.float64), norm0[:, 0].astype(np.float64)  # [B,H,V,K], [B,H,K]
    o = np.zeros((Bn, Tn, H, D))
    for t in range(Tn):
        keep = (1.0 - done[:, t])[:, None]
        S = S * keep[..., None, None] + np.einsum("bhv,bhk->bhvk", v[:, t], k[:, t])
        z = z * keep[..., None] + k[:, t]
        den = np.maximum(np.einsum("bhk,bhk->bh", q[:, t], z), 1e-6)
        o[:, t] = np.einsum("bhvk,bhk->bhv", S, q[:, t]) / den[..., None]
    o2 = o.reshape(Bn, Tn, H * D)
    n = o2 / np.sqrt((o2 ** 2).mean(-1, keepdims=True) + 1e-6) * w["RMSNorm_0/scale"]
    y = n @ w["Dense_0/kernel"].astype(np.float64) + w["Dense_0/bias"]
    return o, y, S, z


def make(out_dir, case, cfg, seed):
    import flax
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from memorax.networks.sequence_models import LinearAttentionCell, Memoroid

    C, H, D = cfg["C"], cfg["H"], cfg["D"]
    rng = np.random.default_rng(seed)
    cell = LinearAttentionCell(head_dim=D, num_heads=H,
                               kernel_init=nn.initializers.lecun_normal(),
                               bias_init=nn.initializers.normal(0.5), param_dtype=jnp.float32)
    model = Memoroid(cell=cell)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    done = np.zeros((B, T), np.float32)
    done[0, [0, 9, 10, 30]] = 1.0
    done[1, [17, 36]] = 1.0
    phi = lambda a: np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0)))
    kp = phi(rng.standard_normal((B, PRE, H, D)))
    vp = rng.standard_normal((B, PRE, H, D))
    state0 = np.einsum("bphv,bphk->bhvk", vp, kp)[:, None].astype(np.float32)  # [B,1,H,V,K]
    norm0 = kp.sum(axis=1)[:, None].astype(np.float32)                         # [B,1,H,K]
    carry0 = (jnp.asarray(state0), jnp.asarray(norm0))

    params = model.init(jax.random.PRNGKey(seed), jnp.asarray(x), jnp.asarray(done), carry0)
    params = flax.core.unfreeze(params)
    cp = params["params"]["cell"]
    scale = cp["RMSNorm_0"]["scale"]
    cp["RMSNorm_0"]["scale"] = jnp.asarray(
        1.0 + 0.5 * rng.standard_normal(scale.shape), jnp.float32)

    cap = {}

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, nn.RMSNorm):
            cap["o"] = np.asarray(args[0])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        carry, y = model.apply(params, jnp.asarray(x), jnp.asarray(done), carry0)
    o = cap["o"].reshape(B, T, H, D)
    c1, y1 = model.apply(params, jnp.asarray(x[:, :SPLIT]), jnp.asarray(done[:, :SPLIT]), carry0)
    c2, y2 = model.apply(params, jnp.asarray(x[:, SPLIT:]), jnp.asarray(done[:, SPLIT:]), c1)
    y_seg = np.concatenate([np.asarray(y1), np.asarray(y2)], axis=1)
    cz, yz = model.apply(params, jnp.asarray(x), jnp.asarray(done))

    e_seg = max(rel(y_seg, y), rel(c2[0], carry[0]), rel(c2[1], carry[1]))
    print(f"memorax_cell_{case}: two segments vs one call: rel RMS {e_seg:.2e}")
    assert e_seg < 1e-5

    weights = flatten(params["params"]["cell"])
    o64, y64, S64, z64 = reference(weights, x, done, state0, norm0)
    e_ref = max(rel(o, o64), rel(y, y64), rel(carry[0][:, 0], S64), rel(carry[1][:, 0], z64))
    print(f"memorax_cell_{case}: package vs a float64 recurrence: rel RMS {e_ref:.2e}")
    assert e_ref < 1e-5
    f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    io = {
        "x": x, "done": done,
        "initial_carry/state": state0, "initial_carry/normalizer": norm0,
        "y": y, "carry/state": carry[0], "carry/normalizer": carry[1],
        "y_segments": y_seg, "carry_segments/state": c2[0], "carry_segments/normalizer": c2[1],
        "y_zero_carry": yz, "carry_zero_carry/state": cz[0],
        "carry_zero_carry/normalizer": cz[1],
        "o": o,
    }
    io = {k: f32(v) for k, v in io.items()}
    meta = {
        "generator": "scripts/gen_memorax_cell_fixtures.py",
        "package": "memorax.networks.sequence_models.Memoroid(cell=LinearAttentionCell)",
        "module": f"LinearAttentionCell(head_dim={D}, num_heads={H}, eps=1e-6, "
                  "kernel_init=lecun_normal(), bias_init=normal(0.5), param_dtype=float32)",
        "dims": json.dumps(dict(B=B, T=T, C=C, H=H, D=D, split=SPLIT)),
        "seed": str(seed),
        "versions": json.dumps(versions()),
        "layout": "carry state [B,1,H,V,K] value-major (memorax's), normalizer [B,1,H,K]",
        "params": "the cell's Flax paths joined by '/' (under params/cell/ in the Memoroid)",
    }
    for suffix, tensors in (("", weights), ("_io", io)):
        path = os.path.join(out_dir, f"memorax_cell_{case}{suffix}.safetensors")
        save_file(tensors, path, metadata=meta)
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes): "
              + ", ".join(f"{k} {list(v.shape)}" for k, v in tensors.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fixtures"))
    args = ap.parse_args()
    import jax
    jax.config.update("jax_platforms", "cpu")
    for i, (case, cfg) in enumerate(CASES.items()):
        make(args.out, case, cfg, SEED + i)


if __name__ == "__main__":
    main()

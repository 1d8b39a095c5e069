#!/usr/bin/env python3
"""Generate reference fixtures for linear attention (memorax), Infini-attention
(infini-transformer-pytorch) and rotary embeddings (rotary-embedding-torch) from the original
packages, on the CPU (no GPU needed).

Needs (a venv; PyTorch from PyPI, whose CPU path is all that is used here):

    python3 -m venv .venv
    .venv/bin/pip install torch numpy safetensors einops
    .venv/bin/pip install infini-transformer-pytorch==0.0.2   # pulls rotary-embedding-torch
    .venv/bin/pip install 'jax[cpu]' flax
    .venv/bin/pip install memorax==1.0.1

    .venv/bin/python scripts/gen_attn_fixtures.py [--out tests/fixtures] [--check]
    .venv/bin/python scripts/gen_attn_fixtures.py --check-only   # numpy + safetensors only

(made with torch 2.15.0, jax/jaxlib 0.10.2, flax 0.12.8, memorax 1.0.1,
infini-transformer-pytorch 0.0.2, rotary-embedding-torch 0.9.1; `__metadata__` records the
versions actually used.) --check re-derives every captured output from the captured inputs with
plain numpy in float64 and prints max|ours - package| / max|package| per tensor (it fails above
1e-5); --check-only does that for the files already in --out without regenerating them.

Fixtures (safetensors, float32, row-major; [B,T,H,D] layout; states key-major [B,H,K,V];
`__metadata__` records package versions, the class, the seed and the recipe):

  linear_attn_memorax      memorax 1.0.1 Memoroid(cell=LinearAttentionCell(head_dim=24,
                           num_heads=2)), B=2, T=27, H=2, K=V=24 (the cell has one head_dim for
                           keys, queries and values), in float32 (JAX's default).
                             q, k, v [B,T,H,K|V]  the query/key/value DenseGeneral outputs, raw
                                                  (before the feature map)
                             done [B,T]           memorax's `mask` argument as 0/1: done[t] = 1
                                                  makes token t start afresh (its state is its
                                                  own contribution only; the carry and all
                                                  earlier tokens are dropped). Row 0 has done
                                                  at t = 0 (the nonzero h0 is discarded), 11,
                                                  12 and 26; row 1 at 9 and 20.
                             h0 [B,H,K,V], z0 [B,H,K]  the initial carry (nonzero, made as the
                                                  state of 5 earlier random tokens), key-major
                             o [B,T,H,V]          the read-out before the cell's RMSNorm and
                                                  Dense: o_t = phi(q_t)^T S_t /
                                                  max(phi(q_t) . z_t, 1e-6), S_t, z_t inclusive
                                                  of token t; phi(x) = elu(x) + 1 on q and k,
                                                  no scale
                             ht [B,H,K,V], z [B,H,K]  the carry Memoroid returns (state after the
                                                  last token), key-major
                           memorax keeps the state value-major ([..., V, K], from
                           einsum('bthi,bthj->bthij', value, phi(key))); h0 is handed to it
                           transposed and its final state is transposed back. o is captured
                           with flax.linen.intercept_methods: the first argument of the cell's
                           RMSNorm.__call__ (the [B,T,H*V] numerator/denominator with heads
                           outermost), reshaped to [B,T,H,V]; q, k, v are the outputs of the
                           DenseGeneral modules named query, key and value.

  infini_attn_pytorch      infini-transformer-pytorch 0.0.2 CausalAttention(dim=48,
  infini_attn_delta_pytorch  dim_head=32, heads=2[, use_mem_delta_rule=True]) called on 3
                           consecutive segments of B=2, T=21 tokens, the memories it returns
                           handed back to the next call as past_memories (none for segment 0).
                           head_gates are set to uniform(-2, 2) (the package initialises them to
                           10, which hides the memory). Per segment s = 0, 1, 2:
                             q_s{s}, k_s{s}, v_s{s} [B,T,H,D]  split_heads' output (forward hook),
                                                  before the scale and rotary
                             o_s{s} [B,T,H,D]     merge_heads' input (forward hook): per-head
                                                  output before merging and to_out
                             mem_s{s} [B,H,D,D]   memory kv after segment s, key-major M[k, v]
                             z_s{s} [B,H,D]       memory normaliser after segment s
                           and gate [H], the head_gates logits as set. The recipe, per segment:
                           q <- q * D^-0.5; q, k <- rope(q), rope(k) (interleaved pairs, theta
                           1e4, positions 0..T-1 restarting at every segment); out = causal
                           softmax(q k^T) v (no further scale); q, k <- elu + 1 (of the scaled,
                           rotated q and the rotated k); if memories exist (segments >= 1):
                           mem = phi(q) M / clamp(phi(q) . z, min=1e-10); out = out sigma(g_h) +
                           mem (1 - sigma(g_h)) (segment 0: out is the plain softmax attention);
                           delta rule (segments >= 1 only, with the memory before the segment,
                           the attention above still uses the plain v): v <- v - phi(k) M /
                           clamp(phi(k) . z, min=1e-10); M <- M + phi(k)^T v, z <- z + sum_t
                           phi(k).

  rope_rotary_embedding_torch  rotary-embedding-torch RotaryEmbedding(dim=32) (theta 10000)
                           .rotate_queries_or_keys(x, seq_dim=-3, offset=5) on x [B=2,T=23,H=2,
                           D=32] (seq_dim=-3 because our layout is [B,T,H,D]; the library's
                           default is -2, i.e. [..., T, D]); and RotaryEmbedding(dim=16) on
                           x_partial [2,23,2,32], which rotates features 0..15 only and passes
                           16..31 through. Tensors x, y, x_partial, y_partial. Pairs are
                           interleaved, (0,1), (2,3), ...: for position p = t + offset and pair i
                           y[2i] = x[2i] cos(p w_i) - x[2i+1] sin(p w_i), y[2i+1] = x[2i+1]
                           cos(p w_i) + x[2i] sin(p w_i), w_i = theta^(-2i/rot_dim) (rot_dim the
                           RotaryEmbedding's dim, not the head dim), all in float32: w from
                           torch.arange(0, rot_dim, 2).float(), angle = float32(p) * w.
Inputs are drawn from seeded generators (numpy for memorax, torch for the others), one seed per
fixture.
"""

import argparse
import importlib.metadata
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from safetensors.numpy import save as st_bytes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DISTS = ('numpy', 'safetensors', 'torch', 'einops', 'jax', 'jaxlib', 'flax', 'memorax',
         'infini-transformer-pytorch', 'rotary-embedding-torch')
NAMES = ('linear_attn_memorax', 'infini_attn_pytorch', 'infini_attn_delta_pytorch',
         'rope_rotary_embedding_torch')


def versions():
    out = {}
    for dist in DISTS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = 'absent'
    return out


def as_f32(x):
    if hasattr(x, 'detach'):  # torch
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def save(out_dir, name, tensors, meta):
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    meta.update({'versions': json.dumps(versions()), 'generator': 'scripts/gen_attn_fixtures.py'})
    tensors = {k: as_f32(v) for k, v in tensors.items()}
    with open(os.path.join(out_dir, name + '.safetensors'), 'wb') as fh:  # mode from umask
        fh.write(st_bytes(tensors, metadata=meta))
    print(f'{name}: ' + ', '.join(f'{k}{list(v.shape)}' for k, v in tensors.items()))


# ---------------------------------------------------------------------------------------------
# memorax 1.0.1 LinearAttentionCell


def linear_attn_memorax(out_dir):
    import jax
    import jax.numpy as jnp
    import flax.linen as nn
    from memorax.networks.sequence_models import LinearAttentionCell, Memoroid

    B, T, H, D, C, P = 2, 27, 2, 24, 40, 5
    seed = 3001
    rng = np.random.default_rng(seed)
    cell = LinearAttentionCell(head_dim=D, num_heads=H,
                               kernel_init=nn.initializers.lecun_normal(),
                               bias_init=nn.initializers.zeros, param_dtype=jnp.float32)
    model = Memoroid(cell=cell)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    done = np.zeros((B, T), np.float32)
    done[0, [0, 11, 12, 26]] = 1.0
    done[1, [9, 20]] = 1.0
    # a nonzero initial carry: the state of P earlier random tokens (keeps z0 positive)
    phi = lambda a: np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0)))
    kp = phi(rng.standard_normal((B, P, H, D))).astype(np.float32)
    vp = rng.standard_normal((B, P, H, D)).astype(np.float32)
    h0 = np.einsum('bphk,bphv->bhkv', kp, vp).astype(np.float32)  # key-major
    z0 = kp.sum(axis=1).astype(np.float32)
    carry0 = (jnp.asarray(h0.transpose(0, 1, 3, 2))[:, None], jnp.asarray(z0)[:, None])

    params = model.init(jax.random.PRNGKey(seed), jnp.asarray(x), jnp.asarray(done), carry0)
    cap = {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mod = context.module
        if context.method_name == '__call__':
            if isinstance(mod, nn.DenseGeneral) and mod.name in ('query', 'key', 'value'):
                cap[mod.name] = np.asarray(out)
            elif isinstance(mod, nn.RMSNorm):
                cap['pre_norm'] = np.asarray(args[0])
        return out

    with nn.intercept_methods(interceptor):
        (state, norm), _ = model.apply(params, jnp.asarray(x), jnp.asarray(done), carry0)
    ht = np.asarray(state)[:, 0].transpose(0, 1, 3, 2)  # [B,H,V,K] -> [B,H,K,V]
    z = np.asarray(norm)[:, 0]
    o = cap['pre_norm'].reshape(B, T, H, D)
    save(out_dir, 'linear_attn_memorax', dict(
        q=cap['query'], k=cap['key'], v=cap['value'], done=done, h0=h0, z0=z0, o=o, ht=ht, z=z),
        dict(cls='memorax.networks.sequence_models.Memoroid(cell=LinearAttentionCell)',
             seed=str(seed), dims=dict(B=B, T=T, H=H, K=D, V=D, C=C),
             call='Memoroid.apply(params, x[B,T,C], mask=done, initial_carry=(h0^T[:,None], '
                  'z0[:,None]))',
             feature_map='elu(x)+1 on q and k (not v)', scale='1', eps='1e-6',
             clamp='denominator = max(phi(q) . z, eps) (jnp.maximum), then numerator / it',
             done='done[t]=1: token t starts afresh (state = its own phi(k) v^T, z = phi(k)); '
                  'o_t includes token t',
             layout='memorax stores S value-major [..,V,K]; h0/ht here are key-major [B,H,K,V]',
             captured='q,k,v: DenseGeneral query/key/value outputs (raw); o: first argument of '
                      'the cell RMSNorm.__call__ (flax.linen.intercept_methods), [B,T,H*V] '
                      'heads outermost, reshaped [B,T,H,V]; ht,z: the carry Memoroid returns'))


# ---------------------------------------------------------------------------------------------
# infini-transformer-pytorch 0.0.2 CausalAttention


def infini_attn(out_dir, delta):
    import torch
    from infini_transformer_pytorch import infini_transformer as it

    B, T, H, D, C, S = 2, 21, 2, 32, 48, 3
    seed = 3003 if delta else 3002
    torch.manual_seed(seed)
    attn = it.CausalAttention(C, dim_head=D, heads=H, use_mem_delta_rule=delta).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        attn.to_qkv.weight.mul_(2.5)  # q, k, v of std ~1.4, so elu's negative side matters
        attn.head_gates.copy_(torch.rand(H, generator=gen) * 4.0 - 2.0)
    xs = [torch.randn(B, T, C, generator=gen) for _ in range(S)]

    cap = {}
    attn.split_heads.register_forward_hook(lambda m, i, o: cap.__setitem__('qkv', o))
    attn.merge_heads.register_forward_hook(lambda m, i, o: cap.__setitem__('o', i[0]))
    bthd = lambda t: t.transpose(1, 2)  # [B,H,T,D] -> [B,T,H,D]
    tensors = dict(gate=attn.head_gates.detach().clone())
    mem = None
    with torch.no_grad():
        for s in range(S):
            _, mem = attn(xs[s], past_memories=mem)
            q, k, v = cap['qkv']
            tensors.update({f'q_s{s}': bthd(q), f'k_s{s}': bthd(k), f'v_s{s}': bthd(v),
                            f'o_s{s}': bthd(cap['o']), f'mem_s{s}': mem[0],
                            f'z_s{s}': mem[1]})
    name = 'infini_attn_delta_pytorch' if delta else 'infini_attn_pytorch'
    save(out_dir, name, tensors, dict(
        cls='infini_transformer_pytorch.CausalAttention', seed=str(seed),
        dims=dict(B=B, T_segment=T, segments=S, H=H, D=D, dim=C),
        call=f'CausalAttention({C}, dim_head={D}, heads={H}, use_mem_delta_rule={delta}); '
             'to_qkv.weight *= 2.5; head_gates = uniform(-2,2); x_s = randn(B,T,dim); '
             'out, mem = attn(x_s, past_memories=mem) for s = 0,1,2 (mem None at s = 0)',
        captured='q,k,v: split_heads output (before scale, rotary); o: merge_heads input; '
                 'mem_s, z_s: the returned memories (kv key-major [B,H,Dk,Dv], norm [B,H,D])',
        scale='q *= D^-0.5 after split, before rotary; phi therefore sees the scaled q',
        rotary='RotaryEmbedding(D), theta 1e4, interleaved pairs, positions 0..T-1 in every '
               'segment (no offset across segments), applied to q and k before softmax and '
               'before phi: the memory stores rotated keys',
        softmax='causal within the segment, masked with -finfo.max, no extra scale',
        feature_map='elu(x)+1 on the scaled rotated q and the rotated k; v raw',
        eps='1e-10', clamp='mem = (phi(q) M) / clamp(phi(q) . z, min=1e-10)',
        gate='per head: out = softmax_out * sigmoid(g_h) + mem * (1 - sigmoid(g_h)); not applied '
             'in segment 0 (no memories): o_s0 is the plain softmax attention',
        delta_rule=('v <- v - (phi(k) M) / clamp(phi(k) . z, min=1e-10) with the memory from '
                    'before the segment, from segment 1 on; the softmax attention uses the '
                    'original v' if delta else 'off'),
        update='M <- M + phi(k)^T v, z <- z + sum_t phi(k) (segment 0: M = phi(k)^T v)'))


# ---------------------------------------------------------------------------------------------
# rotary-embedding-torch RotaryEmbedding


def rope(out_dir):
    import torch
    from rotary_embedding_torch import RotaryEmbedding

    B, T, H, D, R, offset = 2, 23, 2, 32, 16, 5
    seed = 3004
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, H, D, generator=gen)
    xp = torch.randn(B, T, H, D, generator=gen)
    with torch.no_grad():
        y = RotaryEmbedding(dim=D).rotate_queries_or_keys(x, seq_dim=-3, offset=offset)
        yp = RotaryEmbedding(dim=R).rotate_queries_or_keys(xp, seq_dim=-3, offset=offset)
    save(out_dir, 'rope_rotary_embedding_torch', dict(x=x, y=y, x_partial=xp, y_partial=yp),
         dict(cls='rotary_embedding_torch.RotaryEmbedding', seed=str(seed),
              call=f'RotaryEmbedding(dim={D}).rotate_queries_or_keys(x, seq_dim=-3, '
                   f'offset={offset}); RotaryEmbedding(dim={R}) the same on x_partial',
              offset=str(offset), theta='10000', rot_dim=str(D), rot_dim_partial=str(R),
              head_dim=str(D), positions=f't + {offset}, t = 0..T-1 along axis 1 (T)',
              pairing='interleaved (0,1),(2,3),...: y[2i] = x[2i] cos - x[2i+1] sin, '
                      'y[2i+1] = x[2i+1] cos + x[2i] sin; features >= rot_dim pass through',
              freqs='w_i = 1 / theta^(arange(0, rot_dim, 2).float() / rot_dim), angle = '
                    'float32(position) * w_i, cos/sin in float32'))


# ---------------------------------------------------------------------------------------------
# --check: the same formulas in float64 numpy


def elu1(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def rope_np(x, rot_dim, offset, theta=10000.0):
    """x [B,T,H,D], interleaved pairs over the first rot_dim features, positions t + offset."""
    T = x.shape[1]
    w = theta ** (-np.arange(0, rot_dim, 2, dtype=np.float64) / rot_dim)
    ang = (np.arange(T, dtype=np.float64) + offset)[:, None] * w[None, :]  # [T, rot_dim/2]
    cos, sin = np.cos(ang)[None, :, None, :], np.sin(ang)[None, :, None, :]
    y = x.copy()
    a, b = x[..., 0:rot_dim:2], x[..., 1:rot_dim:2]
    y[..., 0:rot_dim:2] = a * cos - b * sin
    y[..., 1:rot_dim:2] = b * cos + a * sin
    return y


def check_memorax(f):
    q, k, v, done, h0, z0 = (f[n] for n in ('q', 'k', 'v', 'done', 'h0', 'z0'))
    B, T, H, K = q.shape
    o = np.zeros(v.shape)
    S, z = h0.copy(), z0.copy()
    for t in range(T):
        for b in range(B):
            if done[b, t]:
                S[b], z[b] = 0.0, 0.0
        pk, pq = elu1(k[:, t]), elu1(q[:, t])  # [B,H,K]
        S += pk[..., :, None] * v[:, t][..., None, :]
        z += pk
        num = np.einsum('bhk,bhkv->bhv', pq, S)
        den = np.maximum(np.einsum('bhk,bhk->bh', pq, z), 1e-6)
        o[:, t] = num / den[..., None]
    return dict(o=o, ht=S, z=z)


def check_infini(f):
    S = len([n for n in f if n.startswith('q_s')])
    gate = 1.0 / (1.0 + np.exp(-f['gate']))  # [H]
    delta = f['_delta']
    M = z = None
    ours = {}
    for s in range(S):
        q, k, v = (f[f'{n}_s{s}'] for n in 'qkv')  # [B,T,H,D]
        B, T, H, D = q.shape
        q = rope_np(q * D ** -0.5, D, 0)
        k = rope_np(k, D, 0)
        sim = np.einsum('bihd,bjhd->bhij', q, k)
        sim = np.where(np.tril(np.ones((T, T), bool)), sim, -np.inf)
        p = np.exp(sim - sim.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out = np.einsum('bhij,bjhd->bihd', p, v)
        pq, pk = elu1(q), elu1(k)
        if M is not None:
            mem = np.einsum('bthk,bhkv->bthv', pq, M)
            mem /= np.maximum(np.einsum('bthk,bhk->bth', pq, z), 1e-10)[..., None]
            g = gate[None, None, :, None]
            out = out * g + mem * (1.0 - g)
            if delta:
                dv = np.einsum('bthk,bhkv->bthv', pk, M)
                v = v - dv / np.maximum(np.einsum('bthk,bhk->bth', pk, z), 1e-10)[..., None]
        Mn = np.einsum('bthk,bthv->bhkv', pk, v)
        zn = pk.sum(axis=1)
        M, z = (Mn, zn) if M is None else (M + Mn, z + zn)
        ours.update({f'o_s{s}': out, f'mem_s{s}': M, f'z_s{s}': z})
    return ours


def check_rope(f):
    D = f['x'].shape[-1]
    return dict(y=rope_np(f['x'], D, 5), y_partial=rope_np(f['x_partial'], 16, 5))


def check(out_dir, tol=1e-5):
    from safetensors import safe_open
    worst = 0.0
    for name in NAMES:
        path = os.path.join(out_dir, name + '.safetensors')
        f = {k: v.astype(np.float64) for k, v in load_file(path).items()}
        with safe_open(path, 'np') as fh:
            meta = fh.metadata()
        if name == 'linear_attn_memorax':
            ours = check_memorax(f)
        elif name.startswith('infini'):
            f['_delta'] = meta['delta_rule'] != 'off'
            ours = check_infini(f)
        else:
            assert meta['offset'] == '5' and meta['rot_dim_partial'] == '16'
            ours = check_rope(f)
        errs = {}
        for n, ref in ours.items():
            e = float(np.abs(ref - f[n]).max() / np.abs(f[n]).max())
            errs[n] = e
            worst = max(worst, e)
        print(f'check {name}: max|f64 - package| / max|package|: ' +
              ', '.join(f'{n} {e:.2e}' for n, e in errs.items()))
    ok = worst <= tol
    print(f'check: worst {worst:.2e} ({"ok" if ok else "FAIL"}, tolerance {tol:g})')
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures'))
    ap.add_argument('--check', action='store_true',
                    help='after writing, re-derive the outputs in float64 numpy and compare')
    ap.add_argument('--check-only', action='store_true',
                    help='only compare the files already in --out (needs numpy, safetensors)')
    args = ap.parse_args()
    if not args.check_only:
        os.makedirs(args.out, exist_ok=True)
        import torch
        torch.set_num_threads(1)
        linear_attn_memorax(args.out)
        infini_attn(args.out, delta=False)
        infini_attn(args.out, delta=True)
        rope(args.out)
    if args.check or args.check_only:
        if not check(args.out):
            sys.exit(1)


if __name__ == '__main__':
    main()

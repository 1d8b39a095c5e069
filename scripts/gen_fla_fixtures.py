#!/usr/bin/env python3
"""Generate reference fixtures for deltavk's tests from flash-linear-attention ("fla").

Needs: a CUDA GPU, PyTorch, Triton, safetensors, and fla 0.5.2 (PyPI `flash-linear-attention==0.5.2`;
the ops live in its dependency `fla-core==0.5.2`, which needs only torch, triton and einops).

    python3 scripts/gen_fla_fixtures.py [--out tests/fixtures] [--only NAME ...]

Each fixture is a safetensors file holding fla's inputs under fla's argument names
(q, k, v, beta, g, h0, scale, cu_seqlens) and fla's outputs (o, ht). Float tensors are
stored as F32 (inputs that were fed to fla in bf16 are stored as their exact bf16 values
widened to fp32). `__metadata__` records the fla/torch/triton versions, the GPU, the fla
function, its signature, the exact call, the seed and the input recipe.

Layouts (fla's and deltavk's): q, k [B,T,H,K]; v, o [B,T,H,V]; beta, g [B,T,H];
h0, ht [N,H,K,V] fp32, key-major (row = key, column = value), o_t = S_t^T (scale * q_t).
Variable-length batches: B = 1 and cu_seqlens [N+1] (int64, as fla documents).

Fixtures (all written by one run; about 3.5 min on an H100 for the default-precision group and
5 min more for the TRITON_F32_DEFAULT=ieee group, which runs in a child process and recompiles):
  delta_rule_recurrent_fla            fused_recurrent_delta_rule, fp32, h0, scale K^-0.5
  delta_rule_recurrent_noh0_fla       fused_recurrent_delta_rule, fp32, no h0, scale 1
  delta_rule_chunk_fla                ChunkDeltaRuleFunction.apply, fp32 (chunk_delta_rule itself
                                      asserts q.dtype != float32), Triton default precision (TF32 dots)
  delta_rule_chunk_ieee_fla           the same with TRITON_F32_DEFAULT=ieee
  delta_rule_chunk_bf16_fla           chunk_delta_rule (public), q/k/v/beta in bf16, h0 fp32
  gated_delta_rule_chunk_fla          chunk_gated_delta_rule, fp32, h0 (TF32 dots)
  gated_delta_rule_chunk_ieee_fla     the same with TRITON_F32_DEFAULT=ieee
  gated_delta_rule_recurrent_varlen_fla  fused_recurrent_gated_delta_rule, fp32, cu_seqlens [0,5,38,58], h0
The six non-ieee fixtures came out bit-identical (all tensors) in two runs on two fresh H100s.

For every fixture the script also runs a float64 recurrence on the CPU (DESIGN.md sec. 2) on
the very inputs fla saw, and prints fla's relative RMS error against it; nothing from the
float64 run is stored.

Inputs come from a CPU torch.Generator with a fixed seed per fixture, drawn in this order:
q = randn; k = F.normalize(randn, dim=-1); v = randn; beta = sigmoid(randn);
g = logsigmoid(randn + 2) (gated only); h0 = randn (when used).
"""

import argparse
import importlib.metadata
import inspect
import json
import os
import sys
import traceback

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------------------------
# float64 reference (DESIGN.md sec. 2)
# --------------------------------------------------------------------------------------------
def ref_recurrence(q, k, v, beta, g, h0, scale, cu_seqlens):
    """Delta rule / gated delta rule, float64, CPU.

    S' = exp(g_t) S_{t-1} (gated only); u_t = beta_t (v_t - S'^T k_t); S_t = S' + k_t u_t^T;
    o_t = S_t^T (scale q_t).  S is [H, K, V] per sequence.  Returns o [B,T,H,V], ht [N,H,K,V].
    """
    q, k, v, beta = (x.detach().double().cpu() for x in (q, k, v, beta))
    g = None if g is None else g.detach().double().cpu()
    B, T, H, K = k.shape
    V = v.shape[-1]
    if cu_seqlens is not None:
        assert B == 1
        cu = [int(x) for x in cu_seqlens.tolist()]
        seqs = [(0, cu[i], cu[i + 1]) for i in range(len(cu) - 1)]
    else:
        seqs = [(b, 0, T) for b in range(B)]
    o = torch.zeros(B, T, H, V, dtype=torch.float64)
    ht = torch.zeros(len(seqs), H, K, V, dtype=torch.float64)
    for n, (b, bos, eos) in enumerate(seqs):
        S = torch.zeros(H, K, V, dtype=torch.float64)
        if h0 is not None:
            S = h0[n].detach().double().cpu().clone()
        for t in range(bos, eos):
            if g is not None:
                S = S * torch.exp(g[b, t])[:, None, None]
            kt = k[b, t]                                           # [H, K]
            u = beta[b, t][:, None] * (v[b, t] - torch.einsum('hkv,hk->hv', S, kt))
            S = S + kt[:, :, None] * u[:, None, :]
            o[b, t] = torch.einsum('hkv,hk->hv', S, scale * q[b, t])
        ht[n] = S
    return o, ht


def rel_rms(a, ref):
    a = a.detach().double().cpu()
    ref = ref.detach().double().cpu()
    return (torch.sqrt(torch.mean((a - ref) ** 2)) / torch.sqrt(torch.mean(ref ** 2))).item()


def max_abs(a, ref):
    return (a.detach().double().cpu() - ref.detach().double().cpu()).abs().max().item()


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
# name -> spec. Shapes are kept small so each file stays below 200 KB.
FIXTURES = {
    'delta_rule_recurrent_fla': dict(
        fn='fused_recurrent_delta_rule', seed=1001,
        B=2, T=23, H=3, K=48, V=40, h0=True, scale='K^-0.5', dtype='float32'),
    'delta_rule_recurrent_noh0_fla': dict(
        fn='fused_recurrent_delta_rule', seed=1002,
        B=1, T=70, H=2, K=64, V=64, h0=False, scale=1.0, dtype='float32'),
    'delta_rule_chunk_fla': dict(
        fn='ChunkDeltaRuleFunction', seed=1003,
        B=1, T=100, H=2, K=64, V=32, h0=True, scale='K^-0.5', dtype='float32'),
    'delta_rule_chunk_bf16_fla': dict(
        fn='chunk_delta_rule', seed=1003,
        B=1, T=100, H=2, K=64, V=32, h0=True, scale='K^-0.5', dtype='bfloat16'),
    'gated_delta_rule_chunk_fla': dict(
        fn='chunk_gated_delta_rule', seed=1004,
        B=1, T=100, H=2, K=32, V=64, h0=True, scale='K^-0.5', dtype='float32'),
    # The same two chunked calls with Triton's fp32 dot forced to IEEE fp32 (TRITON_F32_DEFAULT=ieee,
    # as fla's own fp32 tests do). By default Triton runs fp32 tl.dot in TF32 on sm80+, which limits
    # fla's fp32 chunk kernels to ~1e-3 relative error. With ieee: delta rule ~3e-7 against the float64
    # recurrence; gated ~3e-5 (o) / 7e-5 (ht), because fla's gated intra-chunk solve hard-codes
    # input_precision='tf32' on sm80+ (SOLVE_TRIL_DOT_PRECISION in fla/ops/gated_delta_rule/chunk_fwd.py).
    'delta_rule_chunk_ieee_fla': dict(
        fn='ChunkDeltaRuleFunction', seed=1003, f32_dot='ieee',
        B=1, T=100, H=2, K=64, V=32, h0=True, scale='K^-0.5', dtype='float32'),
    'gated_delta_rule_chunk_ieee_fla': dict(
        fn='chunk_gated_delta_rule', seed=1004, f32_dot='ieee',
        B=1, T=100, H=2, K=32, V=64, h0=True, scale='K^-0.5', dtype='float32'),
    'gated_delta_rule_recurrent_varlen_fla': dict(
        fn='fused_recurrent_gated_delta_rule', seed=1005,
        B=1, T=58, H=2, K=32, V=48, h0=True, scale='K^-0.5', dtype='float32',
        seqlens=[5, 33, 20]),
}

GATED = {'chunk_gated_delta_rule', 'fused_recurrent_gated_delta_rule'}


def make_inputs(spec):
    gen = torch.Generator().manual_seed(spec['seed'])
    B, T, H, K, V = (spec[x] for x in 'BTHKV')
    N = len(spec['seqlens']) if 'seqlens' in spec else B
    q = torch.randn(B, T, H, K, generator=gen)
    k = F.normalize(torch.randn(B, T, H, K, generator=gen), p=2, dim=-1)
    v = torch.randn(B, T, H, V, generator=gen)
    beta = torch.sigmoid(torch.randn(B, T, H, generator=gen))
    g = F.logsigmoid(torch.randn(B, T, H, generator=gen) + 2.0) if spec['fn'] in GATED else None
    h0 = torch.randn(N, H, K, V, generator=gen) if spec['h0'] else None
    cu = None
    if 'seqlens' in spec:
        assert B == 1 and sum(spec['seqlens']) == T
        cu = torch.tensor([0] + list(torch.tensor(spec['seqlens']).cumsum(0).tolist()), dtype=torch.long)
    scale = K ** -0.5 if spec['scale'] == 'K^-0.5' else float(spec['scale'])
    return dict(q=q, k=k, v=v, beta=beta, g=g, h0=h0, cu_seqlens=cu, scale=scale)


def run_fla(spec, inp, dev):
    """Calls fla; returns (o, ht, fla_function_path, signature, call_string, call_kwargs)."""
    from fla.ops.delta_rule import chunk_delta_rule, fused_recurrent_delta_rule
    from fla.ops.delta_rule.chunk import ChunkDeltaRuleFunction
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule

    dt = dict(float32=torch.float32, bfloat16=torch.bfloat16)[spec['dtype']]
    q, k, v, beta = (inp[x].to(dev, dt) for x in ('q', 'k', 'v', 'beta'))
    g = None if inp['g'] is None else inp['g'].to(dev, dt)
    h0 = None if inp['h0'] is None else inp['h0'].to(dev, torch.float32)
    cu = None if inp['cu_seqlens'] is None else inp['cu_seqlens'].to(dev)
    scale = inp['scale']
    fn = spec['fn']
    h0s = 'h0' if h0 is not None else 'None'
    cus = ', cu_seqlens=cu_seqlens' if cu is not None else ''
    kw = dict(scale=scale, initial_state='h0' if h0 is not None else None, output_final_state=True)
    if fn == 'fused_recurrent_delta_rule':
        o, ht = fused_recurrent_delta_rule(q, k, v, beta, scale=scale, initial_state=h0,
                                           output_final_state=True, cu_seqlens=cu)
        path, f = 'fla.ops.delta_rule.fused_recurrent_delta_rule', fused_recurrent_delta_rule
        call = f'fused_recurrent_delta_rule(q, k, v, beta, scale=scale, initial_state={h0s}, output_final_state=True{cus})'
    elif fn == 'chunk_delta_rule':
        o, ht = chunk_delta_rule(q, k, v, beta, scale=scale, initial_state=h0,
                                 output_final_state=True, cu_seqlens=cu)
        path, f = 'fla.ops.delta_rule.chunk_delta_rule', chunk_delta_rule
        call = (f'chunk_delta_rule(q, k, v, beta, scale=scale, initial_state={h0s}, output_final_state=True{cus}) '
                'with q, k, v, beta in bfloat16 (the public function asserts q.dtype != float32), h0 float32')
    elif fn == 'ChunkDeltaRuleFunction':
        # chunk_delta_rule() refuses float32 inputs with an assert; this is the exact autograd
        # function it calls next, with its positional arguments:
        # (q, k, v, beta, scale, initial_state, output_final_state, use_qk_l2norm_in_kernel,
        #  cu_seqlens, cu_seqlens_cpu, chunk_size)
        o, ht = ChunkDeltaRuleFunction.apply(q, k, v, beta, scale, h0, True, False, cu, None, 64)
        path, f = 'fla.ops.delta_rule.chunk.ChunkDeltaRuleFunction.apply', ChunkDeltaRuleFunction.forward
        call = (f'ChunkDeltaRuleFunction.apply(q, k, v, beta, scale, {h0s}, True, False, '
                f'{"cu_seqlens" if cu is not None else "None"}, None, 64) '
                '-- what chunk_delta_rule calls, reached directly because chunk_delta_rule asserts '
                'q.dtype != float32; chunk_size 64')
        kw['chunk_size'] = 64
    elif fn == 'chunk_gated_delta_rule':
        o, ht = chunk_gated_delta_rule(q, k, v, g, beta, scale=scale, initial_state=h0,
                                       output_final_state=True, cu_seqlens=cu)
        path, f = 'fla.ops.gated_delta_rule.chunk_gated_delta_rule', chunk_gated_delta_rule
        call = f'chunk_gated_delta_rule(q, k, v, g, beta, scale=scale, initial_state={h0s}, output_final_state=True{cus})'
    elif fn == 'fused_recurrent_gated_delta_rule':
        o, ht = fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, scale=scale, initial_state=h0,
                                                 output_final_state=True, cu_seqlens=cu)
        path, f = 'fla.ops.gated_delta_rule.fused_recurrent_gated_delta_rule', fused_recurrent_gated_delta_rule
        call = (f'fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, scale=scale, initial_state={h0s}, '
                f'output_final_state=True{cus})')
    else:
        raise ValueError(fn)
    if cu is not None:
        kw['cu_seqlens'] = 'cu_seqlens'
    torch.cuda.synchronize()
    # what fla actually saw (bf16-rounded where the call was made in bf16)
    seen = dict(q=q, k=k, v=v, beta=beta, g=g)
    return o, ht, path, str(inspect.signature(f)), call, kw, seen


def versions():
    out = {}
    for dist in ('fla-core', 'flash-linear-attention', 'torch', 'triton', 'safetensors', 'einops'):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = 'not installed'
    return out


def generate(name, spec, out_dir, dev, vers):
    from safetensors.torch import save_file
    import fla

    inp = make_inputs(spec)
    o, ht, path, sig, call, kw, seen = run_fla(spec, inp, dev)

    # tensors as fla saw them (fp32 widening of bf16 inputs is exact)
    q, k, v, beta = (seen[x].float().cpu() for x in ('q', 'k', 'v', 'beta'))
    g = None if seen['g'] is None else seen['g'].float().cpu()
    h0, cu, scale = inp['h0'], inp['cu_seqlens'], inp['scale']
    o_c = o.float().cpu()
    ht_c = ht.float().cpu()

    B, T, H, K, V = (spec[x] for x in 'BTHKV')
    N = len(spec['seqlens']) if 'seqlens' in spec else B
    assert o_c.shape == (B, T, H, V), o_c.shape
    assert ht_c.shape == (N, H, K, V), ht_c.shape

    # float64 reference on the same inputs
    o_ref, ht_ref = ref_recurrence(q, k, v, beta, g, h0, scale, cu)
    e_o, e_ht = rel_rms(o_c, o_ref), rel_rms(ht_c, ht_ref)
    print(f'[{name}] fla {path}  dtype={spec["dtype"]}  B,T,H,K,V={B},{T},{H},{K},{V}  N={N}')
    print(f'    fla vs float64: o rel-RMS {e_o:.3e} (max abs {max_abs(o_c, o_ref):.3e}, '
          f'ref RMS {o_ref.pow(2).mean().sqrt().item():.3e})')
    print(f'                    ht rel-RMS {e_ht:.3e} (max abs {max_abs(ht_c, ht_ref):.3e}, '
          f'ref RMS {ht_ref.pow(2).mean().sqrt().item():.3e})')
    if K == V:
        print(f'    layout check: ht vs transposed float64 state rel-RMS '
              f'{rel_rms(ht_c, ht_ref.transpose(-1, -2)):.3e} (key-major [N,H,K,V] if this is large)')
    if h0 is not None:
        # the state must have moved away from h0 (guards against an ignored output)
        print(f'    ht vs h0 rel-RMS {rel_rms(ht_c, h0):.3e}')

    tensors = dict(q=q, k=k, v=v, beta=beta)
    if g is not None:
        tensors['g'] = g
    if h0 is not None:
        tensors['h0'] = h0.float()
    tensors['scale'] = torch.tensor(scale, dtype=torch.float32)
    if cu is not None:
        tensors['cu_seqlens'] = cu.to(torch.int64)
    tensors['o'] = o_c
    tensors['ht'] = ht_c
    tensors = {kk: t.contiguous() for kk, t in tensors.items()}

    meta = {
        'generator': 'scripts/gen_fla_fixtures.py',
        'fla_version': getattr(fla, '__version__', '?'),
        'package_versions': json.dumps(vers),
        'torch_version': torch.__version__,
        'torch_cuda': str(torch.version.cuda),
        'gpu': torch.cuda.get_device_name(dev),
        'fla_function': path,
        'fla_signature': sig,
        'fla_call': call,
        'fla_kwargs': json.dumps(kw),
        'scale': repr(scale),
        'input_dtype': spec['dtype'],
        'triton_f32_default': os.environ.get('TRITON_F32_DEFAULT', 'unset (Triton default: fp32 tl.dot in TF32 on sm80+)'),
        'output_dtype_from_fla': f'o: {o.dtype}, ht: {ht.dtype} (both stored as F32)',
        'seed': str(spec['seed']),
        'shapes': json.dumps(dict(B=B, T=T, H=H, K=K, V=V, N=N,
                                  **({'seqlens': spec['seqlens']} if 'seqlens' in spec else {}))),
        'input_recipe': ('torch.Generator().manual_seed(seed) on CPU, fp32, drawn in order: q=randn; '
                         'k=F.normalize(randn, p=2, dim=-1); v=randn; beta=sigmoid(randn)'
                         + ('; g=logsigmoid(randn + 2)' if g is not None else '')
                         + ('; h0=randn [N,H,K,V]' if h0 is not None else '')
                         + ('; then q, k, v, beta rounded to bfloat16 for the call (stored values are '
                            'the rounded ones)' if spec['dtype'] == 'bfloat16' else '')),
        'state_layout': '[N,H,K,V] fp32 key-major (fla default, state_v_first=False); o_t = S_t^T (scale q_t)',
    }
    os.makedirs(out_dir, exist_ok=True)
    fn = os.path.join(out_dir, name + '.safetensors')
    save_file(tensors, fn, metadata=meta)
    print(f'    wrote {fn} ({os.path.getsize(fn)} bytes)')
    return e_o, e_ht


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures'))
    ap.add_argument('--only', nargs='*', default=None, help='fixture names (without .safetensors)')
    ap.add_argument('--f32-dot', default='default', choices=['default', 'ieee'], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit('a CUDA GPU is required (fla runs Triton kernels)')
    wanted = [n for n in FIXTURES if not args.only or n in args.only]
    # Triton reads TRITON_F32_DEFAULT when it compiles a kernel: run each precision group in its own
    # process (the ieee group in a child with its own kernel cache).
    failed = []
    if args.f32_dot == 'default':
        os.environ.pop('TRITON_F32_DEFAULT', None)
        ieee = [n for n in wanted if FIXTURES[n].get('f32_dot') == 'ieee']
        wanted = [n for n in wanted if n not in ieee]
        if ieee:
            import subprocess
            import tempfile
            env = dict(os.environ, TRITON_F32_DEFAULT='ieee', TRITON_CACHE_DIR=tempfile.mkdtemp(prefix='triton_ieee_'))
            rc = subprocess.call([sys.executable, os.path.abspath(__file__), '--out', args.out,
                                  '--f32-dot', 'ieee', '--only', *ieee], env=env)
            if rc != 0:
                failed.append(f'ieee group (rc {rc})')
    else:
        assert os.environ.get('TRITON_F32_DEFAULT') == 'ieee'
        wanted = [n for n in wanted if FIXTURES[n].get('f32_dot') == 'ieee']
    dev = torch.device('cuda')
    vers = versions()
    print(f'[f32 dot: {args.f32_dot}] versions:', json.dumps(vers), '| gpu:', torch.cuda.get_device_name(dev))
    for name in wanted:
        spec = FIXTURES[name]
        try:
            generate(name, spec, args.out, dev, vers)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        sys.exit(f'failed: {failed}')


if __name__ == '__main__':
    main()

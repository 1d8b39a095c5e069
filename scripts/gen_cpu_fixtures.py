#!/usr/bin/env python3
"""Generate reference fixtures for KDA, the generalized delta rule, RWKV-7 and the Memodo head
from the original packages, on the CPU (no GPU needed).

Needs: PyTorch (CPU is enough), einops, safetensors, fla-core 0.5.2 (PyPI; only the pure-PyTorch
reference files fla/ops/kda/naive.py and fla/ops/generalized_delta_rule/dplr/naive.py are
loaded, by path, so Triton is never imported) and memodo 1.0.0 (PyPI).

    python3 scripts/gen_cpu_fixtures.py [--out tests/fixtures]

Fixtures (safetensors; inputs under the package's names, in deltavk's [B,T,H,D] layout unless
said otherwise; `__metadata__` records package versions, the function, the seed and the recipe):
  kda_naive_fla       fla naive_recurrent_kda: q, k, v, g, beta, h0, scale -> o, ht.
                      g is logsigmoid (precomputed gate).
  kda_gate_naive_fla  the same with the gate in kernel form: g (raw), A_log [H], dt_bias [H*K],
                      beta (logits); g' = -exp(A_log) softplus(g + dt_bias) and sigmoid(beta)
                      as fla's naive_kda_gate and use_beta_sigmoid_in_kernel compute them
                      (written out here with torch.nn.functional, the same calls as fla's).
  dplr_naive_fla      fla dplr_recurrence: q, k, v, a, b, gk, h0 -> o, ht (scale K^-0.5, which
                      dplr_recurrence applies itself).
  rwkv7_naive_fla     RWKV-7's wiring through dplr_recurrence: r, w, k, v, kk, a with
                      a_dplr = -kk, b_dplr = kk * a, scale 1 (fla's chunk_rwkv7 default).
  memodo_head         memodo 1.0.0 DeltanetHead.cell over T tokens, in Memodo's own convention
                      and layout: a, b, c, d, i, s [T, B, F], initial [F, F] (the learned
                      initial state), out [T, B, F], state [B, F, F]. The test maps it onto
                      dvk_dplr (DVK_READOUT_KEY) exactly as deltavk.h documents.
fla's naive functions compute in fp32 (they cast with .float()); the fixtures' tolerances are
fp32's. Inputs are drawn from a CPU torch.Generator with a fixed seed per fixture.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_by_path(package_root, rel):
    """Imports one file of a package without importing the package (fla's __init__ pulls in
    Triton kernels; its naive references need only torch and einops)."""
    path = os.path.join(package_root, rel)
    spec = importlib.util.spec_from_file_location(rel.replace('/', '_')[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fla_root():
    spec = importlib.util.find_spec('fla')
    return os.path.dirname(spec.origin)


def versions():
    out = {}
    for dist in ('torch', 'fla-core', 'memodo', 'einops', 'safetensors'):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = 'absent'
    return out


def save(out_dir, name, tensors, meta):
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    meta.update({'versions': json.dumps(versions()), 'generator': 'scripts/gen_cpu_fixtures.py'})
    tensors = {k: v.detach().float().contiguous() for k, v in tensors.items()}
    path = os.path.join(out_dir, name + '.safetensors')
    save_file(tensors, path, metadata=meta)
    print(f'{name}: ' + ', '.join(f'{k}{list(v.shape)}' for k, v in tensors.items()))


def kda(out_dir, naive, gate_in_kernel):
    B, T, H, K, V = 2, 45, 2, 32, 48
    seed = 2002 if gate_in_kernel else 2001
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, K, generator=gen)
    k = F.normalize(torch.randn(B, T, H, K, generator=gen), dim=-1)
    v = torch.randn(B, T, H, V, generator=gen)
    g_raw = torch.randn(B, T, H, K, generator=gen)
    beta_raw = torch.randn(B, T, H, generator=gen)
    h0 = 0.1 * torch.randn(B, H, K, V, generator=gen)
    A_log = 0.5 * torch.randn(H, generator=gen)
    dt_bias = torch.randn(H * K, generator=gen)
    scale = K ** -0.5
    if gate_in_kernel:  # fla's naive_kda_gate and use_beta_sigmoid_in_kernel
        g = -A_log.view(H, 1).exp() * F.softplus(g_raw + dt_bias.view(H, K))
        beta = beta_raw.sigmoid()
    else:
        g = F.logsigmoid(g_raw + 2.0)
        beta = beta_raw.sigmoid()
    o, ht = naive.naive_recurrent_kda(q, k, v, g, beta, scale=scale, initial_state=h0,
                                      output_final_state=True)
    tensors = dict(q=q, k=k, v=v, h0=h0, scale=torch.tensor([scale]), o=o, ht=ht)
    if gate_in_kernel:
        tensors.update(g=g_raw, beta=beta_raw, A_log=A_log, dt_bias=dt_bias)
    else:
        tensors.update(g=g, beta=beta)
    save(out_dir, 'kda_gate_naive_fla' if gate_in_kernel else 'kda_naive_fla', tensors, dict(
        function='fla.ops.kda.naive.naive_recurrent_kda', seed=str(seed),
        call='naive_recurrent_kda(q, k, v, g, beta, scale=K**-0.5, initial_state=h0, '
             'output_final_state=True)',
        gate='g = -exp(A_log) softplus(g_raw + dt_bias), beta = sigmoid(beta_raw) (inputs g, '
             'beta are raw)' if gate_in_kernel else 'g = logsigmoid(randn + 2)'))


def rwkv_like(gen, B, T, H, K):
    kk = F.normalize(torch.randn(B, T, H, K, generator=gen), dim=-1)
    a = torch.rand(B, T, H, K, generator=gen)
    w = -math.exp(-0.5) * torch.sigmoid(torch.randn(B, T, H, K, generator=gen))
    return kk, a, w


def dplr(out_dir, naive):
    B, T, H, K, V = 1, 53, 2, 32, 40
    seed = 2003
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, K, generator=gen)
    k = F.normalize(torch.randn(B, T, H, K, generator=gen), dim=-1)
    v = torch.randn(B, T, H, V, generator=gen)
    kk, alpha, gk = rwkv_like(gen, B, T, H, K)
    a = -kk + 0.1 * torch.randn(B, T, H, K, generator=gen)
    b = kk * alpha
    h0 = 0.1 * torch.randn(B, H, K, V, generator=gen)
    hf = lambda x: x.transpose(1, 2).contiguous()  # [B,T,H,D] -> fla naive's [B,H,T,D]
    o, ht = naive.dplr_recurrence(hf(q), hf(k), hf(v), hf(a), hf(b), hf(gk), initial_state=h0,
                                  output_final_state=True)
    save(out_dir, 'dplr_naive_fla', dict(q=q, k=k, v=v, a=a, b=b, gk=gk, h0=h0,
                                         scale=torch.tensor([K ** -0.5]), o=o.transpose(1, 2),
                                         ht=ht), dict(
        function='fla.ops.generalized_delta_rule.dplr.naive.dplr_recurrence', seed=str(seed),
        call='dplr_recurrence(q, k, v, a, b, gk, initial_state=h0, output_final_state=True) '
             'on [B,H,T,D] transposes; it scales q by K**-0.5 itself'))


def rwkv7(out_dir, naive):
    B, T, H, K, V = 2, 41, 2, 32, 32
    seed = 2004
    gen = torch.Generator().manual_seed(seed)
    r = torch.randn(B, T, H, K, generator=gen)
    k = torch.randn(B, T, H, K, generator=gen)
    v = torch.randn(B, T, H, V, generator=gen)
    kk, a, w = rwkv_like(gen, B, T, H, K)
    h0 = 0.1 * torch.randn(B, H, K, V, generator=gen)
    hf = lambda x: x.transpose(1, 2).contiguous()
    # dplr_recurrence always scales q by K**-0.5; RWKV-7 uses scale 1: feed r * sqrt(K)
    o, ht = naive.dplr_recurrence(hf(r) * math.sqrt(K), hf(k), hf(v), hf(-kk), hf(kk * a),
                                  hf(w), initial_state=h0, output_final_state=True)
    save(out_dir, 'rwkv7_naive_fla', dict(r=r, w=w, k=k, v=v, kk=kk, a=a, h0=h0,
                                          o=o.transpose(1, 2), ht=ht), dict(
        function='fla.ops.generalized_delta_rule.dplr.naive.dplr_recurrence', seed=str(seed),
        call='dplr_recurrence(r*sqrt(K), k, v, -kk, kk*a, w, initial_state=h0, '
             'output_final_state=True) on [B,H,T,D] transposes: RWKV-7 with scale 1'))


def memodo_head(out_dir):
    import memodo
    T, B, C, F_ = 37, 2, 24, 32
    seed = 2005
    torch.manual_seed(seed)
    head = memodo.DeltanetHead(C, F_)
    with torch.no_grad():  # small weights (B's are zeros at init: give them values too)
        for lin in (head.A, head.B, head.C, head.D, head.I, head.select):
            lin.weight.normal_(0.0, 0.15)
            lin.bias.normal_(0.0, 0.1)
        head.initial.mul_(0.3)
    x = torch.randn(T, B, C)
    with torch.no_grad():
        a, b, c, d, i, s = (lin(x) for lin in (head.A, head.B, head.C, head.D, head.I,
                                               head.select))
        state = head.initial
        outs = []
        for t in range(T):  # the package's own loop body (DeltanetHead.forward)
            o_t, state = head.cell(s[t], a[t], b[t], c[t], d[t], i[t], state)
            outs.append(o_t)
        out = torch.stack(outs)
    save(out_dir, 'memodo_head', dict(a=a, b=b, c=c, d=d, i=i, s=s, initial=head.initial,
                                      out=out, state=state), dict(
        function='memodo.DeltanetHead.cell', seed=str(seed),
        recipe='DeltanetHead(24, 32), weights N(0,0.15^2), biases N(0,0.1^2), initial *0.3; '
               'x = randn(T=37, B=2, 24); a..s = the head\'s Linear layers of x; the cell '
               'applied token by token from `initial`; out = before the O projection'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'tests', 'fixtures'))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = fla_root()
    kda_naive = load_by_path(root, 'ops/kda/naive.py')
    dplr_naive = load_by_path(root, 'ops/generalized_delta_rule/dplr/naive.py')
    torch.set_num_threads(1)
    kda(args.out, kda_naive, gate_in_kernel=False)
    kda(args.out, kda_naive, gate_in_kernel=True)
    dplr(args.out, dplr_naive)
    rwkv7(args.out, dplr_naive)
    memodo_head(args.out)


if __name__ == '__main__':
    main()

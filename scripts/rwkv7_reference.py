#!/usr/bin/env python3
"""An RWKV-7 (x070) reference independent of deltavk, in PyTorch on the CPU, and the fixtures
of tests/models/test_rwkv7.c.

    python3 scripts/rwkv7_reference.py MODEL [--out tests/fixtures/rwkv7_tiny_reference.safetensors]
        [--check-rwkv-cpp expected-logits-7v0-834K.bin] [--check-rwkv-package]

MODEL is rwkv.cpp's .bin or a safetensors file with PyTorch's names (scripts/
rwkv7_to_safetensors.py). Needs torch (CPU is enough), numpy and safetensors; tooling only,
never a dependency of the library or its tests.

The model is written here from the RWKV-7 equations (BlinkDL's RWKV-LM RWKV-v7 reference and
the `rwkv` package's x070 code were read, not copied): token by token, in float64, the state
of each head kept value-major as those references keep it (S[v][k]; deltavk's is the
transpose). Checks of the reference itself:
  --check-rwkv-cpp FILE   rwkv.cpp's tests/expected-logits-7v0-834K.bin: its logits after the
                          prompt '"in' for the tiny model (rwkv.cpp's own test compares the sum
                          of differences); the relative RMS difference is printed and recorded.
  --check-rwkv-package    runs the `rwkv` PyPI package's own RWKV_x070 (its CPU fp32 path) on a
                          .pth made from the same tensors and compares its logits with ours at
                          every position of the fixture's prompt.
The fixture (safetensors): `prompt` (int32 bytes), `logits` [T, V] (every position, float32 of
the float64 computation), `greedy` [64] (int32: argmax continuation after the prompt, each step
fed back), `greedy_margin` [64] (the gap between the two largest logits at each step), and
metadata: the prompt text, versions, the model file and its SHA-256, the checks' results.
"""

import argparse
import hashlib
import importlib.metadata
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rwkv7_to_safetensors import read_bin, to_pytorch  # noqa: E402

PROMPT = ('Once upon a time, there was a little girl named Lily. She loved to play outside in '
          'the park with her friends. One day, she saw a big red ball under a tree. She ran to '
          'get it, but a dog got there first. The dog looked at Lily and wagged its tail. Lily '
          'smiled and said, "Can we play together?" The dog ')
N_GREEDY = 64


def load_model(path):
    """The model's tensors under PyTorch's names and layouts, as float64 torch tensors."""
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == b'fmgg':
        _, tensors = read_bin(path)
        sd = to_pytorch(tensors)
    else:
        from safetensors.numpy import load_file
        sd = load_file(path)
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in sd.items()}


class Rwkv7:
    """RWKV-7 in RNN form, one token at a time, float64."""

    def __init__(self, sd):
        self.sd = sd
        self.V, self.C = sd['emb.weight'].shape
        self.H, self.N = sd['blocks.0.att.r_k'].shape
        self.L = 0
        while f'blocks.{self.L}.ln1.weight' in sd:
            self.L += 1

    def zero_state(self):
        z = torch.zeros
        return [[z(self.C, dtype=torch.float64), z(self.H, self.N, self.N, dtype=torch.float64),
                 z(self.C, dtype=torch.float64)] for _ in range(self.L)]

    def ln(self, x, name, eps=1e-5):
        return F.layer_norm(x, (self.C,), self.sd[name + '.weight'], self.sd[name + '.bias'], eps)

    def time_mix(self, i, x, state, v_first):
        p = lambda n: self.sd[f'blocks.{i}.att.{n}']  # noqa: E731
        H, N, C = self.H, self.N, self.C
        shifted = state[0] - x
        state[0] = x
        xr, xw, xk, xv, xa, xg = (x + shifted * p(m).reshape(C)
                                  for m in ('x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g'))
        r = p('receptance.weight') @ xr
        k = p('key.weight') @ xk
        v = p('value.weight') @ xv
        # The LoRA pairs are x @ A @ B (A [C, D], B [D, C]).
        decay = torch.exp(-math.exp(-0.5) * torch.sigmoid(
            p('w0').reshape(C) + torch.tanh(xw @ p('w1')) @ p('w2')))
        a = torch.sigmoid(p('a0').reshape(C) + (xa @ p('a1')) @ p('a2'))
        g = torch.sigmoid(xg @ p('g1')) @ p('g2')
        kk = F.normalize((k * p('k_k').reshape(C)).view(H, N), dim=-1, p=2.0, eps=1e-12).view(C)
        k = k * (1 + (a - 1) * p('k_a').reshape(C))
        if i == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(p('v0').reshape(C) + (xv @ p('v1')) @ p('v2'))
        # Per head, S [N_v, N_k]: S <- S diag(w) + (S (-kk)) (kk*a)^T + v k^T; out = S r.
        S = state[1]
        w_, k_, v_, r_ = (t.view(H, N) for t in (decay, k, v, r))
        kk_, a_ = kk.view(H, N), a.view(H, N)
        sa = torch.einsum('hvk,hk->hv', S, -kk_)
        S = (S * w_[:, None, :] + sa[:, :, None] * (kk_ * a_)[:, None, :] +
             v_[:, :, None] * k_[:, None, :])
        state[1] = S
        out = torch.einsum('hvk,hk->hv', S, r_).reshape(C)
        out = F.group_norm(out.view(1, C), H, p('ln_x.weight'), p('ln_x.bias'),
                           eps=64e-5).view(C)
        out = out + ((r_ * k_ * p('r_k')).sum(-1, keepdim=True) * v_).view(C)
        return p('output.weight') @ (out * g), v_first

    def channel_mix(self, i, x, state):
        p = lambda n: self.sd[f'blocks.{i}.ffn.{n}']  # noqa: E731
        xk = x + (state[2] - x) * p('x_k').reshape(self.C)
        state[2] = x
        return p('value.weight') @ torch.relu(p('key.weight') @ xk) ** 2

    def step(self, token, state):
        """Logits after `token`; the state is updated in place."""
        x = self.ln(self.sd['emb.weight'][token], 'blocks.0.ln0')
        v_first = None
        for i in range(self.L):
            dx, v_first = self.time_mix(i, self.ln(x, f'blocks.{i}.ln1'), state[i], v_first)
            x = x + dx
            x = x + self.channel_mix(i, self.ln(x, f'blocks.{i}.ln2'), state[i])
        return self.sd['head.weight'] @ self.ln(x, 'ln_out')


def rel_rms(ref, got):
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    return float(np.sqrt(np.mean((ref - got) ** 2) / np.mean(ref ** 2)))


def check_rwkv_cpp(model, path):
    expected = np.fromfile(path, dtype='<f4')
    state = model.zero_state()
    for t in b'"in':
        logits = model.step(t, state)
    err = rel_rms(expected, logits.numpy())
    print(f"rwkv.cpp's expected logits after '\"in': relative RMS difference {err:.2e}, "
          f"sum of differences {float(np.sum(logits.numpy() - expected)):+.6f}")
    return err


def check_rwkv_package(sd, tokens, ours, workdir):
    """The `rwkv` package's own x070 on the CPU in fp32, on a .pth of the same tensors."""
    os.environ['RWKV_V7_ON'] = '1'
    os.environ.setdefault('RWKV_JIT_ON', '0')
    from rwkv.model import RWKV_x070
    pth = os.path.join(workdir, 'rwkv7_package_check')
    torch.save({k: v.float() for k, v in sd.items()}, pth + '.pth')
    try:
        pkg = RWKV_x070(pth, 'cpu fp32')
        state = None
        errs = []
        for t, tok in enumerate(tokens):
            out, state = pkg.forward(int(tok), state)
            errs.append(rel_rms(ours[t], out.float().numpy()))
    finally:
        os.remove(pth + '.pth')
    err = float(np.sqrt(np.mean(np.square(errs))))
    print(f"the rwkv package's RWKV_x070 (cpu fp32), {len(tokens)} positions: relative RMS "
          f'difference {err:.2e} (largest at one position {max(errs):.2e})')
    return err, max(errs)


def versions():
    out = {}
    for dist in ('torch', 'numpy', 'safetensors', 'rwkv'):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = 'absent'
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model')
    ap.add_argument('--out', help='fixture to write (safetensors)')
    ap.add_argument('--check-rwkv-cpp', metavar='FILE')
    ap.add_argument('--check-rwkv-package', action='store_true')
    args = ap.parse_args()

    sd = load_model(args.model)
    model = Rwkv7(sd)
    print(f'{args.model}: {model.L} layers, C {model.C}, {model.H} heads of {model.N}, '
          f'vocabulary {model.V}')
    meta = {}
    if args.check_rwkv_cpp:
        err = check_rwkv_cpp(model, args.check_rwkv_cpp)
        meta['check_rwkv_cpp_expected_logits_rel_rms'] = f'{err:.3e}'

    tokens = list(PROMPT.encode('utf-8'))
    state = model.zero_state()
    logits = [model.step(t, state).numpy() for t in tokens]
    greedy, margin = [], []
    last = logits[-1]
    for _ in range(N_GREEDY):
        top2 = np.sort(last)[-2:]
        nxt = int(np.argmax(last))
        greedy.append(nxt)
        margin.append(float(top2[1] - top2[0]))
        last = model.step(nxt, state).numpy()
    text = bytes(greedy).decode('utf-8', errors='replace')
    print(f'greedy continuation: {text!r} (smallest margin {min(margin):.3g})')

    if args.check_rwkv_package:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            err, worst = check_rwkv_package(sd, tokens, logits, d)
        meta['check_rwkv_package_rel_rms'] = f'{err:.3e}'
        meta['check_rwkv_package_worst_position_rel_rms'] = f'{worst:.3e}'

    if args.out:
        from safetensors.numpy import save_file
        with open(args.model, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        meta.update({
            'prompt': PROMPT, 'prompt_bytes': str(len(tokens)), 'greedy_tokens': str(N_GREEDY),
            'greedy_text': text, 'model_file': os.path.basename(args.model),
            'model_sha256': digest, 'computation': 'float64, token by token (RNN form), CPU',
            'seed': 'none (greedy decoding; no random draws)',
            'versions': json.dumps(versions()), 'generator': 'scripts/rwkv7_reference.py'})
        save_file({'prompt': np.array(tokens, dtype=np.int32),
                   'logits': np.stack(logits).astype(np.float32),
                   'greedy': np.array(greedy, dtype=np.int32),
                   'greedy_margin': np.array(margin, dtype=np.float32)}, args.out, metadata=meta)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

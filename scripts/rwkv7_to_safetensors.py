#!/usr/bin/env python3
"""Convert an RWKV-7 (x070) model from rwkv.cpp's .bin into safetensors with the names and
layouts of the PyTorch state_dict (BlinkDL's RWKV-LM RWKV-v7 model), which dvk_rwkv7_load
reads (include/deltavk_models.h lists every tensor).

    python3 scripts/rwkv7_to_safetensors.py MODEL.bin MODEL.safetensors [--dtype f32|f16]

Needs numpy and safetensors (PyPI). rwkv.cpp's converter changes two things, which this undoes:
  - the six token-shift mixes att.x_r, x_w, x_k, x_v, x_a, x_g ([1,1,C] each) are stacked into
    one tensor att.x_rwkvag [6,1,C];
  - the low-rank matrices att.w1, w2, a1, a2, v1, v2, g1, g2 are stored transposed (PyTorch's
    w1 [C,D] is stored [D,C], so that rwkv.cpp can multiply it as a Linear weight).
Every other tensor has PyTorch's shape. The .bin lists each shape in reverse order (ggml's).

rwkv.cpp's .bin (its docs/FILE_FORMAT.md): six little-endian int32 (magic 0x67676d66, version
100 or 101, n_vocab, n_embed, n_layer, data type), then records until the end of the file:
int32 dim_count, key_length, data_type (0 fp32, 1 fp16), dim_count int32 dims, the key, the data.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

MAGIC = 0x67676D66
LORA = ('.att.w1', '.att.w2', '.att.a1', '.att.a2', '.att.v1', '.att.v2', '.att.g1', '.att.g2')
MIX = ('x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g')


def read_bin(path):
    """Returns (header dict, dict name -> numpy array in the stored layout, PyTorch dim order)."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f'{path}: shorter than the 24-byte header')
    magic, version, n_vocab, n_embed, n_layer, data_type = struct.unpack_from('<6i', data, 0)
    if magic != MAGIC:
        raise ValueError(f'{path}: magic {magic:#x}, expected {MAGIC:#x}')
    if version not in (100, 101):
        raise ValueError(f'{path}: version {version}, expected 100 or 101')
    header = dict(version=version, n_vocab=n_vocab, n_embed=n_embed, n_layer=n_layer,
                  data_type=data_type)
    tensors = {}
    off = 24
    while off < len(data):
        nd, klen, dt = struct.unpack_from('<3i', data, off)
        off += 12
        if not 1 <= nd <= 4 or dt not in (0, 1):
            raise ValueError(f'{path}: record at byte {off - 12}: {nd} dims, data type {dt}')
        dims = struct.unpack_from(f'<{nd}i', data, off)
        off += 4 * nd
        key = data[off:off + klen].decode('utf-8')
        off += klen
        shape = tuple(reversed(dims))
        dtype = np.float32 if dt == 0 else np.float16
        count = int(np.prod(shape))
        nbytes = count * np.dtype(dtype).itemsize
        if off + nbytes > len(data):
            raise ValueError(f'{path}: tensor {key} is truncated')
        tensors[key] = np.frombuffer(data, dtype=dtype, count=count, offset=off).reshape(shape)
        off += nbytes
    return header, tensors


def to_pytorch(tensors):
    """rwkv.cpp's tensors -> the PyTorch state_dict's names and layouts (numpy arrays)."""
    out = {}
    for name, t in tensors.items():
        if name.endswith('.att.x_rwkvag'):
            prefix = name[:-len('x_rwkvag')]
            mixes = t.reshape(6, -1)
            for i, m in enumerate(MIX):
                out[prefix + m] = np.ascontiguousarray(mixes[i].reshape(1, 1, -1))
        elif name.endswith(LORA):
            out[name] = np.ascontiguousarray(t.T)
        else:
            out[name] = np.ascontiguousarray(t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('src', help="rwkv.cpp's .bin")
    ap.add_argument('dst', help='safetensors file to write')
    ap.add_argument('--dtype', choices=('keep', 'f32', 'f16'), default='keep',
                    help='storage of every tensor (default: as in the .bin)')
    args = ap.parse_args()
    from safetensors.numpy import save_file

    header, tensors = read_bin(args.src)
    out = to_pytorch(tensors)
    if args.dtype != 'keep':
        dt = np.float32 if args.dtype == 'f32' else np.float16
        out = {k: v.astype(dt) for k, v in out.items()}
    meta = {'source': os.path.basename(args.src), 'source_format': 'rwkv.cpp',
            'rwkv_cpp_header': json.dumps(header), 'architecture': 'rwkv7-x070',
            'generator': 'scripts/rwkv7_to_safetensors.py'}
    save_file(out, args.dst, metadata=meta)
    print(f'{args.dst}: {len(out)} tensors, {header["n_layer"]} layers, '
          f'n_embd {header["n_embed"]}, vocabulary {header["n_vocab"]}', file=sys.stderr)


if __name__ == '__main__':
    main()

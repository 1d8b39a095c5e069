#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) and the safetensors
dictionary: small files, valid and nearly valid, that reach every part of the readers, so that
a minute of fuzzing starts deep instead of at the first byte. Standard library only.

    python3 scripts/gen_fuzz_corpus.py [--out tests/fuzz]
"""
import argparse
import json
import os
import struct

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None, pad=True, raw_header=None):
    """tensors: [(name, dtype, shape)], data a byte pattern; the header JSON as written."""
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes((off + i * 7) % 251 for i in range(n))
        off += n
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    h = text.encode("utf-8")
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def rwkv_bin(records, version=101, n_vocab=16, n_embed=8, n_layer=1):
    """records: [(name, type, dims in the file's order)]; rwkv.cpp's .bin."""
    out = struct.pack("<6i", 0x67676D66, version, n_vocab, n_embed, n_layer, 0)
    for name, typ, dims in records:
        key = name.encode()
        out += struct.pack("<3i", len(dims), len(key), typ)
        out += struct.pack("<%di" % len(dims), *dims) + key
        n = 4 if typ == 0 else 2
        for d in dims:
            n *= d
        out += bytes(i % 253 for i in range(n))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                  "fuzz"))
    out = ap.parse_args().out
    st = {
        "every_dtype": safetensors([(d.lower(), d, [3]) for d in SIZES]),
        "shapes": safetensors([("scalar", "F32", []), ("empty", "F32", [0, 3]),
                               ("eight_dims", "F16", [1, 2, 1, 2, 1, 2, 1, 1]),
                               ("matrix", "BF16", [4, 5])]),
        "metadata": safetensors([("w", "F32", [2, 2])], {"format": "pt", "note": "é ü \\ \""}),
        "escapes": safetensors([("a\u00e9\"\\/\b\f\n\r\t", "U8", [2]),
                                ("\U0001F600", "I8", [1])]),
        "unaligned": safetensors([("odd", "U8", [3]), ("f", "F32", [2]), ("h", "F16", [3])],
                                 pad=False),
        "model_like": safetensors([("emb.weight", "F32", [16, 8]),
                                   ("blocks.0.att.w", "F16", [8, 8]),
                                   ("blocks.0.ln.bias", "F32", [8]),
                                   ("cu_seqlens", "I64", [3])], {"format": "deltavk-rwkv7-state"}),
        "empty_header": safetensors([]),
        "nul_name": safetensors([], raw_header='{"q\\u0000zzz":{"dtype":"F32","shape":[1],'
                                               '"data_offsets":[0,4]}}') + b"\0" * 4,
        "duplicate": safetensors([], raw_header='{"q":{"dtype":"F32","shape":[1],"data_offsets":'
                                                '[0,4]},"q":{"dtype":"F32","shape":[1],'
                                                '"data_offsets":[4,8]}}') + b"\0" * 8,
        "overlap": safetensors([], raw_header='{"a":{"dtype":"F32","shape":[2],"data_offsets":'
                                              '[0,8]},"b":{"dtype":"F32","shape":[1],'
                                              '"data_offsets":[4,8]}}') + b"\0" * 8,
        "nested_unknown": safetensors([], raw_header='{"a":{"dtype":"U8","shape":[1],'
                                                     '"data_offsets":[0,1],"extra":[{"x":[1,2.5e3,'
                                                     'true,null,"s"]}]}}') + b"\1",
    }
    # metadata null: the reference reader takes it as no metadata
    st["metadata_null"] = safetensors([], raw_header='{"__metadata__":null,"w":{"dtype":"I64",'
                                                     '"shape":[2],"data_offsets":[0,16]}}') + \
        bytes(range(16))
    rb = {
        "tiny_fp32": rwkv_bin([("emb.weight", 0, [8, 16]), ("blocks.0.ln1.weight", 0, [8]),
                               ("blocks.0.att.r_k", 0, [4, 2])]),
        "tiny_fp16": rwkv_bin([("head.weight", 1, [8, 16]), ("ln_out.bias", 1, [8])],
                              version=100),
        "four_dims": rwkv_bin([("x", 0, [1, 2, 3, 2])]),
        "quantized": rwkv_bin([("q", 2, [32])]),
        "header_only": rwkv_bin([]),
        "duplicate": rwkv_bin([("a", 0, [1]), ("a", 0, [1])]),
    }
    for target, files in (("safetensors", st), ("rwkv7_bin", rb)):
        d = os.path.join(out, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    # libFuzzer dictionary: the words of the format
    words = ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', "null", "\\u0000",
             "\\ud83d\\ude00"] + ['"%s"' % d for d in SIZES] + \
        ["[0,4]", "{}", "[]", "18446744073709551615"]
    with open(os.path.join(out, "safetensors.dict"), "w") as f:
        for w in words:
            f.write('"%s"\n' % w.replace("\\", "\\\\").replace('"', '\\"'))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Time each layer of `dvk layer` beside the original module it reproduces, on the same device
in the same run, and print the rows of docs/performance.md's layer table.

For every layer the original module is built as scripts/gen_*_fixtures.py builds it (the same
packages, the same gates moved off their init so that every path contributes), at a realistic
width (--size large: d_model 1024 to 2048, B,T = 4,4096) or a small one for lavapipe (--size
small), with random weights. Its parameters are saved under the package's own names, its
inputs under the forward()'s argument names; then:
  the original   its forward on --device, median of --iters runs after warm-up
                 (torch.cuda.Event on a GPU, time.perf_counter on the CPU; JAX's jitted apply
                 with block_until_ready);
  deltavk        `dvk layer NAME --weights W --in X --out Y --bench --json --stages`
                 (median of Vulkan timestamps around the whole-sequence forward);
  agreement      relative RMS of deltavk's y against the original's output;
  dominates      the kernels with the largest share of deltavk's time (--stages), and where
                 the original's time goes (from torch.profiler on a GPU, when --profile).

Needs (tooling only; the library and its tests never need Python): torch, safetensors, numpy,
memodo==1.0.0, infini-transformer-pytorch==0.0.2 (rotary-embedding-torch, einops),
transformers (with fla-core installed, Qwen3NextGatedDeltaNet runs fla's Triton kernels: the
script checks and says which), jax + flax + memorax==1.0.1 for the cell, and the two seeds'
code read from their public snapshots into a scratch folder (never committed here):

    git -C DeltaNet show 0e2b40f:deltanet.ipynb > SCRATCH/deltanet.ipynb
    git clone https://github.com/mohsinm-dev/kda-attention SCRATCH/kda-attention
    python3 scripts/bench_layers.py --dvk build/dvk --seeds SCRATCH --work WORK \\
        --device cuda --size large

memorax is imported without its package __init__ (which pulls in its RL stack: wandb,
gymnax, flashbax, ...): only memoroid.py and linear_attention.py are loaded, as they are.
"""
import argparse
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
import types

import numpy as np
import safetensors.torch
import torch

# name: {size: config}. B, T first; the rest is the module's.
SHAPES = {
    "memodo": {"large": dict(B=4, T=4096, C=1024, heads=8, F=64, lerp=64, gating=64),
               "small": dict(B=2, T=256, C=256, heads=4, F=32, lerp=32, gating=32)},
    "deltanet": {"large": dict(B=4, T=4096, d=256, chunk=64),
                 "small": dict(B=2, T=512, d=128, chunk=64)},
    "kda_attention": {"large": dict(B=4, T=4096, D=2048, H=16),
                      "small": dict(B=2, T=512, D=256, H=4)},
    "infini_attention": {"large": dict(B=4, T=4096, C=1024, H=8, Dh=128),
                         "small": dict(B=2, T=512, C=256, H=4, Dh=64)},
    "infini_transformer": {"large": dict(B=4, T=4096, C=1024, H=8, Dh=128, depth=4, V=8192,
                                         ff=4),
                           "small": dict(B=2, T=512, C=256, H=4, Dh=64, depth=2, V=1024,
                                         ff=4)},
    "linear_attention_cell": {"large": dict(B=4, T=4096, C=1024, H=8, D=128),
                              "small": dict(B=2, T=512, C=256, H=4, D=64)},
    "qwen3_next_gdn": {"large": dict(B=4, T=4096, D=2048, HK=16, K=128, HV=32, V=128, W=4),
                       "small": dict(B=2, T=512, D=256, HK=2, K=64, HV=4, V=64, W=4)},
}
SEED = 20261215
DEV = "cpu"  # where the modules run (--device); builders put modules and inputs there
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX beside torch and dvk


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.sqrt(((a - b) ** 2).mean() / (b ** 2).mean()))


def save(path, tensors):
    safetensors.torch.save_file({k: v.detach().float().contiguous().cpu() if v.is_floating_point()
                                 else v.detach().contiguous().cpu() for k, v in tensors.items()},
                                path)


class Timer:
    """Medians of a callable's time on the device (CUDA events) or the CPU (perf_counter)."""

    def __init__(self, device, warmup, iters, budget_s):
        self.device, self.warmup, self.iters, self.budget = device, warmup, iters, budget_s

    def __call__(self, fn):
        cuda = self.device == "cuda"
        with torch.no_grad():
            t0 = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            first = time.perf_counter() - t0
            # a slow module (a Python loop over tokens) gets fewer runs
            iters = max(3, min(self.iters, int(self.budget / max(first, 1e-6))))
            warmup = min(self.warmup, max(1, iters // 3))
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(iters):
                if cuda:
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                        enable_timing=True)
                    a.record()
                    fn()
                    b.record()
                    b.synchronize()
                    times.append(a.elapsed_time(b))
                else:
                    t = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t) * 1e3)
        return statistics.median(times), iters


def top_kernels(stages, n=3):
    total = sum(s["median_ms"] for s in stages) or 1.0
    top = sorted(stages, key=lambda s: -s["median_ms"])[:n]
    return ", ".join(f"{s['kernel']} {100 * s['median_ms'] / total:.0f}%" for s in top)


def torch_top(fn, device, n=3):
    """Where the original's time goes: torch.profiler's kernels (GPU) or ops (CPU), by share."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]
    with torch.no_grad(), profile(activities=acts) as prof:
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        t = e.self_device_time_total if device == "cuda" else e.self_cpu_time_total
        if t > 0:
            rows.append((t, e.key, e.count))
    total = sum(r[0] for r in rows) or 1.0
    rows.sort(reverse=True)
    return ", ".join(f"{k[:48]} {100 * t / total:.0f}% ({c}x)" for t, k, c in rows[:n])


# ---- the original modules, built as the fixture scripts build them -------------------------


def build_memodo(cfg, g):
    import memodo
    C, L, F = cfg["C"], cfg["heads"], cfg["F"]
    layer = memodo.MemodoLayer(num_channels=C, attn_feats=[F] * L, lerp_feats=cfg["lerp"],
                               gating_feats=cfg["gating"]).float().eval()

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
        y = torch.zeros(min(cfg["T"], 256), 1, C) + layer.bias  # O scaled as the fixtures do
        for head in layer.deltanets:
            y, _ = head(y, None)
            rms = y.pow(2).mean().sqrt()
            head.O.weight.mul_(1 / rms)
            y = y / rms
    x = torch.randn(cfg["B"], cfg["T"], C, generator=g)
    weights = dict(layer.state_dict())
    return dict(module=layer, weights=weights, inputs={"x": x},
                call=lambda m, t: m(t["x"])[0], dvk_inputs={"x": x},
                flags=["--time-major-y"],
                what=f"MemodoLayer(num_channels={C}, attn_feats=[{F}]*{L})")


def load_notebook(path):
    with open(path) as f:
        nb = json.load(f)
    ns = {}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and src.lstrip().startswith(("import", "from", "def ",
                                                                     "class ")):
            exec(compile(src, path, "exec"), ns)
    return ns


def build_deltanet(cfg, g, seeds):
    ns = load_notebook(os.path.join(seeds, "deltanet.ipynb"))
    torch.manual_seed(SEED)
    d, C = cfg["d"], cfg["chunk"]
    module = ns["DeltaNet"](d, C)
    with torch.no_grad():
        module.rms_norm.scale.copy_(1 + 0.2 * torch.randn(d, generator=g))
    module = module.float().eval()
    x = torch.randn(cfg["B"], cfg["T"], d, generator=g)
    seed_rule = ns["chunk_delta_rule"]

    def recurrent_rule(Q, K, V, beta, chunk_size):  # the delta rule itself, any T
        S = torch.zeros(Q.shape[0], Q.shape[2], V.shape[2], dtype=Q.dtype, device=Q.device)
        O = torch.empty_like(V)
        for t in range(Q.shape[1]):
            k, v, q = K[:, t], V[:, t], Q[:, t]
            u = beta[:, t, None] * (v - torch.einsum("bk,bkv->bv", k, S))
            S = S + k[:, :, None] * u[:, None, :]
            O[:, t] = torch.einsum("bk,bkv->bv", q, S)
        return O

    def reference(m, t):  # what deltavk computes: the seed's module with the true rule
        ns["chunk_delta_rule"] = recurrent_rule
        try:
            return m(t["x"])
        finally:
            ns["chunk_delta_rule"] = seed_rule

    return dict(module=module, weights=dict(module.state_dict()), inputs={"x": x},
                call=lambda m, t: m(t["x"]), reference=reference, dvk_inputs={"x": x},
                flags=[], what=f"DeltaNet({d}, chunk_size={C}), the seed's own "
                               "chunk_delta_rule (right only at T = chunk size)")


def build_kda(cfg, g, seeds):
    sys.path.insert(0, os.path.join(seeds, "kda-attention"))
    import kda_attn
    torch.manual_seed(SEED)
    D, H = cfg["D"], cfg["H"]
    layer = kda_attn.KDAAttention(d_model=D, n_heads=H).float().eval()
    with torch.no_grad():
        layer.w_alpha.bias.copy_(2 + 0.5 * torch.randn(layer.w_alpha.bias.shape, generator=g))
        layer.w_beta.bias.copy_(0.3 * torch.randn(layer.w_beta.bias.shape, generator=g))
    # Keys are not normalised: keep beta |k|^2 below 2, or the rule (and both sides) blow up.
    # (Linear's init gives |k|^2 ~ dh x^2/3 and beta ~ softplus(0): x ~ N(0, 2/dh) keeps the
    # typical beta |k|^2 near 0.5.)
    scale = min(1.0, (2.0 / (D // H)) ** 0.5)
    x = scale * torch.randn(cfg["B"], cfg["T"], D, generator=g)
    return dict(module=layer, weights=dict(layer.state_dict()), inputs={"x": x},
                call=lambda m, t: m(t["x"], mode="scan")[0], dvk_inputs={"x": x}, flags=[],
                what=f"KDAAttention({D}, {H}), mode=\"scan\" (x scaled by {scale:.2f})")


def infini_model(cfg, g, depth, num_tokens):
    from infini_transformer_pytorch import InfiniTransformer
    torch.manual_seed(SEED)
    model = InfiniTransformer(num_tokens=num_tokens, dim=cfg["C"], depth=depth,
                              dim_head=cfg["Dh"], heads=cfg["H"],
                              ff_mult=cfg.get("ff", 4)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("head_gates"):
                p.copy_(torch.rand(p.shape, generator=g) * 4.0 - 2.0)
            elif name.endswith("gamma"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def build_infini_attention(cfg, g):
    attn = infini_model(cfg, g, 1, 16).layers[0][0].float().eval().to(DEV)
    x0 = torch.randn(cfg["B"], cfg["T"], cfg["C"], generator=g).to(DEV)
    x = torch.randn(cfg["B"], cfg["T"], cfg["C"], generator=g).to(DEV)
    with torch.no_grad():
        _, (kv, norm) = attn(x0)  # the memories of a segment before: both sides retrieve
    return dict(module=attn, weights=dict(attn.state_dict()),
                inputs={"x": x, "kv": kv, "norm": norm},
                call=lambda m, t: m(t["x"], past_memories=(t["kv"], t["norm"]))[0],
                dvk_inputs={"x": x, "memories.kv": kv, "memories.norm": norm}, flags=[],
                what=f"CausalAttention({cfg['C']}, heads={cfg['H']}, dim_head={cfg['Dh']}), "
                     "one segment of T, with past memories")


def build_infini_transformer(cfg, g):
    model = infini_model(cfg, g, cfg["depth"], cfg["V"]).float().eval().to(DEV)
    tokens0 = torch.randint(0, cfg["V"], (cfg["B"], cfg["T"]), generator=g).to(DEV)
    tokens = torch.randint(0, cfg["V"], (cfg["B"], cfg["T"]), generator=g).to(DEV)
    with torch.no_grad():
        _, mems = model(tokens0, return_memories=True)
    ins = {"tokens": tokens.to(torch.int32)}
    for i, (kv, norm) in enumerate(mems):
        ins[f"memories.{i}.kv"], ins[f"memories.{i}.norm"] = kv, norm
    return dict(module=model, weights=dict(model.state_dict()),
                inputs={"tokens": tokens, "mems": mems},
                call=lambda m, t: m(t["tokens"], past_memories=t["mems"]),
                dvk_inputs=ins, flags=[], out_name="logits",
                what=f"InfiniTransformer(dim={cfg['C']}, depth={cfg['depth']}, heads={cfg['H']}, "
                     f"dim_head={cfg['Dh']}, num_tokens={cfg['V']}), one segment of T, "
                     "with past memories")


def build_qwen3(cfg, g):
    from transformers import Qwen3NextConfig
    from transformers.models.qwen3_next import modeling_qwen3_next as mq
    config = Qwen3NextConfig(
        hidden_size=cfg["D"], num_hidden_layers=1, layer_types=["linear_attention"],
        linear_num_key_heads=cfg["HK"], linear_key_head_dim=cfg["K"],
        linear_num_value_heads=cfg["HV"], linear_value_head_dim=cfg["V"],
        linear_conv_kernel_dim=cfg["W"], rms_norm_eps=1e-6, hidden_act="silu", vocab_size=32,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, intermediate_size=64,
        moe_intermediate_size=32, num_experts=2, num_experts_per_tok=1)
    layer = mq.Qwen3NextGatedDeltaNet(config, layer_idx=0).float().eval()
    with torch.no_grad():
        for lin in (layer.in_proj_qkvz, layer.in_proj_ba, layer.out_proj):
            w = lin.weight
            w.copy_(torch.randn(w.shape, generator=g) / w.shape[1] ** 0.5)
        w = layer.conv1d.weight
        w.copy_(torch.randn(w.shape, generator=g) / w.shape[-1] ** 0.5)
        A = torch.empty(layer.A_log.shape).uniform_(0.05, 1.5, generator=g)
        layer.A_log.copy_(torch.log(A))
        layer.dt_bias.copy_(torch.randn(layer.dt_bias.shape, generator=g) * 0.5)
        layer.norm.weight.copy_(1 + 0.2 * torch.randn(layer.norm.weight.shape, generator=g))
    x = torch.randn(cfg["B"], cfg["T"], cfg["D"], generator=g)
    return dict(module=layer, weights=dict(layer.state_dict()), inputs={"x": x},
                call=lambda m, t: m(t["x"]), dvk_inputs={"x": x},
                flags=["--head-k-dim", str(cfg["K"])], kernels=qwen3_kernels(mq),
                what=f"Qwen3NextGatedDeltaNet(hidden {cfg['D']}, {cfg['HK']} key heads of "
                     f"{cfg['K']}, {cfg['HV']} value heads of {cfg['V']}, conv {cfg['W']})")


def qwen3_kernels(mq):
    """Which implementation transformers picked for the rule and the conv (fla's or its own
    PyTorch fallback), read from the wrappers' closures."""
    out = {}
    for name in ("torch_chunk_gated_delta_rule", "causal_conv1d_fn"):
        impl, fn, seen = None, getattr(mq, name), 0
        while fn is not None and impl is None and seen < 8:
            seen += 1
            cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
            if "implementation" in cells:
                impl = cells["implementation"].cell_contents
            fn = getattr(fn, "__wrapped__", None) or next(
                (c.cell_contents for c in fn.__closure__ or () if callable(c.cell_contents)
                 and hasattr(c.cell_contents, "__code__")), None)
        out[name] = f"{impl.__module__}.{impl.__name__}" if impl is not None else "unknown"
    return out


# ---- memorax (JAX) ----------------------------------------------------------------------------


def import_memorax():
    """memorax's Memoroid and LinearAttentionCell, without the package's __init__."""
    spec = importlib.util.find_spec("memorax")
    root = spec.submodule_search_locations[0]
    for name, sub in (("memorax", ""), ("memorax.utils", "utils"),
                      ("memorax.networks", "networks"),
                      ("memorax.networks.sequence_models", "networks/sequence_models")):
        m = types.ModuleType(name)
        m.__path__ = [os.path.join(root, sub)]
        sys.modules.setdefault(name, m)
    class Anything:  # any attribute of it is another
        def __getattr__(self, attr):
            return Anything()

    for stub in ("flashbax", "gymnax"):  # memorax.utils.typing's type aliases only
        try:
            __import__(stub)
        except ImportError:
            s = types.ModuleType(stub)
            s.__getattr__ = lambda attr: Anything()
            sys.modules[stub] = s
    from memorax.networks.sequence_models.linear_attention import LinearAttentionCell
    from memorax.networks.sequence_models.memoroid import Memoroid
    return LinearAttentionCell, Memoroid


def bench_memorax(cfg, args, work):
    import flax
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    LinearAttentionCell, Memoroid = import_memorax()
    B, T, C, H, D = cfg["B"], cfg["T"], cfg["C"], cfg["H"], cfg["D"]
    rng = np.random.default_rng(SEED)
    cell = LinearAttentionCell(head_dim=D, num_heads=H,
                               kernel_init=nn.initializers.lecun_normal(),
                               bias_init=nn.initializers.normal(0.5), param_dtype=jnp.float32)
    model = Memoroid(cell=cell)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    done = np.zeros((B, T), np.float32)
    done[:, 0] = 1.0
    done[0, T // 3] = 1.0
    params = flax.core.unfreeze(model.init(jax.random.PRNGKey(SEED), jnp.asarray(x[:, :8]),
                                           jnp.asarray(done[:, :8])))
    cp = params["params"]["cell"]
    cp["RMSNorm_0"]["scale"] = jnp.asarray(
        1.0 + 0.5 * rng.standard_normal(cp["RMSNorm_0"]["scale"].shape), jnp.float32)
    xj, dj = jax.device_put(jnp.asarray(x)), jax.device_put(jnp.asarray(done))
    fn = jax.jit(lambda p, a, m: model.apply(p, a, m)[1])
    y = np.asarray(fn(params, xj, dj).block_until_ready())
    first = time.perf_counter()
    fn(params, xj, dj).block_until_ready()
    first = time.perf_counter() - first
    iters = max(3, min(args.iters, int(args.budget / max(first, 1e-6))))
    for _ in range(min(args.warmup, iters)):
        fn(params, xj, dj).block_until_ready()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn(params, xj, dj).block_until_ready()
        times.append((time.perf_counter() - t) * 1e3)

    def flatten(tree, prefix=""):
        out = {}
        for k, v in tree.items():
            if hasattr(v, "items"):
                out.update(flatten(v, prefix + k + "/"))
            else:
                out[prefix + k] = torch.from_numpy(np.array(v, dtype=np.float32))
        return out

    weights = flatten(cp)
    dev = jax.devices()[0]
    return dict(weights=weights, dvk_inputs={"x": torch.from_numpy(x),
                                             "done": torch.from_numpy(done)},
                y=y, orig_ms=statistics.median(times), iters=iters, flags=[],
                orig_device=f"JAX {jax.__version__} on {dev.platform} ({dev.device_kind})",
                orig_top="", what=f"Memoroid(LinearAttentionCell(head_dim={D}, num_heads={H})), "
                                  f"C {C}, jitted apply")


# ---- the run -----------------------------------------------------------------------------------


def run_dvk(args, name, work, spec, dtype):
    w, x, y = (os.path.join(work, f"{name}_{s}.safetensors") for s in ("w", "in", "out"))
    save(w, spec["weights"])
    save(x, spec["dvk_inputs"])
    cmd = [args.dvk, "layer", name, "--weights", w, "--in", x, "--out", y, "--dtype", dtype,
           "--bench", "--json", "--stages", "--warmup", str(args.warmup), "--iters",
           str(args.dvk_iters)] + spec["flags"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    out = safetensors.torch.load_file(y)[spec.get("out_name", "y")]
    return res, out.numpy()


def bench_torch(name, cfg, args, work):
    g = torch.Generator().manual_seed(SEED)
    if name == "memodo":
        spec = build_memodo(cfg, g)
    elif name == "deltanet":
        spec = build_deltanet(cfg, g, args.seeds)
    elif name == "kda_attention":
        spec = build_kda(cfg, g, args.seeds)
    elif name == "infini_attention":
        spec = build_infini_attention(cfg, g)
    elif name == "infini_transformer":
        spec = build_infini_transformer(cfg, g)
    else:
        spec = build_qwen3(cfg, g)
    dev = args.device
    m = spec["module"].to(dev)
    t = {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in spec["inputs"].items()}
    with torch.no_grad():
        ref = spec.get("reference", spec["call"])(m, t)
        y = ref.float().cpu().numpy()
    timer = Timer(dev, args.warmup, args.iters, args.budget)
    ms, iters = timer(lambda: spec["call"](m, t))
    spec.update(y=y, orig_ms=ms, iters=iters,
                orig_device=(torch.cuda.get_device_name() if dev == "cuda" else "CPU") +
                f", torch {torch.__version__.split('+')[0]}")
    # (not memodo: its Python loop launches some 10^5 kernels, each a profiler event)
    profile = args.profile and name != "memodo"
    spec["orig_top"] = torch_top(lambda: spec["call"](m, t), dev) if profile else ""
    if name == "qwen3_next_gdn" and dev == "cuda":  # also as its users run it: bf16
        m = m.to(torch.bfloat16)
        tb = {"x": t["x"].to(torch.bfloat16)}
        with torch.no_grad():
            yb = spec["call"](m, tb).float().cpu().numpy()
        spec["bf16_ms"], spec["bf16_iters"] = timer(lambda: spec["call"](m, tb))
        spec["bf16_rel"] = rel(yb, y)
        if profile:
            spec["bf16_top"] = torch_top(lambda: spec["call"](m, tb), dev)
    spec.pop("module"), spec.pop("inputs")
    del m, t
    if dev == "cuda":
        torch.cuda.empty_cache()
    return spec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dvk", required=True, help="the dvk binary")
    ap.add_argument("--seeds", help="scratch folder: deltanet.ipynb and kda-attention/")
    ap.add_argument("--work", required=True, help="folder for the weights and inputs written")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--size", default="large", choices=("large", "small"))
    ap.add_argument("--layers", default=",".join(SHAPES))
    ap.add_argument("--dtypes", default="f32", help="deltavk's weight storage, comma-separated")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20, help="the original's timed runs (at most)")
    ap.add_argument("--dvk-iters", type=int, default=20)
    ap.add_argument("--budget", type=float, default=20.0,
                    help="seconds of timed runs an original gets (fewer runs when slow)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: its default)")
    ap.add_argument("--profile", action="store_true", help="where the original's time goes")
    ap.add_argument("--json", help="also write every result to this file")
    args = ap.parse_args()
    global DEV
    DEV = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    versions = {}
    for d in ("torch", "transformers", "fla-core", "memodo", "infini-transformer-pytorch",
              "jax", "flax", "memorax"):
        try:
            versions[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            versions[d] = "absent"
    print("versions:", json.dumps(versions), flush=True)
    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()}",
          flush=True)
    results = []
    print("| layer | device | shape | dtype | original | deltavk | deltavk / original | "
          "rel. RMS | deltavk's time goes to |", flush=True)
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for name in args.layers.split(","):
        cfg = SHAPES[name][args.size]
        try:
            if name == "linear_attention_cell":
                spec = bench_memorax(cfg, args, args.work)
            else:
                spec = bench_torch(name, cfg, args, args.work)
        except Exception as e:  # report and go on with the next layer
            print(f"| {name} | original failed: {type(e).__name__}: {str(e)[:300]} |", flush=True)
            traceback.print_exc()
            continue
        for dtype in args.dtypes.split(","):
            try:
                res, y = run_dvk(args, name, args.work, spec, dtype)
            except Exception as e:
                print(f"| {name} | dvk failed: {str(e)[-600:]} |", flush=True)
                continue
            err = rel(y.reshape(spec["y"].shape), spec["y"])
            shape = "B,T={},{}; {}".format(cfg["B"], cfg["T"], ", ".join(
                f"{k}={v}" for k, v in cfg.items() if k not in ("B", "T")))
            row = dict(layer=name, shape=shape, what=spec["what"], dvk_dtype=dtype,
                       orig_device=spec["orig_device"], orig_ms=spec["orig_ms"],
                       orig_iters=spec["iters"], dvk=res, rel_rms=err,
                       dvk_top=top_kernels(res.get("stages", [])),
                       orig_top=spec.get("orig_top", ""), kernels=spec.get("kernels"))
            results.append(row)
            print(f"| {name} | {res['device']} / {spec['orig_device']} | {shape} | "
                  f"fp32 activations, {dtype} weights | {spec['orig_ms']:.2f} ms "
                  f"({spec['iters']} runs) | {res['median_ms']:.2f} ms | "
                  f"{res['median_ms'] / spec['orig_ms']:.2f}x | {err:.1e} | {row['dvk_top']} |",
                  flush=True)
            if spec.get("orig_top"):
                print(f"    original's time: {spec['orig_top']}", flush=True)
            if spec.get("bf16_ms"):
                print(f"    the original in bf16: {spec['bf16_ms']:.2f} ms "
                      f"({spec['bf16_iters']} runs), rel. RMS to its fp32 output "
                      f"{spec['bf16_rel']:.1e}; its time: {spec.get('bf16_top', '')}", flush=True)
                row.update(bf16_ms=spec["bf16_ms"], bf16_rel=spec["bf16_rel"],
                           bf16_top=spec.get("bf16_top", ""))
            if spec.get("kernels"):
                print(f"    transformers' implementations: {spec['kernels']}", flush=True)
            print(f"    {spec['what']}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(versions=versions, results=results), f, indent=1)


if __name__ == "__main__":
    main()

/* dvk — deltavk's command-line tool: list devices, run an operator on a safetensors file,
 * benchmark an operator, compare two safetensors files. */
#include "dvk_tool.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dvk <command> [options]\n"
            "\n"
            "commands:\n"
            "  devices                          list Vulkan devices and their capabilities\n"
            "  run OP --in IN --out OUT         run an operator on the tensors of a safetensors\n"
            "                                   file (fla's argument names) and write o and ht\n"
            "                                   (and z, linear_attn's and infini_attn's\n"
            "                                   normaliser)\n"
            "  bench OP --B N --T N --H N --K N --V N\n"
            "                                   median GPU time of an operator on random inputs\n"
            "  compare A B [--names o,ht] [--tol 1e-5]\n"
            "                                   relative RMS error of A's tensors against B's\n"
            "  ops                              list the operators\n"
            "  generate --model M [--prompt P] [--tokens N] [--temperature T --top-p P --seed S\n"
            "           | --greedy]             generate text with an RWKV-7 model (rwkv.cpp .bin\n"
            "                                   or safetensors), then prefill and decode speed\n"
            "  eval --model M --prompt P --out O.safetensors\n"
            "                                   the logits of the prompt's last token\n"
            "\n"
            "options of run and bench:\n"
            "  --mode recurrent|chunk   algorithm (default: the library's choice)\n"
            "  --dtype f32|f16          storage type of token tensors (default f32)\n"
            "  --device N|NAME          device index or name substring (default: DVK_DEVICE,\n"
            "                           else the best device)\n"
            "  --scale S                query scale (default: the file's `scale`, else the\n"
            "                           operator's: K^-0.5, or 1 for rwkv7 and rope)\n"
            "  --chunk-size 16|32|64    chunk size of the chunked form (default: the device's)\n"
            "  --l2norm-qk              L2-normalise q and k inside the kernel\n"
            "  --gate-in-kernel         kda: g is the raw gate; the file also holds A_log and\n"
            "                           optionally dt_bias (bench: random ones)\n"
            "  --beta-sigmoid           kda: beta holds logits\n"
            "  --readout value|key      dplr: o = S^T q (default) or o = S q (Memodo; q has V\n"
            "                           entries, o has K)\n"
            "  --feature-map identity|elu1\n"
            "                           linear_attn: phi applied to q and k in the kernel\n"
            "                           (default identity: the caller applied its own)\n"
            "  --no-normalize           linear_attn: o = S^T q' (default: divided by q'.z)\n"
            "  --eps X                  linear_attn: the normaliser's floor, max(q'.z, eps)\n"
            "                           (default 1e-6); infini_attn: the retrieval's (1e-10)\n"
            "  --eps-add                linear_attn: divide by q'.z + eps (fla's form)\n"
            "  --segment N              softmax_attn: attend within segments of N tokens\n"
            "                           (default 0: the whole sequence)\n"
            "  --no-rope                infini_attn: no rotary embedding (default: rotated, as\n"
            "                           infini-transformer-pytorch does)\n"
            "  --rope-theta X           infini_attn, rope: rotary base (default 10000)\n"
            "  --offset N               rope: the position of token 0 (default 0)\n"
            "  --rotary-dim N           rope: features rotated, even (default D, or D - 1)\n"
            "  --delta-rule             infini_attn: the delta rule's memory update\n"
            "  --validate               enable the Khronos validation layer\n"
            "  --small-profile          plan kernels for mobile-class limits\n"
            "options of bench:\n"
            "  --B --T --H --K --V N    shape (--HV N: value heads, default H; the attention\n"
            "                           operators' D is --K, DV --V; infini_attn's T is one\n"
            "                           segment)\n"
            "  --warmup N --iters N     runs before timing (default 5) and timed (default 30)\n"
            "  --no-state               no initial or final state (infini_attn: the first\n"
            "                           segment, no memory stored)\n"
            "  --repeat N               N calls back to back per timed run, time per call\n"
            "                           reported (default: enough for 20 ms, so the GPU's\n"
            "                           clocks settle, as Triton's do_bench does)\n"
            "  --reference              also the time of the plain-C reference (double, one\n"
            "                           thread) on the same inputs\n"
            "  --stages                 also the median time of each kernel (dispatches timed\n"
            "                           one by one)\n"
            "  --json                   one JSON object on stdout\n"
            "tensors of the attention operators (run; any float dtype in the file):\n"
            "  linear_attn   reads q, k [B,T,H,K], v [B,T,H,V], optional done [B,T] (nonzero:\n"
            "                an episode starts at that token), h0 [N,H,K,V], z0 [N,H,K]\n"
            "                (absent: zeros), cu_seqlens; writes o, ht, z\n"
            "  softmax_attn  reads q, k [B,T,H,D], v [B,T,H,DV]; writes o\n"
            "  infini_attn   reads q, k [B,T,H,D], v [B,T,H,DV], gate [H] (logits) and the past\n"
            "                memory h0 [B,H,D,DV], z0 [B,H,D] (absent: the first segment);\n"
            "                writes o and the memory after the segment, ht and z\n"
            "  rope          reads x [B,T,H,D]; writes y (--K is D in bench)\n");
}

static int parse_u32(const char *flag, const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    const unsigned long v = s ? strtoul(s, &end, 10) : 0;
    if (!s || *s == '\0' || *s == '-' || *end != '\0' || errno || v > UINT32_MAX) {
        fprintf(stderr, "dvk: %s needs a non-negative integer, got \"%s\"\n", flag,
                s ? s : "");
        return TOOL_USAGE;
    }
    *out = (uint32_t)v;
    return TOOL_OK;
}

/* A finite number >= 0 (eps, rope theta: 0 = the operator's default). */
static int parse_nonneg_float(const char *flag, const char *s, float *out)
{
    char *end = NULL;
    const float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v) || v < 0.0f) {
        fprintf(stderr, "dvk: %s needs a finite number >= 0, got \"%s\"\n", flag, s);
        return TOOL_USAGE;
    }
    *out = v;
    return TOOL_OK;
}

int tool_parse_opts(int argc, char **argv, int first, tool_opts *o)
{
    for (int i = first; i < argc; ++i) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        /* Flags that take a value. */
        struct {
            const char *name;
            uint32_t *u32;
        } nums[] = {{"--B", &o->B},   {"--T", &o->T},         {"--H", &o->H},
                    {"--HV", &o->HV}, {"--K", &o->K},         {"--V", &o->V},
                    {"--warmup", &o->warmup}, {"--iters", &o->iters}, {"--repeat", &o->repeat},
                    {"--segment", &o->segment}, {"--offset", &o->rope_offset},
                    {"--rotary-dim", &o->rotary_dim}, {"--M", &o->M}, {"--N", &o->N},
                    {"--W", &o->W}, {"--groups", &o->groups}, {"--top-k", &o->top_k},
                    {"--rotate", &o->rotate}};
        bool matched = false;
        for (size_t n = 0; n < sizeof nums / sizeof nums[0]; ++n) {
            if (strcasecmp(a, nums[n].name) == 0) {
                if (parse_u32(a, val, nums[n].u32) != TOOL_OK)
                    return TOOL_USAGE;
                ++i;
                matched = true;
            }
        }
        if (matched)
            continue;
        if (strcmp(a, "--in") == 0 || strcmp(a, "--out") == 0 || strcmp(a, "--device") == 0 ||
            strcmp(a, "--mode") == 0 || strcmp(a, "--dtype") == 0 || strcmp(a, "--scale") == 0 ||
            strcmp(a, "--readout") == 0 || strcmp(a, "--chunk-size") == 0 ||
            strcmp(a, "--feature-map") == 0 || strcmp(a, "--eps") == 0 ||
            strcmp(a, "--rope-theta") == 0 || strcmp(a, "--wdtype") == 0 ||
            strcmp(a, "--act") == 0 || strcmp(a, "--eps-mode") == 0 ||
            strcmp(a, "--weight-offset") == 0 || strcmp(a, "--temperature") == 0 ||
            strcmp(a, "--top-p") == 0 || strcmp(a, "--seed") == 0) {
            if (!val) {
                fprintf(stderr, "dvk: %s needs a value\n", a);
                return TOOL_USAGE;
            }
            ++i;
            if (strcmp(a, "--in") == 0) {
                o->in = val;
            } else if (strcmp(a, "--out") == 0) {
                o->out = val;
            } else if (strcmp(a, "--device") == 0) {
                o->device = val;
            } else if (strcmp(a, "--mode") == 0) {
                if (strcmp(val, "recurrent") == 0)
                    o->mode = DVK_MODE_RECURRENT;
                else if (strcmp(val, "chunk") == 0)
                    o->mode = DVK_MODE_CHUNK;
                else {
                    fprintf(stderr, "dvk: --mode must be recurrent or chunk\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--dtype") == 0 || strcmp(a, "--wdtype") == 0) {
                dvk_dtype *dt = strcmp(a, "--dtype") == 0 ? &o->dtype : &o->wdtype;
                if (strcmp(val, "f32") == 0)
                    *dt = DVK_DTYPE_F32;
                else if (strcmp(val, "f16") == 0)
                    *dt = DVK_DTYPE_F16;
                else if (strcmp(val, "bf16") == 0)
                    *dt = DVK_DTYPE_BF16;
                else {
                    fprintf(stderr, "dvk: %s must be f32, f16 or bf16\n", a);
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--act") == 0) {
                o->act = DVK_ACT_DEFAULT;
                for (int k = DVK_ACT_IDENTITY; k < DVK_ACT_COUNT_; ++k)
                    if (strcmp(val, dvk_act_name((dvk_act)k)) == 0)
                        o->act = (dvk_act)k;
                if (o->act == DVK_ACT_DEFAULT) {
                    fprintf(stderr, "dvk: --act must be one of:");
                    for (int k = DVK_ACT_IDENTITY; k < DVK_ACT_COUNT_; ++k)
                        fprintf(stderr, " %s", dvk_act_name((dvk_act)k));
                    fprintf(stderr, "\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--eps-mode") == 0) {
                if (strcmp(val, "inside") == 0)
                    o->eps_mode = DVK_NORM_EPS_INSIDE;
                else if (strcmp(val, "clamp") == 0)
                    o->eps_mode = DVK_NORM_EPS_CLAMP;
                else if (strcmp(val, "add") == 0)
                    o->eps_mode = DVK_NORM_EPS_ADD;
                else {
                    fprintf(stderr, "dvk: --eps-mode must be inside, clamp or add\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--temperature") == 0 || strcmp(a, "--top-p") == 0) {
                if (parse_nonneg_float(a, val, a[2] == 't' && a[3] == 'e' ? &o->temperature
                                                                         : &o->top_p) != TOOL_OK)
                    return TOOL_USAGE;
            } else if (strcmp(a, "--seed") == 0) {
                char *end = NULL;
                errno = 0;
                o->seed = strtoull(val, &end, 0);
                if (*val == '\0' || *val == '-' || *end != '\0' || errno) {
                    fprintf(stderr, "dvk: --seed needs a non-negative integer\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--weight-offset") == 0) {
                char *end = NULL;
                o->weight_offset = strtof(val, &end);
                if (*val == '\0' || *end != '\0' || !isfinite(o->weight_offset)) {
                    fprintf(stderr, "dvk: --weight-offset needs a number\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--readout") == 0) {
                if (strcmp(val, "value") == 0)
                    o->readout = DVK_READOUT_VALUE;
                else if (strcmp(val, "key") == 0)
                    o->readout = DVK_READOUT_KEY;
                else {
                    fprintf(stderr, "dvk: --readout must be value or key\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--feature-map") == 0) {
                if (strcmp(val, "identity") == 0)
                    o->feature_map = DVK_FEATURE_IDENTITY;
                else if (strcmp(val, "elu1") == 0)
                    o->feature_map = DVK_FEATURE_ELU1;
                else {
                    fprintf(stderr, "dvk: --feature-map must be identity or elu1\n");
                    return TOOL_USAGE;
                }
            } else if (strcmp(a, "--eps") == 0) {
                if (parse_nonneg_float(a, val, &o->eps) != TOOL_OK)
                    return TOOL_USAGE;
            } else if (strcmp(a, "--rope-theta") == 0) {
                if (parse_nonneg_float(a, val, &o->rope_theta) != TOOL_OK)
                    return TOOL_USAGE;
            } else if (strcmp(a, "--chunk-size") == 0) {
                if (strcmp(val, "16") == 0 || strcmp(val, "32") == 0 || strcmp(val, "64") == 0)
                    o->chunk_size = (uint32_t)atoi(val);
                else {
                    fprintf(stderr, "dvk: --chunk-size must be 16, 32 or 64\n");
                    return TOOL_USAGE;
                }
            } else { /* --scale */
                char *end = NULL;
                o->scale = strtof(val, &end);
                if (*val == '\0' || *end != '\0') {
                    fprintf(stderr, "dvk: --scale needs a number\n");
                    return TOOL_USAGE;
                }
                o->has_scale = true;
            }
        } else if (strcmp(a, "--l2norm-qk") == 0) {
            o->l2norm_qk = true;
        } else if (strcmp(a, "--gate-in-kernel") == 0) {
            o->gate_in_kernel = true;
        } else if (strcmp(a, "--beta-sigmoid") == 0) {
            o->beta_sigmoid = true;
        } else if (strcmp(a, "--no-normalize") == 0) {
            o->no_normalize = true;
        } else if (strcmp(a, "--eps-add") == 0) {
            o->eps_add = true;
        } else if (strcmp(a, "--no-rope") == 0) {
            o->no_rope = true;
        } else if (strcmp(a, "--delta-rule") == 0) {
            o->delta_rule = true;
        } else if (strcmp(a, "--validate") == 0) {
            o->validate = true;
        } else if (strcmp(a, "--small-profile") == 0) {
            o->small_profile = true;
        } else if (strcmp(a, "--no-state") == 0) {
            o->no_state = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--stages") == 0) {
            o->stages = true;
        } else if (strcmp(a, "--reference") == 0) {
            o->reference = true;
        } else if (strcmp(a, "--accumulate") == 0) {
            o->accumulate = true;
        } else if (strcmp(a, "--no-bias") == 0) {
            o->no_bias = true;
        } else if (strcmp(a, "--gate-first") == 0) {
            o->gate_first = true;
        } else if (strcmp(a, "--same") == 0) {
            o->same = true;
        } else if (strcmp(a, "--log") == 0) {
            o->log = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "dvk: unknown option %s\n", a);
            return TOOL_USAGE;
        } else if (!o->op) {
            o->op = a;
        } else {
            fprintf(stderr, "dvk: unexpected argument %s\n", a);
            return TOOL_USAGE;
        }
    }
    return TOOL_OK;
}

int tool_fail_status(const char *what, dvk_status st)
{
    fprintf(stderr, "dvk: %s: %s: %s\n", what, dvk_status_string(st), dvk_last_error());
    return TOOL_FAIL;
}

int tool_context(const tool_opts *opts, dvk_context **ctx)
{
    const dvk_context_desc desc = {
        .device = opts->device,
        .enable_validation = opts->validate,
        .small_device_profile = opts->small_profile,
    };
    const dvk_status st = dvk_context_create(&desc, ctx);
    if (st != DVK_SUCCESS)
        return tool_fail_status("cannot create a Vulkan context", st);
    return TOOL_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TOOL_USAGE : TOOL_OK;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0) {
        printf("dvk %d.%d.%d\n", DVK_VERSION_MAJOR, DVK_VERSION_MINOR, DVK_VERSION_PATCH);
        return TOOL_OK;
    }
    if (strcmp(cmd, "devices") == 0)
        return cmd_devices(argc, argv);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc, argv);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc, argv);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc, argv);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc, argv);
    if (strcmp(cmd, "ops") == 0) {
        tool_print_ops();
        return TOOL_OK;
    }
    if (strcmp(cmd, "functions") == 0) {
        tool_print_fns();
        return TOOL_OK;
    }
    fprintf(stderr, "dvk: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return TOOL_USAGE;
}

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
            "usage: dvk COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  devices     list the Vulkan devices and their capabilities (--json: as JSON)\n"
            "  run         run an operator or function on the tensors of a safetensors file\n"
            "  bench       median GPU time of an operator or function on random inputs\n"
            "  compare     relative RMS error of one safetensors file's tensors against\n"
            "              another's\n"
            "  ops         list the operators (of run and bench)\n"
            "  functions   list the building blocks of deltavk_nn.h (of run and bench)\n"
            "  generate    generate text with an RWKV-7 model, then prefill and decode speed\n"
            "  eval        the logits of a prompt's last token under an RWKV-7 model\n"
            "  layer       run one layer of a model from its own weights, whole or streamed\n"
            "  help        this list, or a command's usage and options: dvk help COMMAND\n"
            "\n"
            "dvk COMMAND --help (or -h) prints that command's usage and options. Options are\n"
            "written --name value or --name=value. Exit status: 0 success, 1 the work failed,\n"
            "2 the command line was wrong.\n"
            "Environment: DVK_DEVICE=N|NAME picks the device (as --device does); every\n"
            "variable deltavk and dvk read is in docs/configuration.md.\n");
}

void tool_help_op_options(FILE *f)
{
    fprintf(f,
            "options of operators:\n"
            "  --mode recurrent|chunk   algorithm (default: the library's choice)\n"
            "  --dtype f32|f16          storage type of token tensors (default f32)\n"
            "  --device N|NAME          device index or name substring (default: DVK_DEVICE,\n"
            "                           else the best device)\n"
            "  --validate               enable the Khronos validation layer (fails if it\n"
            "                           reports anything)\n"
            "  --small-profile          plan kernels for mobile-class limits\n"
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
            "  --offset N               rope: the position of token 0 (default 0; below 2^30)\n"
            "  --rotary-dim N           rope: features rotated, even (default D, or D - 1)\n"
            "  --delta-rule             infini_attn: the delta rule's memory update\n");
}

void tool_help_run(FILE *f)
{
    fprintf(f,
            "usage: dvk run OP --in IN.safetensors --out OUT.safetensors [options]\n"
            "       dvk run FUNCTION --in IN.safetensors --out OUT.safetensors [options]\n"
            "\n"
            "Runs an operator (dvk ops) on the tensors of a file, named as fla names its\n"
            "arguments, and writes its output o (rope: y), the final state ht and, for\n"
            "linear_attn and infini_attn, the final normaliser z. Or runs a building block\n"
            "(dvk functions) on its PyTorch-named inputs and writes y. Any float dtype in the\n"
            "file.\n"
            "\n");
    tool_help_op_options(f);
    fprintf(f,
            "tensors of the attention operators:\n"
            "  linear_attn   reads q, k [B,T,H,K], v [B,T,H,V], optional done [B,T] (nonzero:\n"
            "                an episode starts at that token), h0 [N,H,K,V], z0 [N,H,K]\n"
            "                (absent: zeros), cu_seqlens; writes o, ht, z\n"
            "  softmax_attn  reads q, k [B,T,H,D], v [B,T,H,DV]; writes o\n"
            "  infini_attn   reads q, k [B,T,H,D], v [B,T,H,DV], gate [H] (logits) and the past\n"
            "                memory h0 [B,H,D,DV], z0 [B,H,D] (absent: the first segment);\n"
            "                writes o and the memory after the segment, ht and z\n"
            "  rope          reads x [B,T,H,D]; writes y\n");
    tool_help_fn_options(f);
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

/* The option's switch in o when `a` is one of the options that take no value, else NULL. */
static bool *flag_of(tool_opts *o, const char *a)
{
    const struct {
        const char *name;
        bool *flag;
    } flags[] = {
        {"--l2norm-qk", &o->l2norm_qk},   {"--gate-in-kernel", &o->gate_in_kernel},
        {"--beta-sigmoid", &o->beta_sigmoid}, {"--no-normalize", &o->no_normalize},
        {"--eps-add", &o->eps_add},       {"--no-rope", &o->no_rope},
        {"--delta-rule", &o->delta_rule}, {"--validate", &o->validate},
        {"--small-profile", &o->small_profile}, {"--no-state", &o->no_state},
        {"--json", &o->json},             {"--stages", &o->stages},
        {"--reference", &o->reference},   {"--accumulate", &o->accumulate},
        {"--no-bias", &o->no_bias},       {"--gate-first", &o->gate_first},
        {"--same", &o->same},             {"--log", &o->log},
    };
    for (size_t n = 0; n < sizeof flags / sizeof flags[0]; ++n)
        if (strcmp(a, flags[n].name) == 0)
            return flags[n].flag;
    return NULL;
}

int tool_parse_opts(int argc, char **argv, int first, tool_opts *o)
{
    for (int i = first; i < argc; ++i) {
        char name[64];
        const char *inline_val = NULL;
        const char *a = tool_arg_split(argv[i], name, sizeof name, &inline_val);
        const char *val = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
        const int taken = inline_val ? 0 : 1; /* arguments after this one that a value uses */
        if (tool_is_help(a))
            return TOOL_HELP;
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
                i += taken;
                matched = true;
            }
        }
        if (matched && strcasecmp(a, "--offset") == 0 &&
            o->rope_offset >= DVK_ROPE_MAX_POSITIONS) {
            /* refused here, not when the operator is recorded after the inputs are made */
            fprintf(stderr, "dvk: --offset %u is past rope's last position (2^30 - 1 = %u: the "
                            "positions offset .. offset + T - 1 must stay below 2^30)\n",
                    o->rope_offset, DVK_ROPE_MAX_POSITIONS - 1);
            return TOOL_USAGE;
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
            i += taken;
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
        } else if (flag_of(o, a)) {
            if (inline_val) {
                fprintf(stderr, "dvk: %s takes no value\n", a);
                return TOOL_USAGE;
            }
            *flag_of(o, a) = true;
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

const char *tool_arg_split(const char *arg, char *buf, size_t len, const char **value)
{
    *value = NULL;
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "--", 2) != 0 || !eq || (size_t)(eq - arg) >= len)
        return arg;
    memcpy(buf, arg, (size_t)(eq - arg));
    buf[eq - arg] = '\0';
    *value = eq + 1;
    return buf;
}

bool tool_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

void tool_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void help_ops(FILE *f)
{
    fprintf(f, "usage: dvk ops\n\nLists the operators of dvk run and dvk bench:\n");
    tool_print_ops(f);
}

static void help_functions(FILE *f)
{
    fprintf(f, "usage: dvk functions\n\nLists the building blocks of deltavk_nn.h that dvk run "
               "and dvk bench take,\nwith the tensors each reads and writes.\n");
}

static void help_help(FILE *f) { fprintf(f, "usage: dvk help [COMMAND]\n"); }

/* dvk ops, dvk functions: lists, with no options but --help. */
static int list_command(int argc, char **argv, void (*help)(FILE *), void (*list)(FILE *))
{
    if (argc == 3 && tool_is_help(argv[2])) {
        help(stdout);
        return TOOL_OK;
    }
    if (argc > 2) {
        fprintf(stderr, "dvk: %s takes no arguments\n", argv[1]);
        help(stderr);
        return TOOL_USAGE;
    }
    list(stdout);
    return TOOL_OK;
}

static int cmd_ops(int argc, char **argv)
{
    return list_command(argc, argv, help_ops, tool_print_ops);
}

static int cmd_functions(int argc, char **argv)
{
    return list_command(argc, argv, help_functions, tool_print_fns);
}

static int cmd_help(int argc, char **argv);

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *f);
} commands[] = {
    {"devices", cmd_devices, tool_help_devices},
    {"run", cmd_run, tool_help_run},
    {"bench", cmd_bench, tool_help_bench},
    {"compare", cmd_compare, tool_help_compare},
    {"ops", cmd_ops, help_ops},
    {"functions", cmd_functions, help_functions},
    {"generate", cmd_generate, tool_help_generate},
    {"eval", cmd_eval, tool_help_eval},
    {"layer", cmd_layer, tool_help_layer},
    {"help", cmd_help, help_help},
};

static int find_command(const char *name)
{
    for (int i = 0; i < (int)(sizeof commands / sizeof commands[0]); ++i)
        if (strcmp(commands[i].name, name) == 0)
            return i;
    return -1;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "dvk: unknown command \"%s\" (dvk help lists the commands)\n", name);
    return TOOL_USAGE;
}

/* dvk help [COMMAND] */
static int cmd_help(int argc, char **argv)
{
    if (argc < 3 || (argc == 3 && tool_is_help(argv[2]))) {
        usage(stdout);
        return TOOL_OK;
    }
    if (argc > 3) {
        help_help(stderr);
        return TOOL_USAGE;
    }
    const int c = find_command(argv[2]);
    if (c < 0)
        return unknown_command(argv[2]);
    commands[c].help(stdout);
    return TOOL_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TOOL_USAGE;
    }
    const char *cmd = argv[1];
    if (tool_is_help(cmd)) {
        usage(stdout);
        return TOOL_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("dvk %d.%d.%d\n", DVK_VERSION_MAJOR, DVK_VERSION_MINOR, DVK_VERSION_PATCH);
        return TOOL_OK;
    }
    const int c = find_command(cmd);
    return c < 0 ? unknown_command(cmd) : commands[c].run(argc, argv);
}

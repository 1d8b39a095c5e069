/* The dvk command-line tool: shared declarations of its subcommands and operator table. */
#ifndef DVK_TOOL_H
#define DVK_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deltavk.h"
#include "deltavk_nn.h"
#include "safetensors.h"

#include <stdio.h>

/* Exit codes: 0 success, 1 the work failed (bad file, device error, results out of
 * tolerance), 2 the command line was wrong. TOOL_HELP is no exit code: a parser saw -h or
 * --help, and the command prints its usage to stdout and exits with TOOL_OK. */
enum { TOOL_OK = 0, TOOL_FAIL = 1, TOOL_USAGE = 2, TOOL_HELP = -1 };

/* "--name=value" is "--name" with the value "value": returns the option's name (copied into
 * buf) and sets *value to what follows the '='. Any other argument is returned as it is, with
 * *value NULL. Every parser of the tool goes through this, so that both spellings work. */
const char *tool_arg_split(const char *arg, char *buf, size_t len, const char **value);
/* Whether arg is -h or --help. */
bool tool_is_help(const char *arg);

/* A JSON string: s quoted, with quotes, backslashes and control characters escaped. */
void tool_json_string(FILE *f, const char *s);

/* Progress of a long run on stderr, shown once the run has lasted a second, whether or not
 * stderr is a terminal (a piped run's log shows it too): on a terminal one line redrawn in
 * place, elsewhere a line every five seconds. */
typedef struct tool_progress {
    char what[96];
    double start, last;
    bool tty, shown;
} tool_progress;
void tool_progress_start(tool_progress *p, const char *what);
/* "<what>: <fmt...>", if it is time to show it. */
void tool_progress_update(tool_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Ends the progress line on a terminal. */
void tool_progress_end(tool_progress *p);
double tool_now_s(void);

/* Options shared by `run` and `bench` (each uses the ones that concern it). */
typedef struct tool_opts {
    const char *op;
    const char *in, *out;
    const char *device;      /* --device: index or name substring */
    dvk_mode mode;           /* --mode recurrent|chunk */
    dvk_dtype dtype;         /* --dtype f32|f16 */
    bool has_scale;          /* --scale S */
    float scale;
    bool l2norm_qk;          /* --l2norm-qk */
    uint32_t chunk_size;     /* --chunk-size 16|32|64 */
    bool gate_in_kernel;     /* kda: --gate-in-kernel (g raw, with A_log and dt_bias) */
    bool beta_sigmoid;       /* kda: --beta-sigmoid (beta holds logits) */
    dvk_readout readout;     /* dplr: --readout value|key */
    dvk_feature_map feature_map; /* linear_attn: --feature-map identity|elu1 */
    bool no_normalize;       /* linear_attn: --no-normalize: o = S^T q' */
    bool eps_add;            /* linear_attn: --eps-add: divide by q'.z + eps (fla's form) */
    float eps;               /* linear_attn, infini_attn: --eps X (0 = the operator's) */
    uint32_t segment;        /* softmax_attn: --segment N (0 = the whole sequence) */
    bool no_rope;            /* infini_attn: --no-rope */
    float rope_theta;        /* infini_attn, rope: --rope-theta X (0 = 10000) */
    uint32_t rope_offset;    /* rope: --offset N, the position of token 0 */
    uint32_t rotary_dim;     /* rope: --rotary-dim N (0 = D, or D - 1 when D is odd) */
    bool delta_rule;         /* infini_attn: --delta-rule: the memory update of the delta rule */
    bool validate;           /* --validate: Khronos validation layer on */
    bool small_profile;      /* --small-profile */
    uint32_t B, T, H, HV, K, V;
    bool no_state;           /* bench: --no-state: no initial or final state */
    bool json;               /* bench: --json */
    bool stages;             /* bench: --stages: time each kernel */
    uint32_t repeat;         /* bench: --repeat N: N calls back to back per timed run */
    bool reference;          /* bench: --reference: also time the C reference */
    uint32_t warmup, iters;  /* bench */
    /* The building blocks (nn.c). */
    uint32_t M, N;           /* bench: --M rows, --N columns / outputs (linear: x [M,K]) */
    uint32_t W;              /* conv1d bench: --W kernel width */
    uint32_t groups;         /* group_norm, conv1d: --groups */
    dvk_act act;             /* glu, gated_residual, conv1d: --act NAME */
    dvk_dtype wdtype;        /* bench: --wdtype, the weights' dtype (default: --dtype) */
    dvk_norm_eps eps_mode;   /* norms: --eps-mode inside|clamp|add */
    float weight_offset;     /* rms_norm: --weight-offset X */
    bool accumulate;         /* linear: --accumulate (y += x W^T + b; run reads y) */
    bool no_bias;            /* bench: --no-bias */
    bool gate_first;         /* glu: --gate-first */
    bool same;               /* conv1d: --same (padding) */
    bool log;                /* softmax: --log (log_softmax) */
    float temperature, top_p; /* sample: --temperature, --top-p */
    uint32_t top_k;          /* sample: --top-k */
    uint64_t seed;           /* sample: --seed */
    uint32_t rotate;         /* bench of functions: --rotate N copies of the inputs, in turn */
} tool_opts;

/* Where an operator's input tensors go; each operator names them in its files (fla's argument
 * names: q, k, v, beta, g for the delta rules and KDA; q, k, v, a, b, gk for dplr; RWKV-7's
 * r, w, k, v, kk, a for rwkv7; q, k, v, done for linear_attn; q, k, v, gate for infini_attn;
 * x for rope, in the slot of q).
 * States are not slots: they are h0 (and z0) in tool_inputs. */
typedef enum tool_slot {
    SLOT_Q, SLOT_K, SLOT_V, SLOT_BETA, SLOT_G, SLOT_A, SLOT_B, SLOT_A_LOG, SLOT_DT_BIAS,
    SLOT_DONE, SLOT_GATE, SLOT_COUNT
} tool_slot;

/* Inputs of an operator, already on the device. */
typedef struct tool_inputs {
    dvk_tensor *t[SLOT_COUNT];
    dvk_tensor *h0;      /* initial state (Infini-attention: the past memory), fp32 */
    dvk_tensor *z0;      /* initial normaliser of linear_attn and infini_attn, fp32 */
    int32_t *cu_seqlens; /* host, num_seqs + 1 entries, or NULL */
    uint32_t num_seqs;
    float scale;         /* 0 = the operator's default */
    dvk_weights *weights; /* the file the tensors above were loaded from (it owns them), or
                             NULL (random inputs, owned here) */
    bool all_finite;      /* every value loaded from the file is finite (tool_load_inputs) */
} tool_inputs;

typedef struct tool_outputs {
    dvk_tensor *o, *ht, *z; /* z: the final normaliser of linear_attn and infini_attn */
} tool_outputs;

/* One input of an operator: its name in files, its slot, and how random inputs of it look. */
typedef enum tool_kind {
    KIND_QUERY,     /* N(0,1), [B,T,H,K] ([B,T,H,V] with the key read-out) */
    KIND_KEY,       /* L2-normalised rows, [B,T,H,K] */
    KIND_VALUE,     /* N(0,1), [B,T,HV,V] */
    KIND_BETA,      /* sigmoid of N(0,1) (N(0,1) logits with --beta-sigmoid), [B,T,HV] */
    KIND_GATE_HEAD, /* logsigmoid of N(0,1), [B,T,HV] */
    KIND_GATE_CH,   /* logsigmoid of N(2,1) (N(0,1) raw with --gate-in-kernel), [B,T,HV,K] */
    KIND_GATE_RWKV, /* RWKV-7's -exp(-0.5) sigmoid(N(0,1)), [B,T,H,K] */
    KIND_DPLR_A,    /* -kappa, kappa an L2-normalised key, [B,T,H,K] */
    KIND_DPLR_B,    /* kappa * alpha, alpha uniform in (0,1) (the same kappa), [B,T,H,K] */
    KIND_KAPPA,     /* L2-normalised rows, [B,T,H,K] */
    KIND_ALPHA,     /* uniform in (0,1), [B,T,H,K] */
    KIND_A_LOG,     /* N(0,0.5^2), [HV], fp32 */
    KIND_DT_BIAS,   /* N(0,1), [HV*K], fp32 */
    KIND_FEATURE,   /* linear_attn's q and k: N(0,1), or elu(N(0,1)) + 1 when the feature map
                       is the identity (features the caller mapped), [B,T,H,K] */
    KIND_NORMAL,    /* N(0,1), [B,T,H,K] (softmax_attn's and infini_attn's q and k) */
    KIND_DONE,      /* episode starts, [B,T] (an optional input: bench leaves it out) */
    KIND_HEAD_GATE, /* N(0,1) logits, [H], fp32 (infini_attn's gate) */
    KIND_STATE,     /* N(0,0.1^2), the initial state h0 [B,HV,K,V], fp32 */
    KIND_NORMALISER, /* uniform in (1,2), the initial normaliser z0 [B,HV,K], fp32 */
} tool_kind;

/* When an operator takes an input (tool_input.flags). */
enum {
    IN_GATE_IN_KERNEL = 1, /* only with --gate-in-kernel */
    IN_OPTIONAL = 2,       /* files may leave it out; bench's random inputs do */
};

typedef struct tool_input {
    const char *name;
    tool_slot slot;
    tool_kind kind;
    unsigned flags; /* IN_* */
} tool_input;

/* The recurrent state an operator carries from call to call. */
typedef enum tool_state {
    STATE_NONE,   /* none (softmax_attn) */
    STATE_S,      /* h0 / ht [N,HV,K,V] */
    STATE_S_Z,    /* h0 / ht [N,H,K,V] and the normaliser z0 / z [N,H,K] */
} tool_state;

typedef struct tool_op {
    const char *name;
    const char *summary;
    const tool_input *inputs;   /* terminated by an entry with a NULL name */
    tool_state state;
    bool varlen;                /* takes cu_seqlens */
    /* Creates the output tensors for these inputs. */
    dvk_status (*make_outputs)(dvk_context *ctx, const tool_inputs *in, const tool_opts *opts,
                               bool with_state, tool_outputs *out);
    /* Records the operator. */
    dvk_status (*record)(dvk_cmd *cmd, const tool_inputs *in, const tool_outputs *out,
                         const tool_opts *opts);
    /* Work of one call: floating-point operations, and the fewest bytes it must move (each
     * input read once, each output written once). */
    void (*cost)(const tool_inputs *in, const tool_outputs *out, const tool_opts *opts,
                 double *flops, double *bytes);
    /* Runs the plain-C reference (deltavk_reference.h) on the same inputs once and returns its
     * wall time in milliseconds, or a negative value if it could not run. */
    double (*reference_ms)(const tool_inputs *in, const tool_opts *opts);
    /* Writes the operator's own options for bench's report (", segment 2048"; with json
     * `, "segment": 2048`), or NULL when it has none to report. */
    void (*describe)(const tool_opts *opts, bool json, char *buf, size_t len);
    /* The name of the output in run's file: NULL = "o" (rope writes "y"). */
    const char *out_name;
} tool_op;

const tool_op *tool_find_op(const char *name);
/* tool_find_op, or NULL after printing "unknown operator" and the list. */
const tool_op *tool_find_op_or_explain(const char *name);
void tool_print_ops(FILE *f);

/* Random inputs of the operator's shape (opts B, T, H, HV, K, V, dtype), realistic values
 * (L2-normalised keys, beta in (0,1), log-sigmoid gates), uploaded. */
int tool_random_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *opts,
                       bool with_state, tool_inputs *in);
/* Loads the operator's inputs from the safetensors file opts->in through dvk_weights (token
 * tensors converted to opts->dtype, states and gate parameters to fp32; cu_seqlens and scale
 * read on the host). Returns TOOL_OK or TOOL_FAIL with a message printed. */
int tool_load_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *opts,
                     tool_inputs *in);
void tool_free_inputs(tool_inputs *in);
void tool_free_outputs(tool_outputs *out);

/* Creates a context for the tool (device, validation, profile). Prints the error itself. */
int tool_context(const tool_opts *opts, dvk_context **ctx);
/* Prints "dvk: <what>: <status>: <detail>" and returns TOOL_FAIL. */
int tool_fail_status(const char *what, dvk_status st);

/* Downloads a tensor and adds it to the writer of an output file (fp16 stays fp16, fp32 stays
 * fp32): how `dvk run` and `dvk layer` write what they computed. Returns TOOL_OK or TOOL_FAIL
 * (printed). The file is written by dvk_st_writer_save, which removes a partly written one. */
int tool_add_output(dvk_st_writer *w, const char *name, const dvk_tensor *t);
/* tool_add_output, and with `check`, first tool_check_output_values (an inf or a NaN in the
 * output is TOOL_FAIL, printed): for outputs of inputs that were all finite. */
int tool_add_checked_output(dvk_st_writer *w, const char *name, const dvk_tensor *t, bool check);

/* Parses run/bench options from argv[first..argc). Returns TOOL_OK, TOOL_USAGE (printed) or
 * TOOL_HELP. */
int tool_parse_opts(int argc, char **argv, int first, tool_opts *opts);

/* ---- help: each command's usage and options (dvk help COMMAND, dvk COMMAND --help) ------- */

/* The options run and bench share, and those of the attention operators (main.c). */
void tool_help_op_options(FILE *f);
/* The options of the building blocks (nn.c). */
void tool_help_fn_options(FILE *f);
void tool_help_devices(FILE *f);
void tool_help_run(FILE *f);
void tool_help_bench(FILE *f);
void tool_help_compare(FILE *f);
void tool_help_generate(FILE *f);
void tool_help_eval(FILE *f);
void tool_help_layer(FILE *f);

/* ---- timing (cmd_bench.c) ---------------------------------------------------------------- */

#define TOOL_MAX_STAGES 64 /* kernels --stages tells apart (a layer runs dozens) */
typedef struct tool_timing {
    double median, min, max; /* ms per call */
    double *times;           /* opts->iters sorted times */
    uint32_t stage_count;    /* with --stages: per-kernel medians per call */
    const char *stage_name[TOOL_MAX_STAGES];
    double *stage_ms[TOOL_MAX_STAGES];
    double stage_median[TOOL_MAX_STAGES];
} tool_timing;

/* Records the work of one call into cmd. */
typedef dvk_status (*tool_record_fn)(dvk_cmd *cmd, void *user);
/* Times `record` as dvk bench does (warm-up runs, back-to-back batches of opts->repeat calls,
 * --repeat 0: enough for 20 ms, which is written back to opts->repeat; the median of
 * opts->iters runs of GPU timestamps; --stages per kernel). Prints failures itself. */
int tool_time(dvk_context *ctx, tool_opts *opts, const char *name, tool_record_fn record,
              void *user, tool_timing *out);
void tool_timing_free(tool_timing *t);
/* --stages: each kernel's median; with json `, "stages": [{"kernel": ..., "median_ms": ...},
 * ...]`, a member of bench's one object. */
void tool_print_stages(const tool_timing *t, bool json);
/* Runs the C reference (`run` returns its time in ms, or < 0 if it could not run) with a line
 * of progress on stderr first, and prints its time beside the device's median; with json as a
 * member of bench's one object, `, "reference_ms": T` (null when it could not run). */
void tool_print_reference(const char *name, double (*run)(void *user), void *user,
                          double median_ms, bool json);

/* ---- the building blocks of deltavk_nn.h (nn.c) --------------------------------------------- */

typedef struct tool_fn tool_fn;
/* The function called `name` ("linear", "gelu", ...), or NULL. */
const tool_fn *tool_find_fn(const char *name);
void tool_print_fns(FILE *f);
/* dvk run FUNCTION / dvk bench FUNCTION. */
int tool_run_fn(const tool_fn *fn, tool_opts *opts);
int tool_bench_fn(const tool_fn *fn, tool_opts *opts);

int cmd_devices(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
/* cmd_generate.c: RWKV-7 models (deltavk_models.h) */
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
/* cmd_layer.c: one layer of a model from its own weights (layers/) */
int cmd_layer(int argc, char **argv);

#endif

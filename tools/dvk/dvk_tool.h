/* The dvk command-line tool: shared declarations of its subcommands and operator table. */
#ifndef DVK_TOOL_H
#define DVK_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "deltavk.h"
#include "safetensors.h"

/* Exit codes: 0 success, 1 the work failed (bad file, device error, results out of
 * tolerance), 2 the command line was wrong. */
enum { TOOL_OK = 0, TOOL_FAIL = 1, TOOL_USAGE = 2 };

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
    bool validate;           /* --validate: Khronos validation layer on */
    bool small_profile;      /* --small-profile */
    uint32_t B, T, H, HV, K, V;
    bool no_state;           /* bench: --no-state: no initial or final state */
    bool json;               /* bench: --json */
    bool stages;             /* bench: --stages: time each kernel */
    uint32_t repeat;         /* bench: --repeat N: N calls back to back per timed run */
    bool reference;          /* bench: --reference: also time the C reference */
    uint32_t warmup, iters;  /* bench */
} tool_opts;

/* Inputs of an operator, by fla's argument names, already on the device. */
typedef struct tool_inputs {
    dvk_tensor *q, *k, *v, *beta, *g, *h0;
    int32_t *cu_seqlens; /* host, num_seqs + 1 entries, or NULL */
    uint32_t num_seqs;
    float scale;         /* 0 = the operator's default */
} tool_inputs;

typedef struct tool_outputs {
    dvk_tensor *o, *ht;
} tool_outputs;

typedef struct tool_op {
    const char *name;
    const char *summary;
    const char *const *inputs;  /* required input names, NULL-terminated */
    /* Creates the output tensors for these inputs. */
    dvk_status (*make_outputs)(dvk_context *ctx, const tool_inputs *in, bool with_state,
                               tool_outputs *out);
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
} tool_op;

const tool_op *tool_find_op(const char *name);
/* tool_find_op, or NULL after printing "unknown operator" and the list. */
const tool_op *tool_find_op_or_explain(const char *name);
void tool_print_ops(void);

/* Random inputs of the operator's shape (opts B, T, H, HV, K, V, dtype), realistic values
 * (L2-normalised keys, beta in (0,1), log-sigmoid gates), uploaded. */
int tool_random_inputs(dvk_context *ctx, const tool_op *op, const tool_opts *opts,
                       bool with_state, tool_inputs *in);
/* Loads the operator's inputs from a safetensors file (token tensors converted to
 * opts->dtype, states to fp32). Returns TOOL_OK or TOOL_FAIL with a message printed. */
int tool_load_inputs(dvk_context *ctx, const tool_op *op, const dvk_st_file *file,
                     const tool_opts *opts, tool_inputs *in);
void tool_free_inputs(tool_inputs *in);
void tool_free_outputs(tool_outputs *out);

/* Creates a context for the tool (device, validation, profile). Prints the error itself. */
int tool_context(const tool_opts *opts, dvk_context **ctx);
/* Prints "dvk: <what>: <status>: <detail>" and returns TOOL_FAIL. */
int tool_fail_status(const char *what, dvk_status st);

/* Parses run/bench options from argv[first..argc). Returns TOOL_OK or TOOL_USAGE (printed). */
int tool_parse_opts(int argc, char **argv, int first, tool_opts *opts);

int cmd_devices(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif

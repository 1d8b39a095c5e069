/* The layers of `dvk layer NAME` (cmd_layer.c): what a layer's entry in the table (layers.c)
 * holds, and the helpers its file uses to read inputs and write outputs. How to add a layer is
 * at the top of layers.c. */
#ifndef DVK_TOOL_LAYERS_H
#define DVK_TOOL_LAYERS_H

#include "../dvk_tool.h"
#include "../tensors.h"

/* One tensor of the --in file (an input) or of the --out file (an output or final state). */
typedef struct tool_layer_tensor {
    const char *name;  /* in the file, as the original forward() names the argument */
    const char *shape; /* symbolic, as help and error messages show it: "[B,T,D]" */
    const char *what;  /* one line for dvk layer --help */
    unsigned flags;    /* TOOL_LAYER_OPTIONAL */
} tool_layer_tensor;

enum {
    TOOL_LAYER_OPTIONAL = 1, /* an input the file may leave out (initial states: zeros) */
};

/* One option of the layer's own (beside --weights, --in, --out, --stream, --dtype, --device,
 * --validate, --small-profile, which every layer takes): a switch, or an option with a value
 * the layer parses (its file says what it accepts). */
typedef struct tool_layer_option {
    const char *name; /* "--delta-rule" */
    const char *arg;  /* the value's placeholder in help ("K"), or NULL for a switch */
    const char *help; /* one line (or more, joined by "\n" and indented by help) */
} tool_layer_option;

#define TOOL_LAYER_MAX_OPTIONS 16 /* options a layer may have */

/* The command line as the layer's functions see it. */
typedef struct tool_layer_args {
    const char *weights, *in, *out; /* paths */
    uint32_t stream;                /* --stream N: tokens per call (0: the whole sequence) */
    dvk_dtype dtype;                /* --dtype: the weights' storage (DEFAULT: f32) */
    /* The layer's options, by their index in its `options`: the value given, "" for a
     * switch that was given, NULL for an option not given. */
    const char *values[TOOL_LAYER_MAX_OPTIONS];
    dvk_context *ctx;
    dvk_weights *inputs; /* the --in file, host only (read with tool_layer_read) */
    /* --bench: how to time the layer (warmup, iters, repeat, stages, json), or NULL. */
    tool_opts *bench;
    const struct tool_layer *layer;
} tool_layer_args;

typedef struct tool_layer {
    const char *name;    /* dvk layer NAME */
    const char *summary; /* one line of at most 55 characters: what it is, whose module */
    /* What --weights holds (whose state_dict, which names): lines of at most 74 characters,
     * "\n" between them. */
    const char *weights;
    const tool_layer_tensor *inputs;  /* read from --in; ends with a NULL name */
    const tool_layer_tensor *outputs; /* written to --out, output first; ends with a NULL name */
    const tool_layer_option *options; /* its own options; ends with a NULL name (or NULL) */
    const char *stream_unit;          /* what --stream N counts: NULL = "tokens" */
    /* Loads the layer from args->weights (in args->dtype) into *layer. Returns TOOL_OK, or
     * TOOL_USAGE for a bad option value / TOOL_FAIL for a bad file, with a message printed
     * that names the option or the tensor. */
    int (*load)(const tool_layer_args *args, void **layer);
    /* Reads the inputs (tool_layer_read), runs the layer over them, the whole sequence in
     * one call or args->stream tokens per call with the state carried, and adds every output
     * to `out` (tool_layer_write, tool_add_output). Returns TOOL_OK or TOOL_FAIL (printed). */
    int (*run)(void *layer, const tool_layer_args *args, dvk_st_writer *out);
    void (*destroy)(void *layer); /* NULL is a no-op */
} tool_layer;

/* ---- the table (layers.c) ----------------------------------------------------------------- */

const tool_layer *tool_find_layer(const char *name);
/* Every layer with its inputs, outputs and options (dvk layer --help); one layer when
 * `only` is not NULL. */
void tool_print_layers(FILE *f, const tool_layer *only);
/* The names alone, on one line each, indented. */
void tool_print_layer_names(FILE *f);

/* ---- helpers for the layers' files (cmd_layer.c) ------------------------------------------ */

/* The value of the layer's option `name` (NULL when not given; "" for a switch given). */
const char *tool_layer_option_value(const tool_layer_args *args, const char *name);
/* The option `name` as an integer >= 1 into *out (left as it is when the option was not
 * given). TOOL_OK, or TOOL_USAGE with a message naming the option. */
int tool_layer_option_u32(const tool_layer_args *args, const char *name, uint32_t *out);
/* The same for a finite number > 0. */
int tool_layer_option_positive(const tool_layer_args *args, const char *name, float *out);

/* Reads the input `name` of --in as fp32 on the host (malloc'd into *out; free it). Its shape
 * must have `ndim` dimensions equal to `shape`, where a 0 matches any size and is filled in
 * with the file's. A missing input is *out = NULL and TOOL_OK when the layer's table lists it
 * as optional; a missing required input, a wrong shape or an empty tensor is TOOL_FAIL with a
 * message naming the tensor, the file and (from the table) the shape expected. */
int tool_layer_read(const tool_layer_args *args, const char *name, uint32_t ndim,
                    uint64_t *shape, float **out);
/* Adds host floats to the output file as F32. When every value of --in and --weights is finite
 * (tool_layer_inputs_finite), an inf or a NaN among them is an overflow where the device
 * computed: TOOL_FAIL, naming the output and the first such value, and nothing is written. */
int tool_layer_write(dvk_st_writer *w, const char *name, uint32_t ndim, const uint64_t *shape,
                     const float *data);
/* Whether every value of --in and --weights is finite (device outputs are then checked too:
 * tool_add_checked_output). */
bool tool_layer_inputs_finite(void);

/* --bench (args->bench set; a no-op returning TOOL_OK otherwise): times `record`, the layer's
 * forward over the whole sequence of --in already on the device (x in, y out, the state read
 * and written in place), as dvk bench times an operator, and prints the median. A layer's run
 * calls it last, after its outputs are written: the timed runs carry the state on from the
 * real one, so they do the same work on live numbers. TOOL_OK or TOOL_FAIL (printed). */
int tool_layer_bench(const tool_layer_args *args, tool_record_fn record, void *user);

/* Rows [t0, t0 + n) of every batch row of a [B, T, row] array, to and from a [B, n, row] one:
 * the piece of a sequence one streamed call takes, and its output put back in place. */
void tool_layer_take(const float *whole, uint64_t B, uint64_t T, uint64_t row, uint64_t t0,
                     uint64_t n, float *piece);
void tool_layer_put(const float *piece, uint64_t B, uint64_t T, uint64_t row, uint64_t t0,
                    uint64_t n, float *whole);

#endif

/* The table of `dvk layer NAME`: every layer the command runs, and its help.
 *
 * HOW TO ADD A LAYER
 * ==================
 * 1. Write tools/dvk/layers/<name>.c (qwen3_next_gdn.c is the example to copy). It includes
 *    "layers.h" and defines `const tool_layer layer_<name>` with:
 *      name, summary, weights   the command's name and two lines of help;
 *      inputs                   the tensors it reads from --in, under the original
 *                               forward()'s argument names (x, tokens, done, ...); initial
 *                               states marked TOOL_LAYER_OPTIONAL;
 *      outputs                  what it writes to --out: y (logits for a language model)
 *                               first, then the final states, under the names the docs list;
 *      options                  its own flags (--delta-rule) and valued options (--head-k-dim
 *                               K), parsed by the command and read back with
 *                               tool_layer_option_value / _u32 / _positive;
 *      stream_unit              what --stream N counts, when it is not tokens ("segment");
 *      load, run, destroy       load from args->weights in args->dtype; read the inputs with
 *                               tool_layer_read (it checks shapes and names the tensor in
 *                               errors), run the whole sequence, or args->stream tokens per
 *                               call carrying the state (tool_layer_take / _put cut and
 *                               paste [B,T,...] arrays), and add the outputs to the writer
 *                               (tool_layer_write for host floats, tool_add_checked_output
 *                               for device tensors). Print what went wrong and return TOOL_FAIL (bad
 *                               file) or TOOL_USAGE (bad option value).
 * 2. Add one line `X(<name>)` to TOOL_LAYERS below. The build picks up every .c file in this
 *    folder (CMakeLists.txt globs it), and dvk layer --help lists the new entry from the
 *    table: nothing else changes.
 * 3. Add a test to tests/tools/test_cli.c that runs it on its fixture, whole and with
 *    --stream, and compares y and the states (≤ 1e-5 relative RMS in fp32); list its tensors
 *    in the README's `dvk layer` section.
 */
#include "layers.h"

#include <string.h>

/* One line per layer, in the order help lists them. */
#define TOOL_LAYERS(X)                                                                           \
    X(memodo) X(deltanet) X(kda_attention) X(infini_attention) X(infini_transformer)              \
    X(linear_attention_cell) X(qwen3_next_gdn)

#define DECLARE_LAYER(name) extern const tool_layer layer_##name;
TOOL_LAYERS(DECLARE_LAYER)
#undef DECLARE_LAYER

#define LAYER_ENTRY(name) &layer_##name,
static const tool_layer *const layers[] = {TOOL_LAYERS(LAYER_ENTRY)};
#undef LAYER_ENTRY

enum { N_LAYERS = sizeof layers / sizeof layers[0] };

const tool_layer *tool_find_layer(const char *name)
{
    for (size_t i = 0; name && i < N_LAYERS; ++i)
        if (strcmp(layers[i]->name, name) == 0)
            return layers[i];
    return NULL;
}

void tool_print_layer_names(FILE *f)
{
    for (size_t i = 0; i < N_LAYERS; ++i)
        fprintf(f, "  %-22s %s\n", layers[i]->name, layers[i]->summary);
}

/* Help's columns: a tensor or option ("x [B,T,D]") at 6, its description at 36 (on the next
 * line when the name is too long), so that descriptions written in lines of at most 44
 * characters ("\n" between them) stay within 80 columns. */
enum { HEAD_COL = 6, TEXT_COL = 36 };

/* `text` with every line after the first indented to `indent` columns. */
static void print_indented(FILE *f, const char *text, int indent)
{
    for (const char *p = text; *p; ++p) {
        fputc(*p, f);
        if (*p == '\n' && p[1])
            fprintf(f, "%*s", indent, "");
    }
}

static void print_item(FILE *f, const char *head, const char *text)
{
    const int width = TEXT_COL - HEAD_COL - 1;
    if ((int)strlen(head) > width)
        fprintf(f, "%*s%s\n%*s", HEAD_COL, "", head, TEXT_COL, "");
    else
        fprintf(f, "%*s%-*s ", HEAD_COL, "", width, head);
    print_indented(f, text, TEXT_COL);
    fputc('\n', f);
}

static void print_tensors(FILE *f, const tool_layer_tensor *t)
{
    for (size_t i = 0; t[i].name; ++i) {
        char head[128];
        snprintf(head, sizeof head, "%s %s%s", t[i].name, t[i].shape,
                 t[i].flags & TOOL_LAYER_OPTIONAL ? " (optional)" : "");
        print_item(f, head, t[i].what);
    }
}

static void print_layer(FILE *f, const tool_layer *l)
{
    fprintf(f, "  %s: %s\n    weights: ", l->name, l->summary);
    print_indented(f, l->weights, HEAD_COL);
    fprintf(f, "\n    reads (--in):\n");
    print_tensors(f, l->inputs);
    fprintf(f, "    writes (--out):\n");
    print_tensors(f, l->outputs);
    if (l->options && l->options[0].name)
        fprintf(f, "    options:\n");
    for (size_t i = 0; l->options && l->options[i].name; ++i) {
        char head[128];
        snprintf(head, sizeof head, "%s%s%s", l->options[i].name, l->options[i].arg ? " " : "",
                 l->options[i].arg ? l->options[i].arg : "");
        print_item(f, head, l->options[i].help);
    }
    fprintf(f, "    --stream N feeds it N %s per call.\n",
            l->stream_unit ? l->stream_unit : "tokens");
}

void tool_print_layers(FILE *f, const tool_layer *only)
{
    for (size_t i = 0; i < N_LAYERS; ++i)
        if (!only || layers[i] == only)
            print_layer(f, layers[i]);
}

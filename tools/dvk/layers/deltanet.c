/* dvk layer deltanet: the DeltaNet seed's DeltaNet, TransformerBlock or TransformerDeltaNet
 * (dvk_deltanet_*, deltavk_models.h) from its state_dict, over x [B,T,d] from zero states;
 * writes y and each DeltaNet module's final S.
 *
 * The seed's same-padded conv looks one token ahead, so the layer always runs with a state:
 * the tokens go in calls (one call over the whole sequence without --stream, N tokens each
 * with it), the outputs come `lookahead` tokens late, and a last call (the flush) returns the
 * last `lookahead` of them; the outputs are put back in token order. Every output equals the
 * library's stateless whole-sequence call's (the same arithmetic), and the state holds the
 * final S of each module, which the stateless call does not keep. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,d]", "the module's input, fp32 (16-bit read as\nfp32); zero initial states", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,d]", "the module's output", 0},
    {"layers.<i>.recurrent_state", "[B,1,d,d]",
     "the final S of DeltaNet module i, key-major\n"
     "(i < L for TransformerDeltaNet, else 0):\n"
     "the names of dvk_deltanet_state_save's\n"
     "files",
     0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--kind", "K",
     "layer (DeltaNet), block (TransformerBlock)\n"
     "or model (TransformerDeltaNet); default:\n"
     "told by the parameters' names"},
    {"--prefix", "P",
     "the parameters' names start with P: one\n"
     "module out of a larger file (\"layers.0.\")"},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    dvk_deltanet_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
    };
    const char *kind = tool_layer_option_value(a, "--kind");
    if (kind) {
        static const char *const kinds[] = {"layer", "block", "model"};
        static const dvk_deltanet_kind values[] = {DVK_DELTANET_LAYER, DVK_DELTANET_BLOCK,
                                                   DVK_DELTANET_MODEL};
        for (size_t i = 0; i < 3 && !desc.kind; ++i)
            if (strcmp(kind, kinds[i]) == 0)
                desc.kind = values[i];
        if (!desc.kind) {
            fprintf(stderr, "dvk: --kind needs layer, block or model, got \"%s\"\n", kind);
            return TOOL_USAGE;
        }
    }
    dvk_deltanet *layer = NULL;
    const dvk_status st = dvk_deltanet_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS)
        return tool_fail_status("deltanet: --weights", st);
    if (dvk_deltanet_layer_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_deltanet_destroy(layer); }

/* One streamed call: x's piece in (NULL for the flush), y's piece out. */
static dvk_status step(dvk_cmd *cmd, const dvk_deltanet *layer, dvk_deltanet_state *state,
                       dvk_tensor *xt, dvk_tensor *yt, const float *xp, float *yp)
{
    dvk_status st = xt ? dvk_tensor_upload(xt, xp, dvk_tensor_bytes(xt)) : DVK_SUCCESS;
    if (st == DVK_SUCCESS)
        st = dvk_cmd_reset(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_deltanet_forward(cmd, layer,
                                  &(dvk_deltanet_forward_desc){
                                      .x = xt, .y = yt, .state = state, .flush = !xt});
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(yt, yp, dvk_tensor_bytes(yt));
    return st;
}

/* A call's outputs [B, n, row] are those of tokens first .. first + n − 1: those in [0, T)
 * go to their place in y [B, T, row] (those before token 0 are the delay's zeros). */
static void put_late(const float *piece, uint64_t B, uint64_t n, uint64_t T, uint64_t row,
                     int64_t first, float *y)
{
    for (uint64_t b = 0; b < B; ++b)
        for (uint64_t i = 0; i < n; ++i) {
            const int64_t t = first + (int64_t)i;
            if (t >= 0 && (uint64_t)t < T)
                memcpy(y + (b * T + (uint64_t)t) * row, piece + (b * n + i) * row,
                       (size_t)row * sizeof *y);
        }
}

/* (Re)creates the pair of [B, n, D] tensors a call takes (no x for the flush). */
static dvk_status make_pair(dvk_context *ctx, uint64_t B, uint64_t n, uint64_t D, bool with_x,
                            dvk_tensor **xt, dvk_tensor **yt)
{
    dvk_tensor_destroy(*xt), dvk_tensor_destroy(*yt);
    *xt = *yt = NULL;
    const uint64_t shape[3] = {B, n, D};
    dvk_status st = with_x ? tool_tensor_from(ctx, DVK_DTYPE_F32, 3, shape, NULL, xt)
                           : DVK_SUCCESS;
    if (st == DVK_SUCCESS)
        st = tool_tensor_from(ctx, DVK_DTYPE_F32, 3, shape, NULL, yt);
    return st;
}

/* --bench times the library's whole-sequence form (no state: T tokens in, T out, what the
 * seed's forward computes); the streamed calls above give the same outputs. */
typedef struct fwd {
    const dvk_deltanet *layer;
    dvk_tensor *x, *y;
} fwd;

static dvk_status record_whole(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_deltanet_forward(cmd, f->layer, &(dvk_deltanet_forward_desc){.x = f->x, .y = f->y});
}

static int bench_whole(const tool_layer_args *a, const dvk_deltanet *layer, const float *x,
                       uint64_t B, uint64_t T, uint64_t D)
{
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = make_pair(a->ctx, B, T, D, true, &xt, &yt);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(xt, x, dvk_tensor_bytes(xt));
    const int rc = st == DVK_SUCCESS ? tool_layer_bench(a, record_whole, &(fwd){layer, xt, yt})
                                     : tool_fail_status("deltanet: --bench", st);
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    return rc;
}

static int run(void *handle, const tool_layer_args *a, dvk_st_writer *out)
{
    const dvk_deltanet *layer = handle;
    const dvk_deltanet_info *info = dvk_deltanet_layer_info(layer);
    const uint64_t D = info->d_model, A = info->lookahead;
    uint64_t xs[3] = {0, 0, D};
    float *x = NULL, *y = NULL, *xp = NULL, *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: deltanet: x has %llu rows, too many\n", (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_deltanet_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_deltanet_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("deltanet", st);
    }

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = calloc((size_t)(B * T * D), sizeof *y);
        xp = malloc((size_t)(B * n * D) * sizeof *xp);
        yp = malloc((size_t)(B * (n > A ? n : A) * D) * sizeof *yp);
        if (!y || !xp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "deltanet");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last piece may be shorter */
        if (!xt || dvk_tensor_dim(xt, 1) != len)
            st = make_pair(a->ctx, B, len, D, true, &xt, &yt);
        tool_layer_take(x, B, T, D, t0, len, xp);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, xt, yt, xp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("deltanet", st);
        else
            put_late(yp, B, len, T, D, (int64_t)t0 - (int64_t)A, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    if (rc == TOOL_OK) { /* the flush: the last A outputs */
        st = make_pair(a->ctx, B, A, D, false, &xt, &yt);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, NULL, yt, NULL, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("deltanet: the flush", st);
        else
            put_late(yp, B, A, T, D, (int64_t)T - (int64_t)A, y);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, D}, y);
    for (uint32_t i = 0; rc == TOOL_OK && i < info->num_layers; ++i) {
        char name[64];
        snprintf(name, sizeof name, "layers.%u.recurrent_state", i);
        rc = tool_add_checked_output(out, name,
                                     dvk_deltanet_state_tensor(state, i, DVK_DELTANET_RECURRENT),
                                     tool_layer_inputs_finite());
    }
    if (rc == TOOL_OK && a->bench)
        rc = bench_whole(a, layer, x, B, T, D);
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_deltanet_state_destroy(state);
    free(x), free(y), free(xp), free(yp);
    return rc;
}

const tool_layer layer_deltanet = {
    .name = "deltanet",
    .summary = "the DeltaNet seed's DeltaNet, block or stack",
    .weights = "the module's state_dict: {q,k,v}_linear, {q,k,v}_conv, beta_linear,\n"
               "rms_norm.scale, output_linear (DeltaNet); deltanet.<those>,\n"
               "norm1/norm2.scale, ffn.0, ffn.2 (TransformerBlock); layers.<i>.<those>,\n"
               "final_rms_norm.scale (TransformerDeltaNet); d, F, L from the shapes",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .load = load,
    .run = run,
    .destroy = destroy,
};

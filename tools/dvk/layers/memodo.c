/* dvk layer memodo: PyPI memodo 1.0.0's MemodoLayer (dvk_memodo_*, deltavk_models.h) from its
 * state_dict, in the package's wiring or (--readme) the README's, over x [B,T,C] from the
 * learned initial states or given ones; writes y and the final states, both in the package's
 * layouts (state.0 .. state.L, as its forward's `state` list). */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,C]", "the layer's input, batch-major (the\npackage's default time_dim=-2)", 0},
    {"state.0", "[B,C]", "the token shift's carried token (default:\ntoken_lerp.initial)",
     TOOL_LAYER_OPTIONAL},
    {"state.<j>", "[B,F_j,F_j]",
     "head j-1's M, j = 1 .. L, as the package's\n"
     "state list holds it (default: its initial)",
     TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,C]", "the layer's output ([T,B,C] with\n--time-major-y)", 0},
    {"state.0", "[B,C]", "the final carried token (as the input)", 0},
    {"state.<j>", "[B,F_j,F_j]", "each head's final M (as the input)", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--readme", NULL,
     "the README's wiring (every head reads the\n"
     "shifted x; the gate on LN(x)) instead of\n"
     "the package's forward"},
    {"--time-major-y", NULL, "y as the package returns it, [T,B,C]"},
    {"--no-residual", NULL, "the package's use_residual=False"},
    {"--prefix", "P",
     "the parameters' names start with P: one\n"
     "layer out of a model's file"},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    const dvk_memodo_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
    };
    dvk_memodo_layer *layer = NULL;
    const dvk_status st = dvk_memodo_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS)
        return tool_fail_status("memodo: --weights", st);
    if (dvk_memodo_layer_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_memodo_destroy(layer); }

/* State i's shape in the package's layout: [B, C], or [B, F, F] for head i − 1. */
static uint32_t state_shape(const dvk_memodo_info *info, uint64_t B, uint32_t i, uint64_t *shape)
{
    shape[0] = B;
    if (i == 0) {
        shape[1] = info->num_channels;
        return 2;
    }
    shape[1] = shape[2] = info->attn_feats[i - 1];
    return 3;
}

static uint64_t numel(uint32_t ndim, const uint64_t *shape)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; ++d)
        n *= shape[d];
    return n;
}

/* The initial states the --in file gives, uploaded (the others stay the learned ones). */
static int upload_states(const tool_layer_args *a, const dvk_memodo_info *info, uint64_t B,
                         dvk_memodo_state *state)
{
    for (uint32_t i = 0; i <= info->num_heads; ++i) {
        char name[32];
        snprintf(name, sizeof name, "state.%u", i);
        dvk_weights_entry e;
        if (dvk_weights_find(a->inputs, name, &e) != DVK_SUCCESS)
            continue;
        uint64_t shape[3];
        const uint32_t ndim = state_shape(info, B, i, shape);
        float *data = NULL;
        int rc = tool_layer_read(a, name, ndim, shape, &data);
        if (rc == TOOL_OK) {
            const dvk_status st =
                dvk_memodo_state_upload(state, i, data, (size_t)numel(ndim, shape));
            if (st != DVK_SUCCESS)
                rc = tool_fail_status(name, st);
        }
        free(data);
        if (rc != TOOL_OK)
            return rc;
    }
    return TOOL_OK;
}

static int write_states(dvk_st_writer *out, const dvk_memodo_info *info, uint64_t B,
                        const dvk_memodo_state *state)
{
    for (uint32_t i = 0; i <= info->num_heads; ++i) {
        char name[32];
        snprintf(name, sizeof name, "state.%u", i);
        uint64_t shape[3];
        const uint32_t ndim = state_shape(info, B, i, shape);
        const size_t n = (size_t)numel(ndim, shape);
        float *data = malloc(n * sizeof *data);
        if (!data) {
            fprintf(stderr, "dvk: out of host memory for %s\n", name);
            return TOOL_FAIL;
        }
        const dvk_status st = dvk_memodo_state_download(state, i, data, n);
        const int rc = st == DVK_SUCCESS ? tool_layer_write(out, name, ndim, shape, data)
                                         : tool_fail_status(name, st);
        free(data);
        if (rc != TOOL_OK)
            return rc;
    }
    return TOOL_OK;
}

/* One forward: what a call records, and what --bench times. */
typedef struct fwd {
    const dvk_memodo_layer *layer;
    dvk_memodo_forward_desc desc; /* x, y and state set */
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_memodo_forward(cmd, f->layer, &f->desc);
}

/* One call over `n` tokens of every row, from t0 on: x's piece in, y's piece out. */
static dvk_status step(dvk_cmd *cmd, const dvk_memodo_layer *layer, dvk_memodo_state *state,
                       const dvk_memodo_forward_desc *how, dvk_tensor *xt, dvk_tensor *yt,
                       const float *xp, float *yp)
{
    dvk_status st = dvk_tensor_upload(xt, xp, dvk_tensor_bytes(xt));
    if (st == DVK_SUCCESS)
        st = dvk_cmd_reset(cmd);
    fwd f = {layer, *how};
    f.desc.x = xt, f.desc.y = yt, f.desc.state = state;
    if (st == DVK_SUCCESS)
        st = record(cmd, &f);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(yt, yp, dvk_tensor_bytes(yt));
    return st;
}

static int run(void *handle, const tool_layer_args *a, dvk_st_writer *out)
{
    const dvk_memodo_layer *layer = handle;
    const dvk_memodo_info *info = dvk_memodo_layer_info(layer);
    const uint64_t C = info->num_channels;
    const dvk_memodo_forward_desc how = {
        .wiring = tool_layer_option_value(a, "--readme") ? DVK_MEMODO_WIRING_README
                                                         : DVK_MEMODO_WIRING_PACKAGE,
        .no_residual = tool_layer_option_value(a, "--no-residual") != NULL,
    };
    const bool time_major = tool_layer_option_value(a, "--time-major-y") != NULL;
    uint64_t xs[3] = {0, 0, C};
    float *x = NULL, *y = NULL, *xp = NULL, *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: memodo: x has %llu rows, too many\n", (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_memodo_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_memodo_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("memodo", st);
    }
    if (rc == TOOL_OK)
        rc = upload_states(a, info, B, state);

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = malloc((size_t)(B * T * C) * sizeof *y);
        xp = malloc((size_t)(B * n * C) * sizeof *xp);
        yp = malloc((size_t)(B * (time_major ? T : n) * C) * sizeof *yp);
        if (!y || !xp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "memodo");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last piece may be shorter */
        if (!xt || dvk_tensor_dim(xt, 1) != len) {
            dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
            xt = yt = NULL;
            const uint64_t shape[3] = {B, len, C};
            st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &xt);
            if (st == DVK_SUCCESS)
                st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &yt);
        }
        tool_layer_take(x, B, T, C, t0, len, xp);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, &how, xt, yt, xp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("memodo", st);
        else
            tool_layer_put(yp, B, T, C, t0, len, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK && time_major) { /* [B, T, C] -> [T, B, C], through yp */
        for (uint64_t b = 0; b < B; ++b)
            for (uint64_t t = 0; t < T; ++t)
                memcpy(yp + (t * B + b) * C, y + (b * T + t) * C, (size_t)C * sizeof *y);
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){T, B, C}, yp);
    } else if (rc == TOOL_OK) {
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, C}, y);
    }
    if (rc == TOOL_OK)
        rc = write_states(out, info, B, state);
    if (rc == TOOL_OK) {
        fwd f = {layer, how};
        f.desc.x = xt, f.desc.y = yt, f.desc.state = state;
        rc = tool_layer_bench(a, record, &f);
    }
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_memodo_state_destroy(state);
    free(x), free(y), free(xp), free(yp);
    return rc;
}

const tool_layer layer_memodo = {
    .name = "memodo",
    .summary = "Memodo's MemodoLayer (PyPI memodo 1.0.0)",
    .weights = "MemodoLayer's state_dict: norm, bias, gating_res,\n"
               "token_lerp.{initial,premix,decide.0,decide.2}, deltanets.<j>.{A,B,C,D,\n"
               "I,select,O,initial}, gating.{0,2} (C, the heads and their sizes from the\n"
               "shapes)",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .load = load,
    .run = run,
    .destroy = destroy,
};

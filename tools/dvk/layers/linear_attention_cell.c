/* dvk layer linear_attention_cell: memorax 1.0.1's LinearAttentionCell as its Memoroid runs it
 * (dvk_linear_attention_cell_*, deltavk_models.h), from the cell's parameters under their Flax
 * paths, over x [B,T,C] with optional per-token `done` flags and an optional initial carry;
 * writes y and the final carry, the carry in memorax's own layouts. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,C]", "the cell's input, fp32", 0},
    {"done", "[B,T]", "the Memoroid's mask: nonzero where an\nepisode starts (default: none)",
     TOOL_LAYER_OPTIONAL},
    {"initial_carry/state", "[B,1,H,D,D]",
     "the carry's state, value-major as memorax\n"
     "keeps it (both or neither; default zeros)",
     TOOL_LAYER_OPTIONAL},
    {"initial_carry/normalizer", "[B,1,H,D]", "the carry's normalizer", TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,C]", "the cell's output", 0},
    {"carry/state", "[B,1,H,D,D]", "the final carry (as initial_carry)", 0},
    {"carry/normalizer", "[B,1,H,D]", "the final normalizer", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--eps", "X",
     "the cell's eps, the read's floor, which\n"
     "the weights do not hold (default 1e-6)"},
    {"--prefix", "P",
     "the parameters' names start with P: a\n"
     "Memoroid's variables hold them under\n"
     "\"params/cell/\""},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    dvk_linear_attention_cell_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
    };
    const int rc = tool_layer_option_positive(a, "--eps", &desc.eps);
    if (rc != TOOL_OK)
        return rc;
    dvk_linear_attention_cell *layer = NULL;
    const dvk_status st = dvk_linear_attention_cell_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS)
        return tool_fail_status("linear_attention_cell: --weights", st);
    if (dvk_linear_attention_cell_layer_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_linear_attention_cell_destroy(layer); }

/* One call over `n` tokens of every row: x's (and done's) piece in, y's piece out. */
/* One forward: what a call records, and what --bench times. */
typedef struct fwd {
    const dvk_linear_attention_cell *layer;
    dvk_linear_attention_cell_state *state;
    dvk_tensor *x, *done, *y;
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_linear_attention_cell_forward(
        cmd, f->layer,
        &(dvk_linear_attention_cell_forward_desc){
            .x = f->x, .done = f->done, .y = f->y, .state = f->state});
}

static dvk_status step(dvk_cmd *cmd, const dvk_linear_attention_cell *layer,
                       dvk_linear_attention_cell_state *state, dvk_tensor *xt, dvk_tensor *dt,
                       dvk_tensor *yt, const float *xp, const float *dp, float *yp)
{
    dvk_status st = dvk_tensor_upload(xt, xp, dvk_tensor_bytes(xt));
    if (st == DVK_SUCCESS && dt)
        st = dvk_tensor_upload(dt, dp, dvk_tensor_bytes(dt));
    if (st == DVK_SUCCESS)
        st = dvk_cmd_reset(cmd);
    if (st == DVK_SUCCESS)
        st = record(cmd, &(fwd){layer, state, xt, dt, yt});
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
    const dvk_linear_attention_cell *layer = handle;
    const dvk_linear_attention_cell_info *info = dvk_linear_attention_cell_layer_info(layer);
    const uint64_t C = info->d_model, H = info->n_heads, D = info->head_dim;
    uint64_t xs[3] = {0, 0, C};
    float *x = NULL, *done = NULL, *cs = NULL, *cn = NULL, *y = NULL, *xp = NULL, *dp = NULL,
          *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    const uint64_t ss[5] = {B, 1, H, D, D}, ns[4] = {B, 1, H, D};
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "done", 2, (uint64_t[2]){B, T}, &done);
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "initial_carry/state", 5,
                             (uint64_t[5]){ss[0], ss[1], ss[2], ss[3], ss[4]}, &cs);
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "initial_carry/normalizer", 4,
                             (uint64_t[4]){ns[0], ns[1], ns[2], ns[3]}, &cn);
    if (rc == TOOL_OK && !cs != !cn) {
        fprintf(stderr,
                "dvk: linear_attention_cell: %s without %s in %s: the carry is both or neither\n",
                cs ? "initial_carry/state" : "initial_carry/normalizer",
                cs ? "initial_carry/normalizer" : "initial_carry/state", a->in);
        rc = TOOL_FAIL;
    }
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: linear_attention_cell: x has %llu rows, too many\n",
                (unsigned long long)B);
        rc = TOOL_FAIL;
    }
    const size_t s_bytes = (size_t)(B * H * D * D) * sizeof(float),
                 n_bytes = (size_t)(B * H * D) * sizeof(float);

    dvk_linear_attention_cell_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *dt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_linear_attention_cell_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st == DVK_SUCCESS && cs)
            st = dvk_linear_attention_cell_state_set_carry(state, cs, s_bytes, cn, n_bytes);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("linear_attention_cell", st);
    }

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = malloc((size_t)(B * T * C) * sizeof *y);
        xp = malloc((size_t)(B * n * C) * sizeof *xp);
        dp = malloc((size_t)(B * n) * sizeof *dp);
        yp = malloc((size_t)(B * n * C) * sizeof *yp);
        if (!y || !xp || !dp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "linear_attention_cell");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last piece may be shorter */
        if (!xt || dvk_tensor_dim(xt, 1) != len) {
            dvk_tensor_destroy(xt), dvk_tensor_destroy(dt), dvk_tensor_destroy(yt);
            xt = dt = yt = NULL;
            const uint64_t shape[3] = {B, len, C};
            st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &xt);
            if (st == DVK_SUCCESS)
                st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &yt);
            if (st == DVK_SUCCESS && done)
                st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 2, shape, NULL, &dt);
        }
        tool_layer_take(x, B, T, C, t0, len, xp);
        if (done)
            tool_layer_take(done, B, T, 1, t0, len, dp);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, xt, dt, yt, xp, dp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("linear_attention_cell", st);
        else
            tool_layer_put(yp, B, T, C, t0, len, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, C}, y);
    if (rc == TOOL_OK) { /* the carry in memorax's layouts */
        float *s = malloc(s_bytes), *z = malloc(n_bytes);
        st = s && z ? dvk_linear_attention_cell_state_get_carry(state, s, s_bytes, z, n_bytes)
                    : DVK_ERROR_OUT_OF_HOST_MEMORY;
        rc = st == DVK_SUCCESS ? tool_layer_write(out, "carry/state", 5, ss, s)
                               : tool_fail_status("carry", st);
        if (rc == TOOL_OK)
            rc = tool_layer_write(out, "carry/normalizer", 4, ns, z);
        free(s), free(z);
    }
    if (rc == TOOL_OK)
        rc = tool_layer_bench(a, record, &(fwd){layer, state, xt, dt, yt});
    dvk_tensor_destroy(xt), dvk_tensor_destroy(dt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_linear_attention_cell_state_destroy(state);
    free(x), free(done), free(cs), free(cn), free(y), free(xp), free(dp), free(yp);
    return rc;
}

const tool_layer layer_linear_attention_cell = {
    .name = "linear_attention_cell",
    .summary = "memorax's LinearAttentionCell (JAX/Flax)",
    .weights = "the cell's params under their Flax paths joined by '/':\n"
               "query/kernel, key/kernel, value/kernel [C,H,D], RMSNorm_0/scale,\n"
               "Dense_0/kernel, Dense_0/bias (C, H, D from the shapes)",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .load = load,
    .run = run,
    .destroy = destroy,
};

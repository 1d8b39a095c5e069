/* dvk layer kda_attention: the KDA seed's KDAAttention (mohsinm-dev/kda-attention;
 * dvk_kda_attention_*, deltavk_models.h) from its state_dict: the package's scan over
 * x [B,T,D] from zero or a given S, or with --stream its step over N tokens per call with S
 * carried; writes y and the final S. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,D]", "the layer's input, fp32 (16-bit read as\nfp32)", 0},
    {"S", "[B,H,dh,dh]",
     "the initial state, key-major (the\n"
     "package's KDAState.S as it is)",
     TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,D]", "the layer's output (H*dh columns without\nw_o: out_proj=False)", 0},
    {"S", "[B,H,dh,dh]", "the final state (as the input S)", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--prefix", "P",
     "the parameters' names start with P: one\n"
     "layer out of a model's file"},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    const dvk_kda_attention_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
    };
    dvk_kda_attention *layer = NULL;
    const dvk_status st = dvk_kda_attention_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS)
        return tool_fail_status("kda_attention: --weights", st);
    if (dvk_kda_attention_layer_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_kda_attention_destroy(layer); }

/* One call over `n` tokens of every row, from t0 on: x's piece in, y's piece out. */
/* One forward: what a call records, and what --bench times. */
typedef struct fwd {
    const dvk_kda_attention *layer;
    dvk_kda_attention_state *state;
    dvk_tensor *x, *y;
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_kda_attention_forward(
        cmd, f->layer, &(dvk_kda_attention_forward_desc){.x = f->x, .y = f->y, .state = f->state});
}

static dvk_status step(dvk_cmd *cmd, const dvk_kda_attention *layer,
                       dvk_kda_attention_state *state, dvk_tensor *xt, dvk_tensor *yt,
                       const float *xp, float *yp)
{
    dvk_status st = dvk_tensor_upload(xt, xp, dvk_tensor_bytes(xt));
    if (st == DVK_SUCCESS)
        st = dvk_cmd_reset(cmd);
    if (st == DVK_SUCCESS)
        st = record(cmd, &(fwd){layer, state, xt, yt});
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
    const dvk_kda_attention *layer = handle;
    const dvk_kda_attention_info *info = dvk_kda_attention_layer_info(layer);
    const uint64_t D = info->d_model, H = info->n_heads, dh = info->d_head;
    const uint64_t Dy = info->out_proj ? D : H * dh; /* y's columns */
    uint64_t xs[3] = {0, 0, D};
    float *x = NULL, *s0 = NULL, *y = NULL, *xp = NULL, *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "S", 4, (uint64_t[4]){B, H, dh, dh}, &s0);
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: kda_attention: x has %llu rows, too many\n",
                (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_kda_attention_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_kda_attention_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("kda_attention", st);
    }
    if (rc == TOOL_OK && s0) {
        dvk_tensor *t = dvk_kda_attention_state_tensor(state);
        st = dvk_tensor_upload(t, s0, dvk_tensor_bytes(t));
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("S", st);
    }

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = malloc((size_t)(B * T * Dy) * sizeof *y);
        xp = malloc((size_t)(B * n * D) * sizeof *xp);
        yp = malloc((size_t)(B * n * Dy) * sizeof *yp);
        if (!y || !xp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "kda_attention");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last piece may be shorter */
        if (!xt || dvk_tensor_dim(xt, 1) != len) {
            dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
            xt = yt = NULL;
            st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, (uint64_t[3]){B, len, D}, NULL,
                                  &xt);
            if (st == DVK_SUCCESS)
                st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, (uint64_t[3]){B, len, Dy},
                                      NULL, &yt);
        }
        tool_layer_take(x, B, T, D, t0, len, xp);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, xt, yt, xp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("kda_attention", st);
        else
            tool_layer_put(yp, B, T, Dy, t0, len, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, Dy}, y);
    if (rc == TOOL_OK)
        rc = tool_add_checked_output(out, "S",
                                     dvk_kda_attention_state_tensor(state),
                                     tool_layer_inputs_finite());
    if (rc == TOOL_OK)
        rc = tool_layer_bench(a, record, &(fwd){layer, state, xt, yt});
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_kda_attention_state_destroy(state);
    free(x), free(s0), free(y), free(xp), free(yp);
    return rc;
}

const tool_layer layer_kda_attention = {
    .name = "kda_attention",
    .summary = "the KDA seed's KDAAttention (kda-attention)",
    .weights = "the module's state_dict: w_q, w_k, w_v, w_alpha .weight [H*dh,D]\n"
               "and .bias; w_beta.weight [H,D], .bias [H]; w_o.weight [D,H*dh], .bias\n"
               "(both absent for out_proj=False); D, H, dh from the shapes",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .load = load,
    .run = run,
    .destroy = destroy,
};

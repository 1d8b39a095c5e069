/* dvk layer qwen3_next_gdn: transformers' Qwen3NextGatedDeltaNet (dvk_qwen3_next_gdn_*,
 * deltavk_models.h) from its state_dict, over x [B,T,D], from zero or given initial states;
 * writes y and the final states in the layout of the library's state files. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,D]", "hidden_states, fp32 (16-bit read as fp32)", 0},
    {"initial_conv_state", "[B,W-1,C]",
     "the conv's last W-1 inputs, oldest first;\n"
     "C = 2HK + HV*V channels q, k, v\n"
     "(transformers' conv_states[:, :, 1:]\n"
     "transposed)",
     TOOL_LAYER_OPTIONAL},
    {"initial_recurrent_state", "[B,HV,K,V]",
     "the rule's S, key-major (transformers'\n"
     "recurrent_states as they are)",
     TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,D]", "the layer's output", 0},
    {"conv_state", "[B,W-1,C]", "the final conv state (as initial_conv_state)", 0},
    {"recurrent_state", "[B,HV,K,V]", "the final S (as initial_recurrent_state)", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--head-k-dim", "K",
     "the key head size, which the shapes do not\n"
     "tell (default: the value head size V, as in\n"
     "every released model); H = HK / K"},
    {"--norm-eps", "X", "the gated RMSNorm's eps, rms_norm_eps\n(default 1e-6)"},
    {"--prefix", "P",
     "the parameters' names start with P: one\n"
     "layer out of a model's file\n"
     "(\"model.layers.0.linear_attn.\")"},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    dvk_qwen3_next_gdn_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
    };
    int rc = tool_layer_option_u32(a, "--head-k-dim", &desc.head_k_dim);
    if (rc == TOOL_OK)
        rc = tool_layer_option_positive(a, "--norm-eps", &desc.norm_eps);
    if (rc != TOOL_OK)
        return rc;
    dvk_qwen3_next_gdn *layer = NULL;
    const dvk_status st = dvk_qwen3_next_gdn_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS) {
        tool_fail_status("qwen3_next_gdn: --weights", st);
        if (st == DVK_ERROR_SHAPE_MISMATCH && !desc.head_k_dim)
            fprintf(stderr, "dvk: (the shapes do not tell the key head size: --head-k-dim K "
                            "gives it)\n");
        return TOOL_FAIL;
    }
    if (dvk_qwen3_next_gdn_layer_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_qwen3_next_gdn_destroy(layer); }

static int upload_state(dvk_qwen3_next_gdn_state *s, dvk_qwen3_next_gdn_state_part part,
                        const float *data, const char *name)
{
    if (!data)
        return TOOL_OK;
    dvk_tensor *t = dvk_qwen3_next_gdn_state_tensor(s, part);
    const dvk_status st = dvk_tensor_upload(t, data, dvk_tensor_bytes(t));
    return st == DVK_SUCCESS ? TOOL_OK : tool_fail_status(name, st);
}

/* One forward: what a call records, and what --bench times. */
typedef struct fwd {
    const dvk_qwen3_next_gdn *layer;
    dvk_qwen3_next_gdn_state *state;
    dvk_tensor *x, *y;
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_qwen3_next_gdn_forward(
        cmd, f->layer, &(dvk_qwen3_next_gdn_forward_desc){.x = f->x, .y = f->y, .state = f->state});
}

/* One call over `n` tokens of every row, from t0 on: x's piece in, y's piece out. */
static dvk_status step(dvk_cmd *cmd, const dvk_qwen3_next_gdn *layer,
                       dvk_qwen3_next_gdn_state *state, dvk_tensor *xt, dvk_tensor *yt,
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
    const dvk_qwen3_next_gdn *layer = handle;
    const dvk_qwen3_next_gdn_info *info = dvk_qwen3_next_gdn_layer_info(layer);
    const uint64_t D = info->hidden_size;
    uint64_t xs[3] = {0, 0, D};
    float *x = NULL, *conv0 = NULL, *rec0 = NULL, *y = NULL, *xp = NULL, *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    const uint64_t cs[3] = {B, info->conv_kernel - 1, info->conv_dim},
                   rs[4] = {B, info->num_v_heads, info->head_k_dim, info->head_v_dim};
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "initial_conv_state", 3, (uint64_t[3]){cs[0], cs[1], cs[2]},
                             &conv0);
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "initial_recurrent_state", 4,
                             (uint64_t[4]){rs[0], rs[1], rs[2], rs[3]}, &rec0);
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: qwen3_next_gdn: x has %llu rows, too many\n",
                (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_qwen3_next_gdn_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_qwen3_next_gdn_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("qwen3_next_gdn", st);
    }
    if (rc == TOOL_OK)
        rc = upload_state(state, DVK_QWEN3_NEXT_GDN_CONV, conv0, "initial_conv_state");
    if (rc == TOOL_OK)
        rc = upload_state(state, DVK_QWEN3_NEXT_GDN_RECURRENT, rec0, "initial_recurrent_state");

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = malloc((size_t)(B * T * D) * sizeof *y);
        xp = malloc((size_t)(B * n * D) * sizeof *xp);
        yp = malloc((size_t)(B * n * D) * sizeof *yp);
        if (!y || !xp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "qwen3_next_gdn");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last piece may be shorter */
        if (!xt || dvk_tensor_dim(xt, 1) != len) {
            dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
            xt = yt = NULL;
            const uint64_t shape[3] = {B, len, D};
            st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &xt);
            if (st == DVK_SUCCESS)
                st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, shape, NULL, &yt);
        }
        tool_layer_take(x, B, T, D, t0, len, xp);
        if (st == DVK_SUCCESS)
            st = step(cmd, layer, state, xt, yt, xp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("qwen3_next_gdn", st);
        else
            tool_layer_put(yp, B, T, D, t0, len, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, D}, y);
    if (rc == TOOL_OK)
        rc = tool_add_checked_output(
            out, "conv_state",
            dvk_qwen3_next_gdn_state_tensor(state, DVK_QWEN3_NEXT_GDN_CONV),
            tool_layer_inputs_finite());
    if (rc == TOOL_OK)
        rc = tool_add_checked_output(
            out, "recurrent_state",
            dvk_qwen3_next_gdn_state_tensor(state, DVK_QWEN3_NEXT_GDN_RECURRENT),
            tool_layer_inputs_finite());
    if (rc == TOOL_OK)
        rc = tool_layer_bench(a, record, &(fwd){layer, state, xt, yt});
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_qwen3_next_gdn_state_destroy(state);
    free(x), free(conv0), free(rec0), free(y), free(xp), free(yp);
    return rc;
}

const tool_layer layer_qwen3_next_gdn = {
    .name = "qwen3_next_gdn",
    .summary = "Qwen3-Next's Gated DeltaNet (transformers' module)",
    .weights = "the module's state_dict: in_proj_qkvz.weight,\n"
               "in_proj_ba.weight, conv1d.weight, dt_bias, A_log, norm.weight,\n"
               "out_proj.weight (D, HV, V, W read from their shapes)",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .load = load,
    .run = run,
    .destroy = destroy,
};

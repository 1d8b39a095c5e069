/* dvk layer infini_attention: infini-transformer-pytorch 0.0.2's CausalAttention
 * (dvk_infini_attention_*, deltavk_models.h) from its state_dict (or one block's out of a
 * model's file, --prefix layers.<i>.0.), over x [B,T,C] in segments (--stream N: N tokens
 * each; else one segment), the compressive memories carried from segment to segment, from
 * none or given ones; writes y and the final memories. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"x", "[B,T,C]", "the attention's input, fp32", 0},
    {"memories.kv", "[B,H,D,D]",
     "past_memories[0], M, key-major (both or\n"
     "neither: without them the first segment\n"
     "is the softmax attention alone)",
     TOOL_LAYER_OPTIONAL},
    {"memories.norm", "[B,H,D]", "past_memories[1], z", TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"y", "[B,T,C]", "the attention's output", 0},
    {"memories.kv", "[B,H,D,D]", "the final M (as the input)", 0},
    {"memories.norm", "[B,H,D]", "the final z (as the input)", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--delta-rule", NULL, "the delta-rule memory update (the\npackage's use_mem_delta_rule)"},
    {"--prefix", "P",
     "the parameters' names start with P: block\n"
     "i's attention of a model's file is\n"
     "\"layers.<i>.0.\""},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    const dvk_infini_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
        .delta_rule = tool_layer_option_value(a, "--delta-rule") != NULL,
    };
    dvk_infini_attention *layer = NULL;
    const dvk_status st = dvk_infini_attention_load(a->ctx, a->weights, &desc, &layer);
    if (st != DVK_SUCCESS)
        return tool_fail_status("infini_attention: --weights", st);
    if (dvk_infini_attention_info(layer)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = layer;
    return TOOL_OK;
}

static void destroy(void *layer) { dvk_infini_attention_destroy(layer); }

/* One segment of `n` tokens of every row: x's piece in, y's piece out. */
/* One forward: what a call records, and what --bench times. */
typedef struct fwd {
    const dvk_infini_attention *layer;
    dvk_infini_attention_state *state;
    dvk_tensor *x, *y;
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_infini_attention_forward(
        cmd, f->layer,
        &(dvk_infini_attention_forward_desc){.x = f->x, .y = f->y, .state = f->state});
}

static dvk_status step(dvk_cmd *cmd, const dvk_infini_attention *layer,
                       dvk_infini_attention_state *state, dvk_tensor *xt, dvk_tensor *yt,
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
    const dvk_infini_attention *layer = handle;
    const dvk_infini_info *info = dvk_infini_attention_info(layer);
    const uint64_t C = info->dim, H = info->heads, D = info->dim_head;
    uint64_t xs[3] = {0, 0, C};
    float *x = NULL, *kv = NULL, *norm = NULL, *y = NULL, *xp = NULL, *yp = NULL;
    int rc = tool_layer_read(a, "x", 3, xs, &x);
    const uint64_t B = xs[0], T = xs[1];
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "memories.kv", 4, (uint64_t[4]){B, H, D, D}, &kv);
    if (rc == TOOL_OK)
        rc = tool_layer_read(a, "memories.norm", 3, (uint64_t[3]){B, H, D}, &norm);
    if (rc == TOOL_OK && !kv != !norm) {
        fprintf(stderr, "dvk: infini_attention: %s without %s in %s: the memories are both or "
                        "neither\n",
                kv ? "memories.kv" : "memories.norm", kv ? "memories.norm" : "memories.kv",
                a->in);
        rc = TOOL_FAIL;
    }
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: infini_attention: x has %llu rows, too many\n",
                (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_infini_attention_state *state = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *xt = NULL, *yt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_infini_attention_state_create(layer, (uint32_t)B, &state);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("infini_attention", st);
    }
    if (rc == TOOL_OK && kv) { /* given memories: the first segment reads them */
        dvk_tensor *tk = dvk_infini_attention_state_tensor(state, DVK_INFINI_MEMORY_KV);
        dvk_tensor *tn = dvk_infini_attention_state_tensor(state, DVK_INFINI_MEMORY_NORM);
        st = dvk_tensor_upload(tk, kv, dvk_tensor_bytes(tk));
        if (st == DVK_SUCCESS)
            st = dvk_tensor_upload(tn, norm, dvk_tensor_bytes(tn));
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("memories", st);
        dvk_infini_attention_state_set_segments(state, 1);
    }

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        y = malloc((size_t)(B * T * C) * sizeof *y);
        xp = malloc((size_t)(B * n * C) * sizeof *xp);
        yp = malloc((size_t)(B * n * C) * sizeof *yp);
        if (!y || !xp || !yp) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "infini_attention");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last segment may be shorter */
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
            st = step(cmd, layer, state, xt, yt, xp, yp);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("infini_attention", st);
        else
            tool_layer_put(yp, B, T, C, t0, len, y);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "y", 3, (uint64_t[3]){B, T, C}, y);
    if (rc == TOOL_OK)
        rc = tool_add_checked_output(out, "memories.kv",
                                     dvk_infini_attention_state_tensor(state, DVK_INFINI_MEMORY_KV),
                                     tool_layer_inputs_finite());
    if (rc == TOOL_OK)
        rc = tool_add_checked_output(
            out, "memories.norm",
            dvk_infini_attention_state_tensor(state, DVK_INFINI_MEMORY_NORM),
            tool_layer_inputs_finite());
    if (rc == TOOL_OK)
        rc = tool_layer_bench(a, record, &(fwd){layer, state, xt, yt});
    dvk_tensor_destroy(xt), dvk_tensor_destroy(yt);
    dvk_cmd_destroy(cmd);
    dvk_infini_attention_state_destroy(state);
    free(x), free(kv), free(norm), free(y), free(xp), free(yp);
    return rc;
}

const tool_layer layer_infini_attention = {
    .name = "infini_attention",
    .summary = "CausalAttention of infini-transformer-pytorch",
    .weights = "the module's state_dict: norm.gamma, to_qkv.weight, to_out.weight,\n"
               "head_gates, rotary_emb.freqs (C, H, D from the shapes)",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .stream_unit = "tokens (one segment)",
    .load = load,
    .run = run,
    .destroy = destroy,
};

/* dvk layer infini_transformer: infini-transformer-pytorch 0.0.2's InfiniTransformer
 * (dvk_infini_transformer_*, deltavk_models.h) from its state_dict, over token ids [B,T] in
 * segments (--stream N: N tokens each; else one segment), every block's memories carried from
 * segment to segment, from none or given ones; writes the logits and the final memories. */
#include "layers.h"

#include "deltavk_models.h"

#include <stdlib.h>
#include <string.h>

/* Help prints the descriptions from column 36: lines of at most 44 characters. */
static const tool_layer_tensor inputs[] = {
    {"tokens", "[B,T]", "token ids in [0, V), int32 (or integral\nfloats)", 0},
    {"memories.<i>.kv", "[B,H,D,D]",
     "block i's past_memories[0], M, key-major\n"
     "(every block's kv and norm, or none:\n"
     "without them the first segment has no\n"
     "memories)",
     TOOL_LAYER_OPTIONAL},
    {"memories.<i>.norm", "[B,H,D]", "block i's past_memories[1], z", TOOL_LAYER_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_tensor outputs[] = {
    {"logits", "[B,T,V]", "every position's logits", 0},
    {"memories.<i>.kv", "[B,H,D,D]", "block i's final M (as the input)", 0},
    {"memories.<i>.norm", "[B,H,D]", "block i's final z (as the input)", 0},
    {NULL, NULL, NULL, 0},
};

static const tool_layer_option options[] = {
    {"--delta-rule", NULL, "the delta-rule memory update (the\npackage's use_mem_delta_rule)"},
    {"--prefix", "P", "the parameters' names start with P\n(\"model.\")"},
    {NULL, NULL, NULL},
};

static int load(const tool_layer_args *a, void **out)
{
    const dvk_infini_load_desc desc = {
        .dtype = a->dtype ? a->dtype : DVK_DTYPE_F32,
        .prefix = tool_layer_option_value(a, "--prefix"),
        .delta_rule = tool_layer_option_value(a, "--delta-rule") != NULL,
    };
    dvk_infini_transformer *model = NULL;
    const dvk_status st = dvk_infini_transformer_load(a->ctx, a->weights, &desc, &model);
    if (st != DVK_SUCCESS)
        return tool_fail_status("infini_transformer: --weights", st);
    if (dvk_infini_transformer_info(model)->dtype != desc.dtype)
        fprintf(stderr, "dvk: note: the device has no 16-bit storage; the weights stay fp32\n");
    *out = model;
    return TOOL_OK;
}

static void destroy(void *model) { dvk_infini_transformer_destroy(model); }

/* The token ids [B, T] as int32 (malloc'd into *out). */
static int read_tokens(const tool_layer_args *a, uint64_t *B, uint64_t *T, int32_t **out)
{
    *out = NULL;
    dvk_weights_entry e;
    if (dvk_weights_find(a->inputs, "tokens", &e) != DVK_SUCCESS || e.ndim != 2 ||
        e.numel == 0) {
        fprintf(stderr, "dvk: infini_transformer: %s: no input 'tokens' [B,T] (token ids)\n",
                a->in);
        return TOOL_FAIL;
    }
    int32_t *ids = malloc((size_t)e.numel * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "dvk: out of host memory for 'tokens'\n");
        return TOOL_FAIL;
    }
    const dvk_status st =
        dvk_weights_read(a->inputs, "tokens", DVK_DTYPE_I32, ids, (size_t)e.numel * sizeof *ids);
    if (st != DVK_SUCCESS) {
        free(ids);
        return tool_fail_status("tokens", st);
    }
    *B = e.shape[0], *T = e.shape[1], *out = ids;
    return TOOL_OK;
}

/* Every block's memories from the --in file, when it gives them; the first segment then
 * reads them. */
static int upload_memories(const tool_layer_args *a, const dvk_infini_info *info, uint64_t B,
                           dvk_infini_transformer_session *s)
{
    const uint64_t H = info->heads, D = info->dim_head;
    uint32_t given = 0;
    for (uint32_t i = 0; i < info->depth; ++i)
        for (int part = 0; part < 2; ++part) {
            char name[48];
            snprintf(name, sizeof name, "memories.%u.%s", i, part ? "norm" : "kv");
            dvk_weights_entry e;
            given += dvk_weights_find(a->inputs, name, &e) == DVK_SUCCESS;
        }
    if (given == 0)
        return TOOL_OK;
    if (given != 2 * info->depth) {
        fprintf(stderr,
                "dvk: infini_transformer: %s gives %u of the %u memories (memories.<i>.kv and "
                ".norm for every block i < %u): all or none\n",
                a->in, given, 2 * info->depth, info->depth);
        return TOOL_FAIL;
    }
    for (uint32_t i = 0; i < info->depth; ++i)
        for (int part = 0; part < 2; ++part) {
            char name[48];
            snprintf(name, sizeof name, "memories.%u.%s", i, part ? "norm" : "kv");
            uint64_t shape[4] = {B, H, D, D};
            float *data = NULL;
            int rc = tool_layer_read(a, name, part ? 3 : 4, shape, &data);
            if (rc == TOOL_OK) {
                dvk_tensor *t = dvk_infini_transformer_session_state(
                    s, i, part ? DVK_INFINI_MEMORY_NORM : DVK_INFINI_MEMORY_KV);
                const dvk_status st = dvk_tensor_upload(t, data, dvk_tensor_bytes(t));
                if (st != DVK_SUCCESS)
                    rc = tool_fail_status(name, st);
            }
            free(data);
            if (rc != TOOL_OK)
                return rc;
        }
    dvk_infini_transformer_session_set_segments(s, 1);
    return TOOL_OK;
}

/* One forward: what a call records, and what --bench times (the token ids go up with the
 * recording: a few bytes per token, timed with it). */
typedef struct fwd {
    dvk_infini_transformer_session *session;
    const int32_t *tokens;
    uint32_t n_tokens;
    dvk_tensor *logits;
} fwd;

static dvk_status record(dvk_cmd *cmd, void *user)
{
    const fwd *f = user;
    return dvk_infini_transformer_forward(
        cmd, f->session,
        &(dvk_infini_transformer_forward_desc){
            .tokens = f->tokens, .n_tokens = f->n_tokens, .logits = f->logits});
}

static int run(void *handle, const tool_layer_args *a, dvk_st_writer *out)
{
    const dvk_infini_transformer *model = handle;
    const dvk_infini_info *info = dvk_infini_transformer_info(model);
    const uint64_t V = info->n_vocab;
    uint64_t B = 0, T = 0;
    int32_t *tokens = NULL, *piece = NULL;
    float *logits = NULL, *lp = NULL;
    int rc = read_tokens(a, &B, &T, &tokens);
    if (rc == TOOL_OK && B > UINT32_MAX) {
        fprintf(stderr, "dvk: infini_transformer: tokens has %llu rows, too many\n",
                (unsigned long long)B);
        rc = TOOL_FAIL;
    }

    dvk_infini_transformer_session *session = NULL;
    dvk_cmd *cmd = NULL;
    dvk_tensor *lt = NULL;
    dvk_status st = DVK_SUCCESS;
    if (rc == TOOL_OK) {
        st = dvk_infini_transformer_session_create(model, (uint32_t)B, &session);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(a->ctx, NULL, &cmd);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("infini_transformer", st);
    }
    if (rc == TOOL_OK)
        rc = upload_memories(a, info, B, session);

    const uint64_t n = a->stream && a->stream < T ? a->stream : T;
    if (rc == TOOL_OK) {
        logits = malloc((size_t)(B * T * V) * sizeof *logits);
        lp = malloc((size_t)(B * n * V) * sizeof *lp);
        piece = malloc((size_t)(B * n) * sizeof *piece);
        if (!logits || !lp || !piece) {
            fprintf(stderr, "dvk: out of host memory for %llu tokens\n",
                    (unsigned long long)(B * T));
            rc = TOOL_FAIL;
        }
    }
    tool_progress progress;
    tool_progress_start(&progress, "infini_transformer");
    for (uint64_t t0 = 0; rc == TOOL_OK && t0 < T; t0 += n) {
        const uint64_t len = T - t0 < n ? T - t0 : n; /* the last segment may be shorter */
        if (!lt || dvk_tensor_dim(lt, 1) != len) {
            dvk_tensor_destroy(lt);
            lt = NULL;
            st = tool_tensor_from(a->ctx, DVK_DTYPE_F32, 3, (uint64_t[3]){B, len, V}, NULL, &lt);
        }
        for (uint64_t b = 0; b < B; ++b)
            memcpy(piece + b * len, tokens + b * T + t0, (size_t)len * sizeof *piece);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_reset(cmd);
        if (st == DVK_SUCCESS)
            st = record(cmd, &(fwd){session, piece, (uint32_t)len, lt});
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        if (st == DVK_SUCCESS)
            st = dvk_tensor_download(lt, lp, dvk_tensor_bytes(lt));
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("infini_transformer", st);
        else
            tool_layer_put(lp, B, T, V, t0, len, logits);
        tool_progress_update(&progress, "token %llu/%llu", (unsigned long long)(t0 + len),
                             (unsigned long long)T);
    }
    tool_progress_end(&progress);

    if (rc == TOOL_OK)
        rc = tool_layer_write(out, "logits", 3, (uint64_t[3]){B, T, V}, logits);
    for (uint32_t i = 0; rc == TOOL_OK && i < 2 * info->depth; ++i) {
        char name[48];
        snprintf(name, sizeof name, "memories.%u.%s", i / 2, i % 2 ? "norm" : "kv");
        const dvk_infini_memory_part part = i % 2 ? DVK_INFINI_MEMORY_NORM : DVK_INFINI_MEMORY_KV;
        rc = tool_add_checked_output(out, name,
                                     dvk_infini_transformer_session_state(session, i / 2, part),
                                     tool_layer_inputs_finite());
    }
    if (rc == TOOL_OK) /* without --stream, piece holds every token */
        rc = tool_layer_bench(a, record, &(fwd){session, piece, (uint32_t)T, lt});
    dvk_tensor_destroy(lt);
    dvk_cmd_destroy(cmd);
    dvk_infini_transformer_session_destroy(session);
    free(tokens), free(piece), free(logits), free(lp);
    return rc;
}

const tool_layer layer_infini_transformer = {
    .name = "infini_transformer",
    .summary = "InfiniTransformer of infini-transformer-pytorch",
    .weights = "the model's state_dict: token_emb.weight, layers.<i>.0.<the\n"
               "attention's>, layers.<i>.1.norm.gamma, .proj_in, .proj_out, norm.gamma,\n"
               "to_logits (C, H, D, V, F and the depth from the shapes)",
    .inputs = inputs,
    .outputs = outputs,
    .options = options,
    .stream_unit = "tokens (one segment)",
    .load = load,
    .run = run,
    .destroy = destroy,
};

/* The Gated DeltaNet layer's state: the conv's carried inputs and the rule's matrix state of
 * `batch` sequences, and state files (written by dvk__md_st_write, read back through
 * dvk_weights without a device). */
#include "models/qwen3next/qwen3next.h"

#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT "deltavk-qwen3-next-gdn-state"
#define STATE_VERSION "1"

static void conv_shape(const dvk_qwen3_next_gdn_state *s, uint64_t shape[3])
{
    shape[0] = s->batch;
    shape[1] = s->layer->info.conv_kernel - 1;
    shape[2] = s->layer->info.conv_dim;
}

static void rec_shape(const dvk_qwen3_next_gdn_state *s, uint64_t shape[4])
{
    shape[0] = s->batch;
    shape[1] = s->layer->info.num_v_heads;
    shape[2] = s->layer->info.head_k_dim;
    shape[3] = s->layer->info.head_v_dim;
}

void dvk_qwen3_next_gdn_state_destroy(dvk_qwen3_next_gdn_state *s)
{
    if (!s)
        return;
    dvk_tensor_destroy(s->conv);
    dvk_tensor_destroy(s->recurrent);
    free(s);
}

dvk_status dvk_qwen3_next_gdn_state_create(const dvk_qwen3_next_gdn *layer, uint32_t batch,
                                           dvk_qwen3_next_gdn_state **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_state is NULL");
    *out = NULL;
    if (!layer)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "layer is NULL");
    if (batch == 0)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "batch is 0");
    dvk_qwen3_next_gdn_state *s = calloc(1, sizeof *s);
    if (!s)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->layer = layer;
    s->batch = batch;
    dvk_tensor_desc dc = {.dtype = DVK_DTYPE_F32, .ndim = 3}, dr = {.dtype = DVK_DTYPE_F32,
                                                                   .ndim = 4};
    conv_shape(s, dc.shape);
    rec_shape(s, dr.shape);
    dvk_status st = dvk_tensor_create(layer->ctx, &dc, &s->conv);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(layer->ctx, &dr, &s->recurrent);
    if (st == DVK_SUCCESS)
        st = dvk_qwen3_next_gdn_state_reset(s);
    if (st != DVK_SUCCESS) {
        dvk_qwen3_next_gdn_state_destroy(s);
        return st;
    }
    *out = s;
    return DVK_SUCCESS;
}

dvk_tensor *dvk_qwen3_next_gdn_state_tensor(const dvk_qwen3_next_gdn_state *s,
                                            dvk_qwen3_next_gdn_state_part part)
{
    if (!s)
        return NULL;
    return part == DVK_QWEN3_NEXT_GDN_CONV        ? s->conv
           : part == DVK_QWEN3_NEXT_GDN_RECURRENT ? s->recurrent
                                                  : NULL;
}

dvk_status dvk_qwen3_next_gdn_state_reset(dvk_qwen3_next_gdn_state *s)
{
    if (!s)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "state is NULL");
    dvk_cmd *cmd = NULL;
    MD_TRY(dvk_cmd_create(s->layer->ctx, NULL, &cmd));
    dvk_status st = dvk_cmd_fill_zero(cmd, s->conv);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_fill_zero(cmd, s->recurrent);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    dvk_cmd_destroy(cmd);
    return st;
}

dvk_status dvk_qwen3_next_gdn_state_save(dvk_qwen3_next_gdn_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    md_st_tensor t[2] = {{.name = "conv_state", .ndim = 3},
                         {.name = "recurrent_state", .ndim = 4}};
    conv_shape(s, t[0].shape);
    rec_shape(s, t[1].shape);
    const uint64_t nc = dvk_tensor_numel(s->conv), nr = dvk_tensor_numel(s->recurrent);
    float *buf = malloc((size_t)(nc + nr) * sizeof *buf);
    if (!buf)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    dvk_status st = dvk_tensor_download(s->conv, buf, (size_t)nc * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(s->recurrent, buf + nc, (size_t)nr * sizeof *buf);
    if (st == DVK_SUCCESS) {
        t[0].data = buf;
        t[1].data = buf + nc;
        const md_st_meta meta[] = {{"format", STATE_FORMAT}, {"version", STATE_VERSION}};
        st = dvk__md_st_write(path, t, 2, meta, 2);
    }
    free(buf);
    return st;
}

dvk_status dvk_qwen3_next_gdn_state_restore(dvk_qwen3_next_gdn_state *s, const char *path)
{
    if (!s || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", s ? "path" : "state");
    dvk_weights *w = NULL;
    MD_TRY(dvk_weights_load(NULL, path, NULL, &w));
    const char *format = dvk_weights_metadata(w, "format");
    dvk_status st = DVK_SUCCESS;
    if (!format || strcmp(format, STATE_FORMAT) != 0)
        st = dvk_set_error(DVK_ERROR_FORMAT,
                           "%s: not a Qwen3-Next Gated DeltaNet state file (metadata format "
                           "%s%s%s)",
                           path, format ? "'" : "", format ? format : "absent",
                           format ? "'" : "");
    uint64_t sc[3], sr[4];
    conv_shape(s, sc);
    rec_shape(s, sr);
    const uint64_t nc = dvk_tensor_numel(s->conv), nr = dvk_tensor_numel(s->recurrent);
    float *buf = st == DVK_SUCCESS ? malloc((size_t)(nc + nr) * sizeof *buf) : NULL;
    if (st == DVK_SUCCESS && !buf)
        st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (st == DVK_SUCCESS)
        st = dvk_weights_expect(w, "conv_state", 3, sc, NULL);
    if (st == DVK_SUCCESS)
        st = dvk_weights_expect(w, "recurrent_state", 4, sr, NULL);
    if (st == DVK_SUCCESS)
        st = dvk_weights_check_all_used(w);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "conv_state", DVK_DTYPE_F32, buf, (size_t)nc * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_weights_read(w, "recurrent_state", DVK_DTYPE_F32, buf + nc,
                              (size_t)nr * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(s->conv, buf, (size_t)nc * sizeof *buf);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(s->recurrent, buf + nc, (size_t)nr * sizeof *buf);
    free(buf);
    dvk_weights_destroy(w);
    return st;
}

/* dvk run OP --in IN.safetensors --out OUT.safetensors: runs an operator on the tensors of a
 * file, named as fla names its arguments, and writes the output `o`, the final state `ht` and,
 * for linear_attn and infini_attn, the final normaliser `z`. An output holding inf or NaN when
 * every input is finite (fp16 overflowing where the device computed) fails the run, and nothing
 * is written. */
#include "dvk_tool.h"
#include "tensors.h"

#include <stdio.h>
#include <stdlib.h>

int tool_add_output(dvk_st_writer *w, const char *name, const dvk_tensor *t)
{
    return tool_add_checked_output(w, name, t, false);
}

int tool_add_checked_output(dvk_st_writer *w, const char *name, const dvk_tensor *t, bool check)
{
    const uint32_t ndim = dvk_tensor_ndim(t);
    uint64_t shape[DVK_MAX_DIMS];
    for (uint32_t i = 0; i < ndim; ++i)
        shape[i] = dvk_tensor_dim(t, i);
    const size_t bytes = dvk_tensor_bytes(t);
    void *data = malloc(bytes);
    if (!data)
        return TOOL_FAIL;
    dvk_status st = dvk_tensor_download(t, data, bytes);
    if (st == DVK_SUCCESS && check &&
        tool_check_output_values(name, dvk_tensor_dtype(t), ndim, shape, data) != TOOL_OK) {
        free(data);
        return TOOL_FAIL;
    }
    if (st == DVK_SUCCESS)
        st = dvk_st_writer_add(w, name, dvk_tensor_dtype(t) == DVK_DTYPE_F16 ? DVK_ST_F16 : DVK_ST_F32,
                               ndim, shape, data);
    free(data);
    return st == DVK_SUCCESS ? TOOL_OK : tool_fail_status(name, st);
}

int cmd_run(int argc, char **argv)
{
    tool_opts opts = {0};
    const int parsed = tool_parse_opts(argc, argv, 2, &opts);
    if (parsed == TOOL_HELP) {
        tool_help_run(stdout);
        return TOOL_OK;
    }
    if (parsed != TOOL_OK)
        return TOOL_USAGE;
    if (opts.op && tool_find_fn(opts.op))
        return tool_run_fn(tool_find_fn(opts.op), &opts);
    if (!opts.op || !opts.in || !opts.out) {
        fprintf(stderr, "usage: dvk run OP --in IN.safetensors --out OUT.safetensors "
                        "[--mode recurrent|chunk] [--dtype f32|f16] [--device N] [--scale S]\n"
                        "(dvk run --help: every option)\n"
                        "operators:\n");
        tool_print_ops(stderr);
        return TOOL_USAGE;
    }
    const tool_op *op = tool_find_op_or_explain(opts.op);
    if (!op)
        return TOOL_USAGE;

    char err[512];
    if (dvk_st_check_output(opts.out, opts.in, err, sizeof err) != DVK_SUCCESS) {
        fprintf(stderr, "dvk: %s\n", err);
        return TOOL_USAGE;
    }
    dvk_status st;
    dvk_context *ctx = NULL;
    int rc = tool_context(&opts, &ctx);
    tool_inputs in = {0};
    tool_outputs out = {0};
    dvk_cmd *cmd = NULL;
    if (rc == TOOL_OK)
        rc = tool_load_inputs(ctx, op, &opts, &in);
    if (rc == TOOL_OK) {
        st = op->make_outputs(ctx, &in, &opts, true, &out);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(ctx, NULL, &cmd);
        if (st == DVK_SUCCESS)
            st = op->record(cmd, &in, &out, &opts);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status(op->name, st);
    }
    if (rc == TOOL_OK) {
        dvk_st_writer *w = NULL;
        st = dvk_st_writer_create(&w);
        if (st != DVK_SUCCESS)
            rc = tool_fail_status("writer", st);
        if (rc == TOOL_OK)
            rc = tool_add_checked_output(w, op->out_name ? op->out_name : "o", out.o,
                                         in.all_finite);
        if (rc == TOOL_OK && out.ht)
            rc = tool_add_checked_output(w, "ht", out.ht, in.all_finite);
        if (rc == TOOL_OK && out.z)
            rc = tool_add_checked_output(w, "z", out.z, in.all_finite);
        if (rc == TOOL_OK) {
            dvk_st_writer_set_metadata(w, "producer", "dvk run");
            dvk_st_writer_set_metadata(w, "op", op->name);
            dvk_st_writer_set_metadata(w, "device", dvk_context_device_info(ctx)->name);
            st = dvk_st_writer_save(w, opts.out, err, sizeof err);
            if (st != DVK_SUCCESS) {
                fprintf(stderr, "dvk: %s\n", err);
                rc = TOOL_FAIL;
            }
        }
        dvk_st_writer_destroy(w);
    }
    if (rc == TOOL_OK && opts.validate && dvk_context_validation_message_count(ctx)) {
        fprintf(stderr, "dvk: the validation layer reported %llu messages\n",
                (unsigned long long)dvk_context_validation_message_count(ctx));
        rc = TOOL_FAIL;
    }
    dvk_cmd_destroy(cmd);
    tool_free_outputs(&out);
    tool_free_inputs(&in);
    dvk_context_destroy(ctx);
    return rc;
}

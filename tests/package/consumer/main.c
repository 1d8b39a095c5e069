/* A user of deltavk: one building block (deltavk_nn) on the default device, checked on the
 * host, and a model loader (deltavk_models) refusing a file that is no model. Exit status 0
 * when both behave. */
#include <stdio.h>

#include "deltavk.h"
#include "deltavk_models.h"
#include "deltavk_nn.h"

enum { N = 37 };

int main(void)
{
    float x[N], y[N];
    for (int i = 0; i < N; ++i)
        x[i] = (float)(i - N / 2) * 0.25f;

    int ok = 0;
    dvk_context *ctx = NULL;
    dvk_tensor *tx = NULL, *ty = NULL;
    dvk_cmd *cmd = NULL;
    dvk_status st = dvk_context_create(NULL, &ctx);
    const dvk_tensor_desc desc = {.ndim = 1, .shape = {N}};
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &desc, &tx);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &desc, &ty);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tx, x, sizeof x);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_create(ctx, NULL, &cmd);
    if (st == DVK_SUCCESS) {
        const dvk_activation_desc relu = {.x = tx, .y = ty, .act = DVK_ACT_RELU};
        st = dvk_activation(cmd, &relu);
    }
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(ty, y, sizeof y);
    if (st != DVK_SUCCESS) {
        fprintf(stderr, "consumer: %s: %s\n", dvk_status_string(st), dvk_last_error());
        goto done;
    }
    for (int i = 0; i < N; ++i) {
        if (y[i] != (x[i] > 0.0f ? x[i] : 0.0f)) { /* exact: relu only copies */
            fprintf(stderr, "consumer: relu(%g) = %g\n", (double)x[i], (double)y[i]);
            goto done;
        }
    }

    static const char not_a_model[64] = "not a model";
    dvk_rwkv7_model *model = NULL;
    st = dvk_rwkv7_load_memory(ctx, not_a_model, sizeof not_a_model, NULL, &model);
    if (st == DVK_SUCCESS || model) {
        fprintf(stderr, "consumer: a file of text loaded as a model\n");
        dvk_rwkv7_destroy(model);
        goto done;
    }
    printf("consumer: deltavk %d.%d.%d on %s: relu agrees; a non-model is refused (%s)\n",
           DVK_VERSION_MAJOR, DVK_VERSION_MINOR, DVK_VERSION_PATCH,
           dvk_context_device_info(ctx)->name, dvk_status_string(st));
    ok = 1;

done:
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_context_destroy(ctx);
    return ok ? 0 : 1;
}

// quickstart: the delta rule over one sequence on the default Vulkan device, checked
// against the plain-C reference. Exit status 0 when they agree to 1e-5 relative RMS error.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "deltavk.h"
#include "deltavk_reference.h"

enum { B = 1, T = 100, H = 4, K = 64, V = 64 }; // one sequence of 100 tokens, 4 heads

static float q[B * T * H * K], k[B * T * H * K], v[B * T * H * V], beta[B * T * H];
static float o[B * T * H * V], state[B * H * K * V];
static double o_ref[B * T * H * V], state_ref[B * H * K * V];

static float uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
}

// On failure: say what went wrong and clean up (every destroy function accepts NULL).
#define CHECK(call)                                                                      \
    do {                                                                                 \
        dvk_status st_ = (call);                                                         \
        if (st_ != DVK_SUCCESS) {                                                        \
            fprintf(stderr, "%s: %s: %s\n", #call, dvk_status_string(st_),               \
                    dvk_last_error());                                                   \
            goto done;                                                                   \
        }                                                                                \
    } while (0)

int main(void)
{
    for (int i = 0; i < B * T * H * K; ++i) { // any q and k: l2norm_qk normalises them
        q[i] = uniform(-1, 1);
        k[i] = uniform(-1, 1);
    }
    for (int i = 0; i < B * T * H * V; ++i)
        v[i] = uniform(-1, 1);
    for (int i = 0; i < B * T * H; ++i)
        beta[i] = uniform(0, 1);

    bool ok = false;
    dvk_context *ctx = NULL;
    dvk_tensor *tq = NULL, *tk = NULL, *tv = NULL, *tbeta = NULL, *to = NULL, *ts = NULL;
    dvk_cmd *cmd = NULL;
    CHECK(dvk_context_create(NULL, &ctx)); // the best device, or the one DVK_DEVICE names
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tq));
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tk));
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &tv));
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {B, T, H}}, &tbeta));
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &to));
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}}, &ts));
    CHECK(dvk_tensor_upload(tq, q, sizeof q));
    CHECK(dvk_tensor_upload(tk, k, sizeof k));
    CHECK(dvk_tensor_upload(tv, v, sizeof v));
    CHECK(dvk_tensor_upload(tbeta, beta, sizeof beta));

    // Record the operator, run it, wait, and read the output and the final state back.
    CHECK(dvk_cmd_create(ctx, NULL, &cmd));
    CHECK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv,
                                                     .beta = tbeta, .o = to,
                                                     .final_state = ts, .l2norm_qk = true}));
    CHECK(dvk_cmd_submit(cmd));
    CHECK(dvk_cmd_wait(cmd, 0)); // 0: no timeout
    CHECK(dvk_tensor_download(to, o, sizeof o));
    CHECK(dvk_tensor_download(ts, state, sizeof state));

    // The same computation in double precision on the host.
    if (dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){
            .B = B, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k, .v = v, .beta = beta,
            .l2norm_qk = 1, .o = o_ref, .ht = state_ref}) != 0)
        goto done;
    const double err_o = dvk_ref_rel_rms_error(o_ref, o, B * T * H * V);
    const double err_state = dvk_ref_rel_rms_error(state_ref, state, B * H * K * V);
    printf("%s: relative RMS error against the C reference: output %.1e, state %.1e\n",
           dvk_context_device_info(ctx)->name, err_o, err_state);
    ok = err_o <= 1e-5 && err_state <= 1e-5;

done:
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tq);
    dvk_tensor_destroy(tk);
    dvk_tensor_destroy(tv);
    dvk_tensor_destroy(tbeta);
    dvk_tensor_destroy(to);
    dvk_tensor_destroy(ts);
    dvk_context_destroy(ctx);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

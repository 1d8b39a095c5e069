/* stream_delta_rule — the main demo: stream a sequence through the delta rule the way a
 * language model serves a prompt and then generates, on the default Vulkan device, and check
 * every output against the plain-C reference.
 *
 *   1. prefill: the first PREFILL tokens in one call, the recurrent state kept on the device;
 *   2. decode: the remaining tokens one call each, uploading the token's q, k, v, beta and
 *      reading back its output, the state updated in place (initial_state == final_state);
 *   3. compare the outputs of all tokens and the final state with dvk_ref_delta_rule (double).
 *
 * Usage: stream_delta_rule [--device N|NAME] [--tokens T] [--prefill P]
 * Exit status 0 when the GPU matches the reference (relative RMS error <= 1e-5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deltavk.h"
#include "deltavk_reference.h"

enum { B = 1, H = 4, K = 64, V = 64 };

#define CHECK(call)                                                                              \
    do {                                                                                         \
        dvk_status st_ = (call);                                                                 \
        if (st_ != DVK_SUCCESS) {                                                                \
            fprintf(stderr, "%s failed: %s: %s\n", #call, dvk_status_string(st_),                \
                    dvk_last_error());                                                           \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float randn(void)
{
    double u[2];
    for (int i = 0; i < 2; ++i) {
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        u[i] = ((rng * 0x2545F4914F6CDD1Dull >> 11) + 1.0) / 9007199254740993.0;
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static dvk_tensor *tensor(dvk_context *ctx, uint32_t ndim, uint64_t a, uint64_t b, uint64_t c,
                          uint64_t d)
{
    dvk_tensor *t = NULL;
    CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = ndim, .shape = {a, b, c, d}}, &t));
    return t;
}

int main(int argc, char **argv)
{
    const char *device = NULL;
    int T = 256, P = 192;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (strcmp(argv[i], "--prefill") == 0 && i + 1 < argc)
            P = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--device N|NAME] [--tokens T] [--prefill P]\n", argv[0]);
            return 2;
        }
    }
    if (T < 2 || P < 1 || P >= T) {
        fprintf(stderr, "need 1 <= prefill < tokens\n");
        return 2;
    }

    /* The whole sequence on the host: random queries, unit-norm keys, gates in (0,1). */
    const size_t nq = (size_t)T * H * K, nv = (size_t)T * H * V;
    float *q = malloc(nq * 4), *k = malloc(nq * 4), *v = malloc(nv * 4);
    float *beta = malloc((size_t)T * H * 4), *o = malloc(nv * 4);
    for (size_t i = 0; i < nq; ++i)
        q[i] = randn(), k[i] = randn();
    for (size_t r = 0; r < (size_t)T * H; ++r) {
        double ss = 0;
        for (int i = 0; i < K; ++i)
            ss += (double)k[r * K + i] * k[r * K + i];
        for (int i = 0; i < K; ++i)
            k[r * K + i] = (float)(k[r * K + i] / sqrt(ss));
        beta[r] = 1.0f / (1.0f + expf(-randn()));
    }
    for (size_t i = 0; i < nv; ++i)
        v[i] = randn();

    dvk_context *ctx = NULL;
    CHECK(dvk_context_create(&(dvk_context_desc){.device = device}, &ctx));
    const dvk_device_info *info = dvk_context_device_info(ctx);
    printf("deltavk stream_delta_rule demo\n");
    printf("device   %s (%s, Vulkan %u.%u)\n", info->name, info->driver_info,
           VK_API_VERSION_MAJOR(info->api_version), VK_API_VERSION_MINOR(info->api_version));
    printf("problem  delta rule, B=%d H=%d K=%d V=%d, %d tokens: prefill %d, then %d decode "
           "steps, fp32\n",
           B, H, K, V, T, P, T - P);

    /* The state lives on the device for the whole stream. */
    dvk_tensor *state = tensor(ctx, 4, B, H, K, V);
    dvk_cmd *cmd = NULL;
    CHECK(dvk_cmd_create(ctx, NULL, &cmd));
    CHECK(dvk_cmd_fill_zero(cmd, state));

    /* 1. prefill */
    dvk_tensor *pq = tensor(ctx, 4, B, P, H, K), *pk = tensor(ctx, 4, B, P, H, K);
    dvk_tensor *pv = tensor(ctx, 4, B, P, H, V), *pb = tensor(ctx, 3, B, P, H, 0);
    dvk_tensor *po = tensor(ctx, 4, B, P, H, V);
    CHECK(dvk_cmd_upload(cmd, pq, q, (size_t)P * H * K * 4));
    CHECK(dvk_cmd_upload(cmd, pk, k, (size_t)P * H * K * 4));
    CHECK(dvk_cmd_upload(cmd, pv, v, (size_t)P * H * V * 4));
    CHECK(dvk_cmd_upload(cmd, pb, beta, (size_t)P * H * 4));
    uint32_t t0 = 0, t1 = 0;
    const bool ts = info->timestamps;
    if (ts)
        CHECK(dvk_cmd_timestamp(cmd, &t0));
    CHECK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = pq, .k = pk, .v = pv, .beta = pb,
                                                     .o = po, .initial_state = state,
                                                     .final_state = state}));
    if (ts)
        CHECK(dvk_cmd_timestamp(cmd, &t1));
    CHECK(dvk_cmd_download(cmd, po, o, (size_t)P * H * V * 4));
    double wall = now_ms();
    CHECK(dvk_cmd_submit(cmd));
    CHECK(dvk_cmd_wait(cmd, 0));
    const double prefill_wall = now_ms() - wall;
    double prefill_gpu = 0.0;
    if (ts)
        CHECK(dvk_cmd_elapsed_ms(cmd, t0, t1, &prefill_gpu));

    /* 2. decode, one token per call */
    dvk_tensor *dq = tensor(ctx, 4, B, 1, H, K), *dk = tensor(ctx, 4, B, 1, H, K);
    dvk_tensor *dv = tensor(ctx, 4, B, 1, H, V), *db = tensor(ctx, 3, B, 1, H, 0);
    dvk_tensor *dout = tensor(ctx, 4, B, 1, H, V);
    double decode_gpu = 0.0;
    wall = now_ms();
    for (int t = P; t < T; ++t) {
        CHECK(dvk_cmd_reset(cmd));
        CHECK(dvk_cmd_upload(cmd, dq, q + (size_t)t * H * K, (size_t)H * K * 4));
        CHECK(dvk_cmd_upload(cmd, dk, k + (size_t)t * H * K, (size_t)H * K * 4));
        CHECK(dvk_cmd_upload(cmd, dv, v + (size_t)t * H * V, (size_t)H * V * 4));
        CHECK(dvk_cmd_upload(cmd, db, beta + (size_t)t * H, (size_t)H * 4));
        if (ts)
            CHECK(dvk_cmd_timestamp(cmd, &t0));
        CHECK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = dq, .k = dk, .v = dv, .beta = db,
                                                         .o = dout, .initial_state = state,
                                                         .final_state = state}));
        if (ts)
            CHECK(dvk_cmd_timestamp(cmd, &t1));
        CHECK(dvk_cmd_download(cmd, dout, o + (size_t)t * H * V, (size_t)H * V * 4));
        CHECK(dvk_cmd_submit(cmd));
        CHECK(dvk_cmd_wait(cmd, 0));
        double ms = 0.0;
        if (ts)
            CHECK(dvk_cmd_elapsed_ms(cmd, t0, t1, &ms));
        decode_gpu += ms;
    }
    const double decode_wall = now_ms() - wall;
    float *ht = malloc((size_t)B * H * K * V * 4);
    CHECK(dvk_tensor_download(state, ht, (size_t)B * H * K * V * 4));

    /* 3. the C reference over the whole sequence in one go */
    double *o_ref = malloc(nv * sizeof(double)), *ht_ref = malloc((size_t)H * K * V * sizeof(double));
    wall = now_ms();
    dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = B, .T = T, .H = H, .K = K, .V = V, .q = q,
                                                  .k = k, .v = v, .beta = beta, .o = o_ref,
                                                  .ht = ht_ref});
    const double ref_ms = now_ms() - wall;
    const double err_o = dvk_ref_rel_rms_error(o_ref, o, nv);
    const double err_ht = dvk_ref_rel_rms_error(ht_ref, ht, (size_t)H * K * V);
    const int decode = T - P;

    printf("prefill  %d tokens: %.3f ms on the device (%.0f tokens/s), %.3f ms wall with copies\n",
           P, prefill_gpu, P / (prefill_gpu * 1e-3), prefill_wall);
    printf("decode   %d steps: %.4f ms per token on the device, %.3f ms per token wall (upload, "
           "run, read back)\n",
           decode, decode_gpu / decode, decode_wall / decode);
    printf("C reference (double, one thread): %.3f ms for all %d tokens\n", ref_ms, T);
    printf("check    relative RMS error vs the C reference: o %.2e, final state %.2e -> %s\n",
           err_o, err_ht, err_o <= 1e-5 && err_ht <= 1e-5 ? "PASS" : "FAIL");

    dvk_tensor *all[] = {state, pq, pk, pv, pb, po, dq, dk, dv, db, dout};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        dvk_tensor_destroy(all[i]);
    dvk_cmd_destroy(cmd);
    dvk_context_destroy(ctx);
    free(q), free(k), free(v), free(beta), free(o), free(ht), free(o_ref), free(ht_ref);
    return err_o <= 1e-5 && err_ht <= 1e-5 ? 0 : 1;
}

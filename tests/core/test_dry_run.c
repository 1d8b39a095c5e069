/* Dry runs (dvk_cmd_desc.dry_run): building a recording's pipelines ahead of time. The
 * operators' pipelines exist before their first real recording, which then builds none; a
 * second dry run builds nothing and is cheap; a dry run records, allocates and copies nothing,
 * and its scratch tensors (which have no memory) are refused by real recordings; bad input
 * gets the status the real call would get; a layer of deltavk_nn made of several calls and
 * scratch temporaries, and a model's forward pass (prefill and decode), dry-run as their real
 * calls. The tests that count pipelines use a context of their own, so that their counts
 * start from an empty cache. */
#include "harness.h"

#include "deltavk_models.h"
#include "deltavk_nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { T = 70, H = 2, K = 32, V = 16 }; /* T > 64: two chunks of 64, or more of 32 or 16 */

/* A fresh context (validation on, as the harness's) made the harness's for one test, so that
 * harness_tensor and friends allocate on it. */
static dvk_context *saved_ctx;

static void use_fresh_context(void)
{
    saved_ctx = harness_ctx;
    const dvk_context_desc desc = harness_context_desc();
    dvk_context *ctx = NULL;
    CHECK_OK(dvk_context_create(&desc, &ctx));
    harness_ctx = ctx;
}

static void drop_fresh_context(void)
{
    const uint64_t messages = dvk_context_validation_message_count(harness_ctx);
    dvk_context_destroy(harness_ctx);
    harness_ctx = saved_ctx;
    assert_int_equal(messages, 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* A prefill of T tokens from a zero state and one decode step after it: the two shape classes
 * of a stream, which use different kernels. */
typedef struct problem {
    float q[T * H * K], k[T * H * K], v[T * H * V], beta[T * H];
    dvk_tensor *tq, *tk, *tv, *tbeta, *to, *state;       /* prefill */
    dvk_tensor *dq, *dk, *dv, *dbeta, *dout;             /* decode: the last token again */
} problem;

static void make_problem(problem *p)
{
    harness_rng rng = harness_rng_make(21);
    harness_fill_normal(&rng, p->q, T * H * K, 1.0f);
    harness_fill_normal(&rng, p->k, T * H * K, 1.0f);
    harness_l2_normalize_rows(p->k, T * H, K);
    harness_fill_normal(&rng, p->v, T * H * V, 1.0f);
    harness_fill_uniform(&rng, p->beta, T * H, 0.1f, 0.9f);
    const uint64_t sk[4] = {1, T, H, K}, sv[4] = {1, T, H, V}, sb[3] = {1, T, H};
    const uint64_t dk[4] = {1, 1, H, K}, dv[4] = {1, 1, H, V}, db[3] = {1, 1, H};
    const uint64_t ss[4] = {1, H, K, V};
    p->tq = harness_tensor(DVK_DTYPE_F32, 4, sk, p->q);
    p->tk = harness_tensor(DVK_DTYPE_F32, 4, sk, p->k);
    p->tv = harness_tensor(DVK_DTYPE_F32, 4, sv, p->v);
    p->tbeta = harness_tensor(DVK_DTYPE_F32, 3, sb, p->beta);
    p->to = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv);
    p->state = harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss);
    const size_t last = (size_t)(T - 1) * H;
    p->dq = harness_tensor(DVK_DTYPE_F32, 4, dk, p->q + last * K);
    p->dk = harness_tensor(DVK_DTYPE_F32, 4, dk, p->k + last * K);
    p->dv = harness_tensor(DVK_DTYPE_F32, 4, dv, p->v + last * V);
    p->dbeta = harness_tensor(DVK_DTYPE_F32, 3, db, p->beta + last);
    p->dout = harness_tensor_poisoned(DVK_DTYPE_F32, 4, dv);
}

static void free_problem(problem *p)
{
    dvk_tensor *all[] = {p->tq, p->tk, p->tv, p->tbeta, p->to, p->state,
                         p->dq, p->dk, p->dv, p->dbeta, p->dout};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
        dvk_tensor_destroy(all[i]);
}

/* The calls of one frame: zero the state, prefill in chunks (l2norm_qk, so with scratch copies
 * of q and k), one recurrent decode step carrying the state. */
static void record_frame(dvk_cmd *cmd, problem *p)
{
    CHECK_OK(dvk_cmd_fill_zero(cmd, p->state));
    CHECK_OK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){
                                     .q = p->tq, .k = p->tk, .v = p->tv, .beta = p->tbeta,
                                     .o = p->to, .initial_state = p->state,
                                     .final_state = p->state, .mode = DVK_MODE_CHUNK,
                                     .l2norm_qk = true}));
    CHECK_OK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){
                                     .q = p->dq, .k = p->dk, .v = p->dv, .beta = p->dbeta,
                                     .o = p->dout, .initial_state = p->state,
                                     .final_state = p->state, .mode = DVK_MODE_RECURRENT,
                                     .l2norm_qk = true}));
}

static void test_pipelines_built_before_first_record(void **state)
{
    (void)state;
    use_fresh_context();
    problem *p = calloc(1, sizeof *p);
    assert_non_null(p);
    make_problem(p);

    const uint32_t before = dvk_context_pipeline_count(harness_ctx);
    dvk_cmd *dry = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    record_frame(dry, p);
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    assert_true(prepared > before + 1); /* the chunked stages and the decode kernel at least */
    assert_int_equal(dvk_cmd_scratch_capacity(dry), 0); /* no device memory taken */
    dvk_cmd_destroy(dry);

    /* The real frame builds nothing, and computes what the reference does. */
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    record_frame(cmd, p);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    harness_run(cmd);
    dvk_cmd_destroy(cmd);

    double *o_ref = malloc(sizeof(double) * T * H * V);
    assert_non_null(o_ref);
    assert_int_equal(dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){
                         .B = 1, .T = T, .H = H, .K = K, .V = V, .q = p->q, .k = p->k,
                         .v = p->v, .beta = p->beta, .l2norm_qk = 1, .o = o_ref}),
                     0);
    float *o = harness_download(p->to);
    harness_check("dry run, then the real prefill", "o", o_ref, o, T * H * V, 1e-5);
    free(o);
    free(o_ref);
    free_problem(p);
    free(p);
    drop_fresh_context();
}

static void test_second_dry_run_is_cheap(void **state)
{
    (void)state;
    use_fresh_context();
    problem *p = calloc(1, sizeof *p);
    assert_non_null(p);
    make_problem(p);

    dvk_cmd *dry = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    double t0 = now_ms();
    record_frame(dry, p);
    const double first_ms = now_ms() - t0;
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);

    /* Again on the same dry run (reset), and on another: nothing new, and quick. */
    CHECK_OK(dvk_cmd_reset(dry));
    t0 = now_ms();
    record_frame(dry, p);
    const double second_ms = now_ms() - t0;
    dvk_cmd *again = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &again));
    record_frame(again, p);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "  dry run: first %.2f ms (%u pipelines), second %.3f ms\n", first_ms,
                prepared, second_ms);
    /* Building pipelines takes milliseconds each; looking them up, microseconds. */
    assert_true(second_ms * 4 < first_ms);
    dvk_cmd_destroy(again);
    dvk_cmd_destroy(dry);
    free_problem(p);
    free(p);
    drop_fresh_context();
}

/* Nothing recorded or copied: uploads leave the tensor as it was, downloads leave the host
 * buffer; and what cannot be done on a dry run says so. */
static void test_dry_run_records_nothing(void **state)
{
    (void)state;
    const uint64_t shape[1] = {8};
    const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1}, twos[8] = {2, 2, 2, 2, 2, 2, 2, 2};
    dvk_tensor *t = harness_tensor(DVK_DTYPE_F32, 1, shape, ones);
    dvk_cmd *dry = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    CHECK_OK(dvk_cmd_upload(dry, t, twos, sizeof twos));
    CHECK_OK(dvk_cmd_fill_zero(dry, t));
    CHECK_OK(dvk_cmd_barrier(dry));
    float sink[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    CHECK_OK(dvk_cmd_download(dry, t, sink, sizeof sink));
    dvk_tensor *scratch = NULL;
    CHECK_OK(dvk_cmd_scratch_tensor(dry, &(dvk_tensor_desc){.ndim = 1, .shape = {8}},
                                    &scratch));
    dvk_tensor *sq = NULL, *sv = NULL, *sb = NULL, *so = NULL;
    CHECK_OK(dvk_cmd_scratch_tensor(dry, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 3, H, K}},
                                    &sq));
    CHECK_OK(dvk_cmd_scratch_tensor(dry, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 3, H, V}},
                                    &sv));
    CHECK_OK(dvk_cmd_scratch_tensor(dry, &(dvk_tensor_desc){.ndim = 3, .shape = {1, 3, H}},
                                    &sb));
    CHECK_OK(dvk_cmd_scratch_tensor(dry, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 3, H, V}},
                                    &so));
    const dvk_delta_rule_desc on_scratch = {.q = sq, .k = sq, .v = sv, .beta = sb, .o = so};
    assert_int_equal(dvk_cmd_scratch_capacity(dry), 0);
    CHECK_STATUS(dvk_cmd_submit(dry), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_cmd_wait(dry, 0), DVK_ERROR_INVALID_STATE);
    double ms;
    CHECK_STATUS(dvk_cmd_elapsed_ms(dry, 0, 0, &ms), DVK_ERROR_INVALID_STATE);
    if (dvk_context_device_info(harness_ctx)->timestamps) {
        uint32_t a, b;
        CHECK_OK(dvk_cmd_timestamp(dry, &a));
        CHECK_OK(dvk_cmd_timestamp(dry, &b));
        CHECK_STATUS(dvk_cmd_elapsed_ms(dry, a, b, &ms), DVK_ERROR_INVALID_STATE);
    }

    /* A dry run's scratch tensor has no memory: a real recording or a blocking copy of it is
     * refused, not handed to the driver. */
    dvk_cmd *real = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &real));
    CHECK_STATUS(dvk_cmd_fill_zero(real, scratch), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_cmd_download(real, scratch, sink, sizeof sink), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_tensor_download(scratch, sink, sizeof sink), DVK_ERROR_INVALID_STATE);
    CHECK_OK(dvk_delta_rule(dry, &on_scratch));
    CHECK_STATUS(dvk_delta_rule(real, &on_scratch), DVK_ERROR_INVALID_STATE);
    dvk_cmd_destroy(real);

    CHECK_OK(dvk_cmd_reset(dry));
    dvk_cmd_destroy(dry);
    for (int i = 0; i < 8; ++i)
        assert_true(sink[i] == 7.0f);
    float *got = harness_download(t);
    for (int i = 0; i < 8; ++i)
        assert_true(got[i] == 1.0f);
    free(got);
    dvk_tensor_destroy(t);
}

/* Bad input: the status of the real call, and no pipeline built for it. */
static void test_dry_run_bad_input(void **state)
{
    (void)state;
    dvk_cmd *dry = NULL;
    CHECK_STATUS(dvk_cmd_create(harness_ctx,
                                &(dvk_cmd_desc){.dry_run = true,
                                                .command_buffer = (VkCommandBuffer)(uintptr_t)1},
                                &dry),
                 DVK_ERROR_INVALID_ARGUMENT);
    assert_null(dry);

    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    dvk_tensor *q = harness_make(DVK_DTYPE_F32, 4, 1, 5, H, K);
    dvk_tensor *k_short = harness_make(DVK_DTYPE_F32, 4, 1, 5, H, K / 2);
    dvk_tensor *v = harness_make(DVK_DTYPE_F32, 4, 1, 5, H, V);
    dvk_tensor *beta = harness_make(DVK_DTYPE_F32, 3, 1, 5, H, 0);
    dvk_tensor *o = harness_make(DVK_DTYPE_F32, 4, 1, 5, H, V);
    const dvk_delta_rule_desc bad[] = {
        {.q = q, .k = k_short, .v = v, .beta = beta, .o = o},             /* K disagrees */
        {.q = q, .k = q, .v = v, .beta = NULL, .o = o},                   /* no beta */
        {.q = q, .k = q, .v = v, .beta = beta, .o = o, .mode = DVK_MODE_CHUNK,
         .chunk_size = 48},                                               /* no such chunk */
        {.q = q, .k = q, .v = v, .beta = beta, .o = o, .mode = (dvk_mode)7}, /* no such mode */
    };
    const uint32_t before = dvk_context_pipeline_count(harness_ctx);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
        const dvk_status real = dvk_delta_rule(cmd, &bad[i]);
        const dvk_status dry_status = dvk_delta_rule(dry, &bad[i]);
        if (real == DVK_SUCCESS || dry_status != real)
            fail_msg("bad case %zu: real call %s, dry run %s", i, dvk_status_string(real),
                     dvk_status_string(dry_status));
    }
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), before);
    CHECK_STATUS(dvk_delta_rule(dry, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_delta_rule(NULL, &bad[0]), DVK_ERROR_INVALID_ARGUMENT);
    float wrong[3];
    CHECK_STATUS(dvk_cmd_upload(dry, o, wrong, sizeof wrong), DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_cmd_dispatch(dry, &(dvk_dispatch_desc){0}), DVK_ERROR_INVALID_ARGUMENT);
    dvk_cmd_destroy(cmd);
    dvk_cmd_destroy(dry);
    dvk_tensor *all[] = {q, k_short, v, beta, o};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
        dvk_tensor_destroy(all[i]);
}

/* A deltavk_nn layer helper (token shift, two linears, GELU, gated residual, with scratch
 * temporaries that its alias checks compare): the dry run accepts what the real call accepts
 * (the scratch tensors of a dry run lie apart as a real recording's do), and builds all of it. */
static void test_dry_run_nn_layer(void **state)
{
    (void)state;
    use_fresh_context();
    enum { B = 2, TL = 5, C = 24, F = 40 };
    harness_rng rng = harness_rng_make(3);
    float x[B * TL * C], premix[C], w1[F * C], b1[F], w2[C * F], b2[C], init[C];
    harness_fill_normal(&rng, x, B * TL * C, 1.0f);
    harness_fill_uniform(&rng, premix, C, 0.0f, 1.0f);
    harness_fill_normal(&rng, w1, F * C, 0.2f);
    harness_fill_normal(&rng, b1, F, 0.1f);
    harness_fill_normal(&rng, w2, C * F, 0.2f);
    harness_fill_normal(&rng, b2, C, 0.1f);
    harness_fill_normal(&rng, init, C, 1.0f);
    const uint64_t sx[3] = {B, TL, C}, sc[1] = {C}, sw1[2] = {F, C}, sf[1] = {F},
                   sw2[2] = {C, F};
    dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 3, sx, x);
    dvk_tensor *tpm = harness_tensor(DVK_DTYPE_F32, 1, sc, premix);
    dvk_tensor *tw1 = harness_tensor(DVK_DTYPE_F32, 2, sw1, w1);
    dvk_tensor *tb1 = harness_tensor(DVK_DTYPE_F32, 1, sf, b1);
    dvk_tensor *tw2 = harness_tensor(DVK_DTYPE_F32, 2, sw2, w2);
    dvk_tensor *tb2 = harness_tensor(DVK_DTYPE_F32, 1, sc, b2);
    dvk_tensor *tinit = harness_tensor(DVK_DTYPE_F32, 1, sc, init);
    dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 3, sx);
    const dvk_token_lerp_desc desc = {.x = tx, .premix = tpm, .w1 = tw1, .b1 = tb1, .w2 = tw2,
                                      .b2 = tb2, .initial = tinit, .y = ty};

    dvk_cmd *dry = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    CHECK_OK(dvk_token_lerp(dry, &desc));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    assert_true(prepared >= 4); /* shift, linear, GELU, gated residual at least */
    dvk_cmd_destroy(dry);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_token_lerp(cmd, &desc));
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    harness_run(cmd);
    dvk_cmd_destroy(cmd);
    dvk_tensor *all[] = {tx, tpm, tw1, tb1, tw2, tb2, tinit, ty};
    for (size_t i = 0; i < sizeof all / sizeof *all; ++i)
        dvk_tensor_destroy(all[i]);
    drop_fresh_context();
}

/* A model's forward pass: prefill with every position's logits, then a decode step, dry-run at
 * load; the real passes build nothing. */
static void test_dry_run_model_forward(void **state)
{
    (void)state;
    use_fresh_context();
    dvk_rwkv7_model *model = NULL;
    CHECK_OK(dvk_rwkv7_load(harness_ctx,
                            DVK_FIXTURE_DIR "/tiny-rwkv7/tiny-rwkv-7v0-834K-FP32.bin", NULL,
                            &model));
    const uint32_t nv = dvk_rwkv7_model_info(model)->n_vocab;
    dvk_rwkv7_session *session = NULL;
    CHECK_OK(dvk_rwkv7_session_create(model, &session));
    enum { N = 11 };
    const int32_t prompt[N] = {1, 5, 9, 2, 7, 3, 3, 8, 0, 4, 6}, next = 5;
    const uint64_t s_all[2] = {N, nv}, s_last[1] = {nv};
    dvk_tensor *all_logits = harness_tensor_poisoned(DVK_DTYPE_F32, 2, s_all);
    dvk_tensor *last_logits = harness_tensor_poisoned(DVK_DTYPE_F32, 1, s_last);
    const dvk_rwkv7_forward_desc prefill = {.tokens = prompt, .n_tokens = N,
                                            .logits = all_logits};
    const dvk_rwkv7_forward_desc decode = {.tokens = &next, .n_tokens = 1,
                                           .logits = last_logits};

    dvk_cmd *dry = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    CHECK_OK(dvk_rwkv7_forward(dry, session, &prefill));
    CHECK_OK(dvk_rwkv7_forward(dry, session, &decode));
    const uint32_t prepared = dvk_context_pipeline_count(harness_ctx);
    assert_true(prepared > 0);
    dvk_cmd_destroy(dry);

    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_rwkv7_forward(cmd, session, &prefill));
    harness_run(cmd);
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_OK(dvk_rwkv7_forward(cmd, session, &decode));
    harness_run(cmd);
    assert_int_equal(dvk_context_pipeline_count(harness_ctx), prepared);
    float *logits = harness_download(last_logits);
    for (uint32_t i = 0; i < nv; ++i)
        assert_true(logits[i] == logits[i]); /* computed: no NaN left of the poison */
    free(logits);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(all_logits);
    dvk_tensor_destroy(last_logits);
    dvk_rwkv7_session_destroy(session);
    dvk_rwkv7_destroy(model);
    drop_fresh_context();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pipelines_built_before_first_record,
                                  harness_test_teardown),
        cmocka_unit_test_teardown(test_second_dry_run_is_cheap, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run_records_nothing, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run_nn_layer, harness_test_teardown),
        cmocka_unit_test_teardown(test_dry_run_model_forward, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}

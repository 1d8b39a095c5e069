/* dvk_cmd: the recording's life cycle (record, submit, wait, replay, reset), timestamps,
 * many dispatches in one recording, and misuse reported by status. */
#include "harness.h"
#include "core/thread.h" /* the library's portable threads: <threads.h> is not everywhere */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 9, H = 2, K = 16, V = 8 };

typedef struct small_problem {
    dvk_tensor *q, *k, *v, *beta, *o;
    double o_ref[T * H * V];
} small_problem;

static void make_problem(small_problem *p, uint64_t seed)
{
    harness_rng rng = harness_rng_make(seed);
    float q[T * H * K], k[T * H * K], v[T * H * V], beta[T * H];
    harness_fill_normal(&rng, q, T * H * K, 1.0f);
    harness_fill_normal(&rng, k, T * H * K, 1.0f);
    harness_l2_normalize_rows(k, T * H, K);
    harness_fill_normal(&rng, v, T * H * V, 1.0f);
    harness_fill_uniform(&rng, beta, T * H, 0.1f, 0.9f);
    const uint64_t sk[4] = {1, T, H, K}, sv[4] = {1, T, H, V}, sb[3] = {1, T, H};
    p->q = harness_tensor(DVK_DTYPE_F32, 4, sk, q);
    p->k = harness_tensor(DVK_DTYPE_F32, 4, sk, k);
    p->v = harness_tensor(DVK_DTYPE_F32, 4, sv, v);
    p->beta = harness_tensor(DVK_DTYPE_F32, 3, sb, beta);
    p->o = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv);
    dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = 1, .T = T, .H = H, .K = K, .V = V, .q = q,
                                                  .k = k, .v = v, .beta = beta, .o = p->o_ref});
}

static void free_problem(small_problem *p)
{
    dvk_tensor_destroy(p->q), dvk_tensor_destroy(p->k), dvk_tensor_destroy(p->v);
    dvk_tensor_destroy(p->beta), dvk_tensor_destroy(p->o);
}

static dvk_delta_rule_desc desc_of(const small_problem *p)
{
    return (dvk_delta_rule_desc){.q = p->q, .k = p->k, .v = p->v, .beta = p->beta, .o = p->o};
}

static void check_output(const small_problem *p, const char *label)
{
    float *o = harness_download(p->o);
    assert_true(harness_rel_err(label, p->o_ref, o, T * H * V) <= 1e-5);
    free(o);
}

static void test_lifecycle(void **state)
{
    (void)state;
    small_problem p;
    make_problem(&p, 1);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_cmd_wait(cmd, 0), DVK_ERROR_INVALID_STATE); /* nothing submitted */
    const dvk_delta_rule_desc d = desc_of(&p);
    CHECK_OK(dvk_delta_rule(cmd, &d));
    CHECK_OK(dvk_cmd_submit(cmd));
    CHECK_STATUS(dvk_cmd_submit(cmd), DVK_ERROR_INVALID_STATE); /* still pending */
    CHECK_OK(dvk_cmd_wait(cmd, 0));
    CHECK_OK(dvk_cmd_wait(cmd, 0)); /* waiting again is harmless */
    check_output(&p, "lifecycle: first run");

    /* Replay: poison the output, submit the same recording again. */
    dvk_tensor_destroy(p.o);
    p.o = NULL;
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_STATE); /* recording closed */
    dvk_cmd_destroy(cmd);

    const uint64_t sv[4] = {1, T, H, V};
    p.o = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv);
    const dvk_delta_rule_desc d2 = desc_of(&p);
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_OK(dvk_delta_rule(cmd, &d2));
    harness_run(cmd);
    check_output(&p, "lifecycle: second recording");
    float nan[T * H * V];
    for (int i = 0; i < T * H * V; ++i)
        nan[i] = 0.0f / 0.0f;
    CHECK_OK(dvk_tensor_upload(p.o, nan, sizeof nan));
    harness_run(cmd); /* replay writes the output again */
    check_output(&p, "lifecycle: replay");

    /* Reset and record something else in the same dvk_cmd. */
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_STATUS(dvk_cmd_upload(cmd, p.o, NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(dvk_cmd_fill_zero(cmd, p.o));
    harness_run(cmd);
    float *o = harness_download(p.o);
    for (int i = 0; i < T * H * V; ++i)
        assert_true(o[i] == 0.0f);
    free(o);

    /* Destroying a recording the GPU is still running waits for it first. */
    CHECK_OK(dvk_cmd_reset(cmd));
    CHECK_OK(dvk_delta_rule(cmd, &d2));
    CHECK_OK(dvk_cmd_submit(cmd));
    dvk_cmd_destroy(cmd);
    check_output(&p, "lifecycle: destroyed while pending");

    CHECK_STATUS(dvk_cmd_create(NULL, NULL, &cmd), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_create(harness_ctx, NULL, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_submit(NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_wait(NULL, 0), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_reset(NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_barrier(NULL), DVK_ERROR_INVALID_ARGUMENT);
    dvk_cmd_destroy(NULL);
    free_problem(&p);
}

static void test_timestamps(void **state)
{
    (void)state;
    if (!dvk_context_device_info(harness_ctx)->timestamps) {
        fprintf(stderr, "  skip: no timestamps on this device\n");
        return;
    }
    small_problem p;
    make_problem(&p, 2);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, &(dvk_cmd_desc){.max_timestamps = 2}, &cmd));
    uint32_t t0 = 9, t1 = 9, t2 = 9;
    CHECK_OK(dvk_cmd_timestamp(cmd, &t0));
    const dvk_delta_rule_desc d = desc_of(&p);
    CHECK_OK(dvk_delta_rule(cmd, &d));
    CHECK_OK(dvk_cmd_timestamp(cmd, &t1));
    assert_int_equal(t0, 0);
    assert_int_equal(t1, 1);
    CHECK_STATUS(dvk_cmd_timestamp(cmd, &t2), DVK_ERROR_LIMIT_EXCEEDED);
    CHECK_STATUS(dvk_cmd_timestamp(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    double ms = -1.0;
    CHECK_STATUS(dvk_cmd_elapsed_ms(cmd, t0, t1, &ms), DVK_ERROR_INVALID_STATE);
    CHECK_OK(dvk_cmd_submit(cmd));
    CHECK_OK(dvk_cmd_wait(cmd, 0));
    CHECK_OK(dvk_cmd_elapsed_ms(cmd, t0, t1, &ms));
    assert_true(ms >= 0.0 && ms < 60e3);
    CHECK_STATUS(dvk_cmd_elapsed_ms(cmd, t0, 5, &ms), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_elapsed_ms(cmd, t0, t1, NULL), DVK_ERROR_INVALID_ARGUMENT);
    for (int i = 0; i < 3; ++i) { /* replays rewrite the timestamps */
        CHECK_OK(dvk_cmd_submit(cmd));
        CHECK_OK(dvk_cmd_wait(cmd, 0));
        CHECK_OK(dvk_cmd_elapsed_ms(cmd, t0, t1, &ms));
        assert_true(ms >= 0.0 && ms < 60e3);
    }
    check_output(&p, "timestamps");
    dvk_cmd_destroy(cmd);
    free_problem(&p);
}

/* More dispatches than one descriptor pool holds, each rewriting the same output (so each
 * needs a barrier after the one before). */
static void test_many_dispatches(void **state)
{
    (void)state;
    small_problem p;
    make_problem(&p, 3);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    const dvk_delta_rule_desc d = desc_of(&p);
    for (int i = 0; i < 150; ++i)
        CHECK_OK(dvk_delta_rule(cmd, &d));
    harness_run(cmd);
    check_output(&p, "150 dispatches");
    CHECK_OK(dvk_cmd_reset(cmd)); /* the pools are reused */
    for (int i = 0; i < 150; ++i)
        CHECK_OK(dvk_delta_rule(cmd, &d));
    harness_run(cmd);
    check_output(&p, "150 dispatches after reset");
    dvk_cmd_destroy(cmd);
    free_problem(&p);
}

/* Tensors of one context cannot be used with another's recording. */
static void test_foreign_tensor(void **state)
{
    (void)state;
    dvk_context_desc cd = harness_context_desc();
    dvk_context *other = NULL;
    CHECK_OK(dvk_context_create(&cd, &other));
    small_problem p;
    make_problem(&p, 4);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(other, NULL, &cmd));
    const dvk_delta_rule_desc d = desc_of(&p);
    CHECK_STATUS(dvk_delta_rule(cmd, &d), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_cmd_fill_zero(cmd, p.o), DVK_ERROR_INVALID_ARGUMENT);
    float x[T * H * V];
    CHECK_STATUS(dvk_cmd_download(cmd, p.o, x, sizeof x), DVK_ERROR_INVALID_ARGUMENT);
    dvk_cmd_destroy(cmd);
    assert_int_equal(dvk_context_validation_message_count(other), 0);
    dvk_context_destroy(other);
    free_problem(&p);
}

/* The threading contract: several threads may create tensors and record into their own dvk_cmd
 * on one context at once (the context's allocator, pipeline cache and queue are locked). */
typedef struct thread_job {
    uint64_t seed;
    int rounds;
    double worst;
    dvk_status status;
} thread_job;

static int thread_main(void *arg)
{
    thread_job *job = arg;
    job->worst = 0.0;
    for (int r = 0; r < job->rounds && job->status == DVK_SUCCESS; ++r) {
        harness_rng rng = harness_rng_make(job->seed * 100 + (uint64_t)r);
        float q[T * H * K], k[T * H * K], v[T * H * V], beta[T * H];
        double o_ref[T * H * V];
        harness_fill_normal(&rng, q, T * H * K, 1.0f);
        harness_fill_normal(&rng, k, T * H * K, 1.0f);
        harness_l2_normalize_rows(k, T * H, K);
        harness_fill_normal(&rng, v, T * H * V, 1.0f);
        harness_fill_uniform(&rng, beta, T * H, 0.1f, 0.9f);
        dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = 1, .T = T, .H = H, .K = K, .V = V,
                                                      .q = q, .k = k, .v = v, .beta = beta,
                                                      .o = o_ref});
        dvk_tensor *t[5] = {0};
        const uint64_t shapes[5][4] = {{1, T, H, K}, {1, T, H, K}, {1, T, H, V}, {1, T, H, 0},
                                       {1, T, H, V}};
        const float *data[4] = {q, k, v, beta};
        dvk_status st = DVK_SUCCESS;
        for (int i = 0; i < 5 && st == DVK_SUCCESS; ++i) {
            dvk_tensor_desc d = {.ndim = i == 3 ? 3 : 4};
            memcpy(d.shape, shapes[i], sizeof d.shape);
            st = dvk_tensor_create(harness_ctx, &d, &t[i]);
            if (st == DVK_SUCCESS && i < 4)
                st = dvk_tensor_upload(t[i], data[i], dvk_tensor_bytes(t[i]));
        }
        dvk_cmd *cmd = NULL;
        float o[T * H * V];
        if (st == DVK_SUCCESS)
            st = dvk_cmd_create(harness_ctx, NULL, &cmd);
        if (st == DVK_SUCCESS)
            st = dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = t[0], .k = t[1], .v = t[2],
                                                            .beta = t[3], .o = t[4]});
        if (st == DVK_SUCCESS)
            st = dvk_cmd_download(cmd, t[4], o, sizeof o);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_submit(cmd);
        if (st == DVK_SUCCESS)
            st = dvk_cmd_wait(cmd, 0);
        dvk_cmd_destroy(cmd);
        for (int i = 0; i < 5; ++i)
            dvk_tensor_destroy(t[i]);
        job->status = st;
        if (st == DVK_SUCCESS) {
            const double e = dvk_ref_rel_rms_error(o_ref, o, T * H * V);
            job->worst = e > job->worst ? e : job->worst;
        }
    }
    return 0;
}

static void test_threads_share_a_context(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    dvk_thread th[THREADS];
    thread_job jobs[THREADS];
    for (int i = 0; i < THREADS; ++i) {
        jobs[i] = (thread_job){.seed = (uint64_t)i + 1, .rounds = 6, .status = DVK_SUCCESS};
        assert_true(dvk__thread_create(&th[i], thread_main, &jobs[i]));
    }
    for (int i = 0; i < THREADS; ++i)
        assert_int_equal(dvk__thread_join(&th[i]), 0);
    for (int i = 0; i < THREADS; ++i) {
        if (jobs[i].status != DVK_SUCCESS)
            fail_msg("thread %d: %s", i, dvk_status_string(jobs[i].status));
        if (!(jobs[i].worst <= 1e-5))
            fail_msg("thread %d: rel rms %.3e", i, jobs[i].worst);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lifecycle, harness_test_teardown),
        cmocka_unit_test_teardown(test_timestamps, harness_test_teardown),
        cmocka_unit_test_teardown(test_many_dispatches, harness_test_teardown),
        cmocka_unit_test_teardown(test_foreign_tensor, harness_test_teardown),
        cmocka_unit_test_teardown(test_threads_share_a_context, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}

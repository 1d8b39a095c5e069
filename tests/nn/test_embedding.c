/* dvk_embedding on the device against dvk_ref_embedding: indices of 0 to 3 dimensions, odd
 * widths, out-of-range indices (negative, V, far past V) giving zero rows, every weight and
 * output dtype (mixed); bad input. */
#include "harness.h"

#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct emb_case {
    uint32_t ndim;
    uint64_t shape[3];
    size_t V, C;
    dvk_dtype w_dt, y_dt;
} emb_case;

static const emb_case cases[] = {
    {1, {7}, 11, 5, DVK_DTYPE_F32, DVK_DTYPE_F32},
    {0, {0}, 13, 33, DVK_DTYPE_F32, DVK_DTYPE_F32},
    {2, {3, 5}, 50, 129, DVK_DTYPE_F32, DVK_DTYPE_F32},
    {3, {2, 3, 2}, 9, 17, DVK_DTYPE_F16, DVK_DTYPE_F16},
    {2, {2, 9}, 31, 65, DVK_DTYPE_BF16, DVK_DTYPE_BF16},
    {1, {6}, 20, 31, DVK_DTYPE_BF16, DVK_DTYPE_F32},
    {2, {4, 3}, 20, 45, DVK_DTYPE_F32, DVK_DTYPE_F16},
    {1, {5}, 8, 7, DVK_DTYPE_F16, DVK_DTYPE_BF16},
};

static void test_lookup(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
        const emb_case *c = &cases[ci];
        if (!harness_have_dtype("case", c->w_dt) || !harness_have_dtype("case", c->y_dt))
            continue;
        size_t n = 1;
        for (uint32_t i = 0; i < c->ndim; ++i)
            n *= c->shape[i];
        harness_rng rng = harness_rng_make(ci + 7);
        float *ids = malloc(n * sizeof *ids);
        int32_t *ids_i = malloc(n * sizeof *ids_i);
        for (size_t i = 0; i < n; ++i) {
            /* mostly in range; every few an index outside [0, V) */
            const int32_t bad[4] = {-1, (int32_t)c->V, (int32_t)c->V + 1000, -2147483647};
            ids_i[i] = i % 4 == 3 ? bad[(i / 4) % 4]
                                  : (int32_t)(harness_uniform(&rng) * (float)c->V) % (int32_t)c->V;
            ids[i] = (float)ids_i[i];
        }
        float *w = malloc(c->V * c->C * sizeof *w);
        harness_fill_normal(&rng, w, c->V * c->C, 1.0f);
        harness_round_to(c->w_dt, w, c->V * c->C);
        double *ref = malloc(n * c->C * sizeof *ref);
        dvk_ref_embedding(ids_i, n, w, c->V, c->C, ref);
        /* what y stores */
        float *want = malloc(n * c->C * sizeof *want);
        for (size_t i = 0; i < n * c->C; ++i)
            want[i] = (float)ref[i];
        harness_round_to(c->y_dt, want, n * c->C);

        uint64_t ys[4] = {0};
        for (uint32_t i = 0; i < c->ndim; ++i)
            ys[i] = c->shape[i];
        ys[c->ndim] = c->C;
        const uint64_t ws[2] = {c->V, c->C};
        dvk_tensor *ti = harness_tensor(DVK_DTYPE_I32, c->ndim, c->shape, ids);
        dvk_tensor *tw = harness_tensor(c->w_dt, 2, ws, w);
        dvk_tensor *ty = harness_tensor_poisoned(c->y_dt, c->ndim + 1, ys);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ti, .weight = tw, .y = ty}));
        harness_run(cmd);
        float *y = harness_download(ty);
        char name[96];
        snprintf(name, sizeof name, "embedding n=%zu V=%zu C=%zu %s->%s", n, c->V, c->C,
                 dvk_dtype_name(c->w_dt), dvk_dtype_name(c->y_dt));
        harness_check(name, "y", ref, y, n * c->C, c->y_dt == DVK_DTYPE_F32 ? 1e-5 : 5e-3);
        assert_memory_equal(y, want, n * c->C * sizeof *y); /* a copy: exact */
        dvk_cmd_destroy(cmd);
        dvk_tensor_destroy(ti), dvk_tensor_destroy(tw), dvk_tensor_destroy(ty);
        free(ids), free(ids_i), free(w), free(ref), free(want), free(y);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    dvk_tensor *ids = harness_make(DVK_DTYPE_I32, 2, 2, 3, 0, 0);
    dvk_tensor *ids4 = harness_make(DVK_DTYPE_I32, 4, 1, 2, 1, 3);
    dvk_tensor *fids = harness_make(DVK_DTYPE_F32, 2, 2, 3, 0, 0);
    dvk_tensor *w = harness_make(DVK_DTYPE_F32, 2, 10, 4, 0, 0);
    dvk_tensor *w3 = harness_make(DVK_DTYPE_F32, 3, 10, 4, 1, 0);
    dvk_tensor *y = harness_make(DVK_DTYPE_F32, 3, 2, 3, 4, 0);
    dvk_tensor *y_bad = harness_make(DVK_DTYPE_F32, 3, 2, 3, 5, 0);
    dvk_tensor *y_flat = harness_make(DVK_DTYPE_F32, 2, 6, 4, 0, 0);
    dvk_tensor *y_i = harness_make(DVK_DTYPE_I32, 3, 2, 3, 4, 0);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
    CHECK_STATUS(dvk_embedding(cmd, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_embedding(NULL, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = y}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w}),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = fids, .weight = w, .y = y}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = y_i}),
                 DVK_ERROR_UNSUPPORTED_DTYPE);
    CHECK_STATUS(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w3, .y = y}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(
        dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = y_bad}),
        DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(
        dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = y_flat}),
        DVK_ERROR_SHAPE_MISMATCH);
    CHECK_STATUS(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids4, .weight = w, .y = y}),
                 DVK_ERROR_SHAPE_MISMATCH);
    CHECK_OK(dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = y}));
    /* y overlapping the weight: refused */
    dvk_tensor *w_rows = NULL;
    CHECK_OK(dvk_tensor_view(w, &(dvk_tensor_view_desc){.ndim = 3, .shape = {2, 3, 4}}, &w_rows));
    CHECK_STATUS(
        dvk_embedding(cmd, &(dvk_embedding_desc){.indices = ids, .weight = w, .y = w_rows}),
        DVK_ERROR_INVALID_ARGUMENT);
    dvk_tensor_destroy(w_rows);
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(ids), dvk_tensor_destroy(ids4), dvk_tensor_destroy(fids);
    dvk_tensor_destroy(w), dvk_tensor_destroy(w3), dvk_tensor_destroy(y);
    dvk_tensor_destroy(y_bad), dvk_tensor_destroy(y_flat), dvk_tensor_destroy(y_i);
}

/* Independent calls in one recording give the bits each gives recorded alone, with no
 * validation message: two lookups in one table (read by both), and one in another table with
 * an index outside it (a row of zeros). */
typedef struct emb_calls {
    dvk_tensor *idx[3], *w[2], *y[3];
} emb_calls;

static void emb_make(void *user)
{
    emb_calls *s = user;
    harness_rng rng = harness_rng_make(44);
    const dvk_dtype F = DVK_DTYPE_F32, I = DVK_DTYPE_I32;
    s->w[0] = harness_random(&rng, F, -1.0f, 1.0f, 2, 10, 8, 0, 0);
    s->w[1] = harness_random(&rng, F, -1.0f, 1.0f, 2, 7, 33, 0, 0);
    s->idx[0] = harness_random(&rng, I, 0.0f, 10.0f, 1, 5, 0, 0, 0);
    s->idx[1] = harness_random(&rng, I, 0.0f, 10.0f, 2, 2, 3, 0, 0);
    s->idx[2] = harness_tensor(I, 1, (uint64_t[]){4}, (float[]){6.0f, -1.0f, 0.0f, 3.0f});
    s->y[0] = harness_tensor_poisoned(F, 2, (uint64_t[]){5, 8});
    s->y[1] = harness_tensor_poisoned(F, 3, (uint64_t[]){2, 3, 8});
    s->y[2] = harness_tensor_poisoned(F, 2, (uint64_t[]){4, 33});
}

static dvk_status emb_record(void *user, dvk_cmd *cmd, int c)
{
    emb_calls *s = user;
    return dvk_embedding(cmd, &(dvk_embedding_desc){.indices = s->idx[c],
                                                    .weight = s->w[c == 2], .y = s->y[c]});
}

static void emb_outputs(void *user, int c, const dvk_tensor *out[HARNESS_MAX_OUTPUTS])
{
    out[0] = ((emb_calls *)user)->y[c];
}

static void emb_destroy(void *user)
{
    emb_calls *s = user;
    for (int c = 0; c < 3; ++c)
        dvk_tensor_destroy(s->idx[c]), dvk_tensor_destroy(s->y[c]);
    dvk_tensor_destroy(s->w[0]), dvk_tensor_destroy(s->w[1]);
}

static void test_independent_calls_one_recording(void **state)
{
    (void)state;
    emb_calls s;
    harness_one_recording(&(harness_calls){"embedding", 3, &s, emb_make, emb_record,
                                           emb_outputs, emb_destroy});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lookup, harness_test_teardown),
        cmocka_unit_test_teardown(test_bad_input, harness_test_teardown),
        cmocka_unit_test_teardown(test_independent_calls_one_recording, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}

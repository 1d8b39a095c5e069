#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dvk_context *harness_ctx;
static uint64_t messages_before;
/* Messages a test provoked on purpose (harness_accept_validation_messages): not failures. */
static uint64_t messages_accepted;

static void test_log(void *user, dvk_log_level level, dvk_log_source source, const char *msg)
{
    (void)user;
    if (source == DVK_LOG_SOURCE_VALIDATION || level >= DVK_LOG_WARNING)
        fprintf(stderr, "[%s] %s\n", source == DVK_LOG_SOURCE_VALIDATION ? "VALIDATION" : "deltavk",
                msg);
}

int harness_small_profile(void)
{
    const char *e = getenv("DVK_TEST_SMALL_PROFILE");
    return e && e[0] == '1';
}

dvk_context_desc harness_context_desc(void)
{
    return (dvk_context_desc){
        .enable_validation = true,
        .small_device_profile = harness_small_profile(),
        .log = test_log,
    };
}

int harness_group_setup(void **state)
{
    (void)state;
    const dvk_context_desc desc = harness_context_desc();
    dvk_status st = dvk_context_create(&desc, &harness_ctx);
    if (st != DVK_SUCCESS) {
        fprintf(stderr, "cannot create the test context: %s: %s\n", dvk_status_string(st),
                dvk_last_error());
        return -1;
    }
    const dvk_device_info *i = dvk_context_device_info(harness_ctx);
    fprintf(stderr, "# device: %s (%s), profile: %s, subgroup %u, shared %u B, fp16 storage %d\n",
            i->name, i->driver_name, harness_small_profile() ? "small" : "device",
            i->subgroup_size, i->max_shared_memory, i->fp16_storage);
    messages_before = 0;
    messages_accepted = 0;
    return 0;
}

int harness_group_teardown(void **state)
{
    (void)state;
    const uint64_t n = dvk_context_validation_message_count(harness_ctx);
    dvk_context_destroy(harness_ctx);
    harness_ctx = NULL;
    if (n != messages_accepted) {
        fprintf(stderr, "FAIL: %llu validation messages\n",
                (unsigned long long)(n - messages_accepted));
        return -1;
    }
    return 0;
}

int harness_test_teardown(void **state)
{
    (void)state;
    const uint64_t n = dvk_context_validation_message_count(harness_ctx);
    if (n != messages_before) {
        fprintf(stderr, "FAIL: this test produced %llu validation messages\n",
                (unsigned long long)(n - messages_before));
        messages_before = n;
        return -1;
    }
    return 0;
}

uint64_t harness_accept_validation_messages(void)
{
    const uint64_t n = dvk_context_validation_message_count(harness_ctx);
    const uint64_t fresh = n - messages_before;
    messages_before = n;
    messages_accepted += fresh;
    return fresh;
}

harness_rng harness_rng_make(uint64_t seed)
{
    harness_rng r = {seed * 0x9E3779B97F4A7C15ull + 0x1234567ull};
    if (!r.s)
        r.s = 1;
    return r;
}

static uint64_t next_u64(harness_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

float harness_uniform(harness_rng *r) { return (float)((next_u64(r) >> 40) * (1.0 / 16777216.0)); }

float harness_normal(harness_rng *r)
{
    const double u1 = ((next_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    const double u2 = (next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void harness_fill_normal(harness_rng *r, float *x, size_t n, float stddev)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = harness_normal(r) * stddev;
}

void harness_fill_uniform(harness_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = lo + (hi - lo) * harness_uniform(r);
}

void harness_l2_normalize_rows(float *x, size_t rows, size_t len)
{
    for (size_t r = 0; r < rows; ++r) {
        double ss = 0.0;
        for (size_t i = 0; i < len; ++i)
            ss += (double)x[r * len + i] * x[r * len + i];
        const double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (size_t i = 0; i < len; ++i)
            x[r * len + i] = (float)(x[r * len + i] * inv);
    }
}

void harness_round_f16(float *x, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        x[i] = dvk_f16_to_f32(dvk_f32_to_f16(x[i]));
}

void harness_round_to(dvk_dtype dtype, float *x, size_t n)
{
    if (dtype == DVK_DTYPE_F16)
        harness_round_f16(x, n);
    else if (dtype == DVK_DTYPE_BF16)
        for (size_t i = 0; i < n; ++i)
            x[i] = dvk_bf16_to_f32(dvk_f32_to_bf16(x[i]));
}

static size_t numel_of(uint32_t ndim, const uint64_t *shape)
{
    size_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= shape[i];
    return n;
}

static void upload_as(dvk_tensor *t, const float *data, size_t n)
{
    const dvk_dtype dt = dvk_tensor_dtype(t);
    if (dt == DVK_DTYPE_F16 || dt == DVK_DTYPE_BF16) {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; ++i)
            h[i] = dt == DVK_DTYPE_F16 ? dvk_f32_to_f16(data[i]) : dvk_f32_to_bf16(data[i]);
        CHECK_OK(dvk_tensor_upload(t, h, n * 2));
        free(h);
    } else if (dt == DVK_DTYPE_I32) {
        int32_t *v = malloc(n * 4);
        for (size_t i = 0; i < n; ++i)
            v[i] = (int32_t)data[i];
        CHECK_OK(dvk_tensor_upload(t, v, n * 4));
        free(v);
    } else {
        CHECK_OK(dvk_tensor_upload(t, data, n * 4));
    }
}

dvk_tensor *harness_tensor(dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                           const float *data)
{
    dvk_tensor_desc d = {.dtype = dtype, .ndim = ndim};
    for (uint32_t i = 0; i < ndim; ++i)
        d.shape[i] = shape[i];
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_tensor_create(harness_ctx, &d, &t));
    upload_as(t, data, numel_of(ndim, shape));
    return t;
}

dvk_tensor *harness_tensor_poisoned(dvk_dtype dtype, uint32_t ndim, const uint64_t *shape)
{
    const size_t n = numel_of(ndim, shape);
    float *nan = malloc(n * sizeof *nan);
    for (size_t i = 0; i < n; ++i)
        nan[i] = dtype == DVK_DTYPE_I32 ? -12345.0f : NAN;
    dvk_tensor *t = harness_tensor(dtype, ndim, shape, nan);
    free(nan);
    return t;
}

float *harness_download(const dvk_tensor *t)
{
    const size_t n = dvk_tensor_numel(t);
    float *out = malloc(n * sizeof *out);
    const dvk_dtype dt = dvk_tensor_dtype(t);
    if (dt == DVK_DTYPE_F16 || dt == DVK_DTYPE_BF16) {
        uint16_t *h = malloc(n * 2);
        CHECK_OK(dvk_tensor_download(t, h, n * 2));
        for (size_t i = 0; i < n; ++i)
            out[i] = dt == DVK_DTYPE_F16 ? dvk_f16_to_f32(h[i]) : dvk_bf16_to_f32(h[i]);
        free(h);
    } else if (dt == DVK_DTYPE_I32) {
        int32_t *v = malloc(n * 4);
        CHECK_OK(dvk_tensor_download(t, v, n * 4));
        for (size_t i = 0; i < n; ++i)
            out[i] = (float)v[i];
        free(v);
    } else {
        CHECK_OK(dvk_tensor_download(t, out, n * 4));
    }
    return out;
}

double harness_rel_err(const char *label, const double *ref, const float *got, size_t n)
{
    const double e = dvk_ref_rel_rms_error(ref, got, n);
    if (getenv("DVK_TEST_VERBOSE"))
        fprintf(stderr, "  %-48s rel rms %.3e\n", label, e);
    return e;
}

void harness_check(const char *name, const char *what, const double *ref, const float *got,
                   size_t n, double tol)
{
    char label[200];
    snprintf(label, sizeof label, "%s: %s", name, what);
    const double e = harness_rel_err(label, ref, got, n);
    if (!(e <= tol))
        fail_msg("%s rel rms %.3e > %.0e", label, e, tol);
}

dvk_tensor *harness_make(dvk_dtype dtype, uint32_t ndim, uint64_t a, uint64_t b, uint64_t c,
                         uint64_t d)
{
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_tensor_create(
        harness_ctx, &(dvk_tensor_desc){.dtype = dtype, .ndim = ndim, .shape = {a, b, c, d}}, &t));
    return t;
}

dvk_tensor *harness_view(dvk_tensor *base, uint64_t step, uint32_t ndim, uint64_t a, uint64_t b,
                         uint64_t c, uint64_t d)
{
    const uint64_t unit = dvk_context_device_info(harness_ctx)->tensor_alignment /
                          dvk_dtype_size(dvk_tensor_dtype(base));
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_tensor_view(base, &(dvk_tensor_view_desc){.offset = step * unit, .ndim = ndim,
                                                           .shape = {a, b, c, d}},
                             &t));
    return t;
}

dvk_tensor *harness_random(harness_rng *rng, dvk_dtype dtype, float lo, float hi, uint32_t ndim,
                           uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    const uint64_t dims[4] = {a, b, c, d};
    size_t n = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        n *= (size_t)dims[i];
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    harness_fill_uniform(rng, x, n, lo, hi);
    dvk_tensor *t = harness_tensor(dtype, ndim, dims, x);
    free(x);
    return t;
}

void harness_one_recording(const harness_calls *c)
{
    enum { MAXC = 16 };
    assert_true(c->n >= 1 && c->n <= MAXC);
    float *got[2][MAXC][HARNESS_MAX_OUTPUTS] = {{{NULL}}};
    uint64_t numel[MAXC][HARNESS_MAX_OUTPUTS] = {{0}};
    for (int way = 0; way < 2; ++way) { /* 0: one recording, 1: a recording each */
        c->make(c->user);
        dvk_cmd *cmd = NULL;
        for (int i = 0; i < c->n; ++i) {
            if (!cmd)
                CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
            CHECK_OK(c->record(c->user, cmd, i));
            if (way == 1 || i == c->n - 1) {
                harness_run(cmd);
                dvk_cmd_destroy(cmd);
                cmd = NULL;
            }
        }
        for (int i = 0; i < c->n; ++i) {
            const dvk_tensor *out[HARNESS_MAX_OUTPUTS] = {NULL};
            c->outputs(c->user, i, out);
            for (int k = 0; k < HARNESS_MAX_OUTPUTS; ++k) {
                if (!out[k])
                    continue;
                numel[i][k] = dvk_tensor_numel(out[k]);
                got[way][i][k] = harness_download(out[k]);
            }
        }
        c->destroy(c->user);
    }
    for (int i = 0; i < c->n; ++i) {
        for (int k = 0; k < HARNESS_MAX_OUTPUTS; ++k) {
            const float *a = got[0][i][k], *b = got[1][i][k];
            for (uint64_t e = 0; a && e < numel[i][k]; ++e)
                if (memcmp(&a[e], &b[e], sizeof a[e]) != 0)
                    fail_msg("%s: call %d, output %d, element %llu: %.9g in one recording, "
                             "%.9g recorded alone",
                             c->name, i, k, (unsigned long long)e, (double)a[e], (double)b[e]);
            free(got[0][i][k]);
            free(got[1][i][k]);
        }
    }
}

void harness_run(dvk_cmd *cmd)
{
    CHECK_OK(dvk_cmd_submit(cmd));
    CHECK_OK(dvk_cmd_wait(cmd, 0));
}

bool harness_have_dtype(const char *name, dvk_dtype dtype)
{
    if ((dtype == DVK_DTYPE_F16 || dtype == DVK_DTYPE_BF16) &&
        !dvk_context_device_info(harness_ctx)->fp16_storage) {
        fprintf(stderr, "  skip %s: no 16-bit storage\n", name);
        return false;
    }
    return true;
}

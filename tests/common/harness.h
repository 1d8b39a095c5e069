/* Shared pieces of the cmocka tests: a context with the validation layer on (and, when
 * DVK_TEST_SMALL_PROFILE=1, the small-device profile), counted validation messages, random
 * inputs, tensors from host arrays, and error measures. */
#ifndef DVK_TEST_HARNESS_H
#define DVK_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deltavk.h"
#include "deltavk_reference.h"

/* The context of this test binary (created by harness_group_setup). */
extern dvk_context *harness_ctx;

/* Group setup/teardown for cmocka_run_group_tests: creates the context with validation on and
 * fails if the validation layer is missing; teardown fails if any validation message came. */
int harness_group_setup(void **state);
int harness_group_teardown(void **state);
/* Per-test teardown: fails the test if it produced validation messages. */
int harness_test_teardown(void **state);
/* The validation messages of harness_ctx since the last check, taken as intended rather than
 * failures (a test that provokes one on purpose, to show that validation is on). */
uint64_t harness_accept_validation_messages(void);
/* True when this run uses the small-device profile. */
int harness_small_profile(void);
/* A context description as the harness makes it (validation on, counting logger). */
dvk_context_desc harness_context_desc(void);

/* Fails the current test with the status and dvk_last_error() unless st == DVK_SUCCESS. */
#define CHECK_OK(expr)                                                                           \
    do {                                                                                         \
        dvk_status st_ = (expr);                                                                 \
        if (st_ != DVK_SUCCESS)                                                                  \
            fail_msg("%s -> %s: %s", #expr, dvk_status_string(st_), dvk_last_error());           \
    } while (0)
/* Asserts a specific status (tests of bad input check codes, never message text). */
#define CHECK_STATUS(expr, want)                                                                 \
    do {                                                                                         \
        dvk_status st_ = (expr);                                                                 \
        if (st_ != (want))                                                                       \
            fail_msg("%s -> %s, expected %s (%s)", #expr, dvk_status_string(st_),                \
                     dvk_status_string(want), dvk_last_error());                                 \
    } while (0)

/* Deterministic random numbers (xorshift64*). */
typedef struct harness_rng {
    uint64_t s;
} harness_rng;
harness_rng harness_rng_make(uint64_t seed);
float harness_uniform(harness_rng *r);          /* [0, 1) */
float harness_normal(harness_rng *r);           /* N(0, 1) */
void harness_fill_normal(harness_rng *r, float *x, size_t n, float stddev);
void harness_fill_uniform(harness_rng *r, float *x, size_t n, float lo, float hi);
/* L2-normalises each of the `rows` rows of length `len` in place. */
void harness_l2_normalize_rows(float *x, size_t rows, size_t len);

/* Rounds every value to what an fp16 tensor stores (so the reference sees the same inputs). */
void harness_round_f16(float *x, size_t n);
/* Rounds to what a tensor of `dtype` stores (f16, bf16; f32 and i32 unchanged). */
void harness_round_to(dvk_dtype dtype, float *x, size_t n);

/* Makes a tensor of `dtype` holding `data` (converted to fp16 / bf16, or truncated to int32). */
dvk_tensor *harness_tensor(dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                           const float *data);
/* An uninitialised tensor; filled with a NaN pattern so unwritten outputs are caught. */
dvk_tensor *harness_tensor_poisoned(dvk_dtype dtype, uint32_t ndim, const uint64_t *shape);
/* Downloads any tensor into float (malloc'd; free with free()). */
float *harness_download(const dvk_tensor *t);

/* Relative RMS error of `got` against `ref`; prints it with a label when DVK_TEST_VERBOSE. */
double harness_rel_err(const char *label, const double *ref, const float *got, size_t n);

/* Fails the test unless the relative RMS error of `got` (labelled "name: what") is <= tol. */
void harness_check(const char *name, const char *what, const double *ref, const float *got,
                   size_t n, double tol);
/* An uninitialised tensor of `ndim` dims (the first ndim of a, b, c, d), for argument checks. */
dvk_tensor *harness_make(dvk_dtype dtype, uint32_t ndim, uint64_t a, uint64_t b, uint64_t c,
                         uint64_t d);

/* A view of `base` starting `step` alignment units in (a unit: the device's tensor_alignment,
 * in base's elements, the nearest start a view may have), of `ndim` dims (the first ndim of a,
 * b, c, d); for tests of outputs that overlap inputs. */
dvk_tensor *harness_view(dvk_tensor *base, uint64_t step, uint32_t ndim, uint64_t a, uint64_t b,
                         uint64_t c, uint64_t d);

/* A tensor of `dtype` holding values uniform in [lo, hi) from `rng` (rounded to the dtype; int32
 * truncates them), of `ndim` dims (the first ndim of a, b, c, d). */
dvk_tensor *harness_random(harness_rng *rng, dvk_dtype dtype, float lo, float hi, uint32_t ndim,
                           uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* Independent calls recorded into one dvk_cmd against each recorded alone: `make` creates the
 * tensors of every call (the same values each time it is called), `record` records call i,
 * `outputs` names call i's outputs (up to HARNESS_MAX_OUTPUTS, NULL where absent), `destroy`
 * frees what make created. harness_one_recording records the n calls into one recording, then
 * (on fresh tensors) each into a recording of its own, and fails unless every output is the
 * same bits both ways; a hazard between the calls fails the test through the validation
 * layer (harness_test_teardown). */
#define HARNESS_MAX_OUTPUTS 4
typedef struct harness_calls {
    const char *name;
    int n;
    void *user;
    void (*make)(void *user);
    dvk_status (*record)(void *user, dvk_cmd *cmd, int i);
    void (*outputs)(void *user, int i, const dvk_tensor *out[HARNESS_MAX_OUTPUTS]);
    void (*destroy)(void *user);
} harness_calls;
void harness_one_recording(const harness_calls *c);

/* Runs one recording to completion on the harness context. */
void harness_run(dvk_cmd *cmd);

/* Whether the harness device can hold tensors of `dtype` (fp16 and bf16 need 16-bit storage);
 * prints a skip line naming the case when it cannot. */
bool harness_have_dtype(const char *name, dvk_dtype dtype);

#endif

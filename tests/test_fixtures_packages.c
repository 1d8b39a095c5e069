/* KDA, the generalized delta rule, RWKV-7 and the Memodo head against fixtures computed by the
 * original packages on the CPU (scripts/gen_cpu_fixtures.py: fla-core 0.5.2's naive references
 * naive_recurrent_kda and dplr_recurrence, and memodo 1.0.0's DeltanetHead.cell; each file
 * records versions, seed and recipe). The packages compute in fp32, so the tolerance is fp32's.
 * Every fixture runs through the library in both modes and through the C reference.
 *
 * The Memodo fixture is in Memodo's own convention ([T,B,F] tensors, a state M with out = M^T s)
 * and is mapped here exactly as deltavk.h documents: S = M^T, k = d, v = c, q = s, a = a,
 * b = b / sqrt(F), gk = logsigmoid(i), scale 1, DVK_READOUT_KEY. */
#include "harness.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

typedef struct fx {
    dvk_st_file *file;
} fx;

static fx open_fixture(const char *name)
{
    fx f = {0};
    char path[1024], err[512];
    const char *dir = getenv("DVK_FIXTURE_DIR") ? getenv("DVK_FIXTURE_DIR") : DVK_FIXTURE_DIR;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    if (dvk_st_read(path, &f.file, err, sizeof err) != DVK_SUCCESS)
        fail_msg("%s", err);
    return f;
}

/* A tensor of the fixture as floats (malloc'd); its shape into shape/ndim when given. */
static float *get(const fx *f, const char *name, uint64_t *shape, uint32_t *ndim)
{
    const dvk_st_tensor *t = dvk_st_find(f->file, name);
    if (!t)
        fail_msg("fixture has no tensor %s", name);
    float *x = malloc((size_t)t->numel * sizeof *x);
    dvk_st_to_f32(t, x);
    if (shape)
        for (uint32_t d = 0; d < t->ndim; ++d)
            shape[d] = t->shape[d];
    if (ndim)
        *ndim = t->ndim;
    return x;
}

static size_t numel(const uint64_t *s, uint32_t n)
{
    size_t e = 1;
    for (uint32_t i = 0; i < n; ++i)
        e *= (size_t)s[i];
    return e;
}

static void check(const char *label, const float *expect, const float *got, size_t n)
{
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; ++i)
        r[i] = expect[i];
    const double e = harness_rel_err(label, r, got, n);
    free(r);
    if (!(e <= TOL))
        fail_msg("%s: rel rms %.3e > %.0e", label, e, TOL);
}

static void check_d(const char *label, const float *expect, const double *got, size_t n)
{
    float *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; ++i)
        g[i] = (float)got[i];
    check(label, expect, g, n);
    free(g);
}

static const char *mode_name(dvk_mode m) { return m == DVK_MODE_CHUNK ? "chunk" : "recurrent"; }

/* ---- KDA ------------------------------------------------------------------------------------- */

static void kda_fixture(const char *name, bool gate)
{
    fx f = open_fixture(name);
    uint64_t sq[4], sv[4], sg[4], sb[3], sh[4], sa[1] = {0}, sd[1] = {0};
    uint32_t nd;
    float *q = get(&f, "q", sq, &nd), *k = get(&f, "k", NULL, NULL), *v = get(&f, "v", sv, NULL);
    float *g = get(&f, "g", sg, NULL), *beta = get(&f, "beta", sb, NULL);
    float *h0 = get(&f, "h0", sh, NULL), *sc = get(&f, "scale", NULL, NULL);
    float *o_exp = get(&f, "o", NULL, NULL), *ht_exp = get(&f, "ht", NULL, NULL);
    float *A_log = gate ? get(&f, "A_log", sa, NULL) : NULL;
    float *dt = gate ? get(&f, "dt_bias", sd, NULL) : NULL;
    const size_t no = numel(sv, 4), nh = numel(sh, 4);

    for (int m = 0; m < 2; ++m) {
        const dvk_mode mode = m ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT;
        dvk_tensor *t[] = {
            harness_tensor(DVK_DTYPE_F32, 4, sq, q), harness_tensor(DVK_DTYPE_F32, 4, sq, k),
            harness_tensor(DVK_DTYPE_F32, 4, sv, v), harness_tensor(DVK_DTYPE_F32, 4, sg, g),
            harness_tensor(DVK_DTYPE_F32, 3, sb, beta), harness_tensor(DVK_DTYPE_F32, 4, sh, h0),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, sh),
            gate ? harness_tensor(DVK_DTYPE_F32, 1, sa, A_log) : NULL,
            gate ? harness_tensor(DVK_DTYPE_F32, 1, sd, dt) : NULL,
        };
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_kda(cmd, &(dvk_kda_desc){
            .q = t[0], .k = t[1], .v = t[2], .g = t[3], .beta = t[4], .initial_state = t[5],
            .o = t[6], .final_state = t[7], .scale = sc[0], .mode = mode,
            .gate_in_kernel = gate, .A_log = t[8], .dt_bias = t[9], .beta_sigmoid = gate}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(t[6]), *ht = harness_download(t[7]);
        char label[128];
        snprintf(label, sizeof label, "%s [%s]: o", name, mode_name(mode));
        check(label, o_exp, o, no);
        snprintf(label, sizeof label, "%s [%s]: ht", name, mode_name(mode));
        check(label, ht_exp, ht, nh);
        free(o), free(ht);
        for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
            dvk_tensor_destroy(t[i]);
    }
    /* the C reference reproduces the package too */
    double *o = malloc(no * sizeof *o), *ht = malloc(nh * sizeof *ht);
    assert_int_equal(dvk_ref_kda(&(dvk_ref_kda_args){
                         .B = (int)sq[0], .T = (int)sq[1], .H = (int)sq[2], .K = (int)sq[3],
                         .V = (int)sv[3], .HV = (int)sv[2], .q = q, .k = k, .v = v, .g = g,
                         .beta = beta, .gate_in_kernel = gate, .A_log = A_log, .dt_bias = dt,
                         .beta_sigmoid = gate, .h0 = h0, .scale = sc[0], .o = o, .ht = ht}),
                     0);
    char label[128];
    snprintf(label, sizeof label, "%s [C reference]: o", name);
    check_d(label, o_exp, o, no);
    snprintf(label, sizeof label, "%s [C reference]: ht", name);
    check_d(label, ht_exp, ht, nh);
    free(o), free(ht);
    (void)nd;
    free(q), free(k), free(v), free(g), free(beta), free(h0), free(sc), free(o_exp);
    free(ht_exp), free(A_log), free(dt);
    dvk_st_free(f.file);
}

static void test_kda_matches_fla(void **state)
{
    (void)state;
    kda_fixture("kda_naive_fla", false);
    kda_fixture("kda_gate_naive_fla", true);
}

/* ---- DPLR and RWKV-7 ------------------------------------------------------------------------ */

static void dplr_fixture(const char *name, bool rwkv7)
{
    fx f = open_fixture(name);
    uint64_t sk[4], sv[4], sh[4];
    /* dplr: q k v a b gk; rwkv7: r k v kk a w (a and b formed by the library) */
    const char *n_q = rwkv7 ? "r" : "q", *n_a = rwkv7 ? "kk" : "a", *n_b = rwkv7 ? "a" : "b";
    const char *n_g = rwkv7 ? "w" : "gk";
    float *q = get(&f, n_q, sk, NULL), *k = get(&f, "k", NULL, NULL), *v = get(&f, "v", sv, NULL);
    float *a = get(&f, n_a, NULL, NULL), *b = get(&f, n_b, NULL, NULL);
    float *gk = get(&f, n_g, NULL, NULL), *h0 = get(&f, "h0", sh, NULL);
    float *o_exp = get(&f, "o", NULL, NULL), *ht_exp = get(&f, "ht", NULL, NULL);
    float scale = 1.0f;
    if (!rwkv7) {
        float *sc = get(&f, "scale", NULL, NULL);
        scale = sc[0];
        free(sc);
    }
    const size_t no = numel(sv, 4), nh = numel(sh, 4), nk = numel(sk, 4);
    for (int m = 0; m < 2; ++m) {
        const dvk_mode mode = m ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT;
        dvk_tensor *t[] = {
            harness_tensor(DVK_DTYPE_F32, 4, sk, q), harness_tensor(DVK_DTYPE_F32, 4, sk, k),
            harness_tensor(DVK_DTYPE_F32, 4, sv, v), harness_tensor(DVK_DTYPE_F32, 4, sk, a),
            harness_tensor(DVK_DTYPE_F32, 4, sk, b), harness_tensor(DVK_DTYPE_F32, 4, sk, gk),
            harness_tensor(DVK_DTYPE_F32, 4, sh, h0), harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, sh),
        };
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        if (rwkv7) /* scale 0: dvk_rwkv7's default, 1 */
            CHECK_OK(dvk_rwkv7(cmd, &(dvk_rwkv7_desc){
                .r = t[0], .k = t[1], .v = t[2], .kappa = t[3], .alpha = t[4], .w = t[5],
                .initial_state = t[6], .o = t[7], .final_state = t[8], .mode = mode}));
        else
            CHECK_OK(dvk_dplr(cmd, &(dvk_dplr_desc){
                .q = t[0], .k = t[1], .v = t[2], .a = t[3], .b = t[4], .gk = t[5],
                .initial_state = t[6], .o = t[7], .final_state = t[8], .scale = scale,
                .mode = mode}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(t[7]), *ht = harness_download(t[8]);
        char label[128];
        snprintf(label, sizeof label, "%s [%s]: o", name, mode_name(mode));
        check(label, o_exp, o, no);
        snprintf(label, sizeof label, "%s [%s]: ht", name, mode_name(mode));
        check(label, ht_exp, ht, nh);
        free(o), free(ht);
        for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
            dvk_tensor_destroy(t[i]);
    }
    if (rwkv7) { /* the reference takes a and b */
        for (size_t i = 0; i < nk; ++i) {
            b[i] *= a[i];
            a[i] = -a[i];
        }
    }
    double *o = malloc(no * sizeof *o), *ht = malloc(nh * sizeof *ht);
    assert_int_equal(dvk_ref_dplr(&(dvk_ref_dplr_args){
                         .B = (int)sk[0], .T = (int)sk[1], .H = (int)sk[2], .K = (int)sk[3],
                         .V = (int)sv[3], .q = q, .k = k, .v = v, .a = a, .b = b, .gk = gk,
                         .h0 = h0, .scale = scale, .o = o, .ht = ht}),
                     0);
    char label[128];
    snprintf(label, sizeof label, "%s [C reference]: o", name);
    check_d(label, o_exp, o, no);
    snprintf(label, sizeof label, "%s [C reference]: ht", name);
    check_d(label, ht_exp, ht, nh);
    free(o), free(ht);
    free(q), free(k), free(v), free(a), free(b), free(gk), free(h0), free(o_exp), free(ht_exp);
    dvk_st_free(f.file);
}

static void test_dplr_matches_fla(void **state)
{
    (void)state;
    dplr_fixture("dplr_naive_fla", false);
}

static void test_rwkv7_matches_fla(void **state)
{
    (void)state;
    dplr_fixture("rwkv7_naive_fla", true);
}

/* ---- the Memodo head -------------------------------------------------------------------------- */

static void test_memodo_head(void **state)
{
    (void)state;
    fx f = open_fixture("memodo_head");
    uint64_t s3[3], si[2];
    float *a = get(&f, "a", s3, NULL), *b = get(&f, "b", NULL, NULL), *c = get(&f, "c", NULL, NULL);
    float *d = get(&f, "d", NULL, NULL), *i_ = get(&f, "i", NULL, NULL), *s = get(&f, "s", NULL, NULL);
    float *init = get(&f, "initial", si, NULL), *out = get(&f, "out", NULL, NULL);
    float *mstate = get(&f, "state", NULL, NULL);
    const int T = (int)s3[0], B = (int)s3[1], F = (int)s3[2];
    const size_t n = (size_t)T * B * F;
    /* [T,B,F] -> [B,T,1,F], with the mapping onto the key-major rule */
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *ga = malloc(n * 4);
    float *gb = malloc(n * 4), *gk = malloc(n * 4), *o_exp = malloc(n * 4);
    for (int t = 0; t < T; ++t)
        for (int bb = 0; bb < B; ++bb)
            for (int e = 0; e < F; ++e) {
                const size_t src = ((size_t)t * B + bb) * F + e, dst = ((size_t)bb * T + t) * F + e;
                q[dst] = s[src];
                k[dst] = d[src];
                v[dst] = c[src];
                ga[dst] = a[src];
                gb[dst] = b[src] / sqrtf((float)F);
                gk[dst] = -log1pf(expf(-i_[src])); /* logsigmoid */
                o_exp[dst] = out[src];
            }
    /* S = M^T: initial state and the expected final state transposed */
    float *h0 = malloc((size_t)B * F * F * 4), *ht_exp = malloc((size_t)B * F * F * 4);
    for (int bb = 0; bb < B; ++bb)
        for (int r = 0; r < F; ++r)
            for (int col = 0; col < F; ++col) {
                h0[((size_t)bb * F + r) * F + col] = init[(size_t)col * F + r];
                ht_exp[((size_t)bb * F + r) * F + col] = mstate[((size_t)bb * F + col) * F + r];
            }
    const uint64_t st[4] = {B, T, 1, F}, ss[4] = {B, 1, F, F};
    for (int m = 0; m < 2; ++m) {
        const dvk_mode mode = m ? DVK_MODE_CHUNK : DVK_MODE_RECURRENT;
        dvk_tensor *t[] = {
            harness_tensor(DVK_DTYPE_F32, 4, st, q), harness_tensor(DVK_DTYPE_F32, 4, st, k),
            harness_tensor(DVK_DTYPE_F32, 4, st, v), harness_tensor(DVK_DTYPE_F32, 4, st, ga),
            harness_tensor(DVK_DTYPE_F32, 4, st, gb), harness_tensor(DVK_DTYPE_F32, 4, st, gk),
            harness_tensor(DVK_DTYPE_F32, 4, ss, h0), harness_tensor_poisoned(DVK_DTYPE_F32, 4, st),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, ss),
        };
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_dplr(cmd, &(dvk_dplr_desc){
            .q = t[0], .k = t[1], .v = t[2], .a = t[3], .b = t[4], .gk = t[5],
            .initial_state = t[6], .o = t[7], .final_state = t[8], .scale = 1.0f, .mode = mode,
            .readout = DVK_READOUT_KEY}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(t[7]), *ht = harness_download(t[8]);
        char label[128];
        snprintf(label, sizeof label, "memodo_head [%s]: out", mode_name(mode));
        check(label, o_exp, o, n);
        snprintf(label, sizeof label, "memodo_head [%s]: state", mode_name(mode));
        check(label, ht_exp, ht, (size_t)B * F * F);
        free(o), free(ht);
        for (size_t e = 0; e < sizeof t / sizeof t[0]; ++e)
            dvk_tensor_destroy(t[e]);
    }
    free(a), free(b), free(c), free(d), free(i_), free(s), free(init), free(out), free(mstate);
    free(q), free(k), free(v), free(ga), free(gb), free(gk), free(o_exp), free(h0), free(ht_exp);
    dvk_st_free(f.file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kda_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_dplr_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_rwkv7_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_memodo_head, harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}

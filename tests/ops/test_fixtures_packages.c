/* KDA, the generalized delta rule, RWKV-7 and the Memodo head against fixtures computed by the
 * original packages on the CPU (scripts/gen_cpu_fixtures.py: fla-core 0.5.2's naive references
 * naive_recurrent_kda and dplr_recurrence, and memodo 1.0.0's DeltanetHead.cell; each file
 * records versions, seed and recipe). The packages compute in fp32, so the tolerance is fp32's.
 * Every fixture runs through the library in both modes and through the C reference.
 *
 * The Memodo fixture is in Memodo's own convention ([T,B,F] tensors, a state M with out = M^T s)
 * and is mapped here exactly as deltavk.h documents: S = M^T, k = d, v = c, q = s, a = a,
 * b = b / sqrt(F), gk = logsigmoid(i), scale 1, DVK_READOUT_KEY.
 *
 * Linear attention, Infini-attention and the rotary embedding against fixtures from
 * scripts/gen_attn_fixtures.py (memorax 1.0.1's LinearAttentionCell in JAX, infini-transformer-
 * pytorch 0.0.2's CausalAttention and rotary-embedding-torch 0.9.1, all fp32 on the CPU). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5

typedef struct fx {
    dvk_weights *file; /* host only: the tests make their own tensors from the values */
} fx;

static fx open_fixture(const char *name)
{
    fx f = {0};
    char path[1024];
    const char *dir = getenv("DVK_FIXTURE_DIR") ? getenv("DVK_FIXTURE_DIR") : DVK_FIXTURE_DIR;
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    CHECK_OK(dvk_weights_load(NULL, path, NULL, &f.file));
    return f;
}

/* A tensor of the fixture as floats (malloc'd); its shape into shape/ndim when given. */
static float *get(const fx *f, const char *name, uint64_t *shape, uint32_t *ndim)
{
    dvk_weights_entry e;
    if (dvk_weights_find(f->file, name, &e) != DVK_SUCCESS)
        fail_msg("fixture has no tensor %s", name);
    float *x = malloc((size_t)(e.numel ? e.numel : 1) * sizeof *x);
    assert_non_null(x);
    CHECK_OK(dvk_weights_read(f->file, name, DVK_DTYPE_F32, x, (size_t)e.numel * sizeof *x));
    if (shape)
        for (uint32_t d = 0; d < e.ndim; ++d)
            shape[d] = e.shape[d];
    if (ndim)
        *ndim = e.ndim;
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
    dvk_weights_destroy(f.file);
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
    const size_t no = numel(sv, 4), nh = numel(sh, 4);
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
    double *o = malloc(no * sizeof *o), *ht = malloc(nh * sizeof *ht);
    if (rwkv7) /* a and b hold kappa and alpha */
        assert_int_equal(dvk_ref_rwkv7(&(dvk_ref_rwkv7_args){
                             .B = (int)sk[0], .T = (int)sk[1], .H = (int)sk[2], .K = (int)sk[3],
                             .V = (int)sv[3], .r = q, .w = gk, .k = k, .v = v, .kappa = a,
                             .alpha = b, .h0 = h0, .o = o, .ht = ht}),
                         0);
    else
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
    dvk_weights_destroy(f.file);
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
    dvk_weights_destroy(f.file);
}

/* ---- linear attention: memorax's LinearAttentionCell ----------------------------------------- */

/* memorax's cell as the header documents it: φ = elu + 1 on q and k in the kernels, scale 1,
 * o = S^T φ(q) / max(φ(q)·z, 1e-6), its `done` mask as deltavk's episode resets (row 0 resets on
 * the first token, dropping h0). T = 27: chunk size 16 carries the state across a chunk
 * boundary with resets on both sides of it; the default chunk size runs one or two chunks. */
static void test_linear_attn_matches_memorax(void **state)
{
    (void)state;
    fx f = open_fixture("linear_attn_memorax");
    uint64_t sq[4], sv[4], sd[2], sh[4], sz[3];
    float *q = get(&f, "q", sq, NULL), *k = get(&f, "k", NULL, NULL), *v = get(&f, "v", sv, NULL);
    float *done = get(&f, "done", sd, NULL), *h0 = get(&f, "h0", sh, NULL);
    float *z0 = get(&f, "z0", sz, NULL), *o_exp = get(&f, "o", NULL, NULL);
    float *ht_exp = get(&f, "ht", NULL, NULL), *z_exp = get(&f, "z", NULL, NULL);
    const size_t no = numel(sv, 4), nh = numel(sh, 4), nz = numel(sz, 3);
    static const struct {
        dvk_mode mode;
        uint32_t chunk_size;
    } runs[] = {{DVK_MODE_RECURRENT, 0}, {DVK_MODE_CHUNK, 0}, {DVK_MODE_CHUNK, 16}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; ++r) {
        dvk_tensor *t[] = {
            harness_tensor(DVK_DTYPE_F32, 4, sq, q), harness_tensor(DVK_DTYPE_F32, 4, sq, k),
            harness_tensor(DVK_DTYPE_F32, 4, sv, v), harness_tensor(DVK_DTYPE_F32, 2, sd, done),
            harness_tensor(DVK_DTYPE_F32, 4, sh, h0), harness_tensor(DVK_DTYPE_F32, 3, sz, z0),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv),
            harness_tensor_poisoned(DVK_DTYPE_F32, 4, sh),
            harness_tensor_poisoned(DVK_DTYPE_F32, 3, sz),
        };
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_linear_attn(cmd, &(dvk_linear_attn_desc){
            .q = t[0], .k = t[1], .v = t[2], .done = t[3], .initial_state = t[4],
            .initial_z = t[5], .o = t[6], .final_state = t[7], .final_z = t[8], .scale = 1.0f,
            .mode = runs[r].mode, .feature_map = DVK_FEATURE_ELU1, .normalize = true,
            .eps = 1e-6f, .chunk_size = runs[r].chunk_size}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(t[6]), *ht = harness_download(t[7]);
        float *z = harness_download(t[8]);
        char run[32], label[128];
        if (runs[r].chunk_size)
            snprintf(run, sizeof run, "%s %u", mode_name(runs[r].mode), runs[r].chunk_size);
        else
            snprintf(run, sizeof run, "%s", mode_name(runs[r].mode));
        snprintf(label, sizeof label, "linear_attn_memorax [%s]: o", run);
        check(label, o_exp, o, no);
        snprintf(label, sizeof label, "linear_attn_memorax [%s]: ht", run);
        check(label, ht_exp, ht, nh);
        snprintf(label, sizeof label, "linear_attn_memorax [%s]: z", run);
        check(label, z_exp, z, nz);
        free(o), free(ht), free(z);
        for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
            dvk_tensor_destroy(t[i]);
    }
    double *o = malloc(no * sizeof *o), *ht = malloc(nh * sizeof *ht), *z = malloc(nz * sizeof *z);
    assert_int_equal(dvk_ref_linear_attn(&(dvk_ref_linear_attn_args){
                         .B = (int)sq[0], .T = (int)sq[1], .H = (int)sq[2], .K = (int)sq[3],
                         .V = (int)sv[3], .q = q, .k = k, .v = v, .done = done, .h0 = h0,
                         .z0 = z0, .elu1 = 1, .normalize = 1, .eps = 1e-6f, .scale = 1.0f,
                         .o = o, .ht = ht, .zt = z}),
                     0);
    check_d("linear_attn_memorax [C reference]: o", o_exp, o, no);
    check_d("linear_attn_memorax [C reference]: ht", ht_exp, ht, nh);
    check_d("linear_attn_memorax [C reference]: z", z_exp, z, nz);
    free(o), free(ht), free(z);
    free(q), free(k), free(v), free(done), free(h0), free(z0), free(o_exp), free(ht_exp);
    free(z_exp);
    dvk_weights_destroy(f.file);
}

/* ---- Infini-attention: infini-transformer-pytorch's CausalAttention -------------------------- */

/* Three segments, the memory carried in place: segment 0 has no past memory and writes the
 * state tensors, segments 1 and 2 read and update them. The op applies the package's scale
 * D^-0.5 (scale 0) and rotary embedding to the captured q and k itself. The C reference carries
 * its own memory, rounded to fp32 between segments as the device stores it. */
static void infini_fixture(const char *name, bool delta)
{
    fx f = open_fixture(name);
    uint64_t sq[4], sv[4], sg[1], sm[4], sz[3];
    float *gate = get(&f, "gate", sg, NULL);
    float *rmem = NULL, *rz = NULL; /* the C reference's memory after the previous segment */
    dvk_tensor *mem = NULL, *mz = NULL, *tg = harness_tensor(DVK_DTYPE_F32, 1, sg, gate);
    for (int s = 0; s < 3; ++s) {
        char n[32];
        snprintf(n, sizeof n, "q_s%d", s);
        float *q = get(&f, n, sq, NULL);
        snprintf(n, sizeof n, "k_s%d", s);
        float *k = get(&f, n, NULL, NULL);
        snprintf(n, sizeof n, "v_s%d", s);
        float *v = get(&f, n, sv, NULL);
        snprintf(n, sizeof n, "o_s%d", s);
        float *o_exp = get(&f, n, NULL, NULL);
        snprintf(n, sizeof n, "mem_s%d", s);
        float *mem_exp = get(&f, n, sm, NULL);
        snprintf(n, sizeof n, "z_s%d", s);
        float *z_exp = get(&f, n, sz, NULL);
        const size_t no = numel(sv, 4), nm = numel(sm, 4), nz = numel(sz, 3);
        if (s == 0) {
            mem = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sm);
            mz = harness_tensor_poisoned(DVK_DTYPE_F32, 3, sz);
        }
        dvk_tensor *t[] = {
            harness_tensor(DVK_DTYPE_F32, 4, sq, q), harness_tensor(DVK_DTYPE_F32, 4, sq, k),
            harness_tensor(DVK_DTYPE_F32, 4, sv, v), harness_tensor_poisoned(DVK_DTYPE_F32, 4, sv),
        };
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_infini_attn(cmd, &(dvk_infini_attn_desc){
            .q = t[0], .k = t[1], .v = t[2], .gate = tg, .o = t[3], .memory = s ? mem : NULL,
            .memory_z = s ? mz : NULL, .final_memory = mem, .final_z = mz, .rope = true,
            .delta_rule = delta}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *o = harness_download(t[3]), *m = harness_download(mem), *z = harness_download(mz);
        char label[128];
        snprintf(label, sizeof label, "%s [segment %d]: o", name, s);
        check(label, o_exp, o, no);
        snprintf(label, sizeof label, "%s [segment %d]: mem", name, s);
        check(label, mem_exp, m, nm);
        snprintf(label, sizeof label, "%s [segment %d]: z", name, s);
        check(label, z_exp, z, nz);
        free(o), free(m), free(z);
        for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
            dvk_tensor_destroy(t[i]);

        double *ro = malloc(no * sizeof *ro), *rm = malloc(nm * sizeof *rm);
        double *rzz = malloc(nz * sizeof *rzz);
        assert_int_equal(dvk_ref_infini_attn(&(dvk_ref_infini_attn_args){
                             .B = (int)sq[0], .T = (int)sq[1], .H = (int)sq[2], .D = (int)sq[3],
                             .DV = (int)sv[3], .q = q, .k = k, .v = v, .gate = gate,
                             .mem0 = rmem, .z0 = rz, .delta_rule = delta, .rope = 1, .o = ro,
                             .mem = rm, .z = rzz}),
                         0);
        snprintf(label, sizeof label, "%s [C reference, segment %d]: o", name, s);
        check_d(label, o_exp, ro, no);
        snprintf(label, sizeof label, "%s [C reference, segment %d]: mem", name, s);
        check_d(label, mem_exp, rm, nm);
        snprintf(label, sizeof label, "%s [C reference, segment %d]: z", name, s);
        check_d(label, z_exp, rzz, nz);
        if (!rmem)
            rmem = malloc(nm * sizeof *rmem), rz = malloc(nz * sizeof *rz);
        for (size_t i = 0; i < nm; ++i)
            rmem[i] = (float)rm[i];
        for (size_t i = 0; i < nz; ++i)
            rz[i] = (float)rzz[i];
        free(ro), free(rm), free(rzz);
        free(q), free(k), free(v), free(o_exp), free(mem_exp), free(z_exp);
    }
    dvk_tensor_destroy(mem), dvk_tensor_destroy(mz), dvk_tensor_destroy(tg);
    free(gate), free(rmem), free(rz);
    dvk_weights_destroy(f.file);
}

static void test_infini_attn_matches_pytorch(void **state)
{
    (void)state;
    infini_fixture("infini_attn_pytorch", false);
    infini_fixture("infini_attn_delta_pytorch", true);
}

/* ---- rotary embedding: rotary-embedding-torch ------------------------------------------------ */

/* Positions t + 5, theta 10000, over all 32 features (y) and over the first 16 (y_partial, the
 * rest passed through). The package rounds the angle p·f_i to fp32, deltavk does not: at
 * positions <= 27 that is <= 27 · 6e-8 rad, ~1e-6 relative. */
static void test_rope_matches_rotary_embedding_torch(void **state)
{
    (void)state;
    fx f = open_fixture("rope_rotary_embedding_torch");
    static const struct {
        const char *x, *y;
        uint32_t rotary_dim;
    } runs[] = {{"x", "y", 0}, {"x_partial", "y_partial", 16}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; ++r) {
        uint64_t sx[4];
        float *x = get(&f, runs[r].x, sx, NULL), *y_exp = get(&f, runs[r].y, NULL, NULL);
        const size_t n = numel(sx, 4);
        dvk_tensor *tx = harness_tensor(DVK_DTYPE_F32, 4, sx, x);
        dvk_tensor *ty = harness_tensor_poisoned(DVK_DTYPE_F32, 4, sx);
        dvk_cmd *cmd = NULL;
        CHECK_OK(dvk_cmd_create(harness_ctx, NULL, &cmd));
        CHECK_OK(dvk_rope(cmd, &(dvk_rope_desc){.x = tx, .y = ty,
                                                .rotary_dim = runs[r].rotary_dim,
                                                .theta = 10000.0f, .offset = 5}));
        harness_run(cmd);
        dvk_cmd_destroy(cmd);
        float *y = harness_download(ty);
        char label[128];
        snprintf(label, sizeof label, "rope_rotary_embedding_torch: %s", runs[r].y);
        check(label, y_exp, y, n);
        double *ry = malloc(n * sizeof *ry);
        assert_int_equal(dvk_ref_rope(&(dvk_ref_rope_args){
                             .B = (int)sx[0], .T = (int)sx[1], .H = (int)sx[2], .D = (int)sx[3],
                             .x = x, .rotary_dim = (int)runs[r].rotary_dim, .theta = 10000.0f,
                             .offset = 5, .y = ry}),
                         0);
        snprintf(label, sizeof label, "rope_rotary_embedding_torch [C reference]: %s",
                 runs[r].y);
        check_d(label, y_exp, ry, n);
        free(ry), free(y), free(x), free(y_exp);
        dvk_tensor_destroy(tx), dvk_tensor_destroy(ty);
    }
    dvk_weights_destroy(f.file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kda_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_dplr_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_rwkv7_matches_fla, harness_test_teardown),
        cmocka_unit_test_teardown(test_memodo_head, harness_test_teardown),
        cmocka_unit_test_teardown(test_linear_attn_matches_memorax, harness_test_teardown),
        cmocka_unit_test_teardown(test_infini_attn_matches_pytorch, harness_test_teardown),
        cmocka_unit_test_teardown(test_rope_matches_rotary_embedding_torch,
                                  harness_test_teardown),
    };
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}

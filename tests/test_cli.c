/* The dvk command-line tool, run as a user would: fixtures from fla reproduced through
 * `dvk run` + `dvk compare`, malformed files and wrong arguments answered with a message and
 * exit status 1 or 2 — never a crash (a signal, or a sanitizer report, fails the test). */
#include "harness.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[512];

/* Runs `dvk <args>` through the shell, output to a log; returns the exit status, or -1 if it
 * did not exit normally (killed by a signal). */
static int dvk(const char *args)
{
    char cmd[4096];
    /* DVK_TOOL_PATH in the environment overrides the build's path (tests run elsewhere). */
    const char *tool = getenv("DVK_TOOL_PATH") ? getenv("DVK_TOOL_PATH") : DVK_TOOL_PATH;
    snprintf(cmd, sizeof cmd, "'%s' %s >>'%s/cli.log' 2>&1", tool, args, tmpdir);
    const int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

#define EXPECT_EXIT(want, ...)                                                                   \
    do {                                                                                         \
        char a_[3072];                                                                           \
        snprintf(a_, sizeof a_, __VA_ARGS__);                                                    \
        const int got_ = dvk(a_);                                                                \
        if (got_ != (want))                                                                      \
            fail_msg("dvk %s: exit %d, expected %d (see %s/cli.log)", a_, got_, want, tmpdir);   \
    } while (0)

static const char *fixture(const char *name)
{
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    const char *dir = getenv("DVK_FIXTURE_DIR") ? getenv("DVK_FIXTURE_DIR") : DVK_FIXTURE_DIR;
    snprintf(p, 1024, "%s/%s.safetensors", dir, name);
    return p;
}

static const char *tmp(const char *name)
{
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 1024, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("DVK_TEST_TMPDIR") ? getenv("DVK_TEST_TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/dvk_cli_%d", base, (int)getpid());
    char mk[600];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", tmpdir);
    if (system(mk) != 0)
        return -1;
    /* A sanitizer report must not look like dvk's own "failed" status (1). */
    setenv("ASAN_OPTIONS", "exitcode=86", 1);
    setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmpdir);
    return system(rm) == 0 ? 0 : -1;
}

static const char *profile_flag(void) { return harness_small_profile() ? "--small-profile" : ""; }

static void test_fla_fixtures_through_cli(void **state)
{
    (void)state;
    const struct {
        const char *op, *file, *dtype, *tol;
    } runs[] = {
        {"delta_rule", "delta_rule_recurrent_fla", "f32", "1e-5"},
        {"delta_rule", "delta_rule_recurrent_noh0_fla", "f32", "1e-5"},
        {"delta_rule", "delta_rule_chunk_ieee_fla", "f32", "1e-5"},
        {"gated_delta_rule", "gated_delta_rule_recurrent_varlen_fla", "f32", "1e-5"},
        {"delta_rule", "delta_rule_recurrent_fla", "f16", "5e-3"},
        {"gated_delta_rule", "gated_delta_rule_recurrent_varlen_fla", "f16", "5e-3"},
        /* fixtures of the packages' CPU references (scripts/gen_cpu_fixtures.py) */
        {"kda", "kda_naive_fla", "f32", "1e-5"},
        {"kda --gate-in-kernel --beta-sigmoid", "kda_gate_naive_fla", "f32", "1e-5"},
        {"dplr", "dplr_naive_fla", "f32", "1e-5"},
        {"rwkv7", "rwkv7_naive_fla", "f32", "1e-5"},
        {"rwkv7", "rwkv7_naive_fla", "f16", "5e-3"},
    };
    const char *modes[2] = {"recurrent", "chunk"};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; ++i) {
        for (int m = 0; m < 2; ++m) {
            EXPECT_EXIT(0, "run %s --mode %s --dtype %s --validate %s --in '%s' --out '%s'",
                        runs[i].op, modes[m], runs[i].dtype, profile_flag(), fixture(runs[i].file),
                        tmp("out.safetensors"));
            EXPECT_EXIT(0, "compare '%s' '%s' --names o,ht --tol %s", tmp("out.safetensors"),
                        fixture(runs[i].file), runs[i].tol);
        }
    }
    /* the key read-out: a file of dplr inputs whose q has V entries, o K (the Memodo axis) */
    {
        enum { T = 9, H = 1, K = 8, V = 6 };
        harness_rng rng = harness_rng_make(31);
        float q[T * H * V], k[T * H * K], v[T * H * V], a[T * H * K], b[T * H * K], gk[T * H * K];
        harness_fill_normal(&rng, q, T * H * V, 1.0f);
        harness_fill_normal(&rng, k, T * H * K, 0.3f);
        harness_fill_normal(&rng, v, T * H * V, 1.0f);
        harness_fill_normal(&rng, a, T * H * K, 0.2f);
        harness_fill_normal(&rng, b, T * H * K, 0.2f);
        harness_fill_uniform(&rng, gk, T * H * K, -1.0f, 0.0f);
        double o[T * H * K], ht[H * K * V];
        assert_int_equal(dvk_ref_dplr(&(dvk_ref_dplr_args){.B = 1, .T = T, .H = H, .K = K, .V = V,
                                                           .q = q, .k = k, .v = v, .a = a, .b = b,
                                                           .gk = gk, .readout_key = 1, .o = o,
                                                           .ht = ht}),
                         0);
        float of[T * H * K], hf[H * K * V];
        for (int i = 0; i < T * H * K; ++i)
            of[i] = (float)o[i];
        for (int i = 0; i < H * K * V; ++i)
            hf[i] = (float)ht[i];
        dvk_st_writer *w = NULL;
        CHECK_OK(dvk_st_writer_create(&w));
        const uint64_t sq[4] = {1, T, H, V}, sk[4] = {1, T, H, K}, ss[4] = {1, H, K, V};
        CHECK_OK(dvk_st_writer_add(w, "q", DVK_ST_F32, 4, sq, q));
        CHECK_OK(dvk_st_writer_add(w, "k", DVK_ST_F32, 4, sk, k));
        CHECK_OK(dvk_st_writer_add(w, "v", DVK_ST_F32, 4, sq, v));
        CHECK_OK(dvk_st_writer_add(w, "a", DVK_ST_F32, 4, sk, a));
        CHECK_OK(dvk_st_writer_add(w, "b", DVK_ST_F32, 4, sk, b));
        CHECK_OK(dvk_st_writer_add(w, "gk", DVK_ST_F32, 4, sk, gk));
        CHECK_OK(dvk_st_writer_add(w, "o", DVK_ST_F32, 4, sk, of));
        CHECK_OK(dvk_st_writer_add(w, "ht", DVK_ST_F32, 4, ss, hf));
        char err[256];
        CHECK_OK(dvk_st_writer_save(w, tmp("key.safetensors"), err, sizeof err));
        dvk_st_writer_destroy(w);
        for (int m = 0; m < 2; ++m) {
            EXPECT_EXIT(0, "run dplr --readout key --mode %s --validate %s --in '%s' --out '%s'",
                        modes[m], profile_flag(), tmp("key.safetensors"), tmp("out.safetensors"));
            EXPECT_EXIT(0, "compare '%s' '%s' --names o,ht --tol 1e-5", tmp("out.safetensors"),
                        tmp("key.safetensors"));
        }
        /* without --readout key the same file's q has the wrong length */
        EXPECT_EXIT(1, "run dplr --in '%s' --out '%s'", tmp("key.safetensors"),
                    tmp("out.safetensors"));
        EXPECT_EXIT(2, "run dplr --readout sideways --in '%s' --out '%s'",
                    tmp("key.safetensors"), tmp("out.safetensors"));
    }
    /* an input missing from the file is named */
    EXPECT_EXIT(1, "run kda --gate-in-kernel --in '%s' --out '%s'", fixture("kda_naive_fla"),
                tmp("out.safetensors"));
    /* compare fails when results differ beyond the tolerance or shapes disagree */
    EXPECT_EXIT(1, "compare '%s' '%s' --names o,ht --tol 1e-9", fixture("delta_rule_chunk_fla"),
                fixture("delta_rule_chunk_ieee_fla"));
    EXPECT_EXIT(1, "compare '%s' '%s'", fixture("delta_rule_recurrent_fla"),
                fixture("delta_rule_recurrent_noh0_fla"));
    EXPECT_EXIT(1, "compare '%s' '%s' --names nothere", fixture("delta_rule_recurrent_fla"),
                fixture("delta_rule_recurrent_fla"));
}

/* Writes a small valid delta-rule input file, with one tensor optionally altered. */
static void write_input(const char *path, const char *skip, const char *as_int,
                        uint64_t k_last_dim, const int64_t *cu)
{
    dvk_st_writer *w = NULL;
    assert_int_equal(dvk_st_writer_create(&w), DVK_SUCCESS);
    const uint64_t B = cu ? 1 : 2, T = 6, H = 2, K = 8, V = 4;
    float buf[2 * 6 * 2 * 8];
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; ++i)
        buf[i] = 0.1f * (float)(i % 7);
    const struct {
        const char *name;
        uint32_t ndim;
        uint64_t shape[4];
    } t[] = {
        {"q", 4, {B, T, H, K}}, {"k", 4, {B, T, H, k_last_dim}}, {"v", 4, {B, T, H, V}},
        {"beta", 3, {B, T, H}},
    };
    for (size_t i = 0; i < 4; ++i) {
        if (skip && strcmp(skip, t[i].name) == 0)
            continue;
        if (as_int && strcmp(as_int, t[i].name) == 0) {
            int32_t ints[2 * 6 * 2 * 8] = {0};
            assert_int_equal(dvk_st_writer_add(w, t[i].name, DVK_ST_I32, t[i].ndim, t[i].shape, ints),
                             DVK_SUCCESS);
        } else {
            assert_int_equal(dvk_st_writer_add(w, t[i].name, DVK_ST_F32, t[i].ndim, t[i].shape, buf),
                             DVK_SUCCESS);
        }
    }
    if (cu) {
        const uint64_t n = 3;
        assert_int_equal(dvk_st_writer_add(w, "cu_seqlens", DVK_ST_I64, 1, &n, cu), DVK_SUCCESS);
    }
    char err[256];
    assert_int_equal(dvk_st_writer_save(w, path, err, sizeof err), DVK_SUCCESS);
    dvk_st_writer_destroy(w);
}

static void test_bad_files(void **state)
{
    (void)state;
    const char *in = tmp("in.safetensors"), *out = tmp("out.safetensors");
    write_input(in, NULL, NULL, 8, NULL);
    EXPECT_EXIT(0, "run delta_rule --in '%s' --out '%s'", in, out); /* the good one works */

    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("does_not_exist.safetensors"), out);
    write_bytes(tmp("empty.safetensors"), "", 0);
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("empty.safetensors"), out);

    /* Truncations of a real fixture: inside the length, the header, and the data. */
    FILE *f = fopen(fixture("delta_rule_recurrent_fla"), "rb");
    assert_non_null(f);
    static unsigned char bytes[1 << 18];
    const size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    const size_t cuts[] = {5, 8, 60, 500, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; ++i) {
        write_bytes(tmp("cut.safetensors"), bytes, cuts[i]);
        EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("cut.safetensors"), out);
    }
    /* Header claims more than the file holds; unknown dtype; offsets out of the data. */
    const char *bad_headers[] = {
        "{\"q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"q\":{\"dtype\":\"X32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"q\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,400]}}",
        "{\"q\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
        "not json at all",
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; ++i) {
        unsigned char file[512] = {0};
        const size_t hl = strlen(bad_headers[i]);
        const uint64_t claimed = i == 0 ? 100000 : hl;
        for (int b = 0; b < 8; ++b)
            file[b] = (unsigned char)(claimed >> (8 * b));
        memcpy(file + 8, bad_headers[i], hl);
        write_bytes(tmp("bad.safetensors"), file, 8 + hl + 16);
        EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("bad.safetensors"), out);
    }
    /* Well-formed files whose tensors do not fit the operator. */
    write_input(tmp("nobeta.safetensors"), "beta", NULL, 8, NULL);
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("nobeta.safetensors"), out);
    write_input(tmp("intq.safetensors"), NULL, "q", 8, NULL);
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("intq.safetensors"), out);
    write_input(tmp("kshape.safetensors"), NULL, NULL, 7, NULL);
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("kshape.safetensors"), out);
    const int64_t cu_bad[3] = {0, 2, 5}; /* T is 6 */
    write_input(tmp("cu.safetensors"), NULL, NULL, 8, cu_bad);
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", tmp("cu.safetensors"), out);
    const int64_t cu_ok[3] = {0, 2, 6};
    write_input(tmp("cu_ok.safetensors"), NULL, NULL, 8, cu_ok);
    EXPECT_EXIT(0, "run delta_rule --in '%s' --out '%s'", tmp("cu_ok.safetensors"), out);
    EXPECT_EXIT(1, "run gated_delta_rule --in '%s' --out '%s'", in, out); /* no g */
    EXPECT_EXIT(1, "run delta_rule --in '%s' --out '%s'", in, tmp("no/such/dir/out.safetensors"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    EXPECT_EXIT(2, "%s", "");
    EXPECT_EXIT(0, "--help");
    EXPECT_EXIT(0, "--version");
    EXPECT_EXIT(0, "ops");
    EXPECT_EXIT(2, "frobnicate");
    EXPECT_EXIT(2, "run delta_rule");
    EXPECT_EXIT(2, "run no_such_op --in a --out b");
    EXPECT_EXIT(2, "run delta_rule --in a --out b --mode sideways");
    EXPECT_EXIT(2, "run delta_rule --in a --out b --dtype f64");
    EXPECT_EXIT(2, "run delta_rule --in a --out b --scale abc");
    EXPECT_EXIT(2, "run delta_rule --in");
    EXPECT_EXIT(2, "bench delta_rule --B 1 --T 8 --H 1 --K 8");
    EXPECT_EXIT(2, "bench delta_rule --B x --T 8 --H 1 --K 8 --V 8");
    EXPECT_EXIT(2, "bench delta_rule --B -1 --T 8 --H 1 --K 8 --V 8");
    EXPECT_EXIT(2, "compare onlyone.safetensors");
    EXPECT_EXIT(2, "devices extra");
    EXPECT_EXIT(1, "run delta_rule --device 'no such device' --in '%s' --out '%s'",
                fixture("delta_rule_recurrent_fla"), tmp("out.safetensors"));
}

static void test_devices_and_bench(void **state)
{
    (void)state;
    EXPECT_EXIT(0, "devices");
    EXPECT_EXIT(0, "bench delta_rule --B 1 --T 8 --H 2 --K 16 --V 8 --warmup 1 --iters 3 --json %s",
                profile_flag());
    EXPECT_EXIT(0, "bench gated_delta_rule --B 2 --T 1 --H 2 --K 32 --V 32 --dtype f16 "
                   "--warmup 1 --iters 3 %s",
                profile_flag());
    EXPECT_EXIT(1, "bench delta_rule --B 1 --T 8 --H 2 --K 300 --V 8 --iters 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fla_fixtures_through_cli),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_devices_and_bench),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* dvk compare A B: relative RMS error ‖A − B‖ / ‖B‖ of each tensor of A present in B (or of the
 * tensors named by --names), with B taken as the reference. Fails above --tol. */
#include "dvk_tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool listed(const char *names, const char *name)
{
    if (!names)
        return true;
    const size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

void tool_help_compare(FILE *f)
{
    fprintf(f,
            "usage: dvk compare RESULT.safetensors REFERENCE.safetensors [--names o,ht]\n"
            "                   [--tol 1e-5]\n"
            "\n"
            "The relative RMS error |A - B| / |B| of each tensor of RESULT also in REFERENCE\n"
            "(B, the reference), and the largest absolute difference; exit status 1 when one\n"
            "exceeds the tolerance, shapes differ, or a named tensor is missing. Host only: no\n"
            "device is used.\n"
            "\n"
            "options:\n"
            "  --names A,B,...   compare these tensors only; each must be in both files\n"
            "  --tol X           the largest relative RMS error that passes (default 1e-5)\n");
}

int cmd_compare(int argc, char **argv)
{
    const char *a_path = NULL, *b_path = NULL, *names = NULL;
    double tol = 1e-5;
    for (int i = 2; i < argc; ++i) {
        char buf[64];
        const char *inline_val = NULL;
        const char *a = tool_arg_split(argv[i], buf, sizeof buf, &inline_val);
        const char *val = inline_val ? inline_val : i + 1 < argc ? argv[i + 1] : NULL;
        const bool takes = strcmp(a, "--names") == 0 || strcmp(a, "--tol") == 0;
        if (takes && !val) {
            fprintf(stderr, "dvk: %s needs a value\n", a);
            return TOOL_USAGE;
        }
        if (takes && !inline_val)
            ++i;
        if (tool_is_help(a)) {
            tool_help_compare(stdout);
            return TOOL_OK;
        } else if (strcmp(a, "--names") == 0) {
            names = val;
        } else if (strcmp(a, "--tol") == 0) {
            char *end = NULL;
            tol = strtod(val, &end);
            if (*val == '\0' || *end != '\0' || !(tol >= 0)) {
                fprintf(stderr, "dvk: --tol needs a non-negative number\n");
                return TOOL_USAGE;
            }
        } else if (a[0] != '-' && !a_path) {
            a_path = a;
        } else if (a[0] != '-' && !b_path) {
            b_path = a;
        } else {
            fprintf(stderr, "dvk: compare: unexpected argument %s\n", argv[i]);
            return TOOL_USAGE;
        }
    }
    if (!a_path || !b_path) {
        tool_help_compare(stderr);
        return TOOL_USAGE;
    }
    /* host only: no device is needed to compare two files */
    dvk_weights *a = NULL, *b = NULL;
    if (dvk_weights_load(NULL, a_path, NULL, &a) != DVK_SUCCESS ||
        dvk_weights_load(NULL, b_path, NULL, &b) != DVK_SUCCESS) {
        fprintf(stderr, "dvk: %s\n", dvk_last_error());
        dvk_weights_destroy(a);
        return TOOL_FAIL;
    }
    int rc = TOOL_OK, compared = 0;
    for (uint32_t i = 0; i < dvk_weights_count(a); ++i) {
        dvk_weights_entry ta, tb;
        if (dvk_weights_find(a, dvk_weights_name(a, i), &ta) != DVK_SUCCESS ||
            !listed(names, ta.name))
            continue;
        if (dvk_weights_find(b, ta.name, &tb) != DVK_SUCCESS) {
            if (names) {
                fprintf(stderr, "dvk: %s is not in %s\n", ta.name, b_path);
                rc = TOOL_FAIL;
            }
            continue;
        }
        bool same = ta.ndim == tb.ndim;
        for (uint32_t d = 0; same && d < ta.ndim; ++d)
            same = ta.shape[d] == tb.shape[d];
        if (!same) {
            fprintf(stderr, "dvk: %s: shapes differ\n", ta.name);
            rc = TOOL_FAIL;
            continue;
        }
        const size_t n = (size_t)ta.numel;
        float *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
        if (!x || !y ||
            dvk_weights_read(a, ta.name, DVK_DTYPE_F32, x, n * sizeof *x) != DVK_SUCCESS ||
            dvk_weights_read(b, ta.name, DVK_DTYPE_F32, y, n * sizeof *y) != DVK_SUCCESS) {
            fprintf(stderr, "dvk: %s: %s\n", ta.name, x && y ? dvk_last_error() : "out of memory");
            free(x), free(y);
            rc = TOOL_FAIL;
            continue;
        }
        double num = 0.0, den = 0.0, maxabs = 0.0;
        bool finite = true;
        for (size_t e = 0; e < n; ++e) {
            finite = finite && isfinite(x[e]);
            const double d = (double)x[e] - y[e];
            num += d * d;
            den += (double)y[e] * y[e];
            maxabs = fabs(d) > maxabs ? fabs(d) : maxabs;
        }
        const double rel = !finite ? INFINITY : den > 0 ? sqrt(num / den) : sqrt(num);
        const bool ok = rel <= tol;
        printf("%-16s rel rms %.3e  max abs %.3e  %s\n", ta.name, rel, maxabs,
               ok ? "ok" : "FAIL");
        if (!ok)
            rc = TOOL_FAIL;
        ++compared;
        free(x), free(y);
    }
    if (names) { /* every named tensor must be in A too */
        for (const char *p = names; *p;) {
            const char *comma = strchr(p, ',');
            const size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(len < 127 ? len : 127), p);
            if (dvk_weights_find(a, name, &(dvk_weights_entry){0}) != DVK_SUCCESS) {
                fprintf(stderr, "dvk: %s is not in %s\n", name, a_path);
                rc = TOOL_FAIL;
            }
            p += len + (comma ? 1 : 0);
        }
    }
    if (compared == 0) {
        fprintf(stderr, "dvk: no tensors compared\n");
        rc = TOOL_FAIL;
    }
    dvk_weights_destroy(a);
    dvk_weights_destroy(b);
    return rc;
}

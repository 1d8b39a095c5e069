/* libFuzzer target: the library's safetensors reader through dvk_weights, host only (no
 * context: no device is needed, and every check of the header runs). A file it accepts is then
 * used as a caller would: every entry found, read as f32 and as i32 when small, metadata
 * looked up, the names checked for use. Any crash, sanitizer report or leak is a bug; a
 * status is the expected answer to bad bytes.
 *     scripts/fuzz.sh            builds it (clang) and runs it on tests/fuzz/corpus/safetensors */
#include "deltavk.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads of at most this many elements: enough for every seed, small enough to stay fast. */
#define MAX_READ 65536

/* Keeps every other entry, so that the filter's paths run too. */
static bool keep_even(void *user, const char *name)
{
    unsigned *n = user;
    (void)name;
    return (*n)++ % 2 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float f[MAX_READ];
    static int32_t i32[MAX_READ];
    unsigned counter = 0;
    const dvk_weights_desc filtered = {.filter = keep_even, .user_data = &counter};
    for (int pass = 0; pass < 2; ++pass) {
        dvk_weights *w = NULL;
        if (dvk_weights_load_memory(NULL, data, size, pass ? &filtered : NULL, &w) !=
            DVK_SUCCESS)
            return 0; /* the same bytes fail the same way with a filter */
        const uint32_t n = dvk_weights_count(w);
        for (uint32_t i = 0; i < n; ++i) {
            const char *name = dvk_weights_name(w, i);
            dvk_weights_entry e;
            if (!name || dvk_weights_find(w, name, &e) != DVK_SUCCESS)
                abort(); /* every listed name must be found */
            if (e.numel <= MAX_READ) {
                (void)dvk_weights_read(w, name, DVK_DTYPE_F32, f, (size_t)e.numel * 4);
                (void)dvk_weights_read(w, name, DVK_DTYPE_I32, i32, (size_t)e.numel * 4);
            }
            (void)dvk_weights_get(w, name, NULL);
        }
        (void)dvk_weights_metadata(w, "format");
        (void)dvk_weights_check_all_used(w);
        dvk_weights_destroy(w);
    }
    return 0;
}

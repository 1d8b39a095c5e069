/* libFuzzer target: the parser of rwkv.cpp's .bin model files (src/models/rwkv7/bin.c), the
 * first thing dvk_rwkv7_load does with a file that starts with the .bin magic. It is called
 * directly: through the public API a parse needs a Vulkan context and a whole model's
 * upload per input, far too slow to fuzz. Every record it accepts is read back as floats.
 *     scripts/fuzz.sh            builds it (clang) and runs it on tests/fuzz/corpus/rwkv7_bin */
#include "models/rwkv7/rwkv7.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_READ 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float f[MAX_READ];
    rwkv7_bin bin;
    if (rwkv7_bin_parse(data, size, "fuzz", &bin) != DVK_SUCCESS)
        return 0;
    for (uint32_t i = 0; i < bin.count; ++i) {
        const rwkv7_bin_record *r = &bin.rec[i];
        if (rwkv7_bin_find(&bin, r->name) != r)
            abort(); /* names are unique: each finds itself */
        if (r->numel <= MAX_READ)
            rwkv7_bin_read(r, f);
    }
    rwkv7_bin_free(&bin);
    return 0;
}

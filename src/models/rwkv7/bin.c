/* rwkv.cpp's .bin model files (its docs/FILE_FORMAT.md), read strictly: every size is checked
 * against the bytes left before anything is read, so a malformed or truncated file is an error
 * naming the record, never a read out of bounds. Little-endian hosts (as rwkv.cpp writes). */
#include "models/rwkv7/rwkv7.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* A key as messages show it: printable ASCII kept, other bytes as '?', at most 80 of them. */
static const char *printable(const unsigned char *key, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap && i < 80; ++i)
        buf[n++] = key[i] >= 0x20 && key[i] < 0x7f ? (char)key[i] : '?';
    if (len > 80 && n + 4 < cap) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static const char *type_name(int32_t t)
{
    /* rwkv.cpp's data types (rwkv_file_format.inc): the quantized ones are not read here. */
    static const char *const names[] = {"FP32", "FP16", "Q4_0", "Q4_1", "Q4_1_O", "Q4_2",
                                        "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

void dvk__rwkv7_bin_free(rwkv7_bin *bin)
{
    if (!bin)
        return;
    for (uint32_t i = 0; i < bin->count; ++i)
        free(bin->rec[i].name);
    free(bin->rec);
    bin->rec = NULL;
    bin->count = 0;
}

dvk_status dvk__rwkv7_bin_parse(const unsigned char *bytes, size_t size, const char *label,
                                rwkv7_bin *out)
{
    memset(out, 0, sizeof *out);
    if (size < 24)
        return dvk_set_error(DVK_ERROR_FORMAT,
                             "%s: %zu bytes, shorter than rwkv.cpp's header of 24", label, size);
    const int32_t magic = rd_i32(bytes);
    if ((uint32_t)magic != RWKV7_BIN_MAGIC)
        return dvk_set_error(DVK_ERROR_FORMAT,
                             "%s: magic 0x%08x, expected rwkv.cpp's 0x%08x", label,
                             (unsigned)magic, (unsigned)RWKV7_BIN_MAGIC);
    out->version = rd_i32(bytes + 4);
    out->n_vocab = rd_i32(bytes + 8);
    out->n_embed = rd_i32(bytes + 12);
    out->n_layer = rd_i32(bytes + 16);
    out->data_type = rd_i32(bytes + 20);
    if (out->version != 100 && out->version != 101)
        return dvk_set_error(DVK_ERROR_FORMAT, "%s: file version %d, expected 100 or 101",
                             label, (int)out->version);
    if (out->n_vocab <= 0 || out->n_embed <= 0 || out->n_layer <= 0)
        return dvk_set_error(DVK_ERROR_FORMAT,
                             "%s: header gives n_vocab %d, n_embed %d, n_layer %d (each must be "
                             "positive)",
                             label, (int)out->n_vocab, (int)out->n_embed, (int)out->n_layer);
    size_t off = 24;
    uint32_t cap = 0;
    dvk_status st = DVK_SUCCESS;
    char key[96];
    while (off < size) {
        const uint32_t idx = out->count;
        if (size - off < 12) {
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: record %u at byte %zu: truncated (%zu bytes left, a record "
                               "header needs 12)",
                               label, idx, off, size - off);
            break;
        }
        const int32_t nd = rd_i32(bytes + off), klen = rd_i32(bytes + off + 4),
                      type = rd_i32(bytes + off + 8);
        if (nd < 1 || nd > RWKV7_BIN_MAX_DIMS || klen < 1 || klen > RWKV7_BIN_MAX_KEY) {
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: record %u at byte %zu: %d dimensions and a key of %d bytes "
                               "(expected 1 to %d and 1 to %d)",
                               label, idx, off, (int)nd, (int)klen, RWKV7_BIN_MAX_DIMS,
                               RWKV7_BIN_MAX_KEY);
            break;
        }
        off += 12;
        if (size - off < (size_t)nd * 4 + (size_t)klen) {
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: record %u at byte %zu: truncated in its shape or key", label,
                               idx, off - 12);
            break;
        }
        int32_t dims[RWKV7_BIN_MAX_DIMS];
        for (int32_t d = 0; d < nd; ++d)
            dims[d] = rd_i32(bytes + off + 4 * (size_t)d);
        off += (size_t)nd * 4;
        const unsigned char *kp = bytes + off;
        off += (size_t)klen;
        printable(kp, (size_t)klen, key, sizeof key);
        if (memchr(kp, 0, (size_t)klen)) {
            st = dvk_set_error(DVK_ERROR_FORMAT, "%s: record %u ('%s'): its key holds a NUL byte",
                               label, idx, key);
            break;
        }
        if (type != 0 && type != 1) {
            st = dvk_set_error(type >= 2 && type <= 10 ? DVK_ERROR_UNSUPPORTED : DVK_ERROR_FORMAT,
                               "%s: tensor '%s': data type %d (%s); only FP32 (0) and FP16 (1) "
                               "are read",
                               label, key, (int)type, type_name(type));
            break;
        }
        rwkv7_bin_record r = {.type = (uint32_t)type, .ndim = (uint32_t)nd, .numel = 1};
        bool bad_dim = false;
        for (int32_t d = 0; d < nd; ++d) {
            if (dims[d] <= 0)
                bad_dim = true;
            else
                r.shape[nd - 1 - d] = (uint64_t)dims[d]; /* the file's order is reversed */
        }
        /* Each dimension is below 2^31, so four of them stay below 2^124: check as we go. */
        for (int32_t d = 0; !bad_dim && d < nd; ++d) {
            if (r.numel > (UINT64_MAX >> 2) / r.shape[d])
                bad_dim = true;
            else
                r.numel *= r.shape[d];
        }
        if (bad_dim) {
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: tensor '%s': a dimension is not positive, or the element "
                               "count overflows",
                               label, key);
            break;
        }
        const uint64_t bytes_needed = r.numel * (type == 0 ? 4u : 2u);
        if (bytes_needed > size - off) {
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: tensor '%s': truncated (%llu bytes of data, %zu left in the "
                               "file)",
                               label, key, (unsigned long long)bytes_needed, size - off);
            break;
        }
        r.data = bytes + off;
        off += (size_t)bytes_needed;
        for (uint32_t i = 0; i < out->count; ++i) {
            if (strlen(out->rec[i].name) == (size_t)klen &&
                memcmp(out->rec[i].name, kp, (size_t)klen) == 0) {
                st = dvk_set_error(DVK_ERROR_FORMAT, "%s: tensor '%s' appears twice", label, key);
                break;
            }
        }
        if (st != DVK_SUCCESS)
            break;
        r.name = malloc((size_t)klen + 1);
        if (out->count == cap) {
            const uint32_t ncap = cap ? 2 * cap : 64;
            rwkv7_bin_record *p = realloc(out->rec, ncap * sizeof *p);
            if (p) {
                out->rec = p;
                cap = ncap;
            }
        }
        if (!r.name || out->count == cap) {
            free(r.name);
            st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        memcpy(r.name, kp, (size_t)klen);
        r.name[klen] = '\0';
        out->rec[out->count++] = r;
    }
    if (st != DVK_SUCCESS)
        dvk__rwkv7_bin_free(out);
    return st;
}

rwkv7_bin_record *dvk__rwkv7_bin_find(const rwkv7_bin *bin, const char *name)
{
    for (uint32_t i = 0; i < bin->count; ++i)
        if (strcmp(bin->rec[i].name, name) == 0)
            return &bin->rec[i];
    return NULL;
}

void dvk__rwkv7_bin_read(const rwkv7_bin_record *r, float *dst)
{
    if (r->type == 0) {
        memcpy(dst, r->data, (size_t)r->numel * sizeof(float));
        return;
    }
    for (uint64_t i = 0; i < r->numel; ++i) {
        uint16_t h;
        memcpy(&h, r->data + 2 * i, sizeof h);
        dst[i] = dvk_f16_to_f32(h);
    }
}

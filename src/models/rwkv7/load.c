/* Loading RWKV-7 from rwkv.cpp's .bin or from safetensors with PyTorch's names and layouts.
 *
 * Both go through one walk over the parameters (walk()), run twice: first a check of every
 * name and shape against the sizes read from the file (nothing is made, so a malformed or
 * mismatched file fails before any upload, and an extra tensor is found), then the tensors
 * are made. .bin records are converted on the host and uploaded. safetensors files are read by
 * dvk_weights straight into device tensors (its tensor_dtype hook keeps vectors fp32), except
 * the tensors whose layout differs from the forward pass's — the six μ (stacked into one
 * [6, C]) and the low-rank matrices (transposed into Linear layout) — which dvk_weights' filter
 * leaves to the host path. */
#include "models/rwkv7/rwkv7.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMORY_LABEL "(memory)"

/* How a parameter's file layout maps onto the forward pass's. */
typedef enum pkind {
    P_MATRIX, /* Linear layout [rows, cols] in both formats */
    P_LORA,   /* forward [rows, cols] = [out, in]; PyTorch [in, out]; .bin [out, in] */
    P_VECTOR, /* [cols]; the file's [cols], [1, cols] or [1, 1, cols] */
    P_HEADS,  /* r_k: [C]; the file's [H, N] (or [C]) */
    P_MIX,    /* the six μ: [6, C]; PyTorch att.x_r .. att.x_g, .bin att.x_rwkvag [6, 1, C] */
} pkind;

typedef struct loader {
    dvk_context *ctx;
    const char *label;
    dvk_model_format format;
    rwkv7_bin bin;
    dvk_weights *w;
    bool *seen;     /* per entry of the file, in its order: the walk asked for it */
    uint32_t n_entries;
    bool create;    /* the second walk: make the tensors */
    dvk_dtype mdtype;
    dvk_rwkv7_model *m;
} loader;

/* A file entry's shape in PyTorch's order. */
typedef struct entry {
    uint32_t ndim;
    uint64_t shape[DVK_WEIGHTS_MAX_DIMS];
    uint32_t index;
} entry;

static bool find(loader *L, const char *name, entry *e)
{
    if (L->format == DVK_MODEL_FORMAT_RWKV_CPP) {
        const rwkv7_bin_record *r = dvk__rwkv7_bin_find(&L->bin, name);
        if (!r)
            return false;
        e->ndim = r->ndim;
        memcpy(e->shape, r->shape, sizeof r->shape);
        e->index = (uint32_t)(r - L->bin.rec);
        return true;
    }
    dvk_weights_entry we;
    if (dvk_weights_find(L->w, name, &we) != DVK_SUCCESS)
        return false;
    e->ndim = we.ndim;
    memcpy(e->shape, we.shape, sizeof e->shape);
    for (uint32_t i = 0; i < L->n_entries; ++i)
        if (strcmp(dvk_weights_name(L->w, i), name) == 0)
            e->index = i;
    return true;
}

static dvk_status missing(const loader *L, const char *name)
{
    return dvk_set_error(DVK_ERROR_NOT_FOUND, "%s: tensor '%s' is missing", L->label, name);
}

static dvk_status wrong_shape(const loader *L, const char *name, const entry *e,
                              const char *expected)
{
    char a[96];
    return dvk_set_error(DVK_ERROR_SHAPE_MISMATCH, "%s: tensor '%s': shape %s, expected %s",
                         L->label, name, dvk__md_dims_str(e->ndim, e->shape, a, sizeof a),
                         expected);
}

/* The entry `name`, which must exist and be marked seen. */
static dvk_status need(loader *L, const char *name, entry *e)
{
    if (!find(L, name, e))
        return missing(L, name);
    L->seen[e->index] = true;
    return DVK_SUCCESS;
}

static bool is_vector(const entry *e, uint64_t c)
{
    for (uint32_t i = 0; i + 1 < e->ndim; ++i)
        if (e->shape[i] != 1)
            return false;
    return e->ndim >= 1 && e->ndim <= 3 && e->shape[e->ndim - 1] == c;
}

static dvk_status own(dvk_rwkv7_model *m, dvk_tensor *t)
{
    if (m->n_owned == m->cap_owned) {
        const uint32_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        dvk_tensor **p = realloc(m->owned, cap * sizeof *p);
        if (!p) {
            dvk_tensor_destroy(t);
            return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        m->owned = p;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = t;
    return DVK_SUCCESS;
}

/* Reads entry `name` as floats (numel of them) on the host. */
static dvk_status read_host(loader *L, const char *name, float *dst, uint64_t numel)
{
    if (L->format == DVK_MODEL_FORMAT_RWKV_CPP) {
        dvk__rwkv7_bin_read(dvk__rwkv7_bin_find(&L->bin, name), dst);
        return DVK_SUCCESS;
    }
    return dvk_weights_read(L->w, name, DVK_DTYPE_F32, dst, (size_t)numel * sizeof(float));
}

/* Makes a device tensor of `dtype` from host floats, owned by the model. */
static dvk_status make(loader *L, dvk_dtype dtype, uint32_t ndim, const uint64_t *shape,
                       const float *data, dvk_tensor **out)
{
    MD_TRY(dvk__md_tensor_from_f32(L->ctx, dtype, ndim, shape, data, out));
    return own(L->m, *out);
}

/* The forward pass's tensor for a parameter stored as-is (bin: converted from the record;
 * safetensors: dvk_weights' tensor, seen through a view of shape `shape` when it differs). */
static dvk_status take_as_is(loader *L, const char *name, const entry *e, dvk_dtype dtype,
                             uint32_t ndim, const uint64_t *shape, dvk_tensor **out)
{
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; ++i)
        numel *= shape[i];
    if (L->format == DVK_MODEL_FORMAT_RWKV_CPP) {
        float *buf = malloc((size_t)numel * sizeof *buf);
        if (!buf)
            return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        MD_TRY(read_host(L, name, buf, numel));
        const dvk_status st = make(L, dtype, ndim, shape, buf, out);
        free(buf);
        return st;
    }
    dvk_tensor *t;
    MD_TRY(dvk_weights_expect(L->w, name, e->ndim, e->shape, &t));
    bool same = dvk_tensor_ndim(t) == ndim;
    for (uint32_t i = 0; same && i < ndim; ++i)
        same = dvk_tensor_dim(t, i) == shape[i];
    if (same) {
        *out = t;
        return DVK_SUCCESS;
    }
    MD_TRY(dvk_tensor_reshape(t, ndim, shape, out));
    return own(L->m, *out);
}

static const char *const mix_names[6] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};

/* One parameter: checked in the first walk, made in the second. `name` is the PyTorch name
 * (for P_MIX the prefix "blocks.i.att."). rows, cols: the forward pass's [rows, cols] (vectors:
 * cols). */
static dvk_status param(loader *L, const char *name, pkind kind, uint64_t rows, uint64_t cols,
                        dvk_tensor **out)
{
    const bool bin = L->format == DVK_MODEL_FORMAT_RWKV_CPP;
    const dvk_rwkv7_info *in = &L->m->info;
    char want[96];
    entry e;
    switch (kind) {
    case P_MATRIX:
    case P_LORA: {
        MD_TRY(need(L, name, &e));
        const bool transposed = kind == P_LORA && !bin;
        const uint64_t r0 = transposed ? cols : rows, c0 = transposed ? rows : cols;
        if (e.ndim != 2 || e.shape[0] != r0 || e.shape[1] != c0) {
            const uint64_t d[2] = {r0, c0};
            return wrong_shape(L, name, &e, dvk__md_dims_str(2, d, want, sizeof want));
        }
        if (!L->create)
            return DVK_SUCCESS;
        const uint64_t shape[2] = {rows, cols};
        if (!transposed)
            return take_as_is(L, name, &e, L->mdtype, 2, shape, out);
        float *src = malloc((size_t)(rows * cols) * sizeof *src);
        float *dst = malloc((size_t)(rows * cols) * sizeof *dst);
        dvk_status st = src && dst ? read_host(L, name, src, rows * cols)
                                   : dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY,
                                                   "out of host memory");
        if (st == DVK_SUCCESS) {
            for (uint64_t i = 0; i < cols; ++i) /* src [cols, rows] -> dst [rows, cols] */
                for (uint64_t j = 0; j < rows; ++j)
                    dst[j * cols + i] = src[i * rows + j];
            st = make(L, L->mdtype, 2, shape, dst, out);
        }
        free(src);
        free(dst);
        return st;
    }
    case P_VECTOR:
    case P_HEADS: {
        MD_TRY(need(L, name, &e));
        const bool ok = kind == P_VECTOR
                            ? is_vector(&e, cols)
                            : (e.ndim == 2 && e.shape[0] == in->n_head &&
                               e.shape[1] == in->head_size) ||
                                  (e.ndim == 1 && e.shape[0] == cols);
        if (!ok) {
            if (kind == P_VECTOR)
                snprintf(want, sizeof want, "[%llu] (or [1,%llu], [1,1,%llu])",
                         (unsigned long long)cols, (unsigned long long)cols,
                         (unsigned long long)cols);
            else
                snprintf(want, sizeof want, "[%u,%u] (heads, head size)", in->n_head,
                         in->head_size);
            return wrong_shape(L, name, &e, want);
        }
        if (!L->create)
            return DVK_SUCCESS;
        const uint64_t shape[1] = {cols};
        return take_as_is(L, name, &e, DVK_DTYPE_F32, 1, shape, out);
    }
    case P_MIX: {
        const uint64_t C = cols;
        char full[160];
        float *buf = NULL;
        if (L->create) {
            buf = malloc((size_t)(6 * C) * sizeof *buf);
            if (!buf)
                return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        dvk_status st = DVK_SUCCESS;
        if (bin) {
            snprintf(full, sizeof full, "%sx_rwkvag", name);
            st = need(L, full, &e);
            if (st == DVK_SUCCESS && !((e.ndim == 3 && e.shape[0] == 6 && e.shape[1] == 1 &&
                                        e.shape[2] == C) ||
                                       (e.ndim == 2 && e.shape[0] == 6 && e.shape[1] == C))) {
                snprintf(want, sizeof want, "[6,1,%llu] (x_r, x_w, x_k, x_v, x_a, x_g stacked)",
                         (unsigned long long)C);
                st = wrong_shape(L, full, &e, want);
            }
            if (st == DVK_SUCCESS && buf)
                st = read_host(L, full, buf, 6 * C);
        } else {
            for (int i = 0; i < 6 && st == DVK_SUCCESS; ++i) {
                snprintf(full, sizeof full, "%s%s", name, mix_names[i]);
                st = need(L, full, &e);
                if (st == DVK_SUCCESS && !is_vector(&e, C)) {
                    snprintf(want, sizeof want, "[1,1,%llu]", (unsigned long long)C);
                    st = wrong_shape(L, full, &e, want);
                }
                if (st == DVK_SUCCESS && buf)
                    st = read_host(L, full, buf + (size_t)i * C, C);
            }
        }
        if (st == DVK_SUCCESS && buf) {
            const uint64_t shape[2] = {6, C};
            st = make(L, DVK_DTYPE_F32, 2, shape, buf, out);
        }
        free(buf);
        (void)rows;
        return st;
    }
    }
    return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "unknown parameter kind");
}

/* Every parameter of the model, in the file's usual order. */
static dvk_status walk(loader *L)
{
    dvk_rwkv7_model *m = L->m;
    const dvk_rwkv7_info *in = &m->info;
    const uint64_t V = in->n_vocab, C = in->n_embd, F = in->ffn_dim;
    MD_TRY(param(L, "emb.weight", P_MATRIX, V, C, &m->emb));
    MD_TRY(param(L, "blocks.0.ln0.weight", P_VECTOR, 1, C, &m->ln0_w));
    MD_TRY(param(L, "blocks.0.ln0.bias", P_VECTOR, 1, C, &m->ln0_b));
    char n[128];
#define NAME(suffix) (snprintf(n, sizeof n, "blocks.%u.%s", l, suffix), n)
    for (uint32_t l = 0; l < in->n_layer; ++l) {
        rwkv7_block *b = &m->blocks[l];
        MD_TRY(param(L, NAME("ln1.weight"), P_VECTOR, 1, C, &b->ln1_w));
        MD_TRY(param(L, NAME("ln1.bias"), P_VECTOR, 1, C, &b->ln1_b));
        MD_TRY(param(L, NAME("ln2.weight"), P_VECTOR, 1, C, &b->ln2_w));
        MD_TRY(param(L, NAME("ln2.bias"), P_VECTOR, 1, C, &b->ln2_b));
        MD_TRY(param(L, NAME("att."), P_MIX, 6, C, &b->x_mix));
        MD_TRY(param(L, NAME("att.w0"), P_VECTOR, 1, C, &b->w0));
        MD_TRY(param(L, NAME("att.w1"), P_LORA, in->decay_rank, C, &b->w1));
        MD_TRY(param(L, NAME("att.w2"), P_LORA, C, in->decay_rank, &b->w2));
        MD_TRY(param(L, NAME("att.a0"), P_VECTOR, 1, C, &b->a0));
        MD_TRY(param(L, NAME("att.a1"), P_LORA, in->iclr_rank, C, &b->a1));
        MD_TRY(param(L, NAME("att.a2"), P_LORA, C, in->iclr_rank, &b->a2));
        if (l > 0) {
            MD_TRY(param(L, NAME("att.v0"), P_VECTOR, 1, C, &b->v0));
            MD_TRY(param(L, NAME("att.v1"), P_LORA, in->value_rank, C, &b->v1));
            MD_TRY(param(L, NAME("att.v2"), P_LORA, C, in->value_rank, &b->v2));
        }
        MD_TRY(param(L, NAME("att.g1"), P_LORA, in->gate_rank, C, &b->g1));
        MD_TRY(param(L, NAME("att.g2"), P_LORA, C, in->gate_rank, &b->g2));
        MD_TRY(param(L, NAME("att.k_k"), P_VECTOR, 1, C, &b->k_k));
        MD_TRY(param(L, NAME("att.k_a"), P_VECTOR, 1, C, &b->k_a));
        MD_TRY(param(L, NAME("att.r_k"), P_HEADS, 1, C, &b->r_k));
        MD_TRY(param(L, NAME("att.receptance.weight"), P_MATRIX, C, C, &b->wr));
        MD_TRY(param(L, NAME("att.key.weight"), P_MATRIX, C, C, &b->wk));
        MD_TRY(param(L, NAME("att.value.weight"), P_MATRIX, C, C, &b->wv));
        MD_TRY(param(L, NAME("att.output.weight"), P_MATRIX, C, C, &b->wo));
        MD_TRY(param(L, NAME("att.ln_x.weight"), P_VECTOR, 1, C, &b->lnx_w));
        MD_TRY(param(L, NAME("att.ln_x.bias"), P_VECTOR, 1, C, &b->lnx_b));
        MD_TRY(param(L, NAME("ffn.x_k"), P_VECTOR, 1, C, &b->ffn_x_k));
        MD_TRY(param(L, NAME("ffn.key.weight"), P_MATRIX, F, C, &b->ffn_key));
        MD_TRY(param(L, NAME("ffn.value.weight"), P_MATRIX, C, F, &b->ffn_value));
    }
#undef NAME
    MD_TRY(param(L, "ln_out.weight", P_VECTOR, 1, C, &m->ln_out_w));
    MD_TRY(param(L, "ln_out.bias", P_VECTOR, 1, C, &m->ln_out_b));
    MD_TRY(param(L, "head.weight", P_MATRIX, V, C, &m->head));
    return DVK_SUCCESS;
}

/* The rank of a low-rank pair from its first matrix (PyTorch [C, D], .bin [D, C]). */
static dvk_status lora_rank(loader *L, const char *name, uint64_t C, uint32_t *out)
{
    entry e;
    if (!find(L, name, &e))
        return missing(L, name);
    const bool bin = L->format == DVK_MODEL_FORMAT_RWKV_CPP;
    const uint64_t c = bin ? e.shape[1] : e.shape[0], d = bin ? e.shape[0] : e.shape[1];
    if (e.ndim != 2 || c != C || d == 0 || d > UINT32_MAX) {
        char want[64];
        snprintf(want, sizeof want, bin ? "[D,%llu] (stored transposed)" : "[%llu,D]",
                 (unsigned long long)C);
        return wrong_shape(L, name, &e, want);
    }
    *out = (uint32_t)d;
    return DVK_SUCCESS;
}

/* The model's sizes, from the file. */
static dvk_status read_sizes(loader *L)
{
    dvk_rwkv7_info *in = &L->m->info;
    entry e;
    if (!find(L, "emb.weight", &e))
        return missing(L, "emb.weight");
    if (e.ndim != 2 || e.shape[0] > UINT32_MAX || e.shape[1] > UINT32_MAX)
        return wrong_shape(L, "emb.weight", &e, "[n_vocab,n_embd]");
    in->n_vocab = (uint32_t)e.shape[0];
    in->n_embd = (uint32_t)e.shape[1];
    const uint64_t C = in->n_embd;
    if (L->format == DVK_MODEL_FORMAT_RWKV_CPP) {
        if ((uint64_t)L->bin.n_vocab != e.shape[0] || (uint64_t)L->bin.n_embed != e.shape[1]) {
            char want[64];
            snprintf(want, sizeof want, "[%d,%d] (the header's n_vocab, n_embed)",
                     (int)L->bin.n_vocab, (int)L->bin.n_embed);
            return wrong_shape(L, "emb.weight", &e, want);
        }
        in->n_layer = (uint32_t)L->bin.n_layer;
    } else {
        char n[64];
        for (;;) {
            snprintf(n, sizeof n, "blocks.%u.ln1.weight", in->n_layer);
            if (!find(L, n, &e))
                break;
            ++in->n_layer;
        }
        if (in->n_layer == 0)
            return missing(L, "blocks.0.ln1.weight");
    }
    if (!find(L, "blocks.0.att.r_k", &e))
        return missing(L, "blocks.0.att.r_k");
    if (e.ndim != 2 || e.shape[0] * e.shape[1] != C || e.shape[1] > 256) {
        char want[64];
        snprintf(want, sizeof want, "[H,N] with H*N = %llu and N <= 256", (unsigned long long)C);
        return wrong_shape(L, "blocks.0.att.r_k", &e, want);
    }
    in->n_head = (uint32_t)e.shape[0];
    in->head_size = (uint32_t)e.shape[1];
    MD_TRY(lora_rank(L, "blocks.0.att.w1", C, &in->decay_rank));
    MD_TRY(lora_rank(L, "blocks.0.att.a1", C, &in->iclr_rank));
    MD_TRY(lora_rank(L, "blocks.0.att.g1", C, &in->gate_rank));
    if (in->n_layer > 1)
        MD_TRY(lora_rank(L, "blocks.1.att.v1", C, &in->value_rank));
    if (!find(L, "blocks.0.ffn.key.weight", &e))
        return missing(L, "blocks.0.ffn.key.weight");
    if (e.ndim != 2 || e.shape[1] != C || e.shape[0] > UINT32_MAX) {
        char want[64];
        snprintf(want, sizeof want, "[F,%llu]", (unsigned long long)C);
        return wrong_shape(L, "blocks.0.ffn.key.weight", &e, want);
    }
    in->ffn_dim = (uint32_t)e.shape[0];
    return DVK_SUCCESS;
}

/* safetensors: which entries dvk_weights leaves to the host path (their layout changes). */
static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool host_path(const char *name)
{
    static const char *const suffixes[] = {
        ".att.x_r", ".att.x_w", ".att.x_k", ".att.x_v", ".att.x_a", ".att.x_g", ".att.w1",
        ".att.w2",  ".att.a1",  ".att.a2",  ".att.v1",  ".att.v2",  ".att.g1",  ".att.g2"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; ++i)
        if (ends_with(name, suffixes[i]))
            return true;
    return false;
}

static bool st_filter(void *user, const char *name)
{
    (void)user;
    return !host_path(name);
}

/* Matrices load as the chosen dtype, everything else as fp32. */
static dvk_dtype st_dtype(void *user, const char *name, dvk_dtype chosen)
{
    const loader *L = user;
    (void)chosen;
    static const char *const matrices[] = {
        ".att.receptance.weight", ".att.key.weight", ".att.value.weight",
        ".att.output.weight",     ".ffn.key.weight", ".ffn.value.weight"};
    if (strcmp(name, "emb.weight") == 0 || strcmp(name, "head.weight") == 0)
        return L->mdtype;
    for (size_t i = 0; i < sizeof matrices / sizeof matrices[0]; ++i)
        if (ends_with(name, matrices[i]))
            return L->mdtype;
    return DVK_DTYPE_F32;
}

void dvk_rwkv7_destroy(dvk_rwkv7_model *m)
{
    if (!m)
        return;
    while (m->n_owned) /* views before what they view */
        dvk_tensor_destroy(m->owned[--m->n_owned]);
    free(m->owned);
    dvk_weights_destroy(m->weights);
    free(m->blocks);
    free(m);
}

const dvk_rwkv7_info *dvk_rwkv7_model_info(const dvk_rwkv7_model *m) { return m ? &m->info : NULL; }

/* Loads from bytes in memory (a file's mapping, or the caller's). A safetensors file is read
 * by dvk_weights from `path` when there is one (it maps the file itself), else from the
 * bytes. */
static dvk_status load_bytes(dvk_context *ctx, const unsigned char *bytes, size_t size,
                             const char *path, const dvk_rwkv7_load_desc *desc,
                             dvk_rwkv7_model **out)
{
    const dvk_rwkv7_load_desc def = {0};
    if (!desc)
        desc = &def;
    dvk_dtype dtype = desc->dtype ? desc->dtype : DVK_DTYPE_F32;
    if (dtype != DVK_DTYPE_F32 && dtype != DVK_DTYPE_F16 && dtype != DVK_DTYPE_BF16)
        return dvk_set_error(DVK_ERROR_UNSUPPORTED_DTYPE,
                             "desc.dtype %s: the weights load as f32, f16 or bf16",
                             dvk_dtype_name(dtype));
    if (dtype != DVK_DTYPE_F32 && !dvk_context_device_info(ctx)->fp16_storage)
        dtype = DVK_DTYPE_F32; /* as dvk_weights does on such devices */
    dvk_model_format format = desc->format;
    if (format == DVK_MODEL_FORMAT_AUTO) {
        const uint32_t magic = size >= 4 ? (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 |
                                               (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24
                                         : 0;
        format = magic == RWKV7_BIN_MAGIC ? DVK_MODEL_FORMAT_RWKV_CPP
                                          : DVK_MODEL_FORMAT_SAFETENSORS;
    }
    if (format != DVK_MODEL_FORMAT_RWKV_CPP && format != DVK_MODEL_FORMAT_SAFETENSORS)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "desc.format %d is not a model format",
                             (int)format);

    dvk_rwkv7_model *m = calloc(1, sizeof *m);
    if (!m)
        return dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->info.format = format;
    m->info.dtype = dtype;
    const char *label = path ? path : MEMORY_LABEL;
    loader L = {.ctx = ctx, .label = label, .format = format, .mdtype = dtype, .m = m};
    dvk_status st = DVK_SUCCESS;
    if (format == DVK_MODEL_FORMAT_RWKV_CPP) {
        st = dvk__rwkv7_bin_parse(bytes, size, label, &L.bin);
        L.n_entries = L.bin.count;
    } else {
        const dvk_weights_desc wd = {.filter = st_filter, .tensor_dtype = st_dtype,
                                     .user_data = &L};
        st = path ? dvk_weights_load(ctx, path, &wd, &L.w)
                  : dvk_weights_load_memory(ctx, bytes, size, &wd, &L.w);
        L.n_entries = st == DVK_SUCCESS ? dvk_weights_count(L.w) : 0;
        m->weights = L.w;
        if (st == DVK_ERROR_FORMAT && desc->format == DVK_MODEL_FORMAT_AUTO) {
            char why[512];
            snprintf(why, sizeof why, "%s", dvk_last_error());
            st = dvk_set_error(DVK_ERROR_FORMAT,
                               "%s: neither rwkv.cpp's .bin (its magic 0x%08x is missing) nor "
                               "safetensors (%s)",
                               label, (unsigned)RWKV7_BIN_MAGIC, why);
        }
    }
    if (st == DVK_SUCCESS) {
        L.seen = calloc(L.n_entries ? L.n_entries : 1, sizeof *L.seen);
        if (!L.seen)
            st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st == DVK_SUCCESS)
        st = read_sizes(&L);
    if (st == DVK_SUCCESS) {
        m->blocks = calloc(m->info.n_layer, sizeof *m->blocks);
        if (!m->blocks)
            st = dvk_set_error(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (st == DVK_SUCCESS)
        st = walk(&L);
    for (uint32_t i = 0; st == DVK_SUCCESS && i < L.n_entries; ++i) {
        if (!L.seen[i]) {
            const char *name = format == DVK_MODEL_FORMAT_RWKV_CPP ? L.bin.rec[i].name
                                                                  : dvk_weights_name(L.w, i);
            st = dvk_set_error(DVK_ERROR_FORMAT, "%s: unexpected tensor '%s'", label, name);
        }
    }
    if (st == DVK_SUCCESS) {
        L.create = true;
        st = walk(&L);
    }
    if (st == DVK_SUCCESS && L.w)
        st = dvk_weights_check_all_used(L.w);
    free(L.seen);
    dvk__rwkv7_bin_free(&L.bin);
    if (st != DVK_SUCCESS) {
        dvk_rwkv7_destroy(m);
        return st;
    }
    *out = m;
    return DVK_SUCCESS;
}

dvk_status dvk_rwkv7_load_memory(dvk_context *ctx, const void *data, size_t size,
                                 const dvk_rwkv7_load_desc *desc, dvk_rwkv7_model **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_model is NULL");
    *out = NULL;
    if (!ctx || (!data && size))
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", ctx ? "data" : "context");
    static const unsigned char empty[1] = {0};
    return load_bytes(ctx, data ? data : empty, size, NULL, desc, out);
}

dvk_status dvk_rwkv7_load(dvk_context *ctx, const char *path, const dvk_rwkv7_load_desc *desc,
                          dvk_rwkv7_model **out)
{
    if (!out)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "out_model is NULL");
    *out = NULL;
    if (!ctx || !path)
        return dvk_set_error(DVK_ERROR_INVALID_ARGUMENT, "%s is NULL", ctx ? "path" : "context");
    /* O_NONBLOCK: a FIFO opens at once (instead of waiting for a writer) and is refused */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return dvk_set_error(DVK_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return dvk_set_error(DVK_ERROR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return dvk_set_error(DVK_ERROR_IO, "%s: too large to map", path);
    }
    const size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            const int err = errno;
            close(fd);
            return dvk_set_error(DVK_ERROR_IO, "%s: cannot map: %s", path, strerror(err));
        }
    }
    close(fd);
    static const unsigned char empty[1] = {0};
    const dvk_status st = load_bytes(ctx, map ? map : empty, size, path, desc, out);
    if (map)
        munmap(map, size);
    return st;
}

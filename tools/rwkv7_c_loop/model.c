/* RWKV-7 in plain C: rwkv.cpp's .bin read into float32, and one token's forward pass as loops
 * (rwkv7_c_loop.h). Written for clarity, the way a straightforward port reads: every product
 * a dot-product loop, float accumulators, no blocking, no intrinsics, no threads. */
#include "rwkv7_c_loop.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rwkv.cpp's .bin: a 24-byte header, then records ----------------------------------------
 * header: magic 0x67676d66, version (100 or 101), n_vocab, n_embed, n_layer, data type;
 * record: n_dims, key length, data type (0 FP32, 1 FP16), n_dims sizes (innermost first), the
 * key's bytes, the data. All int32, little-endian. */

#define BIN_MAGIC 0x67676d66u
#define MAX_DIMS 4
#define MAX_KEY 1024

typedef struct record {
    char name[MAX_KEY + 1];
    uint32_t ndim;
    uint64_t shape[MAX_DIMS]; /* outermost first, as PyTorch writes shapes */
    uint64_t numel;
    float *data; /* in the model's arena */
} record;

typedef struct loader {
    record *rec;
    uint32_t count;
    char *err;
    size_t err_len;
} loader;

static int fail(loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float f16_to_f32(uint16_t h)
{
    const int e = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (e == 0)
        v = ldexpf((float)mant, -24); /* zero and subnormals */
    else if (e == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Walks the records; with arena NULL only counts them and their floats. */
static int walk_records(loader *L, const unsigned char *b, size_t size, float *arena,
                        uint64_t *total)
{
    size_t off = 24;
    uint32_t n = 0;
    *total = 0;
    while (off < size) {
        if (size - off < 12)
            return fail(L, "record %u: truncated header", n);
        const uint32_t nd = rd_u32(b + off), klen = rd_u32(b + off + 4),
                       type = rd_u32(b + off + 8);
        off += 12;
        if (nd < 1 || nd > MAX_DIMS || klen < 1 || klen > MAX_KEY || type > 1)
            return fail(L, "record %u: %u dimensions, a key of %u bytes, data type %u (only "
                           "FP32 and FP16 are read)", n, nd, klen, type);
        if (size - off < 4 * (size_t)nd + klen)
            return fail(L, "record %u: truncated shape or key", n);
        record r = {.ndim = nd, .numel = 1};
        for (uint32_t d = 0; d < nd; ++d) {
            const uint32_t dim = rd_u32(b + off + 4 * d);
            if (dim == 0 || dim > (1u << 30) || r.numel > (UINT64_C(1) << 40) / dim)
                return fail(L, "record %u: dimension %u is %u", n, d, dim);
            r.shape[nd - 1 - d] = dim;
            r.numel *= dim;
        }
        off += 4 * (size_t)nd;
        memcpy(r.name, b + off, klen);
        r.name[klen] = '\0';
        off += klen;
        const uint64_t bytes = r.numel * (type == 0 ? 4 : 2);
        if (bytes > size - off)
            return fail(L, "tensor '%s': truncated data", r.name);
        if (arena) {
            r.data = arena + *total;
            for (uint64_t i = 0; i < r.numel; ++i) {
                const unsigned char *p = b + off + i * (type == 0 ? 4 : 2);
                if (type == 0) {
                    const uint32_t u = rd_u32(p);
                    memcpy(&r.data[i], &u, sizeof u);
                } else {
                    r.data[i] = f16_to_f32((uint16_t)(p[0] | p[1] << 8));
                }
            }
            L->rec[n] = r;
        }
        off += (size_t)bytes;
        *total += r.numel;
        ++n;
    }
    L->count = n;
    return 0;
}

static const record *find(const loader *L, const char *name)
{
    for (uint32_t i = 0; i < L->count; ++i)
        if (strcmp(L->rec[i].name, name) == 0)
            return &L->rec[i];
    return NULL;
}

/* The tensor `name`, which must hold `numel` values. */
static int get(loader *L, const char *name, uint64_t numel, const float **out)
{
    const record *r = find(L, name);
    if (!r)
        return fail(L, "tensor '%s' is missing", name);
    if (r->numel != numel)
        return fail(L, "tensor '%s': %llu values, expected %llu", name,
                    (unsigned long long)r->numel, (unsigned long long)numel);
    *out = r->data;
    return 0;
}

/* The rank D of a low-rank pair from its first matrix, [D, C]. */
static int rank_of(loader *L, const char *name, uint32_t C, uint32_t *out)
{
    const record *r = find(L, name);
    if (!r)
        return fail(L, "tensor '%s' is missing", name);
    if (r->ndim != 2 || r->shape[1] != C)
        return fail(L, "tensor '%s': expected [D, %u]", name, C);
    *out = (uint32_t)r->shape[0];
    return 0;
}

static int take_params(loader *L, rwkv7c_model *m)
{
    const uint32_t V = m->n_vocab, C = m->n_embd;
    const record *r = find(L, "blocks.0.att.r_k");
    if (!r)
        return fail(L, "tensor 'blocks.0.att.r_k' is missing");
    if (r->ndim == 1 && r->numel == C && C % 64 == 0) { /* [C]: RWKV-7's heads of 64 */
        m->head_size = 64;
    } else if (r->ndim == 2 && r->shape[0] * r->shape[1] == C) {
        m->head_size = (uint32_t)r->shape[1];
    } else {
        return fail(L, "tensor 'blocks.0.att.r_k': expected [H, N] with H*N = %u", C);
    }
    m->n_head = C / m->head_size;
    if (rank_of(L, "blocks.0.att.w1", C, &m->decay_rank) ||
        rank_of(L, "blocks.0.att.a1", C, &m->iclr_rank) ||
        rank_of(L, "blocks.0.att.g1", C, &m->gate_rank) ||
        (m->n_layer > 1 && rank_of(L, "blocks.1.att.v1", C, &m->value_rank)))
        return -1;
    const record *fk = find(L, "blocks.0.ffn.key.weight");
    if (!fk || fk->ndim != 2 || fk->shape[1] != C)
        return fail(L, "tensor 'blocks.0.ffn.key.weight': missing, or not [F, %u]", C);
    m->ffn_dim = (uint32_t)fk->shape[0];
    const uint64_t F = m->ffn_dim, Dw = m->decay_rank, Da = m->iclr_rank,
                   Dv = m->value_rank, Dg = m->gate_rank;
    if (get(L, "emb.weight", (uint64_t)V * C, &m->emb) ||
        get(L, "blocks.0.ln0.weight", C, &m->ln0_w) || get(L, "blocks.0.ln0.bias", C, &m->ln0_b) ||
        get(L, "ln_out.weight", C, &m->ln_out_w) || get(L, "ln_out.bias", C, &m->ln_out_b) ||
        get(L, "head.weight", (uint64_t)V * C, &m->head))
        return -1;
    char n[96];
    for (uint32_t l = 0; l < m->n_layer; ++l) {
        rwkv7c_block *b = &m->blocks[l];
#define P(field, suffix, numel)                                                                  \
    do {                                                                                         \
        snprintf(n, sizeof n, "blocks.%u.%s", l, suffix);                                        \
        if (get(L, n, numel, &b->field))                                                         \
            return -1;                                                                           \
    } while (0)
        P(ln1_w, "ln1.weight", C);
        P(ln1_b, "ln1.bias", C);
        P(ln2_w, "ln2.weight", C);
        P(ln2_b, "ln2.bias", C);
        P(mix, "att.x_rwkvag", 6 * (uint64_t)C);
        P(w0, "att.w0", C);
        P(w1, "att.w1", Dw * C);
        P(w2, "att.w2", C * Dw);
        P(a0, "att.a0", C);
        P(a1, "att.a1", Da * C);
        P(a2, "att.a2", C * Da);
        if (l > 0) {
            P(v0, "att.v0", C);
            P(v1, "att.v1", Dv * C);
            P(v2, "att.v2", C * Dv);
        }
        P(g1, "att.g1", Dg * C);
        P(g2, "att.g2", C * Dg);
        P(k_k, "att.k_k", C);
        P(k_a, "att.k_a", C);
        P(r_k, "att.r_k", C);
        P(wr, "att.receptance.weight", (uint64_t)C * C);
        P(wk, "att.key.weight", (uint64_t)C * C);
        P(wv, "att.value.weight", (uint64_t)C * C);
        P(wo, "att.output.weight", (uint64_t)C * C);
        P(lnx_w, "att.ln_x.weight", C);
        P(lnx_b, "att.ln_x.bias", C);
        P(ffn_x_k, "ffn.x_k", C);
        P(ffn_key, "ffn.key.weight", F * C);
        P(ffn_value, "ffn.value.weight", C * F);
#undef P
    }
    return 0;
}

int rwkv7c_load(const char *path, rwkv7c_model *m, char *err, size_t err_len)
{
    memset(m, 0, sizeof *m);
    loader L = {.err = err, .err_len = err_len};
    size_t size = 0;
    unsigned char *b = read_file(path, &size);
    if (!b)
        return fail(&L, "%s: cannot read the file", path);
    int rc = 0;
    uint64_t total = 0;
    if (size < 24 || rd_u32(b) != BIN_MAGIC)
        rc = fail(&L, "%s: not an rwkv.cpp .bin file (magic)", path);
    if (rc == 0) {
        m->n_vocab = rd_u32(b + 8);
        m->n_embd = rd_u32(b + 12);
        m->n_layer = rd_u32(b + 16);
        if (m->n_vocab == 0 || m->n_embd == 0 || m->n_layer == 0 || m->n_layer > 4096)
            rc = fail(&L, "%s: header gives n_vocab %u, n_embed %u, n_layer %u", path,
                      m->n_vocab, m->n_embd, m->n_layer);
    }
    if (rc == 0)
        rc = walk_records(&L, b, size, NULL, &total); /* sizes first */
    if (rc == 0) {
        L.rec = calloc(L.count ? L.count : 1, sizeof *L.rec);
        m->arena = malloc((size_t)(total ? total : 1) * sizeof *m->arena);
        m->blocks = calloc(m->n_layer, sizeof *m->blocks);
        if (!L.rec || !m->arena || !m->blocks)
            rc = fail(&L, "out of memory");
    }
    if (rc == 0)
        rc = walk_records(&L, b, size, m->arena, &total);
    if (rc == 0)
        rc = take_params(&L, m);
    free(L.rec);
    free(b);
    if (rc != 0)
        rwkv7c_free(m);
    return rc;
}

void rwkv7c_free(rwkv7c_model *m)
{
    free(m->arena);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

int rwkv7c_state_init(const rwkv7c_model *m, rwkv7c_state *s)
{
    const size_t C = m->n_embd, L = m->n_layer, N = m->head_size;
    size_t rank = m->decay_rank;
    if (m->iclr_rank > rank)
        rank = m->iclr_rank;
    if (m->value_rank > rank)
        rank = m->value_rank;
    if (m->gate_rank > rank)
        rank = m->gate_rank;
    memset(s, 0, sizeof *s);
    s->att_prev = calloc(L * C, sizeof(float));
    s->ffn_prev = calloc(L * C, sizeof(float));
    s->wkv = calloc(L * C * N, sizeof(float));
    float **vec[] = {&s->x, &s->xa, &s->r, &s->k, &s->v, &s->v_first, &s->w, &s->alpha,
                     &s->vgate, &s->g, &s->kappa, &s->o};
    bool ok = s->att_prev && s->ffn_prev && s->wkv;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; ++i)
        ok = (*vec[i] = calloc(C, sizeof(float))) != NULL && ok;
    ok = (s->xm = calloc(6 * C, sizeof(float))) != NULL && ok;
    ok = (s->h = calloc(rank, sizeof(float))) != NULL && ok;
    ok = (s->f = calloc(m->ffn_dim, sizeof(float))) != NULL && ok;
    if (!ok) {
        rwkv7c_state_free(s);
        return -1;
    }
    return 0;
}

void rwkv7c_state_free(rwkv7c_state *s)
{
    float *all[] = {s->att_prev, s->ffn_prev, s->wkv, s->x, s->xa, s->xm, s->r, s->k, s->v,
                    s->v_first, s->w, s->alpha, s->vgate, s->g, s->kappa, s->o, s->h, s->f};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i)
        free(all[i]);
    memset(s, 0, sizeof *s);
}

/* ---- the forward pass ----------------------------------------------------------------------- */

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* y = W x, W [rows, cols] row-major. */
static void matvec(const float *W, const float *x, float *y, uint32_t rows, uint32_t cols)
{
    for (uint32_t i = 0; i < rows; ++i) {
        const float *w = W + (size_t)i * cols;
        float acc = 0.0f;
        for (uint32_t j = 0; j < cols; ++j)
            acc += w[j] * x[j];
        y[i] = acc;
    }
}

/* y += W x */
static void matvec_add(const float *W, const float *x, float *y, uint32_t rows, uint32_t cols)
{
    for (uint32_t i = 0; i < rows; ++i) {
        const float *w = W + (size_t)i * cols;
        float acc = 0.0f;
        for (uint32_t j = 0; j < cols; ++j)
            acc += w[j] * x[j];
        y[i] += acc;
    }
}

/* y = (x − mean) / sqrt(var + eps) · w + b over n values (y may be x). */
static void layer_norm(const float *x, const float *w, const float *b, float *y, uint32_t n,
                       float eps)
{
    float mean = 0.0f, var = 0.0f;
    for (uint32_t i = 0; i < n; ++i)
        mean += x[i];
    mean /= (float)n;
    for (uint32_t i = 0; i < n; ++i)
        var += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (uint32_t i = 0; i < n; ++i)
        y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

/* x ← x + TimeMix(LN1(x)) for block l. */
static void time_mix(const rwkv7c_model *m, rwkv7c_state *s, uint32_t l)
{
    const rwkv7c_block *b = &m->blocks[l];
    const uint32_t C = m->n_embd, H = m->n_head, N = m->head_size;
    float *a = s->xa, *prev = s->att_prev + (size_t)l * C;
    float *xr = s->xm, *xw = xr + C, *xk = xw + C, *xv = xk + C, *xa = xv + C, *xg = xa + C;

    layer_norm(s->x, b->ln1_w, b->ln1_b, a, C, 1e-5f);
    for (uint32_t i = 0; i < C; ++i) { /* token shift: a + (a_prev − a) ⊙ μ */
        const float d = prev[i] - a[i];
        for (uint32_t j = 0; j < 6; ++j)
            s->xm[j * C + i] = a[i] + d * b->mix[j * C + i];
        prev[i] = a[i];
    }
    matvec(b->wr, xr, s->r, C, C);
    matvec(b->wk, xk, s->k, C, C);
    matvec(b->wv, xv, s->v, C, C);

    /* the decay w = exp(−e^{−0.5} σ(w0 + W2 tanh(W1 x_w))) */
    matvec(b->w1, xw, s->h, m->decay_rank, C);
    for (uint32_t i = 0; i < m->decay_rank; ++i)
        s->h[i] = tanhf(s->h[i]);
    matvec(b->w2, s->h, s->w, C, m->decay_rank);
    for (uint32_t i = 0; i < C; ++i)
        s->w[i] = expf(-0.60653066f * sigmoid(b->w0[i] + s->w[i]));
    /* α = σ(a0 + A2 A1 x_a) */
    matvec(b->a1, xa, s->h, m->iclr_rank, C);
    matvec(b->a2, s->h, s->alpha, C, m->iclr_rank);
    for (uint32_t i = 0; i < C; ++i)
        s->alpha[i] = sigmoid(b->a0[i] + s->alpha[i]);
    /* g = G2 σ(G1 x_g) */
    matvec(b->g1, xg, s->h, m->gate_rank, C);
    for (uint32_t i = 0; i < m->gate_rank; ++i)
        s->h[i] = sigmoid(s->h[i]);
    matvec(b->g2, s->h, s->g, C, m->gate_rank);

    /* κ̂ = per-head L2-normalised k ⊙ k_k; then k ← k ⊙ (1 + (α − 1) ⊙ k_a) */
    for (uint32_t h = 0; h < H; ++h) {
        float ss = 0.0f;
        for (uint32_t i = h * N; i < (h + 1) * N; ++i) {
            s->kappa[i] = s->k[i] * b->k_k[i];
            ss += s->kappa[i] * s->kappa[i];
        }
        const float inv = 1.0f / fmaxf(sqrtf(ss), 1e-12f);
        for (uint32_t i = h * N; i < (h + 1) * N; ++i)
            s->kappa[i] *= inv;
    }
    for (uint32_t i = 0; i < C; ++i)
        s->k[i] *= 1.0f + (s->alpha[i] - 1.0f) * b->k_a[i];

    /* the value residual: block 0 keeps its v; later blocks mix towards it */
    if (l == 0) {
        memcpy(s->v_first, s->v, C * sizeof(float));
    } else {
        matvec(b->v1, xv, s->h, m->value_rank, C);
        matvec(b->v2, s->h, s->vgate, C, m->value_rank);
        for (uint32_t i = 0; i < C; ++i)
            s->v[i] += (s->v_first[i] - s->v[i]) * sigmoid(b->v0[i] + s->vgate[i]);
    }

    /* per head, S (value-major N x N): S ← S diag(w) + (S (−κ̂)) (κ̂ ⊙ α)ᵀ + v kᵀ;  o = S r */
    for (uint32_t h = 0; h < H; ++h) {
        float *S = s->wkv + ((size_t)l * H + h) * N * N;
        const float *w = s->w + h * N, *k = s->k + h * N, *v = s->v + h * N,
                    *r = s->r + h * N, *kap = s->kappa + h * N, *al = s->alpha + h * N;
        for (uint32_t i = 0; i < N; ++i) {
            float *row = S + (size_t)i * N;
            float sa = 0.0f;
            for (uint32_t j = 0; j < N; ++j)
                sa -= row[j] * kap[j];
            float o = 0.0f;
            for (uint32_t j = 0; j < N; ++j) {
                row[j] = row[j] * w[j] + sa * kap[j] * al[j] + v[i] * k[j];
                o += row[j] * r[j];
            }
            s->o[h * N + i] = o;
        }
    }

    /* GroupNorm over each head (ln_x, eps 64e-5), the bonus (Σ r ⊙ k ⊙ r_k) v, the gate */
    for (uint32_t h = 0; h < H; ++h) {
        const uint32_t at = h * N;
        float bonus = 0.0f;
        for (uint32_t i = at; i < at + N; ++i)
            bonus += s->r[i] * s->k[i] * b->r_k[i];
        layer_norm(s->o + at, b->lnx_w + at, b->lnx_b + at, s->o + at, N, 64e-5f);
        for (uint32_t i = at; i < at + N; ++i)
            s->o[i] = (s->o[i] + bonus * s->v[i]) * s->g[i];
    }
    matvec_add(b->wo, s->o, s->x, C, C);
}

/* x ← x + W_v' ReLU(W_k' (c + (c_prev − c) ⊙ μ_k))², c = LN2(x) */
static void channel_mix(const rwkv7c_model *m, rwkv7c_state *s, uint32_t l)
{
    const rwkv7c_block *b = &m->blocks[l];
    const uint32_t C = m->n_embd, F = m->ffn_dim;
    float *c = s->xa, *ck = s->xm, *prev = s->ffn_prev + (size_t)l * C;
    layer_norm(s->x, b->ln2_w, b->ln2_b, c, C, 1e-5f);
    for (uint32_t i = 0; i < C; ++i) {
        ck[i] = c[i] + (prev[i] - c[i]) * b->ffn_x_k[i];
        prev[i] = c[i];
    }
    matvec(b->ffn_key, ck, s->f, F, C);
    for (uint32_t i = 0; i < F; ++i) {
        const float t = s->f[i] > 0.0f ? s->f[i] : 0.0f;
        s->f[i] = t * t;
    }
    matvec_add(b->ffn_value, s->f, s->x, C, F);
}

void rwkv7c_step(const rwkv7c_model *m, rwkv7c_state *s, int32_t token, float *logits)
{
    const uint32_t C = m->n_embd;
    layer_norm(m->emb + (size_t)token * C, m->ln0_w, m->ln0_b, s->x, C, 1e-5f);
    for (uint32_t l = 0; l < m->n_layer; ++l) {
        time_mix(m, s, l);
        channel_mix(m, s, l);
    }
    if (!logits)
        return;
    layer_norm(s->x, m->ln_out_w, m->ln_out_b, s->xa, C, 1e-5f);
    matvec(m->head, s->xa, logits, m->n_vocab, C);
}

int32_t rwkv7c_argmax(const float *logits, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; ++i)
        if (logits[i] > logits[best])
            best = i;
    return (int32_t)best;
}

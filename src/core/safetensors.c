/* The safetensors header: a strict JSON parser of our own and the checks of every entry. See
 * safetensors.h, and deltavk.h (above dvk_weights_desc) for the rules a header must follow. */
#include "core/safetensors.h"

#include "core/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SFT_METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} dtype_table[SFT_DTYPE_COUNT] = {
    [SFT_F64] = {"F64", 8}, [SFT_F32] = {"F32", 4}, [SFT_F16] = {"F16", 2},
    [SFT_BF16] = {"BF16", 2}, [SFT_I64] = {"I64", 8}, [SFT_I32] = {"I32", 4},
    [SFT_I16] = {"I16", 2}, [SFT_I8] = {"I8", 1}, [SFT_U8] = {"U8", 1},
    [SFT_BOOL] = {"BOOL", 1},
};

const char *dvk__sft_dtype_name(sft_dtype d)
{
    return (unsigned)d < SFT_DTYPE_COUNT ? dtype_table[d].name : "invalid";
}

size_t dvk__sft_dtype_size(sft_dtype d)
{
    return (unsigned)d < SFT_DTYPE_COUNT ? dtype_table[d].size : 0;
}

const char *dvk__sft_printable(const char *s, char *buf, size_t len)
{
    if (len == 0)
        return "";
    size_t n = 0;
    for (; s[n] && n + 1 < len; ++n) {
        const unsigned char c = (unsigned char)s[n];
        buf[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[n] = '\0';
    if (s[n] && len >= 4) { /* cut: say so, at the start of a UTF-8 sequence */
        size_t cut = len - 4;
        while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
            --cut;
        memcpy(buf + cut, "...", 4);
    }
    return buf;
}

/* ---- the parser ----------------------------------------------------------------------------- */

typedef struct parser {
    const unsigned char *start; /* the header's first byte */
    const unsigned char *p;     /* the next byte to read */
    const unsigned char *end;   /* one past the header's last byte */
    const char *label;
    sft_header *h;
    size_t strings_used; /* bytes of h->strings handed out */
    int depth;
} parser;

/* Names go into messages cut to 80 bytes, which is plenty to recognise one. */
#define NAME_CHARS 84

static size_t at(const parser *ps) { return (size_t)(ps->p - ps->start); }

/* A syntax error at the current position. */
static dvk_status syntax(const parser *ps, const char *what)
{
    return dvk__fail(DVK_ERROR_FORMAT, "%s: header is not valid JSON: %s at byte %zu", ps->label,
                     what, at(ps));
}

/* An error about one tensor entry, naming it. */
static dvk_status entry_error(const parser *ps, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static dvk_status entry_error(const parser *ps, const char *name, const char *fmt, ...)
{
    char detail[512], shown[NAME_CHARS];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return dvk__fail(DVK_ERROR_FORMAT, "%s: tensor '%s': %s", ps->label,
                     dvk__sft_printable(name, shown, sizeof shown), detail);
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void skip_space(parser *ps)
{
    while (ps->p < ps->end && is_space(*ps->p))
        ++ps->p;
}

/* Consumes `c` (after whitespace) if it is next. */
static bool accept(parser *ps, unsigned char c)
{
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ++ps->p;
        return true;
    }
    return false;
}

static dvk_status expect_char(parser *ps, unsigned char c, const char *what)
{
    return accept(ps, c) ? DVK_SUCCESS : syntax(ps, what);
}

/* The format promises UTF-8; names taken from a bad header would otherwise reach terminals and
 * other tools as garbage. Overlong forms, surrogates and code points past U+10FFFF are refused,
 * as the Unicode standard requires. Returns the offset of the first bad byte, or n. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char lead = s[i];
        size_t extra;
        uint32_t cp, min;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xe0) == 0xc0) {
            extra = 1, cp = lead & 0x1fu, min = 0x80;
        } else if ((lead & 0xf0) == 0xe0) {
            extra = 2, cp = lead & 0x0fu, min = 0x800;
        } else if ((lead & 0xf8) == 0xf0) {
            extra = 3, cp = lead & 0x07u, min = 0x10000;
        } else {
            return i;
        }
        if (n - i <= extra)
            return i;
        for (size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += extra + 1;
    }
    return n;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape (ps->p just past the 'u'). */
static dvk_status read_hex4(parser *ps, uint32_t *out)
{
    if (ps->end - ps->p < 4)
        return syntax(ps, "\\u escape cut short");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        const int d = hex_value(ps->p[i]);
        if (d < 0)
            return syntax(ps, "\\u escape without 4 hex digits");
        v = v << 4 | (uint32_t)d;
    }
    ps->p += 4;
    *out = v;
    return DVK_SUCCESS;
}

static size_t put_utf8(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | cp >> 12);
        dst[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | cp >> 18);
    dst[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    dst[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A decoded JSON string: its bytes (NUL-terminated, in the string arena) and length, which is
 * more than strlen() when it holds an escaped NUL (\u0000). */
typedef struct json_str {
    const char *s;
    size_t len;
} json_str;

static bool str_is(json_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.s, lit, s.len) == 0;
}

static bool str_has_nul(json_str s) { return strlen(s.s) != s.len; }

/* A string holding NULs as messages show it: each NUL written \u0000 (as the header has it),
 * so that "q\u0000zzz" is not shown as 'q'. */
static const char *shown_nul(json_str s, char *buf, size_t len)
{
    char text[NAME_CHARS * 6];
    size_t n = 0;
    for (size_t i = 0; i < s.len && n + 7 < sizeof text; ++i) {
        if (s.s[i] == '\0') {
            memcpy(text + n, "\\u0000", 6);
            n += 6;
        } else {
            text[n++] = s.s[i];
        }
    }
    text[n] = '\0';
    return dvk__sft_printable(text, buf, len);
}

/* Parses a string (after whitespace) into the arena. A decoded string is never longer than its
 * JSON text, and its terminating NUL takes the place of the quotes, so the arena (as long as
 * the header) never runs out. */
static dvk_status parse_string(parser *ps, json_str *out)
{
    DVK_TRY(expect_char(ps, '"', "expected a string"));
    char *dst = ps->h->strings + ps->strings_used;
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end)
            return syntax(ps, "string not closed");
        const unsigned char c = *ps->p;
        if (c == '"') {
            ++ps->p;
            break;
        }
        if (c < 0x20)
            return syntax(ps, "control byte inside a string (it must be escaped)");
        if (c != '\\') { /* UTF-8 was checked for the whole header already */
            dst[n++] = (char)c;
            ++ps->p;
            continue;
        }
        if (ps->end - ps->p < 2)
            return syntax(ps, "escape cut short");
        const unsigned char e = ps->p[1];
        ps->p += 2;
        switch (e) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            DVK_TRY(read_hex4(ps, &cp));
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return syntax(ps, "\\u escape of a lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate: its low half must follow */
                uint32_t lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return syntax(ps, "\\u escape of a lone high surrogate");
                ps->p += 2;
                DVK_TRY(read_hex4(ps, &lo));
                if (lo < 0xdc00 || lo > 0xdfff)
                    return syntax(ps, "\\u escape of a high surrogate without its low half");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(dst + n, cp);
            break;
        }
        default:
            ps->p -= 1;
            return syntax(ps, "unknown escape");
        }
    }
    dst[n] = '\0';
    ps->strings_used += n + 1;
    *out = (json_str){dst, n};
    return DVK_SUCCESS;
}

/* A non-negative JSON integer written as digits only (the reference reader takes shapes and
 * offsets as unsigned integers and refuses "2.0", "1e1" and "-0"). */
static dvk_status parse_u64(parser *ps, const char *name, const char *field, uint64_t *out)
{
    skip_space(ps);
    const unsigned char *begin = ps->p;
    uint64_t v = 0;
    bool overflow = false;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        const unsigned d = (unsigned)(*ps->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        v = v * 10 + d;
        ++ps->p;
    }
    const size_t digits = (size_t)(ps->p - begin);
    const bool more = ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E');
    if (digits == 0 || more)
        return entry_error(ps, name, "%s holds something other than a non-negative integer "
                           "(at byte %zu)", field, (size_t)(begin - ps->start));
    if (digits > 1 && *begin == '0')
        return syntax(ps, "number with a leading zero");
    if (overflow)
        return entry_error(ps, name, "%s holds an integer of more than 64 bits", field);
    *out = v;
    return DVK_SUCCESS;
}

static dvk_status skip_value(parser *ps);

/* Skips a JSON number, checking its grammar. */
static dvk_status skip_number(parser *ps)
{
    const unsigned char *p = ps->p, *end = ps->end;
    if (p < end && *p == '-')
        ++p;
    if (p < end && *p == '0') {
        ++p;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            ++p;
    } else {
        ps->p = p;
        return syntax(ps, "invalid number");
    }
    if (p < end && *p == '.') {
        const unsigned char *q = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            ++p;
        if (p == q) {
            ps->p = p;
            return syntax(ps, "invalid number");
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        ++p;
        if (p < end && (*p == '+' || *p == '-'))
            ++p;
        const unsigned char *q = p;
        while (p < end && *p >= '0' && *p <= '9')
            ++p;
        if (p == q) {
            ps->p = p;
            return syntax(ps, "invalid number");
        }
    }
    ps->p = p;
    return DVK_SUCCESS;
}

static bool accept_word(parser *ps, const char *word)
{
    const size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static dvk_status enter(parser *ps)
{
    if (++ps->depth > DVK_SFT_MAX_DEPTH)
        return syntax(ps, "arrays and objects nested too deeply");
    return DVK_SUCCESS;
}

/* Skips an array or object whose opening bracket was just read. */
static dvk_status skip_container(parser *ps, unsigned char close, bool object)
{
    DVK_TRY(enter(ps));
    if (!accept(ps, close)) {
        do {
            if (object) {
                const size_t mark = ps->strings_used;
                json_str key;
                DVK_TRY(parse_string(ps, &key));
                ps->strings_used = mark;
                DVK_TRY(expect_char(ps, ':', "expected ':'"));
            }
            DVK_TRY(skip_value(ps));
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, close, object ? "expected ',' or '}'" : "expected ',' or ']'"));
    }
    --ps->depth;
    return DVK_SUCCESS;
}

/* Skips any JSON value (an unknown field of an entry), checking its grammar. */
static dvk_status skip_value(parser *ps)
{
    skip_space(ps);
    if (ps->p >= ps->end)
        return syntax(ps, "expected a value");
    const unsigned char c = *ps->p;
    if (c == '"') {
        const size_t mark = ps->strings_used;
        json_str s;
        DVK_TRY(parse_string(ps, &s));
        ps->strings_used = mark;
        return DVK_SUCCESS;
    }
    if (c == '{' || c == '[') {
        ++ps->p;
        return skip_container(ps, c == '{' ? '}' : ']', c == '{');
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return skip_number(ps);
    if (accept_word(ps, "true") || accept_word(ps, "false") || accept_word(ps, "null"))
        return DVK_SUCCESS;
    return syntax(ps, "expected a value");
}

/* True (and consumed) when the next value is the literal null. */
static bool accept_null(parser *ps)
{
    skip_space(ps);
    return accept_word(ps, "null");
}

/* ---- the entries ---------------------------------------------------------------------------- */

static dvk_status parse_shape(parser *ps, sft_entry *t)
{
    if (!accept(ps, '['))
        return entry_error(ps, t->name, "\"shape\" is not an array");
    DVK_TRY(enter(ps));
    t->ndim = 0;
    if (!accept(ps, ']')) {
        do {
            if (t->ndim == DVK_SFT_MAX_DIMS)
                return entry_error(ps, t->name, "more than %d dimensions", DVK_SFT_MAX_DIMS);
            DVK_TRY(parse_u64(ps, t->name, "\"shape\"", &t->shape[t->ndim]));
            ++t->ndim;
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, ']', "expected ',' or ']'"));
    }
    --ps->depth;
    return DVK_SUCCESS;
}

static dvk_status parse_offsets(parser *ps, sft_entry *t)
{
    if (!accept(ps, '['))
        return entry_error(ps, t->name, "\"data_offsets\" is not an array");
    DVK_TRY(enter(ps));
    uint64_t v[2];
    int n = 0;
    if (!accept(ps, ']')) {
        do {
            if (n == 2)
                return entry_error(ps, t->name, "\"data_offsets\" holds more than 2 integers");
            DVK_TRY(parse_u64(ps, t->name, "\"data_offsets\"", &v[n]));
            ++n;
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, ']', "expected ',' or ']'"));
    }
    --ps->depth;
    if (n != 2)
        return entry_error(ps, t->name, "\"data_offsets\" holds %d integers, not 2", n);
    t->begin = v[0];
    t->end = v[1];
    return DVK_SUCCESS;
}

static dvk_status parse_dtype(parser *ps, sft_entry *t)
{
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return entry_error(ps, t->name, "\"dtype\" is not a string");
    const size_t mark = ps->strings_used;
    json_str s;
    DVK_TRY(parse_string(ps, &s));
    ps->strings_used = mark;
    for (int d = 0; d < SFT_DTYPE_COUNT; ++d) {
        if (str_is(s, dtype_table[d].name)) {
            t->dtype = (sft_dtype)d;
            return DVK_SUCCESS;
        }
    }
    char shown[24];
    return entry_error(ps, t->name,
                       "dtype \"%s\" is not supported (F64, F32, F16, BF16, I64, I32, I16, I8, "
                       "U8, BOOL are)",
                       dvk__sft_printable(str_has_nul(s) ? "?" : s.s, shown, sizeof shown));
}

/* The sizes of an entry whose fields are all read: element count, byte count, range. */
static dvk_status check_entry(const parser *ps, sft_entry *t)
{
    /* A zero anywhere makes the count 0, whatever the other sizes multiply to. */
    bool empty = false;
    for (uint32_t i = 0; i < t->ndim; ++i)
        empty = empty || t->shape[i] == 0;
    t->numel = empty ? 0 : 1;
    for (uint32_t i = 0; i < t->ndim && !empty; ++i) {
        const uint64_t d = t->shape[i];
        if (t->numel > UINT64_MAX / d)
            return entry_error(ps, t->name, "element count overflows 64 bits");
        t->numel *= d;
    }
    const uint64_t size = dvk__sft_dtype_size(t->dtype);
    if (t->numel > UINT64_MAX / size)
        return entry_error(ps, t->name, "byte count overflows 64 bits");
    if (t->begin > t->end)
        return entry_error(ps, t->name, "data_offsets begin %" PRIu64 " is after end %" PRIu64,
                           t->begin, t->end);
    if (t->end > ps->h->data_size)
        return entry_error(ps, t->name,
                           "data ends at byte %" PRIu64 " of the data, which holds only %" PRIu64
                           " bytes (a truncated file?)",
                           t->end, ps->h->data_size);
    if (t->end - t->begin != t->numel * size)
        return entry_error(ps, t->name,
                           "data_offsets span %" PRIu64 " bytes, but %" PRIu64
                           " %s elements take %" PRIu64,
                           t->end - t->begin, t->numel, dtype_table[t->dtype].name,
                           t->numel * size);
    return DVK_SUCCESS;
}

/* One tensor entry: an object with dtype, shape and data_offsets (once each); other fields are
 * skipped, as the reference reader ignores them. */
static dvk_status parse_entry(parser *ps, sft_entry *t)
{
    if (!accept(ps, '{'))
        return entry_error(ps, t->name, "the entry is not a JSON object");
    DVK_TRY(enter(ps));
    bool seen[3] = {false, false, false};
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    if (!accept(ps, '}')) {
        do {
            const size_t mark = ps->strings_used;
            json_str key;
            DVK_TRY(parse_string(ps, &key));
            ps->strings_used = mark;
            DVK_TRY(expect_char(ps, ':', "expected ':'"));
            int f = 0;
            while (f < 3 && !str_is(key, fields[f]))
                ++f;
            if (f < 3 && seen[f])
                return entry_error(ps, t->name, "field \"%s\" appears twice", fields[f]);
            if (f < 3)
                seen[f] = true;
            if (f == 0)
                DVK_TRY(parse_dtype(ps, t));
            else if (f == 1)
                DVK_TRY(parse_shape(ps, t));
            else if (f == 2)
                DVK_TRY(parse_offsets(ps, t));
            else
                DVK_TRY(skip_value(ps));
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, '}', "expected ',' or '}'"));
    }
    --ps->depth;
    for (int f = 0; f < 3; ++f)
        if (!seen[f])
            return entry_error(ps, t->name, "field \"%s\" is missing", fields[f]);
    return check_entry(ps, t);
}

/* "__metadata__": null (none, as the reference reader models the field as optional) or an
 * object of string values. */
static dvk_status parse_metadata(parser *ps)
{
    sft_header *h = ps->h;
    if (accept_null(ps))
        return DVK_SUCCESS;
    if (!accept(ps, '{'))
        return dvk__fail(DVK_ERROR_FORMAT, "%s: \"" SFT_METADATA_KEY "\" is not a JSON object",
                         ps->label);
    DVK_TRY(enter(ps));
    if (!accept(ps, '}')) {
        do {
            json_str key, value;
            DVK_TRY(parse_string(ps, &key));
            DVK_TRY(expect_char(ps, ':', "expected ':'"));
            skip_space(ps);
            char shown[NAME_CHARS];
            if (ps->p >= ps->end || *ps->p != '"')
                return dvk__fail(DVK_ERROR_FORMAT,
                                 "%s: \"" SFT_METADATA_KEY "\" value of '%s' is not a string",
                                 ps->label, dvk__sft_printable(key.s, shown, sizeof shown));
            DVK_TRY(parse_string(ps, &value));
            if (str_has_nul(key) || str_has_nul(value))
                return dvk__fail(DVK_ERROR_FORMAT,
                                 "%s: \"" SFT_METADATA_KEY "\" entry '%s' holds a NUL character "
                                 "(\\u0000)",
                                 ps->label, shown_nul(key, shown, sizeof shown));
            DVK_TRY(dvk__grow(&h->alloc, (void **)&h->meta, &h->meta_cap, h->meta_count + 1,
                              sizeof *h->meta));
            h->meta[h->meta_count++] = (sft_meta){key.s, value.s};
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, '}', "expected ',' or '}'"));
    }
    --ps->depth;
    return DVK_SUCCESS;
}

/* The header object: tensor entries and at most one "__metadata__". */
static dvk_status parse_root(parser *ps)
{
    sft_header *h = ps->h;
    if (!accept(ps, '{'))
        return dvk__fail(DVK_ERROR_FORMAT, "%s: the header is not a JSON object", ps->label);
    DVK_TRY(enter(ps));
    bool seen_metadata = false;
    if (!accept(ps, '}')) {
        do {
            json_str key;
            DVK_TRY(parse_string(ps, &key));
            DVK_TRY(expect_char(ps, ':', "expected ':'"));
            if (str_is(key, SFT_METADATA_KEY)) {
                if (seen_metadata)
                    return dvk__fail(DVK_ERROR_FORMAT, "%s: \"" SFT_METADATA_KEY
                                     "\" appears twice", ps->label);
                seen_metadata = true;
                DVK_TRY(parse_metadata(ps));
                continue;
            }
            if (str_has_nul(key)) {
                char shown[NAME_CHARS];
                return dvk__fail(DVK_ERROR_FORMAT,
                                 "%s: the tensor name '%s' holds a NUL character (\\u0000), "
                                 "which names cannot hold",
                                 ps->label, shown_nul(key, shown, sizeof shown));
            }
            if (h->count == UINT32_MAX)
                return dvk__fail(DVK_ERROR_FORMAT, "%s: too many tensors", ps->label);
            DVK_TRY(dvk__grow(&h->alloc, (void **)&h->entries, &h->cap, h->count + 1,
                              sizeof *h->entries));
            sft_entry *t = &h->entries[h->count++];
            *t = (sft_entry){.name = key.s};
            DVK_TRY(parse_entry(ps, t));
        } while (accept(ps, ','));
        DVK_TRY(expect_char(ps, '}', "expected ',' or '}'"));
    }
    --ps->depth;
    return DVK_SUCCESS;
}

/* ---- whole-header checks -------------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const sft_entry *const *)a)->name, (*(const sft_entry *const *)b)->name);
}

static int cmp_begin(const void *a, const void *b)
{
    const uint64_t x = (*(const sft_entry *const *)a)->begin;
    const uint64_t y = (*(const sft_entry *const *)b)->begin;
    return (x > y) - (x < y);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const sft_meta *)a)->key, ((const sft_meta *)b)->key);
}

/* Two tensors of one name would make lookups ambiguous; names are sorted once (lookups are
 * then a binary search) and neighbours compared. */
static dvk_status index_names(parser *ps)
{
    sft_header *h = ps->h;
    h->by_name = dvk__alloc(&h->alloc, (size_t)(h->count ? h->count : 1) * sizeof *h->by_name);
    if (!h->by_name)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", ps->label);
    for (uint32_t i = 0; i < h->count; ++i)
        h->by_name[i] = &h->entries[i];
    qsort(h->by_name, h->count, sizeof *h->by_name, cmp_name);
    for (uint32_t i = 1; i < h->count; ++i) {
        const char *name = h->by_name[i]->name;
        if (strcmp(h->by_name[i - 1]->name, name) == 0) {
            char shown[NAME_CHARS];
            return dvk__fail(DVK_ERROR_FORMAT, "%s: two tensors are named '%s'", ps->label,
                             dvk__sft_printable(name, shown, sizeof shown));
        }
    }
    if (h->meta_count > 1)
        qsort(h->meta, h->meta_count, sizeof *h->meta, cmp_meta);
    for (uint32_t i = 1; i < h->meta_count; ++i) {
        if (strcmp(h->meta[i - 1].key, h->meta[i].key) == 0) {
            char shown[NAME_CHARS];
            return dvk__fail(DVK_ERROR_FORMAT, "%s: \"" SFT_METADATA_KEY "\" key '%s' appears "
                             "twice", ps->label,
                             dvk__sft_printable(h->meta[i].key, shown, sizeof shown));
        }
    }
    return DVK_SUCCESS;
}

/* No writer shares bytes between tensors, and the reference reader refuses it, so a file that
 * does is corrupt or crafted; refusing it also means that no tensor's bytes are another's.
 * Empty tensors own no bytes and overlap nothing. */
static dvk_status check_overlaps(parser *ps)
{
    sft_header *h = ps->h;
    const sft_entry **order =
        dvk__alloc(&h->alloc, (size_t)(h->count ? h->count : 1) * sizeof *order);
    if (!order)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", ps->label);
    uint32_t m = 0;
    for (uint32_t i = 0; i < h->count; ++i)
        if (h->entries[i].end > h->entries[i].begin)
            order[m++] = &h->entries[i];
    qsort(order, m, sizeof *order, cmp_begin);
    dvk_status st = DVK_SUCCESS;
    for (uint32_t i = 1; i < m && st == DVK_SUCCESS; ++i) {
        const sft_entry *a = order[i - 1], *b = order[i];
        if (b->begin < a->end) {
            char na[NAME_CHARS], nb[NAME_CHARS];
            st = dvk__fail(DVK_ERROR_FORMAT,
                           "%s: the data of tensors '%s' [%" PRIu64 ", %" PRIu64 ") and '%s' [%"
                           PRIu64 ", %" PRIu64 ") overlap",
                           ps->label, dvk__sft_printable(a->name, na, sizeof na), a->begin,
                           a->end, dvk__sft_printable(b->name, nb, sizeof nb), b->begin, b->end);
        }
    }
    dvk__free(&h->alloc, order);
    return st;
}

/* ---- entry points --------------------------------------------------------------------------- */

void dvk__sft_free(sft_header *h)
{
    if (!h)
        return;
    dvk__free(&h->alloc, h->entries);
    dvk__free(&h->alloc, h->by_name);
    dvk__free(&h->alloc, h->meta);
    dvk__free(&h->alloc, h->strings);
    const dvk_allocator alloc = h->alloc;
    *h = (sft_header){.alloc = alloc};
}

/* Where the JSON object at the start of s[0, n) ends (one past its closing brace), found by
 * counting brackets outside strings; n when it does not close within n bytes. Only for
 * choosing an error message: the parser proper decides what is valid. */
static size_t object_end(const unsigned char *s, size_t n)
{
    size_t i = 0, depth = 0;
    while (i < n && is_space(s[i]))
        ++i;
    if (i == n || s[i] != '{')
        return n;
    bool in_string = false;
    for (; i < n; ++i) {
        const unsigned char c = s[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && depth > 0 && --depth == 0) {
            return i + 1;
        }
    }
    return n;
}

static dvk_status parse_checked(parser *ps, const unsigned char *bytes, uint64_t size)
{
    sft_header *h = ps->h;
    if (size < 8)
        return dvk__fail(DVK_ERROR_FORMAT,
                         "%s: %" PRIu64 " bytes, too short for the 8-byte header length",
                         ps->label, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) /* little-endian whatever the host is */
        n = n << 8 | bytes[i];
    if (n > DVK_SFT_MAX_HEADER_BYTES)
        return dvk__fail(DVK_ERROR_FORMAT,
                         "%s: header length %" PRIu64 " exceeds the limit of %u bytes",
                         ps->label, n, DVK_SFT_MAX_HEADER_BYTES);
    if (n > size - 8)
        return dvk__fail(DVK_ERROR_FORMAT,
                         "%s: header length %" PRIu64 " runs past the end of the %" PRIu64
                         "-byte file",
                         ps->label, n, size);
    h->data_offset = 8 + n;
    h->data_size = size - 8 - n;
    ps->start = ps->p = bytes + 8;
    ps->end = ps->start + n;

    const size_t bad = utf8_check(ps->start, (size_t)n);
    if (bad < n) {
        /* Data bytes inside the header are far more often a wrong length field than bad
         * text: say so when the JSON object closed before the bad byte. */
        const size_t end = object_end(ps->start, bad);
        if (end < bad)
            return dvk__fail(DVK_ERROR_FORMAT,
                             "%s: header length %" PRIu64 " runs past the header's JSON object, "
                             "which ends at byte %zu, into bytes that are not text (byte %zu): "
                             "the length field is wrong",
                             ps->label, n, end, bad);
        return dvk__fail(DVK_ERROR_FORMAT, "%s: the header is not valid UTF-8 (byte %zu)",
                         ps->label, bad);
    }
    h->strings = dvk__alloc(&h->alloc, (size_t)n + 1);
    if (!h->strings)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %" PRIu64
                         "-byte header", ps->label, n);
    DVK_TRY(parse_root(ps));
    /* Writers pad the header with spaces to align the data; anything else after the object
     * means the length field and the header disagree. */
    skip_space(ps);
    if (ps->p != ps->end)
        return syntax(ps, "bytes other than whitespace after the header object");
    DVK_TRY(index_names(ps));
    return check_overlaps(ps);
}

dvk_status dvk__sft_parse(const dvk_allocator *alloc, const unsigned char *bytes, uint64_t size,
                          const char *label, sft_header *out)
{
    *out = (sft_header){.alloc = dvk__allocator_or_default(alloc)};
    parser ps = {.label = label, .h = out};
    const dvk_status st = parse_checked(&ps, bytes, size);
    if (st != DVK_SUCCESS)
        dvk__sft_free(out);
    return st;
}

uint32_t dvk__sft_find(const sft_header *h, const char *name)
{
    uint32_t lo = 0, hi = h->count;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(name, h->by_name[mid]->name);
        if (c == 0)
            return (uint32_t)(h->by_name[mid] - h->entries);
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return UINT32_MAX;
}

const char *dvk__sft_metadata(const sft_header *h, const char *key)
{
    uint32_t lo = 0, hi = h->meta_count;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(key, h->meta[mid].key);
        if (c == 0)
            return h->meta[mid].value;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

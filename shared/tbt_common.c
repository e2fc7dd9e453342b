/* tbt_common.c - allocation, arena, buffers, errors and small helpers. */
#include "tbt_common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

/* ---- allocation -------------------------------------------------------- */
static void tbt_oom(size_t n)
{
    fprintf(stderr, "tbt: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tbt_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        tbt_oom(n);
    return p;
}

void *tbt_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        tbt_oom(nmemb * size);
    return p;
}

void *tbt_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        tbt_oom(n);
    return q;
}

char *tbt_xstrdup(const char *s)
{
    return tbt_xstrndup(s, strlen(s));
}

char *tbt_xstrndup(const char *s, size_t n)
{
    char *p = tbt_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tbt_xvasprintf(const char *fmt, va_list ap)
{
    if (!fmt)
        fmt = "";
    va_list cp;
    va_copy(cp, ap);
    char one;
    int n = vsnprintf(&one, 1, fmt, cp);
    va_end(cp);
    if (n < 0)
        n = 0;
    char *p = tbt_xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *tbt_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void tbt_grow(void **items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / size)
        tbt_oom(SIZE_MAX);
    *items = tbt_xrealloc(*items, ncap * size);
    *cap = ncap;
}

/* ---- arena ------------------------------------------------------------- */
typedef struct tbt_arena_chunk {
    struct tbt_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} tbt_arena_chunk;

struct tbt_arena {
    tbt_arena_chunk *head;
    size_t used;
    size_t next_size;
};

#define TBT_ARENA_MIN_CHUNK (16u * 1024u)
#define TBT_ARENA_MAX_CHUNK (4u * 1024u * 1024u)

tbt_arena *tbt_arena_new(void)
{
    tbt_arena *a = tbt_xcalloc(1, sizeof(*a));
    a->next_size = TBT_ARENA_MIN_CHUNK;
    return a;
}

void tbt_arena_free(tbt_arena *a)
{
    if (!a)
        return;
    tbt_arena_chunk *c = a->head;
    while (c) {
        tbt_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void tbt_arena_reset(tbt_arena *a)
{
    if (!a || !a->head)
        return;
    /* keep the oldest (smallest) chunk */
    tbt_arena_chunk *c = a->head, *keep = NULL;
    while (c) {
        tbt_arena_chunk *n = c->next;
        if (!n)
            keep = c;
        else
            free(c);
        c = n;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used = 0;
    a->next_size = keep->size * 2;
}

/* Large chunks ask for transparent huge pages: a 100,000-span trace is
 * ~70 MB, and first-touch faults at 4 KiB granularity cost more than
 * decoding it. */
#define HUGE_PAGE (2u * 1024u * 1024u)
void *tbt_big_alloc(size_t n)
{
    if (n >= HUGE_PAGE) {
        void *p = NULL;
        size_t rounded = (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        if (posix_memalign(&p, HUGE_PAGE, rounded) == 0) {
            madvise(p, rounded, MADV_HUGEPAGE);
            return p;
        }
    }
    return tbt_xmalloc(n);
}

/* Bump allocation without zeroing (for copies that overwrite it all). */
static void *arena_raw(tbt_arena *a, size_t n)
{
    n = (n + 15u) & ~(size_t)15u;
    if (n == 0)
        n = 16;
    tbt_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = a->next_size;
        if (sz < n)
            sz = n;
        size_t total = sizeof(*c) + sz;
        if (total >= HUGE_PAGE) /* use all of the huge pages asked for */
            total = (total + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        c = tbt_big_alloc(total);
        c->size = total - sizeof(*c);
        c->used = 0;
        c->next = a->head;
        a->head = c;
        if (a->next_size < TBT_ARENA_MAX_CHUNK)
            a->next_size *= 2;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    return p;
}

void *tbt_arena_alloc_raw(tbt_arena *a, size_t n)
{
    return arena_raw(a, n);
}

void *tbt_arena_alloc(tbt_arena *a, size_t n)
{
    void *p = arena_raw(a, n);
    memset(p, 0, n);
    return p;
}

void *tbt_arena_calloc(tbt_arena *a, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        tbt_oom(SIZE_MAX);
    return tbt_arena_alloc(a, nmemb * size);
}

char *tbt_arena_strndup(tbt_arena *a, const char *s, size_t n)
{
    char *p = arena_raw(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tbt_arena_strdup(tbt_arena *a, const char *s)
{
    return s ? tbt_arena_strndup(a, s, strlen(s)) : NULL;
}

void *tbt_arena_memdup(tbt_arena *a, const void *p, size_t n)
{
    void *q = arena_raw(a, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *tbt_arena_sprintf(tbt_arena *a, const char *fmt, ...)
{
    if (!fmt)
        fmt = "";
    va_list ap, cp;
    va_start(ap, fmt);
    va_copy(cp, ap);
    char one;
    int n = vsnprintf(&one, 1, fmt, cp);
    va_end(cp);
    if (n < 0)
        n = 0;
    char *p = arena_raw(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t tbt_arena_used(const tbt_arena *a)
{
    return a ? a->used : 0;
}

/* ---- buffers ----------------------------------------------------------- */
void tbt_buf_append(tbt_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        b->data = tbt_xrealloc(b->data, ncap);
        b->cap = ncap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tbt_buf_puts(tbt_buf *b, const char *s)
{
    tbt_buf_append(b, s, strlen(s));
}

void tbt_buf_putc(tbt_buf *b, char c)
{
    tbt_buf_append(b, &c, 1);
}

void tbt_buf_vprintf(tbt_buf *b, const char *fmt, va_list ap)
{
    char tmp[256];
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        tbt_buf_append(b, tmp, (size_t)n);
        return;
    }
    char *p = tbt_xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    tbt_buf_append(b, p, (size_t)n);
    free(p);
}

void tbt_buf_printf(tbt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tbt_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

size_t tbt_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t need;
    uint32_t v;
    /* The second byte's range excludes overlongs (E0, F0), surrogates (ED)
     * and values past U+10FFFF (F4); later bytes are plain continuations. */
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *cp = 0xFFFD;
            return i;
        }
        v = v << 6 | (p[i] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

void tbt_utf8_put(tbt_buf *out, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tbt_buf_append(out, u, n);
}

bool tbt_utf8_sanitize(tbt_buf *out, const char *s, size_t n)
{
    bool valid = true;
    size_t start = 0, i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = tbt_utf8_next(s + i, n - i, &cp);
        /* A literal U+FFFD (EF BF BD) decodes to the same value; only
         * ill-formed input is replaced. */
        if (cp == 0xFFFD && !(l == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0)) {
            tbt_buf_append(out, s + start, i - start);
            tbt_utf8_put(out, 0xFFFD);
            valid = false;
            start = i + l;
        }
        i += l;
    }
    tbt_buf_append(out, s + start, n - start);
    return valid;
}

void tbt_buf_json_str(tbt_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    tbt_buf_putc(b, '"');
    size_t start = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        size_t l = 1;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
                esc = u;
            } else if (c >= 0x80) {
                /* RFC 8259 text is UTF-8: an ill-formed sequence becomes
                 * U+FFFD, as in tbt_utf8_sanitize. */
                uint32_t cp;
                l = tbt_utf8_next(s + i, n - i, &cp);
                if (cp == 0xFFFD && !(l == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0))
                    esc = "\xEF\xBF\xBD";
            }
        }
        if (esc) {
            tbt_buf_append(b, s + start, i - start);
            tbt_buf_puts(b, esc);
            start = i + l;
        }
        i += l;
    }
    tbt_buf_append(b, s + start, n - start);
    tbt_buf_putc(b, '"');
}

void tbt_buf_xml_escape(tbt_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': tbt_buf_puts(b, "&lt;"); break;
        case '>': tbt_buf_puts(b, "&gt;"); break;
        case '&': tbt_buf_puts(b, "&amp;"); break;
        case '"': tbt_buf_puts(b, "&quot;"); break;
        case '\'': tbt_buf_puts(b, "&apos;"); break;
        default:
            /* XML 1.0 forbids most control characters even as references. */
            if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
                tbt_buf_putc(b, '?');
            else
                tbt_buf_putc(b, (char)c);
        }
    }
}

void tbt_buf_reset(tbt_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *tbt_buf_steal(tbt_buf *b)
{
    char *p = b->data ? b->data : tbt_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void tbt_buf_free(tbt_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *tbt_buf_cstr(tbt_buf *b)
{
    return b->data ? b->data : "";
}

/* ---- errors ------------------------------------------------------------ */
const char *tbt_error_text(const tbt_error *err, tbt_arena *a)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(err, &b);
    while (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    const char *text = tbt_arena_strdup(a, tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    return text;
}

void tbt_error_clear(tbt_error *err)
{
    if (!err)
        return;
    free(err->file);
    free(err->msg);
    free(err->source_line);
    memset(err, 0, sizeof(*err));
}

void tbt_error_move(tbt_error *dst, tbt_error *src)
{
    if (!dst) {
        tbt_error_clear(src);
        return;
    }
    tbt_error_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

int tbt_error_set(tbt_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    tbt_error_clear(err);
    va_list ap;
    va_start(ap, fmt);
    err->msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

void tbt_error_prefix(tbt_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *p = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    char *m = tbt_xasprintf("%s: %s", p, err->msg ? err->msg : "error");
    free(p);
    free(err->msg);
    err->msg = m;
}

void tbt_loc_advance(const tbt_loc *loc, const char *src, size_t offset, int *line, int *col)
{
    int l = loc ? loc->line : 0;
    int c = loc ? loc->col : 0;
    if (loc && (loc->style == TBT_STYLE_SINGLE || loc->style == TBT_STYLE_DOUBLE))
        c += 1; /* the opening quote */
    if (loc && (loc->style == TBT_STYLE_LITERAL || loc->style == TBT_STYLE_FOLDED)) {
        /* Block scalar: content starts on the next line; col is unknown
         * beyond the indentation, approximate with the scalar's column. */
        l += 1;
    }
    if (src) {
        for (size_t i = 0; i < offset && src[i]; i++) {
            if (src[i] == '\n') {
                l++;
                c = loc ? loc->col : 1;
            } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
                c++;
            }
        }
    } else {
        c += (int)offset;
    }
    if (!loc || loc->style == TBT_STYLE_NONE) {
        if (!loc || loc->line == 0)
            l = 1;
        if (!loc || loc->col == 0)
            c = 1 + (src ? c : (int)offset) - (loc ? loc->col : 0);
    }
    *line = l;
    *col = c;
}

void tbt_error_at(tbt_error *err, const tbt_loc *loc, const char *src, size_t offset)
{
    if (!err)
        return;
    int line, col;
    if (loc && loc->style != TBT_STYLE_NONE && loc->line > 0) {
        tbt_loc_advance(loc, src, offset, &line, &col);
    } else {
        /* Text not from a file: positions are within the text itself. */
        line = 1;
        col = 1;
        for (size_t i = 0; src && i < offset && src[i]; i++) {
            if (src[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
                col++;
            }
        }
    }
    free(err->file);
    err->file = loc && loc->file ? tbt_xstrdup(loc->file) : NULL;
    err->line = line;
    err->col = col;
    free(err->source_line);
    err->source_line = NULL;
    if (src) {
        /* The line of src containing offset. */
        size_t len = strlen(src);
        if (offset > len)
            offset = len;
        size_t s = offset, e = offset;
        while (s > 0 && src[s - 1] != '\n')
            s--;
        while (e < len && src[e] != '\n')
            e++;
        size_t caret = 0;
        for (size_t i = s; i < offset; i++)
            if (((unsigned char)src[i] & 0xC0) != 0x80)
                caret++;
        err->source_line = tbt_xstrndup(src + s, e - s);
        err->caret = (int)caret;
    }
}

void tbt_error_format(const tbt_error *err, tbt_buf *out)
{
    if (!err)
        return;
    if (err->file)
        tbt_buf_printf(out, "%s:", err->file);
    if (err->line > 0)
        tbt_buf_printf(out, "%d:%d:", err->line, err->col);
    if (err->file || err->line > 0)
        tbt_buf_putc(out, ' ');
    tbt_buf_printf(out, "%s\n", err->msg ? err->msg : "error");
    if (err->source_line) {
        const char *text = err->source_line;
        tbt_buf_printf(out, "    %s\n    ", text);
        size_t tl = strlen(text);
        for (size_t i = 0, ch = 0; ch < (size_t)err->caret; i++) {
            if (i >= tl) {
                tbt_buf_putc(out, ' ');
                ch++;
                continue;
            }
            if (((unsigned char)text[i] & 0xC0) == 0x80)
                continue;
            tbt_buf_putc(out, text[i] == '\t' ? '\t' : ' ');
            ch++;
        }
        tbt_buf_puts(out, "^\n");
    }
}

void tbt_error_list_add(tbt_error_list *l, tbt_error *err)
{
    TBT_GROW(l->items, l->cap, l->n + 1);
    memset(&l->items[l->n], 0, sizeof(tbt_error));
    tbt_error_move(&l->items[l->n], err);
    l->n++;
}

void tbt_error_list_format(const tbt_error_list *l, tbt_buf *out)
{
    for (size_t i = 0; i < l->n; i++)
        tbt_error_format(&l->items[i], out);
}

void tbt_error_list_clear(tbt_error_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        tbt_error_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* ---- files ------------------------------------------------------------- */
int tbt_read_file(const char *path, size_t max, char **out, size_t *len, tbt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return tbt_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    tbt_buf b = TBT_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (b.len + n > max) {
            fclose(f);
            tbt_buf_free(&b);
            return tbt_error_set(err, -EFBIG, "%s: larger than the %zu-byte limit", path, max);
        }
        tbt_buf_append(&b, tmp, n);
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        tbt_buf_free(&b);
        return tbt_error_set(err, -EIO, "%s: read error", path);
    }
    if (len)
        *len = b.len;
    *out = tbt_buf_steal(&b);
    return 0;
}

/* ---- encodings --------------------------------------------------------- */
void tbt_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tbt_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)s[2 * i]);
        int lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool tbt_is_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tbt_base64_encode(const uint8_t *p, size_t n, tbt_buf *out)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4];
        q[0] = b64[(v >> 18) & 63];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64[v & 63] : '=';
        tbt_buf_append(out, q, 4);
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int tbt_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -EINVAL;
    uint8_t *o = tbt_xmalloc(n * 3 / 4 + 3);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = o;
    *outlen = k;
    return 0;
}

uint64_t tbt_now_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tbt_now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tbt_format_double(double d, char *out, size_t cap)
{
    if (isnan(d)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, cap, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(out, cap, "%.0f", d);
        if (strcmp(out, "-0") == 0)
            snprintf(out, cap, "0");
        return;
    }
    /* shortest form that reads back exactly; nearly every value people
     * write round-trips at 15 significant digits */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

void tbt_format_duration(int64_t ns, char *out, size_t cap)
{
    static const struct {
        const char *unit;
        int64_t scale;
    } units[] = {{"h", 3600000000000LL}, {"m", 60000000000LL}, {"s", 1000000000LL},
                 {"ms", 1000000LL},      {"us", 1000LL},       {"ns", 1LL}};
    const char *sign = "";
    uint64_t v = (uint64_t)ns;
    if (ns < 0) {
        sign = "-";
        v = (uint64_t)0 - (uint64_t)ns;
    }
    if (v == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    /* Minutes and hours only when whole; otherwise the largest unit in s,
     * ms, us, ns whose value is >= 1, with an exact decimal fraction. */
    for (size_t i = 0; i < TBT_ARRAY_LEN(units); i++) {
        uint64_t sc = (uint64_t)units[i].scale;
        if (v < sc)
            continue;
        if (i < 2 && v % sc != 0)
            continue;
        uint64_t whole = v / sc, frac = v % sc;
        if (frac == 0) {
            snprintf(out, cap, "%s%" PRIu64 "%s", sign, whole, units[i].unit);
            return;
        }
        char fr[24];
        size_t l = 0;
        for (uint64_t s = sc; s > 1; s /= 10)
            l++;
        fr[l] = '\0';
        for (size_t k = l; k-- > 0; frac /= 10)
            fr[k] = (char)('0' + frac % 10);
        while (l > 0 && fr[l - 1] == '0')
            fr[--l] = '\0';
        snprintf(out, cap, "%s%" PRIu64 ".%s%s", sign, whole, fr, units[i].unit);
        return;
    }
    snprintf(out, cap, "%s%" PRIu64 "ns", sign, v);
}

int tbt_parse_duration(const char *s, size_t n, int64_t *ns)
{
    size_t i = 0;
    bool neg = false;
    long double total = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n)
        return -EINVAL;
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    int parts = 0;
    while (i < n) {
        if (s[i] == ' ' || s[i] == '\t') {
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        }
        if (i == st || (i - st == 1 && s[st] == '.'))
            return -EINVAL;
        char num[64];
        if (i - st >= sizeof(num))
            return -EINVAL;
        memcpy(num, s + st, i - st);
        num[i - st] = '\0';
        long double v = strtold(num, NULL);
        while (i < n && s[i] == ' ')
            i++;
        size_t us = i;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (unsigned char)s[i] == 0xC2 || (unsigned char)s[i] == 0xB5))
            i++;
        size_t ul = i - us;
        const char *u = s + us;
        long double scale;
        if (ul == 2 && memcmp(u, "ns", 2) == 0)
            scale = 1;
        else if ((ul == 2 && memcmp(u, "us", 2) == 0) || (ul == 3 && memcmp(u, "\xC2\xB5s", 3) == 0))
            scale = 1e3L;
        else if (ul == 2 && memcmp(u, "ms", 2) == 0)
            scale = 1e6L;
        else if (ul == 1 && u[0] == 's')
            scale = 1e9L;
        else if (ul == 1 && u[0] == 'm')
            scale = 60e9L;
        else if (ul == 1 && u[0] == 'h')
            scale = 3600e9L;
        else
            return -EINVAL;
        total += v * scale;
        parts++;
    }
    if (parts == 0 || total > 9.2e18L)
        return -EINVAL;
    int64_t r = (int64_t)(total + 0.5L);
    *ns = neg ? -r : r;
    return 0;
}

void tbt_jpath_render(const tbt_jpath *p, tbt_buf *b)
{
    if (!p)
        return;
    tbt_jpath_render(p->up, b);
    if (p->key) {
        if (b->len)
            tbt_buf_putc(b, '.');
        tbt_buf_puts(b, p->key);
    }
    if (p->has_idx)
        tbt_buf_printf(b, "[%zu]", p->idx);
}

size_t tbt_term_put_char(tbt_buf *out, const char *s, size_t n, size_t i, size_t lim)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
        tbt_buf_printf(out, "\\x%02x", c);
        return 1;
    }
    if (c < 0x80) {
        tbt_buf_putc(out, (char)c);
        return 1;
    }
    uint32_t cp;
    size_t l = tbt_utf8_next(s + i, n - i, &cp);
    if (i + l > lim && cp != 0xFFFD)
        return 0;
    if (cp >= 0x80 && cp <= 0x9f)
        tbt_buf_printf(out, "\\u%04x", (unsigned)cp);
    else
        tbt_utf8_put(out, cp);
    return l;
}

/* tbt_otlp_json.c - OTLP/JSON decoder and encoder (cJSON underneath).
 *
 * OTLP/JSON is protobuf's JSON mapping with three changes: trace and span ids
 * are hex, enums are integers, and keys are lowerCamelCase. Like any protobuf
 * JSON reader this one also takes the proto field names (snake_case), enum
 * names, 64-bit integers as strings or numbers, null for "not set", and
 * ignores unknown keys.
 *
 * cJSON reads every number as a double, which cannot hold nanosecond
 * timestamps (> 2^53) exactly. Before parsing, integer literals of 16 or
 * more digits in value position are therefore wrapped in quotes; every
 * integer field accepts the string form anyway, so the meaning is unchanged
 * and the digits survive.
 *
 * Grafana Tempo's trace-by-id JSON (tbt_datastore_tempo.c) is read here too:
 * its top-level "batches" (tempopb.Trace) is taken as "resourceSpans", its
 * padded-base64 ids as ids, and the pre-1.0 OTLP names
 * "instrumentationLibrarySpans" / "instrumentationLibrary" (older Tempo) as
 * "scopeSpans" / "scope". Nothing else about OTLP/JSON changes. */
#include "tbt_otlp.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's own CJSON_NESTING_LIMIT; deeper input fails to parse. */
#define JSON_MAX_NESTING 1000

/* ======================================================================
 * syntax errors
 * ====================================================================== */

/* cJSON reports only where it stopped. To say what was expected, re-scan
 * the text with a small validator that follows cJSON's grammar (bytes up to
 * 0x20 are whitespace, as in cJSON). Only runs when cJSON failed. Returns
 * true with *pos and *what when it finds the fault. */
static bool json_find_fault(const char *s, size_t len, size_t *pos, const char **what)
{
    /* container stack: 'o' object, 'a' array */
    char stack[JSON_MAX_NESTING + 1];
    size_t depth = 0, i = 0;
    enum { VALUE, AFTER_VALUE, KEY, COLON } st = VALUE;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
#define FAULT(p, w)     \
    do {                \
        *pos = (p);     \
        *what = (w);    \
        return true;    \
    } while (0)
    for (;;) {
        while (i < len && (unsigned char)s[i] <= 32)
            i++;
        if (i >= len) {
            if (st == AFTER_VALUE && depth == 0)
                return false;
            FAULT(len, st == VALUE ? "unexpected end of input, expected a value"
                       : st == KEY ? "unexpected end of input, expected a string key"
                       : st == COLON ? "unexpected end of input, expected ':'"
                       : depth && stack[depth - 1] == 'o' ? "unexpected end of input, expected ',' or '}'"
                                                          : "unexpected end of input, expected ',' or ']'");
        }
        char c = s[i];
        switch (st) {
        case AFTER_VALUE:
            if (depth == 0)
                FAULT(i, "unexpected characters after the JSON value");
            if (c == ',') {
                st = stack[depth - 1] == 'o' ? KEY : VALUE;
                i++;
            } else if ((c == '}' && stack[depth - 1] == 'o') || (c == ']' && stack[depth - 1] == 'a')) {
                depth--;
                i++;
            } else {
                FAULT(i, stack[depth - 1] == 'o' ? "expected ',' or '}' after an object member"
                                                 : "expected ',' or ']' after an array element");
            }
            continue;
        case COLON:
            if (c != ':')
                FAULT(i, "expected ':' after an object key");
            i++;
            st = VALUE;
            continue;
        case KEY:
            if (c != '"')
                FAULT(i, "expected a string key");
            break; /* parse the string below */
        case VALUE:
            if (c == '{' || c == '[') {
                if (depth >= JSON_MAX_NESTING)
                    FAULT(i, "nested deeper than 1000 levels");
                stack[depth++] = c == '{' ? 'o' : 'a';
                i++;
                size_t j = i;
                while (j < len && (unsigned char)s[j] <= 32)
                    j++;
                if (j < len && s[j] == (c == '{' ? '}' : ']')) {
                    depth--;
                    i = j + 1;
                    st = AFTER_VALUE;
                } else {
                    st = c == '{' ? KEY : VALUE;
                }
                continue;
            }
            if (c == '"')
                break;
            if (c == '-' || (c >= '0' && c <= '9')) {
                size_t j = i + (c == '-');
                size_t d0 = j;
                while (j < len && s[j] >= '0' && s[j] <= '9')
                    j++;
                if (j < len && s[j] == '.') {
                    j++;
                    while (j < len && s[j] >= '0' && s[j] <= '9')
                        j++;
                }
                if (j == d0)
                    FAULT(i, "invalid number");
                if (j < len && (s[j] == 'e' || s[j] == 'E')) {
                    size_t e = ++j;
                    if (j < len && (s[j] == '+' || s[j] == '-'))
                        e = ++j;
                    while (j < len && s[j] >= '0' && s[j] <= '9')
                        j++;
                    if (j == e)
                        FAULT(i, "invalid number");
                }
                i = j;
                st = AFTER_VALUE;
                continue;
            }
            if (len - i >= 4 && (memcmp(s + i, "true", 4) == 0 || memcmp(s + i, "null", 4) == 0)) {
                i += 4;
                st = AFTER_VALUE;
                continue;
            }
            if (len - i >= 5 && memcmp(s + i, "false", 5) == 0) {
                i += 5;
                st = AFTER_VALUE;
                continue;
            }
            if (c == '}' || c == ']')
                FAULT(i, depth ? "expected a value (trailing comma?)" : "expected a value");
            FAULT(i, "expected a value (object, array, string, number, true, false or null)");
        }
        /* a string, key or value */
        size_t start = i++;
        for (;;) {
            if (i >= len)
                FAULT(start, "unterminated string");
            if (s[i] == '"')
                break;
            if (s[i] == '\\') {
                if (i + 1 >= len)
                    FAULT(start, "unterminated string");
                char e = s[i + 1];
                if (e == 'u') {
                    for (int k = 2; k < 6; k++) {
                        char h = i + (size_t)k < len ? s[i + (size_t)k] : '\0';
                        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                            FAULT(i, "invalid \\u escape in string");
                    }
                    i += 6;
                    continue;
                }
                if (!strchr("\"\\/bfnrt", e) || e == '\0')
                    FAULT(i, "invalid escape in string");
                i += 2;
                continue;
            }
            i++;
        }
        i++;
        st = st == KEY ? COLON : AFTER_VALUE;
    }
#undef FAULT
}

/* Wrap long integer literals in value position in quotes (see the file
 * comment). Returns NULL when nothing needed quoting; otherwise a new
 * NUL-terminated text (*outlen) and the quote positions in it, so error
 * offsets can be mapped back. */
static char *quote_big_ints(const char *s, size_t len, size_t *outlen, size_t **ins, size_t *n_ins)
{
    tbt_buf b = TBT_BUF_INIT;
    size_t copied = 0, cap_ins = 0;
    char stack[JSON_MAX_NESTING + 1];
    size_t depth = 0;
    char prev = 0; /* last structural character */
    *ins = NULL;
    *n_ins = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
            prev = '"';
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth >= JSON_MAX_NESTING)
                break; /* cJSON refuses this text anyway */
            stack[depth++] = c;
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i, digits = 0;
            if (c == '-')
                i++;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                i++;
                digits++;
            }
            bool integral = !(i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'));
            bool value_pos = prev == ':' || (depth && stack[depth - 1] == '[' && (prev == '[' || prev == ','));
            if (integral && digits >= 16 && value_pos) {
                tbt_buf_append(&b, s + copied, start - copied);
                TBT_GROW(*ins, cap_ins, *n_ins + 2);
                (*ins)[(*n_ins)++] = b.len;
                tbt_buf_putc(&b, '"');
                tbt_buf_append(&b, s + start, i - start);
                (*ins)[(*n_ins)++] = b.len;
                tbt_buf_putc(&b, '"');
                copied = i;
            }
            while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                               s[i] == '+' || s[i] == '-'))
                i++;
            prev = '0';
            continue;
        }
        if ((unsigned char)c > 32)
            prev = c;
        i++;
    }
    if (!*n_ins) {
        tbt_buf_free(&b);
        return NULL;
    }
    tbt_buf_append(&b, s + copied, len - copied);
    *outlen = b.len;
    return tbt_buf_steal(&b);
}

/* ======================================================================
 * decoder
 * ====================================================================== */

/* A path element for messages (tbt_common.h). */
typedef tbt_jpath jpath;

typedef struct jdec {
    tbt_trace *t;
    tbt_arena *a;
    const tbt_otlp_limits *lim;
    tbt_otlp_stats *stats;
    tbt_error *err;
    tbt_otlp_strtab strs;
    char why[192]; /* first id problem of the current span */
} jdec;

static int j_report(jdec *d, int code, const jpath *p, const char *fmt, va_list ap)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_puts(&b, code == -E2BIG ? "OTLP request over a limit: " : "invalid OTLP JSON: ");
    if (p) {
        tbt_buf path = TBT_BUF_INIT;
        tbt_jpath_render(p, &path);
        tbt_buf_append(&b, path.data, path.len);
        tbt_buf_puts(&b, ": ");
        tbt_buf_free(&path);
    }
    tbt_buf_vprintf(&b, fmt, ap);
    tbt_error_set(d->err, code, "%s", tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    return code;
}

static int j_fail(jdec *d, const jpath *p, const char *fmt, ...) TBT_PRINTF(3, 4);
static int j_fail(jdec *d, const jpath *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = j_report(d, -EINVAL, p, fmt, ap);
    va_end(ap);
    return rc;
}

static int j_limit(jdec *d, const jpath *p, const char *fmt, ...) TBT_PRINTF(3, 4);
static int j_limit(jdec *d, const jpath *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = j_report(d, -E2BIG, p, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *j_typename(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsNull(v))
        return "null";
    return "an invalid value";
}

/* Key of an object member: the lowerCamelCase JSON name or the proto name. */
static bool key_is(const char *k, const char *camel, const char *snake)
{
    return strcmp(k, camel) == 0 || (snake && strcmp(k, snake) == 0);
}

/* Field readers. `v` is the member; null means "not set" and leaves *out
 * untouched. Each returns 0 or an error code with d->err set. */

static int j_str(jdec *d, const cJSON *v, const jpath *p, const char **out, size_t *outlen, bool opt)
{
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return j_fail(d, p, "expected a string, got %s", j_typename(v));
    size_t n = strlen(v->valuestring);
    if (n > d->lim->max_value_len)
        return j_limit(d, p, "%zu bytes, more than max_value_len %zu", n, d->lim->max_value_len);
    if (opt && n == 0)
        *out = NULL;
    else
        *out = tbt_otlp_intern(&d->strs, v->valuestring, n);
    if (outlen)
        *outlen = n;
    return 0;
}

/* An integer given as a number or a decimal string. */
static int j_int(jdec *d, const cJSON *v, const jpath *p, bool is_unsigned, uint64_t max, uint64_t *out, bool *neg)
{
    const char *want = is_unsigned ? "an unsigned integer" : "an integer";
    *neg = false;
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (!isfinite(x) || x != floor(x))
            return j_fail(d, p, "expected %s, got %g", want, x);
        if (x < 0) {
            if (is_unsigned || x < -9223372036854775808.0)
                return j_fail(d, p, "%g is out of range", x);
            *neg = true;
            *out = (uint64_t)(-(x + 1)) + 1;
            return 0;
        }
        if (x >= 18446744073709551616.0 || (uint64_t)x > max)
            return j_fail(d, p, "%g is out of range", x);
        *out = (uint64_t)x;
        return 0;
    }
    if (!cJSON_IsString(v))
        return j_fail(d, p, "expected %s (a decimal string or a number), got %s", want, j_typename(v));
    const char *s = v->valuestring;
    if (*s == '-' && !is_unsigned) {
        *neg = true;
        s++;
    }
    if (!*s)
        return j_fail(d, p, "expected %s, got \"%s\"", want, v->valuestring);
    uint64_t acc = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return j_fail(d, p, "expected %s, got \"%.40s\"", want, v->valuestring);
        unsigned dg = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - dg) / 10)
            return j_fail(d, p, "\"%.40s\" is out of range", v->valuestring);
        acc = acc * 10 + dg;
    }
    uint64_t lim = *neg ? (uint64_t)1 << 63 : max;
    if (acc > lim)
        return j_fail(d, p, "\"%.40s\" is out of range", v->valuestring);
    *out = acc;
    return 0;
}

static int j_u64(jdec *d, const cJSON *v, const jpath *p, uint64_t *out)
{
    if (cJSON_IsNull(v))
        return 0;
    bool neg;
    return j_int(d, v, p, true, UINT64_MAX, out, &neg);
}

static int j_u32(jdec *d, const cJSON *v, const jpath *p, uint32_t *out)
{
    if (cJSON_IsNull(v))
        return 0;
    bool neg;
    uint64_t x = 0;
    int rc = j_int(d, v, p, true, UINT32_MAX, &x, &neg);
    if (rc == 0)
        *out = (uint32_t)x;
    return rc;
}

static int j_i64(jdec *d, const cJSON *v, const jpath *p, int64_t *out)
{
    bool neg;
    uint64_t x = 0;
    int rc = j_int(d, v, p, false, INT64_MAX, &x, &neg);
    if (rc == 0)
        *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return rc;
}

static int j_double(jdec *d, const cJSON *v, const jpath *p, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            *out = *s == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        double x;
        if (tbt_text_is_number(s, strlen(s), &x)) {
            *out = x;
            return 0;
        }
    }
    return j_fail(d, p, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got %s", j_typename(v));
}

/* An enum: its number, or its name from names[0..n). */
static int j_enum(jdec *d, const cJSON *v, const jpath *p, const char *const *names, size_t n, int32_t *out)
{
    if (cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v)) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = (int32_t)i;
                return 0;
            }
        }
        const char *s = v->valuestring;
        if (!((*s >= '0' && *s <= '9') || *s == '-'))
            return j_fail(d, p, "unknown enum value \"%.60s\"", s);
    }
    int64_t x = 0;
    int rc = j_i64(d, v, p, &x);
    if (rc)
        return rc;
    if (x < INT32_MIN || x > INT32_MAX)
        return j_fail(d, p, "enum value %lld is out of range", (long long)x);
    *out = (int32_t)x;
    return 0;
}

static int j_array_of(jdec *d, const cJSON *v, const jpath *p, size_t *n)
{
    if (!v || cJSON_IsNull(v)) {
        *n = 0;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return j_fail(d, p, "expected an array, got %s", j_typename(v));
    *n = (size_t)cJSON_GetArraySize(v);
    return 0;
}

static int j_object(jdec *d, const cJSON *v, const jpath *p)
{
    if (!cJSON_IsObject(v))
        return j_fail(d, p, "expected an object, got %s", j_typename(v));
    return 0;
}

static int dec_attrs(jdec *d, const cJSON *arr, const jpath *p, tbt_kv **out, size_t *n_out, unsigned depth);

static int dec_anyvalue(jdec *d, const cJSON *obj, const jpath *p, tbt_value *v, unsigned depth)
{
    if (depth > d->lim->max_value_depth)
        return j_limit(d, p, "attribute value nested deeper than max_value_depth %u", d->lim->max_value_depth);
    memset(v, 0, sizeof(*v));
    if (cJSON_IsNull(obj))
        return 0;
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath here = {p, k, 0, false};
        if (cJSON_IsNull(c))
            continue;
        if (key_is(k, "stringValue", "string_value") || key_is(k, "bytesValue", "bytes_value")) {
            bool bytes = k[0] == 'b';
            if (!cJSON_IsString(c))
                return j_fail(d, &here, "expected a string, got %s", j_typename(c));
            size_t n = strlen(c->valuestring);
            if (bytes) {
                uint8_t *raw;
                size_t rn;
                if (tbt_base64_decode(c->valuestring, n, &raw, &rn) != 0)
                    return j_fail(d, &here, "invalid base64");
                if (rn > d->lim->max_value_len) {
                    free(raw);
                    return j_limit(d, &here, "%zu bytes, more than max_value_len %zu", rn, d->lim->max_value_len);
                }
                v->type = TBT_V_BYTES;
                v->u.s.ptr = tbt_arena_strndup(d->a, (const char *)raw, rn);
                v->u.s.len = rn;
                free(raw);
            } else {
                v->type = TBT_V_STRING;
                if ((rc = j_str(d, c, &here, &v->u.s.ptr, &v->u.s.len, false)))
                    return rc;
            }
        } else if (key_is(k, "boolValue", "bool_value")) {
            if (!cJSON_IsBool(c))
                return j_fail(d, &here, "expected true or false, got %s", j_typename(c));
            v->type = TBT_V_BOOL;
            v->u.b = cJSON_IsTrue(c);
        } else if (key_is(k, "intValue", "int_value")) {
            v->type = TBT_V_INT;
            if ((rc = j_i64(d, c, &here, &v->u.i)))
                return rc;
        } else if (key_is(k, "doubleValue", "double_value")) {
            v->type = TBT_V_DOUBLE;
            if ((rc = j_double(d, c, &here, &v->u.d)))
                return rc;
        } else if (key_is(k, "arrayValue", "array_value") || key_is(k, "kvlistValue", "kvlist_value")) {
            bool arr = k[0] == 'a';
            if ((rc = j_object(d, c, &here)))
                return rc;
            const cJSON *vals = cJSON_GetObjectItemCaseSensitive(c, "values");
            jpath vp = {&here, "values", 0, false};
            size_t n = 0;
            if ((rc = j_array_of(d, vals, &vp, &n)))
                return rc;
            memset(&v->u, 0, sizeof(v->u));
            if (!arr) {
                v->type = TBT_V_KVLIST;
                if (n && (rc = dec_attrs(d, vals, &vp, &v->u.kv.items, &v->u.kv.n, depth + 1)))
                    return rc;
                continue;
            }
            v->type = TBT_V_ARRAY;
            if (n > d->lim->max_attrs_per_span)
                return j_limit(d, &vp, "%zu items, more than max_attrs_per_span %zu", n, d->lim->max_attrs_per_span);
            if (!n)
                continue;
            tbt_value *items = tbt_arena_calloc(d->a, n, sizeof(*items));
            size_t i = 0;
            for (const cJSON *e = vals->child; e; e = e->next, i++) {
                jpath ep = {&here, "values", i, true};
                if ((rc = dec_anyvalue(d, e, &ep, &items[i], depth + 1)))
                    return rc;
            }
            v->u.arr.items = items;
            v->u.arr.n = n;
        }
    }
    return 0;
}

static int dec_attrs(jdec *d, const cJSON *arr, const jpath *p, tbt_kv **out, size_t *n_out, unsigned depth)
{
    size_t n = 0;
    int rc = j_array_of(d, arr, p, &n);
    if (rc || n == 0)
        return rc;
    if (n > d->lim->max_attrs_per_span)
        return j_limit(d, p, "%zu entries, more than max_attrs_per_span %zu", n, d->lim->max_attrs_per_span);
    tbt_kv *kv = tbt_arena_calloc(d->a, n, sizeof(*kv));
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        jpath ep = {p->up, p->key, i, true};
        if ((rc = j_object(d, e, &ep)))
            return rc;
        kv[i].key = "";
        for (const cJSON *c = e->child; c; c = c->next) {
            jpath cp = {&ep, c->string, 0, false};
            if (strcmp(c->string, "key") == 0)
                rc = j_str(d, c, &cp, &kv[i].key, NULL, false);
            else if (strcmp(c->string, "value") == 0)
                rc = dec_anyvalue(d, c, &cp, &kv[i].value, depth);
            if (rc)
                return rc;
        }
    }
    *out = kv;
    *n_out = n;
    return 0;
}

static void span_why(jdec *d, const char *fmt, ...) TBT_PRINTF(2, 3);
static void span_why(jdec *d, const char *fmt, ...)
{
    if (d->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof(d->why), fmt, ap);
    va_end(ap);
}

/* A hex id: exactly 2n hex digits (any case), not all zero. Problems are
 * noted in d->why (the span is then rejected, not the request). When
 * empty_ok, a missing or empty id leaves out zeroed. */
static void dec_id(jdec *d, const cJSON *v, const char *what, uint8_t *out, size_t n, bool empty_ok)
{
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0])) {
        if (!empty_ok)
            span_why(d, "%s is missing", what);
        return;
    }
    if (!cJSON_IsString(v)) {
        span_why(d, "%s must be %zu hex digits, got %s", what, 2 * n, j_typename(v));
        return;
    }
    const char *s = v->valuestring;
    size_t len = strlen(s);
    /* Tempo's JSON (gogo jsonpb) writes ids as padded base64 (24 or 12
     * characters, never a hex id's length): accept that form too. */
    uint8_t *raw = NULL;
    size_t raw_n = 0;
    bool b64 = len == (n + 2) / 3 * 4 && s[len - 1] == '=' && tbt_base64_decode(s, len, &raw, &raw_n) == 0 &&
               raw_n == n;
    if (b64)
        memcpy(out, raw, n);
    free(raw);
    if (!b64 && tbt_hex_decode(s, len, out, n) != 0) {
        span_why(d, "%s must be %zu hex digits, got \"%.40s\"", what, 2 * n, s);
        memset(out, 0, n);
        return;
    }
    if (tbt_is_all_zero(out, n) && !empty_ok)
        span_why(d, "%s is all zeroes", what);
}

static int dec_event(jdec *d, const cJSON *obj, const jpath *p, tbt_event *e)
{
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    e->name = "";
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath cp = {p, k, 0, false};
        if (key_is(k, "timeUnixNano", "time_unix_nano"))
            rc = j_u64(d, c, &cp, &e->time_ns);
        else if (strcmp(k, "name") == 0)
            rc = j_str(d, c, &cp, &e->name, NULL, false);
        else if (strcmp(k, "attributes") == 0)
            rc = dec_attrs(d, c, &cp, &e->attrs, &e->n_attrs, 1);
        else if (key_is(k, "droppedAttributesCount", "dropped_attributes_count"))
            rc = j_u32(d, c, &cp, &e->dropped_attrs);
        if (rc)
            return rc;
    }
    return 0;
}

static int dec_link(jdec *d, const cJSON *obj, const jpath *p, tbt_link *l, size_t idx)
{
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    const cJSON *tid = NULL, *sid = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath cp = {p, k, 0, false};
        if (key_is(k, "traceId", "trace_id"))
            tid = c;
        else if (key_is(k, "spanId", "span_id"))
            sid = c;
        else if (key_is(k, "traceState", "trace_state"))
            rc = j_str(d, c, &cp, &l->trace_state, NULL, true);
        else if (strcmp(k, "attributes") == 0)
            rc = dec_attrs(d, c, &cp, &l->attrs, &l->n_attrs, 1);
        else if (key_is(k, "droppedAttributesCount", "dropped_attributes_count"))
            rc = j_u32(d, c, &cp, &l->dropped_attrs);
        else if (strcmp(k, "flags") == 0)
            rc = j_u32(d, c, &cp, &l->flags);
        if (rc)
            return rc;
    }
    char what[48];
    snprintf(what, sizeof(what), "links[%zu].traceId", idx);
    dec_id(d, tid, what, l->trace_id, 16, false);
    snprintf(what, sizeof(what), "links[%zu].spanId", idx);
    dec_id(d, sid, what, l->span_id, 8, false);
    return 0;
}

static const char *const kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                         "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const char *const status_names[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};

static int dec_status(jdec *d, const cJSON *obj, const jpath *p, tbt_span *s)
{
    if (cJSON_IsNull(obj))
        return 0;
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    for (const cJSON *c = obj->child; c; c = c->next) {
        jpath cp = {p, c->string, 0, false};
        if (strcmp(c->string, "message") == 0) {
            rc = j_str(d, c, &cp, &s->status_message, NULL, true);
        } else if (strcmp(c->string, "code") == 0) {
            int32_t code = 0;
            rc = j_enum(d, c, &cp, status_names, TBT_ARRAY_LEN(status_names), &code);
            s->status_code = (tbt_status_code)code;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int dec_span(jdec *d, const cJSON *obj, const jpath *p, const tbt_resource *res, const tbt_scope *sc)
{
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    tbt_span s;
    memset(&s, 0, sizeof(s));
    s.name = "";
    s.resource = res;
    s.scope = sc;
    const cJSON *tid = NULL, *sid = NULL, *pid = NULL;
    d->why[0] = '\0';
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath cp = {p, k, 0, false};
        switch (k[0]) {
        case 't':
        case 's':
        case 'p':
        case 'n':
        case 'k':
        case 'e':
        case 'a':
        case 'd':
        case 'l':
        case 'f': break;
        default: continue; /* unknown key */
        }
        if (key_is(k, "traceId", "trace_id")) {
            tid = c;
        } else if (key_is(k, "spanId", "span_id")) {
            sid = c;
        } else if (key_is(k, "parentSpanId", "parent_span_id")) {
            pid = c;
        } else if (key_is(k, "traceState", "trace_state")) {
            rc = j_str(d, c, &cp, &s.trace_state, NULL, true);
        } else if (strcmp(k, "name") == 0) {
            rc = j_str(d, c, &cp, &s.name, NULL, false);
        } else if (strcmp(k, "kind") == 0) {
            int32_t kind = 0;
            rc = j_enum(d, c, &cp, kind_names, TBT_ARRAY_LEN(kind_names), &kind);
            s.kind = (tbt_span_kind)kind;
        } else if (key_is(k, "startTimeUnixNano", "start_time_unix_nano")) {
            rc = j_u64(d, c, &cp, &s.start_ns);
        } else if (key_is(k, "endTimeUnixNano", "end_time_unix_nano")) {
            rc = j_u64(d, c, &cp, &s.end_ns);
        } else if (strcmp(k, "attributes") == 0) {
            rc = dec_attrs(d, c, &cp, &s.attrs, &s.n_attrs, 1);
        } else if (key_is(k, "droppedAttributesCount", "dropped_attributes_count")) {
            rc = j_u32(d, c, &cp, &s.dropped_attrs);
        } else if (key_is(k, "droppedEventsCount", "dropped_events_count")) {
            rc = j_u32(d, c, &cp, &s.dropped_events);
        } else if (key_is(k, "droppedLinksCount", "dropped_links_count")) {
            rc = j_u32(d, c, &cp, &s.dropped_links);
        } else if (strcmp(k, "flags") == 0) {
            rc = j_u32(d, c, &cp, &s.flags);
        } else if (strcmp(k, "status") == 0) {
            rc = dec_status(d, c, &cp, &s);
        } else if (strcmp(k, "events") == 0 || strcmp(k, "links") == 0) {
            bool ev = k[0] == 'e';
            size_t n = 0;
            if ((rc = j_array_of(d, c, &cp, &n)) || n == 0)
                goto next;
            tbt_event *evs = ev ? tbt_arena_calloc(d->a, n, sizeof(tbt_event)) : NULL;
            tbt_link *lns = ev ? NULL : tbt_arena_calloc(d->a, n, sizeof(tbt_link));
            size_t i = 0;
            for (const cJSON *e = c->child; e; e = e->next, i++) {
                jpath ep = {p, k, i, true};
                rc = ev ? dec_event(d, e, &ep, &evs[i]) : dec_link(d, e, &ep, &lns[i], i);
                if (rc)
                    return rc;
            }
            if (ev) {
                s.events = evs;
                s.n_events = n;
            } else {
                s.links = lns;
                s.n_links = n;
            }
        }
    next:
        if (rc)
            return rc;
    }
    dec_id(d, tid, "traceId", s.trace_id, 16, false);
    dec_id(d, sid, "spanId", s.span_id, 8, false);
    dec_id(d, pid, "parentSpanId", s.parent_id, 8, true);
    if (d->why[0]) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_jpath_render(p, &b);
        tbt_otlp_reject(d->stats, "%s: %s", tbt_buf_cstr(&b), d->why);
        tbt_buf_free(&b);
        return 0;
    }
    if (tbt_trace_span_count(d->t) >= d->lim->max_spans)
        return j_limit(d, NULL, "more than max_spans %zu spans", d->lim->max_spans);
    tbt_trace_add_span_copy(d->t, &s);
    if (d->stats)
        d->stats->spans++;
    return 0;
}

static int dec_scope_spans(jdec *d, const cJSON *obj, const jpath *p, const tbt_resource *res)
{
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    tbt_scope *sc = tbt_trace_new_scope(d->t);
    const cJSON *spans = NULL;
    jpath spans_path = {p, "spans", 0, false};
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath cp = {p, k, 0, false};
        if ((strcmp(k, "scope") == 0 || strcmp(k, "instrumentationLibrary") == 0) && !cJSON_IsNull(c)) {
            if ((rc = j_object(d, c, &cp)))
                return rc;
            for (const cJSON *m = c->child; m; m = m->next) {
                jpath mp = {&cp, m->string, 0, false};
                if (strcmp(m->string, "name") == 0)
                    rc = j_str(d, m, &mp, &sc->name, NULL, true);
                else if (strcmp(m->string, "version") == 0)
                    rc = j_str(d, m, &mp, &sc->version, NULL, true);
                else if (strcmp(m->string, "attributes") == 0)
                    rc = dec_attrs(d, m, &mp, &sc->attrs, &sc->n_attrs, 1);
                else if (key_is(m->string, "droppedAttributesCount", "dropped_attributes_count"))
                    rc = j_u32(d, m, &mp, &sc->dropped_attrs);
                if (rc)
                    return rc;
            }
        } else if (strcmp(k, "spans") == 0) {
            spans = c;
            spans_path.key = k;
        } else if (key_is(k, "schemaUrl", "schema_url")) {
            if ((rc = j_str(d, c, &cp, &sc->schema_url, NULL, true)))
                return rc;
        }
    }
    size_t n = 0;
    if ((rc = j_array_of(d, spans, &spans_path, &n)) || !n)
        return rc;
    size_t i = 0;
    for (const cJSON *e = spans->child; e; e = e->next, i++) {
        jpath ep = {p, "spans", i, true};
        if ((rc = dec_span(d, e, &ep, res, sc)))
            return rc;
    }
    return 0;
}

static int dec_resource_spans(jdec *d, const cJSON *obj, const jpath *p)
{
    int rc = j_object(d, obj, p);
    if (rc)
        return rc;
    tbt_resource *res = tbt_trace_new_resource(d->t);
    const cJSON *ss = NULL;
    const char *ss_key = "scopeSpans";
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *k = c->string;
        jpath cp = {p, k, 0, false};
        if (strcmp(k, "resource") == 0 && !cJSON_IsNull(c)) {
            if ((rc = j_object(d, c, &cp)))
                return rc;
            for (const cJSON *m = c->child; m; m = m->next) {
                jpath mp = {&cp, m->string, 0, false};
                if (strcmp(m->string, "attributes") == 0)
                    rc = dec_attrs(d, m, &mp, &res->attrs, &res->n_attrs, 1);
                else if (key_is(m->string, "droppedAttributesCount", "dropped_attributes_count"))
                    rc = j_u32(d, m, &mp, &res->dropped_attrs);
                if (rc)
                    return rc;
            }
        } else if (key_is(k, "scopeSpans", "scope_spans") || strcmp(k, "instrumentationLibrarySpans") == 0) {
            ss = c;
            ss_key = k;
        } else if (key_is(k, "schemaUrl", "schema_url")) {
            if ((rc = j_str(d, c, &cp, &res->schema_url, NULL, true)))
                return rc;
        }
    }
    size_t n = 0;
    jpath ssp = {p, ss_key, 0, false};
    if ((rc = j_array_of(d, ss, &ssp, &n)) || !n)
        return rc;
    size_t i = 0;
    for (const cJSON *e = ss->child; e; e = e->next, i++) {
        jpath ep = {p, ss_key, i, true};
        if ((rc = dec_scope_spans(d, e, &ep, res)))
            return rc;
    }
    return 0;
}

/* Report a syntax error at byte `off` of the original text. */
static int json_syntax_error(jdec *d, const char *src, size_t len, size_t off, const char *what)
{
    char *text = tbt_xstrndup(src, len); /* tbt_error_at wants a C string */
    if (off > len)
        off = len;
    tbt_error_set(d->err, -EINVAL, "invalid OTLP JSON: %s", what);
    tbt_error_at(d->err, NULL, text, off);
    free(text);
    return -EINVAL;
}

int tbt_otlp_json_decode(tbt_trace *t, const uint8_t *buf, size_t len, const tbt_otlp_limits *lim,
                         tbt_otlp_stats *stats, tbt_error *err)
{
    jdec d;
    memset(&d, 0, sizeof(d));
    d.t = t;
    d.a = tbt_trace_arena(t);
    d.lim = lim;
    d.stats = stats;
    d.err = err;
    d.strs.a = d.a;
    const char *src = (const char *)buf;
    size_t *ins = NULL, n_ins = 0, qlen = 0;
    char *quoted = quote_big_ints(src, len, &qlen, &ins, &n_ins);
    const char *text = quoted ? quoted : src;
    size_t tlen = quoted ? qlen : len;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, tlen, &end, 0);
    int rc = 0;
    if (!root) {
        size_t pos;
        const char *what;
        if (json_find_fault(src, len, &pos, &what)) {
            rc = json_syntax_error(&d, src, len, pos, what);
        } else {
            /* cJSON refused something the validator accepts (e.g. a lone
             * UTF-16 surrogate): report cJSON's position. */
            size_t off = end && end >= text ? (size_t)(end - text) : 0;
            size_t shift = 0;
            for (size_t i = 0; i < n_ins && ins[i] < off; i++)
                shift++;
            rc = json_syntax_error(&d, src, len, off - shift, "malformed JSON");
        }
        goto out;
    }
    /* cJSON stops after the first value; anything but whitespace after it
     * is an error. */
    size_t off = (size_t)(end - text);
    while (off < tlen && (unsigned char)text[off] <= 32 && text[off] != '\0')
        off++;
    if (off < tlen) {
        size_t shift = 0;
        for (size_t i = 0; i < n_ins && ins[i] < off; i++)
            shift++;
        rc = json_syntax_error(&d, src, len, off - shift, "unexpected characters after the JSON value");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = j_fail(&d, NULL, "expected an ExportTraceServiceRequest object, got %s", j_typename(root));
        goto out;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        /* "batches": Tempo's tempopb.Trace, the same ResourceSpans */
        if (!key_is(c->string, "resourceSpans", "resource_spans") && strcmp(c->string, "batches") != 0)
            continue;
        jpath p = {NULL, c->string, 0, false};
        size_t n = 0;
        if ((rc = j_array_of(&d, c, &p, &n)))
            goto out;
        size_t i = 0;
        for (const cJSON *e = n ? c->child : NULL; e; e = e->next, i++) {
            jpath ep = {NULL, c->string, i, true};
            if ((rc = dec_resource_spans(&d, e, &ep)))
                goto out;
        }
    }
out:
    tbt_otlp_strtab_free(&d.strs);
    cJSON_Delete(root);
    free(quoted);
    free(ins);
    return rc;
}

/* ======================================================================
 * encoder
 * ====================================================================== */

static void put_key(tbt_buf *b, bool *first, const char *key)
{
    if (!*first)
        tbt_buf_putc(b, ',');
    *first = false;
    tbt_buf_putc(b, '"');
    tbt_buf_puts(b, key);
    tbt_buf_puts(b, "\":");
}

static void put_strfield(tbt_buf *b, bool *first, const char *key, const char *s)
{
    if (!s || !*s)
        return;
    put_key(b, first, key);
    tbt_buf_json_str(b, s, strlen(s));
}

static void put_hex(tbt_buf *b, bool *first, const char *key, const uint8_t *id, size_t n)
{
    char hex[33];
    tbt_hex_encode(id, n, hex);
    put_key(b, first, key);
    tbt_buf_putc(b, '"');
    tbt_buf_puts(b, hex);
    tbt_buf_putc(b, '"');
}

static void put_u64str(tbt_buf *b, bool *first, const char *key, uint64_t v)
{
    if (!v)
        return;
    put_key(b, first, key);
    tbt_buf_printf(b, "\"%llu\"", (unsigned long long)v);
}

static void put_num(tbt_buf *b, bool *first, const char *key, long long v)
{
    if (!v)
        return;
    put_key(b, first, key);
    tbt_buf_printf(b, "%lld", v);
}

static void put_kvs(tbt_buf *b, bool *first, const char *key, const tbt_kv *kv, size_t n);

static void put_value(tbt_buf *b, const tbt_value *v)
{
    char num[40];
    switch (v->type) {
    case TBT_V_EMPTY: tbt_buf_puts(b, "{}"); break;
    case TBT_V_STRING:
        tbt_buf_puts(b, "{\"stringValue\":");
        tbt_buf_json_str(b, v->u.s.ptr, v->u.s.len);
        tbt_buf_putc(b, '}');
        break;
    case TBT_V_BOOL: tbt_buf_puts(b, v->u.b ? "{\"boolValue\":true}" : "{\"boolValue\":false}"); break;
    case TBT_V_INT: tbt_buf_printf(b, "{\"intValue\":\"%lld\"}", (long long)v->u.i); break;
    case TBT_V_DOUBLE:
        tbt_buf_puts(b, "{\"doubleValue\":");
        if (!isfinite(v->u.d)) {
            tbt_format_double(v->u.d, num, sizeof(num));
            tbt_buf_printf(b, "\"%s\"", num);
        } else if (v->u.d == 0 && signbit(v->u.d)) {
            tbt_buf_puts(b, "-0");
        } else {
            tbt_format_double(v->u.d, num, sizeof(num));
            tbt_buf_puts(b, num);
        }
        tbt_buf_putc(b, '}');
        break;
    case TBT_V_ARRAY:
        tbt_buf_puts(b, "{\"arrayValue\":{\"values\":[");
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                tbt_buf_putc(b, ',');
            put_value(b, &v->u.arr.items[i]);
        }
        tbt_buf_puts(b, "]}}");
        break;
    case TBT_V_KVLIST: {
        tbt_buf_puts(b, "{\"kvlistValue\":{");
        bool first = true;
        put_kvs(b, &first, "values", v->u.kv.items, v->u.kv.n);
        tbt_buf_puts(b, "}}");
        break;
    }
    case TBT_V_BYTES:
        tbt_buf_puts(b, "{\"bytesValue\":\"");
        tbt_base64_encode((const uint8_t *)v->u.s.ptr, v->u.s.len, b);
        tbt_buf_puts(b, "\"}");
        break;
    }
}

static void put_kvs(tbt_buf *b, bool *first, const char *key, const tbt_kv *kv, size_t n)
{
    if (!n)
        return;
    put_key(b, first, key);
    tbt_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            tbt_buf_putc(b, ',');
        tbt_buf_puts(b, "{\"key\":");
        const char *k = kv[i].key ? kv[i].key : "";
        tbt_buf_json_str(b, k, strlen(k));
        tbt_buf_puts(b, ",\"value\":");
        put_value(b, &kv[i].value);
        tbt_buf_putc(b, '}');
    }
    tbt_buf_putc(b, ']');
}

static void put_span(tbt_buf *b, const tbt_span *s)
{
    bool f = true;
    tbt_buf_putc(b, '{');
    put_hex(b, &f, "traceId", s->trace_id, 16);
    put_hex(b, &f, "spanId", s->span_id, 8);
    put_strfield(b, &f, "traceState", s->trace_state);
    if (!tbt_is_all_zero(s->parent_id, 8))
        put_hex(b, &f, "parentSpanId", s->parent_id, 8);
    put_num(b, &f, "flags", s->flags);
    put_strfield(b, &f, "name", s->name);
    put_num(b, &f, "kind", (int32_t)s->kind);
    put_u64str(b, &f, "startTimeUnixNano", s->start_ns);
    put_u64str(b, &f, "endTimeUnixNano", s->end_ns);
    put_kvs(b, &f, "attributes", s->attrs, s->n_attrs);
    put_num(b, &f, "droppedAttributesCount", s->dropped_attrs);
    if (s->n_events) {
        put_key(b, &f, "events");
        tbt_buf_putc(b, '[');
        for (size_t i = 0; i < s->n_events; i++) {
            const tbt_event *e = &s->events[i];
            bool fe = true;
            tbt_buf_puts(b, i ? ",{" : "{");
            put_u64str(b, &fe, "timeUnixNano", e->time_ns);
            put_strfield(b, &fe, "name", e->name);
            put_kvs(b, &fe, "attributes", e->attrs, e->n_attrs);
            put_num(b, &fe, "droppedAttributesCount", e->dropped_attrs);
            tbt_buf_putc(b, '}');
        }
        tbt_buf_putc(b, ']');
    }
    put_num(b, &f, "droppedEventsCount", s->dropped_events);
    if (s->n_links) {
        put_key(b, &f, "links");
        tbt_buf_putc(b, '[');
        for (size_t i = 0; i < s->n_links; i++) {
            const tbt_link *l = &s->links[i];
            bool fl = true;
            tbt_buf_puts(b, i ? ",{" : "{");
            put_hex(b, &fl, "traceId", l->trace_id, 16);
            put_hex(b, &fl, "spanId", l->span_id, 8);
            put_strfield(b, &fl, "traceState", l->trace_state);
            put_kvs(b, &fl, "attributes", l->attrs, l->n_attrs);
            put_num(b, &fl, "droppedAttributesCount", l->dropped_attrs);
            put_num(b, &fl, "flags", l->flags);
            tbt_buf_putc(b, '}');
        }
        tbt_buf_putc(b, ']');
    }
    put_num(b, &f, "droppedLinksCount", s->dropped_links);
    if (s->status_code || (s->status_message && *s->status_message)) {
        bool fs = true;
        put_key(b, &f, "status");
        tbt_buf_putc(b, '{');
        put_strfield(b, &fs, "message", s->status_message);
        put_num(b, &fs, "code", (int32_t)s->status_code);
        tbt_buf_putc(b, '}');
    }
    tbt_buf_putc(b, '}');
}

void tbt_otlp_json_encode(const tbt_trace *t, tbt_buf *out)
{
    tbt_otlp_group *g;
    const tbt_span **ord;
    size_t n_g = tbt_otlp_group_spans(t, &g, &ord);
    tbt_buf_puts(out, "{\"resourceSpans\":[");
    for (size_t k = 0; k < n_g;) {
        const tbt_resource *res = g[k].resource;
        bool fr = true;
        tbt_buf_puts(out, k ? ",{" : "{");
        if (res && (res->n_attrs || res->dropped_attrs)) {
            bool f = true;
            put_key(out, &fr, "resource");
            tbt_buf_putc(out, '{');
            put_kvs(out, &f, "attributes", res->attrs, res->n_attrs);
            put_num(out, &f, "droppedAttributesCount", res->dropped_attrs);
            tbt_buf_putc(out, '}');
        }
        put_key(out, &fr, "scopeSpans");
        tbt_buf_putc(out, '[');
        for (size_t first = k; k < n_g && g[k].resource == res; k++) {
            const tbt_scope *sc = g[k].scope;
            bool fs = true;
            tbt_buf_puts(out, k > first ? ",{" : "{");
            if (sc && (sc->name || sc->version || sc->n_attrs || sc->dropped_attrs)) {
                bool f = true;
                put_key(out, &fs, "scope");
                tbt_buf_putc(out, '{');
                put_strfield(out, &f, "name", sc->name);
                put_strfield(out, &f, "version", sc->version);
                put_kvs(out, &f, "attributes", sc->attrs, sc->n_attrs);
                put_num(out, &f, "droppedAttributesCount", sc->dropped_attrs);
                tbt_buf_putc(out, '}');
            }
            put_key(out, &fs, "spans");
            tbt_buf_putc(out, '[');
            for (size_t i = 0; i < g[k].n; i++) {
                if (i)
                    tbt_buf_putc(out, ',');
                put_span(out, ord[g[k].first + i]);
            }
            tbt_buf_putc(out, ']');
            put_strfield(out, &fs, "schemaUrl", sc ? sc->schema_url : NULL);
            tbt_buf_putc(out, '}');
        }
        tbt_buf_putc(out, ']');
        put_strfield(out, &fr, "schemaUrl", res ? res->schema_url : NULL);
        tbt_buf_putc(out, '}');
    }
    tbt_buf_puts(out, "]}");
    free(g);
    free(ord);
}

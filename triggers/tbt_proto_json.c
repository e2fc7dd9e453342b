/* tbt_proto_json.c - the proto3 JSON mapping over a parsed .proto: JSON
 * (cJSON) to protobuf wire bytes for a request, and wire bytes to JSON text
 * for a reply, with the well-known types in their JSON forms. The reader is
 * bounds-checked and nesting is bounded: a hostile reply gets an error,
 * never a crash. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_proto_private.h"

#define MAX_SECONDS 315576000000LL     /* Duration's range: 10,000 years */
#define MIN_TS_SECONDS -62135596800LL  /* 0001-01-01T00:00:00Z */
#define MAX_TS_SECONDS 253402300799LL  /* 9999-12-31T23:59:59Z */

static int wire_type(proto_type t)
{
    switch (t) {
    case PT_DOUBLE: case PT_FIXED64: case PT_SFIXED64: return 1;
    case PT_FLOAT: case PT_FIXED32: case PT_SFIXED32: return 5;
    case PT_STRING: case PT_BYTES: case PT_MESSAGE: case PT_GROUP: return 2;
    default: return 0;
    }
}

static bool packable(proto_type t)
{
    return wire_type(t) != 2;
}

static const proto_field *field_by_number(const tbt_proto_message *m, int32_t n)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->fields[i].number == n)
            return &m->fields[i];
    return NULL;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- dates ------------------------------------------------------------------ */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2024-05-01T10:00:00.5Z" / "+02:00" offsets. */
static bool parse_rfc3339(const char *s, int64_t *sec, int32_t *nanos)
{
    int Y, M, D, h, mi, se;
    size_t n = strlen(s);
    if (n < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    const char *p = s + 19;
    int32_t ns = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd >= 9)
                return false;
            ns = ns * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return false;
        while (nd++ < 9)
            ns *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + se - off;
    if (t < MIN_TS_SECONDS || t > MAX_TS_SECONDS)
        return false;
    *sec = t;
    *nanos = ns;
    return true;
}

/* "1.5s", "-0.000001s" */
static bool parse_duration(const char *s, int64_t *sec, int32_t *nanos)
{
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != 's')
        return false;
    bool neg = s[0] == '-';
    size_t i = neg ? 1 : 0;
    int64_t whole = 0;
    int nd = 0;
    while (i < n - 1 && s[i] >= '0' && s[i] <= '9') {
        whole = whole * 10 + (s[i] - '0');
        if (whole > MAX_SECONDS)
            return false;
        i++;
        nd++;
    }
    int32_t ns = 0;
    int fd = 0;
    if (i < n - 1 && s[i] == '.') {
        i++;
        while (i < n - 1 && s[i] >= '0' && s[i] <= '9') {
            if (fd >= 9)
                return false;
            ns = ns * 10 + (s[i] - '0');
            fd++;
            i++;
        }
        if (fd == 0)
            return false;
        for (int k = fd; k < 9; k++)
            ns *= 10;
    }
    if (i != n - 1 || nd == 0)
        return false;
    *sec = neg ? -whole : whole;
    *nanos = neg ? -ns : ns;
    return true;
}

static void frac9(char *out, size_t cap, int32_t ns)
{
    /* 0, 3, 6 or 9 digits, as the proto3 JSON mapping writes them */
    if (ns == 0)
        out[0] = 0;
    else if (ns % 1000000 == 0)
        snprintf(out, cap, ".%03d", ns / 1000000);
    else if (ns % 1000 == 0)
        snprintf(out, cap, ".%06d", ns / 1000);
    else
        snprintf(out, cap, ".%09d", ns);
}

/* ---- encoding ---------------------------------------------------------------- */
typedef struct enc {
    tbt_buf path;
    tbt_error *err;
} enc;

static int efail(enc *e, const char *fmt, ...) TBT_PRINTF(2, 3);
static int efail(enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(e->err, -EINVAL, "request%s: %s", e->path.len ? tbt_buf_cstr(&e->path) : "", m);
    free(m);
    return -EINVAL;
}

static const char *jtype(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

static void put_varint(tbt_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    tbt_buf_append(b, tmp, n);
}

static void put_tag(tbt_buf *b, int32_t num, int wt)
{
    put_varint(b, ((uint64_t)(uint32_t)num << 3) | (uint64_t)wt);
}

static void put_fixed(tbt_buf *b, uint64_t v, int bytes)
{
    uint8_t tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    tbt_buf_append(b, tmp, (size_t)bytes);
}

static void put_len(tbt_buf *b, int32_t num, const void *p, size_t n)
{
    put_tag(b, num, 2);
    put_varint(b, n);
    tbt_buf_append(b, p, n);
}

static int json_int(enc *e, const cJSON *v, bool is_unsigned, int64_t lo, int64_t hi, uint64_t uhi, uint64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || floor(d) != d)
            return efail(e, "expected an integer, found %g", d);
        if (is_unsigned) {
            if (d < 0 || d >= 18446744073709551616.0 || (uint64_t)d > uhi)
                return efail(e, "%.0f is out of range (0 to %llu)", d, (unsigned long long)uhi);
            *out = (uint64_t)d;
        } else {
            if (d < -9223372036854775808.0 || d >= 9223372036854775808.0 || (int64_t)d < lo || (int64_t)d > hi)
                return efail(e, "%.0f is out of range (%lld to %lld)", d, (long long)lo, (long long)hi);
            *out = (uint64_t)(int64_t)d;
        }
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        errno = 0;
        if (!*s || (s[0] == ' ' || s[0] == '+'))
            goto bad;
        if (is_unsigned) {
            if (s[0] == '-')
                goto range;
            unsigned long long x = strtoull(s, &end, 10);
            if (*end)
                goto bad;
            if (errno || x > uhi)
                goto range;
            *out = x;
        } else {
            long long x = strtoll(s, &end, 10);
            if (*end)
                goto bad;
            if (errno || x < lo || x > hi)
                goto range;
            *out = (uint64_t)x;
        }
        return 0;
    bad:
        return efail(e, "expected an integer, found \"%.40s\"", s);
    range:
        return efail(e, "\"%.40s\" is out of range", s);
    }
    return efail(e, "expected an integer, found %s", jtype(v));
}

static int json_float(enc *e, const cJSON *v, bool is_float, double *out)
{
    double d;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (strcmp(s, "NaN") == 0)
            d = NAN;
        else if (strcmp(s, "Infinity") == 0)
            d = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            d = -INFINITY;
        else {
            char *end;
            d = strtod(s, &end);
            if (!*s || *end || !isfinite(d))
                return efail(e, "expected a number, found \"%.40s\"", s);
        }
    } else {
        return efail(e, "expected a number, found %s", jtype(v));
    }
    if (is_float && isfinite(d) && fabs(d) > FLT_MAX)
        return efail(e, "%g is out of range for a float", d);
    *out = d;
    return 0;
}

/* One scalar value, without its tag. */
static int enc_scalar(enc *e, const proto_field *f, const cJSON *v, tbt_buf *out)
{
    uint64_t u = 0;
    double d;
    int rc;
    switch (f->type) {
    case PT_INT32: case PT_SFIXED32: case PT_SINT32:
        if ((rc = json_int(e, v, false, INT32_MIN, INT32_MAX, 0, &u)))
            return rc;
        if (f->type == PT_INT32)
            put_varint(out, (uint64_t)(int64_t)(int32_t)u);
        else if (f->type == PT_SINT32)
            put_varint(out, (uint32_t)(((uint32_t)(int32_t)u << 1) ^ (uint32_t)((int32_t)u >> 31)));
        else
            put_fixed(out, (uint32_t)u, 4);
        return 0;
    case PT_INT64: case PT_SFIXED64: case PT_SINT64:
        if ((rc = json_int(e, v, false, INT64_MIN, INT64_MAX, 0, &u)))
            return rc;
        if (f->type == PT_INT64)
            put_varint(out, u);
        else if (f->type == PT_SINT64)
            put_varint(out, (u << 1) ^ (uint64_t)((int64_t)u >> 63));
        else
            put_fixed(out, u, 8);
        return 0;
    case PT_UINT32: case PT_FIXED32:
        if ((rc = json_int(e, v, true, 0, 0, UINT32_MAX, &u)))
            return rc;
        if (f->type == PT_UINT32)
            put_varint(out, u);
        else
            put_fixed(out, u, 4);
        return 0;
    case PT_UINT64: case PT_FIXED64:
        if ((rc = json_int(e, v, true, 0, 0, UINT64_MAX, &u)))
            return rc;
        if (f->type == PT_UINT64)
            put_varint(out, u);
        else
            put_fixed(out, u, 8);
        return 0;
    case PT_BOOL:
        if (!cJSON_IsBool(v))
            return efail(e, "expected true or false, found %s", jtype(v));
        put_varint(out, cJSON_IsTrue(v) ? 1 : 0);
        return 0;
    case PT_DOUBLE: {
        if ((rc = json_float(e, v, false, &d)))
            return rc;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_fixed(out, bits, 8);
        return 0;
    }
    case PT_FLOAT: {
        if ((rc = json_float(e, v, true, &d)))
            return rc;
        float fl = (float)d;
        uint32_t bits;
        memcpy(&bits, &fl, 4);
        put_fixed(out, bits, 4);
        return 0;
    }
    case PT_ENUM: {
        if (cJSON_IsString(v)) {
            for (size_t i = 0; i < f->en->n; i++)
                if (strcmp(f->en->values[i].name, v->valuestring) == 0) {
                    put_varint(out, (uint64_t)(int64_t)f->en->values[i].number);
                    return 0;
                }
            tbt_buf names = TBT_BUF_INIT;
            for (size_t i = 0; i < f->en->n && i < 20; i++)
                tbt_buf_printf(&names, "%s%s", i ? ", " : "", f->en->values[i].name);
            rc = efail(e, "\"%.60s\" is not a value of enum %s (values: %s)", v->valuestring, f->en->full_name,
                       tbt_buf_cstr(&names));
            tbt_buf_free(&names);
            return rc;
        }
        if ((rc = json_int(e, v, false, INT32_MIN, INT32_MAX, 0, &u)))
            return rc;
        put_varint(out, (uint64_t)(int64_t)(int32_t)u);
        return 0;
    }
    case PT_STRING: {
        if (!cJSON_IsString(v))
            return efail(e, "expected a string, found %s", jtype(v));
        size_t n = strlen(v->valuestring);
        if (!utf8_valid((const unsigned char *)v->valuestring, n))
            return efail(e, "the string is not valid UTF-8");
        put_varint(out, n);
        tbt_buf_append(out, v->valuestring, n);
        return 0;
    }
    case PT_BYTES: {
        if (!cJSON_IsString(v))
            return efail(e, "expected base64 text, found %s", jtype(v));
        char *s = tbt_xstrdup(v->valuestring);
        for (char *p = s; *p; p++)
            if (*p == '-')
                *p = '+';
            else if (*p == '_')
                *p = '/';
        uint8_t *bytes = NULL;
        size_t bn = 0;
        rc = tbt_base64_decode(s, strlen(s), &bytes, &bn);
        free(s);
        if (rc)
            return efail(e, "expected base64 text for bytes, found \"%.40s\"", v->valuestring);
        put_varint(out, bn);
        tbt_buf_append(out, bytes, bn);
        free(bytes);
        return 0;
    }
    default:
        return efail(e, "unsupported field type");
    }
}

static int enc_message(enc *e, const tbt_proto_message *m, const cJSON *j, tbt_buf *out, int depth, bool in_any);

/* One value of field f with its tag. */
static int enc_one(enc *e, const proto_field *f, const cJSON *v, tbt_buf *out, int depth)
{
    if (f->type == PT_MESSAGE) {
        tbt_buf sub = TBT_BUF_INIT;
        int rc = enc_message(e, f->msg, v, &sub, depth + 1, false);
        if (rc == 0)
            put_len(out, f->number, sub.data ? sub.data : "", sub.len);
        tbt_buf_free(&sub);
        return rc;
    }
    put_tag(out, f->number, wire_type(f->type));
    return enc_scalar(e, f, v, out);
}

static int enc_field(enc *e, const proto_field *f, const cJSON *v, tbt_buf *out, int depth)
{
    int rc = 0;
    size_t mark = e->path.len;
    if (cJSON_IsNull(v)) {
        if (!f->repeated && f->type == PT_MESSAGE && f->msg->wkt == WKT_VALUE) {
            tbt_buf sub = TBT_BUF_INIT;
            put_tag(&sub, 1, 0);
            put_varint(&sub, 0);
            put_len(out, f->number, sub.data, sub.len);
            tbt_buf_free(&sub);
        }
        return 0;
    }
    if (f->is_map) {
        if (!cJSON_IsObject(v))
            return efail(e, "expected an object (a map), found %s", jtype(v));
        const proto_field *kf = &f->msg->fields[0], *vf = &f->msg->fields[1];
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
            tbt_buf_printf(&e->path, "[\"%.60s\"]", item->string);
            tbt_buf entry = TBT_BUF_INIT;
            if (kf->type == PT_BOOL) {
                if (strcmp(item->string, "true") != 0 && strcmp(item->string, "false") != 0)
                    rc = efail(e, "a bool map key must be \"true\" or \"false\"");
                else {
                    put_tag(&entry, 1, 0);
                    put_varint(&entry, strcmp(item->string, "true") == 0);
                }
            } else {
                cJSON *key = cJSON_CreateString(item->string);
                put_tag(&entry, 1, wire_type(kf->type));
                rc = enc_scalar(e, kf, key, &entry);
                cJSON_Delete(key);
            }
            if (rc == 0 && !cJSON_IsNull(item))
                rc = enc_one(e, vf, item, &entry, depth + 1);
            if (rc == 0)
                put_len(out, f->number, entry.data, entry.len);
            tbt_buf_free(&entry);
            if (rc)
                return rc;
            e->path.len = mark;
            e->path.data[mark] = 0;
        }
        return 0;
    }
    if (f->repeated) {
        if (!cJSON_IsArray(v))
            return efail(e, "expected an array, found %s", jtype(v));
        tbt_buf packed = TBT_BUF_INIT;
        bool pack = f->packed && packable(f->type);
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
            tbt_buf_printf(&e->path, "[%d]", i++);
            if (cJSON_IsNull(item) && f->type == PT_MESSAGE && f->msg->wkt == WKT_VALUE)
                rc = enc_field(e, &(proto_field){.number = f->number, .type = PT_MESSAGE, .msg = f->msg}, item, out,
                               depth);
            else if (cJSON_IsNull(item))
                rc = efail(e, "null is not allowed in a repeated field");
            else if (pack)
                rc = enc_scalar(e, f, item, &packed);
            else
                rc = enc_one(e, f, item, out, depth);
            if (rc)
                break;
            e->path.len = mark;
            e->path.data[mark] = 0;
        }
        if (rc == 0 && pack && packed.len)
            put_len(out, f->number, packed.data, packed.len);
        tbt_buf_free(&packed);
        return rc;
    }
    return enc_one(e, f, v, out, depth);
}

static char *snake_of(const char *s, size_t n)
{
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z') {
            tbt_buf_putc(&b, '_');
            tbt_buf_putc(&b, (char)(s[i] + 32));
        } else {
            tbt_buf_putc(&b, s[i]);
        }
    }
    char *r = tbt_buf_steal(&b);
    return r ? r : tbt_xstrdup("");
}

static const tbt_proto_message *any_type(const tbt_proto *p, const char *url)
{
    const char *slash = strrchr(url, '/');
    return tbt_proto_find_message(p, slash ? slash + 1 : url);
}

static int enc_wkt(enc *e, const tbt_proto_message *m, const cJSON *j, tbt_buf *out, int depth)
{
    int rc;
    switch (m->wkt) {
    case WKT_TIMESTAMP:
    case WKT_DURATION: {
        int64_t sec;
        int32_t ns;
        if (!cJSON_IsString(j))
            return efail(e, "expected %s as a string, found %s",
                         m->wkt == WKT_TIMESTAMP ? "an RFC 3339 timestamp" : "a duration like \"1.5s\"", jtype(j));
        if (m->wkt == WKT_TIMESTAMP ? !parse_rfc3339(j->valuestring, &sec, &ns)
                                    : !parse_duration(j->valuestring, &sec, &ns))
            return efail(e, "\"%.60s\" is not %s", j->valuestring,
                         m->wkt == WKT_TIMESTAMP ? "an RFC 3339 timestamp (2024-05-01T10:00:00Z)"
                                                 : "a duration in seconds (\"1.5s\")");
        if (sec) {
            put_tag(out, 1, 0);
            put_varint(out, (uint64_t)sec);
        }
        if (ns) {
            put_tag(out, 2, 0);
            put_varint(out, (uint64_t)(int64_t)ns);
        }
        return 0;
    }
    case WKT_WRAPPER:
        return enc_field(e, &m->fields[0], j, out, depth);
    case WKT_STRUCT:
        if (!cJSON_IsObject(j))
            return efail(e, "expected an object for google.protobuf.Struct, found %s", jtype(j));
        return enc_field(e, &m->fields[0], j, out, depth);
    case WKT_LIST:
        if (!cJSON_IsArray(j))
            return efail(e, "expected an array for google.protobuf.ListValue, found %s", jtype(j));
        return enc_field(e, &m->fields[0], j, out, depth);
    case WKT_VALUE: {
        int32_t num = cJSON_IsNull(j) ? 1 : cJSON_IsNumber(j) ? 2 : cJSON_IsString(j) ? 3 : cJSON_IsBool(j) ? 4
                                                                : cJSON_IsObject(j) ? 5 : 6;
        if (num == 1) {
            put_tag(out, 1, 0);
            put_varint(out, 0);
            return 0;
        }
        const proto_field *f = field_by_number(m, num);
        return f ? enc_one(e, f, j, out, depth) : efail(e, "malformed google.protobuf.Value");
    }
    case WKT_FIELD_MASK: {
        if (!cJSON_IsString(j))
            return efail(e, "expected a field mask string (\"a.b,c\"), found %s", jtype(j));
        const char *s = j->valuestring;
        while (*s) {
            const char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            char *p = snake_of(s, n);
            put_len(out, 1, p, strlen(p));
            free(p);
            s += n;
            if (*s == ',')
                s++;
        }
        return 0;
    }
    case WKT_ANY: {
        if (!cJSON_IsObject(j))
            return efail(e, "expected an object with \"@type\" for google.protobuf.Any, found %s", jtype(j));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "@type");
        if (!cJSON_IsString(t))
            return efail(e, "google.protobuf.Any needs \"@type\" (type.googleapis.com/pkg.Message)");
        const tbt_proto_message *im = any_type(m->proto, t->valuestring);
        if (!im)
            return efail(e, "the type \"%.80s\" of this Any is not in the .proto", t->valuestring);
        tbt_buf sub = TBT_BUF_INIT;
        if (im->wkt != WKT_NONE && im->wkt != WKT_EMPTY) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
            rc = v ? enc_message(e, im, v, &sub, depth + 1, false) : 0;
        } else {
            rc = enc_message(e, im, j, &sub, depth + 1, true);
        }
        if (rc == 0) {
            put_len(out, 1, t->valuestring, strlen(t->valuestring));
            put_len(out, 2, sub.data ? sub.data : "", sub.len);
        }
        tbt_buf_free(&sub);
        return rc;
    }
    default:
        return efail(e, "unsupported well-known type");
    }
}

static int enc_message(enc *e, const tbt_proto_message *m, const cJSON *j, tbt_buf *out, int depth, bool in_any)
{
    if (depth > TBT_PROTO_MAX_DEPTH)
        return efail(e, "nested more than %d deep", TBT_PROTO_MAX_DEPTH);
    if (m->wkt != WKT_NONE && m->wkt != WKT_EMPTY)
        return enc_wkt(e, m, j, out, depth);
    if (!cJSON_IsObject(j))
        return efail(e, "expected an object for message %s, found %s", m->full_name, jtype(j));
    int *oneof_set = m->n_oneofs ? tbt_xcalloc((size_t)m->n_oneofs + 1, sizeof(int)) : NULL;
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        if (in_any && strcmp(item->string, "@type") == 0)
            continue;
        const proto_field *f = NULL;
        for (size_t i = 0; i < m->n && !f; i++)
            if (strcmp(m->fields[i].json_name, item->string) == 0 || strcmp(m->fields[i].name, item->string) == 0)
                f = &m->fields[i];
        if (!f) {
            tbt_buf names = TBT_BUF_INIT;
            for (size_t i = 0; i < m->n && i < 40; i++)
                tbt_buf_printf(&names, "%s%s", i ? ", " : "", m->fields[i].json_name);
            rc = efail(e, "unknown field \"%.60s\" in message %s (fields: %s)", item->string, m->full_name,
                       m->n ? tbt_buf_cstr(&names) : "none");
            tbt_buf_free(&names);
            break;
        }
        size_t mark = e->path.len;
        tbt_buf_printf(&e->path, ".%s", f->json_name);
        if (f->oneof && !cJSON_IsNull(item)) {
            if (oneof_set[f->oneof]) {
                rc = efail(e, "only one field of a oneof may be set (another one already is)");
                break;
            }
            oneof_set[f->oneof] = 1;
        }
        if ((rc = enc_field(e, f, item, out, depth)))
            break;
        e->path.len = mark;
        e->path.data[mark] = 0;
    }
    free(oneof_set);
    return rc;
}

int tbt_proto_encode_json(const tbt_proto_message *m, const cJSON *json, tbt_buf *out, tbt_error *err)
{
    enc e = {TBT_BUF_INIT, err};
    int rc = enc_message(&e, m, json, out, 0, false);
    tbt_buf_free(&e.path);
    return rc;
}

/* ---- decoding --------------------------------------------------------------------- */
typedef struct occ {
    int32_t num;
    int wt;
    uint64_t v;
    const uint8_t *p;
    size_t len;
} occ;

typedef struct dec {
    tbt_error *err;
} dec;

static int dfail(dec *d, const tbt_proto_message *m, const char *what)
{
    return tbt_error_set(d->err, -EPROTO, "the reply is not a valid %s: %s", m->full_name, what);
}

static bool get_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*i >= n)
            return false;
        uint8_t b = p[(*i)++];
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
        if (shift == 63)
            return false;
    }
    return false;
}

/* The next field of p[*i..n); false at the end or on malformed input
 * (*bad set then). */
static bool next_occ(const uint8_t *p, size_t n, size_t *i, occ *o, const char **bad)
{
    *bad = NULL;
    if (*i >= n)
        return false;
    uint64_t tag;
    if (!get_varint(p, n, i, &tag)) {
        *bad = "a truncated field tag";
        return false;
    }
    o->num = (int32_t)(tag >> 3);
    o->wt = (int)(tag & 7);
    if ((tag >> 3) == 0 || (tag >> 3) > 536870911) {
        *bad = "an invalid field number";
        return false;
    }
    switch (o->wt) {
    case 0:
        if (!get_varint(p, n, i, &o->v)) {
            *bad = "a truncated varint";
            return false;
        }
        return true;
    case 1:
    case 5: {
        size_t k = o->wt == 1 ? 8 : 4;
        if (n - *i < k) {
            *bad = "a truncated fixed-width value";
            return false;
        }
        o->v = 0;
        for (size_t b = 0; b < k; b++)
            o->v |= (uint64_t)p[*i + b] << (8 * b);
        *i += k;
        return true;
    }
    case 2: {
        uint64_t len;
        if (!get_varint(p, n, i, &len) || len > n - *i) {
            *bad = "a length beyond the end of the message";
            return false;
        }
        o->p = p + *i;
        o->len = (size_t)len;
        *i += (size_t)len;
        return true;
    }
    default:
        *bad = "an unsupported wire type (groups)";
        return false;
    }
}

static int dec_message(dec *d, const tbt_proto_message *m, const uint8_t *p, size_t n, tbt_buf *out, int depth);

static void put_double(tbt_buf *out, double v, bool is_float)
{
    char tmp[64];
    if (!isfinite(v)) {
        tbt_buf_printf(out, "\"%s\"", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (is_float) {
        float f = (float)v;
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, (double)f);
            if (strtof(tmp, NULL) == f)
                break;
        }
    } else {
        tbt_format_double(v, tmp, sizeof(tmp));
    }
    tbt_buf_puts(out, tmp);
}

/* A scalar (or message) value of type t from one occurrence. */
static int dec_value(dec *d, const tbt_proto_message *owner, const proto_field *f, const occ *o, tbt_buf *out,
                     int depth)
{
    uint64_t v = o->v;
    switch (f->type) {
    case PT_INT32: tbt_buf_printf(out, "%d", (int32_t)v); break;
    case PT_SFIXED32: tbt_buf_printf(out, "%d", (int32_t)(uint32_t)v); break;
    case PT_SINT32: tbt_buf_printf(out, "%d", (int32_t)((uint32_t)(v >> 1) ^ (uint32_t)-(int32_t)(v & 1))); break;
    case PT_UINT32: case PT_FIXED32: tbt_buf_printf(out, "%u", (uint32_t)v); break;
    case PT_INT64: case PT_SFIXED64: tbt_buf_printf(out, "\"%lld\"", (long long)(int64_t)v); break;
    case PT_SINT64: tbt_buf_printf(out, "\"%lld\"", (long long)((int64_t)(v >> 1) ^ -(int64_t)(v & 1))); break;
    case PT_UINT64: case PT_FIXED64: tbt_buf_printf(out, "\"%llu\"", (unsigned long long)v); break;
    case PT_BOOL: tbt_buf_puts(out, v ? "true" : "false"); break;
    case PT_DOUBLE: {
        double x;
        memcpy(&x, &v, 8);
        put_double(out, x, false);
        break;
    }
    case PT_FLOAT: {
        uint32_t b = (uint32_t)v;
        float x;
        memcpy(&x, &b, 4);
        put_double(out, (double)x, true);
        break;
    }
    case PT_ENUM: {
        int32_t x = (int32_t)v;
        if (f->en && strcmp(f->en->full_name, "google.protobuf.NullValue") == 0) {
            tbt_buf_puts(out, "null");
            break;
        }
        for (size_t i = 0; f->en && i < f->en->n; i++)
            if (f->en->values[i].number == x) {
                tbt_buf_putc(out, '"');
                tbt_buf_puts(out, f->en->values[i].name);
                tbt_buf_putc(out, '"');
                return 0;
            }
        tbt_buf_printf(out, "%d", x);
        break;
    }
    case PT_STRING:
        if (!utf8_valid(o->p, o->len))
            return dfail(d, owner, "a string field holds invalid UTF-8");
        tbt_buf_json_str(out, (const char *)o->p, o->len);
        break;
    case PT_BYTES:
        tbt_buf_putc(out, '"');
        tbt_base64_encode(o->p, o->len, out);
        tbt_buf_putc(out, '"');
        break;
    case PT_MESSAGE:
        return dec_message(d, f->msg, o->p, o->len, out, depth + 1);
    default:
        return dfail(d, owner, "an unsupported field type");
    }
    return 0;
}

/* Default JSON of a scalar type (wrappers and map entries without a value). */
static void put_default(const proto_field *f, tbt_buf *out)
{
    switch (f->type) {
    case PT_INT64: case PT_SFIXED64: case PT_SINT64: case PT_UINT64: case PT_FIXED64: tbt_buf_puts(out, "\"0\""); break;
    case PT_BOOL: tbt_buf_puts(out, "false"); break;
    case PT_STRING: case PT_BYTES: tbt_buf_puts(out, "\"\""); break;
    case PT_MESSAGE: tbt_buf_puts(out, f->msg->wkt == WKT_VALUE ? "null" : "{}"); break;
    case PT_ENUM:
        if (f->en && f->en->n && strcmp(f->en->full_name, "google.protobuf.NullValue") != 0) {
            for (size_t i = 0; i < f->en->n; i++)
                if (f->en->values[i].number == 0) {
                    tbt_buf_printf(out, "\"%s\"", f->en->values[i].name);
                    return;
                }
        }
        tbt_buf_puts(out, f->en && strcmp(f->en->full_name, "google.protobuf.NullValue") == 0 ? "null" : "0");
        break;
    default: tbt_buf_puts(out, "0");
    }
}

static bool occ_fits(const proto_field *f, int wt)
{
    return wt == wire_type(f->type) || (f->repeated && wt == 2 && packable(f->type));
}

/* The last occurrence of field number num that has a usable wire type. */
static bool last_occ(const tbt_proto_message *m, const uint8_t *p, size_t n, int32_t num, occ *out)
{
    const proto_field *f = field_by_number(m, num);
    size_t i = 0;
    occ o;
    const char *bad;
    bool found = false;
    while (next_occ(p, n, &i, &o, &bad))
        if (o.num == num && f && occ_fits(f, o.wt)) {
            *out = o;
            found = true;
        }
    return found;
}

static int dec_map_entries(dec *d, const tbt_proto_message *m, const proto_field *f, const uint8_t *p, size_t n,
                           tbt_buf *out, int depth)
{
    const tbt_proto_message *em = f->msg;
    const proto_field *kf = &em->fields[0], *vf = &em->fields[1];
    size_t i = 0;
    occ o;
    const char *bad;
    bool first = true;
    tbt_buf_putc(out, '{');
    while (next_occ(p, n, &i, &o, &bad)) {
        if (o.num != f->number || o.wt != 2)
            continue;
        occ k, v;
        if (!first)
            tbt_buf_putc(out, ',');
        first = false;
        if (last_occ(em, o.p, o.len, 1, &k)) {
            if (kf->type == PT_STRING) {
                int rc = dec_value(d, m, kf, &k, out, depth);
                if (rc)
                    return rc;
            } else {
                tbt_buf kb = TBT_BUF_INIT;
                dec_value(d, m, kf, &k, &kb, depth);
                const char *ks = tbt_buf_cstr(&kb);
                if (ks[0] == '"')
                    tbt_buf_puts(out, ks);
                else
                    tbt_buf_printf(out, "\"%s\"", ks);
                tbt_buf_free(&kb);
            }
        } else {
            tbt_buf_puts(out, kf->type == PT_BOOL ? "\"false\"" : kf->type == PT_STRING ? "\"\"" : "\"0\"");
        }
        tbt_buf_putc(out, ':');
        if (last_occ(em, o.p, o.len, 2, &v)) {
            int rc = dec_value(d, m, vf, &v, out, depth + 1);
            if (rc)
                return rc;
        } else {
            put_default(vf, out);
        }
    }
    tbt_buf_putc(out, '}');
    return 0;
}

static int dec_repeated(dec *d, const tbt_proto_message *m, const proto_field *f, const uint8_t *p, size_t n,
                        tbt_buf *out, int depth)
{
    size_t i = 0;
    occ o;
    const char *bad;
    bool first = true;
    tbt_buf_putc(out, '[');
    while (next_occ(p, n, &i, &o, &bad)) {
        if (o.num != f->number || !occ_fits(f, o.wt))
            continue;
        if (o.wt == 2 && packable(f->type)) {
            /* packed: a run of values of the field's own wire type */
            size_t k = 0;
            int wt = wire_type(f->type);
            while (k < o.len) {
                occ e = {f->number, wt, 0, NULL, 0};
                if (wt == 0) {
                    if (!get_varint(o.p, o.len, &k, &e.v))
                        return dfail(d, m, "a truncated packed field");
                } else {
                    size_t w = wt == 1 ? 8 : 4;
                    if (o.len - k < w)
                        return dfail(d, m, "a truncated packed field");
                    for (size_t b = 0; b < w; b++)
                        e.v |= (uint64_t)o.p[k + b] << (8 * b);
                    k += w;
                }
                if (!first)
                    tbt_buf_putc(out, ',');
                first = false;
                dec_value(d, m, f, &e, out, depth);
            }
            continue;
        }
        if (!first)
            tbt_buf_putc(out, ',');
        first = false;
        int rc = dec_value(d, m, f, &o, out, depth);
        if (rc)
            return rc;
    }
    tbt_buf_putc(out, ']');
    return 0;
}

static int dec_wkt(dec *d, const tbt_proto_message *m, const uint8_t *p, size_t n, tbt_buf *out, int depth)
{
    occ a, b;
    switch (m->wkt) {
    case WKT_TIMESTAMP: {
        int64_t sec = last_occ(m, p, n, 1, &a) ? (int64_t)a.v : 0;
        int32_t ns = last_occ(m, p, n, 2, &b) ? (int32_t)b.v : 0;
        if (sec < MIN_TS_SECONDS || sec > MAX_TS_SECONDS || ns < 0 || ns > 999999999)
            return dfail(d, m, "the timestamp is out of range");
        int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
        int64_t rem = sec - days * 86400;
        int64_t y;
        unsigned mo, dd;
        civil_from_days(days, &y, &mo, &dd);
        char fr[16];
        frac9(fr, sizeof(fr), ns);
        tbt_buf_printf(out, "\"%04lld-%02u-%02uT%02d:%02d:%02d%sZ\"", (long long)y, mo, dd, (int)(rem / 3600),
                       (int)(rem % 3600 / 60), (int)(rem % 60), fr);
        return 0;
    }
    case WKT_DURATION: {
        int64_t sec = last_occ(m, p, n, 1, &a) ? (int64_t)a.v : 0;
        int32_t ns = last_occ(m, p, n, 2, &b) ? (int32_t)b.v : 0;
        if (sec < -MAX_SECONDS || sec > MAX_SECONDS || ns < -999999999 || ns > 999999999 ||
            (sec > 0 && ns < 0) || (sec < 0 && ns > 0))
            return dfail(d, m, "the duration is out of range");
        bool neg = sec < 0 || ns < 0;
        char fr[16];
        frac9(fr, sizeof(fr), ns < 0 ? -ns : ns);
        tbt_buf_printf(out, "\"%s%lld%ss\"", neg ? "-" : "", (long long)(sec < 0 ? -sec : sec), fr);
        return 0;
    }
    case WKT_WRAPPER:
        if (last_occ(m, p, n, 1, &a))
            return dec_value(d, m, &m->fields[0], &a, out, depth);
        put_default(&m->fields[0], out);
        return 0;
    case WKT_STRUCT:
        return dec_map_entries(d, m, &m->fields[0], p, n, out, depth);
    case WKT_LIST:
        return dec_repeated(d, m, &m->fields[0], p, n, out, depth);
    case WKT_VALUE: {
        size_t i = 0;
        occ o, last = {0, 0, 0, NULL, 0};
        const char *bad;
        while (next_occ(p, n, &i, &o, &bad)) {
            const proto_field *f = field_by_number(m, o.num);
            if (f && occ_fits(f, o.wt))
                last = o;
        }
        if (last.num == 0 || last.num == 1) {
            tbt_buf_puts(out, "null");
            return 0;
        }
        return dec_value(d, m, field_by_number(m, last.num), &last, out, depth);
    }
    case WKT_FIELD_MASK: {
        size_t i = 0;
        occ o;
        const char *bad;
        bool first = true;
        tbt_buf s = TBT_BUF_INIT;
        while (next_occ(p, n, &i, &o, &bad)) {
            if (o.num != 1 || o.wt != 2)
                continue;
            if (!first)
                tbt_buf_putc(&s, ',');
            first = false;
            bool up = false;
            for (size_t k = 0; k < o.len; k++) {
                char ch = (char)o.p[k];
                if (ch == '_') {
                    up = true;
                    continue;
                }
                tbt_buf_putc(&s, up && ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch);
                up = false;
            }
        }
        int rc = utf8_valid((const unsigned char *)tbt_buf_cstr(&s), s.len) ? 0
                                                                          : dfail(d, m, "invalid UTF-8 in a path");
        if (rc == 0)
            tbt_buf_json_str(out, tbt_buf_cstr(&s), s.len);
        tbt_buf_free(&s);
        return rc;
    }
    case WKT_ANY: {
        if (!last_occ(m, p, n, 1, &a)) {
            tbt_buf_puts(out, "{}");
            return 0;
        }
        if (!utf8_valid(a.p, a.len))
            return dfail(d, m, "invalid UTF-8 in type_url");
        char *url = tbt_xstrndup((const char *)a.p, a.len);
        bool has_v = last_occ(m, p, n, 2, &b);
        const tbt_proto_message *im = any_type(m->proto, url);
        tbt_buf_puts(out, "{\"@type\":");
        tbt_buf_json_str(out, url, strlen(url));
        free(url);
        int rc = 0;
        if (!im) {
            tbt_buf_puts(out, ",\"value\":\"");
            if (has_v)
                tbt_base64_encode(b.p, b.len, out);
            tbt_buf_puts(out, "\"}");
            return 0;
        }
        tbt_buf sub = TBT_BUF_INIT;
        rc = dec_message(d, im, has_v ? b.p : (const uint8_t *)"", has_v ? b.len : 0, &sub, depth + 1);
        if (rc == 0) {
            if (im->wkt != WKT_NONE && im->wkt != WKT_EMPTY) {
                tbt_buf_puts(out, ",\"value\":");
                tbt_buf_append(out, sub.data, sub.len);
            } else if (sub.len > 2) {
                tbt_buf_putc(out, ',');
                tbt_buf_append(out, sub.data + 1, sub.len - 2);
            }
            tbt_buf_putc(out, '}');
        }
        tbt_buf_free(&sub);
        return rc;
    }
    default:
        return dfail(d, m, "an unsupported well-known type");
    }
}

static int dec_message(dec *d, const tbt_proto_message *m, const uint8_t *p, size_t n, tbt_buf *out, int depth)
{
    if (depth > TBT_PROTO_MAX_DEPTH)
        return dfail(d, m, "nested too deeply");
    /* validate the whole message first: the scans below then cannot fail */
    size_t i = 0;
    occ o;
    const char *bad = NULL;
    while (next_occ(p, n, &i, &o, &bad))
        ;
    if (bad)
        return dfail(d, m, bad);
    if (m->wkt != WKT_NONE && m->wkt != WKT_EMPTY)
        return dec_wkt(d, m, p, n, out, depth);
    tbt_buf_putc(out, '{');
    bool first = true;
    for (size_t k = 0; k < m->n; k++) {
        const proto_field *f = &m->fields[k];
        bool present = false;
        i = 0;
        while (!present && next_occ(p, n, &i, &o, &bad))
            present = o.num == f->number && occ_fits(f, o.wt);
        if (!present)
            continue;
        if (!first)
            tbt_buf_putc(out, ',');
        first = false;
        tbt_buf_json_str(out, f->json_name, strlen(f->json_name));
        tbt_buf_putc(out, ':');
        int rc;
        if (f->is_map)
            rc = dec_map_entries(d, m, f, p, n, out, depth);
        else if (f->repeated)
            rc = dec_repeated(d, m, f, p, n, out, depth);
        else {
            last_occ(m, p, n, f->number, &o);
            rc = dec_value(d, m, f, &o, out, depth);
        }
        if (rc)
            return rc;
    }
    tbt_buf_putc(out, '}');
    return 0;
}

int tbt_proto_decode_json(const tbt_proto_message *m, const uint8_t *data, size_t len, tbt_buf *out, tbt_error *err)
{
    dec d = {err};
    size_t mark = out->len;
    int rc = dec_message(&d, m, data ? data : (const uint8_t *)"", len, out, 0);
    if (rc && out->data) {
        out->len = mark;
        out->data[mark] = 0;
    }
    return rc;
}

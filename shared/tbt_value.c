/* tbt_value.c - attribute values and their text forms. */
#include "tbt_value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tbt_value tbt_value_str(const char *s)
{
    tbt_value v = {.type = TBT_V_STRING};
    v.u.s.ptr = s;
    v.u.s.len = strlen(s);
    return v;
}

tbt_value tbt_value_int(int64_t i)
{
    tbt_value v = {.type = TBT_V_INT};
    v.u.i = i;
    return v;
}

tbt_value tbt_value_double(double d)
{
    tbt_value v = {.type = TBT_V_DOUBLE};
    v.u.d = d;
    return v;
}

tbt_value tbt_value_bool(bool b)
{
    tbt_value v = {.type = TBT_V_BOOL};
    v.u.b = b;
    return v;
}

const char *tbt_vtype_name(tbt_vtype t)
{
    switch (t) {
    case TBT_V_EMPTY: return "empty";
    case TBT_V_STRING: return "string";
    case TBT_V_BOOL: return "bool";
    case TBT_V_INT: return "int";
    case TBT_V_DOUBLE: return "double";
    case TBT_V_ARRAY: return "array";
    case TBT_V_KVLIST: return "kvlist";
    case TBT_V_BYTES: return "bytes";
    }
    return "?";
}

void tbt_value_to_json(const tbt_value *v, tbt_buf *out)
{
    char num[40];
    switch (v->type) {
    case TBT_V_EMPTY: tbt_buf_puts(out, "null"); break;
    case TBT_V_STRING: tbt_buf_json_str(out, v->u.s.ptr, v->u.s.len); break;
    case TBT_V_BOOL: tbt_buf_puts(out, v->u.b ? "true" : "false"); break;
    case TBT_V_INT: tbt_buf_printf(out, "%lld", (long long)v->u.i); break;
    case TBT_V_DOUBLE:
        if (!isfinite(v->u.d)) {
            tbt_format_double(v->u.d, num, sizeof(num));
            tbt_buf_json_str(out, num, strlen(num));
        } else {
            tbt_format_double(v->u.d, num, sizeof(num));
            tbt_buf_puts(out, num);
        }
        break;
    case TBT_V_ARRAY:
        tbt_buf_putc(out, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                tbt_buf_putc(out, ',');
            tbt_value_to_json(&v->u.arr.items[i], out);
        }
        tbt_buf_putc(out, ']');
        break;
    case TBT_V_KVLIST:
        tbt_buf_putc(out, '{');
        for (size_t i = 0; i < v->u.kv.n; i++) {
            if (i)
                tbt_buf_putc(out, ',');
            const char *k = v->u.kv.items[i].key ? v->u.kv.items[i].key : "";
            tbt_buf_json_str(out, k, strlen(k));
            tbt_buf_putc(out, ':');
            tbt_value_to_json(&v->u.kv.items[i].value, out);
        }
        tbt_buf_putc(out, '}');
        break;
    case TBT_V_BYTES:
        tbt_buf_putc(out, '"');
        tbt_base64_encode((const uint8_t *)v->u.s.ptr, v->u.s.len, out);
        tbt_buf_putc(out, '"');
        break;
    }
}

void tbt_value_to_text(const tbt_value *v, tbt_buf *out)
{
    char num[40];
    switch (v->type) {
    case TBT_V_EMPTY: break;
    case TBT_V_STRING: tbt_buf_append(out, v->u.s.ptr, v->u.s.len); break;
    case TBT_V_BOOL: tbt_buf_puts(out, v->u.b ? "true" : "false"); break;
    case TBT_V_INT: tbt_buf_printf(out, "%lld", (long long)v->u.i); break;
    case TBT_V_DOUBLE:
        tbt_format_double(v->u.d, num, sizeof(num));
        tbt_buf_puts(out, num);
        break;
    case TBT_V_ARRAY:
    case TBT_V_KVLIST: tbt_value_to_json(v, out); break;
    case TBT_V_BYTES: tbt_base64_encode((const uint8_t *)v->u.s.ptr, v->u.s.len, out); break;
    }
}

const char *tbt_value_text(const tbt_value *v, tbt_arena *a, size_t *len)
{
    if (v->type == TBT_V_STRING) {
        if (len)
            *len = v->u.s.len;
        return v->u.s.ptr;
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_value_to_text(v, &b);
    char *s = tbt_arena_strndup(a, tbt_buf_cstr(&b), b.len);
    if (len)
        *len = b.len;
    tbt_buf_free(&b);
    return s;
}

bool tbt_text_is_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    if (n == 0)
        return false;
    if (s[i] == '-' || s[i] == '+')
        i++;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t ed = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            ed++;
        }
        if (ed == 0)
            return false;
    }
    if (i != n)
        return false;
    if (out) {
        char tmp[128];
        if (n >= sizeof(tmp)) {
            char *h = tbt_xstrndup(s, n);
            *out = strtod(h, NULL);
            free(h);
        } else {
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            *out = strtod(tmp, NULL);
        }
    }
    return true;
}

bool tbt_value_as_number(const tbt_value *v, double *d)
{
    switch (v->type) {
    case TBT_V_INT: *d = (double)v->u.i; return true;
    case TBT_V_DOUBLE: *d = v->u.d; return true;
    case TBT_V_STRING: return tbt_text_is_number(v->u.s.ptr, v->u.s.len, d);
    default: return false;
    }
}

const tbt_value *tbt_kv_find(const tbt_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kv[i].key && strcmp(kv[i].key, key) == 0)
            return &kv[i].value;
    return NULL;
}

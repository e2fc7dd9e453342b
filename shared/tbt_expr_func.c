/* tbt_expr_func.c - generator functions (uuid(), fullName(), date(), ...)
 * and filters (json_path, regex, regex_group, get_index, length, type). */
#include "tbt_expr_private.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- randomness: xoshiro256** seeded from the kernel, per thread -------- */
static _Thread_local uint64_t rng_s[4];
static _Thread_local bool rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    if (!rng_seeded) {
        if (getrandom(rng_s, sizeof(rng_s), 0) != (ssize_t)sizeof(rng_s)) {
            uint64_t t = tbt_now_mono_ns() ^ (uint64_t)(uintptr_t)&rng_s;
            for (int i = 0; i < 4; i++)
                rng_s[i] = t = t * 6364136223846793005ull + 1442695040888963407ull;
        }
        rng_seeded = true;
    }
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static uint64_t rng_below(uint64_t n)
{
    return n ? rng_next() % n : 0;
}

static const char *const first_names[] = {"Ada",   "Grace", "Alan",  "Linus", "Barbara", "Dennis", "Margaret", "Ken",
                                          "Radia", "Tim",   "Frances", "Edsger", "Donald", "Leslie", "Sophie", "John"};
static const char *const last_names[] = {"Lovelace", "Hopper",  "Turing",   "Torvalds", "Liskov", "Ritchie",
                                         "Hamilton", "Thompson", "Perlman", "Berners-Lee", "Allen", "Dijkstra",
                                         "Knuth",    "Lamport", "Wilson",   "McCarthy"};

static xval text_val(xeval *ev, const char *s)
{
    return tbt_xval_single(ev, tbt_xitem_from_text(ev, tbt_arena_strdup(ev->arena, s), strlen(s)));
}

/* ---- Go reference-time layouts ------------------------------------------ */
static void go_format(const char *layout, const struct tm *tm, long nsec, tbt_buf *out)
{
    static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                         "July",    "August",   "September", "October", "November", "December"};
    static const char *const days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
    const char *p = layout;
    while (*p) {
#define STARTS(lit) (strncmp(p, (lit), sizeof(lit) - 1) == 0)
#define EAT(lit) (p += sizeof(lit) - 1)
        if (STARTS("January")) {
            tbt_buf_puts(out, months[tm->tm_mon]);
            EAT("January");
        } else if (STARTS("Jan")) {
            tbt_buf_printf(out, "%.3s", months[tm->tm_mon]);
            EAT("Jan");
        } else if (STARTS("Monday")) {
            tbt_buf_puts(out, days[tm->tm_wday]);
            EAT("Monday");
        } else if (STARTS("Mon")) {
            tbt_buf_printf(out, "%.3s", days[tm->tm_wday]);
            EAT("Mon");
        } else if (STARTS("MST")) {
            tbt_buf_puts(out, "UTC");
            EAT("MST");
        } else if (STARTS("2006")) {
            tbt_buf_printf(out, "%04d", tm->tm_year + 1900);
            EAT("2006");
        } else if (STARTS("_2")) {
            tbt_buf_printf(out, "%2d", tm->tm_mday);
            EAT("_2");
        } else if (STARTS("01")) {
            tbt_buf_printf(out, "%02d", tm->tm_mon + 1);
            EAT("01");
        } else if (STARTS("02")) {
            tbt_buf_printf(out, "%02d", tm->tm_mday);
            EAT("02");
        } else if (STARTS("03")) {
            tbt_buf_printf(out, "%02d", tm->tm_hour % 12 ? tm->tm_hour % 12 : 12);
            EAT("03");
        } else if (STARTS("04")) {
            tbt_buf_printf(out, "%02d", tm->tm_min);
            EAT("04");
        } else if (STARTS("05")) {
            tbt_buf_printf(out, "%02d", tm->tm_sec);
            EAT("05");
        } else if (STARTS("06")) {
            tbt_buf_printf(out, "%02d", (tm->tm_year + 1900) % 100);
            EAT("06");
        } else if (STARTS("15")) {
            tbt_buf_printf(out, "%02d", tm->tm_hour);
            EAT("15");
        } else if (STARTS("PM")) {
            tbt_buf_puts(out, tm->tm_hour >= 12 ? "PM" : "AM");
            EAT("PM");
        } else if (STARTS("pm")) {
            tbt_buf_puts(out, tm->tm_hour >= 12 ? "pm" : "am");
            EAT("pm");
        } else if (STARTS("Z07:00")) {
            tbt_buf_putc(out, 'Z');
            EAT("Z07:00");
        } else if (STARTS("Z0700")) {
            tbt_buf_putc(out, 'Z');
            EAT("Z0700");
        } else if (STARTS("-07:00")) {
            tbt_buf_puts(out, "+00:00");
            EAT("-07:00");
        } else if (STARTS("-0700")) {
            tbt_buf_puts(out, "+0000");
            EAT("-0700");
        } else if ((p[0] == '.' || p[0] == ',') && (p[1] == '0' || p[1] == '9')) {
            char d = p[1];
            int n = 0;
            while (p[1 + n] == d)
                n++;
            if (p[1 + n] >= '0' && p[1 + n] <= '9') {
                tbt_buf_putc(out, *p++);
                continue;
            }
            char frac[16];
            snprintf(frac, sizeof(frac), "%09ld", nsec);
            if (n > 9)
                n = 9;
            frac[n] = '\0';
            if (d == '9') {
                int l = n;
                while (l > 0 && frac[l - 1] == '0')
                    frac[--l] = '\0';
                if (l)
                    tbt_buf_printf(out, "%c%s", p[0], frac);
            } else {
                tbt_buf_printf(out, "%c%s", p[0], frac);
            }
            p += 1 + n;
            continue;
        } else if (p[0] == '1') {
            tbt_buf_printf(out, "%d", tm->tm_mon + 1);
            p++;
        } else if (p[0] == '2') {
            tbt_buf_printf(out, "%d", tm->tm_mday);
            p++;
        } else if (p[0] == '3') {
            tbt_buf_printf(out, "%d", tm->tm_hour % 12 ? tm->tm_hour % 12 : 12);
            p++;
        } else if (p[0] == '4') {
            tbt_buf_printf(out, "%d", tm->tm_min);
            p++;
        } else if (p[0] == '5') {
            tbt_buf_printf(out, "%d", tm->tm_sec);
            p++;
        } else {
            tbt_buf_putc(out, *p++);
        }
#undef STARTS
#undef EAT
    }
}

/* ---- functions ----------------------------------------------------------*/
typedef struct xfunc {
    const char *name;
    int min_args, max_args;
} xfunc;

static const xfunc funcs[] = {
    {"uuid", 0, 0},          {"firstName", 0, 0},     {"lastName", 0, 0}, {"fullName", 0, 0},
    {"email", 0, 0},         {"phone", 0, 0},         {"creditCard", 0, 0}, {"creditCardCvv", 0, 0},
    {"creditCardExpDate", 0, 0}, {"randomInt", 2, 2}, {"date", 0, 1},     {"dateTime", 0, 1},
};

bool tbt_xfunc_exists(const char *name, int *min_args, int *max_args)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(funcs); i++) {
        if (strcmp(funcs[i].name, name) == 0) {
            *min_args = funcs[i].min_args;
            *max_args = funcs[i].max_args;
            return true;
        }
    }
    return false;
}

static int single_int(xeval *ev, const xnode *n, const xval *v, int64_t *out)
{
    if (v->array || v->n != 1 || v->items[0].kind != XV_NUM || !v->items[0].is_int)
        return tbt_xeval_fail(ev, n, "expected a whole number");
    *out = v->items[0].ival;
    return 0;
}

int tbt_xfunc_call(xeval *ev, const xnode *call, const xval *args, size_t nargs, xval *out)
{
    const char *f = call->name;
    char buf[128];
    if (strcmp(f, "uuid") == 0) {
        uint8_t b[16];
        uint64_t r1 = rng_next(), r2 = rng_next();
        memcpy(b, &r1, 8);
        memcpy(b + 8, &r2, 8);
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        char h[33];
        tbt_hex_encode(b, 16, h);
        snprintf(buf, sizeof(buf), "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
        *out = text_val(ev, buf);
        return 0;
    }
    if (strcmp(f, "firstName") == 0) {
        *out = text_val(ev, first_names[rng_below(TBT_ARRAY_LEN(first_names))]);
        return 0;
    }
    if (strcmp(f, "lastName") == 0) {
        *out = text_val(ev, last_names[rng_below(TBT_ARRAY_LEN(last_names))]);
        return 0;
    }
    if (strcmp(f, "fullName") == 0) {
        snprintf(buf, sizeof(buf), "%s %s", first_names[rng_below(TBT_ARRAY_LEN(first_names))],
                 last_names[rng_below(TBT_ARRAY_LEN(last_names))]);
        *out = text_val(ev, buf);
        return 0;
    }
    if (strcmp(f, "email") == 0) {
        snprintf(buf, sizeof(buf), "%s.%s%u@example.com", first_names[rng_below(TBT_ARRAY_LEN(first_names))],
                 last_names[rng_below(TBT_ARRAY_LEN(last_names))], (unsigned)rng_below(1000));
        for (char *c = buf; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        *out = text_val(ev, buf);
        return 0;
    }
    if (strcmp(f, "phone") == 0) {
        snprintf(buf, sizeof(buf), "%03u%03u%04u", (unsigned)(200 + rng_below(800)), (unsigned)rng_below(1000),
                 (unsigned)rng_below(10000));
        /* a phone number is text, not a number to add up */
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = tbt_arena_strdup(ev->arena, buf);
        it.len = strlen(buf);
        *out = tbt_xval_single(ev, it);
        return 0;
    }
    if (strcmp(f, "creditCard") == 0) {
        /* a Visa-style number with a valid Luhn check digit */
        int d[16];
        d[0] = 4;
        for (int i = 1; i < 15; i++)
            d[i] = (int)rng_below(10);
        int sum = 0;
        for (int i = 14, dbl = 1; i >= 0; i--, dbl = !dbl) {
            int x = d[i] * (dbl ? 2 : 1);
            sum += x > 9 ? x - 9 : x;
        }
        d[15] = (10 - sum % 10) % 10;
        for (int i = 0; i < 16; i++)
            buf[i] = (char)('0' + d[i]);
        buf[16] = '\0';
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = tbt_arena_strdup(ev->arena, buf);
        it.len = 16;
        *out = tbt_xval_single(ev, it);
        return 0;
    }
    if (strcmp(f, "creditCardCvv") == 0) {
        snprintf(buf, sizeof(buf), "%03u", (unsigned)rng_below(1000));
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = tbt_arena_strdup(ev->arena, buf);
        it.len = 3;
        *out = tbt_xval_single(ev, it);
        return 0;
    }
    if (strcmp(f, "creditCardExpDate") == 0) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        int year = (tm.tm_year + 1900 + 1 + (int)rng_below(5)) % 100;
        snprintf(buf, sizeof(buf), "%02u/%02d", (unsigned)(1 + rng_below(12)), year);
        *out = text_val(ev, buf);
        return 0;
    }
    if (strcmp(f, "randomInt") == 0) {
        int64_t lo = 0, hi = 0;
        if (single_int(ev, call->kids[0], &args[0], &lo) || single_int(ev, call->kids[1], &args[1], &hi))
            return -EINVAL;
        if (hi < lo)
            return tbt_xeval_fail(ev, call, "randomInt(min, max) needs min <= max");
        uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
        int64_t v = (int64_t)((uint64_t)lo + (span ? rng_below(span) : rng_next()));
        *out = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, v));
        return 0;
    }
    if (strcmp(f, "date") == 0 || strcmp(f, "dateTime") == 0) {
        const char *layout = f[4] ? "2006-01-02T15:04:05Z07:00" : "2006-01-02";
        if (nargs == 1) {
            if (args[0].array || args[0].n != 1)
                return tbt_xeval_fail(ev, call->kids[0], "%s() takes a layout string", f);
            layout = args[0].items[0].s;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        tbt_buf b = TBT_BUF_INIT;
        go_format(layout, &tm, ts.tv_nsec, &b);
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = tbt_arena_strndup(ev->arena, tbt_buf_cstr(&b), b.len);
        it.len = b.len;
        tbt_buf_free(&b);
        *out = tbt_xval_single(ev, it);
        return 0;
    }
    return tbt_xeval_fail(ev, call, "unknown function '%s'", f);
}

/* ---- filters ------------------------------------------------------------*/
static const struct {
    const char *name;
    xfilter f;
    int min_args, max_args;
} filters[] = {
    {"json_path", XF_JSON_PATH, 1, 1}, {"regex", XF_REGEX, 1, 1}, {"regex_group", XF_REGEX_GROUP, 1, 1},
    {"get_index", XF_GET_INDEX, 1, 1}, {"length", XF_LENGTH, 0, 0}, {"type", XF_TYPE, 0, 0},
    {"count", XF_COUNT, 0, 0},
};

bool tbt_xfilter_lookup(const char *name, xfilter *f, int *min_args, int *max_args)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(filters); i++) {
        if (strcmp(filters[i].name, name) == 0) {
            *f = filters[i].f;
            *min_args = filters[i].min_args;
            *max_args = filters[i].max_args;
            return true;
        }
    }
    return false;
}

const char *tbt_xfilter_name(xfilter f)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(filters); i++)
        if (filters[i].f == f)
            return filters[i].name;
    return "?";
}

typedef struct {
    xeval *ev;
    xitem *items;
    size_t n, cap;
    bool groups;
} collect;

static void push_item(collect *c, xitem it)
{
    TBT_GROW(c->items, c->cap, c->n + 1);
    c->items[c->n++] = it;
}

static void on_match(void *ud, const char *s, const size_t *ov, int pairs)
{
    collect *c = ud;
    int first = c->groups ? 1 : 0;
    int last = c->groups ? pairs - 1 : 0;
    for (int g = first; g <= last; g++) {
        size_t a = ov[2 * g], b = ov[2 * g + 1];
        if (a == (size_t)-1 || b < a) {
            a = b = 0;
        }
        const char *t = tbt_arena_strndup(c->ev->arena, s + a, b - a);
        push_item(c, tbt_xitem_from_text(c->ev, t, b - a));
    }
}

static xval finish(collect *c, bool input_array)
{
    xval v;
    v.array = input_array || c->n != 1;
    v.n = c->n;
    v.items = c->n ? tbt_arena_memdup(c->ev->arena, c->items, c->n * sizeof(xitem)) : NULL;
    free(c->items);
    return v;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            k++;
    return k;
}

int tbt_xfilter_apply(xeval *ev, const xnode *pipe, const xval *in, const xval *args, size_t nargs, xval *out)
{
    TBT_UNUSED(nargs);
    collect c = {.ev = ev};
    switch (pipe->filter) {
    case XF_JSON_PATH: {
        tbt_jsonpath *jp = pipe->jp, *own = NULL;
        if (!jp) {
            size_t eo;
            tbt_error e = TBT_ERROR_INIT;
            if (tbt_jsonpath_compile(args[0].items[0].s, args[0].items[0].len, &own, &eo, &e) != 0) {
                int rc = tbt_xeval_fail(ev, pipe->kids[0], "%s", e.msg);
                tbt_error_clear(&e);
                return rc;
            }
            jp = own;
        }
        for (size_t i = 0; i < in->n; i++) {
            cJSON *doc = cJSON_ParseWithLength(in->items[i].s, in->items[i].len);
            if (!doc) {
                tbt_jsonpath_free(own);
                free(c.items);
                return tbt_xeval_fail(ev, pipe, "json_path: the input is not JSON: \"%.*s\"",
                                      (int)(in->items[i].len > 60 ? 60 : in->items[i].len), in->items[i].s);
            }
            const cJSON **m = NULL;
            size_t mn = 0, mc = 0;
            tbt_jsonpath_eval(jp, doc, &m, &mn, &mc);
            for (size_t k = 0; k < mn; k++)
                push_item(&c, tbt_xitem_from_json(ev, m[k]));
            free(m);
            cJSON_Delete(doc);
        }
        tbt_jsonpath_free(own);
        *out = finish(&c, in->array);
        return 0;
    }
    case XF_REGEX:
    case XF_REGEX_GROUP: {
        tbt_regex *re = pipe->re, *own = NULL;
        if (!re) {
            size_t eo;
            tbt_error e = TBT_ERROR_INIT;
            if (tbt_regex_compile(args[0].items[0].s, args[0].items[0].len, &own, &eo, &e) != 0) {
                int rc = tbt_xeval_fail(ev, pipe->kids[0], "%s", e.msg);
                tbt_error_clear(&e);
                return rc;
            }
            re = own;
        }
        c.groups = pipe->filter == XF_REGEX_GROUP;
        if (c.groups && tbt_regex_group_count(re) == 0) {
            tbt_regex_free(own);
            return tbt_xeval_fail(ev, pipe, "regex_group needs a pattern with at least one (group)");
        }
        for (size_t i = 0; i < in->n; i++) {
            if (tbt_regex_each(re, in->items[i].s, in->items[i].len, on_match, &c) < 0) {
                tbt_regex_free(own);
                free(c.items);
                return tbt_xeval_fail(ev, pipe, "regular expression hit its backtracking limit");
            }
        }
        tbt_regex_free(own);
        *out = finish(&c, in->array);
        return 0;
    }
    case XF_GET_INDEX: {
        xval list;
        if (!tbt_xval_as_list(ev, in, &list))
            return tbt_xeval_fail(ev, pipe, "get_index needs a list, got \"%.*s\"",
                                  (int)(in->items[0].len > 60 ? 60 : in->items[0].len), in->items[0].s);
        const xval *a = &args[0];
        int64_t ix;
        if (!a->array && a->n == 1 && a->items[0].kind == XV_STR && a->items[0].len == 4 &&
            memcmp(a->items[0].s, "last", 4) == 0) {
            if (list.n == 0)
                return tbt_xeval_fail(ev, pipe, "get_index 'last' of an empty list");
            ix = (int64_t)list.n - 1;
        } else if (!a->array && a->n == 1 && a->items[0].kind == XV_NUM && a->items[0].is_int) {
            ix = a->items[0].ival;
            if (ix < 0)
                ix += (int64_t)list.n;
        } else {
            return tbt_xeval_fail(ev, pipe->kids[0], "get_index takes a whole number or 'last'");
        }
        if (ix < 0 || (size_t)ix >= list.n)
            return tbt_xeval_fail(ev, pipe, "get_index %lld is out of range: the list has %zu item%s",
                                  (long long)a->items[0].ival, list.n, list.n == 1 ? "" : "s");
        *out = tbt_xval_single(ev, list.items[ix]);
        return 0;
    }
    case XF_COUNT:
    case XF_LENGTH: {
        xval list;
        size_t n;
        if (in->array || pipe->filter == XF_COUNT)
            n = in->n;
        else if (tbt_xval_as_list(ev, in, &list))
            n = list.n;
        else
            n = utf8_len(in->items[0].s, in->items[0].len);
        *out = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, (int64_t)n));
        return 0;
    }
    case XF_TYPE: {
        const char *t = "string";
        if (in->array)
            t = "array";
        else if (in->n == 1 && in->items[0].kind == XV_NUM)
            t = "number";
        else if (in->n == 1 && in->items[0].kind == XV_DUR)
            t = "duration";
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = t;
        it.len = strlen(t);
        *out = tbt_xval_single(ev, it);
        return 0;
    }
    }
    return tbt_xeval_fail(ev, pipe, "unknown filter");
}

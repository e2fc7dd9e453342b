/* tbt_threshold.c - threshold parser (METRIC OP VALUE) and checker. The
 * language is three tokens, so one hand-written pass does both lexing and
 * parsing; every error carries the column of the fault. */
#include "tbt_threshold.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define METRICS "pass_ratio, runs, passed, failed, errors, pN(SERIES), min(SERIES), max(SERIES), mean(SERIES)"
#define SERIES "trace.duration, verdict.latency"
#define OPS "<, <=, >, >=, ==, !="
#define PERCENTILE_HINT "pN with 0 < N <= 100, e.g. p99.9"
#define DURATION_HINT "e.g. 300ms, 1.5s, 2m, 250us"
#define RATIO_HINT "a number in [0, 1] or a percentage like 99%"
#define RATIO_HINT_FMT "a number in [0, 1] or a percentage like 99%%"
#define COUNT_HINT "a non-negative integer"
/* Numbers longer than this are refused rather than copied. */
#define MAX_NUMBER 64

typedef struct tparser {
    const char *s;
    size_t end; /* parsing stops here: trailing blanks are not part of it */
    size_t pos;
    const tbt_loc *loc;
    tbt_error *err;
} tparser;

static const struct {
    const char *name;
    tbt_threshold_metric metric;
    bool series;
} metrics[] = {
    {"pass_ratio", TBT_THRESHOLD_PASS_RATIO, false},
    {"runs", TBT_THRESHOLD_RUNS, false},
    {"passed", TBT_THRESHOLD_PASSED, false},
    {"failed", TBT_THRESHOLD_FAILED, false},
    {"errors", TBT_THRESHOLD_ERRORS, false},
    {"min", TBT_THRESHOLD_MIN, true},
    {"max", TBT_THRESHOLD_MAX, true},
    {"mean", TBT_THRESHOLD_MEAN, true},
};

static const struct {
    const char *name;
    tbt_threshold_series series;
} series_names[] = {
    {"trace.duration", TBT_SERIES_TRACE_DURATION},
    {"verdict.latency", TBT_SERIES_VERDICT_LATENCY},
};

/* Longest first, so "<=" is not read as "<". */
static const struct {
    const char *text;
    tbt_threshold_op op;
} ops[] = {
    {"<=", TBT_OP_LE}, {">=", TBT_OP_GE}, {"==", TBT_OP_EQ}, {"!=", TBT_OP_NE}, {"<", TBT_OP_LT}, {">", TBT_OP_GT},
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Non-ASCII bytes belong to words, so that "trace.durée" is reported
 * whole as an unknown name. */
static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           (unsigned char)c >= 0x80;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool word_is(const char *w, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(w, name, n) == 0;
}

/* 1-based column of byte off, in characters (UTF-8 continuation bytes do
 * not count). */
static int column_of(const char *s, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

/* The text as quoted in messages and shown above the caret: blanks become
 * spaces so the caret lines up; over-long text is cut at a character
 * boundary. */
static char *shown_text(const char *s, size_t len, bool cut)
{
    if (cut) {
        len = 40;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    char *t = tbt_xasprintf("%.*s%s", (int)len, s, cut ? "..." : "");
    for (char *c = t; *c; c++)
        if (is_blank(*c))
            *c = ' ';
    return t;
}

static int tfail(tparser *p, size_t off, const char *fmt, ...) TBT_PRINTF(3, 4);
static int tfail(tparser *p, size_t off, const char *fmt, ...)
{
    if (!p->err)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    char *what = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    size_t len = strlen(p->s);
    bool cut = len > TBT_THRESHOLD_MAX_TEXT;
    char *shown = shown_text(p->s, len, cut);
    int col = column_of(p->s, off);
    tbt_error_set(p->err, -EINVAL, "threshold '%s', column %d: %s", shown, col, what);
    free(what);
    if (p->loc) {
        tbt_error_at(p->err, p->loc, p->s, off);
        free(shown);
    } else if (cut) {
        /* No caret line for text we refused to read. */
        free(shown);
        p->err->col = col;
    } else {
        p->err->col = col;
        p->err->source_line = shown;
        p->err->caret = col - 1;
    }
    return -EINVAL;
}

static void skip_blank(tparser *p)
{
    while (p->pos < p->end && is_blank(p->s[p->pos]))
        p->pos++;
}

/* Describes what is at p->pos for "found ..." messages: the next blank
 * delimited token (at most 20 bytes, whole characters), or the end. */
static const char *found(const tparser *p, char *buf, size_t cap)
{
    if (p->pos >= p->end)
        return "the end of the threshold";
    size_t e = p->pos;
    while (e < p->end && e - p->pos < 20 && !is_blank(p->s[e]))
        e++;
    /* Do not split a UTF-8 sequence at the 20-byte cut. */
    while (e < p->end && e > p->pos + 1 && ((unsigned char)p->s[e] & 0xC0) == 0x80)
        e--;
    snprintf(buf, cap, "'%.*s'", (int)(e - p->pos), p->s + p->pos);
    return buf;
}

static size_t read_word(tparser *p)
{
    size_t st = p->pos;
    while (p->pos < p->end && is_word(p->s[p->pos]))
        p->pos++;
    return p->pos - st;
}

/* digits ['.' digits] with at least one digit, all of s[0..n). */
static bool is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    while (i < n && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    return i == n && digits > 0;
}

static int parse_percentile(tparser *p, const char *w, size_t n, double *out)
{
    /* w is "p" followed by a digit */
    if (n - 1 > MAX_NUMBER || !is_decimal(w + 1, n - 1))
        return tfail(p, (size_t)(w - p->s), "invalid percentile '%.*s' (" PERCENTILE_HINT ")", (int)n, w);
    char num[MAX_NUMBER + 1];
    memcpy(num, w + 1, n - 1);
    num[n - 1] = '\0';
    double v = strtod(num, NULL);
    if (!(v > 0 && v <= 100))
        return tfail(p, (size_t)(w - p->s), "percentile '%.*s' is out of range (" PERCENTILE_HINT ")", (int)n, w);
    *out = v;
    return 0;
}

static int parse_metric(tparser *p, tbt_threshold *t)
{
    char fb[48];
    skip_blank(p);
    size_t wst = p->pos;
    size_t wn = read_word(p);
    const char *w = p->s + wst;
    if (wn == 0)
        return tfail(p, wst, "expected a metric (" METRICS "), found %s", found(p, fb, sizeof(fb)));
    bool series = false, known = false;
    if (wn >= 2 && w[0] == 'p' && is_digit(w[1])) {
        int rc = parse_percentile(p, w, wn, &t->percentile);
        if (rc)
            return rc;
        t->metric = TBT_THRESHOLD_PERCENTILE;
        series = known = true;
    }
    for (size_t i = 0; !known && i < TBT_ARRAY_LEN(metrics); i++) {
        if (word_is(w, wn, metrics[i].name)) {
            t->metric = metrics[i].metric;
            series = metrics[i].series;
            known = true;
        }
    }
    if (!known)
        return tfail(p, wst, "unknown metric '%.*s' (" METRICS ")", (int)wn, w);
    if (!series)
        return 0;

    skip_blank(p);
    if (p->pos >= p->end || p->s[p->pos] != '(')
        return tfail(p, p->pos, "expected '(' after '%.*s', found %s", (int)wn, w, found(p, fb, sizeof(fb)));
    p->pos++;
    skip_blank(p);
    size_t sst = p->pos;
    size_t sn = read_word(p);
    const char *sw = p->s + sst;
    if (sn == 0)
        return tfail(p, sst, "expected a series (" SERIES "), found %s", found(p, fb, sizeof(fb)));
    for (size_t i = 0; i < TBT_ARRAY_LEN(series_names); i++)
        if (word_is(sw, sn, series_names[i].name))
            t->series = series_names[i].series;
    if (t->series == TBT_SERIES_NONE)
        return tfail(p, sst, "unknown series '%.*s' (" SERIES ")", (int)sn, sw);
    skip_blank(p);
    if (p->pos >= p->end || p->s[p->pos] != ')')
        return tfail(p, p->pos, "expected ')' after '%.*s', found %s", (int)sn, sw, found(p, fb, sizeof(fb)));
    p->pos++;
    return 0;
}

static int parse_op(tparser *p, tbt_threshold *t)
{
    char fb[48];
    skip_blank(p);
    for (size_t i = 0; i < TBT_ARRAY_LEN(ops); i++) {
        size_t n = strlen(ops[i].text);
        if (p->end - p->pos >= n && memcmp(p->s + p->pos, ops[i].text, n) == 0) {
            t->op = ops[i].op;
            p->pos += n;
            return 0;
        }
    }
    return tfail(p, p->pos, "expected a comparison (" OPS "), found %s", found(p, fb, sizeof(fb)));
}

/* Nothing but blanks may follow the value. */
static int expect_end(tparser *p)
{
    char fb[48];
    skip_blank(p);
    if (p->pos < p->end)
        return tfail(p, p->pos, "unexpected %s after the value", found(p, fb, sizeof(fb)));
    return 0;
}

static size_t token_end(const tparser *p)
{
    size_t e = p->pos;
    while (e < p->end && !is_blank(p->s[e]))
        e++;
    return e;
}

static int parse_duration_value(tparser *p, tbt_threshold *t)
{
    size_t st = p->pos;
    const char *v = p->s + st;
    size_t n = p->end - st;
    int64_t ns;
    /* The duration syntax allows blanks ("1h 30m"), so the whole rest is
     * tried first, then its first token to point at trailing junk. */
    if (tbt_parse_duration(v, n, &ns) != 0) {
        size_t te = token_end(p);
        if (te < p->end && tbt_parse_duration(v, te - st, &ns) == 0) {
            p->pos = te;
            return expect_end(p);
        }
        if (is_decimal(v, n))
            return tfail(p, st, "duration '%.*s' needs a unit (ns, us, ms, s, m, h)", (int)n, v);
        return tfail(p, st, "invalid duration '%.*s' (" DURATION_HINT ")", (int)n, v);
    }
    if (ns < 0)
        return tfail(p, st, "duration '%.*s' is negative", (int)n, v);
    t->value.ns = (uint64_t)ns;
    p->pos = p->end;
    return 0;
}

static int parse_ratio_value(tparser *p, tbt_threshold *t)
{
    size_t st = p->pos, te = token_end(p);
    const char *v = p->s + st;
    size_t n = te - st;
    bool pct = n > 0 && v[n - 1] == '%';
    size_t dn = pct ? n - 1 : n;
    if (dn > MAX_NUMBER || !is_decimal(v, dn))
        return tfail(p, st, "invalid ratio '%.*s' (" RATIO_HINT_FMT ")", (int)n, v);
    /* A percentage is read by moving the decimal point two places, so that
     * 99.9% is the same double as 0.999 (and as 999 passed of 1000). */
    char num[MAX_NUMBER + 8];
    if (pct) {
        size_t ip = 0;
        while (ip < dn && is_digit(v[ip]))
            ip++;
        char digits[MAX_NUMBER + 1];
        size_t nd = 0;
        for (size_t i = 0; i < dn; i++)
            if (is_digit(v[i]))
                digits[nd++] = v[i];
        if (ip <= 2)
            snprintf(num, sizeof(num), "0.%.*s%.*s", (int)(2 - ip), "00", (int)nd, digits);
        else
            snprintf(num, sizeof(num), "%.*s.%.*s", (int)(ip - 2), digits, (int)(nd - (ip - 2)), digits + ip - 2);
    } else {
        memcpy(num, v, dn);
        num[dn] = '\0';
    }
    double r = strtod(num, NULL);
    if (r > 1) {
        if (pct)
            return tfail(p, st, "percentage %.*s is out of range (0%% to 100%%)", (int)n, v);
        return tfail(p, st, "ratio %.*s is out of range (" RATIO_HINT_FMT ")", (int)n, v);
    }
    t->value.ratio = r;
    p->pos = te;
    return expect_end(p);
}

static int parse_count_value(tparser *p, tbt_threshold *t)
{
    size_t st = p->pos, te = token_end(p);
    const char *v = p->s + st;
    size_t n = te - st;
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(v[i]))
            return tfail(p, st, "invalid count '%.*s' (" COUNT_HINT ")", (int)n, v);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(v[i] - '0');
        if (c > (UINT64_MAX - d) / 10)
            return tfail(p, st, "count %.*s is too large (at most 18446744073709551615)", (int)n, v);
        c = c * 10 + d;
    }
    t->value.count = c;
    p->pos = te;
    return expect_end(p);
}

static int parse_value(tparser *p, tbt_threshold *t)
{
    skip_blank(p);
    const char *what;
    switch (t->metric) {
    case TBT_THRESHOLD_PASS_RATIO:
        what = "a ratio (" RATIO_HINT ")";
        break;
    case TBT_THRESHOLD_RUNS:
    case TBT_THRESHOLD_PASSED:
    case TBT_THRESHOLD_FAILED:
    case TBT_THRESHOLD_ERRORS:
        what = "a count (" COUNT_HINT ")";
        break;
    default:
        what = "a duration (" DURATION_HINT ")";
        break;
    }
    if (p->pos >= p->end)
        return tfail(p, p->pos, "expected %s, found the end of the threshold", what);
    if (t->series != TBT_SERIES_NONE)
        return parse_duration_value(p, t);
    if (t->metric == TBT_THRESHOLD_PASS_RATIO)
        return parse_ratio_value(p, t);
    return parse_count_value(p, t);
}

int tbt_threshold_parse_at(const char *text, const tbt_loc *loc, tbt_threshold *out, tbt_error *err)
{
    size_t len = strlen(text);
    tparser p = {.s = text, .end = len, .pos = 0, .loc = loc, .err = err};
    if (len > TBT_THRESHOLD_MAX_TEXT)
        return tfail(&p, TBT_THRESHOLD_MAX_TEXT, "longer than the %d-byte limit", TBT_THRESHOLD_MAX_TEXT);
    while (p.end > 0 && is_blank(text[p.end - 1]))
        p.end--;
    tbt_threshold t;
    memset(&t, 0, sizeof(t));
    int rc = parse_metric(&p, &t);
    if (rc == 0)
        rc = parse_op(&p, &t);
    if (rc == 0)
        rc = parse_value(&p, &t);
    if (rc != 0)
        return rc;
    t.text = tbt_xstrdup(text);
    *out = t;
    return 0;
}

int tbt_threshold_parse(const char *text, tbt_threshold *out, tbt_error *err)
{
    return tbt_threshold_parse_at(text, NULL, out, err);
}

void tbt_threshold_clear(tbt_threshold *t)
{
    if (!t)
        return;
    free(t->text);
    memset(t, 0, sizeof(*t));
}

static bool compare_u64(uint64_t a, tbt_threshold_op op, uint64_t b)
{
    switch (op) {
    case TBT_OP_LT: return a < b;
    case TBT_OP_LE: return a <= b;
    case TBT_OP_GT: return a > b;
    case TBT_OP_GE: return a >= b;
    case TBT_OP_EQ: return a == b;
    case TBT_OP_NE: return a != b;
    }
    return false;
}

static bool compare_double(double a, tbt_threshold_op op, double b)
{
    switch (op) {
    case TBT_OP_LT: return a < b;
    case TBT_OP_LE: return a <= b;
    case TBT_OP_GT: return a > b;
    case TBT_OP_GE: return a >= b;
    case TBT_OP_EQ: return a == b;
    case TBT_OP_NE: return a != b;
    }
    return false;
}

bool tbt_threshold_check(const tbt_threshold *t, const tbt_campaign_stats *s, double *observed)
{
    double obs_dummy;
    if (!observed)
        observed = &obs_dummy;
    uint64_t count;
    switch (t->metric) {
    case TBT_THRESHOLD_PASS_RATIO: {
        double r = s->runs ? (double)s->passed / (double)s->runs : 0.0;
        *observed = r;
        return compare_double(r, t->op, t->value.ratio);
    }
    case TBT_THRESHOLD_RUNS: count = s->runs; break;
    case TBT_THRESHOLD_PASSED: count = s->passed; break;
    case TBT_THRESHOLD_FAILED: count = s->failed; break;
    case TBT_THRESHOLD_ERRORS: count = s->errors; break;
    default: {
        const tbt_hist *h = t->series == TBT_SERIES_VERDICT_LATENCY ? &s->verdict_latency : &s->trace_duration;
        if (h->total == 0) {
            *observed = NAN;
            return false;
        }
        if (t->metric == TBT_THRESHOLD_MEAN) {
            double m = tbt_hist_mean(h);
            *observed = m;
            return compare_double(m, t->op, (double)t->value.ns);
        }
        uint64_t v = t->metric == TBT_THRESHOLD_MIN   ? h->min
                     : t->metric == TBT_THRESHOLD_MAX ? h->max
                                                      : tbt_hist_percentile(h, t->percentile);
        *observed = (double)v;
        return compare_u64(v, t->op, t->value.ns);
    }
    }
    *observed = (double)count;
    return compare_u64(count, t->op, t->value.count);
}

void tbt_threshold_format_observed(const tbt_threshold *t, double observed, tbt_buf *out)
{
    char b[48];
    if (isnan(observed)) {
        tbt_buf_puts(out, "no samples");
        return;
    }
    switch (t->metric) {
    case TBT_THRESHOLD_PASS_RATIO:
        tbt_format_double(observed, b, sizeof(b));
        tbt_buf_puts(out, b);
        return;
    case TBT_THRESHOLD_RUNS:
    case TBT_THRESHOLD_PASSED:
    case TBT_THRESHOLD_FAILED:
    case TBT_THRESHOLD_ERRORS:
        tbt_buf_printf(out, "%.0f", observed);
        return;
    default:
        break;
    }
    /* tbt_format_duration takes int64_t: beyond ~292 years, whole seconds. */
    if (observed >= 9.2e18 || observed <= -9.2e18) {
        tbt_buf_printf(out, "%.0fs", observed / 1e9);
        return;
    }
    tbt_format_duration((int64_t)llround(observed), b, sizeof(b));
    tbt_buf_puts(out, b);
}

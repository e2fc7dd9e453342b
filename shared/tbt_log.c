/* tbt_log.c - log lines in text, logfmt or JSON; redaction of secrets. */
#include "tbt_log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "logfmt", "json"};

int tbt_log_parse_format(const char *s, tbt_log_format *out)
{
    for (size_t i = 0; s && i < TBT_ARRAY_LEN(format_names); i++)
        if (strcmp(s, format_names[i]) == 0) {
            *out = (tbt_log_format)i;
            return 0;
        }
    return -EINVAL;
}

int tbt_log_parse_level(const char *s, tbt_log_level *out)
{
    for (size_t i = 0; s && i < TBT_ARRAY_LEN(level_names); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (tbt_log_level)i;
            return 0;
        }
    if (s && strcmp(s, "warning") == 0) {
        *out = TBT_LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

const char *tbt_log_level_name(tbt_log_level lv)
{
    return (unsigned)lv < TBT_ARRAY_LEN(level_names) ? level_names[lv] : "info";
}

/* Words that make the value after them a secret: a setting or header
 * whose name contains one of them ("sasl.password", "ssl.key.password",
 * "X-Api-Key", "Authorization", "token"). */
static const char *const secret_words[] = {"password", "passwd", "secret", "token", "authorization", "api-key",
                                           "apikey",   "api_key", "credential"};

static bool secret_name(const char *name, size_t n)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(secret_words); i++) {
        size_t w = strlen(secret_words[i]);
        for (size_t k = 0; k + w <= n; k++)
            if (strncasecmp(name + k, secret_words[i], w) == 0)
                return true;
    }
    return false;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

void tbt_log_redact(const char *s, tbt_buf *out)
{
    const char *p = s;
    while (*p) {
        /* scheme://user:password@host → scheme://user:****@host */
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            const char *u = p + 3, *end = u;
            while (*end && *end != '/' && *end != '@' && !isspace((unsigned char)*end))
                end++;
            if (*end == '@') {
                const char *colon = memchr(u, ':', (size_t)(end - u));
                if (colon) {
                    tbt_buf_append(out, p, (size_t)(colon + 1 - p));
                    tbt_buf_puts(out, "****");
                    p = end;
                    continue;
                }
            }
        }
        /* NAME=value, NAME: value, NAME value for secret-looking names */
        if (name_char(*p) && (p == s || !name_char(p[-1]))) {
            const char *e = p;
            while (name_char(*e))
                e++;
            const char *v = e;
            bool sep = false;
            if (*v == '"' && p > s && p[-1] == '"')
                v++; /* a JSON key: "token": "..." */
            if (*v == '=' || *v == ':') {
                v++;
                sep = true;
            }
            while (*v == ' ')
                v++;
            if (sep && secret_name(p, (size_t)(e - p)) && *v) {
                tbt_buf_append(out, p, (size_t)(v - p));
                /* keep an auth scheme word ("Bearer", "Basic") readable */
                const char *w = v;
                while (isalpha((unsigned char)*w))
                    w++;
                if (*w == ' ' && w > v && (strncasecmp(v, "bearer", 6) == 0 || strncasecmp(v, "basic", 5) == 0)) {
                    tbt_buf_append(out, v, (size_t)(w + 1 - v));
                    v = w + 1;
                }
                if (*v == '"')
                    tbt_buf_putc(out, *v++);
                tbt_buf_puts(out, "****");
                while (*v && !isspace((unsigned char)*v) && *v != ',' && *v != ';' && *v != '"' && *v != '\'')
                    v++;
                p = v;
                continue;
            }
            tbt_buf_append(out, p, (size_t)(e - p));
            p = e;
            continue;
        }
        tbt_buf_putc(out, *p++);
    }
}

/* logfmt value: bare when it needs no quoting, else quoted with \" \\ \n */
static void logfmt_value(tbt_buf *b, const char *v)
{
    bool bare = *v != '\0';
    for (const char *p = v; *p && bare; p++)
        bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\';
    if (bare) {
        tbt_buf_puts(b, v);
        return;
    }
    tbt_buf_putc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            tbt_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            tbt_buf_puts(b, "\\n");
        else if ((unsigned char)*p < ' ')
            tbt_buf_printf(b, "\\x%02x", (unsigned char)*p);
        else
            tbt_buf_putc(b, *p);
    }
    tbt_buf_putc(b, '"');
}

void tbt_log_write(const tbt_logger *l, tbt_log_level lv, const char *msg)
{
    if (!tbt_log_enabled(l, lv))
        return;
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
    tbt_buf red = TBT_BUF_INIT, b = TBT_BUF_INIT;
    tbt_log_redact(msg, &red);
    const char *m = tbt_buf_cstr(&red), *lvn = tbt_log_level_name(lv);
    if (l->format == TBT_LOG_JSON) {
        tbt_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, lvn);
        for (size_t i = 0; i < l->n_fields; i++) {
            tbt_buf_putc(&b, ',');
            tbt_buf_json_str(&b, l->keys[i], strlen(l->keys[i]));
            tbt_buf_putc(&b, ':');
            tbt_buf_json_str(&b, l->values[i] ? l->values[i] : "", l->values[i] ? strlen(l->values[i]) : 0);
        }
        tbt_buf_puts(&b, ",\"msg\":");
        tbt_buf_json_str(&b, m, strlen(m));
        tbt_buf_puts(&b, "}\n");
    } else if (l->format == TBT_LOG_LOGFMT) {
        tbt_buf_printf(&b, "ts=%s level=%s", ts, lvn);
        for (size_t i = 0; i < l->n_fields; i++) {
            tbt_buf_printf(&b, " %s=", l->keys[i]);
            logfmt_value(&b, l->values[i] ? l->values[i] : "");
        }
        tbt_buf_puts(&b, " msg=");
        logfmt_value(&b, m);
        tbt_buf_putc(&b, '\n');
    } else {
        tbt_buf_printf(&b, "%s %s", ts, l->prefix ? l->prefix : "tbt");
        if (lv <= TBT_LOG_WARN)
            tbt_buf_puts(&b, lv == TBT_LOG_ERROR ? " error" : " warning");
        tbt_buf_printf(&b, ": %s\n", m);
    }
    FILE *f = l->f ? l->f : stderr;
    fwrite(b.data, 1, b.len, f);
    fflush(f);
    tbt_buf_free(&b);
    tbt_buf_free(&red);
}

void tbt_vlogf(const tbt_logger *l, tbt_log_level lv, const char *fmt, va_list ap)
{
    if (!tbt_log_enabled(l, lv))
        return;
    char *msg = tbt_xvasprintf(fmt, ap);
    tbt_log_write(l, lv, msg);
    free(msg);
}

void tbt_logf(const tbt_logger *l, tbt_log_level lv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tbt_vlogf(l, lv, fmt, ap);
    va_end(ap);
}

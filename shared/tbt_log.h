/*
 * tbt_log.h - the log lines of long-running processes (agents, the
 * coordinator): text for people, logfmt or JSON lines for log pipelines,
 * levels, and no secrets.
 *
 * Every line carries a timestamp (UTC, milliseconds), the level, the
 * logger's fixed fields (agent id, environment, run id...) and the message.
 * Messages are redacted before they are written: passwords in URLs
 * (scheme://user:PASSWORD@host) and values of secret-looking settings
 * (sasl.password=..., token: ..., Authorization: ...) become "****".
 * Callers still never put credentials in messages on purpose; redaction is
 * the second line.
 *
 * Thread-safety: tbt_log_write may be called from any thread; each line is
 * written with one fwrite, so lines from threads never interleave.
 */
#ifndef TBT_LOG_H
#define TBT_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "tbt_common.h"

typedef enum tbt_log_format { TBT_LOG_TEXT, TBT_LOG_LOGFMT, TBT_LOG_JSON } tbt_log_format;
typedef enum tbt_log_level { TBT_LOG_ERROR, TBT_LOG_WARN, TBT_LOG_INFO, TBT_LOG_DEBUG } tbt_log_level;

#define TBT_LOG_MAX_FIELDS 4

typedef struct tbt_logger {
    FILE *f;               /* NULL: stderr */
    tbt_log_format format;
    tbt_log_level level;   /* lines above it are dropped */
    const char *prefix;    /* text format: after the timestamp, e.g. "tbt agent a1 [eu]" */
    const char *keys[TBT_LOG_MAX_FIELDS];   /* structured formats: fixed fields */
    const char *values[TBT_LOG_MAX_FIELDS];
    size_t n_fields;
} tbt_logger;

/* "text", "logfmt", "json" / "error", "warn", "info", "debug": 0, or
 * -EINVAL for anything else. */
int tbt_log_parse_format(const char *s, tbt_log_format *out);
int tbt_log_parse_level(const char *s, tbt_log_level *out);
const char *tbt_log_level_name(tbt_log_level lv);

static inline bool tbt_log_enabled(const tbt_logger *l, tbt_log_level lv)
{
    return lv <= l->level;
}

/* Write one line (msg redacted, one trailing newline). */
void tbt_log_write(const tbt_logger *l, tbt_log_level lv, const char *msg);
void tbt_logf(const tbt_logger *l, tbt_log_level lv, const char *fmt, ...) TBT_PRINTF(3, 4);
void tbt_vlogf(const tbt_logger *l, tbt_log_level lv, const char *fmt, va_list ap);

/* The redaction tbt_log_write applies, appended to out. */
void tbt_log_redact(const char *s, tbt_buf *out);

#endif

/*
 * tbt_value.h - typed OpenTelemetry attribute values (AnyValue).
 *
 * Values live in an arena (tbt_trace's or a result's); they are never freed
 * individually.
 */
#ifndef TBT_VALUE_H
#define TBT_VALUE_H

#include "tbt_common.h"

typedef enum tbt_vtype {
    TBT_V_EMPTY = 0, /* AnyValue with no value set */
    TBT_V_STRING,
    TBT_V_BOOL,
    TBT_V_INT,
    TBT_V_DOUBLE,
    TBT_V_ARRAY,
    TBT_V_KVLIST,
    TBT_V_BYTES,
} tbt_vtype;

typedef struct tbt_kv tbt_kv;

typedef struct tbt_value {
    tbt_vtype type;
    union {
        struct {
            const char *ptr; /* NUL-terminated; len excludes the NUL */
            size_t len;
        } s; /* STRING and BYTES (bytes are raw, not NUL-safe) */
        bool b;
        int64_t i;
        double d;
        struct {
            struct tbt_value *items;
            size_t n;
        } arr;
        struct {
            tbt_kv *items;
            size_t n;
        } kv;
    } u;
} tbt_value;

struct tbt_kv {
    const char *key;
    tbt_value value;
};

/* Value constructors (no allocation for scalars; strings borrowed). */
tbt_value tbt_value_str(const char *s);
tbt_value tbt_value_int(int64_t i);
tbt_value tbt_value_double(double d);
tbt_value tbt_value_bool(bool b);

/* The value as text, as assertions and selectors see it:
 * string verbatim; bool true/false; int decimal; double shortest
 * round-trip ("99.99", "1.5", "3"); array and kvlist as JSON; bytes as
 * base64. Appends to out. */
void tbt_value_to_text(const tbt_value *v, tbt_buf *out);
/* The value as JSON (strings quoted). */
void tbt_value_to_json(const tbt_value *v, tbt_buf *out);
/* Text form allocated in arena. For strings returns the stored pointer. */
const char *tbt_value_text(const tbt_value *v, tbt_arena *a, size_t *len);
/* Numeric view: true for INT and DOUBLE, and for strings that are a
 * complete decimal number. */
bool tbt_value_as_number(const tbt_value *v, double *d);
const char *tbt_vtype_name(tbt_vtype t);

/* Find key in kv[0..n). Returns NULL when absent. */
const tbt_value *tbt_kv_find(const tbt_kv *kv, size_t n, const char *key);

/* Parse text as a complete number (JSON-ish: optional sign, digits,
 * fraction, exponent; surrounding blanks not allowed). */
bool tbt_text_is_number(const char *s, size_t n, double *out);

#endif

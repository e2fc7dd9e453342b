/* tbt_proto.c - the .proto reader: a lexer with byte offsets, a recursive
 * descent parser for the proto3 subset service definitions use (proto2
 * labels tolerated), imports (the well-known types built in), and type
 * resolution by protobuf's scoping rules. The JSON codec is in
 * tbt_proto_json.c. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_proto_private.h"

/* ---- the well-known types, built in ------------------------------------ */
static const struct {
    const char *path, *text;
} builtin[] = {
    {"google/protobuf/timestamp.proto",
     "syntax = \"proto3\"; package google.protobuf;\n"
     "message Timestamp { int64 seconds = 1; int32 nanos = 2; }\n"},
    {"google/protobuf/duration.proto",
     "syntax = \"proto3\"; package google.protobuf;\n"
     "message Duration { int64 seconds = 1; int32 nanos = 2; }\n"},
    {"google/protobuf/wrappers.proto",
     "syntax = \"proto3\"; package google.protobuf;\n"
     "message DoubleValue { double value = 1; }\nmessage FloatValue { float value = 1; }\n"
     "message Int64Value { int64 value = 1; }\nmessage UInt64Value { uint64 value = 1; }\n"
     "message Int32Value { int32 value = 1; }\nmessage UInt32Value { uint32 value = 1; }\n"
     "message BoolValue { bool value = 1; }\nmessage StringValue { string value = 1; }\n"
     "message BytesValue { bytes value = 1; }\n"},
    {"google/protobuf/struct.proto",
     "syntax = \"proto3\"; package google.protobuf;\n"
     "message Struct { map<string, Value> fields = 1; }\n"
     "message Value { oneof kind { NullValue null_value = 1; double number_value = 2; string string_value = 3;\n"
     "  bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; } }\n"
     "enum NullValue { NULL_VALUE = 0; }\n"
     "message ListValue { repeated Value values = 1; }\n"},
    {"google/protobuf/empty.proto", "syntax = \"proto3\"; package google.protobuf;\nmessage Empty {}\n"},
    {"google/protobuf/any.proto",
     "syntax = \"proto3\"; package google.protobuf;\nmessage Any { string type_url = 1; bytes value = 2; }\n"},
    {"google/protobuf/field_mask.proto",
     "syntax = \"proto3\"; package google.protobuf;\nmessage FieldMask { repeated string paths = 1; }\n"},
};

static const struct {
    const char *name;
    proto_wkt kind;
} wkt_names[] = {
    {"google.protobuf.Timestamp", WKT_TIMESTAMP}, {"google.protobuf.Duration", WKT_DURATION},
    {"google.protobuf.DoubleValue", WKT_WRAPPER}, {"google.protobuf.FloatValue", WKT_WRAPPER},
    {"google.protobuf.Int64Value", WKT_WRAPPER},  {"google.protobuf.UInt64Value", WKT_WRAPPER},
    {"google.protobuf.Int32Value", WKT_WRAPPER},  {"google.protobuf.UInt32Value", WKT_WRAPPER},
    {"google.protobuf.BoolValue", WKT_WRAPPER},   {"google.protobuf.StringValue", WKT_WRAPPER},
    {"google.protobuf.BytesValue", WKT_WRAPPER},  {"google.protobuf.Struct", WKT_STRUCT},
    {"google.protobuf.Value", WKT_VALUE},         {"google.protobuf.ListValue", WKT_LIST},
    {"google.protobuf.Any", WKT_ANY},             {"google.protobuf.FieldMask", WKT_FIELD_MASK},
    {"google.protobuf.Empty", WKT_EMPTY},
};

static const struct {
    const char *name;
    proto_type t;
} scalar_names[] = {
    {"double", PT_DOUBLE},     {"float", PT_FLOAT},       {"int32", PT_INT32},       {"int64", PT_INT64},
    {"uint32", PT_UINT32},     {"uint64", PT_UINT64},     {"sint32", PT_SINT32},     {"sint64", PT_SINT64},
    {"fixed32", PT_FIXED32},   {"fixed64", PT_FIXED64},   {"sfixed32", PT_SFIXED32}, {"sfixed64", PT_SFIXED64},
    {"bool", PT_BOOL},         {"string", PT_STRING},     {"bytes", PT_BYTES},
};

/* ---- growing arrays in the arena ---------------------------------------- */
static void *agrow(tbt_arena *a, void *items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return items;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *n = tbt_arena_calloc(a, nc, size);
    if (items && *cap)
        memcpy(n, items, *cap * size);
    *cap = nc;
    return n;
}

/* ---- lexer ---------------------------------------------------------------- */
typedef enum { TK_EOF, TK_IDENT, TK_INT, TK_FLOAT, TK_STR, TK_SYM } tkind;

typedef struct token {
    tkind k;
    size_t off, len;
} token;

typedef struct pctx {
    tbt_proto *p;
    proto_file *f;
    const char *text;
    size_t len, pos;
    token tok;
    const char *package; /* "" or "a.b" */
    int depth;
    tbt_error *err;
} pctx;

static int perr(pctx *c, size_t off, const char *fmt, ...) TBT_PRINTF(3, 4);

static int file_err(tbt_error *err, const proto_file *f, size_t off, const char *msg)
{
    tbt_error_set(err, -EINVAL, "%s", msg);
    if (f->loc) {
        tbt_error_at(err, f->loc, f->text, off);
    } else {
        tbt_error_at(err, NULL, f->text, off);
        free(err->file);
        err->file = tbt_xstrdup(f->name);
    }
    return -EINVAL;
}

static int perr(pctx *c, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    file_err(c->err, c->f, off, m);
    free(m);
    return -EINVAL;
}

static bool is_id0(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int lex(pctx *c)
{
    const char *s = c->text;
    size_t i = c->pos;
    for (;;) {
        while (i < c->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' ||
                              s[i] == '\v'))
            i++;
        if (i + 1 < c->len && s[i] == '/' && s[i + 1] == '/') {
            while (i < c->len && s[i] != '\n')
                i++;
            continue;
        }
        if (i + 1 < c->len && s[i] == '/' && s[i + 1] == '*') {
            size_t start = i;
            i += 2;
            while (i + 1 < c->len && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            if (i + 1 >= c->len)
                return perr(c, start, "unterminated comment");
            i += 2;
            continue;
        }
        break;
    }
    c->tok.off = i;
    if (i >= c->len) {
        c->tok.k = TK_EOF;
        c->tok.len = 0;
        c->pos = i;
        return 0;
    }
    char ch = s[i];
    size_t st = i;
    if (is_id0(ch) || (ch == '.' && i + 1 < c->len && is_id0(s[i + 1]))) {
        i++;
        while (i < c->len && (is_id0(s[i]) || is_digit(s[i]) || s[i] == '.'))
            i++;
        c->tok.k = TK_IDENT;
    } else if (is_digit(ch) || (ch == '.' && i + 1 < c->len && is_digit(s[i + 1]))) {
        bool fl = false;
        while (i < c->len && (is_digit(s[i]) || is_id0(s[i]) || s[i] == '.' ||
                              ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E') &&
                               !(s[st] == '0' && st + 1 < c->len && (s[st + 1] == 'x' || s[st + 1] == 'X'))))) {
            if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
                fl = true;
            i++;
        }
        if (i - st > 1 && s[st] == '0' && (s[st + 1] == 'x' || s[st + 1] == 'X'))
            fl = false;
        c->tok.k = fl ? TK_FLOAT : TK_INT;
    } else if (ch == '"' || ch == '\'') {
        i++;
        while (i < c->len && s[i] != ch && s[i] != '\n') {
            if (s[i] == '\\' && i + 1 < c->len)
                i++;
            i++;
        }
        if (i >= c->len || s[i] != ch)
            return perr(c, st, "unterminated string");
        i++;
        c->tok.k = TK_STR;
    } else if (ch == '\0') {
        return perr(c, st, "unexpected NUL byte");
    } else if (strchr("{}[]()<>;,=-+:", ch)) {
        i++;
        c->tok.k = TK_SYM;
    } else {
        return perr(c, st, "unexpected character '%c'", (ch >= 32 && ch < 127) ? ch : '?');
    }
    c->tok.len = i - st;
    c->pos = i;
    return 0;
}

static bool is_sym(const pctx *c, char ch)
{
    return c->tok.k == TK_SYM && c->text[c->tok.off] == ch;
}

static bool is_word(const pctx *c, const char *w)
{
    return c->tok.k == TK_IDENT && c->tok.len == strlen(w) && memcmp(c->text + c->tok.off, w, c->tok.len) == 0;
}

static char *tok_str(pctx *c)
{
    return tbt_arena_strndup(c->p->arena, c->text + c->tok.off, c->tok.len);
}

static const char *tok_desc(pctx *c)
{
    if (c->tok.k == TK_EOF)
        return "end of file";
    size_t n = c->tok.len > 40 ? 40 : c->tok.len;
    return tbt_arena_sprintf(c->p->arena, "'%.*s'", (int)n, c->text + c->tok.off);
}

static int expect_sym(pctx *c, char ch, const char *what)
{
    if (!is_sym(c, ch))
        return perr(c, c->tok.off, "expected '%c'%s%s, found %s", ch, what ? " " : "", what ? what : "", tok_desc(c));
    return lex(c);
}

static int expect_ident(pctx *c, const char *what, char **out)
{
    if (c->tok.k != TK_IDENT)
        return perr(c, c->tok.off, "expected %s, found %s", what, tok_desc(c));
    *out = tok_str(c);
    return lex(c);
}

/* A quoted string token's value (escapes: \n \t \\ \" \' \xHH, octal). */
static int tok_string_value(pctx *c, char **out)
{
    if (c->tok.k != TK_STR)
        return perr(c, c->tok.off, "expected a quoted string, found %s", tok_desc(c));
    const char *s = c->text + c->tok.off + 1;
    size_t n = c->tok.len - 2;
    char *o = tbt_arena_alloc(c->p->arena, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            o[k++] = s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'x': {
            unsigned v = 0;
            int d = 0;
            while (d < 2 && i + 1 < n && strchr("0123456789abcdefABCDEF", s[i + 1]) && s[i + 1]) {
                char h = s[++i];
                v = v * 16 + (unsigned)(is_digit(h) ? h - '0' : (h | 32) - 'a' + 10);
                d++;
            }
            o[k++] = (char)v;
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                unsigned v = (unsigned)(e - '0');
                for (int d = 0; d < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; d++)
                    v = v * 8 + (unsigned)(s[++i] - '0');
                o[k++] = (char)v;
            } else {
                o[k++] = e;
            }
        }
    }
    o[k] = 0;
    *out = o;
    int rc = lex(c);
    /* adjacent strings concatenate */
    if (rc == 0 && c->tok.k == TK_STR) {
        char *more;
        if ((rc = tok_string_value(c, &more)))
            return rc;
        *out = tbt_arena_sprintf(c->p->arena, "%s%s", o, more);
    }
    return rc;
}

/* An integer token (optionally signed) within [lo, hi]. */
static int parse_int(pctx *c, int64_t lo, int64_t hi, const char *what, int64_t *out)
{
    size_t off = c->tok.off;
    bool neg = false;
    int rc;
    if (is_sym(c, '-')) {
        neg = true;
        if ((rc = lex(c)))
            return rc;
    }
    if (c->tok.k != TK_INT)
        return perr(c, c->tok.off, "expected %s, found %s", what, tok_desc(c));
    char buf[64];
    if (c->tok.len >= sizeof(buf))
        return perr(c, off, "%s is out of range", what);
    memcpy(buf, c->text + c->tok.off, c->tok.len);
    buf[c->tok.len] = 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 0);
    if (*end || errno)
        return perr(c, c->tok.off, "%s is not a valid integer: %s", what, buf);
    if (v > (unsigned long long)INT64_MAX)
        return perr(c, off, "%s is out of range", what);
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi)
        return perr(c, off, "%s must be between %lld and %lld", what, (long long)lo, (long long)hi);
    *out = x;
    return lex(c);
}

/* Skip to the end of a statement: balanced () [] {} up to ';' (or a
 * closing brace of a block value). */
static int skip_statement(pctx *c)
{
    int depth = 0;
    size_t start = c->tok.off;
    for (;;) {
        if (c->tok.k == TK_EOF)
            return perr(c, start, "this statement does not end (expected ';')");
        if (c->tok.k == TK_SYM) {
            char ch = c->text[c->tok.off];
            if (ch == '{' || ch == '(' || ch == '[') {
                if (++depth > TBT_PROTO_MAX_DEPTH)
                    return perr(c, c->tok.off, "nested too deeply");
            } else if (ch == '}' || ch == ')' || ch == ']') {
                if (--depth < 0)
                    return perr(c, c->tok.off, "unbalanced '%c'", ch);
                if (depth == 0 && ch == '}') {
                    int rc = lex(c);
                    if (rc == 0 && is_sym(c, ';'))
                        rc = lex(c);
                    return rc;
                }
            } else if (ch == ';' && depth == 0) {
                return lex(c);
            }
        }
        int rc = lex(c);
        if (rc)
            return rc;
    }
}

/* ---- definitions ----------------------------------------------------------- */
static int count_def(pctx *c)
{
    if (++c->p->n_defs > TBT_PROTO_MAX_DEFS)
        return perr(c, c->tok.off, "too many definitions (more than %u messages, enums, fields and methods)",
                    TBT_PROTO_MAX_DEFS);
    return 0;
}

static const char *qualify(pctx *c, const char *scope, const char *name)
{
    return scope && *scope ? tbt_arena_sprintf(c->p->arena, "%s.%s", scope, name) : tbt_arena_strdup(c->p->arena, name);
}

static int check_dup_name(pctx *c, const char *full, size_t off)
{
    tbt_proto *p = c->p;
    for (size_t i = 0; i < p->n_msgs; i++)
        if (strcmp(p->msgs[i]->full_name, full) == 0)
            return perr(c, off, "\"%s\" is already defined", full);
    for (size_t i = 0; i < p->n_enums; i++)
        if (strcmp(p->enums[i]->full_name, full) == 0)
            return perr(c, off, "\"%s\" is already defined", full);
    return 0;
}

static char *json_name_of(tbt_arena *a, const char *name)
{
    size_t n = strlen(name);
    char *o = tbt_arena_alloc(a, n + 1);
    size_t k = 0;
    bool up = false;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '_') {
            up = true;
            continue;
        }
        o[k++] = up && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
        up = false;
    }
    o[k] = 0;
    return o;
}

static tbt_proto_message *new_message(pctx *c, const char *full)
{
    tbt_proto *p = c->p;
    tbt_proto_message *m = tbt_arena_calloc(p->arena, 1, sizeof(*m));
    m->full_name = full;
    m->file = c->f;
    m->proto = p;
    for (size_t i = 0; i < TBT_ARRAY_LEN(wkt_names); i++)
        if (c->f->builtin && strcmp(wkt_names[i].name, full) == 0)
            m->wkt = wkt_names[i].kind;
    p->msgs = agrow(p->arena, p->msgs, &p->cap_msgs, p->n_msgs + 1, sizeof(*p->msgs));
    p->msgs[p->n_msgs++] = m;
    return m;
}

static proto_field *add_field(pctx *c, tbt_proto_message *m)
{
    m->fields = agrow(c->p->arena, m->fields, &m->cap, m->n + 1, sizeof(*m->fields));
    proto_field *f = &m->fields[m->n++];
    memset(f, 0, sizeof(*f));
    return f;
}

/* Field options: [json_name = "x", packed = false, deprecated = true, (custom) = ...]. */
static int parse_field_options(pctx *c, proto_field *f)
{
    int rc;
    if (!is_sym(c, '['))
        return 0;
    if ((rc = lex(c)))
        return rc;
    for (;;) {
        if (is_word(c, "json_name")) {
            if ((rc = lex(c)) || (rc = expect_sym(c, '=', "after json_name")))
                return rc;
            char *v;
            if ((rc = tok_string_value(c, &v)))
                return rc;
            f->json_name = v;
        } else if (is_word(c, "packed")) {
            if ((rc = lex(c)) || (rc = expect_sym(c, '=', "after packed")))
                return rc;
            f->packed = !is_word(c, "false");
            if ((rc = lex(c)))
                return rc;
        } else {
            /* any other option: name (possibly parenthesised) = value */
            int depth = 0;
            size_t start = c->tok.off;
            while (!(depth == 0 && (is_sym(c, ',') || is_sym(c, ']')))) {
                if (c->tok.k == TK_EOF)
                    return perr(c, start, "field options do not end (expected ']')");
                if (is_sym(c, '{') || is_sym(c, '(') || is_sym(c, '[')) {
                    if (++depth > TBT_PROTO_MAX_DEPTH)
                        return perr(c, c->tok.off, "nested too deeply");
                } else if (is_sym(c, '}') || is_sym(c, ')')) {
                    depth--;
                }
                if ((rc = lex(c)))
                    return rc;
            }
        }
        if (is_sym(c, ',')) {
            if ((rc = lex(c)))
                return rc;
            continue;
        }
        return expect_sym(c, ']', "to close the field options");
    }
}

static int check_field_number(pctx *c, tbt_proto_message *m, int64_t num, size_t off)
{
    if (num >= 19000 && num <= 19999)
        return perr(c, off, "field numbers 19000 to 19999 are reserved for the protobuf implementation");
    for (size_t i = 0; i < m->n; i++)
        if (m->fields[i].number == num)
            return perr(c, off, "field number %lld is already used by \"%s\" in %s", (long long)num,
                        m->fields[i].name, m->full_name);
    return 0;
}

/* [label] type name = number [options]; (label already consumed) */
static int parse_field(pctx *c, tbt_proto_message *m, bool repeated, int oneof)
{
    int rc;
    if ((rc = count_def(c)))
        return rc;
    if (is_word(c, "group"))
        return perr(c, c->tok.off, "groups are not supported (a proto2 feature); use a nested message");
    if (c->tok.k != TK_IDENT)
        return perr(c, c->tok.off, "expected a field type, found %s", tok_desc(c));
    size_t type_off = c->tok.off;
    char *type = tok_str(c);
    if ((rc = lex(c)))
        return rc;
    size_t name_off = c->tok.off;
    char *name;
    if ((rc = expect_ident(c, "a field name", &name)))
        return rc;
    if (strchr(name, '.'))
        return perr(c, name_off, "a field name cannot contain '.'");
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fields[i].name, name) == 0)
            return perr(c, name_off, "field \"%s\" is already defined in %s", name, m->full_name);
    if ((rc = expect_sym(c, '=', "after the field name")))
        return rc;
    size_t num_off = c->tok.off;
    int64_t num;
    if ((rc = parse_int(c, 1, 536870911, "a field number", &num)) || (rc = check_field_number(c, m, num, num_off)))
        return rc;
    proto_field *f = add_field(c, m);
    f->name = name;
    f->number = (int32_t)num;
    f->repeated = repeated;
    f->packed = true;
    f->oneof = oneof;
    f->file = c->f;
    f->type_off = type_off;
    for (size_t i = 0; i < TBT_ARRAY_LEN(scalar_names); i++)
        if (strcmp(scalar_names[i].name, type) == 0)
            f->type = scalar_names[i].t;
    if (!f->type) {
        f->type = PT_MESSAGE; /* or enum: decided by resolution */
        f->type_name = type;
    }
    f->scope = m->full_name;
    if ((rc = parse_field_options(c, f)))
        return rc;
    if (!f->json_name)
        f->json_name = json_name_of(c->p->arena, name);
    return expect_sym(c, ';', "after the field");
}

static int parse_map_field(pctx *c, tbt_proto_message *m)
{
    int rc;
    if ((rc = count_def(c)) || (rc = lex(c)) || (rc = expect_sym(c, '<', "after map")))
        return rc;
    size_t koff = c->tok.off;
    char *ktype, *vtype;
    if ((rc = expect_ident(c, "a map key type", &ktype)))
        return rc;
    proto_type kt = 0;
    for (size_t i = 0; i < TBT_ARRAY_LEN(scalar_names); i++)
        if (strcmp(scalar_names[i].name, ktype) == 0)
            kt = scalar_names[i].t;
    if (!kt || kt == PT_DOUBLE || kt == PT_FLOAT || kt == PT_BYTES)
        return perr(c, koff, "a map key must be an integer, bool or string type, found '%s'", ktype);
    if ((rc = expect_sym(c, ',', "between the map's key and value types")))
        return rc;
    size_t voff = c->tok.off;
    if ((rc = expect_ident(c, "a map value type", &vtype)) || (rc = expect_sym(c, '>', "to close map<...>")))
        return rc;
    size_t name_off = c->tok.off;
    char *name;
    if ((rc = expect_ident(c, "a field name", &name)) || (rc = expect_sym(c, '=', "after the field name")))
        return rc;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fields[i].name, name) == 0)
            return perr(c, name_off, "field \"%s\" is already defined in %s", name, m->full_name);
    size_t num_off = c->tok.off;
    int64_t num;
    if ((rc = parse_int(c, 1, 536870911, "a field number", &num)) || (rc = check_field_number(c, m, num, num_off)))
        return rc;
    /* the synthetic entry message protobuf defines for a map: FooEntry { key = 1; value = 2; } */
    char *ename = json_name_of(c->p->arena, name);
    if (ename[0] >= 'a' && ename[0] <= 'z')
        ename[0] = (char)(ename[0] - 32);
    const char *efull = tbt_arena_sprintf(c->p->arena, "%s.%sEntry", m->full_name, ename);
    if ((rc = check_dup_name(c, efull, name_off)))
        return rc;
    tbt_proto_message *e = new_message(c, efull);
    e->map_entry = true;
    proto_field *k = add_field(c, e);
    k->name = k->json_name = "key";
    k->number = 1;
    k->type = kt;
    k->file = c->f;
    proto_field *v = add_field(c, e);
    v->name = v->json_name = "value";
    v->number = 2;
    v->file = c->f;
    v->type_off = voff;
    v->scope = m->full_name;
    for (size_t i = 0; i < TBT_ARRAY_LEN(scalar_names); i++)
        if (strcmp(scalar_names[i].name, vtype) == 0)
            v->type = scalar_names[i].t;
    if (!v->type) {
        v->type = PT_MESSAGE;
        v->type_name = vtype;
    }
    proto_field *f = add_field(c, m);
    f->name = name;
    f->number = (int32_t)num;
    f->repeated = true;
    f->is_map = true;
    f->type = PT_MESSAGE;
    f->msg = e;
    f->file = c->f;
    if ((rc = parse_field_options(c, f)))
        return rc;
    if (!f->json_name)
        f->json_name = json_name_of(c->p->arena, name);
    return expect_sym(c, ';', "after the field");
}

/* reserved 2, 15, 9 to 11; reserved "foo"; extensions 100 to max; */
static int parse_enum(pctx *c, const char *scope);
static int parse_message(pctx *c, const char *scope);

static int parse_oneof(pctx *c, tbt_proto_message *m)
{
    int rc;
    char *name;
    if ((rc = lex(c)) || (rc = expect_ident(c, "a oneof name", &name)) || (rc = expect_sym(c, '{', "to open the oneof")))
        return rc;
    int idx = ++m->n_oneofs;
    while (!is_sym(c, '}')) {
        if (c->tok.k == TK_EOF)
            return perr(c, c->tok.off, "the oneof \"%s\" does not end (expected '}')", name);
        if (is_word(c, "option")) {
            if ((rc = skip_statement(c)))
                return rc;
        } else if (is_sym(c, ';')) {
            if ((rc = lex(c)))
                return rc;
        } else if (is_word(c, "repeated") || is_word(c, "map") || is_word(c, "optional")) {
            return perr(c, c->tok.off, "a oneof field cannot be %s", tok_desc(c));
        } else if ((rc = parse_field(c, m, false, idx))) {
            return rc;
        }
    }
    return lex(c);
}

static int parse_message_body(pctx *c, tbt_proto_message *m)
{
    int rc;
    while (!is_sym(c, '}')) {
        if (c->tok.k == TK_EOF)
            return perr(c, c->tok.off, "the message %s does not end (expected '}')", m->full_name);
        if (is_sym(c, ';')) {
            rc = lex(c);
        } else if (is_word(c, "option") || is_word(c, "reserved") || is_word(c, "extensions")) {
            rc = skip_statement(c);
        } else if (is_word(c, "message")) {
            rc = parse_message(c, m->full_name);
        } else if (is_word(c, "enum")) {
            rc = parse_enum(c, m->full_name);
        } else if (is_word(c, "oneof")) {
            rc = parse_oneof(c, m);
        } else if (is_word(c, "map")) {
            rc = parse_map_field(c, m);
        } else if (is_word(c, "extend")) {
            rc = perr(c, c->tok.off, "extensions are not supported (extend)");
        } else if (is_word(c, "repeated")) {
            rc = lex(c);
            if (rc == 0)
                rc = parse_field(c, m, true, 0);
        } else if (is_word(c, "optional") || is_word(c, "required")) {
            rc = lex(c);
            if (rc == 0)
                rc = parse_field(c, m, false, 0);
        } else {
            rc = parse_field(c, m, false, 0);
        }
        if (rc)
            return rc;
    }
    return lex(c);
}

static int parse_message(pctx *c, const char *scope)
{
    int rc;
    size_t off = c->tok.off;
    if (++c->depth > TBT_PROTO_MAX_DEPTH)
        return perr(c, off, "messages nested more than %d deep", TBT_PROTO_MAX_DEPTH);
    char *name;
    if ((rc = count_def(c)) || (rc = lex(c)))
        return rc;
    size_t name_off = c->tok.off;
    if ((rc = expect_ident(c, "a message name", &name)))
        return rc;
    if (strchr(name, '.'))
        return perr(c, name_off, "a message name cannot contain '.'");
    const char *full = qualify(c, scope, name);
    if ((rc = check_dup_name(c, full, name_off)) || (rc = expect_sym(c, '{', "to open the message")))
        return rc;
    tbt_proto_message *m = new_message(c, full);
    if ((rc = parse_message_body(c, m)))
        return rc;
    c->depth--;
    return 0;
}

static int parse_enum(pctx *c, const char *scope)
{
    int rc;
    char *name;
    if ((rc = count_def(c)) || (rc = lex(c)))
        return rc;
    size_t name_off = c->tok.off;
    if ((rc = expect_ident(c, "an enum name", &name)))
        return rc;
    if (strchr(name, '.'))
        return perr(c, name_off, "an enum name cannot contain '.'");
    const char *full = qualify(c, scope, name);
    if ((rc = check_dup_name(c, full, name_off)) || (rc = expect_sym(c, '{', "to open the enum")))
        return rc;
    tbt_proto *p = c->p;
    proto_enum *e = tbt_arena_calloc(p->arena, 1, sizeof(*e));
    e->full_name = full;
    p->enums = agrow(p->arena, p->enums, &p->cap_enums, p->n_enums + 1, sizeof(*p->enums));
    p->enums[p->n_enums++] = e;
    size_t cap = 0;
    while (!is_sym(c, '}')) {
        if (c->tok.k == TK_EOF)
            return perr(c, c->tok.off, "the enum %s does not end (expected '}')", full);
        if (is_sym(c, ';')) {
            rc = lex(c);
        } else if (is_word(c, "option") || is_word(c, "reserved")) {
            rc = skip_statement(c);
        } else {
            char *vname;
            int64_t num;
            if ((rc = count_def(c)) || (rc = expect_ident(c, "an enum value name", &vname)) ||
                (rc = expect_sym(c, '=', "after the enum value name")) ||
                (rc = parse_int(c, INT32_MIN, INT32_MAX, "an enum value", &num)))
                return rc;
            if (is_sym(c, '[')) {
                proto_field dummy;
                memset(&dummy, 0, sizeof(dummy));
                if ((rc = parse_field_options(c, &dummy)))
                    return rc;
            }
            e->values = agrow(p->arena, e->values, &cap, e->n + 1, sizeof(*e->values));
            e->values[e->n].name = vname;
            e->values[e->n].number = (int32_t)num;
            e->n++;
            rc = expect_sym(c, ';', "after the enum value");
        }
        if (rc)
            return rc;
    }
    if (e->n == 0)
        return perr(c, name_off, "the enum %s has no values", full);
    return lex(c);
}

static int parse_rpc_type(pctx *c, bool *stream, char **type, size_t *off)
{
    int rc;
    if ((rc = expect_sym(c, '(', NULL)))
        return rc;
    if (is_word(c, "stream")) {
        size_t save = c->pos;
        token st = c->tok;
        if ((rc = lex(c)))
            return rc;
        if (is_sym(c, ')')) { /* a message named "stream" */
            c->pos = save;
            c->tok = st;
        } else {
            *stream = true;
        }
    }
    *off = c->tok.off;
    if ((rc = expect_ident(c, "a message type", type)))
        return rc;
    return expect_sym(c, ')', NULL);
}

static int parse_service(pctx *c)
{
    int rc;
    char *name;
    if ((rc = count_def(c)) || (rc = lex(c)) || (rc = expect_ident(c, "a service name", &name)) ||
        (rc = expect_sym(c, '{', "to open the service")))
        return rc;
    tbt_proto *p = c->p;
    proto_service *s = tbt_arena_calloc(p->arena, 1, sizeof(*s));
    s->full_name = qualify(c, c->package, name);
    s->file = c->f;
    for (size_t i = 0; i < p->n_svcs; i++)
        if (strcmp(p->svcs[i]->full_name, s->full_name) == 0)
            return perr(c, c->tok.off, "service \"%s\" is already defined", s->full_name);
    p->svcs = agrow(p->arena, p->svcs, &p->cap_svcs, p->n_svcs + 1, sizeof(*p->svcs));
    p->svcs[p->n_svcs++] = s;
    size_t cap = 0;
    while (!is_sym(c, '}')) {
        if (c->tok.k == TK_EOF)
            return perr(c, c->tok.off, "the service %s does not end (expected '}')", s->full_name);
        if (is_sym(c, ';')) {
            rc = lex(c);
        } else if (is_word(c, "option")) {
            rc = skip_statement(c);
        } else if (is_word(c, "rpc")) {
            proto_method pm;
            memset(&pm, 0, sizeof(pm));
            pm.m.service = s->full_name;
            pm.scope = c->package;
            if ((rc = count_def(c)) || (rc = lex(c)) || (rc = expect_ident(c, "a method name", (char **)&pm.m.name)) ||
                (rc = parse_rpc_type(c, &pm.m.client_streaming, &pm.in_name, &pm.in_off)))
                return rc;
            if (!is_word(c, "returns"))
                return perr(c, c->tok.off, "expected 'returns', found %s", tok_desc(c));
            if ((rc = lex(c)) || (rc = parse_rpc_type(c, &pm.m.server_streaming, &pm.out_name, &pm.out_off)))
                return rc;
            if (is_sym(c, '{')) {
                if ((rc = lex(c)))
                    return rc;
                while (!is_sym(c, '}')) {
                    if (c->tok.k == TK_EOF)
                        return perr(c, c->tok.off, "the rpc %s does not end (expected '}')", pm.m.name);
                    if (is_sym(c, ';'))
                        rc = lex(c);
                    else if (is_word(c, "option"))
                        rc = skip_statement(c);
                    else
                        rc = perr(c, c->tok.off, "expected 'option' or '}' in the rpc body, found %s", tok_desc(c));
                    if (rc)
                        return rc;
                }
                if ((rc = lex(c)))
                    return rc;
                if (is_sym(c, ';') && (rc = lex(c)))
                    return rc;
            } else if ((rc = expect_sym(c, ';', "after the rpc"))) {
                return rc;
            }
            pm.file = c->f;
            s->methods = agrow(p->arena, s->methods, &cap, s->n + 1, sizeof(*s->methods));
            s->methods[s->n++] = pm;
        } else {
            rc = perr(c, c->tok.off, "expected 'rpc' or 'option' in the service, found %s", tok_desc(c));
        }
        if (rc)
            return rc;
    }
    return lex(c);
}

static int load_file(tbt_proto *p, const char *name, const char *text, size_t len, const tbt_loc *loc,
                     const char *dir, int depth, const proto_file *from, size_t from_off, tbt_error *err);

static int parse_import(pctx *c, const char *dir, int depth)
{
    int rc;
    if ((rc = lex(c)))
        return rc;
    if (is_word(c, "public") || is_word(c, "weak"))
        if ((rc = lex(c)))
            return rc;
    size_t off = c->tok.off;
    char *path;
    if ((rc = tok_string_value(c, &path)) || (rc = expect_sym(c, ';', "after the import")))
        return rc;
    return load_file(c->p, path, NULL, 0, NULL, dir, depth + 1, c->f, off, c->err);
}

static int parse_file(pctx *c, const char *dir, int depth)
{
    int rc;
    bool first = true;
    if ((rc = lex(c)))
        return rc;
    while (c->tok.k != TK_EOF) {
        if (is_sym(c, ';')) {
            rc = lex(c);
        } else if (is_word(c, "syntax") || is_word(c, "edition")) {
            size_t off = c->tok.off;
            bool edition = is_word(c, "edition");
            char *v;
            if (!first)
                return perr(c, off, "'syntax' must be the first statement of the file");
            if ((rc = lex(c)) || (rc = expect_sym(c, '=', NULL)) || (rc = tok_string_value(c, &v)))
                return rc;
            if (edition || (strcmp(v, "proto3") != 0 && strcmp(v, "proto2") != 0))
                return perr(c, off, "unsupported syntax \"%s\" (tbt reads proto3, and proto2 files without groups and "
                                    "extensions)", v);
            rc = expect_sym(c, ';', "after the syntax");
        } else if (is_word(c, "package")) {
            char *pkg;
            if ((rc = lex(c)) || (rc = expect_ident(c, "a package name", &pkg)) ||
                (rc = expect_sym(c, ';', "after the package")))
                return rc;
            c->package = pkg;
        } else if (is_word(c, "import")) {
            rc = parse_import(c, dir, depth);
        } else if (is_word(c, "option")) {
            rc = skip_statement(c);
        } else if (is_word(c, "message")) {
            c->depth = 0;
            rc = parse_message(c, c->package);
        } else if (is_word(c, "enum")) {
            rc = parse_enum(c, c->package);
        } else if (is_word(c, "service")) {
            rc = parse_service(c);
        } else if (is_word(c, "extend")) {
            rc = perr(c, c->tok.off, "extensions are not supported (extend)");
        } else {
            rc = perr(c, c->tok.off, "expected syntax, package, import, option, message, enum or service, found %s",
                      tok_desc(c));
        }
        if (rc)
            return rc;
        first = false;
    }
    return 0;
}

static int load_file(tbt_proto *p, const char *name, const char *text, size_t len, const tbt_loc *loc,
                     const char *dir, int depth, const proto_file *from, size_t from_off, tbt_error *err)
{
    for (size_t i = 0; i < p->n_files; i++)
        if (strcmp(p->files[i]->name, name) == 0)
            return 0; /* already read (diamond imports, cycles) */
    if (p->n_files >= TBT_PROTO_MAX_FILES || depth > TBT_PROTO_MAX_DEPTH) {
        if (from)
            return file_err(err, from, from_off, "too many imports");
        return tbt_error_set(err, -EINVAL, "too many .proto files");
    }
    proto_file *f = tbt_arena_calloc(p->arena, 1, sizeof(*f));
    f->name = tbt_arena_strdup(p->arena, name);
    if (!text) {
        for (size_t i = 0; i < TBT_ARRAY_LEN(builtin) && !text; i++)
            if (strcmp(builtin[i].path, name) == 0) {
                text = builtin[i].text;
                len = strlen(text);
                f->builtin = true;
            }
    }
    if (!text) {
        if (strstr(name, "..") || name[0] == '/' || !*name)
            return file_err(err, from, from_off, "imports must be relative paths below the .proto's directory");
        char *path = dir ? tbt_xasprintf("%s/%s", dir, name) : tbt_xstrdup(name);
        char *data = NULL;
        size_t dlen = 0;
        tbt_error e = TBT_ERROR_INIT;
        int rc = tbt_read_file(path, TBT_PROTO_MAX_TEXT, &data, &dlen, &e);
        if (rc) {
            char *m = tbt_xasprintf("cannot import \"%s\": %s (imports are read relative to %s; the well-known types "
                                    "google/protobuf/{timestamp,duration,wrappers,struct,empty,any,field_mask}.proto "
                                    "are built in)",
                                    name, e.msg ? e.msg : "cannot read it", dir ? dir : "the current directory");
            tbt_error_clear(&e);
            free(path);
            file_err(err, from, from_off, m);
            free(m);
            return rc < 0 ? rc : -EINVAL;
        }
        f->name = tbt_arena_strdup(p->arena, path);
        free(path);
        f->text = tbt_arena_strndup(p->arena, data, dlen);
        f->len = dlen;
        free(data);
        /* registered under the import name too, so a second import is a no-op */
        f->import_name = tbt_arena_strdup(p->arena, name);
    } else {
        if (len > TBT_PROTO_MAX_TEXT)
            return tbt_error_set(err, -E2BIG, "%s: the .proto is larger than %u bytes", name, TBT_PROTO_MAX_TEXT);
        f->text = tbt_arena_strndup(p->arena, text, len);
        f->len = len;
    }
    f->loc = loc;
    p->files = agrow(p->arena, p->files, &p->cap_files, p->n_files + 1, sizeof(*p->files));
    p->files[p->n_files++] = f;
    if (f->import_name)
        f->name = f->import_name; /* dedupe by import path; messages name the path read below */
    pctx c = {.p = p, .f = f, .text = f->text, .len = f->len, .package = "", .err = err};
    if (memchr(f->text, 0, f->len))
        return perr(&c, strlen(f->text), "unexpected NUL byte");
    return parse_file(&c, dir, depth);
}

/* ---- resolution ------------------------------------------------------------- */
static int find_type(const tbt_proto *p, const char *full, tbt_proto_message **m, proto_enum **e)
{
    for (size_t i = 0; i < p->n_msgs; i++)
        if (strcmp(p->msgs[i]->full_name, full) == 0) {
            *m = p->msgs[i];
            return 1;
        }
    for (size_t i = 0; i < p->n_enums; i++)
        if (strcmp(p->enums[i]->full_name, full) == 0) {
            *e = p->enums[i];
            return 1;
        }
    return 0;
}

/* Protobuf scoping: ".a.B" is absolute; otherwise the name is looked up in
 * the innermost scope first, then each enclosing scope, up to the root. */
static int resolve_name(const tbt_proto *p, const char *scope, const char *name, tbt_proto_message **m,
                        proto_enum **e)
{
    *m = NULL;
    *e = NULL;
    if (name[0] == '.')
        return find_type(p, name + 1, m, e);
    char *s = tbt_xstrdup(scope ? scope : "");
    int found = 0;
    for (;;) {
        char *cand = *s ? tbt_xasprintf("%s.%s", s, name) : tbt_xstrdup(name);
        found = find_type(p, cand, m, e);
        free(cand);
        if (found || !*s)
            break;
        char *dot = strrchr(s, '.');
        if (dot)
            *dot = 0;
        else
            *s = 0;
    }
    free(s);
    return found;
}

static int resolve_all(tbt_proto *p, tbt_error *err)
{
    for (size_t i = 0; i < p->n_msgs; i++) {
        tbt_proto_message *m = p->msgs[i];
        for (size_t k = 0; k < m->n; k++) {
            proto_field *f = &m->fields[k];
            if (!f->type_name || f->msg || f->en)
                continue;
            tbt_proto_message *rm;
            proto_enum *re;
            if (!resolve_name(p, f->scope, f->type_name, &rm, &re)) {
                char *msg = tbt_xasprintf("unknown type \"%s\" (field \"%s\" of %s)", f->type_name, f->name,
                                          m->map_entry ? f->scope : m->full_name);
                file_err(err, f->file, f->type_off, msg);
                free(msg);
                return -EINVAL;
            }
            if (re) {
                f->type = PT_ENUM;
                f->en = re;
            } else {
                f->msg = rm;
            }
        }
    }
    for (size_t i = 0; i < p->n_svcs; i++) {
        proto_service *s = p->svcs[i];
        for (size_t k = 0; k < s->n; k++) {
            proto_method *pm = &s->methods[k];
            tbt_proto_message *rm;
            proto_enum *re;
            const char *names[2] = {pm->in_name, pm->out_name};
            size_t offs[2] = {pm->in_off, pm->out_off};
            for (int j = 0; j < 2; j++) {
                if (!resolve_name(p, pm->scope, names[j], &rm, &re) || !rm) {
                    char *msg = tbt_xasprintf("unknown message type \"%s\" (rpc %s of %s)", names[j], pm->m.name,
                                              s->full_name);
                    file_err(err, pm->file, offs[j], msg);
                    free(msg);
                    return -EINVAL;
                }
                if (j == 0)
                    pm->m.input = rm;
                else
                    pm->m.output = rm;
            }
        }
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------ */
int tbt_proto_parse(const char *text, size_t len, const char *file, const tbt_loc *loc, const char *dir,
                    tbt_proto **out, tbt_error *err)
{
    *out = NULL;
    tbt_proto *p = tbt_xcalloc(1, sizeof(*p));
    p->arena = tbt_arena_new();
    const tbt_loc *l = NULL;
    if (loc) {
        tbt_loc *cl = tbt_arena_calloc(p->arena, 1, sizeof(*cl));
        *cl = *loc;
        if (loc->file)
            cl->file = tbt_arena_strdup(p->arena, loc->file);
        l = cl;
    }
    int rc = load_file(p, file ? file : "<protobufFile>", text, len, l, dir, 0, NULL, 0, err);
    if (rc == 0)
        rc = resolve_all(p, err);
    if (rc) {
        tbt_proto_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int tbt_proto_parse_file(const char *path, tbt_proto **out, tbt_error *err)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = tbt_read_file(path, TBT_PROTO_MAX_TEXT, &data, &len, err);
    if (rc)
        return rc;
    char *dir = tbt_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    rc = tbt_proto_parse(data, len, path, NULL, slash ? dir : NULL, out, err);
    free(dir);
    free(data);
    return rc;
}

void tbt_proto_free(tbt_proto *p)
{
    if (!p)
        return;
    tbt_arena_free(p->arena);
    free(p);
}

const tbt_proto_message *tbt_proto_find_message(const tbt_proto *p, const char *full_name)
{
    if (full_name[0] == '.')
        full_name++;
    for (size_t i = 0; i < p->n_msgs; i++)
        if (strcmp(p->msgs[i]->full_name, full_name) == 0)
            return p->msgs[i];
    return NULL;
}

const char *tbt_proto_message_name(const tbt_proto_message *m)
{
    return m->full_name;
}

static bool service_matches(const proto_service *s, const char *name)
{
    if (strcmp(s->full_name, name) == 0)
        return true;
    const char *dot = strrchr(s->full_name, '.');
    return dot && strcmp(dot + 1, name) == 0;
}

int tbt_proto_find_method(const tbt_proto *p, const char *service, const char *method, const tbt_proto_method **out,
                          tbt_error *err)
{
    *out = NULL;
    char *svc = NULL;
    const char *mname = method;
    if (service && *service) {
        svc = tbt_xstrdup(service[0] == '.' ? service + 1 : service);
        /* "pkg.Service.Method" given with the service too: take the last part */
        const char *dot = strrchr(method, '.');
        if (dot)
            mname = dot + 1;
    } else {
        const char *m = method[0] == '.' || method[0] == '/' ? method + 1 : method;
        const char *slash = strrchr(m, '/'); /* "/pkg.Service/Method" as in the URL */
        const char *dot = slash ? slash : strrchr(m, '.');
        if (!dot) {
            if (p->n_svcs == 1) {
                svc = tbt_xstrdup(p->svcs[0]->full_name);
            } else {
                return tbt_error_set(err, -ENOENT,
                                     "method \"%s\" does not name its service: write it as package.Service.Method or set "
                                     "service",
                                     method);
            }
        } else {
            svc = tbt_xstrndup(m, (size_t)(dot - m));
            mname = dot + 1;
        }
    }
    const proto_service *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < p->n_svcs; i++)
        if (strcmp(p->svcs[i]->full_name, svc) == 0) {
            found = p->svcs[i];
            matches = 1;
            break;
        }
    if (!found)
        for (size_t i = 0; i < p->n_svcs; i++)
            if (service_matches(p->svcs[i], svc)) {
                found = p->svcs[i];
                matches++;
            }
    tbt_buf list = TBT_BUF_INIT;
    int rc = 0;
    if (!found || matches > 1) {
        for (size_t i = 0; i < p->n_svcs; i++)
            tbt_buf_printf(&list, "%s%s", i ? ", " : "", p->svcs[i]->full_name);
        rc = tbt_error_set(err, -ENOENT, "service \"%s\" is %s in the .proto (services: %s)", svc,
                           matches > 1 ? "ambiguous" : "not defined", p->n_svcs ? tbt_buf_cstr(&list) : "none");
        goto out;
    }
    for (size_t i = 0; i < found->n; i++)
        if (strcmp(found->methods[i].m.name, mname) == 0) {
            *out = &found->methods[i].m;
            goto out;
        }
    for (size_t i = 0; i < found->n; i++)
        tbt_buf_printf(&list, "%s%s", i ? ", " : "", found->methods[i].m.name);
    rc = tbt_error_set(err, -ENOENT, "service %s has no method \"%s\" (methods: %s)", found->full_name, mname,
                       found->n ? tbt_buf_cstr(&list) : "none");
out:
    tbt_buf_free(&list);
    free(svc);
    return rc;
}

/*
 * tbt_yaml.h - a YAML document tree with source positions (libyaml).
 *
 * Every node remembers file:line:col and, for scalars, the scalar style, so
 * that errors inside a selector or an expression can point at the exact
 * character in the file. Aliases are resolved by sharing the anchored node
 * (bounded: a stream whose alias expansion would exceed
 * TBT_YAML_MAX_NODES nodes is rejected as soon as it does, so "billion
 * laughs" cannot blow up). Merge keys (<<) are not supported and are reported.
 *
 * Ownership: all nodes of all documents of one load live in the
 * tbt_ydocs' arena; tbt_ydocs_free() releases everything.
 */
#ifndef TBT_YAML_H
#define TBT_YAML_H

#include "tbt_common.h"

#define TBT_YAML_MAX_NODES 1000000
#define TBT_YAML_MAX_DEPTH 256
#define TBT_YAML_MAX_BYTES (64u * 1024u * 1024u)

typedef enum tbt_ytype {
    TBT_Y_SCALAR,
    TBT_Y_SEQ,
    TBT_Y_MAP,
} tbt_ytype;

typedef struct tbt_ynode tbt_ynode;

typedef struct tbt_ypair {
    tbt_ynode *key; /* always a scalar */
    tbt_ynode *value;
} tbt_ypair;

struct tbt_ynode {
    tbt_ytype type;
    tbt_loc loc;      /* start of the node; loc.style set for scalars */
    const char *tag;  /* explicit tag or NULL */
    /* scalar */
    const char *str;  /* NUL-terminated */
    size_t len;
    /* seq: items[n]; map: pairs[n] in document order */
    tbt_ynode **items;
    tbt_ypair *pairs;
    size_t n;
};

typedef struct tbt_ydocs {
    tbt_arena *arena;
    const char *file; /* in arena */
    tbt_ynode **docs; /* root node of each document; NULL for empty docs */
    size_t n_docs;
    const char *text; /* copy of the parsed text (in arena), for source lines */
    size_t text_len;
} tbt_ydocs;

/* Parse text (len bytes, UTF-8) as a YAML stream. file names the source in
 * locations (may be NULL: "<input>"). On success returns 0 and *out is a
 * new tbt_ydocs (caller frees with tbt_ydocs_free). On failure returns a
 * negative code (-EINVAL syntax or structure, -EFBIG over a bound,
 * -ENOMEM), *out is NULL and err carries file:line:col, the message (for
 * syntax errors libyaml's problem and context text), the source line and
 * a caret under the fault.
 *
 * Beyond YAML itself this rejects: duplicate keys in one mapping (at the
 * duplicate), non-scalar keys, merge keys (<<), aliases to an anchor not
 * yet complete, more than TBT_YAML_MAX_NODES nodes after alias expansion
 * (whole stream), nesting (also through aliases) deeper than
 * TBT_YAML_MAX_DEPTH, and input longer than TBT_YAML_MAX_BYTES.
 *
 * Positions: loc.line/col are 1-based. A scalar's loc is its first
 * character (the quote of a quoted scalar), past any anchor or tag. For
 * block scalars (| and >) loc.line is the line of the indicator and loc.col
 * the column where the content is indented, which is what
 * tbt_loc_advance() expects. An alias shares the anchored node, so its loc
 * is the anchor's. */
int tbt_yaml_parse(const char *file, const char *text, size_t len, tbt_ydocs **out, tbt_error *err);
/* Read path (bounded by TBT_YAML_MAX_BYTES) and parse it; a missing file
 * gives -ENOENT with "PATH: No such file or directory". */
int tbt_yaml_parse_file(const char *path, tbt_ydocs **out, tbt_error *err);
void tbt_ydocs_free(tbt_ydocs *d);

/* The text of 1-based line `line` of the parsed source (no line break),
 * with its length in *len; NULL when the line does not exist. Line breaks
 * are counted as libyaml counts them (LF, CR LF, CR). */
const char *tbt_ydocs_line(const tbt_ydocs *d, int line, size_t *len);
/* Fill err's position from loc (file, line, col) and its source line and
 * caret from d's text. The message and code of err are left alone. */
void tbt_ydocs_error_at(const tbt_ydocs *d, const tbt_loc *loc, tbt_error *err);

/* Map lookup: value node for key, or NULL (also when map is not a map). */
tbt_ynode *tbt_ymap_get(const tbt_ynode *map, const char *key);
/* Scalar helpers: true when node is a plain scalar that is null ("", ~,
 * null, Null, NULL) or is tagged !!null. NULL counts as null. */
bool tbt_ynode_is_null(const tbt_ynode *n);
/* "scalar", "sequence", "map". */
const char *tbt_ytype_name(tbt_ytype t);
/* Like tbt_ytype_name but says "null" for null scalars and "string" for
 * other scalars: for "expected X, found Y" messages. */
const char *tbt_ynode_kind_name(const tbt_ynode *n);

#endif

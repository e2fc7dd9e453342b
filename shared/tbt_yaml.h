/*
 * tbt_yaml.h - a YAML document tree with source positions (libyaml).
 *
 * Every node remembers file:line:col and, for scalars, the scalar style, so
 * that errors inside a selector or an expression can point at the exact
 * character in the file. Aliases are resolved by sharing the anchored node
 * (bounded: a document whose alias expansion would exceed
 * TBT_YAML_MAX_NODES nodes is rejected, so "billion laughs" cannot blow
 * up). Merge keys (<<) are not supported and are reported.
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
} tbt_ydocs;

/* Parse text (len bytes) as a YAML stream. file names the source in
 * locations. On success *out is a new tbt_ydocs; on failure err says
 * file:line:col and what is wrong, *out is NULL. */
int tbt_yaml_parse(const char *file, const char *text, size_t len, tbt_ydocs **out, tbt_error *err);
int tbt_yaml_parse_file(const char *path, tbt_ydocs **out, tbt_error *err);
void tbt_ydocs_free(tbt_ydocs *d);

/* Map lookup: value node for key, or NULL. */
tbt_ynode *tbt_ymap_get(const tbt_ynode *map, const char *key);
/* Scalar helpers: true when node is a scalar that is null ("", ~, null). */
bool tbt_ynode_is_null(const tbt_ynode *n);
const char *tbt_ytype_name(tbt_ytype t);

#endif

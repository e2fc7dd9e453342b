/*
 * tbt_yaml.c - YAML streams to position-carrying trees, with libyaml's
 * event parser.
 *
 * The builder keeps a stack of open collections. Every node is counted
 * against TBT_YAML_MAX_NODES as it is created, and an alias counts the
 * whole expanded size of the node it shares, so a "billion laughs" input is
 * refused after at most a million nodes' worth of aliases, having allocated
 * only what the text itself holds. An anchor is registered when its node
 * is complete, so an alias can never point into an unfinished node and the
 * trees stay acyclic.
 */
#include "tbt_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- source text helpers ----------------------------------------------- */

/* Length of the line break at text[off], 0 when none. The breaks libyaml
 * counts: LF, CR LF, CR, NEL, LS, PS. */
static size_t break_len(const char *text, size_t len, size_t off)
{
    const unsigned char *t = (const unsigned char *)text;
    if (off >= len)
        return 0;
    if (t[off] == '\n')
        return 1;
    if (t[off] == '\r')
        return off + 1 < len && t[off + 1] == '\n' ? 2 : 1;
    if (t[off] == 0xC2 && off + 1 < len && t[off + 1] == 0x85)
        return 2;
    if (t[off] == 0xE2 && off + 2 < len && t[off + 1] == 0x80 && (t[off + 2] == 0xA8 || t[off + 2] == 0xA9))
        return 3;
    return 0;
}

static bool has_bom(const char *text, size_t len)
{
    return len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0;
}

/* Offset of the next line's first byte after the line holding off, or len
 * when off is on the last line. */
static size_t next_line(const char *text, size_t len, size_t off)
{
    while (off < len) {
        size_t bl = break_len(text, len, off);
        if (bl)
            return off + bl;
        off++;
    }
    return len;
}

/* End of the line content starting at off (the break or len). */
static size_t line_end(const char *text, size_t len, size_t off)
{
    while (off < len && !break_len(text, len, off))
        off++;
    return off;
}

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Offset of 1-based line `line`, or (size_t)-1 when the text is shorter. */
static size_t line_offset(const char *text, size_t len, int line)
{
    if (line < 1)
        return (size_t)-1;
    size_t off = has_bom(text, len) ? 3 : 0;
    for (int l = 1; l < line; l++) {
        size_t n = next_line(text, len, off);
        if (n == off || (n == len && line_end(text, len, off) == len))
            return (size_t)-1;
        off = n;
    }
    return off;
}

const char *tbt_ydocs_line(const tbt_ydocs *d, int line, size_t *len)
{
    if (!d || !d->text)
        return NULL;
    size_t off = line_offset(d->text, d->text_len, line);
    if (off == (size_t)-1 || off == d->text_len)
        return NULL; /* no such line, or the empty one after the last break */
    size_t e = line_end(d->text, d->text_len, off);
    if (len)
        *len = e - off;
    return d->text + off;
}

/* Position and source line of err from loc; the source line is taken from
 * text when given. */
static void error_at_text(const char *text, size_t tlen, const tbt_loc *loc, tbt_error *err)
{
    if (!err || !loc)
        return;
    free(err->file);
    err->file = loc->file ? tbt_xstrdup(loc->file) : NULL;
    err->line = loc->line;
    err->col = loc->col;
    free(err->source_line);
    err->source_line = NULL;
    err->caret = 0;
    if (!text || loc->line < 1)
        return;
    size_t off = line_offset(text, tlen, loc->line);
    if (off == (size_t)-1)
        return;
    size_t e = line_end(text, tlen, off);
    if (e == off && e == tlen)
        return; /* the empty line after the final newline */
    err->source_line = tbt_xstrndup(text + off, e - off);
    /* Embedded NULs would cut the line short; show them as spaces. */
    for (size_t i = 0; i < e - off; i++)
        if (err->source_line[i] == '\0')
            err->source_line[i] = ' ';
    err->caret = loc->col > 0 ? loc->col - 1 : 0;
}

void tbt_ydocs_error_at(const tbt_ydocs *d, const tbt_loc *loc, tbt_error *err)
{
    error_at_text(d ? d->text : NULL, d ? d->text_len : 0, loc, err);
}

/* ---- anchors ----------------------------------------------------------- */
typedef struct yanchor {
    const char *name;
    tbt_ynode *node;
    size_t weight; /* nodes in the expanded subtree */
    int height;    /* collection levels in the expanded subtree */
} yanchor;

typedef struct yanchors {
    yanchor *items;
    size_t n, cap;
    size_t *index; /* open addressing: entry i+1, 0 = empty */
    size_t index_cap;
} yanchors;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void anchors_reset(yanchors *a)
{
    a->n = 0;
    if (a->index)
        memset(a->index, 0, a->index_cap * sizeof(*a->index));
}

static void anchors_free(yanchors *a)
{
    free(a->items);
    free(a->index);
    memset(a, 0, sizeof(*a));
}

static yanchor *anchors_find(const yanchors *a, const char *name)
{
    if (!a->index_cap)
        return NULL;
    size_t mask = a->index_cap - 1;
    for (size_t i = (size_t)hash_str(name) & mask;; i = (i + 1) & mask) {
        size_t e = a->index[i];
        if (!e)
            return NULL;
        if (strcmp(a->items[e - 1].name, name) == 0)
            return &a->items[e - 1];
    }
}

static void anchors_rehash(yanchors *a)
{
    size_t ncap = a->index_cap ? a->index_cap * 2 : 64;
    free(a->index);
    a->index = tbt_xcalloc(ncap, sizeof(*a->index));
    a->index_cap = ncap;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (size_t)hash_str(a->items[k].name) & (ncap - 1);
        while (a->index[i])
            i = (i + 1) & (ncap - 1);
        a->index[i] = k + 1;
    }
}

/* A redefined anchor replaces the earlier one for later aliases. */
static void anchors_set(yanchors *a, const char *name, tbt_ynode *node, size_t weight, int height)
{
    yanchor *e = anchors_find(a, name);
    if (e) {
        e->node = node;
        e->weight = weight;
        e->height = height;
        return;
    }
    TBT_GROW(a->items, a->cap, a->n + 1);
    a->items[a->n] = (yanchor){name, node, weight, height};
    a->n++;
    if (a->n * 2 > a->index_cap) {
        anchors_rehash(a);
        return;
    }
    size_t i = (size_t)hash_str(name) & (a->index_cap - 1);
    while (a->index[i])
        i = (i + 1) & (a->index_cap - 1);
    a->index[i] = a->n;
}

/* ---- the builder ------------------------------------------------------- */
typedef struct yframe {
    tbt_ynode *node;
    tbt_ynode **kids; /* seq: items; map: key, value, key, value ... */
    size_t n, cap;
    size_t weight;
    int height;
    const char *anchor; /* arena */
} yframe;

typedef struct ybuild {
    tbt_ydocs *d;
    const char *text;
    size_t len;
    /* Forward-only cursor over line starts: node events come in text
     * order, so finding a line is amortised O(1). */
    int cur_line;
    size_t cur_off;
    yframe *stack;
    size_t depth, stack_cap;
    yanchors anchors;
    size_t total; /* nodes after alias expansion, whole stream */
    tbt_ynode **docs;
    size_t n_docs, docs_cap;
    tbt_error *err;
} ybuild;

static size_t yb_line_offset(ybuild *b, int line)
{
    if (line < b->cur_line || b->cur_line == 0) {
        b->cur_line = 1;
        b->cur_off = has_bom(b->text, b->len) ? 3 : 0;
    }
    while (b->cur_line < line && b->cur_off < b->len) {
        b->cur_off = next_line(b->text, b->len, b->cur_off);
        b->cur_line++;
    }
    return b->cur_line == line ? b->cur_off : b->len;
}

/* Byte offset of a libyaml mark (0-based line, column in characters). */
static size_t yb_mark_offset(ybuild *b, const yaml_mark_t *m)
{
    size_t off = yb_line_offset(b, (int)m->line + 1);
    for (size_t c = 0; c < m->column && off < b->len && !break_len(b->text, b->len, off);) {
        off++;
        while (off < b->len && is_cont((unsigned char)b->text[off]))
            off++;
        c++;
    }
    return off;
}

static int yb_fail(ybuild *b, const tbt_loc *loc, int code, const char *fmt, ...) TBT_PRINTF(4, 5);

static int yb_fail(ybuild *b, const tbt_loc *loc, int code, const char *fmt, ...)
{
    if (!b->err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(b->err, code, "%s", msg);
    free(msg);
    if (loc)
        error_at_text(b->text, b->len, loc, b->err);
    return code;
}

static tbt_loc yb_mark_loc(const ybuild *b, const yaml_mark_t *m)
{
    tbt_loc l = {b->d->file, (int)m->line + 1, (int)m->column + 1, TBT_STYLE_NONE};
    return l;
}

static bool is_flow_ind(char c)
{
    return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

/* libyaml starts a node's event at its first property (&anchor, !tag);
 * move loc past them to the node's own first character. Counts columns in
 * characters like libyaml. */
static void yb_skip_props(ybuild *b, const yaml_mark_t *m, tbt_loc *loc)
{
    size_t off = yb_mark_offset(b, m);
    const char *t = b->text;
    size_t len = b->len;
    int line = loc->line, col = loc->col;
    while (off < len) {
        size_t bl = break_len(t, len, off);
        char c = t[off];
        if (bl) {
            off += bl;
            line++;
            col = 1;
        } else if (c == ' ' || c == '\t') {
            off++;
            col++;
        } else if (c == '#') {
            while (off < len && !break_len(t, len, off))
                off++;
        } else if (c == '&' || c == '!') {
            bool verbatim = c == '!' && off + 1 < len && t[off + 1] == '<';
            off++;
            col++;
            while (off < len && !break_len(t, len, off)) {
                char d = t[off];
                if (verbatim ? d == '>' : (d == ' ' || d == '\t' || is_flow_ind(d)))
                    break;
                off++;
                if (!is_cont((unsigned char)d))
                    col++;
            }
            if (verbatim && off < len && t[off] == '>') {
                off++;
                col++;
            }
        } else {
            break;
        }
    }
    if (off >= len)
        return; /* nothing follows: keep libyaml's position */
    loc->line = line;
    loc->col = col;
}

/* Block scalars: the column where the content is indented, taken from the
 * first non-blank line after the indicator line, up to the scalar's end. */
static void yb_block_col(ybuild *b, tbt_loc *loc, const yaml_mark_t *end)
{
    size_t off = yb_line_offset(b, loc->line);
    int line = loc->line;
    off = next_line(b->text, b->len, off);
    line++;
    while (off < b->len && line <= (int)end->line + 1) {
        int ind = 0;
        size_t p = off;
        while (p < b->len && b->text[p] == ' ') {
            p++;
            ind++;
        }
        if (p < b->len && !break_len(b->text, b->len, p)) {
            loc->col = ind + 1;
            return;
        }
        off = next_line(b->text, b->len, off);
        line++;
    }
}

static tbt_ynode *yb_node(ybuild *b, tbt_ytype t, const yaml_mark_t *m, bool props)
{
    tbt_ynode *n = tbt_arena_alloc(b->d->arena, sizeof(*n));
    n->type = t;
    n->loc = yb_mark_loc(b, m);
    if (props)
        yb_skip_props(b, m, &n->loc);
    return n;
}

static int yb_count(ybuild *b, size_t weight, const tbt_loc *loc)
{
    if (weight > TBT_YAML_MAX_NODES || b->total + weight > TBT_YAML_MAX_NODES)
        return yb_fail(b, loc, -EFBIG, "more than %d YAML nodes (after expanding aliases)", TBT_YAML_MAX_NODES);
    b->total += weight;
    return 0;
}

static bool is_merge_key(const tbt_ynode *k)
{
    if (k->tag && strcmp(k->tag, "tag:yaml.org,2002:merge") == 0)
        return true;
    return k->type == TBT_Y_SCALAR && k->loc.style == TBT_STYLE_PLAIN && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}

/* Hand a finished node (new or shared by an alias) to the open collection,
 * or make it the document root. */
static int yb_add(ybuild *b, tbt_ynode *n, size_t weight, int height, const tbt_loc *at)
{
    if (b->depth == 0) {
        TBT_GROW(b->docs, b->docs_cap, b->n_docs + 1);
        b->docs[b->n_docs++] = n;
        return 0;
    }
    yframe *f = &b->stack[b->depth - 1];
    if (f->node->type == TBT_Y_MAP && f->n % 2 == 0) {
        if (n->type != TBT_Y_SCALAR)
            return yb_fail(b, at, -EINVAL, "mapping keys must be scalars, not a %s", tbt_ytype_name(n->type));
        if (is_merge_key(n))
            return yb_fail(b, at, -EINVAL, "merge keys (<<) are not supported; write the keys out");
    }
    TBT_GROW(f->kids, f->cap, f->n + 1);
    f->kids[f->n++] = n;
    f->weight += weight;
    if (height > f->height)
        f->height = height;
    return 0;
}

static const char *yb_str(ybuild *b, const yaml_char_t *s)
{
    return s ? tbt_arena_strdup(b->d->arena, (const char *)s) : NULL;
}

/* Explicit tags only; "!" (non-specific, what quoted scalars get) is
 * dropped. */
static const char *yb_tag(ybuild *b, const yaml_char_t *t)
{
    if (!t || strcmp((const char *)t, "!") == 0)
        return NULL;
    return yb_str(b, t);
}

static int yb_scalar(ybuild *b, const yaml_event_t *ev)
{
    const bool props = ev->data.scalar.anchor || ev->data.scalar.tag;
    tbt_ynode *n = yb_node(b, TBT_Y_SCALAR, &ev->start_mark, false);
    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->loc.style = TBT_STYLE_SINGLE; break;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->loc.style = TBT_STYLE_DOUBLE; break;
    case YAML_LITERAL_SCALAR_STYLE: n->loc.style = TBT_STYLE_LITERAL; break;
    case YAML_FOLDED_SCALAR_STYLE: n->loc.style = TBT_STYLE_FOLDED; break;
    default: n->loc.style = TBT_STYLE_PLAIN; break;
    }
    /* An empty plain scalar after properties has no character of its own:
     * keep libyaml's position (the property) rather than the next token. */
    if (props && (ev->data.scalar.length > 0 || n->loc.style != TBT_STYLE_PLAIN))
        yb_skip_props(b, &ev->start_mark, &n->loc);
    if (n->loc.style == TBT_STYLE_LITERAL || n->loc.style == TBT_STYLE_FOLDED)
        yb_block_col(b, &n->loc, &ev->end_mark);
    n->tag = yb_tag(b, ev->data.scalar.tag);
    n->str = tbt_arena_strndup(b->d->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->len = ev->data.scalar.length;
    int r = yb_count(b, 1, &n->loc);
    if (r < 0)
        return r;
    r = yb_add(b, n, 1, 0, &n->loc);
    if (r < 0)
        return r;
    if (ev->data.scalar.anchor)
        anchors_set(&b->anchors, yb_str(b, ev->data.scalar.anchor), n, 1, 0);
    return 0;
}

static int yb_alias(ybuild *b, const yaml_event_t *ev)
{
    tbt_loc at = yb_mark_loc(b, &ev->start_mark);
    const char *name = (const char *)ev->data.alias.anchor;
    yanchor *a = anchors_find(&b->anchors, name);
    if (!a)
        return yb_fail(b, &at, -EINVAL,
                       "unknown anchor \"%s\"; an alias must come after its anchor's node, in the same document", name);
    if ((size_t)a->height + b->depth > TBT_YAML_MAX_DEPTH)
        return yb_fail(b, &at, -EFBIG, "alias \"%s\" nests deeper than %d levels", name, TBT_YAML_MAX_DEPTH);
    int r = yb_count(b, a->weight, &at);
    if (r < 0)
        return r;
    return yb_add(b, a->node, a->weight, a->height, &at);
}

static int yb_start(ybuild *b, const yaml_event_t *ev, tbt_ytype t)
{
    const yaml_char_t *anchor = t == TBT_Y_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = t == TBT_Y_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    tbt_ynode *n = yb_node(b, t, &ev->start_mark, anchor || tag);
    n->tag = yb_tag(b, tag);
    if (b->depth >= TBT_YAML_MAX_DEPTH)
        return yb_fail(b, &n->loc, -EFBIG, "nesting deeper than %d levels", TBT_YAML_MAX_DEPTH);
    if (b->depth > 0) {
        const yframe *f = &b->stack[b->depth - 1];
        if (f->node->type == TBT_Y_MAP && f->n % 2 == 0)
            return yb_fail(b, &n->loc, -EINVAL, "mapping keys must be scalars, not a %s", tbt_ytype_name(t));
    }
    int r = yb_count(b, 1, &n->loc);
    if (r < 0)
        return r;
    TBT_GROW(b->stack, b->stack_cap, b->depth + 1);
    yframe *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->weight = 1;
    f->height = 0;
    f->anchor = yb_str(b, anchor);
    return 0;
}

typedef struct ykey {
    const char *s;
    size_t len;
    size_t idx;
} ykey;

static int ykey_cmp(const void *pa, const void *pb)
{
    const ykey *a = pa, *b = pb;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, m);
    if (c)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Report the earliest key (in document order) that repeats an earlier one. */
static int yb_check_dups(ybuild *b, const tbt_ynode *map)
{
    if (map->n < 2)
        return 0;
    ykey *keys = tbt_xmalloc(map->n * sizeof(*keys));
    for (size_t i = 0; i < map->n; i++)
        keys[i] = (ykey){map->pairs[i].key->str, map->pairs[i].key->len, i};
    qsort(keys, map->n, sizeof(*keys), ykey_cmp);
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < map->n; i++) {
        if (keys[i].len == keys[i - 1].len && memcmp(keys[i].s, keys[i - 1].s, keys[i].len) == 0) {
            /* keys[i-1] is the first of its run only when the one before
             * differs; the run's second entry is its first duplicate. */
            bool second = i < 2 || keys[i - 2].len != keys[i].len || memcmp(keys[i - 2].s, keys[i].s, keys[i].len) != 0;
            if (second && keys[i].idx < dup) {
                dup = keys[i].idx;
                first = keys[i - 1].idx;
            }
        }
    }
    free(keys);
    if (dup == SIZE_MAX)
        return 0;
    const tbt_ynode *k = map->pairs[dup].key, *fk = map->pairs[first].key;
    int shown = k->len > 60 ? 60 : (int)k->len;
    return yb_fail(b, &k->loc, -EINVAL, "duplicate key \"%.*s%s\" (first at line %d, column %d)", shown, k->str,
                   k->len > 60 ? "..." : "", fk->loc.line, fk->loc.col);
}

static int yb_end(ybuild *b)
{
    yframe f = b->stack[--b->depth];
    tbt_ynode *n = f.node;
    tbt_arena *ar = b->d->arena;
    int r = 0;
    if (n->type == TBT_Y_SEQ) {
        n->n = f.n;
        n->items = f.n ? tbt_arena_memdup(ar, f.kids, f.n * sizeof(*f.kids)) : NULL;
    } else {
        n->n = f.n / 2;
        n->pairs = n->n ? tbt_arena_calloc(ar, n->n, sizeof(*n->pairs)) : NULL;
        for (size_t i = 0; i < n->n; i++) {
            n->pairs[i].key = f.kids[2 * i];
            n->pairs[i].value = f.kids[2 * i + 1];
        }
        r = yb_check_dups(b, n);
    }
    free(f.kids);
    if (r < 0)
        return r;
    int height = f.height + 1;
    r = yb_add(b, n, f.weight, height, &n->loc);
    if (r < 0)
        return r;
    if (f.anchor)
        anchors_set(&b->anchors, f.anchor, n, f.weight, height);
    return 0;
}

/* libyaml's error: problem (and context) at a mark, or at a byte offset
 * for reader (encoding) errors. */
static int yb_parser_error(ybuild *b, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return yb_fail(b, NULL, -ENOMEM, "%s: out of memory while parsing YAML", b->d->file);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    tbt_loc at;
    if (p->error == YAML_READER_ERROR) {
        /* problem_offset is a byte offset into the raw input. */
        size_t off = p->problem_offset < b->len ? p->problem_offset : b->len;
        int line = 1, col = 1;
        size_t i = has_bom(b->text, b->len) && off >= 3 ? 3 : 0;
        while (i < off) {
            size_t bl = break_len(b->text, b->len, i);
            if (bl) {
                i += bl;
                line++;
                col = 1;
                continue;
            }
            if (!is_cont((unsigned char)b->text[i]))
                col++;
            i++;
        }
        at = (tbt_loc){b->d->file, line, col, TBT_STYLE_NONE};
        if (p->problem_value >= 0 && p->problem_value <= 0x10FFFF && p->problem_value != 0)
            return yb_fail(b, &at, -EINVAL, "%s (#x%X)", problem, (unsigned)p->problem_value);
        if (p->problem_value == 0 && strstr(problem, "control"))
            return yb_fail(b, &at, -EINVAL, "%s (NUL byte)", problem);
        return yb_fail(b, &at, -EINVAL, "%s", problem);
    }
    at = yb_mark_loc(b, &p->problem_mark);
    if (!p->context)
        return yb_fail(b, &at, -EINVAL, "%s", problem);
    if (p->context_mark.line == p->problem_mark.line && p->context_mark.column == p->problem_mark.column)
        return yb_fail(b, &at, -EINVAL, "%s (%s)", problem, p->context);
    return yb_fail(b, &at, -EINVAL, "%s (%s that starts at line %zu, column %zu)", problem, p->context,
                   p->context_mark.line + 1, p->context_mark.column + 1);
}

static int yb_run(ybuild *b)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return yb_fail(b, NULL, -ENOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)b->text, b->len);
    int r = 0;
    bool done = false;
    while (!done && r == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            r = yb_parser_error(b, &p);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            anchors_reset(&b->anchors);
            break;
        case YAML_DOCUMENT_END_EVENT: {
            tbt_ynode *root = b->n_docs ? b->docs[b->n_docs - 1] : NULL;
            if (root && root->type == TBT_Y_SCALAR && root->len == 0 && !root->tag &&
                root->loc.style == TBT_STYLE_PLAIN)
                b->docs[b->n_docs - 1] = NULL;
            break;
        }
        case YAML_ALIAS_EVENT:
            r = yb_alias(b, &ev);
            break;
        case YAML_SCALAR_EVENT:
            r = yb_scalar(b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            r = yb_start(b, &ev, TBT_Y_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            r = yb_start(b, &ev, TBT_Y_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            r = yb_end(b);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return r;
}

int tbt_yaml_parse(const char *file, const char *text, size_t len, tbt_ydocs **out, tbt_error *err)
{
    *out = NULL;
    if (!file)
        file = "<input>";
    if (len > TBT_YAML_MAX_BYTES)
        return tbt_error_set(err, -EFBIG, "%s: larger than the %u-byte limit for definitions", file,
                             (unsigned)TBT_YAML_MAX_BYTES);
    if (len >= 2 && ((unsigned char)text[0] == 0xFF || (unsigned char)text[0] == 0xFE) &&
        ((unsigned char)text[1] == 0xFE || (unsigned char)text[1] == 0xFF) && text[0] != text[1])
        return tbt_error_set(err, -EINVAL, "%s: UTF-16 text is not supported; save the file as UTF-8", file);

    tbt_ydocs *d = tbt_xcalloc(1, sizeof(*d));
    d->arena = tbt_arena_new();
    d->file = tbt_arena_strdup(d->arena, file);
    d->text = tbt_arena_strndup(d->arena, text ? text : "", text ? len : 0);
    d->text_len = text ? len : 0;

    ybuild b = {0};
    b.d = d;
    b.text = d->text;
    b.len = d->text_len;
    b.err = err;
    int r = yb_run(&b);
    for (size_t i = 0; i < b.depth; i++)
        free(b.stack[i].kids);
    free(b.stack);
    anchors_free(&b.anchors);
    if (r == 0) {
        d->n_docs = b.n_docs;
        d->docs = b.n_docs ? tbt_arena_memdup(d->arena, b.docs, b.n_docs * sizeof(*b.docs)) : NULL;
    }
    free(b.docs);
    if (r < 0) {
        tbt_ydocs_free(d);
        return r;
    }
    *out = d;
    return 0;
}

int tbt_yaml_parse_file(const char *path, tbt_ydocs **out, tbt_error *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int r = tbt_read_file(path, TBT_YAML_MAX_BYTES, &text, &len, err);
    if (r < 0)
        return r;
    r = tbt_yaml_parse(path, text, len, out, err);
    free(text);
    return r;
}

void tbt_ydocs_free(tbt_ydocs *d)
{
    if (!d)
        return;
    tbt_arena_free(d->arena);
    free(d);
}

/* ---- accessors --------------------------------------------------------- */
tbt_ynode *tbt_ymap_get(const tbt_ynode *map, const char *key)
{
    if (!map || map->type != TBT_Y_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const tbt_ynode *k = map->pairs[i].key;
        if (k->len == kl && memcmp(k->str, key, kl) == 0)
            return map->pairs[i].value;
    }
    return NULL;
}

bool tbt_ynode_is_null(const tbt_ynode *n)
{
    if (!n)
        return true;
    if (n->type != TBT_Y_SCALAR)
        return false;
    if (n->tag)
        return strcmp(n->tag, "tag:yaml.org,2002:null") == 0;
    if (n->loc.style != TBT_STYLE_PLAIN)
        return false;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(nulls); i++)
        if (strlen(nulls[i]) == n->len && memcmp(nulls[i], n->str, n->len) == 0)
            return true;
    return false;
}

const char *tbt_ytype_name(tbt_ytype t)
{
    switch (t) {
    case TBT_Y_SCALAR: return "scalar";
    case TBT_Y_SEQ: return "sequence";
    case TBT_Y_MAP: return "map";
    }
    return "?";
}

const char *tbt_ynode_kind_name(const tbt_ynode *n)
{
    if (!n || tbt_ynode_is_null(n))
        return "null";
    if (n->type == TBT_Y_SCALAR)
        return "string";
    return tbt_ytype_name(n->type);
}

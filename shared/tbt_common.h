/*
 * tbt_common.h - allocation, arenas, growable buffers and the error record.
 *
 * Conventions used by every module of libtbt:
 *  - Functions that can fail return 0 on success and a negative errno-style
 *    code on failure, and fill an optional `tbt_error *err` with the detail
 *    (message and, where known, file:line:col and the source line).
 *    Library code never prints; the command line reports once.
 *  - Out-of-memory is fatal (tbt_xmalloc and friends abort), as in git and
 *    Redis: every size a client controls is bounded before it is allocated.
 *  - Destructors accept NULL.
 */
#ifndef TBT_COMMON_H
#define TBT_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TBT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TBT_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define TBT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TBT_PRINTF(f, a)
#endif

/* ---- allocation (abort on OOM) ---------------------------------------- */
void *tbt_xmalloc(size_t n);
void *tbt_xcalloc(size_t nmemb, size_t size);
void *tbt_xrealloc(void *p, size_t n);
char *tbt_xstrdup(const char *s);
char *tbt_xstrndup(const char *s, size_t n);
char *tbt_xasprintf(const char *fmt, ...) TBT_PRINTF(1, 2);
char *tbt_xvasprintf(const char *fmt, va_list ap);
/* malloc for large blocks (>= 2 MiB get transparent huge pages, which
 * spares most first-touch page faults); free with free(). */
void *tbt_big_alloc(size_t n);

/* Grow *items (element size `size`) so that it holds at least `need`
 * elements; *cap is updated. */
void tbt_grow(void **items, size_t *cap, size_t need, size_t size);
#define TBT_GROW(arr, cap, need) tbt_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* ---- arena ------------------------------------------------------------- */
/* A bump allocator: everything allocated from it is freed by one
 * tbt_arena_free(). Used for traces, parsed definitions and results, which
 * are built once and dropped whole. Allocations are 16-byte aligned and
 * zero-filled. Not thread-safe. */
typedef struct tbt_arena tbt_arena;

tbt_arena *tbt_arena_new(void);
void tbt_arena_free(tbt_arena *a);
/* Forget every allocation but keep the first chunk for reuse. */
void tbt_arena_reset(tbt_arena *a);
void *tbt_arena_alloc(tbt_arena *a, size_t n);
/* Not zero-filled: for memory the caller overwrites entirely. */
void *tbt_arena_alloc_raw(tbt_arena *a, size_t n);
void *tbt_arena_calloc(tbt_arena *a, size_t nmemb, size_t size);
char *tbt_arena_strdup(tbt_arena *a, const char *s);
char *tbt_arena_strndup(tbt_arena *a, const char *s, size_t n);
char *tbt_arena_sprintf(tbt_arena *a, const char *fmt, ...) TBT_PRINTF(2, 3);
void *tbt_arena_memdup(tbt_arena *a, const void *p, size_t n);
/* Bytes handed out so far (for memory figures). */
size_t tbt_arena_used(const tbt_arena *a);

/* ---- growable byte buffer ---------------------------------------------- */
typedef struct tbt_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
} tbt_buf;

#define TBT_BUF_INIT {NULL, 0, 0}
void tbt_buf_append(tbt_buf *b, const void *p, size_t n);
void tbt_buf_puts(tbt_buf *b, const char *s);
void tbt_buf_putc(tbt_buf *b, char c);
void tbt_buf_printf(tbt_buf *b, const char *fmt, ...) TBT_PRINTF(2, 3);
void tbt_buf_vprintf(tbt_buf *b, const char *fmt, va_list ap);
/* Decode the sequence at s[0..n), n > 0. Returns the number of bytes it
 * takes (1..4) and stores the code point in *cp. An ill-formed sequence
 * (bad lead byte, missing continuation, overlong form, surrogate, past
 * U+10FFFF) stores U+FFFD and returns the length of its maximal ill-formed
 * prefix (at least 1), as Unicode recommends for replacement. */
size_t tbt_utf8_next(const char *s, size_t n, uint32_t *cp);

/* Append the UTF-8 encoding of cp (which must be a scalar value). */
void tbt_utf8_put(tbt_buf *out, uint32_t cp);

/* Append s[0..n) with every ill-formed sequence replaced by U+FFFD.
 * Returns true when s was already valid (appended unchanged). */
bool tbt_utf8_sanitize(tbt_buf *out, const char *s, size_t n);
/* Append the character at s[i] (of s[0..n)) made safe for a terminal: C0
 * controls and DEL as \xNN, C1 controls (U+0080..U+009F, the 8-bit CSI
 * among them) as \u00NN, ill-formed UTF-8 as U+FFFD, so untrusted text
 * cannot move the cursor or recolour the terminal. Returns the bytes
 * consumed; 0, appending nothing, when a well-formed character would end
 * past lim (a character is never cut in half). */
size_t tbt_term_put_char(tbt_buf *out, const char *s, size_t n, size_t i, size_t lim);

/* JSON string literal of s[0..n) including the quotes; ill-formed UTF-8
 * becomes U+FFFD, so the literal is always valid JSON text. */
void tbt_buf_json_str(tbt_buf *b, const char *s, size_t n);
/* XML text/attribute escaping of s. */
void tbt_buf_xml_escape(tbt_buf *b, const char *s);
void tbt_buf_reset(tbt_buf *b);
/* Returns the heap string (caller frees) and resets the buffer. */
char *tbt_buf_steal(tbt_buf *b);
void tbt_buf_free(tbt_buf *b);
const char *tbt_buf_cstr(tbt_buf *b); /* "" when empty */

/* ---- source locations and errors --------------------------------------- */
/* Style of the YAML scalar a string came from; decides how a byte offset in
 * the value maps to a column in the file. */
typedef enum tbt_scalar_style {
    TBT_STYLE_NONE = 0, /* not from a file (command line, generated) */
    TBT_STYLE_PLAIN,
    TBT_STYLE_SINGLE,
    TBT_STYLE_DOUBLE,
    TBT_STYLE_LITERAL,
    TBT_STYLE_FOLDED,
} tbt_scalar_style;

/* Where a piece of text starts: file, 1-based line and column of the
 * scalar's first byte (the quote for quoted scalars). file is borrowed and
 * must outlive the location (loaders keep file names in their arena). */
typedef struct tbt_loc {
    const char *file;
    int line;
    int col;
    tbt_scalar_style style;
} tbt_loc;

typedef struct tbt_error {
    int code;          /* negative errno-style code, 0 when no error */
    char *file;        /* heap, may be NULL */
    int line, col;     /* 1-based; 0 when unknown */
    char *msg;         /* heap */
    char *source_line; /* heap, the offending line, may be NULL */
    int caret;         /* 0-based character column of the fault in source_line */
} tbt_error;

#define TBT_ERROR_INIT {0, NULL, 0, 0, NULL, NULL, 0}

/* Fill err (if non-NULL) and return code. The message is formatted. Any
 * earlier content of err is released first. */
int tbt_error_set(tbt_error *err, int code, const char *fmt, ...) TBT_PRINTF(3, 4);
/* Attach a position. src is the text the offset points into (may be NULL);
 * loc the location of that text (may be NULL); offset the byte offset of the
 * fault within src. Computes file line:col and remembers the source line. */
void tbt_error_at(tbt_error *err, const tbt_loc *loc, const char *src, size_t offset);
/* Prefix the message: "prefix: old message". */
void tbt_error_prefix(tbt_error *err, const char *fmt, ...) TBT_PRINTF(2, 3);
/* "file:line:col: message\n    source line\n    ^\n" (parts omitted when
 * unknown). */
void tbt_error_format(const tbt_error *err, tbt_buf *out);
/* tbt_error_format without the trailing line breaks, copied into a. */
const char *tbt_error_text(const tbt_error *err, tbt_arena *a);
void tbt_error_clear(tbt_error *err);
void tbt_error_move(tbt_error *dst, tbt_error *src);

/* Several errors at once (a definition with three bad assertions reports
 * all three). */
typedef struct tbt_error_list {
    tbt_error *items;
    size_t n, cap;
} tbt_error_list;

#define TBT_ERROR_LIST_INIT {NULL, 0, 0}
/* Moves *err into the list (err is left cleared). */
void tbt_error_list_add(tbt_error_list *l, tbt_error *err);
void tbt_error_list_format(const tbt_error_list *l, tbt_buf *out);
void tbt_error_list_clear(tbt_error_list *l);

/* Compute the file position of byte `offset` of a scalar's value that starts
 * at loc. Exact for single-line plain and quoted scalars without escapes;
 * for block scalars the line is advanced per newline in src. */
void tbt_loc_advance(const tbt_loc *loc, const char *src, size_t offset, int *line, int *col);

/* ---- small helpers ----------------------------------------------------- */
/* Read a whole file (bounded by max bytes). Returns 0, -ENOENT, -EFBIG... */
int tbt_read_file(const char *path, size_t max, char **out, size_t *len, tbt_error *err);
/* Lower-case hex of n bytes into out (2n+1 bytes). */
void tbt_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decode exactly 2n hex digits (any case). Returns 0 or -EINVAL. */
int tbt_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);
bool tbt_is_all_zero(const uint8_t *p, size_t n);
/* Base64 (standard alphabet, padded). */
void tbt_base64_encode(const uint8_t *p, size_t n, tbt_buf *out);
int tbt_base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);
/* Monotonic and wall clocks in ns. */
uint64_t tbt_now_mono_ns(void);
uint64_t tbt_now_unix_ns(void);
/* Format a number like JSON would (shortest round-trip for doubles, no
 * exponent for integral values below 1e15). */
void tbt_format_double(double d, char *out, size_t cap);
/* Human duration: "1.5s", "20.6ms", "250us", "7ns"; exact (no rounding of
 * significant digits beyond the unit's fraction). */
void tbt_format_duration(int64_t ns, char *out, size_t cap);
/* Parse a Go-style duration ("1h2m3.5s", "500ms", "2 s"). Returns 0 or
 * -EINVAL; *ns receives the value. */
int tbt_parse_duration(const char *s, size_t n, int64_t *ns);

/* ---- JSON paths in messages -------------------------------------------------- */
/* Where a decoder is in a JSON document ("data[0].spans[3].tags[1].value"):
 * one element per level, linked to its parent on the C stack and rendered
 * only when an error is reported. key NULL: an index only. */
typedef struct tbt_jpath {
    const struct tbt_jpath *up;
    const char *key;
    size_t idx;
    bool has_idx;
} tbt_jpath;

#define TBT_JPATH_KEY(parent, k) {(parent), (k), 0, false}
#define TBT_JPATH_IDX(parent, k, i) {(parent), (k), (i), true}

/* Append "a.b[2].c" for p (nothing for NULL). */
void tbt_jpath_render(const tbt_jpath *p, tbt_buf *b);

#endif

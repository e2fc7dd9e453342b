/*
 * tbt_selector.h - the span selector language.
 *
 *   selector := "" | chain ("," chain)*          "," is union
 *   chain    := step ((" " | ">") step)*         " " descendant, ">" child
 *   step     := "span" "[" (filter (","? filter)*)? "]" pseudo?
 *   filter   := property OP value                 filters are ANDed
 *   OP       := = | != | contains | not-contains | =~ | !~ | < | <= | > | >=
 *   property := name ("." name)*, names may contain '-' (and '/', '@')
 *   value    := "str" | 'str' | NUMBER | DURATION | true | false
 *             | ${expr} | var:NAME    (strings interpolate ${...})
 *   pseudo   := :first | :last | :nth_child(N)    (1-based)
 *
 * Every Tracetest selector means what it means in Tracetest, with these
 * deliberate differences: numbers compare by value (1.5 matches a double
 * 1.5, not only "1.50"); a pseudo-class applies to the list matched by its
 * own step (`span[a]:first span[b]` = the b spans under the first a);
 * negated operators (!=, !~, not-contains) also match spans that lack the
 * property, so they are the exact complement of =, =~ and contains.
 * `name` is the span name and `kind` its kind (server, client, producer,
 * consumer, internal); any other property is an attribute (span, then
 * resource, then scope) or a tracetest.span.* meta attribute.
 */
#ifndef TBT_SELECTOR_H
#define TBT_SELECTOR_H

#include "tbt_trace.h"
#include "tbt_vars.h"

#define TBT_SELECTOR_MAX_LEN (16u * 1024u)

typedef struct tbt_selector tbt_selector;

/* Parse src (copied). loc places it in a file for errors. An empty or
 * blank selector selects every span. Errors: -EINVAL with
 * file:line:col, the source line and a caret. */
int tbt_selector_parse(const char *src, const tbt_loc *loc, tbt_selector **out, tbt_error *err);
void tbt_selector_free(tbt_selector *s);
const char *tbt_selector_source(const tbt_selector *s);
/* true when the selector refers to variables (resolved at select time). */
bool tbt_selector_uses_vars(const tbt_selector *s);

/* Select spans of t (finalized). *out receives a heap array (caller frees)
 * of the matched spans in depth-first order, without duplicates. Fails
 * only when a variable cannot be resolved or an interpolated regex is
 * invalid (err says which, at its position). */
int tbt_selector_select(const tbt_selector *s, tbt_trace *t, const tbt_vars *vars, tbt_span ***out, size_t *n,
                        tbt_error *err);

/* Scratch buffers sized to a trace, reused across many selections (one
 * evaluation of a test selects once per spec): saves page-faulting several
 * megabytes per selector on large traces. */
typedef struct tbt_select_ws tbt_select_ws;
tbt_select_ws *tbt_select_ws_new(void);
void tbt_select_ws_free(tbt_select_ws *ws);
int tbt_selector_select_ws(const tbt_selector *s, tbt_trace *t, const tbt_vars *vars, tbt_select_ws *ws,
                           tbt_span ***out, size_t *n, tbt_error *err);
/* Several selectors at once: the first step of every chain of every
 * selector is matched in one shared pass over the spans (a large trace does
 * not fit in cache; one pass instead of one per spec is most of the cost).
 * For each i: outs[i]/ns[i] as tbt_selector_select, or rcs[i] < 0 with
 * errs[i] set. */
void tbt_selector_select_many(const tbt_selector *const *sels, size_t n_sels, tbt_trace *t, const tbt_vars *vars,
                              tbt_select_ws *ws, tbt_span ***outs, size_t *ns, int *rcs, tbt_error *errs);

#endif

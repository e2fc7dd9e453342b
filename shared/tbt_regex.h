/*
 * tbt_regex.h - regular expressions for selectors (=~, !~) and the regex /
 * regex_group filters. PCRE2 in UTF mode: the syntax users write for
 * Tracetest (Go RE2: \d, \w, (?i), non-greedy) means the same here.
 */
#ifndef TBT_REGEX_H
#define TBT_REGEX_H

#include "tbt_common.h"

typedef struct tbt_regex tbt_regex;

/* Compile pattern[0..len). On failure returns -EINVAL with err->msg the
 * PCRE2 message and *err_offset the byte offset of the fault in pattern. */
int tbt_regex_compile(const char *pattern, size_t len, tbt_regex **out, size_t *err_offset, tbt_error *err);
void tbt_regex_free(tbt_regex *re);
/* true when the pattern matches anywhere in s (unanchored). */
bool tbt_regex_search(const tbt_regex *re, const char *s, size_t len);

/* Callback for every match: the whole match (group 0) and its groups. */
typedef void (*tbt_regex_match_cb)(void *ud, const char *s, const size_t *ovec, int n_pairs);
/* Call cb for every non-overlapping match of re in s. Returns the number of
 * matches, or -1 when the match limit was hit. */
int tbt_regex_each(const tbt_regex *re, const char *s, size_t len, tbt_regex_match_cb cb, void *ud);
int tbt_regex_group_count(const tbt_regex *re);

#endif

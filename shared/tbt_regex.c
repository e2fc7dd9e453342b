/* tbt_regex.c - PCRE2 wrapper. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tbt_regex.h"

#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>

struct tbt_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

int tbt_regex_compile(const char *pattern, size_t len, tbt_regex **out, size_t *err_offset, tbt_error *err)
{
    int ec;
    PCRE2_SIZE eo;
    *out = NULL;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        if (err_offset)
            *err_offset = eo;
        return tbt_error_set(err, -EINVAL, "invalid regular expression: %s", (const char *)msg);
    }
    tbt_regex *re = tbt_xcalloc(1, sizeof(*re));
    re->code = code;
    /* Bound backtracking so that a hostile pattern cannot hang a run. */
    re->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(re->mctx, 1000000);
    pcre2_set_depth_limit(re->mctx, 10000);
    *out = re;
    return 0;
}

void tbt_regex_free(tbt_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

bool tbt_regex_search(const tbt_regex *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, re->mctx);
    pcre2_match_data_free(md);
    return rc >= 0;
}

int tbt_regex_group_count(const tbt_regex *re)
{
    uint32_t n = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return (int)n;
}

int tbt_regex_each(const tbt_regex *re, const char *s, size_t len, tbt_regex_match_cb cb, void *ud)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    size_t start = 0;
    int count = 0;
    while (start <= len) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, md, re->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            count = -1;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ovs[2 * 32];
        int pairs = rc > 32 ? 32 : rc;
        for (int i = 0; i < 2 * pairs; i++)
            ovs[i] = ov[i];
        cb(ud, s, ovs, pairs);
        count++;
        if (ov[1] == ov[0]) {
            /* empty match: step one character forward */
            size_t nx = ov[1] + 1;
            while (nx < len && ((unsigned char)s[nx] & 0xC0) == 0x80)
                nx++;
            start = nx;
        } else {
            start = ov[1];
        }
    }
    pcre2_match_data_free(md);
    return count;
}

/* tbt_result.c - run results container. */
#include "tbt_result.h"

#include <stdlib.h>
#include <string.h>

tbt_run_result *tbt_run_result_new(void)
{
    tbt_run_result *r = tbt_xcalloc(1, sizeof(*r));
    r->arena = tbt_arena_new();
    return r;
}

void tbt_run_result_free(tbt_run_result *r)
{
    if (!r)
        return;
    free(r->tests);
    tbt_arena_free(r->arena);
    free(r);
}

void tbt_run_result_reset(tbt_run_result *r)
{
    tbt_arena_reset(r->arena);
    r->n_tests = 0;
    r->required_gates = 0;
}

tbt_test_result *tbt_run_result_add(tbt_run_result *r)
{
    TBT_GROW(r->tests, r->cap_tests, r->n_tests + 1);
    tbt_test_result *t = &r->tests[r->n_tests++];
    memset(t, 0, sizeof(*t));
    return t;
}

size_t tbt_run_result_count(const tbt_run_result *r, tbt_test_status st)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_tests; i++)
        n += r->tests[i].status == st;
    return n;
}

bool tbt_run_result_passed(const tbt_run_result *r)
{
    for (size_t i = 0; i < r->n_tests; i++)
        if (r->tests[i].status != TBT_TEST_PASSED)
            return false;
    return true;
}

const char *tbt_test_status_name(tbt_test_status st)
{
    switch (st) {
    case TBT_TEST_PASSED: return "passed";
    case TBT_TEST_FAILED: return "failed";
    case TBT_TEST_ERROR: return "error";
    case TBT_TEST_SKIPPED: return "skipped";
    }
    return "?";
}

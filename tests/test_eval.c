/* test_eval.c - evaluation semantics: outputs before specs, every selected
 * span must pass, the empty span, compile errors collected with positions,
 * selector errors failing a spec, warnings kept. Definitions are YAML text
 * loaded through the real loader; the trace is tests/cases/trace.otlp.json. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_eval.h"
#include "tbt_otlp.h"

static tbt_trace *load_trace(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/trace.otlp.json", getenv("TBT_TEST_CASES"));
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_otlp_load_file(path, &t, &err) == 0, "%s", err.msg);
    return t;
}

typedef struct fixture {
    tbt_defs *defs;
    tbt_plan *plan;
    tbt_trace *trace;
    tbt_vars *vars;
    tbt_run_result *rr;
    tbt_test_result *res;
    tbt_error_list errs;
} fixture;

static const char head[] = "type: Test\nspec:\n  id: t\n  name: T\n  trigger:\n    type: traceid\n    traceid:\n"
                           "      id: abc\n";

static int compile(fixture *f, const char *body)
{
    memset(f, 0, sizeof(*f));
    char *yaml = tbt_xasprintf("%s%s", head, body);
    f->defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_defs_load_text(f->defs, "t.yaml", yaml, strlen(yaml), &err);
    free(yaml);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return tbt_plan_compile(tbt_defs_find_test(f->defs, "t"), f->defs, &f->plan, &f->errs);
}

static void evaluate(fixture *f, const char *body)
{
    ck_assert_int_eq(compile(f, body), 0);
    f->trace = load_trace();
    f->vars = tbt_vars_new();
    f->rr = tbt_run_result_new();
    f->res = tbt_run_result_add(f->rr);
    tbt_plan_evaluate(f->plan, f->trace, f->vars, f->rr, f->res);
    /* results must not point into the trace: free it before inspecting */
    tbt_trace_free(f->trace);
    f->trace = NULL;
}

static void done(fixture *f)
{
    tbt_plan_free(f->plan);
    tbt_defs_free(f->defs);
    tbt_vars_free(f->vars);
    tbt_run_result_free(f->rr);
    tbt_error_list_clear(&f->errs);
}

START_TEST(all_selected_spans_must_pass)
{
    fixture f;
    evaluate(&f, "  specs:\n"
                 "  - name: servers\n"
                 "    selector: span[kind=\"server\"]\n"
                 "    assertions:\n"
                 "    - attr:http.response.status_code = 200\n"
                 "    - attr:tracetest.span.duration > 1ms\n");
    ck_assert_int_eq(f.res->status, TBT_TEST_FAILED);
    const tbt_spec_result *s = &f.res->specs[0];
    ck_assert_str_eq(s->name, "servers");
    ck_assert_uint_eq(s->n_selected, 3);
    ck_assert(!s->passed);
    const tbt_assert_result *a = &s->asserts[0];
    ck_assert(!a->passed);
    ck_assert_uint_eq(a->n_spans, 3);
    ck_assert(a->spans[0].passed && !a->spans[1].passed && a->spans[2].passed);
    ck_assert_str_eq(a->spans[1].span_id, "0000000000000003");
    ck_assert_str_eq(a->spans[1].observed, "201");
    ck_assert_str_eq(a->spans[1].expected, "200");
    ck_assert_str_eq(a->spans[1].service, "order-service");
    ck_assert_str_eq(a->spans[1].span_name, "POST /orders");
    ck_assert(s->asserts[1].passed);
    ck_assert_str_eq(f.res->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_uint_eq(f.res->n_spans, 9);
    done(&f);
}
END_TEST

START_TEST(empty_selection)
{
    fixture f;
    evaluate(&f, "  specs:\n"
                 "  - selector: span[name=\"never\"]\n"
                 "    assertions:\n"
                 "    - attr:tracetest.selected_spans.count = 0\n"
                 "  - selector: span[name=\"never\"]\n"
                 "    assertions:\n"
                 "    - attr:http.response.status_code = 200\n");
    ck_assert(f.res->specs[0].passed);
    ck_assert_uint_eq(f.res->specs[0].asserts[0].n_spans, 1);
    ck_assert_str_eq(f.res->specs[0].asserts[0].spans[0].span_id, "");
    const tbt_span_result *sr = &f.res->specs[1].asserts[0].spans[0];
    ck_assert(!sr->passed);
    ck_assert_str_eq(sr->error, "attribute 'http.response.status_code' has no value: the selector matched no span");
    ck_assert_int_eq(f.res->status, TBT_TEST_FAILED);
    done(&f);
}
END_TEST

START_TEST(outputs_before_specs)
{
    fixture f;
    evaluate(&f, "  outputs:\n"
                 "  - name: ORDER\n"
                 "    selector: span[name=\"POST /orders\" kind=\"server\"]\n"
                 "    value: attr:order.id\n"
                 "  - name: FIRST_HTTP\n"
                 "    selector: span[tracetest.span.type=\"http\"]\n"
                 "    value: attr:name\n"
                 "  - name: CONSTANT\n"
                 "    selector: span[name=\"never\"]\n"
                 "    value: '\"v\" + \"1\"'\n"
                 "  - name: LITERAL\n"
                 "    selector: span[name=\"never\"]\n"
                 "    value: '\"fixed\"'\n"
                 "  - name: UNRESOLVED\n"
                 "    selector: span[name=\"never\"]\n"
                 "    value: attr:order.id\n"
                 "  specs:\n"
                 "  - selector: span[order.id=\"${var:ORDER}\"]\n"
                 "    assertions:\n"
                 "    - attr:tracetest.selected_spans.count = 1\n"
                 "    - attr:order.id = env:ORDER\n"
                 "    - var:LITERAL = \"fixed\"\n");
    ck_assert_str_eq(f.res->outputs[0].value, "ord-0042");
    ck_assert_str_eq(f.res->outputs[1].value, "POST /checkout");
    ck_assert_ptr_null(f.res->outputs[2].value); /* "v" + "1": strings do not add */
    ck_assert_str_eq(f.res->outputs[3].value, "fixed");
    ck_assert_ptr_null(f.res->outputs[4].value);
    ck_assert_str_eq(f.res->outputs[4].warning, "unresolved: the selector \"span[name=\"never\"]\" matched no span");
    ck_assert_int_eq(f.res->status, TBT_TEST_PASSED);
    ck_assert_str_eq(tbt_vars_get(f.vars, "ORDER"), "ord-0042");
    done(&f);
}
END_TEST

START_TEST(compile_collects_every_error)
{
    fixture f;
    int rc = compile(&f, "  specs:\n"
                         "  - selector: span[name=]\n"
                         "    assertions:\n"
                         "    - attr:x = 1\n"
                         "    - attr:x ==\n"
                         "  - selector: span[]\n"
                         "    assertions:\n"
                         "    - \"attr:y < \"\n");
    ck_assert_int_ne(rc, 0);
    ck_assert_ptr_null(f.plan);
    ck_assert_uint_eq(f.errs.n, 3);
    ck_assert_str_eq(f.errs.items[0].file, "t.yaml");
    ck_assert_int_eq(f.errs.items[0].line, 10);
    ck_assert_int_eq(f.errs.items[0].col, 25);
    ck_assert_str_eq(f.errs.items[0].msg, "invalid selector: expected a value after '='");
    ck_assert_int_eq(f.errs.items[1].line, 13);
    ck_assert_int_eq(f.errs.items[1].col, 14);
    /* a double-quoted scalar: the column counts the opening quote */
    ck_assert_int_eq(f.errs.items[2].line, 16);
    ck_assert_int_eq(f.errs.items[2].col, 17);
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&f.errs.items[0], &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "t.yaml:10:25: invalid selector: expected a value after '='\n"
                                       "      - selector: span[name=]\n"
                                       "                            ^\n");
    tbt_buf_free(&b);
    done(&f);
}
END_TEST

START_TEST(selector_errors_fail_the_spec)
{
    fixture f;
    evaluate(&f, "  specs:\n"
                 "  - selector: span[name=\"${var:NOPE}\"]\n"
                 "    assertions:\n"
                 "    - attr:tracetest.selected_spans.count = 0\n"
                 "  - selector: span[name=\"process payment\"]\n"
                 "    assertions:\n"
                 "    - attr:payment.amount = 99.99\n");
    ck_assert(!f.res->specs[0].passed);
    ck_assert_ptr_nonnull(strstr(f.res->specs[0].error, "variable 'NOPE' is not defined"));
    ck_assert_ptr_nonnull(strstr(f.res->specs[0].error, "t.yaml:10:"));
    ck_assert_str_eq(f.res->specs[0].asserts[0].assertion, "attr:tracetest.selected_spans.count = 0");
    ck_assert(f.res->specs[1].passed);
    ck_assert_int_eq(f.res->status, TBT_TEST_FAILED);
    done(&f);
}
END_TEST

START_TEST(warnings_are_kept)
{
    fixture f;
    evaluate(&f, "  specs:\n"
                 "  - selector: span[name=\"process payment\"]\n"
                 "    assertions:\n"
                 "    - attr:payment.amount + 1 * 2 = 101.99\n");
    ck_assert(f.res->specs[0].passed);
    ck_assert_ptr_nonnull(f.res->specs[0].asserts[0].warning);
    ck_assert_ptr_nonnull(strstr(f.res->specs[0].asserts[0].warning, "Tracetest reads it left to right as 201.98"));
    done(&f);
}
END_TEST

START_TEST(selector_union_and_plan_selectors)
{
    fixture f;
    evaluate(&f, "  outputs:\n"
                 "  - name: X\n"
                 "    selector: span[kind=\"producer\"]\n"
                 "    value: attr:messaging.system\n"
                 "  specs:\n"
                 "  - selector: span[kind=\"producer\"], span[kind=\"internal\"], span[kind=\"producer\"]\n"
                 "    assertions:\n"
                 "    - attr:tracetest.selected_spans.count = 2\n");
    ck_assert_int_eq(f.res->status, TBT_TEST_PASSED);
    ck_assert_uint_eq(tbt_plan_selector_count(f.plan), 2);
    ck_assert_str_eq(tbt_selector_source(tbt_plan_selector_at(f.plan, 0)), "span[kind=\"producer\"]");
    done(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("semantics");
    tcase_add_test(tc, all_selected_spans_must_pass);
    tcase_add_test(tc, empty_selection);
    tcase_add_test(tc, outputs_before_specs);
    tcase_add_test(tc, compile_collects_every_error);
    tcase_add_test(tc, selector_errors_fail_the_spec);
    tcase_add_test(tc, warnings_are_kept);
    tcase_add_test(tc, selector_union_and_plan_selectors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

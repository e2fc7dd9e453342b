/* test_msg.c - job and result messages: a job carries a Test that loads,
 * compiles and evaluates on the agent exactly as on the coordinator; a
 * result decodes into the same report; hostile messages are refused with
 * the offending field. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_analyzer.h"
#include "tbt_eval.h"
#include "tbt_msg.h"
#include "tbt_otlp.h"
#include "tbt_report.h"

static char *path_of(const char *rel)
{
    return tbt_xasprintf("%s/%s", getenv("TBT_SOURCE_ROOT"), rel);
}

static tbt_defs *load_example(const tbt_test_def **t)
{
    tbt_defs *d = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    char *p = path_of("examples/checkout.yaml");
    ck_assert_msg(tbt_defs_load_file(d, p, &err) == 0 && tbt_defs_resolve(d, &err) == 0, "%s", err.msg);
    free(p);
    *t = tbt_defs_find_test(d, "checkout-happy-path");
    ck_assert_ptr_nonnull(*t);
    return d;
}

static void evaluate(const tbt_test_def *def, const tbt_defs *d, const char *trace_rel, tbt_run_result *rr,
                     tbt_test_result *res)
{
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_plan *plan;
    ck_assert_int_eq(tbt_plan_compile(def, d, &plan, &errs), 0);
    tbt_trace *t;
    tbt_error err = TBT_ERROR_INIT;
    char *p = path_of(trace_rel);
    ck_assert_msg(tbt_otlp_load_file(p, &t, &err) == 0, "%s", err.msg);
    free(p);
    tbt_vars *vars = tbt_vars_new();
    tbt_plan_evaluate(plan, t, vars, rr, res);
    tbt_vars_free(vars);
    tbt_trace_free(t);
    tbt_plan_free(plan);
}

START_TEST(job_round_trip_evaluates_the_same)
{
    const tbt_test_def *def;
    tbt_defs *d = load_example(&def);
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "GATEWAY_URL", "http://gw:8080");
    tbt_job meta = {.run_id = "run-1", .job_id = "job-7", .environment = "eu-west", .attempt = 2,
                    .deadline_unix_ms = 1764140000000LL};
    tbt_buf b = TBT_BUF_INIT;
    tbt_job_encode(&meta, def, vars, &b);
    /* the campaign path (definition encoded once) gives the same bytes */
    char *dj = tbt_job_definition(def);
    tbt_buf b2 = TBT_BUF_INIT;
    tbt_job_encode_with(&meta, def, dj, vars, &b2);
    ck_assert_uint_eq(b.len, b2.len);
    ck_assert(memcmp(b.data, b2.data, b.len) == 0);
    tbt_buf_free(&b2);
    free(dj);
    tbt_job job;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_job_decode(b.data, b.len, &job, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(job.run_id, "run-1");
    ck_assert_str_eq(job.job_id, "job-7");
    ck_assert_str_eq(job.environment, "eu-west");
    ck_assert_int_eq(job.attempt, 2);
    ck_assert(job.deadline_unix_ms == 1764140000000LL);
    ck_assert_str_eq(job.test_id, "checkout-happy-path");
    ck_assert_str_eq(tbt_vars_get(job.vars, "GATEWAY_URL"), "http://gw:8080");
    /* the agent side: no file access, polling profile inlined */
    tbt_defs *d2 = tbt_defs_new();
    const tbt_test_def *def2;
    ck_assert_msg(tbt_job_load(&job, d2, &def2, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(def2->n_specs, def->n_specs);
    ck_assert_str_eq(def2->specs[1].selector.s, def->specs[1].selector.s);
    ck_assert_ptr_nonnull(def2->polling);
    ck_assert(def2->polling->retry_delay_ns == def->polling->retry_delay_ns);
    ck_assert(def2->polling->timeout_ns == def->polling->timeout_ns);
    ck_assert_str_eq(def2->trigger.type.s, "http");
    /* evaluating both on the same trace gives the same report */
    tbt_run_result *r1 = tbt_run_result_new(), *r2 = tbt_run_result_new();
    evaluate(def, d, "examples/traces/checkout-buggy.otlp.json", r1, tbt_run_result_add(r1));
    evaluate(def2, d2, "examples/traces/checkout-buggy.otlp.json", r2, tbt_run_result_add(r2));
    r2->tests[0].file = r1->tests[0].file; /* the job has no file name */
    r1->tests[0].eval_ns = r2->tests[0].eval_ns = 0;
    tbt_buf j1 = TBT_BUF_INIT, j2 = TBT_BUF_INIT;
    tbt_report_json(r1, &j1);
    tbt_report_json(r2, &j2);
    ck_assert_str_eq(j1.data, j2.data);
    tbt_buf_free(&j1);
    tbt_buf_free(&j2);
    tbt_run_result_free(r1);
    tbt_run_result_free(r2);
    tbt_defs_free(d2);
    tbt_job_clear(&job);
    tbt_buf_free(&b);
    tbt_vars_free(vars);
    tbt_defs_free(d);
}
END_TEST

START_TEST(result_round_trip_reports_the_same)
{
    const tbt_test_def *def;
    tbt_defs *d = load_example(&def);
    tbt_run_result *r1 = tbt_run_result_new();
    tbt_test_result *res = tbt_run_result_add(r1);
    evaluate(def, d, "examples/traces/checkout-buggy.otlp.json", r1, res);
    /* the analyzer's verdict travels too */
    {
        tbt_trace *t;
        tbt_error e2 = TBT_ERROR_INIT;
        char *p = path_of("examples/traces/checkout-buggy.otlp.json");
        ck_assert_int_eq(tbt_otlp_load_file(p, &t, &e2), 0);
        free(p);
        tbt_analyzer_config *cfg = tbt_analyzer_config_new();
        tbt_lint_result *lr = tbt_arena_calloc(r1->arena, 1, sizeof(*lr));
        ck_assert_int_eq(tbt_analyzer_run(cfg, t, r1->arena, lr), 0);
        res->lint = lr;
        tbt_analyzer_config_free(cfg);
        tbt_trace_free(t);
    }
    res->environment = "eu-west";
    res->completion = "complete: 4/4 selectors matched";
    res->trigger_ns = 12000000;
    res->trace_ns = 600000000;
    tbt_job job = {.run_id = "run-1", .job_id = "job-7", .environment = "eu-west", .attempt = 1};
    tbt_buf b = TBT_BUF_INIT;
    tbt_result_encode(&job, "agent-a", res, &b);
    tbt_run_result *r2 = tbt_run_result_new();
    tbt_test_result *res2 = tbt_run_result_add(r2);
    tbt_result_meta meta;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_result_decode(b.data, b.len, r2, res2, &meta, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(meta.run_id, "run-1");
    ck_assert_str_eq(meta.job_id, "job-7");
    ck_assert_str_eq(meta.agent_id, "agent-a");
    ck_assert_int_eq(res2->status, TBT_TEST_FAILED);
    ck_assert_ptr_nonnull(res2->lint);
    ck_assert_int_eq(res2->lint->score, res->lint->score);
    tbt_buf j1 = TBT_BUF_INIT, j2 = TBT_BUF_INIT;
    tbt_report_json(r1, &j1);
    tbt_report_json(r2, &j2);
    ck_assert_str_eq(j1.data, j2.data);
    tbt_report_opts ro = {false, true};
    tbt_buf_reset(&j1);
    tbt_buf_reset(&j2);
    tbt_report_pretty(r1, &ro, &j1);
    tbt_report_pretty(r2, &ro, &j2);
    ck_assert_str_eq(j1.data, j2.data);
    tbt_buf_free(&j1);
    tbt_buf_free(&j2);
    tbt_result_meta_clear(&meta);
    tbt_buf_free(&b);
    tbt_run_result_free(r1);
    tbt_run_result_free(r2);
    tbt_defs_free(d);
}
END_TEST

START_TEST(hostile_messages_are_refused)
{
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } jobs[] = {
        {"not json", -EINVAL, "invalid job message: not a JSON object"},
        {"[1,2]", -EINVAL, "invalid job message: not a JSON object"},
        {"{\"kind\":\"job\"}", -EINVAL, "invalid job message: \"version\" must be a positive whole number"},
        {"{\"version\":2,\"kind\":\"job\"}", -EPROTO,
         "job message version 2 is newer than this tbt understands (1): upgrade"},
        {"{\"version\":1,\"kind\":\"result\"}", -EINVAL, "invalid job message: \"kind\" must be \"job\""},
        {"{\"version\":1,\"kind\":\"job\",\"jobId\":\"j\"}", -EINVAL, "invalid job message: \"runId\" is missing"},
        {"{\"version\":1,\"kind\":\"job\",\"runId\":5,\"jobId\":\"j\"}", -EINVAL,
         "invalid job message: \"runId\" must be a string"},
        {"{\"version\":1,\"kind\":\"job\",\"runId\":\"r\",\"jobId\":\"j\",\"attempt\":0,\"test\":{\"definition\":{}}}",
         -EINVAL, "invalid job message: \"attempt\" must be a whole number from 1"},
        {"{\"version\":1,\"kind\":\"job\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{}}", -EINVAL,
         "invalid job message: \"test.definition\" must be an object"},
        {"{\"version\":1,\"kind\":\"job\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"definition\":{}},\"vars\":{\"a\":1}}",
         -EINVAL, "invalid job message: \"vars\" must be an object of strings"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(jobs); i++) {
        tbt_job job;
        tbt_error err = TBT_ERROR_INIT;
        int rc = tbt_job_decode(jobs[i].json, strlen(jobs[i].json), &job, &err);
        ck_assert_msg(rc == jobs[i].rc, "case %zu: rc %d", i, rc);
        ck_assert_msg(strcmp(err.msg, jobs[i].msg) == 0, "case %zu: %s", i, err.msg);
        tbt_error_clear(&err);
    }
    /* a job whose definition names a file: the agent reads no file */
    const char *fj = "{\"version\":1,\"kind\":\"job\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"definition\":"
                     "{\"type\":\"Test\",\"spec\":{\"id\":\"t\",\"name\":\"t\",\"pollingProfile\":\"/etc/passwd\","
                     "\"trigger\":{\"type\":\"traceid\",\"traceid\":{\"id\":\"x\"}},\"specs\":[]}}}}";
    tbt_job job;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_job_decode(fj, strlen(fj), &job, &err), 0);
    tbt_defs *d = tbt_defs_new();
    const tbt_test_def *def;
    ck_assert_int_ne(tbt_job_load(&job, d, &def, &err), 0);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);
    tbt_defs_free(d);
    tbt_job_clear(&job);
    /* results */
    static const char *const results[] = {
        "{\"version\":1,\"kind\":\"result\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"status\":\"maybe\"}}",
        "{\"version\":1,\"kind\":\"result\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"status\":\"passed\","
        "\"specs\":[1]}}",
        "{\"version\":1,\"kind\":\"result\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"status\":\"passed\","
        "\"specs\":[{\"assertions\":[{\"spans\":[{\"observed\":7}]}]}]}}",
        "{\"version\":1,\"kind\":\"result\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":[]}",
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(results); i++) {
        tbt_run_result *rr = tbt_run_result_new();
        tbt_test_result tr;
        tbt_result_meta m;
        ck_assert_msg(tbt_result_decode(results[i], strlen(results[i]), rr, &tr, &m, &err) == -EINVAL, "case %zu", i);
        ck_assert_ptr_nonnull(strstr(err.msg, "invalid result message"));
        tbt_error_clear(&err);
        tbt_run_result_free(rr);
    }
    char *big = tbt_xmalloc(TBT_MSG_MAX_BYTES + 2);
    memset(big, ' ', TBT_MSG_MAX_BYTES + 1);
    big[TBT_MSG_MAX_BYTES + 1] = '\0';
    ck_assert_int_eq(tbt_job_decode(big, TBT_MSG_MAX_BYTES + 1, &job, &err), -E2BIG);
    tbt_error_clear(&err);
    free(big);
}
END_TEST

START_TEST(what_the_coordinator_wants_travels)
{
    const tbt_test_def *def;
    tbt_defs *d = load_example(&def);
    tbt_vars *vars = tbt_vars_new();
    tbt_job job = {.run_id = "r", .job_id = "j", .environment = "eu", .attempt = 1, .want_view = true,
                   .view_max_bytes = 1000, .analyzer = "{\"minimumScore\":70}"};
    tbt_buf b = TBT_BUF_INIT;
    tbt_job_encode(&job, def, vars, &b);
    tbt_job got;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_job_decode(b.data, b.len, &got, &err) == 0, "%s", err.msg);
    ck_assert(got.want_view);
    ck_assert_uint_eq(got.view_max_bytes, 1000);
    ck_assert_str_eq(got.analyzer, "{\"minimumScore\":70}");
    tbt_job_clear(&got);
    /* nothing asked: nothing comes back */
    tbt_job plain = {.run_id = "r", .job_id = "j", .attempt = 1};
    tbt_buf_reset(&b);
    tbt_job_encode(&plain, def, vars, &b);
    ck_assert_ptr_null(strstr(b.data, "\"want\""));
    ck_assert_int_eq(tbt_job_decode(b.data, b.len, &got, &err), 0);
    ck_assert(!got.want_view && !got.analyzer);
    tbt_job_clear(&got);
    /* hostile */
    static const char *const bad[][2] = {
        {"[]", "invalid job message: \"want\" must be an object"},
        {"{\"traceViewMaxBytes\":-1}", "invalid job message: \"want.traceViewMaxBytes\" must be a whole number up to 7340032"},
        {"{\"traceViewMaxBytes\":99999999}", "invalid job message: \"want.traceViewMaxBytes\" must be a whole number up to 7340032"},
        {"{\"analyzer\":\"x\"}", "invalid job message: \"want.analyzer\" must be an object"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(bad); i++) {
        char *js = tbt_xasprintf("{\"version\":1,\"kind\":\"job\",\"runId\":\"r\",\"jobId\":\"j\",\"want\":%s,"
                                 "\"test\":{\"definition\":{}}}", bad[i][0]);
        ck_assert_int_eq(tbt_job_decode(js, strlen(js), &got, &err), -EINVAL);
        ck_assert_str_eq(err.msg, bad[i][1]);
        tbt_error_clear(&err);
        free(js);
    }
    /* a result carries its trace view as it is */
    tbt_run_result *r1 = tbt_run_result_new();
    tbt_test_result *res = tbt_run_result_add(r1);
    res->status = TBT_TEST_PASSED;
    res->trace_view = "{\"v\":1,\"spans\":[[\"a\",\"</script>\"]]}";
    tbt_buf_reset(&b);
    tbt_result_encode(&job, "agent", res, &b);
    tbt_run_result *r2 = tbt_run_result_new();
    tbt_test_result *res2 = tbt_run_result_add(r2);
    tbt_result_meta meta;
    ck_assert_msg(tbt_result_decode(b.data, b.len, r2, res2, &meta, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(res2->trace_view, res->trace_view);
    tbt_result_meta_clear(&meta);
    /* any bytes the system under test put in names and values: valid JSON
     * on the wire, ill-formed UTF-8 as U+FFFD, control characters escaped */
    {
        tbt_run_result *r3 = tbt_run_result_new();
        tbt_test_result *t3 = tbt_run_result_add(r3);
        t3->status = TBT_TEST_FAILED;
        t3->name = "bad \xff\xfe bytes";
        tbt_span_result sr = {.span_id = "00f067aa0ba902b7", .span_name = "a\x01\"b\\", .observed = "\xc3",
                              .expected = "\n"};
        tbt_assert_result ar = {.assertion = "attr:x = 1", .spans = &sr, .n_spans = 1};
        tbt_spec_result spr = {.name = "", .selector = "span", .asserts = &ar, .n_asserts = 1};
        t3->specs = &spr;
        t3->n_specs = 1;
        tbt_buf_reset(&b);
        tbt_result_encode(&job, "agent", t3, &b);
        tbt_run_result *r4 = tbt_run_result_new();
        tbt_test_result *t4 = tbt_run_result_add(r4);
        ck_assert_msg(tbt_result_decode(b.data, b.len, r4, t4, &meta, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(t4->name, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
        ck_assert_str_eq(t4->specs[0].asserts[0].spans[0].span_name, "a\x01\"b\\");
        ck_assert_str_eq(t4->specs[0].asserts[0].spans[0].observed, "\xef\xbf\xbd");
        ck_assert_str_eq(t4->specs[0].asserts[0].spans[0].expected, "\n");
        tbt_result_meta_clear(&meta);
        tbt_run_result_free(r4);
        tbt_run_result_free(r3);
    }
    const char *bv = "{\"version\":1,\"kind\":\"result\",\"runId\":\"r\",\"jobId\":\"j\",\"test\":{\"status\":"
                     "\"passed\",\"traceView\":\"<html>\"}}";
    ck_assert_int_eq(tbt_result_decode(bv, strlen(bv), r2, res2, &meta, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "invalid result message: \"test.traceView\" must be an object");
    tbt_error_clear(&err);
    tbt_run_result_free(r1);
    tbt_run_result_free(r2);
    tbt_buf_free(&b);
    tbt_vars_free(vars);
    tbt_defs_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("messages");
    tcase_add_test(tc, job_round_trip_evaluates_the_same);
    tcase_add_test(tc, result_round_trip_reports_the_same);
    tcase_add_test(tc, hostile_messages_are_refused);
    tcase_add_test(tc, what_the_coordinator_wants_travels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

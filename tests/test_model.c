/* test_model.c - Tracetest resources: every type and field, suites,
 * polling profiles, and the exact text of definition errors. Fixtures are
 * in $TBT_TEST_DATA/defs; tests run from $TBT_TEST_DATA so that file names
 * in messages are short and stable. */
#include "tbt_model.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void enter_data_dir(void)
{
    const char *data = getenv("TBT_TEST_DATA");
    ck_assert_msg(data != NULL, "TBT_TEST_DATA is not set");
    ck_assert_int_eq(chdir(data), 0);
}

static char *format_error(const tbt_error *err)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(err, &b);
    return tbt_buf_steal(&b);
}

static tbt_defs *load_files(const char *const *paths)
{
    tbt_defs *d = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    for (size_t i = 0; paths[i]; i++) {
        int r = tbt_defs_load_file(d, paths[i], &err);
        if (r < 0) {
            char *m = format_error(&err);
            ck_abort_msg("loading %s: %s", paths[i], m);
        }
    }
    int r = tbt_defs_resolve(d, &err);
    if (r < 0) {
        char *m = format_error(&err);
        ck_abort_msg("resolve: %s", m);
    }
    tbt_error_clear(&err);
    return d;
}

static void expect_str(const tbt_str *s, const char *want)
{
    if (!want) {
        ck_assert_ptr_null(s->s);
        return;
    }
    ck_assert_ptr_nonnull(s->s);
    ck_assert_str_eq(s->s, want);
    ck_assert_uint_eq(s->len, strlen(want));
}

static void expect_at(const tbt_loc *l, const char *file, int line, int col)
{
    ck_assert_str_eq(l->file, file);
    ck_assert_msg(l->line == line && l->col == col, "at %d:%d, want %d:%d", l->line, l->col, line, col);
}

START_TEST(test_every_field)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/test_full.yaml", NULL});
    ck_assert_uint_eq(tbt_defs_count(d), 1);
    const tbt_resource_ref *ref = tbt_defs_at(d, 0);
    ck_assert_int_eq(ref->kind, TBT_RES_TEST);
    ck_assert_str_eq(ref->type_name, "Test");
    ck_assert_str_eq(ref->file, "defs/test_full.yaml");
    expect_at(&ref->loc, "defs/test_full.yaml", 2, 1);
    ck_assert_ptr_null(tbt_defs_at(d, 1));

    const tbt_test_def *t = ref->def;
    ck_assert_ptr_eq(t, tbt_defs_find_test(d, "full-test"));
    expect_str(&t->id, "full-test");
    expect_str(&t->name, "Full test");
    expect_str(&t->description, "Uses every field");
    expect_at(&t->name.loc, "defs/test_full.yaml", 5, 9);
    ck_assert_str_eq(t->file, "defs/test_full.yaml");

    expect_str(&t->trigger.type, "http");
    ck_assert_int_eq(t->trigger.node->type, TBT_Y_MAP);
    ck_assert_ptr_eq(t->trigger.block, tbt_ymap_get(t->trigger.node, "httpRequest"));
    ck_assert_str_eq(tbt_ymap_get(t->trigger.block, "method")->str, "POST");
    expect_at(&t->trigger.loc, "defs/test_full.yaml", 8, 5);

    ck_assert_uint_eq(t->n_specs, 3);
    const tbt_spec_def *s = &t->specs[0];
    expect_str(&s->name, "gateway answers");
    expect_str(&s->selector, "span[tracetest.span.type=\"http\" name=\"POST /checkout\"]");
    expect_at(&s->selector.loc, "defs/test_full.yaml", 18, 17);
    ck_assert_int_eq(s->selector.loc.style, TBT_STYLE_PLAIN);
    ck_assert_uint_eq(s->n_assertions, 2);
    expect_str(&s->assertions[0], "attr:http.status_code = 200");
    expect_str(&s->assertions[1], "attr:tracetest.span.duration < 50ms");
    expect_at(&s->assertions[1].loc, "defs/test_full.yaml", 21, 11);
    expect_at(&s->loc, "defs/test_full.yaml", 17, 7);

    /* No selector: every span. No name: absent. */
    s = &t->specs[1];
    expect_str(&s->name, NULL);
    expect_str(&s->selector, "");
    expect_str(&s->assertions[0], "attr:tracetest.selected_spans.count > 0");

    s = &t->specs[2];
    expect_str(&s->selector, "span[name=\"process payment\"]");
    ck_assert_int_eq(s->selector.loc.style, TBT_STYLE_DOUBLE);
    expect_at(&s->selector.loc, "defs/test_full.yaml", 24, 17);
    /* A number is taken as its text; a block scalar keeps its newline. */
    expect_str(&s->assertions[0], "99.99");
    expect_str(&s->assertions[1], "attr:payment.amount = 99.99\n");
    ck_assert_int_eq(s->assertions[1].loc.style, TBT_STYLE_LITERAL);
    expect_at(&s->assertions[1].loc, "defs/test_full.yaml", 27, 11);

    ck_assert_uint_eq(t->n_outputs, 1);
    expect_str(&t->outputs[0].name, "ORDER_ID");
    expect_str(&t->outputs[0].selector, "span[name=\"POST /checkout\"]");
    expect_str(&t->outputs[0].value, "attr:order.id");
    expect_at(&t->outputs[0].loc, "defs/test_full.yaml", 30, 7);

    ck_assert(t->skip_trace_collection);

    /* Inline polling profile (tbt extension). */
    expect_str(&t->polling_ref, NULL);
    const tbt_polling_def *p = t->polling;
    ck_assert_ptr_nonnull(p);
    ck_assert(p->is_inline);
    expect_str(&p->strategy, "periodic");
    ck_assert_int_eq(p->retry_delay_ns, 250000000LL);
    ck_assert_int_eq(p->timeout_ns, 5400000000000LL);
    ck_assert_int_eq(p->selector_match_retries, 7);
    ck_assert_ptr_null(tbt_defs_find_polling(d, ""));
    ck_assert_ptr_null(tbt_defs_default_polling(d));

    ck_assert_ptr_nonnull(t->completion);
    ck_assert_int_eq(t->completion->type, TBT_Y_MAP);
    ck_assert_str_eq(tbt_ymap_get(t->completion, "quietPeriod")->str, "2s");
    tbt_defs_free(d);
}
END_TEST

START_TEST(suite_by_path_and_id)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/suite.yaml", NULL});
    /* The suite, both step files and the polling file of sub/other.yaml. */
    ck_assert_uint_eq(tbt_defs_count(d), 4);
    const tbt_suite_def *s = tbt_defs_find_suite(d, "suite-paths");
    ck_assert_ptr_nonnull(s);
    expect_str(&s->name, "Suite by path and id");
    expect_str(&s->description, "Steps by relative path and by test id");
    ck_assert_uint_eq(s->n_steps, 3);
    expect_str(&s->steps[0].ref, "test_full.yaml");
    expect_at(&s->steps[0].ref.loc, "defs/suite.yaml", 7, 7);
    ck_assert_ptr_eq(s->steps[0].test, tbt_defs_find_test(d, "full-test"));
    ck_assert_ptr_nonnull(s->steps[1].test);
    expect_str(&s->steps[1].test->id, "other-test");
    ck_assert_str_eq(s->steps[1].test->file, "defs/sub/other.yaml");
    ck_assert_ptr_eq(s->steps[2].test, s->steps[1].test);

    /* sub/other.yaml names ../polling.yaml, relative to itself. */
    const tbt_test_def *other = s->steps[1].test;
    expect_str(&other->polling_ref, "../polling.yaml");
    ck_assert_ptr_eq(other->polling, tbt_defs_find_polling(d, "fast"));
    ck_assert_ptr_eq(tbt_defs_default_polling(d), other->polling);

    /* Loading a file again, under any name, is a no-op; so is resolving
     * again. */
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_defs_load_file(d, "defs/test_full.yaml", &err), 0);
    ck_assert_int_eq(tbt_defs_load_file(d, "defs/sub/../test_full.yaml", &err), 0);
    ck_assert_int_eq(tbt_defs_load_file(d, "./defs/suite.yaml", &err), 0);
    ck_assert_int_eq(tbt_defs_resolve(d, &err), 0);
    ck_assert_uint_eq(tbt_defs_count(d), 4);
    tbt_defs_free(d);
}
END_TEST

START_TEST(aliases_transaction_environment)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/transaction.yaml", "defs/test_full.yaml",
                                                   "defs/environment.yaml", NULL});
    const tbt_resource_ref *r = tbt_defs_at(d, 0);
    ck_assert_int_eq(r->kind, TBT_RES_SUITE);
    ck_assert_str_eq(r->type_name, "Transaction");
    const tbt_suite_def *s = r->def;
    ck_assert_ptr_eq(s, tbt_defs_find_suite(d, "tx-1"));
    ck_assert_ptr_eq(s->steps[0].test, tbt_defs_find_test(d, "full-test"));

    r = tbt_defs_at(d, 2);
    ck_assert_int_eq(r->kind, TBT_RES_VARSET);
    ck_assert_str_eq(r->type_name, "Environment");
    const tbt_varset_def *v = r->def;
    ck_assert_ptr_eq(v, tbt_defs_find_varset(d, "env-1"));
    expect_str(&v->name, "Old-style environment");
    ck_assert_uint_eq(v->n_values, 1);
    expect_str(&v->values[0].key, "HOST");
    expect_str(&v->values[0].value, "localhost");
    ck_assert_int_eq(v->values[0].value.loc.style, TBT_STYLE_DOUBLE);
    tbt_defs_free(d);
}
END_TEST

START_TEST(variable_set)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/varset.yaml", NULL});
    const tbt_varset_def *v = tbt_defs_find_varset(d, "vars-1");
    ck_assert_ptr_nonnull(v);
    expect_str(&v->name, "Local");
    expect_str(&v->description, "Developer machine");
    ck_assert_str_eq(v->file, "defs/varset.yaml");
    ck_assert_uint_eq(v->n_values, 4);
    expect_str(&v->values[0].key, "GATEWAY_URL");
    expect_str(&v->values[0].value, "http://localhost:8080");
    expect_at(&v->values[0].value.loc, "defs/varset.yaml", 8, 14);
    expect_str(&v->values[1].value, "3");
    expect_str(&v->values[2].key, "EMPTY");
    expect_str(&v->values[2].value, "");
    expect_str(&v->values[3].value, "true");
    tbt_defs_free(d);
}
END_TEST

START_TEST(polling_profiles)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/polling.yaml", "defs/polling_defaults.yaml", NULL});
    const tbt_polling_def *p = tbt_defs_find_polling(d, "fast");
    ck_assert_ptr_nonnull(p);
    expect_str(&p->name, "Fast polling");
    ck_assert(p->is_default);
    ck_assert(!p->is_inline);
    expect_str(&p->strategy, "periodic");
    ck_assert_int_eq(p->retry_delay_ns, 500000000LL);
    ck_assert_int_eq(p->timeout_ns, 120000000000LL);
    ck_assert_int_eq(p->selector_match_retries, 0);
    ck_assert_str_eq(p->file, "defs/polling.yaml");
    ck_assert_ptr_eq(tbt_defs_default_polling(d), p);

    /* Defaults: timeout 1m, retryDelay 5s, selectorMatchRetries 3. */
    p = tbt_defs_find_polling(d, "plain");
    ck_assert_ptr_nonnull(p);
    ck_assert(!p->is_default);
    expect_str(&p->strategy, "periodic");
    ck_assert_int_eq(p->timeout_ns, 60000000000LL);
    ck_assert_int_eq(p->retry_delay_ns, 5000000000LL);
    ck_assert_int_eq(p->selector_match_retries, 3);
    ck_assert_ptr_null(tbt_defs_find_polling(d, "nope"));
    ck_assert_ptr_null(tbt_defs_find_polling(d, NULL));
    tbt_defs_free(d);
}
END_TEST

START_TEST(multi_document_and_raw_resources)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/polling.yaml", "defs/multi.yaml", NULL});
    ck_assert_uint_eq(tbt_defs_count(d), 8);
    static const struct {
        tbt_resource_kind kind;
        const char *type;
        int line;
    } want[] = {
        {TBT_RES_POLLING, "PollingProfile", 1}, {TBT_RES_TEST, "Test", 2},      {TBT_RES_TEST, "Test", 14},
        {TBT_RES_TEST, "Test", 25},             {TBT_RES_OTHER, "DataStore", 40}, {TBT_RES_OTHER, "TestRunner", 46},
        {TBT_RES_OTHER, "Analyzer", 52},        {TBT_RES_OTHER, "Campaign", 58},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(want); i++) {
        const tbt_resource_ref *r = tbt_defs_at(d, i);
        ck_assert_int_eq(r->kind, want[i].kind);
        ck_assert_str_eq(r->type_name, want[i].type);
        ck_assert_int_eq(r->loc.line, want[i].line);
    }
    const tbt_test_def *t = tbt_defs_find_test(d, "grpc-test");
    expect_str(&t->trigger.type, "grpc");
    ck_assert_str_eq(tbt_ymap_get(t->trigger.block, "method")->str, "shop.Orders.Create");
    t = tbt_defs_find_test(d, "kafka-test");
    expect_str(&t->trigger.type, "kafka");
    ck_assert_int_eq(tbt_ymap_get(t->trigger.block, "brokerUrls")->type, TBT_Y_SEQ);
    t = tbt_defs_find_test(d, "amqp-test");
    expect_str(&t->trigger.type, "amqp");
    ck_assert(!t->skip_trace_collection);
    expect_str(&t->polling_ref, "fast");
    ck_assert_ptr_eq(t->polling, tbt_defs_find_polling(d, "fast"));
    ck_assert_ptr_null(t->completion);

    /* Raw resources keep their spec map. */
    const tbt_ynode *spec = tbt_defs_at(d, 5)->def;
    ck_assert_int_eq(spec->type, TBT_Y_MAP);
    ck_assert_uint_eq(tbt_ymap_get(spec, "requiredGates")->n, 2);
    ck_assert_str_eq(tbt_resource_kind_name(TBT_RES_OTHER), "Other");
    ck_assert_str_eq(tbt_resource_kind_name(TBT_RES_TEST), "Test");
    ck_assert_str_eq(tbt_resource_kind_name(TBT_RES_SUITE), "TestSuite");
    ck_assert_str_eq(tbt_resource_kind_name(TBT_RES_VARSET), "VariableSet");
    ck_assert_str_eq(tbt_resource_kind_name(TBT_RES_POLLING), "PollingProfile");
    tbt_defs_free(d);
}
END_TEST

START_TEST(yaml_aliases_in_definitions)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/aliases.yaml", NULL});
    const tbt_test_def *t = tbt_defs_find_test(d, "alias-test");
    ck_assert_uint_eq(t->n_specs, 2);
    expect_str(&t->specs[1].selector, "span[tracetest.span.type=\"http\"]");
    /* Shared text, and its position is the anchor's. */
    ck_assert_ptr_eq(t->specs[0].selector.s, t->specs[1].selector.s);
    expect_at(&t->specs[1].selector.loc, "defs/aliases.yaml", 10, 23);
    ck_assert_ptr_eq(t->specs[0].assertions[0].s, t->specs[1].assertions[0].s);
    expect_str(&t->outputs[0].selector, "span[tracetest.span.type=\"http\"]");
    expect_str(&t->trigger.type, "http");
    tbt_defs_free(d);
}
END_TEST

START_TEST(examples_load)
{
    const char *root = getenv("TBT_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(chdir(root), 0);
    tbt_defs *d = load_files((const char *const[]){"examples/vars.yaml", "examples/suite.yaml", NULL});
    const tbt_suite_def *s = tbt_defs_find_suite(d, "checkout-suite");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_steps, 2);
    const tbt_test_def *t = s->steps[0].test;
    ck_assert_ptr_eq(t, tbt_defs_find_test(d, "checkout-happy-path"));
    expect_str(&t->trigger.type, "http");
    ck_assert_str_eq(tbt_ymap_get(t->trigger.block, "method")->str, "POST");
    ck_assert_str_eq(tbt_ymap_get(t->trigger.block, "url")->str, "${var:GATEWAY_URL}/checkout");
    ck_assert_uint_eq(t->n_specs, 4);
    expect_str(&t->specs[0].selector, "span[tracetest.span.type=\"http\" name=\"POST /checkout\"]");
    /* The examples evolve with the captured traces beside them: pin the
     * selectors and the payment checks, not every assertion. */
    ck_assert_ptr_nonnull(strstr(t->specs[0].assertions[0].s, "= 200"));
    expect_str(&t->specs[1].selector, "span[name=\"process payment\"]");
    expect_str(&t->specs[1].assertions[0], "attr:payment.amount = 99.99");
    expect_str(&t->specs[1].assertions[1], "attr:tracetest.selected_spans.count = 1");
    expect_str(&t->specs[3].selector, "span[tracetest.span.type=\"database\"]");
    expect_str(&t->specs[3].assertions[0], "attr:tracetest.span.duration < 50ms");
    ck_assert_uint_eq(t->n_outputs, 1);
    expect_str(&t->outputs[0].name, "ORDER_ID");
    ck_assert_ptr_nonnull(t->polling);
    expect_str(&t->polling->id, "checkout-polling");
    ck_assert_int_eq(t->polling->timeout_ns, 30000000000LL);
    ck_assert_ptr_eq(s->steps[1].test->polling, t->polling);
    ck_assert_ptr_nonnull(tbt_defs_find_varset(d, "checkout-local"));
    tbt_defs_free(d);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */
/* Load files (and resolve); the load or resolve must fail with code and
 * exactly the formatted text. */
static void expect_file_error(const char *const *paths, int code, const char *formatted)
{
    enter_data_dir();
    tbt_defs *d = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    int r = 0;
    for (size_t i = 0; paths[i] && r == 0; i++)
        r = tbt_defs_load_file(d, paths[i], &err);
    if (r == 0)
        r = tbt_defs_resolve(d, &err);
    char *got = format_error(&err);
    ck_assert_msg(r == code, "code %d, want %d: %s", r, code, got);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(got, formatted);
    free(got);
    tbt_error_clear(&err);
    tbt_defs_free(d);
}

START_TEST(error_unknown_key_in_file)
{
    expect_file_error((const char *const[]){"defs/bad_key.yaml", NULL}, -EINVAL,
                      "defs/bad_key.yaml:7:7: unknown key \"selectr\" in spec; expected one of: name, selector, "
                      "assertions\n"
                      "          selectr: span[name=\"process payment\"]\n"
                      "          ^\n");
}
END_TEST

START_TEST(error_yaml_syntax_in_file)
{
    expect_file_error((const char *const[]){"defs/bad_syntax.yaml", NULL}, -EINVAL,
                      "defs/bad_syntax.yaml:3:15: mapping values are not allowed in this context\n"
                      "      name: broken: yes\n"
                      "                  ^\n");
}
END_TEST

START_TEST(error_missing_files)
{
    expect_file_error((const char *const[]){"defs/nope.yaml", NULL}, -ENOENT,
                      "defs/nope.yaml: No such file or directory\n");
    /* A missing step file: -ENOENT, at the step. */
    expect_file_error((const char *const[]){"defs/suite_missing.yaml", NULL}, -ENOENT,
                      "defs/suite_missing.yaml:6:7: defs/does-not-exist.yaml: No such file or directory\n"
                      "        - does-not-exist.yaml\n"
                      "          ^\n");
    expect_file_error((const char *const[]){"defs/suite_unknown_id.yaml", NULL}, -ENOENT,
                      "defs/suite_unknown_id.yaml:5:7: unknown test \"no-such-test\": no loaded Test has this id (a "
                      "file step ends in .yaml or .yml or holds a '/')\n"
                      "        - no-such-test\n"
                      "          ^\n");
    expect_file_error((const char *const[]){"defs/empty.yaml", NULL}, -EINVAL,
                      "defs/empty.yaml: no resource; expected YAML documents with \"type\" and \"spec\"\n");
    /* An unresolved polling profile id. */
    expect_file_error((const char *const[]){"defs/multi.yaml", NULL}, -ENOENT,
                      "defs/multi.yaml:30:19: unknown polling profile \"fast\": no loaded PollingProfile has this id\n"
                      "      pollingProfile: fast\n"
                      "                      ^\n");
    /* Duplicate ids across files. */
    expect_file_error((const char *const[]){"defs/test_full.yaml", "defs/dup_id.yaml", NULL}, -EINVAL,
                      "defs/dup_id.yaml:3:7: duplicate Test id \"full-test\" (also at defs/test_full.yaml:4:7)\n"
                      "      id: full-test\n"
                      "          ^\n");
}
END_TEST

/* Inline definitions whose loading must fail with exactly this text. */
static const struct {
    const char *name;
    const char *yaml;
    const char *error;
} inline_errors[] = {
    {"root not a map", "- a\n", "t.yaml:1:1: expected a resource (a map with \"type\" and \"spec\"), found a sequence\n"
                                "    - a\n"
                                "    ^\n"},
    {"unknown root key", "type: Test\nspecs: {}\n",
     "t.yaml:2:1: unknown key \"specs\" in resource; expected one of: type, spec\n"
     "    specs: {}\n"
     "    ^\n"},
    {"missing type", "spec: {}\n",
     "t.yaml:1:1: missing \"type\" in resource; expected one of: Test, TestSuite, Transaction, VariableSet, "
     "Environment, PollingProfile, DataStore, TestRunner, Analyzer, Campaign\n"
     "    spec: {}\n"
     "    ^\n"},
    {"unknown type", "type: Tset\nspec: {}\n",
     "t.yaml:1:7: unknown resource type \"Tset\"; expected one of: Test, TestSuite, Transaction, VariableSet, "
     "Environment, PollingProfile, DataStore, TestRunner, Analyzer, Campaign\n"
     "    type: Tset\n"
     "          ^\n"},
    {"missing spec", "type: Test\n", "t.yaml:1:1: missing \"spec\" in Test resource\n"
                                     "    type: Test\n"
                                     "    ^\n"},
    {"spec not a map", "type: Test\nspec: [1]\n", "t.yaml:2:7: expected a map for \"spec\", found a sequence\n"
                                                  "    spec: [1]\n"
                                                  "          ^\n"},
    {"unknown test key", "type: Test\nspec:\n  nmae: x\n",
     "t.yaml:3:3: unknown key \"nmae\" in Test spec; expected one of: id, name, description, trigger, specs, outputs, "
     "skipTraceCollection, pollingProfile, completion\n"
     "      nmae: x\n"
     "      ^\n"},
    {"name is a map", "type: Test\nspec:\n  name: {a: 1}\n",
     "t.yaml:3:9: expected a string for \"name\", found a map\n"
     "      name: {a: 1}\n"
     "            ^\n"},
    {"missing trigger", "type: Test\nspec:\n  name: x\n", "t.yaml:3:3: missing \"trigger\" in Test spec\n"
                                                          "      name: x\n"
                                                          "      ^\n"},
    {"unknown trigger type", "type: Test\nspec:\n  trigger:\n    type: soap\n",
     "t.yaml:4:11: unknown trigger type \"soap\"; expected one of: http, grpc, kafka, amqp, traceid\n"
     "        type: soap\n"
     "              ^\n"},
    {"missing trigger block", "type: Test\nspec:\n  trigger:\n    type: http\n    grpc: {}\n",
     "t.yaml:4:5: trigger of type \"http\" needs a \"httpRequest\" block\n"
     "        type: http\n"
     "        ^\n"},
    {"trigger block not a map", "type: Test\nspec:\n  trigger: {type: kafka, kafka: [a]}\n",
     "t.yaml:3:33: expected a map for \"kafka\", found a sequence\n"
     "      trigger: {type: kafka, kafka: [a]}\n"
     "                                    ^\n"},
    {"unknown trigger key", "type: Test\nspec:\n  trigger: {type: traceid, traceid: {}, http: {}}\n",
     "t.yaml:3:41: unknown key \"http\" in trigger; expected one of: type, httpRequest, grpc, kafka, amqp, traceid\n"
     "      trigger: {type: traceid, traceid: {}, http: {}}\n"
     "                                            ^\n"},
#define TRIG "type: Test\nspec:\n  trigger: {type: traceid, traceid: {id: x}}\n"
    {"specs not a list", TRIG "  specs: {a: 1}\n", "t.yaml:4:10: expected a list for \"specs\", found a map\n"
                                                   "      specs: {a: 1}\n"
                                                   "             ^\n"},
    {"spec item not a map", TRIG "  specs: [x]\n",
     "t.yaml:4:11: expected a map for an item of \"specs\", found a string\n"
     "      specs: [x]\n"
     "              ^\n"},
    {"missing assertions", TRIG "  specs:\n  - selector: span[]\n",
     "t.yaml:5:5: missing \"assertions\" in spec; a spec needs at least one assertion\n"
     "      - selector: span[]\n"
     "        ^\n"},
    {"empty assertions", TRIG "  specs:\n  - assertions: []\n",
     "t.yaml:5:17: empty \"assertions\" in spec; a spec needs at least one assertion\n"
     "      - assertions: []\n"
     "                    ^\n"},
    {"assertion not a string", TRIG "  specs:\n  - assertions:\n    - {a: b}\n",
     "t.yaml:6:7: expected a string for an assertion, found a map\n"
     "        - {a: b}\n"
     "          ^\n"},
    {"empty assertion", TRIG "  specs:\n  - assertions: ['']\n", "t.yaml:5:18: empty assertion\n"
                                                               "      - assertions: ['']\n"
                                                               "                     ^\n"},
    {"selector is a list", TRIG "  specs:\n  - selector: [a]\n    assertions: [x]\n",
     "t.yaml:5:15: expected a string for \"selector\", found a sequence\n"
     "      - selector: [a]\n"
     "                  ^\n"},
    {"output without value", TRIG "  outputs:\n  - name: X\n    selector: span[]\n",
     "t.yaml:5:5: missing \"value\" in output\n"
     "      - name: X\n"
     "        ^\n"},
    {"output with empty name", TRIG "  outputs:\n  - {name: '', selector: '', value: x}\n",
     "t.yaml:5:12: \"name\" in output must not be empty\n"
     "      - {name: '', selector: '', value: x}\n"
     "               ^\n"},
    {"bool is yes", TRIG "  skipTraceCollection: yes\n",
     "t.yaml:4:24: expected true or false for \"skipTraceCollection\", found \"yes\"\n"
     "      skipTraceCollection: yes\n"
     "                           ^\n"},
    {"bool is quoted", TRIG "  skipTraceCollection: \"true\"\n",
     "t.yaml:4:24: expected true or false for \"skipTraceCollection\", found \"true\"\n"
     "      skipTraceCollection: \"true\"\n"
     "                           ^\n"},
    {"polling is a list", TRIG "  pollingProfile: [a]\n",
     "t.yaml:4:19: expected a string for \"pollingProfile\" (an id, a file or a map), found a sequence\n"
     "      pollingProfile: [a]\n"
     "                      ^\n"},
    {"inline polling bad key", TRIG "  pollingProfile: {periodic: {timeot: 5s}}\n",
     "t.yaml:4:31: unknown key \"timeot\" in periodic; expected one of: retryDelay, timeout, selectorMatchRetries\n"
     "      pollingProfile: {periodic: {timeot: 5s}}\n"
     "                                  ^\n"},
    {"completion not a map", TRIG "  completion: 5s\n",
     "t.yaml:4:15: expected a map for \"completion\", found a string\n"
     "      completion: 5s\n"
     "                  ^\n"},
    {"NUL in a string", TRIG "  name: \"a\\0b\"\n", "t.yaml:4:9: \"name\" contains a NUL character\n"
                                                  "      name: \"a\\0b\"\n"
                                                  "            ^\n"},
#undef TRIG
    {"bad duration", "type: PollingProfile\nspec:\n  periodic:\n    timeout: 5 secs\n",
     "t.yaml:4:14: invalid duration \"5 secs\" for \"timeout\"; expected a positive Go duration like 500ms, 5s, 2m or "
     "1h30m\n"
     "        timeout: 5 secs\n"
     "                 ^\n"},
    {"zero duration", "type: PollingProfile\nspec:\n  periodic: {retryDelay: 0}\n",
     "t.yaml:3:26: invalid duration \"0\" for \"retryDelay\"; expected a positive Go duration like 500ms, 5s, 2m or "
     "1h30m\n"
     "      periodic: {retryDelay: 0}\n"
     "                             ^\n"},
    {"negative retries", "type: PollingProfile\nspec:\n  periodic: {selectorMatchRetries: -1}\n",
     "t.yaml:3:36: expected a whole number from 0 to 1000000 for \"selectorMatchRetries\", found \"-1\"\n"
     "      periodic: {selectorMatchRetries: -1}\n"
     "                                       ^\n"},
    {"strategy", "type: PollingProfile\nspec:\n  strategy: linear\n",
     "t.yaml:3:13: unsupported polling strategy \"linear\"; expected: periodic\n"
     "      strategy: linear\n"
     "                ^\n"},
    {"two defaults", "type: PollingProfile\nspec: {id: a, default: true}\n---\n"
                     "type: PollingProfile\nspec: {id: b, default: true}\n",
     "t.yaml:5:7: more than one default PollingProfile (the other is at t.yaml:1:1)\n"
     "    spec: {id: b, default: true}\n"
     "          ^\n"},
    {"duplicate id", "type: Test\nspec: {id: t, trigger: {type: traceid, traceid: {}}}\n---\n"
                     "type: Test\nspec: {id: t, trigger: {type: traceid, traceid: {}}}\n",
     "t.yaml:5:12: duplicate Test id \"t\" (also at t.yaml:2:12)\n"
     "    spec: {id: t, trigger: {type: traceid, traceid: {}}}\n"
     "               ^\n"},
    {"suite without steps", "type: TestSuite\nspec: {name: s}\n",
     "t.yaml:2:7: missing \"steps\" in TestSuite spec; a suite needs at least one step\n"
     "    spec: {name: s}\n"
     "          ^\n"},
    {"step not a string", "type: TestSuite\nspec:\n  steps:\n  - {a: 1}\n",
     "t.yaml:4:5: expected a string for a suite step (a test file or id), found a map\n"
     "      - {a: 1}\n"
     "        ^\n"},
    {"varset without name", "type: VariableSet\nspec:\n  values: []\n",
     "t.yaml:3:3: missing \"name\" in VariableSet spec\n"
     "      values: []\n"
     "      ^\n"},
    {"variable with empty key", "type: VariableSet\nspec:\n  name: v\n  values:\n  - key: \"\"\n    value: 1\n",
     "t.yaml:5:10: \"key\" in variable must not be empty\n"
     "      - key: \"\"\n"
     "             ^\n"},
    {"variable value is a map", "type: VariableSet\nspec:\n  name: v\n  values:\n  - key: A\n    value: {x: 1}\n",
     "t.yaml:6:12: expected a string for \"value\", found a map\n"
     "        value: {x: 1}\n"
     "               ^\n"},
    {"duplicate variable", "type: Environment\nspec:\n  name: v\n  values:\n  - {key: A, value: 1}\n  - {key: A}\n",
     "t.yaml:6:11: duplicate variable \"A\" (first at line 5, column 11)\n"
     "      - {key: A}\n"
     "              ^\n"},
    {"unknown variable key", "type: VariableSet\nspec:\n  name: v\n  values:\n  - {name: A, value: 1}\n",
     "t.yaml:5:6: unknown key \"name\" in variable; expected one of: key, value\n"
     "      - {name: A, value: 1}\n"
     "         ^\n"},
    {"step path without file access", "type: TestSuite\nspec:\n  steps: [./other.yaml]\n",
     "t.yaml:3:11: cannot load suite step \"./other.yaml\": reading files is disabled\n"
     "      steps: [./other.yaml]\n"
     "              ^\n"},
};

START_TEST(inline_error)
{
    const char *yaml = inline_errors[_i].yaml;
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    tbt_error err = TBT_ERROR_INIT;
    int r = tbt_defs_load_text(d, "t.yaml", yaml, strlen(yaml), &err);
    if (r == 0)
        r = tbt_defs_resolve(d, &err);
    char *got = format_error(&err);
    ck_assert_msg(r < 0, "%s: loaded without error", inline_errors[_i].name);
    ck_assert_msg(strcmp(got, inline_errors[_i].error) == 0, "%s:\n got: %s\nwant: %s", inline_errors[_i].name, got,
                  inline_errors[_i].error);
    free(got);
    tbt_error_clear(&err);
    /* Nothing of a failed file is kept. */
    size_t n = tbt_defs_count(d);
    ck_assert_msg(n == 0 || strstr(inline_errors[_i].name, "file access"), "%zu resources kept", n);
    tbt_defs_free(d);
}
END_TEST

START_TEST(file_access_disabled)
{
    enter_data_dir();
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_defs_load_file(d, "defs/test_full.yaml", &err), -EPERM);
    ck_assert_str_eq(err.msg, "defs/test_full.yaml: reading files is disabled");
    /* Ids still resolve. */
    const char *text = "type: TestSuite\nspec:\n  steps: [t1]\n---\n"
                       "type: Test\nspec: {id: t1, trigger: {type: traceid, traceid: {id: x}}}\n";
    ck_assert_int_eq(tbt_defs_load_text(d, "mem.yaml", text, strlen(text), &err), 0);
    ck_assert_int_eq(tbt_defs_resolve(d, &err), 0);
    const tbt_suite_def *s = tbt_defs_at(d, 0)->def;
    ck_assert_ptr_eq(s->steps[0].test, tbt_defs_find_test(d, "t1"));
    tbt_defs_set_file_access(d, true);
    ck_assert_int_eq(tbt_defs_load_file(d, "defs/polling.yaml", &err), 0);
    ck_assert_uint_eq(tbt_defs_count(d), 3);
    tbt_error_clear(&err);
    tbt_defs_free(d);
}
END_TEST

START_TEST(step_file_without_test)
{
    expect_file_error((const char *const[]){"defs/sub/bad_step.yaml", NULL}, -EINVAL,
                      "defs/sub/bad_step.yaml:4:7: defs/sub/../polling.yaml holds no Test\n"
                      "        - ../polling.yaml\n"
                      "          ^\n");
    /* An error inside the step file is reported where it is. */
    expect_file_error((const char *const[]){"defs/sub/bad_step2.yaml", NULL}, -EINVAL,
                      "defs/sub/../bad_key.yaml:7:7: unknown key \"selectr\" in spec; expected one of: name, selector, "
                      "assertions\n"
                      "          selectr: span[name=\"process payment\"]\n"
                      "          ^\n");
}
END_TEST

START_TEST(error_source_points_into_file)
{
    enter_data_dir();
    tbt_defs *d = load_files((const char *const[]){"defs/test_full.yaml", NULL});
    const tbt_test_def *t = tbt_defs_find_test(d, "full-test");
    const tbt_str *sel = &t->specs[0].selector;
    /* A later stage reports a fault at byte 5 of the selector. */
    tbt_error err = TBT_ERROR_INIT;
    tbt_error_set(&err, -EINVAL, "unexpected token");
    tbt_error_at(&err, &sel->loc, sel->s, 5);
    tbt_defs_error_source(d, &err);
    char *got = format_error(&err);
    ck_assert_str_eq(got, "defs/test_full.yaml:18:22: unexpected token\n"
                          "          selector: span[tracetest.span.type=\"http\" name=\"POST /checkout\"]\n"
                          "                         ^\n");
    free(got);
    /* Not from a loaded file: left alone. */
    tbt_error_set(&err, -EINVAL, "x");
    tbt_error_at(&err, NULL, "abc", 1);
    tbt_defs_error_source(d, &err);
    ck_assert_str_eq(err.source_line, "abc");
    tbt_error_clear(&err);
    tbt_defs_free(d);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_every_field);
    tcase_add_test(tc, suite_by_path_and_id);
    tcase_add_test(tc, aliases_transaction_environment);
    tcase_add_test(tc, variable_set);
    tcase_add_test(tc, polling_profiles);
    tcase_add_test(tc, multi_document_and_raw_resources);
    tcase_add_test(tc, yaml_aliases_in_definitions);
    tcase_add_test(tc, examples_load);
    tcase_add_test(tc, file_access_disabled);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, error_unknown_key_in_file);
    tcase_add_test(tc, error_yaml_syntax_in_file);
    tcase_add_test(tc, error_missing_files);
    tcase_add_test(tc, step_file_without_test);
    tcase_add_test(tc, error_source_points_into_file);
    tcase_add_loop_test(tc, inline_error, 0, (int)TBT_ARRAY_LEN(inline_errors));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

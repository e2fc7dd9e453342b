/* test_trigger.c - the trigger table and the http trigger against a real
 * local HTTP server (libmicrohttpd): what arrives (method, headers incl.
 * traceparent/tracestate, auth, body from a file), what is recorded
 * (status, body, headers), and the reasons when the call cannot happen. */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trigger_fixture.h"

typedef struct seen {
    char method[16], url[256], traceparent[64], tracestate[64], auth[256], apikey[128], ctype[64];
    char body[4096];
    size_t body_len;
} seen;

static seen last;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **state)
{
    TBT_UNUSED(cls);
    TBT_UNUSED(version);
    if (!*state) {
        *state = (void *)1;
        memset(&last, 0, sizeof(last));
        return MHD_YES;
    }
    if (*size) {
        size_t n = *size;
        if (last.body_len + n >= sizeof(last.body))
            n = sizeof(last.body) - last.body_len - 1;
        memcpy(last.body + last.body_len, data, n);
        last.body_len += n;
        *size = 0;
        return MHD_YES;
    }
    snprintf(last.method, sizeof(last.method), "%s", method);
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api_key");
    snprintf(last.url, sizeof(last.url), "%s", url);
    snprintf(last.apikey, sizeof(last.apikey), "%s", q ? q : "");
    const char *v;
#define COPY(field, name)                                                    \
    v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);               \
    snprintf(last.field, sizeof(last.field), "%s", v ? v : "")
    COPY(traceparent, "traceparent");
    COPY(tracestate, "tracestate");
    COPY(auth, "Authorization");
    COPY(ctype, "Content-Type");
    if (!q) {
        COPY(apikey, "X-Api-Key");
    }
#undef COPY
    const char *body = "{\"orderId\":\"ord-1\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Order", "ord-1");
    /* which TCP connection served this (the server runs in the test's
     * parent process: the child learns it from the answer) */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    char conn[32];
    snprintf(conn, sizeof(conn), "%ld", ci ? (long)(intptr_t)ci->socket_context : -1L);
    MHD_add_response_header(r, "X-Connection", conn);
    int code = strcmp(url, "/teapot") == 0 ? 418 : 201;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *daemon_;
static uint16_t port;
static atomic_int connections; /* TCP connections the server accepted */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    TBT_UNUSED(cls);
    TBT_UNUSED(c);
    TBT_UNUSED(socket_context);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = (void *)(intptr_t)(atomic_fetch_add(&connections, 1) + 1);
}

static void setup(void)
{
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handler, NULL,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(daemon_);
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void teardown(void)
{
    MHD_stop_daemon(daemon_);
}

START_TEST(http_post_with_headers_and_trace_context)
{
    tbt_vars *vars = tbt_vars_new();
    char *base = tbt_xasprintf("http://127.0.0.1:%u", port);
    tbt_vars_set(vars, "BASE", base);
    tbt_vars_set(vars, "CUSTOMER", "cust-42");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire_in("    type: http\n    httpRequest:\n      method: POST\n      url: ${var:BASE}/checkout\n"
                  "      headers:\n      - key: Content-Type\n        value: application/json\n"
                  "      body: '{\"customer\": \"${var:CUSTOMER}\", \"n\": ${1 + 1}}'\n",
                  vars, &resp, &err, NULL);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(last.method, "POST");
    ck_assert_str_eq(last.url, "/checkout");
    ck_assert_str_eq(last.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert_str_eq(last.tracestate, "tracetest=true");
    ck_assert_str_eq(last.ctype, "application/json");
    ck_assert_str_eq(last.body, "{\"customer\": \"cust-42\", \"n\": 2}");
    ck_assert_int_eq(resp.status_code, 201);
    ck_assert_str_eq(resp.status, "201");
    ck_assert_str_eq(resp.body, "{\"orderId\":\"ord-1\"}");
    ck_assert_ptr_nonnull(strstr(resp.headers_json, "{\"Key\":\"X-Order\",\"Value\":\"ord-1\"}"));
    ck_assert(resp.end_unix_ns >= resp.start_unix_ns && resp.start_unix_ns > 0);
    tbt_trigger_response_clear(&resp);
    free(base);
    tbt_vars_free(vars);
}
END_TEST

/* Runs on one thread reuse one connection (keep-alive), and nothing of
 * one request (credentials, headers, body) leaks into the next. */
START_TEST(http_keeps_the_connection_alive)
{
    tbt_vars *vars = tbt_vars_new();
    char *base = tbt_xasprintf("http://127.0.0.1:%u", port);
    tbt_vars_set(vars, "BASE", base);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    char first[64] = "";
    int rc = fire_in("    type: http\n    httpRequest:\n      method: POST\n      url: ${var:BASE}/a\n"
                     "      headers:\n      - key: X-Api-Key\n        value: k1\n"
                     "      body: '{\"a\": 1}'\n"
                     "      auth:\n        type: basic\n        basic:\n          username: ada\n"
                     "          password: pw\n",
                     vars, &resp, &err, NULL);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(last.auth, "Basic YWRhOnB3");
    const char *cx = strstr(resp.headers_json, "{\"Key\":\"X-Connection\",\"Value\":\"");
    ck_assert_ptr_nonnull(cx);
    snprintf(first, sizeof(first), "%.*s", (int)strcspn(cx, "}"), cx);
    tbt_trigger_response_clear(&resp);
    for (int i = 0; i < 4; i++) {
        rc = fire_in("    type: http\n    httpRequest:\n      url: ${var:BASE}/b\n", vars, &resp, &err, NULL);
        ck_assert_msg(rc == 0, "%s", err.msg);
        ck_assert_str_eq(last.method, "GET");
        ck_assert_str_eq(last.auth, "");   /* the first request's credentials are gone */
        ck_assert_str_eq(last.apikey, ""); /* and its headers */
        ck_assert_str_eq(last.body, "");   /* and its body */
        /* the same TCP connection served it */
        ck_assert_msg(strstr(resp.headers_json, first) != NULL, "%s not in %s", first, resp.headers_json);
        tbt_trigger_response_clear(&resp);
    }
    free(base);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(http_auth_kinds)
{
    tbt_vars *vars = tbt_vars_new();
    char *base = tbt_xasprintf("http://127.0.0.1:%u", port);
    tbt_vars_set(vars, "BASE", base);
    tbt_vars_set(vars, "TOKEN", "s3cret");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire_in("    type: http\n    httpRequest:\n      url: ${var:BASE}/a\n      auth:\n        type: bearer\n"
                          "        bearer:\n          token: ${var:TOKEN}\n",
                          vars, &resp, &err, NULL),
                     0);
    ck_assert_str_eq(last.auth, "Bearer s3cret");
    ck_assert_str_eq(last.method, "GET");
    tbt_trigger_response_clear(&resp);
    ck_assert_int_eq(fire_in("    type: http\n    httpRequest:\n      url: ${var:BASE}/a\n      auth:\n        type: basic\n"
                          "        basic:\n          username: ada\n          password: lovelace\n",
                          vars, &resp, &err, NULL),
                     0);
    ck_assert_str_eq(last.auth, "Basic YWRhOmxvdmVsYWNl");
    tbt_trigger_response_clear(&resp);
    ck_assert_int_eq(fire_in("    type: http\n    httpRequest:\n      url: ${var:BASE}/a?x=1\n      auth:\n"
                          "        type: apiKey\n        apiKey:\n          key: api_key\n          value: k 1&2\n"
                          "          in: query\n",
                          vars, &resp, &err, NULL),
                     0);
    ck_assert_str_eq(last.apikey, "k 1&2");
    tbt_trigger_response_clear(&resp);
    ck_assert_int_eq(fire_in("    type: http\n    httpRequest:\n      url: ${var:BASE}/teapot\n      auth:\n"
                          "        type: apiKey\n        apiKey:\n          key: X-Api-Key\n          value: abc\n",
                          vars, &resp, &err, NULL),
                     0);
    ck_assert_str_eq(last.apikey, "abc");
    ck_assert_int_eq(resp.status_code, 418); /* any status is a response, not an error */
    tbt_trigger_response_clear(&resp);
    free(base);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(http_body_from_file)
{
    char dir[] = "/tmp/tbt-trigger-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *path = tbt_xasprintf("%s/order.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"from\": \"file\"}", f);
    fclose(f);
    tbt_vars *vars = tbt_vars_new();
    char *trig = tbt_xasprintf("    type: http\n    httpRequest:\n      method: PUT\n      url: http://127.0.0.1:%u/f\n"
                               "      body: order.json\n",
                               port);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire_in(trig, vars, &resp, &err, dir), 0);
    ck_assert_str_eq(last.method, "PUT");
    ck_assert_str_eq(last.body, "{\"from\": \"file\"}");
    tbt_trigger_response_clear(&resp);
    unlink(path);
    rmdir(dir);
    free(path);
    free(trig);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(http_failures_are_explained)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    /* a port nobody listens on: bind one, close it */
    int rc = fire_in("    type: http\n    httpRequest:\n      url: http://127.0.0.1:1/x\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -ECONNREFUSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "nothing answered at 127.0.0.1:1 (connection refused); the target is localhost"));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    rc = fire_in("    type: http\n    httpRequest:\n      url: http://no-such-host.invalid/x\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EHOSTUNREACH);
    ck_assert_ptr_nonnull(strstr(err.msg, "the host 'no-such-host.invalid' did not resolve"));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    rc = fire_in("    type: http\n    httpRequest:\n      url: ${var:UNDEFINED}/x\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "variable 'UNDEFINED' is not defined"));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(parse_errors_have_positions)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire_in("    type: http\n    httpRequest:\n      url: http://x/\n      methd: GET\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_str_eq(err.msg, "unknown key \"methd\" in httpRequest; expected one of: method, url, headers, body, auth, "
                              "sslVerification");
    ck_assert_int_eq(err.line, 9);
    ck_assert_int_eq(err.col, 7);
    tbt_error_clear(&err);
    rc = fire_in("    type: http\n    httpRequest:\n      method: GET\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_str_eq(err.msg, "httpRequest needs \"url\"");
    tbt_error_clear(&err);
    rc = fire_in("    type: http\n    httpRequest:\n      url: http://x/\n      auth:\n        type: digest\n", vars, &resp,
              &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_str_eq(err.msg, "httpRequest.auth.type must be apiKey, basic or bearer, found \"digest\"");
    tbt_error_clear(&err);
    rc = fire_in("    type: http\n    httpRequest:\n      url: http://x/\n      sslVerification: maybe\n", vars, &resp, &err,
              NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "sslVerification must be true or false"));
    tbt_error_clear(&err);
    rc = fire_in("    type: soap\n", vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_msg(strstr(err.msg, "unknown trigger type \"soap\""), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(traceid_trigger)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "TID", "4BF92F3577B34DA6A3CE929D0E0E4736");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire_in("    type: traceid\n    traceid:\n      id: ${var:TID}\n", vars, &resp, &err, NULL), 0);
    ck_assert(resp.has_trace_id);
    ck_assert_int_eq(resp.trace_id[0], 0x4b);
    ck_assert_int_eq(resp.trace_id[15], 0x36);
    tbt_trigger_response_clear(&resp);
    tbt_vars_set(vars, "TID", "not-hex");
    ck_assert_int_eq(fire_in("    type: traceid\n    traceid:\n      id: ${var:TID}\n", vars, &resp, &err, NULL), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a trace id"));
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trigger");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, http_post_with_headers_and_trace_context);
    tcase_add_test(tc, http_auth_kinds);
    tcase_add_test(tc, http_keeps_the_connection_alive);
    tcase_add_test(tc, http_body_from_file);
    tcase_add_test(tc, http_failures_are_explained);
    tcase_add_test(tc, parse_errors_have_positions);
    tcase_add_test(tc, traceid_trigger);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

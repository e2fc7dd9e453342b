/* test_trigger_grpc.c - the grpc trigger against a real gRPC server
 * (tests/grpc-peer/server.js, @grpc/grpc-js, started and stopped here):
 * the reply decoded with the .proto, what the server saw (traceparent,
 * tracestate, metadata, auth), gRPC error codes with their message, and
 * the reasons when the call cannot happen. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trigger_fixture.h"

static pid_t peer_pid = -1;
static int peer_stdin = -1;
static unsigned peer_port;
static char *peer_dir;

static void start_peer(void)
{
    const char *root = getenv("TBT_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "TBT_SOURCE_ROOT is not set");
    peer_dir = tbt_xasprintf("%s/tests/grpc-peer", root);
    char *nm = tbt_xasprintf("%s/node_modules/@grpc/grpc-js", peer_dir);
    struct stat st;
    if (stat(nm, &st) != 0) {
        char *cmd = tbt_xasprintf("cd '%s' && npm ci --silent --no-audit --no-fund >/dev/null 2>&1", peer_dir);
        ck_assert_msg(system(cmd) == 0, "npm ci in %s failed", peer_dir);
        free(cmd);
    }
    free(nm);
    int out[2], in[2];
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(in), 0);
    peer_pid = fork();
    ck_assert_int_ge(peer_pid, 0);
    if (peer_pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        close(out[0]);
        close(in[1]);
        char *script = tbt_xasprintf("%s/server.js", peer_dir);
        execlp("node", "node", script, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    peer_stdin = in[1]; /* the server exits when this closes */
    /* bounded wait for "PORT n" */
    char buf[128] = "";
    size_t n = 0;
    uint64_t deadline = tbt_now_mono_ns() + 30ull * 1000000000ull;
    while (!strchr(buf, '\n') && tbt_now_mono_ns() < deadline && n < sizeof(buf) - 1) {
        struct pollfd pfd = {out[0], POLLIN, 0};
        if (poll(&pfd, 1, 500) <= 0)
            continue;
        ssize_t r = read(out[0], buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
    }
    close(out[0]);
    ck_assert_msg(sscanf(buf, "PORT %u", &peer_port) == 1, "the gRPC peer did not start (got \"%s\")", buf);
}

static void stop_peer(void)
{
    if (peer_stdin >= 0)
        close(peer_stdin);
    if (peer_pid > 0) {
        kill(peer_pid, SIGTERM);
        waitpid(peer_pid, NULL, 0);
    }
    peer_pid = -1;
    peer_stdin = -1;
    free(peer_dir);
    peer_dir = NULL;
}

START_TEST(grpc_unary_call_with_metadata_and_auth)
{
    tbt_vars *vars = tbt_vars_new();
    char *addr = tbt_xasprintf("127.0.0.1:%u", peer_port);
    tbt_vars_set(vars, "ADDR", addr);
    tbt_vars_set(vars, "SKU", "sku-42");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire_in("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n      address: ${var:ADDR}\n"
                  "      method: inventory.Inventory.Reserve\n"
                  "      request: '{\"sku\": \"${var:SKU}\", \"quantity\": 3, \"metadata\": {\"origin\": \"tbt\"}}'\n"
                  "      metadata:\n      - key: x-tenant\n        value: acme\n"
                  "      auth:\n        type: bearer\n        bearer:\n          token: s3cret\n",
                  vars, &resp, &err, peer_dir);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(resp.status, "0");
    ck_assert_int_eq(resp.status_code, 0);
    ck_assert_msg(strstr(resp.body, "\"status\":\"RESERVED\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"reserved\":3"), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"createdAt\":\"2024-05-01T10:00:00.500Z\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\""),
                  "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"tracestate\":\"tracetest=true\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"authorization\":\"Bearer s3cret\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"tenant\":\"acme|tbt\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"big\":\"9007199254740993\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.headers_json, "{\"Key\":\"x-inventory\",\"Value\":\"v1\"}"), "%s", resp.headers_json);
    ck_assert_msg(strstr(resp.headers_json, "{\"Key\":\"x-reserved-by\",\"Value\":\"peer\"}"), "%s",
                  resp.headers_json);
    ck_assert_ptr_null(extra(&resp, "grpc.message"));
    ck_assert(resp.end_unix_ns >= resp.start_unix_ns && resp.start_unix_ns > 0);
    tbt_trigger_response_clear(&resp);

    /* inline .proto text, service given apart, basic auth */
    char *proto_path = tbt_xasprintf("%s/inventory.proto", peer_dir);
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(tbt_read_file(proto_path, 1 << 20, &text, &len, &err), 0);
    tbt_buf y = TBT_BUF_INIT;
    tbt_buf_puts(&y, "    type: grpc\n    grpc:\n      protobufFile: |\n");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        tbt_buf_printf(&y, "        %s\n", line);
    tbt_buf_printf(&y, "      address: http://127.0.0.1:%u\n      service: Inventory\n      method: Reserve\n"
                       "      request: '{\"sku\": \"x\", \"quantity\": \"12\"}'\n"
                       "      auth:\n        type: basic\n        basic:\n          username: ada\n"
                       "          password: lovelace\n",
                   peer_port);
    rc = fire_in(tbt_buf_cstr(&y), vars, &resp, &err, NULL);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_msg(strstr(resp.body, "\"status\":\"BACKORDERED\""), "%s", resp.body);
    ck_assert_msg(strstr(resp.body, "\"authorization\":\"Basic YWRhOmxvdmVsYWNl\""), "%s", resp.body);
    tbt_trigger_response_clear(&resp);
    tbt_buf_free(&y);
    free(text);
    free(proto_path);
    free(addr);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(grpc_error_codes)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    char *y = tbt_xasprintf("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n"
                            "      address: 127.0.0.1:%u\n      method: inventory.Inventory.Lookup\n"
                            "      request: '{\"sku\": \"nope\"}'\n",
                            peer_port);
    int rc = fire_in(y, vars, &resp, &err, peer_dir);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(resp.status, "5");
    ck_assert_int_eq(resp.status_code, 5);
    ck_assert_ptr_nonnull(extra(&resp, "grpc.message"));
    ck_assert_str_eq(extra(&resp, "grpc.message"), "sku nope not found");
    tbt_trigger_response_clear(&resp);
    free(y);
    y = tbt_xasprintf("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n"
                      "      address: 127.0.0.1:%u\n      method: inventory.Inventory.Reserve\n"
                      "      auth:\n        type: apiKey\n        apiKey:\n          key: authorization\n"
                      "          value: Bearer wrong\n",
                      peer_port);
    rc = fire_in(y, vars, &resp, &err, peer_dir);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(resp.status, "16");
    ck_assert_str_eq(extra(&resp, "grpc.message"), "bad token");
    tbt_trigger_response_clear(&resp);
    free(y);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(grpc_failures_are_explained)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire_in("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n      address: 127.0.0.1:1\n"
                  "      method: inventory.Inventory.Reserve\n",
                  vars, &resp, &err, peer_dir);
    ck_assert_int_eq(rc, -ECONNREFUSED);
    ck_assert_msg(strstr(err.msg, "nothing answered at 127.0.0.1:1 (connection refused)"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    /* an unknown request field names itself and the message type */
    char *y = tbt_xasprintf("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n"
                            "      address: 127.0.0.1:%u\n      method: inventory.Inventory.Reserve\n"
                            "      request: '{\"skuu\": \"x\"}'\n",
                            peer_port);
    rc = fire_in(y, vars, &resp, &err, peer_dir);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_msg(strstr(err.msg, "unknown field \"skuu\" in message inventory.ReserveRequest"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    free(y);
    /* streaming is refused, a wrong method lists what exists */
    rc = fire_in("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n      address: 127.0.0.1:1\n"
              "      method: inventory.Inventory.Watch\n",
              vars, &resp, &err, peer_dir);
    ck_assert_int_eq(rc, -ENOTSUP);
    ck_assert_msg(strstr(err.msg, "server streaming method"), "%s", err.msg);
    tbt_error_clear(&err);
    rc = fire_in("    type: grpc\n    grpc:\n      protobufFile: inventory.proto\n      address: 127.0.0.1:1\n"
              "      method: inventory.Inventory.Reserv\n",
              vars, &resp, &err, peer_dir);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_msg(strstr(err.msg, "has no method \"Reserv\" (methods: Reserve, Lookup, Watch)"), "%s", err.msg);
    tbt_error_clear(&err);
    rc = fire_in("    type: grpc\n    grpc:\n      protobufFile: missing.proto\n      address: 127.0.0.1:1\n"
              "      method: a.B.C\n",
              vars, &resp, &err, peer_dir);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_msg(strstr(err.msg, "cannot read"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(grpc_parse_errors_have_positions)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire_in("    type: grpc\n    grpc:\n      address: x:1\n      method: a.B.C\n      protobufFile: x.proto\n"
                  "      requets: '{}'\n",
                  vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_msg(strstr(err.msg, "unknown key \"requets\" in grpc"), "%s", err.msg);
    ck_assert_int_eq(err.line, 11);
    tbt_error_clear(&err);
    /* an inline .proto is read at parse time: its errors point into the definition */
    rc = fire_in("    type: grpc\n    grpc:\n      address: x:1\n      method: p.S.M\n      protobufFile: |\n"
              "        syntax = \"proto3\";\n        package p;\n        message A { strin name = 1; }\n"
              "        service S { rpc M (A) returns (A); }\n",
              vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_msg(strstr(err.msg, "unknown type \"strin\""), "%s", err.msg);
    ck_assert_int_eq(err.line, 13);
    tbt_error_clear(&err);
    rc = fire_in("    type: grpc\n    grpc:\n      address: x:1\n      method: p.S.N\n      protobufFile: |\n"
              "        syntax = \"proto3\";\n        package p;\n        message A { string name = 1; }\n"
              "        service S { rpc M (A) returns (A); }\n",
              vars, &resp, &err, NULL);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_msg(strstr(err.msg, "grpc.method: service p.S has no method \"N\""), "%s", err.msg);
    ck_assert_int_eq(err.line, 9);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("trigger_grpc");
    TCase *tc = tcase_create("grpc");
    tcase_add_unchecked_fixture(tc, start_peer, stop_peer);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, grpc_unary_call_with_metadata_and_auth);
    tcase_add_test(tc, grpc_error_codes);
    tcase_add_test(tc, grpc_failures_are_explained);
    tcase_add_test(tc, grpc_parse_errors_have_positions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

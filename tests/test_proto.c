/* test_proto.c - the .proto reader (valid files, errors at file:line:col,
 * hostile input) and the proto3 JSON codec (bytes checked against the
 * encodings the protobuf documentation gives, round trips, the well-known
 * types). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_proto.h"

static const char *const SCHEMA =
    "// a shop\n"
    "syntax = \"proto3\";\n"
    "package shop.v1;\n"
    "import \"google/protobuf/timestamp.proto\";\n"
    "import \"google/protobuf/duration.proto\";\n"
    "import \"google/protobuf/wrappers.proto\";\n"
    "import \"google/protobuf/struct.proto\";\n"
    "import \"google/protobuf/empty.proto\";\n"
    "import public \"google/protobuf/field_mask.proto\";\n"
    "import \"google/protobuf/any.proto\";\n"
    "option java_package = \"com.example\";\n"
    "message Test1 { int32 a = 1; }\n"
    "message Test2 { string b = 2; }\n"
    "message Test3 { Test1 c = 3; }\n"
    "message Test4 { string d = 1; repeated int32 e = 4; }\n"
    "message Order {\n"
    "  enum State { STATE_UNSPECIFIED = 0; OPEN = 1; CLOSED = 2; }\n"
    "  message Line { string sku = 1; uint32 qty = 2; }\n"
    "  string order_id = 1;\n"
    "  State state = 2;\n"
    "  repeated Line lines = 3;\n"
    "  map<string, int64> totals = 4;\n"
    "  oneof payment { string card = 5; string iban = 6; }\n"
    "  google.protobuf.Timestamp created_at = 7;\n"
    "  google.protobuf.Duration ttl = 8;\n"
    "  google.protobuf.Int32Value priority = 9;\n"
    "  google.protobuf.Struct extra = 10;\n"
    "  bytes blob = 11;\n"
    "  sint64 delta = 12;\n"
    "  double ratio = 13;\n"
    "  bool gift = 14 [json_name = \"isGift\"];\n"
    "  google.protobuf.FieldMask mask = 15;\n"
    "  google.protobuf.Any any = 16;\n"
    "  reserved 20 to 25;\n"
    "  map<int32, Line> by_pos = 17;\n"
    "  fixed64 f64 = 18;\n"
    "  float score = 19;\n"
    "}\n"
    "service Orders {\n"
    "  option deprecated = true;\n"
    "  rpc Place (Order) returns (Order);\n"
    "  rpc Ping (google.protobuf.Empty) returns (google.protobuf.Empty) {}\n"
    "  rpc Feed (Test1) returns (stream Order);\n"
    "}\n";

static tbt_proto *schema(void)
{
    tbt_proto *p = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_proto_parse(SCHEMA, strlen(SCHEMA), "shop.proto", NULL, NULL, &p, &err);
    ck_assert_msg(rc == 0, "%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    return p;
}

static char *hex_of(const tbt_buf *b)
{
    char *h = tbt_xmalloc(b->len * 2 + 1);
    tbt_hex_encode((const uint8_t *)b->data, b->len, h);
    return h;
}

/* JSON text -> hex of the encoding (or NULL with err). */
static char *encode_hex(const tbt_proto *p, const char *type, const char *json, tbt_error *err)
{
    const tbt_proto_message *m = tbt_proto_find_message(p, type);
    ck_assert_msg(m != NULL, "no message %s", type);
    cJSON *j = cJSON_Parse(json);
    ck_assert_msg(j != NULL, "bad test JSON %s", json);
    tbt_buf b = TBT_BUF_INIT;
    int rc = tbt_proto_encode_json(m, j, &b, err);
    cJSON_Delete(j);
    char *h = rc == 0 ? hex_of(&b) : NULL;
    tbt_buf_free(&b);
    return h;
}

static char *roundtrip(const tbt_proto *p, const char *type, const char *json)
{
    const tbt_proto_message *m = tbt_proto_find_message(p, type);
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    tbt_buf b = TBT_BUF_INIT, out = TBT_BUF_INIT;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_proto_encode_json(m, j, &b, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    cJSON_Delete(j);
    rc = tbt_proto_decode_json(m, (const uint8_t *)b.data, b.len, &out, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    tbt_buf_free(&b);
    return tbt_buf_steal(&out);
}

START_TEST(parses_services_and_messages)
{
    tbt_proto *p = schema();
    ck_assert_ptr_nonnull(tbt_proto_find_message(p, "shop.v1.Order.Line"));
    ck_assert_ptr_nonnull(tbt_proto_find_message(p, ".google.protobuf.Timestamp"));
    ck_assert_ptr_null(tbt_proto_find_message(p, "Order"));
    const tbt_proto_method *m;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_proto_find_method(p, NULL, "shop.v1.Orders.Place", &m, &err), 0);
    ck_assert_str_eq(m->name, "Place");
    ck_assert_str_eq(m->service, "shop.v1.Orders");
    ck_assert_str_eq(tbt_proto_message_name(m->input), "shop.v1.Order");
    ck_assert(!m->client_streaming && !m->server_streaming);
    ck_assert_int_eq(tbt_proto_find_method(p, "Orders", "Ping", &m, &err), 0);
    ck_assert_str_eq(tbt_proto_message_name(m->output), "google.protobuf.Empty");
    ck_assert_int_eq(tbt_proto_find_method(p, "shop.v1.Orders", "shop.v1.Orders.Feed", &m, &err), 0);
    ck_assert(m->server_streaming);
    ck_assert_int_eq(tbt_proto_find_method(p, NULL, "/shop.v1.Orders/Place", &m, &err), 0);
    ck_assert_int_eq(tbt_proto_find_method(p, NULL, "shop.v1.Orders.Nope", &m, &err), -ENOENT);
    ck_assert_str_eq(err.msg, "service shop.v1.Orders has no method \"Nope\" (methods: Place, Ping, Feed)");
    ck_assert_int_eq(tbt_proto_find_method(p, NULL, "shop.Other.Place", &m, &err), -ENOENT);
    ck_assert_str_eq(err.msg, "service \"shop.Other\" is not defined in the .proto (services: shop.v1.Orders)");
    tbt_error_clear(&err);
    tbt_proto_free(p);
}
END_TEST

START_TEST(scoping_rules)
{
    const char *src = "syntax = \"proto3\";\npackage a.b;\n"
                      "message X { int32 top = 1; }\n"
                      "message Outer {\n"
                      "  message X { string inner = 1; }\n"
                      "  message Mid { X x = 1; .a.b.X top = 2; Outer.X ox = 3; }\n"
                      "}\n";
    tbt_proto *p = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_proto_parse(src, strlen(src), "s.proto", NULL, NULL, &p, &err), 0);
    char *out = roundtrip(p, "a.b.Outer.Mid", "{\"x\": {\"inner\": \"i\"}, \"top\": {\"top\": 7}, \"ox\": {\"inner\": \"o\"}}");
    ck_assert_str_eq(out, "{\"x\":{\"inner\":\"i\"},\"top\":{\"top\":7},\"ox\":{\"inner\":\"o\"}}");
    free(out);
    tbt_proto_free(p);
}
END_TEST

typedef struct bad_case {
    const char *src, *msg;
    int line, col;
} bad_case;

static const bad_case bad[] = {
    {"syntax = \"proto3\";\nmessage A {\n  strin x = 1;\n}\n", "unknown type \"strin\" (field \"x\" of A)", 3, 3},
    {"syntax = \"proto3\";\nmessage A { int32 x = 1; int32 y = 1; }\n",
     "field number 1 is already used by \"x\" in A", 2, 36},
    {"syntax = \"proto3\";\nmessage A { int32 x = 99999999999999999999999; }\n",
     "a field number is not a valid integer: 99999999999999999999999", 2, 23},
    {"syntax = \"proto3\";\nmessage A { int32 x = 0; }\n", "a field number must be between 1 and 536870911", 2, 23},
    {"syntax = \"proto3\";\n/* open\nmessage A {}\n", "unterminated comment", 2, 1},
    {"syntax = \"proto4\";\n", "unsupported syntax \"proto4\" (tbt reads proto3, and proto2 files without groups and "
                               "extensions)", 1, 1},
    {"syntax = \"proto3\";\nmessage A { int32 x = 1 }\n", "expected ';' after the field, found '}'", 2, 25},
    {"syntax = \"proto3\";\nimport \"nothere.proto\";\n", NULL, 2, 8},
    {"syntax = \"proto3\";\nmessage A {}\nmessage A {}\n", "\"A\" is already defined", 3, 9},
    {"syntax = \"proto2\";\nmessage A { optional group G = 1 { } }\n",
     "groups are not supported (a proto2 feature); use a nested message", 2, 22},
    {"syntax = \"proto3\";\nextend Foo { int32 bar = 100; }\n", "extensions are not supported (extend)", 2, 1},
    {"syntax = \"proto3\";\nmessage A { map<float, string> m = 1; }\n",
     "a map key must be an integer, bool or string type, found 'float'", 2, 17},
    {"syntax = \"proto3\";\nservice S { rpc M (Nope) returns (Nope); }\n", "unknown message type \"Nope\" (rpc M of S)",
     2, 20},
    {"syntax = \"proto3\";\nmessage A { string s = 1; } @\n", "unexpected character '@'", 2, 29},
    {"syntax = \"proto3\";\nmessage A { string s = 1;\n", "the message A does not end (expected '}')", 3, 1},
};

START_TEST(errors_have_positions)
{
    const bad_case *c = &bad[_i];
    tbt_proto *p = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_proto_parse(c->src, strlen(c->src), "bad.proto", NULL, "/nonexistent", &p, &err);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(p);
    if (c->msg)
        ck_assert_str_eq(err.msg, c->msg);
    else
        ck_assert_ptr_nonnull(strstr(err.msg, "cannot import \"nothere.proto\""));
    ck_assert_str_eq(err.file, "bad.proto");
    ck_assert_int_eq(err.line, c->line);
    ck_assert_int_eq(err.col, c->col);
    ck_assert_ptr_nonnull(err.source_line);
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&b), "^"));
    tbt_buf_free(&b);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(imports_from_the_directory)
{
    char dir[] = "/tmp/tbt-proto-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *common = tbt_xasprintf("%s/common.proto", dir), *main_p = tbt_xasprintf("%s/main.proto", dir);
    FILE *f = fopen(common, "w");
    fputs("syntax = \"proto3\";\npackage common;\nmessage Money { string currency = 1; int64 units = 2; }\n", f);
    fclose(f);
    f = fopen(main_p, "w");
    fputs("syntax = \"proto3\";\npackage pay;\nimport \"common.proto\";\nimport \"common.proto\";\n"
          "message Req { common.Money amount = 1; }\nservice Pay { rpc Charge (Req) returns (Req); }\n",
          f);
    fclose(f);
    tbt_proto *p = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_proto_parse_file(main_p, &p, &err), 0);
    char *out = roundtrip(p, "pay.Req", "{\"amount\": {\"currency\": \"EUR\", \"units\": 12}}");
    ck_assert_str_eq(out, "{\"amount\":{\"currency\":\"EUR\",\"units\":\"12\"}}");
    free(out);
    tbt_proto_free(p);
    /* an import that leaves the directory is refused */
    const char *esc = "syntax = \"proto3\";\nimport \"../etc/x.proto\";\n";
    ck_assert_int_eq(tbt_proto_parse(esc, strlen(esc), "e.proto", NULL, dir, &p, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "relative paths below"));
    tbt_error_clear(&err);
    unlink(common);
    unlink(main_p);
    rmdir(dir);
    free(common);
    free(main_p);
}
END_TEST

/* The encodings protobuf's "Encoding" guide spells out. */
START_TEST(encodes_known_bytes)
{
    tbt_proto *p = schema();
    tbt_error err = TBT_ERROR_INIT;
    struct {
        const char *type, *json, *hex;
    } cases[] = {
        {"shop.v1.Test1", "{\"a\": 150}", "089601"},
        {"shop.v1.Test1", "{\"a\": \"150\"}", "089601"},
        {"shop.v1.Test1", "{\"a\": -1}", "08ffffffffffffffffff01"},
        {"shop.v1.Test2", "{\"b\": \"testing\"}", "120774657374696e67"},
        {"shop.v1.Test3", "{\"c\": {\"a\": 150}}", "1a03089601"},
        {"shop.v1.Test4", "{\"d\": \"hello\", \"e\": [1, 2, 3]}", "0a0568656c6c6f2203010203"},
        {"shop.v1.Order", "{\"delta\": -2}", "6003"},
        {"shop.v1.Order", "{\"state\": \"CLOSED\"}", "1002"},
        {"shop.v1.Order", "{\"state\": 1}", "1001"},
        {"shop.v1.Order", "{\"isGift\": true}", "7001"},
        {"shop.v1.Order", "{\"gift\": true}", "7001"},
        {"shop.v1.Order", "{\"blob\": \"AQID\"}", "5a03010203"},
        {"shop.v1.Order", "{\"ratio\": 1.5}", "69000000000000f83f"},
        {"shop.v1.Order", "{\"totals\": {\"eur\": \"5\"}}", "22070a036575721005"},
        {"shop.v1.Order", "{\"createdAt\": \"1970-01-01T00:00:01.5Z\"}", "3a0808011080cab5ee01"},
        {"shop.v1.Order", "{\"ttl\": \"1.5s\"}", "420808011080cab5ee01"},
        {"shop.v1.Order", "{\"priority\": 3}", "4a020803"},
        {"shop.v1.Order", "{\"card\": \"x\", \"iban\": null}", "2a0178"},
        {"shop.v1.Order", "{\"f64\": \"18446744073709551615\"}", "9101ffffffffffffffff"},
        {"shop.v1.Order", "{\"orderId\": null}", ""},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *h = encode_hex(p, cases[i].type, cases[i].json, &err);
        ck_assert_msg(h != NULL, "%s: %s", cases[i].json, err.msg);
        ck_assert_msg(strcmp(h, cases[i].hex) == 0, "%s: got %s, want %s", cases[i].json, h, cases[i].hex);
        free(h);
    }
    tbt_proto_free(p);
}
END_TEST

START_TEST(encoding_errors_name_the_field)
{
    tbt_proto *p = schema();
    tbt_error err = TBT_ERROR_INIT;
    struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"orderID\": \"x\"}", "request: unknown field \"orderID\" in message shop.v1.Order (fields: orderId, state, "},
        {"{\"lines\": [{\"sku\": \"a\"}, {\"qty\": -1}]}", "request.lines[1].qty: -1 is out of range (0 to 4294967295)"},
        {"{\"lines\": [{\"sku\": \"a\", \"nope\": 1}]}", "request.lines[0]: unknown field \"nope\" in message shop.v1.Order.Line"},
        {"{\"state\": \"HALF\"}", "request.state: \"HALF\" is not a value of enum shop.v1.Order.State (values: "},
        {"{\"priority\": 3000000000}", "request.priority: 3000000000 is out of range"},
        {"{\"delta\": \"12x\"}", "request.delta: expected an integer, found \"12x\""},
        {"{\"delta\": 1.5}", "request.delta: expected an integer, found 1.5"},
        {"{\"createdAt\": \"yesterday\"}", "request.createdAt: \"yesterday\" is not an RFC 3339 timestamp"},
        {"{\"ttl\": \"1.5\"}", "request.ttl: \"1.5\" is not a duration in seconds"},
        {"{\"card\": \"x\", \"iban\": \"y\"}", "request.iban: only one field of a oneof may be set"},
        {"{\"blob\": \"***\"}", "request.blob: expected base64 text for bytes"},
        {"{\"gift\": \"yes\"}", "request.isGift: expected true or false, found a string"},
        {"{\"totals\": {\"a\": \"99999999999999999999\"}}", "request.totals[\"a\"]: \"99999999999999999999\" is out of range"},
        {"{\"byPos\": {\"x\": {}}}", "request.byPos[\"x\"]: expected an integer, found \"x\""},
        {"[1]", "request: expected an object for message shop.v1.Order, found an array"},
        {"{\"score\": 1e300}", "request.score: 1e+300 is out of range for a float"},
        {"{\"any\": {\"@type\": \"type.googleapis.com/x.Y\"}}", "request.any: the type \"type.googleapis.com/x.Y\""},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *h = encode_hex(p, "shop.v1.Order", cases[i].json, &err);
        ck_assert_msg(h == NULL, "%s encoded", cases[i].json);
        ck_assert_msg(strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) == 0, "%s: got \"%s\"", cases[i].json,
                      err.msg);
        tbt_error_clear(&err);
    }
    /* a string that is not UTF-8 */
    const tbt_proto_message *m = tbt_proto_find_message(p, "shop.v1.Test2");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "b", "\xc3\x28");
    tbt_buf b = TBT_BUF_INIT;
    ck_assert_int_eq(tbt_proto_encode_json(m, j, &b, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "request.b: the string is not valid UTF-8");
    cJSON_Delete(j);
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    tbt_proto_free(p);
}
END_TEST

START_TEST(round_trips)
{
    tbt_proto *p = schema();
    struct {
        const char *in, *out;
    } cases[] = {
        {"{\"order_id\": \"o-1\", \"state\": \"OPEN\", \"lines\": [{\"sku\": \"a\", \"qty\": 2}, {\"sku\": \"b\"}]}",
         "{\"orderId\":\"o-1\",\"state\":\"OPEN\",\"lines\":[{\"sku\":\"a\",\"qty\":2},{\"sku\":\"b\"}]}"},
        {"{\"totals\": {\"eur\": 5, \"usd\": \"-7\"}, \"byPos\": {\"3\": {\"sku\": \"z\"}}}",
         "{\"totals\":{\"eur\":\"5\",\"usd\":\"-7\"},\"byPos\":{\"3\":{\"sku\":\"z\"}}}"},
        {"{\"createdAt\": \"2024-05-01T12:00:00.123+02:00\", \"ttl\": \"-0.000001s\"}",
         "{\"createdAt\":\"2024-05-01T10:00:00.123Z\",\"ttl\":\"-0.000001s\"}"},
        {"{\"priority\": 0, \"extra\": {\"a\": [1, \"two\", true, null, {\"b\": 2.5}]}}",
         "{\"priority\":0,\"extra\":{\"a\":[1,\"two\",true,null,{\"b\":2.5}]}}"},
        {"{\"blob\": \"_-8=\", \"delta\": \"-9223372036854775808\", \"ratio\": \"NaN\", \"isGift\": true}",
         "{\"blob\":\"/+8=\",\"delta\":\"-9223372036854775808\",\"ratio\":\"NaN\",\"isGift\":true}"},
        {"{\"mask\": \"orderId,lines.sku\", \"score\": 0.1}", "{\"mask\":\"orderId,lines.sku\",\"score\":0.1}"},
        {"{\"any\": {\"@type\": \"type.googleapis.com/shop.v1.Test1\", \"a\": 5}}",
         "{\"any\":{\"@type\":\"type.googleapis.com/shop.v1.Test1\",\"a\":5}}"},
        {"{\"any\": {\"@type\": \"type.googleapis.com/google.protobuf.Duration\", \"value\": \"2s\"}}",
         "{\"any\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"2s\"}}"},
        {"{\"f64\": 7, \"card\": \"visa\"}", "{\"card\":\"visa\",\"f64\":\"7\"}"},
        {"{}", "{}"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *out = roundtrip(p, "shop.v1.Order", cases[i].in);
        ck_assert_msg(strcmp(out, cases[i].out) == 0, "%s: got %s", cases[i].in, out);
        free(out);
    }
    tbt_proto_free(p);
}
END_TEST

START_TEST(decoding_is_bounded)
{
    tbt_proto *p = schema();
    const tbt_proto_message *m = tbt_proto_find_message(p, "shop.v1.Order");
    tbt_buf out = TBT_BUF_INIT;
    tbt_error err = TBT_ERROR_INIT;
    struct {
        const char *bytes;
        size_t n;
        const char *msg;
    } cases[] = {
        {"\x0a\x05\x61", 3, "a length beyond the end of the message"},
        {"\x08", 1, "a truncated varint"},
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "a truncated varint"},
        {"\x0b", 1, "an unsupported wire type (groups)"},
        {"\x00\x01", 2, "an invalid field number"},
        {"\x0a\x02\xc3\x28", 4, "a string field holds invalid UTF-8"},
        {"\x69\x00\x00", 3, "a truncated fixed-width value"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        int rc = tbt_proto_decode_json(m, (const uint8_t *)cases[i].bytes, cases[i].n, &out, &err);
        ck_assert_int_eq(rc, -EPROTO);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
        ck_assert_uint_eq(out.len, 0);
        tbt_error_clear(&err);
    }
    /* unknown fields are skipped */
    ck_assert_int_eq(tbt_proto_decode_json(m, (const uint8_t *)"\xf8\x07\x01\x0a\x01x", 6, &out, &err), 0);
    ck_assert_str_eq(tbt_buf_cstr(&out), "{\"orderId\":\"x\"}");
    tbt_buf_reset(&out);
    /* a self-nesting message 100 deep stops at the bound */
    const char *src = "syntax = \"proto3\"; message N { N n = 1; }";
    tbt_proto *q = NULL;
    ck_assert_int_eq(tbt_proto_parse(src, strlen(src), "n.proto", NULL, NULL, &q, &err), 0);
    tbt_buf deep = TBT_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        tbt_buf next = TBT_BUF_INIT;
        tbt_buf_putc(&next, 0x0a);
        tbt_buf_putc(&next, (char)deep.len); /* < 128 until ~60 levels; fine below */
        if (deep.len >= 128) {
            tbt_buf_free(&next);
            break;
        }
        tbt_buf_append(&next, deep.data, deep.len);
        tbt_buf_free(&deep);
        deep = next;
    }
    int rc = tbt_proto_decode_json(tbt_proto_find_message(q, "N"), (const uint8_t *)deep.data, deep.len, &out, &err);
    ck_assert_int_eq(rc, -EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested too deeply"));
    tbt_error_clear(&err);
    /* and JSON nested past the bound is refused when encoding */
    tbt_buf js = TBT_BUF_INIT;
    for (int i = 0; i < 40; i++)
        tbt_buf_puts(&js, "{\"n\":");
    tbt_buf_puts(&js, "{}");
    for (int i = 0; i < 40; i++)
        tbt_buf_putc(&js, '}');
    char *h = encode_hex(q, "N", tbt_buf_cstr(&js), &err);
    ck_assert_ptr_null(h);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested more than 32 deep"));
    tbt_error_clear(&err);
    tbt_buf_free(&js);
    tbt_buf_free(&deep);
    tbt_buf_free(&out);
    tbt_proto_free(q);
    tbt_proto_free(p);
}
END_TEST

START_TEST(hostile_proto_text)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_proto *p = NULL;
    /* messages nested past the bound */
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_puts(&b, "syntax = \"proto3\";\n");
    for (int i = 0; i < 100; i++)
        tbt_buf_printf(&b, "message M%d { ", i);
    for (int i = 0; i < 100; i++)
        tbt_buf_putc(&b, '}');
    ck_assert_int_eq(tbt_proto_parse(b.data, b.len, "d.proto", NULL, NULL, &p, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "messages nested more than 32 deep");
    tbt_error_clear(&err);
    tbt_buf_reset(&b);
    /* option values nested past the bound */
    tbt_buf_puts(&b, "option (x) = ");
    for (int i = 0; i < 100; i++)
        tbt_buf_putc(&b, '{');
    ck_assert_int_eq(tbt_proto_parse(b.data, b.len, "o.proto", NULL, NULL, &p, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "nested too deeply");
    tbt_error_clear(&err);
    /* a NUL byte, bytes that are not UTF-8 */
    ck_assert_int_eq(tbt_proto_parse("message A {}\0", 13, "z.proto", NULL, NULL, &p, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "unexpected NUL byte");
    tbt_error_clear(&err);
    ck_assert_int_eq(tbt_proto_parse("message \xff {}", 12, "u.proto", NULL, NULL, &p, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "unexpected character '?'");
    tbt_error_clear(&err);
    /* too many definitions */
    tbt_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        tbt_buf_printf(&b, "enum E%d { V%d = 0; }\n", i, i);
    ck_assert_int_eq(tbt_proto_parse(b.data, b.len, "many.proto", NULL, NULL, &p, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "too many definitions"));
    tbt_error_clear(&err);
    tbt_buf_free(&b);
    /* an inline .proto in a YAML block scalar: positions in the definition */
    tbt_loc loc = {"test.yaml", 10, 7, TBT_STYLE_LITERAL};
    const char *src = "syntax = \"proto3\";\nmessage A { int32 x = -1; }\n";
    ck_assert_int_eq(tbt_proto_parse(src, strlen(src), NULL, &loc, NULL, &p, &err), -EINVAL);
    ck_assert_str_eq(err.file, "test.yaml");
    ck_assert_int_eq(err.line, 12);
    tbt_error_clear(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("proto");
    tcase_add_test(tc, parses_services_and_messages);
    tcase_add_test(tc, scoping_rules);
    tcase_add_loop_test(tc, errors_have_positions, 0, (int)TBT_ARRAY_LEN(bad));
    tcase_add_test(tc, imports_from_the_directory);
    tcase_add_test(tc, encodes_known_bytes);
    tcase_add_test(tc, encoding_errors_name_the_field);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, decoding_is_bounded);
    tcase_add_test(tc, hostile_proto_text);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

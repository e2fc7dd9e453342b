/* test_yaml.c - the YAML tree: positions, styles, aliases, bounds and the
 * exact text of errors. */
#include "tbt_yaml.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static tbt_ydocs *parse_ok(const char *text)
{
    tbt_ydocs *d = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int r = tbt_yaml_parse("t.yaml", text, strlen(text), &d, &err);
    ck_assert_msg(r == 0, "parse failed: %s", err.msg ? err.msg : "?");
    ck_assert_ptr_nonnull(d);
    tbt_error_clear(&err);
    return d;
}

/* Parse text that must fail; returns the code and the formatted error in
 * *out (heap). */
static int parse_fail(const char *text, size_t len, char **out)
{
    tbt_ydocs *d = (tbt_ydocs *)1;
    tbt_error err = TBT_ERROR_INIT;
    int r = tbt_yaml_parse("t.yaml", text, len, &d, &err);
    ck_assert_int_lt(r, 0);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(err.code, r);
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    *out = tbt_buf_steal(&b);
    tbt_error_clear(&err);
    return r;
}

static void expect_error(const char *text, int code, const char *formatted)
{
    char *got;
    int r = parse_fail(text, strlen(text), &got);
    ck_assert_msg(r == code, "code %d, want %d (%s)", r, code, got);
    ck_assert_str_eq(got, formatted);
    free(got);
}

static void expect_loc(const tbt_ynode *n, int line, int col, tbt_scalar_style style)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_msg(n->loc.line == line && n->loc.col == col, "at %d:%d, want %d:%d", n->loc.line, n->loc.col, line,
                  col);
    ck_assert_int_eq(n->loc.style, style);
    ck_assert_str_eq(n->loc.file, "t.yaml");
}

START_TEST(positions_and_styles)
{
    tbt_ydocs *d = parse_ok("# comment\n"
                            "plain: value\n"
                            "single: 'it''s'\n"
                            "double: \"a\\tb\"\n"
                            "list:\n"
                            "  - one\n"
                            "  - [two, 3]\n"
                            "nested:\n"
                            "    deep: {k: v}\n"
                            "lit: |\n"
                            "    line one\n"
                            "    line two\n"
                            "fold: >-\n"
                            "  folded\n"
                            "  text\n");
    ck_assert_uint_eq(d->n_docs, 1);
    const tbt_ynode *root = d->docs[0];
    ck_assert_int_eq(root->type, TBT_Y_MAP);
    expect_loc(root, 2, 1, TBT_STYLE_NONE);
    ck_assert_uint_eq(root->n, 7);

    expect_loc(root->pairs[0].key, 2, 1, TBT_STYLE_PLAIN);
    const tbt_ynode *n = tbt_ymap_get(root, "plain");
    expect_loc(n, 2, 8, TBT_STYLE_PLAIN);
    ck_assert_str_eq(n->str, "value");
    ck_assert_uint_eq(n->len, 5);

    n = tbt_ymap_get(root, "single");
    expect_loc(n, 3, 9, TBT_STYLE_SINGLE);
    ck_assert_str_eq(n->str, "it's");

    n = tbt_ymap_get(root, "double");
    expect_loc(n, 4, 9, TBT_STYLE_DOUBLE);
    ck_assert_str_eq(n->str, "a\tb");

    n = tbt_ymap_get(root, "list");
    ck_assert_int_eq(n->type, TBT_Y_SEQ);
    ck_assert_uint_eq(n->n, 2);
    expect_loc(n, 6, 3, TBT_STYLE_NONE);
    expect_loc(n->items[0], 6, 5, TBT_STYLE_PLAIN);
    const tbt_ynode *flow = n->items[1];
    expect_loc(flow, 7, 5, TBT_STYLE_NONE);
    expect_loc(flow->items[0], 7, 6, TBT_STYLE_PLAIN);
    expect_loc(flow->items[1], 7, 11, TBT_STYLE_PLAIN);
    ck_assert_str_eq(flow->items[1]->str, "3");

    n = tbt_ymap_get(tbt_ymap_get(tbt_ymap_get(root, "nested"), "deep"), "k");
    expect_loc(n, 9, 15, TBT_STYLE_PLAIN);

    /* Block scalars: the indicator's line, the content's column, so that
     * tbt_loc_advance lands on the right character. */
    n = tbt_ymap_get(root, "lit");
    expect_loc(n, 10, 5, TBT_STYLE_LITERAL);
    ck_assert_str_eq(n->str, "line one\nline two\n");
    int line, col;
    tbt_loc_advance(&n->loc, n->str, strlen("line one\nline "), &line, &col);
    ck_assert_int_eq(line, 12);
    ck_assert_int_eq(col, 10);

    n = tbt_ymap_get(root, "fold");
    expect_loc(n, 13, 3, TBT_STYLE_FOLDED);
    ck_assert_str_eq(n->str, "folded text");

    ck_assert_ptr_null(tbt_ymap_get(root, "missing"));
    ck_assert_ptr_null(tbt_ymap_get(n, "x")); /* not a map */
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(positions_skip_properties)
{
    tbt_ydocs *d = parse_ok("a: &anc value\n"
                            "b: !!str 12\n"
                            "c: &m\n"
                            "  k: v\n"
                            "d: &q \"quoted\"\n"
                            "e: &empty\n"
                            "f: [&x y, !t z]\n");
    const tbt_ynode *r = d->docs[0];
    expect_loc(tbt_ymap_get(r, "a"), 1, 9, TBT_STYLE_PLAIN);
    const tbt_ynode *b = tbt_ymap_get(r, "b");
    expect_loc(b, 2, 10, TBT_STYLE_PLAIN);
    ck_assert_str_eq(b->tag, "tag:yaml.org,2002:str");
    expect_loc(tbt_ymap_get(r, "c"), 4, 3, TBT_STYLE_NONE);
    expect_loc(tbt_ymap_get(r, "d"), 5, 7, TBT_STYLE_DOUBLE);
    /* An empty scalar has no character of its own: it stays at its anchor. */
    const tbt_ynode *e = tbt_ymap_get(r, "e");
    expect_loc(e, 6, 4, TBT_STYLE_PLAIN);
    ck_assert(tbt_ynode_is_null(e));
    const tbt_ynode *f = tbt_ymap_get(r, "f");
    expect_loc(f->items[0], 7, 8, TBT_STYLE_PLAIN);
    expect_loc(f->items[1], 7, 14, TBT_STYLE_PLAIN);
    ck_assert_str_eq(f->items[1]->tag, "!t");
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(multi_document)
{
    tbt_ydocs *d = parse_ok("a: 1\n"
                            "---\n"
                            "---\n"
                            "- x\n"
                            "--- plain\n"
                            "...\n");
    ck_assert_uint_eq(d->n_docs, 4);
    ck_assert_int_eq(d->docs[0]->type, TBT_Y_MAP);
    ck_assert_ptr_null(d->docs[1]); /* empty document */
    ck_assert_int_eq(d->docs[2]->type, TBT_Y_SEQ);
    expect_loc(d->docs[2], 4, 1, TBT_STYLE_NONE);
    ck_assert_str_eq(d->docs[3]->str, "plain");
    expect_loc(d->docs[3], 5, 5, TBT_STYLE_PLAIN);
    tbt_ydocs_free(d);

    d = parse_ok("# only a comment\n");
    ck_assert_uint_eq(d->n_docs, 0);
    tbt_ydocs_free(d);
    d = parse_ok("");
    ck_assert_uint_eq(d->n_docs, 0);
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(aliases_share_nodes)
{
    tbt_ydocs *d = parse_ok("base: &b {x: 1, y: [2, 3]}\n"
                            "copy: *b\n"
                            "key: &k name\n"
                            "list: [*k, *b]\n"
                            "*k : keyed by alias\n"
                            "re: &b redefined\n"
                            "after: *b\n");
    const tbt_ynode *r = d->docs[0];
    const tbt_ynode *base = tbt_ymap_get(r, "base");
    ck_assert_ptr_eq(tbt_ymap_get(r, "copy"), base);
    const tbt_ynode *list = tbt_ymap_get(r, "list");
    ck_assert_ptr_eq(list->items[0], tbt_ymap_get(r, "key"));
    ck_assert_ptr_eq(list->items[1], base);
    ck_assert_str_eq(tbt_ymap_get(r, "name")->str, "keyed by alias");
    ck_assert_str_eq(tbt_ymap_get(r, "after")->str, "redefined");
    /* The alias shares the anchored node, position included. */
    expect_loc(tbt_ymap_get(r, "copy"), 1, 10, TBT_STYLE_NONE);
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(alias_errors)
{
    expect_error("a: *nope\n", -EINVAL,
                 "t.yaml:1:4: unknown anchor \"nope\"; an alias must come after its anchor's node, in the same "
                 "document\n"
                 "    a: *nope\n"
                 "       ^\n");
    /* An alias into its own unfinished node would make a cycle. */
    expect_error("a: &self [1, *self]\n", -EINVAL,
                 "t.yaml:1:14: unknown anchor \"self\"; an alias must come after its anchor's node, in the same "
                 "document\n"
                 "    a: &self [1, *self]\n"
                 "                 ^\n");
    /* Anchors do not cross documents. */
    char *got;
    parse_fail("a: &x 1\n---\nb: *x\n", 18, &got);
    ck_assert(strncmp(got, "t.yaml:3:4: unknown anchor \"x\"", 30) == 0);
    free(got);
}
END_TEST

START_TEST(billion_laughs_rejected_quickly)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_puts(&b, "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++) {
        tbt_buf_printf(&b, "l%d: &l%d [", i, i);
        for (int k = 0; k < 10; k++)
            tbt_buf_printf(&b, "%s*l%d", k ? ", " : "", i - 1);
        tbt_buf_puts(&b, "]\n");
    }
    uint64_t t0 = tbt_now_mono_ns();
    char *got;
    int r = parse_fail(b.data, b.len, &got);
    uint64_t dt = tbt_now_mono_ns() - t0;
    ck_assert_int_eq(r, -EFBIG);
    ck_assert_msg(strncmp(got, "t.yaml:6:45: more than 1000000 YAML nodes (after expanding aliases)\n", 68) == 0, "%s",
                  got);
    ck_assert_msg(dt < 1000000000ull, "took %llu ns", (unsigned long long)dt);
    free(got);
    tbt_buf_free(&b);
}
END_TEST

START_TEST(node_bound_without_aliases)
{
    /* A flat list one past the bound (the list itself counts too). */
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_putc(&b, '[');
    for (int i = 0; i < TBT_YAML_MAX_NODES; i++)
        tbt_buf_puts(&b, i ? ",1" : "1");
    tbt_buf_putc(&b, ']');
    char *got;
    ck_assert_int_eq(parse_fail(b.data, b.len, &got), -EFBIG);
    ck_assert_ptr_nonnull(strstr(got, "more than 1000000 YAML nodes"));
    free(got);
    /* One less fits. */
    b.data[b.len - 3] = ']';
    b.len -= 2;
    tbt_ydocs *d = NULL;
    ck_assert_int_eq(tbt_yaml_parse("t.yaml", b.data, b.len, &d, NULL), 0);
    ck_assert_uint_eq(d->docs[0]->n, TBT_YAML_MAX_NODES - 1);
    tbt_ydocs_free(d);
    tbt_buf_free(&b);
}
END_TEST

START_TEST(depth_bound)
{
    tbt_buf b = TBT_BUF_INIT;
    for (int i = 0; i < TBT_YAML_MAX_DEPTH; i++)
        tbt_buf_putc(&b, '[');
    for (int i = 0; i < TBT_YAML_MAX_DEPTH; i++)
        tbt_buf_putc(&b, ']');
    tbt_ydocs *d = NULL;
    ck_assert_int_eq(tbt_yaml_parse("t.yaml", b.data, b.len, &d, NULL), 0);
    tbt_ydocs_free(d);

    tbt_buf_reset(&b);
    for (int i = 0; i <= TBT_YAML_MAX_DEPTH; i++)
        tbt_buf_putc(&b, '[');
    char *got;
    ck_assert_int_eq(parse_fail(b.data, b.len, &got), -EFBIG);
    ck_assert(strncmp(got, "t.yaml:1:257: nesting deeper than 256 levels\n", 45) == 0);
    free(got);

    /* Depth through aliases: each level wraps the previous one. */
    tbt_buf_reset(&b);
    tbt_buf_puts(&b, "a0: &a0 [x]\n");
    for (int i = 1; i < 300; i++)
        tbt_buf_printf(&b, "a%d: &a%d [*a%d]\n", i, i, i - 1);
    ck_assert_int_eq(parse_fail(b.data, b.len, &got), -EFBIG);
    ck_assert_msg(strncmp(got, "t.yaml:256:14: alias \"a254\" nests deeper than 256 levels\n", 57) == 0, "%s", got);
    free(got);
    tbt_buf_free(&b);
}
END_TEST

START_TEST(size_bound)
{
    size_t n = (size_t)TBT_YAML_MAX_BYTES + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    char *got;
    ck_assert_int_eq(parse_fail(big, n, &got), -EFBIG);
    ck_assert_str_eq(got, "t.yaml: larger than the 67108864-byte limit for definitions\n");
    free(got);
    free(big);
}
END_TEST

START_TEST(duplicate_keys)
{
    expect_error("name: a\n"
                 "other: b\n"
                 "name: c\n",
                 -EINVAL,
                 "t.yaml:3:1: duplicate key \"name\" (first at line 1, column 1)\n"
                 "    name: c\n"
                 "    ^\n");
    expect_error("outer:\n"
                 "  {a: 1, b: 2, a: 3}\n",
                 -EINVAL,
                 "t.yaml:2:16: duplicate key \"a\" (first at line 2, column 4)\n"
                 "      {a: 1, b: 2, a: 3}\n"
                 "                   ^\n");
    /* A large map: the earliest duplicate in document order is reported. */
    tbt_buf b = TBT_BUF_INIT;
    for (int i = 0; i < 200; i++)
        tbt_buf_printf(&b, "k%03d: %d\n", i, i);
    tbt_buf_puts(&b, "k150: again\nk007: again\nk150: third\n");
    char *got;
    ck_assert_int_eq(parse_fail(b.data, b.len, &got), -EINVAL);
    ck_assert_str_eq(got, "t.yaml:201:1: duplicate key \"k150\" (first at line 151, column 1)\n"
                          "    k150: again\n"
                          "    ^\n");
    free(got);
    tbt_buf_free(&b);
    /* Same text in different styles is the same key. */
    expect_error("a: 1\n'a': 2\n", -EINVAL,
                 "t.yaml:2:1: duplicate key \"a\" (first at line 1, column 1)\n"
                 "    'a': 2\n"
                 "    ^\n");
}
END_TEST

START_TEST(keys_must_be_scalars_and_no_merge)
{
    expect_error("? [a, b]\n: 1\n", -EINVAL,
                 "t.yaml:1:3: mapping keys must be scalars, not a sequence\n"
                 "    ? [a, b]\n"
                 "      ^\n");
    expect_error("x: 1\n? {a: b}\n: 1\n", -EINVAL,
                 "t.yaml:2:3: mapping keys must be scalars, not a map\n"
                 "    ? {a: b}\n"
                 "      ^\n");
    expect_error("base: &b {x: 1}\n"
                 "copy:\n"
                 "  <<: *b\n",
                 -EINVAL,
                 "t.yaml:3:3: merge keys (<<) are not supported; write the keys out\n"
                 "      <<: *b\n"
                 "      ^\n");
    /* A quoted "<<" is an ordinary key. */
    tbt_ydocs *d = parse_ok("\"<<\": 1\n");
    ck_assert_str_eq(tbt_ymap_get(d->docs[0], "<<")->str, "1");
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(syntax_errors)
{
    expect_error("type: Test\n"
                 "spec:\n"
                 "  name: a: b\n",
                 -EINVAL,
                 "t.yaml:3:10: mapping values are not allowed in this context\n"
                 "      name: a: b\n"
                 "             ^\n");
    expect_error("a:\n"
                 "  b: 1\n"
                 " c: 2\n",
                 -EINVAL,
                 "t.yaml:3:2: did not find expected key (while parsing a block mapping that starts at line 1, "
                 "column 1)\n"
                 "     c: 2\n"
                 "     ^\n");
    expect_error("a: 'open\n", -EINVAL,
                 "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar that starts at line 1, "
                 "column 4)\n");
    expect_error("a: \tb\n\x01", -EINVAL,
                 "t.yaml:2:1: control characters are not allowed (#x1)\n"
                 "    \x01\n"
                 "    ^\n");
    expect_error("a: @b\n", -EINVAL,
                 "t.yaml:1:4: found character that cannot start any token (while scanning for the next token)\n"
                 "    a: @b\n"
                 "       ^\n");
    /* CR LF line ends count as one line break, as libyaml counts them. */
    expect_error("a: 1\r\nb: [1\r\nc: 2\r\n", -EINVAL,
                 "t.yaml:3:2: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2, "
                 "column 4)\n"
                 "    c: 2\n"
                 "     ^\n");
    /* Invalid UTF-8: the reader reports a byte offset; shown as line:col. */
    expect_error("a: 1\nb: \xff\n", -EINVAL,
                 "t.yaml:2:4: invalid leading UTF-8 octet (#xFF)\n"
                 "    b: \xff\n"
                 "       ^\n");
    char *got;
    ck_assert_int_eq(parse_fail("\xff\xfe" "a\0:\0", 6, &got), -EINVAL);
    ck_assert_str_eq(got, "t.yaml: UTF-16 text is not supported; save the file as UTF-8\n");
    free(got);
}
END_TEST

START_TEST(bom_and_lines)
{
    tbt_ydocs *d = parse_ok("\xEF\xBB\xBFkey: v\r\nnext: w\n");
    expect_loc(tbt_ymap_get(d->docs[0], "key"), 1, 6, TBT_STYLE_PLAIN);
    expect_loc(tbt_ymap_get(d->docs[0], "next"), 2, 7, TBT_STYLE_PLAIN);
    size_t len;
    const char *l = tbt_ydocs_line(d, 1, &len);
    ck_assert_int_eq((int)len, 6);
    ck_assert(strncmp(l, "key: v", 6) == 0);
    l = tbt_ydocs_line(d, 2, &len);
    ck_assert(strncmp(l, "next: w", len) == 0 && len == 7);
    ck_assert_ptr_null(tbt_ydocs_line(d, 3, &len));
    ck_assert_ptr_null(tbt_ydocs_line(d, 0, &len));

    tbt_error err = TBT_ERROR_INIT;
    tbt_error_set(&err, -EINVAL, "bad value");
    tbt_ydocs_error_at(d, &tbt_ymap_get(d->docs[0], "next")->loc, &err);
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "t.yaml:2:7: bad value\n    next: w\n          ^\n");
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(null_and_kinds)
{
    tbt_ydocs *d = parse_ok("a:\nb: ~\nc: null\nd: ''\ne: !!null x\nf: NULL\ng: nil\nh: [1]\ni: {}\n");
    const tbt_ynode *r = d->docs[0];
    ck_assert(tbt_ynode_is_null(tbt_ymap_get(r, "a")));
    ck_assert(tbt_ynode_is_null(tbt_ymap_get(r, "b")));
    ck_assert(tbt_ynode_is_null(tbt_ymap_get(r, "c")));
    ck_assert(!tbt_ynode_is_null(tbt_ymap_get(r, "d")));
    ck_assert(tbt_ynode_is_null(tbt_ymap_get(r, "e")));
    ck_assert(tbt_ynode_is_null(tbt_ymap_get(r, "f")));
    ck_assert(!tbt_ynode_is_null(tbt_ymap_get(r, "g")));
    ck_assert(tbt_ynode_is_null(NULL));
    ck_assert_str_eq(tbt_ynode_kind_name(tbt_ymap_get(r, "a")), "null");
    ck_assert_str_eq(tbt_ynode_kind_name(tbt_ymap_get(r, "g")), "string");
    ck_assert_str_eq(tbt_ynode_kind_name(tbt_ymap_get(r, "h")), "sequence");
    ck_assert_str_eq(tbt_ynode_kind_name(tbt_ymap_get(r, "i")), "map");
    ck_assert_str_eq(tbt_ytype_name(TBT_Y_SCALAR), "scalar");
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(embedded_nul_kept_with_length)
{
    tbt_ydocs *d = parse_ok("a: \"x\\0y\"\n");
    const tbt_ynode *n = tbt_ymap_get(d->docs[0], "a");
    ck_assert_uint_eq(n->len, 3);
    ck_assert(memcmp(n->str, "x\0y", 4) == 0);
    tbt_ydocs_free(d);
}
END_TEST

START_TEST(parse_file)
{
    tbt_ydocs *d = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_yaml_parse_file("/nonexistent/dir/x.yaml", &d, &err), -ENOENT);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(err.msg, "/nonexistent/dir/x.yaml: No such file or directory");
    tbt_error_clear(&err);

    const char *data = getenv("TBT_TEST_DATA");
    ck_assert_ptr_nonnull(data);
    char *path = tbt_xasprintf("%s/defs/multi.yaml", data);
    ck_assert_int_eq(tbt_yaml_parse_file(path, &d, &err), 0);
    ck_assert_str_eq(d->file, path);
    ck_assert_uint_eq(d->n_docs, 8);
    ck_assert_ptr_null(d->docs[3]);
    tbt_ydocs_free(d);
    free(path);
    tbt_ydocs_free(NULL);
}
END_TEST

static Suite *yaml_suite(void)
{
    Suite *s = suite_create("yaml");
    TCase *tc = tcase_create("tree");
    tcase_add_test(tc, positions_and_styles);
    tcase_add_test(tc, positions_skip_properties);
    tcase_add_test(tc, multi_document);
    tcase_add_test(tc, aliases_share_nodes);
    tcase_add_test(tc, null_and_kinds);
    tcase_add_test(tc, embedded_nul_kept_with_length);
    tcase_add_test(tc, bom_and_lines);
    tcase_add_test(tc, parse_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, alias_errors);
    tcase_add_test(tc, duplicate_keys);
    tcase_add_test(tc, keys_must_be_scalars_and_no_merge);
    tcase_add_test(tc, syntax_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, billion_laughs_rejected_quickly);
    tcase_add_test(tc, node_bound_without_aliases);
    tcase_add_test(tc, depth_bound);
    tcase_add_test(tc, size_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(yaml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_log.c - log lines: each format's exact shape, levels, and the
 * redaction of secrets (URL passwords, secret-looking settings and
 * headers) that stands between a careless message and the log. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_log.h"

static char *redact(const char *s)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_log_redact(s, &b);
    char *r = tbt_xstrdup(tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    return r;
}

#define ASSERT_REDACTS(in, want)                                                                                     \
    do {                                                                                                             \
        char *got_ = redact(in);                                                                                     \
        ck_assert_str_eq(got_, want);                                                                                \
        free(got_);                                                                                                  \
    } while (0)

START_TEST(redacts_url_passwords)
{
    ASSERT_REDACTS("publishing to amqp://guest:s3cret@rabbit:5672/vhost failed",
                   "publishing to amqp://guest:****@rabbit:5672/vhost failed");
    ASSERT_REDACTS("https://user:p%40ss@host/x and http://host/y", "https://user:****@host/x and http://host/y");
    /* no password: nothing to hide */
    ASSERT_REDACTS("amqp://guest@rabbit/", "amqp://guest@rabbit/");
    ASSERT_REDACTS("see http://host:8080/path", "see http://host:8080/path");
}
END_TEST

START_TEST(redacts_secret_settings)
{
    ASSERT_REDACTS("-X sasl.password=hunter2 -X sasl.username=bob", "-X sasl.password=**** -X sasl.username=bob");
    ASSERT_REDACTS("ssl.key.password=abc,ssl.ca.location=/ca.pem", "ssl.key.password=****,ssl.ca.location=/ca.pem");
    ASSERT_REDACTS("header Authorization: Bearer eyJhbGciOi.x.y sent", "header Authorization: Bearer **** sent");
    ASSERT_REDACTS("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ****");
    ASSERT_REDACTS("X-Api-Key: abc123", "X-Api-Key: ****");
    ASSERT_REDACTS("{\"token\":\"abc\"}", "{\"token\":\"****\"}");
    /* words that merely mention a secret, without a value, stay */
    ASSERT_REDACTS("the password is wrong", "the password is wrong");
    ASSERT_REDACTS("refused login (check the password)", "refused login (check the password)");
    ASSERT_REDACTS("", "");
}
END_TEST

static char *log_line(tbt_log_format fmt, tbt_log_level max, tbt_log_level lv, const char *msg)
{
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    tbt_logger l = {.f = f,
                    .format = fmt,
                    .level = max,
                    .prefix = "tbt agent a1 [eu]",
                    .keys = {"agent", "environment"},
                    .values = {"a1", "eu west"},
                    .n_fields = 2};
    tbt_log_write(&l, lv, msg);
    fclose(f);
    return data;
}

START_TEST(formats)
{
    char *t = log_line(TBT_LOG_TEXT, TBT_LOG_INFO, TBT_LOG_INFO, "taking jobs");
    /* 2026-11-26T12:00:00.000Z tbt agent a1 [eu]: taking jobs */
    ck_assert_uint_eq(strlen(t), 24 + 1 + strlen("tbt agent a1 [eu]: taking jobs\n"));
    ck_assert_str_eq(t + 25, "tbt agent a1 [eu]: taking jobs\n");
    ck_assert(t[10] == 'T' && t[23] == 'Z');
    free(t);
    t = log_line(TBT_LOG_TEXT, TBT_LOG_INFO, TBT_LOG_WARN, "x");
    ck_assert_str_eq(t + 25, "tbt agent a1 [eu] warning: x\n");
    free(t);

    t = log_line(TBT_LOG_LOGFMT, TBT_LOG_DEBUG, TBT_LOG_ERROR, "say \"hi\"\nnow password=x");
    ck_assert_ptr_nonnull(strstr(t, " level=error agent=a1 environment=\"eu west\" msg=\"say \\\"hi\\\"\\nnow "
                                    "password=****\"\n"));
    ck_assert(strncmp(t, "ts=", 3) == 0);
    free(t);

    t = log_line(TBT_LOG_JSON, TBT_LOG_DEBUG, TBT_LOG_DEBUG, "job 7 \x01 done");
    cJSON *j = cJSON_Parse(t);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, "debug");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "agent")->valuestring, "a1");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "environment")->valuestring, "eu west");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "job 7 \x01 done");
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "ts")));
    cJSON_Delete(j);
    ck_assert(t[strlen(t) - 1] == '\n' && strchr(t, '\n') == t + strlen(t) - 1);
    free(t);
}
END_TEST

START_TEST(levels)
{
    char *t = log_line(TBT_LOG_TEXT, TBT_LOG_WARN, TBT_LOG_INFO, "dropped");
    ck_assert(t == NULL || *t == '\0');
    free(t);
    t = log_line(TBT_LOG_TEXT, TBT_LOG_ERROR, TBT_LOG_ERROR, "kept");
    ck_assert_ptr_nonnull(strstr(t, " error: kept"));
    free(t);
    tbt_log_level lv;
    tbt_log_format f;
    ck_assert_int_eq(tbt_log_parse_level("debug", &lv), 0);
    ck_assert_int_eq(lv, TBT_LOG_DEBUG);
    ck_assert_int_eq(tbt_log_parse_level("warning", &lv), 0);
    ck_assert_int_eq(lv, TBT_LOG_WARN);
    ck_assert_int_ne(tbt_log_parse_level("verbose", &lv), 0);
    ck_assert_int_ne(tbt_log_parse_level(NULL, &lv), 0);
    ck_assert_int_eq(tbt_log_parse_format("logfmt", &f), 0);
    ck_assert_int_eq(f, TBT_LOG_LOGFMT);
    ck_assert_int_ne(tbt_log_parse_format("xml", &f), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, redacts_url_passwords);
    tcase_add_test(tc, redacts_secret_settings);
    tcase_add_test(tc, formats);
    tcase_add_test(tc, levels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

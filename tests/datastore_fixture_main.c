/* datastore_fixture_main.c - the datastore fixture as a program, for the
 * CLI checks (tests/test_datastore_cli.sh) and for making the recorded
 * protobuf answer:
 *
 *   datastore_fixture [--content-type T] [--template ID] [--rewrite]
 *                     [--not-found N] [--status S] FILE...
 *       serves FILE... (names under tests/data/datastore/, TBT_TEST_DATA
 *       overrides the data dir), prints its port on stdout, runs until
 *       SIGTERM or SIGINT.
 *   datastore_fixture --make-pb IN.json OUT.pb
 *       decodes an OTLP/JSON (or Tempo JSON) file with tbt's decoder and
 *       writes it as OTLP protobuf (tempopb.Trace has the same wire shape):
 *       how tests/data/datastore/tempo-trace.pb was made. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore_fixture.h"
#include "tbt_otlp.h"

static int make_pb(const char *in, const char *out)
{
    char *buf = NULL;
    size_t len = 0;
    tbt_error err = TBT_ERROR_INIT;
    tbt_trace *t = tbt_trace_new();
    int rc = tbt_read_file(in, 64u << 20, &buf, &len, &err);
    if (rc == 0)
        rc = tbt_otlp_decode(t, TBT_OTLP_JSON, (const uint8_t *)buf, len, NULL, NULL, &err);
    if (rc == 0) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b);
        FILE *f = fopen(out, "wb");
        rc = !f || fwrite(b.data, 1, b.len, f) != b.len;
        if (f)
            fclose(f);
        tbt_buf_free(&b);
    }
    if (rc)
        fprintf(stderr, "datastore_fixture: %s\n", err.msg ? err.msg : "cannot write");
    tbt_error_clear(&err);
    tbt_trace_free(t);
    free(buf);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--make-pb") == 0)
        return make_pb(argv[2], argv[3]);
    dsfx_opts o;
    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--content-type") == 0 && has)
            o.content_type = argv[++i];
        else if (strcmp(a, "--template") == 0 && has)
            o.template_id = argv[++i];
        else if (strcmp(a, "--rewrite") == 0)
            o.rewrite = true;
        else if (strcmp(a, "--not-found") == 0 && has)
            o.not_found_first = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--status") == 0 && has)
            o.status = atoi(argv[++i]);
        else if (a[0] != '-' && o.n_files < DSFX_MAX_STAGES)
            o.files[o.n_files++] = a;
        else {
            fprintf(stderr, "datastore_fixture: bad argument '%s'\n", a);
            return 2;
        }
    }
    if (!o.n_files && !o.status) {
        fprintf(stderr, "usage: datastore_fixture [options] FILE...\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    dsfx *f = dsfx_start(&o);
    if (!f)
        return 1;
    printf("%u\n", dsfx_port(f));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    dsfx_stop(f);
    return 0;
}

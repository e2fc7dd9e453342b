/* datastore_fixture.c - see datastore_fixture.h. */
#include "datastore_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tbt_common.h"

struct dsfx {
    dsfx_opts o;
    struct MHD_Daemon *d;
    uint16_t port;
    char *bodies[DSFX_MAX_STAGES];
    size_t lens[DSFX_MAX_STAGES];
    uint8_t tmpl[16];
    char tmpl_b64[32];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    unsigned requests;
    char last_path[256], last_accept[128], last_org[128], last_auth[128];
};

char *dsfx_read_data(const char *name, size_t *len)
{
    const char *dir = getenv("TBT_TEST_DATA");
    char *path = tbt_xasprintf("%s/datastore/%s", dir ? dir : "tests/data", name);
    char *buf = NULL;
    size_t n = 0;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_read_file(path, 64u << 20, &buf, &n, &err) != 0) {
        fprintf(stderr, "datastore fixture: %s: %s\n", path, err.msg ? err.msg : "cannot read");
        tbt_error_clear(&err);
        free(path);
        return NULL;
    }
    free(path);
    char *z = tbt_xmalloc(n + 1);
    memcpy(z, buf, n);
    z[n] = '\0';
    free(buf);
    if (len)
        *len = n;
    return z;
}

static void replace_all(tbt_buf *b, const void *from, size_t fl, const void *to)
{
    for (size_t i = 0; fl && i + fl <= b->len; i++)
        if (memcmp(b->data + i, from, fl) == 0) {
            memcpy(b->data + i, to, fl);
            i += fl - 1;
        }
}

static void copy_header(struct MHD_Connection *c, const char *name, char *buf, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(buf, cap, "%s", v ? v : "");
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const void *body, size_t len,
                              const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **state)
{
    dsfx *f = cls;
    (void)version;
    (void)data;
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    *size = 0;
    const char *id = NULL;
    if (strncmp(url, "/api/traces/", 12) == 0)
        id = url + 12;
    else if (strncmp(url, "/api/v2/traces/", 15) == 0)
        id = url + 15;
    if (strcmp(method, "GET") != 0 || !id)
        return answer(c, 404, "404 page not found\n", 19, "text/plain");
    pthread_mutex_lock(&f->mu);
    unsigned k = f->requests++;
    snprintf(f->last_path, sizeof(f->last_path), "%s", url);
    copy_header(c, "Accept", f->last_accept, sizeof(f->last_accept));
    copy_header(c, "X-Scope-OrgID", f->last_org, sizeof(f->last_org));
    copy_header(c, "Authorization", f->last_auth, sizeof(f->last_auth));
    if (f->o.delay_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)f->o.delay_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        while (!f->stopping && pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
            ;
    }
    char org[128];
    snprintf(org, sizeof(org), "%s", f->last_org);
    pthread_mutex_unlock(&f->mu);
    if (f->o.require_org && strcmp(org, f->o.require_org) != 0)
        return answer(c, 401, "no org id\n", 10, "text/plain");
    if (f->o.status)
        return answer(c, (unsigned)f->o.status, "upstream trouble\n", 17, "text/plain");
    if (f->o.garbage)
        return answer(c, 200, "\x01\x02<html>not a trace", 20, f->o.content_type);
    uint8_t want[16];
    bool id_ok = strlen(id) == 32 && tbt_hex_decode(id, 32, want, 16) == 0;
    if (k < f->o.not_found_first || !id_ok || (!f->o.rewrite && memcmp(want, f->tmpl, 16) != 0)) {
        /* as Jaeger's query service answers an unknown trace */
        static const char nf[] = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,"
                                 "\"msg\":\"trace not found\"}]}\n";
        return answer(c, 404, nf, sizeof(nf) - 1, "application/json");
    }
    size_t stage = k - f->o.not_found_first;
    if (stage >= f->o.n_files)
        stage = f->o.n_files - 1;
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_append(&b, f->bodies[stage], f->lens[stage]);
    if (f->o.rewrite && f->o.template_id) {
        char hex[33];
        tbt_hex_encode(want, 16, hex);
        replace_all(&b, f->o.template_id, 32, hex);
        replace_all(&b, f->tmpl, 16, want);
        tbt_buf enc = TBT_BUF_INIT;
        tbt_base64_encode(want, 16, &enc);
        replace_all(&b, f->tmpl_b64, strlen(f->tmpl_b64), enc.data);
        tbt_buf_free(&enc);
    }
    enum MHD_Result ret = answer(c, 200, b.data ? b.data : "", b.len, f->o.content_type);
    tbt_buf_free(&b);
    return ret;
}

dsfx *dsfx_start(const dsfx_opts *o)
{
    dsfx *f = tbt_xcalloc(1, sizeof(*f));
    f->o = *o;
    if (!f->o.content_type)
        f->o.content_type = "application/json";
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (size_t i = 0; i < o->n_files; i++)
        if (!(f->bodies[i] = dsfx_read_data(o->files[i], &f->lens[i]))) {
            dsfx_stop(f);
            return NULL;
        }
    if (o->template_id) {
        tbt_hex_decode(o->template_id, 32, f->tmpl, 16);
        tbt_buf enc = TBT_BUF_INIT;
        tbt_base64_encode(f->tmpl, 16, &enc);
        snprintf(f->tmpl_b64, sizeof(f->tmpl_b64), "%s", enc.data);
        tbt_buf_free(&enc);
    }
    /* a thread per connection: a slow answer does not hold up the others */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler, f,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!f->d) {
        fprintf(stderr, "datastore fixture: could not start the server\n");
        dsfx_stop(f);
        return NULL;
    }
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return f;
}

uint16_t dsfx_port(const dsfx *f)
{
    return f->port;
}

void dsfx_stop(dsfx *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (f->d)
        MHD_stop_daemon(f->d);
    for (size_t i = 0; i < DSFX_MAX_STAGES; i++)
        free(f->bodies[i]);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

unsigned dsfx_requests(dsfx *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->requests;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void dsfx_last_path(dsfx *f, char *buf, size_t cap)
{
    pthread_mutex_lock(&f->mu);
    snprintf(buf, cap, "%s", f->last_path);
    pthread_mutex_unlock(&f->mu);
}

void dsfx_last_header(dsfx *f, const char *name, char *buf, size_t cap)
{
    pthread_mutex_lock(&f->mu);
    const char *v = strcmp(name, "Accept") == 0          ? f->last_accept
                    : strcmp(name, "X-Scope-OrgID") == 0 ? f->last_org
                                                         : f->last_auth;
    snprintf(buf, cap, "%s", v);
    pthread_mutex_unlock(&f->mu);
}

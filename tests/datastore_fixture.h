/* datastore_fixture.h - a stand-in Jaeger query service / Tempo HTTP API:
 * a libmicrohttpd server on a free port replaying recorded answers
 * (tests/data/datastore/) for GET /api/traces/{id} and
 * /api/v2/traces/{id}. No real Jaeger or Tempo can run here; the answers
 * are written in each backend's documented format.
 *
 * Programmable: 404 for the first N requests, answers that grow from one
 * request to the next, an HTTP error status, garbage, a slow answer, a
 * required X-Scope-OrgID. Thread-safe counters tell what it was asked. */
#ifndef TBT_TESTS_DATASTORE_FIXTURE_H
#define TBT_TESTS_DATASTORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSFX_MAX_STAGES 4

typedef struct dsfx_opts {
    /* Answer bodies, in order: request k (after the 404s) gets stage
     * min(k, n-1): a trace that grows across requests. */
    const char *files[DSFX_MAX_STAGES];
    size_t n_files;
    const char *content_type;  /* default application/json */
    /* The trace id (hex) inside the files. When rewrite is set, every
     * requested id is served (the template's hex, raw bytes and base64
     * replaced by the requested id's); otherwise other ids get 404. */
    const char *template_id;
    bool rewrite;
    unsigned not_found_first;  /* 404 for the first N trace requests */
    int status;                /* answer this status with a short body instead (e.g. 500) */
    bool garbage;              /* answer 200 with bytes that are no JSON or protobuf */
    unsigned delay_ms;         /* wait this long before answering (cut short by stop) */
    const char *require_org;   /* X-Scope-OrgID must be this, else 401 */
} dsfx_opts;

typedef struct dsfx dsfx;

/* Start on 127.0.0.1 port 0; NULL when it could not (the reason on
 * stderr). Files are read now: a missing one fails the start. */
dsfx *dsfx_start(const dsfx_opts *o);
uint16_t dsfx_port(const dsfx *f);
void dsfx_stop(dsfx *f);

/* Trace requests answered so far, and what the last one carried (copied
 * into buf, "" when absent). */
unsigned dsfx_requests(dsfx *f);
void dsfx_last_path(dsfx *f, char *buf, size_t cap);
void dsfx_last_header(dsfx *f, const char *name, char *buf, size_t cap); /* "Accept", "X-Scope-OrgID", "Authorization" */

/* Read a file of tests/data/datastore/ (heap; NUL-terminated). */
char *dsfx_read_data(const char *name, size_t *len);

#endif

/*
 * tbt_trigger_curl.h - libcurl for the http and grpc triggers.
 *
 * The http trigger: each thread keeps one easy handle, reset before and
 * after every request: its connection cache keeps the connections to the
 * system under test alive between runs (keep-alive, as load tools do; a
 * campaign no longer pays a TCP and TLS handshake per run), with its DNS
 * and TLS session caches. A connection the server closed is detected and
 * replaced by libcurl. The handles go with their thread.
 *
 * The grpc trigger uses a fresh handle per call: reusing an h2c
 * (prior-knowledge HTTP/2) connection from a reset handle failed in the
 * HTTP/2 framing layer with Debian 12's libcurl 7.88 against grpc-js.
 *
 * @locality the calling thread; a handle never leaves it.
 */
#ifndef TBT_TRIGGER_CURL_H
#define TBT_TRIGGER_CURL_H

#include <curl/curl.h>

/* curl_global_init, once per process. */
void tbt_trigger_curl_init(void);

/* This thread's handle for the http trigger, freshly reset
 * (curl_global_init done); NULL when out of memory. */
CURL *tbt_trigger_curl(void);
/* Done with it: every option is reset (no header, body, credential or
 * buffer of this request stays set); the connections stay cached. */
void tbt_trigger_curl_release(CURL *h);

#endif

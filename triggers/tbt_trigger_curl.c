/* tbt_trigger_curl.c - libcurl set-up for the http and grpc triggers, and
 * the http trigger's per-thread handle (see the header). */
#include "tbt_trigger_curl.h"

#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;

static void handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&key, handle_free);
}

void tbt_trigger_curl_init(void)
{
    pthread_once(&once, init_once);
}

CURL *tbt_trigger_curl(void)
{
    pthread_once(&once, init_once);
    CURL *h = pthread_getspecific(key);
    if (!h) {
        h = curl_easy_init();
        if (h)
            pthread_setspecific(key, h);
    } else {
        curl_easy_reset(h);
    }
    return h;
}

void tbt_trigger_curl_release(CURL *h)
{
    if (h)
        curl_easy_reset(h);
}

/* tbt_trigger_curl.c - per-thread libcurl handles for the http and grpc
 * triggers (see the header). */
#include "tbt_trigger_curl.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;

typedef struct handles {
    CURL *h[TBT_CURL_SLOTS];
} handles;

static void handles_free(void *p)
{
    handles *hs = p;
    for (int i = 0; i < TBT_CURL_SLOTS; i++)
        if (hs->h[i])
            curl_easy_cleanup(hs->h[i]);
    free(hs);
}

static void init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&key, handles_free);
}

void tbt_trigger_curl_init(void)
{
    pthread_once(&once, init_once);
}

CURL *tbt_trigger_curl(tbt_curl_slot slot)
{
    pthread_once(&once, init_once);
    handles *hs = pthread_getspecific(key);
    if (!hs) {
        hs = calloc(1, sizeof(*hs));
        if (!hs)
            return NULL;
        pthread_setspecific(key, hs);
    }
    if (!hs->h[slot])
        hs->h[slot] = curl_easy_init();
    else
        curl_easy_reset(hs->h[slot]);
    return hs->h[slot];
}

void tbt_trigger_curl_release(CURL *h)
{
    if (h)
        curl_easy_reset(h);
}

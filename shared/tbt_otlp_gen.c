/* tbt_otlp_gen.c - synthetic OTLP traces for benches, tests and fuzzing:
 * realistic services, span kinds and attributes of every type,
 * deterministic for a seed (tbt_otlp_generate in tbt_otlp.h). */
#include "tbt_otlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * synthetic traces
 * ====================================================================== */

typedef struct gen_rng {
    uint64_t s;
} gen_rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_next(gen_rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return mix64(r->s);
}

static unsigned rng_below(gen_rng *r, unsigned n)
{
    return (unsigned)(rng_next(r) % n);
}

static double rng_unit(gen_rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

enum gen_kind { G_SERVER, G_CLIENT, G_DB, G_PRODUCER, G_CONSUMER, G_INTERNAL };

typedef struct gen_node {
    tbt_span *s;
    unsigned depth;
    unsigned svc;
    enum gen_kind kind;
    unsigned target; /* CLIENT: the service called */
} gen_node;

typedef struct gen {
    tbt_trace *t;
    tbt_arena *a;
    gen_rng rng;
    uint8_t trace_id[16];
    unsigned seed;
    size_t n_made;
    tbt_resource *res[5];
    tbt_scope *scope_http[5], *scope_db[5], *scope_msg[5], *scope_app[5];
} gen;

static const char *const gen_services[5] = {"api-gateway", "order-service", "payment-service", "inventory-service",
                                            "notification-service"};
static const char *const gen_routes[5] = {"/checkout", "/orders", "/payments", "/inventory/reserve", "/notify"};
static const char *const gen_tables[] = {"orders", "order_items", "payments", "stock", "customers", "outbox"};
static const char *const gen_ops[] = {"SELECT", "INSERT", "UPDATE"};
static const char *const gen_topics[] = {"orders.created", "payments.settled", "stock.reserved"};
static const char *const gen_tasks[] = {"validate cart", "compute tax", "process payment", "apply discounts",
                                        "render receipt", "check fraud score"};

typedef struct kvb {
    tbt_kv items[24];
    size_t n;
} kvb;

static void kv_str(gen *g, kvb *b, const char *k, const char *v)
{
    tbt_kv *kv = &b->items[b->n++];
    kv->key = k;
    kv->value = tbt_value_str(tbt_arena_strdup(g->a, v));
}

static void kv_int(kvb *b, const char *k, int64_t v)
{
    tbt_kv *kv = &b->items[b->n++];
    kv->key = k;
    kv->value = tbt_value_int(v);
}

static void kv_dbl(kvb *b, const char *k, double v)
{
    tbt_kv *kv = &b->items[b->n++];
    kv->key = k;
    kv->value = tbt_value_double(v);
}

static void kv_bool(kvb *b, const char *k, bool v)
{
    tbt_kv *kv = &b->items[b->n++];
    kv->key = k;
    kv->value = tbt_value_bool(v);
}

static void kv_done(gen *g, kvb *b, tbt_kv **attrs, size_t *n)
{
    *attrs = tbt_arena_memdup(g->a, b->items, b->n * sizeof(tbt_kv));
    *n = b->n;
}

static tbt_scope *gen_scope(gen *g, const char *name, const char *version)
{
    tbt_scope *sc = tbt_trace_new_scope(g->t);
    sc->name = name;
    sc->version = version;
    return sc;
}

static void gen_resources(gen *g)
{
    for (unsigned i = 0; i < 5; i++) {
        tbt_resource *r = tbt_trace_new_resource(g->t);
        kvb b = {.n = 0};
        kv_str(g, &b, "service.name", gen_services[i]);
        kv_str(g, &b, "service.namespace", "shop");
        kv_str(g, &b, "service.version", i % 2 ? "1.4.2" : "2.0.0-rc.1");
        kv_str(g, &b, "deployment.environment", "staging");
        kv_str(g, &b, "telemetry.sdk.name", "opentelemetry");
        kv_str(g, &b, "telemetry.sdk.language", i == 2 ? "go" : "nodejs");
        kv_str(g, &b, "telemetry.sdk.version", i == 2 ? "1.28.0" : "1.25.1");
        char host[64];
        snprintf(host, sizeof(host), "%s-%08x", gen_services[i], (unsigned)(mix64(g->seed * 31u + i) & 0xffffffffu));
        kv_str(g, &b, "host.name", host);
        kv_int(&b, "process.pid", 1000 + (int64_t)i * 17);
        kv_done(g, &b, &r->attrs, &r->n_attrs);
        r->schema_url = "https://opentelemetry.io/schemas/1.24.0";
        g->res[i] = r;
        g->scope_http[i] = gen_scope(g, "@opentelemetry/instrumentation-http", "0.52.1");
        g->scope_db[i] = gen_scope(g, "@opentelemetry/instrumentation-pg", "0.43.0");
        g->scope_msg[i] = gen_scope(g, "@opentelemetry/instrumentation-kafkajs", "0.2.0");
        g->scope_app[i] = gen_scope(g, gen_services[i], "1.0.0");
    }
    /* One scope carries attributes, to exercise them. */
    kvb b = {.n = 0};
    kv_str(g, &b, "instrumentation.kind", "manual");
    kv_done(g, &b, &g->scope_app[2]->attrs, &g->scope_app[2]->n_attrs);
}

static tbt_span *gen_span(gen *g, gen_node *parent, gen_node *node)
{
    tbt_span *s = tbt_trace_add_span(g->t);
    memcpy(s->trace_id, g->trace_id, 16);
    uint64_t id = mix64((uint64_t)g->seed << 32 | (uint64_t)(g->n_made + 1));
    for (int i = 0; i < 8; i++)
        s->span_id[i] = (uint8_t)(id >> (56 - 8 * i));
    g->n_made++;
    s->flags = 0x01;
    if (parent) {
        memcpy(s->parent_id, parent->s->span_id, 8);
        tbt_span *p = parent->s;
        uint64_t dur = p->end_ns - p->start_ns;
        s->start_ns = p->start_ns + (uint64_t)((double)dur * 0.5 * rng_unit(&g->rng));
        uint64_t left = p->end_ns - s->start_ns;
        s->end_ns = s->start_ns + (uint64_t)((double)left * (0.1 + 0.85 * rng_unit(&g->rng)));
    } else {
        s->start_ns = 1700000000000000000ull + (uint64_t)g->seed * 1000003ull;
        s->end_ns = s->start_ns + 250000000ull + rng_below(&g->rng, 100000000);
    }
    node->s = s;
    s->resource = g->res[node->svc];
    return s;
}

static void gen_exception(gen *g, tbt_span *s, const char *type, const char *msg)
{
    tbt_event *e = tbt_arena_calloc(g->a, 1, sizeof(*e));
    e->name = "exception";
    e->time_ns = s->end_ns - (s->end_ns - s->start_ns) / 10;
    kvb b = {.n = 0};
    kv_str(g, &b, "exception.type", type);
    kv_str(g, &b, "exception.message", msg);
    char st[256];
    snprintf(st, sizeof(st), "%s: %s\n    at handler (/app/src/%s.js:42:13)\n    at process (/app/src/index.js:7:5)",
             type, msg, s->name);
    kv_str(g, &b, "exception.stacktrace", st);
    kv_bool(&b, "exception.escaped", false);
    kv_done(g, &b, &e->attrs, &e->n_attrs);
    s->events = e;
    s->n_events = 1;
    s->status_code = TBT_STATUS_ERROR;
    s->status_message = tbt_arena_strdup(g->a, msg);
}

static void gen_fill(gen *g, gen_node *parent, gen_node *node)
{
    tbt_span *s = node->s;
    kvb b = {.n = 0};
    unsigned svc = node->svc;
    char buf[256];
    switch (node->kind) {
    case G_SERVER: {
        const char *method = svc == 3 ? "GET" : "POST";
        snprintf(buf, sizeof(buf), "%s %s", method, gen_routes[svc]);
        s->name = tbt_arena_strdup(g->a, buf);
        s->kind = TBT_KIND_SERVER;
        s->scope = g->scope_http[svc];
        if (parent)
            s->flags |= 0x300; /* remote parent */
        bool fail = rng_below(&g->rng, 20) == 0;
        kv_str(g, &b, "http.request.method", method);
        kv_str(g, &b, "url.scheme", "http");
        kv_str(g, &b, "url.path", gen_routes[svc]);
        kv_str(g, &b, "http.route", gen_routes[svc]);
        kv_int(&b, "http.response.status_code", fail ? 500 : (svc == 1 ? 201 : 200));
        kv_str(g, &b, "server.address", gen_services[svc]);
        kv_int(&b, "server.port", 8080);
        kv_str(g, &b, "network.protocol.version", "1.1");
        kv_str(g, &b, "user_agent.original", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)");
        snprintf(buf, sizeof(buf), "10.0.%u.%u", svc, rng_below(&g->rng, 250) + 2);
        kv_str(g, &b, "client.address", buf);
        kv_int(&b, "http.request.body.size", 200 + rng_below(&g->rng, 2000));
        if (fail)
            gen_exception(g, s, "Error", "upstream request failed");
        break;
    }
    case G_CLIENT: {
        unsigned tgt = node->target;
        s->name = "POST";
        s->kind = TBT_KIND_CLIENT;
        s->scope = g->scope_http[svc];
        kv_str(g, &b, "http.request.method", "POST");
        snprintf(buf, sizeof(buf), "http://%s:8080%s", gen_services[tgt], gen_routes[tgt]);
        kv_str(g, &b, "url.full", buf);
        kv_str(g, &b, "server.address", gen_services[tgt]);
        kv_int(&b, "server.port", 8080);
        kv_int(&b, "http.response.status_code", tgt == 1 ? 201 : 200);
        kv_str(g, &b, "network.peer.address", "10.0.0.7");
        break;
    }
    case G_DB: {
        const char *table = gen_tables[rng_below(&g->rng, TBT_ARRAY_LEN(gen_tables))];
        const char *op = gen_ops[rng_below(&g->rng, TBT_ARRAY_LEN(gen_ops))];
        snprintf(buf, sizeof(buf), "pg.query:%s %s", op, table);
        s->name = tbt_arena_strdup(g->a, buf);
        s->kind = TBT_KIND_CLIENT;
        s->scope = g->scope_db[svc];
        kv_str(g, &b, "db.system", "postgresql");
        kv_str(g, &b, "db.name", "shop");
        kv_str(g, &b, "db.user", "app");
        kv_str(g, &b, "db.operation", op);
        kv_str(g, &b, "db.sql.table", table);
        if (strcmp(op, "INSERT") == 0)
            snprintf(buf, sizeof(buf), "INSERT INTO %s (id, customer_id, total, created_at) VALUES ($1, $2, $3, now())",
                     table);
        else if (strcmp(op, "UPDATE") == 0)
            snprintf(buf, sizeof(buf), "UPDATE %s SET status = $1 WHERE id = $2", table);
        else
            snprintf(buf, sizeof(buf), "SELECT id, status, total FROM %s WHERE customer_id = $1 LIMIT 50", table);
        kv_str(g, &b, "db.statement", buf);
        kv_str(g, &b, "server.address", "postgres.shop.svc");
        kv_int(&b, "server.port", 5432);
        kv_int(&b, "db.response.returned_rows", rng_below(&g->rng, 50));
        break;
    }
    case G_PRODUCER:
    case G_CONSUMER: {
        const char *topic = gen_topics[rng_below(&g->rng, TBT_ARRAY_LEN(gen_topics))];
        bool prod = node->kind == G_PRODUCER;
        snprintf(buf, sizeof(buf), "%s %s", topic, prod ? "publish" : "process");
        s->name = tbt_arena_strdup(g->a, buf);
        s->kind = prod ? TBT_KIND_PRODUCER : TBT_KIND_CONSUMER;
        s->scope = g->scope_msg[svc];
        kv_str(g, &b, "messaging.system", "kafka");
        kv_str(g, &b, "messaging.destination.name", topic);
        kv_str(g, &b, "messaging.operation", prod ? "publish" : "process");
        kv_int(&b, "messaging.kafka.destination.partition", rng_below(&g->rng, 12));
        snprintf(buf, sizeof(buf), "msg-%016llx", (unsigned long long)rng_next(&g->rng));
        kv_str(g, &b, "messaging.message.id", buf);
        kv_int(&b, "messaging.message.body.size", 128 + rng_below(&g->rng, 4096));
        if (!prod) {
            kv_str(g, &b, "messaging.kafka.consumer.group", gen_services[svc]);
            /* The messaging conventions prefer a link to the producer's
             * context; keep the parent too so the tree stays connected. */
            tbt_link *l = tbt_arena_calloc(g->a, 1, sizeof(*l));
            memcpy(l->trace_id, parent->s->trace_id, 16);
            memcpy(l->span_id, parent->s->span_id, 8);
            l->flags = 0x01;
            if (rng_below(&g->rng, 4) == 0)
                l->trace_state = "congo=t61rcWkgMzE";
            kvb lb = {.n = 0};
            kv_str(g, &lb, "messaging.operation", "publish");
            kv_done(g, &lb, &l->attrs, &l->n_attrs);
            s->links = l;
            s->n_links = 1;
        }
        break;
    }
    case G_INTERNAL: {
        s->name = gen_tasks[rng_below(&g->rng, TBT_ARRAY_LEN(gen_tasks))];
        s->kind = TBT_KIND_INTERNAL;
        s->scope = g->scope_app[svc];
        unsigned items = 1 + rng_below(&g->rng, 9);
        kv_int(&b, "app.cart.items", items);
        kv_dbl(&b, "app.cart.total", (double)(500 + rng_below(&g->rng, 100000)) / 100.0);
        kv_bool(&b, "app.user.vip", rng_below(&g->rng, 5) == 0);
        /* array of strings */
        tbt_value *skus = tbt_arena_calloc(g->a, 3, sizeof(tbt_value));
        for (int i = 0; i < 3; i++) {
            snprintf(buf, sizeof(buf), "SKU-%05u", rng_below(&g->rng, 100000));
            skus[i] = tbt_value_str(tbt_arena_strdup(g->a, buf));
        }
        tbt_kv *kv = &b.items[b.n++];
        kv->key = "app.cart.skus";
        kv->value.type = TBT_V_ARRAY;
        kv->value.u.arr.items = skus;
        kv->value.u.arr.n = 3;
        /* kvlist with a nested array */
        tbt_kv *meta = tbt_arena_calloc(g->a, 3, sizeof(tbt_kv));
        meta[0].key = "region";
        meta[0].value = tbt_value_str(svc % 2 ? "eu-west-1" : "us-east-1");
        meta[1].key = "retries";
        meta[1].value = tbt_value_int(rng_below(&g->rng, 3));
        tbt_value *fl = tbt_arena_calloc(g->a, 2, sizeof(tbt_value));
        fl[0] = tbt_value_bool(true);
        fl[1] = tbt_value_double(0.25);
        meta[2].key = "flags";
        meta[2].value.type = TBT_V_ARRAY;
        meta[2].value.u.arr.items = fl;
        meta[2].value.u.arr.n = 2;
        kv = &b.items[b.n++];
        kv->key = "app.request.meta";
        kv->value.type = TBT_V_KVLIST;
        kv->value.u.kv.items = meta;
        kv->value.u.kv.n = 3;
        /* bytes */
        uint8_t digest[16];
        uint64_t h1 = rng_next(&g->rng), h2 = rng_next(&g->rng);
        memcpy(digest, &h1, 8);
        memcpy(digest + 8, &h2, 8);
        kv = &b.items[b.n++];
        kv->key = "app.payload.digest";
        kv->value.type = TBT_V_BYTES;
        kv->value.u.s.ptr = tbt_arena_memdup(g->a, digest, 16);
        kv->value.u.s.len = 16;
        if (strcmp(s->name, "process payment") == 0) {
            kv_dbl(&b, "payment.amount", 99.99);
            kv_str(g, &b, "payment.currency", "EUR");
        }
        if (rng_below(&g->rng, 8) == 0) {
            tbt_event *e = tbt_arena_calloc(g->a, 2, sizeof(*e));
            e[0].name = "cache.miss";
            e[0].time_ns = s->start_ns + (s->end_ns - s->start_ns) / 4;
            kvb eb = {.n = 0};
            kv_str(g, &eb, "cache.key", "cart:42");
            kv_done(g, &eb, &e[0].attrs, &e[0].n_attrs);
            e[1].name = "cache.fill";
            e[1].time_ns = s->start_ns + (s->end_ns - s->start_ns) / 2;
            s->events = e;
            s->n_events = 2;
            s->trace_state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
        }
        if (rng_below(&g->rng, 40) == 0)
            gen_exception(g, s, "ValidationError", "cart total does not match items");
        else if (rng_below(&g->rng, 10) == 0)
            s->status_code = TBT_STATUS_OK;
        if (rng_below(&g->rng, 50) == 0)
            s->dropped_attrs = 2;
        break;
    }
    }
    kv_done(g, &b, &s->attrs, &s->n_attrs);
}

/* Children a node of this kind gets when expanded. */
static unsigned gen_fanout(gen *g, const gen_node *n)
{
    if (n->depth >= 9)
        return 0;
    switch (n->kind) {
    case G_CLIENT:
    case G_PRODUCER: return 1;
    case G_DB: return 0;
    default: return 1 + rng_below(&g->rng, n->depth < 3 ? 6 : 4);
    }
}

static void gen_child_kind(gen *g, const gen_node *p, gen_node *c)
{
    c->depth = p->depth + 1;
    c->svc = p->svc;
    if (p->kind == G_CLIENT) {
        c->kind = G_SERVER;
        c->svc = p->target;
        return;
    }
    if (p->kind == G_PRODUCER) {
        c->kind = G_CONSUMER;
        c->svc = 4;
        return;
    }
    unsigned r = rng_below(&g->rng, 100);
    if (r < 30) {
        c->kind = G_CLIENT;
        c->target = 1 + rng_below(&g->rng, 4);
        if (c->target == p->svc)
            c->target = 1 + (c->target % 4);
    } else if (r < 55) {
        c->kind = G_DB;
    } else if (r < 62 && p->svc != 4) {
        c->kind = G_PRODUCER;
    } else {
        c->kind = G_INTERNAL;
    }
}

tbt_trace *tbt_otlp_generate(size_t n_spans, unsigned seed)
{
    gen g;
    memset(&g, 0, sizeof(g));
    g.t = tbt_trace_new();
    g.a = tbt_trace_arena(g.t);
    g.seed = seed;
    g.rng.s = mix64(seed ^ 0x5DEECE66Dull);
    uint64_t a = rng_next(&g.rng), b = rng_next(&g.rng) | 1;
    for (int i = 0; i < 8; i++) {
        g.trace_id[i] = (uint8_t)(a >> (56 - 8 * i));
        g.trace_id[8 + i] = (uint8_t)(b >> (56 - 8 * i));
    }
    gen_resources(&g);
    if (n_spans == 0)
        n_spans = 1;
    gen_node *nodes = tbt_xcalloc(n_spans, sizeof(*nodes));
    size_t count = 0;
    nodes[0].kind = G_SERVER;
    nodes[0].svc = 0;
    gen_span(&g, NULL, &nodes[0]);
    gen_fill(&g, NULL, &nodes[0]);
    nodes[0].s->name = "POST /checkout";
    count = 1;
    /* Breadth-first expansion; when every node is expanded and spans are
     * still missing, expand the servers and internal spans again. */
    size_t q = 0;
    bool again = false;
    while (count < n_spans) {
        if (q == count) {
            q = 0;
            again = true;
        }
        gen_node *p = &nodes[q++];
        unsigned k = gen_fanout(&g, p);
        if (again && (p->kind == G_CLIENT || p->kind == G_PRODUCER))
            k = 0;
        for (unsigned i = 0; i < k && count < n_spans; i++) {
            gen_node *c = &nodes[count++];
            gen_child_kind(&g, p, c);
            gen_span(&g, p, c);
            gen_fill(&g, p, c);
        }
    }
    free(nodes);
    tbt_trace_finalize(g.t, NULL);
    return g.t;
}

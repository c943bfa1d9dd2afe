/*
 * Prometheus metrics: requests and a latency histogram per endpoint series and status, and
 * event counters (signatures, authorization failures, lockouts, login failures, rate-limited
 * attempts, SAM and database errors), and the anomalies (api/anomaly.c) by kind.  Lock-free:
 * relaxed atomic counters, read without a snapshot (each series is individually consistent enough
 * for monitoring).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

/* Status codes with their own series; anything else counts under "other". */
static const unsigned statuses[] = {200, 204, 400, 401, 403, 404, 405, 409,
                                    413, 414, 429, 431, 500, 501, 503};
#define N_STATUS (sizeof statuses / sizeof statuses[0] + 1)
#define ST_OTHER (N_STATUS - 1)

/* Histogram upper bounds in seconds. */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

typedef struct series {
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t bucket[N_BOUNDS]; /* non-cumulative; summed when rendered */
} series;

static const struct {
    const char *name;
    const char *help;
} counter_info[API_C_COUNT] = {
    [API_C_SIGNATURES] = {"qsign_signatures_total",
                          "Signatures returned by signatures/signHash and signatures/signDoc"},
    [API_C_AUTHORIZATION_FAILURES] = {"qsign_authorization_failures_total",
                                      "Credential authorizations refused for wrong PIN or OTP"},
    [API_C_LOCKOUTS] = {"qsign_lockouts_total",
                        "Authorizations refused because the credential is locked"},
    [API_C_LOGIN_FAILURES] = {"qsign_login_failures_total", "Failed auth/login attempts"},
    [API_C_RATE_LIMITED] = {"qsign_rate_limited_total", "Attempts refused by a rate limit (429)"},
    [API_C_SAM_ERRORS] = {"qsign_sam_errors_total", "Failures talking to the SAM"},
    [API_C_DB_ERRORS] = {"qsign_db_errors_total", "Database failures"},
};

struct api_metrics {
    size_t slots;
    series *s; /* slots * N_STATUS */
    _Atomic uint64_t counters[API_C_COUNT];
    _Atomic uint64_t anomalies[API_A_COUNT];
};

api_metrics *api_metrics_new(size_t slots)
{
    api_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->slots = slots;
    m->s = calloc(slots * N_STATUS, sizeof *m->s);
    if (m->s == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void api_metrics_free(api_metrics *m)
{
    if (m == NULL)
        return;
    free(m->s);
    free(m);
}

void api_metrics_inc(api_metrics *m, api_counter c)
{
    if (m != NULL && (unsigned)c < API_C_COUNT)
        atomic_fetch_add_explicit(&m->counters[c], 1, memory_order_relaxed);
}

void api_count(api_request *rq, api_counter c)
{
    api_metrics_inc(rq->srv->metrics, c);
}

void api_metrics_anomaly(api_metrics *m, api_anomaly_kind k)
{
    if (m != NULL && (unsigned)k < API_A_COUNT)
        atomic_fetch_add_explicit(&m->anomalies[k], 1, memory_order_relaxed);
}

static size_t status_index(unsigned status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return ST_OTHER;
}

void api_metrics_observe(api_metrics *m, size_t slot, unsigned status, double seconds)
{
    if (m == NULL || slot >= m->slots)
        return;
    series *s = &m->s[slot * N_STATUS + status_index(status)];
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    if (seconds < 0)
        seconds = 0;
    atomic_fetch_add_explicit(&s->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
    for (size_t i = 0; i < N_BOUNDS; i++) {
        if (seconds <= bounds[i]) {
            atomic_fetch_add_explicit(&s->bucket[i], 1, memory_order_relaxed);
            break;
        }
    }
}

/* A growing text buffer; `failed` sticks. */
typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (b == NULL) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void status_label(size_t i, char *buf, size_t len)
{
    if (i == ST_OTHER)
        snprintf(buf, len, "other");
    else
        snprintf(buf, len, "%u", statuses[i]);
}

qs_err api_metrics_render(api_metrics *m, char **out, size_t *len)
{
    text t = {.cap = 4096};
    *out = NULL;
    *len = 0;
    t.buf = malloc(t.cap);
    if (t.buf == NULL)
        return QS_ERR_NOMEM;
    t.buf[0] = '\0';

    char label[API_PATH_LOG_MAX + 16], st[16];
    add(&t, "# HELP qsign_http_requests_total HTTP requests by endpoint and status.\n"
            "# TYPE qsign_http_requests_total counter\n");
    for (size_t slot = 0; slot < m->slots; slot++) {
        api_route_slot_label(slot, label, sizeof label);
        for (size_t i = 0; i < N_STATUS; i++) {
            uint64_t c =
                atomic_load_explicit(&m->s[slot * N_STATUS + i].count, memory_order_relaxed);
            if (c == 0)
                continue;
            status_label(i, st, sizeof st);
            add(&t, "qsign_http_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n", label, st,
                (unsigned long long)c);
        }
    }
    add(&t, "# HELP qsign_http_request_duration_seconds HTTP request latency by endpoint and "
            "status.\n# TYPE qsign_http_request_duration_seconds histogram\n");
    for (size_t slot = 0; slot < m->slots; slot++) {
        api_route_slot_label(slot, label, sizeof label);
        for (size_t i = 0; i < N_STATUS; i++) {
            series *s = &m->s[slot * N_STATUS + i];
            uint64_t c = atomic_load_explicit(&s->count, memory_order_relaxed);
            if (c == 0)
                continue;
            status_label(i, st, sizeof st);
            uint64_t cum = 0;
            for (size_t b = 0; b < N_BOUNDS; b++) {
                cum += atomic_load_explicit(&s->bucket[b], memory_order_relaxed);
                add(&t,
                    "qsign_http_request_duration_seconds_bucket{endpoint=\"%s\",status=\"%s\","
                    "le=\"%g\"} %llu\n",
                    label, st, bounds[b], (unsigned long long)cum);
            }
            add(&t,
                "qsign_http_request_duration_seconds_bucket{endpoint=\"%s\",status=\"%s\","
                "le=\"+Inf\"} %llu\n",
                label, st, (unsigned long long)c);
            add(&t, "qsign_http_request_duration_seconds_sum{endpoint=\"%s\",status=\"%s\"} %.6f\n",
                label, st, (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
            add(&t,
                "qsign_http_request_duration_seconds_count{endpoint=\"%s\",status=\"%s\"} "
                "%llu\n",
                label, st, (unsigned long long)c);
        }
    }
    for (size_t c = 0; c < API_C_COUNT; c++) {
        add(&t, "# HELP %s %s.\n# TYPE %s counter\n%s %llu\n", counter_info[c].name,
            counter_info[c].help, counter_info[c].name, counter_info[c].name,
            (unsigned long long)atomic_load_explicit(&m->counters[c], memory_order_relaxed));
    }
    add(&t, "# HELP qsign_anomalies_total Unusual use detected (alerts, also logged at WARN), "
            "by kind.\n# TYPE qsign_anomalies_total counter\n");
    for (size_t k = 0; k < API_A_COUNT; k++)
        add(&t, "qsign_anomalies_total{kind=\"%s\"} %llu\n", api_anomaly_name((api_anomaly_kind)k),
            (unsigned long long)atomic_load_explicit(&m->anomalies[k], memory_order_relaxed));
    if (t.failed) {
        free(t.buf);
        return QS_ERR_NOMEM;
    }
    *out = t.buf;
    *len = t.len;
    return QS_OK;
}

/*
 * Alerts on unusual use (EN 419 241-1): a credential or a staff account that locks, a burst of
 * failed authentications of one account or credential, a signature outside the configured daily
 * window, and bulk signing by one signer.  Each alert is one WARN log line (logfmt, ids only,
 * never a secret nor a typed username) and one count in qsign_anomalies_total{kind}.
 *
 * Why here and not in the SAM: qsignd sees the outcome of every attempt, including the failed
 * login passwords the SAM never sees (it checks factors only), and it serves /metrics; the
 * SAM stays the small trusted core it is.  The one fact only the SAM knows, that an attempt
 * locked a credential or an account, comes back in its ERROR answer (LOCKED).  Alerts decide
 * nothing (no request is refused for them) and the SAM's audit log keeps the complete record;
 * a compromised qsignd could hide an alert, never a record.
 *
 * Counting: per key (an account's username, a credential id, a signer's user id), a sliding
 * window of API_WINDOW_SLOTS slots, each 1/API_WINDOW_SLOTS of the window (at least a second),
 * in a fixed-size table keyed by SipHash with a random key; when a key's probes are all taken
 * the entry with the smallest count is reused.  An alert fires when an event takes the count
 * from at most the threshold to above it, so one burst gives one alert, and a later burst, once
 * the count has fallen back, another.  Counts are per process: with several qsignd instances
 * behind a load balancer each counts what it serves.
 *
 * Threads: each table has its own mutex; the decision (count before and after) is made under
 * it, so concurrent events never alert twice for one crossing nor miss one.
 */
#define QS_LOG_MODULE "api"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

#define WINDOW_PROBES 8

typedef struct window_entry {
    uint64_t key;
    uint64_t epoch; /* the slot number (time / width) of the newest slot */
    uint32_t slot[API_WINDOW_SLOTS];
    bool used;
} window_entry;

struct api_window {
    pthread_mutex_t mu;
    uint64_t threshold;
    uint64_t width_ms; /* one slot */
    unsigned nslots;   /* slots that make the window: ceil(window / width) */
    size_t n;
    window_entry *e;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
};

api_window *api_window_new(uint64_t threshold, uint32_t window_s, size_t entries)
{
    if (window_s == 0)
        return NULL;
    api_window *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    if (entries < WINDOW_PROBES)
        entries = WINDOW_PROBES;
    w->e = calloc(entries, sizeof *w->e);
    if (w->e == NULL) {
        free(w);
        return NULL;
    }
    w->n = entries;
    w->threshold = threshold;
    uint32_t width_s = (window_s + API_WINDOW_SLOTS - 1) / API_WINDOW_SLOTS;
    if (width_s == 0)
        width_s = 1;
    w->width_ms = (uint64_t)width_s * 1000u;
    w->nslots = (window_s + width_s - 1) / width_s;
    qs_random(w->hkey, sizeof w->hkey);
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void api_window_free(api_window *w)
{
    if (w == NULL)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w->e);
    free(w);
}

/* Moves the entry's newest slot to `cur`, emptying the slots that left the window. */
static void advance(const api_window *w, window_entry *e, uint64_t cur)
{
    if (cur <= e->epoch)
        return;
    uint64_t steps = cur - e->epoch;
    if (steps > w->nslots)
        steps = w->nslots;
    for (uint64_t i = 1; i <= steps; i++)
        e->slot[(e->epoch + i) % w->nslots] = 0;
    e->epoch = cur;
}

static uint64_t total(const api_window *w, const window_entry *e)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < w->nslots; i++)
        sum += e->slot[i];
    return sum;
}

/* The entry of `key`, made empty if it has none.  Called with the mutex held. */
static window_entry *entry(api_window *w, uint64_t k, uint64_t cur)
{
    window_entry *victim = NULL;
    uint64_t victim_count = 0;
    for (size_t i = 0; i < WINDOW_PROBES; i++) {
        window_entry *e = &w->e[(k + i) % w->n];
        if (e->used && e->key == k) {
            advance(w, e, cur);
            return e;
        }
        if (!e->used) {
            if (victim == NULL || victim->used)
                victim = e;
            continue;
        }
        if (victim != NULL && !victim->used)
            continue;
        advance(w, e, cur);
        uint64_t c = total(w, e);
        if (victim == NULL || c < victim_count) {
            victim = e;
            victim_count = c;
        }
    }
    memset(victim, 0, sizeof *victim);
    victim->used = true;
    victim->key = k;
    victim->epoch = cur;
    return victim;
}

bool api_window_add(api_window *w, const char *key, size_t key_len, uint64_t n, uint64_t now_ms,
                    uint64_t *count)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t k;
    bool crossed;

    if (count != NULL)
        *count = 0;
    if (w == NULL || n == 0)
        return false;
    crypto_shorthash(h, (const unsigned char *)key, key_len, w->hkey);
    memcpy(&k, h, sizeof k);
    uint64_t cur = now_ms / w->width_ms;
    pthread_mutex_lock(&w->mu);
    window_entry *e = entry(w, k, cur);
    uint64_t before = total(w, e);
    uint32_t *s = &e->slot[cur % w->nslots];
    *s = n > UINT32_MAX - *s ? UINT32_MAX : *s + (uint32_t)n;
    uint64_t after = total(w, e);
    crossed = w->threshold > 0 && before <= w->threshold && after > w->threshold;
    pthread_mutex_unlock(&w->mu);
    if (count != NULL)
        *count = after;
    return crossed;
}

bool api_signing_window_outside(const qs_api_config *cfg, int64_t unix_s)
{
    int from = cfg->signing_window_from, to = cfg->signing_window_to;
    if (from < 0 || to < 0)
        return false;
    int64_t sec = unix_s % 86400;
    if (sec < 0)
        sec += 86400;
    int m = (int)(sec / 60);
    bool inside = from < to ? (m >= from && m < to) : (m >= from || m < to);
    return !inside;
}

const char *api_anomaly_name(api_anomaly_kind k)
{
    switch (k) {
    case API_A_LOCKOUT:
        return "lockout";
    case API_A_AUTH_FAILURE_BURST:
        return "auth_failure_burst";
    case API_A_SIGNING_OUTSIDE_WINDOW:
        return "signing_outside_window";
    case API_A_BULK_SIGNING:
        return "bulk_signing";
    case API_A_COUNT:
        break;
    }
    return "unknown";
}

/* ---- Reports --------------------------------------------------------------------------------- */

void api_anomaly_lockout(api_request *rq, const char *what, const char *id)
{
    api_metrics_anomaly(rq->srv->metrics, API_A_LOCKOUT);
    qs_warn("anomaly kind=%s %s=%s%s%s", api_anomaly_name(API_A_LOCKOUT), what, id,
            rq->authed ? " user=" : "", rq->authed ? rq->user_id_str : "");
}

void api_anomaly_auth_failure(api_request *rq, const char *what, const char *key, const char *shown)
{
    const qs_api_config *cfg = api_cfg(rq);
    char k[API_ANOMALY_KEY_MAX];
    uint64_t count = 0;
    int n = snprintf(k, sizeof k, "%s:%s", what, key);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof k ? (size_t)n : sizeof k - 1;
    bool crossed = api_window_add(rq->srv->auth_failures, k, len, 1, api_now_ms(), &count);
    qs_wipe(k, sizeof k); /* a username someone typed: not kept */
    if (!crossed)
        return;
    api_metrics_anomaly(rq->srv->metrics, API_A_AUTH_FAILURE_BURST);
    qs_warn("anomaly kind=%s %s=%s failures=%llu window_s=%lld threshold=%lld",
            api_anomaly_name(API_A_AUTH_FAILURE_BURST), what, shown, (unsigned long long)count,
            (long long)cfg->anomaly_auth_failure_window, (long long)cfg->anomaly_auth_failures);
}

void api_anomaly_signed(api_request *rq, const char *credential, size_t n)
{
    const qs_api_config *cfg = api_cfg(rq);
    int64_t now_s = api_now_us() / 1000000;
    if (api_signing_window_outside(cfg, now_s)) {
        int64_t sec = now_s % 86400;
        api_metrics_anomaly(rq->srv->metrics, API_A_SIGNING_OUTSIDE_WINDOW);
        qs_warn("anomaly kind=%s user=%s credential=%s signatures=%zu time=%02d:%02dZ window=%s",
                api_anomaly_name(API_A_SIGNING_OUTSIDE_WINDOW), rq->user_id_str, credential, n,
                (int)(sec / 3600), (int)(sec % 3600 / 60), cfg->anomaly_signing_window);
    }
    uint64_t count = 0;
    if (api_window_add(rq->srv->signatures, rq->user_id_str, strlen(rq->user_id_str), n,
                       api_now_ms(), &count)) {
        api_metrics_anomaly(rq->srv->metrics, API_A_BULK_SIGNING);
        qs_warn("anomaly kind=%s user=%s signatures=%llu window_s=%lld threshold=%lld",
                api_anomaly_name(API_A_BULK_SIGNING), rq->user_id_str, (unsigned long long)count,
                (long long)cfg->anomaly_bulk_window, (long long)cfg->anomaly_bulk_signatures);
    }
}

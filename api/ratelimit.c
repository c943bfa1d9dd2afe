/*
 * Token-bucket rate limits on login and authorization attempts, per client address and per
 * account.  A fixed-size table of buckets keyed by a keyed hash (SipHash, random key) of the
 * address, or of the account: the login name as sent for logins, the user id for an
 * authenticated signer's attempts, in separate key spaces.  A key probes a few slots and, when
 * they are all taken, replaces the fullest bucket (one that has refilled is indistinguishable
 * from a new one).  Buckets live in this process only: they throttle guessing, while the
 * lasting lockout of signing credentials is the SAM's, in the database.  Thread-safe (one
 * mutex).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "util/secret.h"

#define RL_PROBES 8

typedef struct rl_entry {
    uint64_t key;
    uint64_t last_ms;
    double tokens;
    bool used;
} rl_entry;

struct api_ratelimit {
    pthread_mutex_t mu;
    double per_ms; /* tokens added per millisecond */
    double burst;
    size_t n;
    rl_entry *e;
    uint8_t hkey[crypto_shorthash_KEYBYTES];
};

uint64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

api_ratelimit *api_ratelimit_new(uint32_t per_minute, uint32_t burst, size_t entries)
{
    api_ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    if (per_minute > 0) {
        if (entries < RL_PROBES)
            entries = RL_PROBES;
        rl->e = calloc(entries, sizeof *rl->e);
        if (rl->e == NULL) {
            free(rl);
            return NULL;
        }
        rl->n = entries;
        rl->per_ms = per_minute / 60000.0;
        rl->burst = burst > 0 ? burst : 1;
    }
    qs_random(rl->hkey, sizeof rl->hkey);
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void api_ratelimit_free(api_ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->e);
    free(rl);
}

static void refill(const api_ratelimit *rl, rl_entry *e, uint64_t now_ms)
{
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * rl->per_ms;
        if (e->tokens > rl->burst)
            e->tokens = rl->burst;
        e->last_ms = now_ms;
    }
}

/* The bucket of `key`, made (full) if it has none.  Called with the mutex held. */
static rl_entry *bucket(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, key_len, rl->hkey);
    uint64_t k;
    memcpy(&k, h, sizeof k);

    rl_entry *victim = NULL;
    for (size_t i = 0; i < RL_PROBES; i++) {
        rl_entry *e = &rl->e[(k + i) % rl->n];
        if (e->used && e->key == k) {
            refill(rl, e, now_ms);
            return e;
        }
        if (!e->used) {
            if (victim == NULL || victim->used)
                victim = e;
            continue;
        }
        refill(rl, e, now_ms);
        if (victim == NULL || (victim->used && e->tokens > victim->tokens))
            victim = e;
    }
    victim->used = true;
    victim->key = k;
    victim->last_ms = now_ms;
    victim->tokens = rl->burst;
    return victim;
}

static unsigned wait_seconds(const api_ratelimit *rl, const rl_entry *e)
{
    double ms = (1.0 - e->tokens) / rl->per_ms;
    double s = (ms + 999.0) / 1000.0;
    return s < 1.0 ? 1u : (unsigned)s;
}

static bool use(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                unsigned *retry_after, bool take)
{
    *retry_after = 0;
    if (rl == NULL || rl->n == 0)
        return true;
    pthread_mutex_lock(&rl->mu);
    rl_entry *e = bucket(rl, key, key_len, now_ms);
    bool ok = e->tokens >= 1.0;
    if (ok && take)
        e->tokens -= 1.0;
    else if (!ok)
        *retry_after = wait_seconds(rl, e);
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

bool api_ratelimit_check(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                         unsigned *retry_after)
{
    return use(rl, key, key_len, now_ms, retry_after, false);
}

bool api_ratelimit_take(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                        unsigned *retry_after)
{
    return use(rl, key, key_len, now_ms, retry_after, true);
}

/* An account's bucket key: one letter for the kind of name, then the name (at most
 * API_USERNAME_MAX bytes; login names are no longer, user ids are shorter). */
#define RL_ACCOUNT_KEY_MAX (2 + API_USERNAME_MAX)

static size_t account_key(api_rl_account kind, const char *account,
                          char key[static RL_ACCOUNT_KEY_MAX])
{
    size_t n = strnlen(account, API_USERNAME_MAX);
    key[0] = kind == API_RL_USER_ID ? 'u' : 'n';
    key[1] = ':';
    memcpy(key + 2, account, n);
    return n + 2;
}

bool api_rate_limit_attempt(api_request *rq, api_rl_account kind, const char *account)
{
    unsigned wait = 0;
    uint64_t now = api_now_ms();
    char key[RL_ACCOUNT_KEY_MAX];
    if (account != NULL && !api_ratelimit_check(rq->srv->rl_account, key,
                                                account_key(kind, account, key), now, &wait)) {
        rq->retry_after = wait;
        api_reply_error(rq, QS_ERR_RATE_LIMITED, NULL);
        return false;
    }
    if (!api_ratelimit_take(rq->srv->rl_address, rq->client_addr, strlen(rq->client_addr), now,
                            &wait)) {
        rq->retry_after = wait;
        api_reply_error(rq, QS_ERR_RATE_LIMITED, NULL);
        return false;
    }
    return true;
}

void api_rate_limit_failure(api_request *rq, api_rl_account kind, const char *account)
{
    unsigned wait = 0;
    char key[RL_ACCOUNT_KEY_MAX];
    if (account != NULL)
        (void)api_ratelimit_take(rq->srv->rl_account, key, account_key(kind, account, key),
                                 api_now_ms(), &wait);
}

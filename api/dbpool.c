/*
 * A pool of database connections (role qsign_api; the audit API has its own, as qsign_audit),
 * one per worker thread at most, made on first use.  A connection that broke is re-established
 * by qs_db_run_txn; one that cannot be made is retried by the next borrower.
 */
#define QS_LOG_MODULE "api"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

struct api_dbpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    size_t size;
    size_t nfree;
    qs_db **free; /* a stack of idle slots; NULL entries are slots not connected yet */
};

api_dbpool *api_dbpool_new(const char *conninfo, size_t size)
{
    api_dbpool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->conninfo = strdup(conninfo);
    p->free = calloc(size > 0 ? size : 1, sizeof *p->free);
    if (p->conninfo == NULL || p->free == NULL) {
        free(p->conninfo);
        free(p->free);
        free(p);
        return NULL;
    }
    p->size = size;
    p->nfree = size;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void api_dbpool_free(api_dbpool *p)
{
    if (p == NULL)
        return;
    if (p->nfree != p->size)
        qs_bug("database pool freed with %zu connections borrowed", p->size - p->nfree);
    for (size_t i = 0; i < p->nfree; i++)
        qs_db_free(p->free[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    qs_free_wiped(p->conninfo, strlen(p->conninfo));
    free(p->free);
    free(p);
}

qs_err api_dbpool_get(api_dbpool *p, int timeout_ms, qs_db **db)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    *db = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT && p->nfree == 0) {
            pthread_mutex_unlock(&p->mu);
            qs_warn("no free database connection within %d ms", timeout_ms);
            return QS_ERR_DB_UNAVAILABLE;
        }
    }
    qs_db *c = p->free[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (c != NULL) {
        *db = c;
        return QS_OK;
    }
    qs_err r = qs_db_connect(p->conninfo, &c);
    if (r != QS_OK) {
        api_dbpool_put(p, NULL);
        return QS_ERR_DB_UNAVAILABLE;
    }
    *db = c;
    return QS_OK;
}

void api_dbpool_put(api_dbpool *p, qs_db *db)
{
    pthread_mutex_lock(&p->mu);
    if (p->nfree < p->size)
        p->free[p->nfree++] = db;
    else
        qs_bug("database pool: more connections returned than borrowed");
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

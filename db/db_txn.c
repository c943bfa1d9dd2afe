/*
 * The transaction runner: the only code that sends BEGIN, COMMIT and ROLLBACK.
 *
 * A serialization failure or deadlock rolls the transaction back and runs the callback again
 * after a short randomized pause, so two conflicting transactions do not collide again in
 * lock-step.  A connection lost before COMMIT is sent is reconnected and retried the same way;
 * one lost while COMMIT is in flight is not, because the server may have committed.
 */
#define QS_LOG_MODULE "db"
#include <errno.h>
#include <string.h>
#include <time.h>

#include "db/db_internal.h"
#include "util/log.h"
#include "util/secret.h"

static const char *begin_sql(unsigned flags)
{
    bool rc = (flags & QS_DB_TXN_READ_COMMITTED) != 0;
    bool ro = (flags & QS_DB_TXN_READ_ONLY) != 0;
    if (rc)
        return ro ? "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"
                  : "START TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE";
    return ro ? "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"
              : "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE";
}

static void rollback(qs_db *db, const char *name)
{
    if (PQstatus(db->conn) != CONNECTION_OK || PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(db->conn, "ROLLBACK");
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        (void)qs_db_result_err(db, res, name);
    PQclear(res);
}

/* One attempt.  *retryable tells whether a failure may be retried. */
static qs_err attempt(qs_db *db, const char *name, unsigned flags, qs_db_txn_cb cb, void *cls,
                      bool *retryable)
{
    qs_err r;
    PGresult *res = NULL;

    *retryable = false;
    if (db->need_reset || PQstatus(db->conn) != CONNECTION_OK) {
        r = qs_db_reconnect(db);
        if (r != QS_OK) {
            *retryable = true;
            return r;
        }
    }
    r = qs_db_exec_script(db, name, begin_sql(flags));
    if (r != QS_OK) {
        *retryable = r == QS_ERR_DB_RETRY || (r == QS_ERR_DB_UNAVAILABLE && db->need_reset);
        return r;
    }

    db->in_txn = true;
    r = cb(db, cls);
    db->in_txn = false;
    if (r != QS_OK) {
        rollback(db, name);
        *retryable = r == QS_ERR_DB_RETRY || (r == QS_ERR_DB_UNAVAILABLE && db->need_reset);
        return r;
    }
    switch (PQtransactionStatus(db->conn)) {
    case PQTRANS_INTRANS:
        break;
    case PQTRANS_INERROR:
        qs_bug("txn %s: callback reported success after a failed statement", name);
        rollback(db, name);
        return QS_ERR_INTERNAL;
    case PQTRANS_UNKNOWN:
        /* The connection went away after the callback's last statement. */
        db->need_reset = true;
        *retryable = true;
        return QS_ERR_DB_UNAVAILABLE;
    case PQTRANS_IDLE:
    case PQTRANS_ACTIVE:
        qs_bug("txn %s: not inside the transaction after the callback", name);
        rollback(db, name);
        return QS_ERR_INTERNAL;
    }

    res = PQexec(db->conn, "COMMIT");
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = qs_db_result_err(db, res, name);
        /* A serialization failure at COMMIT rolled back: safe to retry.  A lost connection
         * leaves the outcome unknown: not retried. */
        *retryable = r == QS_ERR_DB_RETRY;
        if (r == QS_ERR_DB_UNAVAILABLE)
            qs_warn("txn %s: connection lost during COMMIT, outcome unknown", name);
        goto out;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        qs_bug("txn %s: COMMIT answered %s", name, PQcmdStatus(res));
        r = QS_ERR_INTERNAL;
        goto out;
    }
    r = QS_OK;
out:
    PQclear(res);
    return r;
}

static void backoff(int attempt_no, qs_err why)
{
    uint32_t jitter;
    qs_random(&jitter, sizeof jitter);
    long us;
    if (why == QS_ERR_DB_UNAVAILABLE)
        us = 100000L * attempt_no + (long)(jitter % 50000u);
    else
        us = 1000L * (1L << attempt_no) + (long)(jitter % 5000u);
    struct timespec ts = {.tv_sec = us / 1000000L, .tv_nsec = (us % 1000000L) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

qs_err qs_db_run_txn_opt(qs_db *db, const char *name, unsigned flags, qs_db_txn_cb cb, void *cls)
{
    if (db == NULL || cb == NULL || name == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (db->in_txn) {
        qs_bug("txn %s: started inside another transaction", name);
        return QS_ERR_INTERNAL;
    }
    qs_err r = QS_ERR_INTERNAL;
    for (int n = 1; n <= QS_DB_TXN_MAX_ATTEMPTS; n++) {
        bool retryable;
        r = attempt(db, name, flags, cb, cls, &retryable);
        if (r == QS_OK || !retryable)
            return r;
        if (n == QS_DB_TXN_MAX_ATTEMPTS)
            break;
        qs_debug("txn %s: %s, attempt %d of %d", name, qs_err_str(r), n + 1,
                 QS_DB_TXN_MAX_ATTEMPTS);
        backoff(n, r);
    }
    qs_warn("txn %s: giving up after %d attempts: %s", name, QS_DB_TXN_MAX_ATTEMPTS, qs_err_str(r));
    return r;
}

qs_err qs_db_run_txn(qs_db *db, const char *name, qs_db_txn_cb cb, void *cls)
{
    return qs_db_run_txn_opt(db, name, 0, cb, cls);
}

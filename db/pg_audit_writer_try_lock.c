/* Operation: try to take a writer's session-level advisory lock (one process per chain). */
#define QS_LOG_MODULE "db"
#include <string.h>

#include <sodium.h>

#include "db/db_audit.h"
#include "db/db_internal.h"

/* Domain of the lock key derivation: a writer id's key cannot equal another lock's by design,
 * only by a 2^-64 accident. */
static const char lock_domain[] = "qsign-audit-writer-lock-v1";

static int64_t lock_key(const char *writer_id)
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)lock_domain, sizeof lock_domain - 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)writer_id, strlen(writer_id));
    crypto_hash_sha256_final(&st, h);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = (k << 8) | h[i];
    return (int64_t)k;
}

qs_err qs_db_audit_writer_try_lock(qs_db *db, const char *writer_id, bool *locked)
{
    static const char sql[] = "SELECT pg_catalog.pg_try_advisory_lock($1)";
    qs_db_param p[1];
    PGresult *res = NULL;

    *locked = false;
    qs_db_param_int8(&p[0], lock_key(writer_id));
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK)
        r = qs_db_get_bool(res, 0, 0, locked);
    PQclear(res);
    return r;
}

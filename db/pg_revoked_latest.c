/* Operation: the time of the latest revocation. */
#define QS_LOG_MODULE "db"
#include "db/db_ca_internal.h"

qs_err qs_db_revoked_latest(qs_db *db, int64_t *revoked_at_us, bool *any)
{
    static const char sql[] = "SELECT max(revoked_at) FROM qsign.certificates";
    PGresult *res = NULL;
    *revoked_at_us = 0;
    *any = false;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r == QS_OK && PQntuples(res) == 1)
        r = qs_db_sam_get_timestamptz_opt(res, 0, 0, revoked_at_us, any);
    PQclear(res);
    return r;
}

/* Operation: every revoked certificate (serial, time, reason), for the CRL. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_revoked_list(qs_db *db, qs_db_revoked **rows, size_t *n)
{
    static const char sql[] = "SELECT serial, revoked_at, reason::int4 FROM qsign.certificates"
                              " WHERE status = 'revoked' ORDER BY serial";
    PGresult *res = NULL;
    qs_db_revoked *v = NULL;

    *rows = NULL;
    *n = 0;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK)
        goto out;
    int count = PQntuples(res);
    if (count == 0)
        goto out;
    if ((v = calloc((size_t)count, sizeof *v)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < count; i++) {
        if ((r = qs_db_sam_get_bytea(res, i, 0, v[i].serial, sizeof v[i].serial, &v[i].serial_len,
                                     NULL)) != QS_OK ||
            (r = qs_db_get_timestamptz(res, i, 1, &v[i].revoked_at_us)) != QS_OK ||
            (r = qs_db_get_int4(res, i, 2, &v[i].reason)) != QS_OK)
            goto out;
    }
    *rows = v;
    *n = (size_t)count;
    v = NULL;
out:
    free(v);
    PQclear(res);
    return r;
}

/* Operation: the current CRL (the highest number). */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_crl_latest(qs_db *db, int64_t *crl_number, int64_t *this_update_us,
                        int64_t *next_update_us, uint8_t **der, size_t *len, bool *found)
{
    static const char sql[] = "SELECT crl_number, this_update, next_update, der FROM qsign.crls"
                              " ORDER BY crl_number DESC LIMIT 1";
    PGresult *res = NULL;

    *crl_number = *this_update_us = *next_update_us = 0;
    *der = NULL;
    *len = 0;
    *found = false;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    if ((r = qs_db_get_int8(res, 0, 0, crl_number)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 1, this_update_us)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 2, next_update_us)) != QS_OK)
        goto out;
    int n = PQgetlength(res, 0, 3);
    if (PQgetisnull(res, 0, 3) || n <= 0 || n > QS_DB_CRL_MAX) {
        r = QS_ERR_DB;
        goto out;
    }
    if ((*der = malloc((size_t)n)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(*der, PQgetvalue(res, 0, 3), (size_t)n);
    *len = (size_t)n;
    *found = true;
out:
    PQclear(res);
    return r;
}

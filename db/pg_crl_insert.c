/* Operation: store a CRL the CA made. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_ca_internal.h"

qs_err qs_db_crl_insert(qs_db *db, int64_t crl_number, int64_t this_update_us,
                        int64_t next_update_us, const uint8_t *der, size_t len)
{
    static const char sql[] = "INSERT INTO qsign.crls (crl_number, this_update, next_update, der)"
                              " VALUES ($1, $2, $3, $4)";
    qs_db_param p[4];
    qs_db_param_int8(&p[0], crl_number);
    qs_db_param_timestamptz(&p[1], this_update_us);
    qs_db_param_timestamptz(&p[2], next_update_us);
    qs_db_param_bytea(&p[3], der, len);
    qs_err r = qs_db_exec(db, __func__, sql, 4, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}

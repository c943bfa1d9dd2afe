/* Operation: write a SAD's remaining signature count and its MAC. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_sad_update_remaining(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                  int32_t remaining, const uint8_t mac[static QS_DB_SAM_MAC_LEN])
{
    static const char sql[] =
        "UPDATE qsign.sads SET remaining = $2, record_mac = $3 WHERE sad_hash = $1";
    qs_db_param p[3];
    PGresult *res = NULL;

    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    qs_db_param_int4(&p[1], remaining);
    qs_db_param_bytea(&p[2], mac, QS_DB_SAM_MAC_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 3, p, &res);
    if (r == QS_OK && strcmp(PQcmdTuples(res), "1") != 0)
        r = QS_ERR_NOT_FOUND;
    PQclear(res);
    return r;
}

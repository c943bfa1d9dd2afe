/* Operation: read a SAD by the SHA-256 of its handle and lock its row. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_sad_lock(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                      qs_db_sad *out, bool *found)
{
    static const char sql[] =
        "SELECT " QS_DB_SAD_COLUMNS " FROM qsign.sads WHERE sad_hash = $1 FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK && PQntuples(res) == 1) {
        r = qs_db_sad_row_read(res, 0, out);
        *found = r == QS_OK;
    }
    PQclear(res);
    return r;
}

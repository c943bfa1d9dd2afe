/* Operation: read the digests of a SAD, in ascending byte order, and lock their rows. */
#define QS_LOG_MODULE "db"
#include "db/db_sam_internal.h"

qs_err qs_db_sad_hashes_lock(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                             qs_db_sad_hash **rows, size_t *n)
{
    /* bytea orders bytewise (memcmp), the order hashes_sha256 is computed in */
    static const char sql[] = "SELECT " QS_DB_SAD_HASH_COLUMNS " FROM qsign.sad_hashes"
                              " WHERE sad_hash = $1 ORDER BY digest FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;

    *rows = NULL;
    *n = 0;
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r == QS_OK)
        r = qs_db_sad_hash_rows_read(res, rows, n);
    PQclear(res);
    return r;
}

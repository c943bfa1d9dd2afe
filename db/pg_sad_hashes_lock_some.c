/*
 * Operation: read and lock the rows of some digests of a SAD, in one statement: the digests a
 * signing request names.  The other rows of the SAD are neither read nor locked.
 */
#define QS_LOG_MODULE "db"
#include "db/db_sam_internal.h"
#include "util/log.h"

qs_err qs_db_sad_hashes_lock_some(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                  const uint8_t *const digests[], const size_t lens[], size_t n,
                                  qs_db_sad_hash **rows, size_t *count)
{
    /* ascending digest order: concurrent lockers of one SAD take the row locks in one order
     * (they are serialized by the SAD row's lock anyway) */
    static const char sql[] = "SELECT " QS_DB_SAD_HASH_COLUMNS " FROM qsign.sad_hashes"
                              " WHERE sad_hash = $1 AND digest = ANY($2::bytea[])"
                              " ORDER BY digest FOR UPDATE";
    qs_db_array arr;
    qs_db_param p[2];
    PGresult *res = NULL;
    qs_err r;

    *rows = NULL;
    *count = 0;
    qs_db_array_init(&arr, QS_DB_OID_BYTEA);
    if (n == 0 || n > QS_DB_SAD_HASHES_MAX) {
        qs_bug("locking %zu digests", n);
        r = QS_ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        qs_db_array_add(&arr, digests[i], lens[i]);
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    if ((r = qs_db_param_array(&p[1], &arr)) != QS_OK)
        goto out;
    if ((r = qs_db_exec(db, __func__, sql, 2, p, &res)) != QS_OK)
        goto out;
    r = qs_db_sad_hash_rows_read(res, rows, count);
out:
    PQclear(res);
    qs_db_array_free(&arr);
    return r;
}

/* Operation: read the digests of a SAD, in ascending byte order, and lock their rows. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_sam_internal.h"
#include "util/log.h"

qs_err qs_db_sad_hashes_lock(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                             qs_db_sad_hash **rows, size_t *n)
{
    /* bytea orders bytewise (memcmp), the order hashes_sha256 is computed in */
    static const char sql[] = "SELECT digest, consumed_at, record_mac FROM qsign.sad_hashes"
                              " WHERE sad_hash = $1 ORDER BY digest FOR UPDATE";
    qs_db_param p[1];
    PGresult *res = NULL;
    qs_db_sad_hash *v = NULL;
    qs_err r;

    *rows = NULL;
    *n = 0;
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK)
        goto out;
    int count = PQntuples(res);
    if (count == 0)
        goto out;
    if (count > QS_DB_SAD_HASHES_MAX) {
        qs_bug("SAD with %d digest rows", count);
        r = QS_ERR_DB;
        goto out;
    }
    if ((v = calloc((size_t)count, sizeof *v)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < count; i++) {
        if ((r = qs_db_sam_get_bytea(res, i, 0, v[i].digest, sizeof v[i].digest, &v[i].digest_len,
                                     NULL)) != QS_OK ||
            (r = qs_db_sam_get_timestamptz_opt(res, i, 1, &v[i].consumed_at_us, &v[i].consumed)) !=
                QS_OK ||
            (r = qs_db_get_bytea_fixed(res, i, 2, v[i].record_mac, sizeof v[i].record_mac)) !=
                QS_OK)
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

/*
 * Operation: the digests of a new SAD, in one statement (unnest of array parameters), however
 * many there are.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_sam_internal.h"
#include "util/log.h"

qs_err qs_db_sad_hashes_insert(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                               const qs_db_sad_hash *rows, size_t n)
{
    static const char sql[] =
        "INSERT INTO qsign.sad_hashes (sad_hash, digest, consumed_at, record_mac)"
        " SELECT $1, r.digest, r.consumed_at, r.record_mac"
        " FROM unnest($2::bytea[], $3::timestamptz[], $4::bytea[])"
        " AS r(digest, consumed_at, record_mac)";
    qs_db_array digests, times, macs;
    qs_db_param p[4];
    PGresult *res = NULL;
    qs_err r;

    qs_db_array_init(&digests, QS_DB_OID_BYTEA);
    qs_db_array_init(&times, QS_DB_OID_TIMESTAMPTZ);
    qs_db_array_init(&macs, QS_DB_OID_BYTEA);
    if (n == 0 || n > QS_DB_SAD_HASHES_MAX) {
        qs_bug("SAD with %zu digests", n);
        r = QS_ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        qs_db_array_add(&digests, rows[i].digest, rows[i].digest_len);
        if (rows[i].consumed)
            qs_db_array_add_timestamptz(&times, rows[i].consumed_at_us);
        else
            qs_db_array_add(&times, NULL, 0);
        qs_db_array_add(&macs, rows[i].record_mac, sizeof rows[i].record_mac);
    }
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    if ((r = qs_db_param_array(&p[1], &digests)) != QS_OK ||
        (r = qs_db_param_array(&p[2], &times)) != QS_OK ||
        (r = qs_db_param_array(&p[3], &macs)) != QS_OK)
        goto out;
    r = qs_db_exec(db, __func__, sql, 4, p, &res);
    if (r == QS_OK && strtoull(PQcmdTuples(res), NULL, 10) != n) {
        qs_bug("SAD digests: %s rows inserted, %zu sent", PQcmdTuples(res), n);
        r = QS_ERR_DB;
    }
out:
    PQclear(res);
    qs_db_array_free(&digests);
    qs_db_array_free(&times);
    qs_db_array_free(&macs);
    return r;
}

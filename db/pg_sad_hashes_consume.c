/*
 * Operation: mark digests of a SAD consumed, in one statement.  Only rows still unconsumed
 * change, so a digest is consumed at most once even if a caller's checks were wrong.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_sam_internal.h"
#include "util/log.h"

qs_err qs_db_sad_hashes_consume(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                const qs_db_sad_hash *rows, size_t n)
{
    static const char sql[] =
        "UPDATE qsign.sad_hashes h SET consumed_at = r.consumed_at, record_mac = r.record_mac"
        " FROM unnest($2::bytea[], $3::timestamptz[], $4::bytea[])"
        " AS r(digest, consumed_at, record_mac)"
        " WHERE h.sad_hash = $1 AND h.digest = r.digest AND h.consumed_at IS NULL";
    qs_db_array digests, times, macs;
    qs_db_param p[4];
    PGresult *res = NULL;
    qs_err r;

    qs_db_array_init(&digests, QS_DB_OID_BYTEA);
    qs_db_array_init(&times, QS_DB_OID_TIMESTAMPTZ);
    qs_db_array_init(&macs, QS_DB_OID_BYTEA);
    if (n == 0 || n > QS_DB_SAD_HASHES_MAX) {
        qs_bug("consuming %zu digests", n);
        r = QS_ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].consumed) {
            qs_bug("digest %zu to consume has no consumed_at", i);
            r = QS_ERR_INTERNAL;
            goto out;
        }
        qs_db_array_add(&digests, rows[i].digest, rows[i].digest_len);
        qs_db_array_add_timestamptz(&times, rows[i].consumed_at_us);
        qs_db_array_add(&macs, rows[i].record_mac, sizeof rows[i].record_mac);
    }
    qs_db_param_bytea(&p[0], sad_hash, QS_DB_SAM_SHA256_LEN);
    if ((r = qs_db_param_array(&p[1], &digests)) != QS_OK ||
        (r = qs_db_param_array(&p[2], &times)) != QS_OK ||
        (r = qs_db_param_array(&p[3], &macs)) != QS_OK)
        goto out;
    r = qs_db_exec(db, __func__, sql, 4, p, &res);
    if (r == QS_OK && strtoull(PQcmdTuples(res), NULL, 10) != n)
        r = QS_ERR_NOT_FOUND;
out:
    PQclear(res);
    qs_db_array_free(&digests);
    qs_db_array_free(&times);
    qs_db_array_free(&macs);
    return r;
}

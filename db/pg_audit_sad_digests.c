/* Operation: the digests an SAD authorized (qsign.sad_hashes), read by auditors for the
 * evidence of a signature made under it. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_audit_internal.h"
#include "util/log.h"

qs_err qs_db_audit_sad_digests(qs_db *db, const uint8_t sad_ref[static QS_DB_AUDIT_SAD_REF_LEN],
                               qs_db_audit_digest **digests, size_t *n)
{
    static const char sql[] = "SELECT digest FROM qsign.sad_hashes WHERE sad_hash = $1"
                              " ORDER BY octet_length(digest), digest";
    qs_db_param p[1];
    PGresult *res = NULL;
    qs_db_audit_digest *a = NULL;
    qs_err r;

    *digests = NULL;
    *n = 0;
    qs_db_param_bytea(&p[0], sad_ref, QS_DB_AUDIT_SAD_REF_LEN);
    r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK)
        goto out;
    size_t total = (size_t)PQntuples(res);
    if (total > QS_DB_AUDIT_SAD_DIGESTS_MAX) {
        qs_bug("an SAD with %zu digests", total);
        r = QS_ERR_DB;
        goto out;
    }
    if (total == 0)
        goto out;
    a = calloc(total, sizeof *a);
    if (a == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        r = qs_db_audit_get_bytea(res, (int)i, 0, a[i].digest, sizeof a[i].digest, &a[i].len, NULL);
        if (r != QS_OK)
            goto out;
    }
    *digests = a;
    *n = total;
    a = NULL;
    r = QS_OK;
out:
    free(a);
    PQclear(res);
    return r;
}

/* Operation: one credential of a user (not destroyed, or destroyed with a certificate). */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_api.h"
#include "db/db_internal.h"
#include "util/log.h"

static qs_err get_text_into(const PGresult *res, int col, char *buf, size_t cap)
{
    char *s = NULL;
    qs_err r = qs_db_get_text(res, 0, col, &s);
    if (r != QS_OK)
        return r;
    size_t n = strlen(s);
    if (n >= cap) {
        qs_bug("column %s: %zu bytes do not fit %zu", PQfname(res, col), n, cap);
        r = QS_ERR_DB;
    } else {
        memcpy(buf, s, n + 1);
    }
    free(s);
    return r;
}

qs_err qs_db_account_credential(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                const uint8_t cred_id[static QS_DB_API_UUID_LEN],
                                qs_db_api_credential *out, bool *found)
{
    static const char sql[] = "SELECT id, key_alg, status, created_at FROM qsign.credentials"
                              " WHERE id = $1 AND user_id = $2 AND (status <> 'destroyed'"
                              " OR EXISTS (SELECT 1 FROM qsign.certificates c"
                              " WHERE c.credential_id = $1))";
    qs_db_param p[2];
    PGresult *res = NULL;
    bool present = false;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], cred_id);
    qs_db_param_uuid(&p[1], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 2, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    if ((r = qs_db_get_uuid_opt(res, 0, 0, out->id, &present)) != QS_OK)
        goto out;
    if (!present) {
        qs_bug("credentials.id is NULL");
        r = QS_ERR_DB;
        goto out;
    }
    if ((r = get_text_into(res, 1, out->key_alg, sizeof out->key_alg)) != QS_OK ||
        (r = get_text_into(res, 2, out->status, sizeof out->status)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, 0, 3, &out->created_at_us)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    PQclear(res);
    return r;
}

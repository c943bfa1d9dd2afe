/* Operation: a user's credentials (not destroyed, or destroyed with a certificate, which stays
 * visible with its revocation status), oldest first, a page at a time. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_api.h"
#include "db/db_internal.h"
#include "util/log.h"

static qs_err get_text_into(const PGresult *res, int row, int col, char *buf, size_t cap)
{
    char *s = NULL;
    qs_err r = qs_db_get_text(res, row, col, &s);
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

qs_err qs_db_account_credentials(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                 bool only_enabled, uint32_t offset, uint32_t max,
                                 qs_db_api_credential *out, size_t *n, bool *more)
{
    /* One row beyond `max` tells whether more follow. */
    static const char sql[] = "SELECT id, key_alg, status, created_at FROM qsign.credentials"
                              " WHERE user_id = $1 AND (status <> 'destroyed' OR EXISTS (SELECT 1"
                              " FROM qsign.certificates c"
                              " WHERE c.credential_id = qsign.credentials.id))"
                              " AND (NOT $2 OR status = 'enabled')"
                              " ORDER BY created_at, id OFFSET $3 LIMIT $4";
    qs_db_param p[4];
    PGresult *res = NULL;
    qs_err r = QS_OK;

    *n = 0;
    *more = false;
    if (max > QS_DB_API_CREDENTIALS_MAX) {
        qs_bug("max %u above QS_DB_API_CREDENTIALS_MAX", max);
        return QS_ERR_INVALID_ARGUMENT;
    }
    qs_db_param_uuid(&p[0], user_id);
    qs_db_param_bool(&p[1], only_enabled);
    qs_db_param_int8(&p[2], offset);
    qs_db_param_int8(&p[3], (int64_t)max + 1);
    if ((r = qs_db_exec(db, __func__, sql, 4, p, &res)) != QS_OK)
        goto out;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && (size_t)i < max; i++) {
        qs_db_api_credential *c = &out[i];
        bool present = false;
        memset(c, 0, sizeof *c);
        if ((r = qs_db_get_uuid_opt(res, i, 0, c->id, &present)) != QS_OK)
            goto out;
        if (!present) {
            qs_bug("credentials.id is NULL");
            r = QS_ERR_DB;
            goto out;
        }
        if ((r = get_text_into(res, i, 1, c->key_alg, sizeof c->key_alg)) != QS_OK ||
            (r = get_text_into(res, i, 2, c->status, sizeof c->status)) != QS_OK ||
            (r = qs_db_get_timestamptz(res, i, 3, &c->created_at_us)) != QS_OK)
            goto out;
        *n = (size_t)i + 1;
    }
    *more = (size_t)rows > max;
out:
    if (r != QS_OK) {
        *n = 0;
        *more = false;
    }
    PQclear(res);
    return r;
}

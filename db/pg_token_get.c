/* Operation: look a token up by its hash, with its user's state. */
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

qs_err qs_db_token_get(qs_db *db, const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                       qs_db_api_token *out, bool *found)
{
    /* Expiry is judged by the database clock, the one that set expires_at. */
    static const char sql[] =
        "SELECT t.user_id, t.session_id, t.kind = 'refresh', t.revoked_at IS NOT NULL,"
        " t.expires_at <= pg_catalog.now(), u.status = 'active', u.kind"
        " FROM qsign.access_tokens t JOIN qsign.users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1";
    qs_db_param p[1];
    PGresult *res = NULL;
    bool present_user = false, present_session = false, refresh = false;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_bytea(&p[0], hash, QS_DB_API_TOKEN_HASH_LEN);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    if ((r = qs_db_get_uuid_opt(res, 0, 0, out->user_id, &present_user)) != QS_OK ||
        (r = qs_db_get_uuid_opt(res, 0, 1, out->session_id, &present_session)) != QS_OK ||
        (r = qs_db_get_bool(res, 0, 2, &refresh)) != QS_OK ||
        (r = qs_db_get_bool(res, 0, 3, &out->revoked)) != QS_OK ||
        (r = qs_db_get_bool(res, 0, 4, &out->expired)) != QS_OK ||
        (r = qs_db_get_bool(res, 0, 5, &out->user_active)) != QS_OK ||
        (r = get_text_into(res, 6, out->user_kind, sizeof out->user_kind)) != QS_OK)
        goto out;
    if (!present_user || !present_session) {
        qs_bug("access_tokens row with a NULL id");
        r = QS_ERR_DB;
        goto out;
    }
    out->kind = refresh ? QS_DB_TOKEN_REFRESH : QS_DB_TOKEN_ACCESS;
    *found = true;
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    PQclear(res);
    return r;
}

/* Operation: the login account of an active user, by username. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_api.h"
#include "db/db_internal.h"
#include "util/log.h"
#include "util/secret.h"

/* Copies text column `col` of row 0 into buf (cap bytes with the NUL); too long is a bug.  The
 * malloc'd intermediate copy is wiped, since the verifier passes through here. */
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
    qs_free_wiped(s, n);
    return r;
}

qs_err qs_db_account_get_by_username(qs_db *db, const char *username, qs_db_api_account *out,
                                     bool *found)
{
    static const char sql[] = "SELECT a.user_id, u.kind, a.verifier, a.failed_logins"
                              " FROM qsign.accounts a JOIN qsign.users u ON u.id = a.user_id"
                              " WHERE u.username = $1 AND u.status = 'active'";
    qs_db_param p[1];
    PGresult *res = NULL;
    bool present = false;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_text(&p[0], username);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    if ((r = qs_db_get_uuid_opt(res, 0, 0, out->user_id, &present)) != QS_OK)
        goto out;
    if (!present) {
        qs_bug("accounts.user_id is NULL");
        r = QS_ERR_DB;
        goto out;
    }
    if ((r = get_text_into(res, 1, out->kind, sizeof out->kind)) != QS_OK ||
        (r = get_text_into(res, 2, out->verifier, sizeof out->verifier)) != QS_OK ||
        (r = qs_db_get_int4(res, 0, 3, &out->failed_logins)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK)
        qs_wipe(out, sizeof *out);
    PQclear(res);
    return r;
}

/* Operation: the signer's own account as the web page shows it: username and activation. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_api.h"
#include "db/db_internal.h"
#include "util/log.h"

qs_err qs_db_account_status(qs_db *db, const uint8_t user_id[static QS_DB_API_UUID_LEN],
                            qs_db_api_account_status *out, bool *found)
{
    /* Activated: both factors exist (the SAM writes them together, by activation or by an
     * operator's enrolment); qsign_api may read only their user_id column. */
    static const char sql[] =
        "SELECT u.username, u.kind,"
        " EXISTS (SELECT 1 FROM qsign.factor_pin p WHERE p.user_id = u.id)"
        " AND EXISTS (SELECT 1 FROM qsign.factor_totp t WHERE t.user_id = u.id)"
        " FROM qsign.users u WHERE u.id = $1";
    qs_db_param p[1];
    PGresult *res = NULL;
    char *s = NULL;

    memset(out, 0, sizeof *out);
    *found = false;
    qs_db_param_uuid(&p[0], user_id);
    qs_err r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK || PQntuples(res) == 0)
        goto out;
    for (int col = 0; col < 2; col++) {
        char *buf = col == 0 ? out->username : out->kind;
        size_t cap = col == 0 ? sizeof out->username : sizeof out->kind;
        if ((r = qs_db_get_text(res, 0, col, &s)) != QS_OK)
            goto out;
        size_t n = strlen(s);
        if (n >= cap) {
            qs_bug("column %s: %zu bytes do not fit %zu", PQfname(res, col), n, cap);
            r = QS_ERR_DB;
            goto out;
        }
        memcpy(buf, s, n + 1);
        free(s);
        s = NULL;
    }
    if ((r = qs_db_get_bool(res, 0, 2, &out->activated)) != QS_OK)
        goto out;
    *found = true;
out:
    if (r != QS_OK)
        memset(out, 0, sizeof *out);
    free(s);
    PQclear(res);
    return r;
}

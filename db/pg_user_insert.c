/* Operation: a new user. */
#define QS_LOG_MODULE "db"
#include <string.h>

#include "db/db_sam_internal.h"

qs_err qs_db_user_insert(qs_db *db, const qs_db_user *u)
{
    static const char sql[] = "INSERT INTO qsign.users (id, username, kind, status, record_mac)"
                              " VALUES ($1, $2, $3, $4, $5)";
    qs_db_param p[5];
    qs_db_param_uuid(&p[0], u->id);
    qs_db_param_text(&p[1], u->username);
    qs_db_param_text(&p[2], u->kind);
    qs_db_param_text(&p[3], u->status);
    qs_db_param_bytea(&p[4], u->record_mac, sizeof u->record_mac);
    qs_err r = qs_db_exec(db, __func__, sql, 5, p, NULL);
    if (r == QS_ERR_DB_CONSTRAINT && strcmp(qs_db_last_sqlstate(db), "23505") == 0)
        r = QS_ERR_EXISTS;
    return r;
}

/*
 * The one place where PostgreSQL errors become qs_err codes.
 */
#define QS_LOG_MODULE "db"
#include <stdio.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/log.h"

static bool class_is(const char *sqlstate, const char *cls)
{
    return sqlstate[0] == cls[0] && sqlstate[1] == cls[1];
}

qs_err qs_db_err_from_sqlstate(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return QS_ERR_DB;
    /* Serialization failure, deadlock: the transaction runner retries these. */
    if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
        return QS_ERR_DB_RETRY;
    /* Integrity constraint violation: NOT NULL, FK, UNIQUE, CHECK, EXCLUDE. */
    if (class_is(sqlstate, "23"))
        return QS_ERR_DB_CONSTRAINT;
    /* insufficient_privilege; invalid authorization specification (28000, 28P01). */
    if (strcmp(sqlstate, "42501") == 0 || class_is(sqlstate, "28"))
        return QS_ERR_DB_PERMISSION;
    /* Objects the code expects are missing: the schema is not the one this binary knows. */
    if (strcmp(sqlstate, "42P01") == 0 || strcmp(sqlstate, "42703") == 0 ||
        strcmp(sqlstate, "42883") == 0 || strcmp(sqlstate, "3F000") == 0)
        return QS_ERR_DB_SCHEMA;
    /* Connection exceptions; admin/crash shutdown, cannot connect now; insufficient resources
     * (too many connections, disk full); statement timeout or cancel; read-only standby. */
    if (class_is(sqlstate, "08") || class_is(sqlstate, "53") || strcmp(sqlstate, "57P01") == 0 ||
        strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0 ||
        strcmp(sqlstate, "57014") == 0 || strcmp(sqlstate, "25006") == 0)
        return QS_ERR_DB_UNAVAILABLE;
    return QS_ERR_DB;
}

/* A lost session: the client noticed, or the server said it is ending the session. */
static bool session_lost(const qs_db *db, const char *sqlstate)
{
    if (PQstatus(db->conn) == CONNECTION_BAD)
        return true;
    if (sqlstate == NULL)
        return false;
    return class_is(sqlstate, "08") || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

static void copy_primary(char *dst, size_t dst_len, const char *msg)
{
    if (msg == NULL)
        msg = "";
    /* First line only: libpq's connection messages carry several. */
    size_t n = strcspn(msg, "\n");
    if (n >= dst_len)
        n = dst_len - 1;
    memcpy(dst, msg, n);
    dst[n] = '\0';
}

qs_err qs_db_result_err(qs_db *db, const PGresult *res, const char *name)
{
    const char *sqlstate = NULL;
    const char *primary = NULL;
    if (res != NULL) {
        sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        if (primary == NULL)
            primary = PQresultErrorMessage(res);
    }
    if (primary == NULL || primary[0] == '\0')
        primary = PQerrorMessage(db->conn);

    bool lost = session_lost(db, sqlstate);
    qs_err e = qs_db_err_from_sqlstate(sqlstate);
    if (lost) {
        e = QS_ERR_DB_UNAVAILABLE;
        db->need_reset = true;
    }
    snprintf(db->last_sqlstate, sizeof db->last_sqlstate, "%s", sqlstate != NULL ? sqlstate : "");
    copy_primary(db->last_errmsg, sizeof db->last_errmsg, primary);

    /* Only the primary message: DETAIL may quote the values of the row. */
    if (e == QS_ERR_DB_RETRY)
        qs_debug("%s: %s (SQLSTATE %s)", name, db->last_errmsg, db->last_sqlstate);
    else
        qs_warn("%s: %s (SQLSTATE %s, %s)", name, db->last_errmsg,
                db->last_sqlstate[0] != '\0' ? db->last_sqlstate : "none", qs_err_name(e));
    return e;
}

const char *qs_db_last_sqlstate(const qs_db *db)
{
    return db->last_sqlstate;
}

const char *qs_db_last_errmsg(const qs_db *db)
{
    return db->last_errmsg;
}

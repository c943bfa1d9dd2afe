/*
 * Connections and statement execution.
 *
 * One qs_db is one libpq connection used by one thread.  Statements are prepared on first use
 * per connection; the set of prepared names is forgotten on reconnect, so the next use prepares
 * again on the new backend.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"
#include "util/log.h"

/* Server notices go to the log, not to stderr: warnings as warnings, the rest (e.g. "schema
 * already exists, skipping") as debug. */
static void notice_receiver(void *arg, const PGresult *res)
{
    (void)arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (msg == NULL)
        msg = "";
    if (sev != NULL && strcmp(sev, "WARNING") == 0)
        qs_warn("server warning: %s", msg);
    else
        qs_debug("server notice: %s", msg);
}

static qs_err session_setup(qs_db *db)
{
    PQsetNoticeReceiver(db->conn, notice_receiver, NULL);
    if (PQsetClientEncoding(db->conn, "UTF8") != 0) {
        qs_warn("cannot set client encoding: %s", PQerrorMessage(db->conn));
        return QS_ERR_DB_UNAVAILABLE;
    }
    return QS_OK;
}

static void forget_prepared(qs_db *db)
{
    for (size_t i = 0; i < db->n_prepared; i++)
        free(db->prepared[i]);
    db->n_prepared = 0;
}

qs_err qs_db_connect(const char *conninfo, qs_db **out)
{
    qs_err r;
    qs_db *db = NULL;

    *out = NULL;
    if (conninfo == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    db = calloc(1, sizeof *db);
    if (db == NULL)
        return QS_ERR_NOMEM;
    db->conn = PQconnectdb(conninfo);
    if (db->conn == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if (PQstatus(db->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(db->conn);
        size_t n = strcspn(msg, "\n");
        qs_warn("cannot connect to the database: %.*s", (int)n, msg);
        r = QS_ERR_DB_UNAVAILABLE;
        goto out;
    }
    r = session_setup(db);
    if (r != QS_OK)
        goto out;
    db->generation = 1;
    *out = db;
    db = NULL;
    r = QS_OK;
out:
    qs_db_free(db);
    return r;
}

void qs_db_free(qs_db *db)
{
    if (db == NULL)
        return;
    forget_prepared(db);
    free(db->prepared);
    if (db->conn != NULL)
        PQfinish(db->conn);
    free(db);
}

uint64_t qs_db_generation(const qs_db *db)
{
    return db->generation;
}

qs_err qs_db_reconnect(qs_db *db)
{
    forget_prepared(db);
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(db->conn);
        size_t n = strcspn(msg, "\n");
        qs_warn("reconnect failed: %.*s", (int)n, msg);
        db->need_reset = true;
        return QS_ERR_DB_UNAVAILABLE;
    }
    db->need_reset = false;
    db->generation++;
    qs_info("reconnected to the database (generation %llu)", (unsigned long long)db->generation);
    return session_setup(db);
}

static bool is_prepared(const qs_db *db, const char *name)
{
    for (size_t i = 0; i < db->n_prepared; i++)
        if (strcmp(db->prepared[i], name) == 0)
            return true;
    return false;
}

static qs_err remember_prepared(qs_db *db, const char *name)
{
    if (db->n_prepared == db->cap_prepared) {
        size_t cap = db->cap_prepared == 0 ? 16 : db->cap_prepared * 2;
        char **p = realloc(db->prepared, cap * sizeof *p);
        if (p == NULL)
            return QS_ERR_NOMEM;
        db->prepared = p;
        db->cap_prepared = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return QS_ERR_NOMEM;
    db->prepared[db->n_prepared++] = copy;
    return QS_OK;
}

/* Statement names longer than this are truncated by the server (NAMEDATALEN - 1). */
#define QS_DB_STMT_NAME_MAX 63

#define QS_DB_MAX_PARAMS 32

static qs_err prepare(qs_db *db, const char *name, const char *sql, int nparams,
                      const qs_db_param *params)
{
    Oid types[QS_DB_MAX_PARAMS];
    for (int i = 0; i < nparams; i++)
        types[i] = params[i].type;
    PGresult *res = PQprepare(db->conn, name, sql, nparams, types);
    qs_err r;
    if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK)
        r = QS_OK;
    else
        r = qs_db_result_err(db, res, name);
    PQclear(res);
    if (r != QS_OK)
        return r;
    return remember_prepared(db, name);
}

qs_err qs_db_exec(qs_db *db, const char *name, const char *sql, int nparams,
                  const qs_db_param *params, PGresult **out)
{
    const char *values[QS_DB_MAX_PARAMS];
    int lengths[QS_DB_MAX_PARAMS];
    int formats[QS_DB_MAX_PARAMS];
    PGresult *res = NULL;
    qs_err r;

    if (out != NULL)
        *out = NULL;
    if (nparams < 0 || nparams > QS_DB_MAX_PARAMS || strlen(name) > QS_DB_STMT_NAME_MAX) {
        qs_bug("%s: bad statement (%d parameters)", name, nparams);
        return QS_ERR_INTERNAL;
    }
    if (db->need_reset)
        return QS_ERR_DB_UNAVAILABLE;
    if (!is_prepared(db, name)) {
        r = prepare(db, name, sql, nparams, params);
        if (r != QS_OK)
            return r;
    }
    for (int i = 0; i < nparams; i++) {
        values[i] = params[i].value;
        lengths[i] = params[i].length;
        formats[i] = 1;
    }
    res = PQexecPrepared(db->conn, name, nparams, values, lengths, formats, 1);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        r = qs_db_result_err(db, res, name);
        goto out;
    }
    if (out != NULL) {
        *out = res;
        res = NULL;
    }
    r = QS_OK;
out:
    PQclear(res);
    return r;
}

qs_err qs_db_exec_script(qs_db *db, const char *name, const char *sql)
{
    if (db->need_reset)
        return QS_ERR_DB_UNAVAILABLE;
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    qs_err r = QS_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        r = qs_db_result_err(db, res, name);
    PQclear(res);
    return r;
}

/* Test databases in the fixture's throwaway PostgreSQL cluster. */
#include "tests/lib/pg.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "tests/lib/testutil.h"

#define QS_TEST_PG_LINE_MAX 1024

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qs_test_pg: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        fail("out of memory");
    return d;
}

/* The env file's settings the tests need. */
typedef struct pg_env {
    char host[QS_TEST_PG_LINE_MAX];
    char port[32];
    char superuser[128];
} pg_env;

static void read_env(pg_env *env)
{
    char path[4096];
    const char *p = getenv("QS_TEST_PG_ENV");
    if (p == NULL || p[0] == '\0') {
        const char *build = getenv("QS_BUILD_DIR");
        if (build == NULL || build[0] == '\0')
            qs_test_skip("no PostgreSQL test cluster: neither QS_TEST_PG_ENV nor QS_BUILD_DIR "
                         "is set (run through ctest, which starts the pg fixture)");
        snprintf(path, sizeof path, "%s/tests/pg-cluster/env", build);
        p = path;
    }
    FILE *f = fopen(p, "r");
    if (f == NULL) {
        char why[4200];
        snprintf(why, sizeof why,
                 "no PostgreSQL test cluster (%.3000s missing): the pg_cluster_start fixture did "
                 "not run or could not start a server",
                 p);
        qs_test_skip(why);
    }
    memset(env, 0, sizeof *env);
    char line[QS_TEST_PG_LINE_MAX + 64];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(line, "PGHOST") == 0)
            snprintf(env->host, sizeof env->host, "%s", v);
        else if (strcmp(line, "PGPORT") == 0)
            snprintf(env->port, sizeof env->port, "%s", v);
        else if (strcmp(line, "QS_PG_SUPERUSER") == 0)
            snprintf(env->superuser, sizeof env->superuser, "%s", v);
    }
    fclose(f);
    if (env->host[0] == '\0' || env->port[0] == '\0' || env->superuser[0] == '\0')
        fail("%s lacks PGHOST, PGPORT or QS_PG_SUPERUSER", p);
}

/* Appends ` key='value'` with conninfo quoting. */
static void append_kv(char *buf, size_t len, const char *key, const char *value)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, len - n, "%s%s='", n > 0 ? " " : "", key);
    if (w < 0 || (size_t)w >= len - n)
        fail("conninfo too long");
    n += (size_t)w;
    for (const char *c = value; *c != '\0'; c++) {
        if (n + 3 >= len)
            fail("conninfo too long");
        if (*c == '\'' || *c == '\\')
            buf[n++] = '\\';
        buf[n++] = *c;
    }
    if (n + 2 >= len)
        fail("conninfo too long");
    buf[n++] = '\'';
    buf[n] = '\0';
}

static char *conninfo(const pg_env *env, const char *dbname, const char *user)
{
    char buf[2048] = "";
    append_kv(buf, sizeof buf, "host", env->host);
    append_kv(buf, sizeof buf, "port", env->port);
    append_kv(buf, sizeof buf, "dbname", dbname);
    append_kv(buf, sizeof buf, "user", user);
    append_kv(buf, sizeof buf, "connect_timeout", "10");
    return xstrdup(buf);
}

PGconn *qs_test_pg_connect(const char *ci)
{
    PGconn *c = PQconnectdb(ci);
    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        fail("cannot connect (%s): %s", ci, c != NULL ? PQerrorMessage(c) : "out of memory");
    return c;
}

void qs_test_pg_exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail("SQL failed: %s\n  %s", PQresultErrorMessage(res), sql);
    PQclear(res);
}

void qs_test_pg_exec_state(PGconn *conn, const char *sql, char state[static 6])
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    state[0] = '\0';
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(state, 6, "%s", s != NULL ? s : "?????");
    }
    PQclear(res);
}

char *qs_test_pg_query_value(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 || PQnfields(res) < 1)
        fail("query failed or returned nothing: %s\n  %s", PQresultErrorMessage(res), sql);
    char *v = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Runs `before` + quoted dbname + `after` on the maintenance database. */
static void exec_admin(const char *admin_ci, const char *before, const char *dbname,
                       const char *after)
{
    PGconn *c = qs_test_pg_connect(admin_ci);
    char *ident = PQescapeIdentifier(c, dbname, strlen(dbname));
    if (ident == NULL)
        fail("cannot quote %s", dbname);
    char sql[512];
    snprintf(sql, sizeof sql, "%s%s%s", before, ident, after);
    PQfreemem(ident);
    qs_test_pg_exec_ok(c, sql);
    PQfinish(c);
}

qs_test_pg *qs_test_pg_create(const char *tag)
{
    static atomic_uint counter;
    pg_env env;
    read_env(&env);

    qs_test_pg *pg = calloc(1, sizeof *pg);
    if (pg == NULL)
        fail("out of memory");
    char clean[24] = "";
    size_t n = 0;
    for (const char *c = tag; *c != '\0' && n < sizeof clean - 1; c++) {
        char ch = *c;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
            clean[n++] = ch;
        else if (ch >= 'A' && ch <= 'Z')
            clean[n++] = (char)(ch - 'A' + 'a');
        else
            clean[n++] = '_';
    }
    clean[n] = '\0';
    unsigned rnd = (unsigned)time(NULL) ^ ((unsigned)getpid() << 8) ^ (unsigned)rand();
    snprintf(pg->dbname, sizeof pg->dbname, "qs_%s_%ld_%u_%04x", clean, (long)getpid(),
             atomic_fetch_add(&counter, 1u), rnd & 0xffffu);

    pg->admin_conninfo = conninfo(&env, "postgres", env.superuser);
    exec_admin(pg->admin_conninfo, "CREATE DATABASE ", pg->dbname,
               " OWNER qsign_owner ENCODING 'UTF8'");
    pg->super_conninfo = conninfo(&env, pg->dbname, env.superuser);
    pg->owner_conninfo = conninfo(&env, pg->dbname, "qsign_owner");
    pg->api_conninfo = conninfo(&env, pg->dbname, "qsign_api");
    pg->sam_conninfo = conninfo(&env, pg->dbname, "qsign_sam");
    pg->audit_conninfo = conninfo(&env, pg->dbname, "qsign_audit");
    return pg;
}

void qs_test_pg_destroy(qs_test_pg *pg)
{
    if (pg == NULL)
        return;
    exec_admin(pg->admin_conninfo, "DROP DATABASE IF EXISTS ", pg->dbname, " WITH (FORCE)");
    free(pg->super_conninfo);
    free(pg->owner_conninfo);
    free(pg->api_conninfo);
    free(pg->sam_conninfo);
    free(pg->audit_conninfo);
    free(pg->admin_conninfo);
    free(pg);
}

void qs_test_pg_migrate(const qs_test_pg *pg)
{
    qs_db *db = NULL;
    size_t n = 0;
    if (qs_db_connect(pg->owner_conninfo, &db) != QS_OK)
        fail("cannot connect as qsign_owner to %s", pg->dbname);
    qs_err r = qs_db_migrate(db, NULL, NULL, &n);
    qs_db_free(db);
    if (r != QS_OK)
        fail("migrating %s failed: %s", pg->dbname, qs_err_str(r));
}

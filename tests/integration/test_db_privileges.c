/*
 * Least privilege, tried for real: each role attempts, through the database layer, what it
 * must not do and gets SQLSTATE 42501 (QS_ERR_DB_PERMISSION); each also does what it needs, so
 * a refusal for another reason cannot pass for a privilege check.  The audit log refuses
 * UPDATE, DELETE and TRUNCATE even to its owner and the superuser; CHECK constraints refuse
 * wrong lengths; the chain trigger refuses a record that does not extend its writer's chain.
 * Audit checkpoints likewise: only the SAM inserts them, nobody changes or removes them, each
 * names the stored record at its seq; a writer's checkpoint key is set once, by the SAM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/db_internal.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

typedef struct fixture {
    qs_test_pg *pg;
    PGconn *su;
    qs_db *owner, *api, *sam, *audit, *super;
} fixture;

#define ALICE     "'00000000-0000-4000-8000-00000000a11c'"
#define BOB       "'00000000-0000-4000-8000-000000000b0b'"
#define CRED_A    "'00000000-0000-4000-8000-0000000000c1'"
#define CRED_B    "'00000000-0000-4000-8000-0000000000c2'"
#define SAD_A     "decode(repeat('5a', 32), 'hex')"
#define HEX(b, n) "decode(repeat('" b "', " #n "), 'hex')"
#define MAC32     HEX("4d", 32)
#define ZERO32    HEX("00", 32)
#define VERIFIER  "'$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA'"

/* Rows of every table, written by the superuser (privileges do not apply to it; constraints
 * and triggers do). */
static const char seed_sql[] =
    "INSERT INTO qsign.users (id, username, kind, status, record_mac) VALUES"
    " (" ALICE ", 'alice', 'signer', 'active', " MAC32 "),"
    " (" BOB ", 'bob', 'signer', 'active', " MAC32 ");"
    "INSERT INTO qsign.credentials (id, user_id, key_alg, spki, wrapped_key, status, record_mac)"
    " VALUES (" CRED_A ", " ALICE ", 'ec-p256', " HEX("30", 91) ", " HEX(
        "aa",
        48) ","
            " 'enabled', " MAC32 "),"
            " (" CRED_B ", " BOB ", 'ec-p256', " HEX("30", 91) ", " HEX(
                "bb",
                48) ", 'enabled', " MAC32 ");"
                    "INSERT INTO qsign.factor_pin (user_id, verifier, record_mac) VALUES"
                    " (" ALICE ", " VERIFIER ", " MAC32 ");"
                    "INSERT INTO qsign.factor_totp (user_id, seed_ciphertext, record_mac) VALUES"
                    " (" ALICE ", " HEX(
                        "cc",
                        48) ", " MAC32 ");"
                            "INSERT INTO qsign.audit_writers (writer_id, mac_key_label) VALUES "
                            "('sam-1', 'qsign-mac');"
                            "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, "
                            "actor, user_id,"
                            " result, prev_hash, record_hash, record_mac) VALUES ('sam-1', 1, "
                            "now(), 'user.enrolled',"
                            " 'officer:olga', " ALICE ", 'success', " ZERO32 ", " HEX(
                                "a1",
                                32) ", " MAC32 ");"
                                    "INSERT INTO qsign.sads (sad_hash, user_id, credential_id, "
                                    "hash_alg, num_signatures,"
                                    " remaining, hashes_sha256, expires_at, auth_event_writer, "
                                    "auth_event_seq, record_mac)"
                                    " VALUES (" SAD_A ", " ALICE ", " CRED_A
                                    ", '2.16.840.1.101.3.4.2.1', 2, 2, " HEX(
                                        "5b",
                                        32) ", now() + interval '5 minutes', 'sam-1', 1, " MAC32
                                            ");"
                                            "INSERT INTO qsign.sad_hashes (sad_hash, digest, "
                                            "record_mac) VALUES"
                                            " (" SAD_A
                                            ", " HEX("d1", 32) ", " MAC32 "), (" SAD_A
                                                               ", " HEX("d2", 32) ", " MAC32 ");";

static qs_db *connect_as(const char *conninfo)
{
    qs_db *db = NULL;
    assert_int_equal(qs_db_connect(conninfo, &db), QS_OK);
    return db;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pg = qs_test_pg_create("priv");
    qs_test_pg_migrate(f->pg);
    f->su = qs_test_pg_connect(f->pg->super_conninfo);
    qs_test_pg_exec_ok(f->su, seed_sql);
    f->owner = connect_as(f->pg->owner_conninfo);
    f->api = connect_as(f->pg->api_conninfo);
    f->sam = connect_as(f->pg->sam_conninfo);
    f->audit = connect_as(f->pg->audit_conninfo);
    f->super = connect_as(f->pg->super_conninfo);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_db_free(f->owner);
    qs_db_free(f->api);
    qs_db_free(f->sam);
    qs_db_free(f->audit);
    qs_db_free(f->super);
    PQfinish(f->su);
    qs_test_pg_destroy(f->pg);
    free(f);
    return 0;
}

/* Runs one statement through the database layer (prepared, executed, error mapped), outside
 * any transaction.  Each call gets its own statement name. */
static qs_err run(qs_db *db, const char *sql)
{
    static unsigned n;
    char name[32];
    snprintf(name, sizeof name, "t_%u", n++);
    return qs_db_exec(db, name, sql, 0, NULL, NULL);
}

#define refused(db, sql) refused_((db), #db, (sql), __FILE__, __LINE__)
#define allowed(db, sql) result_is_((db), #db, (sql), QS_OK, "", __FILE__, __LINE__)
#define check_refuses(db, sql)                                                                     \
    result_is_((db), #db, (sql), QS_ERR_DB_CONSTRAINT, "23514", __FILE__, __LINE__)
#define result_is(db, sql, err, state)                                                             \
    result_is_((db), #db, (sql), (err), (state), __FILE__, __LINE__)

/* cmocka's fail_msg, reported at the caller's file and line. */
static void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("ERROR: %s\n", msg);
    _fail(file, line);
}

static void result_is_(qs_db *db, const char *who, const char *sql, qs_err want,
                       const char *want_state, const char *file, int line)
{
    qs_err got = run(db, sql);
    const char *state = got == QS_OK ? "" : qs_db_last_sqlstate(db);
    if (got != want || strcmp(state, want_state) != 0)
        fail_at(file, line, "%s: %s\n  got %s (SQLSTATE %s: %s), want %s (SQLSTATE %s)", who, sql,
                qs_err_name(got), state, got == QS_OK ? "" : qs_db_last_errmsg(db),
                qs_err_name(want), want_state);
}

static void refused_(qs_db *db, const char *who, const char *sql, const char *file, int line)
{
    result_is_(db, who, sql, QS_ERR_DB_PERMISSION, "42501", file, line);
    /* Refused by the privilege system, not only by the audit log's trigger. */
    if (strstr(qs_db_last_errmsg(db), "append-only") != NULL)
        fail_at(file, line, "%s: %s\n  refused by the trigger only: the role holds the privilege",
                who, sql);
}

/* ---- catalog helpers ---------------------------------------------------------------------- */

typedef struct table_list {
    char **name; /* quoted, schema-qualified */
    char **col1; /* quoted first column */
    int n;
} table_list;

static table_list tables(PGconn *su)
{
    table_list t = {0};
    PGresult *res =
        PQexec(su, "SELECT quote_ident(c.relname), quote_ident(a.attname) FROM pg_class c"
                   " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1"
                   " WHERE c.relnamespace = 'qsign'::regnamespace AND c.relkind = 'r'"
                   " ORDER BY 1");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    t.n = PQntuples(res);
    assert_true(t.n >= 9);
    t.name = calloc((size_t)t.n, sizeof *t.name);
    t.col1 = calloc((size_t)t.n, sizeof *t.col1);
    assert_non_null(t.name);
    assert_non_null(t.col1);
    for (int i = 0; i < t.n; i++) {
        size_t len = strlen(PQgetvalue(res, i, 0)) + 8;
        t.name[i] = malloc(len);
        assert_non_null(t.name[i]);
        snprintf(t.name[i], len, "qsign.%s", PQgetvalue(res, i, 0));
        t.col1[i] = strdup(PQgetvalue(res, i, 1));
        assert_non_null(t.col1[i]);
    }
    PQclear(res);
    return t;
}

static void free_tables(table_list *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->name[i]);
        free(t->col1[i]);
    }
    free(t->name);
    free(t->col1);
}

/* INSERT, UPDATE, DELETE and TRUNCATE of every table are refused to `db`, except the tables in
 * `own` (NULL-terminated, or NULL), whose privileges the caller checks exactly. */
static void expect_no_writes_except(fixture *f, qs_db *db, const char *who, const char *const *own)
{
    table_list t = tables(f->su);
    char sql[512];
    for (int i = 0; i < t.n; i++) {
        bool skip = false;
        for (const char *const *o = own; o != NULL && *o != NULL; o++)
            skip |= strcmp(t.name[i], *o) == 0;
        if (skip)
            continue;
        snprintf(sql, sizeof sql, "INSERT INTO %s DEFAULT VALUES", t.name[i]);
        refused_(db, who, sql, __FILE__, __LINE__);
        snprintf(sql, sizeof sql, "UPDATE %s SET %s = %s", t.name[i], t.col1[i], t.col1[i]);
        refused_(db, who, sql, __FILE__, __LINE__);
        snprintf(sql, sizeof sql, "DELETE FROM %s", t.name[i]);
        refused_(db, who, sql, __FILE__, __LINE__);
        snprintf(sql, sizeof sql, "TRUNCATE %s", t.name[i]);
        refused_(db, who, sql, __FILE__, __LINE__);
    }
    free_tables(&t);
}

static void expect_no_writes_anywhere(fixture *f, qs_db *db, const char *who)
{
    expect_no_writes_except(f, db, who, NULL);
}

static char *value(fixture *f, const char *sql)
{
    return qs_test_pg_query_value(f->su, sql);
}

static void catalog_is(fixture *f, const char *sql, const char *want)
{
    char *got = value(f, sql);
    if (got == NULL ? want != NULL : want == NULL || strcmp(got, want) != 0)
        fail_msg("%s\n  got  %s\n  want %s", sql, got ? got : "NULL", want ? want : "NULL");
    free(got);
}

/* ---- qsign_api ---------------------------------------------------------------------------- */

static void test_api_reads_only_public_columns(void **state)
{
    fixture *f = *state;
    allowed(f->api, "SELECT id, username, kind, status, created_at FROM qsign.users");
    allowed(f->api, "SELECT id, user_id, key_alg, spki, status, created_at"
                    " FROM qsign.credentials");
    allowed(f->api, "SELECT user_id FROM qsign.factor_pin");
    allowed(f->api, "SELECT user_id, algorithm, digits, period FROM qsign.factor_totp");
    allowed(f->api, "SELECT version FROM qsign.schema_migration");

    refused(f->api, "SELECT wrapped_key FROM qsign.credentials");
    refused(f->api, "SELECT * FROM qsign.credentials");
    refused(f->api, "SELECT record_mac FROM qsign.credentials");
    refused(f->api, "SELECT verifier FROM qsign.factor_pin");
    refused(f->api, "SELECT * FROM qsign.factor_pin");
    refused(f->api, "SELECT seed_ciphertext FROM qsign.factor_totp");
    refused(f->api, "SELECT last_step FROM qsign.factor_totp");
    refused(f->api, "SELECT sad_hash FROM qsign.sads");
    refused(f->api, "SELECT count(*) FROM qsign.sads");
    refused(f->api, "SELECT digest FROM qsign.sad_hashes");
    refused(f->api, "SELECT * FROM qsign.audit_log");
    refused(f->api, "SELECT * FROM qsign.audit_writers");

    /* The complete list of columns qsign_api may read, from the catalog. */
    catalog_is(f,
               "SELECT string_agg(c.relname || '.' || a.attname, ' '"
               "   ORDER BY c.relname, a.attnum)"
               " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
               " WHERE c.relnamespace = 'qsign'::regnamespace AND c.relkind = 'r'"
               " AND a.attnum > 0 AND NOT a.attisdropped"
               " AND has_column_privilege('qsign_api', c.oid, a.attnum, 'SELECT')",
               "access_tokens.token_hash access_tokens.user_id access_tokens.session_id"
               " access_tokens.kind access_tokens.created_at access_tokens.expires_at"
               " access_tokens.revoked_at"
               " accounts.user_id accounts.verifier accounts.failed_logins"
               " accounts.last_failed_at accounts.last_login_at accounts.created_at"
               " accounts.updated_at"
               " activation_codes.user_id activation_codes.created_at"
               " activation_codes.expires_at activation_codes.used_at"
               " ca_state.id ca_state.status ca_state.ca_cert ca_state.ocsp_cert"
               " ca_state.crl_number"
               " certificates.serial certificates.credential_id certificates.issuer"
               " certificates.subject certificates.not_before certificates.not_after"
               " certificates.der certificates.profile certificates.status"
               " certificates.revoked_at certificates.reason certificates.issued_at"
               " certificates.record_mac"
               " credentials.id credentials.user_id credentials.key_alg credentials.spki"
               " credentials.status credentials.created_at"
               " crls.crl_number crls.this_update crls.next_update crls.der"
               " factor_pin.user_id"
               " factor_totp.user_id factor_totp.algorithm factor_totp.digits"
               " factor_totp.period"
               " identity_evidence.id identity_evidence.user_id identity_evidence.method"
               " identity_evidence.document_type identity_evidence.issuing_country"
               " identity_evidence.officer identity_evidence.verified_at identity_evidence.notes"
               " identity_evidence.profile identity_evidence.country"
               " identity_evidence.common_name identity_evidence.given_name"
               " identity_evidence.surname identity_evidence.pseudonym"
               " identity_evidence.serial_number identity_evidence.organization"
               " identity_evidence.organization_id"
               " ra_sessions.session_hash ra_sessions.officer_id ra_sessions.expires_at"
               " ra_sessions.role"
               " schema_migration.version schema_migration.name schema_migration.sha256"
               " schema_migration.applied_at"
               " users.id users.username users.kind users.status users.created_at");
}

static void test_api_writes_nothing(void **state)
{
    fixture *f = *state;
    refused(f->api, "INSERT INTO qsign.credentials (id, user_id, key_alg, spki,"
                    " wrapped_key, status, record_mac) VALUES"
                    " ('00000000-0000-4000-8000-0000000000c9', " ALICE
                    ", 'ec-p256', " HEX("30", 91) ", " HEX("aa", 48) ", 'enabled', " MAC32 ")");
    refused(f->api, "UPDATE qsign.credentials SET status = 'disabled'");
    refused(f->api, "UPDATE qsign.credentials SET failed_attempts = 0");
    refused(f->api, "UPDATE qsign.users SET status = 'active'");
    refused(f->api,
            "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type,"
            " actor, result, prev_hash, record_hash, record_mac) VALUES ('sam-1',"
            " 2, now(), 'x', 'api', 'success', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")");
    refused(f->api, "UPDATE qsign.audit_log SET result = 'failure'");
    refused(f->api, "DELETE FROM qsign.audit_log");
    /* qsignd's own state (0002): login counters and tokens, never the verifier. */
    static const char *const own[] = {"qsign.access_tokens", "qsign.accounts", NULL};
    expect_no_writes_except(f, f->api, "qsign_api", own);
    catalog_is(f,
               "SELECT count(*) FROM pg_class c, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE',"
               " 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p"
               " WHERE c.relnamespace = 'qsign'::regnamespace AND c.relkind = 'r'"
               " AND c.relname NOT IN ('access_tokens', 'accounts')"
               " AND (has_table_privilege('qsign_api', c.oid, p)"
               "   OR (p IN ('INSERT', 'UPDATE', 'REFERENCES')"
               "       AND has_any_column_privilege('qsign_api', c.oid, p)))",
               "0");
    catalog_is(f,
               "SELECT string_agg(x, ' ' ORDER BY x) FROM ("
               " SELECT c.relname || '.' || p AS x FROM pg_class c,"
               "  unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',"
               "  'TRIGGER']) p"
               "  WHERE c.relnamespace = 'qsign'::regnamespace"
               "  AND c.relname IN ('access_tokens', 'accounts')"
               "  AND has_table_privilege('qsign_api', c.oid, p)"
               " UNION ALL SELECT c.relname || '.' || a.attname || ':' || p FROM pg_class c"
               "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0,"
               "  unnest(ARRAY['INSERT', 'UPDATE', 'REFERENCES']) p"
               "  WHERE c.relnamespace = 'qsign'::regnamespace"
               "  AND c.relname IN ('access_tokens', 'accounts')"
               "  AND NOT has_table_privilege('qsign_api', c.oid, p)"
               "  AND has_column_privilege('qsign_api', c.oid, a.attnum, p)) s",
               "access_tokens.DELETE access_tokens.INSERT access_tokens.revoked_at:UPDATE"
               " accounts.failed_logins:UPDATE accounts.last_failed_at:UPDATE"
               " accounts.last_login_at:UPDATE");
    refused(f->api, "UPDATE qsign.accounts SET verifier = verifier");
    refused(f->api, "INSERT INTO qsign.accounts (user_id, verifier) VALUES (" ALICE ","
                    " '$argon2id$x')");
    refused(f->api, "DELETE FROM qsign.accounts");
    refused(f->api, "UPDATE qsign.access_tokens SET user_id = user_id");
    refused(f->api, "UPDATE qsign.access_tokens SET expires_at = expires_at");
    refused(f->api, "TRUNCATE qsign.access_tokens");
}

/* ---- qsign_sam ---------------------------------------------------------------------------- */

static void test_sam_does_its_job(void **state)
{
    fixture *f = *state;
    allowed(f->sam,
            "INSERT INTO qsign.users (id, username, kind, status, record_mac) VALUES"
            " ('00000000-0000-4000-8000-0000000000c4', 'carol', 'signer', 'active', " MAC32 ")");
    allowed(f->sam, "INSERT INTO qsign.credentials (id, user_id, key_alg, spki, wrapped_key,"
                    " status, record_mac) VALUES ('00000000-0000-4000-8000-0000000000c3',"
                    " '00000000-0000-4000-8000-0000000000c4', 'ec-p384', " HEX("30", 120) ", " HEX(
                        "ab", 64) ", 'enabled', " MAC32 ")");
    allowed(f->sam, "SELECT wrapped_key, record_mac FROM qsign.credentials");
    allowed(f->sam, "UPDATE qsign.credentials SET failed_attempts = failed_attempts + 1,"
                    " record_mac = " MAC32 " WHERE id = " CRED_A);
    allowed(f->sam, "UPDATE qsign.credentials SET status = 'destroyed', wrapped_key = NULL"
                    " WHERE id = " CRED_B);
    allowed(f->sam, "UPDATE qsign.factor_pin SET failed_attempts = 1 WHERE user_id = " ALICE);
    allowed(f->sam, "SELECT verifier FROM qsign.factor_pin");
    allowed(f->sam, "UPDATE qsign.factor_totp SET last_step = 57000000 WHERE user_id = " ALICE);
    allowed(f->sam, "SELECT seed_ciphertext FROM qsign.factor_totp");
    allowed(f->sam, "UPDATE qsign.sads SET remaining = remaining - 1");
    allowed(f->sam,
            "UPDATE qsign.sad_hashes SET consumed_at = now() WHERE digest = " HEX("d1", 32));
    allowed(f->sam, "INSERT INTO qsign.audit_writers (writer_id, mac_key_label) VALUES"
                    " ('sam-2', 'qsign-mac')");
    allowed(f->sam, "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type,"
                    " actor, result, prev_hash, record_hash, record_mac) VALUES ('sam-1', 2,"
                    " now(), 'signature.created', 'user:alice', 'success', " HEX("a1", 32) ", " HEX(
                        "a2", 32) ", " MAC32 ")");
    allowed(f->sam, "SELECT * FROM qsign.audit_log");
    allowed(f->sam, "DELETE FROM qsign.sads WHERE expires_at < now() + interval '1 hour'");
    catalog_is(f, "SELECT count(*) FROM qsign.sad_hashes", "0");
}

static void test_sam_refused(void **state)
{
    fixture *f = *state;
    refused(f->sam, "UPDATE qsign.audit_log SET result = 'failure'");
    refused(f->sam, "UPDATE qsign.audit_log SET record_mac = " MAC32 " WHERE seq = 1");
    refused(f->sam, "DELETE FROM qsign.audit_log");
    refused(f->sam, "TRUNCATE qsign.audit_log");
    refused(f->sam, "UPDATE qsign.audit_writers SET description = 'x'");
    refused(f->sam, "DELETE FROM qsign.audit_writers");
    /* Immutable columns. */
    refused(f->sam, "UPDATE qsign.credentials SET spki = " HEX("31", 91));
    refused(f->sam, "UPDATE qsign.credentials SET user_id = " BOB);
    refused(f->sam, "UPDATE qsign.credentials SET key_alg = 'rsa-2048'");
    refused(f->sam, "UPDATE qsign.users SET kind = 'officer'");
    refused(f->sam, "UPDATE qsign.users SET id = " BOB);
    refused(f->sam, "UPDATE qsign.sads SET expires_at = now() + interval '1 day'");
    refused(f->sam, "UPDATE qsign.sads SET num_signatures = 1000");
    refused(f->sam, "UPDATE qsign.sad_hashes SET digest = " HEX("d3", 32));
    /* No deletes but the short-lived SAD tables. */
    refused(f->sam, "DELETE FROM qsign.credentials");
    refused(f->sam, "DELETE FROM qsign.users");
    refused(f->sam, "DELETE FROM qsign.factor_pin");
    refused(f->sam, "DELETE FROM qsign.factor_totp");
    refused(f->sam, "TRUNCATE qsign.sads");
    refused(f->sam, "UPDATE qsign.schema_migration SET name = name");
    refused(f->sam, "INSERT INTO qsign.schema_migration (version, name, sha256)"
                    " VALUES (999, '0999-x', " ZERO32 ")");
}

/* ---- qsign_audit -------------------------------------------------------------------------- */

static void test_audit_reads_only(void **state)
{
    fixture *f = *state;
    allowed(f->audit, "SELECT * FROM qsign.audit_log");
    allowed(f->audit, "SELECT * FROM qsign.audit_writers");
    allowed(f->audit, "SELECT * FROM qsign.users");
    allowed(f->audit, "SELECT * FROM qsign.sads");
    allowed(f->audit, "SELECT * FROM qsign.sad_hashes");
    allowed(f->audit, "SELECT id, user_id, status, failed_attempts, record_mac"
                      " FROM qsign.credentials");
    allowed(f->audit, "SELECT user_id, failed_attempts FROM qsign.factor_pin");
    allowed(f->audit, "SELECT user_id, last_step FROM qsign.factor_totp");

    refused(f->audit, "SELECT wrapped_key FROM qsign.credentials");
    refused(f->audit, "SELECT verifier FROM qsign.factor_pin");
    refused(f->audit, "SELECT seed_ciphertext FROM qsign.factor_totp");

    refused(f->audit, "INSERT INTO qsign.audit_log (writer_id, seq, event_time,"
                      " event_type, actor, result, prev_hash, record_hash, record_mac)"
                      " VALUES ('sam-1', 2, now(), 'x', 'auditor', 'success', " HEX(
                          "a1", 32) ", " HEX("a2", 32) ", " MAC32 ")");
    refused(f->audit, "UPDATE qsign.users SET status = 'closed'");
    expect_no_writes_anywhere(f, f->audit, "qsign_audit");
    catalog_is(f,
               "SELECT count(*) FROM pg_class c, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE',"
               " 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p"
               " WHERE c.relnamespace = 'qsign'::regnamespace AND c.relkind = 'r'"
               " AND (has_table_privilege('qsign_audit', c.oid, p)"
               "   OR (p IN ('INSERT', 'UPDATE', 'REFERENCES')"
               "       AND has_any_column_privilege('qsign_audit', c.oid, p)))",
               "0");
}

/* ---- the audit log is append-only for everyone ------------------------------------------- */

static void expect_append_only(qs_db *db, const char *who, const char *sql)
{
    result_is_(db, who, sql, QS_ERR_DB_PERMISSION, "42501", __FILE__, __LINE__);
    if (strstr(qs_db_last_errmsg(db), "append-only") == NULL)
        fail_msg("%s: %s refused, but not by the trigger: %s", who, sql, qs_db_last_errmsg(db));
}

static void test_audit_log_trigger_refuses_owner_and_superuser(void **state)
{
    fixture *f = *state;
    qs_db *who[] = {f->owner, f->super};
    const char *names[] = {"qsign_owner", "superuser"};
    for (size_t i = 0; i < 2; i++) {
        expect_append_only(who[i], names[i], "UPDATE qsign.audit_log SET result = 'failure'");
        expect_append_only(who[i], names[i], "UPDATE qsign.audit_log SET seq = 7 WHERE false");
        expect_append_only(who[i], names[i], "DELETE FROM qsign.audit_log");
        expect_append_only(who[i], names[i], "DELETE FROM qsign.audit_log WHERE false");
        expect_append_only(who[i], names[i], "TRUNCATE qsign.audit_log");
        expect_append_only(who[i], names[i],
                           "INSERT INTO qsign.audit_log SELECT * FROM qsign.audit_log"
                           " ON CONFLICT (writer_id, seq) DO UPDATE SET result = 'failure'");
    }
    catalog_is(f, "SELECT count(*) || ' ' || min(result) FROM qsign.audit_log", "1 success");
    /* The owner can still append. */
    allowed(f->owner,
            "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type,"
            " actor, result, prev_hash, record_hash, record_mac) VALUES ('sam-1',"
            " 2, now(), 'x', 'owner', 'success', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")");
    /* No role but the owner holds UPDATE, DELETE or TRUNCATE on it. */
    catalog_is(f,
               "SELECT count(*) FROM unnest(ARRAY['qsign_api', 'qsign_sam', 'qsign_audit']) r,"
               " unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p"
               " WHERE has_table_privilege(r, 'qsign.audit_log', p)"
               " OR (p = 'UPDATE' AND has_any_column_privilege(r, 'qsign.audit_log', p))",
               "0");
}

static void test_audit_chain_trigger(void **state)
{
    fixture *f = *state;
    static const char head[] = "INSERT INTO qsign.audit_log (writer_id, seq, event_time,"
                               " event_type, actor, result, prev_hash, record_hash, record_mac)"
                               " VALUES ";
    char sql[1024];
    /* Wrong link. */
    snprintf(sql, sizeof sql, "%s('sam-1', 2, now(), 'x', 'sam', 'success', %s, %s, %s)", head,
             HEX("ff", 32), HEX("a2", 32), MAC32);
    check_refuses(f->sam, sql);
    /* Gap. */
    snprintf(sql, sizeof sql, "%s('sam-1', 3, now(), 'x', 'sam', 'success', %s, %s, %s)", head,
             HEX("a1", 32), HEX("a3", 32), MAC32);
    check_refuses(f->sam, sql);
    /* Duplicate position. */
    snprintf(sql, sizeof sql, "%s('sam-1', 1, now(), 'x', 'sam', 'success', %s, %s, %s)", head,
             ZERO32, HEX("a9", 32), MAC32);
    result_is(f->sam, sql, QS_ERR_DB_CONSTRAINT, "23505");
    /* A new writer starts from 32 zero bytes. */
    allowed(f->sam, "INSERT INTO qsign.audit_writers (writer_id, mac_key_label) VALUES"
                    " ('sam-2', 'qsign-mac')");
    snprintf(sql, sizeof sql, "%s('sam-2', 1, now(), 'x', 'sam', 'success', %s, %s, %s)", head,
             HEX("01", 32), HEX("b1", 32), MAC32);
    check_refuses(f->sam, sql);
    /* Unknown writer. */
    snprintf(sql, sizeof sql, "%s('sam-9', 1, now(), 'x', 'sam', 'success', %s, %s, %s)", head,
             ZERO32, HEX("b1", 32), MAC32);
    result_is(f->sam, sql, QS_ERR_DB_CONSTRAINT, "23503");
    /* Right, several rows in one statement (group commit). */
    snprintf(sql, sizeof sql,
             "%s('sam-2', 1, now(), 'x', 'sam', 'success', %s, %s, %s),"
             " ('sam-2', 2, now(), 'x', 'sam', 'success', %s, %s, %s),"
             " ('sam-1', 2, now(), 'x', 'sam', 'success', %s, %s, %s)",
             head, ZERO32, HEX("b1", 32), MAC32, HEX("b1", 32), HEX("b2", 32), MAC32, HEX("a1", 32),
             HEX("a2", 32), MAC32);
    allowed(f->sam, sql);
    catalog_is(f, "SELECT count(*) FROM qsign.audit_log", "4");
}

/* ---- audit checkpoints and the writers' keys ---------------------------------------------- */

#define CP_ROW(seq, head, sig)                                                                     \
    "INSERT INTO qsign.audit_checkpoints (writer_id, seq, head_hash, checkpoint_time,"             \
    " signature) VALUES ('sam-1', " seq ", " head ", now(), " sig ")"
#define SIG70 HEX("30", 70)

static void test_audit_checkpoints(void **state)
{
    fixture *f = *state;
    /* No checkpoint before the writer has a key. */
    check_refuses(f->sam, CP_ROW("1", HEX("a1", 32), SIG70));

    /* Only the SAM sets a writer's key, and only once. */
    refused(f->api, "UPDATE qsign.audit_writers SET checkpoint_spki = " HEX("30", 91));
    refused(f->audit, "UPDATE qsign.audit_writers SET checkpoint_spki = " HEX("30", 91));
    allowed(f->sam, "UPDATE qsign.audit_writers SET checkpoint_spki = " HEX(
                        "30", 91) " WHERE writer_id = 'sam-1' AND checkpoint_spki IS NULL");
    result_is(f->sam,
              "UPDATE qsign.audit_writers SET checkpoint_spki = " HEX(
                  "31", 91) " WHERE writer_id = 'sam-1'",
              QS_ERR_DB_PERMISSION, "42501");
    result_is(f->sam, "UPDATE qsign.audit_writers SET checkpoint_spki = NULL", QS_ERR_DB_PERMISSION,
              "42501");
    refused(f->sam, "UPDATE qsign.audit_writers SET mac_key_label = 'other'");
    for (int i = 0; i < 2; i++) {
        qs_db *who = i == 0 ? f->owner : f->super;
        result_is(who, "UPDATE qsign.audit_writers SET checkpoint_spki = " HEX("31", 91),
                  QS_ERR_DB_PERMISSION, "42501");
        result_is(who, "UPDATE qsign.audit_writers SET description = 'changed'",
                  QS_ERR_DB_PERMISSION, "42501");
        result_is(who, "DELETE FROM qsign.audit_writers WHERE writer_id = 'nobody'",
                  QS_ERR_DB_PERMISSION, "42501");
    }
    catalog_is(f,
               "SELECT encode(checkpoint_spki, 'hex') = repeat('30', 91) FROM"
               " qsign.audit_writers WHERE writer_id = 'sam-1'",
               "t");
    /* The key column is the only one qsign_sam may update. */
    catalog_is(f,
               "SELECT string_agg(attname, ',') FROM pg_attribute WHERE attrelid ="
               " 'qsign.audit_writers'::regclass AND attnum > 0 AND"
               " has_column_privilege('qsign_sam', attrelid, attnum, 'UPDATE')",
               "checkpoint_spki");

    /* A checkpoint names the stored record at its seq, beyond the previous checkpoint. */
    check_refuses(f->sam, CP_ROW("1", HEX("a2", 32), SIG70));
    check_refuses(f->sam, CP_ROW("2", HEX("a1", 32), SIG70));
    check_refuses(f->sam, CP_ROW("1", HEX("a1", 31), SIG70));
    check_refuses(f->sam, CP_ROW("1", HEX("a1", 32), HEX("30", 73)));
    check_refuses(f->sam, CP_ROW("0", HEX("a1", 32), SIG70));
    refused(f->api, CP_ROW("1", HEX("a1", 32), SIG70));
    refused(f->audit, CP_ROW("1", HEX("a1", 32), SIG70));
    allowed(f->sam, CP_ROW("1", HEX("a1", 32), SIG70));
    check_refuses(f->sam, CP_ROW("1", HEX("a1", 32), SIG70));

    /* Read by the SAM and the auditor; not by qsignd. */
    allowed(f->sam, "SELECT * FROM qsign.audit_checkpoints");
    allowed(f->audit, "SELECT * FROM qsign.audit_checkpoints");
    refused(f->api, "SELECT * FROM qsign.audit_checkpoints");

    /* Nobody changes or removes one: the roles lack the privilege, the owner and the superuser
     * meet the trigger. */
    qs_db *roles[] = {f->api, f->sam, f->audit};
    for (size_t i = 0; i < 3; i++) {
        refused(roles[i], "UPDATE qsign.audit_checkpoints SET signature = " SIG70);
        refused(roles[i], "DELETE FROM qsign.audit_checkpoints");
        refused(roles[i], "TRUNCATE qsign.audit_checkpoints");
    }
    qs_db *who[] = {f->owner, f->super};
    const char *names[] = {"qsign_owner", "superuser"};
    for (size_t i = 0; i < 2; i++) {
        expect_append_only(who[i], names[i], "UPDATE qsign.audit_checkpoints SET seq = 5");
        expect_append_only(who[i], names[i], "DELETE FROM qsign.audit_checkpoints");
        expect_append_only(who[i], names[i], "DELETE FROM qsign.audit_checkpoints WHERE false");
        expect_append_only(who[i], names[i], "TRUNCATE qsign.audit_checkpoints");
    }
    catalog_is(f, "SELECT count(*) FROM qsign.audit_checkpoints", "1");
    catalog_is(f,
               "SELECT count(*) FROM unnest(ARRAY['qsign_api', 'qsign_sam', 'qsign_audit']) r,"
               " unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p"
               " WHERE has_table_privilege(r, 'qsign.audit_checkpoints', p)"
               " OR (p = 'UPDATE' AND has_any_column_privilege(r, 'qsign.audit_checkpoints', p))",
               "0");
}
#undef CP_ROW
#undef SIG70

/* ---- nobody but the owner creates objects ------------------------------------------------ */

static void test_no_role_creates(void **state)
{
    fixture *f = *state;
    qs_db *who[] = {f->api, f->sam, f->audit};
    const char *names[] = {"qsign_api", "qsign_sam", "qsign_audit"};
    static const char *const ddl[] = {
        "CREATE TABLE qsign.t_evil (x int)",
        "CREATE TABLE public.t_evil (x int)",
        "CREATE TABLE t_evil (x int)",
        "CREATE TEMP TABLE t_evil (x int)",
        "CREATE SCHEMA evil",
        "CREATE VIEW qsign.v_evil AS SELECT 1 AS x",
        "CREATE FUNCTION qsign.f_evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE FUNCTION public.f_evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SEQUENCE qsign.s_evil",
        "CREATE INDEX i_evil ON qsign.users (created_at)",
        "ALTER TABLE qsign.audit_log DISABLE TRIGGER audit_log_no_update_delete",
        "DROP TRIGGER audit_log_no_truncate ON qsign.audit_log",
        "DROP TABLE qsign.sads",
        "COMMENT ON TABLE qsign.users IS 'changed'",
    };
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < sizeof ddl / sizeof ddl[0]; j++) {
            qs_err got = run(who[i], ddl[j]);
            const char *st = qs_db_last_sqlstate(who[i]);
            /* 42501 insufficient privilege; 42P01/42883 never happen as the objects exist. */
            if (got != QS_ERR_DB_PERMISSION || strcmp(st, "42501") != 0)
                fail_msg("%s: %s\n  got %s (SQLSTATE %s: %s)", names[i], ddl[j], qs_err_name(got),
                         got == QS_OK ? "" : st, qs_db_last_errmsg(who[i]));
        }
    catalog_is(f,
               "SELECT count(*) FROM unnest(ARRAY['qsign_api', 'qsign_sam', 'qsign_audit']) r"
               " WHERE has_schema_privilege(r, 'qsign', 'CREATE')"
               " OR has_schema_privilege(r, 'public', 'CREATE')"
               " OR has_database_privilege(r, current_database(), 'CREATE')"
               " OR has_database_privilege(r, current_database(), 'TEMP')",
               "0");
    /* PUBLIC holds nothing in the schema. */
    catalog_is(f,
               "SELECT count(*) FROM information_schema.role_table_grants"
               " WHERE table_schema = 'qsign' AND grantee = 'PUBLIC'",
               "0");
    catalog_is(f,
               "SELECT count(*) FROM information_schema.routine_privileges"
               " WHERE routine_schema = 'qsign' AND grantee = 'PUBLIC'",
               "0");
    catalog_is(f,
               "SELECT has_schema_privilege('public', 'qsign', 'USAGE')::text || ' '"
               " || has_database_privilege('public', current_database(), 'CONNECT')::text",
               "false false");
    /* GRANT by a non-owner only warns ("no privileges were granted"); it must grant nothing. */
    for (size_t i = 0; i < 3; i++) {
        (void)run(who[i], "GRANT SELECT ON qsign.credentials TO qsign_api");
        (void)run(who[i], "GRANT UPDATE ON qsign.audit_log TO qsign_api, qsign_sam");
    }
    refused(f->api, "SELECT wrapped_key FROM qsign.credentials");
    refused(f->sam, "UPDATE qsign.audit_log SET result = 'failure'");
    /* The owner can (control). */
    allowed(f->owner, "CREATE TABLE qsign.t_owner (x int)");
}

/* ---- CHECK constraints -------------------------------------------------------------------- */

static void test_check_constraints(void **state)
{
    fixture *f = *state;
    char sql[1024];
    /* A valid row, then the same with one field wrong. */
#define USER_ROW(id, name, kind, status, mac)                                                      \
    "INSERT INTO qsign.users (id, username, kind, status, record_mac) VALUES ('00000000-0000-"     \
    "4000-8000-0000000000" id "', " name ", " kind ", " status ", " mac ")"
    allowed(f->sam, USER_ROW("d1", "'dave'", "'signer'", "'active'", MAC32));
    check_refuses(f->sam, USER_ROW("d2", "'dave2'", "'signer'", "'active'", HEX("4d", 31)));
    check_refuses(f->sam, USER_ROW("d2", "'dave2'", "'signer'", "'active'", HEX("4d", 33)));
    check_refuses(f->sam, USER_ROW("d2", "'dave2'", "'signer'", "'active'", "''::bytea"));
    check_refuses(f->sam, USER_ROW("d2", "'dave2'", "'root'", "'active'", MAC32));
    check_refuses(f->sam, USER_ROW("d2", "'dave2'", "'signer'", "'happy'", MAC32));
    check_refuses(f->sam, USER_ROW("d2", "'da ve'", "'signer'", "'active'", MAC32));
    check_refuses(f->sam, USER_ROW("d2", "''", "'signer'", "'active'", MAC32));
    check_refuses(f->sam, USER_ROW("d2", "repeat('x', 129)", "'signer'", "'active'", MAC32));
    result_is(f->sam, USER_ROW("d2", "'dave'", "'signer'", "'active'", MAC32), QS_ERR_DB_CONSTRAINT,
              "23505");
    result_is(f->sam, USER_ROW("d2", "NULL", "'signer'", "'active'", MAC32), QS_ERR_DB_CONSTRAINT,
              "23502");
#undef USER_ROW

#define CRED_ROW(id, alg, spki, key, status, mac)                                                  \
    "INSERT INTO qsign.credentials (id, user_id, key_alg, spki, wrapped_key, status,"              \
    " record_mac) VALUES ('00000000-0000-4000-8000-0000000000" id "', " ALICE ", " alg ", " spki   \
    ", " key ", " status ", " mac ")"
    allowed(f->sam, CRED_ROW("e1", "'ec-p256'", HEX("30", 91), HEX("aa", 40), "'enabled'", MAC32));
    check_refuses(f->sam, CRED_ROW("e2", "'ec-p256'", HEX("30", 91), HEX("aa", 40), "'enabled'",
                                   HEX("4d", 31)));
    check_refuses(f->sam,
                  CRED_ROW("e2", "'dsa-1024'", HEX("30", 91), HEX("aa", 40), "'enabled'", MAC32));
    check_refuses(f->sam,
                  CRED_ROW("e2", "'ec-p256'", HEX("30", 10), HEX("aa", 40), "'enabled'", MAC32));
    check_refuses(f->sam,
                  CRED_ROW("e2", "'ec-p256'", HEX("30", 91), HEX("aa", 8), "'enabled'", MAC32));
    check_refuses(f->sam, CRED_ROW("e2", "'ec-p256'", HEX("30", 91), "NULL", "'enabled'", MAC32));
    check_refuses(f->sam,
                  CRED_ROW("e2", "'ec-p256'", HEX("30", 91), HEX("aa", 40), "'destroyed'", MAC32));
    check_refuses(f->sam,
                  CRED_ROW("e2", "'ec-p256'", HEX("30", 91), HEX("aa", 40), "'gone'", MAC32));
    allowed(f->sam, CRED_ROW("e2", "'ec-p256'", HEX("30", 91), "NULL", "'destroyed'", MAC32));
#undef CRED_ROW
    check_refuses(f->sam, "UPDATE qsign.credentials SET failed_attempts = -1 WHERE id = " CRED_A);

    check_refuses(f->sam, "UPDATE qsign.factor_pin SET record_mac = " HEX("4d", 31));
    check_refuses(f->sam, "UPDATE qsign.factor_pin SET verifier = '$argon2i$v=19$m=8,t=1,p=1$x$y'");
    check_refuses(f->sam,
                  "UPDATE qsign.factor_pin SET verifier = '$argon2id$' || repeat('x', 118)");
    check_refuses(f->sam, "UPDATE qsign.factor_totp SET record_mac = " HEX("4d", 33));
    check_refuses(f->sam, "UPDATE qsign.factor_totp SET seed_ciphertext = " HEX("cc", 8));
    check_refuses(f->sam, "UPDATE qsign.factor_totp SET digits = 4");
    check_refuses(f->sam, "UPDATE qsign.factor_totp SET algorithm = 'MD5'");
    check_refuses(f->sam, "UPDATE qsign.factor_totp SET last_step = -1");

#define SAD_ROW(hash, user, cred, alg, num, rem, hs, exp, mac)                                     \
    "INSERT INTO qsign.sads (sad_hash, user_id, credential_id, hash_alg, num_signatures,"          \
    " remaining, hashes_sha256, expires_at, auth_event_writer, auth_event_seq, record_mac)"        \
    " VALUES (" hash ", " user ", " cred ", " alg ", " num ", " rem ", " hs ", " exp               \
    ", 'sam-1', 1, " mac ")"
#define SHA256_OID "'2.16.840.1.101.3.4.2.1'"
#define SOON       "now() + interval '5 minutes'"
    allowed(f->sam, SAD_ROW(HEX("61", 32), ALICE, CRED_A, SHA256_OID, "3", "3", HEX("62", 32), SOON,
                            MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 31), ALICE, CRED_A, SHA256_OID, "3", "3", HEX("62", 32),
                                  SOON, MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, SHA256_OID, "3", "3", HEX("62", 32),
                                  SOON, HEX("4d", 31)));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, SHA256_OID, "3", "3", HEX("62", 31),
                                  SOON, MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, "'1.2.840.113549.2.5'", "3", "3",
                                  HEX("62", 32), SOON, MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, SHA256_OID, "3", "4", HEX("62", 32),
                                  SOON, MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, SHA256_OID, "0", "0", HEX("62", 32),
                                  SOON, MAC32));
    check_refuses(f->sam, SAD_ROW(HEX("63", 32), ALICE, CRED_A, SHA256_OID, "3", "3", HEX("62", 32),
                                  "now() - interval '1 second'", MAC32));
    /* Bob's SAD for Alice's credential. */
    result_is(f->sam,
              SAD_ROW(HEX("63", 32), BOB, CRED_A, SHA256_OID, "3", "3", HEX("62", 32), SOON, MAC32),
              QS_ERR_DB_CONSTRAINT, "23503");
#undef SAD_ROW

    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, record_mac) VALUES (%s, %s, %s)",
             HEX("61", 32), HEX("e1", 32), MAC32);
    allowed(f->sam, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, record_mac) VALUES (%s, %s, %s)",
             HEX("61", 32), HEX("e2", 31), MAC32);
    check_refuses(f->sam, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, record_mac) VALUES (%s, %s, %s)",
             HEX("61", 32), HEX("e2", 32), HEX("4d", 16));
    check_refuses(f->sam, sql);

    static const char head[] = "INSERT INTO qsign.audit_log (writer_id, seq, event_time,"
                               " event_type, actor, result, sad_ref, details, prev_hash,"
                               " record_hash, record_mac) VALUES ('sam-1', 2, now(), ";
    const struct {
        const char *rest;
    } bad_audit[] = {
        {"'x', 'a', 'success', NULL, '{}', " HEX("a1", 32) ", " HEX("a2", 32) ", " HEX("4d",
                                                                                       31) ")"},
        {"'x', 'a', 'success', NULL, '{}', " HEX("a1", 32) ", " HEX("a2", 31) ", " MAC32 ")"},
        {"'x', 'a', 'success', NULL, '{}', " HEX("a1", 33) ", " HEX("a2", 32) ", " MAC32 ")"},
        {"'x', 'a', 'success', " HEX("5a", 31) ", '{}', " HEX("a1", 32) ", " HEX(
            "a2", 32) ", " MAC32 ")"},
        {"'x', 'a', 'maybe', NULL, '{}', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")"},
        {"'X Y', 'a', 'success', NULL, '{}', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")"},
        {"'x', '', 'success', NULL, '{}', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")"},
        {"'x', 'a', 'success', NULL, '[1]', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")"},
    };
    for (size_t i = 0; i < sizeof bad_audit / sizeof bad_audit[0]; i++) {
        snprintf(sql, sizeof sql, "%s%s", head, bad_audit[i].rest);
        check_refuses(f->sam, sql);
    }
    /* details: the text of a JSON object, at most 16384 bytes. */
    snprintf(sql, sizeof sql, "%s%s", head,
             "'x', 'a', 'success', NULL, repeat(' ', 16383) || '{}', " HEX("a1", 32) ", " HEX(
                 "a2", 32) ", " MAC32 ")");
    check_refuses(f->sam, sql);
    snprintf(sql, sizeof sql, "%s%s", head,
             "'x', 'a', 'success', NULL, '\"{}\"', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32
                                                                                      ")");
    check_refuses(f->sam, sql);
    /* Not JSON at all: the cast in the CHECK fails first (22P02, not 23514). */
    snprintf(sql, sizeof sql, "%s%s", head,
             "'x', 'a', 'success', NULL, '{x', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")");
    result_is(f->sam, sql, QS_ERR_DB, "22P02");
    snprintf(sql, sizeof sql, "%s%s", head,
             "'x', 'a', 'success', " SAD_A
             ", '{\"hash\": \"00\"}', " HEX("a1", 32) ", " HEX("a2", 32) ", " MAC32 ")");
    allowed(f->sam, sql);
    /* Stored byte for byte (jsonb would reorder keys, drop spaces and duplicates). */
    allowed(f->sam, "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, actor,"
                    " result, details, prev_hash, record_hash, record_mac) VALUES ('sam-1', 3,"
                    " now(), 'x', 'a', 'success', '{\"b\": 1,  \"a\":[ 2 ], \"a\": 3}', " HEX(
                        "a2", 32) ", " HEX("a3", 32) ", " MAC32 ")");
    catalog_is(f, "SELECT details FROM qsign.audit_log WHERE seq = 3",
               "{\"b\": 1,  \"a\":[ 2 ], \"a\": 3}");
    allowed(f->sam, "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, actor,"
                    " result, details, prev_hash, record_hash, record_mac) VALUES ('sam-1', 4,"
                    " now(), 'x', 'a', 'success', repeat(' ', 16382) || '{}', " HEX(
                        "a3", 32) ", " HEX("a4", 32) ", " MAC32 ")");
    catalog_is(f, "SELECT octet_length(details) FROM qsign.audit_log WHERE seq = 4", "16384");
    catalog_is(f,
               "SELECT data_type FROM information_schema.columns WHERE table_schema = 'qsign'"
               " AND table_name = 'audit_log' AND column_name = 'details'",
               "text");
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_reads_only_public_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sam_does_its_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sam_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_reads_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log_trigger_refuses_owner_and_superuser, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_role_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_constraints, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Schema migrations against a real server: from empty to the newest version with every table
 * and column commented, a second run that applies and changes nothing, changed or unknown
 * migrations refused, a failing migration rolled back, and concurrent migrators applying each
 * migration exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "db/db.h"
#include "db/db_internal.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

typedef struct fixture {
    qs_test_pg *pg;
    qs_db *db; /* as qsign_owner */
    PGconn *su;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pg = qs_test_pg_create("migrate");
    assert_int_equal(qs_db_connect(f->pg->owner_conninfo, &f->db), QS_OK);
    f->su = qs_test_pg_connect(f->pg->super_conninfo);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    PQfinish(f->su);
    qs_db_free(f->db);
    qs_test_pg_destroy(f->pg);
    free(f);
    return 0;
}

static void count_cb(const qs_db_migration *m, void *cls)
{
    size_t *seen = cls;
    assert_int_equal(m->version, *seen + 1);
    (*seen)++;
}

static long query_long(PGconn *c, const char *sql)
{
    char *v = qs_test_pg_query_value(c, sql);
    assert_non_null(v);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

typedef struct version_ctx {
    uint32_t version;
} version_ctx;

static qs_err version_cb(qs_db *db, void *cls)
{
    return qs_db_schema_version(db, &((version_ctx *)cls)->version);
}

/* The embedded migrations plus `extra` (NULL-terminated list of SQL texts), for tests that need
 * a changed or longer set.  Names are "9NNN-extra". */
typedef struct migration_set {
    qs_db_migration *m;
    size_t n;
    char (*names)[32];
} migration_set;

static migration_set make_set(const char *const *extra)
{
    size_t base = qs_db_migration_count(), n_extra = 0;
    while (extra != NULL && extra[n_extra] != NULL)
        n_extra++;
    migration_set s = {.n = base + n_extra};
    s.m = calloc(s.n, sizeof *s.m);
    s.names = calloc(n_extra + 1, sizeof *s.names);
    assert_non_null(s.m);
    assert_non_null(s.names);
    for (size_t i = 0; i < base; i++)
        s.m[i] = *qs_db_migration_at(i);
    for (size_t i = 0; i < n_extra; i++) {
        snprintf(s.names[i], sizeof s.names[i], "%04zu-extra", base + i + 1);
        s.m[base + i] = (qs_db_migration){.version = (uint32_t)(base + i + 1),
                                          .name = s.names[i],
                                          .sql = extra[i],
                                          .sql_len = strlen(extra[i])};
    }
    return s;
}

static void free_set(migration_set *s)
{
    free(s->m);
    free(s->names);
}

static void test_embedded_set_is_well_formed(void **state)
{
    (void)state;
    size_t n = qs_db_migration_count();
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        const qs_db_migration *m = qs_db_migration_at(i);
        assert_non_null(m);
        assert_int_equal(m->version, i + 1);
        assert_int_equal(strlen(m->sql), m->sql_len);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%04zu-", i + 1);
        assert_memory_equal(m->name, prefix, 5);
    }
    assert_null(qs_db_migration_at(n));
    assert_string_equal(qs_db_migration_at(0)->name, "0001-initial");
}

static void test_migrate_from_empty(void **state)
{
    fixture *f = *state;
    size_t n_migr = qs_db_migration_count();
    uint32_t current = 99;
    size_t applied = 0, seen = 0;

    assert_int_equal(qs_db_migration_status(f->db, &current), QS_OK);
    assert_int_equal(current, 0);
    assert_int_equal(qs_db_check_schema(f->db), QS_ERR_DB_SCHEMA);

    assert_int_equal(qs_db_migrate(f->db, count_cb, &seen, &applied), QS_OK);
    assert_int_equal(applied, n_migr);
    assert_int_equal(seen, n_migr);

    version_ctx v = {0};
    assert_int_equal(qs_db_run_txn(f->db, "version", version_cb, &v), QS_OK);
    assert_int_equal(v.version, n_migr);
    assert_int_equal(qs_db_migration_status(f->db, &current), QS_OK);
    assert_int_equal(current, n_migr);
    assert_int_equal(qs_db_check_schema(f->db), QS_OK);
    /* The daemons' roles can check the schema at start-up. */
    const char *roles[] = {f->pg->api_conninfo, f->pg->sam_conninfo, f->pg->audit_conninfo};
    for (size_t i = 0; i < 3; i++) {
        qs_db *d = NULL;
        assert_int_equal(qs_db_connect(roles[i], &d), QS_OK);
        assert_int_equal(qs_db_check_schema(d), QS_OK);
        qs_db_free(d);
    }

    /* Recorded once each, with the SHA-256 of the embedded SQL. */
    assert_int_equal(query_long(f->su, "SELECT count(*) FROM qsign.schema_migration"), n_migr);
    for (size_t i = 0; i < n_migr; i++) {
        const qs_db_migration *m = qs_db_migration_at(i);
        uint8_t sha[crypto_hash_sha256_BYTES];
        char hex[2 * sizeof sha + 1], sql[256];
        crypto_hash_sha256(sha, (const unsigned char *)m->sql, m->sql_len);
        sodium_bin2hex(hex, sizeof hex, sha, sizeof sha);
        snprintf(sql, sizeof sql,
                 "SELECT name || ' ' || encode(sha256, 'hex') FROM qsign.schema_migration"
                 " WHERE version = %u",
                 m->version);
        char *got = qs_test_pg_query_value(f->su, sql);
        char want[128];
        snprintf(want, sizeof want, "%s %s", m->name, hex);
        assert_string_equal(got, want);
        free(got);
    }

    /* Every table and every column carries a comment (read from the catalog). */
    assert_true(query_long(f->su, "SELECT count(*) FROM pg_class"
                                  " WHERE relnamespace = 'qsign'::regnamespace"
                                  " AND relkind IN ('r', 'p')") >= 9);
    char *missing =
        qs_test_pg_query_value(f->su, "SELECT string_agg(c.relname, ', ') FROM pg_class c"
                                      " WHERE c.relnamespace = 'qsign'::regnamespace"
                                      " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                                      " AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''");
    if (missing != NULL)
        fail_msg("tables without a comment: %s", missing);
    missing =
        qs_test_pg_query_value(f->su, "SELECT string_agg(c.relname || '.' || a.attname, ', ')"
                                      " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
                                      " WHERE c.relnamespace = 'qsign'::regnamespace"
                                      " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                                      " AND a.attnum > 0 AND NOT a.attisdropped"
                                      " AND coalesce(col_description(c.oid, a.attnum), '') = ''");
    if (missing != NULL)
        fail_msg("columns without a comment: %s", missing);
    assert_true(query_long(f->su, "SELECT count(*) FROM pg_attribute a JOIN pg_class c"
                                  " ON a.attrelid = c.oid"
                                  " WHERE c.relnamespace = 'qsign'::regnamespace"
                                  " AND c.relkind = 'r' AND a.attnum > 0"
                                  " AND col_description(c.oid, a.attnum) IS NOT NULL") >= 50);
}

/* A digest of everything a migration could have changed, including row versions (xmin). */
static char *schema_fingerprint(PGconn *su)
{
    return qs_test_pg_query_value(
        su, "SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM ("
            " SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || c.xmin::text || ' '"
            "   || coalesce(c.relacl::text, '') FROM pg_class c"
            "   WHERE c.relnamespace IN ('qsign'::regnamespace, 'public'::regnamespace)"
            " UNION ALL SELECT 'att ' || c.relname || '.' || a.attname || ' '"
            "   || format_type(a.atttypid, a.atttypmod) || ' ' || coalesce(a.attacl::text, '')"
            "   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            "   WHERE c.relnamespace = 'qsign'::regnamespace AND a.attnum > 0"
            " UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid)"
            "   FROM pg_constraint WHERE connamespace = 'qsign'::regnamespace"
            " UNION ALL SELECT 'trg ' || pg_get_triggerdef(t.oid) FROM pg_trigger t"
            "   JOIN pg_class c ON c.oid = t.tgrelid"
            "   WHERE c.relnamespace = 'qsign'::regnamespace"
            " UNION ALL SELECT 'des ' || d.objoid::text || ' ' || d.objsubid || ' ' || d.xmin::text"
            "   || ' ' || d.description FROM pg_description d"
            " UNION ALL SELECT 'nsp ' || nspname || ' ' || xmin::text || ' '"
            "   || coalesce(nspacl::text, '') FROM pg_namespace"
            " UNION ALL SELECT 'db ' || xmin::text || ' ' || coalesce(datacl::text, '')"
            "   FROM pg_database WHERE datname = current_database()"
            " UNION ALL SELECT 'mig ' || version || ' ' || name || ' ' || encode(sha256, 'hex')"
            "   || ' ' || applied_at::text || ' ' || xmin::text FROM qsign.schema_migration"
            ") s(x)");
}

static void test_migrate_twice_changes_nothing(void **state)
{
    fixture *f = *state;
    size_t applied = 0, seen = 0;

    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_OK);
    assert_int_equal(applied, qs_db_migration_count());
    char *before = schema_fingerprint(f->su);

    /* From a new connection too, so nothing is cached. */
    qs_db *again = NULL;
    assert_int_equal(qs_db_connect(f->pg->owner_conninfo, &again), QS_OK);
    applied = 99;
    assert_int_equal(qs_db_migrate(again, count_cb, &seen, &applied), QS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(seen, 0);
    qs_db_free(again);
    assert_int_equal(qs_db_migrate(f->db, count_cb, &seen, &applied), QS_OK);
    assert_int_equal(applied, 0);

    char *after = schema_fingerprint(f->su);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_changed_migration_is_refused(void **state)
{
    fixture *f = *state;
    size_t applied = 99;
    uint32_t current;

    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_OK);

    /* The same migration with one byte more, plus a new one that must not be applied. */
    migration_set s = make_set((const char *const[]){"CREATE TABLE qsign.t_new (x int)", NULL});
    size_t len = s.m[0].sql_len + 2;
    char *changed = malloc(len + 1);
    assert_non_null(changed);
    memcpy(changed, s.m[0].sql, s.m[0].sql_len);
    memcpy(changed + s.m[0].sql_len, "\n\n", 3);
    s.m[0].sql = changed;
    s.m[0].sql_len = len;

    assert_int_equal(qs_db_migrate_set(f->db, s.m, s.n, NULL, NULL, &applied), QS_ERR_DB_SCHEMA);
    assert_int_equal(applied, 0);
    assert_int_equal(qs_db_migration_status_set(f->db, s.m, s.n, &current), QS_ERR_DB_SCHEMA);
    assert_null(qs_test_pg_query_value(f->su, "SELECT to_regclass('qsign.t_new')::text"));

    /* A different name for the same version. */
    s.m[0].sql = qs_db_migration_at(0)->sql;
    s.m[0].sql_len = qs_db_migration_at(0)->sql_len;
    s.m[0].name = "0001-renamed";
    assert_int_equal(qs_db_migrate_set(f->db, s.m, s.n, NULL, NULL, &applied), QS_ERR_DB_SCHEMA);
    assert_int_equal(applied, 0);
    free(changed);
    free_set(&s);

    /* The checksum recorded in the database altered. */
    assert_int_equal(qs_db_check_schema(f->db), QS_OK);
    qs_test_pg_exec_ok(f->su, "UPDATE qsign.schema_migration SET sha256 = decode(repeat('00',"
                              " 32), 'hex') WHERE version = 1");
    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_ERR_DB_SCHEMA);
    assert_int_equal(qs_db_migration_status(f->db, &current), QS_ERR_DB_SCHEMA);
    assert_int_equal(current, qs_db_migration_count());
    assert_int_equal(qs_db_check_schema(f->db), QS_ERR_DB_SCHEMA);
}

static void test_newer_database_is_refused(void **state)
{
    fixture *f = *state;
    size_t applied = 0;
    uint32_t current;
    migration_set s =
        make_set((const char *const[]){"CREATE TABLE qsign.t_future (x int);\n"
                                       "COMMENT ON TABLE qsign.t_future IS 'a later migration';\n"
                                       "COMMENT ON COLUMN qsign.t_future.x IS 'a column';\n",
                                       NULL});

    assert_int_equal(qs_db_migrate_set(f->db, s.m, s.n, NULL, NULL, &applied), QS_OK);
    assert_int_equal(applied, s.n);
    /* This binary knows one migration fewer than the database has. */
    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_ERR_DB_SCHEMA);
    assert_int_equal(applied, 0);
    assert_int_equal(qs_db_migration_status(f->db, &current), QS_ERR_DB_SCHEMA);
    assert_int_equal(current, s.n);
    assert_int_equal(qs_db_check_schema(f->db), QS_ERR_DB_SCHEMA);
    free_set(&s);
}

static void test_new_migration_applies_alone(void **state)
{
    fixture *f = *state;
    size_t applied = 0, seen = 0;
    uint32_t current;

    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_OK);
    migration_set s = make_set((const char *const[]){"CREATE TABLE qsign.t_a (x int)",
                                                     "CREATE TABLE qsign.t_b (x int)", NULL});
    assert_int_equal(qs_db_migration_status_set(f->db, s.m, s.n, &current), QS_OK);
    assert_int_equal(current, qs_db_migration_count());
    seen = qs_db_migration_count();
    assert_int_equal(qs_db_migrate_set(f->db, s.m, s.n, count_cb, &seen, &applied), QS_OK);
    assert_int_equal(applied, 2);
    assert_int_equal(seen, s.n);
    assert_int_equal(query_long(f->su, "SELECT count(*) FROM qsign.schema_migration"), s.n);
    free_set(&s);
}

static void test_failing_migration_rolls_back(void **state)
{
    fixture *f = *state;
    size_t applied = 0;
    migration_set s = make_set((const char *const[]){
        "CREATE TABLE qsign.t_ok (x int)",
        "CREATE TABLE qsign.t_half (x int);\nSELECT 1 / 0;\n",
        "CREATE TABLE qsign.t_never (x int)",
        NULL,
    });

    assert_int_equal(qs_db_migrate_set(f->db, s.m, s.n, NULL, NULL, &applied), QS_ERR_DB);
    assert_string_equal(qs_db_last_sqlstate(f->db), "22012");
    /* Everything before the failing migration stays, nothing of it or after it exists. */
    assert_int_equal(applied, s.n - 2);
    assert_int_equal(query_long(f->su, "SELECT max(version) FROM qsign.schema_migration"), s.n - 2);
    char *t = qs_test_pg_query_value(f->su, "SELECT to_regclass('qsign.t_ok')::text");
    assert_non_null(t);
    free(t);
    assert_null(qs_test_pg_query_value(f->su, "SELECT to_regclass('qsign.t_half')::text"));
    assert_null(qs_test_pg_query_value(f->su, "SELECT to_regclass('qsign.t_never')::text"));
    free_set(&s);
}

static void test_schema_version_without_schema(void **state)
{
    fixture *f = *state;
    version_ctx v = {.version = 7};
    assert_int_equal(qs_db_run_txn(f->db, "version", version_cb, &v), QS_ERR_DB_SCHEMA);
    assert_int_equal(v.version, 0);
}

static void expect_migrate_refused(const char *conninfo, const char *who)
{
    qs_db *db = NULL;
    size_t applied = 99;
    assert_int_equal(qs_db_connect(conninfo, &db), QS_OK);
    qs_err r = qs_db_migrate(db, NULL, NULL, &applied);
    if (r != QS_ERR_DB_PERMISSION || strcmp(qs_db_last_sqlstate(db), "42501") != 0)
        fail_msg("migrate as %s: got %s (SQLSTATE %s), want QS_ERR_DB_PERMISSION", who,
                 qs_err_name(r), qs_db_last_sqlstate(db));
    assert_int_equal(applied, 0);
    qs_db_free(db);
}

static void test_migrate_only_as_owner(void **state)
{
    fixture *f = *state;
    size_t applied = 0;

    /* Neither the superuser nor a service role, on an empty database... */
    expect_migrate_refused(f->pg->super_conninfo, "superuser");
    expect_migrate_refused(f->pg->sam_conninfo, "qsign_sam");
    assert_null(qs_test_pg_query_value(f->su, "SELECT to_regnamespace('qsign')::text"));
    /* ...nor on a migrated one. */
    assert_int_equal(qs_db_migrate(f->db, NULL, NULL, &applied), QS_OK);
    expect_migrate_refused(f->pg->super_conninfo, "superuser");
    expect_migrate_refused(f->pg->sam_conninfo, "qsign_sam");
    expect_migrate_refused(f->pg->api_conninfo, "qsign_api");
    /* A schema made by someone else is not taken over. */
    qs_test_pg *other = qs_test_pg_create("migrate_foreign");
    PGconn *su = qs_test_pg_connect(other->super_conninfo);
    qs_test_pg_exec_ok(su, "CREATE SCHEMA qsign");
    PQfinish(su);
    expect_migrate_refused(other->owner_conninfo, "qsign_owner (foreign schema)");
    qs_test_pg_destroy(other);
}

/* ---- concurrent migrators ----------------------------------------------------------------- */

#define QS_MIGRATORS 4

typedef struct migrator {
    const char *conninfo;
    const qs_db_migration *set;
    size_t n;
    pthread_barrier_t *start;
    size_t applied;
    qs_err result;
} migrator;

static void *migrator_thread(void *arg)
{
    migrator *m = arg;
    qs_db *db = NULL;
    m->result = qs_db_connect(m->conninfo, &db);
    pthread_barrier_wait(m->start);
    if (m->result == QS_OK)
        m->result = qs_db_migrate_set(db, m->set, m->n, NULL, NULL, &m->applied);
    qs_db_free(db);
    return NULL;
}

static void test_concurrent_migrators(void **state)
{
    fixture *f = *state;
    /* A slow extra migration widens the window in which the others wait on the lock. */
    migration_set s =
        make_set((const char *const[]){"SELECT pg_sleep(0.3);\nCREATE TABLE qsign.t_slow (x int)",
                                       "CREATE TABLE qsign.t_after (x int)", NULL});
    pthread_barrier_t start;
    pthread_t th[QS_MIGRATORS];
    migrator m[QS_MIGRATORS];

    assert_int_equal(pthread_barrier_init(&start, NULL, QS_MIGRATORS), 0);
    for (int i = 0; i < QS_MIGRATORS; i++) {
        m[i] = (migrator){.conninfo = f->pg->owner_conninfo, .set = s.m, .n = s.n, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, migrator_thread, &m[i]), 0);
    }
    size_t total = 0;
    for (int i = 0; i < QS_MIGRATORS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(m[i].result, QS_OK);
        total += m[i].applied;
    }
    pthread_barrier_destroy(&start);

    assert_int_equal(total, s.n);
    assert_int_equal(query_long(f->su, "SELECT count(*) FROM qsign.schema_migration"), s.n);
    assert_int_equal(
        query_long(f->su, "SELECT count(DISTINCT version) FROM qsign.schema_migration"), s.n);
    free_set(&s);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_set_is_well_formed),
        cmocka_unit_test_setup_teardown(test_migrate_from_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_twice_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_migration_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_migration_applies_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_migration_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version_without_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_only_as_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_migrators, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The transaction runner and the connection layer against a real server: serialization
 * failures and deadlocks are retried and then succeed, retries are bounded, a callback error
 * rolls back, a swallowed statement error does not commit, a backend killed by the server is
 * reconnected with its prepared statements made again, and values round-trip in binary form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/db_internal.h"
#include "db/db_testing.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

typedef struct fixture {
    qs_test_pg *pg;
    qs_db *db; /* as qsign_owner */
} fixture;

static qs_err setup_counters(qs_db *db, void *cls)
{
    (void)cls;
    qs_err r = qs_db_test_counter_create(db);
    if (r == QS_OK)
        r = qs_db_test_counter_set(db, 1, 0);
    if (r == QS_OK)
        r = qs_db_test_counter_set(db, 2, 0);
    return r;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pg = qs_test_pg_create("txn");
    assert_int_equal(qs_db_connect(f->pg->owner_conninfo, &f->db), QS_OK);
    assert_int_equal(qs_db_run_txn(f->db, "setup", setup_counters, NULL), QS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_db_free(f->db);
    qs_test_pg_destroy(f->pg);
    free(f);
    return 0;
}

typedef struct get_ctx {
    int32_t id;
    int64_t value;
} get_ctx;

static qs_err get_cb(qs_db *db, void *cls)
{
    get_ctx *g = cls;
    return qs_db_test_counter_get(db, g->id, &g->value);
}

static int64_t counter(qs_db *db, int32_t id)
{
    get_ctx g = {.id = id, .value = -1};
    assert_int_equal(qs_db_run_txn_opt(db, "get", QS_DB_TXN_READ_ONLY, get_cb, &g), QS_OK);
    return g.value;
}

/* ---- serialization failure ---------------------------------------------------------------- */

typedef struct race {
    pthread_barrier_t barrier;
    const char *conninfo;
} race;

typedef struct racer {
    race *race;
    int attempts;
    char seen_sqlstate[6]; /* SQLSTATE of a failed statement inside the callback */
    qs_err result;
    /* deadlock variant: the two rows in this racer's order, and the values it writes */
    int32_t first, second;
    int64_t v1, v2;
} racer;

/* Read-modify-write of counter 1 under SERIALIZABLE: both racers read before either writes. */
static qs_err increment_cb(qs_db *db, void *cls)
{
    racer *r = cls;
    int64_t v;
    r->attempts++;
    qs_err e = qs_db_test_counter_get(db, 1, &v);
    if (e != QS_OK)
        goto fail;
    if (r->attempts == 1)
        pthread_barrier_wait(&r->race->barrier);
    e = qs_db_test_counter_set(db, 1, v + 1);
    if (e != QS_OK)
        goto fail;
    return QS_OK;
fail:
    snprintf(r->seen_sqlstate, sizeof r->seen_sqlstate, "%s", qs_db_last_sqlstate(db));
    return e;
}

static void *increment_thread(void *arg)
{
    racer *r = arg;
    qs_db *db = NULL;
    r->result = qs_db_connect(r->race->conninfo, &db);
    if (r->result == QS_OK)
        r->result = qs_db_run_txn(db, "increment", increment_cb, r);
    qs_db_free(db);
    return NULL;
}

static void test_serialization_failure_is_retried(void **state)
{
    fixture *f = *state;
    race rc = {.conninfo = f->pg->owner_conninfo};
    racer a = {.race = &rc}, b = {.race = &rc};
    pthread_t ta, tb;

    assert_int_equal(pthread_barrier_init(&rc.barrier, NULL, 2), 0);
    assert_int_equal(pthread_create(&ta, NULL, increment_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, increment_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&rc.barrier);

    assert_int_equal(a.result, QS_OK);
    assert_int_equal(b.result, QS_OK);
    /* Without the retry one would have failed; without SERIALIZABLE an update would be lost. */
    assert_int_equal(counter(f->db, 1), 2);
    assert_true(a.attempts + b.attempts >= 3);
    assert_true(strcmp(a.seen_sqlstate, "40001") == 0 || strcmp(b.seen_sqlstate, "40001") == 0);
}

/* ---- deadlock ----------------------------------------------------------------------------- */

static qs_err crosswise_cb(qs_db *db, void *cls)
{
    racer *r = cls;
    r->attempts++;
    qs_err e = qs_db_test_counter_set(db, r->first, r->v1);
    if (e != QS_OK)
        goto fail;
    if (r->attempts == 1)
        pthread_barrier_wait(&r->race->barrier);
    e = qs_db_test_counter_set(db, r->second, r->v2);
    if (e != QS_OK)
        goto fail;
    return QS_OK;
fail:
    snprintf(r->seen_sqlstate, sizeof r->seen_sqlstate, "%s", qs_db_last_sqlstate(db));
    return e;
}

static void *crosswise_thread(void *arg)
{
    racer *r = arg;
    qs_db *db = NULL;
    r->result = qs_db_connect(r->race->conninfo, &db);
    if (r->result == QS_OK)
        r->result = qs_db_run_txn_opt(db, "crosswise", QS_DB_TXN_READ_COMMITTED, crosswise_cb, r);
    qs_db_free(db);
    return NULL;
}

static void test_deadlock_is_retried(void **state)
{
    fixture *f = *state;
    race rc = {.conninfo = f->pg->owner_conninfo};
    racer a = {.race = &rc, .first = 1, .second = 2, .v1 = 10, .v2 = 11};
    racer b = {.race = &rc, .first = 2, .second = 1, .v1 = 20, .v2 = 21};
    pthread_t ta, tb;

    assert_int_equal(pthread_barrier_init(&rc.barrier, NULL, 2), 0);
    assert_int_equal(pthread_create(&ta, NULL, crosswise_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, crosswise_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&rc.barrier);

    assert_int_equal(a.result, QS_OK);
    assert_int_equal(b.result, QS_OK);
    /* At least one retry; more when a retried transaction meets the lock again (a loaded
     * machine), but never past the runner's bound. */
    assert_true(a.attempts + b.attempts >= 3);
    assert_true(a.attempts <= QS_DB_TXN_MAX_ATTEMPTS && b.attempts <= QS_DB_TXN_MAX_ATTEMPTS);
    assert_true(strcmp(a.seen_sqlstate, "40P01") == 0 || strcmp(b.seen_sqlstate, "40P01") == 0);
    /* Both rows come from whichever transaction committed last. */
    int64_t c1 = counter(f->db, 1), c2 = counter(f->db, 2);
    assert_true((c1 == 10 && c2 == 11) || (c1 == 21 && c2 == 20));
}

/* ---- bounded retries, rollback, misuse ---------------------------------------------------- */

static qs_err always_retry_cb(qs_db *db, void *cls)
{
    int *calls = cls;
    (*calls)++;
    qs_err e = qs_db_test_counter_set(db, 1, 1000 + *calls);
    return e != QS_OK ? e : QS_ERR_DB_RETRY;
}

static void test_retries_are_bounded(void **state)
{
    fixture *f = *state;
    int calls = 0;
    assert_int_equal(qs_db_run_txn(f->db, "always_retry", always_retry_cb, &calls),
                     QS_ERR_DB_RETRY);
    assert_int_equal(calls, QS_DB_TXN_MAX_ATTEMPTS);
    assert_int_equal(counter(f->db, 1), 0);
}

static qs_err write_then_fail_cb(qs_db *db, void *cls)
{
    (void)cls;
    qs_err e = qs_db_test_counter_set(db, 1, 42);
    if (e != QS_OK)
        return e;
    e = qs_db_test_counter_set(db, 3, 7);
    if (e != QS_OK)
        return e;
    return QS_ERR_INVALID_ARGUMENT;
}

static void test_callback_error_rolls_back(void **state)
{
    fixture *f = *state;
    get_ctx g = {.id = 3};
    assert_int_equal(qs_db_run_txn(f->db, "write_then_fail", write_then_fail_cb, NULL),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(counter(f->db, 1), 0);
    assert_int_equal(qs_db_run_txn(f->db, "get3", get_cb, &g), QS_ERR_NOT_FOUND);
}

static qs_err write_commit_cb(qs_db *db, void *cls)
{
    return qs_db_test_counter_set(db, 1, *(int64_t *)cls);
}

static void test_commit_is_durable(void **state)
{
    fixture *f = *state;
    int64_t v = 77;
    assert_int_equal(qs_db_run_txn(f->db, "write", write_commit_cb, &v), QS_OK);
    /* Seen from another connection. */
    qs_db *other = NULL;
    assert_int_equal(qs_db_connect(f->pg->owner_conninfo, &other), QS_OK);
    assert_int_equal(counter(other, 1), 77);
    qs_db_free(other);
}

/* The test database has no migrations, so the schema-version query fails (42P01). */
static qs_err swallow_error_cb(qs_db *db, void *cls)
{
    (void)cls;
    uint32_t version;
    qs_err e = qs_db_test_counter_set(db, 1, 5);
    if (e != QS_OK)
        return e;
    e = qs_db_schema_version(db, &version);
    assert_int_equal(e, QS_ERR_DB_SCHEMA);
    assert_string_equal(qs_db_last_sqlstate(db), "42P01");
    return QS_OK; /* wrong on purpose */
}

static void test_swallowed_error_does_not_commit(void **state)
{
    fixture *f = *state;
    assert_int_equal(qs_db_run_txn(f->db, "swallow", swallow_error_cb, NULL), QS_ERR_INTERNAL);
    assert_int_equal(counter(f->db, 1), 0);
}

static qs_err nested_cb(qs_db *db, void *cls)
{
    (void)cls;
    return qs_db_run_txn(db, "inner", get_cb, &(get_ctx){.id = 1});
}

static void test_nested_transaction_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(qs_db_run_txn(f->db, "outer", nested_cb, NULL), QS_ERR_INTERNAL);
    assert_int_equal(counter(f->db, 1), 0);
}

static void test_read_only_refuses_writes(void **state)
{
    fixture *f = *state;
    int64_t v = 9;
    assert_int_equal(qs_db_run_txn_opt(f->db, "ro", QS_DB_TXN_READ_ONLY, write_commit_cb, &v),
                     QS_ERR_DB_UNAVAILABLE);
    assert_string_equal(qs_db_last_sqlstate(f->db), "25006");
    assert_int_equal(counter(f->db, 1), 0);
}

/* ---- reconnect ---------------------------------------------------------------------------- */

static void kill_backends(const fixture *f)
{
    PGconn *su = qs_test_pg_connect(f->pg->super_conninfo);
    qs_test_pg_exec_ok(su, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    for (int i = 0; i < 500; i++) {
        char *n = qs_test_pg_query_value(su, "SELECT count(*) FROM pg_stat_activity"
                                             " WHERE datname = current_database()"
                                             " AND pid <> pg_backend_pid()");
        bool gone = strcmp(n, "0") == 0;
        free(n);
        if (gone)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 10000000L}, NULL);
    }
    PQfinish(su);
}

static void test_reconnect_after_backend_killed(void **state)
{
    fixture *f = *state;
    assert_int_equal(counter(f->db, 2), 0); /* prepares the statement on this backend */
    uint64_t gen = qs_db_generation(f->db);

    kill_backends(f);
    assert_int_equal(counter(f->db, 2), 0);
    assert_int_equal(qs_db_generation(f->db), gen + 1);

    /* Again, with a write: the prepared statements were forgotten and made anew. */
    kill_backends(f);
    int64_t v = 5;
    assert_int_equal(qs_db_run_txn(f->db, "write", write_commit_cb, &v), QS_OK);
    assert_int_equal(qs_db_generation(f->db), gen + 2);
    assert_int_equal(counter(f->db, 1), 5);
}

static void test_connect_failure(void **state)
{
    fixture *f = *state;
    qs_db *db = (qs_db *)0x1;
    assert_int_equal(qs_db_connect("host=/nonexistent-qsign-dir port=1 connect_timeout=2", &db),
                     QS_ERR_DB_UNAVAILABLE);
    assert_null(db);

    /* A role that does not exist. */
    char ci[2048];
    snprintf(ci, sizeof ci, "%s user=qsign_nobody", f->pg->owner_conninfo);
    db = (qs_db *)0x1;
    assert_int_equal(qs_db_connect(ci, &db), QS_ERR_DB_UNAVAILABLE);
    assert_null(db);
    qs_db_free(NULL);
}

/* ---- SQLSTATE mapping and values ---------------------------------------------------------- */

static void test_sqlstate_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *sqlstate;
        qs_err want;
    } cases[] = {
        {"40001", QS_ERR_DB_RETRY},
        {"40P01", QS_ERR_DB_RETRY},
        {"23505", QS_ERR_DB_CONSTRAINT},
        {"23514", QS_ERR_DB_CONSTRAINT},
        {"23503", QS_ERR_DB_CONSTRAINT},
        {"23502", QS_ERR_DB_CONSTRAINT},
        {"42501", QS_ERR_DB_PERMISSION},
        {"28P01", QS_ERR_DB_PERMISSION},
        {"08006", QS_ERR_DB_UNAVAILABLE},
        {"08001", QS_ERR_DB_UNAVAILABLE},
        {"57P01", QS_ERR_DB_UNAVAILABLE},
        {"57P03", QS_ERR_DB_UNAVAILABLE},
        {"53300", QS_ERR_DB_UNAVAILABLE},
        {"57014", QS_ERR_DB_UNAVAILABLE},
        {"42P01", QS_ERR_DB_SCHEMA},
        {"42703", QS_ERR_DB_SCHEMA},
        {"XX000", QS_ERR_DB},
        {"22P02", QS_ERR_DB},
        {"40002", QS_ERR_DB},
        {"", QS_ERR_DB},
        {"4000", QS_ERR_DB},
        {NULL, QS_ERR_DB},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qs_err got = qs_db_err_from_sqlstate(cases[i].sqlstate);
        if (got != cases[i].want)
            fail_msg("%s: got %s, want %s", cases[i].sqlstate ? cases[i].sqlstate : "NULL",
                     qs_err_name(got), qs_err_name(cases[i].want));
    }
}

typedef struct values_ctx {
    uint8_t bytes[5];
    char *text;
    int64_t i8;
    int32_t i4;
    bool b;
    int64_t ts_us;
    bool uuid_ok;
    bool null_is_null;
} values_ctx;

static qs_err values_cb(qs_db *db, void *cls)
{
    static const char sql[] =
        "SELECT $1::bytea, $2::text, $3::int8, $4::int4, $5::bool,"
        " '1970-01-02 00:00:01.5+00'::timestamptz,"
        " $6::uuid = 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'::uuid, $7::text IS NULL";
    static const uint8_t uuid[QS_DB_UUID_LEN] = {0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0,
                                                 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6};
    static const uint8_t bytes[5] = {0x00, 0xff, 0x10, 0x80, 0x7f};
    values_ctx *v = cls;
    qs_db_param p[7];
    PGresult *res = NULL;

    qs_db_param_bytea(&p[0], bytes, sizeof bytes);
    qs_db_param_text(&p[1], "grüße 'quoted' $1");
    qs_db_param_int8(&p[2], INT64_MIN + 1);
    qs_db_param_int4(&p[3], -123456);
    qs_db_param_bool(&p[4], true);
    qs_db_param_uuid(&p[5], uuid);
    qs_db_param_null(&p[6], QS_DB_OID_TEXT);
    qs_err r = qs_db_exec(db, "values_roundtrip", sql, 7, p, &res);
    if (r != QS_OK)
        return r;
    assert_int_equal(qs_db_get_bytea_fixed(res, 0, 0, v->bytes, sizeof v->bytes), QS_OK);
    free(v->text);
    v->text = NULL;
    assert_int_equal(qs_db_get_text(res, 0, 1, &v->text), QS_OK);
    assert_int_equal(qs_db_get_int8(res, 0, 2, &v->i8), QS_OK);
    assert_int_equal(qs_db_get_int4(res, 0, 3, &v->i4), QS_OK);
    assert_int_equal(qs_db_get_bool(res, 0, 4, &v->b), QS_OK);
    assert_int_equal(qs_db_get_timestamptz(res, 0, 5, &v->ts_us), QS_OK);
    assert_int_equal(qs_db_get_bool(res, 0, 6, &v->uuid_ok), QS_OK);
    assert_int_equal(qs_db_get_bool(res, 0, 7, &v->null_is_null), QS_OK);
    /* Type and size checks refuse the wrong reading. */
    int64_t wrong;
    uint8_t four[4];
    assert_int_equal(qs_db_get_int8(res, 0, 3, &wrong), QS_ERR_DB);
    assert_int_equal(qs_db_get_bytea_fixed(res, 0, 0, four, sizeof four), QS_ERR_DB);
    assert_int_equal(qs_db_get_int8(res, 1, 2, &wrong), QS_ERR_DB);
    PQclear(res);
    return QS_OK;
}

static void test_values_round_trip(void **state)
{
    fixture *f = *state;
    values_ctx v = {0};
    static const uint8_t bytes[5] = {0x00, 0xff, 0x10, 0x80, 0x7f};
    assert_int_equal(qs_db_run_txn(f->db, "values", values_cb, &v), QS_OK);
    assert_memory_equal(v.bytes, bytes, sizeof bytes);
    assert_string_equal(v.text, "grüße 'quoted' $1");
    assert_true(v.i8 == INT64_MIN + 1);
    assert_int_equal(v.i4, -123456);
    assert_true(v.b);
    assert_true(v.ts_us == INT64_C(86401500000));
    assert_true(v.uuid_ok);
    assert_true(v.null_is_null);
    free(v.text);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serialization_failure_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadlock_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_error_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_is_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swallowed_error_does_not_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_transaction_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_backend_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_failure, setup, teardown),
        cmocka_unit_test(test_sqlstate_mapping),
        cmocka_unit_test_setup_teardown(test_values_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Throughput of the audit writer (printed, not asserted): records/s at 1, 8 and 32 concurrent
 * appenders with group commit, and at 8 without it (max_batch 1) for comparison; then the two
 * ways to insert a batch, one multi-row statement (unnest) against one statement per row.  Every
 * chain written here must verify at the end, so this is also a stress test of the writer.
 *
 *   QS_AUDIT_BENCH_SECONDS   seconds per configuration (default 1)
 *
 * The test cluster runs with fsync and synchronous_commit off: the numbers show CPU, HSM and
 * round trips, not disk flushes, which group commit saves the most of in production.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/db_audit.h"
#include "sam/audit.h"
#include "sam/audit_internal.h"
#include "tests/lib/pg.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

#define MAX_APPENDERS 32

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *main_hs;
static qs_test_pg *pg;
static double seconds = 1.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run {
    qs_audit *a;
    double until;
    atomic_ullong done;
    atomic_int errors;
} run;

static void *appender(void *arg)
{
    run *r = arg;
    qs_audit_event ev = {
        .event_type = "signature.created",
        .actor = "user:bench",
        .success = true,
        .details_json = "{\"hash\":\"3q2+7w==\",\"alg\":\"1.2.840.10045.4.3.2\"}",
    };
    while (now_s() < r->until) {
        if (qs_audit_append(r->a, &ev, NULL) == QS_OK)
            atomic_fetch_add(&r->done, 1);
        else
            atomic_fetch_add(&r->errors, 1);
    }
    return NULL;
}

static void measure(const char *writer, int appenders, size_t max_batch)
{
    qs_audit_params p = {
        .writer_id = writer, .conninfo = pg->sam_conninfo, .hsm = hsm, .max_batch = max_batch};
    qs_audit *a = NULL;
    assert_int_equal(qs_audit_start(&p, &a), QS_OK);
    run r = {.a = a};
    pthread_t th[MAX_APPENDERS];
    double t0 = now_s();
    r.until = t0 + seconds;
    for (int i = 0; i < appenders; i++)
        assert_int_equal(pthread_create(&th[i], NULL, appender, &r), 0);
    for (int i = 0; i < appenders; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    qs_audit_stop(a);
    assert_int_equal(atomic_load(&r.errors), 0);
    unsigned long long n = atomic_load(&r.done);
    print_message("  %2d appenders, max_batch %4zu: %8.0f records/s, %6.1f records/commit"
                  " (largest %llu)\n",
                  appenders, max_batch, (double)n / dt,
                  st.batches ? (double)st.records / (double)st.batches : 0.0,
                  (unsigned long long)st.largest_batch);

    uint64_t count = 0;
    qs_db *db = NULL;
    assert_int_equal(qs_db_connect(pg->audit_conninfo, &db), QS_OK);
    double v0 = now_s();
    assert_int_equal(qs_audit_verify_chain(db, main_hs, writer, NULL, NULL, &count), QS_OK);
    double vdt = now_s() - v0;
    assert_int_equal(count, n);
    print_message("                              verified %llu records in %.2f s (%.0f/s)\n",
                  (unsigned long long)count, vdt, (double)count / vdt);
    qs_db_free(db);
}

static void test_group_commit(void **state)
{
    (void)state;
    measure("bench-1", 1, 0);
    measure("bench-8", 8, 0);
    measure("bench-32", 32, 0);
    measure("bench-8-nogroup", 8, 1);
}

/* ---- one statement against one per row ----------------------------------------------------- */

#define ROWS 256

typedef struct ins_ctx {
    const char *writer;
    qs_db_audit_row *rows;
    size_t n;
    bool per_row;
} ins_ctx;

static qs_err ins_txn(qs_db *db, void *cls)
{
    ins_ctx *c = cls;
    if (!c->per_row)
        return qs_db_audit_insert(db, c->writer, c->rows, c->n);
    for (size_t i = 0; i < c->n; i++) {
        qs_err r = qs_db_audit_insert(db, c->writer, &c->rows[i], 1);
        if (r != QS_OK)
            return r;
    }
    return QS_OK;
}

static qs_err reg_txn(qs_db *db, void *cls)
{
    bool created;
    return qs_db_audit_writer_register(db, cls, "", QS_AUDIT_MAC_KEY_LABEL, &created);
}

static double insert_rate(qs_db *db, const char *writer, bool per_row)
{
    static qs_db_audit_row rows[ROWS];
    uint8_t prev[QS_AUDIT_HASH_LEN] = {0};
    assert_int_equal(qs_db_run_txn(db, "reg", reg_txn, (void *)writer), QS_OK);
    uint64_t seq = 0, total = 0;
    double t0 = now_s();
    while (now_s() - t0 < seconds) {
        for (size_t i = 0; i < ROWS; i++) {
            qs_db_audit_row *w = &rows[i];
            memset(w, 0, sizeof *w);
            w->seq = (int64_t)++seq;
            w->event_time_us = 1700000000000000 + w->seq;
            w->event_type = "signature.created";
            w->actor = "user:bench";
            w->details = "{\"hash\":\"3q2+7w==\"}";
            memcpy(w->prev_hash, prev, sizeof prev);
            qs_audit_record rec;
            qs_audit_record_from_row(writer, w, &rec);
            assert_int_equal(qs_audit_record_hash(&rec, w->record_hash), QS_OK);
            memcpy(prev, w->record_hash, sizeof prev);
        }
        ins_ctx c = {writer, rows, ROWS, per_row};
        assert_int_equal(
            qs_db_run_txn_opt(db, "bench_insert", QS_DB_TXN_READ_COMMITTED, ins_txn, &c), QS_OK);
        total += ROWS;
    }
    return (double)total / (now_s() - t0);
}

static void test_insert_shapes(void **state)
{
    (void)state;
    qs_db *db = NULL;
    assert_int_equal(qs_db_connect(pg->sam_conninfo, &db), QS_OK);
    double multi = insert_rate(db, "shape-multi", false);
    double single = insert_rate(db, "shape-single", true);
    print_message("  %d-record transactions: one unnest statement %8.0f records/s,"
                  " one statement per record %8.0f records/s\n",
                  ROWS, multi, single);
    qs_db_free(db);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    qs_log_set_level(QS_LOG_ERROR);
    const char *s = getenv("QS_AUDIT_BENCH_SECONDS");
    if (s != NULL && atof(s) > 0)
        seconds = atof(s);
    qs_test_token_create(&token, "auditbench");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    if (qs_hsm_session_open(hsm, &main_hs) != QS_OK)
        return 1;
    pg = qs_test_pg_create("auditbench");
    qs_test_pg_migrate(pg);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_insert_shapes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qs_test_pg_destroy(pg);
    qs_hsm_session_close(main_hs);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return rc;
}

/*
 * The audit writer against a real SoftHSM token and a real PostgreSQL database (migrated):
 * concurrent appends form one gap-free chain that verifies, and every caller's seq holds its
 * event; append_many stays contiguous; a batch the database refuses fails every request in it
 * and stores nothing, and the chain goes on; a killed connection is survived; a restart
 * continues the chain; a second process cannot take a running writer's id, nor write while it
 * holds it; the verifier finds changed, deleted, swapped and forged records; the writer refuses
 * to start on a tampered head.  Checkpoints: every N records, every T seconds (an idle writer
 * wakes for it), at stop; each signed by the HSM's audit key, registered once as the writer's
 * key; a failed checkpoint fails no append; the writer refuses a chain cut short below its last
 * checkpoint and a registered key that is not its HSM's.  Tampering goes through a superuser
 * session with session_replication_role = replica, which skips the append-only triggers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_audit.h"
#include "sam/audit.h"
#include "sam/audit_internal.h"
#include "tests/lib/pg.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

#define WRITER "sam-test-1"

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *main_hs; /* the test thread's, for verification */

typedef struct fixture {
    qs_test_pg *pg;
    PGconn *su;     /* superuser */
    qs_db *auditor; /* as qsign_audit: what verification needs */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pg = qs_test_pg_create("audit");
    qs_test_pg_migrate(f->pg);
    f->su = qs_test_pg_connect(f->pg->super_conninfo);
    assert_int_equal(qs_db_connect(f->pg->audit_conninfo, &f->auditor), QS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_db_free(f->auditor);
    PQfinish(f->su);
    qs_test_pg_destroy(f->pg);
    free(f);
    return 0;
}

static qs_audit *start_writer(fixture *f, const char *id, size_t max_batch)
{
    qs_audit_params p = {
        .writer_id = id,
        .description = "test writer",
        .conninfo = f->pg->sam_conninfo,
        .hsm = hsm,
        .max_batch = max_batch,
    };
    qs_audit *a = NULL;
    qs_err r = qs_audit_start(&p, &a);
    if (r != QS_OK)
        fail_msg("qs_audit_start(%s): %s", id, qs_err_name(r));
    return a;
}

static qs_err try_start(fixture *f, const char *id)
{
    qs_audit_params p = {.writer_id = id, .conninfo = f->pg->sam_conninfo, .hsm = hsm};
    qs_audit *a = NULL;
    qs_err r = qs_audit_start(&p, &a);
    if (r == QS_OK)
        qs_audit_stop(a);
    else
        assert_null(a);
    return r;
}

static uint64_t append1(qs_audit *a, const char *type, const char *details)
{
    qs_audit_event ev = {
        .event_type = type, .actor = "test", .success = true, .details_json = details};
    qs_audit_ref ref;
    qs_err r = qs_audit_append(a, &ev, &ref);
    if (r != QS_OK)
        fail_msg("append %s: %s", details, qs_err_name(r));
    return ref.seq;
}

/* ---- reading back ------------------------------------------------------------------------- */

static long long count_records(fixture *f, const char *writer)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM qsign.audit_log WHERE writer_id = '%s'",
             writer);
    char *v = qs_test_pg_query_value(f->su, sql);
    long long n = atoll(v);
    free(v);
    return n;
}

/* details by seq (index 0 unused); the seqs must be exactly 1..n. */
typedef struct stored {
    char **details;
    long long n;
} stored;

static stored read_chain(fixture *f, const char *writer)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT seq, details FROM qsign.audit_log WHERE writer_id = '%s' ORDER BY seq",
             writer);
    PGresult *res = PQexec(f->su, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    stored s = {.n = PQntuples(res)};
    s.details = calloc((size_t)s.n + 1, sizeof *s.details);
    assert_non_null(s.details);
    for (long long i = 0; i < s.n; i++) {
        long long seq = atoll(PQgetvalue(res, (int)i, 0));
        if (seq != i + 1)
            fail_msg("stored seqs are not 1..%lld: row %lld has seq %lld", s.n, i, seq);
        s.details[i + 1] = strdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    return s;
}

static void free_chain(stored *s)
{
    for (long long i = 0; i <= s->n; i++)
        free(s->details[i]);
    free(s->details);
}

/* ---- verification ------------------------------------------------------------------------- */

#define MAX_FINDINGS 32

typedef struct findings {
    size_t n;
    uint64_t seq[MAX_FINDINGS];
    qs_audit_problem problem[MAX_FINDINGS];
} findings;

static bool collect(void *cls, const qs_audit_finding *fd)
{
    findings *fs = cls;
    if (fs->n < MAX_FINDINGS) {
        fs->seq[fs->n] = fd->seq;
        fs->problem[fs->n] = fd->problem;
        fs->n++;
    }
    return true;
}

static qs_err verify(fixture *f, const char *writer, findings *fs, uint64_t *count)
{
    memset(fs, 0, sizeof *fs);
    return qs_audit_verify_chain(f->auditor, main_hs, writer, collect, fs, count);
}

static void expect_intact(fixture *f, const char *writer, uint64_t want_count)
{
    findings fs;
    uint64_t count = 0;
    qs_err r = verify(f, writer, &fs, &count);
    if (r != QS_OK || fs.n != 0)
        fail_msg("chain %s: %s with %zu findings (first: seq %llu %s)", writer, qs_err_name(r),
                 fs.n, fs.n ? (unsigned long long)fs.seq[0] : 0ULL,
                 fs.n ? qs_audit_problem_name(fs.problem[0]) : "-");
    assert_int_equal(count, want_count);
}

static bool has_finding(const findings *fs, uint64_t seq, qs_audit_problem p)
{
    for (size_t i = 0; i < fs->n; i++)
        if (fs->seq[i] == seq && fs->problem[i] == p)
            return true;
    return false;
}

static void print_findings(const findings *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        print_message("  finding: seq %llu %s\n", (unsigned long long)fs->seq[i],
                      qs_audit_problem_name(fs->problem[i]));
}

/* ---- concurrent appenders ------------------------------------------------------------------ */

#define N_THREADS 8
#define N_APPENDS 150
#define MANY      25

typedef struct appender {
    qs_audit *a;
    int t;
    int rounds;
    bool many;     /* append_many of MANY events per round */
    bool tolerate; /* QS_ERR_DB_UNAVAILABLE is an allowed outcome */
    uint64_t seq[N_APPENDS];
    qs_err result[N_APPENDS];
    int ok, failed;
    atomic_bool finished;
} appender;

static void details_of(char *buf, size_t len, int t, int i, int k)
{
    snprintf(buf, len, "{\"t\":%d,\"i\":%d,\"k\":%d}", t, i, k);
}

static void *appender_main(void *arg)
{
    appender *ap = arg;
    static const uint8_t uid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t sad[32] = {0x5a};
    for (int i = 0; i < ap->rounds; i++) {
        char det[MANY][64];
        qs_audit_event evs[MANY];
        int n = ap->many ? MANY : 1;
        for (int k = 0; k < n; k++) {
            details_of(det[k], sizeof det[k], ap->t, i, k);
            evs[k] = (qs_audit_event){
                .event_type = ap->many ? "signature.created" : "sad.issued",
                .actor = "user:tester",
                /* Mix present and absent optional columns. */
                .user_id = (i + k) % 2 ? uid : NULL,
                .credential_id = (i + k) % 3 ? uid : NULL,
                .sad_ref = (i + k) % 5 ? sad : NULL,
                .success = (i + k) % 7 != 0,
                .details_json = det[k],
            };
        }
        qs_audit_ref ref;
        qs_err r = qs_audit_append_many(ap->a, evs, (size_t)n, &ref);
        ap->result[i] = r;
        if (r == QS_OK) {
            ap->seq[i] = ref.seq;
            ap->ok++;
            if (strcmp(ref.writer_id, WRITER) != 0)
                ap->result[i] = QS_ERR_INTERNAL;
        } else {
            ap->failed++;
        }
    }
    atomic_store(&ap->finished, true);
    return NULL;
}

static void run_appenders(appender *aps, int n)
{
    pthread_t th[N_THREADS];
    assert_true(n <= N_THREADS);
    for (int t = 0; t < n; t++)
        assert_int_equal(pthread_create(&th[t], NULL, appender_main, &aps[t]), 0);
    for (int t = 0; t < n; t++)
        pthread_join(th[t], NULL);
}

/* Every successful call's records sit at its seqs, in order; failed ones are absent. */
static long long check_placement(fixture *f, appender *aps, int n)
{
    stored s = read_chain(f, WRITER);
    long long expected = 0;
    char *seen = calloc((size_t)s.n + 1, 1);
    assert_non_null(seen);
    for (int t = 0; t < n; t++) {
        appender *ap = &aps[t];
        int per = ap->many ? MANY : 1;
        for (int i = 0; i < ap->rounds; i++) {
            char want[64];
            if (ap->result[i] != QS_OK) {
                if (!ap->tolerate)
                    fail_msg("thread %d round %d: %s", t, i, qs_err_name(ap->result[i]));
                assert_int_equal(ap->result[i], QS_ERR_DB_UNAVAILABLE);
                details_of(want, sizeof want, t, i, 0);
                for (long long q = 1; q <= s.n; q++)
                    if (strcmp(s.details[q], want) == 0)
                        fail_msg("thread %d round %d failed but its record is seq %lld", t, i, q);
                continue;
            }
            for (int k = 0; k < per; k++) {
                long long q = (long long)ap->seq[i] + k;
                details_of(want, sizeof want, t, i, k);
                if (q < 1 || q > s.n || strcmp(s.details[q], want) != 0)
                    fail_msg("thread %d round %d event %d: seq %lld holds %s, want %s", t, i, k, q,
                             q >= 1 && q <= s.n ? s.details[q] : "nothing", want);
                if (seen[q]++)
                    fail_msg("seq %lld returned twice", q);
            }
            expected += per;
        }
    }
    if (expected != s.n)
        fail_msg("%lld records stored, %lld appended", s.n, expected);
    free(seen);
    free_chain(&s);
    return expected;
}

static void test_concurrent_appends(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    appender aps[N_THREADS];
    memset(aps, 0, sizeof aps);
    for (int t = 0; t < N_THREADS; t++)
        aps[t] = (appender){.a = a, .t = t, .rounds = N_APPENDS};
    run_appenders(aps, N_THREADS);

    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.records, N_THREADS * N_APPENDS);
    assert_int_equal(st.head_seq, N_THREADS * N_APPENDS);
    assert_int_equal(st.failed_batches, 0);
    /* Group commit happened: fewer transactions than records. */
    assert_true(st.largest_batch >= 2);
    assert_true(st.batches < st.records);
    print_message("  %llu records in %llu batches (largest %llu)\n", (unsigned long long)st.records,
                  (unsigned long long)st.batches, (unsigned long long)st.largest_batch);
    qs_audit_stop(a);

    assert_int_equal(check_placement(f, aps, N_THREADS), N_THREADS * N_APPENDS);
    expect_intact(f, WRITER, N_THREADS * N_APPENDS);

    /* The stored event times are what was hashed (verified) and are the clock's. */
    char *age = qs_test_pg_query_value(
        f->su, "SELECT (max(event_time) > now() - interval '5 minutes' AND"
               " min(event_time) <= max(event_time))::text FROM qsign.audit_log");
    assert_string_equal(age, "true");
    free(age);
    /* Written by qsign_sam under its own, least privileges. */
    char *label = qs_test_pg_query_value(
        f->su, "SELECT mac_key_label || ' ' || description FROM qsign.audit_writers");
    assert_string_equal(label, "qsign-record-mac test writer");
    free(label);
}

static void test_append_many_contiguous(void **state)
{
    fixture *f = *state;
    /* A small max_batch: calls must stay whole even when they fill a batch. */
    qs_audit *a = start_writer(f, WRITER, 40);
    appender aps[N_THREADS];
    memset(aps, 0, sizeof aps);
    for (int t = 0; t < N_THREADS; t++)
        aps[t] = (appender){.a = a, .t = t, .rounds = 20, .many = t % 2 == 0};
    run_appenders(aps, N_THREADS);
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.failed_batches, 0);
    assert_true(st.largest_batch <= 40);
    qs_audit_stop(a);
    long long total = check_placement(f, aps, N_THREADS);
    assert_int_equal(total, 4 * 20 * MANY + 4 * 20);
    expect_intact(f, WRITER, (uint64_t)total);

    /* A call larger than max_batch goes in a batch of its own. */
    a = start_writer(f, WRITER, 10);
    qs_audit_event evs[MANY];
    char det[MANY][64];
    for (int k = 0; k < MANY; k++) {
        details_of(det[k], sizeof det[k], 99, 0, k);
        evs[k] = (qs_audit_event){
            .event_type = "signature.created", .actor = "x", .details_json = det[k]};
    }
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append_many(a, evs, MANY, &ref), QS_OK);
    assert_int_equal(ref.seq, (uint64_t)total + 1);
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.largest_batch, MANY);
    /* Bad arguments. */
    assert_int_equal(qs_audit_append_many(a, evs, 0, &ref), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_audit_append_many(a, evs, QS_AUDIT_APPEND_MANY_MAX + 1, &ref),
                     QS_ERR_INVALID_ARGUMENT);
    qs_audit_stop(a);
    expect_intact(f, WRITER, (uint64_t)total + MANY);
}

/* ---- a batch the database refuses ---------------------------------------------------------- */

typedef struct one_call {
    qs_audit *a;
    const char *actor;
    const char *type;
    char details[64];
    qs_err result;
    uint64_t seq;
    pthread_t th;
} one_call;

static void *one_call_main(void *arg)
{
    one_call *c = arg;
    qs_audit_event ev = {.event_type = c->type != NULL ? c->type : "auth.pin",
                         .actor = c->actor,
                         .success = true,
                         .details_json = c->details};
    qs_audit_ref ref = {0};
    c->result = qs_audit_append(c->a, &ev, &ref);
    c->seq = ref.seq;
    return NULL;
}

static void wait_stats(qs_audit *a, size_t queued, size_t in_flight)
{
    for (int i = 0; i < 2000; i++) {
        qs_audit_stats st;
        qs_audit_get_stats(a, &st);
        if (st.queued == queued && st.in_flight == in_flight)
            return;
        usleep(5000);
    }
    fail_msg("the writer never had %zu queued and %zu in flight", queued, in_flight);
}

static void test_failed_batch(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    assert_int_equal(append1(a, "sad.issued", "{\"before\":1}"), 1);
    assert_int_equal(append1(a, "sad.issued", "{\"before\":2}"), 2);

    /* Refused before it is queued: nothing else is affected. */
    qs_audit_event upper = {.event_type = "Sad.Issued", .actor = "test"};
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append(a, &upper, &ref), QS_ERR_INVALID_ARGUMENT);
    qs_audit_event notjson = {.event_type = "sad.issued", .actor = "t", .details_json = "{x}"};
    assert_int_equal(qs_audit_append(a, &notjson, &ref), QS_ERR_INVALID_ARGUMENT);

    /* A rule the database has and the writer does not know: the poisoned event reaches the
     * INSERT and fails the whole batch it shares. */
    qs_test_pg_exec_ok(f->su, "ALTER TABLE qsign.audit_log ADD CONSTRAINT test_poison"
                              " CHECK (actor <> 'poison')");
    /* Hold the writer in its first batch (the INSERT waits for the lock), so that the next
     * calls all queue behind it and go together into the next batch. */
    PGconn *locker = qs_test_pg_connect(f->pg->super_conninfo);
    qs_test_pg_exec_ok(locker, "BEGIN");
    qs_test_pg_exec_ok(locker, "LOCK TABLE qsign.audit_log IN EXCLUSIVE MODE");

    one_call blocker = {.a = a, .actor = "blocker"};
    snprintf(blocker.details, sizeof blocker.details, "{\"blocker\":1}");
    assert_int_equal(pthread_create(&blocker.th, NULL, one_call_main, &blocker), 0);
    wait_stats(a, 0, 1);

    enum { N = 8 };
    one_call calls[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (one_call){.a = a, .actor = i == 5 ? "poison" : "good"};
        snprintf(calls[i].details, sizeof calls[i].details, "{\"batch\":%d}", i);
        assert_int_equal(pthread_create(&calls[i].th, NULL, one_call_main, &calls[i]), 0);
    }
    wait_stats(a, N, 1);
    qs_test_pg_exec_ok(locker, "COMMIT");
    PQfinish(locker);

    pthread_join(blocker.th, NULL);
    assert_int_equal(blocker.result, QS_OK);
    assert_int_equal(blocker.seq, 3);
    for (int i = 0; i < N; i++) {
        pthread_join(calls[i].th, NULL);
        if (calls[i].result != QS_ERR_DB_CONSTRAINT)
            fail_msg("call %d of the poisoned batch: %s", i, qs_err_name(calls[i].result));
    }
    assert_int_equal(count_records(f, WRITER), 3);
    char *n = qs_test_pg_query_value(
        f->su, "SELECT count(*) FROM qsign.audit_log WHERE details LIKE '%batch%'");
    assert_string_equal(n, "0");
    free(n);
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.failed_batches, 1);
    assert_int_equal(st.failed_records, N);

    /* The chain goes on from the last committed record. */
    assert_int_equal(append1(a, "sad.issued", "{\"after\":1}"), 4);
    qs_audit_event two[2] = {{.event_type = "a.b", .actor = "t"},
                             {.event_type = "a.c", .actor = "t"}};
    assert_int_equal(qs_audit_append_many(a, two, 2, &ref), QS_OK);
    assert_int_equal(ref.seq, 5);
    qs_audit_stop(a);
    expect_intact(f, WRITER, 6);
}

/* ---- the writer's connection killed --------------------------------------------------------- */

static int terminate_writer_backends(fixture *f)
{
    char *v = qs_test_pg_query_value(
        f->su, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
               " WHERE datname = current_database() AND usename = 'qsign_sam'");
    int n = atoi(v);
    free(v);
    return n;
}

static void test_connection_killed(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    assert_int_equal(append1(a, "sad.issued", "{\"first\":1}"), 1);

    /* Killed while idle: the next append reconnects, takes the lock again and commits. */
    assert_int_equal(terminate_writer_backends(f), 1);
    usleep(50000);
    assert_int_equal(append1(a, "sad.issued", "{\"second\":1}"), 2);

    /* Killed again and again while appenders run. */
    appender aps[4];
    memset(aps, 0, sizeof aps);
    for (int t = 0; t < 4; t++)
        aps[t] = (appender){.a = a, .t = t, .rounds = N_APPENDS, .tolerate = true};
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, appender_main, &aps[t]), 0);
    /* At once (the appenders cannot be done yet), then every 30 ms until they are. */
    int killed = 0, kills = 0;
    for (bool running = true; running; kills++) {
        killed += terminate_writer_backends(f);
        usleep(30000);
        running = false;
        for (int t = 0; t < 4; t++)
            running = running || !atomic_load(&aps[t].finished);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    assert_true(killed >= 1);
    int ok = 0, failed = 0;
    for (int t = 0; t < 4; t++) {
        ok += aps[t].ok;
        failed += aps[t].failed;
    }
    print_message("  %d of %d kills hit the writer; %d appends committed, %d failed\n", killed,
                  kills, ok, failed);
    assert_true(ok > 0);

    /* Afterwards all is well: appends succeed and the chain verifies. */
    uint64_t next = append1(a, "sad.issued", "{\"last\":1}");
    qs_audit_stop(a);
    assert_int_equal(next, (uint64_t)ok + 3);
    expect_intact(f, WRITER, next);

    /* Everything the appenders got back sits at its seq; what failed is absent. */
    stored all = read_chain(f, WRITER);
    assert_int_equal(all.n, (long long)next);
    long long placed = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < aps[t].rounds; i++) {
            char want[64];
            details_of(want, sizeof want, t, i, 0);
            if (aps[t].result[i] == QS_OK) {
                long long q = (long long)aps[t].seq[i];
                assert_true(q >= 3 && q < (long long)next);
                assert_string_equal(all.details[q], want);
                placed++;
            } else {
                assert_int_equal(aps[t].result[i], QS_ERR_DB_UNAVAILABLE);
                for (long long q = 1; q <= all.n; q++)
                    assert_string_not_equal(all.details[q], want);
            }
        }
    free_chain(&all);
    assert_int_equal(placed, ok);
}

/* ---- a connection lost during COMMIT ------------------------------------------------------- */

/*
 * A unix-socket proxy between the writer and the server that can cut the connection at COMMIT:
 * either before the COMMIT reaches the server (the transaction is not committed) or after the
 * server answered it (committed, but the writer never hears so).  Both leave the writer with an
 * unknown outcome, which it must resolve from the stored head.
 */
enum { CUT_NONE = 0, CUT_BEFORE_COMMIT = 1, CUT_AFTER_COMMIT = 2 };

typedef struct proxy {
    char dir[PATH_MAX];
    char listen_path[PATH_MAX + 32];
    char target_path[PATH_MAX + 32];
    int lfd;
    pthread_t th;
    atomic_int mode;  /* CUT_*, one-shot */
    atomic_int cuts;  /* connections cut so far */
    atomic_int conns; /* connection threads alive */
    atomic_bool stop;
} proxy;

static proxy px;

/* A simple-protocol Query message holding exactly "COMMIT" (what the transaction runner sends). */
static const char commit_msg[] = {'Q', 0, 0, 0, 11, 'C', 'O', 'M', 'M', 'I', 'T', 0};

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool set_sun_path(struct sockaddr_un *sa, const char *path)
{
    size_t len = strlen(path);
    if (len >= sizeof sa->sun_path)
        return false;
    memcpy(sa->sun_path, path, len + 1);
    return true;
}

static void *proxy_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    bool armed = false; /* COMMIT forwarded; cut when the answer comes */
    if (sfd < 0 || !set_sun_path(&sa, px.target_path) ||
        connect(sfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    for (;;) {
        struct pollfd fds[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(fds, 2, 200) < 0)
            break;
        if (atomic_load(&px.stop))
            break;
        char buf[65536];
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(cfd, buf, sizeof buf);
            if (n <= 0)
                break;
            if (memmem(buf, (size_t)n, commit_msg, sizeof commit_msg) != NULL) {
                int mode = atomic_load(&px.mode);
                if (mode == CUT_BEFORE_COMMIT &&
                    atomic_compare_exchange_strong(&px.mode, &mode, CUT_NONE)) {
                    atomic_fetch_add(&px.cuts, 1);
                    break;
                }
                if (mode == CUT_AFTER_COMMIT &&
                    atomic_compare_exchange_strong(&px.mode, &mode, CUT_NONE))
                    armed = true;
            }
            if (!write_all(sfd, buf, (size_t)n))
                break;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(sfd, buf, sizeof buf);
            if (n <= 0)
                break;
            if (armed) {
                atomic_fetch_add(&px.cuts, 1);
                break;
            }
            if (!write_all(cfd, buf, (size_t)n))
                break;
        }
    }
out:
    if (sfd >= 0)
        close(sfd);
    close(cfd);
    atomic_fetch_sub(&px.conns, 1);
    return NULL;
}

static void *proxy_accept(void *arg)
{
    (void)arg;
    while (!atomic_load(&px.stop)) {
        struct pollfd pfd = {px.lfd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int cfd = accept4(px.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        pthread_t th;
        atomic_fetch_add(&px.conns, 1);
        if (pthread_create(&th, NULL, proxy_conn, (void *)(intptr_t)cfd) != 0) {
            atomic_fetch_sub(&px.conns, 1);
            close(cfd);
            continue;
        }
        pthread_detach(th);
    }
    return NULL;
}

/* Starts the proxy in front of the fixture's server; returns the writer's conninfo (malloc'd). */
static char *proxy_start(fixture *f)
{
    char *host = qs_test_pg_query_value(f->su, "SELECT current_setting('unix_socket_directories')");
    char *port = qs_test_pg_query_value(f->su, "SELECT current_setting('port')");
    memset(&px, 0, sizeof px);
    qs_test_tmpdir("auditpx", px.dir, sizeof px.dir);
    snprintf(px.listen_path, sizeof px.listen_path, "%s/.s.PGSQL.%s", px.dir, port);
    snprintf(px.target_path, sizeof px.target_path, "%s/.s.PGSQL.%s", host, port);
    px.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(set_sun_path(&sa, px.listen_path));
    assert_true(px.lfd >= 0);
    assert_int_equal(bind(px.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(px.lfd, 16), 0);
    assert_int_equal(pthread_create(&px.th, NULL, proxy_accept, NULL), 0);
    /* A repeated conninfo keyword overrides the earlier one. */
    size_t len = strlen(f->pg->sam_conninfo) + strlen(px.dir) + 16;
    char *ci = malloc(len);
    assert_non_null(ci);
    snprintf(ci, len, "%s host='%s'", f->pg->sam_conninfo, px.dir);
    free(host);
    free(port);
    return ci;
}

static void proxy_stop(void)
{
    atomic_store(&px.stop, true);
    pthread_join(px.th, NULL);
    close(px.lfd);
    for (int i = 0; i < 500 && atomic_load(&px.conns) > 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&px.conns), 0);
    qs_test_rmtree(px.dir);
}

static void test_commit_outcome_unknown(void **state)
{
    fixture *f = *state;
    char *ci = proxy_start(f);
    qs_audit_params p = {.writer_id = WRITER, .conninfo = ci, .hsm = hsm};
    qs_audit *a = NULL;
    assert_int_equal(qs_audit_start(&p, &a), QS_OK);
    assert_int_equal(append1(a, "sad.issued", "{\"n\":1}"), 1);

    /* The server committed, the answer was lost: the writer finds its batch in the head and
     * reports success to every event of it. */
    atomic_store(&px.mode, CUT_AFTER_COMMIT);
    qs_audit_event three[3] = {
        {.event_type = "signature.created", .actor = "t", .details_json = "{\"n\":2}"},
        {.event_type = "signature.created", .actor = "t", .details_json = "{\"n\":3}"},
        {.event_type = "signature.created", .actor = "t", .details_json = "{\"n\":4}"},
    };
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append_many(a, three, 3, &ref), QS_OK);
    assert_int_equal(atomic_load(&px.cuts), 1);
    assert_int_equal(ref.seq, 2);
    assert_int_equal(count_records(f, WRITER), 4);

    /* The COMMIT never reached the server: nothing stored, the caller gets the error, and the
     * next record takes the same seq. */
    atomic_store(&px.mode, CUT_BEFORE_COMMIT);
    qs_audit_event lost = {
        .event_type = "sad.issued", .actor = "t", .details_json = "{\"lost\":1}"};
    assert_int_equal(qs_audit_append(a, &lost, &ref), QS_ERR_DB_UNAVAILABLE);
    assert_int_equal(atomic_load(&px.cuts), 2);
    assert_int_equal(count_records(f, WRITER), 4);
    assert_int_equal(append1(a, "sad.issued", "{\"n\":5}"), 5);

    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.failed_batches, 1);
    assert_int_equal(st.records, 5);
    qs_audit_stop(a);
    proxy_stop();
    free(ci);
    expect_intact(f, WRITER, 5);
    char *n = qs_test_pg_query_value(f->su, "SELECT count(*) FROM qsign.audit_log"
                                            " WHERE details LIKE '%lost%'");
    assert_string_equal(n, "0");
    free(n);
}

/* ---- restart and exclusivity --------------------------------------------------------------- */

static void test_restart_continues(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(append1(a, "key.generated", "{}"), (uint64_t)i);
    qs_audit_stop(a);

    a = start_writer(f, WRITER, 0);
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.head_seq, 10);
    assert_int_equal(append1(a, "key.generated", "{\"restarted\":true}"), 11);
    /* Stop flushes: an append racing with nothing is committed before stop returns. */
    qs_audit_stop(a);
    assert_int_equal(count_records(f, WRITER), 11);
    expect_intact(f, WRITER, 11);
    /* Still one registration. */
    char *n = qs_test_pg_query_value(f->su, "SELECT count(*) FROM qsign.audit_writers");
    assert_string_equal(n, "1");
    free(n);
}

static void test_second_writer_refused(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    assert_int_equal(append1(a, "sad.issued", "{}"), 1);
    assert_int_equal(try_start(f, WRITER), QS_ERR_EXISTS);
    /* Another id is another chain and runs beside it. */
    qs_audit *b = start_writer(f, "sam-test-2", 0);
    qs_audit_event ev = {.event_type = "sad.issued", .actor = "t"};
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append(b, &ev, &ref), QS_OK);
    assert_string_equal(ref.writer_id, "sam-test-2");
    assert_int_equal(ref.seq, 1);
    qs_audit_stop(b);
    assert_int_equal(append1(a, "sad.issued", "{}"), 2);
    qs_audit_stop(a);
    /* Free again once the first stopped. */
    assert_int_equal(try_start(f, WRITER), QS_OK);
    expect_intact(f, WRITER, 2);
    expect_intact(f, "sam-test-2", 1);

    /* Bad parameters. */
    assert_int_equal(try_start(f, "-bad"), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(try_start(f, ""), QS_ERR_INVALID_ARGUMENT);
}

/* The first writer's connection dies and a second process takes the id: the first may not
 * write while the second holds it, and continues the chain correctly after it stopped. */
static void test_lock_taken_over(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer(f, WRITER, 0);
    assert_int_equal(append1(a, "sad.issued", "{\"a\":1}"), 1);
    assert_int_equal(terminate_writer_backends(f), 1);
    usleep(50000);

    qs_audit *b = start_writer(f, WRITER, 0);
    assert_int_equal(append1(b, "sad.issued", "{\"b\":1}"), 2);
    qs_audit_event ev = {.event_type = "sad.issued", .actor = "t", .details_json = "{\"a\":2}"};
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append(a, &ev, &ref), QS_ERR_EXISTS);
    assert_int_equal(append1(b, "sad.issued", "{\"b\":2}"), 3);
    qs_audit_stop(b);

    /* The first writer reloads the head the other one left (once B's backend has exited and
     * released the lock, which happens just after B closed its connection). */
    qs_err r = QS_ERR_EXISTS;
    for (int i = 0; i < 100 && r == QS_ERR_EXISTS; i++) {
        r = qs_audit_append(a, &ev, &ref);
        if (r == QS_ERR_EXISTS)
            usleep(20000);
    }
    assert_int_equal(r, QS_OK);
    assert_int_equal(ref.seq, 4);
    qs_audit_stop(a);
    expect_intact(f, WRITER, 4);
    char *n = qs_test_pg_query_value(f->su, "SELECT count(*) FROM qsign.audit_log"
                                            " WHERE details = '{\"a\":2}'");
    assert_string_equal(n, "1");
    free(n);
}

/* ---- tampering ----------------------------------------------------------------------------- */

/* A chain of n records (details {"i":<seq>}), writer stopped. */
static void make_chain(fixture *f, int n)
{
    qs_audit *a = start_writer(f, WRITER, 0);
    for (int i = 1; i <= n; i++) {
        char d[32];
        snprintf(d, sizeof d, "{\"i\":%d}", i);
        assert_int_equal(append1(a, "signature.created", d), (uint64_t)i);
    }
    qs_audit_stop(a);
    expect_intact(f, WRITER, (uint64_t)n);
}

/* Runs SQL as superuser with triggers off (the append-only triggers included). */
static void tamper(fixture *f, const char *sql)
{
    qs_test_pg_exec_ok(f->su, "SET session_replication_role = replica");
    qs_test_pg_exec_ok(f->su, sql);
    qs_test_pg_exec_ok(f->su, "RESET session_replication_role");
}

static void expect_findings(fixture *f, const findings *want_all, size_t n_want, size_t max_n)
{
    findings fs;
    uint64_t count;
    qs_err r = verify(f, WRITER, &fs, &count);
    print_findings(&fs);
    assert_int_equal(r, QS_ERR_MAC);
    for (size_t i = 0; i < n_want; i++)
        if (!has_finding(&fs, want_all->seq[i], want_all->problem[i]))
            fail_msg("missing finding: seq %llu %s", (unsigned long long)want_all->seq[i],
                     qs_audit_problem_name(want_all->problem[i]));
    assert_true(fs.n >= n_want && fs.n <= max_n);
}

static void test_tamper_changed_field(void **state)
{
    fixture *f = *state;
    make_chain(f, 10);
    static const char *const changes[] = {
        "UPDATE qsign.audit_log SET actor = 'mallory' WHERE seq = 4",
        /* The same JSON object, respaced: jsonb would have hidden it. */
        "UPDATE qsign.audit_log SET details = '{\"i\": 4}' WHERE seq = 4",
        "UPDATE qsign.audit_log SET event_time = event_time + interval '1 microsecond'"
        " WHERE seq = 4",
        "UPDATE qsign.audit_log SET result = 'failure' WHERE seq = 4",
        "UPDATE qsign.audit_log SET user_id = '00000000-0000-4000-8000-000000000001'"
        " WHERE seq = 4",
        "UPDATE qsign.audit_log SET event_type = 'signature.refused' WHERE seq = 4",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        qs_test_pg_exec_ok(f->su, "CREATE TEMP TABLE keep AS SELECT * FROM qsign.audit_log"
                                  " WHERE seq = 4");
        tamper(f, changes[i]);
        findings fs;
        uint64_t count;
        qs_err r = verify(f, WRITER, &fs, &count);
        if (r != QS_ERR_MAC || fs.n != 1 || fs.seq[0] != 4 || fs.problem[0] != QS_AUDIT_BAD_HASH)
            fail_msg("%s: %s, %zu findings", changes[i], qs_err_name(r), fs.n);
        assert_int_equal(count, 10);
        /* Put it back: intact again (so the next change is judged alone). */
        tamper(f, "DELETE FROM qsign.audit_log WHERE seq = 4;"
                  " INSERT INTO qsign.audit_log SELECT * FROM keep; DROP TABLE keep");
        expect_intact(f, WRITER, 10);
    }

    /* The hash recomputed to match the change: then the MAC gives it away. */
    qs_test_pg_exec_ok(f->su, "CREATE TEMP TABLE keep AS SELECT * FROM qsign.audit_log"
                              " WHERE seq = 7");
    {
        /* Recompute the hash of the altered record with the public encoding. */
        qs_db_audit_row *rows = NULL;
        size_t n = 0;
        tamper(f, "UPDATE qsign.audit_log SET actor = 'mallory' WHERE seq = 7");
        qs_db *db = NULL;
        assert_int_equal(qs_db_connect(f->pg->audit_conninfo, &db), QS_OK);
        assert_int_equal(qs_db_audit_page(db, WRITER, 6, 1, &rows, &n), QS_OK);
        assert_int_equal(n, 1);
        qs_audit_record rec;
        uint8_t h[QS_AUDIT_HASH_LEN];
        qs_audit_record_from_row(WRITER, &rows[0], &rec);
        assert_int_equal(qs_audit_record_hash(&rec, h), QS_OK);
        char sql[256], hexs[65];
        for (int i = 0; i < 32; i++)
            snprintf(hexs + 2 * i, 3, "%02x", h[i]);
        snprintf(sql, sizeof sql, "UPDATE qsign.audit_log SET record_hash = '\\x%s' WHERE seq = 7",
                 hexs);
        tamper(f, sql);
        qs_db_audit_rows_free(rows, n);
        qs_db_free(db);
    }
    findings want = {.n = 2, .seq = {7, 8}, .problem = {QS_AUDIT_BAD_MAC, QS_AUDIT_BAD_LINK}};
    expect_findings(f, &want, 2, 2);

    /* And the writer refuses to extend a chain whose head was altered. */
    tamper(f, "DELETE FROM qsign.audit_log WHERE seq = 7;"
              " INSERT INTO qsign.audit_log SELECT * FROM keep; DROP TABLE keep");
    expect_intact(f, WRITER, 10);
    tamper(f, "UPDATE qsign.audit_log SET details = '{\"i\":99}' WHERE seq = 10");
    assert_int_equal(try_start(f, WRITER), QS_ERR_MAC);
}

static bool stop_at_first(void *cls, const qs_audit_finding *fd)
{
    int *heard = cls;
    (*heard)++;
    assert_int_equal(fd->seq, 2);
    assert_int_equal(fd->problem, QS_AUDIT_SEQ_GAP);
    assert_string_equal(fd->writer_id, WRITER);
    assert_non_null(strstr(fd->what, "expected seq 1, found 2"));
    return false;
}

static void test_tamper_deleted(void **state)
{
    fixture *f = *state;
    make_chain(f, 10);
    tamper(f, "DELETE FROM qsign.audit_log WHERE seq = 5");
    findings want = {.n = 2, .seq = {6, 6}, .problem = {QS_AUDIT_SEQ_GAP, QS_AUDIT_BAD_LINK}};
    expect_findings(f, &want, 2, 2);

    /* The first record gone too. */
    tamper(f, "DELETE FROM qsign.audit_log WHERE seq = 1");
    findings want2 = {
        .n = 4,
        .seq = {2, 2, 6, 6},
        .problem = {QS_AUDIT_SEQ_GAP, QS_AUDIT_BAD_LINK, QS_AUDIT_SEQ_GAP, QS_AUDIT_BAD_LINK}};
    expect_findings(f, &want2, 4, 4);

    /* A callback that asks to stop hears one finding only. */
    int heard = 0;
    uint64_t count = 0;
    assert_int_equal(
        qs_audit_verify_chain(f->auditor, main_hs, WRITER, stop_at_first, &heard, &count),
        QS_ERR_MAC);
    assert_int_equal(heard, 1);
    assert_int_equal(count, 1);
}

static void test_tamper_swapped(void **state)
{
    fixture *f = *state;
    make_chain(f, 10);
    /* Records 3 and 4 trade places: each keeps its own hash and MAC. */
    tamper(f, "CREATE TEMP TABLE two AS SELECT * FROM qsign.audit_log WHERE seq IN (3, 4);"
              " DELETE FROM qsign.audit_log WHERE seq IN (3, 4);"
              " UPDATE two SET seq = 7 - seq;"
              " INSERT INTO qsign.audit_log SELECT * FROM two; DROP TABLE two");
    findings want = {.n = 5,
                     .seq = {3, 3, 4, 4, 5},
                     .problem = {QS_AUDIT_BAD_LINK, QS_AUDIT_BAD_HASH, QS_AUDIT_BAD_LINK,
                                 QS_AUDIT_BAD_HASH, QS_AUDIT_BAD_LINK}};
    expect_findings(f, &want, 5, 5);
}

static void test_tamper_forged_insert(void **state)
{
    fixture *f = *state;
    make_chain(f, 10);
    /* A record that links and hashes correctly, appended through the normal path (triggers on),
     * with a MAC the forger had to guess. */
    qs_db *db = NULL;
    assert_int_equal(qs_db_connect(f->pg->audit_conninfo, &db), QS_OK);
    qs_db_audit_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(qs_db_audit_page(db, WRITER, 9, 1, &rows, &n), QS_OK);
    assert_int_equal(n, 1);
    qs_audit_record rec = {
        .writer_id = WRITER,
        .seq = 11,
        .event_time_us = rows[0].event_time_us + 1,
        .event_type = "signature.created",
        .actor = "user:alice",
        .success = true,
        .details = "{\"forged\":true}",
        .prev_hash = rows[0].record_hash,
    };
    uint8_t h[QS_AUDIT_HASH_LEN], mac[QS_AUDIT_MAC_LEN];
    assert_int_equal(qs_audit_record_hash(&rec, h), QS_OK);
    qs_random(mac, sizeof mac);
    char hh[65], mh[65], ph[65], sql[1024];
    for (int i = 0; i < 32; i++) {
        snprintf(hh + 2 * i, 3, "%02x", h[i]);
        snprintf(mh + 2 * i, 3, "%02x", mac[i]);
        snprintf(ph + 2 * i, 3, "%02x", rows[0].record_hash[i]);
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, actor, result,"
             " details, prev_hash, record_hash, record_mac) VALUES ('%s', 11,"
             " 'epoch'::timestamptz + %lld * interval '1 microsecond', 'signature.created',"
             " 'user:alice', 'success', '{\"forged\":true}', '\\x%s', '\\x%s', '\\x%s')",
             WRITER, (long long)rec.event_time_us, ph, hh, mh);
    qs_test_pg_exec_ok(f->su, sql);
    qs_db_audit_rows_free(rows, n);
    qs_db_free(db);

    findings want = {.n = 1, .seq = {11}, .problem = {QS_AUDIT_BAD_MAC}};
    expect_findings(f, &want, 1, 1);
    /* The writer will not build on it. */
    assert_int_equal(try_start(f, WRITER), QS_ERR_MAC);
}

static void test_verify_arguments(void **state)
{
    fixture *f = *state;
    findings fs;
    uint64_t count = 7;
    assert_int_equal(verify(f, "nobody", &fs, &count), QS_ERR_NOT_FOUND);
    assert_int_equal(count, 0);
    assert_int_equal(verify(f, "no/such", &fs, &count), QS_ERR_INVALID_ARGUMENT);
    /* A registered writer with an empty chain is intact. */
    qs_audit *a = start_writer(f, WRITER, 0);
    qs_audit_stop(a);
    expect_intact(f, WRITER, 0);
    /* A writer registered with another MAC key is refused, by writer and verifier alike. */
    qs_test_pg_exec_ok(f->su, "INSERT INTO qsign.audit_writers (writer_id, mac_key_label)"
                              " VALUES ('other-key', 'some-other-key')");
    assert_int_equal(try_start(f, "other-key"), QS_ERR_CONFIG);
    assert_int_equal(verify(f, "other-key", &fs, &count), QS_ERR_UNSUPPORTED);
}

/* Commits that are not durable when COMMIT returns would break invariant 1: no writer then. */
static void test_not_durable_refused(void **state)
{
    fixture *f = *state;
    char sql[256];
    /* db/roles.sql sets it on for the role; a per-database override turns it off again. */
    char *v = qs_test_pg_query_value(
        f->su, "SELECT setconfig::text FROM pg_db_role_setting WHERE setdatabase = 0"
               " AND setrole = 'qsign_sam'::regrole");
    assert_string_equal(v, "{synchronous_commit=on}");
    free(v);
    snprintf(sql, sizeof sql, "ALTER ROLE qsign_sam IN DATABASE %s SET synchronous_commit = off",
             f->pg->dbname);
    qs_test_pg_exec_ok(f->su, sql);
    assert_int_equal(try_start(f, WRITER), QS_ERR_CONFIG);
    snprintf(sql, sizeof sql, "ALTER ROLE qsign_sam IN DATABASE %s RESET synchronous_commit",
             f->pg->dbname);
    qs_test_pg_exec_ok(f->su, sql);
    assert_int_equal(try_start(f, WRITER), QS_OK);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static qs_audit *start_writer_cp(fixture *f, uint64_t every_records, unsigned every_seconds)
{
    qs_audit_params p = {
        .writer_id = WRITER,
        .conninfo = f->pg->sam_conninfo,
        .hsm = hsm,
        .checkpoint_every_records = every_records,
        .checkpoint_every_seconds = every_seconds,
    };
    qs_audit *a = NULL;
    qs_err r = qs_audit_start(&p, &a);
    if (r != QS_OK)
        fail_msg("qs_audit_start: %s", qs_err_name(r));
    return a;
}

/* Checkpoints follow the commit that woke the caller: wait for the one at `seq`. */
static void wait_checkpoint(qs_audit *a, uint64_t seq)
{
    qs_audit_stats st;
    for (int i = 0; i < 500; i++) {
        qs_audit_get_stats(a, &st);
        if (st.checkpoint_seq == seq)
            return;
        usleep(10000);
    }
    fail_msg("no checkpoint at seq %llu (last at %llu)", (unsigned long long)seq,
             (unsigned long long)st.checkpoint_seq);
}

/* The stored checkpoints' seqs, comma-separated ("" for none). */
static char *checkpoint_seqs(fixture *f)
{
    char *v = qs_test_pg_query_value(f->su, "SELECT coalesce(string_agg(seq::text, ',' ORDER BY"
                                            " seq), '') FROM qsign.audit_checkpoints");
    return v;
}

static void expect_checkpoints(fixture *f, const char *want)
{
    char *got = checkpoint_seqs(f);
    if (strcmp(got, want) != 0)
        fail_msg("checkpoints at \"%s\", want \"%s\"", got, want);
    free(got);
}

/* Every stored checkpoint verifies with the registered key, which is the HSM's audit key, and
 * names its record's hash. */
static void check_stored_checkpoints(fixture *f, size_t want_n)
{
    uint8_t *spki = NULL, *hsm_spki = NULL;
    size_t spki_len = 0, hsm_spki_len = 0, n = 0;
    qs_db_audit_checkpoint *cps = NULL;
    assert_int_equal(qs_db_audit_writer_key(f->auditor, WRITER, &spki, &spki_len), QS_OK);
    assert_non_null(spki);
    assert_int_equal(qs_hsm_service_public_key(hsm, QS_HSM_AUDIT_SIGN, &hsm_spki, &hsm_spki_len),
                     QS_OK);
    assert_int_equal(spki_len, hsm_spki_len);
    assert_memory_equal(spki, hsm_spki, spki_len);
    assert_int_equal(qs_db_audit_checkpoint_page(f->auditor, WRITER, 0, 100, &cps, &n), QS_OK);
    assert_int_equal(n, want_n);
    for (size_t i = 0; i < n; i++) {
        qs_audit_checkpoint cp;
        qs_audit_checkpoint_from_db(WRITER, &cps[i], &cp);
        assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, spki_len), QS_OK);
        qs_db_audit_row *rows = NULL;
        size_t got = 0;
        assert_int_equal(qs_db_audit_page(f->auditor, WRITER, cps[i].seq - 1, 1, &rows, &got),
                         QS_OK);
        assert_int_equal(got, 1);
        assert_memory_equal(rows[0].record_hash, cps[i].head_hash, QS_AUDIT_HASH_LEN);
        /* Signed after the record was made. */
        assert_true(cps[i].time_us >= rows[0].event_time_us);
        qs_db_audit_rows_free(rows, got);
    }
    free(cps);
    free(spki);
    free(hsm_spki);
}

static void test_checkpoints_every_records(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer_cp(f, 10, 0);
    for (int i = 1; i <= 35; i++)
        assert_int_equal(append1(a, "sad.issued", "{}"), (uint64_t)i);
    wait_checkpoint(a, 30);
    qs_audit_stats st;
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.checkpoints, 3);
    assert_int_equal(st.checkpoint_seq, 30);
    assert_int_equal(st.failed_checkpoints, 0);
    expect_checkpoints(f, "10,20,30");
    /* A call of many events crosses the period: one checkpoint, at its end. */
    qs_audit_event evs[25];
    for (int k = 0; k < 25; k++)
        evs[k] = (qs_audit_event){.event_type = "signature.created", .actor = "t"};
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append_many(a, evs, 25, &ref), QS_OK);
    wait_checkpoint(a, 60);
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.checkpoints, 4);
    qs_audit_stop(a);
    expect_checkpoints(f, "10,20,30,60");
    check_stored_checkpoints(f, 4);
    expect_intact(f, WRITER, 60);

    /* A restart with nothing new adds nothing; one new record gets the stop checkpoint. */
    a = start_writer_cp(f, 10, 0);
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.checkpoint_seq, 60);
    qs_audit_stop(a);
    expect_checkpoints(f, "10,20,30,60");
    a = start_writer(f, WRITER, 0);
    assert_int_equal(append1(a, "sad.issued", "{}"), 61);
    qs_audit_stop(a);
    expect_checkpoints(f, "10,20,30,60,61");
    check_stored_checkpoints(f, 5);
}

static void test_checkpoints_every_seconds(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer_cp(f, 0, 1);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(append1(a, "sad.issued", "{}"), (uint64_t)i);
    /* The writer is idle now; it wakes up for the checkpoint. */
    qs_audit_stats st;
    for (int i = 0; i < 300; i++) {
        qs_audit_get_stats(a, &st);
        if (st.checkpoints > 0)
            break;
        usleep(10000);
    }
    assert_int_equal(st.checkpoints, 1);
    assert_int_equal(st.checkpoint_seq, 3);
    /* No new record, no new checkpoint. */
    usleep(1500000);
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.checkpoints, 1);
    qs_audit_stop(a);
    expect_checkpoints(f, "3");
    check_stored_checkpoints(f, 1);
}

/* A checkpoint that fails fails no append, and is made again later. */
static void test_checkpoint_failure_spares_appends(void **state)
{
    fixture *f = *state;
    qs_audit *a = start_writer_cp(f, 2, 0);
    qs_test_pg_exec_ok(f->su, "REVOKE INSERT ON qsign.audit_checkpoints FROM qsign_sam");
    for (int i = 1; i <= 6; i++)
        assert_int_equal(append1(a, "sad.issued", "{}"), (uint64_t)i);
    qs_audit_stats st;
    for (int i = 0; i < 500; i++) {
        qs_audit_get_stats(a, &st);
        if (st.failed_checkpoints > 0)
            break;
        usleep(10000);
    }
    assert_int_equal(st.checkpoints, 0);
    assert_true(st.failed_checkpoints >= 1);
    assert_int_equal(st.failed_batches, 0);
    qs_test_pg_exec_ok(f->su, "GRANT INSERT ON qsign.audit_checkpoints TO qsign_sam");
    /* After the retry pause, the next batch brings the checkpoint. */
    usleep(1100000);
    assert_int_equal(append1(a, "sad.issued", "{}"), 7);
    wait_checkpoint(a, 7);
    qs_audit_get_stats(a, &st);
    assert_int_equal(st.checkpoints, 1);
    qs_audit_stop(a);
    expect_checkpoints(f, "7");
    expect_intact(f, WRITER, 7);
}

/* The writer will not extend a chain cut short below its last checkpoint, nor sign with another
 * key than the one registered. */
static void test_checkpoint_guards_writer(void **state)
{
    fixture *f = *state;
    make_chain(f, 10);
    expect_checkpoints(f, "10");
    tamper(f, "DELETE FROM qsign.audit_log WHERE seq > 8");
    assert_int_equal(try_start(f, WRITER), QS_ERR_MAC);
    findings want = {.n = 1, .seq = {10}, .problem = {QS_AUDIT_TRUNCATED}};
    expect_findings(f, &want, 1, 1);

    /* Another writer whose registered key is not this HSM's. */
    qs_test_pg_exec_ok(f->su, "INSERT INTO qsign.audit_writers (writer_id, mac_key_label,"
                              " checkpoint_spki) VALUES ('other-key', 'qsign-record-mac',"
                              " decode(repeat('30', 91), 'hex'))");
    assert_int_equal(try_start(f, "other-key"), QS_ERR_CONFIG);
    /* A writer from before checkpoints (no key yet) gets this HSM's key at start. */
    qs_test_pg_exec_ok(f->su, "INSERT INTO qsign.audit_writers (writer_id, mac_key_label)"
                              " VALUES ('old-writer', 'qsign-record-mac')");
    assert_int_equal(try_start(f, "old-writer"), QS_OK);
    char *same = qs_test_pg_query_value(
        f->su, "SELECT (SELECT checkpoint_spki FROM qsign.audit_writers WHERE writer_id ="
               " 'old-writer') = (SELECT checkpoint_spki FROM qsign.audit_writers WHERE"
               " writer_id = 'sam-test-1')");
    assert_string_equal(same, "t");
    free(same);
}

/* ---- encoding details that need the HSM or the server -------------------------------------- */

/* record_mac is the HMAC of exactly "qsign-audit-mac-v1" || record_hash. */
static void test_mac_input(void **state)
{
    (void)state;
    uint8_t hash[QS_AUDIT_HASH_LEN], mac[QS_AUDIT_MAC_LEN], want[QS_HSM_HMAC_LEN];
    uint8_t msg[sizeof QS_AUDIT_MAC_DOMAIN - 1 + QS_AUDIT_HASH_LEN];
    qs_random(hash, sizeof hash);
    memcpy(msg, QS_AUDIT_MAC_DOMAIN, sizeof QS_AUDIT_MAC_DOMAIN - 1);
    memcpy(msg + sizeof QS_AUDIT_MAC_DOMAIN - 1, hash, sizeof hash);
    assert_int_equal(sizeof msg, 18 + 32);
    assert_int_equal(qs_audit_record_mac(main_hs, hash, mac), QS_OK);
    assert_int_equal(qs_hsm_hmac(main_hs, QS_HSM_RECORD_MAC, msg, sizeof msg, want), QS_OK);
    assert_memory_equal(mac, want, sizeof mac);
    assert_int_equal(qs_audit_record_mac_verify(main_hs, hash, mac), QS_OK);
    mac[31] ^= 1;
    assert_int_equal(qs_audit_record_mac_verify(main_hs, hash, mac), QS_ERR_MAC);
}

/* The writer's JSON check never accepts what PostgreSQL's column refuses (a refused value would
 * fail a whole batch), and agrees with it on ordinary input. */
static void test_details_check_matches_server(void **state)
{
    fixture *f = *state;
    static const char *const cases[] = {
        "{}",
        " { } ",
        "{\"a\":1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-0}",
        "{\"a\":1e5}",
        "{\"a\":1E+5}",
        "{\"a\":1e1000}",
        "{\"a\":1e-1000}",
        "{\"a\":-1.5e-3}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\u00e9\"}",
        "{\"a\":\"\\/\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"x\ty\"}",
        "{\"a\":\"\x7f\"}",
        "{\"a\":1,\"a\":2}",
        "{}x",
        "{} {}",
        "[]",
        "1",
        "\"s\"",
        "null",
        "{\"a\":[1,2,]}",
        "{\"a\":1,}",
        "{\"a\":tRue}",
        "{\"a\":true}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":{\"b\":[{}, [], null]}}",
        "{a:1}",
        "{\"a\" : 1 , \"b\" :\n[\r\t]}",
        "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
        "{\"a\":\"\\U0041\"}",
        "{\"a\":+1}",
        "{",
        "{\"a\":\"\\u004\"}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":0.0e0}",
        NULL,
    };
    int agree = 0;
    for (size_t i = 0; cases[i] != NULL; i++) {
        const char *v = cases[i];
        bool ours = qs_audit_details_valid(v, strlen(v));
        const char *params[1] = {v};
        PGresult *res = PQexecParams(f->su, "SELECT jsonb_typeof($1::text::jsonb) = 'object'", 1,
                                     NULL, params, NULL, NULL, 0);
        bool server =
            PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (ours && !server)
            fail_msg("the writer accepts what the server refuses: %s", v);
        if (ours != server)
            fail_msg("the writer and the server disagree on %s (writer %d, server %d)", v, ours,
                     server);
        agree++;
    }
    /* The size limit is the column's too. */
    char *big = malloc(QS_AUDIT_DETAILS_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', QS_AUDIT_DETAILS_MAX + 1);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + QS_AUDIT_DETAILS_MAX - 1, "\"}", 3); /* QS_AUDIT_DETAILS_MAX + 1 bytes */
    assert_false(qs_audit_details_valid(big, strlen(big)));
    qs_audit *a = start_writer(f, WRITER, 0);
    qs_audit_event ev = {.event_type = "big", .actor = "t", .details_json = big};
    qs_audit_ref ref;
    assert_int_equal(qs_audit_append(a, &ev, &ref), QS_ERR_INVALID_ARGUMENT);
    big[QS_AUDIT_DETAILS_MAX - 2] = '"';
    big[QS_AUDIT_DETAILS_MAX - 1] = '}';
    big[QS_AUDIT_DETAILS_MAX] = '\0';
    assert_int_equal(qs_audit_append(a, &ev, &ref), QS_OK);
    qs_audit_stop(a);
    free(big);
    expect_intact(f, WRITER, 1);
    print_message("  %d inputs judged alike\n", agree);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const char *lvl = getenv("QS_TEST_LOG");
    qs_log_level level = QS_LOG_ERROR + 1;
    if (lvl != NULL && !qs_log_level_parse(lvl, &level))
        level = QS_LOG_DEBUG;
    qs_log_set_level(level);

    qs_test_token_create(&token, "audit");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    if (qs_hsm_session_open(hsm, &main_hs) != QS_OK)
        return 1;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_many_contiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_outcome_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_changed_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_swapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_forged_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_durable_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_every_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_every_seconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_failure_spares_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_guards_writer, setup, teardown),
        cmocka_unit_test(test_mac_input),
        cmocka_unit_test_setup_teardown(test_details_check_matches_server, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qs_hsm_session_close(main_hs);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return rc;
}

/*
 * qsign-bench-audit: makes a large audit chain fast and measures what verifying it costs, part
 * by part, so the figure of `qsignctl audit verify` can be explained:
 *
 *   generate   the writer itself, several appenders calling qs_audit_append_many with large
 *              calls into large group-commit batches, checkpoints every --checkpoint-every
 *   read       the chain streamed page by page as qsign_audit, nothing checked
 *   hash       record_hash recomputed for every record read (no database, no HSM)
 *   mac        one HSM MAC check (qs_audit_record_mac_verify) per record, per session
 *   verify     qs_audit_verify_writer: all of the above plus links and checkpoints, with the
 *              MACs checked inline, then by 1, 2, 4, ... (--verify-threads) HSM sessions in
 *              parallel while the next page is read
 *
 * It works on a database migrated by `qsignctl db migrate` and a token prepared by `qsignctl
 * hsm init`; bench/audit-verify-bench.sh sets up both in a scratch directory and runs the real
 * `qsignctl audit verify` afterwards.  Progress goes to stderr, results to stdout.
 */
#define QS_LOG_MODULE "bench"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "db/db_audit.h"
#include "hsm/hsm.h"
#include "sam/audit.h"
#include "sam/audit_internal.h"
#include "util/log.h"
#include "util/secret.h"

#define BENCH_CALL_EVENTS 2048 /* events per append_many call (QS_AUDIT_APPEND_MANY_MAX) */
#define BENCH_PAGE        1000
#define BENCH_MAC_SAMPLE  200000 /* MAC checks timed at most */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct gen {
    qs_audit *a;
    atomic_llong left; /* events still to append */
    atomic_llong done;
    atomic_int errors;
} gen;

static void *appender(void *arg)
{
    gen *g = arg;
    static const uint8_t uid[16] = {0x42, 1, 2, 3};
    static const uint8_t cred[16] = {0xc4, 5, 6, 7};
    static const uint8_t sad[32] = {0x5a};
    qs_audit_event *evs = calloc(BENCH_CALL_EVENTS, sizeof *evs);
    char(*det)[64] = calloc(BENCH_CALL_EVENTS, sizeof *det);
    if (evs == NULL || det == NULL) {
        atomic_fetch_add(&g->errors, 1);
        goto out;
    }
    for (;;) {
        long long n = atomic_fetch_sub(&g->left, BENCH_CALL_EVENTS);
        if (n <= 0)
            break;
        size_t k = n < BENCH_CALL_EVENTS ? (size_t)n : BENCH_CALL_EVENTS;
        for (size_t i = 0; i < k; i++) {
            snprintf(det[i], sizeof det[i],
                     "{\"hash\":\"q83vEjRWeJA=\",\"n\":%zu,\"alg\":\"ES256\"}", i);
            evs[i] = (qs_audit_event){
                .event_type = i % 3 == 0 ? "signature.created" : "sad.issued",
                .actor = "user:bench",
                .user_id = uid,
                .credential_id = i % 2 ? cred : NULL,
                .sad_ref = i % 3 == 0 ? sad : NULL,
                .success = i % 11 != 0,
                .details_json = det[i],
            };
        }
        qs_audit_ref ref;
        if (qs_audit_append_many(g->a, evs, k, &ref) != QS_OK) {
            atomic_fetch_add(&g->errors, 1);
            break;
        }
        atomic_fetch_add(&g->done, (long long)k);
    }
out:
    free(evs);
    free(det);
    return NULL;
}

static int generate(qs_hsm *h, const char *sam_conninfo, const char *writer, long long records,
                    int threads, uint64_t cp_every)
{
    qs_audit_params p = {
        .writer_id = writer,
        .description = "qsign-bench-audit",
        .conninfo = sam_conninfo,
        .hsm = h,
        .max_batch = 4 * BENCH_CALL_EVENTS,
        .checkpoint_every_records = cp_every,
    };
    gen g = {0};
    qs_err r = qs_audit_start(&p, &g.a);
    if (r != QS_OK) {
        fprintf(stderr, "bench: cannot start the writer: %s\n", qs_err_name(r));
        return 1;
    }
    atomic_init(&g.left, records);
    pthread_t th[16];
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, appender, &g);
    while (atomic_load(&g.left) > 0 && atomic_load(&g.errors) == 0) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        fprintf(stderr, "\rgenerate: %lld records", (long long)atomic_load(&g.done));
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    qs_audit_stats st;
    qs_audit_get_stats(g.a, &st);
    qs_audit_stop(g.a);
    double secs = now_s() - t0;
    fprintf(stderr, "\n");
    if (atomic_load(&g.errors) != 0) {
        fprintf(stderr, "bench: appends failed\n");
        return 1;
    }
    printf("generate  %10lld records  %7.1f s  %9.0f records/s  (%llu batches, largest %llu, "
           "%llu checkpoints)\n",
           (long long)atomic_load(&g.done), secs, (double)atomic_load(&g.done) / secs,
           (unsigned long long)st.batches, (unsigned long long)st.largest_batch,
           (unsigned long long)st.checkpoints);
    return 0;
}

typedef struct page_ctx {
    const char *writer;
    int64_t after;
    qs_db_audit_row *rows;
    size_t n;
} page_ctx;

static qs_err page_txn(qs_db *db, void *cls)
{
    page_ctx *c = cls;
    qs_db_audit_rows_free(c->rows, c->n);
    c->rows = NULL;
    c->n = 0;
    return qs_db_audit_page(db, c->writer, c->after, BENCH_PAGE, &c->rows, &c->n);
}

/* Streams the chain; hashes and MAC-checks each record if asked.  Returns records read. */
static long long stream(qs_db *db, qs_hsm_session *hs, const char *writer, bool hash, bool mac,
                        long long mac_limit)
{
    page_ctx c = {.writer = writer};
    long long n = 0;
    do {
        if (qs_db_run_txn_opt(db, "bench_page", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                              page_txn, &c) != QS_OK) {
            fprintf(stderr, "bench: page read failed\n");
            break;
        }
        for (size_t i = 0; i < c.n; i++) {
            if (hash) {
                qs_audit_record rec;
                uint8_t h[QS_AUDIT_HASH_LEN];
                qs_audit_record_from_row(writer, &c.rows[i], &rec);
                if (qs_audit_record_hash(&rec, h) != QS_OK ||
                    !qs_ct_equal(h, c.rows[i].record_hash, sizeof h))
                    fprintf(stderr, "bench: record %lld does not hash\n", (long long)rec.seq);
            }
            if (mac && qs_audit_record_mac_verify(hs, c.rows[i].record_hash,
                                                  c.rows[i].record_mac) != QS_OK)
                fprintf(stderr, "bench: record %lld fails its MAC\n", (long long)c.rows[i].seq);
            n++;
        }
        if (c.n > 0)
            c.after = c.rows[c.n - 1].seq;
    } while (c.n == BENCH_PAGE && (mac_limit <= 0 || n < mac_limit));
    qs_db_audit_rows_free(c.rows, c.n);
    return n;
}

static void line(const char *what, long long n, double secs)
{
    printf("%-9s %10lld records  %7.1f s  %9.0f records/s\n", what, n, secs,
           secs > 0 ? (double)n / secs : 0.0);
    fflush(stdout);
}

static void progress(void *cls, const char *writer_id, uint64_t records, uint64_t head)
{
    (void)cls;
    if (records % 50000 < BENCH_PAGE)
        fprintf(stderr, "\rverify %s: %llu of %llu", writer_id, (unsigned long long)records,
                (unsigned long long)head);
}

static void usage(void)
{
    fprintf(stderr, "usage: qsign-bench-audit --sam-conninfo CI --audit-conninfo CI --module SO\n"
                    "                         --token LABEL --pin-file FILE [--writer W]\n"
                    "                         [--records N] [--threads T] [--checkpoint-every N]\n"
                    "                         [--no-generate] [--verify-threads T]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sam-conninfo", required_argument, NULL, 's'},
        {"audit-conninfo", required_argument, NULL, 'a'},
        {"module", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 't'},
        {"pin-file", required_argument, NULL, 'p'},
        {"writer", required_argument, NULL, 'w'},
        {"records", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'T'},
        {"checkpoint-every", required_argument, NULL, 'c'},
        {"no-generate", no_argument, NULL, 'G'},
        {"verify-threads", required_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *sam_ci = NULL, *audit_ci = NULL, *module = NULL, *label = NULL, *pin_file = NULL;
    const char *writer = "bench-1";
    long long records = 1000000;
    int threads = 4, verify_threads = 4;
    uint64_t cp_every = 10000;
    bool do_generate = true;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            sam_ci = optarg;
            break;
        case 'a':
            audit_ci = optarg;
            break;
        case 'm':
            module = optarg;
            break;
        case 't':
            label = optarg;
            break;
        case 'p':
            pin_file = optarg;
            break;
        case 'w':
            writer = optarg;
            break;
        case 'n':
            records = atoll(optarg);
            break;
        case 'T':
            threads = atoi(optarg);
            break;
        case 'c':
            cp_every = strtoull(optarg, NULL, 10);
            break;
        case 'G':
            do_generate = false;
            break;
        case 'V':
            verify_threads = atoi(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (sam_ci == NULL || audit_ci == NULL || module == NULL || label == NULL || pin_file == NULL ||
        records <= 0 || threads < 1 || threads > 16 || verify_threads < 0 ||
        verify_threads > QS_AUDIT_VERIFY_MAC_THREADS_MAX) {
        usage();
        return 2;
    }
    if (qs_util_init() != QS_OK)
        return 1;
    qs_log_set_level(QS_LOG_WARN);

    char *pin = NULL, why[256];
    size_t pin_len = 0;
    if (qs_secret_read_file(pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, why, sizeof why) != QS_OK) {
        fprintf(stderr, "bench: %s: %s\n", pin_file, why);
        return 1;
    }
    qs_hsm_params hp = {
        .module_path = module, .token_label = label, .pin = pin, .pin_len = pin_len};
    qs_hsm *h = NULL;
    qs_hsm_session *hs = NULL;
    qs_err r = qs_hsm_open(&hp, &h);
    qs_secret_free(pin);
    if (r == QS_OK)
        r = qs_hsm_session_open(h, &hs);
    if (r != QS_OK) {
        fprintf(stderr, "bench: HSM: %s\n", qs_err_name(r));
        return 1;
    }
    int rc = 0;
    if (do_generate)
        rc = generate(h, sam_ci, writer, records, threads, cp_every);
    qs_db *db = NULL;
    if (rc == 0 && qs_db_connect(audit_ci, &db) != QS_OK) {
        fprintf(stderr, "bench: cannot connect as the auditor\n");
        rc = 1;
    }
    if (rc == 0) {
        double t0 = now_s();
        long long n = stream(db, hs, writer, false, false, 0);
        line("read", n, now_s() - t0);
        t0 = now_s();
        n = stream(db, hs, writer, true, false, 0);
        line("read+hash", n, now_s() - t0);
        t0 = now_s();
        n = stream(db, hs, writer, false, true, BENCH_MAC_SAMPLE);
        line("read+mac", n, now_s() - t0);

        for (unsigned t = 0; t <= (unsigned)verify_threads && rc == 0; t = t == 0 ? 1 : t * 2) {
            /* 0: MACs one after the other through `hs`; else t HSM sessions in parallel. */
            qs_audit_verify_opts o = {
                .progress = progress, .hsm = t == 0 ? NULL : h, .mac_threads = t};
            qs_audit_verify_result res;
            char what[32];
            t0 = now_s();
            r = qs_audit_verify_writer(db, hs, writer, &o, &res);
            double secs = now_s() - t0;
            fprintf(stderr, "\n");
            snprintf(what, sizeof what, t == 0 ? "verify/inline" : "verify/%u", t);
            line(what, (long long)res.records, secs);
            if (r != QS_OK) {
                printf("verify: %s, %llu findings\n", qs_err_name(r),
                       (unsigned long long)res.findings);
                rc = 1;
            }
        }
    }
    qs_db_free(db);
    qs_hsm_session_close(hs);
    qs_hsm_close(h);
    return rc;
}

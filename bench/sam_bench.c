/*
 * qsign-bench-sam: what qsign-sam sustains through its socket, beside what its two dominant
 * costs allow on the same machine in the same run.
 *
 *   authorize        AUTHORIZE (PIN + TOTP, one hash), each with a fresh (signer, TOTP step),
 *                    beside the raw Argon2id rate (crypto_pwhash_str_alg with the daemon's
 *                    opslimit and memlimit): a PIN check costs one Argon2id
 *   sign, 1 hash     SIGN of one hash per request, beside the raw rates of the HSM layer:
 *                    unwrap + sign + destroy per signature, and sign with a key kept unwrapped
 *   sign, N hashes   SIGN of N hashes per request (one SAD of N hashes per request, as a CSC
 *                    client that authorizes a batch and signs it in one call), beside the same
 *
 * per client thread count, with p50/p99 latency per request.  Every client thread has its own
 * connection; SADs are authorized before a signing run (not timed) and every thread signs its
 * own SADs.
 *
 * The stack: by default a throwaway one made here, with the test harness (tests/lib/samd.h): a
 * PostgreSQL cluster (tests/lib/pg-cluster; as root the server runs as `postgres`), a SoftHSM
 * token with its service keys, a migrated database and the real qsign-sam with the config
 * defaults (or --workers, --argon2-ops, --argon2-mem).  With --config it uses an existing
 * qsign-sam instead (its config file, read for the socket, the HSM and the Argon2id cost; this
 * process must be one of its admin uids, and the signers it enrols stay in that database).
 *
 * Progress goes to stderr, the table to stdout.  --profile-cmd runs a command (e.g. perf record)
 * against the daemon during one run.
 */
#define QS_LOG_MODULE "bench"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_hsm.h"
#include "sam/client.h"
#include "sam/sam.h"
#include "tests/lib/pg.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

#define SB_DEFAULT_SECONDS   5.0
#define SB_DEFAULT_BATCH     100
#define SB_DEFAULT_SAD_SIZE  100
#define SB_DEFAULT_MAX_SADS  120 /* per signing run: each costs one authorization to prepare */
#define SB_MAX_THREADS       16
#define SB_PIN               "482916"
#define SB_PREP_THREADS      2 /* connections that enrol signers and authorize SADs */
#define SB_TIMEOUT_MS        120000
#define SB_MAX_HASHES        1000 /* HASH fields one request carries */
#define SB_MIN_CODES         8    /* a signer's two steps are never in flight at once */
#define SB_MIN_AUTH_REQUESTS 10   /* per thread, for percentiles of slow authorizations */

/* ---- state ----------------------------------------------------------------------------------- */

typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
} signer;

/* An SAD ready to sign: its handle, its signer and its hashes. */
typedef struct sad {
    const signer *who;
    char handle[QS_SAM_SAD_BUF];
    uint8_t (*h)[QS_SHA256_LEN];
    size_t n, next;
} sad;

typedef struct bench {
    /* options */
    double seconds;
    int threads[8], n_threads;
    unsigned batch, sad_size;
    int max_sads;
    qs_key_alg alg;
    const char *config;      /* an existing stack */
    const char *sam_socket;  /* overrides the config's socket */
    int workers;             /* 0: the config default */
    long long argon2_ops;    /* 0: the config default */
    long long argon2_mem;    /* 0: the config default */
    const char *log_level;   /* NULL: the config default */
    bool fsync;              /* throwaway cluster: durable commits */
    const char *sam_bin;     /* NULL: qsign-sam beside this program */
    const char *profile_cmd; /* %p: the daemon's pid, %b its database sessions' */
    const char *profile_run; /* authorize, sign1 or signN */

    /* the stack */
    qs_test_samd *d; /* NULL with --config */
    char dir[PATH_MAX];
    char pg_dir[PATH_MAX + 8];
    bool pg_started;
    char socket_path[108];
    char pg_desc[160];
    sam_config cfg;
    pid_t daemon_pid;
    qs_hsm *hsm;
    qs_hsm_keypair key;
    char prefix[16]; /* of the usernames this run enrols */

    /* signers: only the preparation threads add to the array, and only between runs */
    pthread_mutex_t mu;
    signer *signers;
    size_t n_signers, cap_signers, cursor;
} bench;

static bench *the_bench; /* for the exit handler */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Set by the signal thread: errors that follow from the stack going away are not reported. */
static atomic_bool interrupted;

/* Removes what the throwaway stack left: kills the daemon, stops the cluster, removes the
 * directories.  Runs once, at exit, from die() or on a signal, possibly while other threads
 * still run, so it frees nothing they might use; a second caller waits until the first is done. */
static void remove_stack(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static bool done;
    bench *b = the_bench;
    if (b == NULL)
        return;
    pthread_mutex_lock(&mu);
    if (!done) {
        done = true;
        if (b->d != NULL) {
            if (b->d->pid > 0) {
                kill(b->d->pid, SIGKILL);
                (void)waitpid(b->d->pid, NULL, 0);
            }
            qs_test_rmtree(b->d->token.dir);
        }
        if (b->pg_started)
            (void)qs_test_system("bash '%s/tests/lib/pg-cluster' stop '%s' >/dev/null 2>&1",
                                 getenv("QS_SOURCE_DIR"), b->pg_dir);
        if (b->dir[0] != '\0')
            qs_test_rmtree(b->dir);
    }
    pthread_mutex_unlock(&mu);
}

/* The last lines of the daemon's log, after a failure. */
static void print_log_tail(void)
{
    bench *b = the_bench;
    if (b == NULL || b->d == NULL)
        return;
    FILE *f = fopen(b->d->log_path, "r");
    if (f == NULL)
        return;
    enum { KEEP = 20 };
    static char lines[KEEP][512];
    size_t n = 0;
    while (fgets(lines[n % KEEP], sizeof lines[0], f) != NULL)
        n++;
    fclose(f);
    fprintf(stderr, "---- the end of qsign-sam's log ----\n");
    for (size_t i = n > KEEP ? n - KEEP : 0; i < n; i++)
        fputs(lines[i % KEEP], stderr);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die(const char *fmt, ...)
{
    if (!atomic_load(&interrupted)) {
        va_list ap;
        va_start(ap, fmt);
        fputs("qsign-bench-sam: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        print_log_tail();
    }
    remove_stack();
    _exit(1); /* other threads may still be in the HSM or libpq: no exit handlers */
}

static qs_sam_key_alg wire_key_alg(qs_key_alg alg)
{
    switch (alg) {
    case QS_KEY_EC_P256:
        return QS_SAM_KEY_EC_P256;
    case QS_KEY_EC_P384:
        return QS_SAM_KEY_EC_P384;
    case QS_KEY_RSA_2048:
        return QS_SAM_KEY_RSA2048;
    case QS_KEY_RSA_3072:
        return QS_SAM_KEY_RSA3072;
    case QS_KEY_RSA_4096:
        return QS_SAM_KEY_RSA4096;
    }
    return QS_SAM_KEY_EC_P256;
}

static qs_sam_sig_scheme wire_scheme(qs_key_alg alg)
{
    return bench_hsm_scheme(alg) == QS_SIG_ECDSA ? QS_SAM_SIG_ECDSA : QS_SAM_SIG_RSA_PKCS1;
}

static qs_sam_client *connect_sam(const bench *b)
{
    qs_sam_client *c = NULL;
    qs_err r = qs_sam_client_connect(b->socket_path, SB_TIMEOUT_MS, &c);
    if (r != QS_OK)
        die("cannot connect to %s: %s", b->socket_path, qs_err_name(r));
    return c;
}

/* ---- signers and TOTP steps ------------------------------------------------------------------ */

/* Codes a signer can hand out now without waiting for the clock: the current step and the
 * next, each once. */
static int codes_left(const signer *g)
{
    uint64_t now = 0;
    if (qs_totp_step(&g->s.params, (int64_t)time(NULL), &now) != QS_OK)
        return 0;
    if (g->s.last_step < now)
        return 2;
    return g->s.last_step == now ? 1 : 0;
}

static size_t codes_available(bench *b)
{
    size_t n = 0;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n_signers; i++)
        n += (size_t)codes_left(&b->signers[i]);
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* A TOTP code for a (signer, step) never used before, without waiting; NULL when every signer
 * has used its steps. */
static const signer *take_code(bench *b, char otp[static QS_TOTP_CODE_BUF])
{
    const signer *g = NULL;
    pthread_mutex_lock(&b->mu);
    for (size_t k = 0; k < b->n_signers && g == NULL; k++) {
        signer *cand = &b->signers[(b->cursor + k) % b->n_signers];
        if (codes_left(cand) > 0) {
            qs_test_signer_code(&cand->s, otp);
            g = cand;
            b->cursor = (b->cursor + k + 1) % b->n_signers;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return g;
}

/* Like take_code, waiting for the next TOTP step when all are used. */
static const signer *take_code_wait(bench *b, char otp[static QS_TOTP_CODE_BUF])
{
    bool said = false;
    for (;;) {
        const signer *g = take_code(b, otp);
        if (g != NULL)
            return g;
        if (!said)
            fprintf(stderr, "  every signer used its TOTP steps: waiting for the clock\n");
        said = true;
        sleep(1);
    }
}

/* Prints how far preparation threads got, once a second, until `total` are done. */
static void wait_progress(atomic_size_t *done, size_t total, const char *what, double t0)
{
    double next = t0 + 1;
    for (;;) {
        size_t n = atomic_load(done);
        if (n >= total || now_s() >= next) {
            fprintf(stderr, "  %zu/%zu %s (%.1f s)\n", n, total, what, now_s() - t0);
            next += 1;
        }
        if (n >= total)
            return;
        usleep(50 * 1000);
    }
}

typedef struct enrol_job {
    bench *b;
    atomic_size_t *next;
    size_t end;
    atomic_size_t *done;
} enrol_job;

static void *enrol_main(void *arg)
{
    enrol_job *j = arg;
    bench *b = j->b;
    qs_sam_client *c = connect_sam(b);
    for (;;) {
        size_t i = atomic_fetch_add(j->next, 1);
        if (i >= j->end)
            break;
        signer *g = &b->signers[i];
        char name[64];
        snprintf(name, sizeof name, "%s-%zu", b->prefix, i);
        qs_test_samd_enrol_signer(b->d, c, name, SB_PIN, &g->s);
        qs_test_samd_create_credential(c, g->s.user_id, wire_key_alg(b->alg), g->cred, NULL, NULL);
        atomic_fetch_add(j->done, 1);
    }
    qs_sam_client_close(c);
    return NULL;
}

/* Enrols more signers until at least `codes` fresh codes are at hand. */
static void ensure_codes(bench *b, size_t codes)
{
    if (codes < SB_MIN_CODES)
        codes = SB_MIN_CODES;
    size_t have = codes_available(b);
    if (have >= codes)
        return;
    size_t add = (codes - have + 1) / 2;
    size_t base = b->n_signers, end = base + add;
    if (end > b->cap_signers) {
        size_t cap = end + end / 2 + 8;
        signer *p = realloc(b->signers, cap * sizeof *p);
        if (p == NULL)
            die("out of memory");
        memset(p + b->cap_signers, 0, (cap - b->cap_signers) * sizeof *p);
        b->signers = p;
        b->cap_signers = cap;
    }
    atomic_size_t next, done;
    atomic_init(&next, base);
    atomic_init(&done, 0);
    enrol_job job = {b, &next, end, &done};
    pthread_t th[SB_PREP_THREADS];
    double t0 = now_s();
    fprintf(stderr, "enrolling %zu signers (%zu fresh TOTP codes wanted, %zu at hand)\n", add,
            codes, have);
    for (int i = 0; i < SB_PREP_THREADS; i++) {
        if (pthread_create(&th[i], NULL, enrol_main, &job) != 0)
            die("pthread_create failed");
    }
    wait_progress(&done, add, "signers enrolled", t0);
    for (int i = 0; i < SB_PREP_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&b->mu);
    b->n_signers = end;
    pthread_mutex_unlock(&b->mu);
}

/* ---- SADs ------------------------------------------------------------------------------------ */

static void sad_free(sad *s)
{
    if (s == NULL)
        return;
    qs_wipe(s->handle, sizeof s->handle);
    free(s->h);
}

static qs_err authorize(qs_sam_client *c, const signer *g, const char *otp,
                        const uint8_t (*h)[QS_SHA256_LEN], size_t n,
                        char handle[static QS_SAM_SAD_BUF])
{
    qs_sam_bytes hb[SB_MAX_HASHES];
    uint32_t expires = 0;
    if (n > sizeof hb / sizeof hb[0])
        return QS_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        hb[i] = (qs_sam_bytes){h[i], QS_SHA256_LEN};
    qs_sam_authorize_req q = {
        .user_id = g->s.user_id,
        .credential_id = g->cred,
        .pin = g->s.pin,
        .otp = otp,
        .num_signatures = (uint32_t)n,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = hb,
        .n_hashes = n,
        .description = "qsign-bench-sam",
    };
    return qs_sam_client_authorize(c, &q, handle, &expires);
}

typedef struct prep_job {
    bench *b;
    sad *sads;
    size_t n;
    atomic_size_t *next, *done;
} prep_job;

static void *prep_main(void *arg)
{
    prep_job *j = arg;
    qs_sam_client *c = connect_sam(j->b);
    for (;;) {
        size_t i = atomic_fetch_add(j->next, 1);
        if (i >= j->n)
            break;
        sad *s = &j->sads[i];
        char otp[QS_TOTP_CODE_BUF];
        s->who = take_code_wait(j->b, otp);
        for (size_t k = 0; k < s->n; k++)
            qs_random(s->h[k], QS_SHA256_LEN);
        qs_err r =
            authorize(c, s->who, otp, (const uint8_t(*)[QS_SHA256_LEN])s->h, s->n, s->handle);
        if (r != QS_OK)
            die("AUTHORIZE of %zu hashes: %s (%s)", s->n, qs_err_name(r), qs_sam_client_error(c));
        atomic_fetch_add(j->done, 1);
    }
    qs_sam_client_close(c);
    return NULL;
}

/* Authorizes n SADs of `size` hashes each. */
static sad *prepare_sads(bench *b, size_t n, size_t size)
{
    sad *sads = calloc(n, sizeof *sads);
    if (sads == NULL)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        sads[i].n = size;
        if ((sads[i].h = calloc(size, QS_SHA256_LEN)) == NULL)
            die("out of memory");
    }
    ensure_codes(b, n);
    atomic_size_t next, done;
    atomic_init(&next, 0);
    atomic_init(&done, 0);
    prep_job job = {b, sads, n, &next, &done};
    pthread_t th[SB_PREP_THREADS];
    double t0 = now_s();
    fprintf(stderr, "authorizing %zu SADs of %zu hash%s (not timed)\n", n, size,
            size == 1 ? "" : "es");
    for (int i = 0; i < SB_PREP_THREADS; i++) {
        if (pthread_create(&th[i], NULL, prep_main, &job) != 0)
            die("pthread_create failed");
    }
    wait_progress(&done, n, "SADs authorized", t0);
    for (int i = 0; i < SB_PREP_THREADS; i++)
        pthread_join(th[i], NULL);
    return sads;
}

/* ---- timed runs through the socket ----------------------------------------------------------- */

typedef enum run_kind { RUN_AUTHORIZE, RUN_SIGN } run_kind;

typedef struct sam_load {
    bench *b;
    run_kind kind;
    unsigned per_request; /* hashes per SIGN request */
    sad *sads;            /* thread i signs sads[i], sads[i + threads], ... */
    size_t n_sads;
    int threads;
    pthread_barrier_t start;
    struct timespec t0;
    atomic_bool stop;
    atomic_ulong requests; /* for progress lines */
} sam_load;

typedef struct run_thread {
    sam_load *run;
    int idx;
    pthread_t tid;
    unsigned long requests, signatures;
    double busy; /* seconds from t0 to the end of the last request */
    double *lat; /* seconds per request */
    size_t n_lat, cap_lat;
    bool ran_out;
    char error[256];
    atomic_bool finished; /* ran out, failed or stopped */
} run_thread;

static void note_latency(run_thread *t, double s)
{
    if (t->n_lat == t->cap_lat) {
        size_t cap = t->cap_lat == 0 ? 4096 : 2 * t->cap_lat;
        double *p = realloc(t->lat, cap * sizeof *p);
        if (p == NULL)
            die("out of memory");
        t->lat = p;
        t->cap_lat = cap;
    }
    t->lat[t->n_lat++] = s;
}

static bool one_authorize(run_thread *t, qs_sam_client *c)
{
    bench *b = t->run->b;
    char otp[QS_TOTP_CODE_BUF], handle[QS_SAM_SAD_BUF];
    uint8_t h[1][QS_SHA256_LEN];
    const signer *g = take_code(b, otp);
    if (g == NULL) {
        t->ran_out = true;
        return false;
    }
    qs_random(h[0], QS_SHA256_LEN);
    double t1 = now_s();
    qs_err r = authorize(c, g, otp, (const uint8_t(*)[QS_SHA256_LEN])h, 1, handle);
    note_latency(t, now_s() - t1);
    qs_wipe(handle, sizeof handle);
    if (r != QS_OK) {
        snprintf(t->error, sizeof t->error, "AUTHORIZE: %s (%s)", qs_err_name(r),
                 qs_sam_client_error(c));
        return false;
    }
    t->requests++;
    return true;
}

static bool one_sign(run_thread *t, qs_sam_client *c, size_t *sad_idx)
{
    sam_load *run = t->run;
    size_t want = run->per_request;
    sad *s = NULL;
    while (*sad_idx < run->n_sads) {
        s = &run->sads[*sad_idx];
        if (s->n - s->next >= want)
            break;
        *sad_idx += (size_t)run->threads;
        s = NULL;
    }
    if (s == NULL) {
        t->ran_out = true;
        return false;
    }
    qs_sam_bytes hb[SB_MAX_HASHES];
    for (size_t i = 0; i < want; i++)
        hb[i] = (qs_sam_bytes){s->h[s->next + i], QS_SHA256_LEN};
    s->next += want;
    qs_sam_sign_req q = {
        .user_id = s->who->s.user_id,
        .credential_id = s->who->cred,
        .sad = s->handle,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = hb,
        .n_hashes = want,
        .scheme = wire_scheme(run->b->alg),
    };
    qs_sam_signatures sigs;
    double t1 = now_s();
    qs_err r = qs_sam_client_sign(c, &q, &sigs);
    note_latency(t, now_s() - t1);
    qs_sam_signatures_free(&sigs);
    if (r != QS_OK) {
        snprintf(t->error, sizeof t->error, "SIGN of %zu hashes: %s (%s)", want, qs_err_name(r),
                 qs_sam_client_error(c));
        return false;
    }
    t->requests++;
    t->signatures += want;
    return true;
}

static void *run_main(void *arg)
{
    run_thread *t = arg;
    sam_load *run = t->run;
    qs_sam_client *c = connect_sam(run->b);
    size_t sad_idx = (size_t)t->idx;
    (void)pthread_barrier_wait(&run->start);
    double t0 = (double)run->t0.tv_sec + (double)run->t0.tv_nsec / 1e9;
    while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
        bool ok = run->kind == RUN_AUTHORIZE ? one_authorize(t, c) : one_sign(t, c, &sad_idx);
        if (!ok)
            break;
        t->busy = now_s() - t0;
        atomic_fetch_add_explicit(&run->requests, 1, memory_order_relaxed);
    }
    atomic_store(&t->finished, true);
    qs_sam_client_close(c);
    return NULL;
}

/* The pids of the daemon's database sessions, comma separated, into buf ("" if unknown). */
static void backend_pids(const bench *b, char *buf, size_t cap)
{
    buf[0] = '\0';
    PGconn *conn = PQconnectdb(b->cfg.db_conninfo);
    if (PQstatus(conn) == CONNECTION_OK) {
        PGresult *res = PQexec(conn, "SELECT string_agg(pid::text, ',') FROM pg_stat_activity "
                                     "WHERE usename = current_user AND pid <> pg_backend_pid()");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            snprintf(buf, cap, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    PQfinish(conn);
}

/* A command run against the daemon during one run (--profile-cmd): %p is the daemon's pid, %b
 * the pids of its database sessions. */
static pid_t profile_start(const bench *b)
{
    char cmd[8192], pid[32], backends[4096];
    size_t o = 0;
    snprintf(pid, sizeof pid, "%ld", (long)b->daemon_pid);
    backend_pids(b, backends, sizeof backends);
    for (const char *p = b->profile_cmd; *p != '\0' && o + 1 < sizeof cmd; p++) {
        const char *sub = p[0] == '%' && p[1] == 'p'   ? pid
                          : p[0] == '%' && p[1] == 'b' ? backends
                                                       : NULL;
        if (sub == NULL) {
            cmd[o++] = *p;
            continue;
        }
        size_t len = strlen(sub);
        if (o + len + 1 >= sizeof cmd)
            die("--profile-cmd: too long once expanded");
        memcpy(cmd + o, sub, len);
        o += len;
        p++;
    }
    cmd[o] = '\0';
    fprintf(stderr, "  profiling: %s\n", cmd);
    fflush(NULL);
    pid_t child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        setpgid(0, 0);
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_UNBLOCK, &all, NULL); /* the profiler is stopped with SIGINT */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(child, child);
    sleep(1); /* let it attach before the run starts */
    return child;
}

static void profile_stop(pid_t child)
{
    int st = 0;
    kill(-child, SIGINT);
    if (waitpid(child, &st, 0) < 0)
        fprintf(stderr, "  waitpid (profiler): %s\n", strerror(errno));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct run_result {
    double req_rate, sig_rate; /* per second, summed over the threads */
    double p50_ms, p99_ms;
    unsigned long requests;
    double seconds; /* the longest thread's busy time */
    bool ran_out;
} run_result;

/* Runs `threads` clients for b->seconds, longer (up to four times) until min_requests are
 * done, so slow requests still give percentiles. */
static run_result run_sam(bench *b, run_kind kind, unsigned per_request, sad *sads, size_t n_sads,
                          int threads, unsigned long min_requests, const char *label, bool profile)
{
    sam_load run;
    run_thread th[SB_MAX_THREADS];
    run_result res;
    memset(&run, 0, sizeof run);
    memset(th, 0, sizeof th);
    memset(&res, 0, sizeof res);
    run.b = b;
    run.kind = kind;
    run.per_request = per_request;
    run.sads = sads;
    run.n_sads = n_sads;
    run.threads = threads;
    atomic_init(&run.stop, false);
    atomic_init(&run.requests, 0);
    if (pthread_barrier_init(&run.start, NULL, (unsigned)threads + 1) != 0)
        die("pthread_barrier_init failed");
    for (int i = 0; i < threads; i++) {
        th[i].run = &run;
        th[i].idx = i;
        atomic_init(&th[i].finished, false);
        if (pthread_create(&th[i].tid, NULL, run_main, &th[i]) != 0)
            die("pthread_create failed");
    }
    pid_t prof = profile ? profile_start(b) : 0;
    fprintf(stderr, "  %s, %d thread%s: running %.1f s\n", label, threads, threads > 1 ? "s" : "",
            b->seconds);
    clock_gettime(CLOCK_MONOTONIC, &run.t0); /* published to the threads by the barrier */
    (void)pthread_barrier_wait(&run.start);
    double t0 = now_s(), next_note = t0 + 1;
    while (now_s() - t0 < b->seconds ||
           (atomic_load(&run.requests) < min_requests && now_s() - t0 < 4 * b->seconds)) {
        usleep(20 * 1000);
        if (now_s() >= next_note) {
            fprintf(stderr, "    %.0f s: %lu requests\n", next_note - t0,
                    (unsigned long)atomic_load(&run.requests));
            next_note += 1;
        }
        bool all_done = true;
        for (int i = 0; i < threads; i++)
            all_done = all_done && atomic_load(&th[i].finished);
        if (all_done)
            break;
    }
    atomic_store(&run.stop, true);
    size_t n_lat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i].tid, NULL);
        if (th[i].error[0] != '\0')
            die("%s: client %d: %s", label, i, th[i].error);
        if (th[i].busy > 0) {
            res.req_rate += (double)th[i].requests / th[i].busy;
            res.sig_rate += (double)th[i].signatures / th[i].busy;
        }
        res.requests += th[i].requests;
        res.seconds = th[i].busy > res.seconds ? th[i].busy : res.seconds;
        res.ran_out = res.ran_out || th[i].ran_out;
        n_lat += th[i].n_lat;
    }
    if (prof > 0)
        profile_stop(prof);
    double *lat = calloc(n_lat + 1, sizeof *lat);
    if (lat == NULL)
        die("out of memory");
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(lat + k, th[i].lat, th[i].n_lat * sizeof *lat);
        k += th[i].n_lat;
        free(th[i].lat);
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    if (n_lat > 0) {
        res.p50_ms = 1000 * lat[(n_lat - 1) / 2];
        size_t i99 = (size_t)ceil(0.99 * (double)n_lat);
        res.p99_ms = 1000 * lat[i99 > 0 ? i99 - 1 : 0];
    }
    free(lat);
    pthread_barrier_destroy(&run.start);
    fprintf(stderr, "  %s, %d thread%s: %lu requests in %.1f s%s\n", label, threads,
            threads > 1 ? "s" : "", res.requests, res.seconds,
            res.ran_out ? " (ended early: the prepared SADs or TOTP steps ran out)" : "");
    return res;
}

/* ---- raw rates of the same run --------------------------------------------------------------- */

typedef struct argon_cls {
    unsigned long long ops;
    size_t mem;
} argon_cls;

static void *argon_setup(const void *cls)
{
    argon_cls *st = malloc(sizeof *st);
    if (st != NULL)
        *st = *(const argon_cls *)cls;
    return st;
}

static bool argon_run(void *state, const uint8_t digest[static QS_SHA256_LEN])
{
    const argon_cls *a = state;
    char out[crypto_pwhash_STRBYTES];
    /* the SAM hashes the 32-byte HMAC of the PIN: the same input length */
    return crypto_pwhash_str_alg(out, (const char *)digest, QS_SHA256_LEN, a->ops, a->mem,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0;
}

static void argon_teardown(void *state)
{
    free(state);
}

static double raw_rate(const bench_op_def *op, int threads, double seconds, const char *what)
{
    fprintf(stderr, "  raw %s, %d thread%s: running %.1f s\n", what, threads,
            threads > 1 ? "s" : "", seconds);
    double r = bench_run_threads(op, threads, seconds);
    if (r < 0)
        die("raw %s failed", what);
    fprintf(stderr, "  raw %s, %d thread%s: %.1f/s\n", what, threads, threads > 1 ? "s" : "", r);
    return r;
}

/* ---- the stack ------------------------------------------------------------------------------- */

static void run_sql(const char *conninfo, const char *sql)
{
    PGconn *conn = qs_test_pg_connect(conninfo);
    qs_test_pg_exec_ok(conn, sql);
    PQfinish(conn);
}

static void describe_pg(bench *b, const char *conninfo, const char *where)
{
    PGconn *conn = qs_test_pg_connect(conninfo);
    char *fs = qs_test_pg_query_value(conn, "SELECT current_setting('fsync')");
    char *sc = qs_test_pg_query_value(conn, "SELECT current_setting('synchronous_commit')");
    snprintf(b->pg_desc, sizeof b->pg_desc, "PostgreSQL %s: fsync %s, synchronous_commit %s", where,
             fs != NULL ? fs : "?", sc != NULL ? sc : "?");
    free(fs);
    free(sc);
    PQfinish(conn);
}

static void write_config(const bench *b)
{
    const qs_test_samd *d = b->d;
    FILE *f = fopen(d->config_path, "w");
    if (f == NULL)
        die("cannot write %s", d->config_path);
    fprintf(f, "[sam]\nsocket_path = %s\nsocket_mode = 0600\nwriter_id = %s\nadmin_uids = %u\n",
            d->socket_path, d->writer_id, (unsigned)getuid());
    if (b->workers > 0)
        fprintf(f, "workers = %d\n", b->workers);
    fprintf(f, "[database]\nconninfo = %s\n[hsm]\nmodule = %s\ntoken_label = %s\npin_file = %s\n",
            d->pg->sam_conninfo, d->token.module, d->token.label, d->pin_file);
    fprintf(f, "[auth]\n");
    if (b->argon2_ops > 0)
        fprintf(f, "argon2_opslimit = %lld\n", b->argon2_ops);
    if (b->argon2_mem > 0)
        fprintf(f, "argon2_memlimit = %lld\n", b->argon2_mem);
    if (b->log_level != NULL)
        fprintf(f, "[log]\nlevel = %s\n", b->log_level);
    if (fclose(f) != 0)
        die("cannot write %s", d->config_path);
}

static void load_config(bench *b, const char *path)
{
    char err[512];
    if (sam_config_load(path, &b->cfg, err, sizeof err) != QS_OK)
        die("%s: %s", path, err);
}

static void start_throwaway(bench *b)
{
    char exe[PATH_MAX], bin[PATH_MAX + 16];
    if (b->sam_bin == NULL) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            die("readlink /proc/self/exe: %s", strerror(errno));
        exe[n] = '\0';
        snprintf(bin, sizeof bin, "%s/qsign-sam", dirname(exe));
        b->sam_bin = bin;
    }
    if (access(b->sam_bin, X_OK) != 0)
        die("%s: not an executable (build qsign-sam, or give --sam-bin)", b->sam_bin);
    setenv("QS_SAM_BIN", b->sam_bin, 1);
    if (getenv("QS_SOURCE_DIR") == NULL)
        setenv("QS_SOURCE_DIR", QS_BENCH_SOURCE_DIR, 1);

    qs_test_tmpdir("bench-sam", b->dir, sizeof b->dir);
    snprintf(b->pg_dir, sizeof b->pg_dir, "%s/pg", b->dir);
    fprintf(stderr, "starting a throwaway PostgreSQL cluster\n");
    if (qs_test_system("bash '%s/tests/lib/pg-cluster' start '%s' >&2", getenv("QS_SOURCE_DIR"),
                       b->pg_dir) != 0)
        die("tests/lib/pg-cluster could not start a cluster");
    b->pg_started = true;
    char env[PATH_MAX + 16];
    snprintf(env, sizeof env, "%s/env", b->pg_dir);
    setenv("QS_TEST_PG_ENV", env, 1);

    fprintf(stderr, "making a SoftHSM token, a database and qsign-sam's config\n");
    b->d = calloc(1, sizeof *b->d);
    if (b->d == NULL)
        die("out of memory");
    qs_test_samd_setup(b->d, "bench", NULL);
    if (b->fsync) {
        run_sql(b->d->pg->super_conninfo, "ALTER SYSTEM SET fsync = on");
        run_sql(b->d->pg->super_conninfo, "ALTER SYSTEM SET synchronous_commit = on");
        run_sql(b->d->pg->super_conninfo, "ALTER SYSTEM SET full_page_writes = on");
        run_sql(b->d->pg->super_conninfo, "SELECT pg_reload_conf()");
        sleep(1);
    }
    describe_pg(b, b->d->pg->super_conninfo, "throwaway cluster");
    write_config(b);
    load_config(b, b->d->config_path);
    snprintf(b->socket_path, sizeof b->socket_path, "%s", b->d->socket_path);
    fprintf(stderr, "starting %s\n", b->sam_bin);
    qs_test_samd_launch(b->d);
    b->hsm = qs_test_token_open(&b->d->token);
}

static void use_existing(bench *b)
{
    load_config(b, b->config);
    const char *sock = b->sam_socket != NULL ? b->sam_socket : b->cfg.socket_path;
    if (snprintf(b->socket_path, sizeof b->socket_path, "%s", sock) >= (int)sizeof b->socket_path)
        die("socket path too long");
    char *pin = NULL, why[512];
    size_t pin_len = 0;
    if (qs_secret_read_file(b->cfg.hsm_pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, why, sizeof why) !=
        QS_OK)
        die("[hsm] pin_file: %s", why);
    qs_hsm_params p = {b->cfg.hsm_module, b->cfg.hsm_token_label, pin, pin_len};
    qs_err r = qs_hsm_open(&p, &b->hsm);
    qs_secret_free(pin);
    if (r != QS_OK)
        die("cannot open the token \"%s\": %s", b->cfg.hsm_token_label, qs_err_name(r));
    snprintf(b->pg_desc, sizeof b->pg_desc, "PostgreSQL of %s (its fsync setting is its own)",
             b->config);
    PGconn *conn = PQconnectdb(b->cfg.db_conninfo);
    if (PQstatus(conn) == CONNECTION_OK) {
        PQfinish(conn);
        describe_pg(b, b->cfg.db_conninfo, "of the existing stack");
    } else {
        PQfinish(conn);
    }
}

/* The daemon's pid, from the peer credentials of a connection. */
static pid_t daemon_pid(const bench *b)
{
    qs_sam_client *c = connect_sam(b);
    struct ucred uc;
    socklen_t len = sizeof uc;
    pid_t pid = 0;
    if (getsockopt(qs_sam_client_fd(c), SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0)
        pid = uc.pid;
    qs_sam_client_close(c);
    return pid;
}

/* SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken here: the throwaway stack is
 * removed before the process ends. */
static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    atomic_store(&interrupted, true);
    fprintf(stderr, "qsign-bench-sam: signal %d: removing the stack\n", sig);
    remove_stack();
    _exit(128 + sig);
}

static void start_signal_thread(void)
{
    static sigset_t set;
    pthread_t tid;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        pthread_create(&tid, NULL, signal_main, &set) != 0 || pthread_detach(tid) != 0)
        die("cannot start the signal thread");
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: qsign-bench-sam [options]\n"
            "  --seconds S          time per run (default %.0f)\n"
            "  --threads LIST       client threads, comma separated (default 1,2)\n"
            "  --batch N            hashes per request in the batch run (default %d)\n"
            "  --sad-hashes N       hashes per SAD in the one-hash run (default %d)\n"
            "  --max-sads N         most SADs prepared per signing run (default %d)\n"
            "  --alg ALG            EC-P256 (default), EC-P384, RSA-2048, RSA-3072, RSA-4096\n"
            "  --profile-cmd CMD    run CMD (sh -c) during one run and stop it with SIGINT after;\n"
            "                       %%p is the daemon's pid, %%b its database sessions' pids,\n"
            "                       e.g. 'perf record -g -p %%p,%%b -o sam.perf'\n"
            "  --profile-run RUN    that run: authorize, sign1 or signN, at the most threads\n"
            "                       (default sign1)\n"
            "a throwaway stack (the default):\n"
            "  --workers N          [sam] workers (default: the config default)\n"
            "  --argon2-ops N       [auth] argon2_opslimit (default: the config default)\n"
            "  --argon2-mem BYTES   [auth] argon2_memlimit (default: the config default)\n"
            "  --log-level L        [log] level (default: the config default)\n"
            "  --fsync              durable commits in the cluster (fsync, synchronous_commit and\n"
            "                       full_page_writes on; the test cluster has them off)\n"
            "  --sam-bin PATH       the daemon (default: qsign-sam beside this program)\n"
            "an existing stack:\n"
            "  --config FILE        its qsign-sam config (socket, HSM, Argon2id cost); this\n"
            "                       process must be an admin uid; enrolled signers stay\n"
            "  --sam-socket PATH    its socket, when not the config's\n",
            SB_DEFAULT_SECONDS, SB_DEFAULT_BATCH, SB_DEFAULT_SAD_SIZE, SB_DEFAULT_MAX_SADS);
}

static bool parse_alg(const char *s, qs_key_alg *alg)
{
    static const qs_key_alg all[] = {QS_KEY_EC_P256, QS_KEY_EC_P384, QS_KEY_RSA_2048,
                                     QS_KEY_RSA_3072, QS_KEY_RSA_4096};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcasecmp(s, qs_key_alg_name(all[i])) == 0) {
            *alg = all[i];
            return true;
        }
    }
    return false;
}

static long long parse_num(const char *opt, const char *s, long long lo, long long hi)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "qsign-bench-sam: %s: %s is not %lld..%lld\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

static void print_header(const bench *b)
{
    printf("# qsign-bench-sam: %s keys, SHA-256 digests; %.1f s per run\n", qs_key_alg_name(b->alg),
           b->seconds);
    printf("# qsign-sam: %lld workers, Argon2id opslimit %lld memlimit %lld (%s)\n",
           (long long)b->cfg.workers, (long long)b->cfg.argon2_opslimit,
           (long long)b->cfg.argon2_memlimit, b->d != NULL ? "throwaway stack" : b->config);
    printf("# %s\n", b->pg_desc);
    char load[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(load, sizeof load, f) != NULL)
            load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    printf("# %ld CPUs online; load average at the start: %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           load);
    printf("# raw: in this process through hsm/ (unwrap+sign+destroy per signature; sign with a "
           "key kept unwrapped) and libsodium (Argon2id)\n");
    printf("%-28s %3s %9s %9s %10s %7s %10s %7s %8s %8s\n", "run", "thr", "SAM/s", "req/s",
           "raw A/s", "SAM/A", "raw B/s", "SAM/B", "p50 ms", "p99 ms");
    fflush(stdout);
}

static void print_row(const char *label, int threads, double rate, const run_result *r,
                      double raw_a, double raw_b)
{
    char b_rate[16] = "-", b_ratio[16] = "-";
    if (raw_b > 0) {
        snprintf(b_rate, sizeof b_rate, "%.1f", raw_b);
        snprintf(b_ratio, sizeof b_ratio, "%.3f", rate / raw_b);
    }
    printf("%-28s %3d %9.1f %9.1f %10.1f %7.3f %10s %7s %8.2f %8.2f\n", label, threads, rate,
           r->req_rate, raw_a, raw_a > 0 ? rate / raw_a : 0.0, b_rate, b_ratio, r->p50_ms,
           r->p99_ms);
    if (r->ran_out)
        printf("#   ^ %lu requests in %.1f s: the prepared SADs or TOTP steps ran out first\n",
               r->requests, r->seconds);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"sad-hashes", required_argument, NULL, 'n'},
        {"max-sads", required_argument, NULL, 'x'},
        {"alg", required_argument, NULL, 'a'},
        {"profile-cmd", required_argument, NULL, 'P'},
        {"profile-run", required_argument, NULL, 'R'},
        {"workers", required_argument, NULL, 'w'},
        {"argon2-ops", required_argument, NULL, 'o'},
        {"argon2-mem", required_argument, NULL, 'm'},
        {"log-level", required_argument, NULL, 'l'},
        {"fsync", no_argument, NULL, 'f'},
        {"sam-bin", required_argument, NULL, 'B'},
        {"config", required_argument, NULL, 'c'},
        {"sam-socket", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static bench b;
    b.seconds = SB_DEFAULT_SECONDS;
    b.threads[0] = 1;
    b.threads[1] = 2;
    b.n_threads = 2;
    b.batch = SB_DEFAULT_BATCH;
    b.sad_size = SB_DEFAULT_SAD_SIZE;
    b.max_sads = SB_DEFAULT_MAX_SADS;
    b.alg = QS_KEY_EC_P256;
    b.profile_run = "sign1";
    pthread_mutex_init(&b.mu, NULL);
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            b.seconds = strtod(optarg, NULL);
            if (b.seconds < 0.5 || b.seconds > 3600) {
                fprintf(stderr, "qsign-bench-sam: --seconds: 0.5 to 3600\n");
                return 2;
            }
            break;
        case 't': {
            b.n_threads = 0;
            char *save = NULL, *list = strdup(optarg);
            for (char *tok = strtok_r(list, ",", &save); tok != NULL && b.n_threads < 8;
                 tok = strtok_r(NULL, ",", &save))
                b.threads[b.n_threads++] = (int)parse_num("--threads", tok, 1, SB_MAX_THREADS);
            free(list);
            if (b.n_threads == 0)
                return 2;
            break;
        }
        case 'b':
            b.batch = (unsigned)parse_num("--batch", optarg, 1, 1000);
            break;
        case 'n':
            b.sad_size = (unsigned)parse_num("--sad-hashes", optarg, 1, 1000);
            break;
        case 'x':
            b.max_sads = (int)parse_num("--max-sads", optarg, 1, 100000);
            break;
        case 'a':
            if (!parse_alg(optarg, &b.alg)) {
                fprintf(stderr, "qsign-bench-sam: --alg: unknown %s\n", optarg);
                return 2;
            }
            break;
        case 'P':
            b.profile_cmd = optarg;
            break;
        case 'R':
            if (strcmp(optarg, "authorize") != 0 && strcmp(optarg, "sign1") != 0 &&
                strcmp(optarg, "signN") != 0) {
                fprintf(stderr, "qsign-bench-sam: --profile-run: authorize, sign1 or signN\n");
                return 2;
            }
            b.profile_run = optarg;
            break;
        case 'w':
            b.workers = (int)parse_num("--workers", optarg, 1, SAM_WORKERS_MAX);
            break;
        case 'o':
            b.argon2_ops = parse_num("--argon2-ops", optarg, 1, 1000000);
            break;
        case 'm':
            b.argon2_mem = parse_num("--argon2-mem", optarg, 8192, 4294967296LL);
            break;
        case 'l':
            b.log_level = optarg;
            break;
        case 'f':
            b.fsync = true;
            break;
        case 'B':
            b.sam_bin = optarg;
            break;
        case 'c':
            b.config = optarg;
            break;
        case 'S':
            b.sam_socket = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (b.config != NULL && (b.workers > 0 || b.argon2_ops > 0 || b.argon2_mem > 0 ||
                             b.log_level != NULL || b.fsync || b.sam_bin != NULL)) {
        fprintf(stderr, "qsign-bench-sam: --config uses the existing stack as it is: no "
                        "--workers, --argon2-*, --log-level, --fsync or --sam-bin\n");
        return 2;
    }
    if (b.config == NULL && b.sam_socket != NULL) {
        fprintf(stderr, "qsign-bench-sam: --sam-socket goes with --config\n");
        return 2;
    }
    if (qs_util_init() != QS_OK)
        return 1;
    qs_log_set_level(QS_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    uint8_t rnd[4];
    qs_random(rnd, sizeof rnd);
    snprintf(b.prefix, sizeof b.prefix, "bench%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);

    the_bench = &b;
    atexit(remove_stack);
    start_signal_thread();
    if (b.config == NULL)
        start_throwaway(&b);
    else
        use_existing(&b);
    int max_threads = 1;
    for (int i = 0; i < b.n_threads; i++)
        max_threads = b.threads[i] > max_threads ? b.threads[i] : max_threads;
    if (b.batch > (unsigned)b.cfg.max_signatures || b.sad_size > (unsigned)b.cfg.max_signatures)
        die("--batch and --sad-hashes must not exceed [sad] max_signatures (%lld)",
            (long long)b.cfg.max_signatures);
    b.daemon_pid = daemon_pid(&b);
    fprintf(stderr, "qsign-sam pid %ld on %s; %s\n", (long)b.daemon_pid, b.socket_path, b.pg_desc);

    qs_hsm_session *hs = NULL;
    if (qs_hsm_session_open(b.hsm, &hs) != QS_OK ||
        qs_hsm_generate_signer_key(hs, b.alg, &b.key) != QS_OK)
        die("cannot make a %s key for the raw rates", qs_key_alg_name(b.alg));
    qs_hsm_session_close(hs);
    bench_hsm_target t_sign = {b.hsm, b.alg, &b.key, BENCH_HSM_SIGN};
    bench_hsm_target t_unwrap = {b.hsm, b.alg, &b.key, BENCH_HSM_UNWRAP_SIGN};
    bench_op_def op_sign = bench_hsm_op_def(&t_sign), op_unwrap = bench_hsm_op_def(&t_unwrap);
    argon_cls ac = {(unsigned long long)b.cfg.argon2_opslimit, (size_t)b.cfg.argon2_memlimit};
    bench_op_def op_argon = {argon_setup, argon_run, argon_teardown, &ac};

    print_header(&b);

    /* Authorizations: each needs a fresh (signer, step).  A short first run says how many
     * signers to enrol for each measured one. */
    fprintf(stderr, "estimating the authorization rate\n");
    ensure_codes(&b, 2 * SB_MIN_CODES);
    double save = b.seconds;
    b.seconds = 1;
    run_result wa = run_sam(&b, RUN_AUTHORIZE, 1, NULL, 0, 1, 0, "warm-up, authorize", false);
    b.seconds = save;
    for (int i = 0; i < b.n_threads; i++) {
        int th = b.threads[i];
        double raw = raw_rate(&op_argon, th, b.seconds, "Argon2id");
        size_t want = (size_t)ceil(1.5 * wa.req_rate * th * b.seconds);
        if (want < SB_MIN_AUTH_REQUESTS * (size_t)th)
            want = SB_MIN_AUTH_REQUESTS * (size_t)th;
        ensure_codes(&b, want + 4 * (size_t)th);
        fprintf(stderr, "authorize, %d thread%s\n", th, th > 1 ? "s" : "");
        bool prof =
            b.profile_cmd != NULL && strcmp(b.profile_run, "authorize") == 0 && th == max_threads;
        run_result r = run_sam(&b, RUN_AUTHORIZE, 1, NULL, 0, th,
                               SB_MIN_AUTH_REQUESTS * (unsigned long)th, "authorize", prof);
        print_row("authorize (A: Argon2id)", th, r.req_rate, &r, raw, 0);
    }

    /* A first estimate of the signing rates sizes the SADs each run needs. */
    fprintf(stderr, "estimating the signing rates\n");
    sad *warm = prepare_sads(&b, 2, b.sad_size > b.batch ? b.sad_size : b.batch);
    b.seconds = 1;
    run_result w1 = run_sam(&b, RUN_SIGN, 1, warm, 1, 1, 0, "warm-up, 1 hash", false);
    run_result wn = run_sam(&b, RUN_SIGN, b.batch, warm + 1, 1, 1, 0, "warm-up, batch", false);
    b.seconds = save;
    for (size_t i = 0; i < 2; i++)
        sad_free(&warm[i]);
    free(warm);

    for (int i = 0; i < b.n_threads; i++) {
        int th = b.threads[i];
        for (int batch_run = 0; batch_run < 2; batch_run++) {
            unsigned per = batch_run ? b.batch : 1;
            unsigned size = batch_run ? b.batch : b.sad_size;
            double est = batch_run ? wn.sig_rate : w1.sig_rate;
            size_t n = (size_t)ceil(1.3 * est * th * b.seconds / size) + (size_t)th;
            if (n > (size_t)b.max_sads)
                n = (size_t)b.max_sads;
            if (n < (size_t)th)
                n = (size_t)th;
            char label[64];
            snprintf(label, sizeof label, "sign, %u hash%s/request", per, per == 1 ? "" : "es");
            fprintf(stderr, "%s, %d thread%s\n", label, th, th > 1 ? "s" : "");
            sad *sads = prepare_sads(&b, n, size);
            double raw_u = raw_rate(&op_unwrap, th, b.seconds, "unwrap+sign+destroy");
            double raw_s = raw_rate(&op_sign, th, b.seconds, "sign");
            bool prof = b.profile_cmd != NULL && th == max_threads &&
                        strcmp(b.profile_run, batch_run ? "signN" : "sign1") == 0;
            run_result r = run_sam(&b, RUN_SIGN, per, sads, n, th, 0, label, prof);
            print_row(label, th, r.sig_rate, &r, raw_u, raw_s);
            for (size_t k = 0; k < n; k++)
                sad_free(&sads[k]);
            free(sads);
        }
    }
    printf("# A: raw Argon2id (authorize) or raw unwrap+sign+destroy (sign); B: raw sign with an "
           "unwrapped key; SAM/s counts authorizations or signatures\n");
    fflush(stdout);

    if (b.d != NULL) {
        fprintf(stderr, "stopping qsign-sam\n");
        qs_hsm_keypair_clear(&b.key);
        qs_hsm_close(b.hsm);
        b.hsm = NULL;
        qs_test_samd_stop(b.d); /* SIGTERM; exit status 0 expected; tears down */
        b.d = NULL;
    } else {
        qs_hsm_keypair_clear(&b.key);
        qs_hsm_close(b.hsm);
        b.hsm = NULL;
    }
    sam_config_free(&b.cfg);
    if (b.signers != NULL)
        qs_wipe(b.signers, b.cap_signers * sizeof *b.signers); /* PINs and TOTP seeds */
    free(b.signers);
    return 0;
}

/*
 * qsign-bench-csc: a load generator for the whole signing path.  N concurrent clients speak the
 * CSC API v2 over HTTPS keep-alive (one libcurl easy handle per client thread, so one TLS
 * connection each, reused for every request) to a real qsignd, which asks a real qsign-sam,
 * which signs in a SoftHSM token and writes PostgreSQL.
 *
 * The stack is a throwaway one, made with the code the end-to-end tests use: a PostgreSQL
 * cluster (tests/lib/pg-cluster, durability switched back on unless --no-fsync), a SoftHSM
 * token with its service keys and qsign-sam (tests/lib/samd.h), qsignd over TLS on a free
 * port of 127.0.0.1 (tests/lib/apid.h).  Everything lives in temporary directories and is
 * removed at the end, also after a failure or Ctrl-C.
 *
 * Then:
 *   1. the raw HSM rates of the credential's algorithm (sign, and unwrap+sign+destroy, which is
 *      how the SAM signs), through hsm/ on the stack's own token (bench/bench_hsm.h);
 *   2. enrolment of --signers signers through the SAM (user, PIN + TOTP, credential), a login
 *      password each and an access token from auth/login.  The PIN verifier costs what the
 *      test harness sets (Argon2id t=1, 8 KiB) unless --pin-kdf production gives it the SAM's
 *      defaults (t=3, 256 MiB, about half a second of a core per authorize);
 *   3. for each scenario and each client count, --seconds of load:
 *        (a) authorize once for H hashes, then one signHash per hash;
 *        (b) authorize once for H hashes, then one signHash with all of them;
 *        (c) authorize alone (the same request as in (a) and (b)).
 *      Every authorize uses a (signer, TOTP step) not used before: the SAM accepts a step once,
 *      within one step of its clock.  A client takes an idle signer with such a step left (up to
 *      three per signer at once, then one per period); when no signer has one, the cell ends
 *      early and says so (more --signers).
 *
 * Output: progress on stderr, the table on stdout: signatures (or authorizations) per second,
 * their ratio to the raw HSM rate, latency percentiles of the HTTP requests, and the CPU each
 * process used (from /proc) with the CPU per signature beside the raw operation's: on a shared
 * machine that ratio moves much less than the rates do.  A benchmark, not a test: the exit
 * status is 0 unless the stack could not run or requests failed, whatever the times.  Traffic
 * goes to 127.0.0.1 only; every cell ends after --seconds.
 *
 * Threads: the main thread runs the stack and the cells; each client is a thread with its own
 * curl handle; enrolment uses a few threads, each with its own SAM connection.
 */
#define QS_LOG_MODULE "bench"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "auth/auth.h"
#include "bench/bench_hsm.h"
#include "db/db.h"
#include "db/db_api.h"
#include "sam/client.h"
#include "tests/lib/apid.h"
#include "tests/lib/pg.h"
#include "tests/lib/samd.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

#ifndef QS_BENCH_SOURCE_DIR
#define QS_BENCH_SOURCE_DIR "."
#endif

#define DEFAULT_SECONDS       10.0
#define DEFAULT_HASHES        100
#define MAX_HASHES            100 /* qsignd's default [csc] multisign */
#define MAX_CELL_CLIENTS      256
#define MAX_CLIENT_COUNTS     8
#define DEFAULT_API_THREADS   8
#define API_SAM_TIMEOUT_MS    5000 /* qsignd's default [sam] timeout_ms */
#define DEFAULT_SAM_WORKERS   8
#define DEFAULT_ENROL_THREADS 4
#define DEFAULT_HSM_SECONDS   4.0
#define DEFAULT_HSM_ROUNDS    4
#define SIGNERS_CHEAP_KDF     3000 /* default --signers with the cheap PIN verifier */
#define SIGNERS_PROD_KDF      160  /* with the SAM's default one (~0.5 s of CPU per authorize) */
#define MAX_SIGNERS           100000
#define LOGIN_PASSWORD        "bench-login-password"
#define HTTP_TIMEOUT_S        120L
#define PROGRESS_INTERVAL_MS  500
#define SAD_MAX               128
#define TOKEN_MAX             128
#define MAX_PG_SETTINGS       16
#define CPU_WINDOW_MIN        1.0 /* seconds: shorter cells get no CPU figures */
#define TOTP_MARGIN_S         5   /* seconds a step before the current one stays usable */
#define SETTLE_SAMPLE_MS      500
#define SETTLE_IDLE_CORES     0.05
#define SETTLE_MAX_S          120.0

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_RSA_SHA256   "1.2.840.113549.1.1.11"

/* The PIN verifier of the SAM's own defaults (deploy/qsign-sam.conf.example). */
#define KDF_PROD_OPSLIMIT "3"
#define KDF_PROD_MEMLIMIT "268435456"

typedef enum scenario { SC_A = 0, SC_B = 1, SC_C = 2, SC_COUNT = 3 } scenario;

static const char *const sc_names[SC_COUNT] = {
    "(a) authorize + H x signHash(1)",
    "(b) authorize + signHash(H)",
    "(c) authorize alone",
};

typedef enum req_kind { K_AUTH = 0, K_SIGN = 1, K_COUNT = 2 } req_kind;

/* ---- Options ------------------------------------------------------------------------------- */

typedef struct key_choice {
    const char *name;
    qs_key_alg hsm;
    qs_sam_key_alg sam;
    const char *sign_algo;
} key_choice;

static const key_choice keys[] = {
    {"ec-p256", QS_KEY_EC_P256, QS_SAM_KEY_EC_P256, OID_ECDSA_SHA256},
    {"ec-p384", QS_KEY_EC_P384, QS_SAM_KEY_EC_P384, OID_ECDSA_SHA256},
    {"rsa-2048", QS_KEY_RSA_2048, QS_SAM_KEY_RSA2048, OID_RSA_SHA256},
    {"rsa-3072", QS_KEY_RSA_3072, QS_SAM_KEY_RSA3072, OID_RSA_SHA256},
    {"rsa-4096", QS_KEY_RSA_4096, QS_SAM_KEY_RSA4096, OID_RSA_SHA256},
};

typedef struct options {
    int clients[MAX_CLIENT_COUNTS];
    int n_clients;
    double seconds;
    int hashes;
    int signers; /* 0: by PIN KDF */
    bool scenarios[SC_COUNT];
    const key_choice *key;
    int api_threads;
    int sam_workers;
    int enrol_threads;
    int hsm_threads; /* 0: online CPUs */
    double hsm_seconds;
    bool prod_kdf; /* the SAM's default PIN verifier cost, not the test harness's */
    bool fsync;
    bool verify_audit;
    const char *logs_dir; /* copy the daemons' logs here before the stack goes */
    struct pg_setting *pg_set;
    int n_pg_set;
    const char *qsignd_bin;
    const char *sam_bin;
} options;

/* ---- Small helpers ------------------------------------------------------------------------- */

static atomic_bool g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_interrupted, true);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qsign-bench-csc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* snprintf into a path buffer; a path that does not fit ends the program. */
static void path_fmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void path_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        die("path too long (set TMPDIR to a shorter directory)");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !atomic_load(&g_interrupted))
        ;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* A growable array of latencies in milliseconds. */
typedef struct lat_buf {
    double *v;
    size_t n, cap;
} lat_buf;

static void lat_add(lat_buf *b, double ms)
{
    if (b->n == b->cap) {
        size_t cap = b->cap > 0 ? b->cap * 2 : 1024;
        double *v = realloc(b->v, cap * sizeof *v);
        if (v == NULL)
            die("out of memory");
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Nearest-rank percentile of sorted values; NAN when there are none. */
static double percentile(const lat_buf *sorted, double p)
{
    if (sorted->n == 0)
        return NAN;
    size_t rank = (size_t)ceil(p / 100.0 * (double)sorted->n);
    if (rank == 0)
        rank = 1;
    return sorted->v[rank - 1];
}

/* Parses "1,8,32" into out (1..max each). */
static int parse_list(const char *s, int *out, int cap, int max)
{
    int n = 0;
    const char *p = s;
    while (*p != '\0') {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno != 0 || end == p || v < 1 || v > max || n == cap)
            return -1;
        out[n++] = (int)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p != '\0')
            return -1;
    }
    return n;
}

/* Replaces the value of the first line "key = ..." of a config file. */
static void config_set(const char *path, const char *key, const char *value)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("cannot read %s", path);
    char *out = NULL;
    size_t out_len = 0;
    FILE *o = open_memstream(&out, &out_len);
    if (o == NULL)
        die("out of memory");
    char line[4096];
    bool done = false;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f) != NULL) {
        if (!done && strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '=')) {
            fprintf(o, "%s = %s\n", key, value);
            done = true;
        } else {
            fputs(line, o);
        }
    }
    fclose(f);
    fclose(o);
    if (!done)
        die("%s has no %s line", path, key);
    f = fopen(path, "w");
    if (f == NULL || fwrite(out, 1, out_len, f) != out_len || fclose(f) != 0)
        die("cannot write %s", path);
    free(out);
}

/* ---- CPU accounting from /proc ------------------------------------------------------------- */

typedef enum cpu_part { CPU_BENCH = 0, CPU_API, CPU_SAM, CPU_PG, CPU_MACHINE, CPU_PARTS } cpu_part;

static const char *const cpu_part_names[CPU_PARTS] = {"bench", "qsignd", "qsign-sam", "postgres",
                                                      "machine"};

/* utime + stime of a process (all threads), and its parent, in clock ticks; false if gone. */
static bool proc_times(pid_t pid, unsigned long long *ticks, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return false;
    char state;
    int pp;
    unsigned long long ut, st;
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &pp, &ut,
               &st) != 4)
        return false;
    *ticks = ut + st;
    if (ppid != NULL)
        *ppid = (pid_t)pp;
    return true;
}

/* The postmaster and its children (the backends and helper processes). */
static unsigned long long pg_ticks(pid_t postmaster)
{
    unsigned long long sum = 0, t = 0;
    if (postmaster <= 0)
        return 0;
    if (proc_times(postmaster, &t, NULL))
        sum += t;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return sum;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pp = 0;
        if (proc_times((pid_t)atoi(e->d_name), &t, &pp) && pp == postmaster)
            sum += t;
    }
    closedir(d);
    return sum;
}

/* Busy ticks of the whole machine (every CPU, everyone's processes). */
static unsigned long long machine_ticks(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (f == NULL)
        return 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5)
        return 0;
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* all but idle and iowait */
}

typedef struct cpu_snap {
    unsigned long long t[CPU_PARTS];
} cpu_snap;

/* ---- The stack ----------------------------------------------------------------------------- */

typedef struct stack {
    char dir[PATH_MAX]; /* the benchmark's own temporary directory */
    char pg_dir[PATH_MAX + 8];
    char pg_script[PATH_MAX + 32];
    bool pg_up;
    pid_t postmaster;
    qs_test_samd *sam;
    qs_test_apid *api;
} stack;

static stack g_stack; /* for the exit handler */

/* On any exit before the orderly stop (a harness that gave up calls exit): kill what runs. */
static void emergency_stop(void)
{
    stack *st = &g_stack;
    if (st->api != NULL && st->api->pid > 0)
        kill(st->api->pid, SIGKILL);
    if (st->sam != NULL && st->sam->pid > 0)
        kill(st->sam->pid, SIGKILL);
    if (st->pg_up) {
        if (qs_test_system("'%s' stop '%s' >/dev/null 2>&1", st->pg_script, st->pg_dir) != 0)
            fprintf(stderr, "qsign-bench-csc: could not stop the PostgreSQL cluster in %s\n",
                    st->pg_dir);
        st->pg_up = false;
    }
    if (st->api != NULL)
        qs_test_rmtree(st->api->dir);
    if (st->sam != NULL)
        qs_test_rmtree(st->sam->token.dir);
    if (st->dir[0] != '\0')
        qs_test_rmtree(st->dir);
}

/* KEY=VALUE from the cluster's env file. */
static bool env_file_value(const char *path, const char *key, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[PATH_MAX + 64];
    size_t klen = strlen(key);
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, key, klen) == 0 && line[klen] == '=')
            found = snprintf(buf, cap, "%s", line + klen + 1) < (int)cap;
    }
    fclose(f);
    return found;
}

static pid_t read_postmaster_pid(const char *env_path)
{
    char data[PATH_MAX], path[PATH_MAX + 32];
    if (!env_file_value(env_path, "QS_PG_DATA", data, sizeof data))
        return 0;
    path_fmt(path, sizeof path, "%s/postmaster.pid", data);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

static void start_pg(stack *st)
{
    const char *src = getenv("QS_SOURCE_DIR");
    if (src == NULL || src[0] == '\0')
        src = QS_BENCH_SOURCE_DIR;
    path_fmt(st->pg_script, sizeof st->pg_script, "%s/tests/lib/pg-cluster", src);
    if (access(st->pg_script, X_OK) != 0)
        die("%s not found (set QS_SOURCE_DIR to the source tree)", st->pg_script);
    path_fmt(st->pg_dir, sizeof st->pg_dir, "%s/pg", st->dir);
    st->pg_up = true; /* from here on the exit handler stops it */
    int rc = qs_test_system("'%s' start '%s' >'%s/pg-cluster.log' 2>&1", st->pg_script, st->pg_dir,
                            st->dir);
    if (rc != 0) {
        (void)qs_test_system("cat '%s/pg-cluster.log' >&2", st->dir);
        die("could not start a PostgreSQL cluster (pg-cluster exit %d)", rc);
    }
    char env[PATH_MAX + 16];
    path_fmt(env, sizeof env, "%s/env", st->pg_dir);
    setenv("QS_TEST_PG_ENV", env, 1);
    st->postmaster = read_postmaster_pid(env);
}

/* A server setting, NAME=VALUE, as --pg-set takes it. */
typedef struct pg_setting {
    char name[64];
    char value[192];
} pg_setting;

static bool pg_setting_parse(const char *arg, pg_setting *out)
{
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : 0;
    if (n == 0 || n >= sizeof out->name || strlen(eq + 1) >= sizeof out->value ||
        strlen(eq + 1) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)arg[i]) || isdigit((unsigned char)arg[i]) || arg[i] == '_'))
            return false;
    }
    memcpy(out->name, arg, n);
    out->name[n] = '\0';
    snprintf(out->value, sizeof out->value, "%s", eq + 1);
    return true;
}

/* The value a new session sees, malloc'd. */
static char *pg_current(const qs_test_pg *pg, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT current_setting('%s')", name);
    PGconn *c = qs_test_pg_connect(pg->admin_conninfo);
    char *v = qs_test_pg_query_value(c, sql);
    PQfinish(c);
    return v;
}

/*
 * ALTER SYSTEM for each setting, then a reload, waiting until new sessions see the values.
 * Only settings a reload changes take effect (others need a restart: said, not done).
 */
static void pg_configure(const qs_test_pg *pg, const pg_setting *set, int n)
{
    if (n == 0)
        return;
    PGconn *c = qs_test_pg_connect(pg->admin_conninfo);
    for (int i = 0; i < n; i++) {
        char *lit = PQescapeLiteral(c, set[i].value, strlen(set[i].value));
        char sql[512];
        if (lit == NULL)
            die("PQescapeLiteral failed");
        snprintf(sql, sizeof sql, "ALTER SYSTEM SET %s = %s", set[i].name, lit);
        PQfreemem(lit);
        qs_test_pg_exec_ok(c, sql);
    }
    char *v = qs_test_pg_query_value(c, "SELECT pg_reload_conf()");
    free(v);
    PQfinish(c);
    /* The reload is asynchronous: a new session sees the new values once it is done. */
    for (int i = 0; i < n; i++) {
        bool same = false;
        for (int tries = 0; tries < 50 && !same; tries++) {
            v = pg_current(pg, set[i].name);
            same = v != NULL && strcmp(v, set[i].value) == 0;
            if (!same && tries == 49)
                fprintf(stderr,
                        "qsign-bench-csc: PostgreSQL %s is %s, not %s (a restart-only "
                        "setting, or another spelling of the value)\n",
                        set[i].name, v != NULL ? v : "unset", set[i].value);
            free(v);
            if (!same && tries < 49)
                sleep_ms(100);
        }
    }
}

static void start_stack(stack *st, const options *o)
{
    qs_test_tmpdir("bench-csc", st->dir, sizeof st->dir);
    start_pg(st);

    qs_test_samd_opts so = {
        .workers = o->sam_workers,
        .max_signatures = 1000,
    };
    st->sam = xcalloc(1, sizeof *st->sam);
    qs_test_samd_setup(st->sam, "bench_csc", &so);
    if (o->prod_kdf) {
        config_set(st->sam->config_path, "argon2_opslimit", KDF_PROD_OPSLIMIT);
        config_set(st->sam->config_path, "argon2_memlimit", KDF_PROD_MEMLIMIT);
    }
    pg_setting set[MAX_PG_SETTINGS + 3];
    int n = 0;
    if (o->fsync) {
        /* The test cluster runs without durability; a benchmark of commits wants it back. */
        set[n++] = (pg_setting){"fsync", "on"};
        set[n++] = (pg_setting){"synchronous_commit", "on"};
        set[n++] = (pg_setting){"full_page_writes", "on"};
    }
    for (int i = 0; i < o->n_pg_set; i++)
        set[n++] = o->pg_set[i];
    pg_configure(st->sam->pg, set, n);
    qs_test_samd_launch(st->sam);

    qs_test_apid_opts ao = {
        .sam_socket = st->sam->socket_path,
        .threads = o->api_threads,
        .sam_timeout_ms = API_SAM_TIMEOUT_MS,
    };
    st->api = qs_test_apid_start(st->sam->pg, &ao);
}

static void stop_stack(stack *st)
{
    if (st->api != NULL) {
        int rc = qs_test_apid_stop(st->api);
        st->api = NULL;
        if (rc != 0)
            fprintf(stderr, "qsign-bench-csc: qsignd stopped with status %d\n", rc);
    }
    if (st->sam != NULL) {
        qs_test_samd_stop(st->sam); /* exits (with the log) unless it stopped cleanly */
        st->sam = NULL;
    }
    if (st->pg_up) {
        int rc = qs_test_system("'%s' stop '%s' >/dev/null 2>&1", st->pg_script, st->pg_dir);
        if (rc != 0)
            fprintf(stderr, "qsign-bench-csc: pg-cluster stop exited %d\n", rc);
        st->pg_up = false;
    }
    qs_test_rmtree(st->dir);
    st->dir[0] = '\0';
}

static void cpu_read(const stack *st, cpu_snap *s)
{
    memset(s, 0, sizeof *s);
    (void)proc_times(getpid(), &s->t[CPU_BENCH], NULL);
    if (st->api != NULL)
        (void)proc_times(st->api->pid, &s->t[CPU_API], NULL);
    if (st->sam != NULL)
        (void)proc_times(st->sam->pid, &s->t[CPU_SAM], NULL);
    s->t[CPU_PG] = pg_ticks(st->postmaster);
    s->t[CPU_MACHINE] = machine_ticks();
}

/*
 * Waits until qsign-sam and PostgreSQL are idle (at most SETTLE_MAX_S), so that work queued
 * by one cell (requests whose clients gave up are still served) does not run into the next.
 */
static void settle(const stack *st, long ticks_per_s)
{
    double t0 = now_s();
    for (;;) {
        cpu_snap a, b;
        cpu_read(st, &a);
        sleep_ms(SETTLE_SAMPLE_MS);
        cpu_read(st, &b);
        double busy = (double)(b.t[CPU_SAM] - a.t[CPU_SAM] + b.t[CPU_PG] - a.t[CPU_PG]) /
                      (double)ticks_per_s / (SETTLE_SAMPLE_MS / 1000.0);
        double waited = now_s() - t0;
        if (busy < SETTLE_IDLE_CORES || atomic_load(&g_interrupted))
            break;
        if (waited > SETTLE_MAX_S) {
            fprintf(stderr, "the stack is still busy (%.2f cores) after %.0f s; going on\n", busy,
                    waited);
            break;
        }
    }
    double waited = now_s() - t0;
    if (waited > 2.0)
        fprintf(stderr, "waited %.0f s for the stack to finish earlier work\n", waited);
}

/* ---- HTTP client ------------------------------------------------------------------------------
 */

typedef struct http {
    CURL *c;
    char base_url[64]; /* https://127.0.0.1:PORT: the address qsignd listens on, no lookup */
    struct curl_slist *hdrs;
    char hdr_token[TOKEN_MAX]; /* the bearer hdrs was built for ("" none) */
    char *body;
    size_t body_len, body_cap;
    long connects; /* new connections opened */
} http;

static bool body_append(http *h, const char *data, size_t add)
{
    if (h->body_len + add + 1 > h->body_cap) {
        size_t cap = h->body_cap > 0 ? h->body_cap : 4096;
        while (cap < h->body_len + add + 1)
            cap *= 2;
        char *b = realloc(h->body, cap);
        if (b == NULL)
            return false;
        h->body = b;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, data, add);
    h->body_len += add;
    h->body[h->body_len] = '\0';
    return true;
}

static size_t on_data(char *data, size_t size, size_t n, void *cls)
{
    return body_append(cls, data, size * n) ? size * n : 0;
}

static void http_init(http *h, const qs_test_apid *api)
{
    memset(h, 0, sizeof *h);
    h->c = curl_easy_init();
    if (h->c == NULL)
        die("curl_easy_init failed");
    snprintf(h->base_url, sizeof h->base_url, "https://127.0.0.1:%u", api->port);
    curl_easy_setopt(h->c, CURLOPT_CAINFO, api->ca_file);
    curl_easy_setopt(h->c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h->c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
    curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->c, CURLOPT_WRITEDATA, h);
}

static void http_free(http *h)
{
    curl_slist_free_all(h->hdrs);
    curl_easy_cleanup(h->c);
    free(h->body);
    memset(h, 0, sizeof *h);
}

/*
 * POSTs a JSON body (or none) with a bearer token (or an Authorization value given whole in
 * `auth`).  Returns the HTTP status (0: transport failure, message in h->body) and the time in
 * *ms.
 */
static long http_post(http *h, const char *path, const char *bearer, const char *auth,
                      const char *body, size_t body_len, double *ms)
{
    char url[256], line[TOKEN_MAX + 64];
    const char *want = bearer != NULL ? bearer : auth != NULL ? auth : "";
    if (h->hdrs == NULL || strcmp(h->hdr_token, want) != 0) {
        curl_slist_free_all(h->hdrs);
        h->hdrs = curl_slist_append(NULL, "Expect:");
        h->hdrs = curl_slist_append(h->hdrs, "Content-Type: application/json");
        if (bearer != NULL) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
            h->hdrs = curl_slist_append(h->hdrs, line);
        } else if (auth != NULL) {
            snprintf(line, sizeof line, "Authorization: %s", auth);
            h->hdrs = curl_slist_append(h->hdrs, line);
        }
        if (h->hdrs == NULL)
            die("out of memory");
        snprintf(h->hdr_token, sizeof h->hdr_token, "%s", want);
    }
    snprintf(url, sizeof url, "%s%s", h->base_url, path);
    h->body_len = 0;
    if (h->body != NULL)
        h->body[0] = '\0';
    curl_easy_setopt(h->c, CURLOPT_URL, url);
    curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
    double t0 = now_s();
    CURLcode cc = curl_easy_perform(h->c);
    *ms = (now_s() - t0) * 1000.0;
    long status = 0, nc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h->c, CURLINFO_NUM_CONNECTS, &nc);
        h->connects += nc;
    } else {
        const char *why = curl_easy_strerror(cc);
        h->body_len = 0;
        (void)body_append(h, why, strlen(why));
    }
    return status;
}

/* A string member of a JSON reply, copied into buf; false when absent. */
static bool json_member(const http *h, const char *name, char *buf, size_t cap)
{
    json_error_t e;
    json_t *j = json_loadb(h->body != NULL ? h->body : "", h->body_len, 0, &e);
    const char *v = json_string_value(json_object_get(j, name));
    bool ok = v != NULL && strlen(v) < cap;
    if (ok)
        memcpy(buf, v, strlen(v) + 1);
    json_decref(j);
    return ok;
}

/* The number of elements of a reply's `signatures` array (-1: not such a reply). */
static long json_signatures(const http *h)
{
    json_error_t e;
    json_t *j = json_loadb(h->body != NULL ? h->body : "", h->body_len, 0, &e);
    const json_t *a = json_object_get(j, "signatures");
    long n = json_is_array(a) ? (long)json_array_size(a) : -1;
    json_decref(j);
    return n;
}

/* ---- Signers ------------------------------------------------------------------------------- */

typedef struct signer {
    qs_test_signer s; /* user id, username, PIN, TOTP seed and parameters, last step used */
    char cred[QS_SAM_ID_BUF];
    char token[TOKEN_MAX];
} signer;

/* Idle signers, least recently used first. */
typedef struct pool {
    pthread_mutex_t mu;
    signer **ring;
    size_t cap, head, count;
} pool;

static void pool_init(pool *p, size_t cap)
{
    pthread_mutex_init(&p->mu, NULL);
    p->ring = xcalloc(cap, sizeof *p->ring);
    p->cap = cap;
    p->head = p->count = 0;
}

static void pool_put_locked(pool *p, signer *s)
{
    p->ring[(p->head + p->count) % p->cap] = s;
    p->count++;
}

static void pool_give(pool *p, signer *s)
{
    pthread_mutex_lock(&p->mu);
    pool_put_locked(p, s);
    pthread_mutex_unlock(&p->mu);
}

/*
 * The earliest TOTP step after the signer's last one that the SAM accepts now: it takes the
 * current step and QS_TOTP_WINDOW either side, each once.  A step before the current one only
 * while the current one has TOTP_MARGIN_S seconds left, so that it is still inside the window
 * when the SAM checks it.  0 when the signer has none left until the clock moves on.
 */
static uint64_t next_step(const qs_test_signer *s, int64_t t)
{
    uint64_t now = 0;
    if (qs_totp_step(&s->params, t, &now) != QS_OK)
        die("qs_totp_step failed");
    int64_t left = (int64_t)s->params.period - t % (int64_t)s->params.period;
    uint64_t first = now;
    if (left > TOTP_MARGIN_S && now > QS_TOTP_WINDOW)
        first = now - QS_TOTP_WINDOW;
    uint64_t step = s->last_step + 1 > first ? s->last_step + 1 : first;
    return step <= now + QS_TOTP_WINDOW ? step : 0;
}

/* An idle signer with a TOTP step left (next_step); its code goes to `code`.  NULL when no idle
 * signer has one. */
static signer *pool_take(pool *p, char code[static QS_TOTP_CODE_BUF])
{
    int64_t t = (int64_t)time(NULL);
    signer *got = NULL;
    pthread_mutex_lock(&p->mu);
    for (size_t tries = p->count; tries > 0 && got == NULL; tries--) {
        signer *s = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        uint64_t step = next_step(&s->s, t);
        if (step != 0) {
            if (qs_totp_generate(&s->s.params, s->s.seed, s->s.seed_len, step, code) != QS_OK)
                die("qs_totp_generate failed");
            s->s.last_step = step;
            got = s;
        } else {
            pool_put_locked(p, s);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return got;
}

typedef struct enrol_job {
    const options *o;
    stack *st;
    signer *signers;
    int n;
    atomic_int next;
    atomic_int done;
    const char *verifier; /* the login password's verifier, shared by all signers */
} enrol_job;

typedef struct set_pw {
    uint8_t id[QS_DB_API_UUID_LEN];
    const char *verifier;
    bool exists;
} set_pw;

static qs_err set_pw_txn(qs_db *db, void *cls)
{
    set_pw *s = cls;
    return qs_db_account_set_password(db, s->id, s->verifier, &s->exists);
}

static void uuid_bytes(const char *text, uint8_t out[static QS_DB_API_UUID_LEN])
{
    size_t len = 0;
    if (sodium_hex2bin(out, QS_DB_API_UUID_LEN, text, strlen(text), "-", &len, NULL) != 0 ||
        len != QS_DB_API_UUID_LEN)
        die("bad user id %s", text);
}

static void login(http *h, signer *s)
{
    char raw[256], b64[512], auth[600];
    snprintf(raw, sizeof raw, "%s:%s", s->s.username, LOGIN_PASSWORD);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    double ms;
    long status = http_post(h, "/csc/v2/auth/login", NULL, auth, NULL, 0, &ms);
    if (status != 200 || !json_member(h, "access_token", s->token, sizeof s->token))
        die("auth/login of %s: HTTP %ld %s", s->s.username, status, h->body != NULL ? h->body : "");
}

static void *enrol_main(void *arg)
{
    enrol_job *j = arg;
    qs_sam_client *c = qs_test_samd_connect(j->st->sam);
    qs_db *db = NULL;
    if (qs_db_connect(j->st->sam->pg->owner_conninfo, &db) != QS_OK)
        die("cannot connect to the database as its owner");
    http h;
    http_init(&h, j->st->api);
    for (;;) {
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&g_interrupted))
            break;
        signer *s = &j->signers[i];
        char name[64], pin[16];
        snprintf(name, sizeof name, "bench-%06d", i);
        snprintf(pin, sizeof pin, "%08u", (unsigned)randombytes_uniform(100000000u));
        qs_test_samd_enrol_signer(j->st->sam, c, name, pin, &s->s);
        qs_test_samd_create_credential(c, s->s.user_id, j->o->key->sam, s->cred, NULL, NULL);
        set_pw sp = {.verifier = j->verifier};
        uuid_bytes(s->s.user_id, sp.id);
        if (qs_db_run_txn(db, "bench_set_password", set_pw_txn, &sp) != QS_OK || !sp.exists)
            die("cannot set the login password of %s", name);
        login(&h, s);
        atomic_fetch_add(&j->done, 1);
    }
    http_free(&h);
    qs_db_free(db);
    qs_sam_client_close(c);
    return NULL;
}

/* Enrols n signers with a few threads; returns how many are ready (fewer when interrupted). */
static int enrol(const options *o, stack *st, signer *signers, int n)
{
    /* Logins are not measured: a verifier of the lowest cost keeps them quick. */
    static char verifier[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(verifier, LOGIN_PASSWORD, strlen(LOGIN_PASSWORD),
                              crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        die("crypto_pwhash_str_alg failed");
    enrol_job j = {.o = o, .st = st, .signers = signers, .n = n, .verifier = verifier};
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    int nt = o->enrol_threads < n ? o->enrol_threads : n;
    pthread_t t[64];
    double t0 = now_s();
    for (int i = 0; i < nt; i++) {
        if (pthread_create(&t[i], NULL, enrol_main, &j) != 0)
            die("pthread_create failed");
    }
    bool tty = isatty(STDERR_FILENO) != 0;
    int last = -1;
    double last_print = 0;
    for (;;) {
        int d = atomic_load(&j.done);
        double el = now_s() - t0;
        if (d != last && (tty || el - last_print >= 10 || d == n)) {
            fprintf(stderr, "%senrolling signers: %d/%d (%.0f/s)%s", tty ? "\r" : "", d, n,
                    el > 0 ? d / el : 0.0, tty ? "   " : "\n");
            last = d;
            last_print = el;
        }
        if (d >= n || atomic_load(&g_interrupted))
            break;
        sleep_ms(200);
    }
    for (int i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    int d = atomic_load(&j.done);
    double el = now_s() - t0;
    fprintf(stderr, "%senrolled %d signers in %.1f s (%.1f/s)\n", tty ? "\r" : "", d, el,
            el > 0 ? d / el : 0.0);
    return d;
}

/* ---- Cells ----------------------------------------------------------------------------------- */

typedef struct cell {
    const options *o;
    const stack *st;
    scenario sc;
    int clients;
    pool *signers;
    pthread_barrier_t ready, go; /* every client connected; the window is set */
    double t_start, t_end;       /* the measured window, monotonic seconds */
    atomic_bool stop;
    atomic_bool dry; /* no signer had a TOTP step left */
    atomic_long ops; /* signatures (a, b) or authorizations (c), for the progress line */
} cell;

typedef struct client {
    pthread_t tid;
    cell *cl;
    http h;
    lat_buf lat[K_COUNT];
    long ops;
    long signatures;
    long authorizations;
    long errors;
    long connects; /* during the window */
    char first_error[256];
} client;

static void client_error(client *c, const char *what, long status)
{
    c->errors++;
    if (c->first_error[0] == '\0') {
        const char *b = c->h.body != NULL ? c->h.body : "";
        snprintf(c->first_error, sizeof c->first_error, "%s: HTTP %ld %.180s", what, status, b);
    }
}

/* n fresh digests, base64, as a JSON array body fragment: "h1","h2",... */
static size_t make_hashes(int n, char *out, size_t cap, char (*each)[48])
{
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        uint8_t d[32];
        randombytes_buf(d, sizeof d);
        sodium_bin2base64(each[i], 48, d, sizeof d, sodium_base64_VARIANT_ORIGINAL);
        int w = snprintf(out + len, cap - len, "%s\"%s\"", i > 0 ? "," : "", each[i]);
        if (w < 0 || (size_t)w >= cap - len)
            die("request buffer too small");
        len += (size_t)w;
    }
    return len;
}

/* Whether the window is still open: false once stopped or past its end. */
static bool in_window(cell *cl)
{
    if (atomic_load_explicit(&cl->stop, memory_order_relaxed))
        return false;
    if (now_s() >= cl->t_end) {
        atomic_store(&cl->stop, true);
        return false;
    }
    return true;
}

/* One unit of the scenario: an authorization and what follows it. */
static void client_unit(client *c, char *body, size_t body_cap, char *list, size_t list_cap,
                        char (*each)[48])
{
    cell *cl = c->cl;
    const options *o = cl->o;
    char code[QS_TOTP_CODE_BUF], sad[SAD_MAX];
    double ms;

    signer *s = pool_take(cl->signers, code);
    if (s == NULL) {
        atomic_store(&cl->dry, true);
        atomic_store(&cl->stop, true);
        return;
    }
    (void)make_hashes(o->hashes, list, list_cap, each);
    int w = snprintf(body, body_cap,
                     "{\"credentialID\":\"%s\",\"numSignatures\":%d,\"hashes\":[%s],"
                     "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"authData\":[{\"id\":\"PIN\","
                     "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
                     s->cred, o->hashes, list, s->s.pin, code);
    if (w < 0 || (size_t)w >= body_cap)
        die("request buffer too small");
    long status =
        http_post(&c->h, "/csc/v2/credentials/authorize", s->token, NULL, body, (size_t)w, &ms);
    sodium_memzero(body, (size_t)w); /* the PIN and OTP */
    sodium_memzero(code, sizeof code);
    if (status != 200 || !json_member(&c->h, "SAD", sad, sizeof sad)) {
        /* not given back: its counters or steps are no longer what this program thinks */
        client_error(c, "authorize", status);
        return;
    }
    if (!in_window(cl)) {
        pool_give(cl->signers, s);
        return;
    }
    lat_add(&c->lat[K_AUTH], ms);
    c->authorizations++;
    if (cl->sc == SC_C) {
        c->ops++;
        atomic_fetch_add_explicit(&cl->ops, 1, memory_order_relaxed);
        pool_give(cl->signers, s);
        return;
    }

    int per_call = cl->sc == SC_A ? 1 : o->hashes;
    for (int first = 0; first < o->hashes; first += per_call) {
        const char *hashes = list;
        char one[64];
        if (cl->sc == SC_A) {
            snprintf(one, sizeof one, "\"%s\"", each[first]);
            hashes = one;
        }
        w = snprintf(body, body_cap,
                     "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[%s],"
                     "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"signAlgo\":\"%s\"}",
                     s->cred, sad, hashes, o->key->sign_algo);
        if (w < 0 || (size_t)w >= body_cap)
            die("request buffer too small");
        status =
            http_post(&c->h, "/csc/v2/signatures/signHash", s->token, NULL, body, (size_t)w, &ms);
        if (status != 200 || json_signatures(&c->h) != per_call) {
            client_error(c, "signHash", status);
            break;
        }
        if (!in_window(cl))
            break;
        lat_add(&c->lat[K_SIGN], ms);
        c->signatures += per_call;
        c->ops += per_call;
        atomic_fetch_add_explicit(&cl->ops, per_call, memory_order_relaxed);
    }
    sodium_memzero(sad, sizeof sad);
    pool_give(cl->signers, s);
}

static void *client_main(void *arg)
{
    client *c = arg;
    cell *cl = c->cl;
    size_t list_cap = (size_t)cl->o->hashes * 48 + 16, body_cap = list_cap + 1024;
    char *list = xcalloc(1, list_cap), *body = xcalloc(1, body_cap);
    char(*each)[48] = xcalloc((size_t)cl->o->hashes, sizeof *each);
    double ms;

    http_init(&c->h, cl->st->api);
    /* The TLS handshake happens here, before the window. */
    long status = http_post(&c->h, "/csc/v2/info", NULL, NULL, "{}", 2, &ms);
    if (status != 200)
        client_error(c, "info", status);
    long before = c->h.connects;
    (void)pthread_barrier_wait(&cl->ready);
    (void)pthread_barrier_wait(&cl->go);
    while (in_window(cl) && !atomic_load(&g_interrupted))
        client_unit(c, body, body_cap, list, list_cap, each);
    c->connects = c->h.connects - before;
    http_free(&c->h);
    free(list);
    free(body);
    free(each);
    return NULL;
}

typedef struct cell_result {
    scenario sc;
    int clients;
    double window;
    bool dry;
    long ops, signatures, authorizations, errors, connects;
    double p[3];           /* p50, p95, p99 over every request */
    double pk[K_COUNT][2]; /* p50, p99 per kind */
    cpu_snap cpu;          /* ticks used from the window's start until the clients stopped */
    double cpu_window;     /* seconds of that */
    char first_error[256];
} cell_result;

static void run_cell(const options *o, const stack *st, pool *signers, scenario sc, int n,
                     cell_result *res)
{
    cell cl;
    memset(&cl, 0, sizeof cl);
    cl.o = o;
    cl.st = st;
    cl.sc = sc;
    cl.clients = n;
    cl.signers = signers;
    atomic_init(&cl.stop, false);
    atomic_init(&cl.dry, false);
    atomic_init(&cl.ops, 0);
    if (pthread_barrier_init(&cl.ready, NULL, (unsigned)n + 1) != 0 ||
        pthread_barrier_init(&cl.go, NULL, (unsigned)n + 1) != 0)
        die("pthread_barrier_init failed");
    client *cs = xcalloc((size_t)n, sizeof *cs);
    for (int i = 0; i < n; i++) {
        cs[i].cl = &cl;
        if (pthread_create(&cs[i].tid, NULL, client_main, &cs[i]) != 0)
            die("pthread_create failed");
    }
    cpu_snap c0, c1;
    (void)pthread_barrier_wait(&cl.ready);
    cpu_read(st, &c0);
    cl.t_start = now_s();
    cl.t_end = cl.t_start + o->seconds;
    (void)pthread_barrier_wait(&cl.go); /* publishes the window */

    bool tty = isatty(STDERR_FILENO) != 0;
    const char *unit = sc == SC_C ? "authorizations" : "signatures";
    while (!atomic_load(&cl.stop) && !atomic_load(&g_interrupted)) {
        double left_ms = (cl.t_end - now_s()) * 1000.0;
        sleep_ms(left_ms < PROGRESS_INTERVAL_MS ? (long)(left_ms > 0 ? left_ms : 0) + 1
                                                : PROGRESS_INTERVAL_MS);
        double el = now_s() - cl.t_start;
        if (el > o->seconds)
            el = o->seconds;
        long ops = atomic_load(&cl.ops);
        if (tty)
            fprintf(stderr, "\r%s, %d client%s: %4.1f/%.0f s, %ld %s (%.1f/s)   ", sc_names[sc], n,
                    n > 1 ? "s" : "", el, o->seconds, ops, unit, el > 0 ? (double)ops / el : 0.0);
        if (now_s() >= cl.t_end)
            atomic_store(&cl.stop, true);
    }
    double t_stop = now_s();
    cpu_read(st, &c1);
    atomic_store(&cl.stop, true);
    for (int i = 0; i < n; i++)
        pthread_join(cs[i].tid, NULL);
    pthread_barrier_destroy(&cl.ready);
    pthread_barrier_destroy(&cl.go);

    memset(res, 0, sizeof *res);
    res->sc = sc;
    res->clients = n;
    res->dry = atomic_load(&cl.dry);
    res->window = (t_stop < cl.t_end ? t_stop : cl.t_end) - cl.t_start;
    res->cpu_window = t_stop - cl.t_start;
    for (int k = 0; k < CPU_PARTS; k++)
        res->cpu.t[k] = c1.t[k] - c0.t[k];
    lat_buf all = {0}, kind[K_COUNT] = {{0}};
    for (int i = 0; i < n; i++) {
        client *c = &cs[i];
        res->ops += c->ops;
        res->signatures += c->signatures;
        res->authorizations += c->authorizations;
        res->errors += c->errors;
        res->connects += c->connects;
        if (res->first_error[0] == '\0' && c->first_error[0] != '\0')
            snprintf(res->first_error, sizeof res->first_error, "%s", c->first_error);
        for (int k = 0; k < K_COUNT; k++) {
            for (size_t x = 0; x < c->lat[k].n; x++) {
                lat_add(&all, c->lat[k].v[x]);
                lat_add(&kind[k], c->lat[k].v[x]);
            }
            free(c->lat[k].v);
        }
    }
    qsort(all.v, all.n, sizeof *all.v, cmp_double);
    res->p[0] = percentile(&all, 50);
    res->p[1] = percentile(&all, 95);
    res->p[2] = percentile(&all, 99);
    for (int k = 0; k < K_COUNT; k++) {
        qsort(kind[k].v, kind[k].n, sizeof *kind[k].v, cmp_double);
        res->pk[k][0] = percentile(&kind[k], 50);
        res->pk[k][1] = percentile(&kind[k], 99);
        free(kind[k].v);
    }
    free(all.v);
    free(cs);
    double rate = res->window > 0 ? (double)res->ops / res->window : 0;
    fprintf(stderr, "%s%s, %d client%s: %ld %s in %.1f s, %.1f/s, p99 %.1f ms%s%s\n",
            tty ? "\r" : "", sc_names[sc], n, n > 1 ? "s" : "", res->ops, unit, res->window, rate,
            res->p[2], res->errors > 0 ? ", ERRORS" : "",
            res->dry ? ", stopped early: no signer had a TOTP step left" : "");
}

/* ---- Raw HSM rates ------------------------------------------------------------------------- */

typedef struct raw_rates {
    double sign, unwrap_sign, record_mac;             /* per second */
    double sign_cpu, unwrap_sign_cpu, record_mac_cpu; /* CPU seconds per operation */
    int threads;
} raw_rates;

static double least(double a, double b)
{
    return a > 0 && (b <= 0 || a < b) ? a : b;
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

/* Best of a few short runs of each operation through hsm/, on the stack's own token. */
static void measure_hsm(const options *o, const stack *st, const char *when, raw_rates *out)
{
    qs_hsm *h = qs_test_token_open(&st->sam->token);
    qs_hsm_session *s = NULL;
    qs_hsm_keypair kp;
    memset(&kp, 0, sizeof kp);
    if (qs_hsm_session_open(h, &s) != QS_OK ||
        qs_hsm_generate_signer_key(s, o->key->hsm, &kp) != QS_OK)
        die("cannot make a %s key in the token", qs_key_alg_name(o->key->hsm));
    qs_hsm_session_close(s);
    memset(out, 0, sizeof *out);
    out->threads = o->hsm_threads;
    bench_hsm_target ts = {h, o->key->hsm, &kp, BENCH_HSM_SIGN};
    bench_hsm_target tu = {h, o->key->hsm, &kp, BENCH_HSM_UNWRAP_SIGN};
    bench_op_def sign = bench_hsm_op_def(&ts), unwrap = bench_hsm_op_def(&tu);
    bench_op_def mac = bench_hsm_record_mac_op_def(&ts);
    double window = o->hsm_seconds / DEFAULT_HSM_ROUNDS;
    fprintf(stderr, "raw HSM rates %s (%s, %d thread%s, best of %d x %.1f s each): ", when,
            qs_key_alg_name(o->key->hsm), out->threads, out->threads > 1 ? "s" : "",
            DEFAULT_HSM_ROUNDS, window);
    for (int r = 0; r < DEFAULT_HSM_ROUNDS && !atomic_load(&g_interrupted); r++) {
        double cu = 0, cx = 0, cm = 0;
        double u = bench_run_threads_cpu(&unwrap, out->threads, window, &cu);
        double x = bench_run_threads_cpu(&sign, out->threads, window, &cx);
        double m = bench_run_threads_cpu(&mac, out->threads, window, &cm);
        if (u < 0 || x < 0 || m < 0)
            die("an HSM operation failed");
        out->unwrap_sign = best(u, out->unwrap_sign);
        out->sign = best(x, out->sign);
        out->record_mac = best(m, out->record_mac);
        out->unwrap_sign_cpu = least(cu, out->unwrap_sign_cpu);
        out->sign_cpu = least(cx, out->sign_cpu);
        out->record_mac_cpu = least(cm, out->record_mac_cpu);
        fputc('.', stderr);
    }
    fprintf(stderr,
            " unwrap+sign %.1f/s (%.3f ms CPU), sign %.1f/s (%.3f ms), record MAC %.1f/s "
            "(%.3f ms)\n",
            out->unwrap_sign, out->unwrap_sign_cpu * 1e3, out->sign, out->sign_cpu * 1e3,
            out->record_mac, out->record_mac_cpu * 1e3);
    qs_hsm_keypair_clear(&kp);
    qs_hsm_close(h);
}

/* ---- Report ------------------------------------------------------------------------------------
 */

static void print_table(const options *o, const raw_rates *raw, const cell_result *res, int n,
                        long ticks_per_s)
{
    printf("\nraw HSM through hsm/ (%s, %d thread%s, best before/after the cells):\n"
           "  unwrap+sign+destroy %9.1f/s  %7.3f ms CPU each\n"
           "  sign                %9.1f/s  %7.3f ms CPU each\n"
           "  record MAC (HMAC)   %9.1f/s  %7.3f ms CPU each\n\n",
           qs_key_alg_name(o->key->hsm), raw->threads, raw->threads > 1 ? "s" : "",
           raw->unwrap_sign, raw->unwrap_sign_cpu * 1e3, raw->sign, raw->sign_cpu * 1e3,
           raw->record_mac, raw->record_mac_cpu * 1e3);
    printf("%-32s %7s %9s %10s %9s %7s %6s %8s %8s %8s %6s\n", "scenario (H = hashes)", "clients",
           "count", "per s", "raw/s", "ratio", "goal", "p50 ms", "p95 ms", "p99 ms", "errors");
    for (int i = 0; i < n; i++) {
        const cell_result *r = &res[i];
        double rate = r->window > 0 ? (double)r->ops / r->window : 0;
        double ref = r->sc == SC_A ? raw->unwrap_sign : r->sc == SC_B ? raw->sign : 0;
        char ratio[16] = "-", goal[16] = "-";
        if (ref > 0)
            snprintf(ratio, sizeof ratio, "%.3f", rate / ref);
        if (r->sc != SC_C)
            snprintf(goal, sizeof goal, ">=%.2f", r->sc == SC_A ? 0.60 : 0.50);
        char refs[16] = "-";
        if (ref > 0)
            snprintf(refs, sizeof refs, "%.1f", ref);
        printf("%-32s %7d %9ld %10.1f %9s %7s %6s %8.1f %8.1f %8.1f %6ld%s\n", sc_names[r->sc],
               r->clients, r->ops, rate, refs, ratio, goal, r->p[0], r->p[1], r->p[2], r->errors,
               r->dry ? " (ran dry)" : "");
    }
    printf("\ncount: signatures for (a) and (b), authorizations for (c); raw/s: unwrap+sign for "
           "(a), sign for (b).\nLatency over every HTTP request of the scenario; goal for all: "
           "p99 < 50 ms at 32 clients.\n");

    printf("\n%-32s %7s %10s %10s %10s %10s %6s %s\n", "by request", "clients", "auth p50",
           "auth p99", "sign p50", "sign p99", "conns",
           "(ms; conns: TLS connections opened "
           "in the window)");
    for (int i = 0; i < n; i++) {
        const cell_result *r = &res[i];
        printf("%-32s %7d %10.1f %10.1f %10.1f %10.1f %6ld\n", sc_names[r->sc], r->clients,
               r->pk[K_AUTH][0], r->pk[K_AUTH][1], r->pk[K_SIGN][0], r->pk[K_SIGN][1], r->connects);
    }

    printf("\n%-32s %7s", "CPU, cores busy", "clients");
    for (int k = 0; k < CPU_PARTS; k++)
        printf(" %9s", cpu_part_names[k]);
    printf(" %9s %9s %9s %9s %9s\n", "other", "stack ms", "bench ms", "raw ms", "cpu ratio");
    for (int i = 0; i < n; i++) {
        const cell_result *r = &res[i];
        printf("%-32s %7d", sc_names[r->sc], r->clients);
        if (r->cpu_window < CPU_WINDOW_MIN || r->ops == 0) {
            printf("  (no measurement)\n");
            continue;
        }
        double w = r->cpu_window;
        double ours = 0;
        for (int k = 0; k < CPU_PARTS; k++) {
            double cores = (double)r->cpu.t[k] / (double)ticks_per_s / w;
            if (k != CPU_MACHINE)
                ours += cores;
            printf(" %9.2f", cores);
        }
        double machine = (double)r->cpu.t[CPU_MACHINE] / (double)ticks_per_s / w;
        double stack_ms = (double)(r->cpu.t[CPU_API] + r->cpu.t[CPU_SAM] + r->cpu.t[CPU_PG]) /
                          (double)ticks_per_s * 1000.0 / (double)r->ops;
        double bench_ms =
            (double)r->cpu.t[CPU_BENCH] / (double)ticks_per_s * 1000.0 / (double)r->ops;
        double raw_ms = (r->sc == SC_A   ? raw->unwrap_sign_cpu
                         : r->sc == SC_B ? raw->sign_cpu
                                         : 0) *
                        1e3;
        char rms[16] = "-", ratio[16] = "-";
        if (raw_ms > 0) {
            snprintf(rms, sizeof rms, "%.3f", raw_ms);
            if (stack_ms > 0)
                snprintf(ratio, sizeof ratio, "%.3f", raw_ms / stack_ms);
        }
        printf(" %9.2f %9.3f %9.3f %9s %9s\n", machine - ours > 0 ? machine - ours : 0.0, stack_ms,
               bench_ms, rms, ratio);
    }
    printf("\nCPU from /proc: bench = this program (the clients), postgres = the cluster's "
           "processes,\nmachine = every process on the machine, other = machine minus ours.  "
           "stack ms: CPU of qsignd +\nqsign-sam + postgres per count; raw ms: CPU of the raw "
           "HSM operation; cpu ratio = raw ms / stack ms,\nthe ratio a CPU-bound stack would "
           "reach with the machine to itself (other load hardly changes it).\n");
    bool errors = false;
    for (int i = 0; i < n; i++) {
        if (res[i].first_error[0] != '\0') {
            if (!errors)
                printf("\nfirst error per cell:\n");
            errors = true;
            printf("  %s, %d clients: %s\n", sc_names[res[i].sc], res[i].clients,
                   res[i].first_error);
        }
    }
    fflush(stdout);
}

/* ---- Main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: qsign-bench-csc [options]\n"
        "Brings up a throwaway stack (PostgreSQL, SoftHSM, qsign-sam, qsignd on 127.0.0.1),\n"
        "measures the raw HSM rates, enrols signers, then runs each scenario at each client\n"
        "count:  (a) authorize + H x signHash(1 hash)  (b) authorize + signHash(H hashes)\n"
        "        (c) authorize alone\n"
        "  --clients LIST       client counts, comma separated (default 1,8,32; max %d)\n"
        "  --seconds S          measuring time per cell (default %.0f)\n"
        "  --hashes H           hashes per authorization (default %d, 1..%d)\n"
        "  --scenarios LIST     which of a,b,c (default abc)\n"
        "  --alg NAME           credential key: ec-p256 (default), ec-p384, rsa-2048,\n"
        "                       rsa-3072, rsa-4096\n"
        "  --pin-kdf cheap|production  PIN verifier cost: the test harness's (Argon2id t=1,\n"
        "                       8 KiB; default) or the SAM's defaults (t=3, 256 MiB)\n"
        "  --signers N          signers to enrol (default %d, or %d with --pin-kdf production)\n"
        "  --no-fsync           leave PostgreSQL without durability (fsync, synchronous_commit\n"
        "                       off, as in the tests); default: durable\n"
        "  --api-threads N      qsignd [http] threads (default %d)\n"
        "  --sam-workers N      qsign-sam [sam] workers (default %d)\n"
        "  --enrol-threads N    parallel enrolments (default %d)\n"
        "  --hsm-threads N      threads for the raw HSM rates (default: online CPUs)\n"
        "  --hsm-seconds S      time for each raw HSM rate (default %.0f)\n"
        "  --pg-set NAME=VALUE  a PostgreSQL setting for the run (ALTER SYSTEM + reload;\n"
        "                       repeatable, up to %d)\n"
        "  --logs DIR           keep the logs of qsignd, qsign-sam and PostgreSQL in DIR\n"
        "  --verify-audit       verify the SAM's audit chain at the end\n"
        "  --qsignd PATH        qsignd binary (default: beside this program)\n"
        "  --qsign-sam PATH     qsign-sam binary (default: beside this program)\n",
        MAX_CELL_CLIENTS, DEFAULT_SECONDS, DEFAULT_HASHES, MAX_HASHES, SIGNERS_CHEAP_KDF,
        SIGNERS_PROD_KDF, DEFAULT_API_THREADS, DEFAULT_SAM_WORKERS, DEFAULT_ENROL_THREADS,
        DEFAULT_HSM_SECONDS, MAX_PG_SETTINGS);
}

static int int_arg(const char *name, const char *v, int min, int max)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < min || x > max) {
        fprintf(stderr, "qsign-bench-csc: %s must be %d..%d\n", name, min, max);
        exit(2);
    }
    return (int)x;
}

static double seconds_arg(const char *name, const char *v)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || !(x >= 0.5 && x <= 600)) {
        fprintf(stderr, "qsign-bench-csc: %s must be 0.5..600 seconds\n", name);
        exit(2);
    }
    return x;
}

/* A binary beside this program's own. */
static const char *beside_self(const char *name, char *buf, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return name;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    path_fmt(buf, cap, "%s/%s", self, name);
    return buf;
}

static void parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"clients", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'},
        {"hashes", required_argument, NULL, 'H'},
        {"scenarios", required_argument, NULL, 'S'},
        {"alg", required_argument, NULL, 'a'},
        {"signers", required_argument, NULL, 'n'},
        {"pin-kdf", required_argument, NULL, 'k'},
        {"no-fsync", no_argument, NULL, 'F'},
        {"api-threads", required_argument, NULL, 'T'},
        {"sam-workers", required_argument, NULL, 'W'},
        {"enrol-threads", required_argument, NULL, 'E'},
        {"hsm-threads", required_argument, NULL, 't'},
        {"hsm-seconds", required_argument, NULL, 'x'},
        {"verify-audit", no_argument, NULL, 'V'},
        {"logs", required_argument, NULL, 'L'},
        {"pg-set", required_argument, NULL, 'P'},
        {"qsignd", required_argument, NULL, 'q'},
        {"qsign-sam", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char qsignd_buf[PATH_MAX + 16], sam_buf[PATH_MAX + 16];
    static pg_setting pg_settings[MAX_PG_SETTINGS];
    memset(o, 0, sizeof *o);
    o->pg_set = pg_settings;
    o->clients[0] = 1;
    o->clients[1] = 8;
    o->clients[2] = 32;
    o->n_clients = 3;
    o->seconds = DEFAULT_SECONDS;
    o->hashes = DEFAULT_HASHES;
    o->scenarios[SC_A] = o->scenarios[SC_B] = o->scenarios[SC_C] = true;
    o->key = &keys[0];
    o->api_threads = DEFAULT_API_THREADS;
    o->sam_workers = DEFAULT_SAM_WORKERS;
    o->enrol_threads = DEFAULT_ENROL_THREADS;
    o->hsm_seconds = DEFAULT_HSM_SECONDS;
    o->fsync = true;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->n_clients = parse_list(optarg, o->clients, MAX_CLIENT_COUNTS, MAX_CELL_CLIENTS);
            if (o->n_clients <= 0) {
                fprintf(stderr, "qsign-bench-csc: --clients: counts 1..%d, comma separated\n",
                        MAX_CELL_CLIENTS);
                exit(2);
            }
            break;
        case 's':
            o->seconds = seconds_arg("--seconds", optarg);
            break;
        case 'H':
            o->hashes = int_arg("--hashes", optarg, 1, MAX_HASHES);
            break;
        case 'S':
            memset(o->scenarios, 0, sizeof o->scenarios);
            for (const char *p = optarg; *p != '\0'; p++) {
                if (*p >= 'a' && *p < 'a' + SC_COUNT)
                    o->scenarios[*p - 'a'] = true;
                else if (*p != ',') {
                    fprintf(stderr, "qsign-bench-csc: --scenarios: letters a, b, c\n");
                    exit(2);
                }
            }
            break;
        case 'a': {
            o->key = NULL;
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                if (strcmp(optarg, keys[i].name) == 0)
                    o->key = &keys[i];
            }
            if (o->key == NULL) {
                fprintf(stderr, "qsign-bench-csc: --alg: ec-p256, ec-p384, rsa-2048, rsa-3072 "
                                "or rsa-4096\n");
                exit(2);
            }
            break;
        }
        case 'n':
            o->signers = int_arg("--signers", optarg, 1, MAX_SIGNERS);
            break;
        case 'k':
            if (strcmp(optarg, "cheap") == 0)
                o->prod_kdf = false;
            else if (strcmp(optarg, "production") == 0)
                o->prod_kdf = true;
            else {
                fprintf(stderr, "qsign-bench-csc: --pin-kdf: cheap or production\n");
                exit(2);
            }
            break;
        case 'F':
            o->fsync = false;
            break;
        case 'T':
            o->api_threads = int_arg("--api-threads", optarg, 1, 256);
            break;
        case 'W':
            o->sam_workers = int_arg("--sam-workers", optarg, 1, 256);
            break;
        case 'E':
            o->enrol_threads = int_arg("--enrol-threads", optarg, 1, 64);
            break;
        case 't':
            o->hsm_threads = int_arg("--hsm-threads", optarg, 1, BENCH_MAX_THREADS);
            break;
        case 'x':
            o->hsm_seconds = seconds_arg("--hsm-seconds", optarg);
            break;
        case 'V':
            o->verify_audit = true;
            break;
        case 'L':
            o->logs_dir = optarg;
            break;
        case 'P':
            if (o->n_pg_set == MAX_PG_SETTINGS ||
                !pg_setting_parse(optarg, &pg_settings[o->n_pg_set])) {
                fprintf(stderr, "qsign-bench-csc: --pg-set NAME=VALUE (at most %d)\n",
                        MAX_PG_SETTINGS);
                exit(2);
            }
            o->n_pg_set++;
            break;
        case 'q':
            o->qsignd_bin = optarg;
            break;
        case 'm':
            o->sam_bin = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (o->signers == 0)
        o->signers = o->prod_kdf ? SIGNERS_PROD_KDF : SIGNERS_CHEAP_KDF;
    if (o->hsm_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->hsm_threads = n < 1 ? 1 : n > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (int)n;
    }
    if (o->qsignd_bin == NULL)
        o->qsignd_bin = beside_self("qsignd", qsignd_buf, sizeof qsignd_buf);
    if (o->sam_bin == NULL)
        o->sam_bin = beside_self("qsign-sam", sam_buf, sizeof sam_buf);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, &o);
    if (access(o.qsignd_bin, X_OK) != 0)
        die("%s is not executable (--qsignd)", o.qsignd_bin);
    if (access(o.sam_bin, X_OK) != 0)
        die("%s is not executable (--qsign-sam)", o.sam_bin);
    setenv("QS_QSIGND", o.qsignd_bin, 1);
    setenv("QS_SAM_BIN", o.sam_bin, 1);
    if (qs_util_init() != QS_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("library initialisation failed");
    qs_log_set_level(QS_LOG_WARN);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atexit(emergency_stop);

    long ticks = sysconf(_SC_CLK_TCK);
    fprintf(stderr,
            "qsign-bench-csc: %s, %d hashes per authorization, %.0f s per cell, qsignd %d "
            "threads, qsign-sam %d workers, PIN verifier %s, PostgreSQL %s\n",
            o.key->name, o.hashes, o.seconds, o.api_threads, o.sam_workers,
            o.prod_kdf ? "production (Argon2id t=3, 256 MiB)" : "cheap (Argon2id t=1, 8 KiB)",
            o.fsync ? "durable (fsync on)" : "without fsync");
    fprintf(stderr, "bringing up the stack...\n");
    stack *st = &g_stack;
    start_stack(st, &o);
    fprintf(stderr,
            "stack up: qsignd pid %d at https://127.0.0.1:%u, qsign-sam pid %d, postgres "
            "pid %d\n",
            (int)st->api->pid, st->api->port, (int)st->sam->pid, (int)st->postmaster);

    raw_rates raw, after;
    measure_hsm(&o, st, "before", &raw);

    signer *signers = xcalloc((size_t)o.signers, sizeof *signers);
    int ready = enrol(&o, st, signers, o.signers);
    pool signer_pool;
    pool_init(&signer_pool, (size_t)ready);
    for (int i = 0; i < ready; i++)
        pool_give(&signer_pool, &signers[i]);

    cell_result res[SC_COUNT * MAX_CLIENT_COUNTS];
    int nres = 0;
    for (int sc = 0; sc < SC_COUNT; sc++) {
        for (int i = 0; i < o.n_clients && o.scenarios[sc]; i++) {
            if (atomic_load(&g_interrupted))
                break;
            if (o.clients[i] > ready) {
                fprintf(stderr, "skipping %d clients: only %d signers\n", o.clients[i], ready);
                continue;
            }
            settle(st, ticks);
            run_cell(&o, st, &signer_pool, (scenario)sc, o.clients[i], &res[nres++]);
        }
    }
    if (!atomic_load(&g_interrupted)) {
        /* Again with the stack idle: others' load on the machine varies during a run. */
        measure_hsm(&o, st, "after", &after);
        raw.unwrap_sign = best(raw.unwrap_sign, after.unwrap_sign);
        raw.sign = best(raw.sign, after.sign);
        raw.record_mac = best(raw.record_mac, after.record_mac);
        raw.unwrap_sign_cpu = least(raw.unwrap_sign_cpu, after.unwrap_sign_cpu);
        raw.sign_cpu = least(raw.sign_cpu, after.sign_cpu);
        raw.record_mac_cpu = least(raw.record_mac_cpu, after.record_mac_cpu);
    }
    print_table(&o, &raw, res, nres, ticks);
    long errors = 0;
    for (int i = 0; i < nres; i++)
        errors += res[i].errors;

    int rc = errors > 0 ? 1 : 0;
    if (o.verify_audit && !atomic_load(&g_interrupted)) {
        uint64_t count = 0;
        fprintf(stderr, "verifying the audit chain...\n");
        qs_err r = qs_test_samd_verify_audit(st->sam, &count);
        printf("\naudit chain: %s, %llu records\n", qs_err_name(r), (unsigned long long)count);
        if (r != QS_OK)
            rc = 1;
    }
    char pg_data[PATH_MAX], pg_env[PATH_MAX + 16];
    path_fmt(pg_env, sizeof pg_env, "%s/env", st->pg_dir);
    if (!env_file_value(pg_env, "QS_PG_DATA", pg_data, sizeof pg_data))
        snprintf(pg_data, sizeof pg_data, "/nonexistent/data");
    if (o.logs_dir != NULL &&
        qs_test_system("mkdir -p '%s' && cp '%s' '%s/qsignd.log' && cp '%s' '%s/qsign-sam.log' && "
                       "cp \"$(dirname '%s')/postgres.log\" '%s/postgres.log'",
                       o.logs_dir, st->api->log_file, o.logs_dir, st->sam->log_path, o.logs_dir,
                       pg_data, o.logs_dir) != 0)
        fprintf(stderr, "qsign-bench-csc: could not copy the logs to %s\n", o.logs_dir);
    fprintf(stderr, "stopping the stack...\n");
    stop_stack(st);
    sodium_memzero(signers, (size_t)o.signers * sizeof *signers);
    free(signers);
    free(signer_pool.ring);
    curl_global_cleanup();
    if (atomic_load(&g_interrupted)) {
        fprintf(stderr, "qsign-bench-csc: interrupted\n");
        return 130;
    }
    return rc;
}

/* Timed multi-threaded runs and the HSM layer's signer-key operations (bench/bench_hsm.h). */
#include "bench/bench_hsm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct worker {
    pthread_t tid;
    const bench_op_def *op;
    pthread_barrier_t *start;
    const struct timespec *t0;
    const atomic_bool *stop;
    unsigned long ops;
    double busy; /* seconds from t0 to the end of the last operation */
    bool failed;
} worker;

static double ts_s(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts_s(&ts);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    void *state = w->op->setup(w->op->cls);
    uint8_t digest[QS_SHA256_LEN];
    memset(digest, 0x5a, sizeof digest);
    (void)pthread_barrier_wait(w->start);
    double t0 = ts_s(w->t0);
    if (state == NULL) {
        w->failed = true;
    } else {
        while (!atomic_load_explicit(w->stop, memory_order_relaxed) || w->ops < BENCH_MIN_OPS) {
            memcpy(digest, &w->ops, sizeof w->ops); /* a new digest each time */
            if (!w->op->run(state, digest)) {
                w->failed = true;
                break;
            }
            w->ops++;
            w->busy = now_s() - t0;
        }
    }
    w->op->teardown(state);
    return NULL;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts_s(&ts);
}

double bench_run_threads(const bench_op_def *op, int threads, double seconds)
{
    return bench_run_threads_cpu(op, threads, seconds, NULL);
}

double bench_run_threads_cpu(const bench_op_def *op, int threads, double seconds,
                             double *cpu_per_op)
{
    worker w[BENCH_MAX_THREADS];
    pthread_barrier_t start;
    struct timespec t0;
    atomic_bool stop;

    if (threads < 1 || threads > BENCH_MAX_THREADS || seconds <= 0)
        return -1;
    atomic_init(&stop, false);
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0)
        return -1;
    memset(w, 0, sizeof w);
    for (int i = 0; i < threads; i++) {
        w[i].op = op;
        w[i].start = &start;
        w[i].t0 = &t0;
        w[i].stop = &stop;
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0); /* published to the workers by the barrier */
    double cpu0 = cpu_s();
    (void)pthread_barrier_wait(&start);
    struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR)
        ;
    atomic_store(&stop, true);
    double rate = 0;
    unsigned long ops = 0;
    bool failed = false;
    for (int i = 0; i < threads; i++) {
        (void)pthread_join(w[i].tid, NULL);
        failed = failed || w[i].failed;
        ops += w[i].ops;
        if (w[i].busy > 0)
            rate += (double)w[i].ops / w[i].busy;
    }
    if (cpu_per_op != NULL)
        *cpu_per_op = ops > 0 ? (cpu_s() - cpu0) / (double)ops : 0;
    pthread_barrier_destroy(&start);
    return failed ? -1 : rate;
}

/* ---- The layer's operations ------------------------------------------------------------------ */

const char *const bench_hsm_op_names[BENCH_HSM_OP_COUNT] = {"sign", "unwrap+sign+destroy",
                                                            "keygen+wrap"};

qs_sig_scheme bench_hsm_scheme(qs_key_alg alg)
{
    return alg == QS_KEY_EC_P256 || alg == QS_KEY_EC_P384 ? QS_SIG_ECDSA : QS_SIG_RSA_PKCS1;
}

typedef struct hsm_state {
    const bench_hsm_target *t;
    qs_hsm_session *s;
    qs_hsm_key *k; /* BENCH_HSM_SIGN: the thread's unwrapped key */
} hsm_state;

static void hsm_teardown(void *state)
{
    hsm_state *st = state;
    if (st == NULL)
        return;
    qs_hsm_key_destroy(st->k);
    qs_hsm_session_close(st->s);
    free(st);
}

static void *hsm_setup(const void *cls)
{
    const bench_hsm_target *t = cls;
    hsm_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->t = t;
    if (qs_hsm_session_open(t->h, &st->s) != QS_OK ||
        (t->op == BENCH_HSM_SIGN &&
         qs_hsm_unwrap_signer_key(st->s, t->alg, t->key->wrapped, t->key->wrapped_len, &st->k) !=
             QS_OK)) {
        hsm_teardown(st);
        return NULL;
    }
    return st;
}

static bool hsm_run(void *state, const uint8_t digest[static QS_SHA256_LEN])
{
    hsm_state *st = state;
    const bench_hsm_target *t = st->t;
    uint8_t sig[QS_HSM_SIG_MAX];
    size_t sig_len = sizeof sig;

    switch (t->op) {
    case BENCH_HSM_SIGN:
        return qs_hsm_key_sign(st->k, bench_hsm_scheme(t->alg), QS_HASH_SHA256, digest,
                               QS_SHA256_LEN, sig, &sig_len) == QS_OK;
    case BENCH_HSM_UNWRAP_SIGN: {
        const uint8_t *const ds[] = {digest};
        uint8_t *const ss[] = {sig};
        return qs_hsm_sign_digests(st->s, t->alg, t->key->wrapped, t->key->wrapped_len,
                                   bench_hsm_scheme(t->alg), QS_HASH_SHA256, ds, 1, ss,
                                   &sig_len) == QS_OK;
    }
    case BENCH_HSM_KEYGEN: {
        qs_hsm_keypair kp;
        bool ok = qs_hsm_generate_signer_key(st->s, t->alg, &kp) == QS_OK;
        qs_hsm_keypair_clear(&kp);
        return ok;
    }
    case BENCH_HSM_OP_COUNT:
        break;
    }
    return false;
}

bench_op_def bench_hsm_op_def(const bench_hsm_target *t)
{
    return (bench_op_def){hsm_setup, hsm_run, hsm_teardown, t};
}

/* ---- Record MACs ------------------------------------------------------------------------------
 */

static void *mac_setup(const void *cls)
{
    const bench_hsm_target *t = cls;
    qs_hsm_session *s = NULL;
    return qs_hsm_session_open(t->h, &s) == QS_OK ? s : NULL;
}

static bool mac_run(void *state, const uint8_t digest[static QS_SHA256_LEN])
{
    uint8_t rec[BENCH_HSM_RECORD_LEN], mac[QS_HSM_HMAC_LEN];
    memset(rec, 0x33, sizeof rec);
    memcpy(rec, digest, QS_SHA256_LEN);
    return qs_hsm_hmac(state, QS_HSM_RECORD_MAC, rec, sizeof rec, mac) == QS_OK;
}

static void mac_teardown(void *state)
{
    qs_hsm_session_close(state);
}

bench_op_def bench_hsm_record_mac_op_def(const bench_hsm_target *t)
{
    return (bench_op_def){mac_setup, mac_run, mac_teardown, t};
}

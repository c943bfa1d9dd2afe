/*
 * Shared by the benchmarks (library qsign_bench_hsm): a timed run of one operation on N
 * threads, and the HSM layer's signer-key operations, done the way the SAM does them, as such
 * an operation.  qsign-bench-hsm sets them beside straight PKCS#11 calls; qsign-bench-csc
 * prints them beside the rates of the whole service.
 *
 * Threads: bench_run_threads starts and joins its own threads; each calls setup, then the
 * operation until the time is up, then teardown, so per-thread state (an HSM session) is never
 * shared.
 */
#ifndef QS_BENCH_BENCH_HSM_H
#define QS_BENCH_BENCH_HSM_H

#include <stdbool.h>
#include <stdint.h>

#include "hsm/hsm.h"

#define BENCH_MAX_THREADS 64
#define BENCH_MIN_OPS     2 /* per thread, so slow operations (RSA keygen) still give a rate */

/* An operation to time.  setup returns the thread's state (NULL: failed); run does one
 * operation over a fresh digest (false: failed); teardown takes what setup returned, even NULL. */
typedef struct bench_op_def {
    void *(*setup)(const void *cls);
    bool (*run)(void *state, const uint8_t digest[static QS_SHA256_LEN]);
    void (*teardown)(void *state);
    const void *cls;
} bench_op_def;

/*
 * Runs `op` on `threads` threads (1..BENCH_MAX_THREADS) for about `seconds`, each thread at
 * least BENCH_MIN_OPS times.  Returns operations per second summed over the threads, each
 * thread's count over its own time to its last operation; < 0 when a thread failed.
 */
double bench_run_threads(const bench_op_def *op, int threads, double seconds);

/* As bench_run_threads, and the CPU time (user + system) the process used per operation into
 * *cpu_per_op: a cost the machine's other load hardly changes. */
double bench_run_threads_cpu(const bench_op_def *op, int threads, double seconds,
                             double *cpu_per_op);

typedef enum bench_hsm_op {
    BENCH_HSM_SIGN = 0,        /* one key unwrapped per thread, then a signature per operation */
    BENCH_HSM_UNWRAP_SIGN = 1, /* unwrap + sign + destroy per signature: how the SAM signs */
    BENCH_HSM_KEYGEN = 2,      /* generate, read the public key, wrap, destroy */
    BENCH_HSM_OP_COUNT = 3
} bench_hsm_op;

extern const char *const bench_hsm_op_names[BENCH_HSM_OP_COUNT];

/* What a layer operation works on: an open token and, for the signing operations, a signer key
 * of `alg` (wrapped under the token's KEK). */
typedef struct bench_hsm_target {
    qs_hsm *h;
    qs_key_alg alg;
    const qs_hsm_keypair *key;
    bench_hsm_op op;
} bench_hsm_target;

/* The operation through hsm/ over SHA-256 digests (ECDSA, or RSA PKCS#1 v1.5).  `t` must stay
 * valid while the operation runs. */
bench_op_def bench_hsm_op_def(const bench_hsm_target *t);

/* Bytes the record-MAC operation authenticates: about one SAM record (a SAD digest row). */
#define BENCH_HSM_RECORD_LEN 160

/* One HMAC-SHA-256 with the record-MAC key (qs_hsm_hmac), as the SAM checks or makes a stored
 * record's MAC, on a session per thread.  Only t->h is used; `t` must stay valid while the
 * operation runs. */
bench_op_def bench_hsm_record_mac_op_def(const bench_hsm_target *t);

/* The signature scheme the benchmarks use for a key algorithm. */
qs_sig_scheme bench_hsm_scheme(qs_key_alg alg);

#endif

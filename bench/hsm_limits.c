/*
 * qsign-bench-hsm: what the token sustains, through the HSM layer and through straight PKCS#11
 * calls side by side, so the layer's own cost shows as the hsm/raw ratio.
 *
 * For each key algorithm and thread count it measures
 *   sign      one unwrapped key per thread, C_SignInit + C_Sign per signature
 *   unwrap    unwrap + sign + destroy per signature (how the SAM signs)
 *   keygen    generate a key pair, read the public key, wrap the private key, destroy both
 * Every thread has its own session.  The raw side uses the same module, token, login and KEK
 * as the layer, with equivalent templates and mechanisms.
 *
 * Without --module it makes a throwaway SoftHSM token in a temporary directory.  Progress goes
 * to stderr, the table to stdout.
 */
#define QS_LOG_MODULE "bench"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_hsm.h"
#include "hsm/hsm.h"
#include "hsm/hsm_internal.h"
#include "util/log.h"
#include "util/secret.h"

#define BENCH_DEFAULT_SECONDS 2.0
#define BENCH_DEFAULT_ROUNDS  4
#define BENCH_DEFAULT_MODULE  "/usr/lib/softhsm/libsofthsm2.so"
#define BENCH_TOKEN_LABEL     "qsign-bench"
#define BENCH_PIN             "bench-user-pin"
#define BENCH_SO_PIN          "bench-so-pin"

typedef struct bench {
    qs_hsm *h;
    CK_FUNCTION_LIST *fn;
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE kek;
    qs_hsm_keypair keys[QS_KEY_RSA_4096 + 1];
    double seconds; /* per cell and side, split over `rounds` */
    int rounds;
} bench;

/* What the raw side of a cell works on. */
typedef struct raw_target {
    const bench *b;
    qs_key_alg alg;
    bench_hsm_op op;
} raw_target;

static bool is_ec(qs_key_alg alg)
{
    return alg == QS_KEY_EC_P256 || alg == QS_KEY_EC_P384;
}

/* ---- the raw PKCS#11 side ----------------------------------------------------------------- */

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

static CK_RV raw_unwrap(const bench *b, CK_SESSION_HANDLE s, qs_key_alg alg, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE type = qs_hsm_alg_key_type(alg);
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &no, 1},           {CKA_PRIVATE, &yes, 1},
        {CKA_SENSITIVE, &yes, 1},      {CKA_EXTRACTABLE, &no, 1},
        {CKA_SIGN, &yes, 1},           {CKA_DECRYPT, &no, 1},
        {CKA_UNWRAP, &no, 1},          {CKA_DERIVE, &no, 1},
    };
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    return b->fn->C_UnwrapKey(s, &m, b->kek, b->keys[alg].wrapped, b->keys[alg].wrapped_len, t,
                              sizeof t / sizeof t[0], out);
}

/* ECDSA over the digest, or RSA PKCS#1 v1.5 over its DigestInfo, as the layer does it. */
static CK_RV raw_sign(const bench *b, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, qs_key_alg alg,
                      const uint8_t digest[QS_SHA256_LEN])
{
    CK_MECHANISM m;
    CK_RSA_PKCS_PSS_PARAMS pss;
    uint8_t in[QS_HSM_SIGN_INPUT_MAX], sig[QS_HSM_SIG_MAX];
    size_t in_len = 0;
    if (qs_hsm_sign_mechanism(is_ec(alg) ? QS_SIG_ECDSA : QS_SIG_RSA_PKCS1, QS_HASH_SHA256, digest,
                              QS_SHA256_LEN, &m, &pss, in, &in_len) != QS_OK)
        return CKR_GENERAL_ERROR;
    CK_RV rv = b->fn->C_SignInit(s, &m, k);
    if (rv != CKR_OK)
        return rv;
    CK_ULONG sig_len = sizeof sig;
    return b->fn->C_Sign(s, in, in_len, sig, &sig_len);
}

static CK_RV raw_keygen(const bench *b, CK_SESSION_HANDLE s, qs_key_alg alg)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = alg == QS_KEY_RSA_2048 ? 2048 : alg == QS_KEY_RSA_3072 ? 3072 : 4096;
    uint8_t exponent[] = {1, 0, 1};
    CK_ATTRIBUTE pub_ec[] = {{CKA_TOKEN, &no, 1},
                             {CKA_VERIFY, &yes, 1},
                             {CKA_EC_PARAMS, (void *)(alg == QS_KEY_EC_P256 ? oid_p256 : oid_p384),
                              alg == QS_KEY_EC_P256 ? sizeof oid_p256 : sizeof oid_p384}};
    CK_ATTRIBUTE pub_rsa[] = {{CKA_TOKEN, &no, 1},
                              {CKA_VERIFY, &yes, 1},
                              {CKA_MODULUS_BITS, &bits, sizeof bits},
                              {CKA_PUBLIC_EXPONENT, exponent, sizeof exponent}};
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &no, 1},        {CKA_PRIVATE, &yes, 1},           {CKA_SENSITIVE, &yes, 1},
        {CKA_EXTRACTABLE, &yes, 1}, {CKA_WRAP_WITH_TRUSTED, &yes, 1}, {CKA_SIGN, &yes, 1}};
    CK_MECHANISM gm = {is_ec(alg) ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, prv = CK_INVALID_HANDLE;
    CK_RV rv = b->fn->C_GenerateKeyPair(s, &gm, is_ec(alg) ? pub_ec : pub_rsa, is_ec(alg) ? 3 : 4,
                                        priv, 6, &pub, &prv);
    if (rv == CKR_OK) {
        uint8_t a[1024], e[16];
        CK_ATTRIBUTE get_ec[] = {{CKA_EC_POINT, a, sizeof a}};
        CK_ATTRIBUTE get_rsa[] = {{CKA_MODULUS, a, sizeof a}, {CKA_PUBLIC_EXPONENT, e, sizeof e}};
        rv = b->fn->C_GetAttributeValue(s, pub, is_ec(alg) ? get_ec : get_rsa, is_ec(alg) ? 1 : 2);
    }
    if (rv == CKR_OK) {
        CK_MECHANISM wm = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
        uint8_t blob[QS_HSM_WRAPPED_MAX];
        CK_ULONG len = 0;
        rv = b->fn->C_WrapKey(s, &wm, b->kek, prv, NULL, &len);
        if (rv == CKR_OK) {
            len = sizeof blob;
            rv = b->fn->C_WrapKey(s, &wm, b->kek, prv, blob, &len);
        }
    }
    if (prv != CK_INVALID_HANDLE)
        (void)b->fn->C_DestroyObject(s, prv);
    if (pub != CK_INVALID_HANDLE)
        (void)b->fn->C_DestroyObject(s, pub);
    return rv;
}

/* ---- the raw side as a timed operation ------------------------------------------------------ */

typedef struct raw_state {
    const raw_target *t;
    CK_SESSION_HANDLE rs;
    bool have_rs;
    CK_OBJECT_HANDLE rk; /* BENCH_HSM_SIGN: the thread's unwrapped key */
} raw_state;

static void raw_teardown(void *state)
{
    raw_state *st = state;
    if (st == NULL)
        return;
    if (st->have_rs) {
        if (st->rk != CK_INVALID_HANDLE)
            (void)st->t->b->fn->C_DestroyObject(st->rs, st->rk);
        (void)st->t->b->fn->C_CloseSession(st->rs);
    }
    free(st);
}

static void *raw_setup(const void *cls)
{
    const raw_target *t = cls;
    const bench *b = t->b;
    raw_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->t = t;
    st->rk = CK_INVALID_HANDLE;
    if (b->fn->C_OpenSession(b->slot, CKF_SERIAL_SESSION, NULL, NULL, &st->rs) != CKR_OK) {
        raw_teardown(st);
        return NULL;
    }
    st->have_rs = true;
    if (t->op == BENCH_HSM_SIGN && raw_unwrap(b, st->rs, t->alg, &st->rk) != CKR_OK) {
        raw_teardown(st);
        return NULL;
    }
    return st;
}

static bool raw_run(void *state, const uint8_t digest[static QS_SHA256_LEN])
{
    raw_state *st = state;
    const bench *b = st->t->b;
    qs_key_alg alg = st->t->alg;

    switch (st->t->op) {
    case BENCH_HSM_SIGN:
        return raw_sign(b, st->rs, st->rk, alg, digest) == CKR_OK;
    case BENCH_HSM_UNWRAP_SIGN: {
        CK_OBJECT_HANDLE k;
        if (raw_unwrap(b, st->rs, alg, &k) != CKR_OK)
            return false;
        CK_RV rv = raw_sign(b, st->rs, k, alg, digest);
        return b->fn->C_DestroyObject(st->rs, k) == CKR_OK && rv == CKR_OK;
    }
    case BENCH_HSM_KEYGEN:
        return raw_keygen(b, st->rs, alg) == CKR_OK;
    case BENCH_HSM_OP_COUNT:
        break;
    }
    return false;
}

/* ---- token set-up ---------------------------------------------------------------------------- */

static char tmp_dir[256];

static int make_token(const char *module, char *err, size_t err_len)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/qsign-bench-hsm-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(tmp_dir) == NULL) {
        snprintf(err, err_len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    char path[512], cmd[1536];
    snprintf(path, sizeof path, "%s/tokens", tmp_dir);
    if (mkdir(path, 0700) != 0) {
        snprintf(err, err_len, "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    char conf[512];
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", tmp_dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        snprintf(err, err_len, "cannot write %s", conf);
        return -1;
    }
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", path);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label %s --pin %s --so-pin %s >/dev/null",
             BENCH_TOKEN_LABEL, BENCH_PIN, BENCH_SO_PIN);
    if (system(cmd) != 0) {
        snprintf(err, err_len, "softhsm2-util --init-token failed (is softhsm2 installed?)");
        return -1;
    }
    qs_hsm_params p = {module, BENCH_TOKEN_LABEL, BENCH_PIN, strlen(BENCH_PIN)};
    qs_hsm_service_report rep;
    qs_err r = qs_hsm_init_service_keys(&p, BENCH_SO_PIN, strlen(BENCH_SO_PIN), &rep);
    if (r != QS_OK) {
        snprintf(err, err_len, "service key creation failed: %s", qs_err_name(r));
        return -1;
    }
    return 0;
}

static void remove_token(void)
{
    if (tmp_dir[0] == '\0')
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_dir);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: qsign-bench-hsm [options]\n"
            "  --seconds S        measuring time per cell and side (default %.0f)\n"
            "  --rounds N         alternate raw and hsm N times within it, keep the best "
            "(default %d)\n"
            "  --threads LIST     thread counts, comma separated (default 1,2)\n"
            "  --rsa4096          include RSA-4096\n"
            "  --algs LIST        only these, e.g. EC-P256,RSA-2048 (overrides --rsa4096)\n"
            "  --module PATH      PKCS#11 module (default: a throwaway SoftHSM token)\n"
            "  --token LABEL      token label (with --module; service keys must exist)\n"
            "  --pin-file FILE    token user PIN (with --module)\n"
            "  --pin PIN          token user PIN on the command line (test tokens only)\n",
            BENCH_DEFAULT_SECONDS, BENCH_DEFAULT_ROUNDS);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"rsa4096", no_argument, NULL, '4'},
        {"rounds", required_argument, NULL, 'r'},
        {"algs", required_argument, NULL, 'a'},
        {"module", required_argument, NULL, 'm'},
        {"token", required_argument, NULL, 'l'},
        {"pin-file", required_argument, NULL, 'f'},
        {"pin", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bench b;
    memset(&b, 0, sizeof b);
    b.seconds = BENCH_DEFAULT_SECONDS;
    b.rounds = BENCH_DEFAULT_ROUNDS;
    const char *module = NULL, *label = BENCH_TOKEN_LABEL, *pin_arg = NULL, *pin_file = NULL;
    int threads[8] = {1, 2}, n_threads = 2;
    bool rsa4096 = false;
    const char *alg_list = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            b.seconds = strtod(optarg, NULL);
            if (b.seconds <= 0.05 || b.seconds > 3600) {
                fprintf(stderr, "--seconds: out of range\n");
                return 2;
            }
            break;
        case 't': {
            n_threads = 0;
            char *save = NULL, *list = strdup(optarg);
            for (char *tok = strtok_r(list, ",", &save); tok != NULL && n_threads < 8;
                 tok = strtok_r(NULL, ",", &save)) {
                int t = atoi(tok);
                if (t < 1 || t > BENCH_MAX_THREADS) {
                    fprintf(stderr, "--threads: %s is not 1..%d\n", tok, BENCH_MAX_THREADS);
                    free(list);
                    return 2;
                }
                threads[n_threads++] = t;
            }
            free(list);
            if (n_threads == 0)
                return 2;
            break;
        }
        case '4':
            rsa4096 = true;
            break;
        case 'a':
            alg_list = optarg;
            break;
        case 'r':
            b.rounds = atoi(optarg);
            if (b.rounds < 1 || b.rounds > 100) {
                fprintf(stderr, "--rounds: out of range\n");
                return 2;
            }
            break;
        case 'm':
            module = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 'f':
            pin_file = optarg;
            break;
        case 'p':
            pin_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (qs_util_init() != QS_OK)
        return 1;
    qs_log_set_level(QS_LOG_WARN);

    char err[2048];
    char *pin = NULL;
    size_t pin_len = 0;
    int rc = 1;
    if (module == NULL) {
        module = BENCH_DEFAULT_MODULE;
        if (make_token(module, err, sizeof err) != 0) {
            fprintf(stderr, "qsign-bench-hsm: %s\n", err);
            goto out;
        }
        pin = qs_secret_alloc(sizeof BENCH_PIN);
        if (pin == NULL)
            goto out;
        memcpy(pin, BENCH_PIN, sizeof BENCH_PIN);
        pin_len = strlen(BENCH_PIN);
    } else if (pin_file != NULL) {
        if (qs_secret_read_file(pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, err, sizeof err) !=
            QS_OK) {
            fprintf(stderr, "qsign-bench-hsm: %s\n", err);
            goto out;
        }
    } else if (pin_arg != NULL) {
        pin_len = strlen(pin_arg);
        pin = qs_secret_alloc(pin_len + 1);
        if (pin == NULL)
            goto out;
        memcpy(pin, pin_arg, pin_len + 1);
    } else {
        fprintf(stderr, "qsign-bench-hsm: --module needs --pin-file or --pin\n");
        goto out;
    }

    qs_hsm_params p = {module, label, pin, pin_len};
    qs_err r = qs_hsm_open(&p, &b.h);
    if (r != QS_OK) {
        fprintf(stderr, "qsign-bench-hsm: cannot open token \"%s\": %s\n", label, qs_err_name(r));
        goto out;
    }
    b.fn = qs_hsm_p11(b.h);
    b.slot = qs_hsm_slot(b.h);
    b.kek = qs_hsm_service_key_handle(b.h, QS_HSM_KEK);

    qs_key_alg algs[] = {QS_KEY_EC_P256, QS_KEY_EC_P384, QS_KEY_RSA_2048, QS_KEY_RSA_3072,
                         QS_KEY_RSA_4096};
    size_t n_algs = rsa4096 ? 5 : 4;
    if (alg_list != NULL) {
        size_t kept = 0;
        for (size_t i = 0; i < 5; i++) {
            if (strstr(alg_list, qs_key_alg_name(algs[i])) != NULL)
                algs[kept++] = algs[i];
        }
        n_algs = kept;
        if (n_algs == 0) {
            fprintf(stderr, "qsign-bench-hsm: --algs names none of EC-P256, EC-P384, RSA-2048, "
                            "RSA-3072, RSA-4096\n");
            goto out;
        }
    }
    qs_hsm_session *s = NULL;
    if (qs_hsm_session_open(b.h, &s) != QS_OK)
        goto out;
    for (size_t i = 0; i < n_algs; i++) {
        if (qs_hsm_generate_signer_key(s, algs[i], &b.keys[algs[i]]) != QS_OK) {
            fprintf(stderr, "qsign-bench-hsm: key generation failed\n");
            qs_hsm_session_close(s);
            goto out;
        }
    }
    qs_hsm_session_close(s);

    fprintf(stderr, "module %s, token \"%s\", %.1f s per cell and side in %d rounds\n", module,
            label, b.seconds, b.rounds);
    printf("%-9s %-20s %3s %12s %12s %8s\n", "alg", "operation", "thr", "hsm ops/s", "raw ops/s",
           "hsm/raw");
    size_t total = n_algs * BENCH_HSM_OP_COUNT * (size_t)n_threads, done = 0;
    double window = b.seconds / b.rounds;
    bool all_ok = true;
    for (size_t ai = 0; ai < n_algs; ai++) {
        for (int op = 0; op < BENCH_HSM_OP_COUNT; op++) {
            raw_target rt = {&b, algs[ai], (bench_hsm_op)op};
            bench_hsm_target ht = {b.h, algs[ai], &b.keys[algs[ai]], (bench_hsm_op)op};
            bench_op_def raw_op = {raw_setup, raw_run, raw_teardown, &rt};
            bench_op_def hsm_op = bench_hsm_op_def(&ht);
            for (int ti = 0; ti < n_threads; ti++) {
                done++;
                fprintf(stderr, "[%zu/%zu] %s %s, %d thread%s: raw", done, total,
                        qs_key_alg_name(algs[ai]), bench_hsm_op_names[op], threads[ti],
                        threads[ti] > 1 ? "s" : "");
                /* Alternating short rounds, best of each side: other load on the machine
                 * then hits both sides alike instead of skewing the ratio. */
                double raw = 0, lay = 0;
                for (int round = 0; round < b.rounds; round++) {
                    double x = bench_run_threads(&raw_op, threads[ti], window);
                    double y = bench_run_threads(&hsm_op, threads[ti], window);
                    raw = x < 0 || raw < 0 ? -1 : (x > raw ? x : raw);
                    lay = y < 0 || lay < 0 ? -1 : (y > lay ? y : lay);
                }
                fprintf(stderr, " %.1f/s, hsm %.1f/s\n", raw, lay);
                if (raw < 0 || lay < 0)
                    all_ok = false;
                printf("%-9s %-20s %3d %12.1f %12.1f %8.3f\n", qs_key_alg_name(algs[ai]),
                       bench_hsm_op_names[op], threads[ti], lay, raw, raw > 0 ? lay / raw : 0.0);
                fflush(stdout);
            }
        }
    }
    if (!all_ok)
        fprintf(stderr, "qsign-bench-hsm: some operations failed (negative rates)\n");
    rc = all_ok ? 0 : 1;
out:
    for (size_t i = 0; i < sizeof b.keys / sizeof b.keys[0]; i++)
        qs_hsm_keypair_clear(&b.keys[i]);
    qs_hsm_close(b.h);
    qs_secret_free(pin);
    remove_token();
    return rc;
}

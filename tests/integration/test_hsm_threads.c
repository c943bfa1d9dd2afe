/*
 * Concurrency and fork() on a real SoftHSM token: eight threads, each with its own session,
 * sign at the same time and every signature verifies; a forked child signs and MACs through
 * the qs_hsm and the session it inherited and through new ones, and the parent carries on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm/hsm.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define N_THREADS  8
#define N_ROUNDS   40
#define HMAC_INPUT "record 17"

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *main_sess;
static qs_hsm_keypair ec_key, rsa_key;
static EVP_PKEY *ec_pub, *rsa_pub;
static uint8_t expected_mac[QS_HSM_HMAC_LEN];

static EVP_PKEY *spki_key(const qs_hsm_keypair *kp)
{
    const unsigned char *p = kp->spki;
    return d2i_PUBKEY(NULL, &p, (long)kp->spki_len);
}

static int setup(void **state)
{
    qs_test_token_create(&token, "hsm-threads");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    assert_int_equal(qs_hsm_session_open(hsm, &main_sess), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(main_sess, QS_KEY_EC_P256, &ec_key), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(main_sess, QS_KEY_RSA_2048, &rsa_key), QS_OK);
    ec_pub = spki_key(&ec_key);
    rsa_pub = spki_key(&rsa_key);
    assert_true(ec_pub != NULL && rsa_pub != NULL);
    assert_int_equal(qs_hsm_hmac(main_sess, QS_HSM_RECORD_MAC, (const uint8_t *)HMAC_INPUT,
                                 strlen(HMAC_INPUT), expected_mac),
                     QS_OK);
    return 0;
}

static int teardown(void **state)
{
    EVP_PKEY_free(ec_pub);
    EVP_PKEY_free(rsa_pub);
    qs_hsm_keypair_clear(&ec_key);
    qs_hsm_keypair_clear(&rsa_key);
    qs_hsm_session_close(main_sess);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return 0;
}

/* OpenSSL's verdict on sig over a SHA-256 digest. */
static bool verifies(EVP_PKEY *pkey, qs_sig_scheme scheme, const uint8_t *digest,
                     const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    bool ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1;
    if (ok && scheme == QS_SIG_RSA_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, QS_SHA256_LEN) == 1;
    ok = ok && EVP_PKEY_verify(ctx, sig, sig_len, digest, QS_SHA256_LEN) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* One-shot unwrap + sign + destroy, then verify; false on any failure. */
static bool sign_verify(qs_hsm_session *s, qs_key_alg alg, qs_sig_scheme scheme)
{
    const qs_hsm_keypair *kp = alg == QS_KEY_EC_P256 ? &ec_key : &rsa_key;
    uint8_t digest[QS_SHA256_LEN], sig[QS_HSM_SIG_MAX];
    size_t sig_len = sizeof sig;
    qs_random(digest, sizeof digest);
    const uint8_t *const ds[] = {digest};
    uint8_t *const ss[] = {sig};
    if (qs_hsm_sign_digests(s, alg, kp->wrapped, kp->wrapped_len, scheme, QS_HASH_SHA256, ds, 1, ss,
                            &sig_len) != QS_OK)
        return false;
    if (!verifies(alg == QS_KEY_EC_P256 ? ec_pub : rsa_pub, scheme, digest, sig, sig_len))
        return false;
    digest[0] ^= 1;
    return !verifies(alg == QS_KEY_EC_P256 ? ec_pub : rsa_pub, scheme, digest, sig, sig_len);
}

typedef struct worker {
    pthread_t tid;
    int index;
    int good, bad;
} worker;

static atomic_int start_line;

static void *worker_main(void *arg)
{
    worker *w = arg;
    qs_hsm_session *s = NULL;
    if (qs_hsm_session_open(hsm, &s) != QS_OK) {
        w->bad = N_ROUNDS;
        return NULL;
    }
    /* Start together so the signing overlaps. */
    atomic_fetch_add(&start_line, 1);
    while (atomic_load(&start_line) < N_THREADS)
        sched_yield();

    /* A long-lived unwrapped key beside one-shot keys. */
    qs_hsm_key *k = NULL;
    bool have_key = qs_hsm_unwrap_signer_key(s, QS_KEY_EC_P256, ec_key.wrapped, ec_key.wrapped_len,
                                             &k) == QS_OK;
    for (int i = 0; i < N_ROUNDS; i++) {
        bool ok;
        switch ((i + w->index) % 4) {
        case 0:
            ok = sign_verify(s, QS_KEY_EC_P256, QS_SIG_ECDSA);
            break;
        case 1:
            ok = sign_verify(s, QS_KEY_RSA_2048, (i & 4) ? QS_SIG_RSA_PSS : QS_SIG_RSA_PKCS1);
            break;
        case 2: {
            uint8_t mac[QS_HSM_HMAC_LEN];
            ok = qs_hsm_hmac(s, QS_HSM_RECORD_MAC, (const uint8_t *)HMAC_INPUT, strlen(HMAC_INPUT),
                             mac) == QS_OK &&
                 memcmp(mac, expected_mac, sizeof mac) == 0;
            break;
        }
        default: {
            uint8_t digest[QS_SHA256_LEN], sig[QS_HSM_SIG_MAX];
            size_t sig_len = sizeof sig;
            qs_random(digest, sizeof digest);
            ok = have_key &&
                 qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, digest, sizeof digest, sig,
                                 &sig_len) == QS_OK &&
                 verifies(ec_pub, QS_SIG_ECDSA, digest, sig, sig_len);
            break;
        }
        }
        if (ok)
            w->good++;
        else
            w->bad++;
    }
    qs_hsm_key_destroy(k);
    qs_hsm_session_close(s);
    return NULL;
}

static void test_eight_threads_sign_at_once(void **state)
{
    worker w[N_THREADS];
    memset(w, 0, sizeof w);
    atomic_store(&start_line, 0);
    for (int i = 0; i < N_THREADS; i++) {
        w[i].index = i;
        assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    }
    int good = 0;
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
        if (w[i].bad != 0)
            fail_msg("thread %d: %d of %d operations failed", i, w[i].bad, N_ROUNDS);
        good += w[i].good;
    }
    assert_int_equal(good, N_THREADS * N_ROUNDS);
}

/* In the child: 0 when everything worked, else the number of the first failed step. */
static int child_work(void)
{
    /* The inherited session: re-opened transparently. */
    if (!sign_verify(main_sess, QS_KEY_EC_P256, QS_SIG_ECDSA))
        return 10;
    uint8_t mac[QS_HSM_HMAC_LEN];
    if (qs_hsm_hmac(main_sess, QS_HSM_RECORD_MAC, (const uint8_t *)HMAC_INPUT, strlen(HMAC_INPUT),
                    mac) != QS_OK ||
        memcmp(mac, expected_mac, sizeof mac) != 0)
        return 11;
    /* A new session on the inherited qs_hsm. */
    qs_hsm_session *s = NULL;
    if (qs_hsm_session_open(hsm, &s) != QS_OK)
        return 12;
    int rc = 0;
    if (!sign_verify(s, QS_KEY_RSA_2048, QS_SIG_RSA_PSS))
        rc = 13;
    qs_hsm_keypair kp;
    if (rc == 0 && qs_hsm_generate_signer_key(s, QS_KEY_EC_P384, &kp) != QS_OK)
        rc = 14;
    if (rc == 0)
        qs_hsm_keypair_clear(&kp);
    qs_hsm_session_close(s);
    if (rc != 0)
        return rc;
    /* A second child thread using the qs_hsm at once. */
    worker w = {.index = 0};
    atomic_store(&start_line, N_THREADS - 1);
    if (pthread_create(&w.tid, NULL, worker_main, &w) != 0 || pthread_join(w.tid, NULL) != 0)
        return 15;
    if (w.bad != 0 || w.good != N_ROUNDS)
        return 16;
    return 0;
}

static void test_fork_child_signs(void **state)
{
    /* A key unwrapped in the parent: usable there before and after, refused in the child. */
    qs_hsm_key *k = NULL;
    assert_int_equal(
        qs_hsm_unwrap_signer_key(main_sess, QS_KEY_EC_P256, ec_key.wrapped, ec_key.wrapped_len, &k),
        QS_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = child_work();
        if (rc == 0) {
            uint8_t d[QS_SHA256_LEN] = {1}, sig[QS_HSM_SIG_MAX];
            size_t sl = sizeof sig;
            if (qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, d, sizeof d, sig, &sl) !=
                QS_ERR_HSM_KEY_NOT_FOUND)
                rc = 20;
        }
        fprintf(stderr, "child finished with %d\n", rc);
        _exit(rc);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("child failed at step %d", WEXITSTATUS(st));

    /* The parent's state is untouched by the child's re-initialisation. */
    uint8_t d[QS_SHA256_LEN] = {2}, sig[QS_HSM_SIG_MAX];
    size_t sl = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, d, sizeof d, sig, &sl),
                     QS_OK);
    assert_true(verifies(ec_pub, QS_SIG_ECDSA, d, sig, sl));
    qs_hsm_key_destroy(k);
    assert_true(sign_verify(main_sess, QS_KEY_RSA_2048, QS_SIG_RSA_PKCS1));
}

/* A child that opens its own qs_hsm (not inherited) while the parent keeps one open. */
static void test_fork_child_opens_own(void **state)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        qs_hsm_params p;
        qs_test_token_params(&token, &p);
        qs_hsm *h2 = NULL;
        qs_hsm_session *s = NULL;
        int rc = 0;
        if (qs_hsm_open(&p, &h2) != QS_OK)
            rc = 30;
        else if (qs_hsm_session_open(h2, &s) != QS_OK)
            rc = 31;
        else if (!sign_verify(s, QS_KEY_EC_P256, QS_SIG_ECDSA))
            rc = 32;
        qs_hsm_session_close(s);
        qs_hsm_close(h2);
        _exit(rc);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("child failed at step %d", WEXITSTATUS(st));
    assert_true(sign_verify(main_sess, QS_KEY_EC_P256, QS_SIG_ECDSA));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads_sign_at_once),
        cmocka_unit_test(test_fork_child_signs),
        cmocka_unit_test(test_fork_child_opens_own),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

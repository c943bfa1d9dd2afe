/*
 * Signer keys on a real SoftHSM token: every key algorithm, scheme and hash signs a digest that
 * OpenSSL verifies with the returned SubjectPublicKeyInfo, and does not verify for another
 * digest; arguments that do not fit are refused before the token is asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm/hsm.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define N_ALGS 5

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *sess;
static qs_hsm_keypair keys[N_ALGS + 1]; /* indexed by qs_key_alg */

static const qs_hash_alg hashes[] = {QS_HASH_SHA256, QS_HASH_SHA384, QS_HASH_SHA512};

static int setup(void **state)
{
    qs_test_token_create(&token, "hsm-sign");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    assert_int_equal(qs_hsm_session_open(hsm, &sess), QS_OK);
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i <= N_ALGS; i++)
        qs_hsm_keypair_clear(&keys[i]);
    qs_hsm_session_close(sess);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return 0;
}

/* One key per algorithm for the whole program: RSA-4096 generation is slow. */
static const qs_hsm_keypair *key_for(qs_key_alg alg)
{
    if (keys[alg].wrapped == NULL)
        assert_int_equal(qs_hsm_generate_signer_key(sess, alg, &keys[alg]), QS_OK);
    return &keys[alg];
}

static const EVP_MD *md_of(qs_hash_alg h)
{
    switch (h) {
    case QS_HASH_SHA256:
        return EVP_sha256();
    case QS_HASH_SHA384:
        return EVP_sha384();
    case QS_HASH_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

static EVP_PKEY *spki_key(const qs_hsm_keypair *kp)
{
    const unsigned char *p = kp->spki;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)kp->spki_len);
    assert_non_null(pkey);
    assert_ptr_equal(p, kp->spki + kp->spki_len);
    return pkey;
}

/* 1 when OpenSSL accepts sig over digest, 0 when it rejects it. */
static int ossl_verify(EVP_PKEY *pkey, qs_sig_scheme scheme, qs_hash_alg hash,
                       const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md_of(hash)), 1);
    if (scheme == QS_SIG_RSA_PKCS1) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    } else if (scheme == QS_SIG_RSA_PSS) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(hash)), 1);
        /* The salt must be exactly the hash length, not merely recoverable. */
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)qs_hash_len(hash)), 1);
    }
    int rc = EVP_PKEY_verify(ctx, sig, sig_len, digest, dlen);
    EVP_PKEY_CTX_free(ctx);
    return rc == 1 ? 1 : 0;
}

static void check_spki(EVP_PKEY *pkey, qs_key_alg alg)
{
    switch (alg) {
    case QS_KEY_EC_P256:
    case QS_KEY_EC_P384: {
        assert_int_equal(EVP_PKEY_get_base_id(pkey), EVP_PKEY_EC);
        char group[64];
        size_t glen = 0;
        assert_int_equal(EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen), 1);
        assert_string_equal(group, alg == QS_KEY_EC_P256 ? "prime256v1" : "secp384r1");
        break;
    }
    case QS_KEY_RSA_2048:
    case QS_KEY_RSA_3072:
    case QS_KEY_RSA_4096:
        assert_int_equal(EVP_PKEY_get_base_id(pkey), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(pkey), alg == QS_KEY_RSA_2048   ? 2048
                                                  : alg == QS_KEY_RSA_3072 ? 3072
                                                                           : 4096);
        break;
    }
}

static void sign_and_verify_all(qs_key_alg alg)
{
    const qs_hsm_keypair *kp = key_for(alg);
    EVP_PKEY *pkey = spki_key(kp);
    check_spki(pkey, alg);
    bool ec = alg == QS_KEY_EC_P256 || alg == QS_KEY_EC_P384;
    const qs_sig_scheme ec_schemes[] = {QS_SIG_ECDSA};
    const qs_sig_scheme rsa_schemes[] = {QS_SIG_RSA_PKCS1, QS_SIG_RSA_PSS};
    const qs_sig_scheme *schemes = ec ? ec_schemes : rsa_schemes;
    size_t n_schemes = ec ? 1 : 2;

    qs_hsm_key *k = NULL;
    assert_int_equal(qs_hsm_unwrap_signer_key(sess, alg, kp->wrapped, kp->wrapped_len, &k), QS_OK);
    for (size_t si = 0; si < n_schemes; si++) {
        for (size_t hi = 0; hi < sizeof hashes / sizeof hashes[0]; hi++) {
            uint8_t digest[QS_HASH_MAX_LEN], other[QS_HASH_MAX_LEN], sig[QS_HSM_SIG_MAX];
            size_t dlen = qs_hash_len(hashes[hi]);
            size_t sig_len = sizeof sig;
            qs_random(digest, dlen);
            memcpy(other, digest, dlen);
            other[0] ^= 0x01; /* the leading bytes: ECDSA truncates long digests */

            assert_int_equal(
                qs_hsm_key_sign(k, schemes[si], hashes[hi], digest, dlen, sig, &sig_len), QS_OK);
            assert_true(sig_len > 0 && sig_len <= qs_hsm_sig_max(alg));
            if (!ec)
                assert_int_equal(sig_len, (size_t)EVP_PKEY_get_size(pkey));
            if (ossl_verify(pkey, schemes[si], hashes[hi], digest, dlen, sig, sig_len) != 1)
                fail_msg("%s scheme %d hash %d: valid signature rejected", qs_key_alg_name(alg),
                         (int)schemes[si], (int)hashes[hi]);
            if (ossl_verify(pkey, schemes[si], hashes[hi], other, dlen, sig, sig_len) != 0)
                fail_msg("%s: signature verifies for another digest", qs_key_alg_name(alg));
            if (ec) {
                /* DER Ecdsa-Sig-Value that re-encodes to the same bytes. */
                const unsigned char *p = sig;
                ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
                assert_non_null(es);
                assert_ptr_equal(p, sig + sig_len);
                assert_int_equal(i2d_ECDSA_SIG(es, NULL), (int)sig_len);
                ECDSA_SIG_free(es);
            }
        }
    }
    qs_hsm_key_destroy(k);
    EVP_PKEY_free(pkey);
}

static void test_p256(void **state)
{
    sign_and_verify_all(QS_KEY_EC_P256);
}

static void test_p384(void **state)
{
    sign_and_verify_all(QS_KEY_EC_P384);
}

static void test_rsa2048(void **state)
{
    sign_and_verify_all(QS_KEY_RSA_2048);
}

static void test_rsa3072(void **state)
{
    sign_and_verify_all(QS_KEY_RSA_3072);
}

static void test_rsa4096(void **state)
{
    sign_and_verify_all(QS_KEY_RSA_4096);
}

/* PKCS#1 v1.5 is deterministic: the same digest gives the same bytes, and OpenSSL's own
 * encoding of the DigestInfo must match ours bit for bit. */
static void test_pkcs1_matches_openssl_digestinfo(void **state)
{
    const qs_hsm_keypair *kp = key_for(QS_KEY_RSA_2048);
    EVP_PKEY *pkey = spki_key(kp);
    for (size_t hi = 0; hi < 3; hi++) {
        uint8_t digest[QS_HASH_MAX_LEN], sig[QS_HSM_SIG_MAX], rec[QS_HSM_SIG_MAX];
        size_t dlen = qs_hash_len(hashes[hi]), sig_len = sizeof sig, rec_len = sizeof rec;
        qs_random(digest, dlen);
        const uint8_t *const ds[] = {digest};
        uint8_t *const ss[] = {sig};
        assert_int_equal(qs_hsm_sign_digests(sess, QS_KEY_RSA_2048, kp->wrapped, kp->wrapped_len,
                                             QS_SIG_RSA_PKCS1, hashes[hi], ds, 1, ss, &sig_len),
                         QS_OK);
        /* Recover with the md set: OpenSSL strips and checks the DigestInfo itself. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
        assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md_of(hashes[hi])), 1);
        assert_int_equal(EVP_PKEY_verify_recover(ctx, rec, &rec_len, sig, sig_len), 1);
        assert_int_equal(rec_len, dlen);
        assert_memory_equal(rec, digest, dlen);
        EVP_PKEY_CTX_free(ctx);
    }
    EVP_PKEY_free(pkey);
}

static void test_sign_digests_batch(void **state)
{
    const qs_hsm_keypair *kp = key_for(QS_KEY_EC_P384);
    EVP_PKEY *pkey = spki_key(kp);
    enum { N = 5 };
    uint8_t d[N][QS_SHA384_LEN], sig[N][QS_HSM_SIG_MAX];
    const uint8_t *ds[N];
    uint8_t *ss[N];
    size_t lens[N];
    for (size_t i = 0; i < N; i++) {
        qs_random(d[i], sizeof d[i]);
        ds[i] = d[i];
        ss[i] = sig[i];
        lens[i] = sizeof sig[i];
    }
    assert_int_equal(qs_hsm_sign_digests(sess, QS_KEY_EC_P384, kp->wrapped, kp->wrapped_len,
                                         QS_SIG_ECDSA, QS_HASH_SHA384, ds, N, ss, lens),
                     QS_OK);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(
            ossl_verify(pkey, QS_SIG_ECDSA, QS_HASH_SHA384, d[i], sizeof d[i], sig[i], lens[i]), 1);
        /* Each signature belongs to its own digest. */
        size_t j = (i + 1) % N;
        assert_int_equal(
            ossl_verify(pkey, QS_SIG_ECDSA, QS_HASH_SHA384, d[j], sizeof d[j], sig[i], lens[i]), 0);
    }
    EVP_PKEY_free(pkey);
}

static void test_bad_arguments(void **state)
{
    const qs_hsm_keypair *ec = key_for(QS_KEY_EC_P256);
    const qs_hsm_keypair *rsa = key_for(QS_KEY_RSA_2048);
    uint8_t digest[QS_HASH_MAX_LEN] = {1, 2, 3}, sig[QS_HSM_SIG_MAX];
    size_t sig_len;
    qs_hsm_key *k = NULL;

    assert_int_equal(
        qs_hsm_unwrap_signer_key(sess, QS_KEY_EC_P256, ec->wrapped, ec->wrapped_len, &k), QS_OK);
    /* Digest length must match the hash. */
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, digest, 48, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(sig_len, 0);
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA512, digest, 32, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    /* RSA schemes on an EC key. */
    sig_len = sizeof sig;
    assert_int_equal(
        qs_hsm_key_sign(k, QS_SIG_RSA_PKCS1, QS_HASH_SHA256, digest, 32, sig, &sig_len),
        QS_ERR_INVALID_ARGUMENT);
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_RSA_PSS, QS_HASH_SHA256, digest, 32, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    /* Unknown hash and scheme values. */
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, (qs_hash_alg)9, digest, 32, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    sig_len = sizeof sig;
    assert_int_equal(
        qs_hsm_key_sign(k, (qs_sig_scheme)9, QS_HASH_SHA256, digest, 32, sig, &sig_len),
        QS_ERR_INVALID_ARGUMENT);
    /* A buffer smaller than the key's largest signature. */
    sig_len = 71;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, digest, 32, sig, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    /* The key still works after all that. */
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, digest, 32, sig, &sig_len),
                     QS_OK);
    qs_hsm_key_destroy(k);

    /* ECDSA on an RSA key, through the one-shot path. */
    const uint8_t *const ds[] = {digest};
    uint8_t *const ss[] = {sig};
    sig_len = sizeof sig;
    assert_int_equal(qs_hsm_sign_digests(sess, QS_KEY_RSA_2048, rsa->wrapped, rsa->wrapped_len,
                                         QS_SIG_ECDSA, QS_HASH_SHA256, ds, 1, ss, &sig_len),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(sig_len, 0);
}

/* A blob claimed to be of another algorithm or size is refused, whatever it holds. */
static void test_blob_of_other_algorithm(void **state)
{
    struct {
        qs_key_alg real, claimed;
    } cases[] = {
        {QS_KEY_EC_P256, QS_KEY_EC_P384},   {QS_KEY_EC_P384, QS_KEY_EC_P256},
        {QS_KEY_EC_P256, QS_KEY_RSA_2048},  {QS_KEY_RSA_2048, QS_KEY_EC_P256},
        {QS_KEY_RSA_2048, QS_KEY_RSA_3072}, {QS_KEY_RSA_3072, QS_KEY_RSA_2048},
        {QS_KEY_RSA_4096, QS_KEY_RSA_2048},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const qs_hsm_keypair *kp = key_for(cases[i].real);
        qs_hsm_key *k = (qs_hsm_key *)&k;
        qs_err r =
            qs_hsm_unwrap_signer_key(sess, cases[i].claimed, kp->wrapped, kp->wrapped_len, &k);
        if (r != QS_ERR_HSM_BAD_BLOB)
            fail_msg("%s blob unwrapped as %s: %s", qs_key_alg_name(cases[i].real),
                     qs_key_alg_name(cases[i].claimed), qs_err_name(r));
        assert_null(k);

        /* The one-shot path refuses it as well and hands out no signature. */
        bool ec = cases[i].claimed == QS_KEY_EC_P256 || cases[i].claimed == QS_KEY_EC_P384;
        uint8_t digest[QS_SHA256_LEN] = {9}, sig[QS_HSM_SIG_MAX];
        size_t sig_len = sizeof sig;
        const uint8_t *const ds[] = {digest};
        uint8_t *const ss[] = {sig};
        r = qs_hsm_sign_digests(sess, cases[i].claimed, kp->wrapped, kp->wrapped_len,
                                ec ? QS_SIG_ECDSA : QS_SIG_RSA_PSS, QS_HASH_SHA256, ds, 1, ss,
                                &sig_len);
        if (r != QS_ERR_HSM_BAD_BLOB)
            fail_msg("%s blob signed as %s: %s", qs_key_alg_name(cases[i].real),
                     qs_key_alg_name(cases[i].claimed), qs_err_name(r));
        assert_int_equal(sig_len, 0);
    }
    /* The session is fine afterwards: no operation was left active. */
    const qs_hsm_keypair *kp = key_for(QS_KEY_RSA_2048);
    qs_hsm_key *k = NULL;
    uint8_t digest[QS_SHA256_LEN] = {9}, sig[QS_HSM_SIG_MAX];
    size_t sig_len = sizeof sig;
    assert_int_equal(
        qs_hsm_unwrap_signer_key(sess, QS_KEY_RSA_2048, kp->wrapped, kp->wrapped_len, &k), QS_OK);
    assert_int_equal(
        qs_hsm_key_sign(k, QS_SIG_RSA_PKCS1, QS_HASH_SHA256, digest, sizeof digest, sig, &sig_len),
        QS_OK);
    qs_hsm_key_destroy(k);
}

static void test_keys_are_distinct(void **state)
{
    qs_hsm_keypair a, b;
    assert_int_equal(qs_hsm_generate_signer_key(sess, QS_KEY_EC_P256, &a), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(sess, QS_KEY_EC_P256, &b), QS_OK);
    assert_int_equal(a.spki_len, b.spki_len);
    assert_true(memcmp(a.spki, b.spki, a.spki_len) != 0);
    assert_true(a.wrapped_len != b.wrapped_len || memcmp(a.wrapped, b.wrapped, a.wrapped_len) != 0);
    /* RFC 5649 output: a multiple of 8 bytes, 8 more than the padded key. */
    assert_int_equal(a.wrapped_len % 8, 0);
    qs_hsm_keypair_clear(&a);
    qs_hsm_keypair_clear(&b);
    assert_null(a.spki);
    assert_int_equal(a.wrapped_len, 0);
    qs_hsm_keypair_clear(&a); /* clearing twice is fine */
    qs_hsm_keypair_clear(NULL);

    qs_hsm_keypair c;
    assert_int_equal(qs_hsm_generate_signer_key(sess, (qs_key_alg)42, &c), QS_ERR_INVALID_ARGUMENT);
    assert_null(c.spki);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p256),
        cmocka_unit_test(test_p384),
        cmocka_unit_test(test_rsa2048),
        cmocka_unit_test(test_rsa3072),
        cmocka_unit_test(test_rsa4096),
        cmocka_unit_test(test_pkcs1_matches_openssl_digestinfo),
        cmocka_unit_test(test_sign_digests_batch),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_blob_of_other_algorithm),
        cmocka_unit_test(test_keys_are_distinct),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * What the token refuses, checked with raw PKCS#11 calls beside the layer: a tampered blob does
 * not unwrap; an unwrapped key cannot be read or wrapped again; a generated key wraps under the
 * trusted KEK and under no other key; nothing unwrapped survives its session; no signer key is
 * ever left as an object, and none becomes a token object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm.h"
#include "hsm/hsm_internal.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *sess;
static CK_FUNCTION_LIST *p11;
static qs_hsm_keypair ec_key, rsa_key;

static int setup(void **state)
{
    qs_test_token_create(&token, "hsm-keys");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    p11 = qs_hsm_p11(hsm);
    assert_int_equal(qs_hsm_session_open(hsm, &sess), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(sess, QS_KEY_EC_P256, &ec_key), QS_OK);
    assert_int_equal(qs_hsm_generate_signer_key(sess, QS_KEY_RSA_2048, &rsa_key), QS_OK);
    return 0;
}

static int teardown(void **state)
{
    qs_hsm_keypair_clear(&ec_key);
    qs_hsm_keypair_clear(&rsa_key);
    qs_hsm_session_close(sess);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return 0;
}

/* Objects matching {CKA_TOKEN = on_token} (plus class if nonzero) seen from session h. */
static CK_ULONG count_objects(CK_SESSION_HANDLE h, CK_BBOOL on_token, CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE t[] = {{CKA_TOKEN, &on_token, sizeof on_token}, {CKA_CLASS, &cls, sizeof cls}};
    CK_OBJECT_HANDLE found[64];
    CK_ULONG n = 0;
    assert_int_equal(p11->C_FindObjectsInit(h, t, cls != 0 ? 2 : 1), CKR_OK);
    assert_int_equal(p11->C_FindObjects(h, found, 64, &n), CKR_OK);
    assert_int_equal(p11->C_FindObjectsFinal(h), CKR_OK);
    return n;
}

static void sign_once(qs_hsm_key *k)
{
    uint8_t digest[QS_SHA256_LEN] = {7}, sig[QS_HSM_SIG_MAX];
    size_t sig_len = sizeof sig;
    assert_int_equal(
        qs_hsm_key_sign(k, QS_SIG_ECDSA, QS_HASH_SHA256, digest, sizeof digest, sig, &sig_len),
        QS_OK);
}

static void test_flipped_bits_do_not_unwrap(void **state)
{
    const qs_hsm_keypair *kps[] = {&ec_key, &rsa_key};
    const qs_key_alg algs[] = {QS_KEY_EC_P256, QS_KEY_RSA_2048};
    CK_SESSION_HANDLE h = qs_hsm_session_handle(sess);
    for (size_t i = 0; i < 2; i++) {
        size_t len = kps[i]->wrapped_len, bits = len * 8;
        uint8_t *blob = malloc(len);
        assert_non_null(blob);
        /* First and last bit, both halves of the integrity block, spread over the payload. */
        size_t positions[] = {0, 1, 7, 8, 63, 64, 65, bits / 3, bits / 2, bits - 65, bits - 1};
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
            memcpy(blob, kps[i]->wrapped, len);
            blob[positions[p] / 8] ^= (uint8_t)(1u << (positions[p] % 8));
            qs_hsm_key *k = (qs_hsm_key *)&k;
            qs_err r = qs_hsm_unwrap_signer_key(sess, algs[i], blob, len, &k);
            if (r != QS_ERR_HSM_BAD_BLOB)
                fail_msg("%s blob with bit %zu flipped: %s", qs_key_alg_name(algs[i]), positions[p],
                         qs_err_name(r));
            assert_null(k);
        }
        /* Truncated, extended, not a multiple of 8, empty. */
        memcpy(blob, kps[i]->wrapped, len);
        qs_hsm_key *k = NULL;
        assert_int_equal(qs_hsm_unwrap_signer_key(sess, algs[i], blob, len - 8, &k),
                         QS_ERR_HSM_BAD_BLOB);
        assert_int_equal(qs_hsm_unwrap_signer_key(sess, algs[i], blob, len - 1, &k),
                         QS_ERR_HSM_BAD_BLOB);
        assert_int_equal(qs_hsm_unwrap_signer_key(sess, algs[i], blob, 0, &k), QS_ERR_HSM_BAD_BLOB);
        assert_int_equal(qs_hsm_unwrap_signer_key(sess, algs[i], NULL, len, &k),
                         QS_ERR_HSM_BAD_BLOB);
        /* The intact blob still works: the refusals above were about the changes. */
        assert_int_equal(qs_hsm_unwrap_signer_key(sess, algs[i], blob, len, &k), QS_OK);
        qs_hsm_key_destroy(k);
        free(blob);
    }
    /* No failed attempt left an object behind. */
    assert_int_equal(count_objects(h, CK_FALSE, 0), 0);
}

static void test_unwrapped_key_is_locked_in(void **state)
{
    CK_SESSION_HANDLE h = qs_hsm_session_handle(sess);
    CK_OBJECT_HANDLE kek = qs_hsm_service_key_handle(hsm, QS_HSM_KEK);
    const qs_hsm_keypair *kps[] = {&ec_key, &rsa_key};
    const qs_key_alg algs[] = {QS_KEY_EC_P256, QS_KEY_RSA_2048};
    const CK_ATTRIBUTE_TYPE secret_attr[] = {CKA_VALUE, CKA_PRIVATE_EXPONENT};

    for (size_t i = 0; i < 2; i++) {
        qs_hsm_key *k = NULL;
        assert_int_equal(
            qs_hsm_unwrap_signer_key(sess, algs[i], kps[i]->wrapped, kps[i]->wrapped_len, &k),
            QS_OK);
        CK_OBJECT_HANDLE obj = qs_hsm_key_handle(k);

        uint8_t buf[1024];
        CK_ATTRIBUTE a = {secret_attr[i], buf, sizeof buf};
        assert_int_equal(p11->C_GetAttributeValue(h, obj, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
        assert_int_equal(a.ulValueLen, CK_UNAVAILABLE_INFORMATION);

        CK_BBOOL tok = 1, priv = 0, sens = 0, extr = 1, never = 0, sign = 0;
        CK_ATTRIBUTE flags[] = {
            {CKA_TOKEN, &tok, 1},
            {CKA_PRIVATE, &priv, 1},
            {CKA_SENSITIVE, &sens, 1},
            {CKA_EXTRACTABLE, &extr, 1},
            {CKA_NEVER_EXTRACTABLE, &never, 1},
            {CKA_SIGN, &sign, 1},
        };
        assert_int_equal(p11->C_GetAttributeValue(h, obj, flags, 6), CKR_OK);
        assert_int_equal(tok, CK_FALSE);
        assert_int_equal(priv, CK_TRUE);
        assert_int_equal(sens, CK_TRUE);
        assert_int_equal(extr, CK_FALSE);
        assert_int_equal(sign, CK_TRUE);

        /* Making it extractable again is refused; wrapping it, even by the KEK, too. */
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE mk = {CKA_EXTRACTABLE, &yes, 1};
        assert_int_not_equal(p11->C_SetAttributeValue(h, obj, &mk, 1), CKR_OK);
        CK_MECHANISM wm = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
        CK_ULONG len = sizeof buf;
        CK_RV rv = p11->C_WrapKey(h, &wm, kek, obj, buf, &len);
        if (rv == CKR_OK)
            fail_msg("an unwrapped %s key was wrapped again", qs_key_alg_name(algs[i]));
        assert_int_equal(rv, CKR_KEY_UNEXTRACTABLE);
        qs_hsm_key_destroy(k);
    }
}

static void test_generated_key_wraps_only_under_trusted_kek(void **state)
{
    CK_SESSION_HANDLE h = qs_hsm_session_handle(sess);
    CK_OBJECT_HANDLE kek = qs_hsm_service_key_handle(hsm, QS_HSM_KEK);
    CK_OBJECT_HANDLE pub, priv;
    assert_int_equal(qs_hsm_generate_session_keypair(sess, QS_KEY_EC_P256, &pub, &priv), QS_OK);

    CK_BBOOL tok = 1, sens = 0, extr = 0, wwt = 0;
    CK_ATTRIBUTE flags[] = {{CKA_TOKEN, &tok, 1},
                            {CKA_SENSITIVE, &sens, 1},
                            {CKA_EXTRACTABLE, &extr, 1},
                            {CKA_WRAP_WITH_TRUSTED, &wwt, 1}};
    assert_int_equal(p11->C_GetAttributeValue(h, priv, flags, 4), CKR_OK);
    assert_int_equal(tok, CK_FALSE);
    assert_int_equal(sens, CK_TRUE);
    assert_int_equal(extr, CK_TRUE);
    assert_int_equal(wwt, CK_TRUE);
    uint8_t buf[1024];
    CK_ATTRIBUTE v = {CKA_VALUE, buf, sizeof buf};
    assert_int_equal(p11->C_GetAttributeValue(h, priv, &v, 1), CKR_ATTRIBUTE_SENSITIVE);

    /* An AES key the user makes: wrap-capable but not trusted, and it cannot be made trusted. */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG vlen = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE kt[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_KEY_TYPE, &aes, sizeof aes},
                         {CKA_VALUE_LEN, &vlen, sizeof vlen},
                         {CKA_TOKEN, &no, 1},
                         {CKA_WRAP, &yes, 1},
                         {CKA_UNWRAP, &yes, 1}};
    CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE rogue;
    assert_int_equal(p11->C_GenerateKey(h, &kg, kt, 6, &rogue), CKR_OK);
    CK_ATTRIBUTE trust = {CKA_TRUSTED, &yes, 1};
    assert_int_equal(p11->C_SetAttributeValue(h, rogue, &trust, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE kt2[7];
    memcpy(kt2, kt, sizeof kt);
    kt2[6] = trust;
    CK_OBJECT_HANDLE rogue2 = CK_INVALID_HANDLE;
    assert_int_not_equal(p11->C_GenerateKey(h, &kg, kt2, 7, &rogue2), CKR_OK);

    CK_MECHANISM wm = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_ULONG len = sizeof buf;
    assert_int_equal(p11->C_WrapKey(h, &wm, rogue, priv, buf, &len), CKR_KEY_NOT_WRAPPABLE);
    CK_MECHANISM wm2 = {CKM_AES_KEY_WRAP, NULL, 0};
    len = sizeof buf;
    assert_int_not_equal(p11->C_WrapKey(h, &wm2, rogue, priv, buf, &len), CKR_OK);
    /* The same key does wrap under the KEK: the refusal above is about the wrapping key. */
    len = sizeof buf;
    assert_int_equal(p11->C_WrapKey(h, &wm, kek, priv, buf, &len), CKR_OK);

    assert_int_equal(p11->C_DestroyObject(h, rogue), CKR_OK);
    assert_int_equal(p11->C_DestroyObject(h, priv), CKR_OK);
    assert_int_equal(p11->C_DestroyObject(h, pub), CKR_OK);
}

/* The KEK neither shows its value nor decrypts a blob by itself, and only ever unwraps into
 * private, sensitive, non-extractable session objects. */
static void test_kek_cannot_be_abused(void **state)
{
    CK_SESSION_HANDLE h = qs_hsm_session_handle(sess);
    CK_OBJECT_HANDLE kek = qs_hsm_service_key_handle(hsm, QS_HSM_KEK);
    uint8_t buf[4096];
    CK_ATTRIBUTE v = {CKA_VALUE, buf, sizeof buf};
    assert_int_equal(p11->C_GetAttributeValue(h, kek, &v, 1), CKR_ATTRIBUTE_SENSITIVE);

    CK_MECHANISM dm = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_RV rv = p11->C_DecryptInit(h, &dm, kek);
    if (rv == CKR_OK) {
        CK_ULONG len = sizeof buf;
        rv = p11->C_Decrypt(h, ec_key.wrapped, ec_key.wrapped_len, buf, &len);
        fail_msg("the KEK decrypts a blob in the open (0x%lx)", rv);
    }
    assert_int_equal(rv, CKR_KEY_FUNCTION_NOT_PERMITTED);

    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE ec = CKK_EC;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE base[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_KEY_TYPE, &ec, sizeof ec},
                           {CKA_TOKEN, &no, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SENSITIVE, &yes, 1},
                           {CKA_EXTRACTABLE, &no, 1},
                           {CKA_SIGN, &yes, 1}};
    struct {
        size_t idx;
        CK_BBOOL *val;
        const char *what;
    } bad[] = {{2, &yes, "a token object"},
               {3, &no, "a public object"},
               {4, &no, "a non-sensitive object"},
               {5, &yes, "an extractable object"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CK_ATTRIBUTE t[7];
        memcpy(t, base, sizeof base);
        t[bad[i].idx].pValue = bad[i].val;
        CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
        rv = p11->C_UnwrapKey(h, &dm, kek, ec_key.wrapped, ec_key.wrapped_len, t, 7, &obj);
        if (rv == CKR_OK)
            fail_msg("the KEK unwrapped a signer key into %s", bad[i].what);
    }
    /* The compliant template works. */
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    assert_int_equal(
        p11->C_UnwrapKey(h, &dm, kek, ec_key.wrapped, ec_key.wrapped_len, base, 7, &obj), CKR_OK);
    assert_int_equal(p11->C_DestroyObject(h, obj), CKR_OK);

    /* Without the user login nothing unwraps, not even into a public object. */
    CK_SESSION_HANDLE anon;
    qs_hsm_params p;
    qs_test_token_params(&token, &p);
    assert_int_equal(p11->C_OpenSession(qs_hsm_slot(hsm), CKF_SERIAL_SESSION, NULL, NULL, &anon),
                     CKR_OK);
    /* The login is per application, so log out for the probe and back in after it. */
    assert_int_equal(p11->C_Logout(anon), CKR_OK);
    CK_ATTRIBUTE pub_t[7];
    memcpy(pub_t, base, sizeof base);
    pub_t[3].pValue = &no;
    rv = p11->C_UnwrapKey(anon, &dm, kek, ec_key.wrapped, ec_key.wrapped_len, pub_t, 7, &obj);
    CK_RV rv2 = p11->C_UnwrapKey(anon, &dm, kek, ec_key.wrapped, ec_key.wrapped_len, base, 7, &obj);
    assert_int_equal(p11->C_Login(anon, CKU_USER, (CK_UTF8CHAR *)p.pin, p.pin_len), CKR_OK);
    assert_int_equal(p11->C_CloseSession(anon), CKR_OK);
    assert_int_not_equal(rv, CKR_OK);
    assert_int_equal(rv2, CKR_USER_NOT_LOGGED_IN);
}

static void test_session_objects_vanish_with_their_session(void **state)
{
    qs_hsm_session *a = NULL, *b = NULL;
    assert_int_equal(qs_hsm_session_open(hsm, &a), QS_OK);
    assert_int_equal(qs_hsm_session_open(hsm, &b), QS_OK);
    CK_SESSION_HANDLE hb = qs_hsm_session_handle(b);

    qs_hsm_key *k = NULL;
    assert_int_equal(
        qs_hsm_unwrap_signer_key(a, QS_KEY_EC_P256, ec_key.wrapped, ec_key.wrapped_len, &k), QS_OK);
    sign_once(k);
    CK_OBJECT_HANDLE obj = qs_hsm_key_handle(k);
    /* Visible from the other session of the same application while a lives... */
    assert_int_equal(count_objects(hb, CK_FALSE, CKO_PRIVATE_KEY), 1);
    CK_KEY_TYPE kt = 0;
    CK_ATTRIBUTE a_kt = {CKA_KEY_TYPE, &kt, sizeof kt};
    assert_int_equal(p11->C_GetAttributeValue(hb, obj, &a_kt, 1), CKR_OK);
    assert_int_equal(kt, CKK_EC);

    /* ...and gone once a closes, without qs_hsm_key_destroy. */
    qs_hsm_session_close(a);
    assert_int_equal(p11->C_GetAttributeValue(hb, obj, &a_kt, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(count_objects(hb, CK_FALSE, 0), 0);
    free(k); /* its session is gone; only the struct is left (what qs_hsm_key_destroy frees) */

    /* The key's own destroy removes it as well, with the session still open. */
    assert_int_equal(
        qs_hsm_unwrap_signer_key(b, QS_KEY_EC_P256, ec_key.wrapped, ec_key.wrapped_len, &k), QS_OK);
    assert_int_equal(count_objects(hb, CK_FALSE, 0), 1);
    qs_hsm_key_destroy(k);
    assert_int_equal(count_objects(hb, CK_FALSE, 0), 0);
    qs_hsm_session_close(b);
}

/* Generation and one-shot signing leave no object; signer keys never become token objects. */
static void test_nothing_left_behind(void **state)
{
    CK_SESSION_HANDLE h = qs_hsm_session_handle(sess);
    CK_ULONG token_objects = count_objects(h, CK_TRUE, 0);
    /* The service keys; the audit signing key is a pair, its only asymmetric token objects. */
    assert_int_equal(token_objects, QS_HSM_SERVICE_KEY_COUNT + 1);
    assert_int_equal(count_objects(h, CK_TRUE, CKO_PRIVATE_KEY), 1);
    assert_int_equal(count_objects(h, CK_TRUE, CKO_PUBLIC_KEY), 1);

    qs_hsm_keypair kp;
    assert_int_equal(qs_hsm_generate_signer_key(sess, QS_KEY_EC_P384, &kp), QS_OK);
    assert_int_equal(count_objects(h, CK_FALSE, 0), 0);

    uint8_t d[QS_SHA384_LEN] = {1}, sig[QS_HSM_SIG_MAX];
    const uint8_t *const ds[] = {d};
    uint8_t *const ss[] = {sig};
    size_t sl = sizeof sig;
    assert_int_equal(qs_hsm_sign_digests(sess, QS_KEY_EC_P384, kp.wrapped, kp.wrapped_len,
                                         QS_SIG_ECDSA, QS_HASH_SHA384, ds, 1, ss, &sl),
                     QS_OK);
    assert_int_equal(count_objects(h, CK_FALSE, 0), 0);
    /* A failing one-shot (wrong digest size for the scheme's hash is caught early; a bad blob
     * is caught by the token) leaves nothing either. */
    kp.wrapped[10] ^= 0x40;
    sl = sizeof sig;
    assert_int_equal(qs_hsm_sign_digests(sess, QS_KEY_EC_P384, kp.wrapped, kp.wrapped_len,
                                         QS_SIG_ECDSA, QS_HASH_SHA384, ds, 1, ss, &sl),
                     QS_ERR_HSM_BAD_BLOB);
    assert_int_equal(sl, 0);
    assert_int_equal(count_objects(h, CK_FALSE, 0), 0);
    assert_int_equal(count_objects(h, CK_TRUE, 0), token_objects);
    qs_hsm_keypair_clear(&kp);
}

/* CKR names and the error mapping for a few representative codes. */
static void test_ckr_mapping(void **state)
{
    assert_string_equal(qs_hsm_ckr_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
    assert_string_equal(qs_hsm_ckr_name(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
                        "CKR_UNWRAPPING_KEY_HANDLE_INVALID");
    assert_string_equal(qs_hsm_ckr_name(CKR_VENDOR_DEFINED | 5), "CKR_VENDOR_DEFINED");
    assert_string_equal(qs_hsm_ckr_name(0x7777), "CKR_UNKNOWN");
    assert_int_equal(qs_hsm_ckr_err(CKR_OK), QS_OK);
    assert_int_equal(qs_hsm_ckr_err(CKR_PIN_INCORRECT), QS_ERR_HSM_LOGIN);
    assert_int_equal(qs_hsm_ckr_err(CKR_PIN_LOCKED), QS_ERR_HSM_LOGIN);
    assert_int_equal(qs_hsm_ckr_err(CKR_TOKEN_NOT_PRESENT), QS_ERR_HSM_UNAVAILABLE);
    assert_int_equal(qs_hsm_ckr_err(CKR_DEVICE_REMOVED), QS_ERR_HSM_UNAVAILABLE);
    assert_int_equal(qs_hsm_ckr_err(CKR_OBJECT_HANDLE_INVALID), QS_ERR_HSM_KEY_NOT_FOUND);
    assert_int_equal(qs_hsm_ckr_err(CKR_MECHANISM_INVALID), QS_ERR_HSM_MECHANISM);
    assert_int_equal(qs_hsm_ckr_err(CKR_WRAPPED_KEY_INVALID), QS_ERR_HSM_BAD_BLOB);
    assert_int_equal(qs_hsm_ckr_err(CKR_KEY_NOT_WRAPPABLE), QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(qs_hsm_ckr_err(CKR_ATTRIBUTE_SENSITIVE), QS_ERR_HSM_KEY_POLICY);
    assert_int_equal(qs_hsm_ckr_err(CKR_HOST_MEMORY), QS_ERR_NOMEM);
    assert_int_equal(qs_hsm_ckr_err(CKR_OPERATION_ACTIVE), QS_ERR_INTERNAL);
    assert_int_equal(qs_hsm_ckr_err(CKR_ENCRYPTED_DATA_INVALID), QS_ERR_MAC);
    assert_int_equal(qs_hsm_ckr_err(CKR_VENDOR_DEFINED | 5), QS_ERR_HSM);
    /* Every named code maps to an error, never to success. */
    for (CK_RV rv = 1; rv < 0x300; rv++) {
        if (strcmp(qs_hsm_ckr_name(rv), "CKR_UNKNOWN") != 0)
            assert_int_not_equal(qs_hsm_ckr_err(rv), QS_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flipped_bits_do_not_unwrap),
        cmocka_unit_test(test_unwrapped_key_is_locked_in),
        cmocka_unit_test(test_generated_key_wraps_only_under_trusted_kek),
        cmocka_unit_test(test_kek_cannot_be_abused),
        cmocka_unit_test(test_session_objects_vanish_with_their_session),
        cmocka_unit_test(test_nothing_left_behind),
        cmocka_unit_test(test_ckr_mapping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

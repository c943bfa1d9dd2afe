/*
 * The CA key in a SoftHSM token: generated there as a token object that cannot be extracted,
 * opened through libp11 (ca_hsm_key_open) as an EVP_PKEY, and used to make the CA certificate,
 * a natural-person certificate, a CRL and an OCSP response, all verified with the openssl
 * command line.  The token stays open through hsm/ meanwhile, as in the SAM, and keeps working
 * after the libp11 handle is closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ca/ca.h"
#include "hsm/hsm.h"
#include "hsm/hsm_internal.h"
#include "tests/integration/test_ca_fixture.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"

#define CA_KEY_LABEL "qsign-ca"

static qs_test_token token;
static qs_hsm *hsm;
static qs_hsm_session *sess;

/* Generates the CA key pair as token objects: private key sensitive, not extractable. */
static void generate_ca_key(void)
{
    static const CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    static CK_BYTE id[] = {0xca, 0x01};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_EC_PARAMS, (void *)p384, sizeof p384},
        {CKA_LABEL, CA_KEY_LABEL, strlen(CA_KEY_LABEL)},
        {CKA_ID, id, sizeof id},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_LABEL, CA_KEY_LABEL, strlen(CA_KEY_LABEL)},
        {CKA_ID, id, sizeof id},
    };
    CK_FUNCTION_LIST *p11 = qs_hsm_p11(hsm);
    CK_SESSION_HANDLE rw;
    CK_OBJECT_HANDLE hpub, hpriv;
    assert_int_equal(
        p11->C_OpenSession(qs_hsm_slot(hsm), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw),
        CKR_OK);
    assert_int_equal(p11->C_GenerateKeyPair(rw, &mech, pub, sizeof pub / sizeof pub[0], priv,
                                            sizeof priv / sizeof priv[0], &hpub, &hpriv),
                     CKR_OK);

    /* What the token now says about the private key. */
    CK_BBOOL token_obj = CK_FALSE, extractable = CK_TRUE, never = CK_FALSE, sensitive = CK_FALSE;
    CK_ATTRIBUTE q[] = {{CKA_TOKEN, &token_obj, sizeof token_obj},
                        {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                        {CKA_NEVER_EXTRACTABLE, &never, sizeof never},
                        {CKA_SENSITIVE, &sensitive, sizeof sensitive}};
    assert_int_equal(p11->C_GetAttributeValue(rw, hpriv, q, 4), CKR_OK);
    assert_true(token_obj == CK_TRUE && extractable == CK_FALSE && never == CK_TRUE &&
                sensitive == CK_TRUE);
    CK_BYTE value[128];
    CK_ATTRIBUTE v = {CKA_VALUE, value, sizeof value};
    assert_int_equal(p11->C_GetAttributeValue(rw, hpriv, &v, 1), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(p11->C_CloseSession(rw), CKR_OK);
}

static int setup(void **state)
{
    qs_test_token_create(&token, "ca-hsm");
    if (qs_test_system("command -v openssl >/dev/null 2>&1") != 0)
        qs_test_skip("the openssl command line (package openssl) is not installed");
    qs_test_token_init_keys(&token);
    hsm = qs_test_token_open(&token);
    if (qs_hsm_session_open(hsm, &sess) != QS_OK)
        return -1;
    generate_ca_key();
    return 0;
}

static int teardown(void **state)
{
    qs_hsm_session_close(sess);
    qs_hsm_close(hsm);
    qs_test_token_destroy(&token);
    return 0;
}

/* hsm/ still works: the token was not finalised or logged out under it. */
static void hsm_layer_alive(void)
{
    uint8_t mac[QS_HSM_HMAC_LEN];
    assert_int_equal(qs_hsm_hmac(sess, QS_HSM_RECORD_MAC, (const uint8_t *)"x", 1, mac), QS_OK);
}

static void test_open_refusals(void **state)
{
    ca_hsm_key *k = (ca_hsm_key *)1;
    assert_int_equal(
        ca_hsm_key_open("/nonexistent/libpkcs11.so", token.label, token.pin, CA_KEY_LABEL, &k),
        QS_ERR_HSM_UNAVAILABLE);
    assert_null(k);
    assert_int_equal(ca_hsm_key_open(token.module, "no-such-token", token.pin, CA_KEY_LABEL, &k),
                     QS_ERR_HSM_TOKEN_NOT_FOUND);
    assert_null(k);
    hsm_layer_alive();
    assert_int_equal(ca_hsm_key_open(token.module, token.label, token.pin, "no-such-key", &k),
                     QS_ERR_HSM_KEY_NOT_FOUND);
    assert_null(k);
    /* A service key is secret, not a private key: not a CA key either. */
    assert_int_equal(ca_hsm_key_open(token.module, token.label, token.pin,
                                     qs_hsm_service_key_label(QS_HSM_KEK), &k),
                     QS_ERR_HSM_KEY_NOT_FOUND);
    hsm_layer_alive();

    /* A wrong PIN is caught when nobody else has logged in to the token. */
    qs_hsm_session_close(sess);
    qs_hsm_close(hsm);
    assert_int_equal(ca_hsm_key_open(token.module, token.label, "wrong-pin", CA_KEY_LABEL, &k),
                     QS_ERR_HSM_LOGIN);
    assert_null(k);
    hsm = qs_test_token_open(&token);
    assert_int_equal(qs_hsm_session_open(hsm, &sess), QS_OK);
    hsm_layer_alive();
}

/* The CRL entry passed as context is the only certificate known, and it is revoked. */
static qs_err lookup_revoked(void *ctx, const uint8_t *serial, size_t len, ca_cert_status *out)
{
    const ca_crl_entry *e = ctx;
    if (len == e->serial_len && memcmp(serial, e->serial, len) == 0)
        *out = (ca_cert_status){CA_CERT_REVOKED, e->revoked_at, e->reason};
    else
        *out = (ca_cert_status){.state = CA_CERT_UNKNOWN};
    return QS_OK;
}

static void test_sign_with_token_key(void **state)
{
    ca_hsm_key *k = NULL;
    assert_int_equal(ca_hsm_key_open(token.module, token.label, token.pin, CA_KEY_LABEL, &k),
                     QS_OK);
    EVP_PKEY *key = ca_hsm_key_pkey(k);
    assert_non_null(key);
    assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_bits(key), 384);

    ca_fx fx;
    fx_init(&fx, "ca-hsm-files", key, 0);
    assert_true(ca_cert_matches_key(fx.ca_cert, key));
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem root.pem"), 0);

    /* A natural-person certificate signed in the token. */
    EVP_PKEY *leaf = fx_keygen("P-256");
    size_t spki_len;
    uint8_t *spki = fx_spki(leaf, &spki_len);
    ca_issue_params p = {.profile = &fx.natural_profile,
                         .subject = &fx.natural,
                         .spki = spki,
                         .spki_len = spki_len,
                         .ca_cert = fx.ca_cert,
                         .ca_key = key,
                         .urls = &fx.urls};
    ca_issued cert;
    ca_why why;
    assert_int_equal(ca_issue(&p, &cert, &why), QS_OK);
    fx_write_cert_pem(&fx, "leaf.pem", cert.der, cert.der_len);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem -policy "
                                 "0.4.0.194112.1.2 -explicit_policy leaf.pem"),
                     0);
    assert_non_null(strstr(fx_out(&fx), "leaf.pem: OK"));

    /* A CRL revoking it, signed in the token. */
    time_t now = time(NULL);
    ca_crl_entry e = {cert.serial, cert.serial_len, now - 5, CA_CRL_KEY_COMPROMISE};
    ca_crl_params cp = {.ca_cert = fx.ca_cert,
                        .ca_key = key,
                        .entries = &e,
                        .n_entries = 1,
                        .crl_number = 1,
                        .this_update = now,
                        .next_update = now + 86400,
                        .expired_certs_on_crl = cert.not_before - 86400};
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    assert_int_equal(ca_crl_build(&cp, &crl, &crl_len, &why), QS_OK);
    fx_write(&fx, "crl.der", crl, crl_len);
    free(crl);
    assert_int_equal(fx_run(&fx, "openssl crl -inform DER -in crl.der -CAfile root.pem -verify "
                                 "-noout -text"),
                     0);
    assert_non_null(strstr(fx_out(&fx), "verify OK"));
    assert_non_null(strstr(fx_out(&fx), "Key Compromise"));

    /* An OCSP response signed by the CA key itself. */
    char serial[2 * CA_SERIAL_MAX + 1];
    for (size_t i = 0; i < cert.serial_len; i++)
        sprintf(serial + 2 * i, "%02X", cert.serial[i]);
    assert_int_equal(
        fx_run(&fx, "openssl ocsp -issuer root.pem -serial 0x%s -reqout req.der", serial), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/req.der", fx.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t reqbuf[4096];
    size_t reqlen = fread(reqbuf, 1, sizeof reqbuf, f);
    fclose(f);
    ca_ocsp_request req;
    assert_int_equal(ca_ocsp_request_parse(reqbuf, reqlen, &req), QS_OK);
    ca_ocsp_response_params rp = {.req = &req,
                                  .lookup = lookup_revoked,
                                  .lookup_ctx = &e,
                                  .responder_cert = fx.ca_cert,
                                  .responder_key = key,
                                  .ca_cert = fx.ca_cert,
                                  .archive_cutoff = cp.expired_certs_on_crl,
                                  .this_update = now,
                                  .next_update = now + 600};
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    assert_int_equal(ca_ocsp_response_build(&rp, &resp, &resp_len, &why), QS_OK);
    fx_write(&fx, "resp.der", resp, resp_len);
    free(resp);
    assert_int_equal(fx_run(&fx, "openssl ocsp -respin resp.der -reqin req.der -CAfile root.pem "
                                 "-resp_text"),
                     0);
    const char *out = fx_out(&fx);
    assert_non_null(strstr(out, "Response verify OK"));
    assert_non_null(strstr(out, "Cert Status: revoked"));
    assert_non_null(strstr(out, "Revocation Reason: keyCompromise"));
    assert_non_null(strstr(out, "OCSP Archive Cutoff"));
    assert_null(strstr(out, "WARNING"));

    free(spki);
    ca_issued_clear(&cert);
    EVP_PKEY_free(leaf);
    fx_free(&fx);
    ca_hsm_key_close(k);
    hsm_layer_alive();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refusals),
        cmocka_unit_test(test_sign_with_token_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

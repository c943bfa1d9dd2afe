/*
 * Signing end to end: the real qsign-sam (SoftHSM token, tests/lib/samd.h) and the real qsignd
 * over TLS against the same database.  Signers log in, authorize with PIN and TOTP, sign, and
 * the signatures are checked with OpenSSL against the public keys the SAM returned: ECDSA,
 * RSA PKCS#1 v1.5 (sha256WithRSA and rsaEncryption + hashAlgorithmOID) and RSASSA-PSS through
 * signAlgoParams, in CSC v2 and v1.  Also: extendTransaction, a replayed digest, wrong factors
 * in both versions' error codes, another signer's credential answering like a missing one, and
 * the refusals qsignd makes before the SAM (signAlgo outside key/algo, digest lengths, PSS
 * parameters that do not match the digest).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_SHA384       "2.16.840.1.101.3.4.2.2"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_RSA_SHA256   "1.2.840.113549.1.1.11"
#define OID_RSA          "1.2.840.113549.1.1.1"
#define OID_RSA_PSS      "1.2.840.113549.1.1.10"
#define OID_SHA512       "2.16.840.1.101.3.4.2.3"

/* RSASSA-PSS-params: SHA-256, MGF1 with SHA-256, salt 32 (DER, base64). */
#define PSS_SHA256 "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg"
/* The same with salt 20: does not match the digest. */
#define PSS_SALT20 "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEU"

typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
    uint8_t *spki;
    size_t spki_len;
    char *token;
} signer;

typedef struct fixture {
    qs_test_samd *sam;
    qs_test_apid *d;
    signer alice; /* EC P-256 */
    signer bob;   /* RSA 2048 */
    signer carol; /* EC P-256, for wrong factors */
    signer dave;  /* EC P-384 */
} fixture;

static fixture *F;

static json_t *json_of(const qs_test_http *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %s", r->status, r->body);
    return j;
}

static void expect_error(qs_test_http *r, long status, const char *error, const char *desc)
{
    if (r->status != status)
        fail_msg("HTTP %ld, want %ld: %s", r->status, status, r->body);
    json_t *j = json_of(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "error_description"));
    if (e == NULL || strcmp(e, error) != 0 || (desc != NULL && (d == NULL || strcmp(d, desc) != 0)))
        fail_msg("got %s, want %s \"%s\"", r->body, error, desc != NULL ? desc : "*");
    json_decref(j);
    qs_test_http_free(r);
}

static char *login(qs_test_apid *d, const char *user, const char *pw)
{
    char raw[256], b64[512], auth[600];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    qs_test_http *r = qs_test_apid_request(d, &req);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    char *t = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    return t;
}

static void digest(const char *text, char b64[static 64], uint8_t raw[static 32])
{
    crypto_hash_sha256(raw, (const unsigned char *)text, strlen(text));
    sodium_bin2base64(b64, 64, raw, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* POSTs `body` (printf-style) for signer s; returns the response. */
static qs_test_http *call(const signer *s, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_test_http *call(const signer *s, const char *path, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return qs_test_apid_post(F->d, path, s->token, body);
}

/* authorize (v2 authData) and return the SAD (malloc'd). */
static char *authorize_v2(signer *s, const char *hashes, int n)
{
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&s->s, otp);
    qs_test_http *r = call(s, "/csc/v2/credentials/authorize",
                           "{\"credentialID\":\"%s\",\"numSignatures\":%d,\"hashes\":[%s],"
                           "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"authData\":[{\"id\":\"PIN\","
                           "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}],"
                           "\"description\":\"test\"}",
                           s->cred, n, hashes, s->s.pin, otp);
    if (r->status != 200)
        fail_msg("authorize: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    char *sad = strdup(json_string_value(json_object_get(j, "SAD")));
    assert_true(json_integer_value(json_object_get(j, "expiresIn")) > 0);
    json_decref(j);
    qs_test_http_free(r);
    return sad;
}

/* Verifies signature b64 over digest raw with the signer's public key. */
static void verify(const signer *s, const uint8_t raw[static 32], const char *sig_b64, int padding)
{
    uint8_t sig[1024];
    size_t len = 0;
    assert_int_equal(sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    const unsigned char *p = s->spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)s->spki_len);
    assert_non_null(k);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    if (padding != 0)
        assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0);
    assert_true(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0);
    if (padding == RSA_PKCS1_PSS_PADDING) {
        assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32) > 0);
        assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0);
    }
    if (EVP_PKEY_verify(ctx, sig, len, raw, 32) != 1)
        fail_msg("signature does not verify");
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
}

/* The signatures of a 200 signHash reply (json to decref). */
static json_t *signatures(qs_test_http *r, size_t n)
{
    if (r->status != 200)
        fail_msg("signHash: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    const json_t *a = json_object_get(j, "signatures");
    assert_int_equal(json_array_size(a), n);
    return j;
}

static long long metric(const char *series)
{
    qs_test_req req = {.method = "GET", .path = "/metrics"};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    long long v = -1;
    char line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = strstr(r->body, line);
    if (p != NULL)
        v = strtoll(p + strlen(line), NULL, 10);
    qs_test_http_free(r);
    return v;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static void make_signer(qs_sam_client *c, const char *name, const char *pin, qs_sam_key_alg alg,
                        signer *out)
{
    qs_test_samd_enrol_signer(F->sam, c, name, pin, &out->s);
    qs_test_samd_create_credential(c, out->s.user_id, alg, out->cred, &out->spki, &out->spki_len);
    char pw[64];
    snprintf(pw, sizeof pw, "%s-login-password", name);
    qs_test_apid_set_password(F->sam->pg, out->s.user_id, pw);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    F = f;
    f->sam = qs_test_samd_start("api_sign", NULL);
    qs_sam_client *c = qs_test_samd_connect(f->sam);
    make_signer(c, "alice", "135790", QS_SAM_KEY_EC_P256, &f->alice);
    make_signer(c, "bob", "246801", QS_SAM_KEY_RSA2048, &f->bob);
    make_signer(c, "carol", "975310", QS_SAM_KEY_EC_P256, &f->carol);
    make_signer(c, "dave", "864209", QS_SAM_KEY_EC_P384, &f->dave);
    qs_sam_client_close(c);
    qs_test_apid_opts o = {.sam_socket = f->sam->socket_path};
    f->d = qs_test_apid_start(f->sam->pg, &o);
    f->alice.token = login(f->d, "alice", "alice-login-password");
    f->bob.token = login(f->d, "bob", "bob-login-password");
    f->carol.token = login(f->d, "carol", "carol-login-password");
    f->dave.token = login(f->d, "dave", "dave-login-password");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int st = qs_test_apid_stop(f->d);
    qs_test_samd_stop(f->sam);
    signer *all[] = {&f->alice, &f->bob, &f->carol, &f->dave};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->spki);
        free(all[i]->token);
    }
    free(f);
    return st == 0 ? 0 : -1;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_ecdsa_v2(void **state)
{
    (void)state;
    signer *a = &F->alice;
    char h1[64], h2[64], hashes[256];
    uint8_t r1[32], r2[32];
    digest("document one", h1, r1);
    digest("document two", h2, r2);
    snprintf(hashes, sizeof hashes, "\"%s\",\"%s\"", h1, h2);
    long long before = metric("qsign_signatures_total");

    char *sad = authorize_v2(a, hashes, 2);
    qs_test_http *r =
        call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[%s],"
             "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
             a->cred, sad, hashes);
    json_t *j = signatures(r, 2);
    qs_test_http_free(r);
    const json_t *s = json_object_get(j, "signatures");
    verify(a, r1, json_string_value(json_array_get(s, 0)), 0);
    verify(a, r2, json_string_value(json_array_get(s, 1)), 0);
    json_decref(j);
    assert_int_equal(metric("qsign_signatures_total"), before + 2);

    /* Each digest once per SAD. */
    r = call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":"
             "\"" OID_ECDSA_SHA256 "\"}",
             a->cred, sad, h1);
    expect_error(r, 400, "invalid_request", NULL);
    free(sad);
}

/* Every digest algorithm through HTTP: EC P-384 with ecdsa-with-SHA256/384/512, and RSA-2048
 * PKCS#1 v1.5 with sha384/sha512WithRSAEncryption; OpenSSL verifies each signature with the
 * credential's public key and the digest's own hash. */
static void test_digest_algorithms(void **state)
{
    (void)state;
    static const struct {
        int rsa;
        const char *hash_oid, *sign_oid;
        const char *md;
    } cases[] = {
        {0, OID_SHA256, "1.2.840.10045.4.3.2", "SHA256"},
        {0, OID_SHA384, "1.2.840.10045.4.3.3", "SHA384"},
        {0, OID_SHA512, "1.2.840.10045.4.3.4", "SHA512"},
        {1, OID_SHA384, "1.2.840.113549.1.1.12", "SHA384"},
        {1, OID_SHA512, "1.2.840.113549.1.1.13", "SHA512"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        signer *s = cases[i].rsa ? &F->bob : &F->dave;
        const EVP_MD *md = EVP_get_digestbyname(cases[i].md);
        assert_non_null(md);
        uint8_t raw[EVP_MAX_MD_SIZE];
        unsigned raw_len = 0;
        char text[64], b64[128], otp[QS_TOTP_CODE_BUF];
        snprintf(text, sizeof text, "document %zu for %s", i, cases[i].sign_oid);
        assert_int_equal(EVP_Digest(text, strlen(text), raw, &raw_len, md, NULL), 1);
        sodium_bin2base64(b64, sizeof b64, raw, raw_len, sodium_base64_VARIANT_ORIGINAL);

        qs_test_signer_code(&s->s, otp);
        qs_test_http *r = call(s, "/csc/v2/credentials/authorize",
                               "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                               "\"hashAlgorithmOID\":\"%s\",\"authData\":[{\"id\":\"PIN\","
                               "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
                               s->cred, b64, cases[i].hash_oid, s->s.pin, otp);
        if (r->status != 200)
            fail_msg("authorize %s: HTTP %ld %s", cases[i].sign_oid, r->status, r->body);
        json_t *j = json_of(r);
        char *sad = strdup(json_string_value(json_object_get(j, "SAD")));
        json_decref(j);
        qs_test_http_free(r);

        r = call(s, "/csc/v2/signatures/signHash",
                 "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                 "\"hashAlgorithmOID\":\"%s\",\"signAlgo\":\"%s\"}",
                 s->cred, sad, b64, cases[i].hash_oid, cases[i].sign_oid);
        j = signatures(r, 1);
        qs_test_http_free(r);
        const char *sig_b64 =
            json_string_value(json_array_get(json_object_get(j, "signatures"), 0));
        uint8_t sig[1024];
        size_t sig_len = 0;
        assert_int_equal(sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL,
                                           &sig_len, NULL, sodium_base64_VARIANT_ORIGINAL),
                         0);
        const unsigned char *p = s->spki;
        EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)s->spki_len);
        assert_non_null(k);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
        assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
        if (cases[i].rsa)
            assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0);
        assert_true(EVP_PKEY_CTX_set_signature_md(ctx, md) > 0);
        if (EVP_PKEY_verify(ctx, sig, sig_len, raw, raw_len) != 1)
            fail_msg("%s signature does not verify", cases[i].sign_oid);
        /* and not over another digest */
        raw[0] ^= 1;
        assert_int_not_equal(EVP_PKEY_verify(ctx, sig, sig_len, raw, raw_len), 1);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(k);
        json_decref(j);
        free(sad);
    }
}

static void test_extend_transaction(void **state)
{
    (void)state;
    signer *a = &F->alice;
    char h1[64], h2[64], hashes[128];
    uint8_t r1[32], r2[32];
    digest("first of a chain", h1, r1);
    digest("second of a chain", h2, r2);
    snprintf(hashes, sizeof hashes, "\"%s\"", h1);
    char *sad = authorize_v2(a, hashes, 2);
    qs_test_http *r = call(a, "/csc/v2/credentials/extendTransaction",
                           "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                           "\"hashAlgorithmOID\":\"" OID_SHA256 "\"}",
                           a->cred, sad, h2);
    if (r->status != 200)
        fail_msg("extendTransaction: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    char *sad2 = strdup(json_string_value(json_object_get(j, "SAD")));
    json_decref(j);
    qs_test_http_free(r);
    r = call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":"
             "\"" OID_ECDSA_SHA256 "\"}",
             a->cred, sad2, h2);
    j = signatures(r, 1);
    qs_test_http_free(r);
    verify(a, r2, json_string_value(json_array_get(json_object_get(j, "signatures"), 0)), 0);
    json_decref(j);
    free(sad);
    free(sad2);
}

static void test_rsa_v1_and_pss(void **state)
{
    (void)state;
    signer *b = &F->bob;
    char h1[64], h2[64], h3[64], otp[QS_TOTP_CODE_BUF];
    uint8_t r1[32], r2[32], r3[32];
    digest("rsa one", h1, r1);
    digest("rsa two", h2, r2);
    digest("rsa three", h3, r3);

    /* v1: PIN and OTP fields, "hash", no hash algorithm (the length says SHA-256). */
    qs_test_signer_code(&b->s, otp);
    qs_test_http *r = call(b, "/csc/v1/credentials/authorize",
                           "{\"credentialID\":\"%s\",\"numSignatures\":3,\"hash\":[\"%s\",\"%s\","
                           "\"%s\"],\"PIN\":\"%s\",\"OTP\":\"%s\"}",
                           b->cred, h1, h2, h3, b->s.pin, otp);
    if (r->status != 200)
        fail_msg("v1 authorize: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    char *sad = strdup(json_string_value(json_object_get(j, "SAD")));
    json_decref(j);
    qs_test_http_free(r);

    r = call(b, "/csc/v1/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hash\":[\"%s\"],\"hashAlgo\":\"" OID_SHA256
             "\",\"signAlgo\":\"" OID_RSA_SHA256 "\"}",
             b->cred, sad, h1);
    j = signatures(r, 1);
    qs_test_http_free(r);
    verify(b, r1, json_string_value(json_array_get(json_object_get(j, "signatures"), 0)),
           RSA_PKCS1_PADDING);
    json_decref(j);

    /* rsaEncryption needs the hash algorithm. */
    r = call(b, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA
             "\"}",
             b->cred, sad, h2);
    expect_error(r, 400, "invalid_request",
                 "Missing (or invalid type) string parameter hashAlgorithmOID");
    r = call(b, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA
             "\",\"hashAlgorithmOID\":\"" OID_SHA256 "\"}",
             b->cred, sad, h2);
    j = signatures(r, 1);
    qs_test_http_free(r);
    verify(b, r2, json_string_value(json_array_get(json_object_get(j, "signatures"), 0)),
           RSA_PKCS1_PADDING);
    json_decref(j);

    /* RSASSA-PSS: parameters must match the digest. */
    r = call(
        b, "/csc/v2/signatures/signHash",
        "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA_PSS
        "\"}",
        b->cred, sad, h3);
    expect_error(r, 400, "invalid_request",
                 "Missing (or invalid type) string parameter signAlgoParams");
    r = call(
        b, "/csc/v2/signatures/signHash",
        "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA_PSS
        "\",\"signAlgoParams\":\"" PSS_SALT20 "\"}",
        b->cred, sad, h3);
    expect_error(r, 400, "invalid_request", "Invalid parameter signAlgoParams");
    r = call(
        b, "/csc/v2/signatures/signHash",
        "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA_PSS
        "\",\"signAlgoParams\":\"" PSS_SHA256 "\",\"hashAlgorithmOID\":\"" OID_SHA384 "\"}",
        b->cred, sad, h3);
    expect_error(r, 400, "invalid_request", "Invalid parameter signAlgoParams");
    r = call(
        b, "/csc/v2/signatures/signHash",
        "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],\"signAlgo\":\"" OID_RSA_PSS
        "\",\"signAlgoParams\":\"" PSS_SHA256 "\"}",
        b->cred, sad, h3);
    j = signatures(r, 1);
    qs_test_http_free(r);
    verify(b, r3, json_string_value(json_array_get(json_object_get(j, "signatures"), 0)),
           RSA_PKCS1_PSS_PADDING);
    json_decref(j);
    free(sad);
}

static void test_refused_before_the_sam(void **state)
{
    (void)state;
    signer *a = &F->alice, *b = &F->bob;
    char h[64];
    uint8_t raw[32];
    digest("x", h, raw);
    const char *sad = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    /* An algorithm of another key type. */
    qs_test_http *r = call(b, "/csc/v2/signatures/signHash",
                           "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                           "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
                           b->cred, sad, h);
    expect_error(r, 400, "invalid_request", "Invalid parameter signAlgo");
    /* A digest of another length than the algorithm's. */
    r = call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"AAECAw==\"],"
             "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
             a->cred, sad);
    expect_error(r, 400, "invalid_request", "Invalid digest value length");
    r = call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
             "\"signAlgo\":\"" OID_ECDSA_SHA256 "\",\"hashAlgorithmOID\":\"" OID_SHA384 "\"}",
             a->cred, sad, h);
    expect_error(r, 400, "invalid_request", "Invalid parameter hashAlgorithmOID");
    r = call(a, "/csc/v2/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
             "\"hashAlgorithmOID\":\"" OID_SHA384
             "\",\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},"
             "{\"id\":\"OTP\",\"value\":\"1\"}]}",
             a->cred, h);
    expect_error(r, 400, "invalid_request", "Invalid digest value length");
    /* Too many signatures, or fewer than hashes; factors missing. */
    r = call(a, "/csc/v2/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":101,\"hashes\":[\"%s\"],"
             "\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},{\"id\":\"OTP\",\"value\":\"1\"}]}",
             a->cred, h);
    expect_error(r, 400, "invalid_request", "Numbers of signatures is too high");
    r = call(a, "/csc/v2/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\",\"%s\"],"
             "\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},{\"id\":\"OTP\",\"value\":\"1\"}]}",
             a->cred, h, h);
    expect_error(r, 400, "invalid_request", "Invalid parameter hashes");
    r = call(a, "/csc/v2/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
             "\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"}]}",
             a->cred, h);
    expect_error(r, 400, "invalid_request", "Invalid parameter authData");
    r = call(a, "/csc/v1/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hash\":[\"%s\"],\"PIN\":\"1\"}",
             a->cred, h);
    expect_error(r, 400, "invalid_request", "Missing (or invalid type) string parameter OTP");
    /* Another signer's credential: refused like an unknown one, at signHash and authorize. */
    const char *other[] = {b->cred, "00000000-0000-4000-8000-00000000dead"};
    for (size_t i = 0; i < 2; i++) {
        r = call(a, "/csc/v2/signatures/signHash",
                 "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                 "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
                 other[i], sad, h);
        expect_error(r, 400, "invalid_request", "Invalid parameter credentialID");
        r = call(a, "/csc/v2/credentials/authorize",
                 "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                 "\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},{\"id\":\"OTP\","
                 "\"value\":\"123456\"}]}",
                 other[i], h);
        expect_error(r, 400, "invalid_request", "Invalid parameter credentialID");
    }
    /* An SAD that was never issued. */
    r = call(a, "/csc/v2/signatures/signHash",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
             "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
             a->cred, sad, h);
    expect_error(r, 400, "invalid_request", NULL);
}

static void test_wrong_factors(void **state)
{
    (void)state;
    signer *c = &F->carol;
    char h[64], otp[QS_TOTP_CODE_BUF];
    uint8_t raw[32];
    digest("carol", h, raw);
    long long before = metric("qsign_authorization_failures_total");
    qs_test_signer_code(&c->s, otp);
    qs_test_http *r = call(c, "/csc/v2/credentials/authorize",
                           "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                           "\"authData\":[{\"id\":\"PIN\",\"value\":\"000000\"},"
                           "{\"id\":\"OTP\",\"value\":\"%s\"}]}",
                           c->cred, h, otp);
    expect_error(r, 400, "invalid_authentication_data", NULL);
    qs_test_signer_wrong_code(&c->s, otp);
    r = call(c, "/csc/v1/credentials/authorize",
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hash\":[\"%s\"],\"PIN\":\"%s\","
             "\"OTP\":\"%s\"}",
             c->cred, h, c->s.pin, otp);
    expect_error(r, 400, "invalid_otp", NULL);
    assert_int_equal(metric("qsign_authorization_failures_total"), before + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecdsa_v2),       cmocka_unit_test(test_extend_transaction),
        cmocka_unit_test(test_rsa_v1_and_pss), cmocka_unit_test(test_refused_before_the_sam),
        cmocka_unit_test(test_wrong_factors),  cmocka_unit_test(test_digest_algorithms),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}

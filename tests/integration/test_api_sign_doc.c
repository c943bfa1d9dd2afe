/*
 * signatures/signDoc end to end: the real qsign-sam (SoftHSM token, its own self-signed CA) and
 * the real qsignd over TLS on one database.  Signers are registered and certified through the
 * SAM's CA (EC P-256, EC P-384, RSA-2048 keys), log in, authorize the digests of two documents
 * with PIN and TOTP, and sign both with one signDoc call.
 *
 * Every .p7s returned goes through `openssl cms -verify -binary -inform DER -content FILE
 * -CAfile ca.pem` (exit status and its "Verification successful"; and the other document must
 * fail), and is decoded with OpenSSL: SignedData of id-data, detached, the signer's and the CA's
 * certificates byte for byte, and the signed attributes one by one (contentType id-data,
 * messageDigest = the document's digest, signingTime within the request, ESS
 * signing-certificate-v2 = the one OpenSSL makes for the credential's certificate and accepted
 * by OpenSSL's own check).  The audit record of each signature names the document digest and
 * the digest of the signed attributes, recomputed here from the DER.
 *
 * Attacks through signDoc, each refused with its CSC error while nothing is signed or consumed
 * (the SAD's rows in the database, the audit log): a digest the SAD did not authorize, a digest
 * signed before (by signDoc or signHash), more digests than the SAD allows, another user's SAD,
 * formats, levels and packagings other than CAdES / Ades-B-B / Detached, a credential without
 * a certificate, and one whose certificate is revoked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_SHA384       "2.16.840.1.101.3.4.2.2"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_ECDSA_SHA384 "1.2.840.10045.4.3.3"
#define OID_RSA_SHA256   "1.2.840.113549.1.1.11"
#define OID_RSA_PSS      "1.2.840.113549.1.1.10"
/* RSASSA-PSS-params: SHA-256, MGF1 with SHA-256, salt 32 (DER, base64). */
#define PSS_SHA256 "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg"

#define DOC_LEN 4096

typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
    uint8_t *cert; /* NULL: a credential without a certificate */
    size_t cert_len;
    char *token;
} signer;

typedef struct fixture {
    qs_test_samd *sam;
    qs_test_apid *d;
    char dir[PATH_MAX];
    uint8_t *ca;
    size_t ca_len;
    signer p256, p384, rsa, other, nocert;
} fixture;

static fixture *F;

/* ---- helpers --------------------------------------------------------------------------------- */

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

static qs_test_http *call(const signer *s, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_test_http *call(const signer *s, const char *path, const char *fmt, ...)
{
    char body[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof body);
    return qs_test_apid_post(F->d, path, s->token, body);
}

static void path_of(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", F->dir, name);
    assert_true(n > 0 && (size_t)n < len);
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[PATH_MAX + 64];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Runs a shell command in the test's directory; its output (stdout and stderr) into *out
 * (malloc'd) when out is not NULL.  Returns the exit status. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int run(char **out, const char *fmt, ...)
{
    char cmd[4096], path[PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = qs_test_system("cd '%s' && (%s) > run.txt 2>&1", F->dir, cmd);
    if (out != NULL) {
        path_of(path, sizeof path, "run.txt");
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *buf = calloc(1, 65536);
        assert_non_null(buf);
        size_t n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
        fclose(f);
        *out = buf;
    }
    return rc;
}

/* One value from SQL run as the cluster's superuser (malloc'd). */
static char *sql_value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *sql_value(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *conn = qs_test_pg_connect(F->sam->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    if (v == NULL)
        fail_msg("no value: %s", sql);
    return v;
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The SHA-256 of an SAD handle (its sad_hash and audit sad_ref) in hex. */
static void sad_hex(const char *sad, char hex[static 65])
{
    uint8_t h[32];
    assert_int_equal(qs_sad_handle_hash(sad, strlen(sad), h), QS_OK);
    hex_of(h, sizeof h, hex);
}

/* The state of an SAD in the database: "remaining|digests consumed" (malloc'd). */
static char *sad_state(const char *sad)
{
    char hex[65];
    sad_hex(sad, hex);
    return sql_value("SELECT s.remaining || '|' || (SELECT count(*) FROM qsign.sad_hashes x WHERE "
                     "x.sad_hash = s.sad_hash AND x.consumed_at IS NOT NULL) FROM qsign.sads s "
                     "WHERE s.sad_hash = '\\x%s'",
                     hex);
}

static void expect_sad_state(const char *sad, const char *want)
{
    char *v = sad_state(sad);
    if (strcmp(v, want) != 0)
        fail_msg("SAD state %s, want %s", v, want);
    free(v);
}

static long audit_count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long audit_count(const char *fmt, ...)
{
    char where[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where, fmt, ap);
    va_end(ap);
    return qs_test_samd_audit_count(F->sam, where);
}

/* A document of random bytes written as `name`, and its digest (raw and base64). */
static void document(const char *name, const EVP_MD *md, uint8_t raw[static EVP_MAX_MD_SIZE],
                     size_t *raw_len, char b64[static 128])
{
    uint8_t doc[DOC_LEN];
    unsigned n = 0;
    randombytes_buf(doc, sizeof doc);
    write_file(name, doc, sizeof doc);
    assert_int_equal(EVP_Digest(doc, sizeof doc, raw, &n, md, NULL), 1);
    *raw_len = n;
    sodium_bin2base64(b64, 128, raw, n, sodium_base64_VARIANT_ORIGINAL);
}

/* A random digest of `len` bytes in base64 (a document nobody authorized). */
static void random_digest(size_t len, char b64[static 128])
{
    uint8_t raw[64];
    randombytes_buf(raw, len);
    sodium_bin2base64(b64, 128, raw, len, sodium_base64_VARIANT_ORIGINAL);
}

/* credentials/authorize (v2) of `hashes` (a JSON list's inside); the SAD (malloc'd). */
static char *authorize(signer *s, const char *hash_oid, const char *hashes, int num)
{
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&s->s, otp);
    qs_test_http *r = call(s, "/csc/v2/credentials/authorize",
                           "{\"credentialID\":\"%s\",\"numSignatures\":%d,\"hashes\":[%s],"
                           "\"hashAlgorithmOID\":\"%s\",\"authData\":[{\"id\":\"PIN\","
                           "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
                           s->cred, num, hashes, hash_oid, s->s.pin, otp);
    if (r->status != 200)
        fail_msg("authorize: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    char *sad = strdup(json_string_value(json_object_get(j, "SAD")));
    json_decref(j);
    qs_test_http_free(r);
    return sad;
}

/* signatures/signDoc of one documentDigests entry with `hashes` (a JSON list's inside). */
static qs_test_http *sign_doc(const signer *s, const char *sad, const char *hashes,
                              const char *entry_extra)
{
    return call(s, "/csc/v2/signatures/signDoc",
                "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":[%s],"
                "\"signature_format\":\"C\",\"signAlgo\":\"" OID_ECDSA_SHA256 "\"%s}]}",
                s->cred, sad, hashes, entry_extra != NULL ? entry_extra : "");
}

/* ---- DER, for the signed attributes' own encoding -------------------------------------------- */

typedef struct der_tlv {
    uint8_t tag;
    const uint8_t *start;
    size_t tlv_len;
    const uint8_t *val;
    size_t len;
} der_tlv;

static der_tlv der_expect(const uint8_t **p, const uint8_t *end, uint8_t tag)
{
    der_tlv t = {0};
    const uint8_t *q = *p;
    assert_true(end - q >= 2);
    t.start = q;
    t.tag = *q++;
    size_t len = *q++;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        assert_true(nb >= 1 && nb <= 3 && (size_t)(end - q) >= nb);
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = len << 8 | *q++;
    }
    assert_true((size_t)(end - q) >= len);
    assert_int_equal(t.tag, tag);
    t.val = q;
    t.len = len;
    t.tlv_len = (size_t)(q + len - t.start);
    *p = q + len;
    return t;
}

/* The digest (with md) of the DER SET OF signed attributes: ContentInfo -> SignedData ->
 * SignerInfo -> [0] signedAttrs, its tag read as SET OF (RFC 5652, 5.4). */
static void signed_attrs_digest(const uint8_t *der, size_t len, const EVP_MD *md,
                                uint8_t out[static EVP_MAX_MD_SIZE], size_t *out_len)
{
    const uint8_t *p = der, *end = der + len;
    der_tlv ci = der_expect(&p, end, 0x30);
    p = ci.val;
    der_expect(&p, ci.val + ci.len, 0x06);
    der_tlv x = der_expect(&p, ci.val + ci.len, 0xa0);
    p = x.val;
    der_tlv sd = der_expect(&p, x.val + x.len, 0x30);
    p = sd.val;
    end = sd.val + sd.len;
    der_expect(&p, end, 0x02); /* version */
    der_expect(&p, end, 0x31); /* digestAlgorithms */
    der_expect(&p, end, 0x30); /* encapContentInfo */
    der_expect(&p, end, 0xa0); /* certificates */
    der_tlv sis = der_expect(&p, end, 0x31);
    p = sis.val;
    der_tlv si = der_expect(&p, sis.val + sis.len, 0x30);
    p = si.val;
    end = si.val + si.len;
    der_expect(&p, end, 0x02); /* version */
    der_expect(&p, end, 0x30); /* issuerAndSerialNumber */
    der_expect(&p, end, 0x30); /* digestAlgorithm */
    der_tlv attrs = der_expect(&p, end, 0xa0);
    uint8_t *set = malloc(attrs.tlv_len);
    assert_non_null(set);
    memcpy(set, attrs.start, attrs.tlv_len);
    set[0] = 0x31;
    unsigned n = 0;
    assert_int_equal(EVP_Digest(set, attrs.tlv_len, out, &n, md, NULL), 1);
    *out_len = n;
    free(set);
}

/* ---- checking one signature ------------------------------------------------------------------ */

/* Decodes the .p7s with OpenSSL and checks every part the SAM is responsible for. */
static void check_cms(const signer *s, const uint8_t *der, size_t der_len,
                      const uint8_t *doc_digest, size_t doc_digest_len, time_t t0, time_t t1)
{
    const unsigned char *q = der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)der_len);
    assert_non_null(cms);
    assert_true(q == der + der_len);
    assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
    assert_int_equal(OBJ_obj2nid(CMS_get0_eContentType(cms)), NID_pkcs7_data);
    assert_int_equal(CMS_is_detached(cms), 1);

    /* the chain: the credential's certificate and the CA's, byte for byte */
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    assert_int_equal(sk_X509_num(certs), 2);
    bool seen_leaf = false, seen_ca = false;
    X509 *leaf = NULL;
    for (int i = 0; i < 2; i++) {
        unsigned char *cd = NULL;
        int n = i2d_X509(sk_X509_value(certs, i), &cd);
        assert_true(n > 0);
        if ((size_t)n == s->cert_len && memcmp(cd, s->cert, s->cert_len) == 0) {
            seen_leaf = true;
            leaf = sk_X509_value(certs, i);
        }
        if ((size_t)n == F->ca_len && memcmp(cd, F->ca, F->ca_len) == 0)
            seen_ca = true;
        OPENSSL_free(cd);
    }
    assert_true(seen_leaf && seen_ca);

    STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
    assert_int_equal(sk_CMS_SignerInfo_num(sis), 1);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
    assert_int_equal(CMS_SignerInfo_cert_cmp(si, leaf), 0);

    /* the signed attributes: exactly four, one value each */
    assert_int_equal(CMS_signed_get_attr_count(si), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(X509_ATTRIBUTE_count(CMS_signed_get_attr(si, i)), 1);
    /* contentType: id-data */
    ASN1_OBJECT *ct =
        CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
    assert_non_null(ct);
    assert_int_equal(OBJ_obj2nid(ct), NID_pkcs7_data);
    /* messageDigest: the document's digest */
    ASN1_OCTET_STRING *mdv = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest),
                                                         -3, V_ASN1_OCTET_STRING);
    assert_non_null(mdv);
    assert_int_equal(ASN1_STRING_length(mdv), (int)doc_digest_len);
    assert_memory_equal(ASN1_STRING_get0_data(mdv), doc_digest, doc_digest_len);
    /* signingTime: present, taken during the request (whole seconds) */
    int loc = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    assert_true(loc >= 0);
    ASN1_TYPE *tt = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, loc), 0);
    assert_non_null(tt);
    assert_true(tt->type == V_ASN1_UTCTIME || tt->type == V_ASN1_GENERALIZEDTIME);
    const ASN1_TIME *st = (const ASN1_TIME *)tt->value.asn1_string;
    assert_true(ASN1_TIME_cmp_time_t(st, t0 - 1) >= 0);
    assert_true(ASN1_TIME_cmp_time_t(st, t1 + 1) <= 0);
    /* signing-certificate-v2: the credential's certificate, as OpenSSL makes and checks it */
    loc = CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1);
    assert_true(loc >= 0);
    tt = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, loc), 0);
    assert_non_null(tt);
    assert_int_equal(tt->type, V_ASN1_SEQUENCE);
    const unsigned char *ep = ASN1_STRING_get0_data(tt->value.sequence);
    int elen = ASN1_STRING_length(tt->value.sequence);
    /* its certHash is the SHA-256 of the certificate's DER (an OCTET STRING of 32 bytes; the
     * hashAlgorithm is omitted, its default being SHA-256) */
    uint8_t cert_hash[2 + 32] = {0x04, 0x20};
    assert_int_equal(EVP_Digest(s->cert, s->cert_len, cert_hash + 2, NULL, EVP_sha256(), NULL), 1);
    bool hash_seen = false;
    for (int i = 0; i + (int)sizeof cert_hash <= elen && !hash_seen; i++)
        hash_seen = memcmp(ep + i, cert_hash, sizeof cert_hash) == 0;
    assert_true(hash_seen);
    ESS_SIGNING_CERT_V2 *ess = d2i_ESS_SIGNING_CERT_V2(NULL, &ep, elen);
    assert_non_null(ess);
    ESS_SIGNING_CERT_V2 *want = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), leaf, NULL, 1);
    assert_non_null(want);
    unsigned char *got_der = NULL, *want_der = NULL;
    int gl = i2d_ESS_SIGNING_CERT_V2(ess, &got_der), wl = i2d_ESS_SIGNING_CERT_V2(want, &want_der);
    assert_true(gl > 0 && gl == wl);
    assert_memory_equal(got_der, want_der, (size_t)gl);
    STACK_OF(X509) *chain = sk_X509_new_null();
    assert_non_null(chain);
    assert_true(sk_X509_push(chain, leaf) > 0);
    assert_int_equal(OSSL_ESS_check_signing_certs(NULL, ess, chain, 1), 1);
    /* and it names no other certificate: the CA's does not match */
    for (int i = 0; i < 2; i++)
        if (sk_X509_value(certs, i) != leaf)
            assert_non_null(sk_X509_set(chain, 0, sk_X509_value(certs, i)));
    assert_int_not_equal(OSSL_ESS_check_signing_certs(NULL, ess, chain, 1), 1);
    sk_X509_free(chain);
    OPENSSL_free(got_der);
    OPENSSL_free(want_der);
    ESS_SIGNING_CERT_V2_free(want);
    ESS_SIGNING_CERT_V2_free(ess);

    /* OpenSSL's own check of the signature value over the signed attributes */
    CMS_SignerInfo_set1_signer_cert(si, leaf);
    assert_int_equal(CMS_SignerInfo_verify(si), 1);
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
}

/* openssl cms -verify of p7s against `content` must succeed (exit 0 and "Verification
 * successful") or, with ok false, fail with "Verification failure". */
static void openssl_verify(const char *p7s, const char *content, bool ok)
{
    char *out = NULL;
    int rc = run(&out,
                 "openssl cms -verify -binary -inform DER -in %s -content %s -CAfile ca.pem "
                 "-out /dev/null",
                 p7s, content);
    if (ok && (rc != 0 || strstr(out, "Verification successful") == NULL))
        fail_msg("openssl cms -verify %s for %s: exit %d: %s", p7s, content, rc, out);
    if (!ok && (rc == 0 || strstr(out, "Verification failure") == NULL))
        fail_msg("openssl cms -verify %s for %s (the wrong document): exit %d: %s", p7s, content,
                 rc, out);
    free(out);
}

/* ---- fixture --------------------------------------------------------------------------------- */

static void certified(qs_sam_client *c, const char *name, const char *pin, qs_sam_key_alg alg,
                      signer *out)
{
    qs_test_samd_certified_signer(F->sam, c, name, pin, alg, &out->s, out->cred, &out->cert,
                                  &out->cert_len);
    char pw[64];
    snprintf(pw, sizeof pw, "%s-login-password", name);
    qs_test_apid_set_password(F->sam->pg, out->s.user_id, pw);
}

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    qs_test_samd_opts o = {.extra = qs_test_samd_ca_config};
    F->sam = qs_test_samd_start("api_sign_doc", &o);
    snprintf(F->dir, sizeof F->dir, "%s", F->sam->token.dir);
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    qs_test_samd_ca_init(F->sam, c, &F->ca, &F->ca_len);
    write_file("ca.der", F->ca, F->ca_len);
    assert_int_equal(run(NULL, "openssl x509 -inform DER -in ca.der -out ca.pem"), 0);
    certified(c, "pia", "135790", QS_SAM_KEY_EC_P256, &F->p256);
    certified(c, "pekka", "246801", QS_SAM_KEY_EC_P384, &F->p384);
    certified(c, "rasmus", "975310", QS_SAM_KEY_RSA2048, &F->rsa);
    certified(c, "oona", "864209", QS_SAM_KEY_EC_P256, &F->other);
    /* a credential made without the CA: no certificate */
    qs_test_samd_enrol_signer(F->sam, c, "nils", "112233", &F->nocert.s);
    qs_test_samd_create_credential(c, F->nocert.s.user_id, QS_SAM_KEY_EC_P256, F->nocert.cred, NULL,
                                   NULL);
    qs_test_apid_set_password(F->sam->pg, F->nocert.s.user_id, "nils-login-password");
    qs_sam_client_close(c);

    /* a signer's second signature within the hour is "bulk signing" here */
    qs_test_apid_opts ao = {.sam_socket = F->sam->socket_path,
                            .sam_timeout_ms = 30000,
                            .extra = "[anomaly]\nbulk_signatures = 1\n"};
    F->d = qs_test_apid_start(F->sam->pg, &ao);
    signer *all[] = {&F->p256, &F->p384, &F->rsa, &F->other, &F->nocert};
    const char *names[] = {"pia", "pekka", "rasmus", "oona", "nils"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char pw[64];
        snprintf(pw, sizeof pw, "%s-login-password", names[i]);
        all[i]->token = qs_test_apid_login(F->d, names[i], pw);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = qs_test_apid_stop(F->d);
    /* the audit chain the daemon wrote verifies */
    uint64_t records = 0;
    qs_err v = qs_test_samd_verify_audit(F->sam, &records);
    qs_test_samd_stop(F->sam);
    signer *all[] = {&F->p256, &F->p384, &F->rsa, &F->other, &F->nocert};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->cert);
        free(all[i]->token);
    }
    free(F->ca);
    free(F);
    if (v != QS_OK || records == 0)
        fprintf(stderr, "audit chain: %s, %llu records\n", qs_err_name(v),
                (unsigned long long)records);
    return st == 0 && v == QS_OK && records > 0 ? 0 : -1;
}

/* ---- tests ----------------------------------------------------------------------------------- */

typedef struct sign_case {
    const char *tag;
    signer *who;
    const char *md_name; /* the documents' digest */
    const char *hash_oid;
    const char *sign_algo;
    const char *params; /* signAlgoParams, or NULL */
    bool two_entries;   /* one documentDigests entry per document */
} sign_case;

/* Two documents, one authorization, one signDoc: both .p7s verify with openssl and decode as
 * they must; the audit log names each document digest and signed-attributes digest. */
static void sign_two_documents(const sign_case *k)
{
    const EVP_MD *md = EVP_get_digestbyname(k->md_name);
    assert_non_null(md);
    uint8_t raw[2][EVP_MAX_MD_SIZE];
    size_t raw_len[2];
    char b64[2][128], name[2][64], hashes[300], extra[256] = "";
    for (int i = 0; i < 2; i++) {
        snprintf(name[i], sizeof name[i], "%s-%d.bin", k->tag, i + 1);
        document(name[i], md, raw[i], &raw_len[i], b64[i]);
    }
    snprintf(hashes, sizeof hashes, "\"%s\",\"%s\"", b64[0], b64[1]);
    if (k->params != NULL)
        snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", k->params);
    char *sad = authorize(k->who, k->hash_oid, hashes, 2);
    long before =
        audit_count("event_type = 'signature.created' AND user_id = '%s'", k->who->s.user_id);

    time_t t0 = time(NULL);
    qs_test_http *r;
    if (k->two_entries)
        r = call(k->who, "/csc/v2/signatures/signDoc",
                 "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":["
                 "{\"hashes\":[\"%s\"],\"hashAlgorithmOID\":\"%s\",\"signature_format\":\"C\","
                 "\"conformance_level\":\"Ades-B-B\",\"signAlgo\":\"%s\"%s,"
                 "\"signed_envelope_property\":\"Detached\"},"
                 "{\"hashes\":[\"%s\"],\"hashAlgorithmOID\":\"%s\",\"signature_format\":\"C\","
                 "\"signAlgo\":\"%s\"%s}],\"clientData\":\"two entries\"}",
                 k->who->cred, sad, b64[0], k->hash_oid, k->sign_algo, extra, b64[1], k->hash_oid,
                 k->sign_algo, extra);
    else
        r = call(k->who, "/csc/v2/signatures/signDoc",
                 "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":[%s],"
                 "\"hashAlgorithmOID\":\"%s\",\"signature_format\":\"C\",\"signAlgo\":\"%s\"%s}]}",
                 k->who->cred, sad, hashes, k->hash_oid, k->sign_algo, extra);
    time_t t1 = time(NULL);
    if (r->status != 200)
        fail_msg("%s: signDoc HTTP %ld %s", k->tag, r->status, r->body);
    json_t *j = json_of(r);
    qs_test_http_free(r);
    const json_t *dws = json_object_get(j, "DocumentWithSignature");
    assert_true(json_is_array(dws));
    assert_int_equal(json_array_size(dws), 0);
    const json_t *so = json_object_get(j, "SignatureObject");
    assert_int_equal(json_array_size(so), 2);
    assert_int_equal(json_object_size(j), 2);

    for (int i = 0; i < 2; i++) {
        const char *sig_b64 = json_string_value(json_array_get(so, (size_t)i));
        assert_non_null(sig_b64);
        size_t cap = strlen(sig_b64), der_len = 0;
        uint8_t *der = malloc(cap);
        assert_non_null(der);
        assert_int_equal(sodium_base642bin(der, cap, sig_b64, strlen(sig_b64), NULL, &der_len, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        char p7s[80];
        snprintf(p7s, sizeof p7s, "%s-%d.p7s", k->tag, i + 1);
        write_file(p7s, der, der_len);
        /* signatures in request order: each verifies for its own document only */
        openssl_verify(p7s, name[i], true);
        openssl_verify(p7s, name[1 - i], false);
        check_cms(k->who, der, der_len, raw[i], raw_len[i], t0, t1);

        /* its audit record: the document digest and the signed-attributes digest */
        uint8_t ad[EVP_MAX_MD_SIZE];
        size_t ad_len = 0;
        signed_attrs_digest(der, der_len, md, ad, &ad_len);
        char dh[2 * EVP_MAX_MD_SIZE + 1], ah[2 * EVP_MAX_MD_SIZE + 1];
        hex_of(raw[i], raw_len[i], dh);
        hex_of(ad, ad_len, ah);
        char ref[65];
        sad_hex(sad, ref);
        long n = audit_count("event_type = 'signature.created' AND user_id = '%s' AND "
                             "sad_ref = '\\x%s' AND details::jsonb->>'hash' = '%s' AND "
                             "details::jsonb->>'signed_attrs_digest' = '%s' AND "
                             "details::jsonb->>'signature_format' = 'CAdES-B-B'",
                             k->who->s.user_id, ref, dh, ah);
        if (n != 1)
            fail_msg("%s: %ld audit records for document %d", k->tag, n, i + 1);
        free(der);
    }
    json_decref(j);
    assert_int_equal(
        audit_count("event_type = 'signature.created' AND user_id = '%s'", k->who->s.user_id),
        before + 2);
    expect_sad_state(sad, "0|2");
    /* used up: the same request again is refused by the SAM, nothing more is signed */
    r = call(k->who, "/csc/v2/signatures/signDoc",
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":[%s],"
             "\"hashAlgorithmOID\":\"%s\",\"signature_format\":\"C\",\"signAlgo\":\"%s\"%s}]}",
             k->who->cred, sad, hashes, k->hash_oid, k->sign_algo, extra);
    expect_error(r, 400, "invalid_request", "Invalid parameter SAD");
    char ref[65];
    sad_hex(sad, ref);
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'sad_used_up' AND "
                                 "sad_ref = '\\x%s'",
                                 k->who->s.user_id, ref),
                     1);
    assert_int_equal(
        audit_count("event_type = 'signature.created' AND user_id = '%s'", k->who->s.user_id),
        before + 2);
    free(sad);
}

static void test_ec_p256(void **state)
{
    (void)state;
    sign_case k = {"p256", &F->p256, "SHA256", OID_SHA256, OID_ECDSA_SHA256, NULL, false};
    sign_two_documents(&k);
}

static void test_ec_p384(void **state)
{
    (void)state;
    sign_case k = {"p384", &F->p384, "SHA384", OID_SHA384, OID_ECDSA_SHA384, NULL, true};
    sign_two_documents(&k);
}

static void test_rsa_pkcs1(void **state)
{
    (void)state;
    sign_case k = {"rsa", &F->rsa, "SHA256", OID_SHA256, OID_RSA_SHA256, NULL, true};
    sign_two_documents(&k);
}

static void test_rsa_pss(void **state)
{
    (void)state;
    sign_case k = {"pss", &F->rsa, "SHA256", OID_SHA256, OID_RSA_PSS, PSS_SHA256, false};
    sign_two_documents(&k);
}

/* Document signatures count like signHash's: in qsign_signatures_total and in the anomaly
 * windows (each signer above signed two documents in one request, one more than allowed). */
static void test_counted(void **state)
{
    (void)state;
    assert_true(qs_test_apid_metric(F->d, "qsign_signatures_total") >= 8);
    assert_true(qs_test_apid_metric(F->d, "qsign_anomalies_total{kind=\"bulk_signing\"}") >= 3);
}

/* info lists signDoc and what it makes in v2 only (CSC 1.0.4.0 has no signDoc). */
static void test_info(void **state)
{
    (void)state;
    qs_test_http *r = qs_test_apid_post(F->d, "/csc/v2/info", NULL, "{}");
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    qs_test_http_free(r);
    const json_t *m = json_object_get(j, "methods");
    bool listed = false;
    for (size_t i = 0; i < json_array_size(m); i++)
        listed |= strcmp(json_string_value(json_array_get(m, i)), "signatures/signDoc") == 0;
    assert_true(listed);
    json_t *want = json_pack("{s:[s], s:[[s]]}", "formats", "C", "envelope_properties", "Detached");
    assert_true(json_equal(json_object_get(j, "signature_formats"), want));
    json_decref(want);
    want = json_pack("[s]", "Ades-B-B");
    assert_true(json_equal(json_object_get(j, "conformance_levels"), want));
    json_decref(want);
    json_decref(j);

    r = qs_test_apid_post(F->d, "/csc/v1/info", NULL, "{}");
    assert_int_equal(r->status, 200);
    j = json_of(r);
    qs_test_http_free(r);
    m = json_object_get(j, "methods");
    assert_true(json_array_size(m) > 0);
    for (size_t i = 0; i < json_array_size(m); i++)
        assert_string_not_equal(json_string_value(json_array_get(m, i)), "signatures/signDoc");
    assert_null(json_object_get(j, "signature_formats"));
    assert_null(json_object_get(j, "conformance_levels"));
    json_decref(j);
    r = qs_test_apid_post(F->d, "/csc/v1/signatures/signDoc", F->p256.token, "{}");
    assert_int_equal(r->status, 404);
    qs_test_http_free(r);
}

/* Each attack is refused with its CSC error; nothing is signed or consumed. */
static void test_attacks(void **state)
{
    (void)state;
    signer *a = &F->p256;
    uint8_t raw[EVP_MAX_MD_SIZE];
    size_t raw_len = 0;
    char d1[128], d2[128], d3[128], x[128], hashes[400];
    document("attack-1.bin", EVP_sha256(), raw, &raw_len, d1);
    document("attack-2.bin", EVP_sha256(), raw, &raw_len, d2);
    document("attack-3.bin", EVP_sha256(), raw, &raw_len, d3);
    random_digest(32, x);
    snprintf(hashes, sizeof hashes, "\"%s\",\"%s\"", d1, d2);
    char *sad = authorize(a, OID_SHA256, hashes, 2);
    long signed_before = audit_count("event_type = 'signature.created'");
    char q[512];

    /* a digest the SAD did not authorize */
    snprintf(q, sizeof q, "\"%s\"", x);
    expect_error(sign_doc(a, sad, q, NULL), 400, "invalid_request",
                 "Hash is not authorized by the SAD");
    /* ... not even next to authorized ones: the request is refused whole */
    snprintf(q, sizeof q, "\"%s\",\"%s\"", d1, x);
    expect_error(sign_doc(a, sad, q, NULL), 400, "invalid_request",
                 "Hash is not authorized by the SAD");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'hash_not_authorized'",
                                 a->s.user_id),
                     2);
    /* more digests than the SAD's numSignatures */
    snprintf(q, sizeof q, "\"%s\",\"%s\",\"%s\"", d1, d2, d3);
    expect_error(sign_doc(a, sad, q, NULL), 400, "invalid_request",
                 "Numbers of signatures is too high");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'too_many_signatures'",
                                 a->s.user_id),
                     1);
    /* another user's SAD, presented with one's own credential */
    char *osad = authorize(&F->other, OID_SHA256, q, 3);
    snprintf(q, sizeof q, "\"%s\"", d1);
    expect_error(sign_doc(a, osad, q, NULL), 400, "invalid_request", "Invalid parameter SAD");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'other_user'",
                                 a->s.user_id),
                     1);
    /* ... and with the other user's credential, which is not the caller's */
    expect_error(call(a, "/csc/v2/signatures/signDoc",
                      "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":"
                      "[\"%s\"],\"signature_format\":\"C\",\"signAlgo\":\"" OID_ECDSA_SHA256
                      "\"}]}",
                      F->other.cred, osad, d1),
                 400, "invalid_request", "Invalid parameter credentialID");
    /* formats, levels and packagings this service does not make: refused by qsignd, naming
     * the field */
    static const struct {
        const char *extra, *desc;
    } unsupported[] = {
        {",\"signature_format\":\"P\"", "Invalid parameter signature_format"},
        {",\"signature_format\":\"X\"", "Invalid parameter signature_format"},
        {",\"signature_format\":\"J\"", "Invalid parameter signature_format"},
        {",\"conformance_level\":\"Ades-B-T\"", "Invalid parameter conformance_level"},
        {",\"conformance_level\":\"Ades-B-LTA\"", "Invalid parameter conformance_level"},
        {",\"conformance_level\":\"Ades-T\"", "Invalid parameter conformance_level"},
        {",\"signed_envelope_property\":\"Attached\"",
         "Invalid parameter signed_envelope_property"},
        {",\"signed_envelope_property\":\"Enveloped\"",
         "Invalid parameter signed_envelope_property"},
        {",\"signed_props\":[]", "Unknown parameter signed_props"},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        /* signature_format is given once per entry: the bad one replaces "C" */
        qs_test_http *r;
        if (strncmp(unsupported[i].extra, ",\"signature_format\"", 19) == 0)
            r = call(a, "/csc/v2/signatures/signDoc",
                     "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":"
                     "[\"%s\"],\"signAlgo\":\"" OID_ECDSA_SHA256 "\"%s}]}",
                     a->cred, sad, d1, unsupported[i].extra);
        else
            r = sign_doc(a, sad, q, unsupported[i].extra);
        expect_error(r, 400, "invalid_request", unsupported[i].desc);
    }
    expect_error(call(a, "/csc/v2/signatures/signDoc",
                      "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documents\":[{\"document\":"
                      "\"AAAA\",\"signature_format\":\"C\",\"signAlgo\":\"" OID_ECDSA_SHA256
                      "\"}]}",
                      a->cred, sad),
                 400, "invalid_request", "Unknown parameter documents");
    /* entries that disagree on the algorithm (the SAD binds one) */
    expect_error(call(a, "/csc/v2/signatures/signDoc",
                      "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":"
                      "[\"%s\"],\"signature_format\":\"C\",\"signAlgo\":\"" OID_ECDSA_SHA256
                      "\"},{\"hashes\":[\"%s\"],\"signature_format\":\"C\",\"signAlgo\":"
                      "\"" OID_ECDSA_SHA384 "\"}]}",
                      a->cred, sad, d1, d2),
                 400, "invalid_request", "Invalid parameter signAlgo");
    expect_error(sign_doc(a, sad, q, ",\"hashAlgorithmOID\":\"" OID_SHA384 "\""), 400,
                 "invalid_request", "Invalid parameter hashAlgorithmOID");
    /* at most 100 digests in one request, however they are spread over the entries */
    char *many = malloc(101 * 48 + 1);
    assert_non_null(many);
    many[0] = '\0';
    for (int i = 0; i < 100; i++) {
        char one[128];
        random_digest(32, one);
        strcat(many, i > 0 ? ",\"" : "\"");
        strcat(many, one);
        strcat(many, "\"");
    }
    expect_error(call(a, "/csc/v2/signatures/signDoc",
                      "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"documentDigests\":[{\"hashes\":"
                      "[%s],\"signature_format\":\"C\",\"signAlgo\":\"" OID_ECDSA_SHA256
                      "\"},{\"hashes\":[\"%s\"],\"signature_format\":\"C\",\"signAlgo\":"
                      "\"" OID_ECDSA_SHA256 "\"}]}",
                      a->cred, sad, many, d1),
                 400, "invalid_request", "Invalid parameter documentDigests");
    free(many);
    /* none of that reached the SAM's signing, none consumed anything */
    assert_int_equal(audit_count("event_type = 'signature.created'"), signed_before);
    assert_int_equal(audit_count("event_type = 'sign_doc.failed'"), 0);
    expect_sad_state(sad, "2|0");
    expect_sad_state(osad, "3|0");

    /* the SAD still works, each digest once */
    snprintf(q, sizeof q, "\"%s\"", d1);
    qs_test_http *r = sign_doc(a, sad, q, NULL);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    expect_sad_state(sad, "1|1");
    /* replay: by signDoc, and by signHash (one consumption for both) */
    expect_error(sign_doc(a, sad, q, NULL), 400, "invalid_request",
                 "Hash is not authorized by the SAD");
    expect_error(call(a, "/csc/v2/signatures/signHash",
                      "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                      "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
                      a->cred, sad, d1),
                 400, "invalid_request", "Hash is not authorized by the SAD");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'hash_consumed'",
                                 a->s.user_id),
                     1);
    assert_int_equal(audit_count("event_type = 'sign.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'hash_consumed'",
                                 a->s.user_id),
                     1);
    expect_sad_state(sad, "1|1");
    assert_int_equal(audit_count("event_type = 'signature.created'"), signed_before + 1);
    /* the other user's SAD was never touched */
    snprintf(q, sizeof q, "\"%s\"", d3);
    r = sign_doc(&F->other, osad, q, NULL);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    expect_sad_state(osad, "2|1");
    free(sad);
    free(osad);
}

/* A credential without a certificate, and one whose certificate is revoked: refused before
 * anything is consumed. */
static void test_certificate_required(void **state)
{
    (void)state;
    signer *n = &F->nocert;
    char d1[128], q[160];
    random_digest(32, d1);
    snprintf(q, sizeof q, "\"%s\"", d1);
    char *sad = authorize(n, OID_SHA256, q, 1);
    expect_error(sign_doc(n, sad, q, NULL), 400, "invalid_request",
                 "The credential has no signing certificate");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'no_certificate'",
                                 n->s.user_id),
                     1);
    expect_sad_state(sad, "1|0");
    /* signHash has no certificate to put anywhere: the same SAD still signs the digest */
    qs_test_http *r = call(n, "/csc/v2/signatures/signHash",
                           "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[%s],"
                           "\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
                           n->cred, sad, q);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    free(sad);

    /* revoked: the certificate is checked before the key is used */
    signer *o = &F->other;
    random_digest(32, d1);
    snprintf(q, sizeof q, "\"%s\"", d1);
    sad = authorize(o, OID_SHA256, q, 1);
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    qs_sam_revoke_req rq = {.credential_id = o->cred, .crl_reason = 1, .actor = "test-officer"};
    assert_int_equal(qs_sam_client_revoke(c, &rq), QS_OK);
    qs_sam_client_close(c);
    expect_error(sign_doc(o, sad, q, NULL), 400, "invalid_request",
                 "Signing certificate is revoked");
    expect_sad_state(sad, "1|0");
    assert_int_equal(audit_count("event_type = 'sign_doc.refused' AND user_id = '%s' AND "
                                 "details::jsonb->>'reason' = 'certificate_revoked'",
                                 o->s.user_id),
                     1);
    free(sad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),    cmocka_unit_test(test_ec_p256),
        cmocka_unit_test(test_ec_p384), cmocka_unit_test(test_rsa_pkcs1),
        cmocka_unit_test(test_rsa_pss), cmocka_unit_test(test_counted),
        cmocka_unit_test(test_attacks), cmocka_unit_test(test_certificate_required),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Status services, checked with the openssl command line: the CRL verifies, lists revoked
 * serials with their reasons (none for unspecified), keeps an expired revoked certificate and
 * carries ExpiredCertsOnCRL; `openssl verify -crl_check` rejects a revoked certificate with it.
 * OCSP: requests made by `openssl ocsp -reqout` parse; responses verify with `openssl ocsp` and
 * say good, revoked (time, reason) and unknown as the lookup says, echo the nonce and carry
 * ArchiveCutoff in every SingleResponse; another issuer gets `unauthorized`; garbage gets
 * `malformedRequest`.
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
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/integration/test_ca_fixture.h"
#include "tests/lib/testutil.h"

#define DAY     86400
#define YEAR    (365 * DAY)
#define HEX_MAX (2 * CA_SERIAL_MAX + 1)
#define N_CERTS 4

enum { EXPIRED_REVOKED, REVOKED, GOOD, REVOKED_UNSPEC };

static ca_fx fx;
static time_t now;
static ca_issued certs[N_CERTS];
static char hex[N_CERTS][HEX_MAX];
static EVP_PKEY *responder_key;
static X509 *responder;
static const ca_crl_reason reasons[N_CERTS] = {CA_CRL_KEY_COMPROMISE, CA_CRL_SUPERSEDED, 0,
                                               CA_CRL_UNSPECIFIED};
static time_t revoked_at[N_CERTS];

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = '\0';
}

static void issue_at(time_t when, unsigned days, ca_issued *out)
{
    EVP_PKEY *k = fx_keygen("P-256");
    size_t len;
    uint8_t *spki = fx_spki(k, &len);
    ca_profile prof = fx.natural_profile;
    prof.validity_days = days;
    ca_issue_params p = {.profile = &prof,
                         .subject = &fx.natural,
                         .spki = spki,
                         .spki_len = len,
                         .ca_cert = fx.ca_cert,
                         .ca_key = fx.ca_key,
                         .urls = &fx.urls,
                         .now = when};
    ca_why why;
    qs_err r = ca_issue(&p, out, &why);
    if (r != QS_OK)
        fprintf(stderr, "ca_issue: %s %s\n", why.field, why.text);
    assert_int_equal(r, QS_OK);
    free(spki);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    now = time(NULL);
    fx_init(&fx, "ca-status", NULL, now - 3 * YEAR);
    /* One certificate that expired a year ago, three current ones. */
    issue_at(now - 2 * YEAR, 365, &certs[EXPIRED_REVOKED]);
    issue_at(now - DAY, 365, &certs[REVOKED]);
    issue_at(now - DAY, 365, &certs[GOOD]);
    issue_at(now - DAY, 365, &certs[REVOKED_UNSPEC]);
    revoked_at[EXPIRED_REVOKED] = now - 2 * YEAR + 30 * DAY;
    revoked_at[REVOKED] = now - 3600;
    revoked_at[REVOKED_UNSPEC] = now - 60;
    char name[32];
    for (int i = 0; i < N_CERTS; i++) {
        to_hex(certs[i].serial, certs[i].serial_len, hex[i]);
        snprintf(name, sizeof name, "cert%d.pem", i);
        fx_write_cert_pem(&fx, name, certs[i].der, certs[i].der_len);
    }

    responder_key = fx_keygen("P-256");
    size_t len;
    uint8_t *spki = fx_spki(responder_key, &len);
    ca_issued rc;
    ca_why why;
    if (ca_issue_ocsp_responder(fx.ca_cert, fx.ca_key, spki, len, &fx.responder, 30, now - DAY, &rc,
                                &why) != QS_OK) {
        fprintf(stderr, "responder: %s\n", why.text);
        return -1;
    }
    responder = fx_x509(rc.der, rc.der_len);
    fx_write_cert_pem(&fx, "responder.pem", rc.der, rc.der_len);
    ca_issued_clear(&rc);
    free(spki);
    if (qs_test_system("command -v openssl >/dev/null 2>&1") != 0)
        qs_test_skip("the openssl command line (package openssl) is not installed");
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < N_CERTS; i++)
        ca_issued_clear(&certs[i]);
    X509_free(responder);
    EVP_PKEY_free(responder_key);
    fx_free(&fx);
    return 0;
}

/* ---- CRL -------------------------------------------------------------------------------- */

static time_t ca_not_before(void)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(fx.ca_cert), &tm), 1);
    return timegm(&tm);
}

static ca_crl_params crl_params(ca_crl_entry *e, size_t *n)
{
    *n = 0;
    for (int i = 0; i < N_CERTS; i++) {
        if (i == GOOD)
            continue;
        e[*n] = (ca_crl_entry){.serial = certs[i].serial,
                               .serial_len = certs[i].serial_len,
                               .revoked_at = revoked_at[i],
                               .reason = reasons[i]};
        (*n)++;
    }
    return (ca_crl_params){.ca_cert = fx.ca_cert,
                           .ca_key = fx.ca_key,
                           .entries = e,
                           .n_entries = *n,
                           .crl_number = 42,
                           .this_update = now,
                           .next_update = now + DAY,
                           .expired_certs_on_crl = ca_not_before()};
}

static const X509_REVOKED *find_revoked(X509_CRL *crl, const ca_issued *c)
{
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
        const X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
        const ASN1_INTEGER *s = X509_REVOKED_get0_serialNumber(r);
        if ((size_t)ASN1_STRING_length(s) == c->serial_len &&
            memcmp(ASN1_STRING_get0_data(s), c->serial, c->serial_len) == 0)
            return r;
    }
    return NULL;
}

static void test_crl(void **state)
{
    ca_crl_entry e[N_CERTS];
    size_t n;
    ca_crl_params p = crl_params(e, &n);
    uint8_t *der = NULL;
    size_t len = 0;
    ca_why why;
    assert_int_equal(ca_crl_build(&p, &der, &len, &why), QS_OK);
    fx_write(&fx, "crl.der", der, len);

    assert_int_equal(fx_run(&fx, "openssl crl -inform DER -in crl.der -CAfile root.pem -verify "
                                 "-noout -text"),
                     0);
    const char *out = fx_out(&fx);
    assert_non_null(strstr(out, "verify OK"));
    assert_non_null(strstr(out, "Version 2"));
    assert_non_null(strstr(out, "X509v3 CRL Number: \n                42"));
    assert_non_null(strstr(out, "2.5.29.60"));
    const char *a = strstr(out, hex[EXPIRED_REVOKED]);
    assert_non_null(a);
    assert_non_null(strstr(a, "Key Compromise"));
    assert_non_null(strstr(out, hex[REVOKED]));
    assert_non_null(strstr(out, "Superseded"));
    assert_non_null(strstr(out, hex[REVOKED_UNSPEC]));
    assert_null(strstr(out, hex[GOOD]));

    const unsigned char *q = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
    assert_non_null(crl);
    assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(fx.ca_cert)), 1);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);

    /* The expired certificate is still listed, with its reason and time. */
    assert_true(certs[EXPIRED_REVOKED].not_after < now);
    const X509_REVOKED *r = find_revoked(crl, &certs[EXPIRED_REVOKED]);
    assert_non_null(r);
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
    assert_non_null(reason);
    assert_int_equal(ASN1_ENUMERATED_get(reason), CA_CRL_KEY_COMPROMISE);
    ASN1_ENUMERATED_free(reason);
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_REVOKED_get0_revocationDate(r), &tm), 1);
    assert_int_equal(timegm(&tm), revoked_at[EXPIRED_REVOKED]);
    /* Unspecified: no reasonCode entry extension at all. */
    r = find_revoked(crl, &certs[REVOKED_UNSPEC]);
    assert_non_null(r);
    assert_int_equal(X509_REVOKED_get_ext_count(r), 0);

    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    assert_int_equal(ASN1_INTEGER_get(num), 42);
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    assert_non_null(aki);
    assert_int_equal(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(fx.ca_cert)), 0);
    AUTHORITY_KEYID_free(aki);

    /* ExpiredCertsOnCRL: non-critical, a GeneralizedTime equal to what was asked. */
    ASN1_OBJECT *oid = OBJ_txt2obj(CA_OID_EXPIRED_CERTS_CRL, 1);
    int idx = X509_CRL_get_ext_by_OBJ(crl, oid, -1);
    ASN1_OBJECT_free(oid);
    assert_true(idx >= 0);
    X509_EXTENSION *ext = X509_CRL_get_ext(crl, idx);
    assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *vp = ASN1_STRING_get0_data(v);
    ASN1_GENERALIZEDTIME *gt = d2i_ASN1_GENERALIZEDTIME(NULL, &vp, ASN1_STRING_length(v));
    assert_non_null(gt);
    assert_ptr_equal(vp, ASN1_STRING_get0_data(v) + ASN1_STRING_length(v));
    assert_int_equal(ASN1_TIME_to_tm(gt, &tm), 1);
    assert_int_equal(timegm(&tm), ca_not_before());
    ASN1_GENERALIZEDTIME_free(gt);
    X509_CRL_free(crl);

    /* Path validation with the CRL: the revoked certificate fails, the good one passes. */
    assert_int_equal(fx_run(&fx, "openssl crl -inform DER -in crl.der -out crl.pem"), 0);
    assert_int_not_equal(fx_run(&fx,
                                "openssl verify -crl_check -CRLfile crl.pem -CAfile root.pem "
                                "cert%d.pem",
                                REVOKED),
                         0);
    assert_non_null(strstr(fx_out(&fx), "certificate revoked"));
    assert_int_equal(fx_run(&fx,
                            "openssl verify -crl_check -CRLfile crl.pem -CAfile root.pem "
                            "cert%d.pem",
                            GOOD),
                     0);
    free(der);
}

static void crl_refused(ca_crl_params *p, ca_reason reason)
{
    uint8_t *der = (uint8_t *)1;
    size_t len = 1;
    ca_why why;
    qs_err r = ca_crl_build(p, &der, &len, &why);
    if (r == QS_OK || why.reason != reason)
        fprintf(stderr, "crl: r=%d %s %s\n", r, ca_reason_name(why.reason), why.text);
    assert_int_equal(r, QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, reason);
    assert_null(der);
    assert_int_equal(len, 0);
}

static void test_crl_refusals(void **state)
{
    ca_crl_entry e[N_CERTS + 1];
    size_t n;
    ca_crl_params p = crl_params(e, &n);

    /* The same serial twice, once with a leading zero octet. */
    uint8_t padded[CA_SERIAL_MAX + 1] = {0};
    memcpy(padded + 1, certs[REVOKED].serial, certs[REVOKED].serial_len);
    e[n] = (ca_crl_entry){padded, certs[REVOKED].serial_len + 1, now - 10, CA_CRL_SUPERSEDED};
    p.n_entries = n + 1;
    crl_refused(&p, CA_R_BAD_REVOCATION);

    p = crl_params(e, &n);
    e[0].reason = CA_CRL_REMOVE_FROM_CRL;
    crl_refused(&p, CA_R_BAD_REVOCATION);
    e[0].reason = (ca_crl_reason)7;
    crl_refused(&p, CA_R_BAD_REVOCATION);

    p = crl_params(e, &n);
    static const uint8_t zero[] = {0, 0};
    e[0].serial = zero;
    e[0].serial_len = sizeof zero;
    crl_refused(&p, CA_R_BAD_REVOCATION);
    static const uint8_t too_long[CA_SERIAL_MAX + 1] = {1};
    e[0].serial = too_long;
    e[0].serial_len = sizeof too_long;
    crl_refused(&p, CA_R_BAD_REVOCATION);

    p = crl_params(e, &n);
    e[1].revoked_at = now + 10;
    crl_refused(&p, CA_R_BAD_REVOCATION);

    p = crl_params(e, &n);
    p.next_update = p.this_update;
    crl_refused(&p, CA_R_BAD_VALIDITY);
    p = crl_params(e, &n);
    p.expired_certs_on_crl = now + 1;
    crl_refused(&p, CA_R_BAD_VALIDITY);

    p = crl_params(e, &n);
    EVP_PKEY *other = fx_keygen("P-384");
    p.ca_key = other;
    crl_refused(&p, CA_R_CA_MISMATCH);
    EVP_PKEY_free(other);

    /* An empty CRL is fine. */
    p = crl_params(e, &n);
    p.n_entries = 0;
    uint8_t *der = NULL;
    size_t len = 0;
    ca_why why;
    assert_int_equal(ca_crl_build(&p, &der, &len, &why), QS_OK);
    free(der);
}

/* ---- OCSP ------------------------------------------------------------------------------- */

typedef struct lookup_ctx {
    int calls;
    qs_err fail_with;
    bool bad_reason; /* answer every serial revoked with reason 7 */
} lookup_ctx;

static qs_err lookup(void *vctx, const uint8_t *serial, size_t len, ca_cert_status *out)
{
    lookup_ctx *ctx = vctx;
    ctx->calls++;
    if (ctx->fail_with != QS_OK)
        return ctx->fail_with;
    if (ctx->bad_reason) {
        *out = (ca_cert_status){CA_CERT_REVOKED, now - 10, (ca_crl_reason)7};
        return QS_OK;
    }
    *out = (ca_cert_status){.state = CA_CERT_UNKNOWN};
    for (int i = 0; i < N_CERTS; i++) {
        if (len != certs[i].serial_len || memcmp(serial, certs[i].serial, len) != 0)
            continue;
        if (i == GOOD)
            out->state = CA_CERT_GOOD;
        else
            *out = (ca_cert_status){CA_CERT_REVOKED, revoked_at[i], reasons[i]};
    }
    return QS_OK;
}

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", fx.dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(CA_OCSP_REQUEST_MAX + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, CA_OCSP_REQUEST_MAX + 1, f);
    fclose(f);
    return buf;
}

static ca_ocsp_response_params resp_params(const ca_ocsp_request *req, lookup_ctx *ctx)
{
    return (ca_ocsp_response_params){.req = req,
                                     .lookup = lookup,
                                     .lookup_ctx = ctx,
                                     .responder_cert = responder,
                                     .responder_key = responder_key,
                                     .ca_cert = fx.ca_cert,
                                     .archive_cutoff = ca_not_before(),
                                     .this_update = now,
                                     .next_update = now + 3600};
}

/* Parses dir/req.der, answers it, writes dir/resp.der. */
static void answer(const char *req_name, ca_ocsp_request *req, lookup_ctx *ctx)
{
    size_t len;
    uint8_t *der = read_file(req_name, &len);
    assert_int_equal(ca_ocsp_request_parse(der, len, req), QS_OK);
    free(der);
    ca_ocsp_response_params p = resp_params(req, ctx);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    ca_why why;
    qs_err r = ca_ocsp_response_build(&p, &resp, &resp_len, &why);
    if (r != QS_OK)
        fprintf(stderr, "response: %s %s\n", why.field, why.text);
    assert_int_equal(r, QS_OK);
    fx_write(&fx, "resp.der", resp, resp_len);
    free(resp);
}

static void test_ocsp_statuses(void **state)
{
    assert_int_equal(fx_run(&fx,
                            "openssl ocsp -issuer root.pem -serial 0x%s -serial 0x%s "
                            "-serial 0x%s -serial 0x%s -serial 0xDEADBEEF -reqout req.der",
                            hex[GOOD], hex[EXPIRED_REVOKED], hex[REVOKED], hex[REVOKED_UNSPEC]),
                     0);
    ca_ocsp_request req;
    lookup_ctx ctx = {0};
    answer("req.der", &req, &ctx);
    assert_int_equal(req.n, 5);
    assert_int_equal(ctx.calls, 5);
    assert_true(req.has_nonce);
    assert_int_equal(req.nonce_len, 16);

    /* The CertIDs as openssl made them: SHA-1 of our name and key, the serials. */
    unsigned char *name = NULL;
    int nlen = i2d_X509_NAME(X509_get_subject_name(fx.ca_cert), &name);
    unsigned char nh[20], kh[20];
    assert_int_equal(EVP_Digest(name, (size_t)nlen, nh, NULL, EVP_sha1(), NULL), 1);
    OPENSSL_free(name);
    const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(fx.ca_cert);
    assert_int_equal(EVP_Digest(ASN1_STRING_get0_data(key), (size_t)ASN1_STRING_length(key), kh,
                                NULL, EVP_sha1(), NULL),
                     1);
    for (size_t i = 0; i < req.n; i++) {
        assert_int_equal(req.ids[i].hash, CA_HASH_SHA1);
        assert_int_equal(req.ids[i].name_hash_len, 20);
        assert_memory_equal(req.ids[i].name_hash, nh, 20);
        assert_memory_equal(req.ids[i].key_hash, kh, 20);
    }
    assert_int_equal(req.ids[0].serial_len, certs[GOOD].serial_len);
    assert_memory_equal(req.ids[0].serial, certs[GOOD].serial, certs[GOOD].serial_len);

    /* The nonce: openssl compares the response's with the one in req.der (else it fails with
     * "Nonce Verify error"). */
    assert_int_equal(fx_run(&fx, "openssl ocsp -respin resp.der -reqin req.der -CAfile root.pem"),
                     0);
    assert_non_null(strstr(fx_out(&fx), "Response verify OK"));
    assert_null(strstr(fx_out(&fx), "WARNING"));
    /* Statuses per serial (-serial makes openssl build its own request, hence -no_nonce). */
    int rc = fx_run(&fx,
                    "openssl ocsp -respin resp.der -no_nonce -issuer root.pem -CAfile "
                    "root.pem -resp_text -serial 0x%s -serial 0x%s -serial 0x%s -serial "
                    "0x%s -serial 0xDEADBEEF",
                    hex[GOOD], hex[EXPIRED_REVOKED], hex[REVOKED], hex[REVOKED_UNSPEC]);
    const char *out = fx_out(&fx);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    if (strstr(out, "Response verify OK") == NULL)
        fprintf(stderr, "%s\n", out);
    assert_non_null(strstr(out, "Response verify OK"));
    assert_null(strstr(out, "WARNING"));
    char line[128];
    snprintf(line, sizeof line, "0x%s: good", hex[GOOD]);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "0x%s: revoked", hex[EXPIRED_REVOKED]);
    const char *at = strstr(out, line);
    assert_non_null(at);
    const char *reason = strstr(at, "Reason: keyCompromise");
    assert_non_null(reason);
    snprintf(line, sizeof line, "0x%s: revoked", hex[REVOKED]);
    at = strstr(out, line);
    assert_non_null(at);
    assert_non_null(strstr(at, "Reason: superseded"));
    snprintf(line, sizeof line, "0x%s: revoked", hex[REVOKED_UNSPEC]);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "0xDEADBEEF: unknown"));
    assert_non_null(strstr(out, "OCSP Nonce"));
    assert_non_null(strstr(out, "Archive Cutoff"));

    /* The same, read back through the OpenSSL API. */
    size_t len;
    uint8_t *der = read_file("resp.der", &len);
    const unsigned char *q = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &q, (long)len);
    assert_non_null(resp);
    assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    OCSP_BASICRESP *bs = OCSP_response_get1_basic(resp);
    assert_non_null(bs);
    uint8_t *reqder = read_file("req.der", &len);
    q = reqder;
    OCSP_REQUEST *oreq = d2i_OCSP_REQUEST(NULL, &q, (long)len);
    assert_non_null(oreq);
    assert_int_equal(OCSP_check_nonce(oreq, bs), 1);
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(store, fx.ca_cert), 1);
    assert_int_equal(OCSP_basic_verify(bs, NULL, store, 0), 1);
    assert_int_equal(OCSP_resp_count(bs), 5);
    const int want[5] = {V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_REVOKED,
                         V_OCSP_CERTSTATUS_REVOKED, V_OCSP_CERTSTATUS_REVOKED,
                         V_OCSP_CERTSTATUS_UNKNOWN};
    const int want_reason[5] = {-1, CA_CRL_KEY_COMPROMISE, CA_CRL_SUPERSEDED, -1, -1};
    const time_t want_time[5] = {0, revoked_at[EXPIRED_REVOKED], revoked_at[REVOKED],
                                 revoked_at[REVOKED_UNSPEC], 0};
    for (int i = 0; i < 5; i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        int rsn = -99;
        ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
        assert_int_equal(OCSP_single_get0_status(single, &rsn, &rev, &tu, &nu), want[i]);
        struct tm tm;
        if (want[i] == V_OCSP_CERTSTATUS_REVOKED) {
            assert_int_equal(rsn, want_reason[i]);
            assert_int_equal(ASN1_TIME_to_tm(rev, &tm), 1);
            assert_int_equal(timegm(&tm), want_time[i]);
        }
        assert_int_equal(ASN1_TIME_to_tm(tu, &tm), 1);
        assert_int_equal(timegm(&tm), now);
        assert_int_equal(ASN1_TIME_to_tm(nu, &tm), 1);
        assert_int_equal(timegm(&tm), now + 3600);
        ASN1_GENERALIZEDTIME *cut =
            OCSP_SINGLERESP_get1_ext_d2i(single, NID_id_pkix_OCSP_archiveCutoff, NULL, NULL);
        assert_non_null(cut);
        assert_int_equal(ASN1_TIME_to_tm(cut, &tm), 1);
        assert_int_equal(timegm(&tm), ca_not_before());
        ASN1_GENERALIZEDTIME_free(cut);
    }
    X509_STORE_free(store);
    OCSP_REQUEST_free(oreq);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    free(reqder);
    free(der);
}

static void test_ocsp_sha256_no_nonce_signed(void **state)
{
    /* SHA-256 CertIDs, no nonce, and a signed request (the signature is ignored). */
    fx_write_key_pem(&fx, "responder.key", responder_key);
    assert_int_equal(fx_run(&fx,
                            "openssl ocsp -sha256 -no_nonce -issuer root.pem -serial 0x%s "
                            "-signer responder.pem -signkey responder.key -reqout req2.der",
                            hex[GOOD]),
                     0);
    ca_ocsp_request req;
    lookup_ctx ctx = {0};
    answer("req2.der", &req, &ctx);
    assert_int_equal(req.n, 1);
    assert_int_equal(req.ids[0].hash, CA_HASH_SHA256);
    assert_false(req.has_nonce);
    assert_int_equal(ctx.calls, 1);
    assert_int_equal(fx_run(&fx,
                            "openssl ocsp -respin resp.der -sha256 -issuer root.pem -CAfile "
                            "root.pem -serial 0x%s -resp_text",
                            hex[GOOD]),
                     0);
    char line[128];
    snprintf(line, sizeof line, "0x%s: good", hex[GOOD]);
    assert_non_null(strstr(fx_out(&fx), line));
    assert_null(strstr(fx_out(&fx), "OCSP Nonce"));
}

static void test_ocsp_other_issuer(void **state)
{
    ca_fx other;
    fx_init(&other, "ca-status-other", NULL, 0);
    fx_write_x509_pem(&fx, "other.pem", other.ca_cert);
    fx_free(&other);

    /* Only another CA's certificates: unauthorized, no lookup. */
    assert_int_equal(
        fx_run(&fx, "openssl ocsp -issuer other.pem -serial 0x%s -reqout req3.der", hex[GOOD]), 0);
    ca_ocsp_request req;
    lookup_ctx ctx = {0};
    answer("req3.der", &req, &ctx);
    assert_int_equal(ctx.calls, 0);
    fx_run(&fx, "openssl ocsp -respin resp.der -resp_text -noverify");
    assert_non_null(strstr(fx_out(&fx), "Responder Error: unauthorized (6)"));

    /* Mixed: ours is answered, the other CA's CertID is unknown and not looked up. */
    assert_int_equal(fx_run(&fx,
                            "openssl ocsp -issuer root.pem -serial 0x%s -issuer other.pem "
                            "-serial 0x%s -reqout req4.der",
                            hex[GOOD], hex[GOOD]),
                     0);
    ctx.calls = 0;
    answer("req4.der", &req, &ctx);
    assert_int_equal(req.n, 2);
    assert_int_equal(ctx.calls, 1);
    /* OpenSSL accepts a delegated responder's answer only when every CertID names the
     * responder's own CA, so the response is checked against the responder certificate. */
    assert_int_equal(fx_run(&fx, "openssl ocsp -respin resp.der -reqin req4.der -VAfile "
                                 "responder.pem -resp_text"),
                     0);
    const char *out = fx_out(&fx);
    assert_non_null(strstr(out, "Response verify OK"));
    assert_non_null(strstr(out, "Cert Status: good"));
    assert_non_null(strstr(out, "Cert Status: unknown"));
}

static void test_ocsp_errors(void **state)
{
    static const uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
    ca_ocsp_request req;
    assert_int_equal(ca_ocsp_request_parse(garbage, sizeof garbage - 1, &req), QS_ERR_PARSE);
    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(ca_ocsp_error_response(CA_OCSP_MALFORMED_REQUEST, &der, &len), QS_OK);
    fx_write(&fx, "malformed.der", der, len);
    free(der);
    fx_run(&fx, "openssl ocsp -respin malformed.der -resp_text -noverify");
    assert_non_null(strstr(fx_out(&fx), "Responder Error: malformedrequest (1)"));

    /* A failing lookup fails the response; the caller answers tryLater. */
    size_t rlen;
    uint8_t *rder = read_file("req.der", &rlen);
    assert_int_equal(ca_ocsp_request_parse(rder, rlen, &req), QS_OK);
    free(rder);
    lookup_ctx ctx = {.fail_with = QS_ERR_DB_UNAVAILABLE};
    ca_ocsp_response_params p = resp_params(&req, &ctx);
    ca_why why;
    assert_int_equal(ca_ocsp_response_build(&p, &der, &len, &why), QS_ERR_DB_UNAVAILABLE);
    assert_null(der);
    assert_int_equal(ca_ocsp_error_response(CA_OCSP_TRY_LATER, &der, &len), QS_OK);
    fx_write(&fx, "trylater.der", der, len);
    free(der);
    fx_run(&fx, "openssl ocsp -respin trylater.der -resp_text -noverify");
    assert_non_null(strstr(fx_out(&fx), "Responder Error: trylater (3)"));
    assert_int_equal(ca_ocsp_error_response((ca_ocsp_error)4, &der, &len), QS_ERR_INVALID_ARGUMENT);

    /* A lookup answer OCSP cannot carry is our bug: refused, nothing signed. */
    ctx = (lookup_ctx){.bad_reason = true};
    p = resp_params(&req, &ctx);
    assert_int_equal(ca_ocsp_response_build(&p, &der, &len, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_BAD_REVOCATION);
    assert_null(der);

    /* Only a responder the CA delegated may sign: a certificate without OCSPSigning may not. */
    ctx = (lookup_ctx){0};
    p = resp_params(&req, &ctx);
    p.responder_cert = fx_x509(certs[GOOD].der, certs[GOOD].der_len);
    assert_int_equal(ca_ocsp_response_build(&p, &der, &len, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_CA_MISMATCH);
    X509_free(p.responder_cert);
    /* The CA itself may. */
    p.responder_cert = fx.ca_cert;
    p.responder_key = fx.ca_key;
    assert_int_equal(ca_ocsp_response_build(&p, &der, &len, &why), QS_OK);
    free(der);
}

/* Requests built with OpenSSL's API that the parser must refuse. */
static uint8_t *req_der(OCSP_REQUEST *r, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_OCSP_REQUEST(r, &der);
    assert_true(n > 0);
    uint8_t *copy = malloc((size_t)n + 1);
    assert_non_null(copy);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static OCSP_REQUEST *request_with(int ids)
{
    OCSP_REQUEST *r = OCSP_REQUEST_new();
    assert_non_null(r);
    for (int i = 0; i < ids; i++) {
        OCSP_CERTID *id = OCSP_cert_to_id(NULL, responder, fx.ca_cert);
        assert_non_null(id);
        assert_non_null(OCSP_request_add0_id(r, id));
    }
    return r;
}

static void parse_refused(OCSP_REQUEST *r, qs_err want)
{
    size_t len;
    uint8_t *der = req_der(r, &len);
    ca_ocsp_request req;
    assert_int_equal(ca_ocsp_request_parse(der, len, &req), want);
    assert_int_equal(req.n, 0);
    free(der);
    OCSP_REQUEST_free(r);
}

static void test_ocsp_parser_refusals(void **state)
{
    ca_ocsp_request req;
    size_t len;
    uint8_t *der;

    OCSP_REQUEST *r = request_with(CA_OCSP_CERTIDS_MAX);
    der = req_der(r, &len);
    assert_int_equal(ca_ocsp_request_parse(der, len, &req), QS_OK);
    assert_int_equal(req.n, CA_OCSP_CERTIDS_MAX);
    /* Trailing data, truncation, an empty input. */
    der[len] = 0;
    assert_int_equal(ca_ocsp_request_parse(der, len + 1, &req), QS_ERR_PARSE);
    assert_int_equal(ca_ocsp_request_parse(der, len - 1, &req), QS_ERR_PARSE);
    assert_int_equal(ca_ocsp_request_parse(der, 0, &req), QS_ERR_PARSE);
    free(der);
    OCSP_REQUEST_free(r);

    parse_refused(request_with(CA_OCSP_CERTIDS_MAX + 1), QS_ERR_PARSE);
    parse_refused(request_with(0), QS_ERR_PARSE);

    /* Nonces: 33 octets, or twice. */
    unsigned char nonce[CA_OCSP_NONCE_MAX + 1] = {1};
    r = request_with(1);
    assert_int_equal(OCSP_request_add1_nonce(r, nonce, sizeof nonce), 1);
    parse_refused(r, QS_ERR_PARSE);
    r = request_with(1);
    assert_int_equal(OCSP_request_add1_nonce(r, nonce, 16), 1);
    X509_EXTENSION *twice = X509_EXTENSION_dup(OCSP_REQUEST_get_ext(r, 0));
    assert_non_null(twice);
    assert_int_equal(OCSP_REQUEST_add_ext(r, twice, -1), 1);
    X509_EXTENSION_free(twice);
    assert_int_equal(OCSP_REQUEST_get_ext_count(r), 2);
    parse_refused(r, QS_ERR_PARSE);
    r = request_with(1);
    assert_int_equal(OCSP_request_add1_nonce(r, nonce, CA_OCSP_NONCE_MAX), 1);
    der = req_der(r, &len);
    assert_int_equal(ca_ocsp_request_parse(der, len, &req), QS_OK);
    assert_int_equal(req.nonce_len, CA_OCSP_NONCE_MAX);
    free(der);
    OCSP_REQUEST_free(r);

    /* An unknown critical extension is refused; a non-critical one is ignored. */
    r = request_with(1);
    X509_EXTENSION *ext =
        X509V3_EXT_nconf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
    assert_non_null(ext);
    assert_int_equal(OCSP_REQUEST_add_ext(r, ext, -1), 1);
    X509_EXTENSION_free(ext);
    parse_refused(r, QS_ERR_PARSE);
    r = request_with(1);
    ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_basic_constraints, "CA:TRUE");
    assert_int_equal(OCSP_REQUEST_add_ext(r, ext, -1), 1);
    X509_EXTENSION_free(ext);
    der = req_der(r, &len);
    assert_int_equal(ca_ocsp_request_parse(der, len, &req), QS_OK);
    free(der);
    OCSP_REQUEST_free(r);

    /* Version v2 is not a version RFC 6960 defines. */
    static const uint8_t v2_head[] = {0x30, 0x00, 0x30, 0x00, 0xa0, 0x03, 0x02, 0x01, 0x01};
    r = request_with(1);
    der = req_der(r, &len);
    OCSP_REQUEST_free(r);
    /* Rebuild: SEQUENCE { SEQUENCE { [0] INTEGER 1, requestList } } from the v1 encoding. */
    const unsigned char *p = der;
    long inner_len;
    int tag, xclass;
    assert_int_equal(ASN1_get_object(&p, &inner_len, &tag, &xclass, (long)len) & 0x80, 0);
    const unsigned char *tbs = p;
    long tbs_len;
    assert_int_equal(ASN1_get_object(&p, &tbs_len, &tag, &xclass, inner_len) & 0x80, 0);
    size_t body = (size_t)tbs_len + 5;
    assert_true(body < 128 && tbs == der + 2 && p == der + 4);
    uint8_t v2[256];
    memcpy(v2, v2_head, sizeof v2_head);
    v2[0] = 0x30;
    v2[1] = (uint8_t)(body + 2);
    v2[2] = 0x30;
    v2[3] = (uint8_t)body;
    memcpy(v2 + 9, p, (size_t)tbs_len);
    assert_int_equal(ca_ocsp_request_parse(v2, body + 4, &req), QS_ERR_PARSE);
    v2[8] = 0x00; /* an explicit v1 is not DER (DEFAULT) */
    assert_int_equal(ca_ocsp_request_parse(v2, body + 4, &req), QS_ERR_PARSE);
    free(der);

    /* Too large. */
    uint8_t *big = calloc(1, CA_OCSP_REQUEST_MAX + 1);
    assert_non_null(big);
    assert_int_equal(ca_ocsp_request_parse(big, CA_OCSP_REQUEST_MAX + 1, &req), QS_ERR_TOO_LARGE);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_crl_refusals),
        cmocka_unit_test(test_ocsp_statuses),
        cmocka_unit_test(test_ocsp_sha256_no_nonce_signed),
        cmocka_unit_test(test_ocsp_other_issuer),
        cmocka_unit_test(test_ocsp_errors),
        cmocka_unit_test(test_ocsp_parser_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

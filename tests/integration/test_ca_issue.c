/*
 * Certificates from the CA module, checked with the openssl command line and field by field:
 * natural-person (QCP-n-qscd) and legal-person (QCP-l-qscd) certificates verify with policy
 * checking; their subjects, extensions and qcStatements are exactly the profile's; every bad
 * input is refused with its reason and produces nothing; the profile check refuses broken
 * profiles and tampered certificates; proof of possession through PKCS#10; the CA and OCSP
 * responder certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "tests/integration/test_ca_fixture.h"
#include "tests/lib/testutil.h"

static ca_fx fx;
static EVP_PKEY *natural_key, *legal_key;
static uint8_t *natural_spki, *legal_spki;
static size_t natural_spki_len, legal_spki_len;
static ca_issued natural_cert, legal_cert;

static int setup(void **state)
{
    fx_init(&fx, "ca-issue", NULL, 0);
    natural_key = fx_keygen("P-256");
    legal_key = fx_keygen("RSA-2048");
    natural_spki = fx_spki(natural_key, &natural_spki_len);
    legal_spki = fx_spki(legal_key, &legal_spki_len);
    return 0;
}

static int teardown(void **state)
{
    ca_issued_clear(&natural_cert);
    ca_issued_clear(&legal_cert);
    free(natural_spki);
    free(legal_spki);
    EVP_PKEY_free(natural_key);
    EVP_PKEY_free(legal_key);
    fx_free(&fx);
    return 0;
}

static ca_issue_params params(const ca_profile *profile, const ca_subject *subject,
                              const uint8_t *spki, size_t spki_len)
{
    return (ca_issue_params){.profile = profile,
                             .subject = subject,
                             .spki = spki,
                             .spki_len = spki_len,
                             .ca_cert = fx.ca_cert,
                             .ca_key = fx.ca_key,
                             .urls = &fx.urls};
}

static void issue_ok(const ca_profile *profile, const ca_subject *subject, const uint8_t *spki,
                     size_t spki_len, ca_issued *out)
{
    ca_why why;
    ca_issue_params p = params(profile, subject, spki, spki_len);
    qs_err r = ca_issue(&p, out, &why);
    if (r != QS_OK)
        fprintf(stderr, "ca_issue: %s %s: %s\n", ca_reason_name(why.reason), why.field, why.text);
    assert_int_equal(r, QS_OK);
    assert_non_null(out->der);
}

static void print_text(const char *pem, const char *title)
{
    assert_int_equal(fx_run(&fx, "openssl x509 -noout -text -nameopt oneline,-esc_msb -in %s", pem),
                     0);
    printf("----- %s -----\n%s", title, fx_out(&fx));
}

/* ---- issuing and verifying with openssl ------------------------------------------------- */

static void test_natural_person_verifies(void **state)
{
    issue_ok(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len, &natural_cert);
    fx_write_cert_pem(&fx, "natural.pem", natural_cert.der, natural_cert.der_len);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem -policy "
                                 "0.4.0.194112.1.2 -explicit_policy natural.pem"),
                     0);
    assert_non_null(strstr(fx_out(&fx), "natural.pem: OK"));
    /* The policy check is real: the seal policy is not in this certificate. */
    assert_int_not_equal(fx_run(&fx, "openssl verify -CAfile root.pem -policy 0.4.0.194112.1.3 "
                                     "-explicit_policy natural.pem"),
                         0);
    print_text("natural.pem", "natural person (QCP-n-qscd)");
}

static void test_legal_person_verifies(void **state)
{
    issue_ok(&fx.legal_profile, &fx.legal, legal_spki, legal_spki_len, &legal_cert);
    fx_write_cert_pem(&fx, "legal.pem", legal_cert.der, legal_cert.der_len);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem -policy "
                                 "0.4.0.194112.1.3 -explicit_policy legal.pem"),
                     0);
    assert_non_null(strstr(fx_out(&fx), "legal.pem: OK"));
    assert_int_not_equal(fx_run(&fx, "openssl verify -CAfile root.pem -policy 0.4.0.194112.1.2 "
                                     "-explicit_policy legal.pem"),
                         0);
    print_text("legal.pem", "legal person / seal (QCP-l-qscd)");
}

/* ---- field by field --------------------------------------------------------------------- */

static void assert_entry(X509_NAME *n, int i, int nid, int type, const char *value)
{
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
    assert_non_null(e);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), nid);
    const ASN1_STRING *d = X509_NAME_ENTRY_get_data(e);
    assert_int_equal(ASN1_STRING_type(d), type);
    assert_int_equal(ASN1_STRING_length(d), (int)strlen(value));
    assert_memory_equal(ASN1_STRING_get0_data(d), value, strlen(value));
}

static char *uri_text(const GENERAL_NAME *gn)
{
    static char buf[CA_URL_MAX + 1];
    assert_int_equal(gn->type, GEN_URI);
    int n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
    assert_true(n > 0 && n < (int)sizeof buf);
    memcpy(buf, ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), (size_t)n);
    buf[n] = '\0';
    return buf;
}

static void oid_equal(const ASN1_OBJECT *o, const char *want)
{
    char buf[128];
    assert_true(OBJ_obj2txt(buf, sizeof buf, o, 1) > 0);
    assert_string_equal(buf, want);
}

/* Checks what both end-entity profiles share; returns the decoded certificate. */
static X509 *check_common(const ca_issued *c, const char *policy)
{
    X509 *x = fx_x509(c->der, c->der_len);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_true(c->serial_len >= 8 && c->serial_len <= CA_SERIAL_LEN);
    assert_true((c->serial[0] & 0x80) == 0);
    assert_int_equal(c->not_after - c->not_before, 730 * 86400);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(fx.ca_cert)), 0);
    assert_int_equal(X509_get_ext_count(x), 8);

    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_int_equal(bc->ca, 0);
    assert_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);

    ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    assert_int_equal(X509_get_key_usage(x), KU_NON_REPUDIATION);

    CERTIFICATEPOLICIES *cps = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
    assert_non_null(cps);
    assert_int_equal(crit, 0);
    assert_int_equal(sk_POLICYINFO_num(cps), 2);
    const POLICYINFO *qcp = sk_POLICYINFO_value(cps, 0), *tsp = sk_POLICYINFO_value(cps, 1);
    oid_equal(qcp->policyid, policy);
    assert_null(qcp->qualifiers);
    oid_equal(tsp->policyid, FX_TSP_OID);
    assert_int_equal(sk_POLICYQUALINFO_num(tsp->qualifiers), 1);
    const POLICYQUALINFO *q = sk_POLICYQUALINFO_value(tsp->qualifiers, 0);
    assert_int_equal(OBJ_obj2nid(q->pqualid), NID_id_qt_cps);
    assert_memory_equal(ASN1_STRING_get0_data(q->d.cpsuri), FX_CPS_URI, strlen(FX_CPS_URI));
    CERTIFICATEPOLICIES_free(cps);

    AUTHORITY_KEYID *aki = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL);
    assert_non_null(aki);
    assert_int_equal(crit, 0);
    assert_int_equal(ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(fx.ca_cert)), 0);
    AUTHORITY_KEYID_free(aki);
    assert_non_null(X509_get0_subject_key_id(x));

    AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, &crit, NULL);
    assert_non_null(aia);
    assert_int_equal(crit, 0);
    assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
    const ACCESS_DESCRIPTION *ad0 = sk_ACCESS_DESCRIPTION_value(aia, 0);
    const ACCESS_DESCRIPTION *ad1 = sk_ACCESS_DESCRIPTION_value(aia, 1);
    assert_int_equal(OBJ_obj2nid(ad0->method), NID_ad_ca_issuers);
    assert_string_equal(uri_text(ad0->location), fx.urls.ca_issuers);
    assert_int_equal(OBJ_obj2nid(ad1->method), NID_ad_OCSP);
    assert_string_equal(uri_text(ad1->location), fx.urls.ocsp);
    AUTHORITY_INFO_ACCESS_free(aia);

    CRL_DIST_POINTS *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
    assert_non_null(dps);
    assert_int_equal(crit, 0);
    assert_int_equal(sk_DIST_POINT_num(dps), 1);
    const DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
    assert_string_equal(uri_text(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0)),
                        fx.urls.crl);
    CRL_DIST_POINTS_free(dps);
    return x;
}

static void check_qc(X509 *x, ca_qc_type type, ca_semantics sem)
{
    ca_qc_info qi;
    assert_int_equal(ca_qc_from_cert(x, &qi), QS_OK);
    assert_true(qi.compliance);
    assert_true(qi.sscd);
    assert_int_equal(qi.type_count, 1);
    assert_int_equal(qi.types[0], type);
    assert_int_equal(qi.pds_count, 1);
    assert_string_equal(qi.pds[0].url, FX_PDS_URL);
    assert_string_equal(qi.pds[0].lang, "en");
    assert_false(qi.has_retention);
    assert_int_equal(qi.cc_count, 0);
    assert_int_equal(qi.semantics, sem);
    assert_int_equal(qi.unknown, 0);
    int idx = X509_get_ext_by_NID(x, NID_qcStatements, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 0);
}

static void test_natural_person_fields(void **state)
{
    if (natural_cert.der == NULL)
        issue_ok(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len, &natural_cert);
    X509 *x = check_common(&natural_cert, CA_OID_QCP_N_QSCD);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_entry_count(n), 5);
    assert_entry(n, 0, NID_countryName, V_ASN1_PRINTABLESTRING, "EE");
    assert_entry(n, 1, NID_surname, V_ASN1_UTF8STRING, "Männik");
    assert_entry(n, 2, NID_givenName, V_ASN1_UTF8STRING, "Mari-Liis");
    assert_entry(n, 3, NID_serialNumber, V_ASN1_PRINTABLESTRING, "PNOEE-48010010101");
    assert_entry(n, 4, NID_commonName, V_ASN1_UTF8STRING, "Mari-Liis Männik");
    check_qc(x, CA_QC_TYPE_ESIGN, CA_SEMANTICS_NATURAL);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    assert_int_equal(EVP_PKEY_eq(pub, natural_key), 1);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(fx.ca_cert)), 1);
    ca_why why;
    assert_int_equal(ca_profile_check(x, &fx.natural_profile, &why), QS_OK);
    X509_free(x);
}

static void test_legal_person_fields(void **state)
{
    if (legal_cert.der == NULL)
        issue_ok(&fx.legal_profile, &fx.legal, legal_spki, legal_spki_len, &legal_cert);
    X509 *x = check_common(&legal_cert, CA_OID_QCP_L_QSCD);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_entry_count(n), 4);
    assert_entry(n, 0, NID_countryName, V_ASN1_PRINTABLESTRING, "BE");
    assert_entry(n, 1, NID_organizationName, V_ASN1_UTF8STRING, "Société Exemple SA");
    assert_entry(n, 2, NID_organizationIdentifier, V_ASN1_UTF8STRING, "VATBE-0123456789");
    assert_entry(n, 3, NID_commonName, V_ASN1_UTF8STRING, "Société Exemple e-seal");
    check_qc(x, CA_QC_TYPE_ESEAL, CA_SEMANTICS_LEGAL);
    ca_why why;
    assert_int_equal(ca_profile_check(x, &fx.legal_profile, &why), QS_OK);
    /* A seal certificate is not a natural-person certificate. */
    assert_int_equal(ca_profile_check(x, &fx.natural_profile, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_PROFILE_CHECK);
    X509_free(x);
}

/* An independent decoder: openssl asn1parse over the qcStatements value, in statement order. */
static void test_qc_statements_asn1parse(void **state)
{
    const ca_issued *certs[] = {&natural_cert, &legal_cert};
    const char *type_oid[] = {CA_OID_QC_TYPE_ESIGN, CA_OID_QC_TYPE_ESEAL};
    const char *sem_oid[] = {CA_OID_SEMANTICS_NATURAL, CA_OID_SEMANTICS_LEGAL};
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(certs[i]->der);
        X509 *x = fx_x509(certs[i]->der, certs[i]->der_len);
        int idx = X509_get_ext_by_NID(x, NID_qcStatements, -1);
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, idx));
        fx_write(&fx, "qc.der", ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
        X509_free(x);
        assert_int_equal(fx_run(&fx, "openssl asn1parse -inform DER -in qc.der"), 0);
        const char *out = fx_out(&fx);
        const char *want[] = {":" CA_OID_QC_COMPLIANCE,
                              ":" CA_OID_QC_SSCD,
                              ":" CA_OID_QC_TYPE,
                              type_oid[i],
                              ":" CA_OID_QC_PDS,
                              "IA5STRING         :" FX_PDS_URL,
                              "PRINTABLESTRING   :en",
                              ":" CA_OID_QCS_PKIX_SYNTAX_2,
                              sem_oid[i]};
        const char *at = out;
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            const char *hit = strstr(at, want[k]);
            if (hit == NULL)
                fprintf(stderr, "asn1parse output lacks %s after offset %td:\n%s\n", want[k],
                        at - out, out);
            assert_non_null(hit);
            at = hit + strlen(want[k]);
        }
    }
}

/* Optional statements: QcRetentionPeriod and a second PDS language, when the profile has them. */
static void test_optional_statements(void **state)
{
    ca_profile prof = fx.legal_profile;
    prof.retention_years = 30;
    prof.pds[1] = (ca_pds){.url = "https://qsign.example/pds/pds-fr.pdf", .lang = "fr"};
    prof.pds_count = 2;
    prof.tsp_policy_oid = NULL;
    prof.cps_uri = NULL;
    ca_issued out;
    issue_ok(&prof, &fx.legal, legal_spki, legal_spki_len, &out);
    X509 *x = fx_x509(out.der, out.der_len);
    ca_qc_info qi;
    assert_int_equal(ca_qc_from_cert(x, &qi), QS_OK);
    assert_true(qi.has_retention);
    assert_int_equal(qi.retention_years, 30);
    assert_int_equal(qi.pds_count, 2);
    assert_string_equal(qi.pds[1].lang, "fr");
    CERTIFICATEPOLICIES *cps = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
    assert_int_equal(sk_POLICYINFO_num(cps), 1);
    CERTIFICATEPOLICIES_free(cps);
    ca_why why;
    assert_int_equal(ca_profile_check(x, &prof, &why), QS_OK);
    /* The same certificate against the profile without retention: the statements differ. */
    prof.retention_years = 0;
    assert_int_equal(ca_profile_check(x, &prof, &why), QS_ERR_INVALID_ARGUMENT);
    assert_string_equal(why.field, "qcStatements");
    X509_free(x);
    fx_write_cert_pem(&fx, "legal-retention.pem", out.der, out.der_len);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem -policy "
                                 "0.4.0.194112.1.3 -explicit_policy legal-retention.pem"),
                     0);
    ca_issued_clear(&out);
}

/* ---- refusals --------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    ca_reason reason;
    const char *field;
} bad_case;

static void expect_refused(const ca_issue_params *p, const bad_case *c)
{
    ca_issued out;
    ca_why why;
    memset(&out, 0x5a, sizeof out);
    qs_err r = ca_issue(p, &out, &why);
    if (r == QS_OK || why.reason != c->reason || strcmp(why.field, c->field) != 0)
        fprintf(stderr, "case %s: r=%d reason=%s field=%s text=%s\n", c->name, r,
                ca_reason_name(why.reason), why.field, why.text);
    assert_int_not_equal(r, QS_OK);
    assert_int_equal(why.reason, c->reason);
    assert_string_equal(why.field, c->field);
    assert_true(why.text[0] != '\0');
    assert_null(out.der);
    assert_int_equal(out.der_len, 0);
    assert_int_equal(out.serial_len, 0);
}

static void test_bad_subjects_refused(void **state)
{
    static const struct {
        bad_case c;
        ca_subject s;
    } cases[] = {
        {{"no country", CA_R_MISSING, "countryName"},
         {CA_KIND_NATURAL, NULL, "A B", "A", "B", NULL, "PNOEE-1", NULL, NULL}},
        {{"unknown country", CA_R_BAD_COUNTRY, "countryName"},
         {CA_KIND_NATURAL, "XX", "A B", "A", "B", NULL, "PNOEE-1", NULL, NULL}},
        {{"lower-case country", CA_R_BAD_COUNTRY, "countryName"},
         {CA_KIND_NATURAL, "ee", "A B", "A", "B", NULL, "PNOEE-1", NULL, NULL}},
        {{"alpha-3 country", CA_R_BAD_COUNTRY, "countryName"},
         {CA_KIND_NATURAL, "EST", "A B", "A", "B", NULL, "PNOEE-1", NULL, NULL}},
        {{"no common name", CA_R_MISSING, "commonName"},
         {CA_KIND_NATURAL, "EE", NULL, "A", "B", NULL, "PNOEE-1", NULL, NULL}},
        {{"no names", CA_R_MISSING, "surname"},
         {CA_KIND_NATURAL, "EE", "A B", NULL, NULL, NULL, "PNOEE-1", NULL, NULL}},
        {{"pseudonym with name", CA_R_NOT_ALLOWED, "pseudonym"},
         {CA_KIND_NATURAL, "EE", "A B", "A", NULL, "Zorro", "PNOEE-1", NULL, NULL}},
        {{"no serialNumber", CA_R_MISSING, "serialNumber"},
         {CA_KIND_NATURAL, "EE", "A B", "A", "B", NULL, NULL, NULL, NULL}},
        {{"identifier type", CA_R_BAD_IDENTIFIER, "serialNumber"},
         {CA_KIND_NATURAL, "EE", "A B", "A", "B", NULL, "XYZEE-1", NULL, NULL}},
        {{"identifier country", CA_R_BAD_IDENTIFIER, "serialNumber"},
         {CA_KIND_NATURAL, "EE", "A B", "A", "B", NULL, "PNOZZ-1", NULL, NULL}},
        {{"identifier without dash", CA_R_BAD_IDENTIFIER, "serialNumber"},
         {CA_KIND_NATURAL, "EE", "A B", "A", "B", NULL, "PNOEE48010010101", NULL, NULL}},
        {{"organization on a person", CA_R_NOT_ALLOWED, "organizationName"},
         {CA_KIND_NATURAL, "EE", "A B", "A", "B", NULL, "PNOEE-1", "Org", NULL}},
        {{"legal without organizationIdentifier", CA_R_MISSING, "organizationIdentifier"},
         {CA_KIND_LEGAL, "BE", "Seal", NULL, NULL, NULL, NULL, "Org", NULL}},
        {{"legal identifier type", CA_R_BAD_IDENTIFIER, "organizationIdentifier"},
         {CA_KIND_LEGAL, "BE", "Seal", NULL, NULL, NULL, NULL, "Org", "PNOBE-1"}},
        {{"legal with givenName", CA_R_NOT_ALLOWED, "givenName"},
         {CA_KIND_LEGAL, "BE", "Seal", "A", NULL, NULL, NULL, "Org", "VATBE-1"}},
        {{"bad LEI check digits", CA_R_BAD_IDENTIFIER, "organizationIdentifier"},
         {CA_KIND_LEGAL, "BE", "Seal", NULL, NULL, NULL, NULL, "Org",
          "LEIXG-5493001KJTIIGC8Y1R13"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ca_profile *prof =
            cases[i].s.kind == CA_KIND_NATURAL ? &fx.natural_profile : &fx.legal_profile;
        const uint8_t *spki = cases[i].s.kind == CA_KIND_NATURAL ? natural_spki : legal_spki;
        size_t len = cases[i].s.kind == CA_KIND_NATURAL ? natural_spki_len : legal_spki_len;
        ca_issue_params p = params(prof, &cases[i].s, spki, len);
        expect_refused(&p, &cases[i].c);
    }
}

static void test_bad_requests_refused(void **state)
{
    ca_issue_params p;
    /* A legal-person subject under the natural-person profile. */
    p = params(&fx.natural_profile, &fx.legal, natural_spki, natural_spki_len);
    expect_refused(&p, &(bad_case){"kind mismatch", CA_R_PROFILE_MISMATCH, "subject.kind"});

    ca_profile unknown = fx.natural_profile;
    unknown.kind = (ca_kind)9;
    p = params(&unknown, &fx.natural, natural_spki, natural_spki_len);
    expect_refused(&p, &(bad_case){"unknown profile", CA_R_UNKNOWN_PROFILE, "profile.kind"});

    ca_profile no_pds = fx.natural_profile;
    no_pds.pds_count = 0;
    p = params(&no_pds, &fx.natural, natural_spki, natural_spki_len);
    expect_refused(&p, &(bad_case){"no PDS", CA_R_BAD_PROFILE, "profile.pds"});

    ca_urls urls = fx.urls;
    urls.ocsp = "ftp://qsign.example/ocsp";
    p = params(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len);
    p.urls = &urls;
    expect_refused(&p, &(bad_case){"OCSP URL", CA_R_BAD_URL, "urls.ocsp"});
    urls = fx.urls;
    urls.ca_issuers = "https://qsign.example/ca.crt";
    expect_refused(&p, &(bad_case){"caIssuers https", CA_R_BAD_URL, "urls.ca_issuers"});
    urls = fx.urls;
    urls.crl = "http://qsign example/ca.crl";
    expect_refused(&p, &(bad_case){"CRL URL with space", CA_R_BAD_URL, "urls.crl"});

    static const uint8_t garbage[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    p = params(&fx.natural_profile, &fx.natural, garbage, sizeof garbage);
    expect_refused(&p, &(bad_case){"garbage SPKI", CA_R_BAD_KEY, "subjectPublicKeyInfo"});
    p = params(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len - 1);
    expect_refused(&p, &(bad_case){"truncated SPKI", CA_R_BAD_KEY, "subjectPublicKeyInfo"});

    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
    assert_non_null(weak);
    size_t wlen;
    uint8_t *wspki = fx_spki(weak, &wlen);
    p = params(&fx.natural_profile, &fx.natural, wspki, wlen);
    expect_refused(&p, &(bad_case){"P-224 key", CA_R_BAD_KEY, "subjectPublicKeyInfo"});
    free(wspki);
    EVP_PKEY_free(weak);

    ca_profile long_life = fx.natural_profile;
    long_life.validity_days = FX_CA_DAYS + 1;
    p = params(&long_life, &fx.natural, natural_spki, natural_spki_len);
    expect_refused(&p, &(bad_case){"beyond the CA", CA_R_BAD_VALIDITY, "validity_days"});

    EVP_PKEY *other = fx_keygen("P-384");
    p = params(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len);
    p.ca_key = other;
    expect_refused(&p, &(bad_case){"foreign CA key", CA_R_CA_MISMATCH, "ca_key"});
    EVP_PKEY_free(other);

    /* An end-entity certificate cannot issue. */
    if (natural_cert.der == NULL)
        issue_ok(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len, &natural_cert);
    X509 *leaf = fx_x509(natural_cert.der, natural_cert.der_len);
    p = params(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len);
    p.ca_cert = leaf;
    p.ca_key = natural_key;
    expect_refused(&p, &(bad_case){"leaf as CA", CA_R_CA_MISMATCH, "ca_cert"});
    X509_free(leaf);
}

/* Profiles that pass the syntax check but break EN 319 411-2 / 412-5: refused by the checker
 * on the built certificate, so nothing is signed. */
static void test_checker_refuses_broken_profiles(void **state)
{
    ca_issue_params p = params(NULL, &fx.natural, natural_spki, natural_spki_len);
    ca_profile bad;

    bad = fx.natural_profile;
    bad.policy_oid = CA_OID_QCP_L_QSCD;
    p.profile = &bad;
    expect_refused(&p, &(bad_case){"seal policy", CA_R_PROFILE_CHECK, "certificatePolicies"});

    bad = fx.natural_profile;
    bad.policy_oid = CA_OID_QCP_N;
    p.profile = &bad;
    expect_refused(&p,
                   &(bad_case){"QCP-n without QSCD", CA_R_PROFILE_CHECK, "certificatePolicies"});

    bad = fx.natural_profile;
    bad.tsp_policy_oid = CA_OID_QCP_N;
    bad.cps_uri = NULL;
    p.profile = &bad;
    expect_refused(
        &p, &(bad_case){"two 319 411-2 policies", CA_R_PROFILE_CHECK, "certificatePolicies"});

    bad = fx.natural_profile;
    bad.tsp_policy_oid = CA_OID_ANY_POLICY;
    p.profile = &bad;
    expect_refused(&p, &(bad_case){"anyPolicy", CA_R_PROFILE_CHECK, "certificatePolicies"});

    bad = fx.natural_profile;
    bad.qc_type = CA_QC_TYPE_ESEAL;
    p.profile = &bad;
    expect_refused(&p, &(bad_case){"eseal on a person", CA_R_PROFILE_CHECK, "qcStatements.QcType"});

    bad = fx.natural_profile;
    bad.pds[0].url = "http://qsign.example/pds.pdf";
    p.profile = &bad;
    expect_refused(&p, &(bad_case){"PDS over http", CA_R_PROFILE_CHECK, "qcStatements.QcPDS"});

    ca_why why;
    assert_int_equal(ca_profile_validate(&bad, &why), QS_OK); /* syntax alone is fine */
}

static void tamper_expect(X509 *good, void (*tamper)(X509 *), const char *field)
{
    X509 *x = X509_dup(good);
    assert_non_null(x);
    tamper(x);
    ca_why why;
    qs_err r = ca_profile_check(x, &fx.natural_profile, &why);
    if (r == QS_OK || strcmp(why.field, field) != 0)
        fprintf(stderr, "tamper %s: r=%d field=%s text=%s\n", field, r, why.field, why.text);
    assert_int_equal(r, QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_PROFILE_CHECK);
    assert_string_equal(why.field, field);
    X509_free(x);
}

static void add_conf_ext(X509 *x, int nid, const char *value, int crit)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_EXTENSION_set_critical(e, crit);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static void del_ext(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    assert_true(i >= 0);
    X509_EXTENSION_free(X509_delete_ext(x, i));
}

static void t_name_constraints(X509 *x)
{
    add_conf_ext(x, NID_name_constraints, "permitted;DNS:example.com", 1);
}
static void t_policy_mappings(X509 *x)
{
    add_conf_ext(x, NID_policy_mappings, "1.2.3.4:1.2.3.5", 1);
}
static void t_policy_constraints(X509 *x)
{
    add_conf_ext(x, NID_policy_constraints, "requireExplicitPolicy:0", 1);
}
static void t_inhibit_any(X509 *x)
{
    add_conf_ext(x, NID_inhibit_any_policy, "0", 1);
}
static void t_eku(X509 *x)
{
    add_conf_ext(x, NID_ext_key_usage, "emailProtection", 0);
}
static void t_no_key_usage(X509 *x)
{
    del_ext(x, NID_key_usage);
}
static void t_key_usage_not_critical(X509 *x)
{
    X509_EXTENSION_set_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1)), 0);
}
static void t_key_usage_signature_too(X509 *x)
{
    del_ext(x, NID_key_usage);
    add_conf_ext(x, NID_key_usage, "nonRepudiation,digitalSignature", 1);
}
static void t_ca_true(X509 *x)
{
    del_ext(x, NID_basic_constraints);
    add_conf_ext(x, NID_basic_constraints, "CA:TRUE", 1);
}
static void t_aia_without_ocsp(X509 *x)
{
    del_ext(x, NID_info_access);
    add_conf_ext(x, NID_info_access, "caIssuers;URI:http://qsign.example/ca.crt", 0);
}
static void t_no_qc(X509 *x)
{
    del_ext(x, NID_qcStatements);
}
static void t_second_cn(X509 *x)
{
    assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
                                                V_ASN1_UTF8STRING, (const unsigned char *)"X", 1,
                                                -1, 0),
                     1);
}
static void t_no_serial_number(X509 *x)
{
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_ENTRY_free(
        X509_NAME_delete_entry(n, X509_NAME_get_index_by_NID(n, NID_serialNumber, -1)));
}
static void t_country_utf8(X509 *x)
{
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, 0));
    assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_countryName, V_ASN1_UTF8STRING,
                                                (const unsigned char *)"EE", 2, 0, 0),
                     1);
}

static void test_checker_refuses_tampered_certificates(void **state)
{
    if (natural_cert.der == NULL)
        issue_ok(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len, &natural_cert);
    X509 *good = fx_x509(natural_cert.der, natural_cert.der_len);
    ca_why why;
    assert_int_equal(ca_profile_check(good, &fx.natural_profile, &why), QS_OK);
    tamper_expect(good, t_name_constraints, "nameConstraints");
    tamper_expect(good, t_policy_mappings, "policyMappings");
    tamper_expect(good, t_policy_constraints, "policyConstraints");
    tamper_expect(good, t_inhibit_any, "inhibitAnyPolicy");
    tamper_expect(good, t_eku, "extensions");
    tamper_expect(good, t_no_key_usage, "keyUsage");
    tamper_expect(good, t_key_usage_not_critical, "keyUsage");
    tamper_expect(good, t_key_usage_signature_too, "keyUsage");
    tamper_expect(good, t_ca_true, "basicConstraints");
    tamper_expect(good, t_aia_without_ocsp, "authorityInfoAccess");
    tamper_expect(good, t_no_qc, "qcStatements");
    tamper_expect(good, t_second_cn, "commonName");
    tamper_expect(good, t_no_serial_number, "serialNumber");
    tamper_expect(good, t_country_utf8, "countryName");
    X509_free(good);
}

/* ---- proof of possession ---------------------------------------------------------------- */

/* Signs the digest of tbs the way the SAM does in the HSM (raw digest signing). */
static uint8_t *sign_digest(EVP_PKEY *key, ca_sig_alg alg, const uint8_t *tbs, size_t tbs_len,
                            size_t *sig_len)
{
    const EVP_MD *md = ca_sig_alg_md(alg);
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    assert_int_equal(EVP_Digest(tbs, tbs_len, dgst, &dlen, md, NULL), 1);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md), 1);
    if (alg >= CA_SIG_RSA_PSS_SHA256) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)dlen), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md), 1);
    } else if (alg >= CA_SIG_RSA_SHA256) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    }
    size_t n = 0;
    assert_int_equal(EVP_PKEY_sign(ctx, NULL, &n, dgst, dlen), 1);
    uint8_t *sig = malloc(n);
    assert_non_null(sig);
    assert_int_equal(EVP_PKEY_sign(ctx, sig, &n, dgst, dlen), 1);
    EVP_PKEY_CTX_free(ctx);
    *sig_len = n;
    return sig;
}

static uint8_t *make_csr(EVP_PKEY *key, const uint8_t *spki, size_t spki_len, const ca_subject *s,
                         ca_sig_alg alg, size_t *csr_len)
{
    uint8_t *tbs = NULL, *csr = NULL;
    size_t tbs_len = 0, sig_len = 0;
    ca_why why;
    assert_int_equal(ca_csr_build_tbs(spki, spki_len, s, &tbs, &tbs_len, &why), QS_OK);
    uint8_t *sig = sign_digest(key, alg, tbs, tbs_len, &sig_len);
    qs_err r = ca_csr_assemble(tbs, tbs_len, alg, sig, sig_len, &csr, csr_len, &why);
    if (r != QS_OK)
        fprintf(stderr, "assemble: %s %s\n", why.field, why.text);
    assert_int_equal(r, QS_OK);
    free(sig);
    free(tbs);
    return csr;
}

static void test_csr_proof_of_possession(void **state)
{
    ca_why why;
    size_t csr_len = 0;
    uint8_t *csr = make_csr(natural_key, natural_spki, natural_spki_len, &fx.natural,
                            CA_SIG_ECDSA_SHA256, &csr_len);
    X509_NAME *name = NULL, *want = NULL;
    assert_int_equal(ca_csr_verify(csr, csr_len, natural_spki, natural_spki_len, &name, &why),
                     QS_OK);
    assert_int_equal(ca_subject_to_name(&fx.natural, &want, &why), QS_OK);
    assert_int_equal(X509_NAME_cmp(name, want), 0);
    X509_NAME_free(name);
    X509_NAME_free(want);

    fx_write(&fx, "req.der", csr, csr_len);
    assert_int_equal(fx_run(&fx, "openssl req -verify -noout -inform DER -in req.der"), 0);

    /* Another credential's key: refused. */
    assert_int_equal(ca_csr_verify(csr, csr_len, legal_spki, legal_spki_len, NULL, &why),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_KEY_MISMATCH);

    /* A flipped bit in the last signature octet: refused. */
    csr[csr_len - 1] ^= 0x01;
    assert_int_equal(ca_csr_verify(csr, csr_len, natural_spki, natural_spki_len, NULL, &why),
                     QS_ERR_PARSE);
    assert_int_equal(why.reason, CA_R_BAD_CSR);
    csr[csr_len - 1] ^= 0x01;

    /* Truncated, trailing data, garbage, oversized. */
    assert_int_equal(ca_csr_verify(csr, csr_len - 1, natural_spki, natural_spki_len, NULL, &why),
                     QS_ERR_PARSE);
    uint8_t *longer = malloc(csr_len + 1);
    assert_non_null(longer);
    memcpy(longer, csr, csr_len);
    longer[csr_len] = 0;
    assert_int_equal(ca_csr_verify(longer, csr_len + 1, natural_spki, natural_spki_len, NULL, &why),
                     QS_ERR_PARSE);
    free(longer);
    static const uint8_t junk[] = "not a request";
    assert_int_equal(ca_csr_verify(junk, sizeof junk, natural_spki, natural_spki_len, NULL, &why),
                     QS_ERR_PARSE);
    assert_int_equal(ca_csr_verify(csr, CA_CSR_MAX + 1, natural_spki, natural_spki_len, NULL, &why),
                     QS_ERR_TOO_LARGE);
    free(csr);

    /* A signature over SHA-256 announced as ECDSA with SHA-384 does not assemble. */
    uint8_t *tbs = NULL, *out = NULL;
    size_t tbs_len = 0, sig_len = 0, out_len = 0;
    assert_int_equal(
        ca_csr_build_tbs(natural_spki, natural_spki_len, &fx.natural, &tbs, &tbs_len, &why), QS_OK);
    uint8_t *sig = sign_digest(natural_key, CA_SIG_ECDSA_SHA256, tbs, tbs_len, &sig_len);
    assert_int_equal(
        ca_csr_assemble(tbs, tbs_len, CA_SIG_ECDSA_SHA384, sig, sig_len, &out, &out_len, &why),
        QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_BAD_CSR);
    assert_null(out);
    free(sig);
    free(tbs);

    /* RSA keys: PKCS#1 v1.5 and PSS. */
    const ca_sig_alg rsa_algs[] = {CA_SIG_RSA_SHA256, CA_SIG_RSA_SHA384, CA_SIG_RSA_PSS_SHA256,
                                   CA_SIG_RSA_PSS_SHA512};
    for (size_t i = 0; i < sizeof rsa_algs / sizeof rsa_algs[0]; i++) {
        csr = make_csr(legal_key, legal_spki, legal_spki_len, &fx.legal, rsa_algs[i], &csr_len);
        assert_int_equal(ca_csr_verify(csr, csr_len, legal_spki, legal_spki_len, NULL, &why),
                         QS_OK);
        fx_write(&fx, "req.der", csr, csr_len);
        assert_int_equal(fx_run(&fx, "openssl req -verify -noout -inform DER -in req.der"), 0);
        free(csr);
    }
}

/* ---- CA set-up -------------------------------------------------------------------------- */

static void test_root_certificate(void **state)
{
    X509 *root = fx.ca_cert;
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(root, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_true(bc->ca != 0);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(root, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(root));
    CERTIFICATEPOLICIES *cps = X509_get_ext_d2i(root, NID_certificate_policies, &crit, NULL);
    assert_int_equal(sk_POLICYINFO_num(cps), 1);
    oid_equal(sk_POLICYINFO_value(cps, 0)->policyid, CA_OID_ANY_POLICY);
    CERTIFICATEPOLICIES_free(cps);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -CAfile root.pem root.pem"), 0);

    assert_true(ca_cert_matches_key(root, fx.ca_key));
    EVP_PKEY *other = fx_keygen("P-384");
    assert_false(ca_cert_matches_key(root, other));
    EVP_PKEY_free(other);

    /* A CA certificate naming the QCP policies instead of anyPolicy also validates leaves. */
    ca_fx fx2;
    fx_init(&fx2, "ca-issue-policies", NULL, 0);
    X509_free(fx2.ca_cert);
    fx2.ca_cert = NULL;
    const char *pols[] = {CA_OID_QCP_N_QSCD, CA_OID_QCP_L_QSCD};
    ca_root_params rp = {
        .subject = &fx2.root_subject, .days = 365, .policy_oids = pols, .n_policies = 2};
    ca_why why;
    assert_int_equal(ca_root_selfsigned(fx2.ca_key, &rp, &fx2.ca_cert, &why), QS_OK);
    fx_write_x509_pem(&fx2, "root.pem", fx2.ca_cert);
    ca_issue_params p = params(&fx.natural_profile, &fx.natural, natural_spki, natural_spki_len);
    p.ca_cert = fx2.ca_cert;
    p.ca_key = fx2.ca_key;
    ca_profile shorter = fx.natural_profile;
    shorter.validity_days = 100;
    p.profile = &shorter;
    ca_issued leaf;
    assert_int_equal(ca_issue(&p, &leaf, &why), QS_OK);
    fx_write_cert_pem(&fx2, "leaf.pem", leaf.der, leaf.der_len);
    assert_int_equal(fx_run(&fx2, "openssl verify -CAfile root.pem -policy 0.4.0.194112.1.2 "
                                  "-explicit_policy leaf.pem"),
                     0);
    ca_issued_clear(&leaf);

    /* A root subject must be of kind authority. */
    rp.subject = &fx.natural;
    X509 *none = NULL;
    assert_int_equal(ca_root_selfsigned(fx2.ca_key, &rp, &none, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_PROFILE_MISMATCH);
    assert_null(none);
    fx_free(&fx2);
}

static void test_csr_for_external_root(void **state)
{
    uint8_t *der = NULL;
    size_t len = 0;
    ca_why why;
    assert_int_equal(ca_csr_for_external_root(fx.ca_key, &fx.root_subject, &der, &len, &why),
                     QS_OK);
    size_t spki_len;
    uint8_t *spki = fx_spki(fx.ca_key, &spki_len);
    assert_int_equal(ca_csr_verify(der, len, spki, spki_len, NULL, &why), QS_OK);
    free(spki);
    fx_write(&fx, "ca-req.der", der, len);
    free(der);
    assert_int_equal(fx_run(&fx, "openssl req -verify -noout -text -inform DER -in ca-req.der"), 0);
    const char *out = fx_out(&fx);
    assert_non_null(strstr(out, "CA:TRUE, pathlen:0"));
    assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
    assert_non_null(strstr(out, "organizationIdentifier = NTREE-10000000"));
}

static void test_ocsp_responder_certificate(void **state)
{
    EVP_PKEY *rk = fx_keygen("P-256");
    size_t len;
    uint8_t *spki = fx_spki(rk, &len);
    ca_issued out;
    ca_why why;
    assert_int_equal(
        ca_issue_ocsp_responder(fx.ca_cert, fx.ca_key, spki, len, &fx.responder, 30, 0, &out, &why),
        QS_OK);
    X509 *x = fx_x509(out.der, out.der_len);
    assert_int_equal(out.not_after - out.not_before, 30 * 86400);
    assert_true((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) != 0);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_OCSP_SIGN);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    int crit = -1;
    ASN1_NULL *nocheck = X509_get_ext_d2i(x, NID_id_pkix_OCSP_noCheck, &crit, NULL);
    assert_non_null(nocheck);
    ASN1_NULL_free(nocheck);
    assert_true(ca_cert_matches_key(x, rk));
    X509_free(x);
    fx_write_cert_pem(&fx, "responder.pem", out.der, out.der_len);
    assert_int_equal(fx_run(&fx, "openssl verify -x509_strict -purpose ocsphelper -CAfile "
                                 "root.pem responder.pem"),
                     0);
    ca_issued_clear(&out);

    /* A responder certificate cannot be revoked: long validity is refused. */
    assert_int_equal(ca_issue_ocsp_responder(fx.ca_cert, fx.ca_key, spki, len, &fx.responder,
                                             CA_OCSP_RESPONDER_DAYS_MAX + 1, 0, &out, &why),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why.reason, CA_R_BAD_VALIDITY);
    assert_null(out.der);
    free(spki);
    EVP_PKEY_free(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_natural_person_verifies),
        cmocka_unit_test(test_legal_person_verifies),
        cmocka_unit_test(test_natural_person_fields),
        cmocka_unit_test(test_legal_person_fields),
        cmocka_unit_test(test_qc_statements_asn1parse),
        cmocka_unit_test(test_optional_statements),
        cmocka_unit_test(test_bad_subjects_refused),
        cmocka_unit_test(test_bad_requests_refused),
        cmocka_unit_test(test_checker_refuses_broken_profiles),
        cmocka_unit_test(test_checker_refuses_tampered_certificates),
        cmocka_unit_test(test_csr_proof_of_possession),
        cmocka_unit_test(test_root_certificate),
        cmocka_unit_test(test_csr_for_external_root),
        cmocka_unit_test(test_ocsp_responder_certificate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

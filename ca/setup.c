/*
 * CA set-up: the self-signed CA certificate, a PKCS#10 request for an external root, the check
 * that a key belongs to a certificate, and the OCSP responder certificate.
 */
#include "ca/ca_internal.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#define CA_POLICIES_MAX 8
#define TEST_DIGEST_LEN 32

static qs_err add_ca_basics(X509 *x, ca_why *why)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    qs_err r;
    if (bc == NULL || ku == NULL || (bc->pathlen = ASN1_INTEGER_new()) == NULL ||
        ASN1_INTEGER_set(bc->pathlen, 0) != 1 || ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 ||
        ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1) {
        r = ca_ossl_fail(why, "CA basicConstraints/keyUsage");
        goto out;
    }
    bc->ca = 0xff;
    r = ca_add_ext(x, NID_basic_constraints, bc, true, why);
    if (r == QS_OK)
        r = ca_add_ext(x, NID_key_usage, ku, true, why);
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    return r;
}

static qs_err add_ca_policies(X509 *x, const ca_root_params *p, ca_why *why)
{
    CERTIFICATEPOLICIES *cps = sk_POLICYINFO_new_null();
    qs_err r = QS_OK;
    size_t n = p->n_policies == 0 ? 1 : p->n_policies;
    if (cps == NULL)
        return QS_ERR_NOMEM;
    for (size_t i = 0; i < n && r == QS_OK; i++) {
        POLICYINFO *pi = POLICYINFO_new();
        if (pi == NULL) {
            r = QS_ERR_NOMEM;
            break;
        }
        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = ca_oid_new(p->n_policies == 0 ? CA_OID_ANY_POLICY : p->policy_oids[i]);
        if (pi->policyid == NULL || sk_POLICYINFO_push(cps, pi) <= 0) {
            POLICYINFO_free(pi);
            r = ca_ossl_fail(why, "CA certificatePolicies");
        }
    }
    if (r == QS_OK)
        r = ca_add_ext(x, NID_certificate_policies, cps, false, why);
    CERTIFICATEPOLICIES_free(cps);
    return r;
}

static qs_err authority_name(const ca_subject *s, X509_NAME **name, ca_why *why)
{
    *name = NULL;
    if (s == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "subject", "no subject given");
    if (s->kind != CA_KIND_AUTHORITY)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_PROFILE_MISMATCH, "subject.kind",
                         "a CA or OCSP responder subject must be of kind authority");
    return ca_subject_to_name(s, name, why);
}

qs_err ca_root_selfsigned(EVP_PKEY *key, const ca_root_params *p, X509 **out, ca_why *why)
{
    X509 *x = NULL;
    X509_NAME *name = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_OCTET_STRING *ski = NULL;
    qs_err r;

    *out = NULL;
    ca_why_clear(why);
    if (key == NULL || p == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "key",
                         "key and parameters are required");
    const EVP_MD *md = ca_key_md(key);
    if (md == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "key",
                         "CA key is neither EC nor RSA");
    if (p->n_policies > CA_POLICIES_MAX || (p->n_policies > 0 && p->policy_oids == NULL))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "policy_oids",
                         "0..%d policy OIDs accepted", CA_POLICIES_MAX);
    for (size_t i = 0; i < p->n_policies; i++)
        if (!ca_oid_syntax_ok(p->policy_oids[i]))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_PROFILE, "policy_oids",
                             "policy OID %zu is malformed", i + 1);
    if ((r = authority_name(p->subject, &name, why)) != QS_OK)
        return r;
    if ((x = X509_new()) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if ((r = ca_serial_new(&serial, why)) != QS_OK)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_subject_name(x, name) != 1 ||
        X509_set_pubkey(x, key) != 1) {
        r = ca_ossl_fail(why, "CA certificate fields");
        goto out;
    }
    if ((r = ca_set_validity(x, NULL, ca_now(p->now), p->days, why)) != QS_OK ||
        (r = add_ca_basics(x, why)) != QS_OK)
        goto out;
    ski = ca_key_id(X509_get_X509_PUBKEY(x));
    if ((r = ca_add_ext(x, NID_subject_key_identifier, ski, false, why)) != QS_OK ||
        (r = add_ca_policies(x, p, why)) != QS_OK)
        goto out;
    if (X509_sign(x, key, md) <= 0) {
        r = ca_ossl_fail(why, "X509_sign");
        goto out;
    }
    if (X509_verify(x, X509_get0_pubkey(x)) != 1) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_CRYPTO, CA_R_CA_MISMATCH, "key",
                      "self-signature does not verify");
        goto out;
    }
    *out = x;
    x = NULL;
    r = QS_OK;
out:
    ASN1_OCTET_STRING_free(ski);
    ASN1_INTEGER_free(serial);
    X509_NAME_free(name);
    X509_free(x);
    return r;
}

static bool push_ext(STACK_OF(X509_EXTENSION) * exts, int nid, bool crit, void *value)
{
    X509_EXTENSION *e = value != NULL ? X509V3_EXT_i2d(nid, crit ? 1 : 0, value) : NULL;
    if (e == NULL || sk_X509_EXTENSION_push(exts, e) <= 0) {
        X509_EXTENSION_free(e);
        return false;
    }
    return true;
}

qs_err ca_csr_for_external_root(EVP_PKEY *key, const ca_subject *subject, uint8_t **der,
                                size_t *der_len, ca_why *why)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    BASIC_CONSTRAINTS *bc = NULL;
    ASN1_BIT_STRING *ku = NULL;
    qs_err r;

    *der = NULL;
    *der_len = 0;
    ca_why_clear(why);
    const EVP_MD *md = key != NULL ? ca_key_md(key) : NULL;
    if (md == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "key",
                         "CA key missing, or neither EC nor RSA");
    if ((r = authority_name(subject, &name, why)) != QS_OK)
        return r;
    req = X509_REQ_new();
    exts = sk_X509_EXTENSION_new_null();
    bc = BASIC_CONSTRAINTS_new();
    ku = ASN1_BIT_STRING_new();
    if (req == NULL || exts == NULL || bc == NULL || ku == NULL ||
        (bc->pathlen = ASN1_INTEGER_new()) == NULL || ASN1_INTEGER_set(bc->pathlen, 0) != 1 ||
        ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 || ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1) {
        r = ca_ossl_fail(why, "CA request");
        goto out;
    }
    bc->ca = 0xff;
    if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
        !push_ext(exts, NID_basic_constraints, true, bc) ||
        !push_ext(exts, NID_key_usage, true, ku) || X509_REQ_add_extensions(req, exts) != 1) {
        r = ca_ossl_fail(why, "CA request fields");
        goto out;
    }
    if (X509_REQ_sign(req, key, md) <= 0) {
        r = ca_ossl_fail(why, "X509_REQ_sign");
        goto out;
    }
    if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_CRYPTO, CA_R_BAD_CSR, "key", "request signature does not verify");
        goto out;
    }
    r = ca_i2d_item(req, ASN1_ITEM_rptr(X509_REQ), der, der_len, why);
out:
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return r;
}

bool ca_cert_matches_key(X509 *cert, EVP_PKEY *key)
{
    if (cert == NULL || key == NULL || !ca_pubkey_equal(X509_get0_pubkey(cert), key))
        return false;
    const EVP_MD *md = ca_key_md(key);
    unsigned char data[TEST_DIGEST_LEN];
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    bool ok = false;
    EVP_MD_CTX *sctx = EVP_MD_CTX_new();
    EVP_MD_CTX *vctx = EVP_MD_CTX_new();
    if (md == NULL || sctx == NULL || vctx == NULL || RAND_bytes(data, sizeof data) != 1)
        goto out;
    if (EVP_DigestSignInit(sctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(sctx, NULL, &sig_len, data, sizeof data) != 1)
        goto out;
    sig = OPENSSL_malloc(sig_len);
    if (sig == NULL || EVP_DigestSign(sctx, sig, &sig_len, data, sizeof data) != 1)
        goto out;
    ok = EVP_DigestVerifyInit(vctx, NULL, md, NULL, X509_get0_pubkey(cert)) == 1 &&
         EVP_DigestVerify(vctx, sig, sig_len, data, sizeof data) == 1;
out:
    ERR_clear_error();
    OPENSSL_free(sig);
    EVP_MD_CTX_free(sctx);
    EVP_MD_CTX_free(vctx);
    return ok;
}

static qs_err add_responder_exts(X509 *x, X509 *ca_cert, ca_why *why)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    ASN1_NULL *nocheck = ASN1_NULL_new();
    qs_err r;
    if (bc == NULL || ku == NULL || eku == NULL || nocheck == NULL ||
        ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
        sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_OCSP_sign)) <= 0) {
        r = ca_ossl_fail(why, "responder extensions");
        goto out;
    }
    bc->ca = 0;
    if ((r = ca_add_ext(x, NID_basic_constraints, bc, true, why)) != QS_OK ||
        (r = ca_add_ext(x, NID_key_usage, ku, true, why)) != QS_OK ||
        (r = ca_add_ext(x, NID_ext_key_usage, eku, false, why)) != QS_OK ||
        (r = ca_add_ext(x, NID_id_pkix_OCSP_noCheck, nocheck, false, why)) != QS_OK)
        goto out;
    r = ca_add_key_ids(x, ca_cert, why);
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    ASN1_NULL_free(nocheck);
    return r;
}

qs_err ca_issue_ocsp_responder(X509 *ca_cert, EVP_PKEY *ca_key, const uint8_t *spki,
                               size_t spki_len, const ca_subject *subject, unsigned days,
                               time_t now, ca_issued *out, ca_why *why)
{
    X509 *x = NULL;
    X509_NAME *name = NULL;
    EVP_PKEY *pub = NULL;
    ASN1_INTEGER *serial = NULL;
    qs_err r;

    memset(out, 0, sizeof *out);
    ca_why_clear(why);
    if (days == 0 || days > CA_OCSP_RESPONDER_DAYS_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "days",
                         "responder validity of 1..%d days (it cannot be revoked)",
                         CA_OCSP_RESPONDER_DAYS_MAX);
    if ((r = authority_name(subject, &name, why)) != QS_OK ||
        (r = ca_spki_parse(spki, spki_len, &pub, why)) != QS_OK ||
        (r = ca_issuer_ok(ca_cert, ca_key, KU_KEY_CERT_SIGN, why)) != QS_OK)
        goto out;
    if ((x = X509_new()) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    if ((r = ca_serial_new(&serial, why)) != QS_OK)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) != 1 ||
        X509_set_subject_name(x, name) != 1 || X509_set_pubkey(x, pub) != 1) {
        r = ca_ossl_fail(why, "responder certificate fields");
        goto out;
    }
    if ((r = ca_set_validity(x, ca_cert, ca_now(now), days, why)) != QS_OK ||
        (r = add_responder_exts(x, ca_cert, why)) != QS_OK)
        goto out;
    r = ca_sign_and_encode(x, ca_key, X509_get0_pubkey(ca_cert), out, why);
out:
    ASN1_INTEGER_free(serial);
    EVP_PKEY_free(pub);
    X509_NAME_free(name);
    X509_free(x);
    return r;
}

/*
 * Proof of possession through PKCS#10 (RFC 2986).  The SAM builds the CertificationRequestInfo
 * here, signs its digest in the HSM with the new key, and assembles the request; the CA side
 * verifies the self-signature and that the key is the credential's.  Requests are outside input:
 * parsed strictly (DER only, no trailing data, bounded).
 */
#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

/* CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm,
 * signature BIT STRING }, with the info kept as received (X509_REQ_INFO caches its encoding). */
/* clang-format off */
typedef struct csr_parts_st {
    X509_REQ_INFO *info;
    X509_ALGOR *alg;
    ASN1_BIT_STRING *sig;
} CSR_PARTS;

ASN1_SEQUENCE(CSR_PARTS) = {
    ASN1_SIMPLE(CSR_PARTS, info, X509_REQ_INFO),
    ASN1_SIMPLE(CSR_PARTS, alg, X509_ALGOR),
    ASN1_SIMPLE(CSR_PARTS, sig, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_PARTS)
    /* clang-format on */

    const EVP_MD
    * ca_sig_alg_md(ca_sig_alg alg)
{
    switch (alg) {
    case CA_SIG_ECDSA_SHA256:
    case CA_SIG_RSA_SHA256:
    case CA_SIG_RSA_PSS_SHA256:
        return EVP_sha256();
    case CA_SIG_ECDSA_SHA384:
    case CA_SIG_RSA_SHA384:
    case CA_SIG_RSA_PSS_SHA384:
        return EVP_sha384();
    case CA_SIG_ECDSA_SHA512:
    case CA_SIG_RSA_SHA512:
    case CA_SIG_RSA_PSS_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

/* RSASSA-PSS-params: hash, MGF1 with the same hash, salt length = hash length, trailer 1. */
static bool set_pss(X509_ALGOR *alg, const EVP_MD *md)
{
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    X509_ALGOR *mgf = X509_ALGOR_new();
    ASN1_STRING *mgf_param = NULL, *params = NULL;
    bool ok = false;
    if (pss == NULL || mgf == NULL || (pss->hashAlgorithm = X509_ALGOR_new()) == NULL ||
        (pss->saltLength = ASN1_INTEGER_new()) == NULL)
        goto out;
    X509_ALGOR_set_md(pss->hashAlgorithm, md);
    if (ASN1_INTEGER_set(pss->saltLength, EVP_MD_get_size(md)) != 1)
        goto out;
    mgf_param = ASN1_item_pack(pss->hashAlgorithm, ASN1_ITEM_rptr(X509_ALGOR), NULL);
    if (mgf_param == NULL ||
        X509_ALGOR_set0(mgf, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, mgf_param) != 1)
        goto out;
    mgf_param = NULL;
    pss->maskGenAlgorithm = mgf;
    mgf = NULL;
    params = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
    if (params == NULL ||
        X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params) != 1)
        goto out;
    params = NULL;
    ok = true;
out:
    ASN1_STRING_free(params);
    ASN1_STRING_free(mgf_param);
    X509_ALGOR_free(mgf);
    RSA_PSS_PARAMS_free(pss);
    return ok;
}

static bool set_alg(X509_ALGOR *alg, ca_sig_alg a)
{
    switch (a) {
    case CA_SIG_ECDSA_SHA256:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL) == 1;
    case CA_SIG_ECDSA_SHA384:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA384), V_ASN1_UNDEF, NULL) == 1;
    case CA_SIG_ECDSA_SHA512:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA512), V_ASN1_UNDEF, NULL) == 1;
    case CA_SIG_RSA_SHA256:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256WithRSAEncryption), V_ASN1_NULL, NULL) ==
               1;
    case CA_SIG_RSA_SHA384:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha384WithRSAEncryption), V_ASN1_NULL, NULL) ==
               1;
    case CA_SIG_RSA_SHA512:
        return X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha512WithRSAEncryption), V_ASN1_NULL, NULL) ==
               1;
    case CA_SIG_RSA_PSS_SHA256:
    case CA_SIG_RSA_PSS_SHA384:
    case CA_SIG_RSA_PSS_SHA512:
        return set_pss(alg, ca_sig_alg_md(a));
    }
    return false;
}

qs_err ca_csr_build_tbs(const uint8_t *spki, size_t spki_len, const ca_subject *subject,
                        uint8_t **tbs, size_t *tbs_len, ca_why *why)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    EVP_PKEY *pub = NULL;
    unsigned char *buf = NULL;
    qs_err r;

    *tbs = NULL;
    *tbs_len = 0;
    ca_why_clear(why);
    if ((r = ca_subject_to_name(subject, &name, why)) != QS_OK ||
        (r = ca_spki_parse(spki, spki_len, &pub, why)) != QS_OK)
        goto out;
    req = X509_REQ_new();
    if (req == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1) {
        r = ca_ossl_fail(why, "request fields");
        goto out;
    }
    int n = i2d_re_X509_REQ_tbs(req, &buf);
    if (n <= 0) {
        r = ca_ossl_fail(why, "CertificationRequestInfo");
        goto out;
    }
    *tbs = malloc((size_t)n);
    if (*tbs == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    memcpy(*tbs, buf, (size_t)n);
    *tbs_len = (size_t)n;
    r = QS_OK;
out:
    OPENSSL_free(buf);
    EVP_PKEY_free(pub);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return r;
}

/* Parses DER as `it`, refusing trailing data and non-DER encodings. */
static void *d2i_strict(const uint8_t *der, size_t len, const ASN1_ITEM *it)
{
    const unsigned char *p = der;
    ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, (long)len, it);
    if (v == NULL || p != der + len) {
        ASN1_item_free(v, it);
        return NULL;
    }
    unsigned char *re = NULL;
    int n = ASN1_item_i2d(v, &re, it);
    bool same = n > 0 && (size_t)n == len && memcmp(re, der, len) == 0;
    OPENSSL_free(re);
    if (!same) {
        ASN1_item_free(v, it);
        return NULL;
    }
    return v;
}

qs_err ca_csr_assemble(const uint8_t *tbs, size_t tbs_len, ca_sig_alg alg, const uint8_t *sig,
                       size_t sig_len, uint8_t **csr, size_t *csr_len, ca_why *why)
{
    CSR_PARTS *parts = NULL;
    X509_REQ *req = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    qs_err r;

    *csr = NULL;
    *csr_len = 0;
    ca_why_clear(why);
    if (ca_sig_alg_md(alg) == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_SIGNATURE_ALG, "alg",
                         "unknown signature algorithm");
    if (tbs == NULL || tbs_len == 0 || tbs_len > CA_CSR_MAX || sig == NULL || sig_len == 0 ||
        sig_len > CA_CSR_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CSR, "tbs",
                         "request info or signature missing or too long");
    parts = (CSR_PARTS *)ASN1_item_new(ASN1_ITEM_rptr(CSR_PARTS));
    if (parts == NULL)
        return QS_ERR_NOMEM;
    X509_REQ_INFO_free(parts->info);
    parts->info = d2i_strict(tbs, tbs_len, ASN1_ITEM_rptr(X509_REQ_INFO));
    if (parts->info == NULL) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_PARSE, CA_R_BAD_CSR, "tbs", "not a DER CertificationRequestInfo");
        goto out;
    }
    if (!set_alg(parts->alg, alg) || ASN1_STRING_set(parts->sig, sig, (int)sig_len) != 1) {
        r = ca_ossl_fail(why, "request signature fields");
        goto out;
    }
    /* All octets are signature: no unused bits, no trimming of trailing zero octets. */
    parts->sig->flags = (parts->sig->flags & ~0x07L) | ASN1_STRING_FLAG_BITS_LEFT;
    if ((r = ca_i2d_item(parts, ASN1_ITEM_rptr(CSR_PARTS), &der, &der_len, why)) != QS_OK)
        goto out;
    const unsigned char *p = der;
    req = d2i_X509_REQ(NULL, &p, (long)der_len);
    EVP_PKEY *pub = req != NULL ? X509_REQ_get0_pubkey(req) : NULL;
    if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_CSR, "signature",
                      "signature does not verify with the request's key and algorithm");
        goto out;
    }
    *csr = der;
    *csr_len = der_len;
    der = NULL;
    r = QS_OK;
out:
    free(der);
    X509_REQ_free(req);
    ASN1_item_free((ASN1_VALUE *)parts, ASN1_ITEM_rptr(CSR_PARTS));
    return r;
}

qs_err ca_csr_verify(const uint8_t *der, size_t der_len, const uint8_t *expected_spki,
                     size_t expected_spki_len, X509_NAME **subject, ca_why *why)
{
    X509_REQ *req = NULL;
    EVP_PKEY *want = NULL;
    unsigned char *got = NULL;
    qs_err r;

    if (subject != NULL)
        *subject = NULL;
    ca_why_clear(why);
    if (der == NULL || der_len == 0)
        return ca_refuse(why, QS_ERR_PARSE, CA_R_BAD_CSR, "csr", "no request given");
    if (der_len > CA_CSR_MAX)
        return ca_refuse(why, QS_ERR_TOO_LARGE, CA_R_BAD_CSR, "csr", "request longer than %d bytes",
                         CA_CSR_MAX);
    req = d2i_strict(der, der_len, ASN1_ITEM_rptr(X509_REQ));
    if (req == NULL) {
        ERR_clear_error();
        return ca_refuse(why, QS_ERR_PARSE, CA_R_BAD_CSR, "csr", "not a DER PKCS#10 request");
    }
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    if (X509_REQ_get_version(req) != X509_REQ_VERSION_1 || pub == NULL) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_PARSE, CA_R_BAD_CSR, "csr",
                      "request version or public key unusable");
        goto out;
    }
    if (X509_REQ_verify(req, pub) != 1) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_PARSE, CA_R_BAD_CSR, "csr.signature",
                      "request self-signature does not verify");
        goto out;
    }
    if ((r = ca_spki_parse(expected_spki, expected_spki_len, &want, why)) != QS_OK)
        goto out;
    int n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &got);
    if (n <= 0 || (size_t)n != expected_spki_len || memcmp(got, expected_spki, (size_t)n) != 0 ||
        !ca_pubkey_equal(pub, want)) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_KEY_MISMATCH, "csr.subjectPublicKeyInfo",
                      "request key is not the credential's key");
        goto out;
    }
    if (subject != NULL && (*subject = X509_NAME_dup(X509_REQ_get_subject_name(req))) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    r = QS_OK;
out:
    OPENSSL_free(got);
    EVP_PKEY_free(want);
    X509_REQ_free(req);
    return r;
}

/*
 * CAdES-B-B detached SignedData from a document digest.
 *
 * OpenSSL builds the structure: CMS_sign with CMS_PARTIAL gives an empty detached SignedData,
 * CMS_add1_signer adds the SignerInfo (issuerAndSerialNumber, digestAlgorithm) and the signer
 * certificate.  CMS_add1_signer insists on a key matching the certificate; it gets the
 * certificate's own public key, which is enough because nothing here asks OpenSSL to sign.
 * The content is never finalised (no CMS_final / CMS_dataFinal), so OpenSSL never hashes a
 * document and never adds attributes of its own.
 *
 * The signed attributes are added here, their DER SET OF encoding (RFC 5652, 5.4: tag 0x31,
 * elements in DER order) is hashed, the callback signs that digest, the value is checked with
 * the certificate's key and stored as the SignerInfo's signature.
 */
#define QS_LOG_MODULE "cms"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "cms/cms.h"
#include "util/log.h"

/* The SET OF Attribute that is signed (defined at the end of the file, where its macros cannot
 * confuse clang-format about what follows). */
static const ASN1_ITEM *cms_signed_attrs_it(void);

/* Per hash: its length and the algorithm identifiers that name it. */
typedef struct cms_hash_info {
    size_t len;
    const char *name;
    const EVP_MD *(*md)(void);
    int ecdsa_nid; /* ecdsa-with-SHAxxx */
    int rsa_nid;   /* shaxxxWithRSAEncryption */
} cms_hash_info;

static const cms_hash_info *cms_hash(qs_hash_alg h)
{
    static const cms_hash_info sha256 = {QS_SHA256_LEN, "SHA-256", EVP_sha256,
                                         NID_ecdsa_with_SHA256, NID_sha256WithRSAEncryption};
    static const cms_hash_info sha384 = {QS_SHA384_LEN, "SHA-384", EVP_sha384,
                                         NID_ecdsa_with_SHA384, NID_sha384WithRSAEncryption};
    static const cms_hash_info sha512 = {QS_SHA512_LEN, "SHA-512", EVP_sha512,
                                         NID_ecdsa_with_SHA512, NID_sha512WithRSAEncryption};
    switch (h) {
    case QS_HASH_SHA256:
        return &sha256;
    case QS_HASH_SHA384:
        return &sha384;
    case QS_HASH_SHA512:
        return &sha512;
    }
    return NULL;
}

/* An OpenSSL call failed on input already checked: log the first queued error with the call
 * site and empty the queue so it does not leak into the thread's next OpenSSL use. */
#define cms_ossl_fail(what) cms_ossl_fail_at((what), __FILE__, __LINE__)
static qs_err cms_ossl_fail_at(const char *what, const char *file, int line)
{
    unsigned long code = ERR_peek_last_error();
    char buf[256] = "no OpenSSL error queued";
    if (code != 0)
        ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    qs_log_msg(QS_LOG_ERROR, QS_LOG_MODULE, file, line, "%s failed: %s", what, buf);
    return code != 0 && ERR_GET_REASON(code) == ERR_R_MALLOC_FAILURE ? QS_ERR_NOMEM : QS_ERR_CRYPTO;
}

/* One DER certificate and nothing after it, whose encoding OpenSSL reproduces byte for byte:
 * the certificate placed in the SignedData and the one hashed for ESSCertIDv2 are then exactly
 * the bytes the caller gave. */
static qs_err cms_parse_cert(const uint8_t *der, size_t len, const char *what, size_t idx,
                             X509 **out)
{
    const unsigned char *q = der;
    unsigned char *enc = NULL;
    X509 *x = NULL;
    qs_err r = QS_ERR_PARSE;

    *out = NULL;
    if (der == NULL || len == 0 || len > QS_CMS_CERT_MAX) {
        qs_warn("%s certificate %zu: %zu bytes, expected 1 to %d", what, idx, len, QS_CMS_CERT_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    x = d2i_X509(NULL, &q, (long)len);
    if (x == NULL || q != der + len) {
        qs_warn("%s certificate %zu is not one DER certificate", what, idx);
        goto out;
    }
    int n = i2d_X509(x, &enc);
    if (n < 0) {
        r = cms_ossl_fail("i2d_X509");
        goto out;
    }
    if ((size_t)n != len || memcmp(enc, der, len) != 0) {
        qs_warn("%s certificate %zu is not DER-encoded", what, idx);
        goto out;
    }
    *out = x;
    x = NULL;
    r = QS_OK;
out:
    ERR_clear_error();
    OPENSSL_free(enc);
    X509_free(x);
    return r;
}

/* ECDSA for an EC key, PKCS#1 v1.5 or PSS for an RSA key. */
static qs_err cms_check_scheme(EVP_PKEY *pub, qs_sig_scheme scheme)
{
    bool ec = EVP_PKEY_is_a(pub, "EC");
    bool rsa = EVP_PKEY_is_a(pub, "RSA");

    if (!ec && !rsa) {
        qs_warn("certificate key type %s is not supported (EC or RSA only)",
                EVP_PKEY_get0_type_name(pub) != NULL ? EVP_PKEY_get0_type_name(pub) : "?");
        return QS_ERR_UNSUPPORTED;
    }
    switch (scheme) {
    case QS_SIG_ECDSA:
        if (ec)
            return QS_OK;
        break;
    case QS_SIG_RSA_PKCS1:
    case QS_SIG_RSA_PSS:
        if (rsa)
            return QS_OK;
        break;
    }
    qs_warn("signature scheme %d does not fit the certificate's %s key", (int)scheme,
            ec ? "EC" : "RSA");
    return QS_ERR_INVALID_ARGUMENT;
}

static bool cms_scheme_known(qs_sig_scheme s)
{
    switch (s) {
    case QS_SIG_ECDSA:
    case QS_SIG_RSA_PKCS1:
    case QS_SIG_RSA_PSS:
        return true;
    }
    return false;
}

static qs_err cms_check_params(const qs_cms_params *p, const cms_hash_info **hi)
{
    *hi = cms_hash(p->hash);
    if (*hi == NULL) {
        qs_warn("unknown hash algorithm %d", (int)p->hash);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->document_digest == NULL || p->document_digest_len != (*hi)->len) {
        qs_warn("document digest of %zu bytes does not fit %s (%zu bytes)", p->document_digest_len,
                (*hi)->name, (*hi)->len);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (!cms_scheme_known(p->scheme)) {
        qs_warn("unknown signature scheme %d", (int)p->scheme);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->signing_time < 0 || p->signing_time > QS_CMS_TIME_MAX ||
        (int64_t)(time_t)p->signing_time != p->signing_time) {
        qs_warn("signing time %lld out of range", (long long)p->signing_time);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->chain_n > QS_CMS_CHAIN_MAX ||
        (p->chain_n > 0 && (p->chain_der == NULL || p->chain_len == NULL))) {
        qs_warn("chain of %zu certificates refused (at most %d, arrays required)", p->chain_n,
                QS_CMS_CHAIN_MAX);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (p->sign == NULL) {
        qs_warn("no signing callback");
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

/* RSASSA-PSS-params (RFC 4055): hash, MGF1 with the same hash, salt = hash length, trailer 1
 * (the default, so omitted).  Returned as the DER SEQUENCE for an AlgorithmIdentifier. */
static qs_err cms_pss_params(const cms_hash_info *hi, ASN1_STRING **out)
{
    RSA_PSS_PARAMS *pss = NULL;
    X509_ALGOR *mgf_md = NULL;
    ASN1_STRING *mgf_md_der = NULL;
    qs_err r = QS_ERR_CRYPTO;

    *out = NULL;
    if ((pss = RSA_PSS_PARAMS_new()) == NULL || (pss->hashAlgorithm = X509_ALGOR_new()) == NULL ||
        (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
        (pss->saltLength = ASN1_INTEGER_new()) == NULL || (mgf_md = X509_ALGOR_new()) == NULL) {
        r = cms_ossl_fail("allocating RSASSA-PSS parameters");
        goto out;
    }
    X509_ALGOR_set_md(pss->hashAlgorithm, hi->md());
    X509_ALGOR_set_md(mgf_md, hi->md());
    if (ASN1_item_pack(mgf_md, ASN1_ITEM_rptr(X509_ALGOR), &mgf_md_der) == NULL) {
        r = cms_ossl_fail("encoding the MGF1 hash");
        goto out;
    }
    if (!X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
                         mgf_md_der)) {
        r = cms_ossl_fail("X509_ALGOR_set0(mgf1)");
        goto out;
    }
    mgf_md_der = NULL; /* owned by pss now */
    if (!ASN1_INTEGER_set(pss->saltLength, (long)hi->len)) {
        r = cms_ossl_fail("ASN1_INTEGER_set(saltLength)");
        goto out;
    }
    if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), out) == NULL) {
        r = cms_ossl_fail("encoding RSASSA-PSS parameters");
        goto out;
    }
    r = QS_OK;
out:
    ASN1_STRING_free(mgf_md_der);
    X509_ALGOR_free(mgf_md);
    RSA_PSS_PARAMS_free(pss);
    return r;
}

/* signatureAlgorithm, set here for every scheme rather than left to OpenSSL's defaults:
 * ecdsa-with-SHAxxx (no parameters, RFC 5758), shaxxxWithRSAEncryption (NULL parameters;
 * RFC 5754 allows rsaEncryption too, the hash-specific OID is the one ETSI TS 119 312 names),
 * id-RSASSA-PSS with explicit parameters. */
static qs_err cms_set_sig_alg(CMS_SignerInfo *si, const cms_hash_info *hi, qs_sig_scheme scheme)
{
    X509_ALGOR *alg = NULL;
    ASN1_STRING *params = NULL;
    qs_err r;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &alg);
    if (alg == NULL)
        return cms_ossl_fail("CMS_SignerInfo_get0_algs");
    switch (scheme) {
    case QS_SIG_ECDSA:
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(hi->ecdsa_nid), V_ASN1_UNDEF, NULL))
            return cms_ossl_fail("X509_ALGOR_set0(ecdsa)");
        return QS_OK;
    case QS_SIG_RSA_PKCS1:
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(hi->rsa_nid), V_ASN1_NULL, NULL))
            return cms_ossl_fail("X509_ALGOR_set0(rsa)");
        return QS_OK;
    case QS_SIG_RSA_PSS:
        if ((r = cms_pss_params(hi, &params)) != QS_OK)
            return r;
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params)) {
            ASN1_STRING_free(params);
            return cms_ossl_fail("X509_ALGOR_set0(pss)");
        }
        return QS_OK;
    }
    qs_bug("signature scheme %d passed the checks", (int)scheme);
    return QS_ERR_INTERNAL;
}

/* ESS signing-certificate-v2 (RFC 5035): one ESSCertIDv2 with SHA-256 of the certificate (so
 * hashAlgorithm is omitted, its default) and issuerSerial (issuer directoryName + serial). */
static qs_err cms_add_signing_cert_v2(CMS_SignerInfo *si, X509 *cert)
{
    ESS_SIGNING_CERT_V2 *sc = NULL;
    unsigned char *enc = NULL;
    qs_err r = QS_ERR_CRYPTO;

    sc = OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), cert, NULL, 1);
    if (sc == NULL) {
        r = cms_ossl_fail("OSSL_ESS_signing_cert_v2_new_init");
        goto out;
    }
    int n = i2d_ESS_SIGNING_CERT_V2(sc, &enc);
    if (n <= 0) {
        r = cms_ossl_fail("i2d_ESS_SIGNING_CERT_V2");
        goto out;
    }
    if (!CMS_signed_add1_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, enc,
                                     n)) {
        r = cms_ossl_fail("adding signing-certificate-v2");
        goto out;
    }
    r = QS_OK;
out:
    OPENSSL_free(enc);
    ESS_SIGNING_CERT_V2_free(sc);
    return r;
}

/* contentType id-data, messageDigest, signingTime, signing-certificate-v2. */
static qs_err cms_add_signed_attrs(CMS_SignerInfo *si, const qs_cms_params *p, X509 *cert)
{
    ASN1_TIME *tm = NULL;
    qs_err r = QS_ERR_CRYPTO;

    if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
                                     OBJ_nid2obj(NID_pkcs7_data), -1)) {
        r = cms_ossl_fail("adding contentType");
        goto out;
    }
    if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING,
                                     p->document_digest, (int)p->document_digest_len)) {
        r = cms_ossl_fail("adding messageDigest");
        goto out;
    }
    /* UTCTime through 2049, GeneralizedTime after (RFC 5652, 11.3). */
    if ((tm = ASN1_TIME_set(NULL, (time_t)p->signing_time)) == NULL) {
        r = cms_ossl_fail("ASN1_TIME_set");
        goto out;
    }
    if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, tm->type, tm, -1)) {
        r = cms_ossl_fail("adding signingTime");
        goto out;
    }
    r = cms_add_signing_cert_v2(si, cert);
out:
    ASN1_TIME_free(tm);
    return r;
}

/* Digest with `hi` of the DER SET OF the SignerInfo's signed attributes. */
static qs_err cms_digest_signed_attrs(CMS_SignerInfo *si, const cms_hash_info *hi,
                                      uint8_t digest[static QS_HASH_MAX_LEN])
{
    STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
    unsigned char *enc = NULL;
    unsigned int dlen = 0;
    qs_err r = QS_ERR_CRYPTO;

    /* A view of the attributes (not owning them), which the encoder may reorder. */
    if ((attrs = sk_X509_ATTRIBUTE_new_null()) == NULL) {
        r = cms_ossl_fail("sk_X509_ATTRIBUTE_new_null");
        goto out;
    }
    int count = CMS_signed_get_attr_count(si);
    for (int i = 0; i < count; i++) {
        if (sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i)) <= 0) {
            r = cms_ossl_fail("sk_X509_ATTRIBUTE_push");
            goto out;
        }
    }
    int n = ASN1_item_i2d((const ASN1_VALUE *)attrs, &enc, ASN1_ITEM_rptr(cms_signed_attrs));
    if (n <= 0 || enc[0] != (V_ASN1_CONSTRUCTED | V_ASN1_SET)) {
        r = cms_ossl_fail("encoding the signed attributes");
        goto out;
    }
    if (!EVP_Digest(enc, (size_t)n, digest, &dlen, hi->md(), NULL) || dlen != hi->len) {
        r = cms_ossl_fail("hashing the signed attributes");
        goto out;
    }
    r = QS_OK;
out:
    OPENSSL_free(enc);
    sk_X509_ATTRIBUTE_free(attrs);
    return r;
}

/* Checks the callback's signature over `digest` with the certificate's public key, with the
 * same padding and hash the SignedData announces. */
static qs_err cms_verify_sig(EVP_PKEY *pub, const cms_hash_info *hi, qs_sig_scheme scheme,
                             const uint8_t *digest, const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    qs_err r = QS_ERR_CRYPTO;

    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL)) == NULL ||
        EVP_PKEY_verify_init(ctx) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx, hi->md()) <= 0) {
        r = cms_ossl_fail("setting up signature verification");
        goto out;
    }
    switch (scheme) {
    case QS_SIG_ECDSA:
        break;
    case QS_SIG_RSA_PKCS1:
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) {
            r = cms_ossl_fail("EVP_PKEY_CTX_set_rsa_padding");
            goto out;
        }
        break;
    case QS_SIG_RSA_PSS:
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, hi->md()) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)hi->len) <= 0) {
            r = cms_ossl_fail("setting PSS parameters");
            goto out;
        }
        break;
    }
    if (EVP_PKEY_verify(ctx, sig, sig_len, digest, hi->len) != 1) {
        ERR_clear_error();
        qs_error("the signing callback's %zu-byte signature does not verify under the "
                 "certificate's public key",
                 sig_len);
        r = QS_ERR_CRYPTO;
        goto out;
    }
    r = QS_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return r;
}

/* Calls the callback on the signed-attributes digest, checks its answer and stores it. */
static qs_err cms_sign(CMS_SignerInfo *si, EVP_PKEY *pub, const qs_cms_params *p,
                       const cms_hash_info *hi, const uint8_t *digest)
{
    uint8_t *sig = NULL;
    qs_err r = QS_ERR_INTERNAL;

    int cap = EVP_PKEY_get_size(pub);
    if (cap <= 0) {
        r = cms_ossl_fail("EVP_PKEY_get_size");
        goto out;
    }
    if ((sig = malloc((size_t)cap)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    size_t sig_len = (size_t)cap;
    r = p->sign(p->sign_cls, p->scheme, p->hash, digest, hi->len, sig, &sig_len);
    if (r != QS_OK) {
        if (r > 0) {
            qs_bug("signing callback returned %d, not a qs_err", (int)r);
            r = QS_ERR_INTERNAL;
        }
        qs_warn("signing callback failed: %s", qs_err_name(r));
        goto out;
    }
    if (sig_len == 0 || sig_len > (size_t)cap) {
        qs_error("signing callback returned %zu bytes (capacity %d)", sig_len, cap);
        r = QS_ERR_CRYPTO;
        goto out;
    }
    if ((r = cms_verify_sig(pub, hi, p->scheme, digest, sig, sig_len)) != QS_OK)
        goto out;
    ASN1_OCTET_STRING *value = CMS_SignerInfo_get0_signature(si);
    if (value == NULL || !ASN1_STRING_set(value, sig, (int)sig_len)) {
        r = cms_ossl_fail("storing the signature value");
        goto out;
    }
    r = QS_OK;
out:
    free(sig);
    return r;
}

static qs_err cms_encode(CMS_ContentInfo *cms, uint8_t **der, size_t *der_len)
{
    int n = i2d_CMS_ContentInfo(cms, NULL);
    if (n <= 0)
        return cms_ossl_fail("i2d_CMS_ContentInfo");
    uint8_t *buf = malloc((size_t)n);
    if (buf == NULL)
        return QS_ERR_NOMEM;
    unsigned char *q = buf;
    if (i2d_CMS_ContentInfo(cms, &q) != n) {
        free(buf);
        return cms_ossl_fail("i2d_CMS_ContentInfo");
    }
    *der = buf;
    *der_len = (size_t)n;
    return QS_OK;
}

qs_err qs_cms_build_cades_bb(const qs_cms_params *p, uint8_t **der, size_t *der_len,
                             uint8_t attrs_digest[static QS_HASH_MAX_LEN], size_t *attrs_digest_len)
{
    const cms_hash_info *hi = NULL;
    X509 *cert = NULL;
    X509 *chain[QS_CMS_CHAIN_MAX] = {NULL};
    CMS_ContentInfo *cms = NULL;
    uint8_t digest[QS_HASH_MAX_LEN];
    qs_err r = QS_ERR_INTERNAL;

    if (der != NULL)
        *der = NULL;
    if (der_len != NULL)
        *der_len = 0;
    if (attrs_digest_len != NULL)
        *attrs_digest_len = 0;
    memset(attrs_digest, 0, QS_HASH_MAX_LEN);
    if (p == NULL || der == NULL || der_len == NULL || attrs_digest_len == NULL) {
        qs_bug("qs_cms_build_cades_bb called with a NULL argument");
        return QS_ERR_INVALID_ARGUMENT;
    }
    if ((r = cms_check_params(p, &hi)) != QS_OK)
        goto out;
    if ((r = cms_parse_cert(p->cert_der, p->cert_len, "signer", 0, &cert)) != QS_OK)
        goto out;
    for (size_t i = 0; i < p->chain_n; i++) {
        r = cms_parse_cert(p->chain_der[i], p->chain_len[i], "chain", i, &chain[i]);
        if (r != QS_OK)
            goto out;
        /* OpenSSL refuses a certificate twice in the set; say which one it is. */
        bool repeated = X509_cmp(chain[i], cert) == 0;
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = X509_cmp(chain[i], chain[j]) == 0;
        if (repeated) {
            qs_warn("chain certificate %zu repeats the signer or an earlier one", i);
            r = QS_ERR_INVALID_ARGUMENT;
            goto out;
        }
    }
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (pub == NULL) {
        ERR_clear_error();
        qs_warn("signer certificate's public key does not parse");
        r = QS_ERR_PARSE;
        goto out;
    }
    if ((r = cms_check_scheme(pub, p->scheme)) != QS_OK)
        goto out;

    cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_DETACHED | CMS_BINARY);
    if (cms == NULL) {
        r = cms_ossl_fail("CMS_sign");
        goto out;
    }
    /* The public key satisfies add1_signer's key-matches-certificate check; without
     * CMS_KEY_PARAM no signing context is made from it. */
    CMS_SignerInfo *si =
        CMS_add1_signer(cms, cert, pub, hi->md(), CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP);
    if (si == NULL) {
        r = cms_ossl_fail("CMS_add1_signer");
        goto out;
    }
    for (size_t i = 0; i < p->chain_n; i++) {
        if (!CMS_add1_cert(cms, chain[i])) {
            r = cms_ossl_fail("CMS_add1_cert");
            goto out;
        }
    }
    if ((r = cms_set_sig_alg(si, hi, p->scheme)) != QS_OK)
        goto out;
    if ((r = cms_add_signed_attrs(si, p, cert)) != QS_OK)
        goto out;
    if ((r = cms_digest_signed_attrs(si, hi, digest)) != QS_OK)
        goto out;
    if ((r = cms_sign(si, pub, p, hi, digest)) != QS_OK)
        goto out;
    if ((r = cms_encode(cms, der, der_len)) != QS_OK)
        goto out;
    memcpy(attrs_digest, digest, hi->len);
    *attrs_digest_len = hi->len;
    r = QS_OK;
out:
    CMS_ContentInfo_free(cms);
    for (size_t i = 0; i < QS_CMS_CHAIN_MAX; i++)
        X509_free(chain[i]);
    X509_free(cert);
    return r;
}

/* OpenSSL's own item for the signed SET OF Attribute (CMS_Attributes_Sign) is not exported;
 * this is the same declaration.  SET_ORDER encodes the elements in DER order (and reorders the
 * stack it is given to match). */
/* clang-format off */
ASN1_ITEM_TEMPLATE(cms_signed_attrs) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_ORDER, V_ASN1_SET, cms_signed_attrs, X509_ATTRIBUTE)
static_ASN1_ITEM_TEMPLATE_END(cms_signed_attrs)

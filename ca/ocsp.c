/*
 * OCSP (RFC 6960): a strict parser for requests, which arrive from anyone on the internet, and
 * the responses: signed by the delegated responder, one SingleResponse per CertID with an
 * ArchiveCutoff (EN 319 411-2: status stays available after expiry), the nonce echoed.
 *
 * The request is decoded with templates that mirror RFC 6960 (OpenSSL's own OCSP_REQUEST hides
 * the version), then re-encoded and compared with the input, so only DER is accepted.
 */
#define QS_LOG_MODULE "ca"

#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "util/log.h"

/* The ASN.1 declarations below are macro calls clang-format cannot lay out. */
/* clang-format off */

/* CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
 * issuerKeyHash OCTET STRING, serialNumber CertificateSerialNumber } */
typedef struct cert_id_st {
    X509_ALGOR *alg;
    ASN1_OCTET_STRING *name_hash;
    ASN1_OCTET_STRING *key_hash;
    ASN1_INTEGER *serial;
} CERT_ID;

ASN1_SEQUENCE(CERT_ID) = {
    ASN1_SIMPLE(CERT_ID, alg, X509_ALGOR),
    ASN1_SIMPLE(CERT_ID, name_hash, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CERT_ID, key_hash, ASN1_OCTET_STRING),
    ASN1_SIMPLE(CERT_ID, serial, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(CERT_ID)

/* Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions
 * OPTIONAL } */
typedef struct req_one_st {
    CERT_ID *cert_id;
    STACK_OF(X509_EXTENSION) *exts;
} REQ_ONE;

ASN1_SEQUENCE(REQ_ONE) = {
    ASN1_SIMPLE(REQ_ONE, cert_id, CERT_ID),
    ASN1_EXP_SEQUENCE_OF_OPT(REQ_ONE, exts, X509_EXTENSION, 0),
} static_ASN1_SEQUENCE_END(REQ_ONE)

DEFINE_STACK_OF(REQ_ONE)

/* TBSRequest ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1, requestorName [1] EXPLICIT
 * GeneralName OPTIONAL, requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT
 * Extensions OPTIONAL } */
typedef struct req_tbs_st {
    ASN1_INTEGER *version;
    GENERAL_NAME *requestor;
    STACK_OF(REQ_ONE) *list;
    STACK_OF(X509_EXTENSION) *exts;
} REQ_TBS;

ASN1_SEQUENCE(REQ_TBS) = {
    ASN1_EXP_OPT(REQ_TBS, version, ASN1_INTEGER, 0),
    ASN1_EXP_OPT(REQ_TBS, requestor, GENERAL_NAME, 1),
    ASN1_SEQUENCE_OF(REQ_TBS, list, REQ_ONE),
    ASN1_EXP_SEQUENCE_OF_OPT(REQ_TBS, exts, X509_EXTENSION, 2),
} static_ASN1_SEQUENCE_END(REQ_TBS)

/* OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature
 * OPTIONAL } */
typedef struct req_st {
    REQ_TBS *tbs;
    OCSP_SIGNATURE *sig;
} REQ;

ASN1_SEQUENCE(REQ) = {
    ASN1_SIMPLE(REQ, tbs, REQ_TBS),
    ASN1_EXP_OPT(REQ, sig, OCSP_SIGNATURE, 0),
} static_ASN1_SEQUENCE_END(REQ)

    /* clang-format on */

    static void req_free(REQ * r)
{
    ASN1_item_free((ASN1_VALUE *)r, ASN1_ITEM_rptr(REQ));
}

static ca_hash hash_of(const ASN1_OBJECT *alg)
{
    switch (OBJ_obj2nid(alg)) {
    case NID_sha1:
        return CA_HASH_SHA1;
    case NID_sha256:
        return CA_HASH_SHA256;
    case NID_sha384:
        return CA_HASH_SHA384;
    case NID_sha512:
        return CA_HASH_SHA512;
    default:
        return CA_HASH_UNKNOWN;
    }
}

static const EVP_MD *hash_md(ca_hash h)
{
    switch (h) {
    case CA_HASH_SHA1:
        return EVP_sha1();
    case CA_HASH_SHA256:
        return EVP_sha256();
    case CA_HASH_SHA384:
        return EVP_sha384();
    case CA_HASH_SHA512:
        return EVP_sha512();
    case CA_HASH_UNKNOWN:
        return NULL;
    }
    return NULL;
}

/* No extension may be critical unless we understand it; `nonce` (may be NULL) takes the one
 * nonce extension allowed at this level. */
static bool parse_exts(const STACK_OF(X509_EXTENSION) * exts, ca_ocsp_request *nonce)
{
    int n = sk_X509_EXTENSION_num(exts);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        bool is_nonce = OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_id_pkix_OCSP_Nonce;
        if (!is_nonce || nonce == NULL) {
            if (X509_EXTENSION_get_critical(e))
                return false;
            continue;
        }
        if (nonce->has_nonce)
            return false;
        /* Nonce ::= OCTET STRING (SIZE(1..32)), DER inside extnValue (RFC 8954). */
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(e);
        const unsigned char *p = ASN1_STRING_get0_data(v);
        int vlen = ASN1_STRING_length(v);
        ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, vlen);
        bool ok = inner != NULL && p == ASN1_STRING_get0_data(v) + vlen &&
                  ASN1_STRING_length(inner) >= 1 && ASN1_STRING_length(inner) <= CA_OCSP_NONCE_MAX;
        if (ok) {
            nonce->nonce_len = (size_t)ASN1_STRING_length(inner);
            memcpy(nonce->nonce, ASN1_STRING_get0_data(inner), nonce->nonce_len);
            nonce->has_nonce = true;
        }
        ASN1_OCTET_STRING_free(inner);
        if (!ok)
            return false;
    }
    return true;
}

static bool copy_hash(const ASN1_OCTET_STRING *h, ca_hash alg, uint8_t *buf, size_t *len)
{
    int n = ASN1_STRING_length(h);
    const EVP_MD *md = hash_md(alg);
    if (n <= 0 || n > CA_OCSP_HASH_MAX || (md != NULL && n != EVP_MD_get_size(md)))
        return false;
    memcpy(buf, ASN1_STRING_get0_data(h), (size_t)n);
    *len = (size_t)n;
    return true;
}

static bool parse_certid(const CERT_ID *cid, ca_ocsp_certid *out)
{
    const ASN1_OBJECT *alg = NULL;
    int ptype = V_ASN1_UNDEF;
    X509_ALGOR_get0(&alg, &ptype, NULL, cid->alg);
    /* hashAlgorithm parameters: absent or NULL (RFC 5754 allows both). */
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
        return false;
    unsigned char *der = NULL;
    int n = ASN1_item_i2d((const ASN1_VALUE *)cid, &der, ASN1_ITEM_rptr(CERT_ID));
    bool ok = n > 0 && n <= CA_OCSP_CERTID_MAX;
    if (ok) {
        memcpy(out->der, der, (size_t)n);
        out->der_len = (size_t)n;
    }
    OPENSSL_free(der);
    if (!ok)
        return false;
    out->hash = hash_of(alg);
    if (!copy_hash(cid->name_hash, out->hash, out->name_hash, &out->name_hash_len) ||
        !copy_hash(cid->key_hash, out->hash, out->key_hash, &out->key_hash_len))
        return false;
    /* A negative, zero or over-long serial is nobody's certificate here: status unknown. */
    if (!ca_integer_bytes(cid->serial, out->serial, sizeof out->serial, &out->serial_len))
        out->serial_len = 0;
    return true;
}

qs_err ca_ocsp_request_parse(const uint8_t *der, size_t len, ca_ocsp_request *req)
{
    memset(req, 0, sizeof *req);
    if (der == NULL || len == 0)
        return QS_ERR_PARSE;
    if (len > CA_OCSP_REQUEST_MAX)
        return QS_ERR_TOO_LARGE;
    qs_err r = QS_ERR_PARSE;
    const unsigned char *p = der;
    REQ *rq = (REQ *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(REQ));
    if (rq == NULL || p != der + len)
        goto out;
    unsigned char *re = NULL;
    int n = ASN1_item_i2d((ASN1_VALUE *)rq, &re, ASN1_ITEM_rptr(REQ));
    bool same = n > 0 && (size_t)n == len && memcmp(re, der, len) == 0;
    OPENSSL_free(re);
    if (!same)
        goto out;
    /* Only v1 exists, and DER leaves a DEFAULT value out: any version field is refused. */
    if (rq->tbs->version != NULL)
        goto out;
    int count = sk_REQ_ONE_num(rq->tbs->list);
    if (count < 1 || count > CA_OCSP_CERTIDS_MAX)
        goto out;
    if (!parse_exts(rq->tbs->exts, req))
        goto out;
    for (int i = 0; i < count; i++) {
        REQ_ONE *one = sk_REQ_ONE_value(rq->tbs->list, i);
        if (!parse_exts(one->exts, NULL) || !parse_certid(one->cert_id, &req->ids[i]))
            goto out;
        req->n++;
    }
    r = QS_OK;
out:
    ERR_clear_error();
    req_free(rq);
    if (r != QS_OK)
        memset(req, 0, sizeof *req);
    return r;
}

/* ---- responses ---------------------------------------------------------------------------- */

qs_err ca_ocsp_error_response(ca_ocsp_error status, uint8_t **der, size_t *der_len)
{
    *der = NULL;
    *der_len = 0;
    bool known = false;
    switch (status) {
    case CA_OCSP_MALFORMED_REQUEST:
    case CA_OCSP_INTERNAL_ERROR:
    case CA_OCSP_TRY_LATER:
    case CA_OCSP_SIG_REQUIRED:
    case CA_OCSP_UNAUTHORIZED:
        known = true;
        break;
    }
    if (!known)
        return QS_ERR_INVALID_ARGUMENT;
    OCSP_RESPONSE *resp = OCSP_response_create((int)status, NULL);
    if (resp == NULL)
        return ca_ossl_fail(NULL, "OCSP_response_create");
    qs_err r = ca_i2d_item(resp, ASN1_ITEM_rptr(OCSP_RESPONSE), der, der_len, NULL);
    OCSP_RESPONSE_free(resp);
    return r;
}

/* The CA's issuer-name and issuer-key hashes under one algorithm. */
typedef struct ca_hashes {
    bool done;
    uint8_t name[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE];
    unsigned int len;
} ca_hashes;

static bool compute_hashes(X509 *ca, ca_hash h, ca_hashes *out)
{
    const EVP_MD *md = hash_md(h);
    unsigned char *name = NULL;
    unsigned int klen = 0;
    int nlen = i2d_X509_NAME(X509_get_subject_name(ca), &name);
    const ASN1_BIT_STRING *key = X509_get0_pubkey_bitstr(ca);
    bool ok = md != NULL && nlen > 0 && key != NULL &&
              EVP_Digest(name, (size_t)nlen, out->name, &out->len, md, NULL) == 1 &&
              EVP_Digest(ASN1_STRING_get0_data(key), (size_t)ASN1_STRING_length(key), out->key,
                         &klen, md, NULL) == 1 &&
              klen == out->len;
    OPENSSL_free(name);
    out->done = ok;
    return ok;
}

static bool certid_matches(const ca_ocsp_certid *id, X509 *ca, ca_hashes cache[])
{
    if (id->hash == CA_HASH_UNKNOWN)
        return false;
    ca_hashes *h = &cache[id->hash];
    if (!h->done && !compute_hashes(ca, id->hash, h))
        return false;
    return id->name_hash_len == h->len && id->key_hash_len == h->len &&
           memcmp(id->name_hash, h->name, h->len) == 0 && memcmp(id->key_hash, h->key, h->len) == 0;
}

static qs_err check_responder(const ca_ocsp_response_params *p, ca_why *why)
{
    if (p->req == NULL || p->lookup == NULL || p->responder_cert == NULL ||
        p->responder_key == NULL || p->ca_cert == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "params",
                         "request, lookup, responder and CA are required");
    if (p->req->n == 0 || p->req->n > CA_OCSP_CERTIDS_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "req", "empty request");
    if (p->this_update <= 0 || p->next_update <= p->this_update || p->archive_cutoff <= 0)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "next_update",
                         "times must be set and nextUpdate must follow thisUpdate");
    if (!ca_pubkey_equal(X509_get0_pubkey(p->responder_cert), p->responder_key))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "responder_key",
                         "responder key does not belong to the responder certificate");
    if (p->responder_cert == p->ca_cert || X509_cmp(p->responder_cert, p->ca_cert) == 0)
        return QS_OK;
    if (X509_check_issued(p->ca_cert, p->responder_cert) != X509_V_OK ||
        (X509_get_extension_flags(p->responder_cert) & EXFLAG_XKUSAGE) == 0 ||
        (X509_get_extended_key_usage(p->responder_cert) & XKU_OCSP_SIGN) == 0)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "responder_cert",
                         "responder certificate is not an OCSP signer issued by the CA");
    return QS_OK;
}

static qs_err add_single(OCSP_BASICRESP *bs, const ca_ocsp_certid *id, const ca_cert_status *st,
                         const ca_ocsp_response_params *p, ca_why *why)
{
    const unsigned char *q = id->der;
    OCSP_CERTID *cid = d2i_OCSP_CERTID(NULL, &q, (long)id->der_len);
    ASN1_TIME *tu = ca_time_new(p->this_update);
    ASN1_TIME *nu = ca_time_new(p->next_update);
    ASN1_TIME *rt = NULL;
    ASN1_GENERALIZEDTIME *cutoff = ca_gentime_new(p->archive_cutoff);
    qs_err r = QS_OK;
    int status = -1, reason = OCSP_REVOKED_STATUS_NOSTATUS;
    if (cid == NULL || tu == NULL || nu == NULL || cutoff == NULL) {
        r = ca_ossl_fail(why, "SingleResponse");
        goto out;
    }
    switch (st->state) {
    case CA_CERT_GOOD:
        status = V_OCSP_CERTSTATUS_GOOD;
        break;
    case CA_CERT_REVOKED:
        if (!ca_crl_reason_ok(st->reason) || st->revoked_at <= 0) {
            qs_bug("status lookup returned a revocation without time or with reason %d",
                   (int)st->reason);
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "lookup",
                          "revocation without time, or with a reason OCSP cannot carry");
            goto out;
        }
        status = V_OCSP_CERTSTATUS_REVOKED;
        if (st->reason != CA_CRL_UNSPECIFIED)
            reason = (int)st->reason;
        if ((rt = ca_time_new(st->revoked_at)) == NULL) {
            r = ca_ossl_fail(why, "revocationTime");
            goto out;
        }
        break;
    case CA_CERT_UNKNOWN:
        status = V_OCSP_CERTSTATUS_UNKNOWN;
        break;
    }
    if (status < 0) {
        qs_bug("status lookup returned state %d", (int)st->state);
        r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "lookup",
                      "status lookup returned an unknown state");
        goto out;
    }
    OCSP_SINGLERESP *single = OCSP_basic_add1_status(bs, cid, status, reason, rt, tu, nu);
    if (single == NULL || OCSP_SINGLERESP_add1_ext_i2d(single, NID_id_pkix_OCSP_archiveCutoff,
                                                       cutoff, 0, X509V3_ADD_DEFAULT) != 1) {
        r = ca_ossl_fail(why, "SingleResponse");
        goto out;
    }
out:
    ASN1_GENERALIZEDTIME_free(cutoff);
    ASN1_TIME_free(rt);
    ASN1_TIME_free(nu);
    ASN1_TIME_free(tu);
    OCSP_CERTID_free(cid);
    return r;
}

static qs_err add_nonce(OCSP_BASICRESP *bs, const ca_ocsp_request *req, ca_why *why)
{
    ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    qs_err r = QS_OK;
    int n = 0;
    if (inner == NULL || value == NULL ||
        ASN1_OCTET_STRING_set(inner, req->nonce, (int)req->nonce_len) != 1 ||
        (n = i2d_ASN1_OCTET_STRING(inner, &der)) <= 0 ||
        ASN1_OCTET_STRING_set(value, der, n) != 1 ||
        (ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, value)) == NULL ||
        OCSP_BASICRESP_add_ext(bs, ext, -1) != 1)
        r = ca_ossl_fail(why, "OCSP nonce");
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OCTET_STRING_free(inner);
    return r;
}

qs_err ca_ocsp_response_build(const ca_ocsp_response_params *p, uint8_t **der, size_t *der_len,
                              ca_why *why)
{
    OCSP_BASICRESP *bs = NULL;
    OCSP_RESPONSE *resp = NULL;
    ca_hashes cache[CA_HASH_SHA512 + 1];
    qs_err r;

    *der = NULL;
    *der_len = 0;
    ca_why_clear(why);
    memset(cache, 0, sizeof cache);
    if (p == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "params", "no parameters");
    if ((r = check_responder(p, why)) != QS_OK)
        return r;
    const EVP_MD *md = ca_key_md(p->responder_key);
    if (md == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_SIGNATURE_ALG, "responder_key",
                         "responder key is neither EC nor RSA");

    bool ours[CA_OCSP_CERTIDS_MAX] = {false};
    size_t n_ours = 0;
    for (size_t i = 0; i < p->req->n; i++) {
        ours[i] = certid_matches(&p->req->ids[i], p->ca_cert, cache);
        n_ours += ours[i];
    }
    if (n_ours == 0)
        return ca_ocsp_error_response(CA_OCSP_UNAUTHORIZED, der, der_len);

    bs = OCSP_BASICRESP_new();
    if (bs == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < p->req->n; i++) {
        const ca_ocsp_certid *id = &p->req->ids[i];
        ca_cert_status st = {.state = CA_CERT_UNKNOWN};
        if (ours[i] && id->serial_len > 0) {
            r = p->lookup(p->lookup_ctx, id->serial, id->serial_len, &st);
            if (r != QS_OK)
                goto out;
        }
        if ((r = add_single(bs, id, &st, p, why)) != QS_OK)
            goto out;
    }
    if (p->req->has_nonce && (r = add_nonce(bs, p->req, why)) != QS_OK)
        goto out;
    if (OCSP_basic_sign(bs, p->responder_cert, p->responder_key, md, NULL, OCSP_RESPID_KEY) != 1) {
        r = ca_ossl_fail(why, "OCSP_basic_sign");
        goto out;
    }
    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    if (resp == NULL) {
        r = ca_ossl_fail(why, "OCSP_response_create");
        goto out;
    }
    r = ca_i2d_item(resp, ASN1_ITEM_rptr(OCSP_RESPONSE), der, der_len, why);
out:
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    return r;
}

/*
 * SIGN_DOC (CSC signatures/signDoc with documentDigests): for each document digest the SAD
 * authorized, a detached CAdES-B-B signature (cms/cms.h) built here, in the SAM, so that what
 * the key actually signs is derived inside the trusted process from what the signer
 * authorized: SCAL2 holds for documents as it does for bare digests.
 *
 * 1. The request, the SAD's verification and the consumption of its digests are SIGN's
 *    (sam/sign.c; h_sign.c argues why), with two more conditions checked in the same
 *    transaction before anything is consumed: the credential has a certificate, valid now and
 *    issued by our CA (its certificate goes into the chain), and the answer fits one frame.
 * 2. The key is unwrapped in the HSM once.  For each digest, in request order, the signed
 *    attributes are built (contentType id-data, messageDigest = the authorized digest,
 *    signingTime = the SAM's clock, ESS signing-certificate-v2 of the credential's
 *    certificate), the digest of their DER is signed with the key (the CMS builder checks the
 *    value against the certificate's public key), and the SignedData is encoded with the
 *    signer and CA certificates.  The key object is destroyed.
 * 3. One signature.created record per document (as SIGN's, plus signature_format,
 *    signed_attrs_digest and cms_sha256), durably committed before any CMS is answered
 *    (invariant 1).  A failure after step 1 is audited as sign_doc.failed; the digests stay
 *    consumed.
 *
 * Refusals are audited as sign_doc.refused.  A credential without a certificate is refused
 * with QS_ERR_CERT_MISSING, a revoked or expired one as by SIGN, a CA that is not active with
 * QS_ERR_CA_NOT_READY.
 */
#define QS_LOG_MODULE "sam"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cms/cms.h"
#include "sam/ca.h"
#include "sam/sam.h"
#include "sam/sign.h"
#include "util/log.h"
#include "util/secret.h"

/* What one CMS adds to its certificates at most: SignedData and SignerInfo framing, the
 * algorithm identifiers, four signed attributes with a digest, the signature value, and the
 * issuer's name twice more (sid and ESSCertIDv2); the name is bounded by the CA certificate. */
#define SIGN_DOC_CMS_OVERHEAD (2048 + QS_HSM_SIG_MAX)

typedef struct doc_ctx {
    uint8_t *ca_der; /* the CA certificate (checked in the transaction) */
    size_t ca_len;
    qs_hsm_key *key;
    /* per document, request order */
    uint8_t **cms;
    size_t *cms_len;
    uint8_t (*attrs_digest)[QS_HASH_MAX_LEN];
    size_t attrs_digest_len;
    uint8_t (*sig_sha)[QS_SHA256_LEN];
    size_t cur; /* the document the sign callback is for */
} doc_ctx;

/* Inside the signing transaction, before consumption: the CA is active and issued the
 * credential's certificate; the answer fits a frame. */
static qs_err doc_check(sam_sign *s, qs_db *db)
{
    (void)db;
    doc_ctx *d = s->cls;
    sam_ca *ca = s->rq->w->s->ca;
    sam_ca_view v;
    X509 *leaf = NULL;
    qs_err r = QS_OK;

    free(d->ca_der); /* a retried transaction starts again */
    d->ca_der = NULL;
    d->ca_len = 0;
    sam_ca_acquire(ca, &v);
    if (!v.active) {
        s->reason = "ca_not_ready";
        r = QS_ERR_CA_NOT_READY;
        goto out;
    }
    if ((leaf = sam_x509_parse(s->cert->der, s->cert->der_len)) == NULL) {
        qs_bug("a stored certificate (its MAC checked) does not parse");
        r = QS_ERR_INTERNAL;
        goto out;
    }
    if (X509_check_issued(v.ca_cert, leaf) != X509_V_OK ||
        X509_verify(leaf, X509_get0_pubkey(v.ca_cert)) != 1) {
        ERR_clear_error();
        qs_error("the credential's certificate was not issued by the current CA certificate");
        s->reason = "certificate_issuer";
        r = QS_ERR_INTERNAL;
        goto out;
    }
    if ((r = sam_x509_der(v.ca_cert, &d->ca_der, &d->ca_len)) != QS_OK)
        goto out;
    size_t per = s->cert->der_len + 3 * d->ca_len + SIGN_DOC_CMS_OVERHEAD + QS_SAM_FIELD_HDR_LEN;
    if (per > QS_SAM_CMS_MAX || s->n > QS_SAM_MAX_BODY / per) {
        s->reason = "answer_too_large";
        r = QS_ERR_TOO_MANY_SIGNATURES;
        goto out;
    }
out:
    sam_ca_release(ca);
    X509_free(leaf);
    return r;
}

/* The CMS builder's signing callback: the unwrapped key signs the signed-attributes digest;
 * the value's SHA-256 is kept for the audit record. */
static qs_err doc_sign(void *cls, qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *digest,
                       size_t digest_len, uint8_t *sig, size_t *sig_len)
{
    doc_ctx *d = cls;
    uint8_t buf[QS_HSM_SIG_MAX];
    size_t len = sizeof buf;
    qs_err r = qs_hsm_key_sign(d->key, scheme, hash, digest, digest_len, buf, &len);
    if (r == QS_OK && len > *sig_len)
        r = QS_ERR_INTERNAL;
    if (r == QS_OK) {
        memcpy(sig, buf, len);
        *sig_len = len;
        crypto_hash_sha256(d->sig_sha[d->cur], buf, len);
    }
    qs_wipe(buf, sizeof buf);
    return r;
}

static void doc_details(const sam_sign *s, size_t i, sam_json *j, void *cls)
{
    const doc_ctx *d = cls;
    uint8_t cms_sha[QS_SHA256_LEN];
    (void)s;
    crypto_hash_sha256(cms_sha, d->cms[i], d->cms_len[i]);
    sam_json_str(j, "signature_format", "CAdES-B-B");
    sam_json_hex(j, "signed_attrs_digest", d->attrs_digest[i], d->attrs_digest_len);
    sam_json_hex(j, "cms_sha256", cms_sha, sizeof cms_sha);
}

/* Builds the n CMS with one unwrapped key. */
static qs_err build_all(sam_sign *s, doc_ctx *d)
{
    const uint8_t *chain[1] = {d->ca_der};
    size_t chain_len[1] = {d->ca_len};
    qs_err r = qs_hsm_unwrap_signer_key(s->rq->w->hs, s->key_alg, s->cred->wrapped_key,
                                        s->cred->wrapped_key_len, &d->key);
    if (r != QS_OK)
        return r;
    for (size_t i = 0; i < s->n && r == QS_OK; i++) {
        qs_cms_params p = {
            .cert_der = s->cert->der,
            .cert_len = s->cert->der_len,
            .chain_der = chain,
            .chain_len = chain_len,
            .chain_n = 1,
            .hash = s->halg,
            .document_digest = s->digests[i].p,
            .document_digest_len = s->digests[i].len,
            .signing_time = sam_now_us() / 1000000,
            .scheme = s->scheme,
            .sign = doc_sign,
            .sign_cls = d,
        };
        d->cur = i;
        r = qs_cms_build_cades_bb(&p, &d->cms[i], &d->cms_len[i], d->attrs_digest[i],
                                  &d->attrs_digest_len);
    }
    qs_hsm_key_destroy(d->key);
    d->key = NULL;
    return r;
}

qs_err sam_h_sign_doc(sam_req *rq)
{
    doc_ctx d;
    memset(&d, 0, sizeof d);
    sam_sign s = {
        .rq = rq,
        .refused_event = "sign_doc.refused",
        .failed_event = "sign_doc.failed",
        .need_cert = true,
        .check = doc_check,
        .cls = &d,
    };
    qs_err r;

    if ((r = sam_sign_authorize(&s)) != QS_OK)
        goto out;
    d.cms = calloc(s.n, sizeof *d.cms);
    d.cms_len = calloc(s.n, sizeof *d.cms_len);
    d.attrs_digest = calloc(s.n, sizeof *d.attrs_digest);
    d.sig_sha = calloc(s.n, sizeof *d.sig_sha);
    if (d.cms == NULL || d.cms_len == NULL || d.attrs_digest == NULL || d.sig_sha == NULL) {
        r = sam_sign_failed(&s, "memory", QS_ERR_NOMEM);
        goto out;
    }
    r = build_all(&s, &d);
    qs_wipe(s.cred->wrapped_key, sizeof s.cred->wrapped_key);
    if (r != QS_OK) {
        qs_error("building the CAdES signatures failed: %s", qs_err_name(r));
        r = sam_sign_failed(&s, "sign", r);
        goto out;
    }
    if ((r = sam_sign_audit(&s, d.sig_sha, doc_details, &d)) != QS_OK) {
        r = sam_sign_failed(&s, "audit", r);
        goto out;
    }

    /* audited and committed: the signatures may leave */
    if ((r = sam_resp_begin(rq)) != QS_OK)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        if (qs_sam_msg_put_bytes(rq->resp, QS_SAM_T_CMS, d.cms[i], d.cms_len[i]) != QS_OK) {
            r = sam_fail(rq, QS_ERR_INTERNAL, NULL);
            goto out;
        }
    }
    qs_info("%zu CAdES-B-B signature%s made (%s)", s.n, s.n == 1 ? "" : "s",
            sam_sig_scheme_name(s.scheme));
    r = QS_OK;
out:
    if (d.cms != NULL) {
        for (size_t i = 0; i < s.n; i++)
            free(d.cms[i]);
    }
    free(d.cms);
    free(d.cms_len);
    free(d.attrs_digest);
    free(d.sig_sha);
    free(d.ca_der);
    sam_sign_end(&s, r);
    qs_wipe(&s, sizeof s);
    return r;
}

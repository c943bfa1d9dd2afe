/*
 * CAdES-B-B detached signatures (ETSI EN 319 122-1): a CMS SignedData (RFC 5652) built from a
 * document digest alone, with the signature value made by a callback that signs a digest.
 *
 * What it is for: the SAM builds the signed attributes from a digest the signer authorized, so
 * the data actually signed is derived inside the trusted process, and hands the digest of those
 * attributes to the HSM.  Neither the document nor the private key is ever needed here:
 * OpenSSL never hashes content, and the key is reached only through the callback.
 *
 * Threads: no state; calls may run concurrently.  The callback runs at most once per call (once
 * on success), on the calling thread, before the call returns.
 *
 * Trust boundary: the certificates come from our own database; they are parsed strictly (DER
 * only, nothing trailing) and refused with an error when they do not parse.  The value the
 * callback returns is checked against the certificate's public key before it is placed in the
 * SignedData, so a wrong key or a broken HSM response never leaves as a signature.
 *
 * The hash and scheme enums are those of hsm/hsm.h (header only: nothing of the HSM layer is
 * linked), so the SAM passes the same values to the callback's HSM call.
 */
#ifndef QS_CMS_CMS_H
#define QS_CMS_CMS_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "util/err.h"

/* Longest certificate accepted (signer or chain), DER bytes. */
#define QS_CMS_CERT_MAX 16384
/* Most CA certificates accepted in the chain. */
#define QS_CMS_CHAIN_MAX 8
/* Latest signingTime accepted: 9999-12-31T23:59:59Z. */
#define QS_CMS_TIME_MAX INT64_C(253402300799)

/*
 * Signs `digest` (digest_len bytes, the hash of the DER signed attributes) with `scheme` and
 * `hash` exactly as qs_hsm_key_sign does: ECDSA gives a DER Ecdsa-Sig-Value, RSA PKCS#1 v1.5
 * signs DigestInfo(digest), RSA-PSS uses MGF1 with `hash` and a salt of the hash length.
 * *sig_len: in the capacity of sig (the key's largest signature), out the signature length.
 * Returns QS_OK or an error, which qs_cms_build_cades_bb passes back unchanged.
 */
typedef qs_err (*qs_cms_sign_cb)(void *cls, qs_sig_scheme scheme, qs_hash_alg hash,
                                 const uint8_t *digest, size_t digest_len, uint8_t *sig,
                                 size_t *sig_len);

typedef struct qs_cms_params {
    const uint8_t *cert_der; /* signer certificate, DER */
    size_t cert_len;
    const uint8_t *const *chain_der; /* CA certificates to include, DER; may be NULL if chain_n 0 */
    const size_t *chain_len;
    size_t chain_n;
    qs_hash_alg hash; /* the document digest's hash, also used for the signed attributes */
    const uint8_t *document_digest; /* qs_hash_len(hash) bytes */
    size_t document_digest_len;
    int64_t signing_time; /* Unix seconds, 0 ... QS_CMS_TIME_MAX */
    qs_sig_scheme scheme; /* ECDSA for an EC key; RSA PKCS#1 v1.5 or RSA-PSS for an RSA key */
    qs_cms_sign_cb sign;
    void *sign_cls;
} qs_cms_params;

/*
 * Builds a detached CAdES-B-B signature: DER ContentInfo(SignedData) with eContentType id-data
 * and no eContent, certificates = signer certificate + chain, one SignerInfo (version 1,
 * issuerAndSerialNumber) with the signed attributes contentType, messageDigest (the document
 * digest), signingTime and ESS signing-certificate-v2 (SHA-256 of the certificate, issuerSerial).
 * signatureAlgorithm: ecdsa-with-SHAxxx, shaxxxWithRSAEncryption, or RSASSA-PSS with parameters.
 *
 * On success *der is malloc'd (release with free()), and attrs_digest holds the digest
 * (*attrs_digest_len bytes, hash `p->hash`) of the DER SET OF signed attributes, the value
 * given to the callback.  On error nothing is returned: *der NULL, lengths 0, digest zeroed.
 *
 * Errors: QS_ERR_INVALID_ARGUMENT (a NULL or out-of-range field, a digest whose length does not
 * fit the hash, a scheme that does not fit the key, a repeated certificate), QS_ERR_PARSE (a
 * certificate that is not one DER certificate), QS_ERR_UNSUPPORTED (a key neither EC nor RSA),
 * the callback's own error, QS_ERR_CRYPTO (a signature that does not verify under the
 * certificate's key, or an OpenSSL failure), QS_ERR_NOMEM.
 */
QS_MUST_CHECK qs_err qs_cms_build_cades_bb(const qs_cms_params *p, uint8_t **der, size_t *der_len,
                                           uint8_t attrs_digest[static QS_HASH_MAX_LEN],
                                           size_t *attrs_digest_len);

#endif

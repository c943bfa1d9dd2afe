/*
 * The SAM's certification authority: the CA and OCSP responder keys in the token (through
 * libp11, ca/ca.h), their certificates, the certificate profiles from [ca], the CRL maker, the
 * OCSP response cache, and the certificate check before a key is used.  Private to sam/.
 *
 * State: one sam_ca per process.  Its keys are opened once (at start-up when the CA exists, or
 * when CA_INIT makes it) and kept until exit, as libp11 requires when it shares the module with
 * hsm/.  CA_INIT, CA_IMPORT_CERT and CA_RENEW_OCSP change it while requests run: they are
 * serialized by the admin lock and swap the certificates under the write lock; every other
 * request reads a consistent view under the read lock (sam_ca_acquire / sam_ca_release).
 *
 * Trust boundary: the CA's row in the database carries a record MAC and is checked before it
 * is used; the certificates in it are checked against the keys in the token.
 */
#ifndef QS_SAM_CA_H
#define QS_SAM_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "db/db_ca.h"
#include "sam/sam.h"

/* Hex digits of the longest serial number and its NUL. */
#define SAM_SERIAL_HEX_MAX (2 * CA_SERIAL_MAX + 1)

/* Checks the [ca] and [ra] options (from sam_config_load): labels, curves, the profile's
 * syntax and the URLs when set.  QS_ERR_CONFIG with the section and key in err. */
QS_MUST_CHECK qs_err sam_ca_config_check(const sam_config *cfg, const char *path, char *err,
                                         size_t err_len);

/* Makes the CA state from the config (profiles, URLs); nothing is opened. */
QS_MUST_CHECK qs_err sam_ca_new(const sam_config *cfg, sam_ca **out);

/* At start-up: reads the CA's row (its MAC checked).  An active CA gets its two keys opened and
 * checked against its certificates; a pending one its CA key.  No row: nothing to do. */
QS_MUST_CHECK qs_err sam_ca_load(sam_ca *ca, qs_hsm_session *hs, qs_db *db);

/* Frees the state; the keys are released as ca_hsm_key_close allows.  NULL is a no-op. */
void sam_ca_free(sam_ca *ca);

/* What a request may use, valid until sam_ca_release. */
typedef struct sam_ca_view {
    bool exists;      /* the CA was initialised (pending or active) */
    bool active;      /* certificates can be issued and status answered */
    X509 *ca_cert;    /* active only */
    EVP_PKEY *ca_key; /* pending and active */
    X509 *ocsp_cert;  /* active only */
    EVP_PKEY *ocsp_key;
    time_t ca_not_before; /* ExpiredCertsOnCRL and ArchiveCutoff */
    const ca_profile *natural, *legal;
    bool profiles_ready; /* [ca] pds_url and the URLs are set */
    const ca_urls *urls;
    const sam_config *cfg;
} sam_ca_view;

void sam_ca_acquire(sam_ca *ca, sam_ca_view *v);
void sam_ca_release(sam_ca *ca);

/* The admin lock: CA_INIT, CA_IMPORT_CERT and CA_RENEW_OCSP hold it from start to end. */
void sam_ca_admin_lock(sam_ca *ca);
void sam_ca_admin_unlock(sam_ca *ca);

/* Installs new state under the write lock (the admin lock held).  Ownership of the certificates
 * and keys passes to the CA (NULL keeps the current one); the OCSP cache is emptied. */
void sam_ca_install(sam_ca *ca, bool active, X509 *ca_cert, X509 *ocsp_cert, ca_hsm_key *ca_key,
                    ca_hsm_key *ocsp_key);

/* Opens a key pair of the token by label through libp11 (the PIN read from [hsm] pin_file). */
QS_MUST_CHECK qs_err sam_ca_open_key(const sam_config *cfg, const char *label, ca_hsm_key **out);

/* The profile named `name` ("qcp-n-qscd" / "qcp-l-qscd") of the view, or NULL. */
const ca_profile *sam_ca_profile(const sam_ca_view *v, const char *name);

/* The subject of the CA and of its OCSP responder from [ca]; strings borrowed from the config.
 * QS_ERR_CONFIG (naming the key in err) when a required one is empty. */
QS_MUST_CHECK qs_err sam_ca_subject(const sam_config *cfg, bool ocsp, char *cn_buf, size_t cn_cap,
                                    ca_subject *out, char *err, size_t err_len);

/* Issues the delegated OCSP responder certificate for `ocsp_key` ([ca] subject_* with " OCSP"
 * in the commonName, [ca] ocsp_validity_days from now).  *out is a new X509.  On error msg says
 * why. */
QS_MUST_CHECK qs_err sam_ca_issue_responder(const sam_config *cfg, X509 *ca_cert, EVP_PKEY *ca_key,
                                            EVP_PKEY *ocsp_key, X509 **out, char *msg,
                                            size_t msg_len);

/* ---- CRL and OCSP -------------------------------------------------------------------------- */

/*
 * The current CRL: the stored one while it is fresh (less than half its validity passed, no
 * revocation since), else a new one (cRLNumber + 1, every revoked certificate) made, stored and
 * returned.  With `force` always a new one.  *der is malloc'd.  QS_ERR_CA_NOT_READY when the CA
 * is not active.
 */
QS_MUST_CHECK qs_err sam_ca_crl(sam_req *rq, bool force, uint8_t **der, size_t *len);

/* Empties the OCSP response cache (after a revocation or a new responder certificate). */
void sam_ca_ocsp_flush(sam_ca *ca);

/* A cached response for request `req_der` (no nonce): *der malloc'd; false when none. */
bool sam_ca_ocsp_cached(sam_ca *ca, const uint8_t *req_der, size_t req_len, int64_t now_us,
                        uint8_t **der, size_t *len);

/* Keeps a response until expires_us. */
void sam_ca_ocsp_store(sam_ca *ca, const uint8_t *req_der, size_t req_len, int64_t expires_us,
                       const uint8_t *der, size_t len);

/* ---- Certificates --------------------------------------------------------------------------- */

/*
 * ETSI TS 119 431-1: the certificate is checked before the key is used.  Inside a transaction:
 * the credential's certificate, if it has one, must pass its MAC check, not be revoked
 * (QS_ERR_CERT_REVOKED) and be within its validity at now_us (QS_ERR_CERT_EXPIRED).  With out
 * NULL a credential without a certificate passes; otherwise the certificate is required
 * (QS_ERR_CERT_MISSING) and its row is left in *out (filled even on a refusal).  *reason names
 * a refusal for the audit record.
 */
QS_MUST_CHECK qs_err sam_cert_check_use(sam_req *rq, qs_db *db,
                                        const uint8_t cred_id[static QS_DB_SAM_UUID_LEN],
                                        int64_t now_us, const char **reason,
                                        qs_db_certificate *out);

/* Loads a certificate row and checks its MAC (noting a mismatch): QS_OK, QS_ERR_NOT_FOUND,
 * QS_ERR_MAC.  With cred_id the credential's certificate, else the one with `serial`. */
QS_MUST_CHECK qs_err sam_cert_load(sam_req *rq, qs_db *db, const uint8_t *cred_id,
                                   const uint8_t *serial, size_t serial_len, bool lock,
                                   qs_db_certificate *out);

/* Loads the CA's row and checks its MAC: QS_OK, QS_ERR_NOT_FOUND, QS_ERR_MAC. */
QS_MUST_CHECK qs_err sam_ca_state_load(sam_req *rq, qs_db *db, bool lock, qs_db_ca_state *out);

/* DER of a certificate: *der malloc'd. */
QS_MUST_CHECK qs_err sam_x509_der(X509 *x, uint8_t **der, size_t *len);

/* A certificate from DER: exactly one, nothing after it; NULL otherwise. */
X509 *sam_x509_parse(const uint8_t *der, size_t len);

/* A name as RFC 4514 text (UTF-8 kept), truncated to cap - 1 bytes: false when it did not fit. */
bool sam_name_text(const X509_NAME *name, char *buf, size_t cap);

/* Lower-case hex of bytes; out holds 2 * n + 1. */
void sam_hex(const uint8_t *p, size_t n, char *out);

/* An ASN1_TIME as Unix seconds; false when it does not convert. */
bool sam_asn1_time(const ASN1_TIME *t, time_t *out);

/* The name of an RFC 5280 CRLReason ("keyCompromise"), "?" outside it. */
const char *sam_crl_reason_name(int reason);

#endif

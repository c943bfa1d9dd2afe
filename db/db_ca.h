/*
 * Database operations of the certification and registration authority
 * (db/migrations/0004-certificates.sql): the CA's state, CRLs, issued certificates, identity
 * evidence, activation codes and RA sessions.  Each runs inside a qs_db_run_txn callback.
 *
 * Writes are the SAM's (role qsign_sam).  qsignd (role qsign_api) reads with the operations
 * marked "qsignd": certificates, CRLs, the public CA certificates, RA sessions and the RA view
 * of signers.  Rows the SAM relies on carry record_mac, which the database only stores
 * (sam/records.h says what it covers).
 *
 * Row structs use fixed-size buffers (nothing to free) except where a function says it
 * allocates.  Optional text columns read as "" for SQL NULL and are written as NULL when "".
 */
#ifndef QS_DB_DB_CA_H
#define QS_DB_DB_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define QS_DB_CA_UUID_LEN     16
#define QS_DB_CA_MAC_LEN      32
#define QS_DB_CA_SHA256_LEN   32
#define QS_DB_CERT_DER_MAX    16384
#define QS_DB_CERT_SERIAL_MAX 20
#define QS_DB_ISSUER_MAX      2048 /* bytes of certificates.issuer */
#define QS_DB_SUBJECT_MAX     4096 /* bytes of certificates.subject */
#define QS_DB_KEY_LABEL_MAX   64
#define QS_DB_CA_NAME_MAX     24 /* buffer of an enumerated text value and its NUL */
#define QS_DB_CRL_MAX         1048000
#define QS_DB_DOC_SALT_LEN    16
#define QS_DB_OFFICER_MAX     256
#define QS_DB_NOTES_MAX       1000
#define QS_DB_CN_MAX          256  /* bytes: commonName, serialNumber, organization fields */
#define QS_DB_NAME_MAX        1024 /* bytes: givenName, surname */
#define QS_DB_PSEUDONYM_MAX   512
/* Most signers one RA list call returns. */
#define QS_DB_SIGNERS_MAX 500

/* ca_state.status, certificates.status */
#define QS_DB_CA_PENDING   "pending"
#define QS_DB_CA_ACTIVE    "active"
#define QS_DB_CERT_VALID   "valid"
#define QS_DB_CERT_REVOKED "revoked"

/* ---- The CA (SAM) ----------------------------------------------------------------------- */

typedef struct qs_db_ca_state {
    char key_label[QS_DB_KEY_LABEL_MAX + 1];
    char key_alg[QS_DB_CA_NAME_MAX]; /* ec-p256 | ec-p384 */
    char status[QS_DB_CA_NAME_MAX];  /* pending | active */
    bool has_ca_cert;
    uint8_t ca_cert[QS_DB_CERT_DER_MAX];
    size_t ca_cert_len;
    bool has_csr;
    uint8_t csr[QS_DB_CERT_DER_MAX];
    size_t csr_len;
    char ocsp_key_label[QS_DB_KEY_LABEL_MAX + 1];
    bool has_ocsp_cert;
    uint8_t ocsp_cert[QS_DB_CERT_DER_MAX];
    size_t ocsp_cert_len;
    int64_t crl_number;
    uint8_t record_mac[QS_DB_CA_MAC_LEN];
} qs_db_ca_state;

/* The CA's row; *found = false when the CA was never initialised.  With `lock` the row is
 * locked (FOR UPDATE) until the transaction ends. */
QS_MUST_CHECK qs_err qs_db_ca_state_get(qs_db *db, bool lock, qs_db_ca_state *out, bool *found);

/* Inserts the CA's row.  QS_ERR_EXISTS when there is one. */
QS_MUST_CHECK qs_err qs_db_ca_state_insert(qs_db *db, const qs_db_ca_state *s);

/* Writes status, ca_cert, csr, ocsp_cert, crl_number and record_mac (updated_at = now). */
QS_MUST_CHECK qs_err qs_db_ca_state_update(qs_db *db, const qs_db_ca_state *s);

/* ---- CRLs (SAM writes; SAM and qsignd read) --------------------------------------------- */

/* Stores a CRL the CA made.  QS_ERR_EXISTS when its number is taken. */
QS_MUST_CHECK qs_err qs_db_crl_insert(qs_db *db, int64_t crl_number, int64_t this_update_us,
                                      int64_t next_update_us, const uint8_t *der, size_t len);

/* The CRL with the highest number: *der is malloc'd (free it).  *found = false when none. */
QS_MUST_CHECK qs_err qs_db_crl_latest(qs_db *db, int64_t *crl_number, int64_t *this_update_us,
                                      int64_t *next_update_us, uint8_t **der, size_t *len,
                                      bool *found);

/* One revoked certificate, for the CRL. */
typedef struct qs_db_revoked {
    uint8_t serial[QS_DB_CERT_SERIAL_MAX];
    size_t serial_len;
    int64_t revoked_at_us;
    int32_t reason;
} qs_db_revoked;

/* Every revoked certificate, expired ones included, by serial: *rows is malloc'd (free it),
 * NULL when *n is 0. */
QS_MUST_CHECK qs_err qs_db_revoked_list(qs_db *db, qs_db_revoked **rows, size_t *n);

/* The latest revocation time (*any false when nothing was ever revoked). */
QS_MUST_CHECK qs_err qs_db_revoked_latest(qs_db *db, int64_t *revoked_at_us, bool *any);

/* ---- Certificates (SAM writes; SAM and qsignd read) ------------------------------------- */

typedef struct qs_db_certificate {
    uint8_t serial[QS_DB_CERT_SERIAL_MAX];
    size_t serial_len;
    uint8_t credential_id[QS_DB_CA_UUID_LEN];
    char issuer[QS_DB_ISSUER_MAX + 1];
    char subject[QS_DB_SUBJECT_MAX + 1];
    int64_t not_before_us, not_after_us;
    uint8_t der[QS_DB_CERT_DER_MAX];
    size_t der_len;
    char profile[QS_DB_CA_NAME_MAX];
    char status[QS_DB_CA_NAME_MAX]; /* valid | revoked */
    bool revoked;                   /* revoked_at and reason are set */
    int64_t revoked_at_us;
    int32_t reason;
    uint8_t record_mac[QS_DB_CA_MAC_LEN];
} qs_db_certificate;

/* Inserts a certificate.  QS_ERR_EXISTS when its serial or its credential has one. */
QS_MUST_CHECK qs_err qs_db_certificate_insert(qs_db *db, const qs_db_certificate *c);

/* The certificate with this serial; *found tells.  With `lock`, FOR UPDATE. */
QS_MUST_CHECK qs_err qs_db_certificate_get(qs_db *db, const uint8_t *serial, size_t serial_len,
                                           bool lock, qs_db_certificate *out, bool *found);

/* The certificate of a credential; *found tells.  With `lock`, FOR UPDATE.  (qsignd too,
 * without lock.) */
QS_MUST_CHECK qs_err
qs_db_certificate_of_credential(qs_db *db, const uint8_t cred_id[static QS_DB_CA_UUID_LEN],
                                bool lock, qs_db_certificate *out, bool *found);

/* Writes status, revoked_at, reason and record_mac.  QS_ERR_NOT_FOUND when no row changed. */
QS_MUST_CHECK qs_err qs_db_certificate_update(qs_db *db, const qs_db_certificate *c);

/* ---- Identity evidence (SAM) -------------------------------------------------------------- */

typedef struct qs_db_evidence {
    uint8_t id[QS_DB_CA_UUID_LEN];
    uint8_t user_id[QS_DB_CA_UUID_LEN];
    char method[QS_DB_CA_NAME_MAX];        /* physical | remote */
    char document_type[QS_DB_CA_NAME_MAX]; /* passport | id_card | residence_permit | ... */
    uint8_t document_number_hash[QS_DB_CA_SHA256_LEN];
    uint8_t document_salt[QS_DB_DOC_SALT_LEN];
    char issuing_country[3];
    char officer[QS_DB_OFFICER_MAX + 1];
    int64_t verified_at_us;
    char notes[QS_DB_NOTES_MAX + 1]; /* "": none */
    char profile[QS_DB_CA_NAME_MAX];
    char country[3];
    char common_name[QS_DB_CN_MAX + 1];
    char given_name[QS_DB_NAME_MAX + 1]; /* "": none, and the same below */
    char surname[QS_DB_NAME_MAX + 1];
    char pseudonym[QS_DB_PSEUDONYM_MAX + 1];
    char serial_number[QS_DB_CN_MAX + 1];
    char organization[QS_DB_CN_MAX + 1];
    char organization_id[QS_DB_CN_MAX + 1];
    uint8_t record_mac[QS_DB_CA_MAC_LEN];
} qs_db_evidence;

/* Inserts an evidence row (verified_at as given). */
QS_MUST_CHECK qs_err qs_db_evidence_insert(qs_db *db, const qs_db_evidence *e);

/* The latest evidence of a user; *found tells. */
QS_MUST_CHECK qs_err qs_db_evidence_latest(qs_db *db,
                                           const uint8_t user_id[static QS_DB_CA_UUID_LEN],
                                           qs_db_evidence *out, bool *found);

/* ---- Activation codes (SAM) --------------------------------------------------------------- */

typedef struct qs_db_activation {
    uint8_t user_id[QS_DB_CA_UUID_LEN];
    uint8_t code_hash[QS_DB_CA_SHA256_LEN];
    int64_t created_at_us, expires_at_us;
    bool used;
    int64_t used_at_us;
    int32_t failed_attempts;
    uint8_t record_mac[QS_DB_CA_MAC_LEN];
} qs_db_activation;

/* Inserts the user's activation code, or replaces the one there is (a new code). */
QS_MUST_CHECK qs_err qs_db_activation_put(qs_db *db, const qs_db_activation *a);

/* The user's activation code, locked (FOR UPDATE); *found tells. */
QS_MUST_CHECK qs_err qs_db_activation_lock(qs_db *db,
                                           const uint8_t user_id[static QS_DB_CA_UUID_LEN],
                                           qs_db_activation *out, bool *found);

/* ---- RA and audit sessions (SAM writes; qsignd checks) -------------------------------------- */

/* ra_sessions.role: what a session may do. */
#define QS_DB_ROLE_OFFICER "officer" /* the RA API */
#define QS_DB_ROLE_AUDITOR "auditor" /* the audit API */

typedef struct qs_db_ra_session {
    uint8_t session_hash[QS_DB_CA_SHA256_LEN];
    uint8_t officer_id[QS_DB_CA_UUID_LEN]; /* the user: an officer or an auditor, as role says */
    char role[QS_DB_CA_NAME_MAX];          /* QS_DB_ROLE_OFFICER | QS_DB_ROLE_AUDITOR */
    int64_t created_at_us, expires_at_us;
    uint8_t record_mac[QS_DB_CA_MAC_LEN];
} qs_db_ra_session;

/* Inserts a session and deletes the expired ones. */
QS_MUST_CHECK qs_err qs_db_ra_session_insert(qs_db *db, const qs_db_ra_session *s);

/* The session with this hash; *found tells (expiry is the caller's to check). */
QS_MUST_CHECK qs_err qs_db_ra_session_get(qs_db *db, const uint8_t hash[static QS_DB_CA_SHA256_LEN],
                                          qs_db_ra_session *out, bool *found);

/* qsignd: the user and the role (role_len bytes, at least QS_DB_CA_NAME_MAX) of an unexpired
 * session with this hash (by the database's clock), and whether that user is active and of the
 * session's role: *found false when no such session. */
QS_MUST_CHECK qs_err qs_db_ra_session_check(qs_db *db,
                                            const uint8_t hash[static QS_DB_CA_SHA256_LEN],
                                            uint8_t user_id[static QS_DB_CA_UUID_LEN], char *role,
                                            size_t role_len, bool *user_active, bool *found);

/* ---- The public CA certificates (qsignd) ---------------------------------------------------- */

/* The active CA's certificate and its OCSP responder's, malloc'd (free both); *found false
 * when there is no active CA. */
QS_MUST_CHECK qs_err qs_db_ca_public(qs_db *db, uint8_t **ca_cert, size_t *ca_cert_len,
                                     uint8_t **ocsp_cert, size_t *ocsp_cert_len, bool *found);

/* ---- Signers, as the RA API shows them (qsignd) --------------------------------------------- */

typedef struct qs_db_ra_signer {
    uint8_t id[QS_DB_CA_UUID_LEN];
    char username[129];
    char status[QS_DB_CA_NAME_MAX];
    int64_t created_at_us;
    bool activated; /* the signer set PIN and TOTP */
    bool has_code;  /* an activation code exists */
    int64_t code_expires_at_us;
    bool code_used;
    bool has_evidence; /* the fields below come from the latest evidence */
    uint8_t evidence_id[QS_DB_CA_UUID_LEN];
    char method[QS_DB_CA_NAME_MAX];
    char document_type[QS_DB_CA_NAME_MAX];
    char issuing_country[3];
    char officer[QS_DB_OFFICER_MAX + 1];
    int64_t verified_at_us;
    char profile[QS_DB_CA_NAME_MAX];
    char country[3];
    char common_name[QS_DB_CN_MAX + 1];
    char given_name[QS_DB_NAME_MAX + 1];
    char surname[QS_DB_NAME_MAX + 1];
    char pseudonym[QS_DB_PSEUDONYM_MAX + 1];
    char serial_number[QS_DB_CN_MAX + 1];
    char organization[QS_DB_CN_MAX + 1];
    char organization_id[QS_DB_CN_MAX + 1];
} qs_db_ra_signer;

/* Signers (users of kind signer), oldest first, skipping `offset`, at most `max`
 * (<= QS_DB_SIGNERS_MAX) into out[0..*n); *more tells whether more follow.  With `one` not
 * NULL only that user (when a signer). */
QS_MUST_CHECK qs_err qs_db_ra_signers(qs_db *db, const uint8_t *one, uint32_t offset, uint32_t max,
                                      qs_db_ra_signer *out, size_t *n, bool *more);

#endif

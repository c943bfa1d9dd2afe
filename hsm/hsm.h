/*
 * The HSM layer: every use of a PKCS#11 token goes through here.
 *
 * What it is for: the service keys that live in the token (key-encryption key, record-MAC key,
 * pepper key, factor-secret encryption key, audit signing key), signer keys that exist in the token
 * only as short-lived session objects (generated there, kept outside as blobs wrapped under the
 * KEK, unwrapped to sign and destroyed at once), HMAC and AES-GCM with the service keys.
 *
 * Threads: a qs_hsm is shared by all threads of a process (open/close excepted).  A
 * qs_hsm_session and the qs_hsm_key objects made through it belong to one thread at a time;
 * open one session per worker thread.  After fork() the child re-initialises the module and logs
 * in again by itself on its first use of the qs_hsm; sessions and keys from the parent are then
 * re-opened or refused, never shared.
 *
 * Trust boundary: only the SAM process (and qsignctl) link this.  The token PIN stays in guarded
 * memory for the life of the qs_hsm (needed to log in again after fork) and is never logged.
 * Blobs and digests come from the database and from clients: bad ones give errors, not crashes.
 */
#ifndef QS_HSM_HSM_H
#define QS_HSM_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct qs_hsm qs_hsm;
typedef struct qs_hsm_session qs_hsm_session;
typedef struct qs_hsm_key qs_hsm_key;

/* PKCS#11 token labels are at most 32 bytes. */
#define QS_HSM_TOKEN_LABEL_MAX 32
/* Longest PIN accepted (token user PIN or SO PIN). */
#define QS_HSM_PIN_MAX 255

typedef struct qs_hsm_params {
    const char *module_path; /* PKCS#11 module (shared object) to load */
    const char *token_label; /* label of the token holding the service keys */
    const char *pin;         /* token user PIN; copied, the caller keeps and wipes its own */
    size_t pin_len;
} qs_hsm_params;

/* ---- Opening ----------------------------------------------------------------------------- */

/* Loads the module, finds the token by label, logs in and finds all service keys.
 * Errors: QS_ERR_HSM_UNAVAILABLE (module), QS_ERR_HSM_TOKEN_NOT_FOUND, QS_ERR_HSM_LOGIN,
 * QS_ERR_HSM_KEY_NOT_FOUND (a service key is missing; the log names it), QS_ERR_HSM_KEY_POLICY
 * (a service key has unsafe attributes).  *out is NULL on error. */
QS_MUST_CHECK qs_err qs_hsm_open(const qs_hsm_params *p, qs_hsm **out);

/* Logs out and unloads; all sessions must be closed before.  NULL is a no-op. */
void qs_hsm_close(qs_hsm *h);

/* Opens a session for the calling thread (one per worker thread). */
QS_MUST_CHECK qs_err qs_hsm_session_open(qs_hsm *h, qs_hsm_session **out);

/* Closes the session; session objects made in it (unwrapped keys) vanish.  NULL is a no-op. */
void qs_hsm_session_close(qs_hsm_session *s);

/* ---- Service keys ------------------------------------------------------------------------ */

typedef enum qs_hsm_service_key {
    QS_HSM_KEK = 0,        /* AES-256, wraps signer keys (RFC 5649); label "qsign-kek" */
    QS_HSM_RECORD_MAC = 1, /* HMAC-SHA-256 over the SAM's records; "qsign-record-mac" */
    QS_HSM_PEPPER = 2,     /* HMAC-SHA-256 pepper for PIN verifiers; "qsign-pepper" */
    QS_HSM_SECRET_ENC = 3, /* AES-256-GCM for factor secrets; "qsign-secret-enc" */
    QS_HSM_AUDIT_SIGN = 4, /* EC P-256 key pair signing audit checkpoints; "qsign-audit-sign" */
    QS_HSM_SERVICE_KEY_COUNT = 5,
} qs_hsm_service_key;

/* The CKA_LABEL of a service key ("qsign-kek", ...); "?" for a value outside the enum. */
const char *qs_hsm_service_key_label(qs_hsm_service_key k);

typedef enum qs_hsm_key_state {
    QS_HSM_KEY_MISSING = 0, /* no object with the label */
    QS_HSM_KEY_EXISTS = 1,  /* present with the expected attributes */
    QS_HSM_KEY_CREATED = 2, /* made by this call (qs_hsm_init_service_keys) */
    QS_HSM_KEY_BAD = 3,     /* label ambiguous or attributes unsafe: never used nor replaced */
} qs_hsm_key_state;

/* CKA_ID of a service key: random, made at creation; shown as hex for operators and logs. */
#define QS_HSM_KEY_ID_LEN     16
#define QS_HSM_KEY_ID_HEX_LEN (2 * QS_HSM_KEY_ID_LEN)

typedef struct qs_hsm_service_report {
    qs_hsm_key_state state[QS_HSM_SERVICE_KEY_COUNT];
    char id_hex[QS_HSM_SERVICE_KEY_COUNT][QS_HSM_KEY_ID_HEX_LEN + 1]; /* "" when not present */
} qs_hsm_service_report;

/* Creates the service keys that are missing, never replacing one that exists (idempotent).
 * The KEK is made in a security-officer session (public, CKA_TRUSTED), the others in a user
 * session.  The audit signing key is a pair of token objects sharing label and CKA_ID: a
 * private key (sensitive, never extractable, CKA_SIGN only) and its public key; a pair with one
 * half missing is reported bad, never completed.  No qs_hsm may be open on the token in this
 * process.  The report says per key created/exists/bad; a bad key makes the call fail
 * (QS_ERR_HSM_KEY_POLICY) after the report. */
QS_MUST_CHECK qs_err qs_hsm_init_service_keys(const qs_hsm_params *p, const char *so_pin,
                                              size_t so_pin_len, qs_hsm_service_report *report);

/* Opens the token, logs in and reports each service key as exists/missing/bad.  Returns QS_OK
 * when the token was found and the login worked, whatever the keys' state. */
QS_MUST_CHECK qs_err qs_hsm_service_key_status(const qs_hsm_params *p,
                                               qs_hsm_service_report *report);

/* ---- Signer keys ------------------------------------------------------------------------- */

typedef enum qs_key_alg {
    QS_KEY_EC_P256 = 1,
    QS_KEY_EC_P384 = 2,
    QS_KEY_RSA_2048 = 3,
    QS_KEY_RSA_3072 = 4,
    QS_KEY_RSA_4096 = 5,
} qs_key_alg;

typedef enum qs_hash_alg {
    QS_HASH_SHA256 = 1,
    QS_HASH_SHA384 = 2,
    QS_HASH_SHA512 = 3,
} qs_hash_alg;

typedef enum qs_sig_scheme {
    QS_SIG_ECDSA = 1,     /* CKM_ECDSA over the digest; DER Ecdsa-Sig-Value out */
    QS_SIG_RSA_PKCS1 = 2, /* CKM_RSA_PKCS over DigestInfo(digest) */
    QS_SIG_RSA_PSS = 3,   /* CKM_RSA_PKCS_PSS, MGF1 with the digest's hash, salt = hash length */
} qs_sig_scheme;

#define QS_SHA256_LEN   32
#define QS_SHA384_LEN   48
#define QS_SHA512_LEN   64
#define QS_HASH_MAX_LEN QS_SHA512_LEN

/* Largest signature any supported key makes (RSA-4096); DER ECDSA P-384 is at most 104. */
#define QS_HSM_SIG_MAX 512

/* Largest wrapped signer key accepted (an RSA-4096 key wraps to about 2.4 kB). */
#define QS_HSM_WRAPPED_MAX 4096

/* Digest length of `h`; 0 for a value outside the enum. */
size_t qs_hash_len(qs_hash_alg h);

/* Largest signature a key of `alg` makes with any scheme; 0 for a value outside the enum. */
size_t qs_hsm_sig_max(qs_key_alg alg);

/* Short name ("EC-P256", "RSA-3072"; "?" outside the enum), for logs and tables. */
const char *qs_key_alg_name(qs_key_alg alg);

/* A new signer key: SubjectPublicKeyInfo DER and the private key wrapped under the KEK
 * (RFC 5649).  Both buffers are malloc'd; release with qs_hsm_keypair_clear(). */
typedef struct qs_hsm_keypair {
    uint8_t *spki;
    size_t spki_len;
    uint8_t *wrapped;
    size_t wrapped_len;
} qs_hsm_keypair;

/* Frees the buffers of `kp` and zeroes it.  NULL and an already cleared pair are fine. */
void qs_hsm_keypair_clear(qs_hsm_keypair *kp);

/* Generates a key pair in the token as session objects, returns its public key and the wrapped
 * private key, and destroys both objects.  The private key can be wrapped by the KEK only. */
QS_MUST_CHECK qs_err qs_hsm_generate_signer_key(qs_hsm_session *s, qs_key_alg alg,
                                                qs_hsm_keypair *out);

/* Unwraps a blob into a private, sensitive, non-extractable session key of `alg`, used through
 * `s` only.  A blob that the KEK does not authenticate, or that holds another kind or size of
 * key: QS_ERR_HSM_BAD_BLOB. */
QS_MUST_CHECK qs_err qs_hsm_unwrap_signer_key(qs_hsm_session *s, qs_key_alg alg,
                                              const uint8_t *blob, size_t blob_len,
                                              qs_hsm_key **out);

/* Signs one digest.  dlen must equal qs_hash_len(hash) and the scheme must suit the key
 * (QS_ERR_INVALID_ARGUMENT otherwise).  *sig_len: in the capacity of sig (at least
 * qs_hsm_sig_max of the key), out the signature length. */
QS_MUST_CHECK qs_err qs_hsm_key_sign(qs_hsm_key *k, qs_sig_scheme scheme, qs_hash_alg hash,
                                     const uint8_t *digest, size_t dlen, uint8_t *sig,
                                     size_t *sig_len);

/* Destroys the session object and frees k; call it before closing k's session (the object
 * would vanish with the session anyway, the struct would not).  NULL is a no-op. */
void qs_hsm_key_destroy(qs_hsm_key *k);

/* Unwraps the blob, signs the n digests (each qs_hash_len(hash) long) and destroys the key on
 * every path.  sig_lens[i]: in the capacity of sigs[i], out the length of its signature. */
QS_MUST_CHECK qs_err qs_hsm_sign_digests(qs_hsm_session *s, qs_key_alg alg, const uint8_t *blob,
                                         size_t blob_len, qs_sig_scheme scheme, qs_hash_alg hash,
                                         const uint8_t *const digests[], size_t n,
                                         uint8_t *const sigs[], size_t sig_lens[]);

/* ---- Signing with a service key ---------------------------------------------------------- */

/* Largest DER ECDSA P-256 signature (SEQUENCE of two INTEGERs of up to 33 bytes). */
#define QS_HSM_SERVICE_SIG_MAX 72

/* Signs a SHA-256 digest (dlen QS_SHA256_LEN) with the audit signing key (QS_HSM_AUDIT_SIGN;
 * any other key is QS_ERR_INVALID_ARGUMENT): ECDSA (CKM_ECDSA, no second hash), the signature
 * DER-encoded as an Ecdsa-Sig-Value.  *sig_len: in the capacity of sig (at least
 * QS_HSM_SERVICE_SIG_MAX), out the signature's length. */
QS_MUST_CHECK qs_err qs_hsm_service_sign(qs_hsm_session *s, qs_hsm_service_key key,
                                         const uint8_t *digest, size_t dlen, uint8_t *sig,
                                         size_t *sig_len);

/* The public key of a service key pair (QS_HSM_AUDIT_SIGN) as DER SubjectPublicKeyInfo, read
 * from the token's public key object through a session of its own: *spki is malloc'd (free
 * it), *spki_len its length.  QS_ERR_INVALID_ARGUMENT for a secret key. */
QS_MUST_CHECK qs_err qs_hsm_service_public_key(qs_hsm *h, qs_hsm_service_key key, uint8_t **spki,
                                               size_t *spki_len);

/* ---- HMAC and AEAD with service keys ----------------------------------------------------- */

#define QS_HSM_HMAC_LEN      32 /* HMAC-SHA-256 */
#define QS_HSM_GCM_IV_LEN    12
#define QS_HSM_GCM_TAG_LEN   16
#define QS_HSM_AEAD_OVERHEAD (QS_HSM_GCM_IV_LEN + QS_HSM_GCM_TAG_LEN)
/* Longest plaintext, AAD or HMAC input accepted. */
#define QS_HSM_DATA_MAX (1u << 20)

/* One piece of a message made of several parts. */
typedef struct qs_hsm_buf {
    const uint8_t *p;
    size_t len;
} qs_hsm_buf;

/* HMAC-SHA-256 of `data` with the record-MAC or pepper key (QS_ERR_INVALID_ARGUMENT for other
 * keys). */
QS_MUST_CHECK qs_err qs_hsm_hmac(qs_hsm_session *s, qs_hsm_service_key key, const uint8_t *data,
                                 size_t len, uint8_t mac[static QS_HSM_HMAC_LEN]);

/* As qs_hsm_hmac over the concatenation of n parts, without copying them together. */
QS_MUST_CHECK qs_err qs_hsm_hmac_parts(qs_hsm_session *s, qs_hsm_service_key key,
                                       const qs_hsm_buf *parts, size_t n,
                                       uint8_t mac[static QS_HSM_HMAC_LEN]);

/* Recomputes the HMAC and compares in constant time: QS_OK or QS_ERR_MAC. */
QS_MUST_CHECK qs_err qs_hsm_hmac_verify(qs_hsm_session *s, qs_hsm_service_key key,
                                        const uint8_t *data, size_t len,
                                        const uint8_t mac[static QS_HSM_HMAC_LEN]);

/* AES-256-GCM with the secret-enc key: ct = IV || ciphertext || tag, IV random.  `aad` binds
 * the ciphertext to its record (may be NULL if aad_len is 0).  *ct_len: in the capacity of ct
 * (at least pt_len + QS_HSM_AEAD_OVERHEAD), out the length written. */
QS_MUST_CHECK qs_err qs_hsm_encrypt(qs_hsm_session *s, const uint8_t *aad, size_t aad_len,
                                    const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t *ct_len);

/* Opens what qs_hsm_encrypt made with the same AAD.  *pt is new qs_secret_alloc memory with a
 * NUL after the *pt_len bytes (free with qs_secret_free).  A changed IV, ciphertext, tag or
 * AAD: QS_ERR_MAC. */
QS_MUST_CHECK qs_err qs_hsm_decrypt(qs_hsm_session *s, const uint8_t *aad, size_t aad_len,
                                    const uint8_t *ct, size_t ct_len, uint8_t **pt, size_t *pt_len);

#endif

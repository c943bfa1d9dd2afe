/*
 * Database operations of the Signature Activation Module on its own tables: users, credentials,
 * factor_pin, factor_totp, sads and sad_hashes (db/migrations/0001-initial.sql).  Each runs
 * inside a qs_db_run_txn callback, as role qsign_sam, like every qs_db_<operation>.
 *
 * The rows carry record_mac, which the database only stores: what the MAC covers and when it is
 * checked is the SAM's business (sam/records.h).  The row structs hold the columns the SAM reads
 * and MACs, in fixed-size buffers (no allocation, nothing to free; wipe the secret ones:
 * wrapped_key, verifier, seed_ciphertext).  Enumerated text columns are kept as the stored text
 * and compared with the QS_DB_* names below.
 */
#ifndef QS_DB_DB_SAM_H
#define QS_DB_DB_SAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define QS_DB_SAM_UUID_LEN   16
#define QS_DB_SAM_MAC_LEN    32  /* record_mac */
#define QS_DB_SAM_SHA256_LEN 32  /* sads.sad_hash, sads.hashes_sha256 */
#define QS_DB_SAM_DIGEST_MAX 64  /* sad_hashes.digest: 32, 48 or 64 bytes */
#define QS_DB_SAM_NAME_MAX   16  /* buffer of an enumerated text value and its NUL */
#define QS_DB_USERNAME_MAX   128 /* characters, all ASCII per the CHECK */
#define QS_DB_SPKI_MAX       2048
#define QS_DB_WRAPPED_MAX    8192
#define QS_DB_VERIFIER_MAX   128 /* buffer: at most 127 bytes and the NUL */
#define QS_DB_SEED_CT_MAX    512
#define QS_DB_HASH_OID_MAX   32 /* buffer of a digest OID and its NUL */
#define QS_DB_WRITER_ID_MAX  64
/* Most digests one SAD authorizes (sads.num_signatures <= 1000). */
#define QS_DB_SAD_HASHES_MAX 1000

/* users.kind, users.status */
#define QS_DB_USER_SIGNER    "signer"
#define QS_DB_USER_OFFICER   "officer"
#define QS_DB_USER_AUDITOR   "auditor"
#define QS_DB_USER_ACTIVE    "active"
#define QS_DB_USER_SUSPENDED "suspended"
#define QS_DB_USER_CLOSED    "closed"

/* credentials.status */
#define QS_DB_CRED_ENABLED   "enabled"
#define QS_DB_CRED_DISABLED  "disabled"
#define QS_DB_CRED_LOCKED    "locked"
#define QS_DB_CRED_DESTROYED "destroyed"

typedef struct qs_db_user {
    uint8_t id[QS_DB_SAM_UUID_LEN];
    char username[QS_DB_USERNAME_MAX + 1];
    char kind[QS_DB_SAM_NAME_MAX];
    char status[QS_DB_SAM_NAME_MAX];
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_user;

typedef struct qs_db_credential {
    uint8_t id[QS_DB_SAM_UUID_LEN];
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    char key_alg[QS_DB_SAM_NAME_MAX]; /* "ec-p256", ... as stored */
    uint8_t spki[QS_DB_SPKI_MAX];
    size_t spki_len;
    bool has_wrapped_key; /* false once destroyed (NULL) */
    uint8_t wrapped_key[QS_DB_WRAPPED_MAX];
    size_t wrapped_key_len;
    char status[QS_DB_SAM_NAME_MAX];
    int32_t failed_attempts;
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_credential;

typedef struct qs_db_factor_pin {
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    char verifier[QS_DB_VERIFIER_MAX];
    int32_t failed_attempts;
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_factor_pin;

typedef struct qs_db_factor_totp {
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t seed_ciphertext[QS_DB_SEED_CT_MAX];
    size_t seed_ciphertext_len;
    char algorithm[QS_DB_SAM_NAME_MAX]; /* "SHA1", "SHA256", "SHA512" */
    int32_t digits;
    int32_t period;
    int64_t last_step;
    int32_t failed_attempts;
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_factor_totp;

typedef struct qs_db_sad {
    uint8_t sad_hash[QS_DB_SAM_SHA256_LEN];
    uint8_t user_id[QS_DB_SAM_UUID_LEN];
    uint8_t credential_id[QS_DB_SAM_UUID_LEN];
    char hash_alg[QS_DB_HASH_OID_MAX]; /* digest OID as stored */
    int32_t num_signatures;
    int32_t remaining;
    uint8_t hashes_sha256[QS_DB_SAM_SHA256_LEN];
    int64_t created_at_us; /* microseconds since the Unix epoch, exactly as stored */
    int64_t expires_at_us;
    char auth_event_writer[QS_DB_WRITER_ID_MAX + 1];
    int64_t auth_event_seq;
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_sad;

/* One sad_hashes row; its sad_hash is the SAD's. */
typedef struct qs_db_sad_hash {
    uint8_t digest[QS_DB_SAM_DIGEST_MAX];
    size_t digest_len;
    bool consumed;          /* consumed_at is not NULL */
    int64_t consumed_at_us; /* 0 when not consumed */
    uint8_t record_mac[QS_DB_SAM_MAC_LEN];
} qs_db_sad_hash;

/* ---- users -------------------------------------------------------------------------------- */

/* Inserts a user (created_at defaults to now).  QS_ERR_EXISTS when the username (or id) is
 * taken, QS_ERR_DB_CONSTRAINT when a CHECK refuses a value. */
QS_MUST_CHECK qs_err qs_db_user_insert(qs_db *db, const qs_db_user *u);

/* Reads a user; *found = false (and *out zeroed) when there is none. */
QS_MUST_CHECK qs_err qs_db_user_get(qs_db *db, const uint8_t id[static QS_DB_SAM_UUID_LEN],
                                    qs_db_user *out, bool *found);

/* ---- credentials -------------------------------------------------------------------------- */

/* Inserts a credential (created_at defaults to now). */
QS_MUST_CHECK qs_err qs_db_credential_insert(qs_db *db, const qs_db_credential *c);

/* Reads a credential without locking it; *found = false when there is none. */
QS_MUST_CHECK qs_err qs_db_credential_get(qs_db *db, const uint8_t id[static QS_DB_SAM_UUID_LEN],
                                          qs_db_credential *out, bool *found);

/* As qs_db_credential_get, locking the row (FOR UPDATE) until the transaction ends. */
QS_MUST_CHECK qs_err qs_db_credential_lock(qs_db *db, const uint8_t id[static QS_DB_SAM_UUID_LEN],
                                           qs_db_credential *out, bool *found);

/* Writes the changing columns of c (wrapped_key, NULL when !has_wrapped_key; status;
 * failed_attempts; record_mac) to the row with c->id.  QS_ERR_NOT_FOUND when no row changed. */
QS_MUST_CHECK qs_err qs_db_credential_update(qs_db *db, const qs_db_credential *c);

/* ---- factors ------------------------------------------------------------------------------ */

/* Reads and locks (FOR UPDATE) the PIN factor of a user; *found = false when none. */
QS_MUST_CHECK qs_err qs_db_factor_pin_lock(qs_db *db,
                                           const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                                           qs_db_factor_pin *out, bool *found);

/* Inserts a PIN factor.  QS_ERR_EXISTS when the user has one. */
QS_MUST_CHECK qs_err qs_db_factor_pin_insert(qs_db *db, const qs_db_factor_pin *f);

/* Writes verifier, failed_attempts and record_mac; updated_at becomes now when set_updated (a
 * new PIN).  QS_ERR_NOT_FOUND when the user has no PIN factor. */
QS_MUST_CHECK qs_err qs_db_factor_pin_update(qs_db *db, const qs_db_factor_pin *f,
                                             bool set_updated);

/* Reads and locks (FOR UPDATE) the TOTP factor of a user; *found = false when none. */
QS_MUST_CHECK qs_err qs_db_factor_totp_lock(qs_db *db,
                                            const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                                            qs_db_factor_totp *out, bool *found);

/* Inserts a TOTP factor.  QS_ERR_EXISTS when the user has one. */
QS_MUST_CHECK qs_err qs_db_factor_totp_insert(qs_db *db, const qs_db_factor_totp *f);

/* Writes every MACed column but user_id, and record_mac; updated_at becomes now when
 * set_updated (a new seed).  QS_ERR_NOT_FOUND when the user has no TOTP factor. */
QS_MUST_CHECK qs_err qs_db_factor_totp_update(qs_db *db, const qs_db_factor_totp *f,
                                              bool set_updated);

/* ---- SADs --------------------------------------------------------------------------------- */

/* Inserts a SAD row (created_at as given). */
QS_MUST_CHECK qs_err qs_db_sad_insert(qs_db *db, const qs_db_sad *s);

/* Inserts the n (1..QS_DB_SAD_HASHES_MAX) digests of a SAD in one statement. */
QS_MUST_CHECK qs_err qs_db_sad_hashes_insert(qs_db *db,
                                             const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                             const qs_db_sad_hash *rows, size_t n);

/* Reads and locks (FOR UPDATE) a SAD by the SHA-256 of its handle; *found = false when none. */
QS_MUST_CHECK qs_err qs_db_sad_lock(qs_db *db, const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                    qs_db_sad *out, bool *found);

/* Reads and locks (FOR UPDATE) the digests of a SAD, in ascending byte order: *rows is a
 * malloc'd array of *n rows (free() it), NULL when *n == 0.  More than QS_DB_SAD_HASHES_MAX
 * rows is QS_ERR_DB. */
QS_MUST_CHECK qs_err qs_db_sad_hashes_lock(qs_db *db,
                                           const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                           qs_db_sad_hash **rows, size_t *n);

/* Reads and locks (FOR UPDATE), in one statement, the rows of the n digests digests[i]
 * (lens[i] bytes each, 1 <= n <= QS_DB_SAD_HASHES_MAX) among the digests of a SAD, in
 * ascending byte order; digests the SAD does not have are simply not returned.  *rows is a
 * malloc'd array of *count rows (free() it), NULL when *count == 0. */
QS_MUST_CHECK qs_err qs_db_sad_hashes_lock_some(qs_db *db,
                                                const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                                const uint8_t *const digests[], const size_t lens[],
                                                size_t n, qs_db_sad_hash **rows, size_t *count);

/* Writes remaining and record_mac of a SAD.  QS_ERR_NOT_FOUND when no row changed. */
QS_MUST_CHECK qs_err qs_db_sad_update_remaining(qs_db *db,
                                                const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                                int32_t remaining,
                                                const uint8_t mac[static QS_DB_SAM_MAC_LEN]);

/* Marks n digests of a SAD consumed (consumed_at and record_mac from each row) in one
 * statement, only where consumed_at is still NULL: QS_ERR_NOT_FOUND unless all n changed. */
QS_MUST_CHECK qs_err qs_db_sad_hashes_consume(qs_db *db,
                                              const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                              const qs_db_sad_hash *rows, size_t n);

#endif

/*
 * Database operations of qsignd (role qsign_api) and of `qsignctl account` (the owner):
 * login accounts, access tokens (db/migrations/0002-accounts.sql) and the read-only view of a
 * user's credentials.  Each runs inside a qs_db_run_txn callback, like every qs_db_<operation>.
 *
 * Row structs use fixed-size buffers: nothing to free.  The verifier is a secret: wipe it.
 */
#ifndef QS_DB_DB_API_H
#define QS_DB_DB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

#define QS_DB_API_UUID_LEN       16
#define QS_DB_API_TOKEN_HASH_LEN 32  /* SHA-256 of a token */
#define QS_DB_API_VERIFIER_MAX   128 /* buffer: at most 127 bytes and the NUL */
#define QS_DB_API_NAME_MAX       16  /* buffer of an enumerated text value and its NUL */
#define QS_DB_API_USERNAME_MAX   128 /* characters, all ASCII per the CHECK */

/* ---- Accounts ----------------------------------------------------------------------------- */

typedef struct qs_db_api_account {
    uint8_t user_id[QS_DB_API_UUID_LEN];
    char kind[QS_DB_API_NAME_MAX]; /* users.kind: signer, officer, auditor */
    char verifier[QS_DB_API_VERIFIER_MAX];
    int32_t failed_logins;
} qs_db_api_account;

/*
 * The login account of the *active* user called `username`: *found tells whether there is one
 * (a user without a password, or suspended or closed, is not found).  On found, *out is filled;
 * the caller wipes out->verifier.
 */
QS_MUST_CHECK qs_err qs_db_account_get_by_username(qs_db *db, const char *username,
                                                   qs_db_api_account *out, bool *found);

/* Records a login attempt: success resets failed_logins and sets last_login_at; failure
 * increments failed_logins (saturating) and sets last_failed_at. */
QS_MUST_CHECK qs_err qs_db_account_record_login(qs_db *db,
                                                const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                                bool success);

/*
 * Sets (creates or replaces) the login password verifier of user `user_id` and resets its
 * failed_logins.  *user_exists is false (and nothing is written) when there is no such user.
 * Needs the owner role.
 */
QS_MUST_CHECK qs_err qs_db_account_set_password(qs_db *db,
                                                const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                                const char *verifier, bool *user_exists);

/* The state of an account its owner may see (the web page's account/info). */
typedef struct qs_db_api_account_status {
    char username[QS_DB_API_USERNAME_MAX + 1];
    char kind[QS_DB_API_NAME_MAX]; /* users.kind */
    bool activated;                /* both factors (signing PIN and TOTP) are set */
} qs_db_api_account_status;

/* The username, kind and activation of user `user_id`: *found tells whether there is one. */
QS_MUST_CHECK qs_err qs_db_account_status(qs_db *db,
                                          const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                          qs_db_api_account_status *out, bool *found);

/* ---- A user's credentials, read-only -------------------------------------------------------- */

typedef struct qs_db_api_credential {
    uint8_t id[QS_DB_API_UUID_LEN];
    char key_alg[QS_DB_API_NAME_MAX]; /* ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 */
    char status[QS_DB_API_NAME_MAX];  /* enabled, disabled, locked; destroyed: revoked */
    int64_t created_at_us;
} qs_db_api_credential;

/* Most credentials one call returns. */
#define QS_DB_API_CREDENTIALS_MAX 1000

/*
 * The credentials of `user_id` that still have a key (status other than destroyed) or a
 * certificate (a revoked one, whose key was destroyed, stays visible with its status), oldest
 * first, skipping the first `offset` and returning at most `max` (<= QS_DB_API_CREDENTIALS_MAX)
 * into out[0..*n).  *more tells whether further credentials follow.
 */
QS_MUST_CHECK qs_err qs_db_account_credentials(qs_db *db,
                                               const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                               bool only_enabled, uint32_t offset, uint32_t max,
                                               qs_db_api_credential *out, size_t *n, bool *more);

/*
 * Credential `cred_id` if it belongs to `user_id` and is not destroyed (or destroyed but
 * certified, as above): *found tells.  Another user's credential and a missing one give the
 * same answer.
 */
QS_MUST_CHECK qs_err qs_db_account_credential(qs_db *db,
                                              const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                              const uint8_t cred_id[static QS_DB_API_UUID_LEN],
                                              qs_db_api_credential *out, bool *found);

/* ---- Access tokens ------------------------------------------------------------------------ */

typedef enum qs_db_token_kind {
    QS_DB_TOKEN_ACCESS = 1,
    QS_DB_TOKEN_REFRESH = 2,
} qs_db_token_kind;

typedef struct qs_db_api_token {
    uint8_t user_id[QS_DB_API_UUID_LEN];
    uint8_t session_id[QS_DB_API_UUID_LEN];
    qs_db_token_kind kind;
    bool revoked;     /* revoked_at is set */
    bool expired;     /* expires_at <= the database's now() */
    bool user_active; /* users.status = 'active' */
    char user_kind[QS_DB_API_NAME_MAX];
} qs_db_api_token;

/* Stores a new token (its hash) valid for `lifetime_s` seconds from the database's now(). */
QS_MUST_CHECK qs_err qs_db_token_insert(qs_db *db,
                                        const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                                        const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                        const uint8_t session_id[static QS_DB_API_UUID_LEN],
                                        qs_db_token_kind kind, int64_t lifetime_s);

/* The token with this hash: *found tells; expiry and revocation are reported, not filtered. */
QS_MUST_CHECK qs_err qs_db_token_get(qs_db *db, const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                                     qs_db_api_token *out, bool *found);

/* Revokes the token with this hash if it belongs to `user_id` and is not revoked yet;
 * *revoked tells whether a row changed. */
QS_MUST_CHECK qs_err qs_db_token_revoke(qs_db *db,
                                        const uint8_t hash[static QS_DB_API_TOKEN_HASH_LEN],
                                        const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                        bool *revoked);

/* Revokes every unrevoked token of login session `session_id` of `user_id`; *count (may be
 * NULL) is how many. */
QS_MUST_CHECK qs_err qs_db_token_revoke_session(qs_db *db,
                                                const uint8_t session_id[static QS_DB_API_UUID_LEN],
                                                const uint8_t user_id[static QS_DB_API_UUID_LEN],
                                                int64_t *count);

/* Deletes the expired tokens of `user_id`. */
QS_MUST_CHECK qs_err qs_db_token_purge_expired(qs_db *db,
                                               const uint8_t user_id[static QS_DB_API_UUID_LEN]);

#endif

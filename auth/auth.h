/*
 * Signer factor verifiers for the Signature Activation Module: TOTP (RFC 6238), the signing PIN
 * (Argon2id over an HSM-peppered PIN), the lockout rule, and SAD handles.
 *
 * Pure computation: no I/O, no database, no PKCS#11.  Work that needs the HSM (the PIN pepper
 * HMAC) is injected as a callback, and storage (seed, verifier, last accepted time step, failure
 * counters, SAD hash) belongs to the caller.  Thread-safe: no function keeps state between calls
 * (liboath is initialised once, on first use).  qs_util_init() must have run.
 *
 * Secrets that pass through here (seeds, codes, PINs, peppered PINs, SAD handles) are wiped from
 * every buffer this module owns before the buffer is released.
 */
#ifndef QS_AUTH_AUTH_H
#define QS_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ---------------------------------------------------------------------------------------------
 * TOTP (RFC 6238 over HOTP, RFC 4226)
 * ------------------------------------------------------------------------------------------- */

#define QS_TOTP_SEED_LEN       20 /* bytes of a seed made by qs_totp_seed_new (160 bits) */
#define QS_TOTP_SEED_MIN       16 /* shortest seed accepted (RFC 4226: at least 128 bits) */
#define QS_TOTP_SEED_MAX       64 /* longest seed accepted */
#define QS_TOTP_DIGITS_MAX     8
#define QS_TOTP_CODE_BUF       (QS_TOTP_DIGITS_MAX + 1) /* a code and its NUL */
#define QS_TOTP_PERIOD_MIN     15
#define QS_TOTP_PERIOD_MAX     300
#define QS_TOTP_WINDOW         1   /* steps accepted either side of the current one */
#define QS_TOTP_ISSUER_MAX     64  /* bytes */
#define QS_TOTP_ACCOUNT_MAX    128 /* bytes */
#define QS_TOTP_URI_MAX        1024
#define QS_TOTP_DEFAULT_DIGITS 6
#define QS_TOTP_DEFAULT_PERIOD 30

typedef enum qs_totp_alg {
    QS_TOTP_SHA1 = 0, /* the default; what most authenticator apps support */
    QS_TOTP_SHA256 = 1,
    QS_TOTP_SHA512 = 2,
} qs_totp_alg;

typedef struct qs_totp_params {
    qs_totp_alg alg;
    unsigned digits; /* 6 or 8 */
    unsigned period; /* seconds per time step, QS_TOTP_PERIOD_MIN..QS_TOTP_PERIOD_MAX */
} qs_totp_params;

#define QS_TOTP_PARAMS_DEFAULT                                                                     \
    {                                                                                              \
        QS_TOTP_SHA1, QS_TOTP_DEFAULT_DIGITS, QS_TOTP_DEFAULT_PERIOD                               \
    }

/* QS_OK when `p` is usable, QS_ERR_INVALID_ARGUMENT otherwise. */
QS_MUST_CHECK qs_err qs_totp_params_check(const qs_totp_params *p);

/* Fills `seed` with a fresh random seed.  The caller encrypts it for storage and wipes it. */
void qs_totp_seed_new(uint8_t seed[static QS_TOTP_SEED_LEN]);

/*
 * The time step containing unix time `t`: floor(t / period).  QS_ERR_INVALID_ARGUMENT for a bad
 * `p` or a negative `t`.
 */
QS_MUST_CHECK qs_err qs_totp_step(const qs_totp_params *p, int64_t t, uint64_t *step);

/*
 * Computes the code for time step `step` into `code` (p->digits digits and a NUL).
 * QS_ERR_INVALID_ARGUMENT for bad parameters or a seed length outside SEED_MIN..SEED_MAX.
 */
QS_MUST_CHECK qs_err qs_totp_generate(const qs_totp_params *p, const uint8_t *seed, size_t seed_len,
                                      uint64_t step, char code[static QS_TOTP_CODE_BUF]);

/*
 * Verifies `code` (code_len bytes, not necessarily NUL-terminated) at unix time `now`, accepting
 * the current time step and QS_TOTP_WINDOW steps either side, but only a step greater than
 * `last_step`, the step the signer's previous accepted code matched (0 when none was accepted
 * yet): each time step is accepted once.  On QS_OK *matched_step is the step that matched; the
 * caller stores it as the new last_step before it acts on the result.
 * Returns QS_OK, QS_ERR_AUTH_FAILED (wrong code, or not exactly p->digits ASCII digits),
 * QS_ERR_AUTH_REPLAY (the code matches only steps <= last_step), QS_ERR_INVALID_ARGUMENT.
 * All window candidates are computed and compared in constant time; they are wiped.
 */
QS_MUST_CHECK qs_err qs_totp_verify(const qs_totp_params *p, const uint8_t *seed, size_t seed_len,
                                    const char *code, size_t code_len, int64_t now,
                                    uint64_t last_step, uint64_t *matched_step);

/*
 * Builds the provisioning URI an authenticator app scans:
 *   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 * with ISSUER and ACCOUNT percent-encoded (RFC 3986 unreserved characters kept) and the base32
 * seed unpadded.  Issuer and account must be 1..ISSUER_MAX / 1..ACCOUNT_MAX bytes without ':'
 * or control characters (QS_ERR_INVALID_ARGUMENT otherwise).  The URI holds the seed: *uri is
 * NUL-terminated, in qs_secret_alloc() memory, freed by the caller with qs_secret_free().
 */
QS_MUST_CHECK qs_err qs_totp_uri(const qs_totp_params *p, const char *issuer, const char *account,
                                 const uint8_t *seed, size_t seed_len, char **uri);

/* ---------------------------------------------------------------------------------------------
 * Signing PIN
 * ------------------------------------------------------------------------------------------- */

#define QS_PIN_MIN_LEN_FLOOR    4 /* smallest configurable minimum length */
#define QS_PIN_DEFAULT_MIN_LEN  6
#define QS_PIN_MAX_LEN          64                   /* bytes */
#define QS_PIN_PEPPER_LEN       32                   /* bytes of the pepper HMAC output */
#define QS_PIN_VERIFIER_MAX     128                  /* buffer for a verifier string and its NUL */
#define QS_PIN_DEFAULT_OPSLIMIT 2ULL                 /* Argon2id "interactive" */
#define QS_PIN_DEFAULT_MEMLIMIT (64UL * 1024 * 1024) /* Argon2id "interactive" */
#define QS_PIN_VERIFIER_PREFIX  "$argon2id$"

typedef enum qs_pin_charset {
    QS_PIN_DIGITS = 0,       /* 0-9 only (CSC format "N") */
    QS_PIN_ALPHANUMERIC = 1, /* ASCII A-Z a-z 0-9 (CSC format "A") */
} qs_pin_charset;

typedef struct qs_pin_config {
    size_t min_len; /* QS_PIN_MIN_LEN_FLOOR..QS_PIN_MAX_LEN */
    qs_pin_charset charset;
    unsigned long long opslimit; /* Argon2id passes */
    size_t memlimit;             /* Argon2id memory in bytes */
} qs_pin_config;

#define QS_PIN_CONFIG_DEFAULT                                                                      \
    {                                                                                              \
        QS_PIN_DEFAULT_MIN_LEN, QS_PIN_DIGITS, QS_PIN_DEFAULT_OPSLIMIT, QS_PIN_DEFAULT_MEMLIMIT    \
    }

/* The policy rule a PIN breaks; QS_PIN_RULE_OK when it breaks none. */
typedef enum qs_pin_rule {
    QS_PIN_RULE_OK = 0,
    QS_PIN_RULE_MIN_LENGTH,
    QS_PIN_RULE_MAX_LENGTH,
    QS_PIN_RULE_DIGITS_ONLY,
    QS_PIN_RULE_ALPHANUMERIC_ONLY,
} qs_pin_rule;

/* QS_OK when the configured limits are usable (Argon2id limits within libsodium's bounds),
 * QS_ERR_CONFIG otherwise. */
QS_MUST_CHECK qs_err qs_pin_config_check(const qs_pin_config *c);

/* A static sentence naming the rule ("PIN is shorter than the minimum length", ...). */
const char *qs_pin_rule_str(qs_pin_rule rule);

/* Checks `pin` against the policy: QS_OK, or QS_ERR_AUTH_POLICY with *rule set to the first
 * rule broken (rule may be NULL). */
QS_MUST_CHECK qs_err qs_pin_policy_check(const qs_pin_config *c, const char *pin, size_t pin_len,
                                         qs_pin_rule *rule);

/*
 * Computes HMAC(pepper key, in[0..len)) in the HSM into `out`.  Returns QS_OK or an error that
 * is passed through unchanged.  `out` is wiped by the caller.
 */
typedef qs_err (*qs_pin_pepper_fn)(void *cls, const uint8_t *in, size_t len,
                                   uint8_t out[QS_PIN_PEPPER_LEN]);

/*
 * Makes the stored verifier of a new PIN: checks the policy (QS_ERR_AUTH_POLICY, *rule set),
 * peppers the PIN through `pepper` and writes crypto_pwhash_str(Argon2id) of the 32-byte result
 * into `verifier` (a NUL-terminated "$argon2id$..." string).  The peppered value is wiped.
 * Returns QS_OK, QS_ERR_AUTH_POLICY, QS_ERR_CONFIG, QS_ERR_NOMEM (Argon2 memory), or the pepper's
 * error.
 */
QS_MUST_CHECK qs_err qs_pin_hash(const qs_pin_config *c, const char *pin, size_t pin_len,
                                 qs_pin_pepper_fn pepper, void *cls,
                                 char verifier[static QS_PIN_VERIFIER_MAX], qs_pin_rule *rule);

/*
 * Verifies `pin` against a stored verifier.  Returns QS_OK, QS_ERR_AUTH_FAILED (wrong PIN, or
 * an empty or over-long one, which is never peppered), QS_ERR_PARSE (not an Argon2id verifier),
 * or the pepper's error.  The peppered value is wiped.
 */
QS_MUST_CHECK qs_err qs_pin_verify(const char *verifier, const char *pin, size_t pin_len,
                                   qs_pin_pepper_fn pepper, void *cls);

/* Sets *rehash when `verifier` was made with limits other than c's (then, after a successful
 * verify, store a fresh qs_pin_hash).  QS_ERR_PARSE when it is not an Argon2id verifier. */
QS_MUST_CHECK qs_err qs_pin_needs_rehash(const qs_pin_config *c, const char *verifier,
                                         bool *rehash);

/* ---------------------------------------------------------------------------------------------
 * Lockout: failed attempts are counted per signer and factor; at max_attempts the credential
 * locks until an officer unlocks it.
 * ------------------------------------------------------------------------------------------- */

typedef enum qs_factor_result {
    QS_FACTOR_OK = 0,     /* the factor verified */
    QS_FACTOR_FAILED = 1, /* wrong PIN/OTP, replayed OTP, malformed value */
    QS_FACTOR_ERROR = 2,  /* could not verify (HSM, database, our bug): not the signer's fault */
} qs_factor_result;

typedef enum qs_lockout_action {
    QS_LOCKOUT_RESET = 0,          /* accepted: store failed_attempts = 0 */
    QS_LOCKOUT_RECORD_FAILURE = 1, /* refused: store the incremented counter */
    QS_LOCKOUT_LOCK = 2,          /* refused: store the counter, and the credential is now locked */
    QS_LOCKOUT_REFUSE_LOCKED = 3, /* refused without counting: already locked */
    QS_LOCKOUT_NO_CHANGE = 4,     /* refused without counting: the factor could not be checked */
} qs_lockout_action;

typedef struct qs_lockout_decision {
    qs_lockout_action action;
    bool accept;              /* the factor counts as verified */
    bool locked;              /* the credential is locked after this attempt */
    uint32_t failed_attempts; /* the counter value to store */
    uint32_t remaining;       /* failures left before locking (0 when locked) */
} qs_lockout_decision;

/*
 * Decides what one verification attempt does to the failure counter.  A counter already at or
 * above max_attempts means locked: even a correct factor is refused (so max_attempts == 0 locks
 * every credential).  The counter saturates at UINT32_MAX.
 */
qs_lockout_decision qs_lockout_decide(uint32_t failed_attempts, uint32_t max_attempts,
                                      qs_factor_result result);

/* ---------------------------------------------------------------------------------------------
 * SAD handles: a random 256-bit handle is given to the client (base64url, no padding); the SAM
 * keeps only its SHA-256.
 * ------------------------------------------------------------------------------------------- */

#define QS_SAD_HANDLE_LEN 32 /* random bytes */
#define QS_SAD_HASH_LEN   32 /* SHA-256 */
#define QS_SAD_B64_LEN    43 /* characters of the transport form */
#define QS_SAD_B64_BUF    (QS_SAD_B64_LEN + 1)

/* Makes a fresh handle: its transport form into `b64` (NUL-terminated) and the SHA-256 of the
 * raw handle into `hash`.  The raw bytes are wiped; `b64` is a secret the caller wipes. */
QS_MUST_CHECK qs_err qs_sad_handle_new(char b64[static QS_SAD_B64_BUF],
                                       uint8_t hash[static QS_SAD_HASH_LEN]);

/* Decodes a presented handle (len bytes, canonical unpadded base64url of exactly
 * QS_SAD_HANDLE_LEN bytes) and writes its SHA-256 into `hash`.  QS_ERR_PARSE otherwise. */
QS_MUST_CHECK qs_err qs_sad_handle_hash(const char *b64, size_t len,
                                        uint8_t hash[static QS_SAD_HASH_LEN]);

#endif

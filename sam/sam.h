/*
 * qsign-sam, the Signature Activation Module: internal interfaces between its files.
 *
 *   config.c    the option table, loading and checking the config
 *   server.c    start-up, the unix socket, the worker pool, dispatch, fail-closed rejection,
 *               graceful stop
 *   h_<req>.c   one request handler per file
 *   common.c    what the handlers share: errors, audit events, JSON details, algorithm
 *               mappings, digest checks, ids and time
 *   records.c   record MACs (records.h)
 *   ca.c        the certification authority: keys, certificates, profiles, CRL, OCSP cache
 *               (ca.h)
 *   ra_auth.c   who may register (admin peers or an officer's session) and who may audit (an
 *               auditor's session)
 *   activation.c  activation codes of new signers (signer.h)
 *
 * Threads: a fixed pool of workers, each owning one HSM session and one database connection
 * (role qsign_sam); a connection is served by one worker at a time (EPOLLONESHOT), one request
 * at a time.  Handlers run on a worker with that worker's session and connection, and share
 * only the read-only `sam` (config, HSM, audit writer, which is thread-safe).
 *
 * Trust boundary: everything a peer sends is untrusted, including a qsignd that is compromised.
 * Peers are identified by SO_PEERCRED; only uids in [sam] admin_uids may make privileged
 * requests.  Secrets (PIN, OTP, TOTP seed, SAD handle, frames) are wiped after use and never
 * logged or audited.
 */
#ifndef QS_SAM_SAM_H
#define QS_SAM_SAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "auth/auth.h"
#include "db/db.h"
#include "db/db_sam.h"
#include "hsm/hsm.h"
#include "sam/audit.h"
#include "sam/proto.h"
#include "util/config.h"
#include "util/err.h"

/* ---- Configuration (config.c) ------------------------------------------------------------ */

#define SAM_DEFAULT_CONFIG  "/etc/qsign/qsign-sam.conf"
#define SAM_ADMIN_UIDS_MAX  32
#define SAM_WORKERS_MAX     256
#define SAM_SOCKET_PATH_MAX 107 /* sun_path holds 108 bytes with the NUL */

typedef struct sam_config {
    /* [sam] */
    char *socket_path;
    char *socket_mode;  /* octal text, e.g. "0660" */
    char *socket_group; /* "" = leave the group as created */
    int64_t workers;
    char *writer_id;
    int64_t checkpoint_every_records; /* signed audit checkpoint cadence; 0 = off */
    int64_t checkpoint_every_seconds;
    char *admin_uids; /* comma-separated list of uids */
    bool lock_memory;
    int64_t read_timeout_ms;
    /* [database] */
    char *db_conninfo;
    /* [hsm] */
    char *hsm_module;
    char *hsm_token_label;
    char *hsm_pin_file;
    /* [auth] */
    int64_t pin_min_length;
    char *pin_alphabet; /* digits | alphanumeric */
    int64_t argon2_opslimit;
    int64_t argon2_memlimit;
    int64_t max_failed_attempts;
    char *totp_issuer;
    /* [sad] */
    int64_t sad_lifetime;
    int64_t sad_max_lifetime;
    int64_t max_signatures;
    /* [ca] */
    char *ca_key_label;
    char *ca_key_alg; /* ec-p256 | ec-p384 */
    char *ocsp_key_label;
    char *ocsp_key_alg;
    char *ca_country;
    char *ca_organization;
    char *ca_organization_id;
    char *ca_common_name;
    int64_t ca_validity_days;
    int64_t ocsp_validity_days;
    int64_t cert_validity_days;
    char *pds_url;
    char *pds_lang;
    char *tsp_policy_oid;
    char *cps_uri;
    int64_t retention_years;
    char *ca_issuers_url;
    char *ocsp_url;
    char *crl_url;
    int64_t crl_validity_hours;
    char *crl_file;
    int64_t crl_check_seconds;
    int64_t ocsp_cache_seconds;
    /* [ra] */
    int64_t activation_lifetime;
    int64_t ra_session_lifetime;
    /* [log] */
    char *log_level;

    /* Derived by sam_config_load from the text above. */
    mode_t socket_mode_bits;
    uid_t admin[SAM_ADMIN_UIDS_MAX];
    size_t n_admin;
    qs_pin_config pin;
    int log_level_value; /* qs_log_level */
} sam_config;

/* Loads and checks a config file: every option of the table, then the rules between them.  On
 * error returns QS_ERR_CONFIG with a message naming the section and key in err. */
QS_MUST_CHECK qs_err sam_config_load(const char *path, sam_config *cfg, char *err, size_t err_len);

/* Frees what sam_config_load allocated.  NULL is a no-op. */
void sam_config_free(sam_config *cfg);

/* Writes the commented example config (every option, its help and default). */
void sam_config_write_example(FILE *f);

/* ---- The daemon (server.c) --------------------------------------------------------------- */

typedef struct sam_ca sam_ca; /* sam/ca.h */

typedef struct sam {
    const sam_config *cfg;
    qs_hsm *hsm;
    qs_audit *audit;
    sam_ca *ca; /* the certification authority (sam/ca.h) */
} sam;

/* Runs the daemon with a loaded config until SIGTERM or SIGINT: returns the process exit
 * status (0 after a clean stop). */
int sam_run(const sam_config *cfg);

struct sam_server;

typedef struct sam_worker {
    struct sam_server *server; /* server.c's */
    const sam *s;
    qs_hsm_session *hs;
    qs_db *db;
    unsigned idx;
} sam_worker;

/* Who is on the other end of a connection (SO_PEERCRED when it connected). */
typedef struct sam_peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool admin;    /* uid is in [sam] admin_uids */
    bool internal; /* the SAM itself: its maintenance thread, no connection */
    uint64_t conn_id;
} sam_peer;

/* One request being handled. */
typedef struct sam_req {
    sam_worker *w;
    const sam_peer *peer;
    const qs_sam_msg *msg;
    uint64_t reqid;
    /* The outcome, set by the handler through sam_resp_begin / sam_fail. */
    qs_sam_builder *resp;
    qs_err err;
    char errmsg[160];
    /* The registration officer or auditor whose session authorized the request
     * (sam_ra_authorize, sam_auditor_authorize); named in the actor of its audit records as
     * "<session_role>=<username>". */
    bool has_officer;
    const char *session_role; /* "officer" or "auditor" */
    uint8_t officer_id[QS_DB_SAM_UUID_LEN];
    char officer[QS_DB_USERNAME_MAX + 1];
    /* The refused request locked a credential or an account: its ERROR carries LOCKED, so
     * qsignd can report the lockout. */
    bool locked;
    /* A record that failed its MAC check (sam_mac_mismatch), audited by the server. */
    struct {
        const char *table; /* NULL: none */
        bool has_user, has_credential, has_sad;
        uint8_t user_id[QS_DB_SAM_UUID_LEN];
        uint8_t credential_id[QS_DB_SAM_UUID_LEN];
        uint8_t sad_ref[QS_DB_SAM_SHA256_LEN];
    } mac_bad;
} sam_req;

/* A request handler: QS_OK with rq->resp holding the response, or an error set by sam_fail
 * (answered with ERROR; the connection stays open). */
typedef qs_err (*sam_handler)(sam_req *rq);

qs_err sam_h_ping(sam_req *rq);
qs_err sam_h_create_user(sam_req *rq);
qs_err sam_h_enrol_factors(sam_req *rq);
qs_err sam_h_create_credential(sam_req *rq);
qs_err sam_h_authorize(sam_req *rq);
qs_err sam_h_extend(sam_req *rq);
qs_err sam_h_sign(sam_req *rq);
qs_err sam_h_sign_doc(sam_req *rq);
qs_err sam_h_credential_state(sam_req *rq);
qs_err sam_h_ca_init(sam_req *rq);
qs_err sam_h_ca_import_cert(sam_req *rq);
qs_err sam_h_ca_renew_ocsp(sam_req *rq);
qs_err sam_h_create_signer(sam_req *rq);
qs_err sam_h_issue_cert(sam_req *rq);
qs_err sam_h_revoke(sam_req *rq);
qs_err sam_h_crl(sam_req *rq);
qs_err sam_h_ocsp(sam_req *rq);
qs_err sam_h_activate(sam_req *rq);
qs_err sam_h_unlock(sam_req *rq);
qs_err sam_h_officer_login(sam_req *rq);
qs_err sam_h_audit_search(sam_req *rq);

/* Registration requests (CREATE_SIGNER, ISSUE_CERT, REVOKE, UNLOCK) come from admin peers or
 * carry the RA_SESSION of an active registration officer (sam/ra_auth.c): checks which, fills
 * rq->officer for the audit actor, or fails the request with QS_ERR_FORBIDDEN (an unknown or
 * expired session, or a non-admin peer without one) and audits the refusal as event_type. */
QS_MUST_CHECK qs_err sam_ra_authorize(sam_req *rq, const char *event_type);

/* The auditors' requests (AUDIT_SEARCH) carry the RA_SESSION of an active auditor (role
 * auditor; admin peers too): checks it, fills rq->officer with the auditor for the audit
 * actor, or fails the request with QS_ERR_FORBIDDEN and audits the refusal as event_type. */
QS_MUST_CHECK qs_err sam_auditor_authorize(sam_req *rq, const char *event_type);

/* ---- Shared by the handlers (common.c) ---------------------------------------------------- */

/* Records the error answer of the request: code and a short message that never holds a secret
 * (NULL: the code's qs_err_str).  Returns code, so handlers can `return sam_fail(...)`. */
qs_err sam_fail(sam_req *rq, qs_err code, const char *msg);

/* Starts rq->resp for the request's response type. */
QS_MUST_CHECK qs_err sam_resp_begin(sam_req *rq);

/* The actor of an audit record: the peer's role and uid, the user acted for (may be NULL) and
 * the officer the request names (ACTOR field, may be absent).  buf holds QS_AUDIT_ACTOR_MAX+1. */
void sam_actor(const sam_req *rq, const uint8_t *user_id, char buf[static QS_AUDIT_ACTOR_MAX + 1]);

/* A JSON object under construction, for audit details.  Adders never fail on their own; an
 * allocation failure sticks and sam_json_finish reports it. */
typedef struct sam_json {
    char *buf;
    size_t len, cap;
    bool failed, any;
} sam_json;

void sam_json_init(sam_json *j);
void sam_json_str(sam_json *j, const char *key, const char *value); /* UTF-8, escaped */
void sam_json_int(sam_json *j, const char *key, int64_t value);
void sam_json_bool(sam_json *j, const char *key, bool value);
void sam_json_hex(sam_json *j, const char *key, const uint8_t *p, size_t n);
/* The text of the object (owned by j), or NULL after an allocation failure. */
const char *sam_json_finish(sam_json *j);
void sam_json_free(sam_json *j);

/* Appends one audit event for the request (actor from sam_actor) and waits until it is durably
 * committed.  Returns the writer's result; a failure is logged here.  ref may be NULL.  Callers
 * that act on the record's existence (SAD issue, signatures) check the result; refusals, which
 * stand either way, may ignore it. */
qs_err sam_audit(sam_req *rq, const char *event_type, bool success, const uint8_t *user_id,
                 const uint8_t *credential_id, const uint8_t *sad_ref, const char *details,
                 qs_audit_ref *ref);

/* Audits a refusal: event_type with result failure and details {"reason": reason}.  An audit
 * error is logged only: the refusal stands either way. */
void sam_audit_refusal(sam_req *rq, const char *event_type, const char *reason,
                       const uint8_t *user_id, const uint8_t *credential_id,
                       const uint8_t *sad_ref);

/* A row failed its MAC check: logs ERROR and notes it on the request; once the handler is done
 * the server audits record.mac_mismatch naming the table (once, even when a transaction callback
 * that noted it ran several times). */
void sam_mac_mismatch(sam_req *rq, const char *table, const uint8_t *user_id,
                      const uint8_t *credential_id, const uint8_t *sad_ref);

/* The current time, microseconds since the Unix epoch. */
int64_t sam_now_us(void);

/*
 * In a transaction: locks the SAD row of `sad_hash` into *sad, checks its record MAC, and that
 * it is user_id's for cred_id, unexpired at now_us, for hash algorithm halg and with signatures
 * left (what SIGN, SIGN_DOC and EXTEND all require before anything else).  QS_OK; a refusal
 * returns its code with *reason set (the audit reason); a MAC mismatch is noted
 * (sam_mac_mismatch) with *reason "record_mac"; database errors come back as they are.
 */
QS_MUST_CHECK qs_err sam_sad_lock_usable(sam_req *rq, qs_db *db,
                                         const uint8_t sad_hash[static QS_DB_SAM_SHA256_LEN],
                                         const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                                         const uint8_t cred_id[static QS_DB_SAM_UUID_LEN],
                                         qs_hash_alg halg, int64_t now_us, qs_db_sad *sad,
                                         const char **reason);

/* Seconds from now until `expires_us`, at least 1 (for EXPIRES_IN). */
uint32_t sam_expires_in(int64_t expires_us, int64_t now_us);

/* Algorithms: wire values, database text and the HSM's enums. */
bool sam_key_alg_from_wire(uint32_t v, qs_key_alg *alg);
const char *sam_key_alg_db_name(qs_key_alg alg); /* "ec-p256", ...; NULL outside the enum */
bool sam_key_alg_from_db(const char *name, qs_key_alg *alg);
bool sam_key_alg_is_ec(qs_key_alg alg);
bool sam_hash_alg_from_wire(uint32_t v, qs_hash_alg *h);
const char *sam_hash_alg_oid(qs_hash_alg h); /* NULL outside the enum */
bool sam_hash_alg_from_oid(const char *oid, qs_hash_alg *h);
const char *sam_sig_scheme_name(qs_sig_scheme s);

/* A digest of a request or a SAD (points into the message or a row). */
typedef struct sam_digest {
    const uint8_t *p;
    size_t len;
} sam_digest;

/* memcmp order of two sam_digest of one length, for qsort and bsearch. */
int sam_digest_cmp(const void *a, const void *b);

/* The HASH fields of the request, checked: each as long as `h` digests, no two equal.  On QS_OK
 * *digests is a malloc'd array of *n digests in request order (free() it).  Otherwise the request
 * has failed (sam_fail: QS_ERR_INVALID_ARGUMENT) and the refusal is audited as event_type. */
QS_MUST_CHECK qs_err sam_req_hashes(sam_req *rq, qs_hash_alg h, const char *event_type,
                                    const uint8_t *user_id, const uint8_t *credential_id,
                                    sam_digest **digests, size_t *n);

/* SHA-256 over n digests of one length in ascending byte order, concatenated
 * (sads.hashes_sha256).  The array must be sorted (sam_digest_cmp). */
void sam_hashes_sha256(const sam_digest *sorted, size_t n,
                       uint8_t out[static QS_DB_SAM_SHA256_LEN]);

/* Ids: canonical UUID text (8-4-4-4-12 hex digits, either case on input, lower case out). */
#define SAM_UUID_STR_LEN 36
bool sam_uuid_parse(const char *s, uint8_t out[static QS_DB_SAM_UUID_LEN]);
void sam_uuid_format(const uint8_t id[static QS_DB_SAM_UUID_LEN],
                     char out[static SAM_UUID_STR_LEN + 1]);
void sam_uuid_new(uint8_t out[static QS_DB_SAM_UUID_LEN]); /* random, version 4 */

/* A required UUID field of the request: QS_OK, or the request fails (QS_ERR_INVALID_ARGUMENT,
 * "malformed <what>") and the refusal is audited as event_type. */
QS_MUST_CHECK qs_err sam_req_uuid(sam_req *rq, uint16_t tag, const char *what,
                                  const char *event_type, uint8_t out[static QS_DB_SAM_UUID_LEN]);

/* The pepper callback of auth/ (qs_pin_pepper_fn): HMAC with the HSM pepper key through the
 * qs_hsm_session passed as cls. */
qs_err sam_pin_pepper(void *cls, const uint8_t *in, size_t len, uint8_t out[QS_PIN_PEPPER_LEN]);

/* The AAD that binds a TOTP seed ciphertext to its user and table. */
#define SAM_TOTP_AAD_DOMAIN "qsign-totp-seed-v1"
#define SAM_TOTP_AAD_LEN    (sizeof(SAM_TOTP_AAD_DOMAIN) - 1 + sizeof("factor_totp") - 1 + 16)
void sam_totp_aad(const uint8_t user_id[static QS_DB_SAM_UUID_LEN],
                  uint8_t aad[static SAM_TOTP_AAD_LEN]);

/* TOTP parameters of a stored factor: QS_OK or QS_ERR_INVALID_ARGUMENT for a row that holds
 * values auth/ does not support. */
QS_MUST_CHECK qs_err sam_totp_params(const qs_db_factor_totp *f, qs_totp_params *p);

/* Loads a user and checks its MAC, inside a transaction callback: QS_OK, QS_ERR_NOT_FOUND, or
 * QS_ERR_MAC (noted with sam_mac_mismatch). */
QS_MUST_CHECK qs_err sam_load_user(sam_req *rq, qs_db *db, const uint8_t id[static 16],
                                   qs_db_user *u);

#endif

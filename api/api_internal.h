/*
 * Private to api/: the request context, the route table, the declarative field specs with
 * their per-version field names, the one error table, replies, authentication, rate limits,
 * metrics and the database pool.
 *
 * A request's life: the core (server.c) makes an api_request when the request line arrives,
 * reads the body (capped), finds the route, parses the body against the endpoint's field spec
 * for the CSC version of the path, authenticates, and calls the endpoint's handler, which acts
 * and replies exactly once (api_reply_*).  The core frees the context once, after the response
 * was sent, and writes one access-log line.
 */
#ifndef QS_API_API_INTERNAL_H
#define QS_API_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "api/api.h"
#include "db/db.h"
#include "sam/client.h"
#include "util/err.h"

struct MHD_Connection;
struct MHD_Response;

#define API_RID_LEN          32 /* hex characters of a request id (16 random bytes) */
#define API_UUID_STR_LEN     36
#define API_UUID_LEN         16
#define API_TOKEN_RAW_LEN    32 /* random bytes of an access or refresh token */
#define API_TOKEN_B64_LEN    43 /* unpadded base64url of them */
#define API_SHA256_LEN       32
#define API_DESC_MAX         256 /* error_description buffer */
#define API_PATH_LOG_MAX     200 /* bytes of the path kept for the access log */
#define API_ADDR_MAX         64  /* a client address as text */
#define API_USERNAME_MAX     128
#define API_PASSWORD_MAX     1024
#define API_CLIENT_DATA_MAX  4096
#define API_DIGEST_MAX       64
#define API_HASHES_MAX       1000 /* digests in one request (SAM limit) */
#define API_JSON_STRING_MAX  (1024 * 1024)
#define API_MULTISIGN_MAX    1000
#define API_LIST_MAX_RESULTS 1000
#define API_SIGN_DOC_MAX     100 /* document digests in one signDoc (SAM limit) */

/* What signatures/signDoc makes (CSC v2 values): CAdES, baseline B-B, detached. */
#define API_SIGN_DOC_FORMAT   "C"
#define API_SIGN_DOC_LEVEL    "Ades-B-B"
#define API_SIGN_DOC_ENVELOPE "Detached"

/* ---- CSC versions ------------------------------------------------------------------------- */

typedef enum api_ver {
    API_V1 = 0, /* CSC v1.0.4.0 at /csc/v1/ */
    API_V2 = 1, /* CSC v2 at /csc/v2/ */
} api_ver;

#define API_VER_COUNT 2
#define API_V1_BIT    0x1u
#define API_V2_BIT    0x2u
#define API_V_BOTH    (API_V1_BIT | API_V2_BIT)

/* Request fields, by meaning; each version names them (or lacks them) in its table. */
typedef enum api_field {
    API_F_LANG,
    API_F_CLIENT_DATA,
    API_F_REMEMBER_ME,
    API_F_REFRESH_TOKEN,
    API_F_TOKEN,
    API_F_TOKEN_TYPE_HINT,
    API_F_USER_ID,
    API_F_CREDENTIAL_INFO,
    API_F_CERTIFICATES,
    API_F_CERT_INFO,
    API_F_AUTH_INFO,
    API_F_ONLY_VALID,
    API_F_MAX_RESULTS,
    API_F_PAGE_TOKEN,
    API_F_CREDENTIAL_ID,
    API_F_NUM_SIGNATURES,
    API_F_HASHES,
    API_F_HASH_ALGO,
    API_F_AUTH_DATA,
    API_F_PIN,
    API_F_OTP,
    API_F_DESCRIPTION,
    API_F_SAD,
    API_F_SIGN_ALGO,
    API_F_SIGN_ALGO_PARAMS,
    API_F_DOCUMENT_DIGESTS,
    API_F_SIGNATURE_FORMAT,
    API_F_CONFORMANCE_LEVEL,
    API_F_SIGNED_ENVELOPE_PROPERTY,
    API_F_COUNT
} api_field;

/* How a version differs: its request field names and the shape of some replies. */
typedef struct api_version {
    api_ver ver;
    const char *path_prefix; /* "/csc/v2/" */
    const char *specs;       /* info.specs */
    unsigned bit;            /* API_V1_BIT or API_V2_BIT */
    const char *field_names[API_F_COUNT];
    /* credentials/info: v2 returns auth{mode, expression, objects[]}, v1 authMode, PIN, OTP */
    bool auth_object;
    /* info: v2 lists signAlgorithms; credentials/info: v2 has signatureQualifier */
    bool sign_algorithms;
    bool signature_qualifier;
    /* credentials/list: v2 echoes onlyValid */
    bool echo_only_valid;
} api_version;

const api_version *api_version_get(api_ver v);

/* The request field name in version v, NULL when the version has no such field. */
const char *api_field_name(api_ver v, api_field f);

/* ---- Declarative field specs -------------------------------------------------------------- */

typedef enum api_jtype {
    API_T_STRING,   /* JSON string */
    API_T_BOOL,     /* JSON true/false */
    API_T_INT,      /* JSON integer */
    API_T_STRINGS,  /* JSON array of strings */
    API_T_AUTHDATA, /* JSON array of {"id": string, "value": string} */
    API_T_OBJECTS,  /* JSON array of objects, each checked against the field's sub-spec */
} api_jtype;

/* Field flags. */
#define API_FS_BASE64 0x1u  /* string (or each element): standard base64 with padding */
#define API_FS_TOKEN  0x2u  /* string: a token, unpadded base64url of API_TOKEN_RAW_LEN bytes */
#define API_FS_OID    0x4u  /* string: a dotted object identifier */
#define API_FS_UUID   0x8u  /* string: a UUID in text form */
#define API_FS_SECRET 0x10u /* never echoed; values are wiped */

typedef struct api_field_spec {
    api_field field;
    api_jtype type;
    bool required;
    unsigned versions;                /* API_V1_BIT | API_V2_BIT: where the endpoint accepts it */
    int64_t min, max;                 /* string bytes / integer value / array elements */
    int64_t elem_min, elem_max;       /* API_T_STRINGS, API_T_AUTHDATA: bytes of each string */
    unsigned flags;                   /* API_FS_* */
    const char *const *allowed;       /* NULL-terminated list of the allowed strings, or NULL */
    const struct api_field_spec *sub; /* API_T_OBJECTS: the spec of each element */
    size_t nsub;
} api_field_spec;

typedef struct api_param {
    bool present;
    const char *s; /* API_T_STRING: points into the parsed body */
    size_t len;
    bool b;          /* API_T_BOOL */
    int64_t i;       /* API_T_INT */
    const json_t *a; /* API_T_STRINGS, API_T_AUTHDATA, API_T_OBJECTS: the array */
    size_t n;        /* its size */
} api_param;

typedef struct api_params {
    api_param f[API_F_COUNT];
} api_params;

/*
 * Parses a request body: empty means {}, otherwise a JSON object (duplicate keys refused).
 * QS_OK and *out (json_decref it), or QS_ERR_PARSE with a client-facing description.
 */
QS_MUST_CHECK qs_err api_body_parse(const uint8_t *body, size_t len, json_t **out, char *desc,
                                    size_t desc_len);

/*
 * Checks object `body` against spec[0..n) for version v and fills *out (pointing into body).
 * An unknown member, a member of the wrong type, a missing required one, a value outside its
 * limits or allowed values, or bad base64 gives QS_ERR_INVALID_ARGUMENT with a description
 * naming the field as the client spelled it (CSC wording: "Missing (or invalid type) string
 * parameter credentialID", "Invalid parameter certificates").  JSON null counts as absent.
 * Each element of an API_T_OBJECTS field is checked the same way against the field's sub-spec
 * (the description names the member inside the element); a handler gets an element's
 * parameters with api_spec_parse(element, v, fs->sub, fs->nsub, ...), which then succeeds.
 */
QS_MUST_CHECK qs_err api_spec_parse(const json_t *body, api_ver v, const api_field_spec *spec,
                                    size_t n, api_params *out, char *desc, size_t desc_len);

/* Decodes standard padded base64 (`len` chars) into out (cap bytes): QS_OK and *out_len, or
 * QS_ERR_PARSE (bad characters, padding, or longer than cap). */
QS_MUST_CHECK qs_err api_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap,
                                    size_t *out_len);

/* Parses a UUID in text form (36 characters, either case): QS_OK or QS_ERR_PARSE. */
QS_MUST_CHECK qs_err api_uuid_parse(const char *s, size_t len, uint8_t out[static API_UUID_LEN]);

/* Formats a UUID in lowercase text form. */
void api_uuid_format(const uint8_t id[static API_UUID_LEN], char out[static API_UUID_STR_LEN + 1]);

/* ---- Errors: the one table and the one reply function -------------------------------------- */

/* Event counters exposed in /metrics. */
typedef enum api_counter {
    API_C_SIGNATURES,
    API_C_AUTHORIZATION_FAILURES,
    API_C_LOCKOUTS,
    API_C_LOGIN_FAILURES,
    API_C_RATE_LIMITED,
    API_C_SAM_ERRORS,
    API_C_DB_ERRORS,
    API_C_COUNT
} api_counter;

#define API_NO_COUNTER (-1)

typedef struct api_err_info {
    unsigned status;         /* HTTP status */
    const char *error;       /* CSC error code (v2) */
    const char *error_v1;    /* the v1 code where it differs, else NULL */
    const char *description; /* default error_description */
    int counter;             /* api_counter an error reply increments, or API_NO_COUNTER */
} api_err_info;

/* The mapping of `e` (any qs_err; an unknown value maps like QS_ERR_INTERNAL). */
api_err_info api_err_lookup(int e);

/* The CSC error code of `e` for version v. */
const char *api_err_code(int e, api_ver v);

/* ---- Requests, endpoints, routes ------------------------------------------------------------ */

typedef struct qs_api_server api_server;
typedef struct api_request api_request;
typedef void (*api_handler_fn)(api_request *rq);

typedef enum api_auth {
    API_AUTH_NONE = 0,   /* public (info, health, login does its own) */
    API_AUTH_BEARER = 1, /* a valid access token (Authorization: Bearer) */
    API_AUTH_RA = 2,     /* a registration officer's RA session (Authorization: Bearer) */
    API_AUTH_AUDIT = 3,  /* an auditor's session (Authorization: Bearer) */
} api_auth;

typedef struct api_endpoint {
    const char *name;   /* "credentials/info" (for logs) */
    const char *method; /* "POST" or "GET" */
    unsigned versions;  /* CSC versions served (API_V*_BIT); 0: a path outside /csc */
    const api_field_spec *spec;
    size_t nspec; /* 0: the body is ignored */
    api_auth auth;
    api_handler_fn handler;
    bool prefix; /* a path outside /csc: the route's path and anything after it */
} api_endpoint;

typedef struct api_route {
    const char *path; /* for CSC endpoints the part after /csc/vN/, else the whole path */
    const api_endpoint *ep;
} api_route;

/* The one route table. */
const api_route *api_routes(size_t *n);

/* Finds the route of `path`: QS_OK with *route, *ver (CSC) and *slot (metrics series), or
 * QS_ERR_NOT_FOUND. */
QS_MUST_CHECK qs_err api_route_find(const char *path, const api_route **route, api_ver *ver,
                                    size_t *slot);

/* Number of metric series slots the routes use (the last one, api_route_slots() - 1, counts
 * unmatched paths), and the label of a slot ("/csc/v2/info"), written into buf. */
size_t api_route_slots(void);
void api_route_slot_label(size_t slot, char *buf, size_t len);

/* The endpoints, one file each (api/ep_<name>.c). */
extern const api_endpoint api_ep_healthz;
extern const api_endpoint api_ep_readyz;
extern const api_endpoint api_ep_metrics;
extern const api_endpoint api_ep_info;
extern const api_endpoint api_ep_auth_login;
extern const api_endpoint api_ep_auth_revoke;
extern const api_endpoint api_ep_credentials_list;
extern const api_endpoint api_ep_credentials_info;
extern const api_endpoint api_ep_credentials_authorize;
extern const api_endpoint api_ep_credentials_extend_transaction;
extern const api_endpoint api_ep_signatures_sign_hash;
extern const api_endpoint api_ep_signatures_sign_doc;
extern const api_endpoint api_ep_pki_ca_crt;
extern const api_endpoint api_ep_pki_crl;
extern const api_endpoint api_ep_pki_ocsp_post;
extern const api_endpoint api_ep_pki_ocsp_get;
extern const api_endpoint api_ep_ra_login;
extern const api_endpoint api_ep_ra_signers_create;
extern const api_endpoint api_ep_ra_signers_list;
extern const api_endpoint api_ep_ra_signers_info;
extern const api_endpoint api_ep_ra_credentials_create;
extern const api_endpoint api_ep_ra_credentials_unlock;
extern const api_endpoint api_ep_ra_certificates_revoke;
extern const api_endpoint api_ep_account_activate;
extern const api_endpoint api_ep_audit_login;
extern const api_endpoint api_ep_audit_search;
extern const api_endpoint api_ep_account_info;
extern const api_endpoint api_ep_web_index;
extern const api_endpoint api_ep_web_asset;

struct api_request {
    api_server *srv;
    struct MHD_Connection *conn;
    bool pki_only; /* came in on the plain-HTTP [pki] listener: only /pki/ paths are served */
    char rid[API_RID_LEN + 1];
    struct timespec start;
    const char *method; /* libmicrohttpd's, valid for the request */
    const char *url;    /* the whole path, valid during the handler (prefix routes read it) */
    char path[API_PATH_LOG_MAX + 1];
    char client_addr[API_ADDR_MAX];

    const api_route *route; /* NULL when no route matched */
    api_ver ver;
    size_t slot;

    /* body */
    uint8_t *body;
    size_t body_len, body_cap;
    uint64_t body_seen; /* bytes received, kept or not */
    bool body_too_large;
    bool headers_done;

    /* parsed */
    json_t *json;
    api_params p;

    /* the authenticated caller (API_AUTH_BEARER) */
    bool authed;
    uint8_t user_id[API_UUID_LEN];
    char user_id_str[API_UUID_STR_LEN + 1];
    uint8_t session_id[API_UUID_LEN];
    /* API_AUTH_RA, API_AUTH_AUDIT: the officer's or auditor's session handle, passed on to the
     * SAM (a secret, wiped) */
    char ra_session[API_TOKEN_B64_LEN + 1];

    qs_db *db;       /* borrowed from the pool on first use, returned after the handler */
    qs_db *audit_db; /* likewise from the audit pool (role qsign_audit) */

    /* response */
    struct MHD_Response *resp;
    unsigned status;
    const char *error_code; /* CSC error of an error reply, for the access log */
    const char *allow;      /* Allow header of a 405 */
    const char *csp;        /* Content-Security-Policy of the reply; NULL: API_CSP_API */
    unsigned retry_after;   /* Retry-After of a 429 or 503, seconds; 0: none */
};

/* The server's configuration. */
const qs_api_config *api_cfg(const api_request *rq);

/* A database connection for this request (borrowed on first call).  QS_OK or
 * QS_ERR_DB_UNAVAILABLE. */
QS_MUST_CHECK qs_err api_db(api_request *rq, qs_db **db);

/* A connection of the audit pool, as the read-only role qsign_audit ([audit] conninfo), for the
 * auditors' API (borrowed on first call).  QS_OK, QS_ERR_NOT_CONFIGURED (no [audit] conninfo)
 * or QS_ERR_DB_UNAVAILABLE. */
QS_MUST_CHECK qs_err api_audit_db(api_request *rq, qs_db **db);

/* Whether the auditors' API is configured ([audit] conninfo). */
bool api_audit_configured(const api_request *rq);

/* ---- Replies (each request gets exactly one) ---------------------------------------------- */

/* Replies `status` with JSON `body` (reference stolen; NULL is a bug, replied as 500). */
void api_reply_json(api_request *rq, unsigned status, json_t *body);

/* Replies 204 with no body. */
void api_reply_no_content(api_request *rq);

/* Adds a header to the reply already made (the value is copied); nothing without a reply. */
void api_reply_header(api_request *rq, const char *name, const char *value);

/* Replies `status` with a text body (buf is malloc'd and stolen). */
void api_reply_text(api_request *rq, unsigned status, const char *content_type, char *buf,
                    size_t len);

/* Replies `status` with a body that lives as long as the process (an embedded file). */
void api_reply_static(api_request *rq, unsigned status, const char *content_type,
                      const uint8_t *data, size_t len);

/*
 * The one error reply: the status and CSC error of `e` from the error table and
 * {"error": ..., "error_description": ...}; `description` overrides the table's (NULL keeps
 * it).  401 adds WWW-Authenticate, 405 Allow (rq->allow), 429 and 503 Retry-After when
 * rq->retry_after is set.  The entry's counter (database, SAM, authorization failures...) is
 * incremented.
 */
void api_reply_error(api_request *rq, qs_err e, const char *description);
void api_reply_errorf(api_request *rq, qs_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True once the request has a reply. */
bool api_replied(const api_request *rq);

/* ---- Authentication ------------------------------------------------------------------------ */

/* A new token: its transport form (NUL-terminated, a secret the caller wipes) and its hash. */
void api_token_new(char b64[static API_TOKEN_B64_LEN + 1], uint8_t hash[static API_SHA256_LEN]);

/* The hash of a presented token: QS_OK, or QS_ERR_PARSE unless it is the canonical unpadded
 * base64url of API_TOKEN_RAW_LEN bytes. */
QS_MUST_CHECK qs_err api_token_hash(const char *s, size_t len, uint8_t hash[static API_SHA256_LEN]);

/* Authenticates the bearer token of the request; on success fills rq->user_id and friends and
 * returns true, otherwise replies 401 and returns false. */
bool api_authenticate(api_request *rq);

/* Authenticates the staff session of the request (Authorization: Bearer, an unexpired session
 * looked up by the SHA-256 of the handle) for `role` (QS_DB_ROLE_OFFICER for the RA API,
 * QS_DB_ROLE_AUDITOR for the audit API): the session's role must be it and its user active and
 * of that kind.  On success fills rq->user_id with the user and rq->ra_session with the handle;
 * otherwise replies 401 (no such session, expired, user not active) or 403 (a session of
 * another role) and returns false.  The SAM checks the session again, with its record MAC,
 * before it acts. */
bool api_authenticate_staff(api_request *rq, const char *role);

/* The login of staff (HTTP Basic username:password and {"otp"}) of `kind`
 * (QS_SAM_USER_OFFICER at /ra/v1/login, QS_SAM_USER_AUDITOR at /audit/v1/login): qsignd checks
 * the password, the SAM the TOTP code and opens the session of that role.  Replies. */
void api_staff_login(api_request *rq, qs_sam_user_kind kind);

/*
 * Parses an "Authorization: Basic ..." value into *user and *pass (malloc'd; free *pass with
 * qs_free_wiped(*pass, *pass_len)).  QS_ERR_PARSE when it is not Basic or not well formed.
 */
QS_MUST_CHECK qs_err api_basic_parse(const char *header, char **user, char **pass,
                                     size_t *pass_len);

/* Verifies a login password against an Argon2id verifier: QS_OK or QS_ERR_LOGIN_FAILED. */
QS_MUST_CHECK qs_err api_password_verify(const char *verifier, const char *pw, size_t len);

/* Burns the time of one verification (for an unknown user, so timing does not tell). */
void api_password_verify_dummy(api_request *rq, const char *pw, size_t len);

/* ---- Rate limits (token buckets) ------------------------------------------------------------ */

typedef struct api_ratelimit api_ratelimit;

/* A limiter of `per_minute` tokens per minute and `burst` capacity over at most `entries`
 * keys; per_minute == 0 disables it (every call allows). */
api_ratelimit *api_ratelimit_new(uint32_t per_minute, uint32_t burst, size_t entries);
void api_ratelimit_free(api_ratelimit *rl);

/* Whether `key` has a token left (without taking it); if not, *retry_after is the whole
 * seconds until it has. */
bool api_ratelimit_check(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                         unsigned *retry_after);

/* Takes a token for `key`: true if there was one, else false and *retry_after. */
bool api_ratelimit_take(api_ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                        unsigned *retry_after);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t api_now_ms(void);

/* Microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t api_now_us(void);

/* What names an account's bucket: the login name a client sent (the account may not exist) or
 * the authenticated user's id.  Their buckets are kept apart, so failed logins under a name that
 * spells a user's id do not use up that user's authorization attempts. */
typedef enum api_rl_account {
    API_RL_LOGIN_NAME,
    API_RL_USER_ID,
} api_rl_account;

/* Replies 429 and returns false when the caller's address (and, if account is not NULL, the
 * account) has no attempts left; otherwise takes the address token and returns true. */
bool api_rate_limit_attempt(api_request *rq, api_rl_account kind, const char *account);

/* Takes an account token after a failed attempt. */
void api_rate_limit_failure(api_request *rq, api_rl_account kind, const char *account);

/* ---- Anomalies (api/anomaly.c) ------------------------------------------------------------- */

typedef enum api_anomaly_kind {
    API_A_LOCKOUT,                /* a credential or a staff account locked */
    API_A_AUTH_FAILURE_BURST,     /* failed authentications of one account or credential */
    API_A_SIGNING_OUTSIDE_WINDOW, /* a signature outside [anomaly] signing_window */
    API_A_BULK_SIGNING,           /* one signer's signatures above [anomaly] bulk_signatures */
    API_A_COUNT
} api_anomaly_kind;

/* The kind's label in qsign_anomalies_total and in the log ("lockout", ...). */
const char *api_anomaly_name(api_anomaly_kind k);

#define API_WINDOW_SLOTS    60  /* slots of a sliding window */
#define API_ANOMALY_KEY_MAX 160 /* bytes of a counted key ("account:<username>") */

/* Counts of events per key over a sliding window of `window_s` seconds (in API_WINDOW_SLOTS
 * slots), for at most `entries` keys at once; NULL when out of memory (or window_s is 0).
 * Thread-safe. */
typedef struct api_window api_window;
api_window *api_window_new(uint64_t threshold, uint32_t window_s, size_t entries);
void api_window_free(api_window *w);

/* Adds n events of `key` at now_ms (monotonic): true when they take the key's count within the
 * window from at most the threshold to above it (never with threshold 0).  *count (may be NULL)
 * is the count after.  A NULL window counts nothing. */
bool api_window_add(api_window *w, const char *key, size_t key_len, uint64_t n, uint64_t now_ms,
                    uint64_t *count);

/* Whether a time (seconds since the Unix epoch) is outside the configured daily signing window
 * (false when there is none). */
bool api_signing_window_outside(const qs_api_config *cfg, int64_t unix_s);

/* A credential ("credential", its id) or a staff account ("account", its user id) locked. */
void api_anomaly_lockout(api_request *rq, const char *what, const char *id);

/* A failed authentication of `what` ("account" or "credential") `key` (the username typed, or
 * the credential id), shown in the log as `shown` (an id, or "unknown": never a typed name). */
void api_anomaly_auth_failure(api_request *rq, const char *what, const char *key,
                              const char *shown);

/* The authenticated signer made n signatures with `credential` (signing window, bulk). */
void api_anomaly_signed(api_request *rq, const char *credential, size_t n);

/* ---- Metrics -------------------------------------------------------------------------------- */

typedef struct api_metrics api_metrics;

api_metrics *api_metrics_new(size_t slots);
void api_metrics_free(api_metrics *m);
void api_metrics_inc(api_metrics *m, api_counter c);
/* Records one finished request of series `slot` with HTTP `status` taking `seconds`. */
void api_metrics_observe(api_metrics *m, size_t slot, unsigned status, double seconds);
/* The Prometheus text exposition: malloc'd text in *out, its length in *len. */
QS_MUST_CHECK qs_err api_metrics_render(api_metrics *m, char **out, size_t *len);

/* Counts event c in the server's metrics. */
void api_count(api_request *rq, api_counter c);

/* Counts one anomaly of kind k (qsign_anomalies_total{kind}). */
void api_metrics_anomaly(api_metrics *m, api_anomaly_kind k);

/* ---- Database pool ------------------------------------------------------------------------- */

typedef struct api_dbpool api_dbpool;

/* A pool of at most `size` connections made lazily with `conninfo` (copied). */
api_dbpool *api_dbpool_new(const char *conninfo, size_t size);
void api_dbpool_free(api_dbpool *p);
/* Borrows a connection, waiting up to timeout_ms for a free one: QS_OK, QS_ERR_DB_UNAVAILABLE
 * (cannot connect, or none free in time). */
QS_MUST_CHECK qs_err api_dbpool_get(api_dbpool *p, int timeout_ms, qs_db **db);
void api_dbpool_put(api_dbpool *p, qs_db *db);

/* ---- The SAM ------------------------------------------------------------------------------ */

/* Connects to the SAM ([sam] socket_path, timeout_ms).  QS_OK, QS_ERR_EOF (not reachable),
 * QS_ERR_CONFIG, QS_ERR_NOMEM. */
QS_MUST_CHECK qs_err api_sam_open(const qs_api_config *cfg, qs_sam_client **c);

/* Asks the SAM for a PING: QS_OK, or the failure. */
QS_MUST_CHECK qs_err api_sam_ping(const qs_api_config *cfg);

/* Replies the CSC error for a failed SAM call (`c` may be NULL): an unknown or foreign
 * credential becomes "Invalid parameter credentialID", transport failures 503. */
void api_reply_sam_error(api_request *rq, const qs_sam_client *c, qs_err e);

/* ---- Keys and algorithms ------------------------------------------------------------------- */

typedef struct api_key_alg {
    const char *db_name;      /* credentials.key_alg: "ec-p256" */
    unsigned bits;            /* key.len */
    const char *curve;        /* key.curve OID, NULL for RSA */
    const char *const *algos; /* key.algo: the signature algorithm OIDs, NULL-terminated */
} api_key_alg;

/* The algorithms of a stored key_alg; NULL for an unknown one. */
const api_key_alg *api_key_alg_find(const char *db_name);

/* Every signature algorithm OID the service can use, NULL-terminated (info.signAlgorithms). */
const char *const *api_sign_algos(void);

/* ---- Digests and signature algorithms ------------------------------------------------------ */

typedef struct api_hash_alg {
    const char *oid;
    qs_sam_hash_alg sam;
    size_t len; /* digest bytes */
    int nid;    /* OpenSSL NID */
} api_hash_alg;

/* By OID, by digest length, by SAM code; NULL when unknown. */
const api_hash_alg *api_hash_alg_find(const char *oid, size_t oid_len);
const api_hash_alg *api_hash_alg_by_len(size_t len);
const api_hash_alg *api_hash_alg_by_nid(int nid);

typedef struct api_sign_alg {
    const char *oid;
    qs_sam_sig_scheme scheme;
    const api_hash_alg *hash; /* implied digest, NULL when the client names it */
    bool pss;                 /* RSASSA-PSS: parameters in signAlgoParams */
} api_sign_alg;

const api_sign_alg *api_sign_alg_find(const char *oid, size_t oid_len);

/* Whether key `alg` can make signature algorithm `oid` (listed in its key/algo). */
bool api_key_alg_allows(const api_key_alg *alg, const char *oid, size_t oid_len);

/*
 * Parses DER RSASSA-PSS-params (RFC 4055) and accepts only parameters matching `hash`: that
 * hash, MGF1 with that hash, salt length of the digest length, trailer field 1.  Absent fields
 * take the RFC defaults (SHA-1, so they never match).  QS_OK or QS_ERR_INVALID_ARGUMENT; with
 * hash NULL the PSS hash is taken from the parameters and returned in *out.
 */
QS_MUST_CHECK qs_err api_pss_params(const uint8_t *der, size_t len, const api_hash_alg *hash,
                                    const api_hash_alg **out);

/*
 * Decodes the request's digests (an API_T_STRINGS of base64): each must be `want->len` bytes
 * (else "Invalid digest value length"), none repeated.  With want NULL the length of the first
 * decides (and must be 32, 48 or 64), returned in *found.  On success *buf (free it) holds the
 * bytes and *list (free it) points into them.  On failure the reply is made and false returned.
 */
bool api_digests(api_request *rq, const api_param *p, const api_hash_alg *want,
                 const api_hash_alg **found, uint8_t **buf, qs_sam_bytes **list);

/*
 * What credentials/authorize and extendTransaction name before their digests: the optional
 * hashAlgorithmOID (*hash, NULL when absent: the digests' length decides) and the credentialID,
 * written in its canonical text form into cred_str.  On failure the reply is made ("Invalid
 * parameter ...") and false returned.
 */
bool api_sad_target(api_request *rq, const api_hash_alg **hash,
                    char cred_str[static API_UUID_STR_LEN + 1]);

/* The answer of authorize and extendTransaction: {"SAD": sad, "expiresIn": expires_in}. */
void api_reply_sad(api_request *rq, const char *sad, uint32_t expires_in);

/* ---- Signing (shared by signatures/signHash and signatures/signDoc) ------------------------- */

struct qs_db_api_credential;

/* The caller's credential named by `id` (its text form) into *cred and its id into cred_id; an
 * unknown one, another user's or a malformed id replies "Invalid parameter credentialID" (a
 * database failure its error) and returns false. */
bool api_sign_credential(api_request *rq, const api_param *id, uint8_t cred_id[static API_UUID_LEN],
                         struct qs_db_api_credential *cred);

/*
 * The signature algorithm and digest algorithm of a signing request whose fields signAlgo,
 * hashAlgorithmOID and signAlgoParams are in p: signAlgo must be one of the key's algorithms
 * (key/algo); the digest algorithm is the one signAlgo implies, or hashAlgorithmOID (needed for
 * rsaEncryption), or the one of the RSASSA-PSS parameters, which must match the digest (hash,
 * MGF1 hash, salt length).  Replies and returns false when they do not fit.
 */
bool api_sign_algorithms(api_request *rq, const api_params *p, const char *key_alg,
                         const api_sign_alg **sa, const api_hash_alg **hash);

/* A JSON array of the n byte strings in standard base64, or NULL (out of memory). */
json_t *api_b64_array(uint8_t *const items[], const size_t lens[], size_t n);

/*
 * Asks the SAM to sign the n digests of `list` with the credential cred_str (its text form):
 * SIGN (raw signatures) or, with `document`, SIGN_DOC (one CAdES CMS per digest).  On success
 * the results as a JSON array of base64, in the digests' order, counted in the metrics and the
 * anomaly windows; otherwise replies with the SAM's error and returns NULL.
 */
json_t *api_sign_send(api_request *rq, const char *cred_str, const api_sign_alg *sa,
                      const api_hash_alg *hash, const qs_sam_bytes *list, size_t n, bool document);

/* ---- Credentials (shared by credentials/list and credentials/info) -------------------------- */

/* A credential's certificate as credentials/info shows it. */
typedef struct api_cert_view {
    const uint8_t *der; /* the credential's certificate */
    size_t der_len;
    const uint8_t *ca_der; /* the CA certificate, for "chain"; NULL when unknown */
    size_t ca_len;
    const char *status; /* valid, revoked or expired */
    const char *issuer, *subject;
    char serial_hex[2 * 20 + 1];
    char valid_from[16], valid_to[16]; /* YYYYMMDDHHMMSSZ */
} api_cert_view;

typedef struct api_cred_opts {
    const char *certificates; /* "none", "single" or "chain" */
    bool cert_info;
    bool auth_info;
    const api_cert_view *cert; /* NULL: the credential has no certificate */
} api_cred_opts;

struct qs_db_certificate;

/* The view of a certificate row at time now_us (status from revocation and validity); the
 * strings point into row. */
void api_cert_view_make(const struct qs_db_certificate *row, const uint8_t *ca_der, size_t ca_len,
                        int64_t now_us, api_cert_view *v);

/* The credentials/info object of `c` for the request's version, or NULL (out of memory). */
json_t *api_credential_json(const api_request *rq, const struct qs_db_api_credential *c,
                            const api_cred_opts *opts);

/* ---- Configuration helpers ------------------------------------------------------------------- */

struct sockaddr_storage;

/* `address` (numeric IPv4 or IPv6) and `port` as a socket address; *v6 tells the family.
 * QS_ERR_CONFIG for an address that is not numeric IPv4 or IPv6. */
QS_MUST_CHECK qs_err api_config_addr(const char *address, int64_t port, struct sockaddr_storage *ss,
                                     bool *v6);

/*
 * Reads the TLS certificate chain (*cert, malloc'd) and private key (*key, in qs_secret_alloc
 * memory, *key_len bytes without the NUL); both NUL-terminated PEM.  The key file must be a
 * regular file that group and others cannot read.  QS_ERR_CONFIG with the reason in `why`.
 */
QS_MUST_CHECK qs_err api_tls_read(const qs_api_config *cfg, char **cert, char **key,
                                  size_t *key_len, char *why, size_t why_len);

/* ---- The server ------------------------------------------------------------------------------ */

struct MHD_Daemon;

struct qs_api_server {
    const qs_api_config *cfg;
    struct MHD_Daemon *mhd;
    bool tls;
    uint16_t port;
    struct MHD_Daemon *mhd_pki; /* the plain-HTTP [pki] listener, or NULL */
    uint16_t pki_port;
    char *tls_cert; /* PEM, NUL-terminated */
    char *tls_key;  /* PEM, NUL-terminated, in qs_secret_alloc memory */
    size_t tls_key_len;
    char *dummy_verifier; /* verified against for unknown users */
    api_dbpool *dbpool;
    api_dbpool *audit_pool; /* NULL without [audit] conninfo */
    api_ratelimit *rl_address;
    api_ratelimit *rl_account;
    api_metrics *metrics;
    api_window *auth_failures; /* NULL when [anomaly] auth_failures is 0 */
    api_window *signatures;    /* NULL when [anomaly] bulk_signatures is 0 */
};

/* ---- The web page (api/web/, embedded by api/embed_web.cmake) ------------------------------ */

/*
 * Every reply carries a Content-Security-Policy, X-Frame-Options: DENY, X-Content-Type-Options:
 * nosniff and Referrer-Policy: no-referrer.  The page and its files get API_CSP_PAGE: their own
 * scripts, styles and images, fetches to this origin only, no framing, no <base>, forms posting
 * here only, and Trusted Types so no string becomes markup or script.  Every other reply (JSON,
 * DER) gets API_CSP_API, which allows nothing.
 */
#define API_CSP_PAGE                                                                               \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "            \
    "require-trusted-types-for 'script'; trusted-types 'none'"
#define API_CSP_API    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#define API_WEB_PREFIX "/web/"
#define API_WEB_INDEX  "/web/index.html" /* also served at / */

typedef struct api_web_asset {
    const char *path;         /* "/web/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const uint8_t *data;
    size_t len;
} api_web_asset;

/* The embedded files (generated at build time), and the one at `path` exactly (NULL: none). */
extern const api_web_asset api_web_assets[];
extern const size_t api_web_assets_count;
const api_web_asset *api_web_find(const char *path);

/*
 * Whether a request may go on as far as its Origin header goes (CSRF defence in depth; the API
 * takes its credentials only from the Authorization header and sets no cookies).  A GET, HEAD
 * or OPTIONS request always may, and so may a request without Origin (non-browser clients send
 * none).  Otherwise the Origin must be the server's own: `public_origin` when it is not empty,
 * else "https://" (tls) or "http://" followed by the Host header, a default port (:443, :80)
 * ignored; compared without regard to case.  "null" and every other origin are refused.
 */
bool api_origin_allowed(const char *method, const char *origin, const char *host, bool tls,
                        const char *public_origin);

/* Whether `s` is a usable [http] public_origin: "http://" or "https://" and a host (and port),
 * nothing after it. */
bool api_origin_valid(const char *s);

/* ---- QR codes ------------------------------------------------------------------------------- */

#define API_QR_TEXT_MAX 1024 /* longest text drawn */

/*
 * Draws `text` (1..API_QR_TEXT_MAX bytes) as a QR code in SVG: one white square and one black
 * path, in module units with a quiet zone of four.  QS_OK and *svg (malloc'd, NUL-terminated,
 * *len bytes without the NUL; it encodes the text, so free it with qs_free_wiped(*svg, *len + 1)),
 * QS_ERR_INVALID_ARGUMENT (empty or too long), QS_ERR_NOMEM.
 */
QS_MUST_CHECK qs_err api_qr_svg(const char *text, char **svg, size_t *len);

/* ---- JSON memory ----------------------------------------------------------------------------- */

/* Makes jansson allocate through functions that wipe memory before freeing it (request bodies
 * carry PINs, OTPs and SADs; replies carry tokens).  Idempotent. */
void api_json_init(void);

#endif

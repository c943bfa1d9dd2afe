/*
 * End-to-end harness for qsignd: a throwaway CA and server certificate (made with the openssl
 * tool), a config against a database of the `pg` fixture, the real daemon started as a child
 * process over TLS on a free loopback port, and a real HTTP client (libcurl).  Also: rows of
 * users and credentials written as the owner (with dummy record MACs, enough for qsignd's
 * read-only use), login passwords, and a stand-in SAM that answers PING.
 *
 * Failures abort the test program (exit 1) after printing the daemon's log.
 */
#ifndef QS_TESTS_APID_H
#define QS_TESTS_APID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tests/lib/pg.h"

typedef struct qs_test_apid_opts {
    int token_lifetime;         /* seconds; 0: 3600 */
    int refresh_token_lifetime; /* seconds; 0: 86400 */
    int rl_address_per_minute;  /* 0: no limit */
    int rl_address_burst;       /* 0: 1000 */
    int rl_account_per_minute;  /* 0: no limit */
    int rl_account_burst;       /* 0: 1000 */
    int max_body;               /* bytes; 0: the default */
    const char *sam_socket;     /* NULL: a path where nothing listens */
    int threads;                /* [http] threads; 0: 2 */
    int sam_timeout_ms;         /* [sam] timeout_ms; 0: 2000 */
    bool pki_listener;          /* also the plain-HTTP [pki] listener on a free loopback port */
    const char *audit_conninfo; /* [audit] conninfo; NULL: none (the audit API answers 503) */
    const char *extra;          /* appended to the config verbatim (whole sections); NULL: none */
    const char *public_origin;  /* [http] public_origin; NULL: not set */
} qs_test_apid_opts;

typedef struct qs_test_apid {
    char dir[512];
    char ca_file[600];
    char conf_file[600];
    char log_file[600];
    pid_t pid;
    unsigned port;
    char base_url[128];
    unsigned pki_port; /* the [pki] listener's, 0 without one */
    char pki_url[128]; /* "http://127.0.0.1:N" */
} qs_test_apid;

/* Makes the certificates and the config, starts qsignd ($QS_QSIGND) against `pg` (already
 * migrated) and waits until it listens. */
qs_test_apid *qs_test_apid_start(const qs_test_pg *pg, const qs_test_apid_opts *opts);

/* Stops the daemon with SIGTERM and returns its exit status (-1 if it had to be killed or did
 * not exit normally), removes the files and frees.  NULL returns 0.  The daemon's log is
 * printed when the status is not 0, or always with QS_TEST_APID_SHOW_LOG=1. */
int qs_test_apid_stop(qs_test_apid *d);

/* The daemon's log so far (stderr), malloc'd. */
char *qs_test_apid_log(const qs_test_apid *d);

/* ---- HTTP ------------------------------------------------------------------------------------ */

typedef struct qs_test_req {
    const char *method;         /* "POST" when NULL */
    const char *path;           /* "/csc/v2/info" */
    const char *auth;           /* the whole Authorization value, or NULL */
    const char *body;           /* NULL: none */
    size_t body_len;            /* 0 with a body: strlen(body) */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    long ssl_version;           /* libcurl CURLOPT_SSLVERSION; 0: default */
    bool chunked;               /* send the body with chunked transfer encoding */
    const char *source_address; /* the client's local IPv4 address (e.g. another loopback
                                 * address, 127.0.0.2), so the daemon sees another client
                                 * address; NULL: the system's choice */
} qs_test_req;

typedef struct qs_test_http {
    long status; /* 0 when the request failed at the transport level */
    char *body;  /* NUL-terminated */
    size_t body_len;
    char *headers;   /* the response header block */
    char error[256]; /* libcurl's message when status is 0 */
} qs_test_http;

qs_test_http *qs_test_apid_request(const qs_test_apid *d, const qs_test_req *req);

/* The value of one series ("qsign_signatures_total", "name{label=\"v\"}") in the daemon's
 * /metrics; -1 when it is not there. */
long long qs_test_apid_metric(const qs_test_apid *d, const char *series);

/* POST `body` (a JSON text, or NULL) to `path` with an optional Bearer token. */
qs_test_http *qs_test_apid_post(const qs_test_apid *d, const char *path, const char *bearer,
                                const char *body);

/* auth/login (CSC v2, HTTP Basic): the access token (malloc'd).  Aborts unless the answer is
 * 200 with a token. */
char *qs_test_apid_login(const qs_test_apid *d, const char *username, const char *password);

/* A response header's value (first occurrence, case-insensitive name), copied into buf;
 * NULL when absent. */
const char *qs_test_http_header(const qs_test_http *r, const char *name, char *buf, size_t len);

void qs_test_http_free(qs_test_http *r);

/* ---- Rows --------------------------------------------------------------------------------------
 */

/* A user (kind signer) with `status` ("active", "suspended", "closed"). */
void qs_test_apid_add_user(const qs_test_pg *pg, const char *id, const char *username,
                           const char *status);

/* A credential of `user_id` with key_alg ("ec-p256", "rsa-2048", ...) and status. */
void qs_test_apid_add_credential(const qs_test_pg *pg, const char *id, const char *user_id,
                                 const char *key_alg, const char *status);

/* Sets a login password (Argon2id verifier) as the owner. */
void qs_test_apid_set_password(const qs_test_pg *pg, const char *user_id, const char *password);

/* ---- A stand-in SAM
 * ------------------------------------------------------------------------------ */

typedef struct qs_test_fake_sam qs_test_fake_sam;

/* Listens on `path` and answers every PING with PING_RESP (anything else: ERROR), in a thread. */
qs_test_fake_sam *qs_test_fake_sam_start(const char *path);
void qs_test_fake_sam_stop(qs_test_fake_sam *s);

#endif

/*
 * qsignd, the internet-facing daemon: the Cloud Signature Consortium API (v2 at /csc/v2/,
 * v1.0.4.0 at /csc/v1/) over libmicrohttpd and jansson, plus /healthz, /readyz and /metrics.
 *
 * Trust boundary: everything that arrives over HTTP is untrusted.  qsignd holds its TLS key
 * and the qsign_api database role; it never loads PKCS#11, never holds factor secrets or SADs
 * beyond the request that carries them, and cannot sign: signing goes through the SAM.
 *
 * Threads: libmicrohttpd runs a pool of worker threads (epoll); each request is handled
 * entirely on one worker, which borrows a database connection from a pool for it.
 */
#ifndef QS_API_API_H
#define QS_API_API_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/config.h"
#include "util/err.h"

typedef struct qs_api_config {
    /* [http] */
    char *listen_address;       /* numeric IPv4 or IPv6 address */
    int64_t port;               /* 0: any free port (logged) */
    char *tls_cert_file;        /* PEM chain; empty: plain HTTP (loopback only) */
    char *tls_key_file;         /* PEM private key, mode 0600 or tighter */
    bool plain_http_loopback;   /* allow plain HTTP on a loopback address */
    bool trust_forwarded_for;   /* take the client address from X-Forwarded-For (proxy) */
    char *public_origin;        /* the origin browsers use ("https://sign.example"); empty:
                                   this listener's scheme and the request's Host header */
    int64_t threads;            /* worker threads */
    int64_t max_body;           /* bytes */
    int64_t max_header;         /* bytes of all request headers together */
    int64_t max_url;            /* bytes */
    int64_t connection_limit;   /* concurrent connections */
    int64_t connection_timeout; /* idle seconds before a connection is closed */
    /* [pki] */
    char *pki_listen_address; /* plain-HTTP listener for /pki/ only; empty: none */
    int64_t pki_port;         /* 0: any free port (logged) */
    /* [ratelimit] login and authorize attempts, token buckets */
    int64_t rl_address_per_minute;
    int64_t rl_address_burst;
    int64_t rl_account_per_minute;
    int64_t rl_account_burst;
    int64_t rl_table_size;
    /* [database] */
    char *db_conninfo;
    /* [sam] */
    char *sam_socket_path;
    int64_t sam_timeout_ms;
    /* [auth] */
    int64_t token_lifetime;         /* seconds */
    int64_t refresh_token_lifetime; /* seconds */
    /* [csc] */
    char *csc_name;
    char *csc_logo;
    char *csc_region;
    char *csc_lang;
    char *csc_description;
    char *csc_pin_format; /* "N" or "A": what the SAM's PIN policy allows */
    int64_t csc_multisign;
    /* [audit] the auditors' API (/audit/v1) */
    char *audit_conninfo; /* as role qsign_audit; "" : /audit/v1 answers 503 */
    /* [anomaly] alerts on unusual use (EN 419 241-1): WARN log lines and metrics */
    int64_t anomaly_auth_failures;       /* failed authentications of one account or credential
                                            within the window before an alert; 0: off */
    int64_t anomaly_auth_failure_window; /* seconds */
    char *anomaly_signing_window;        /* "HH:MM-HH:MM" in UTC; "" : no window */
    int64_t anomaly_bulk_signatures;     /* signatures of one signer within the window before an
                                            alert; 0: off */
    int64_t anomaly_bulk_window;         /* seconds */
    int64_t anomaly_table_size;          /* accounts, credentials and signers tracked */
    /* [log] */
    char *log_level;

    /* Derived by the loader: the signing window in minutes of the UTC day, from inclusive, to
     * exclusive (from > to: it spans midnight); both -1 without a window. */
    int signing_window_from, signing_window_to;
} qs_api_config;

/* Parses a daily time window "HH:MM-HH:MM" (24-hour, UTC; the two times differ; the second
 * before the first spans midnight) into minutes of the day: true, or false for anything else. */
bool qs_api_time_window_parse(const char *s, int *from_min, int *to_min);

/* The option table (ends with QS_CFG_END). */
extern const qs_cfg_opt qs_api_options[];

/*
 * Loads and checks a config file: every option of the table, then the rules that tie options
 * together (TLS files or plain_http_loopback on a loopback address, lifetimes, log level).
 * QS_ERR_CONFIG with a message naming the section and key in err.  On error `cfg` holds no
 * allocations.
 */
QS_MUST_CHECK qs_err qs_api_config_load(const char *path, qs_api_config *cfg, char *err,
                                        size_t err_len);

/* As qs_api_config_load, from text (tests and fuzzing). */
QS_MUST_CHECK qs_err qs_api_config_load_buf(const char *text, size_t len, const char *origin,
                                            qs_api_config *cfg, char *err, size_t err_len);

/* Reads the files the config names (TLS certificate and key), as start-up would, and checks
 * the key file's permissions: QS_OK or QS_ERR_CONFIG with the reason in err. */
QS_MUST_CHECK qs_err qs_api_config_check_files(const qs_api_config *cfg, char *err, size_t err_len);

/* Frees what the loader allocated. */
void qs_api_config_free(qs_api_config *cfg);

/* Writes the commented example config. */
void qs_api_config_write_example(FILE *f);

typedef struct qs_api_server qs_api_server;

/*
 * Starts serving: checks the database schema, reads the TLS files, starts the worker threads.
 * `cfg` must stay valid until qs_api_server_stop.  Returns QS_OK and *out, or QS_ERR_CONFIG
 * (bad TLS files, address), QS_ERR_DB_* (database unreachable or at another schema version),
 * QS_ERR_IO (cannot listen), QS_ERR_NOMEM; the reason is logged.
 */
QS_MUST_CHECK qs_err qs_api_server_start(const qs_api_config *cfg, qs_api_server **out);

/* The TCP port the server listens on. */
uint16_t qs_api_server_port(const qs_api_server *s);

/* The port of the plain-HTTP [pki] listener; 0 when there is none. */
uint16_t qs_api_server_pki_port(const qs_api_server *s);

/* Stops accepting, finishes the requests in progress, frees everything.  NULL is a no-op. */
void qs_api_server_stop(qs_api_server *s);

#endif

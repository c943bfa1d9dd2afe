/*
 * qsignd's configuration: one declarative option table, and the rules that tie options
 * together.  Secrets are never inline: the TLS key is a file, the database password (if any)
 * lives in the libpq service or password file the conninfo names.
 */
#define QS_LOG_MODULE "api"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

#define API_PEM_MAX (1024 * 1024) /* largest certificate chain or key file read */

#define OPT_STR(sec, key, def, help, field)                                                        \
    {                                                                                              \
        sec, key, QS_CFG_STRING, def, help, offsetof(qs_api_config, field), 0, 0                   \
    }
#define OPT_INT(sec, key, def, help, field, lo, hi)                                                \
    {                                                                                              \
        sec, key, QS_CFG_INT, def, help, offsetof(qs_api_config, field), lo, hi                    \
    }
#define OPT_BOOL(sec, key, def, help, field)                                                       \
    {                                                                                              \
        sec, key, QS_CFG_BOOL, def, help, offsetof(qs_api_config, field), 0, 0                     \
    }

const qs_cfg_opt qs_api_options[] = {
    OPT_STR("http", "listen_address", "127.0.0.1", "numeric IPv4 or IPv6 address to listen on",
            listen_address),
    OPT_INT("http", "port", "8443", "TCP port (0: any free port, logged at start)", port, 0, 65535),
    OPT_STR("http", "tls_cert_file", "",
            "PEM certificate chain, server certificate first (TLS 1.2 and 1.3 only)",
            tls_cert_file),
    OPT_STR("http", "tls_key_file", "",
            "PEM private key of the certificate; the file must not be readable by group or others",
            tls_key_file),
    OPT_BOOL("http", "plain_http_loopback", "false",
             "without TLS files, serve plain HTTP (only on a loopback address, for a TLS proxy)",
             plain_http_loopback),
    OPT_BOOL("http", "trust_forwarded_for", "false",
             "take the client address from the last X-Forwarded-For entry (only behind a proxy)",
             trust_forwarded_for),
    OPT_STR("http", "public_origin", "",
            "origin of the web page as browsers see it, e.g. https://sign.example (state-changing "
            "requests with another Origin header are refused; empty: https:// or http:// and the "
            "request's Host)",
            public_origin),
    OPT_INT("http", "threads", "4", "worker threads", threads, 1, 256),
    OPT_INT("http", "max_body", "1048576", "largest request body in bytes (413 beyond)", max_body,
            1024, 64 * 1024 * 1024),
    OPT_INT("http", "max_header", "16384", "largest size of all request headers in bytes (431)",
            max_header, 1024, 1024 * 1024),
    OPT_INT("http", "max_url", "2048", "longest request URI in bytes (414 beyond)", max_url, 64,
            65536),
    OPT_INT("http", "connection_limit", "1024", "most concurrent connections", connection_limit, 1,
            1000000),
    OPT_INT("http", "connection_timeout", "30", "seconds a connection may stay idle",
            connection_timeout, 1, 3600),
    OPT_STR("pki", "listen_address", "",
            "numeric address of a plain-HTTP listener that serves only /pki/ (CA certificate, CRL, "
            "OCSP: the http URLs certificates name); empty: none",
            pki_listen_address),
    OPT_INT("pki", "port", "8080", "TCP port of the [pki] listener (0: any free port)", pki_port, 0,
            65535),
    OPT_INT("ratelimit", "address_per_minute", "60",
            "login and authorize attempts per minute per client address (0: no limit)",
            rl_address_per_minute, 0, 1000000),
    OPT_INT("ratelimit", "address_burst", "30", "attempts a client address may make at once",
            rl_address_burst, 1, 1000000),
    OPT_INT("ratelimit", "account_per_minute", "10",
            "failed login attempts per minute per account (0: no limit)", rl_account_per_minute, 0,
            1000000),
    OPT_INT("ratelimit", "account_burst", "10", "failed attempts an account may take at once",
            rl_account_burst, 1, 1000000),
    OPT_INT("ratelimit", "table_size", "65536", "buckets kept per limit", rl_table_size, 64,
            16777216),
    OPT_STR("database", "conninfo", NULL,
            "libpq connection string as role qsign_api (no password inline: use a passfile)",
            db_conninfo),
    OPT_STR("sam", "socket_path", "/run/qsign/sam.sock", "unix socket of qsign-sam",
            sam_socket_path),
    OPT_INT("sam", "timeout_ms", "5000", "milliseconds a SAM request may take", sam_timeout_ms, 100,
            600000),
    OPT_INT("auth", "token_lifetime", "3600", "seconds an access token is valid", token_lifetime, 1,
            86400),
    OPT_INT("auth", "refresh_token_lifetime", "604800",
            "seconds a refresh token (auth/login rememberMe) is valid", refresh_token_lifetime, 1,
            31536000),
    OPT_STR("csc", "name", "qsign", "info.name", csc_name),
    OPT_STR("csc", "logo", "", "info.logo: URI of the service logo (empty: not given)", csc_logo),
    OPT_STR("csc", "region", "", "info.region: ISO 3166-1 alpha-2 country (empty: not given)",
            csc_region),
    OPT_STR("csc", "lang", "en-US", "info.lang and credentials/info lang", csc_lang),
    OPT_STR("csc", "description", "Remote qualified electronic signature service",
            "info.description", csc_description),
    OPT_STR("csc", "pin_format", "N",
            "PIN format announced in credentials/info: N (digits) or A (alphanumeric), as the "
            "SAM's PIN policy",
            csc_pin_format),
    OPT_INT("csc", "multisign", "100", "most signatures one authorization allows", csc_multisign, 1,
            API_MULTISIGN_MAX),
    OPT_STR("audit", "conninfo", "",
            "libpq connection string as role qsign_audit (read-only) for the auditors' API "
            "/audit/v1; empty: /audit/v1 answers 503",
            audit_conninfo),
    OPT_INT("anomaly", "auth_failures", "10",
            "failed logins or authorizations of one account or credential within "
            "auth_failure_window before an alert (0: no alert)",
            anomaly_auth_failures, 0, 1000000),
    OPT_INT("anomaly", "auth_failure_window", "300", "seconds failed authentications are counted",
            anomaly_auth_failure_window, 1, 86400),
    OPT_STR("anomaly", "signing_window", "",
            "daily time window for signing, HH:MM-HH:MM in UTC (22:00-06:00 spans midnight); a "
            "signature outside it raises an alert (empty: no window)",
            anomaly_signing_window),
    OPT_INT("anomaly", "bulk_signatures", "1000",
            "signatures of one signer within bulk_window before an alert (0: no alert)",
            anomaly_bulk_signatures, 0, 100000000),
    OPT_INT("anomaly", "bulk_window", "3600", "seconds a signer's signatures are counted",
            anomaly_bulk_window, 1, 604800),
    OPT_INT("anomaly", "table_size", "16384",
            "accounts, credentials and signers tracked at once, each for failures and signatures",
            anomaly_table_size, 64, 16777216),
    OPT_STR("log", "level", "info", "debug, info, warn or error", log_level),
    QS_CFG_END,
};

void qs_api_config_free(qs_api_config *cfg)
{
    qs_cfg_free(qs_api_options, cfg);
}

void qs_api_config_write_example(FILE *f)
{
    qs_cfg_write_example(f, "qsignd", qs_api_options);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

qs_err api_config_addr(const char *address, int64_t port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    *v6 = false;
    struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return QS_OK;
    }
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return QS_OK;
    }
    return QS_ERR_CONFIG;
}

static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

bool qs_api_time_window_parse(const char *s, int *from_min, int *to_min)
{
    *from_min = *to_min = -1;
    if (s == NULL || strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':')
        return false;
    int h1 = two_digits(s), m1 = two_digits(s + 3), h2 = two_digits(s + 6), m2 = two_digits(s + 9);
    if (h1 < 0 || h1 > 23 || m1 < 0 || m1 > 59 || h2 < 0 || h2 > 23 || m2 < 0 || m2 > 59)
        return false;
    if (h1 * 60 + m1 == h2 * 60 + m2)
        return false;
    *from_min = h1 * 60 + m1;
    *to_min = h2 * 60 + m2;
    return true;
}

/* Checks the rules between options; the message names section and key. */
static qs_err check(qs_api_config *cfg, const char *origin, char *err, size_t err_len)
{
    qs_log_level level;
    struct sockaddr_storage ss;
    bool v6;

    if (!qs_log_level_parse(cfg->log_level, &level)) {
        snprintf(err, err_len, "%s: [log] level: \"%s\" is not debug, info, warn or error", origin,
                 cfg->log_level);
        return QS_ERR_CONFIG;
    }
    if (api_config_addr(cfg->listen_address, cfg->port, &ss, &v6) != QS_OK) {
        snprintf(err, err_len, "%s: [http] listen_address: \"%s\" is not a numeric IP address",
                 origin, cfg->listen_address);
        return QS_ERR_CONFIG;
    }
    if (cfg->pki_listen_address[0] != '\0') {
        struct sockaddr_storage pss;
        bool pv6;
        if (api_config_addr(cfg->pki_listen_address, cfg->pki_port, &pss, &pv6) != QS_OK) {
            snprintf(err, err_len, "%s: [pki] listen_address: \"%s\" is not a numeric IP address",
                     origin, cfg->pki_listen_address);
            return QS_ERR_CONFIG;
        }
        if (cfg->pki_port != 0 && cfg->pki_port == cfg->port) {
            snprintf(err, err_len, "%s: [pki] port: %lld is [http] port too", origin,
                     (long long)cfg->pki_port);
            return QS_ERR_CONFIG;
        }
    }
    bool cert = cfg->tls_cert_file[0] != '\0', key = cfg->tls_key_file[0] != '\0';
    if (cert != key) {
        snprintf(err, err_len, "%s: [http] tls_cert_file and tls_key_file: set both or neither",
                 origin);
        return QS_ERR_CONFIG;
    }
    if (!cert && !cfg->plain_http_loopback) {
        snprintf(err, err_len,
                 "%s: [http] tls_cert_file: required unless plain_http_loopback = true", origin);
        return QS_ERR_CONFIG;
    }
    if (!cert && !is_loopback(&ss)) {
        snprintf(err, err_len,
                 "%s: [http] plain_http_loopback: plain HTTP only on a loopback address, not %s",
                 origin, cfg->listen_address);
        return QS_ERR_CONFIG;
    }
    if (cfg->public_origin[0] != '\0' && !api_origin_valid(cfg->public_origin)) {
        snprintf(err, err_len,
                 "%s: [http] public_origin: \"%s\" is not http:// or https:// and a host"
                 " (with an optional port, nothing after it)",
                 origin, cfg->public_origin);
        return QS_ERR_CONFIG;
    }
    if (cfg->db_conninfo[0] == '\0') {
        snprintf(err, err_len, "%s: [database] conninfo: must not be empty", origin);
        return QS_ERR_CONFIG;
    }
    if (cfg->refresh_token_lifetime < cfg->token_lifetime) {
        snprintf(err, err_len,
                 "%s: [auth] refresh_token_lifetime: shorter than token_lifetime (%lld s)", origin,
                 (long long)cfg->token_lifetime);
        return QS_ERR_CONFIG;
    }
    if (strcmp(cfg->csc_pin_format, "N") != 0 && strcmp(cfg->csc_pin_format, "A") != 0) {
        snprintf(err, err_len, "%s: [csc] pin_format: \"%s\" is not N or A", origin,
                 cfg->csc_pin_format);
        return QS_ERR_CONFIG;
    }
    if (cfg->csc_lang[0] == '\0' || strlen(cfg->csc_lang) > 35) {
        snprintf(err, err_len, "%s: [csc] lang: must be a language tag", origin);
        return QS_ERR_CONFIG;
    }
    cfg->signing_window_from = cfg->signing_window_to = -1;
    if (cfg->anomaly_signing_window[0] != '\0' &&
        !qs_api_time_window_parse(cfg->anomaly_signing_window, &cfg->signing_window_from,
                                  &cfg->signing_window_to)) {
        snprintf(err, err_len,
                 "%s: [anomaly] signing_window: not HH:MM-HH:MM (UTC, two different times)",
                 origin);
        return QS_ERR_CONFIG;
    }
    return QS_OK;
}

qs_err qs_api_config_load_buf(const char *text, size_t len, const char *origin, qs_api_config *cfg,
                              char *err, size_t err_len)
{
    qs_err r = qs_cfg_load_buf(text, len, origin, qs_api_options, cfg, err, err_len);
    if (r != QS_OK)
        return r;
    r = check(cfg, origin, err, err_len);
    if (r != QS_OK)
        qs_api_config_free(cfg);
    return r;
}

qs_err qs_api_config_load(const char *path, qs_api_config *cfg, char *err, size_t err_len)
{
    qs_err r = qs_cfg_load_file(path, qs_api_options, cfg, err, err_len);
    if (r != QS_OK)
        return r;
    r = check(cfg, path, err, err_len);
    if (r != QS_OK)
        qs_api_config_free(cfg);
    return r;
}

/* Reads a whole PEM file into a NUL-terminated buffer; secret files go to guarded memory. */
static qs_err read_pem(const char *section_key, const char *path, bool secret, char **out,
                       size_t *out_len, char *why, size_t why_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, why_len, "%s: cannot open %s: %s", section_key, path, strerror(errno));
        return QS_ERR_CONFIG;
    }
    struct stat st;
    qs_err r = QS_ERR_CONFIG;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s: %s is not a regular file", section_key, path);
        goto out;
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(why, why_len, "%s: %s may be read or written by group or others (chmod 600)",
                 section_key, path);
        goto out;
    }
    if (st.st_size <= 0 || st.st_size > API_PEM_MAX) {
        snprintf(why, why_len, "%s: %s is empty or larger than %d bytes", section_key, path,
                 API_PEM_MAX);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = secret ? qs_secret_alloc(size + 1) : malloc(size + 1);
    if (buf == NULL) {
        r = QS_ERR_NOMEM;
        snprintf(why, why_len, "%s: out of memory", section_key);
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, why_len, "%s: cannot read %s", section_key, path);
            goto out;
        }
        got += (size_t)n;
    }
    buf[size] = '\0';
    if (memchr(buf, '\0', size) != NULL || strstr(buf, "-----BEGIN ") == NULL) {
        snprintf(why, why_len, "%s: %s is not a PEM file", section_key, path);
        goto out;
    }
    *out = buf;
    *out_len = size;
    buf = NULL;
    r = QS_OK;
out:
    if (buf != NULL) {
        if (secret) {
            qs_secret_free(buf);
        } else {
            free(buf);
        }
    }
    close(fd);
    return r;
}

qs_err api_tls_read(const qs_api_config *cfg, char **cert, char **key, size_t *key_len, char *why,
                    size_t why_len)
{
    size_t cert_len = 0;
    *cert = NULL;
    *key = NULL;
    *key_len = 0;
    qs_err r =
        read_pem("[http] tls_cert_file", cfg->tls_cert_file, false, cert, &cert_len, why, why_len);
    if (r != QS_OK)
        return r;
    r = read_pem("[http] tls_key_file", cfg->tls_key_file, true, key, key_len, why, why_len);
    if (r != QS_OK) {
        free(*cert);
        *cert = NULL;
    }
    return r;
}

qs_err qs_api_config_check_files(const qs_api_config *cfg, char *err, size_t err_len)
{
    char *cert = NULL, *key = NULL;
    size_t key_len = 0;
    if (cfg->tls_cert_file[0] == '\0')
        return QS_OK;
    qs_err r = api_tls_read(cfg, &cert, &key, &key_len, err, err_len);
    free(cert);
    qs_secret_free(key);
    return r;
}

/*
 * qsign-sam's configuration: one declarative option table (util/config.h) and the checks
 * between options that a table cannot express.  Secrets are never in the file: the token PIN
 * is in the file [hsm] pin_file names, database passwords in a libpq passfile.
 */
#define QS_LOG_MODULE "sam"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "sam/audit.h"
#include "sam/ca.h"
#include "sam/sam.h"
#include "util/log.h"

#define OFF(f) offsetof(sam_config, f)

static const qs_cfg_opt sam_options[] = {
    {"sam", "socket_path", QS_CFG_STRING, "/run/qsign-sam/sam.sock",
     "unix socket qsignd and qsignctl connect to", OFF(socket_path), 0, 0},
    {"sam", "socket_mode", QS_CFG_STRING, "0660",
     "permissions of the socket (octal); its group may connect", OFF(socket_mode), 0, 0},
    {"sam", "socket_group", QS_CFG_STRING, "",
     "group given to the socket (name or number); empty keeps the process's group",
     OFF(socket_group), 0, 0},
    {"sam", "workers", QS_CFG_INT, "8",
     "worker threads; each holds one HSM session and one database connection", OFF(workers), 1,
     SAM_WORKERS_MAX},
    {"sam", "writer_id", QS_CFG_STRING, "sam-1",
     "this instance's audit chain id, unique per SAM instance ([A-Za-z0-9][A-Za-z0-9._-]*)",
     OFF(writer_id), 0, 0},
    {"sam", "checkpoint_every_records", QS_CFG_INT, "1000",
     "sign an audit checkpoint after this many records (0: only by time and at shutdown)",
     OFF(checkpoint_every_records), 0, 100000000},
    {"sam", "checkpoint_every_seconds", QS_CFG_INT, "60",
     "sign an audit checkpoint after this many seconds with new records (0: only by count and "
     "at shutdown)",
     OFF(checkpoint_every_seconds), 0, 86400},
    {"sam", "admin_uids", QS_CFG_STRING, "0",
     "comma-separated uids of peers allowed privileged requests (create user, credential "
     "state, re-enrolment)",
     OFF(admin_uids), 0, 0},
    {"sam", "lock_memory", QS_CFG_BOOL, "true",
     "mlockall() at start-up so secrets never reach swap (a warning if it fails)", OFF(lock_memory),
     0, 0},
    {"sam", "read_timeout_ms", QS_CFG_INT, "10000",
     "a started frame must arrive within this time, else the connection ends", OFF(read_timeout_ms),
     100, 600000},
    {"database", "conninfo", QS_CFG_STRING, NULL, "libpq connection string as role qsign_sam",
     OFF(db_conninfo), 0, 0},
    {"hsm", "module", QS_CFG_STRING, NULL, "path of the PKCS#11 module", OFF(hsm_module), 0, 0},
    {"hsm", "token_label", QS_CFG_STRING, "qsign", "label of the token holding the service keys",
     OFF(hsm_token_label), 0, 0},
    {"hsm", "pin_file", QS_CFG_STRING, NULL,
     "file holding the token's user PIN (first line; mode 0600 or stricter)", OFF(hsm_pin_file), 0,
     0},
    {"auth", "pin_min_length", QS_CFG_INT, "6", "shortest signing PIN accepted at enrolment",
     OFF(pin_min_length), QS_PIN_MIN_LEN_FLOOR, QS_PIN_MAX_LEN},
    {"auth", "pin_alphabet", QS_CFG_STRING, "digits",
     "characters a signing PIN may use: digits or alphanumeric", OFF(pin_alphabet), 0, 0},
    {"auth", "argon2_opslimit", QS_CFG_INT, "3",
     "Argon2id passes of the PIN verifier (libsodium opslimit)", OFF(argon2_opslimit), 1, 1000000},
    {"auth", "argon2_memlimit", QS_CFG_INT, "268435456",
     "Argon2id memory of the PIN verifier in bytes (libsodium memlimit; 8192 at least)",
     OFF(argon2_memlimit), 8192, (int64_t)1 << 32},
    {"auth", "max_failed_attempts", QS_CFG_INT, "5",
     "consecutive failed authorizations after which a credential locks", OFF(max_failed_attempts),
     1, 1000000},
    {"auth", "totp_issuer", QS_CFG_STRING, "qsign",
     "issuer shown by authenticator apps (when the enrolment request names none)", OFF(totp_issuer),
     0, 0},
    {"sad", "lifetime", QS_CFG_INT, "300", "seconds an SAD stays valid after authorization",
     OFF(sad_lifetime), 1, 86400},
    {"sad", "max_lifetime", QS_CFG_INT, "3600",
     "upper bound of any SAD's validity in seconds; lifetime must not exceed it",
     OFF(sad_max_lifetime), 1, 86400},
    {"sad", "max_signatures", QS_CFG_INT, "1000",
     "most signatures one SAD may authorize (CSC multisign)", OFF(max_signatures), 1,
     QS_SAM_MAX_HASHES},
    {"ca", "key_label", QS_CFG_STRING, "qsign-ca",
     "CKA_LABEL of the CA key pair in the token (made by `qsignctl ca init`)", OFF(ca_key_label), 0,
     0},
    {"ca", "key_alg", QS_CFG_STRING, "ec-p384", "curve of a new CA key: ec-p256 or ec-p384",
     OFF(ca_key_alg), 0, 0},
    {"ca", "ocsp_key_label", QS_CFG_STRING, "qsign-ocsp",
     "CKA_LABEL of the OCSP responder key pair in the token", OFF(ocsp_key_label), 0, 0},
    {"ca", "ocsp_key_alg", QS_CFG_STRING, "ec-p256",
     "curve of a new OCSP responder key: ec-p256 or ec-p384", OFF(ocsp_key_alg), 0, 0},
    {"ca", "subject_country", QS_CFG_STRING, "",
     "countryName of the CA (and OCSP responder) subject; needed by `ca init`", OFF(ca_country), 0,
     0},
    {"ca", "subject_organization", QS_CFG_STRING, "",
     "organizationName of the CA subject (the trust service provider)", OFF(ca_organization), 0, 0},
    {"ca", "subject_organization_id", QS_CFG_STRING, "",
     "organizationIdentifier of the CA subject (e.g. NTREE-10000000); empty: none",
     OFF(ca_organization_id), 0, 0},
    {"ca", "subject_common_name", QS_CFG_STRING, "", "commonName of the CA certificate",
     OFF(ca_common_name), 0, 0},
    {"ca", "ca_validity_days", QS_CFG_INT, "3650", "validity of a self-signed CA certificate",
     OFF(ca_validity_days), 1, CA_DAYS_MAX},
    {"ca", "ocsp_validity_days", QS_CFG_INT, "90",
     "validity of the OCSP responder certificate (renew with `qsignctl ca renew-ocsp`)",
     OFF(ocsp_validity_days), 1, CA_OCSP_RESPONDER_DAYS_MAX},
    {"ca", "validity_days", QS_CFG_INT, "365", "validity of the qualified certificates issued",
     OFF(cert_validity_days), 1, CA_DAYS_MAX},
    {"ca", "pds_url", QS_CFG_STRING, "",
     "https URL of the PKI disclosure statement (QcPDS); needed to issue", OFF(pds_url), 0, 0},
    {"ca", "pds_lang", QS_CFG_STRING, "en", "language of the PDS (ISO 639-1)", OFF(pds_lang), 0, 0},
    {"ca", "policy_oid", QS_CFG_STRING, "",
     "the provider's own certificate policy OID, beside the EN 319 411-2 one; empty: none",
     OFF(tsp_policy_oid), 0, 0},
    {"ca", "cps_uri", QS_CFG_STRING, "", "CPS URI qualifier of policy_oid; empty: none",
     OFF(cps_uri), 0, 0},
    {"ca", "retention_years", QS_CFG_INT, "0",
     "QcRetentionPeriod in years; 0 leaves the statement out", OFF(retention_years), 0, 1000},
    {"ca", "ca_issuers_url", QS_CFG_STRING, "",
     "http URL of the CA certificate (AIA caIssuers); needed to issue", OFF(ca_issuers_url), 0, 0},
    {"ca", "ocsp_url", QS_CFG_STRING, "", "http URL of the OCSP responder (AIA); needed to issue",
     OFF(ocsp_url), 0, 0},
    {"ca", "crl_url", QS_CFG_STRING, "",
     "http URL of the CRL (CRL distribution point); needed to issue", OFF(crl_url), 0, 0},
    {"ca", "crl_validity_hours", QS_CFG_INT, "24",
     "nextUpdate of a CRL, in hours after thisUpdate; a new one is made when half has passed "
     "or a certificate was revoked",
     OFF(crl_validity_hours), 1, 24 * 31},
    {"ca", "crl_file", QS_CFG_STRING, "",
     "the current CRL (DER) is also written to this file, replaced atomically whenever a new "
     "one is made; empty: no file",
     OFF(crl_file), 0, 0},
    {"ca", "crl_check_seconds", QS_CFG_INT, "300",
     "how often the SAM checks whether the CRL must be made again (half its validity passed, "
     "or a revocation) and makes it, without waiting for a request",
     OFF(crl_check_seconds), 1, 86400},
    {"ca", "ocsp_cache_seconds", QS_CFG_INT, "300",
     "responses to requests without a nonce are kept and reused this long (also their "
     "nextUpdate); a revocation empties the cache",
     OFF(ocsp_cache_seconds), 1, 86400},
    {"ra", "activation_lifetime", QS_CFG_INT, "604800",
     "seconds a new signer's activation code stays valid", OFF(activation_lifetime), 60,
     90 * 86400},
    {"ra", "session_lifetime", QS_CFG_INT, "900",
     "seconds an officer's RA session (password + TOTP) stays valid", OFF(ra_session_lifetime), 60,
     86400},
    {"log", "level", QS_CFG_STRING, "info", "debug, info, warn or error", OFF(log_level), 0, 0},
    QS_CFG_END,
};

#undef OFF

void sam_config_write_example(FILE *f)
{
    qs_cfg_write_example(f, "qsign-sam", sam_options);
}

void sam_config_free(sam_config *cfg)
{
    if (cfg == NULL)
        return;
    qs_cfg_free(sam_options, cfg);
}

__attribute__((format(printf, 3, 4))) static qs_err cfg_error(char *err, size_t err_len,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return QS_ERR_CONFIG;
}

static bool writer_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > QS_AUDIT_WRITER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

static bool parse_uids(const char *s, uid_t *out, size_t cap, size_t *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        errno = 0;
        char *end = NULL;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno != 0 || v >= (unsigned long long)UINT32_MAX || *n >= cap)
            return false;
        out[(*n)++] = (uid_t)v;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return true;
        if (*p != ',')
            return false;
        p++;
    }
}

qs_err sam_config_load(const char *path, sam_config *cfg, char *err, size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    qs_err r = qs_cfg_load_file(path, sam_options, cfg, err, err_len);
    if (r != QS_OK)
        return r;

    const char *key = NULL;
    if (strlen(cfg->socket_path) == 0 || strlen(cfg->socket_path) > SAM_SOCKET_PATH_MAX ||
        cfg->socket_path[0] != '/') {
        r = cfg_error(err, err_len, "%s: [sam] socket_path: an absolute path of 1..%d bytes", path,
                      SAM_SOCKET_PATH_MAX);
        goto out;
    }
    char *end = NULL;
    errno = 0;
    unsigned long mode = strtoul(cfg->socket_mode, &end, 8);
    if (errno != 0 || end == cfg->socket_mode || *end != '\0' || mode > 0777 ||
        cfg->socket_mode[0] == '-') {
        r = cfg_error(err, err_len, "%s: [sam] socket_mode: \"%s\" is not an octal mode 0..0777",
                      path, cfg->socket_mode);
        goto out;
    }
    if ((mode & 0007) != 0)
        qs_warn("[sam] socket_mode %04lo lets every local user connect", mode);
    cfg->socket_mode_bits = (mode_t)mode;
    if (!writer_id_valid(cfg->writer_id)) {
        r = cfg_error(err, err_len,
                      "%s: [sam] writer_id: \"%s\" is not 1..64 characters of "
                      "[A-Za-z0-9][A-Za-z0-9._-]*",
                      path, cfg->writer_id);
        goto out;
    }
    if (!parse_uids(cfg->admin_uids, cfg->admin, SAM_ADMIN_UIDS_MAX, &cfg->n_admin)) {
        r = cfg_error(err, err_len,
                      "%s: [sam] admin_uids: \"%s\" is not a comma-separated list of at most %d "
                      "uids",
                      path, cfg->admin_uids, SAM_ADMIN_UIDS_MAX);
        goto out;
    }
    if (cfg->db_conninfo[0] == '\0')
        key = "[database] conninfo";
    else if (cfg->hsm_module[0] == '\0')
        key = "[hsm] module";
    else if (cfg->hsm_token_label[0] == '\0' ||
             strlen(cfg->hsm_token_label) > QS_HSM_TOKEN_LABEL_MAX)
        key = "[hsm] token_label";
    else if (cfg->hsm_pin_file[0] == '\0')
        key = "[hsm] pin_file";
    if (key != NULL) {
        r = cfg_error(err, err_len, "%s: %s must be set (the token label: at most %d bytes)", path,
                      key, QS_HSM_TOKEN_LABEL_MAX);
        goto out;
    }

    cfg->pin.min_len = (size_t)cfg->pin_min_length;
    if (strcmp(cfg->pin_alphabet, "digits") == 0) {
        cfg->pin.charset = QS_PIN_DIGITS;
    } else if (strcmp(cfg->pin_alphabet, "alphanumeric") == 0) {
        cfg->pin.charset = QS_PIN_ALPHANUMERIC;
    } else {
        r = cfg_error(err, err_len, "%s: [auth] pin_alphabet: \"%s\" is not digits or alphanumeric",
                      path, cfg->pin_alphabet);
        goto out;
    }
    cfg->pin.opslimit = (unsigned long long)cfg->argon2_opslimit;
    if ((uint64_t)cfg->argon2_memlimit > (uint64_t)SIZE_MAX) {
        r = cfg_error(err, err_len, "%s: [auth] argon2_memlimit: too large", path);
        goto out;
    }
    cfg->pin.memlimit = (size_t)cfg->argon2_memlimit;
    if (qs_pin_config_check(&cfg->pin) != QS_OK) {
        r = cfg_error(err, err_len,
                      "%s: [auth] argon2_opslimit/argon2_memlimit: outside libsodium's bounds "
                      "for Argon2id",
                      path);
        goto out;
    }
    size_t issuer_len = strlen(cfg->totp_issuer);
    if (issuer_len == 0 || issuer_len > QS_TOTP_ISSUER_MAX || strchr(cfg->totp_issuer, ':')) {
        r = cfg_error(err, err_len, "%s: [auth] totp_issuer: 1..%d bytes without ':'", path,
                      QS_TOTP_ISSUER_MAX);
        goto out;
    }
    if (cfg->sad_lifetime > cfg->sad_max_lifetime) {
        r = cfg_error(err, err_len, "%s: [sad] lifetime (%lld) exceeds max_lifetime (%lld)", path,
                      (long long)cfg->sad_lifetime, (long long)cfg->sad_max_lifetime);
        goto out;
    }
    if ((r = sam_ca_config_check(cfg, path, err, err_len)) != QS_OK)
        goto out;
    qs_log_level level;
    if (!qs_log_level_parse(cfg->log_level, &level)) {
        r = cfg_error(err, err_len, "%s: [log] level: \"%s\" is not debug, info, warn or error",
                      path, cfg->log_level);
        goto out;
    }
    cfg->log_level_value = (int)level;
    r = QS_OK;
out:
    if (r != QS_OK)
        sam_config_free(cfg);
    return r;
}

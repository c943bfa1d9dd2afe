/*
 * The SAM's certification authority state (sam/ca.h): keys through libp11, certificates, the
 * profiles from [ca], the CRL maker and the OCSP cache.
 */
#define QS_LOG_MODULE "sam"
#include "sam/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "hsm/hsm.h"
#include "sam/records.h"
#include "util/log.h"
#include "util/secret.h"

#define OCSP_CACHE_SLOTS 256

typedef struct ocsp_entry {
    uint8_t key[crypto_hash_sha256_BYTES];
    int64_t expires_us;
    uint8_t *der;
    size_t len;
} ocsp_entry;

struct sam_ca {
    const sam_config *cfg;
    pthread_rwlock_t rw;   /* guards the fields below */
    pthread_mutex_t admin; /* serializes changes of the CA */
    bool exists, active;
    X509 *ca_cert, *ocsp_cert;
    ca_hsm_key *ca_key, *ocsp_key;
    time_t ca_not_before;
    ca_profile natural, legal;
    bool profiles_ready;
    ca_urls urls;
    pthread_mutex_t cache_mu;
    ocsp_entry cache[OCSP_CACHE_SLOTS];
    size_t cache_next;
    pthread_mutex_t file_mu; /* guards the CRL file and the two fields below */
    bool file_written;
    uint8_t file_hash[crypto_hash_sha256_BYTES]; /* of the CRL last written to [ca] crl_file */
};

/* ---- Helpers --------------------------------------------------------------------------------- */

void sam_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

bool sam_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

qs_err sam_x509_der(X509 *x, uint8_t **der, size_t *len)
{
    *der = NULL;
    *len = 0;
    int n = i2d_X509(x, NULL);
    if (n <= 0)
        return QS_ERR_CRYPTO;
    uint8_t *buf = malloc((size_t)n), *p = buf;
    if (buf == NULL)
        return QS_ERR_NOMEM;
    if (i2d_X509(x, &p) != n) {
        free(buf);
        return QS_ERR_CRYPTO;
    }
    *der = buf;
    *len = (size_t)n;
    return QS_OK;
}

X509 *sam_x509_parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (der == NULL || len == 0 || len > QS_DB_CERT_DER_MAX)
        return NULL;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

bool sam_name_text(const X509_NAME *name, char *buf, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = false;
    buf[0] = '\0';
    if (b == NULL)
        return false;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && (size_t)n < cap) {
            memcpy(buf, p, (size_t)n);
            buf[n] = '\0';
            ok = true;
        }
    }
    BIO_free(b);
    return ok;
}

const char *sam_crl_reason_name(int reason)
{
    switch (reason) {
    case CA_CRL_UNSPECIFIED:
        return "unspecified";
    case CA_CRL_KEY_COMPROMISE:
        return "keyCompromise";
    case CA_CRL_CA_COMPROMISE:
        return "cACompromise";
    case CA_CRL_AFFILIATION_CHANGED:
        return "affiliationChanged";
    case CA_CRL_SUPERSEDED:
        return "superseded";
    case CA_CRL_CESSATION_OF_OPERATION:
        return "cessationOfOperation";
    case CA_CRL_CERTIFICATE_HOLD:
        return "certificateHold";
    case CA_CRL_REMOVE_FROM_CRL:
        return "removeFromCRL";
    case CA_CRL_PRIVILEGE_WITHDRAWN:
        return "privilegeWithdrawn";
    case CA_CRL_AA_COMPROMISE:
        return "aACompromise";
    default:
        return "?";
    }
}

/* ---- Configuration ------------------------------------------------------------------------- */

static bool curve_name_ok(const char *s)
{
    return strcmp(s, "ec-p256") == 0 || strcmp(s, "ec-p384") == 0;
}

static bool label_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= QS_DB_KEY_LABEL_MAX;
}

/* Fills the two profiles from the config (strings borrowed). */
static qs_err build_profiles(const sam_config *cfg, ca_profile *natural, ca_profile *legal,
                             ca_why *why)
{
    ca_profile *ps[2] = {natural, legal};
    const char *names[2] = {"qcp-n-qscd", "qcp-l-qscd"};
    for (int i = 0; i < 2; i++) {
        qs_err r = ca_profile_defaults(names[i], ps[i], why);
        if (r != QS_OK)
            return r;
        ps[i]->pds[0] = (ca_pds){cfg->pds_url, cfg->pds_lang};
        ps[i]->pds_count = 1;
        ps[i]->tsp_policy_oid = cfg->tsp_policy_oid[0] != '\0' ? cfg->tsp_policy_oid : NULL;
        ps[i]->cps_uri = cfg->cps_uri[0] != '\0' ? cfg->cps_uri : NULL;
        ps[i]->retention_years = (unsigned)cfg->retention_years;
        ps[i]->validity_days = (unsigned)cfg->cert_validity_days;
        if ((r = ca_profile_validate(ps[i], why)) != QS_OK)
            return r;
    }
    return QS_OK;
}

/* An http URL without spaces or control characters (what ca_profile_check accepts). */
static bool http_url_ok(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 || strlen(s) <= 7 || strlen(s) > CA_URL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    }
    return true;
}

qs_err sam_ca_config_check(const sam_config *cfg, const char *path, char *err, size_t err_len)
{
    const char *key = NULL, *rule = NULL;
    if (!label_ok(cfg->ca_key_label))
        key = "key_label", rule = "1..64 bytes";
    else if (!label_ok(cfg->ocsp_key_label) || strcmp(cfg->ocsp_key_label, cfg->ca_key_label) == 0)
        key = "ocsp_key_label", rule = "1..64 bytes, not the CA key's label";
    else if (!curve_name_ok(cfg->ca_key_alg))
        key = "key_alg", rule = "ec-p256 or ec-p384";
    else if (!curve_name_ok(cfg->ocsp_key_alg))
        key = "ocsp_key_alg", rule = "ec-p256 or ec-p384";
    else if (cfg->ca_issuers_url[0] != '\0' && !http_url_ok(cfg->ca_issuers_url))
        key = "ca_issuers_url", rule = "an http:// URL";
    else if (cfg->ocsp_url[0] != '\0' && !http_url_ok(cfg->ocsp_url))
        key = "ocsp_url", rule = "an http:// URL";
    else if (cfg->crl_url[0] != '\0' && !http_url_ok(cfg->crl_url))
        key = "crl_url", rule = "an http:// URL";
    else if (cfg->crl_file[0] != '\0' && cfg->crl_file[0] != '/')
        key = "crl_file", rule = "an absolute path";
    if (key != NULL) {
        snprintf(err, err_len, "%s: [ca] %s: %s", path, key, rule);
        return QS_ERR_CONFIG;
    }
    if (cfg->pds_url[0] != '\0') {
        ca_profile n, l;
        ca_why why;
        if (build_profiles(cfg, &n, &l, &why) != QS_OK) {
            snprintf(err, err_len, "%s: [ca] %s: %s", path,
                     why.field[0] != '\0' ? why.field : "profile", why.text);
            return QS_ERR_CONFIG;
        }
    }
    return QS_OK;
}

qs_err sam_ca_subject(const sam_config *cfg, bool ocsp, char *cn_buf, size_t cn_cap,
                      ca_subject *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    const char *missing = cfg->ca_country[0] == '\0'        ? "subject_country"
                          : cfg->ca_organization[0] == '\0' ? "subject_organization"
                          : cfg->ca_common_name[0] == '\0'  ? "subject_common_name"
                                                            : NULL;
    if (missing != NULL) {
        snprintf(err, err_len, "[ca] %s must be set to initialise the CA", missing);
        return QS_ERR_CONFIG;
    }
    out->kind = CA_KIND_AUTHORITY;
    out->country = cfg->ca_country;
    out->organization = cfg->ca_organization;
    out->organization_id = cfg->ca_organization_id[0] != '\0' ? cfg->ca_organization_id : NULL;
    out->common_name = cfg->ca_common_name;
    if (ocsp) {
        /* "<CA name> OCSP", shortened to commonName's bound */
        snprintf(cn_buf, cn_cap, "%.*s OCSP", CA_UB_COMMON_NAME - 5, cfg->ca_common_name);
        out->common_name = cn_buf;
    }
    return QS_OK;
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

qs_err sam_ca_new(const sam_config *cfg, sam_ca **out)
{
    *out = NULL;
    sam_ca *ca = calloc(1, sizeof *ca);
    if (ca == NULL)
        return QS_ERR_NOMEM;
    ca->cfg = cfg;
    pthread_rwlock_init(&ca->rw, NULL);
    pthread_mutex_init(&ca->admin, NULL);
    pthread_mutex_init(&ca->cache_mu, NULL);
    pthread_mutex_init(&ca->file_mu, NULL);
    ca->urls = (ca_urls){cfg->ca_issuers_url, cfg->ocsp_url, cfg->crl_url};
    ca_why why;
    ca->profiles_ready = cfg->pds_url[0] != '\0' && cfg->ca_issuers_url[0] != '\0' &&
                         cfg->ocsp_url[0] != '\0' && cfg->crl_url[0] != '\0' &&
                         build_profiles(cfg, &ca->natural, &ca->legal, &why) == QS_OK;
    if (!ca->profiles_ready)
        qs_info("[ca] pds_url, ca_issuers_url, ocsp_url or crl_url not set: no certificate can "
                "be issued");
    *out = ca;
    return QS_OK;
}

void sam_ca_ocsp_flush(sam_ca *ca)
{
    pthread_mutex_lock(&ca->cache_mu);
    for (size_t i = 0; i < OCSP_CACHE_SLOTS; i++) {
        free(ca->cache[i].der);
        memset(&ca->cache[i], 0, sizeof ca->cache[i]);
    }
    pthread_mutex_unlock(&ca->cache_mu);
}

void sam_ca_free(sam_ca *ca)
{
    if (ca == NULL)
        return;
    sam_ca_ocsp_flush(ca);
    X509_free(ca->ca_cert);
    X509_free(ca->ocsp_cert);
    ca_hsm_key_close(ca->ca_key);
    ca_hsm_key_close(ca->ocsp_key);
    pthread_rwlock_destroy(&ca->rw);
    pthread_mutex_destroy(&ca->admin);
    pthread_mutex_destroy(&ca->cache_mu);
    pthread_mutex_destroy(&ca->file_mu);
    free(ca);
}

qs_err sam_ca_open_key(const sam_config *cfg, const char *label, ca_hsm_key **out)
{
    char *pin = NULL;
    size_t pin_len = 0;
    char why[512];
    *out = NULL;
    qs_err r =
        qs_secret_read_file(cfg->hsm_pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, why, sizeof why);
    if (r != QS_OK) {
        qs_error("[hsm] pin_file: %s", why);
        return r;
    }
    r = ca_hsm_key_open(cfg->hsm_module, cfg->hsm_token_label, pin, label, out);
    qs_secret_free(pin);
    return r;
}

void sam_ca_install(sam_ca *ca, bool active, X509 *ca_cert, X509 *ocsp_cert, ca_hsm_key *ca_key,
                    ca_hsm_key *ocsp_key)
{
    pthread_rwlock_wrlock(&ca->rw);
    ca->exists = true;
    ca->active = active;
    if (ca_cert != NULL) {
        X509_free(ca->ca_cert);
        ca->ca_cert = ca_cert;
        if (!sam_asn1_time(X509_get0_notBefore(ca_cert), &ca->ca_not_before))
            ca->ca_not_before = 0;
    }
    if (ocsp_cert != NULL) {
        X509_free(ca->ocsp_cert);
        ca->ocsp_cert = ocsp_cert;
    }
    /* keys are opened once and never replaced while requests may hold them */
    if (ca_key != NULL && ca->ca_key == NULL)
        ca->ca_key = ca_key;
    else
        ca_hsm_key_close(ca_key);
    if (ocsp_key != NULL && ca->ocsp_key == NULL)
        ca->ocsp_key = ocsp_key;
    else
        ca_hsm_key_close(ocsp_key);
    pthread_rwlock_unlock(&ca->rw);
    sam_ca_ocsp_flush(ca);
}

void sam_ca_acquire(sam_ca *ca, sam_ca_view *v)
{
    pthread_rwlock_rdlock(&ca->rw);
    memset(v, 0, sizeof *v);
    v->exists = ca->exists;
    v->active = ca->active && ca->ca_cert != NULL && ca->ocsp_cert != NULL && ca->ca_key != NULL &&
                ca->ocsp_key != NULL;
    v->ca_cert = ca->ca_cert;
    v->ca_key = ca_hsm_key_pkey(ca->ca_key);
    v->ocsp_cert = ca->ocsp_cert;
    v->ocsp_key = ca_hsm_key_pkey(ca->ocsp_key);
    v->ca_not_before = ca->ca_not_before;
    v->natural = &ca->natural;
    v->legal = &ca->legal;
    v->profiles_ready = ca->profiles_ready;
    v->urls = &ca->urls;
    v->cfg = ca->cfg;
}

void sam_ca_release(sam_ca *ca)
{
    pthread_rwlock_unlock(&ca->rw);
}

void sam_ca_admin_lock(sam_ca *ca)
{
    pthread_mutex_lock(&ca->admin);
}

void sam_ca_admin_unlock(sam_ca *ca)
{
    pthread_mutex_unlock(&ca->admin);
}

const ca_profile *sam_ca_profile(const sam_ca_view *v, const char *name)
{
    if (!v->profiles_ready || name == NULL)
        return NULL;
    if (strcmp(name, v->natural->name) == 0)
        return v->natural;
    if (strcmp(name, v->legal->name) == 0)
        return v->legal;
    return NULL;
}

/* Row check outside a request (start-up): a mismatch is logged here. */
static qs_err check_state_mac(qs_hsm_session *hs, const qs_db_ca_state *st)
{
    qs_rec rec = qs_rec_ca_state(st);
    qs_err r = qs_rec_check(hs, &rec, st->record_mac);
    if (r == QS_ERR_MAC)
        qs_error("record MAC mismatch in table ca_state: the CA's row was not written by this "
                 "SAM; the CA stays closed");
    return r;
}

typedef struct load_ctx {
    qs_db_ca_state *st;
    bool found;
} load_ctx;

static qs_err load_txn(qs_db *db, void *cls)
{
    load_ctx *c = cls;
    return qs_db_ca_state_get(db, false, c->st, &c->found);
}

qs_err sam_ca_load(sam_ca *ca, qs_hsm_session *hs, qs_db *db)
{
    load_ctx c = {0};
    X509 *ca_cert = NULL, *ocsp_cert = NULL;
    ca_hsm_key *ca_key = NULL, *ocsp_key = NULL;
    qs_err r;

    if ((c.st = malloc(sizeof *c.st)) == NULL)
        return QS_ERR_NOMEM;
    r = qs_db_run_txn_opt(db, "ca_load", QS_DB_TXN_READ_ONLY, load_txn, &c);
    if (r != QS_OK || !c.found)
        goto out;
    if ((r = check_state_mac(hs, c.st)) != QS_OK)
        goto out;
    if (strcmp(c.st->key_label, ca->cfg->ca_key_label) != 0 ||
        strcmp(c.st->ocsp_key_label, ca->cfg->ocsp_key_label) != 0)
        qs_warn("the CA's keys are labelled %s and %s in the database; [ca] key_label and "
                "ocsp_key_label are not used for them",
                c.st->key_label, c.st->ocsp_key_label);
    if ((r = sam_ca_open_key(ca->cfg, c.st->key_label, &ca_key)) != QS_OK) {
        qs_error("the CA key %s cannot be opened: %s", c.st->key_label, qs_err_name(r));
        goto out;
    }
    bool active = strcmp(c.st->status, QS_DB_CA_ACTIVE) == 0;
    if (active) {
        if ((r = sam_ca_open_key(ca->cfg, c.st->ocsp_key_label, &ocsp_key)) != QS_OK) {
            qs_error("the OCSP responder key %s cannot be opened: %s", c.st->ocsp_key_label,
                     qs_err_name(r));
            goto out;
        }
        ca_cert = sam_x509_parse(c.st->ca_cert, c.st->ca_cert_len);
        ocsp_cert = sam_x509_parse(c.st->ocsp_cert, c.st->ocsp_cert_len);
        if (ca_cert == NULL || ocsp_cert == NULL ||
            !ca_cert_matches_key(ca_cert, ca_hsm_key_pkey(ca_key)) ||
            !ca_cert_matches_key(ocsp_cert, ca_hsm_key_pkey(ocsp_key))) {
            qs_error("the CA's certificates do not match its keys in the token; the CA stays "
                     "closed");
            r = QS_ERR_HSM_KEY_POLICY;
            goto out;
        }
    }
    sam_ca_install(ca, active, ca_cert, ocsp_cert, ca_key, ocsp_key);
    ca_cert = ocsp_cert = NULL;
    ca_key = ocsp_key = NULL;
    qs_info("certification authority %s (key %s)", active ? "active" : "pending its certificate",
            c.st->key_label);
out:
    X509_free(ca_cert);
    X509_free(ocsp_cert);
    ca_hsm_key_close(ca_key);
    ca_hsm_key_close(ocsp_key);
    free(c.st);
    ERR_clear_error();
    return r;
}

/* ---- Rows ------------------------------------------------------------------------------------ */

qs_err sam_ca_state_load(sam_req *rq, qs_db *db, bool lock, qs_db_ca_state *out)
{
    bool found = false;
    qs_err r = qs_db_ca_state_get(db, lock, out, &found);
    if (r != QS_OK)
        return r;
    if (!found)
        return QS_ERR_NOT_FOUND;
    qs_rec rec = qs_rec_ca_state(out);
    r = qs_rec_check(rq->w->hs, &rec, out->record_mac);
    if (r == QS_ERR_MAC)
        sam_mac_mismatch(rq, "ca_state", NULL, NULL, NULL);
    return r;
}

qs_err sam_cert_load(sam_req *rq, qs_db *db, const uint8_t *cred_id, const uint8_t *serial,
                     size_t serial_len, bool lock, qs_db_certificate *out)
{
    bool found = false;
    qs_err r = cred_id != NULL ? qs_db_certificate_of_credential(db, cred_id, lock, out, &found)
                               : qs_db_certificate_get(db, serial, serial_len, lock, out, &found);
    if (r != QS_OK)
        return r;
    if (!found)
        return QS_ERR_NOT_FOUND;
    qs_rec rec = qs_rec_certificate(out);
    r = qs_rec_check(rq->w->hs, &rec, out->record_mac);
    if (r == QS_ERR_MAC)
        sam_mac_mismatch(rq, "certificates", NULL, out->credential_id, NULL);
    return r;
}

qs_err sam_cert_check_use(sam_req *rq, qs_db *db, const uint8_t cred_id[static QS_DB_SAM_UUID_LEN],
                          int64_t now_us, const char **reason, qs_db_certificate *out)
{
    qs_db_certificate *c = out != NULL ? out : malloc(sizeof *c);
    if (c == NULL)
        return QS_ERR_NOMEM;
    qs_err r = sam_cert_load(rq, db, cred_id, NULL, 0, false, c);
    if (r == QS_ERR_NOT_FOUND) {
        if (out != NULL) {
            *reason = "no_certificate";
            r = QS_ERR_CERT_MISSING;
        } else {
            r = QS_OK; /* no certificate: nothing to check */
        }
    } else if (r == QS_ERR_MAC) {
        *reason = "record_mac";
    } else if (r == QS_OK) {
        if (c->revoked || strcmp(c->status, QS_DB_CERT_VALID) != 0) {
            *reason = "certificate_revoked";
            r = QS_ERR_CERT_REVOKED;
        } else if (now_us >= c->not_after_us) {
            *reason = "certificate_expired";
            r = QS_ERR_CERT_EXPIRED;
        } else if (now_us < c->not_before_us) {
            *reason = "certificate_not_yet_valid";
            r = QS_ERR_CERT_EXPIRED;
        }
    }
    if (out == NULL)
        free(c);
    return r;
}

/* ---- CRL ------------------------------------------------------------------------------------- */

typedef struct crl_ctx {
    sam_req *rq;
    const sam_ca_view *v;
    bool force;
    bool make; /* out of the check: a new CRL is needed */
    int64_t now_us;
    qs_db_ca_state *st;
    uint8_t *der; /* the answer */
    size_t len;
} crl_ctx;

/* Whether the stored CRL can be served: fresh and no revocation since. */
static qs_err crl_current(qs_db *db, crl_ctx *c)
{
    int64_t number = 0, this_us = 0, next_us = 0, latest = 0;
    bool found = false, any = false;
    free(c->der);
    c->der = NULL;
    c->len = 0;
    c->make = true;
    qs_err r = qs_db_crl_latest(db, &number, &this_us, &next_us, &c->der, &c->len, &found);
    if (r != QS_OK || !found || c->force)
        return r;
    if ((r = qs_db_revoked_latest(db, &latest, &any)) != QS_OK)
        return r;
    /* this_update is stored to the microsecond the CRL was made (the CRL itself carries whole
     * seconds), so a revocation is newer than the CRL exactly when the CRL may lack it; one that
     * committed while the CRL was being made is covered by the CRL REVOKE makes after it */
    int64_t half = (next_us - this_us) / 2;
    c->make = (any && latest >= this_us) || c->now_us >= this_us + half;
    return QS_OK;
}

static qs_err crl_check_txn(qs_db *db, void *cls)
{
    crl_ctx *c = cls;
    c->now_us = sam_now_us();
    return crl_current(db, c);
}

static qs_err crl_make_txn(qs_db *db, void *cls)
{
    crl_ctx *c = cls;
    sam_req *rq = c->rq;
    qs_db_revoked *rows = NULL;
    ca_crl_entry *entries = NULL;
    uint8_t *der = NULL;
    size_t n = 0, len = 0;
    ca_why why;

    c->now_us = sam_now_us();
    /* the CA's row, locked: one maker at a time, each with the next number */
    qs_err r = sam_ca_state_load(rq, db, true, c->st);
    if (r != QS_OK)
        goto out;
    if ((r = crl_current(db, c)) != QS_OK || !c->make)
        goto out;
    free(c->der);
    c->der = NULL;
    c->len = 0;
    if ((r = qs_db_revoked_list(db, &rows, &n)) != QS_OK)
        goto out;
    if (n > 0 && (entries = calloc(n, sizeof *entries)) == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        entries[i] = (ca_crl_entry){rows[i].serial, rows[i].serial_len,
                                    (time_t)(rows[i].revoked_at_us / 1000000),
                                    (ca_crl_reason)rows[i].reason};
    time_t this_update = (time_t)(c->now_us / 1000000);
    time_t next_update = this_update + (time_t)c->v->cfg->crl_validity_hours * 3600;
    ca_crl_params p = {
        .ca_cert = c->v->ca_cert,
        .ca_key = c->v->ca_key,
        .entries = entries,
        .n_entries = n,
        .crl_number = (uint64_t)c->st->crl_number + 1,
        .this_update = this_update,
        .next_update = next_update,
        .expired_certs_on_crl = c->v->ca_not_before,
    };
    if ((r = ca_crl_build(&p, &der, &len, &why)) != QS_OK) {
        qs_error("CRL not made: %s (%s)", why.text, ca_reason_name(why.reason));
        goto out;
    }
    c->st->crl_number++;
    qs_rec rec = qs_rec_ca_state(c->st);
    if ((r = qs_rec_mac(rq->w->hs, &rec, c->st->record_mac)) != QS_OK ||
        (r = qs_db_crl_insert(db, c->st->crl_number, c->now_us, (int64_t)next_update * 1000000, der,
                              len)) != QS_OK ||
        (r = qs_db_ca_state_update(db, c->st)) != QS_OK)
        goto out;
    c->der = der;
    c->len = len;
    der = NULL;
    qs_info("CRL %lld made: %zu revoked certificate%s", (long long)c->st->crl_number, n,
            n == 1 ? "" : "s");
out:
    free(der);
    free(entries);
    free(rows);
    return r;
}

/* Writes the whole of `der` to `fd`; false on a short or failed write. */
static bool write_all(int fd, const uint8_t *der, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, der, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        der += n;
        len -= (size_t)n;
    }
    return true;
}

/* Writes the CRL to [ca] crl_file when it differs from the one last written there (or the file
 * is gone): a temporary file beside it, synced, then renamed over it, so a reader sees the old
 * CRL or the new one, never a part.  A failure is logged and leaves the old file; it does not
 * fail the request, and the next CRL request or check tries again. */
static void crl_publish(sam_ca *ca, const uint8_t *der, size_t len)
{
    const char *path = ca->cfg->crl_file;
    uint8_t h[crypto_hash_sha256_BYTES];
    char tmp[4096];
    struct stat st;

    if (path[0] == '\0')
        return;
    crypto_hash_sha256(h, der, len);
    pthread_mutex_lock(&ca->file_mu);
    if (ca->file_written && memcmp(h, ca->file_hash, sizeof h) == 0 && stat(path, &st) == 0)
        goto out;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        qs_error("CRL file %s: path too long", path);
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        qs_error("CRL file %s: cannot create %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    bool ok = fchmod(fd, 0644) == 0 && write_all(fd, der, len) && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        qs_error("CRL file %s not written: %s", path, strerror(saved));
        (void)unlink(tmp);
        goto out;
    }
    memcpy(ca->file_hash, h, sizeof h);
    ca->file_written = true;
    qs_info("CRL written to %s (%zu bytes)", path, len);
out:
    pthread_mutex_unlock(&ca->file_mu);
}

qs_err sam_ca_crl(sam_req *rq, bool force, uint8_t **der, size_t *len)
{
    sam_ca *ca = rq->w->s->ca;
    sam_ca_view v;
    crl_ctx c = {.rq = rq, .force = force};
    qs_err r;

    *der = NULL;
    *len = 0;
    sam_ca_acquire(ca, &v);
    c.v = &v;
    if (!v.active) {
        r = QS_ERR_CA_NOT_READY;
        goto out;
    }
    r = qs_db_run_txn_opt(rq->w->db, "crl_check", QS_DB_TXN_READ_ONLY | QS_DB_TXN_READ_COMMITTED,
                          crl_check_txn, &c);
    if (r == QS_OK && c.make) {
        if ((c.st = malloc(sizeof *c.st)) == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
        r = qs_db_run_txn_opt(rq->w->db, "crl_make", QS_DB_TXN_READ_COMMITTED, crl_make_txn, &c);
        if (r == QS_OK && c.make) {
            sam_json j;
            sam_json_init(&j);
            sam_json_int(&j, "crl_number", c.st->crl_number);
            const char *details = sam_json_finish(&j);
            if (details != NULL)
                (void)sam_audit(rq, "crl.issued", true, NULL, NULL, NULL, details, NULL);
            sam_json_free(&j);
        }
    }
    if (r != QS_OK)
        goto out;
    crl_publish(ca, c.der, c.len);
    *der = c.der;
    *len = c.len;
    c.der = NULL;
out:
    sam_ca_release(ca);
    free(c.der);
    free(c.st);
    return r;
}

/* ---- OCSP cache ------------------------------------------------------------------------------ */

bool sam_ca_ocsp_cached(sam_ca *ca, const uint8_t *req_der, size_t req_len, int64_t now_us,
                        uint8_t **der, size_t *len)
{
    uint8_t key[crypto_hash_sha256_BYTES];
    bool hit = false;
    *der = NULL;
    *len = 0;
    crypto_hash_sha256(key, req_der, req_len);
    pthread_mutex_lock(&ca->cache_mu);
    for (size_t i = 0; i < OCSP_CACHE_SLOTS && !hit; i++) {
        ocsp_entry *e = &ca->cache[i];
        if (e->der == NULL || memcmp(e->key, key, sizeof key) != 0)
            continue;
        if (now_us >= e->expires_us)
            break;
        if ((*der = malloc(e->len)) != NULL) {
            memcpy(*der, e->der, e->len);
            *len = e->len;
            hit = true;
        }
    }
    pthread_mutex_unlock(&ca->cache_mu);
    return hit;
}

void sam_ca_ocsp_store(sam_ca *ca, const uint8_t *req_der, size_t req_len, int64_t expires_us,
                       const uint8_t *der, size_t len)
{
    uint8_t key[crypto_hash_sha256_BYTES];
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return;
    memcpy(copy, der, len);
    crypto_hash_sha256(key, req_der, req_len);
    pthread_mutex_lock(&ca->cache_mu);
    size_t slot = ca->cache_next;
    for (size_t i = 0; i < OCSP_CACHE_SLOTS; i++) {
        if (ca->cache[i].der != NULL && memcmp(ca->cache[i].key, key, sizeof key) == 0) {
            slot = i;
            break;
        }
    }
    if (slot == ca->cache_next)
        ca->cache_next = (ca->cache_next + 1) % OCSP_CACHE_SLOTS;
    ocsp_entry *e = &ca->cache[slot];
    free(e->der);
    memcpy(e->key, key, sizeof key);
    e->expires_us = expires_us;
    e->der = copy;
    e->len = len;
    pthread_mutex_unlock(&ca->cache_mu);
}

/* ---- The OCSP responder certificate ---------------------------------------------------------- */

static qs_err spki_of(EVP_PKEY *key, uint8_t **der, size_t *len)
{
    *der = NULL;
    *len = 0;
    int n = i2d_PUBKEY(key, NULL);
    if (n <= 0)
        return QS_ERR_CRYPTO;
    uint8_t *buf = malloc((size_t)n), *p = buf;
    if (buf == NULL)
        return QS_ERR_NOMEM;
    if (i2d_PUBKEY(key, &p) != n) {
        free(buf);
        return QS_ERR_CRYPTO;
    }
    *der = buf;
    *len = (size_t)n;
    return QS_OK;
}

qs_err sam_ca_issue_responder(const sam_config *cfg, X509 *ca_cert, EVP_PKEY *ca_key,
                              EVP_PKEY *ocsp_key, X509 **out, char *msg, size_t msg_len)
{
    char cn[CA_UB_COMMON_NAME + 1];
    ca_subject subj;
    ca_issued iss;
    ca_why why;
    uint8_t *spki = NULL;
    size_t spki_len = 0;

    *out = NULL;
    memset(&iss, 0, sizeof iss);
    qs_err r = sam_ca_subject(cfg, true, cn, sizeof cn, &subj, msg, msg_len);
    if (r != QS_OK)
        return r;
    if ((r = spki_of(ocsp_key, &spki, &spki_len)) != QS_OK)
        return r;
    r = ca_issue_ocsp_responder(ca_cert, ca_key, spki, spki_len, &subj,
                                (unsigned)cfg->ocsp_validity_days, 0, &iss, &why);
    free(spki);
    if (r != QS_OK) {
        snprintf(msg, msg_len, "OCSP responder certificate: %s", why.text);
        return r;
    }
    *out = sam_x509_parse(iss.der, iss.der_len);
    ca_issued_clear(&iss);
    return *out != NULL ? QS_OK : QS_ERR_CRYPTO;
}

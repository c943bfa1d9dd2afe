/*
 * The credentials/info object, shared by credentials/info and credentials/list
 * (credentialInfo).  Keys are described from the database; `cert` from the credential's
 * certificate (db/db_ca.h): its status (valid, revoked, or expired past notAfter), the chain
 * signer first, and with certInfo the DNs, serial and validity.  A credential without a
 * certificate gets an empty certificate list and no status rather than anything invented.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "db/db_ca.h"
#include "util/log.h"

static json_t *strings(const char *const *list)
{
    json_t *a = json_array();
    for (; a != NULL && *list != NULL; list++) {
        if (json_array_append_new(a, json_string(*list)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *key_json(const qs_db_api_credential *c)
{
    const api_key_alg *alg = api_key_alg_find(c->key_alg);
    if (alg == NULL) {
        qs_bug("credential with unknown key_alg %s", c->key_alg);
        return NULL;
    }
    /* CSC knows enabled and disabled; a locked credential cannot sign until unlocked, a
     * destroyed one (its certificate revoked) never again. */
    const char *status = strcmp(c->status, "enabled") == 0 ? "enabled" : "disabled";
    json_t *k = json_pack("{s:s, s:o, s:I}", "status", status, "algo", strings(alg->algos), "len",
                          (json_int_t)alg->bits);
    if (k != NULL && alg->curve != NULL &&
        json_object_set_new(k, "curve", json_string(alg->curve)) != 0) {
        json_decref(k);
        return NULL;
    }
    return k;
}

static json_t *b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    sodium_bin2base64(buf, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(buf);
    free(buf);
    return s;
}

int64_t api_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void csc_time(int64_t us, char out[static 16])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    out[0] = '\0';
    if (gmtime_r(&t, &tm) != NULL)
        strftime(out, 16, "%Y%m%d%H%M%SZ", &tm);
}

void api_cert_view_make(const qs_db_certificate *row, const uint8_t *ca_der, size_t ca_len,
                        int64_t now_us, api_cert_view *v)
{
    static const char hex[] = "0123456789ABCDEF";
    memset(v, 0, sizeof *v);
    v->der = row->der;
    v->der_len = row->der_len;
    v->ca_der = ca_der;
    v->ca_len = ca_len;
    v->status = row->revoked ? "revoked" : now_us >= row->not_after_us ? "expired" : "valid";
    v->issuer = row->issuer;
    v->subject = row->subject;
    for (size_t i = 0; i < row->serial_len && i < 20; i++) {
        v->serial_hex[2 * i] = hex[row->serial[i] >> 4];
        v->serial_hex[2 * i + 1] = hex[row->serial[i] & 15];
    }
    csc_time(row->not_before_us, v->valid_from);
    csc_time(row->not_after_us, v->valid_to);
}

/* cert{status, certificates[], issuerDN, serialNumber, subjectDN, validFrom, validTo}: the
 * chain signer first, the DN and dates only with certInfo. */
static json_t *cert_json(const api_cred_opts *opts)
{
    const api_cert_view *v = opts->cert;
    json_t *cert = json_object();
    if (cert == NULL)
        return NULL;
    int rc = 0;
    if (strcmp(opts->certificates, "none") != 0) {
        json_t *list = json_array();
        if (v != NULL) {
            rc |= json_array_append_new(list, b64(v->der, v->der_len));
            if (strcmp(opts->certificates, "chain") == 0 && v->ca_der != NULL)
                rc |= json_array_append_new(list, b64(v->ca_der, v->ca_len));
        }
        rc |= json_object_set_new(cert, "certificates", list);
    }
    if (v != NULL) {
        rc |= json_object_set_new(cert, "status", json_string(v->status));
        if (opts->cert_info) {
            rc |= json_object_set_new(cert, "issuerDN", json_string(v->issuer));
            rc |= json_object_set_new(cert, "serialNumber", json_string(v->serial_hex));
            rc |= json_object_set_new(cert, "subjectDN", json_string(v->subject));
            rc |= json_object_set_new(cert, "validFrom", json_string(v->valid_from));
            rc |= json_object_set_new(cert, "validTo", json_string(v->valid_to));
        }
    }
    if (rc != 0) {
        json_decref(cert);
        return NULL;
    }
    return cert;
}

static const char *pin_format(const api_request *rq)
{
    return strcmp(api_cfg(rq)->csc_pin_format, "A") == 0 ? "A" : "N";
}

/* v2: auth{mode, expression, objects[]}. */
static int add_auth_v2(const api_request *rq, json_t *o)
{
    json_t *auth = json_pack(
        "{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:s}]}", "mode",
        "explicit", "expression", "PIN AND OTP", "objects", "type", "Password", "id", "PIN",
        "format", pin_format(rq), "label", "PIN", "description", "Signing PIN", "type", "Password",
        "id", "OTP", "format", "N", "generator", "totp", "label", "OTP", "description",
        "One-time password from the authenticator app");
    return auth != NULL ? json_object_set_new(o, "auth", auth) : -1;
}

/* v1: authMode, PIN{presence, format, label}, OTP{presence, type, format, label}. */
static int add_auth_v1(const api_request *rq, json_t *o)
{
    json_t *pin =
        json_pack("{s:s, s:s, s:s}", "presence", "true", "format", pin_format(rq), "label", "PIN");
    json_t *otp = json_pack("{s:s, s:s, s:s, s:s}", "presence", "true", "type", "offline", "format",
                            "N", "label", "OTP");
    if (json_object_set_new(o, "authMode", json_string("explicit")) != 0 ||
        json_object_set_new(o, "PIN", pin) != 0 || json_object_set_new(o, "OTP", otp) != 0)
        return -1;
    return 0;
}

json_t *api_credential_json(const api_request *rq, const qs_db_api_credential *c,
                            const api_cred_opts *opts)
{
    const api_version *ver = api_version_get(rq->ver);
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = json_object_set_new(o, "key", key_json(c));
    rc |= json_object_set_new(o, "cert", cert_json(opts));
    if (ver->auth_object) {
        if (opts->auth_info)
            rc |= add_auth_v2(rq, o);
    } else {
        rc |= add_auth_v1(rq, o);
    }
    if (ver->signature_qualifier)
        rc |= json_object_set_new(o, "signatureQualifier", json_string("eu_eidas_qes"));
    rc |= json_object_set_new(o, "SCAL", json_string("2"));
    rc |= json_object_set_new(o, "multisign", json_integer(api_cfg(rq)->csc_multisign));
    rc |= json_object_set_new(o, "lang", json_string(api_cfg(rq)->csc_lang));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

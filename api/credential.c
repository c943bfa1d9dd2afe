/*
 * The credentials/info object, shared by credentials/info and credentials/list
 * (credentialInfo).  Keys are described from the database; certificates do not exist yet (the
 * CA comes later), so `cert` carries an empty certificate list and no status rather than
 * anything invented.
 */
#define QS_LOG_MODULE "api"
#include <string.h>

#include "api/api_internal.h"
#include "db/db_api.h"
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
    /* CSC knows enabled and disabled; a locked credential cannot sign until unlocked. */
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

static json_t *cert_json(const api_cred_opts *opts)
{
    json_t *cert = json_object();
    if (cert != NULL && strcmp(opts->certificates, "none") != 0 &&
        json_object_set_new(cert, "certificates", json_array()) != 0) {
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

/*
 * Service keys: the long-lived keys in the token, found by CKA_LABEL and checked for safe
 * attributes before any use, and created (never replaced) by qs_hsm_init_service_keys.
 *
 * The KEK must carry CKA_TRUSTED so that signer keys (CKA_WRAP_WITH_TRUSTED) wrap under it and
 * under no other key.  Tokens let only the security officer set CKA_TRUSTED, and SoftHSM only on
 * public objects, so the KEK is made in an SO session as a public, sensitive, non-extractable,
 * unmodifiable token key; the other keys are private objects made in a user session.
 *
 * A public KEK is visible without login, and a session that is not logged in may create public
 * session objects: without more, anyone able to open the token could unwrap a blob into a
 * public key object and sign with it.  The KEK therefore carries a CKA_UNWRAP_TEMPLATE that
 * forces every key it unwraps to be a private, sensitive, non-extractable session object, so
 * unwrapping needs the user login and nothing unwrapped can leave the token again.  A KEK
 * without that template is refused.
 *
 * The audit signing key is an EC P-256 key pair: two private (login-only), unmodifiable token
 * objects with the same label and CKA_ID.  The private half is sensitive, was never extractable
 * and only signs; the public half is readable, so verifiers get the SubjectPublicKeyInfo.  Its
 * label must name exactly those two objects; half a pair is refused and never completed (a
 * new public key cannot be derived from a non-extractable private one, and a new pair would
 * silently change the key that audit checkpoints are verified with).
 */
#define QS_LOG_MODULE "hsm"

#include <string.h>

#include <sodium.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"
#include "util/secret.h"

#define HSM_SVC_KEY_LEN 32 /* AES-256 and 256-bit HMAC keys */
#define HSM_SVC_BOOLS   6

typedef struct hsm_svc_spec {
    const char *label;
    bool pair; /* an asymmetric key pair (private + public token objects) */
    CK_KEY_TYPE key_type;
    CK_MECHANISM_TYPE gen_mech;
    CK_BBOOL is_private;
    struct {
        CK_ATTRIBUTE_TYPE type;
        CK_BBOOL value;
    } bools[HSM_SVC_BOOLS]; /* usage flags (of the private half of a pair), checked on every
                             * open */
} hsm_svc_spec;

static const hsm_svc_spec hsm_svc_specs[QS_HSM_SERVICE_KEY_COUNT] = {
    [QS_HSM_KEK] = {"qsign-kek",
                    false,
                    CKK_AES,
                    CKM_AES_KEY_GEN,
                    CK_FALSE,
                    {{CKA_TRUSTED, CK_TRUE},
                     {CKA_WRAP, CK_TRUE},
                     {CKA_UNWRAP, CK_TRUE},
                     {CKA_ENCRYPT, CK_FALSE},
                     {CKA_DECRYPT, CK_FALSE},
                     {CKA_SIGN, CK_FALSE}}},
    [QS_HSM_RECORD_MAC] = {"qsign-record-mac",
                           false,
                           CKK_GENERIC_SECRET,
                           CKM_GENERIC_SECRET_KEY_GEN,
                           CK_TRUE,
                           {{CKA_SIGN, CK_TRUE},
                            {CKA_VERIFY, CK_TRUE},
                            {CKA_WRAP, CK_FALSE},
                            {CKA_UNWRAP, CK_FALSE},
                            {CKA_ENCRYPT, CK_FALSE},
                            {CKA_DECRYPT, CK_FALSE}}},
    [QS_HSM_PEPPER] = {"qsign-pepper",
                       false,
                       CKK_GENERIC_SECRET,
                       CKM_GENERIC_SECRET_KEY_GEN,
                       CK_TRUE,
                       {{CKA_SIGN, CK_TRUE},
                        {CKA_VERIFY, CK_TRUE},
                        {CKA_WRAP, CK_FALSE},
                        {CKA_UNWRAP, CK_FALSE},
                        {CKA_ENCRYPT, CK_FALSE},
                        {CKA_DECRYPT, CK_FALSE}}},
    [QS_HSM_SECRET_ENC] = {"qsign-secret-enc",
                           false,
                           CKK_AES,
                           CKM_AES_KEY_GEN,
                           CK_TRUE,
                           {{CKA_ENCRYPT, CK_TRUE},
                            {CKA_DECRYPT, CK_TRUE},
                            {CKA_WRAP, CK_FALSE},
                            {CKA_UNWRAP, CK_FALSE},
                            {CKA_SIGN, CK_FALSE},
                            {CKA_VERIFY, CK_FALSE}}},
    [QS_HSM_AUDIT_SIGN] = {"qsign-audit-sign",
                           true,
                           CKK_EC,
                           CKM_EC_KEY_PAIR_GEN,
                           CK_TRUE,
                           {{CKA_SIGN, CK_TRUE},
                            {CKA_SIGN_RECOVER, CK_FALSE},
                            {CKA_DECRYPT, CK_FALSE},
                            {CKA_UNWRAP, CK_FALSE},
                            {CKA_DERIVE, CK_FALSE},
                            {CKA_ALWAYS_AUTHENTICATE, CK_FALSE}}},
};

/* The curve of the audit signing key. */
#define HSM_SVC_PAIR_ALG QS_KEY_EC_P256

const char *qs_hsm_service_key_label(qs_hsm_service_key k)
{
    if ((unsigned)k >= QS_HSM_SERVICE_KEY_COUNT)
        return "?";
    return hsm_svc_specs[k].label;
}

/* Attributes the KEK imposes on every key it unwraps. */
static const CK_BBOOL hsm_true = CK_TRUE, hsm_false = CK_FALSE;
#define HSM_UNWRAP_TEMPLATE_LEN 4
static const CK_ATTRIBUTE hsm_unwrap_template[HSM_UNWRAP_TEMPLATE_LEN] = {
    {CKA_TOKEN, (void *)&hsm_false, sizeof(CK_BBOOL)},
    {CKA_PRIVATE, (void *)&hsm_true, sizeof(CK_BBOOL)},
    {CKA_SENSITIVE, (void *)&hsm_true, sizeof(CK_BBOOL)},
    {CKA_EXTRACTABLE, (void *)&hsm_false, sizeof(CK_BBOOL)},
};
/* Longest CKA_UNWRAP_TEMPLATE read back. */
#define HSM_TEMPLATE_READ_MAX 16

/* The KEK's CKA_UNWRAP_TEMPLATE must contain every entry of hsm_unwrap_template. */
static bool hsm_unwrap_template_ok(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess,
                                   CK_OBJECT_HANDLE obj)
{
    CK_ATTRIBUTE got[HSM_TEMPLATE_READ_MAX];
    CK_BBOOL vals[HSM_TEMPLATE_READ_MAX];
    CK_ATTRIBUTE a = {CKA_UNWRAP_TEMPLATE, NULL, 0};

    if (fn->C_GetAttributeValue(sess, obj, &a, 1) != CKR_OK ||
        a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen % sizeof(CK_ATTRIBUTE) != 0 ||
        a.ulValueLen / sizeof(CK_ATTRIBUTE) > HSM_TEMPLATE_READ_MAX)
        return false;
    CK_ULONG n = a.ulValueLen / sizeof(CK_ATTRIBUTE);
    memset(got, 0, sizeof got);
    a.pValue = got;
    if (fn->C_GetAttributeValue(sess, obj, &a, 1) != CKR_OK)
        return false;
    for (CK_ULONG i = 0; i < n; i++) {
        if (got[i].ulValueLen != sizeof(CK_BBOOL)) {
            got[i].type = CKA_VENDOR_DEFINED; /* not one of ours: skip it */
            got[i].pValue = NULL;
            got[i].ulValueLen = 0;
            continue;
        }
        got[i].pValue = &vals[i];
    }
    if (fn->C_GetAttributeValue(sess, obj, &a, 1) != CKR_OK)
        return false;
    for (size_t j = 0; j < HSM_UNWRAP_TEMPLATE_LEN; j++) {
        bool found = false;
        for (CK_ULONG i = 0; i < n && !found; i++) {
            found = got[i].type == hsm_unwrap_template[j].type && got[i].pValue != NULL &&
                    vals[i] == *(const CK_BBOOL *)hsm_unwrap_template[j].pValue;
        }
        if (!found)
            return false;
    }
    return true;
}

/* Checks one attribute set against the spec; logs the first deviation. */
static qs_err hsm_check_attributes(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess,
                                   CK_OBJECT_HANDLE obj, qs_hsm_service_key k, uint8_t *id,
                                   CK_ULONG *id_len)
{
    const hsm_svc_spec *spec = &hsm_svc_specs[k];
    CK_OBJECT_CLASS cls = 0;
    CK_KEY_TYPE type = 0;
    CK_ULONG value_len = 0;
    CK_BBOOL token = 0, priv = 0, sensitive = 0, extractable = 0;
    CK_BBOOL flags[HSM_SVC_BOOLS] = {0};
    CK_ATTRIBUTE a[7 + HSM_SVC_BOOLS] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_VALUE_LEN, &value_len, sizeof value_len},
        {CKA_TOKEN, &token, sizeof token},
        {CKA_PRIVATE, &priv, sizeof priv},
        {CKA_SENSITIVE, &sensitive, sizeof sensitive},
        {CKA_EXTRACTABLE, &extractable, sizeof extractable},
    };
    for (size_t i = 0; i < HSM_SVC_BOOLS; i++) {
        a[7 + i].type = spec->bools[i].type;
        a[7 + i].pValue = &flags[i];
        a[7 + i].ulValueLen = sizeof flags[i];
    }
    CK_RV rv = fn->C_GetAttributeValue(sess, obj, a, sizeof a / sizeof a[0]);
    if (rv != CKR_OK) {
        qs_error("service key %s: attributes unreadable (%s)", spec->label, qs_hsm_ckr_name(rv));
        return QS_ERR_HSM_KEY_POLICY;
    }
    const char *bad = NULL;
    if (cls != CKO_SECRET_KEY)
        bad = "CKA_CLASS is not CKO_SECRET_KEY";
    else if (type != spec->key_type)
        bad = "CKA_KEY_TYPE is wrong";
    else if (value_len != HSM_SVC_KEY_LEN)
        bad = "key is not 256 bits";
    else if (token != CK_TRUE)
        bad = "not a token object";
    else if (priv != spec->is_private)
        bad = spec->is_private ? "CKA_PRIVATE is false" : "CKA_PRIVATE is true";
    else if (sensitive != CK_TRUE)
        bad = "CKA_SENSITIVE is false";
    else if (extractable != CK_FALSE)
        bad = "CKA_EXTRACTABLE is true";
    for (size_t i = 0; bad == NULL && i < HSM_SVC_BOOLS; i++) {
        if (flags[i] != spec->bools[i].value)
            bad = "a usage flag (CKA_TRUSTED, CKA_WRAP, CKA_SIGN, ...) differs";
    }
    if (bad == NULL && k == QS_HSM_KEK && !hsm_unwrap_template_ok(fn, sess, obj))
        bad = "CKA_UNWRAP_TEMPLATE does not force private, sensitive, non-extractable session keys";
    if (bad != NULL) {
        qs_error("service key %s refused: %s", spec->label, bad);
        return QS_ERR_HSM_KEY_POLICY;
    }

    CK_ATTRIBUTE ida = {CKA_ID, id, QS_HSM_KEY_ID_LEN};
    rv = fn->C_GetAttributeValue(sess, obj, &ida, 1);
    *id_len = rv == CKR_OK ? ida.ulValueLen : 0;
    return QS_OK;
}

/* CKA_EC_PARAMS of obj names the pair's curve. */
static bool hsm_ec_params_ok(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj)
{
    size_t want_len = 0;
    const uint8_t *want = hsm_ec_params(HSM_SVC_PAIR_ALG, &want_len);
    uint8_t got[32];
    CK_ATTRIBUTE a = {CKA_EC_PARAMS, got, sizeof got};
    return want != NULL && fn->C_GetAttributeValue(sess, obj, &a, 1) == CKR_OK &&
           a.ulValueLen == want_len && memcmp(got, want, want_len) == 0;
}

/* Checks both halves of a key pair against the spec; logs the first deviation.  The id is the
 * private half's CKA_ID, which the public half must share. */
static qs_err hsm_check_pair(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE priv,
                             CK_OBJECT_HANDLE pub, qs_hsm_service_key k, uint8_t *id,
                             CK_ULONG *id_len)
{
    const hsm_svc_spec *spec = &hsm_svc_specs[k];
    CK_KEY_TYPE type = 0, pub_type = 0;
    CK_BBOOL token = 0, priv_flag = 0, sensitive = 0, extractable = 1, always_sensitive = 0,
             never_extractable = 0, modifiable = 1;
    CK_BBOOL pub_token = 0, pub_priv = 0, pub_modifiable = 1, verify = 0, encrypt = 1, wrap = 1,
             derive = 1;
    CK_BBOOL flags[HSM_SVC_BOOLS] = {0};
    CK_ATTRIBUTE a[8 + HSM_SVC_BOOLS] = {
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &token, sizeof token},
        {CKA_PRIVATE, &priv_flag, sizeof priv_flag},
        {CKA_SENSITIVE, &sensitive, sizeof sensitive},
        {CKA_EXTRACTABLE, &extractable, sizeof extractable},
        {CKA_ALWAYS_SENSITIVE, &always_sensitive, sizeof always_sensitive},
        {CKA_NEVER_EXTRACTABLE, &never_extractable, sizeof never_extractable},
        {CKA_MODIFIABLE, &modifiable, sizeof modifiable},
    };
    for (size_t i = 0; i < HSM_SVC_BOOLS; i++) {
        a[8 + i].type = spec->bools[i].type;
        a[8 + i].pValue = &flags[i];
        a[8 + i].ulValueLen = sizeof flags[i];
    }
    CK_ATTRIBUTE pa[] = {
        {CKA_KEY_TYPE, &pub_type, sizeof pub_type},
        {CKA_TOKEN, &pub_token, sizeof pub_token},
        {CKA_PRIVATE, &pub_priv, sizeof pub_priv},
        {CKA_MODIFIABLE, &pub_modifiable, sizeof pub_modifiable},
        {CKA_VERIFY, &verify, sizeof verify},
        {CKA_ENCRYPT, &encrypt, sizeof encrypt},
        {CKA_WRAP, &wrap, sizeof wrap},
        {CKA_DERIVE, &derive, sizeof derive},
    };
    CK_RV rv = fn->C_GetAttributeValue(sess, priv, a, sizeof a / sizeof a[0]);
    CK_RV pub_rv = fn->C_GetAttributeValue(sess, pub, pa, sizeof pa / sizeof pa[0]);
    if (rv != CKR_OK || pub_rv != CKR_OK) {
        qs_error("service key %s: attributes unreadable (%s)", spec->label,
                 qs_hsm_ckr_name(rv != CKR_OK ? rv : pub_rv));
        return QS_ERR_HSM_KEY_POLICY;
    }
    uint8_t pub_id[QS_HSM_KEY_ID_LEN];
    CK_ATTRIBUTE ida = {CKA_ID, id, QS_HSM_KEY_ID_LEN};
    CK_ATTRIBUTE pub_ida = {CKA_ID, pub_id, sizeof pub_id};
    bool ids_ok = fn->C_GetAttributeValue(sess, priv, &ida, 1) == CKR_OK &&
                  fn->C_GetAttributeValue(sess, pub, &pub_ida, 1) == CKR_OK && ida.ulValueLen > 0 &&
                  ida.ulValueLen == pub_ida.ulValueLen && memcmp(id, pub_id, ida.ulValueLen) == 0;

    const char *bad = NULL;
    if (type != spec->key_type || pub_type != spec->key_type)
        bad = "CKA_KEY_TYPE is wrong";
    else if (!hsm_ec_params_ok(fn, sess, priv) || !hsm_ec_params_ok(fn, sess, pub))
        bad = "the curve is not P-256";
    else if (token != CK_TRUE || pub_token != CK_TRUE)
        bad = "not a token object";
    else if (priv_flag != CK_TRUE || pub_priv != CK_TRUE)
        bad = "CKA_PRIVATE is false";
    else if (sensitive != CK_TRUE || always_sensitive != CK_TRUE)
        bad = "the private key is or was not sensitive";
    else if (extractable != CK_FALSE || never_extractable != CK_TRUE)
        bad = "the private key is or was extractable";
    else if (modifiable != CK_FALSE || pub_modifiable != CK_FALSE)
        bad = "CKA_MODIFIABLE is true";
    else if (verify != CK_TRUE || encrypt != CK_FALSE || wrap != CK_FALSE || derive != CK_FALSE)
        bad = "a usage flag of the public key (CKA_VERIFY, CKA_ENCRYPT, ...) differs";
    else if (!ids_ok)
        bad = "the two halves do not share one CKA_ID";
    for (size_t i = 0; bad == NULL && i < HSM_SVC_BOOLS; i++) {
        if (flags[i] != spec->bools[i].value)
            bad = "a usage flag of the private key (CKA_SIGN, CKA_DECRYPT, ...) differs";
    }
    if (bad != NULL) {
        qs_error("service key %s refused: %s", spec->label, bad);
        return QS_ERR_HSM_KEY_POLICY;
    }
    *id_len = ida.ulValueLen;
    return QS_OK;
}

/* Sorts the objects labelled for a pair into its private and public half: exactly one of
 * each, or the label is ambiguous (false). */
static bool hsm_pair_halves(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess,
                            const CK_OBJECT_HANDLE *found, CK_ULONG n, CK_OBJECT_HANDLE *priv,
                            CK_OBJECT_HANDLE *pub)
{
    *priv = *pub = CK_INVALID_HANDLE;
    if (n != 2)
        return false;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_OBJECT_CLASS cls = 0;
        CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof cls};
        if (fn->C_GetAttributeValue(sess, found[i], &a, 1) != CKR_OK)
            return false;
        if (cls == CKO_PRIVATE_KEY && *priv == CK_INVALID_HANDLE)
            *priv = found[i];
        else if (cls == CKO_PUBLIC_KEY && *pub == CK_INVALID_HANDLE)
            *pub = found[i];
        else
            return false;
    }
    return true;
}

/* Finds the key labelled for k and records its state in rep; *obj (the secret or private key)
 * and *pub_obj (the public half of a pair, else invalid) are set when it exists.  Errors only
 * for token trouble; a missing, ambiguous or unsafe key is a state. */
static qs_err hsm_lookup(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, qs_hsm_service_key k,
                         CK_OBJECT_HANDLE *obj, CK_OBJECT_HANDLE *pub_obj,
                         qs_hsm_service_report *rep)
{
    const hsm_svc_spec *spec = &hsm_svc_specs[k];
    const char *label = spec->label;
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[3];
    CK_ULONG n = 0;

    *obj = *pub_obj = CK_INVALID_HANDLE;
    rep->state[k] = QS_HSM_KEY_MISSING;
    rep->id_hex[k][0] = '\0';
    qs_err r = HSM_CK(fn->C_FindObjectsInit(sess, tmpl, 1), "C_FindObjectsInit");
    if (r != QS_OK)
        return r;
    r = HSM_CK(fn->C_FindObjects(sess, found, spec->pair ? 3 : 2, &n), "C_FindObjects");
    qs_err r2 = HSM_CK(fn->C_FindObjectsFinal(sess), "C_FindObjectsFinal");
    if (r == QS_OK)
        r = r2;
    if (r != QS_OK)
        return r;
    if (n == 0)
        return QS_OK;
    uint8_t id[QS_HSM_KEY_ID_LEN];
    CK_ULONG id_len = 0;
    CK_OBJECT_HANDLE priv = found[0], pub = CK_INVALID_HANDLE;
    if (spec->pair) {
        if (!hsm_pair_halves(fn, sess, found, n, &priv, &pub)) {
            qs_error("service key label %s does not name exactly one private and one public key "
                     "(%s): remove the stray objects, or the whole pair to make a new one",
                     label,
                     n > 2    ? "more than two objects"
                     : n == 2 ? "two objects"
                              : "one half");
            rep->state[k] = QS_HSM_KEY_BAD;
            return QS_OK;
        }
        if (hsm_check_pair(fn, sess, priv, pub, k, id, &id_len) != QS_OK) {
            rep->state[k] = QS_HSM_KEY_BAD;
            return QS_OK;
        }
    } else {
        if (n > 1) {
            qs_error("service key label %s is ambiguous: more than one object carries it", label);
            rep->state[k] = QS_HSM_KEY_BAD;
            return QS_OK;
        }
        if (hsm_check_attributes(fn, sess, priv, k, id, &id_len) != QS_OK) {
            rep->state[k] = QS_HSM_KEY_BAD;
            return QS_OK;
        }
    }
    if (id_len > 0 && id_len <= QS_HSM_KEY_ID_LEN)
        sodium_bin2hex(rep->id_hex[k], sizeof rep->id_hex[k], id, id_len);
    rep->state[k] = QS_HSM_KEY_EXISTS;
    *obj = priv;
    *pub_obj = pub;
    return QS_OK;
}

qs_err hsm_load_service_keys(qs_hsm *h)
{
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        qs_err r = hsm_lookup(h->fn, h->keeper, (qs_hsm_service_key)k, &h->svc[k], &h->svc_pub[k],
                              &h->report);
        if (r != QS_OK)
            return r;
        if (!h->require_keys)
            continue;
        switch (h->report.state[k]) {
        case QS_HSM_KEY_EXISTS:
        case QS_HSM_KEY_CREATED:
            break;
        case QS_HSM_KEY_MISSING:
            qs_error("service key %s not found in token \"%s\" (run `qsignctl hsm init`)",
                     hsm_svc_specs[k].label, h->label);
            return QS_ERR_HSM_KEY_NOT_FOUND;
        case QS_HSM_KEY_BAD:
            return QS_ERR_HSM_KEY_POLICY;
        }
    }
    return QS_OK;
}

/* Generates the key pair for k in the token (user session). */
static qs_err hsm_create_pair(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, qs_hsm_service_key k,
                              const uint8_t id[static QS_HSM_KEY_ID_LEN])
{
    const hsm_svc_spec *spec = &hsm_svc_specs[k];
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    size_t params_len = 0;
    const uint8_t *params = hsm_ec_params(HSM_SVC_PAIR_ALG, &params_len);
    if (params == NULL)
        return QS_ERR_INTERNAL;
    CK_ATTRIBUTE pub_t[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_MODIFIABLE, &no, sizeof no},
        {CKA_EC_PARAMS, (void *)params, params_len},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},
        {CKA_WRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_LABEL, (void *)spec->label, strlen(spec->label)},
        {CKA_ID, (void *)id, QS_HSM_KEY_ID_LEN},
    };
    CK_ATTRIBUTE priv_t[8 + HSM_SVC_BOOLS] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_MODIFIABLE, &no, sizeof no},
        {CKA_WRAP_WITH_TRUSTED, &no, sizeof no},
        {CKA_LABEL, (void *)spec->label, strlen(spec->label)},
        {CKA_ID, (void *)id, QS_HSM_KEY_ID_LEN},
    };
    for (size_t i = 0; i < HSM_SVC_BOOLS; i++) {
        priv_t[8 + i].type = spec->bools[i].type;
        priv_t[8 + i].pValue = (void *)&spec->bools[i].value;
        priv_t[8 + i].ulValueLen = sizeof(CK_BBOOL);
    }
    CK_MECHANISM mech = {spec->gen_mech, NULL, 0};
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    return HSM_CK(fn->C_GenerateKeyPair(sess, &mech, pub_t, sizeof pub_t / sizeof pub_t[0], priv_t,
                                        sizeof priv_t / sizeof priv_t[0], &pub, &priv),
                  "C_GenerateKeyPair");
}

/* Generates the key for k in the token.  `sess` is logged in as SO for the KEK, as user
 * otherwise. */
static qs_err hsm_create(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, qs_hsm_service_key k)
{
    const hsm_svc_spec *spec = &hsm_svc_specs[k];
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = spec->key_type;
    CK_ULONG value_len = HSM_SVC_KEY_LEN;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE, priv = spec->is_private;
    uint8_t id[QS_HSM_KEY_ID_LEN];
    qs_random(id, sizeof id);
    if (spec->pair) {
        qs_err pr = hsm_create_pair(fn, sess, k, id);
        if (pr != QS_OK) {
            qs_error("cannot create service key %s", spec->label);
            return pr;
        }
        char id_hex[QS_HSM_KEY_ID_HEX_LEN + 1];
        sodium_bin2hex(id_hex, sizeof id_hex, id, sizeof id);
        qs_info("service key pair %s created, id %s", spec->label, id_hex);
        return QS_OK;
    }
    CK_ATTRIBUTE t[13 + HSM_SVC_BOOLS] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_VALUE_LEN, &value_len, sizeof value_len},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &priv, sizeof priv},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_MODIFIABLE, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_LABEL, (void *)spec->label, strlen(spec->label)},
        {CKA_ID, id, sizeof id},
    };
    CK_ULONG n = 11;
    for (size_t i = 0; i < HSM_SVC_BOOLS; i++) {
        t[n].type = spec->bools[i].type;
        t[n].pValue = (void *)&spec->bools[i].value;
        t[n].ulValueLen = sizeof(CK_BBOOL);
        n++;
    }
    if (k == QS_HSM_KEK) {
        t[n].type = CKA_UNWRAP_TEMPLATE;
        t[n].pValue = (void *)hsm_unwrap_template;
        t[n].ulValueLen = sizeof hsm_unwrap_template;
        n++;
    }
    CK_MECHANISM mech = {spec->gen_mech, NULL, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    qs_err r = HSM_CK(fn->C_GenerateKey(sess, &mech, t, n, &obj), "C_GenerateKey");
    if (r != QS_OK) {
        qs_error("cannot create service key %s", spec->label);
        return r;
    }
    char hex[QS_HSM_KEY_ID_HEX_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, id, sizeof id);
    qs_info("service key %s created, id %s", spec->label, hex);
    return QS_OK;
}

/* Looks k up and creates it when missing; the final state goes to rep. */
static qs_err hsm_ensure(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, qs_hsm_service_key k,
                         qs_hsm_service_report *rep)
{
    CK_OBJECT_HANDLE obj, pub;
    qs_err r = hsm_lookup(fn, sess, k, &obj, &pub, rep);
    if (r != QS_OK || rep->state[k] != QS_HSM_KEY_MISSING)
        return r;
    r = hsm_create(fn, sess, k);
    if (r != QS_OK)
        return r;
    r = hsm_lookup(fn, sess, k, &obj, &pub, rep);
    if (r != QS_OK)
        return r;
    if (rep->state[k] == QS_HSM_KEY_EXISTS)
        rep->state[k] = QS_HSM_KEY_CREATED;
    return QS_OK;
}

qs_err qs_hsm_init_service_keys(const qs_hsm_params *p, const char *so_pin, size_t so_pin_len,
                                qs_hsm_service_report *report)
{
    qs_err r;
    hsm_module *m = NULL;
    CK_FUNCTION_LIST *fn = NULL;
    CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
    bool have_sess = false, logged_in = false;
    CK_SLOT_ID slot = 0;

    memset(report, 0, sizeof *report);
    if (p == NULL || p->module_path == NULL || p->token_label == NULL || p->pin == NULL ||
        p->pin_len == 0 || p->pin_len > QS_HSM_PIN_MAX || so_pin == NULL || so_pin_len == 0 ||
        so_pin_len > QS_HSM_PIN_MAX || strlen(p->token_label) > QS_HSM_TOKEN_LABEL_MAX) {
        qs_error("hsm init needs the module, token label, user PIN and SO PIN");
        return QS_ERR_INVALID_ARGUMENT;
    }
    r = qs_util_init();
    if (r != QS_OK)
        return r;

    hsm_lock();
    r = hsm_module_acquire(p->module_path, &m);
    if (r != QS_OK)
        goto out;
    fn = m->fn;
    r = hsm_find_slot(fn, p->token_label, &slot);
    if (r != QS_OK)
        goto out;
    for (qs_hsm *o = m->users; o != NULL; o = o->next_user) {
        if (o->slot == slot && atomic_load(&o->gen) == hsm_fork_gen()) {
            qs_error("token \"%s\" is open in this process; close it before hsm init",
                     p->token_label);
            r = QS_ERR_INVALID_ARGUMENT;
            goto out;
        }
    }
    r = HSM_CK(fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sess),
               "C_OpenSession");
    if (r != QS_OK)
        goto out;
    have_sess = true;

    /* The KEK, as security officer. */
    r = HSM_CK(fn->C_Login(sess, CKU_SO, (CK_UTF8CHAR *)so_pin, (CK_ULONG)so_pin_len),
               "C_Login(SO)");
    if (r != QS_OK) {
        qs_error("security officer login to token \"%s\" failed", p->token_label);
        r = r == QS_ERR_INTERNAL ? QS_ERR_HSM_LOGIN : r;
        goto out;
    }
    logged_in = true;
    r = hsm_ensure(fn, sess, QS_HSM_KEK, report);
    if (r != QS_OK)
        goto out;
    logged_in = false;
    r = HSM_CK(fn->C_Logout(sess), "C_Logout");
    if (r != QS_OK)
        goto out;

    /* The others, as user; then every key once more as the user sees it. */
    r = HSM_CK(fn->C_Login(sess, CKU_USER, (CK_UTF8CHAR *)p->pin, (CK_ULONG)p->pin_len), "C_Login");
    if (r != QS_OK) {
        qs_error("user login to token \"%s\" failed", p->token_label);
        r = r == QS_ERR_INTERNAL ? QS_ERR_HSM_LOGIN : r;
        goto out;
    }
    logged_in = true;
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        if (k == QS_HSM_KEK) {
            qs_hsm_key_state made = report->state[k];
            CK_OBJECT_HANDLE obj, pub;
            r = hsm_lookup(fn, sess, QS_HSM_KEK, &obj, &pub, report);
            if (r == QS_OK && made == QS_HSM_KEY_CREATED && report->state[k] == QS_HSM_KEY_EXISTS)
                report->state[k] = QS_HSM_KEY_CREATED;
        } else {
            r = hsm_ensure(fn, sess, (qs_hsm_service_key)k, report);
        }
        if (r != QS_OK)
            goto out;
    }
    r = QS_OK;
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        if (report->state[k] == QS_HSM_KEY_BAD)
            r = QS_ERR_HSM_KEY_POLICY;
    }
out:
    if (logged_in)
        (void)HSM_CK(fn->C_Logout(sess), "C_Logout");
    if (have_sess)
        (void)HSM_CK(fn->C_CloseSession(sess), "C_CloseSession");
    hsm_module_release(m);
    hsm_unlock();
    return r;
}

/*
 * Service keys: the four long-lived secret keys in the token, found by CKA_LABEL and checked
 * for safe attributes before any use, and created (never replaced) by qs_hsm_init_service_keys.
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
    CK_KEY_TYPE key_type;
    CK_MECHANISM_TYPE gen_mech;
    CK_BBOOL is_private;
    struct {
        CK_ATTRIBUTE_TYPE type;
        CK_BBOOL value;
    } bools[HSM_SVC_BOOLS]; /* usage flags, checked on every open */
} hsm_svc_spec;

static const hsm_svc_spec hsm_svc_specs[QS_HSM_SERVICE_KEY_COUNT] = {
    [QS_HSM_KEK] = {"qsign-kek",
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
                           CKK_AES,
                           CKM_AES_KEY_GEN,
                           CK_TRUE,
                           {{CKA_ENCRYPT, CK_TRUE},
                            {CKA_DECRYPT, CK_TRUE},
                            {CKA_WRAP, CK_FALSE},
                            {CKA_UNWRAP, CK_FALSE},
                            {CKA_SIGN, CK_FALSE},
                            {CKA_VERIFY, CK_FALSE}}},
};

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

/* Finds the key labelled for k and records its state in rep; *obj is set when it exists.
 * Errors only for token trouble; a missing, ambiguous or unsafe key is a state. */
static qs_err hsm_lookup(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, qs_hsm_service_key k,
                         CK_OBJECT_HANDLE *obj, qs_hsm_service_report *rep)
{
    const char *label = hsm_svc_specs[k].label;
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;

    *obj = CK_INVALID_HANDLE;
    rep->state[k] = QS_HSM_KEY_MISSING;
    rep->id_hex[k][0] = '\0';
    qs_err r = HSM_CK(fn->C_FindObjectsInit(sess, tmpl, 1), "C_FindObjectsInit");
    if (r != QS_OK)
        return r;
    r = HSM_CK(fn->C_FindObjects(sess, found, 2, &n), "C_FindObjects");
    qs_err r2 = HSM_CK(fn->C_FindObjectsFinal(sess), "C_FindObjectsFinal");
    if (r == QS_OK)
        r = r2;
    if (r != QS_OK)
        return r;
    if (n == 0)
        return QS_OK;
    if (n > 1) {
        qs_error("service key label %s is ambiguous: more than one object carries it", label);
        rep->state[k] = QS_HSM_KEY_BAD;
        return QS_OK;
    }
    uint8_t id[QS_HSM_KEY_ID_LEN];
    CK_ULONG id_len = 0;
    if (hsm_check_attributes(fn, sess, found[0], k, id, &id_len) != QS_OK) {
        rep->state[k] = QS_HSM_KEY_BAD;
        return QS_OK;
    }
    if (id_len > 0 && id_len <= QS_HSM_KEY_ID_LEN)
        sodium_bin2hex(rep->id_hex[k], sizeof rep->id_hex[k], id, id_len);
    rep->state[k] = QS_HSM_KEY_EXISTS;
    *obj = found[0];
    return QS_OK;
}

qs_err hsm_load_service_keys(qs_hsm *h)
{
    for (unsigned k = 0; k < QS_HSM_SERVICE_KEY_COUNT; k++) {
        qs_err r = hsm_lookup(h->fn, h->keeper, (qs_hsm_service_key)k, &h->svc[k], &h->report);
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
    CK_OBJECT_HANDLE obj;
    qs_err r = hsm_lookup(fn, sess, k, &obj, rep);
    if (r != QS_OK || rep->state[k] != QS_HSM_KEY_MISSING)
        return r;
    r = hsm_create(fn, sess, k);
    if (r != QS_OK)
        return r;
    r = hsm_lookup(fn, sess, k, &obj, rep);
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
            CK_OBJECT_HANDLE obj;
            r = hsm_lookup(fn, sess, QS_HSM_KEK, &obj, report);
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

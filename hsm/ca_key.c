/*
 * Token key pairs for the certification authority: the CA key and the OCSP responder key are
 * long-lived token objects in the HSM (unlike signer keys, which live outside it wrapped).  The
 * SAM makes them once, at CA set-up, and then uses them through libp11 (ca/ca.h,
 * ca_hsm_key_open), so that OpenSSL signs certificates, CRLs and OCSP responses in the token.
 *
 * The private key is private, sensitive, never extractable and may only sign; the public key
 * only verifies.  Both halves share the label and a random CKA_ID.  A label that is taken is
 * refused, never reused or replaced: a new CA key would silently change who issues.
 */
#define QS_LOG_MODULE "hsm"

#include <string.h>

#include <sodium.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"

/* True when an object with `label` exists; errors for token trouble only. */
static qs_err hsm_label_taken(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, const char *label,
                              bool *taken)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[1];
    CK_ULONG n = 0;
    *taken = false;
    qs_err r = HSM_CK(fn->C_FindObjectsInit(sess, tmpl, 1), "C_FindObjectsInit");
    if (r != QS_OK)
        return r;
    r = HSM_CK(fn->C_FindObjects(sess, found, 1, &n), "C_FindObjects");
    qs_err r2 = HSM_CK(fn->C_FindObjectsFinal(sess), "C_FindObjectsFinal");
    if (r == QS_OK)
        r = r2;
    *taken = r == QS_OK && n > 0;
    return r;
}

qs_err qs_hsm_generate_token_ec_key(qs_hsm_session *s, qs_key_alg alg, const char *label)
{
    size_t params_len = 0;
    const uint8_t *params = hsm_ec_params(alg, &params_len);
    uint8_t id[QS_HSM_KEY_ID_LEN];
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    bool taken = false;

    if (params == NULL || label == NULL || label[0] == '\0' || strlen(label) > 64) {
        qs_bug("token key: algorithm %d, label %s", (int)alg, label != NULL ? label : "(null)");
        return QS_ERR_INVALID_ARGUMENT;
    }
    randombytes_buf(id, sizeof id);
    CK_ATTRIBUTE pub_t[] = {
        {CKA_TOKEN, &yes, sizeof yes},    {CKA_PRIVATE, &no, sizeof no},
        {CKA_MODIFIABLE, &no, sizeof no}, {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, id, sizeof id},          {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},    {CKA_WRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},     {CKA_EC_PARAMS, (void *)params, params_len},
    };
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_MODIFIABLE, &no, sizeof no},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, id, sizeof id},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_SIGN_RECOVER, &no, sizeof no},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
    };
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};

    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    /* Worker sessions are read-only; token objects need a read-write session of their own,
     * logged in through the application's login like every session. */
    CK_FUNCTION_LIST *fn = s->h->fn;
    CK_SESSION_HANDLE rw = CK_INVALID_HANDLE;
    r = HSM_CK(fn->C_OpenSession(s->h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw),
               "C_OpenSession");
    if (r == QS_OK)
        r = hsm_label_taken(fn, rw, label, &taken);
    if (r == QS_OK && taken) {
        qs_error("token key %s exists already: not replacing it", label);
        r = QS_ERR_EXISTS;
    }
    if (r == QS_OK)
        r = HSM_CK(fn->C_GenerateKeyPair(rw, &mech, pub_t, sizeof pub_t / sizeof pub_t[0], priv_t,
                                         sizeof priv_t / sizeof priv_t[0], &pub, &priv),
                   "C_GenerateKeyPair");
    if (rw != CK_INVALID_HANDLE)
        (void)HSM_CK(fn->C_CloseSession(rw), "C_CloseSession");
    hsm_session_leave(s);
    if (r == QS_OK)
        qs_info("token key pair %s (%s) generated", label, qs_key_alg_name(alg));
    return r;
}

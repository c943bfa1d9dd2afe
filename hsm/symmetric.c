/*
 * HMAC-SHA-256 with the record-MAC and pepper keys, AES-256-GCM with the secret-enc key.
 *
 * MACs are verified by recomputing them and comparing here in constant time, not with
 * C_Verify, whose comparison is the module's business.  GCM IVs are 96 random bits: the
 * secret-enc key encrypts one small secret per enrolled factor, far below the 2^32 messages
 * where random IVs become a risk.  Decrypted plaintext only ever lives in guarded memory.
 */
#define QS_LOG_MODULE "hsm"

#include <string.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"
#include "util/secret.h"

static qs_err hsm_mac_key(const qs_hsm_session *s, qs_hsm_service_key key, CK_OBJECT_HANDLE *out)
{
    switch (key) {
    case QS_HSM_RECORD_MAC:
    case QS_HSM_PEPPER:
        *out = s->h->svc[key];
        return QS_OK;
    case QS_HSM_KEK:
    case QS_HSM_SECRET_ENC:
    case QS_HSM_AUDIT_SIGN:
    case QS_HSM_SERVICE_KEY_COUNT:
        break;
    }
    qs_bug("HMAC requested with service key %d", (int)key);
    return QS_ERR_INVALID_ARGUMENT;
}

qs_err qs_hsm_hmac_parts(qs_hsm_session *s, qs_hsm_service_key key, const qs_hsm_buf *parts,
                         size_t n, uint8_t mac[static QS_HSM_HMAC_LEN])
{
    CK_OBJECT_HANDLE obj;
    size_t total = 0;

    memset(mac, 0, QS_HSM_HMAC_LEN);
    if (parts == NULL && n != 0)
        return QS_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].p == NULL && parts[i].len != 0)
            return QS_ERR_INVALID_ARGUMENT;
        total += parts[i].len;
        if (total > QS_HSM_DATA_MAX)
            return QS_ERR_TOO_LARGE;
    }
    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    r = hsm_mac_key(s, key, &obj);
    if (r != QS_OK)
        goto out;
    CK_FUNCTION_LIST *fn = s->h->fn;
    CK_MECHANISM mech = {CKM_SHA256_HMAC, NULL, 0};
    r = HSM_CK(fn->C_SignInit(s->handle, &mech, obj), "C_SignInit");
    if (r != QS_OK)
        goto out;
    CK_ULONG len = QS_HSM_HMAC_LEN;
    if (n == 1) {
        r = HSM_CK(fn->C_Sign(s->handle, (CK_BYTE *)parts[0].p, parts[0].len, mac, &len), "C_Sign");
    } else {
        for (size_t i = 0; r == QS_OK && i < n; i++) {
            if (parts[i].len > 0)
                r = HSM_CK(fn->C_SignUpdate(s->handle, (CK_BYTE *)parts[i].p, parts[i].len),
                           "C_SignUpdate");
        }
        if (r == QS_OK) {
            r = HSM_CK(fn->C_SignFinal(s->handle, mac, &len), "C_SignFinal");
        } else {
            /* End the operation so the session stays usable. */
            uint8_t scratch[QS_HSM_HMAC_LEN];
            CK_ULONG scratch_len = sizeof scratch;
            (void)fn->C_SignFinal(s->handle, scratch, &scratch_len);
        }
    }
    if (r == QS_OK && len != QS_HSM_HMAC_LEN) {
        qs_error("HMAC of %lu bytes, %d expected", (unsigned long)len, QS_HSM_HMAC_LEN);
        r = QS_ERR_HSM;
    }
out:
    hsm_session_leave(s);
    if (r != QS_OK)
        memset(mac, 0, QS_HSM_HMAC_LEN);
    return r;
}

qs_err qs_hsm_hmac(qs_hsm_session *s, qs_hsm_service_key key, const uint8_t *data, size_t len,
                   uint8_t mac[static QS_HSM_HMAC_LEN])
{
    static const uint8_t empty[1];
    qs_hsm_buf part = {data != NULL ? data : empty, len};
    if (data == NULL && len != 0) {
        memset(mac, 0, QS_HSM_HMAC_LEN);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return qs_hsm_hmac_parts(s, key, &part, 1, mac);
}

qs_err qs_hsm_hmac_verify(qs_hsm_session *s, qs_hsm_service_key key, const uint8_t *data,
                          size_t len, const uint8_t mac[static QS_HSM_HMAC_LEN])
{
    uint8_t expect[QS_HSM_HMAC_LEN];
    qs_err r = qs_hsm_hmac(s, key, data, len, expect);
    if (r == QS_OK && !qs_ct_equal(expect, mac, QS_HSM_HMAC_LEN))
        r = QS_ERR_MAC;
    qs_wipe(expect, sizeof expect);
    return r;
}

static void hsm_gcm_params(CK_GCM_PARAMS *gcm, CK_MECHANISM *mech, uint8_t *iv, const uint8_t *aad,
                           size_t aad_len)
{
    static uint8_t no_aad[1];
    memset(gcm, 0, sizeof *gcm);
    gcm->pIv = iv;
    gcm->ulIvLen = QS_HSM_GCM_IV_LEN;
    gcm->ulIvBits = QS_HSM_GCM_IV_LEN * 8;
    gcm->pAAD = aad_len > 0 ? (CK_BYTE *)aad : no_aad;
    gcm->ulAADLen = aad_len;
    gcm->ulTagBits = QS_HSM_GCM_TAG_LEN * 8;
    *mech = (CK_MECHANISM){CKM_AES_GCM, gcm, sizeof *gcm};
}

qs_err qs_hsm_encrypt(qs_hsm_session *s, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                      size_t pt_len, uint8_t *ct, size_t *ct_len)
{
    size_t cap = *ct_len;
    *ct_len = 0;
    if ((aad == NULL && aad_len != 0) || (pt == NULL && pt_len != 0) || ct == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (aad_len > QS_HSM_DATA_MAX || pt_len > QS_HSM_DATA_MAX)
        return QS_ERR_TOO_LARGE;
    if (cap < pt_len + QS_HSM_AEAD_OVERHEAD) {
        qs_bug("ciphertext buffer of %zu bytes for %zu bytes of plaintext", cap, pt_len);
        return QS_ERR_INVALID_ARGUMENT;
    }
    static const uint8_t empty[1];
    CK_GCM_PARAMS gcm;
    CK_MECHANISM mech;
    qs_random(ct, QS_HSM_GCM_IV_LEN);
    hsm_gcm_params(&gcm, &mech, ct, aad, aad_len);

    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    CK_FUNCTION_LIST *fn = s->h->fn;
    r = HSM_CK(fn->C_EncryptInit(s->handle, &mech, s->h->svc[QS_HSM_SECRET_ENC]), "C_EncryptInit");
    CK_ULONG out_len = cap - QS_HSM_GCM_IV_LEN;
    if (r == QS_OK)
        r = HSM_CK(fn->C_Encrypt(s->handle, (CK_BYTE *)(pt != NULL ? pt : empty), pt_len,
                                 ct + QS_HSM_GCM_IV_LEN, &out_len),
                   "C_Encrypt");
    hsm_session_leave(s);
    if (r == QS_OK && out_len != pt_len + QS_HSM_GCM_TAG_LEN) {
        qs_error("AES-GCM returned %lu bytes for %zu", (unsigned long)out_len, pt_len);
        r = QS_ERR_HSM;
    }
    if (r != QS_OK) {
        qs_wipe(ct, cap);
        return r;
    }
    *ct_len = QS_HSM_GCM_IV_LEN + out_len;
    return QS_OK;
}

qs_err qs_hsm_decrypt(qs_hsm_session *s, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t **pt, size_t *pt_len)
{
    *pt = NULL;
    *pt_len = 0;
    if ((aad == NULL && aad_len != 0) || ct == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (aad_len > QS_HSM_DATA_MAX || ct_len > QS_HSM_DATA_MAX + QS_HSM_AEAD_OVERHEAD)
        return QS_ERR_TOO_LARGE;
    if (ct_len < QS_HSM_AEAD_OVERHEAD) {
        qs_warn("ciphertext of %zu bytes is too short to be genuine", ct_len);
        return QS_ERR_MAC;
    }
    size_t pt_max = ct_len - QS_HSM_AEAD_OVERHEAD;
    /* Room for ciphertext and tag: some modules (SoftHSM) ask for that much before they have
     * checked the tag.  Never NULL, even for an empty plaintext: a NULL output would make
     * C_Decrypt a size query that checks nothing. */
    size_t cap = ct_len - QS_HSM_GCM_IV_LEN;
    uint8_t *buf = qs_secret_alloc(cap + 1);
    if (buf == NULL)
        return QS_ERR_NOMEM;
    uint8_t iv[QS_HSM_GCM_IV_LEN];
    memcpy(iv, ct, sizeof iv);
    CK_GCM_PARAMS gcm;
    CK_MECHANISM mech;
    hsm_gcm_params(&gcm, &mech, iv, aad, aad_len);

    qs_err r = hsm_session_enter(s);
    if (r != QS_OK) {
        qs_secret_free(buf);
        return r;
    }
    CK_FUNCTION_LIST *fn = s->h->fn;
    r = HSM_CK(fn->C_DecryptInit(s->handle, &mech, s->h->svc[QS_HSM_SECRET_ENC]), "C_DecryptInit");
    CK_ULONG out_len = cap;
    if (r == QS_OK) {
        CK_RV rv = fn->C_Decrypt(s->handle, (CK_BYTE *)ct + QS_HSM_GCM_IV_LEN,
                                 ct_len - QS_HSM_GCM_IV_LEN, buf, &out_len);
        qs_err e = qs_hsm_ckr_err(rv);
        if (rv == CKR_OK) {
            r = QS_OK;
        } else if (hsm_err_is_infra(e)) {
            r = HSM_CK(rv, "C_Decrypt");
        } else {
            qs_warn("AES-GCM authentication failed (%s)", qs_hsm_ckr_name(rv));
            r = QS_ERR_MAC;
        }
    }
    hsm_session_leave(s);
    if (r == QS_OK && out_len != pt_max) {
        qs_error("AES-GCM returned %lu bytes, %zu expected", (unsigned long)out_len, pt_max);
        r = QS_ERR_HSM;
    }
    if (r != QS_OK) {
        qs_secret_free(buf);
        return r;
    }
    buf[pt_max] = 0;
    *pt = buf;
    *pt_len = pt_max;
    return QS_OK;
}

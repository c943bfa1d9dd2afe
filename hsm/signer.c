/*
 * Signer keys: generated in the token as session objects, handed out only as SPKI + a blob
 * wrapped under the KEK (CKM_AES_KEY_WRAP_PAD, RFC 5649 in SoftHSM), unwrapped into a
 * non-extractable session object to sign a digest, and destroyed right after.
 *
 * Signing always takes a digest and uses a mechanism that does not hash again: CKM_ECDSA (the
 * raw r||s becomes a DER Ecdsa-Sig-Value), CKM_RSA_PKCS over a DER DigestInfo built here, and
 * CKM_RSA_PKCS_PSS with MGF1 and salt length set from the digest's hash.
 *
 * Blobs come from the database: their length is checked before the token sees them, and a blob
 * the KEK does not authenticate, or that holds a key of another type or size, is
 * QS_ERR_HSM_BAD_BLOB.
 */
#define QS_LOG_MODULE "hsm"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "hsm/hsm_impl.h"
#include "util/log.h"

#define HSM_RSA_PUBLIC_EXPONENT 65537
#define HSM_WRAPPED_MIN         16 /* RFC 5649: at least two 64-bit blocks */
#define HSM_WRAP_BLOCK          8

typedef struct hsm_alg_info {
    const char *name;
    CK_KEY_TYPE key_type;
    CK_ULONG bits;
    const uint8_t *ec_params; /* DER OBJECT IDENTIFIER of the curve */
    size_t ec_params_len;
    int curve_nid;
    size_t field_len; /* EC: bytes per coordinate */
    size_t sig_max;
} hsm_alg_info;

static const uint8_t hsm_oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t hsm_oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

/* DER DigestInfo up to the digest octets (RFC 8017, section 9.2, note 1). */
#define HSM_DIGEST_INFO_PREFIX_LEN 19
static const uint8_t hsm_di_sha256[HSM_DIGEST_INFO_PREFIX_LEN] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t hsm_di_sha384[HSM_DIGEST_INFO_PREFIX_LEN] = {
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t hsm_di_sha512[HSM_DIGEST_INFO_PREFIX_LEN] = {
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

_Static_assert(QS_HSM_SIGN_INPUT_MAX == HSM_DIGEST_INFO_PREFIX_LEN + QS_HASH_MAX_LEN,
               "sign input size");

static const hsm_alg_info *hsm_alg(qs_key_alg alg)
{
    static const hsm_alg_info p256 = {.name = "EC-P256",
                                      .key_type = CKK_EC,
                                      .bits = 256,
                                      .ec_params = hsm_oid_p256,
                                      .ec_params_len = sizeof hsm_oid_p256,
                                      .curve_nid = NID_X9_62_prime256v1,
                                      .field_len = 32,
                                      .sig_max = 72};
    static const hsm_alg_info p384 = {.name = "EC-P384",
                                      .key_type = CKK_EC,
                                      .bits = 384,
                                      .ec_params = hsm_oid_p384,
                                      .ec_params_len = sizeof hsm_oid_p384,
                                      .curve_nid = NID_secp384r1,
                                      .field_len = 48,
                                      .sig_max = 104};
    static const hsm_alg_info rsa2048 = {
        .name = "RSA-2048", .key_type = CKK_RSA, .bits = 2048, .sig_max = 256};
    static const hsm_alg_info rsa3072 = {
        .name = "RSA-3072", .key_type = CKK_RSA, .bits = 3072, .sig_max = 384};
    static const hsm_alg_info rsa4096 = {
        .name = "RSA-4096", .key_type = CKK_RSA, .bits = 4096, .sig_max = 512};
    switch (alg) {
    case QS_KEY_EC_P256:
        return &p256;
    case QS_KEY_EC_P384:
        return &p384;
    case QS_KEY_RSA_2048:
        return &rsa2048;
    case QS_KEY_RSA_3072:
        return &rsa3072;
    case QS_KEY_RSA_4096:
        return &rsa4096;
    }
    return NULL;
}

size_t qs_hash_len(qs_hash_alg h)
{
    switch (h) {
    case QS_HASH_SHA256:
        return QS_SHA256_LEN;
    case QS_HASH_SHA384:
        return QS_SHA384_LEN;
    case QS_HASH_SHA512:
        return QS_SHA512_LEN;
    }
    return 0;
}

size_t qs_hsm_sig_max(qs_key_alg alg)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    return ai != NULL ? ai->sig_max : 0;
}

const char *qs_key_alg_name(qs_key_alg alg)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    return ai != NULL ? ai->name : "?";
}

CK_KEY_TYPE qs_hsm_alg_key_type(qs_key_alg alg)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    return ai != NULL ? ai->key_type : (CK_KEY_TYPE)CKK_VENDOR_DEFINED;
}

void qs_hsm_keypair_clear(qs_hsm_keypair *kp)
{
    if (kp == NULL)
        return;
    free(kp->spki);
    free(kp->wrapped);
    memset(kp, 0, sizeof *kp);
}

qs_err qs_hsm_sign_mechanism(qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *digest,
                             size_t dlen, CK_MECHANISM *mech, CK_RSA_PKCS_PSS_PARAMS *pss,
                             uint8_t *in, size_t *in_len)
{
    size_t hlen = qs_hash_len(hash);
    const uint8_t *prefix = NULL;
    CK_MECHANISM_TYPE hmech = 0;
    CK_RSA_PKCS_MGF_TYPE mgf = 0;

    *in_len = 0;
    if (hlen == 0 || digest == NULL || dlen != hlen) {
        qs_warn("digest of %zu bytes does not fit the hash algorithm (%zu bytes)", dlen, hlen);
        return QS_ERR_INVALID_ARGUMENT;
    }
    switch (hash) {
    case QS_HASH_SHA256:
        prefix = hsm_di_sha256;
        hmech = CKM_SHA256;
        mgf = CKG_MGF1_SHA256;
        break;
    case QS_HASH_SHA384:
        prefix = hsm_di_sha384;
        hmech = CKM_SHA384;
        mgf = CKG_MGF1_SHA384;
        break;
    case QS_HASH_SHA512:
        prefix = hsm_di_sha512;
        hmech = CKM_SHA512;
        mgf = CKG_MGF1_SHA512;
        break;
    }
    switch (scheme) {
    case QS_SIG_ECDSA:
        *mech = (CK_MECHANISM){CKM_ECDSA, NULL, 0};
        memcpy(in, digest, dlen);
        *in_len = dlen;
        return QS_OK;
    case QS_SIG_RSA_PKCS1:
        *mech = (CK_MECHANISM){CKM_RSA_PKCS, NULL, 0};
        memcpy(in, prefix, HSM_DIGEST_INFO_PREFIX_LEN);
        memcpy(in + HSM_DIGEST_INFO_PREFIX_LEN, digest, dlen);
        *in_len = HSM_DIGEST_INFO_PREFIX_LEN + dlen;
        return QS_OK;
    case QS_SIG_RSA_PSS:
        *pss = (CK_RSA_PKCS_PSS_PARAMS){hmech, mgf, hlen};
        *mech = (CK_MECHANISM){CKM_RSA_PKCS_PSS, pss, sizeof *pss};
        memcpy(in, digest, dlen);
        *in_len = dlen;
        return QS_OK;
    }
    qs_warn("unknown signature scheme %d", (int)scheme);
    return QS_ERR_INVALID_ARGUMENT;
}

/* The scheme must belong to the key's family: ECDSA for EC keys, PKCS#1/PSS for RSA keys. */
static qs_err hsm_check_scheme(const hsm_alg_info *ai, qs_sig_scheme scheme)
{
    bool ok = false;
    switch (scheme) {
    case QS_SIG_ECDSA:
        ok = ai->key_type == CKK_EC;
        break;
    case QS_SIG_RSA_PKCS1:
    case QS_SIG_RSA_PSS:
        ok = ai->key_type == CKK_RSA;
        break;
    }
    if (!ok) {
        qs_warn("signature scheme %d does not suit key type %s", (int)scheme, ai->name);
        return QS_ERR_INVALID_ARGUMENT;
    }
    return QS_OK;
}

/* Raw r||s (two big-endian field elements) to DER Ecdsa-Sig-Value. */
static qs_err hsm_ecdsa_der(const uint8_t *raw, size_t raw_len, size_t field_len, uint8_t *sig,
                            size_t cap, size_t *sig_len)
{
    qs_err r = QS_ERR_CRYPTO;
    ECDSA_SIG *es = NULL;
    BIGNUM *br = NULL, *bs = NULL;

    if (raw_len != 2 * field_len) {
        qs_error("CKM_ECDSA returned %zu bytes, %zu expected", raw_len, 2 * field_len);
        return QS_ERR_HSM;
    }
    es = ECDSA_SIG_new();
    br = BN_bin2bn(raw, (int)field_len, NULL);
    bs = BN_bin2bn(raw + field_len, (int)field_len, NULL);
    if (es == NULL || br == NULL || bs == NULL || ECDSA_SIG_set0(es, br, bs) != 1)
        goto out;
    br = bs = NULL; /* owned by es now */
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > cap)
        goto out;
    uint8_t *p = sig;
    if (i2d_ECDSA_SIG(es, &p) != n)
        goto out;
    *sig_len = (size_t)n;
    r = QS_OK;
out:
    if (r != QS_OK)
        qs_error("cannot DER-encode an ECDSA signature");
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(es);
    return r;
}

/* C_SignInit + C_Sign on an entered session.  The output length also tells the key's size, so
 * a blob holding a key of another size than claimed is caught here at no cost
 * (QS_ERR_HSM_BAD_BLOB, no signature). */
static qs_err hsm_sign_entered(qs_hsm_session *s, CK_OBJECT_HANDLE obj, const hsm_alg_info *ai,
                               qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *digest,
                               size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
    CK_FUNCTION_LIST *fn = s->h->fn;
    CK_MECHANISM mech;
    CK_RSA_PKCS_PSS_PARAMS pss;
    uint8_t in[QS_HSM_SIGN_INPUT_MAX], raw[QS_HSM_SIG_MAX];
    size_t in_len = 0;

    qs_err r = qs_hsm_sign_mechanism(scheme, hash, digest, dlen, &mech, &pss, in, &in_len);
    if (r != QS_OK)
        return r;
    r = HSM_CK(fn->C_SignInit(s->handle, &mech, obj), "C_SignInit");
    if (r != QS_OK)
        return r;
    CK_ULONG raw_len = sizeof raw;
    CK_RV rv = fn->C_Sign(s->handle, in, in_len, raw, &raw_len);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        /* A key larger than any we make.  The operation is still active: finish it. */
        uint8_t *big = raw_len <= 4 * QS_HSM_SIG_MAX ? malloc(raw_len) : NULL;
        if (big == NULL || fn->C_Sign(s->handle, in, in_len, big, &raw_len) != CKR_OK)
            qs_error("cannot end a signing operation; the session may be stuck");
        free(big);
        qs_warn("unwrapped key is larger than key type %s", ai->name);
        return QS_ERR_HSM_BAD_BLOB;
    }
    r = HSM_CK(rv, "C_Sign");
    if (r != QS_OK)
        return r;
    size_t expect = ai->key_type == CKK_EC ? 2 * ai->field_len : ai->bits / 8;
    if (raw_len != expect) {
        qs_warn("unwrapped key does not match key type %s (signature of %lu bytes)", ai->name,
                (unsigned long)raw_len);
        return QS_ERR_HSM_BAD_BLOB;
    }
    if (ai->key_type == CKK_EC)
        return hsm_ecdsa_der(raw, raw_len, ai->field_len, sig, cap, sig_len);
    if (raw_len > cap)
        return QS_ERR_INTERNAL; /* callers check cap >= sig_max first */
    memcpy(sig, raw, raw_len);
    *sig_len = raw_len;
    return QS_OK;
}

/* After C_UnwrapKey: the object must be a key of exactly the claimed size. */
static qs_err hsm_check_unwrapped(qs_hsm_session *s, CK_OBJECT_HANDLE obj, const hsm_alg_info *ai)
{
    CK_FUNCTION_LIST *fn = s->h->fn;
    if (ai->key_type == CKK_EC) {
        uint8_t params[16];
        CK_ATTRIBUTE a = {CKA_EC_PARAMS, params, sizeof params};
        if (fn->C_GetAttributeValue(s->handle, obj, &a, 1) != CKR_OK ||
            a.ulValueLen != ai->ec_params_len || memcmp(params, ai->ec_params, a.ulValueLen) != 0)
            return QS_ERR_HSM_BAD_BLOB;
        return QS_OK;
    }
    CK_ATTRIBUTE a = {CKA_MODULUS, NULL, 0};
    if (fn->C_GetAttributeValue(s->handle, obj, &a, 1) != CKR_OK || a.ulValueLen != ai->bits / 8)
        return QS_ERR_HSM_BAD_BLOB;
    return QS_OK;
}

/* Unwraps with the session already entered; check_size reads the new key's curve or modulus
 * back to refuse a blob of another size than alg at once. */
static qs_err hsm_unwrap_entered(qs_hsm_session *s, qs_key_alg alg, const uint8_t *blob,
                                 size_t blob_len, bool check_size, CK_OBJECT_HANDLE *out)
{
    CK_FUNCTION_LIST *fn = s->h->fn;
    const hsm_alg_info *ai = hsm_alg(alg);

    *out = CK_INVALID_HANDLE;
    if (ai == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    if (blob == NULL || blob_len < HSM_WRAPPED_MIN || blob_len > QS_HSM_WRAPPED_MAX ||
        blob_len % HSM_WRAP_BLOCK != 0) {
        qs_warn("wrapped %s key of %zu bytes refused: malformed length", ai->name, blob_len);
        return QS_ERR_HSM_BAD_BLOB;
    }
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE type = ai->key_type;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &no, sizeof no},       {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},      {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},      {CKA_DERIVE, &no, sizeof no},
    };
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = fn->C_UnwrapKey(s->handle, &mech, s->h->svc[QS_HSM_KEK], (CK_BYTE *)blob,
                               (CK_ULONG)blob_len, t, sizeof t / sizeof t[0], &obj);
    if (rv != CKR_OK) {
        qs_err e = qs_hsm_ckr_err(rv);
        if (hsm_err_is_infra(e))
            return HSM_CK(rv, "C_UnwrapKey");
        qs_warn("wrapped %s key refused by the token: %s", ai->name, qs_hsm_ckr_name(rv));
        return QS_ERR_HSM_BAD_BLOB;
    }
    if (check_size && hsm_check_unwrapped(s, obj, ai) != QS_OK) {
        qs_warn("wrapped key does not match key type %s", ai->name);
        (void)HSM_CK(fn->C_DestroyObject(s->handle, obj), "C_DestroyObject");
        return QS_ERR_HSM_BAD_BLOB;
    }
    *out = obj;
    return QS_OK;
}

qs_err qs_hsm_unwrap_signer_key(qs_hsm_session *s, qs_key_alg alg, const uint8_t *blob,
                                size_t blob_len, qs_hsm_key **out)
{
    *out = NULL;
    if (hsm_alg(alg) == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    qs_hsm_key *k = calloc(1, sizeof *k);
    if (k == NULL)
        return QS_ERR_NOMEM;
    qs_err r = hsm_session_enter(s);
    if (r != QS_OK) {
        free(k);
        return r;
    }
    r = hsm_unwrap_entered(s, alg, blob, blob_len, true, &k->obj);
    k->gen = s->gen;
    hsm_session_leave(s);
    if (r != QS_OK) {
        free(k);
        return r;
    }
    k->s = s;
    k->alg = alg;
    *out = k;
    return QS_OK;
}

qs_err qs_hsm_key_sign(qs_hsm_key *k, qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *digest,
                       size_t dlen, uint8_t *sig, size_t *sig_len)
{
    size_t cap = *sig_len;
    *sig_len = 0;
    const hsm_alg_info *ai = hsm_alg(k->alg);
    qs_err r = hsm_check_scheme(ai, scheme);
    if (r != QS_OK)
        return r;
    if (sig == NULL || cap < ai->sig_max) {
        qs_bug("signature buffer of %zu bytes for key type %s", cap, ai->name);
        return QS_ERR_INVALID_ARGUMENT;
    }
    r = hsm_session_enter(k->s);
    if (r != QS_OK)
        return r;
    if (k->gen != hsm_fork_gen()) {
        qs_warn("unwrapped key belongs to the parent process; unwrap it again");
        r = QS_ERR_HSM_KEY_NOT_FOUND;
    } else {
        r = hsm_sign_entered(k->s, k->obj, ai, scheme, hash, digest, dlen, sig, cap, sig_len);
    }
    hsm_session_leave(k->s);
    return r;
}

void qs_hsm_key_destroy(qs_hsm_key *k)
{
    if (k == NULL)
        return;
    if (hsm_session_enter(k->s) == QS_OK) {
        if (k->gen == hsm_fork_gen())
            (void)HSM_CK(k->s->h->fn->C_DestroyObject(k->s->handle, k->obj), "C_DestroyObject");
        hsm_session_leave(k->s);
    } else {
        qs_error("unwrapped key left to vanish with its session");
    }
    free(k);
}

qs_err qs_hsm_sign_digests(qs_hsm_session *s, qs_key_alg alg, const uint8_t *blob, size_t blob_len,
                           qs_sig_scheme scheme, qs_hash_alg hash, const uint8_t *const digests[],
                           size_t n, uint8_t *const sigs[], size_t sig_lens[])
{
    const hsm_alg_info *ai = hsm_alg(alg);
    qs_err r;
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    size_t done = 0;

    if (ai == NULL || n == 0 || digests == NULL || sigs == NULL || sig_lens == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    r = hsm_check_scheme(ai, scheme);
    for (size_t i = 0; r == QS_OK && i < n; i++) {
        if (digests[i] == NULL || qs_hash_len(hash) == 0 || sigs[i] == NULL ||
            sig_lens[i] < ai->sig_max)
            r = QS_ERR_INVALID_ARGUMENT;
    }
    if (r != QS_OK)
        goto fail;
    r = hsm_session_enter(s);
    if (r != QS_OK)
        goto fail;
    /* The size check rides on the signatures here (hsm_sign_entered), saving a round trip. */
    r = hsm_unwrap_entered(s, alg, blob, blob_len, false, &obj);
    for (; r == QS_OK && done < n; done++) {
        size_t cap = sig_lens[done];
        r = hsm_sign_entered(s, obj, ai, scheme, hash, digests[done], qs_hash_len(hash), sigs[done],
                             cap, &sig_lens[done]);
    }
    if (obj != CK_INVALID_HANDLE)
        (void)HSM_CK(s->h->fn->C_DestroyObject(s->handle, obj), "C_DestroyObject");
    hsm_session_leave(s);
    if (r == QS_OK)
        return QS_OK;
fail:
    for (size_t i = 0; i < n && sig_lens != NULL; i++)
        sig_lens[i] = 0;
    return r;
}

/* ---- Key generation ---------------------------------------------------------------------- */

static qs_err hsm_get_attr(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
                           CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    *val = NULL;
    *len = 0;
    qs_err r = HSM_CK(fn->C_GetAttributeValue(sess, obj, &a, 1), "C_GetAttributeValue");
    if (r != QS_OK)
        return r;
    if (a.ulValueLen == 0 || a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
        a.ulValueLen > QS_HSM_WRAPPED_MAX)
        return QS_ERR_HSM;
    a.pValue = malloc(a.ulValueLen);
    if (a.pValue == NULL)
        return QS_ERR_NOMEM;
    r = HSM_CK(fn->C_GetAttributeValue(sess, obj, &a, 1), "C_GetAttributeValue");
    if (r != QS_OK) {
        free(a.pValue);
        return r;
    }
    *val = a.pValue;
    *len = a.ulValueLen;
    return QS_OK;
}

static qs_err hsm_pkey_to_spki(EVP_PKEY *pkey, qs_hsm_keypair *out)
{
    int n = i2d_PUBKEY(pkey, NULL);
    if (n <= 0)
        return QS_ERR_CRYPTO;
    out->spki = malloc((size_t)n);
    if (out->spki == NULL)
        return QS_ERR_NOMEM;
    uint8_t *p = out->spki;
    if (i2d_PUBKEY(pkey, &p) != n)
        return QS_ERR_CRYPTO;
    out->spki_len = (size_t)n;
    return QS_OK;
}

/* Curve groups for point validation, made once: creating one per key costs more than the
 * rest of the SPKI. */
static pthread_once_t hsm_groups_once = PTHREAD_ONCE_INIT;
static EC_GROUP *hsm_group_p256, *hsm_group_p384;

static void hsm_groups_init(void)
{
    hsm_group_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    hsm_group_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/* SPKI from CKA_EC_POINT (a DER OCTET STRING around the point; some modules give the bare
 * point) and the curve.  The point is checked to lie on the curve; the SPKI is then put
 * together by X509_PUBKEY, without the provider key machinery, which would cost more than the
 * key generation itself. */
static qs_err hsm_spki_ec(const hsm_alg_info *ai, const uint8_t *ec_point, size_t len,
                          qs_hsm_keypair *out)
{
    qs_err r = QS_ERR_CRYPTO;
    ASN1_OCTET_STRING *os = NULL;
    EC_POINT *point = NULL;
    X509_PUBKEY *xpk = NULL;
    uint8_t *copy = NULL;
    const uint8_t *pt = ec_point;
    size_t pt_len = len;
    size_t raw_len = 1 + 2 * ai->field_len;

    if (!(len == raw_len && ec_point[0] == 0x04)) {
        const uint8_t *p = ec_point;
        os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
        if (os == NULL || p != ec_point + len) {
            qs_error("CKA_EC_POINT is neither a point nor an OCTET STRING");
            r = QS_ERR_HSM;
            goto out;
        }
        pt = ASN1_STRING_get0_data(os);
        pt_len = (size_t)ASN1_STRING_length(os);
    }
    if (pt_len != raw_len || pt[0] != 0x04) {
        qs_error("CKA_EC_POINT is not an uncompressed %s point", ai->name);
        r = QS_ERR_HSM;
        goto out;
    }
    (void)pthread_once(&hsm_groups_once, hsm_groups_init);
    const EC_GROUP *group = ai->curve_nid == NID_X9_62_prime256v1 ? hsm_group_p256 : hsm_group_p384;
    if (group == NULL || (point = EC_POINT_new(group)) == NULL)
        goto out;
    if (EC_POINT_oct2point(group, point, pt, pt_len, NULL) != 1) {
        qs_error("CKA_EC_POINT is not a point on %s", ai->name);
        r = QS_ERR_HSM;
        goto out;
    }
    xpk = X509_PUBKEY_new();
    copy = OPENSSL_memdup(pt, pt_len);
    if (xpk == NULL || copy == NULL ||
        X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                               OBJ_nid2obj(ai->curve_nid), copy, (int)pt_len) != 1)
        goto out;
    copy = NULL; /* owned by xpk now */
    int n = i2d_X509_PUBKEY(xpk, NULL);
    if (n <= 0)
        goto out;
    out->spki = malloc((size_t)n);
    if (out->spki == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    uint8_t *w = out->spki;
    if (i2d_X509_PUBKEY(xpk, &w) != n)
        goto out;
    out->spki_len = (size_t)n;
    r = QS_OK;
out:
    OPENSSL_free(copy);
    X509_PUBKEY_free(xpk);
    EC_POINT_free(point);
    ASN1_OCTET_STRING_free(os);
    return r;
}

static qs_err hsm_spki_rsa(const hsm_alg_info *ai, const uint8_t *mod, size_t mod_len,
                           const uint8_t *exp, size_t exp_len, qs_hsm_keypair *out)
{
    qs_err r = QS_ERR_CRYPTO;
    BIGNUM *n = BN_bin2bn(mod, (int)mod_len, NULL);
    BIGNUM *e = BN_bin2bn(exp, (int)exp_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (n == NULL || e == NULL || bld == NULL)
        goto out;
    if ((CK_ULONG)BN_num_bits(n) != ai->bits) {
        qs_error("generated modulus has %d bits, %lu expected", BN_num_bits(n),
                 (unsigned long)ai->bits);
        r = QS_ERR_HSM;
        goto out;
    }
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    r = hsm_pkey_to_spki(pkey, out);
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return r;
}

static qs_err hsm_public_to_spki(qs_hsm_session *s, CK_OBJECT_HANDLE pub, const hsm_alg_info *ai,
                                 qs_hsm_keypair *out)
{
    CK_FUNCTION_LIST *fn = s->h->fn;
    uint8_t *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0;
    qs_err r;

    if (ai->key_type == CKK_EC) {
        r = hsm_get_attr(fn, s->handle, pub, CKA_EC_POINT, &a, &a_len);
        if (r == QS_OK)
            r = hsm_spki_ec(ai, a, a_len, out);
    } else {
        r = hsm_get_attr(fn, s->handle, pub, CKA_MODULUS, &a, &a_len);
        if (r == QS_OK)
            r = hsm_get_attr(fn, s->handle, pub, CKA_PUBLIC_EXPONENT, &b, &b_len);
        if (r == QS_OK)
            r = hsm_spki_rsa(ai, a, a_len, b, b_len, out);
    }
    free(a);
    free(b);
    return r;
}

static qs_err hsm_wrap(qs_hsm_session *s, CK_OBJECT_HANDLE priv, qs_hsm_keypair *out)
{
    CK_FUNCTION_LIST *fn = s->h->fn;
    CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE kek = s->h->svc[QS_HSM_KEK];
    CK_ULONG len = 0;

    qs_err r = HSM_CK(fn->C_WrapKey(s->handle, &mech, kek, priv, NULL, &len), "C_WrapKey");
    if (r != QS_OK)
        return r;
    if (len == 0 || len > QS_HSM_WRAPPED_MAX) {
        qs_error("wrapped key of %lu bytes", (unsigned long)len);
        return QS_ERR_HSM;
    }
    out->wrapped = malloc(len);
    if (out->wrapped == NULL)
        return QS_ERR_NOMEM;
    r = HSM_CK(fn->C_WrapKey(s->handle, &mech, kek, priv, out->wrapped, &len), "C_WrapKey");
    if (r != QS_OK)
        return r;
    out->wrapped_len = len;
    return QS_OK;
}

/* C_GenerateKeyPair for `ai` on an entered session: both halves are session objects, the
 * private one sensitive, signing only, extractable only by a trusted key (the KEK). */
static qs_err hsm_generate_entered(qs_hsm_session *s, const hsm_alg_info *ai, CK_OBJECT_HANDLE *pub,
                                   CK_OBJECT_HANDLE *priv)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = ai->bits;
    static const uint8_t exponent[] = {0x01, 0x00, 0x01};
    _Static_assert(HSM_RSA_PUBLIC_EXPONENT == 0x010001, "exponent bytes");
    CK_ATTRIBUTE pub_t[] = {
        {CKA_TOKEN, &no, sizeof no},
        {CKA_PRIVATE, &no, sizeof no},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},
        {CKA_WRAP, &no, sizeof no},
        /* EC: CKA_EC_PARAMS; RSA: CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT */
        {CKA_EC_PARAMS, (void *)ai->ec_params, ai->ec_params_len},
        {CKA_PUBLIC_EXPONENT, (void *)exponent, sizeof exponent},
    };
    CK_ULONG pub_n = 6;
    if (ai->key_type == CKK_RSA) {
        pub_t[5] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof bits};
        pub_n = 7;
    }
    CK_ATTRIBUTE priv_t[] = {
        {CKA_TOKEN, &no, sizeof no},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &yes, sizeof yes},
        {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
    };
    CK_MECHANISM mech = {ai->key_type == CKK_EC ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN,
                         NULL, 0};
    *pub = *priv = CK_INVALID_HANDLE;
    return HSM_CK(s->h->fn->C_GenerateKeyPair(s->handle, &mech, pub_t, pub_n, priv_t,
                                              sizeof priv_t / sizeof priv_t[0], pub, priv),
                  "C_GenerateKeyPair");
}

qs_err qs_hsm_generate_session_keypair(qs_hsm_session *s, qs_key_alg alg, CK_OBJECT_HANDLE *pub,
                                       CK_OBJECT_HANDLE *priv)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    *pub = *priv = CK_INVALID_HANDLE;
    if (ai == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    r = hsm_generate_entered(s, ai, pub, priv);
    hsm_session_leave(s);
    return r;
}

qs_err qs_hsm_generate_signer_key(qs_hsm_session *s, qs_key_alg alg, qs_hsm_keypair *out)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;

    memset(out, 0, sizeof *out);
    if (ai == NULL)
        return QS_ERR_INVALID_ARGUMENT;
    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    CK_FUNCTION_LIST *fn = s->h->fn;
    r = hsm_generate_entered(s, ai, &pub, &priv);
    if (r == QS_OK)
        r = hsm_public_to_spki(s, pub, ai, out);
    if (r == QS_OK)
        r = hsm_wrap(s, priv, out);
    if (priv != CK_INVALID_HANDLE)
        (void)HSM_CK(fn->C_DestroyObject(s->handle, priv), "C_DestroyObject");
    if (pub != CK_INVALID_HANDLE)
        (void)HSM_CK(fn->C_DestroyObject(s->handle, pub), "C_DestroyObject");
    hsm_session_leave(s);
    if (r != QS_OK)
        qs_hsm_keypair_clear(out);
    return r;
}

CK_OBJECT_HANDLE qs_hsm_key_handle(const qs_hsm_key *k)
{
    return k->obj;
}

const uint8_t *hsm_ec_params(qs_key_alg alg, size_t *len)
{
    const hsm_alg_info *ai = hsm_alg(alg);
    if (ai == NULL || ai->key_type != CKK_EC) {
        *len = 0;
        return NULL;
    }
    *len = ai->ec_params_len;
    return ai->ec_params;
}

/* ---- Service signing key (audit checkpoints) ---------------------------------------------- */

/* The algorithm of a service key pair; NULL for the secret keys. */
static const hsm_alg_info *hsm_service_pair_alg(qs_hsm_service_key key)
{
    switch (key) {
    case QS_HSM_AUDIT_SIGN:
        return hsm_alg(QS_KEY_EC_P256);
    case QS_HSM_KEK:
    case QS_HSM_RECORD_MAC:
    case QS_HSM_PEPPER:
    case QS_HSM_SECRET_ENC:
    case QS_HSM_SERVICE_KEY_COUNT:
        break;
    }
    return NULL;
}

qs_err qs_hsm_service_sign(qs_hsm_session *s, qs_hsm_service_key key, const uint8_t *digest,
                           size_t dlen, uint8_t *sig, size_t *sig_len)
{
    const hsm_alg_info *ai = hsm_service_pair_alg(key);
    size_t cap = *sig_len;

    *sig_len = 0;
    if (ai == NULL) {
        qs_bug("signature requested with service key %d", (int)key);
        return QS_ERR_INVALID_ARGUMENT;
    }
    if (digest == NULL || dlen != QS_SHA256_LEN || sig == NULL || cap < QS_HSM_SERVICE_SIG_MAX) {
        qs_bug("service signature: digest of %zu bytes, room for %zu", dlen, cap);
        return QS_ERR_INVALID_ARGUMENT;
    }
    qs_err r = hsm_session_enter(s);
    if (r != QS_OK)
        return r;
    r = hsm_sign_entered(s, s->h->svc[key], ai, QS_SIG_ECDSA, QS_HASH_SHA256, digest, dlen, sig,
                         cap, sig_len);
    hsm_session_leave(s);
    if (r == QS_ERR_HSM_BAD_BLOB)
        r = QS_ERR_HSM; /* the token's own key misbehaved: no blob involved */
    return r;
}

qs_err qs_hsm_service_public_key(qs_hsm *h, qs_hsm_service_key key, uint8_t **spki,
                                 size_t *spki_len)
{
    const hsm_alg_info *ai = hsm_service_pair_alg(key);
    qs_hsm_session *s = NULL;
    qs_hsm_keypair kp = {0};

    *spki = NULL;
    *spki_len = 0;
    if (ai == NULL) {
        qs_bug("public key requested of service key %d", (int)key);
        return QS_ERR_INVALID_ARGUMENT;
    }
    qs_err r = qs_hsm_session_open(h, &s);
    if (r != QS_OK)
        return r;
    r = hsm_session_enter(s);
    if (r == QS_OK) {
        r = hsm_public_to_spki(s, h->svc_pub[key], ai, &kp);
        hsm_session_leave(s);
    }
    qs_hsm_session_close(s);
    if (r != QS_OK) {
        qs_hsm_keypair_clear(&kp);
        return r;
    }
    *spki = kp.spki;
    *spki_len = kp.spki_len;
    return QS_OK;
}

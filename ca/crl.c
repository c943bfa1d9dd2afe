/*
 * CRLs (RFC 5280 v2) with the EN 319 411-2 rule that revoked certificates stay listed after
 * they expire, announced by ExpiredCertsOnCRL (X.509 2.5.29.60, a GeneralizedTime).
 */
#include "ca/ca_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>

#define CRL_ENTRIES_MAX 10000000

bool ca_crl_reason_ok(ca_crl_reason r)
{
    switch (r) {
    case CA_CRL_UNSPECIFIED:
    case CA_CRL_KEY_COMPROMISE:
    case CA_CRL_CA_COMPROMISE:
    case CA_CRL_AFFILIATION_CHANGED:
    case CA_CRL_SUPERSEDED:
    case CA_CRL_CESSATION_OF_OPERATION:
    case CA_CRL_CERTIFICATE_HOLD:
    case CA_CRL_PRIVILEGE_WITHDRAWN:
    case CA_CRL_AA_COMPROMISE:
        return true;
    case CA_CRL_REMOVE_FROM_CRL:
        return false;
    }
    return false;
}

/* Magnitude of a serial without leading zero octets. */
static void serial_trim(const uint8_t *s, size_t len, const uint8_t **out, size_t *out_len)
{
    while (len > 0 && s[0] == 0) {
        s++;
        len--;
    }
    *out = s;
    *out_len = len;
}

static int cmp_entry(const void *a, const void *b)
{
    const ca_crl_entry *x = *(const ca_crl_entry *const *)a;
    const ca_crl_entry *y = *(const ca_crl_entry *const *)b;
    const uint8_t *xs, *ys;
    size_t xl, yl;
    serial_trim(x->serial, x->serial_len, &xs, &xl);
    serial_trim(y->serial, y->serial_len, &ys, &yl);
    if (xl != yl)
        return xl < yl ? -1 : 1;
    return memcmp(xs, ys, xl);
}

static qs_err check_entries(const ca_crl_params *p, ca_why *why)
{
    if (p->n_entries > CRL_ENTRIES_MAX || (p->n_entries > 0 && p->entries == NULL))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "entries",
                         "entry list missing or too long");
    for (size_t i = 0; i < p->n_entries; i++) {
        const ca_crl_entry *e = &p->entries[i];
        const uint8_t *s;
        size_t l;
        if (e->serial == NULL || e->serial_len == 0)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "entries.serial",
                             "entry %zu has no serial number", i);
        serial_trim(e->serial, e->serial_len, &s, &l);
        if (l == 0 || l > CA_SERIAL_MAX)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "entries.serial",
                             "entry %zu serial number is zero or longer than %d octets", i,
                             CA_SERIAL_MAX);
        if (!ca_crl_reason_ok(e->reason))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "entries.reason",
                             "entry %zu has a reason code a full CRL cannot carry", i);
        if (e->revoked_at <= 0 || e->revoked_at > p->this_update)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION,
                             "entries.revoked_at", "entry %zu revoked after thisUpdate", i);
    }
    if (p->n_entries < 2)
        return QS_OK;
    const ca_crl_entry **sorted = malloc(p->n_entries * sizeof *sorted);
    if (sorted == NULL)
        return QS_ERR_NOMEM;
    for (size_t i = 0; i < p->n_entries; i++)
        sorted[i] = &p->entries[i];
    qsort(sorted, p->n_entries, sizeof *sorted, cmp_entry);
    qs_err r = QS_OK;
    for (size_t i = 1; i < p->n_entries && r == QS_OK; i++)
        if (cmp_entry(&sorted[i - 1], &sorted[i]) == 0)
            r = ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_REVOCATION, "entries.serial",
                          "a serial number is listed twice");
    free(sorted);
    return r;
}

static qs_err add_entry(X509_CRL *crl, const ca_crl_entry *e, ca_why *why)
{
    const uint8_t *s;
    size_t slen;
    serial_trim(e->serial, e->serial_len, &s, &slen);
    X509_REVOKED *rev = X509_REVOKED_new();
    BIGNUM *bn = BN_bin2bn(s, (int)slen, NULL);
    ASN1_INTEGER *serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TIME *when = ca_time_new(e->revoked_at);
    ASN1_ENUMERATED *reason = NULL;
    qs_err r = QS_OK;
    if (rev == NULL || serial == NULL || when == NULL ||
        X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
        X509_REVOKED_set_revocationDate(rev, when) != 1) {
        r = ca_ossl_fail(why, "CRL entry");
        goto out;
    }
    if (e->reason != CA_CRL_UNSPECIFIED) {
        reason = ASN1_ENUMERATED_new();
        if (reason == NULL || ASN1_ENUMERATED_set(reason, (long)e->reason) != 1 ||
            X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, X509V3_ADD_DEFAULT) != 1) {
            r = ca_ossl_fail(why, "CRL entry reasonCode");
            goto out;
        }
    }
    if (X509_CRL_add0_revoked(crl, rev) != 1) {
        r = ca_ossl_fail(why, "CRL entry");
        goto out;
    }
    rev = NULL;
out:
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_REVOKED_free(rev);
    return r;
}

static qs_err add_crl_exts(X509_CRL *crl, const ca_crl_params *p, ca_why *why)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    ASN1_GENERALIZEDTIME *expired = ca_gentime_new(p->expired_certs_on_crl);
    ASN1_OBJECT *obj = ca_oid_new(CA_OID_EXPIRED_CERTS_CRL);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    qs_err r = QS_OK;
    if (akid == NULL || number == NULL || expired == NULL || obj == NULL || value == NULL ||
        (akid->keyid = ca_issuer_key_id(p->ca_cert)) == NULL ||
        ASN1_INTEGER_set_uint64(number, p->crl_number) != 1) {
        r = ca_ossl_fail(why, "CRL extensions");
        goto out;
    }
    int n = i2d_ASN1_GENERALIZEDTIME(expired, &der);
    if (n <= 0 || ASN1_OCTET_STRING_set(value, der, n) != 1 ||
        (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, value)) == NULL ||
        X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) !=
            1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_CRL_add_ext(crl, ext, -1) != 1) {
        r = ca_ossl_fail(why, "CRL extensions");
        goto out;
    }
out:
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(obj);
    ASN1_GENERALIZEDTIME_free(expired);
    ASN1_INTEGER_free(number);
    AUTHORITY_KEYID_free(akid);
    return r;
}

qs_err ca_crl_build(const ca_crl_params *p, uint8_t **der, size_t *der_len, ca_why *why)
{
    X509_CRL *crl = NULL;
    ASN1_TIME *tu = NULL, *nu = NULL;
    qs_err r;

    *der = NULL;
    *der_len = 0;
    ca_why_clear(why);
    if (p == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "params", "no parameters");
    if ((r = ca_issuer_ok(p->ca_cert, p->ca_key, KU_CRL_SIGN, why)) != QS_OK)
        return r;
    if (p->this_update <= 0 || p->next_update <= p->this_update)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "next_update",
                         "nextUpdate must follow thisUpdate");
    if (p->expired_certs_on_crl <= 0 || p->expired_certs_on_crl > p->this_update)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "expired_certs_on_crl",
                         "ExpiredCertsOnCRL must not follow thisUpdate");
    if ((r = check_entries(p, why)) != QS_OK)
        return r;
    const EVP_MD *md = ca_key_md(p->ca_key);
    crl = X509_CRL_new();
    tu = ca_time_new(p->this_update);
    nu = ca_time_new(p->next_update);
    if (md == NULL || crl == NULL || tu == NULL || nu == NULL ||
        X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(p->ca_cert)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, tu) != 1 || X509_CRL_set1_nextUpdate(crl, nu) != 1) {
        r = ca_ossl_fail(why, "CRL fields");
        goto out;
    }
    for (size_t i = 0; i < p->n_entries; i++)
        if ((r = add_entry(crl, &p->entries[i], why)) != QS_OK)
            goto out;
    if (X509_CRL_sort(crl) != 1) {
        r = ca_ossl_fail(why, "X509_CRL_sort");
        goto out;
    }
    if ((r = add_crl_exts(crl, p, why)) != QS_OK)
        goto out;
    if (X509_CRL_sign(crl, p->ca_key, md) <= 0) {
        r = ca_ossl_fail(why, "X509_CRL_sign");
        goto out;
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(p->ca_cert)) != 1) {
        ERR_clear_error();
        r = ca_refuse(why, QS_ERR_CRYPTO, CA_R_CA_MISMATCH, "ca_key",
                      "CRL signature does not verify with the CA certificate's key");
        goto out;
    }
    r = ca_i2d_item(crl, ASN1_ITEM_rptr(X509_CRL), der, der_len, why);
out:
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_CRL_free(crl);
    return r;
}

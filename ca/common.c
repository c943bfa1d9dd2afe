/*
 * Shared helpers of the CA module: refusals, OpenSSL error reporting, time, DER output, OIDs,
 * URLs, key checks, key identifiers, serial numbers, extensions, validity and signing.
 */
#define QS_LOG_MODULE "ca"

#include "ca/ca_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "util/log.h"

#define EC_NAME_MAX 64

const char *ca_reason_name(ca_reason r)
{
    switch (r) {
    case CA_R_NONE:
        return "NONE";
    case CA_R_MISSING:
        return "MISSING";
    case CA_R_NOT_ALLOWED:
        return "NOT_ALLOWED";
    case CA_R_TOO_LONG:
        return "TOO_LONG";
    case CA_R_BAD_CHARS:
        return "BAD_CHARS";
    case CA_R_BAD_COUNTRY:
        return "BAD_COUNTRY";
    case CA_R_BAD_IDENTIFIER:
        return "BAD_IDENTIFIER";
    case CA_R_UNKNOWN_PROFILE:
        return "UNKNOWN_PROFILE";
    case CA_R_BAD_PROFILE:
        return "BAD_PROFILE";
    case CA_R_PROFILE_MISMATCH:
        return "PROFILE_MISMATCH";
    case CA_R_BAD_KEY:
        return "BAD_KEY";
    case CA_R_BAD_URL:
        return "BAD_URL";
    case CA_R_BAD_VALIDITY:
        return "BAD_VALIDITY";
    case CA_R_CA_MISMATCH:
        return "CA_MISMATCH";
    case CA_R_PROFILE_CHECK:
        return "PROFILE_CHECK";
    case CA_R_BAD_CSR:
        return "BAD_CSR";
    case CA_R_KEY_MISMATCH:
        return "KEY_MISMATCH";
    case CA_R_BAD_REVOCATION:
        return "BAD_REVOCATION";
    case CA_R_BAD_SIGNATURE_ALG:
        return "BAD_SIGNATURE_ALG";
    }
    return "?";
}

void ca_why_clear(ca_why *why)
{
    if (why == NULL)
        return;
    why->reason = CA_R_NONE;
    why->field = "";
    why->text[0] = '\0';
}

qs_err ca_refuse(ca_why *why, qs_err e, ca_reason r, const char *field, const char *fmt, ...)
{
    if (why == NULL)
        return e;
    why->reason = r;
    why->field = field != NULL ? field : "";
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why->text, sizeof why->text, fmt, ap);
    va_end(ap);
    return e;
}

qs_err ca_ossl_fail_at(ca_why *why, const char *what, const char *file, int line)
{
    unsigned long code = ERR_peek_last_error();
    char buf[256] = "no OpenSSL error queued";
    if (code != 0)
        ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    bool nomem = code != 0 && ERR_GET_REASON(code) == ERR_R_MALLOC_FAILURE;
    qs_log_msg(QS_LOG_ERROR, QS_LOG_MODULE, file, line, "%s failed: %s", what, buf);
    if (why != NULL && why->reason == CA_R_NONE)
        (void)ca_refuse(why, QS_ERR_CRYPTO, CA_R_NONE, "", "%s failed", what);
    return nomem ? QS_ERR_NOMEM : QS_ERR_CRYPTO;
}

/* ---- time --------------------------------------------------------------------------------- */

ASN1_TIME *ca_time_new(time_t t)
{
    return ASN1_TIME_set(NULL, t);
}

ASN1_GENERALIZEDTIME *ca_gentime_new(time_t t)
{
    return ASN1_GENERALIZEDTIME_set(NULL, t);
}

bool ca_time_get(const ASN1_TIME *a, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
        return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = t;
    return true;
}

time_t ca_now(time_t now)
{
    return now != 0 ? now : time(NULL);
}

/* ---- encoding ----------------------------------------------------------------------------- */

qs_err ca_i2d_item(const void *val, const ASN1_ITEM *it, uint8_t **der, size_t *der_len,
                   ca_why *why)
{
    unsigned char *buf = NULL;
    int n = ASN1_item_i2d((const ASN1_VALUE *)val, &buf, it);
    if (n <= 0)
        return ca_ossl_fail(why, "DER encoding");
    uint8_t *copy = malloc((size_t)n);
    if (copy == NULL) {
        OPENSSL_free(buf);
        return QS_ERR_NOMEM;
    }
    memcpy(copy, buf, (size_t)n);
    OPENSSL_free(buf);
    *der = copy;
    *der_len = (size_t)n;
    return QS_OK;
}

bool ca_oid_syntax_ok(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n < 3 || n > CA_OID_MAX)
        return false;
    if (s[0] < '0' || s[0] > '2' || s[1] != '.')
        return false;
    size_t arcs = 1;
    const char *p = s + 2;
    for (;;) {
        const char *start = p;
        unsigned long long v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > 1000000000000ULL)
                return false;
            v = v * 10 + (unsigned)(*p - '0');
            p++;
        }
        size_t len = (size_t)(p - start);
        if (len == 0 || (len > 1 && *start == '0'))
            return false;
        if (arcs == 1 && s[0] < '2' && v >= 40)
            return false;
        arcs++;
        if (*p == '\0')
            break;
        if (*p != '.')
            return false;
        p++;
    }
    return arcs >= 2;
}

bool ca_oid_text(const ASN1_OBJECT *obj, char *buf, size_t cap)
{
    if (obj == NULL || cap == 0 || cap > INT32_MAX)
        return false;
    int n = OBJ_obj2txt(buf, (int)cap, obj, 1);
    return n > 0 && (size_t)n < cap;
}

bool ca_oid_is(const ASN1_OBJECT *obj, const char *oid)
{
    char buf[CA_OID_MAX + 1];
    return ca_oid_text(obj, buf, sizeof buf) && strcmp(buf, oid) == 0;
}

ASN1_OBJECT *ca_oid_new(const char *oid)
{
    if (!ca_oid_syntax_ok(oid))
        return NULL;
    return OBJ_txt2obj(oid, 1);
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Letters, digits and hyphens in dot-separated labels of 1..63, no hyphen at either end. */
static bool host_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && h[n - 1] != '-';
}

bool ca_url_ok(const char *url, unsigned schemes)
{
    if (url == NULL)
        return false;
    size_t n = strlen(url);
    if (n == 0 || n > CA_URL_MAX)
        return false;
    const char *p;
    if ((schemes & CA_URL_HTTPS) != 0 && strncmp(url, "https://", 8) == 0)
        p = url + 8;
    else if ((schemes & CA_URL_HTTP) != 0 && strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return false;
    size_t hl = strcspn(p, ":/?#");
    if (!host_ok(p, hl))
        return false;
    p += hl;
    if (*p == ':') {
        p++;
        unsigned long port = 0;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            port = port * 10 + (unsigned long)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || port == 0 || port > 65535)
            return false;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return false;
    static const char allowed[] = "-._~:/?[]@!$&'()*+,;=";
    for (; *p != '\0'; p++) {
        if (*p == '%') {
            if (!is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
            continue;
        }
        if (!is_alnum(*p) && strchr(allowed, *p) == NULL)
            return false;
    }
    return true;
}

GENERAL_NAME *ca_gn_uri(const char *uri)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (gn == NULL || s == NULL || ASN1_STRING_set(s, uri, (int)strlen(uri)) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(s);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, GEN_URI, s);
    return gn;
}

/* ---- keys --------------------------------------------------------------------------------- */

qs_err ca_key_accepted(EVP_PKEY *pkey, ca_why *why)
{
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
        char group[EC_NAME_MAX];
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) != 1) {
            ERR_clear_error();
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                             "EC key without a named curve");
        }
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0 &&
            strcmp(group, "secp521r1") != 0)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                             "EC curve is not P-256, P-384 or P-521");
        return QS_OK;
    }
    case EVP_PKEY_RSA: {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048 || bits > 16384)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                             "RSA modulus of %d bits (2048..16384 accepted)", bits);
        BIGNUM *e = NULL;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
            ERR_clear_error();
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                             "RSA key without a public exponent");
        }
        bool ok = BN_is_odd(e) && BN_num_bits(e) >= 17;
        BN_free(e);
        if (!ok)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                             "RSA public exponent must be odd and at least 65537");
        return QS_OK;
    }
    default:
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                         "key type not accepted (EC P-256/P-384/P-521 or RSA)");
    }
}

qs_err ca_spki_parse(const uint8_t *spki, size_t len, EVP_PKEY **out, ca_why *why)
{
    *out = NULL;
    if (spki == NULL || len == 0)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "subjectPublicKeyInfo",
                         "no public key given");
    if (len > CA_SPKI_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_TOO_LONG, "subjectPublicKeyInfo",
                         "public key longer than %d bytes", CA_SPKI_MAX);
    const unsigned char *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k == NULL || p != spki + len) {
        ERR_clear_error();
        EVP_PKEY_free(k);
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                         "not a DER SubjectPublicKeyInfo");
    }
    unsigned char *re = NULL;
    int rlen = i2d_PUBKEY(k, &re);
    bool same = rlen > 0 && (size_t)rlen == len && memcmp(re, spki, len) == 0;
    OPENSSL_free(re);
    if (!same) {
        ERR_clear_error();
        EVP_PKEY_free(k);
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_KEY, "subjectPublicKeyInfo",
                         "SubjectPublicKeyInfo is not in canonical DER");
    }
    qs_err r = ca_key_accepted(k, why);
    if (r != QS_OK) {
        EVP_PKEY_free(k);
        return r;
    }
    *out = k;
    return QS_OK;
}

const EVP_MD *ca_key_md(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
        int bits = EVP_PKEY_get_bits(key);
        if (bits <= 0)
            return NULL;
        if (bits <= 256)
            return EVP_sha256();
        if (bits <= 384)
            return EVP_sha384();
        return EVP_sha512();
    }
    case EVP_PKEY_RSA:
        return EVP_sha256();
    default:
        return NULL;
    }
}

bool ca_pubkey_equal(EVP_PKEY *a, EVP_PKEY *b)
{
    if (a == NULL || b == NULL)
        return false;
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_PUBKEY(a, &da);
    int lb = i2d_PUBKEY(b, &db);
    bool same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    if (!same)
        same = EVP_PKEY_eq(a, b) == 1;
    ERR_clear_error();
    return same;
}

ASN1_OCTET_STRING *ca_key_id(X509_PUBKEY *pub)
{
    const unsigned char *pk = NULL;
    int pklen = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (pub == NULL || X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, pub) != 1 || pklen <= 0)
        return NULL;
    if (EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL) != 1)
        return NULL;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    if (os == NULL || ASN1_OCTET_STRING_set(os, md, (int)mdlen) != 1) {
        ASN1_OCTET_STRING_free(os);
        return NULL;
    }
    return os;
}

ASN1_OCTET_STRING *ca_issuer_key_id(X509 *issuer)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    if (ski != NULL && ASN1_STRING_length(ski) > 0)
        return ASN1_OCTET_STRING_dup(ski);
    return ca_key_id(X509_get_X509_PUBKEY(issuer));
}

qs_err ca_serial_new(ASN1_INTEGER **out, ca_why *why)
{
    uint8_t buf[CA_SERIAL_LEN];
    bool zero = true;
    *out = NULL;
    while (zero) {
        if (RAND_bytes(buf, sizeof buf) != 1)
            return ca_ossl_fail(why, "RAND_bytes");
        buf[0] &= 0x7f;
        for (size_t i = 0; i < sizeof buf; i++)
            zero = zero && buf[i] == 0;
    }
    BIGNUM *bn = BN_bin2bn(buf, sizeof buf, NULL);
    ASN1_INTEGER *a = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    if (a == NULL)
        return ca_ossl_fail(why, "serial number");
    *out = a;
    return QS_OK;
}

bool ca_integer_bytes(const ASN1_INTEGER *a, uint8_t *buf, size_t cap, size_t *len)
{
    if (a == NULL || ASN1_STRING_type(a) != V_ASN1_INTEGER)
        return false;
    const unsigned char *d = ASN1_STRING_get0_data(a);
    int n = ASN1_STRING_length(a);
    while (n > 0 && d[0] == 0) {
        d++;
        n--;
    }
    if (n <= 0 || (size_t)n > cap)
        return false;
    memcpy(buf, d, (size_t)n);
    *len = (size_t)n;
    return true;
}

/* ---- certificates ------------------------------------------------------------------------- */

qs_err ca_add_ext(X509 *x, int nid, void *value, bool critical, ca_why *why)
{
    if (value == NULL)
        return ca_ossl_fail(why, OBJ_nid2sn(nid));
    if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
        return ca_ossl_fail(why, OBJ_nid2sn(nid));
    return QS_OK;
}

qs_err ca_add_ext_raw(X509 *x, const char *oid, const uint8_t *der, size_t len, bool critical,
                      ca_why *why)
{
    qs_err r = QS_ERR_CRYPTO;
    ASN1_OBJECT *obj = ca_oid_new(oid);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (obj == NULL || os == NULL || len > INT32_MAX ||
        ASN1_OCTET_STRING_set(os, der, (int)len) != 1) {
        r = ca_ossl_fail(why, oid);
        goto out;
    }
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical ? 1 : 0, os);
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        r = ca_ossl_fail(why, oid);
        goto out;
    }
    r = QS_OK;
out:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return r;
}

qs_err ca_add_key_ids(X509 *x, X509 *issuer, ca_why *why)
{
    qs_err r;
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_OCTET_STRING *ski = ca_key_id(X509_get_X509_PUBKEY(x));
    if (akid == NULL || ski == NULL) {
        r = ca_ossl_fail(why, "key identifiers");
        goto out;
    }
    akid->keyid = ca_issuer_key_id(issuer);
    if (akid->keyid == NULL) {
        r = ca_ossl_fail(why, "issuer key identifier");
        goto out;
    }
    r = ca_add_ext(x, NID_subject_key_identifier, ski, false, why);
    if (r != QS_OK)
        goto out;
    r = ca_add_ext(x, NID_authority_key_identifier, akid, false, why);
out:
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(ski);
    return r;
}

qs_err ca_issuer_ok(X509 *ca_cert, EVP_PKEY *ca_key, uint32_t ku, ca_why *why)
{
    if (ca_cert == NULL || ca_key == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_MISSING, "ca",
                         "CA certificate and key are required");
    uint32_t flags = X509_get_extension_flags(ca_cert);
    if ((flags & EXFLAG_INVALID) != 0 || (flags & EXFLAG_CA) == 0 || X509_check_ca(ca_cert) != 1)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "ca_cert",
                         "issuer certificate is not a CA certificate");
    if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(ca_cert) & ku) != ku)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "ca_cert",
                         "issuer certificate's keyUsage does not allow this signature");
    if (!ca_pubkey_equal(X509_get0_pubkey(ca_cert), ca_key))
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "ca_key",
                         "CA key does not belong to the CA certificate");
    return QS_OK;
}

qs_err ca_set_validity(X509 *x, X509 *issuer, time_t now, unsigned days, ca_why *why)
{
    if (days == 0 || days > CA_DAYS_MAX)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "validity_days",
                         "validity of %u days (1..%d accepted)", days, CA_DAYS_MAX);
    time_t nb = now;
    time_t na = now + (time_t)days * SECONDS_PER_DAY;
    if (issuer != NULL) {
        time_t inb, ina;
        if (!ca_time_get(X509_get0_notBefore(issuer), &inb) ||
            !ca_time_get(X509_get0_notAfter(issuer), &ina))
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_CA_MISMATCH, "ca_cert",
                             "issuer validity does not parse");
        if (nb < inb || na > ina)
            return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_VALIDITY, "validity_days",
                             "certificate validity would fall outside the CA certificate's");
    }
    ASN1_TIME *tb = ca_time_new(nb);
    ASN1_TIME *ta = ca_time_new(na);
    qs_err r = QS_OK;
    if (tb == NULL || ta == NULL || X509_set1_notBefore(x, tb) != 1 ||
        X509_set1_notAfter(x, ta) != 1)
        r = ca_ossl_fail(why, "validity");
    ASN1_TIME_free(tb);
    ASN1_TIME_free(ta);
    return r;
}

void ca_issued_clear(ca_issued *out)
{
    if (out == NULL)
        return;
    free(out->der);
    memset(out, 0, sizeof *out);
}

qs_err ca_sign_and_encode(X509 *x, EVP_PKEY *key, EVP_PKEY *verify_with, ca_issued *out,
                          ca_why *why)
{
    const EVP_MD *md = ca_key_md(key);
    if (md == NULL)
        return ca_refuse(why, QS_ERR_INVALID_ARGUMENT, CA_R_BAD_SIGNATURE_ALG, "ca_key",
                         "signing key is neither EC nor RSA");
    if (X509_sign(x, key, md) <= 0)
        return ca_ossl_fail(why, "X509_sign");
    if (X509_verify(x, verify_with) != 1) {
        ERR_clear_error();
        qs_bug("certificate signature does not verify with the issuer key");
        return ca_refuse(why, QS_ERR_CRYPTO, CA_R_CA_MISMATCH, "ca_key",
                         "signature does not verify with the CA certificate's key");
    }
    qs_err r = ca_i2d_item(x, ASN1_ITEM_rptr(X509), &out->der, &out->der_len, why);
    if (r != QS_OK)
        return r;
    if (!ca_integer_bytes(X509_get0_serialNumber(x), out->serial, sizeof out->serial,
                          &out->serial_len) ||
        !ca_time_get(X509_get0_notBefore(x), &out->not_before) ||
        !ca_time_get(X509_get0_notAfter(x), &out->not_after)) {
        ca_issued_clear(out);
        qs_bug("issued certificate does not read back");
        return ca_refuse(why, QS_ERR_INTERNAL, CA_R_NONE, "", "certificate does not read back");
    }
    return QS_OK;
}

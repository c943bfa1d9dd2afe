/*
 * Helpers shared by the files of the CA module.  Not part of the public API.
 */
#ifndef QS_CA_CA_INTERNAL_H
#define QS_CA_CA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "util/err.h"

#define SECONDS_PER_DAY 86400

/* Records a refusal in *why (why may be NULL) and returns `e`. */
qs_err ca_refuse(ca_why *why, qs_err e, ca_reason r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Clears *why on entry to a public function. */
void ca_why_clear(ca_why *why);

/* Logs the OpenSSL error queue as one line (what failed, file:line of the caller), clears it,
 * and returns QS_ERR_CRYPTO (or QS_ERR_NOMEM for an allocation failure). */
#define ca_ossl_fail(why, what) ca_ossl_fail_at((why), (what), __FILE__, __LINE__)
qs_err ca_ossl_fail_at(ca_why *why, const char *what, const char *file, int line);

/* ---- time --------------------------------------------------------------------------------- */

/* `t` as an ASN1_TIME (UTCTime before 2050, GeneralizedTime from 2050, as RFC 5280 wants). */
ASN1_TIME *ca_time_new(time_t t);

/* `t` as a GeneralizedTime. */
ASN1_GENERALIZEDTIME *ca_gentime_new(time_t t);

/* ASN1_TIME to time_t (UTC); false when it does not parse. */
bool ca_time_get(const ASN1_TIME *a, time_t *out);

/* `now` if non-zero, else the current time. */
time_t ca_now(time_t now);

/* ---- encoding ----------------------------------------------------------------------------- */

/* i2d of `it` into a new malloc'd buffer. */
qs_err ca_i2d_item(const void *val, const ASN1_ITEM *it, uint8_t **der, size_t *der_len,
                   ca_why *why);

/* A strict numeric OID ("1.2.3"), at most CA_OID_MAX characters. */
bool ca_oid_syntax_ok(const char *s);

/* The dotted text of `obj` into buf (at least CA_OID_MAX + 1 bytes); false when too long. */
bool ca_oid_text(const ASN1_OBJECT *obj, char *buf, size_t cap);

/* True when `obj` is the OID in dotted text `oid`. */
bool ca_oid_is(const ASN1_OBJECT *obj, const char *oid);

/* New ASN1_OBJECT for a dotted OID (numeric form only). */
ASN1_OBJECT *ca_oid_new(const char *oid);

/* A URL whose scheme is one of `schemes` (CA_URL_HTTP, CA_URL_HTTPS, or both).  Host of
 * letters, digits, dots and hyphens (or an IPv4 literal), optional port, path and query of URI
 * characters (RFC 3986), no user info, no fragment; at most CA_URL_MAX bytes. */
#define CA_URL_HTTP  1u
#define CA_URL_HTTPS 2u
bool ca_url_ok(const char *url, unsigned schemes);

/* An IA5String URI GeneralName. */
GENERAL_NAME *ca_gn_uri(const char *uri);

/* ---- keys --------------------------------------------------------------------------------- */

/* Parses a DER SubjectPublicKeyInfo strictly (canonical encoding, no trailing data) and checks
 * the key is one qsign certifies (EC P-256/384/521, RSA 2048..16384 with an odd e >= 65537). */
qs_err ca_spki_parse(const uint8_t *spki, size_t len, EVP_PKEY **out, ca_why *why);

/* The key-type check of ca_spki_parse, for keys from elsewhere. */
qs_err ca_key_accepted(EVP_PKEY *pkey, ca_why *why);

/* The digest for signing with `key`: EC by curve size (SHA-256/384/512), RSA SHA-256. */
const EVP_MD *ca_key_md(EVP_PKEY *key);

/* True when the public halves of `a` and `b` are the same key. */
bool ca_pubkey_equal(EVP_PKEY *a, EVP_PKEY *b);

/* SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1), for SKI and AKI. */
ASN1_OCTET_STRING *ca_key_id(X509_PUBKEY *pub);

/* The key identifier the issuer's certificate gives (its SKI), or computed from its key. */
ASN1_OCTET_STRING *ca_issuer_key_id(X509 *issuer);

/* A fresh serial number: CA_SERIAL_LEN random octets with the top bit clear, not zero. */
qs_err ca_serial_new(ASN1_INTEGER **out, ca_why *why);

/* The magnitude of a positive INTEGER as big-endian bytes (no leading zero).  False for a
 * negative or zero value, or one longer than cap. */
bool ca_integer_bytes(const ASN1_INTEGER *a, uint8_t *buf, size_t cap, size_t *len);

/* ---- certificates ------------------------------------------------------------------------- */

/* Adds an extension given as its OpenSSL structure (X509V3 method of `nid`). */
qs_err ca_add_ext(X509 *x, int nid, void *value, bool critical, ca_why *why);

/* Adds an extension with a raw DER value under a dotted OID. */
qs_err ca_add_ext_raw(X509 *x, const char *oid, const uint8_t *der, size_t len, bool critical,
                      ca_why *why);

/* Adds AKI (key id of `issuer`) and SKI (of x's key) to x. */
qs_err ca_add_key_ids(X509 *x, X509 *issuer, ca_why *why);

/* The checks an issuer must pass before it signs: a CA certificate (basicConstraints cA, and
 * keyUsage `ku` when keyUsage is present) whose public key is `key`'s. */
qs_err ca_issuer_ok(X509 *ca_cert, EVP_PKEY *ca_key, uint32_t ku, ca_why *why);

/* Sets validity [now, now + days] and checks it lies inside the issuer's validity (issuer may
 * be NULL for a self-signed certificate). */
qs_err ca_set_validity(X509 *x, X509 *issuer, time_t now, unsigned days, ca_why *why);

/* Signs x with key, verifies the signature with the issuer's public key, and encodes it into
 * out (der, serial, validity). */
qs_err ca_sign_and_encode(X509 *x, EVP_PKEY *key, EVP_PKEY *verify_with, ca_issued *out,
                          ca_why *why);

/* ---- subjects (subject.c) ----------------------------------------------------------------- */

/* Checks a distinguished name from a certificate against the rules of `kind` (as
 * ca_subject_validate) plus the encoding rules: one attribute per RDN, each type once, only the
 * attribute types of that kind, PrintableString for countryName and serialNumber and
 * UTF8String for the others. */
qs_err ca_name_check(const X509_NAME *name, ca_kind kind, ca_why *why);

/* ---- revocation -------------------------------------------------------------------------- */

/* A reason a full CRL or an OCSP response may carry (not 7, not removeFromCRL). */
bool ca_crl_reason_ok(ca_crl_reason r);

/* ---- profiles ----------------------------------------------------------------------------- */

/* The qcStatements content `p` asks for. */
void ca_qc_info_for_profile(const ca_profile *p, ca_qc_info *qi);

#endif

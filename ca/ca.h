/*
 * The certification authority: EU qualified certificates for natural persons (QCP-n-qscd, EN 319
 * 411-2) and legal persons (QCP-l-qscd, seals), their profile check, proof of possession through
 * PKCS#10, CA set-up, the OCSP responder certificate, CRLs and OCSP responses.
 *
 * Pure computation over OpenSSL 3: no database, no sockets, no configuration files.  Signing keys
 * come in as an EVP_PKEY and the code never asks where they live; in production that is the CA
 * key in the HSM, opened through libp11 (ca_hsm_key_open, library qsign_ca_hsm).  Storage of
 * issued certificates and revocation state belongs to the caller: OCSP status comes from a lookup
 * callback.
 *
 * Threads: no function keeps state between calls; the objects passed in (X509, EVP_PKEY) may be
 * shared for reading, as OpenSSL allows.
 *
 * Trust boundary: subjects, SPKIs, CSRs and OCSP requests are outside input.  They are validated
 * strictly, bounded in size, and refused with a reason (ca_why) that names the field and the rule
 * but never repeats the value (subject data is personal data).  Every end-entity certificate is
 * checked against its profile after it is built and before it is signed (ca_profile_check): one
 * that fails is never signed.
 */
#ifndef QS_CA_CA_H
#define QS_CA_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "util/err.h"

/* ---------------------------------------------------------------------------------------------
 * Object identifiers (EN 319 411-2, EN 319 412-1/-5, RFC 5280, RFC 6960)
 * ------------------------------------------------------------------------------------------- */

#define CA_OID_QCP_N             "0.4.0.194112.1.0"
#define CA_OID_QCP_L             "0.4.0.194112.1.1"
#define CA_OID_QCP_N_QSCD        "0.4.0.194112.1.2"
#define CA_OID_QCP_L_QSCD        "0.4.0.194112.1.3"
#define CA_OID_QCP_W             "0.4.0.194112.1.4"
#define CA_OID_QNCP_W            "0.4.0.194112.1.5"
#define CA_OID_QNCP_W_GEN        "0.4.0.194112.1.6"
#define CA_OID_EN319411_2_ARC    "0.4.0.194112.1"
#define CA_OID_ANY_POLICY        "2.5.29.32.0"
#define CA_OID_QC_STATEMENTS     "1.3.6.1.5.5.7.1.3"
#define CA_OID_QCS_PKIX_SYNTAX_2 "1.3.6.1.5.5.7.11.2"
#define CA_OID_QC_COMPLIANCE     "0.4.0.1862.1.1"
#define CA_OID_QC_LIMIT_VALUE    "0.4.0.1862.1.2"
#define CA_OID_QC_RETENTION      "0.4.0.1862.1.3"
#define CA_OID_QC_SSCD           "0.4.0.1862.1.4"
#define CA_OID_QC_PDS            "0.4.0.1862.1.5"
#define CA_OID_QC_TYPE           "0.4.0.1862.1.6"
#define CA_OID_QC_TYPE_ESIGN     "0.4.0.1862.1.6.1"
#define CA_OID_QC_TYPE_ESEAL     "0.4.0.1862.1.6.2"
#define CA_OID_QC_TYPE_WEB       "0.4.0.1862.1.6.3"
#define CA_OID_QC_CC_LEGISLATION "0.4.0.1862.1.7"
#define CA_OID_SEMANTICS_NATURAL "0.4.0.194121.1.1"
#define CA_OID_SEMANTICS_LEGAL   "0.4.0.194121.1.2"
#define CA_OID_EXPIRED_CERTS_CRL "2.5.29.60"
#define CA_OID_OCSP_ARCHIVE_CUT  "1.3.6.1.5.5.7.48.1.6"

/* ---------------------------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------------------------- */

/* Upper bounds of RFC 5280 Appendix A, in characters. */
#define CA_UB_NAME              32768 /* X520name: givenName, surname */
#define CA_UB_COMMON_NAME       64
#define CA_UB_PSEUDONYM         128
#define CA_UB_SERIAL_NUMBER     64
#define CA_UB_ORGANIZATION_NAME 64
/* organizationIdentifier is unbounded in X.520; qsign caps it here. */
#define CA_UB_ORGANIZATION_ID 64

#define CA_SERIAL_LEN 16 /* serial numbers qsign makes: 16 random octets, top bit clear */
#define CA_SERIAL_MAX 20 /* longest serial number RFC 5280 allows (octets) */
#define CA_URL_MAX    1024
#define CA_OID_MAX    128 /* dotted text of the longest OID accepted */
#define CA_PDS_MAX    8   /* QcPDS locations in one profile */
#define CA_CC_MAX     8   /* QcCClegislation countries in one profile */
#define CA_SPKI_MAX   4096
#define CA_CSR_MAX    16384
#define CA_DAYS_MAX   (40 * 366) /* longest validity accepted, in days */
/* Longest OCSP responder certificate validity: with id-pkix-ocsp-nocheck it cannot be revoked. */
#define CA_OCSP_RESPONDER_DAYS_MAX 366

/* ---------------------------------------------------------------------------------------------
 * Why something was refused
 * ------------------------------------------------------------------------------------------- */

typedef enum ca_reason {
    CA_R_NONE = 0,
    CA_R_MISSING = 1,           /* a required field is absent or empty */
    CA_R_NOT_ALLOWED = 2,       /* a field this kind of subject or profile must not have */
    CA_R_TOO_LONG = 3,          /* longer than its upper bound */
    CA_R_BAD_CHARS = 4,         /* bad UTF-8, control character, outside the string type */
    CA_R_BAD_COUNTRY = 5,       /* not an ISO 3166-1 alpha-2 code */
    CA_R_BAD_IDENTIFIER = 6,    /* semantics identifier not TYPE + country + "-" + id */
    CA_R_UNKNOWN_PROFILE = 7,   /* profile kind or name unknown */
    CA_R_BAD_PROFILE = 8,       /* a profile field is malformed */
    CA_R_PROFILE_MISMATCH = 9,  /* subject kind does not suit the profile */
    CA_R_BAD_KEY = 10,          /* SPKI malformed or key type/size not accepted */
    CA_R_BAD_URL = 11,          /* URL malformed or wrong scheme */
    CA_R_BAD_VALIDITY = 12,     /* days out of range, or outside the CA's own validity */
    CA_R_CA_MISMATCH = 13,      /* CA key does not match the CA certificate, or not a CA */
    CA_R_PROFILE_CHECK = 14,    /* the built certificate violates its profile */
    CA_R_BAD_CSR = 15,          /* CSR malformed or its self-signature is wrong */
    CA_R_KEY_MISMATCH = 16,     /* CSR key differs from the expected SPKI */
    CA_R_BAD_REVOCATION = 17,   /* CRL entry malformed (serial, reason, duplicate) */
    CA_R_BAD_SIGNATURE_ALG = 18 /* signature algorithm unknown or unsuitable */
} ca_reason;

#define CA_WHY_TEXT_MAX 200

/* Filled on every refusal.  `field` names the input field, attribute or extension ("givenName",
 * "profile.policy_oid", "keyUsage"); `text` is one sentence for logs and error descriptions. */
typedef struct ca_why {
    ca_reason reason;
    const char *field; /* static string; "" when no field applies */
    char text[CA_WHY_TEXT_MAX];
} ca_why;

/* The enumerator's name without prefix ("BAD_COUNTRY"); "?" outside the enum. */
const char *ca_reason_name(ca_reason r);

/* ---------------------------------------------------------------------------------------------
 * Subjects
 * ------------------------------------------------------------------------------------------- */

typedef enum ca_kind {
    CA_KIND_NATURAL = 1,   /* a signer (QCP-n-qscd) */
    CA_KIND_LEGAL = 2,     /* a seal creator (QCP-l-qscd) */
    CA_KIND_AUTHORITY = 3, /* the CA itself or its OCSP responder */
} ca_kind;

/*
 * Subject input; NUL-terminated UTF-8, NULL for absent.  Per kind:
 *   natural:   country, common_name, serial_number required; given_name and/or surname, or
 *              pseudonym alone; no organization fields.
 *   legal:     country, organization, organization_id, common_name required; no person fields.
 *   authority: country, organization, common_name required; organization_id optional.
 * serial_number is TYPE CC "-" id with TYPE one of PNO, IDC, PAS, TIN; organization_id is
 * TYPE CC "-" id with TYPE one of VAT, NTR, PSD, LEI (EN 319 412-1 5.1.3/5.1.4).  CC is an ISO
 * 3166-1 alpha-2 code; "EL" is accepted for VAT (Greece's VAT prefix), "XG" for LEI.
 */
typedef struct ca_subject {
    ca_kind kind;
    const char *country;         /* countryName (PrintableString) */
    const char *common_name;     /* commonName */
    const char *given_name;      /* givenName */
    const char *surname;         /* surname */
    const char *pseudonym;       /* pseudonym */
    const char *serial_number;   /* serialNumber (PrintableString), e.g. "PNOEE-48010010101" */
    const char *organization;    /* organizationName */
    const char *organization_id; /* organizationIdentifier, e.g. "VATBE-0123456789" */
} ca_subject;

/* Validates `s` against the rules of its kind.  QS_OK, or QS_ERR_INVALID_ARGUMENT with the
 * first violation in *why (why may be NULL). */
QS_MUST_CHECK qs_err ca_subject_validate(const ca_subject *s, ca_why *why);

/* Validates `s` and builds its distinguished name (UTF8String, PrintableString for countryName
 * and serialNumber).  *out is a new X509_NAME owned by the caller, NULL on error. */
QS_MUST_CHECK qs_err ca_subject_to_name(const ca_subject *s, X509_NAME **out, ca_why *why);

/* True when `cc` is an officially assigned ISO 3166-1 alpha-2 code (upper case). */
bool ca_country_valid(const char *cc);

/* ---------------------------------------------------------------------------------------------
 * Profiles
 * ------------------------------------------------------------------------------------------- */

typedef enum ca_qc_type {
    CA_QC_TYPE_ESIGN = 1,
    CA_QC_TYPE_ESEAL = 2,
    CA_QC_TYPE_WEB = 3,
} ca_qc_type;

typedef struct ca_pds {
    const char *url;  /* https URL of the PKI disclosure statement */
    const char *lang; /* ISO 639-1 code, two lower-case letters */
} ca_pds;

/*
 * An end-entity certificate profile.  Strings are borrowed (the configuration owns them).
 * ca_profile_defaults fills the fixed parts; the deployment adds PDS locations, its own policy
 * and CPS, retention and validity.
 */
typedef struct ca_profile {
    ca_kind kind;               /* CA_KIND_NATURAL or CA_KIND_LEGAL */
    const char *name;           /* "qcp-n-qscd", "qcp-l-qscd": for logs */
    const char *policy_oid;     /* the one EN 319 411-2 policy: CA_OID_QCP_N_QSCD / _L_QSCD */
    ca_qc_type qc_type;         /* esign for natural persons, eseal for legal persons */
    const char *tsp_policy_oid; /* the provider's own policy OID, or NULL */
    const char *cps_uri;        /* CPS URI qualifier of tsp_policy_oid, or NULL */
    ca_pds pds[CA_PDS_MAX];     /* QcPDS locations, at least one */
    size_t pds_count;
    unsigned retention_years;              /* QcRetentionPeriod; 0 leaves it out */
    const char *cc_legislation[CA_CC_MAX]; /* QcCClegislation countries; usually none */
    size_t cc_count;
    unsigned validity_days; /* notAfter = notBefore + days */
} ca_profile;

/* Fills *p for a profile name, "qcp-n-qscd" or "qcp-l-qscd": kind, policy, QcType; no PDS, no
 * own policy, validity 365 days.  Unknown name: QS_ERR_INVALID_ARGUMENT, CA_R_UNKNOWN_PROFILE. */
QS_MUST_CHECK qs_err ca_profile_defaults(const char *name, ca_profile *p, ca_why *why);

/* Checks the profile's fields are well formed (syntax: OIDs, URLs, language codes, counts,
 * days).  Compliance rules are ca_profile_check's: they apply to the certificate as built. */
QS_MUST_CHECK qs_err ca_profile_validate(const ca_profile *p, ca_why *why);

/*
 * Checks a built (signed or not) end-entity certificate against its profile and EN 319 412-2 /
 * 319 412-5 / 319 411-2: version 3; serial positive, 8..20 octets; subject as ca_subject_validate
 * for the profile's kind, one attribute per RDN, right string types; accepted key; and exactly
 * these extensions, once each: basicConstraints (critical, cA FALSE), keyUsage (critical,
 * nonRepudiation only), certificatePolicies (exactly one EN 319 411-2 policy, the one the kind
 * requires and the profile names, plus only the profile's own policy and CPS), AKI (key id), SKI,
 * AIA (caIssuers and OCSP, http), CRL distribution points (http), qcStatements (QcCompliance,
 * QcSSCD, QcType of the kind, the profile's QcPDS with https URLs, semantics identifier of the
 * kind, and QcRetentionPeriod / QcCClegislation exactly as the profile says).  policyMappings,
 * nameConstraints, policyConstraints, inhibitAnyPolicy and any other extension are refused.
 * QS_OK, or QS_ERR_INVALID_ARGUMENT with CA_R_PROFILE_CHECK in *why (a malformed profile gives
 * ca_profile_validate's reasons instead).
 */
QS_MUST_CHECK qs_err ca_profile_check(X509 *cert, const ca_profile *p, ca_why *why);

/* ---------------------------------------------------------------------------------------------
 * qcStatements (EN 319 412-5), encoder and decoder
 * ------------------------------------------------------------------------------------------- */

#define CA_QC_TYPES_MAX 4

typedef enum ca_semantics {
    CA_SEMANTICS_NONE = 0,    /* no id-qcs-pkixQCSyntax-v2 statement */
    CA_SEMANTICS_NATURAL = 1, /* 0.4.0.194121.1.1 */
    CA_SEMANTICS_LEGAL = 2,   /* 0.4.0.194121.1.2 */
    CA_SEMANTICS_OTHER = 3,   /* another identifier, or none inside the statement */
} ca_semantics;

typedef struct ca_qc_pds_entry {
    char url[CA_URL_MAX + 1];
    char lang[3];
} ca_qc_pds_entry;

/* qcStatements as plain fields.  Decoding fills every field; encoding reads them (strings are
 * copied into the DER).  Statements the decoder does not know are counted in `unknown`. */
typedef struct ca_qc_info {
    bool compliance;                   /* QcCompliance */
    bool sscd;                         /* QcSSCD */
    size_t type_count;                 /* QcType entries */
    ca_qc_type types[CA_QC_TYPES_MAX]; /* 0 for an OID outside esign/eseal/web */
    size_t pds_count;                  /* QcPDS locations */
    ca_qc_pds_entry pds[CA_PDS_MAX];
    bool has_retention; /* QcRetentionPeriod present */
    long retention_years;
    ca_semantics semantics; /* semantics identifier */
    size_t cc_count;        /* QcCClegislation countries */
    char cc[CA_CC_MAX][3];
    size_t unknown; /* statements of other kinds */
} ca_qc_info;

/* Encodes `qi` as the value of a qcStatements extension (the DER of QCStatements).  *der is
 * malloc'd, the caller frees it.  Statement order: compliance, SSCD, type, PDS, retention,
 * legislation, semantics.  QS_ERR_INVALID_ARGUMENT for counts or strings out of range. */
QS_MUST_CHECK qs_err ca_qc_encode(const ca_qc_info *qi, uint8_t **der, size_t *der_len);

/* Decodes the value of a qcStatements extension.  Malformed DER, trailing bytes, a statement
 * twice, or more entries than the bounds above: QS_ERR_PARSE. */
QS_MUST_CHECK qs_err ca_qc_decode(const uint8_t *der, size_t der_len, ca_qc_info *out);

/* Decodes the qcStatements extension of `cert`.  QS_ERR_NOT_FOUND when it has none. */
QS_MUST_CHECK qs_err ca_qc_from_cert(X509 *cert, ca_qc_info *out);

/* ---------------------------------------------------------------------------------------------
 * Issuing end-entity certificates
 * ------------------------------------------------------------------------------------------- */

typedef struct ca_urls {
    const char *ca_issuers; /* AIA caIssuers: http URL of the CA certificate */
    const char *ocsp;       /* AIA OCSP: http URL of the responder */
    const char *crl;        /* CRL distribution point: http URL */
} ca_urls;

typedef struct ca_issue_params {
    const ca_profile *profile;
    const ca_subject *subject; /* its kind must be the profile's */
    const uint8_t *spki;       /* subject public key, DER SubjectPublicKeyInfo */
    size_t spki_len;
    X509 *ca_cert;    /* issuer */
    EVP_PKEY *ca_key; /* the issuer's private key, wherever it lives */
    const ca_urls *urls;
    time_t now; /* notBefore; 0 for the current time */
} ca_issue_params;

/* A certificate made here. */
typedef struct ca_issued {
    uint8_t *der; /* malloc'd; ca_issued_clear frees it */
    size_t der_len;
    uint8_t serial[CA_SERIAL_MAX]; /* big-endian, as in the certificate */
    size_t serial_len;
    time_t not_before, not_after;
} ca_issued;

/* Frees out->der and zeroes *out.  NULL is a no-op. */
void ca_issued_clear(ca_issued *out);

/*
 * Issues an end-entity certificate: validates the inputs (accepted key types: EC P-256, P-384,
 * P-521; RSA 2048..16384 bits), builds the certificate, runs ca_profile_check on it, and only
 * then signs it with ca_key (ECDSA with SHA-256/384/512 by curve size, RSA PKCS#1 v1.5 SHA-256)
 * and verifies the signature with the CA certificate's key.  The certificate must end within the
 * CA certificate's validity.  *out is filled on QS_OK and zeroed otherwise.
 * Errors: QS_ERR_INVALID_ARGUMENT (why says which input or which profile rule), QS_ERR_CRYPTO,
 * QS_ERR_NOMEM.
 */
QS_MUST_CHECK qs_err ca_issue(const ca_issue_params *p, ca_issued *out, ca_why *why);

/* ---------------------------------------------------------------------------------------------
 * Proof of possession (PKCS#10)
 * ------------------------------------------------------------------------------------------- */

typedef enum ca_sig_alg {
    CA_SIG_ECDSA_SHA256 = 1,
    CA_SIG_ECDSA_SHA384 = 2,
    CA_SIG_ECDSA_SHA512 = 3,
    CA_SIG_RSA_SHA256 = 4, /* PKCS#1 v1.5 */
    CA_SIG_RSA_SHA384 = 5,
    CA_SIG_RSA_SHA512 = 6,
    CA_SIG_RSA_PSS_SHA256 = 7, /* MGF1 with the same hash, salt length = hash length */
    CA_SIG_RSA_PSS_SHA384 = 8,
    CA_SIG_RSA_PSS_SHA512 = 9,
} ca_sig_alg;

/* The OpenSSL digest of `alg` (EVP_sha256() ...); NULL outside the enum. */
const EVP_MD *ca_sig_alg_md(ca_sig_alg alg);

/*
 * Builds the CertificationRequestInfo for `spki` and `subject` (validated as ca_subject_validate;
 * no attributes).  The caller hashes the DER with ca_sig_alg_md(alg), signs the digest with the
 * key (in the HSM: CKM_ECDSA / CKM_RSA_PKCS over DigestInfo / CKM_RSA_PKCS_PSS), and gives the
 * signature to ca_csr_assemble.  *tbs is malloc'd.
 */
QS_MUST_CHECK qs_err ca_csr_build_tbs(const uint8_t *spki, size_t spki_len,
                                      const ca_subject *subject, uint8_t **tbs, size_t *tbs_len,
                                      ca_why *why);

/*
 * Wraps a CertificationRequestInfo and its signature into a PKCS#10 request and checks the
 * result verifies with the request's own key (a wrong signature or algorithm is refused here,
 * CA_R_BAD_CSR).  ECDSA signatures are DER Ecdsa-Sig-Value.  *csr is malloc'd.
 */
QS_MUST_CHECK qs_err ca_csr_assemble(const uint8_t *tbs, size_t tbs_len, ca_sig_alg alg,
                                     const uint8_t *sig, size_t sig_len, uint8_t **csr,
                                     size_t *csr_len, ca_why *why);

/*
 * Proof of possession: parses a DER PKCS#10 request (at most CA_CSR_MAX bytes, no trailing
 * data), verifies its self-signature, and checks that its public key equals `expected_spki` (the
 * credential's key).  When subject is not NULL it receives a copy of the request's subject name
 * (caller frees).  Errors: QS_ERR_PARSE (CA_R_BAD_CSR), QS_ERR_INVALID_ARGUMENT
 * (CA_R_KEY_MISMATCH, CA_R_BAD_KEY), QS_ERR_TOO_LARGE.
 */
QS_MUST_CHECK qs_err ca_csr_verify(const uint8_t *der, size_t der_len, const uint8_t *expected_spki,
                                   size_t expected_spki_len, X509_NAME **subject, ca_why *why);

/* ---------------------------------------------------------------------------------------------
 * CA set-up
 * ------------------------------------------------------------------------------------------- */

typedef struct ca_root_params {
    const ca_subject *subject; /* kind CA_KIND_AUTHORITY */
    unsigned days;
    time_t now; /* notBefore; 0 for the current time */
    /* certificatePolicies of the CA certificate: these OIDs, or anyPolicy when n_policies is 0
     * (so `openssl verify -policy ... -explicit_policy` accepts the leaves it issues). */
    const char *const *policy_oids;
    size_t n_policies;
} ca_root_params;

/*
 * A self-signed CA certificate for `key`: basicConstraints critical cA TRUE pathLen 0, keyUsage
 * critical keyCertSign + cRLSign, SKI, certificatePolicies as in p.  *out is a new X509 the
 * caller frees.
 */
QS_MUST_CHECK qs_err ca_root_selfsigned(EVP_PKEY *key, const ca_root_params *p, X509 **out,
                                        ca_why *why);

/*
 * A PKCS#10 request for `key` to have the CA certified by an external root: subject as given
 * (kind CA_KIND_AUTHORITY), extensionRequest with basicConstraints cA TRUE pathLen 0 and keyUsage
 * keyCertSign + cRLSign, signed with `key`.  *der is malloc'd.
 */
QS_MUST_CHECK qs_err ca_csr_for_external_root(EVP_PKEY *key, const ca_subject *subject,
                                              uint8_t **der, size_t *der_len, ca_why *why);

/*
 * True when `key` is the private key of `cert`: the public keys are equal and a signature made
 * with `key` over a random digest verifies with the certificate's key (so a token whose public
 * and private objects do not belong together is caught).
 */
QS_MUST_CHECK bool ca_cert_matches_key(X509 *cert, EVP_PKEY *key);

/*
 * Issues the OCSP responder certificate for `spki`: subject kind CA_KIND_AUTHORITY, keyUsage
 * critical digitalSignature, extendedKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck,
 * basicConstraints critical cA FALSE, AKI, SKI, validity `days` (1..CA_OCSP_RESPONDER_DAYS_MAX)
 * from `now` (0: current time), inside the CA certificate's validity.
 */
QS_MUST_CHECK qs_err ca_issue_ocsp_responder(X509 *ca_cert, EVP_PKEY *ca_key, const uint8_t *spki,
                                             size_t spki_len, const ca_subject *subject,
                                             unsigned days, time_t now, ca_issued *out,
                                             ca_why *why);

/* ---------------------------------------------------------------------------------------------
 * CRLs
 * ------------------------------------------------------------------------------------------- */

/* CRLReason (RFC 5280 5.3.1).  7 is unused; removeFromCRL belongs to delta CRLs only. */
typedef enum ca_crl_reason {
    CA_CRL_UNSPECIFIED = 0,
    CA_CRL_KEY_COMPROMISE = 1,
    CA_CRL_CA_COMPROMISE = 2,
    CA_CRL_AFFILIATION_CHANGED = 3,
    CA_CRL_SUPERSEDED = 4,
    CA_CRL_CESSATION_OF_OPERATION = 5,
    CA_CRL_CERTIFICATE_HOLD = 6,
    CA_CRL_REMOVE_FROM_CRL = 8,
    CA_CRL_PRIVILEGE_WITHDRAWN = 9,
    CA_CRL_AA_COMPROMISE = 10,
} ca_crl_reason;

typedef struct ca_crl_entry {
    const uint8_t *serial; /* big-endian, 1..CA_SERIAL_MAX octets, positive */
    size_t serial_len;
    time_t revoked_at;
    ca_crl_reason reason; /* CA_CRL_UNSPECIFIED: no reasonCode entry extension */
} ca_crl_entry;

typedef struct ca_crl_params {
    X509 *ca_cert;
    EVP_PKEY *ca_key;
    const ca_crl_entry *entries; /* every revoked certificate, expired ones included */
    size_t n_entries;
    uint64_t crl_number;
    time_t this_update, next_update; /* next_update > this_update */
    /* ExpiredCertsOnCRL: revoked certificates that expired at or after this time stay listed.
     * The CA's notBefore is right when every expired revoked certificate is kept. */
    time_t expired_certs_on_crl;
} ca_crl_params;

/* Builds and signs a v2 CRL: issuer, AKI, cRLNumber, ExpiredCertsOnCRL (GeneralizedTime), and per
 * entry a reasonCode unless unspecified.  Duplicate serials, removeFromCRL and reason 7 are
 * refused (CA_R_BAD_REVOCATION).  *der is malloc'd. */
QS_MUST_CHECK qs_err ca_crl_build(const ca_crl_params *p, uint8_t **der, size_t *der_len,
                                  ca_why *why);

/* ---------------------------------------------------------------------------------------------
 * OCSP (RFC 6960)
 * ------------------------------------------------------------------------------------------- */

#define CA_OCSP_REQUEST_MAX 16384 /* bytes */
#define CA_OCSP_CERTIDS_MAX 16    /* CertIDs in one request */
#define CA_OCSP_NONCE_MAX   32    /* RFC 8954 */
#define CA_OCSP_HASH_MAX    64
#define CA_OCSP_CERTID_MAX  256 /* DER of one CertID */

typedef enum ca_hash {
    CA_HASH_UNKNOWN = 0, /* an algorithm this responder does not compute */
    CA_HASH_SHA1 = 1,
    CA_HASH_SHA256 = 2,
    CA_HASH_SHA384 = 3,
    CA_HASH_SHA512 = 4,
} ca_hash;

typedef struct ca_ocsp_certid {
    ca_hash hash;
    uint8_t name_hash[CA_OCSP_HASH_MAX];
    size_t name_hash_len;
    uint8_t key_hash[CA_OCSP_HASH_MAX];
    size_t key_hash_len;
    uint8_t serial[CA_SERIAL_MAX];   /* magnitude, big-endian */
    size_t serial_len;               /* 0 when the serial cannot be one of ours */
    uint8_t der[CA_OCSP_CERTID_MAX]; /* the CertID as received, echoed in the response */
    size_t der_len;
} ca_ocsp_certid;

typedef struct ca_ocsp_request {
    size_t n;
    ca_ocsp_certid ids[CA_OCSP_CERTIDS_MAX];
    bool has_nonce;
    uint8_t nonce[CA_OCSP_NONCE_MAX];
    size_t nonce_len;
} ca_ocsp_request;

/*
 * Parses a DER OCSPRequest (at most CA_OCSP_REQUEST_MAX bytes, nothing after it) into *req.
 * version v1 (left out, as DER requires); 1..CA_OCSP_CERTIDS_MAX CertIDs, each with its hash
 * algorithm (parameters absent or NULL), hashes of that algorithm's length, and serial; a nonce
 * (RFC 8954: OCTET STRING of 1..32 octets) at most once; no unknown critical extension.  An
 * optional signature is ignored. Anything else: QS_ERR_PARSE (answer it with
 * CA_OCSP_MALFORMED_REQUEST); too long: QS_ERR_TOO_LARGE.  Never reads past `len`.
 */
QS_MUST_CHECK qs_err ca_ocsp_request_parse(const uint8_t *der, size_t len, ca_ocsp_request *req);

typedef enum ca_cert_state {
    CA_CERT_GOOD = 0,
    CA_CERT_REVOKED = 1,
    CA_CERT_UNKNOWN = 2,
} ca_cert_state;

typedef struct ca_cert_status {
    ca_cert_state state;
    time_t revoked_at;    /* CA_CERT_REVOKED only */
    ca_crl_reason reason; /* CA_CERT_REVOKED only; unspecified leaves revocationReason out */
} ca_cert_status;

/* Looks up one serial number (big-endian magnitude) of the CA; any error makes the whole
 * response fail with it (answer with CA_OCSP_TRY_LATER). */
typedef qs_err (*ca_ocsp_lookup_fn)(void *ctx, const uint8_t *serial, size_t serial_len,
                                    ca_cert_status *out);

typedef struct ca_ocsp_response_params {
    const ca_ocsp_request *req;
    ca_ocsp_lookup_fn lookup;
    void *lookup_ctx;
    X509 *responder_cert; /* issued by ca_cert with id-kp-OCSPSigning, or ca_cert itself */
    EVP_PKEY *responder_key;
    X509 *ca_cert;
    time_t archive_cutoff; /* ArchiveCutoff in each SingleResponse */
    time_t this_update, next_update;
} ca_ocsp_response_params;

/*
 * Builds a signed successful response (BasicOCSPResponse, responder id by key, responder
 * certificate included) with one SingleResponse per CertID, in request order.  A CertID whose
 * hash algorithm is known and whose issuer name and key hashes match ca_cert gets the lookup's
 * status; other CertIDs get unknown without a lookup.  When no CertID names this CA the answer is
 * an `unauthorized` response instead.  The request's nonce is echoed.  *der is malloc'd.
 */
QS_MUST_CHECK qs_err ca_ocsp_response_build(const ca_ocsp_response_params *p, uint8_t **der,
                                            size_t *der_len, ca_why *why);

typedef enum ca_ocsp_error {
    CA_OCSP_MALFORMED_REQUEST = 1,
    CA_OCSP_INTERNAL_ERROR = 2,
    CA_OCSP_TRY_LATER = 3,
    CA_OCSP_SIG_REQUIRED = 5,
    CA_OCSP_UNAUTHORIZED = 6,
} ca_ocsp_error;

/* An unsigned OCSPResponse carrying only the error status.  *der is malloc'd. */
QS_MUST_CHECK qs_err ca_ocsp_error_response(ca_ocsp_error status, uint8_t **der, size_t *der_len);

/* ---------------------------------------------------------------------------------------------
 * The CA key in a PKCS#11 token, through libp11 (library qsign_ca_hsm; only the SAM links it)
 * ------------------------------------------------------------------------------------------- */

typedef struct ca_hsm_key ca_hsm_key;

/*
 * Loads the PKCS#11 module, finds the token by label, logs in as user with `pin` (NUL-terminated;
 * the caller keeps and wipes its copy) and finds the one private key labelled `key_label`.
 * Errors: QS_ERR_HSM_UNAVAILABLE, QS_ERR_HSM_TOKEN_NOT_FOUND, QS_ERR_HSM_LOGIN,
 * QS_ERR_HSM_KEY_NOT_FOUND (none, or more than one key with that label).  *out NULL on error.
 */
QS_MUST_CHECK qs_err ca_hsm_key_open(const char *module, const char *token_label, const char *pin,
                                     const char *key_label, ca_hsm_key **out);

/* The key as an EVP_PKEY, valid until ca_hsm_key_close; signing with it runs in the token. */
EVP_PKEY *ca_hsm_key_pkey(const ca_hsm_key *k);

/* Frees the key, logs out and unloads the module.  NULL is a no-op. */
void ca_hsm_key_close(ca_hsm_key *k);

#endif

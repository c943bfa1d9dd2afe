/*
 * Key types and the signature algorithms each can make (OIDs from REFERENCES.md).  A key signs
 * a digest it is given: ECDSA over SHA-256/384/512 digests; RSA as PKCS#1 v1.5 with a
 * DigestInfo (sha*WithRSAEncryption, or rsaEncryption with hashAlgorithmOID) and RSASSA-PSS.
 */
#include <string.h>

#include <openssl/obj_mac.h>

#include "api/api_internal.h"

#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_ECDSA_SHA384 "1.2.840.10045.4.3.3"
#define OID_ECDSA_SHA512 "1.2.840.10045.4.3.4"
#define OID_RSA          "1.2.840.113549.1.1.1"
#define OID_RSA_PSS      "1.2.840.113549.1.1.10"
#define OID_RSA_SHA256   "1.2.840.113549.1.1.11"
#define OID_RSA_SHA384   "1.2.840.113549.1.1.12"
#define OID_RSA_SHA512   "1.2.840.113549.1.1.13"
#define OID_P256         "1.2.840.10045.3.1.7"
#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_SHA384       "2.16.840.1.101.3.4.2.2"
#define OID_SHA512       "2.16.840.1.101.3.4.2.3"
#define OID_P384         "1.3.132.0.34"

static const char *const ec_algos[] = {OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512, NULL};
static const char *const rsa_algos[] = {OID_RSA_SHA256, OID_RSA_SHA384, OID_RSA_SHA512,
                                        OID_RSA_PSS,    OID_RSA,        NULL};
static const char *const all_algos[] = {OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_ECDSA_SHA512,
                                        OID_RSA_SHA256,   OID_RSA_SHA384,   OID_RSA_SHA512,
                                        OID_RSA_PSS,      OID_RSA,          NULL};

static const api_key_alg key_algs[] = {
    {"ec-p256", 256, OID_P256, ec_algos}, {"ec-p384", 384, OID_P384, ec_algos},
    {"rsa-2048", 2048, NULL, rsa_algos},  {"rsa-3072", 3072, NULL, rsa_algos},
    {"rsa-4096", 4096, NULL, rsa_algos},
};

const api_key_alg *api_key_alg_find(const char *db_name)
{
    for (size_t i = 0; i < sizeof key_algs / sizeof key_algs[0]; i++)
        if (strcmp(key_algs[i].db_name, db_name) == 0)
            return &key_algs[i];
    return NULL;
}

const char *const *api_sign_algos(void)
{
    return all_algos;
}

static const api_hash_alg hash_algs[] = {
    {OID_SHA256, QS_SAM_HASH_SHA256, 32, NID_sha256},
    {OID_SHA384, QS_SAM_HASH_SHA384, 48, NID_sha384},
    {OID_SHA512, QS_SAM_HASH_SHA512, 64, NID_sha512},
};
#define N_HASH (sizeof hash_algs / sizeof hash_algs[0])

static bool oid_is(const char *oid, const char *s, size_t len)
{
    return strlen(oid) == len && memcmp(oid, s, len) == 0;
}

const api_hash_alg *api_hash_alg_find(const char *oid, size_t oid_len)
{
    for (size_t i = 0; i < N_HASH; i++)
        if (oid_is(hash_algs[i].oid, oid, oid_len))
            return &hash_algs[i];
    return NULL;
}

const api_hash_alg *api_hash_alg_by_len(size_t len)
{
    for (size_t i = 0; i < N_HASH; i++)
        if (hash_algs[i].len == len)
            return &hash_algs[i];
    return NULL;
}

const api_hash_alg *api_hash_alg_by_nid(int nid)
{
    for (size_t i = 0; i < N_HASH; i++)
        if (hash_algs[i].nid == nid)
            return &hash_algs[i];
    return NULL;
}

static const api_sign_alg sign_algs[] = {
    {OID_ECDSA_SHA256, QS_SAM_SIG_ECDSA, &hash_algs[0], false},
    {OID_ECDSA_SHA384, QS_SAM_SIG_ECDSA, &hash_algs[1], false},
    {OID_ECDSA_SHA512, QS_SAM_SIG_ECDSA, &hash_algs[2], false},
    {OID_RSA_SHA256, QS_SAM_SIG_RSA_PKCS1, &hash_algs[0], false},
    {OID_RSA_SHA384, QS_SAM_SIG_RSA_PKCS1, &hash_algs[1], false},
    {OID_RSA_SHA512, QS_SAM_SIG_RSA_PKCS1, &hash_algs[2], false},
    {OID_RSA, QS_SAM_SIG_RSA_PKCS1, NULL, false},
    {OID_RSA_PSS, QS_SAM_SIG_RSA_PSS, NULL, true},
};

const api_sign_alg *api_sign_alg_find(const char *oid, size_t oid_len)
{
    for (size_t i = 0; i < sizeof sign_algs / sizeof sign_algs[0]; i++)
        if (oid_is(sign_algs[i].oid, oid, oid_len))
            return &sign_algs[i];
    return NULL;
}

bool api_key_alg_allows(const api_key_alg *alg, const char *oid, size_t oid_len)
{
    for (const char *const *a = alg->algos; *a != NULL; a++)
        if (oid_is(*a, oid, oid_len))
            return true;
    return false;
}

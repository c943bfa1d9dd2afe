/*
 * RSASSA-PSS parameters from signAlgoParams (DER RSASSA-PSS-params, RFC 4055), parsed with
 * OpenSSL.  The SAM takes the parameters as two integers (it parses no ASN.1 from its peer),
 * so they are checked here, and only the ones matching the digest are accepted.
 */
#define QS_LOG_MODULE "api"
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "api/api_internal.h"

/* The NID of a hash AlgorithmIdentifier whose parameters are absent or NULL; NID_undef else. */
static int hash_nid(const X509_ALGOR *a)
{
    const ASN1_OBJECT *obj = NULL;
    int ptype = V_ASN1_UNDEF;
    const void *pval = NULL;
    X509_ALGOR_get0(&obj, &ptype, &pval, a);
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
        return NID_undef;
    return OBJ_obj2nid(obj);
}

qs_err api_pss_params(const uint8_t *der, size_t len, const api_hash_alg *hash,
                      const api_hash_alg **out)
{
    const unsigned char *p = der;
    RSA_PSS_PARAMS *pss = NULL;
    X509_ALGOR *mgf_hash = NULL;
    qs_err r = QS_ERR_INVALID_ARGUMENT;

    if (out != NULL)
        *out = NULL;
    if (len == 0 || len > 1024)
        return r;
    pss = d2i_RSA_PSS_PARAMS(NULL, &p, (long)len);
    if (pss == NULL || p != der + len)
        goto out;
    /* hashAlgorithm: default SHA-1, never accepted. */
    if (pss->hashAlgorithm == NULL)
        goto out;
    const api_hash_alg *h = api_hash_alg_by_nid(hash_nid(pss->hashAlgorithm));
    if (h == NULL || (hash != NULL && h != hash))
        goto out;
    /* maskGenAlgorithm: MGF1 with the same hash. */
    if (pss->maskGenAlgorithm == NULL || OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1)
        goto out;
    const ASN1_TYPE *param = pss->maskGenAlgorithm->parameter;
    if (param == NULL || param->type != V_ASN1_SEQUENCE)
        goto out;
    const unsigned char *q = param->value.sequence->data;
    long qlen = param->value.sequence->length;
    mgf_hash = d2i_X509_ALGOR(NULL, &q, qlen);
    if (mgf_hash == NULL || q != param->value.sequence->data + qlen ||
        api_hash_alg_by_nid(hash_nid(mgf_hash)) != h)
        goto out;
    /* saltLength: default 20, so it must be given, equal to the digest length. */
    if (pss->saltLength == NULL || ASN1_INTEGER_get(pss->saltLength) != (long)h->len)
        goto out;
    /* trailerField: 1 (the default). */
    if (pss->trailerField != NULL && ASN1_INTEGER_get(pss->trailerField) != 1)
        goto out;
    if (out != NULL)
        *out = h;
    r = QS_OK;
out:
    X509_ALGOR_free(mgf_hash);
    RSA_PSS_PARAMS_free(pss);
    return r;
}

/*
 * POST /csc/v2/signatures/signDoc with documentDigests: detached CAdES-B-B signatures of
 * document digests the SAD authorized, built inside the SAM (SIGN_DOC) from the authorized
 * digest, with the credential's certificate and the CA's.  CSC 1.0.4.0 has no signDoc: v2 only.
 *
 * Each documentDigests entry is {hashes, hashAlgorithmOID, signature_format, conformance_level,
 * signAlgo, signAlgoParams, signed_envelope_property} (CSC v2); what this service makes is
 * signature_format "C" (CAdES), conformance_level "Ades-B-B" (the default when absent),
 * signed_envelope_property "Detached" (the only packaging a digest allows; absent is accepted).
 * Any other value is "Invalid parameter <field>" from the field spec; `documents` (whole
 * documents), signed_props, signatureQualifier, operationMode and returnValidationInfo are not
 * offered ("Unknown parameter").  The SAD binds one digest algorithm and the SAM signs with one
 * scheme per request, so every entry must name the same signAlgo and digest algorithm.
 *
 * qsignd checks what it can see exactly as signHash does (api/signing.c, same error table);
 * the answer is {"DocumentWithSignature": [], "SignatureObject": [base64 DER CMS, one per
 * digest, in request order, entries in turn]}.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

#define SIGN_ALGO_PARAMS_MAX 1024 /* bytes of base64 */

static const char *const formats[] = {API_SIGN_DOC_FORMAT, NULL};
static const char *const levels[] = {API_SIGN_DOC_LEVEL, NULL};
static const char *const envelopes[] = {API_SIGN_DOC_ENVELOPE, NULL};

static const api_field_spec digest_spec[] = {
    {.field = API_F_HASHES,
     .type = API_T_STRINGS,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = API_SIGN_DOC_MAX,
     .elem_min = 4,
     .elem_max = 88,
     .flags = API_FS_BASE64},
    {.field = API_F_HASH_ALGO,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SIGNATURE_FORMAT,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 8,
     .allowed = formats},
    {.field = API_F_CONFORMANCE_LEVEL,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 16,
     .allowed = levels},
    {.field = API_F_SIGN_ALGO,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SIGN_ALGO_PARAMS,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 4,
     .max = SIGN_ALGO_PARAMS_MAX,
     .flags = API_FS_BASE64},
    {.field = API_F_SIGNED_ENVELOPE_PROPERTY,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 16,
     .allowed = envelopes},
};

static const api_field_spec spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 128},
    {.field = API_F_SAD,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 128,
     .flags = API_FS_TOKEN | API_FS_SECRET},
    {.field = API_F_DOCUMENT_DIGESTS,
     .type = API_T_OBJECTS,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = API_SIGN_DOC_MAX,
     .sub = digest_spec,
     .nsub = sizeof digest_spec / sizeof digest_spec[0]},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

/* The digests of every entry, in order, into one list (*buf holds the bytes; free both).  The
 * entries must agree on the algorithms.  Replies and returns false on a refusal. */
static bool collect(api_request *rq, const char *key_alg, const api_sign_alg **sa,
                    const api_hash_alg **hash, uint8_t **buf, qs_sam_bytes **list, size_t *n)
{
    const api_param *entries = &rq->p.f[API_F_DOCUMENT_DIGESTS];
    uint8_t *b = NULL;
    qs_sam_bytes *l = NULL;
    size_t total = 0;
    char desc[API_DESC_MAX];

    *buf = NULL;
    *list = NULL;
    *n = 0;
    for (size_t e = 0; e < entries->n; e++) {
        api_params ep;
        const api_sign_alg *esa = NULL;
        const api_hash_alg *ehash = NULL;
        uint8_t *eb = NULL;
        qs_sam_bytes *el = NULL;
        /* checked by the spec parser already: this cannot fail but for memory */
        qs_err r =
            api_spec_parse(json_array_get(entries->a, e), rq->ver, digest_spec,
                           sizeof digest_spec / sizeof digest_spec[0], &ep, desc, sizeof desc);
        if (r != QS_OK) {
            api_reply_error(rq, r, desc[0] != '\0' ? desc : NULL);
            goto fail;
        }
        if (!api_sign_algorithms(rq, &ep, key_alg, &esa, &ehash))
            goto fail;
        if (e > 0 && esa != *sa) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                             api_field_name(rq->ver, API_F_SIGN_ALGO));
            goto fail;
        }
        if (e > 0 && ehash != *hash) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                             api_field_name(rq->ver, API_F_HASH_ALGO));
            goto fail;
        }
        *sa = esa;
        *hash = ehash;
        size_t k = ep.f[API_F_HASHES].n;
        if (total + k > API_SIGN_DOC_MAX) {
            api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                             api_field_name(rq->ver, API_F_DOCUMENT_DIGESTS));
            goto fail;
        }
        if (!api_digests(rq, &ep.f[API_F_HASHES], ehash, NULL, &eb, &el))
            goto fail;
        uint8_t *nb = realloc(b, (total + k) * API_DIGEST_MAX);
        qs_sam_bytes *nl = realloc(l, (total + k) * sizeof *nl);
        if (nb != NULL)
            b = nb;
        if (nl != NULL)
            l = nl;
        if (nb == NULL || nl == NULL) {
            free(eb);
            free(el);
            api_reply_error(rq, QS_ERR_NOMEM, NULL);
            goto fail;
        }
        for (size_t i = 0; i < k; i++)
            memcpy(b + (total + i) * API_DIGEST_MAX, el[i].p, el[i].len);
        for (size_t i = 0; i < k; i++)
            l[total + i].len = el[i].len;
        total += k;
        free(eb);
        free(el);
    }
    /* the list points into b only now that b has stopped moving */
    for (size_t i = 0; i < total; i++) {
        l[i].p = b + i * API_DIGEST_MAX;
        for (size_t j = 0; j < i; j++) {
            if (l[j].len == l[i].len && memcmp(l[j].p, l[i].p, l[i].len) == 0) {
                api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                                 api_field_name(rq->ver, API_F_HASHES));
                goto fail;
            }
        }
    }
    *buf = b;
    *list = l;
    *n = total;
    return true;
fail:
    free(b);
    free(l);
    return false;
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    uint8_t cred_id[API_UUID_LEN];
    qs_db_api_credential cred;
    const api_sign_alg *sa = NULL;
    const api_hash_alg *hash = NULL;
    uint8_t *buf = NULL;
    qs_sam_bytes *list = NULL;
    size_t n = 0;
    char cred_str[API_UUID_STR_LEN + 1];

    if (!api_sign_credential(rq, &p->f[API_F_CREDENTIAL_ID], cred_id, &cred) ||
        !collect(rq, cred.key_alg, &sa, &hash, &buf, &list, &n))
        return;
    api_uuid_format(cred_id, cred_str);
    json_t *a = api_sign_send(rq, cred_str, sa, hash, list, n, true);
    if (a != NULL)
        api_reply_json(rq, 200,
                       json_pack("{s:[], s:o}", "DocumentWithSignature", "SignatureObject", a));
    free(buf);
    free(list);
}

const api_endpoint api_ep_signatures_sign_doc = {
    .name = "signatures/signDoc",
    .method = "POST",
    .versions = API_V2_BIT,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};

/*
 * POST /csc/v{1,2}/signatures/signHash: signs digests the SAD authorized, through the SAM.
 * qsignd checks what it can see (api/signing.c): signAlgo must be one of the key's algorithms
 * (key/algo); the digest algorithm is the one signAlgo implies, or hashAlgorithmOID (needed for
 * rsaEncryption), or the one of the RSASSA-PSS parameters; every digest has that algorithm's
 * length; PSS parameters must match the digest (hash, MGF1 hash, salt length).  Signatures come
 * back in the order of the digests, base64.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "db/db_api.h"
#include "util/log.h"

#define SIGN_ALGO_PARAMS_MAX 1024 /* bytes of base64 */

static const api_field_spec spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 128},
    {.field = API_F_HASHES,
     .type = API_T_STRINGS,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_HASHES_MAX,
     .elem_min = 4,
     .elem_max = 88,
     .flags = API_FS_BASE64},
    {.field = API_F_HASH_ALGO,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SAD,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 128,
     .flags = API_FS_TOKEN | API_FS_SECRET},
    {.field = API_F_SIGN_ALGO,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_SIGN_ALGO_PARAMS,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 4,
     .max = SIGN_ALGO_PARAMS_MAX,
     .flags = API_FS_BASE64},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    uint8_t cred_id[API_UUID_LEN];
    qs_db_api_credential cred;
    const api_sign_alg *sa = NULL;
    const api_hash_alg *hash = NULL;
    uint8_t *buf = NULL;
    qs_sam_bytes *list = NULL;
    char cred_str[API_UUID_STR_LEN + 1];

    if (!api_sign_credential(rq, &p->f[API_F_CREDENTIAL_ID], cred_id, &cred) ||
        !api_sign_algorithms(rq, p, cred.key_alg, &sa, &hash) ||
        !api_digests(rq, &p->f[API_F_HASHES], hash, NULL, &buf, &list))
        return;
    api_uuid_format(cred_id, cred_str);
    json_t *a = api_sign_send(rq, cred_str, sa, hash, list, p->f[API_F_HASHES].n, false);
    if (a != NULL)
        api_reply_json(rq, 200, json_pack("{s:o}", "signatures", a));
    free(buf);
    free(list);
}

const api_endpoint api_ep_signatures_sign_hash = {
    .name = "signatures/signHash",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};

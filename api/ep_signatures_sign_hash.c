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
    qs_sam_client *c = NULL;
    qs_sam_signatures sigs = {0};
    char cred_str[API_UUID_STR_LEN + 1];
    qs_err r;

    if (!api_sign_credential(rq, &p->f[API_F_CREDENTIAL_ID], cred_id, &cred) ||
        !api_sign_algorithms(rq, p, cred.key_alg, &sa, &hash) ||
        !api_digests(rq, &p->f[API_F_HASHES], hash, NULL, &buf, &list))
        return;
    api_uuid_format(cred_id, cred_str);
    qs_sam_sign_req req = {
        .user_id = rq->user_id_str,
        .credential_id = cred_str,
        .sad = p->f[API_F_SAD].s,
        .hash_alg = hash->sam,
        .hashes = list,
        .n_hashes = p->f[API_F_HASHES].n,
        .scheme = sa->scheme,
        .has_pss_salt_len = sa->pss,
        .has_pss_mgf_hash = sa->pss,
        .pss_salt_len = (uint32_t)hash->len,
        .pss_mgf_hash = hash->sam,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_sign(c, &req, &sigs);
    if (r == QS_OK && sigs.n != req.n_hashes) {
        qs_error("SAM returned %zu signatures for %zu digests", sigs.n, req.n_hashes);
        r = QS_ERR_PROTO;
    }
    if (r != QS_OK) {
        api_reply_sam_error(rq, c, r);
        goto out;
    }
    json_t *a = api_b64_array(sigs.sig, sigs.len, sigs.n);
    if (a == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < sigs.n; i++)
        api_count(rq, API_C_SIGNATURES);
    qs_info("signed credential=%s signatures=%zu", cred_str, sigs.n);
    api_anomaly_signed(rq, cred_str, sigs.n);
    api_reply_json(rq, 200, json_pack("{s:o}", "signatures", a));
out:
    qs_sam_signatures_free(&sigs);
    qs_sam_client_close(c);
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

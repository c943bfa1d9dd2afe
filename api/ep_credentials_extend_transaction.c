/*
 * POST /csc/v{1,2}/credentials/extendTransaction: a new SAD for more digests under an SAD
 * still valid (nested signatures, where the next digest depends on the previous signature).
 * The SAM checks the SAD belongs to the caller and the credential.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

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
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_hash_alg *hash = NULL;
    uint8_t *buf = NULL;
    qs_sam_bytes *list = NULL;
    qs_sam_client *c = NULL;
    char cred_str[API_UUID_STR_LEN + 1];
    char sad[QS_SAM_SAD_BUF] = "";
    uint32_t expires_in = 0;
    qs_err r;

    if (!api_sad_target(rq, &hash, cred_str))
        return;
    if (!api_digests(rq, &p->f[API_F_HASHES], hash, &hash, &buf, &list))
        return;
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_extend(c, rq->user_id_str, cred_str, hash->sam, list,
                                 p->f[API_F_HASHES].n, p->f[API_F_SAD].s, sad, &expires_in);
    if (r != QS_OK) {
        api_reply_sam_error(rq, c, r);
        goto out;
    }
    qs_info("extended credential=%s hashes=%zu expires_in=%u", cred_str, p->f[API_F_HASHES].n,
            expires_in);
    api_reply_sad(rq, sad, expires_in);
out:
    qs_wipe(sad, sizeof sad);
    qs_sam_client_close(c);
    free(buf);
    free(list);
}

const api_endpoint api_ep_credentials_extend_transaction = {
    .name = "credentials/extendTransaction",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};

/*
 * POST /csc/v{1,2}/credentials/authorize: the signer's PIN and OTP and the exact digests to be
 * signed go to the SAM, which verifies the factors and returns an SAD bound to them (SCAL2).
 * qsignd checks the form (digest lengths, counts, the factors present) and forgets the factors
 * when the request ends.  v2 carries the factors in authData [{id, value}] with the ids of
 * credentials/info ("PIN", "OTP"); v1 in PIN and OTP.  Without hashAlgorithmOID (v1 has none)
 * the digest length names the hash.  Attempts are rate limited per address and per signer.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

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
    {.field = API_F_NUM_SIGNATURES,
     .type = API_T_INT,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_MULTISIGN_MAX},
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
    {.field = API_F_AUTH_DATA,
     .type = API_T_AUTHDATA,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 4,
     .elem_min = 1,
     .elem_max = 64,
     .flags = API_FS_SECRET},
    {.field = API_F_PIN,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V1_BIT,
     .min = 1,
     .max = 64,
     .flags = API_FS_SECRET},
    {.field = API_F_OTP,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V1_BIT,
     .min = 1,
     .max = 16,
     .flags = API_FS_SECRET},
    {.field = API_F_DESCRIPTION,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 500},
    {.field = API_F_CLIENT_DATA,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = API_CLIENT_DATA_MAX},
};

/* The PIN and OTP of v2 authData: each exactly once, nothing else. */
static bool auth_data(const api_param *p, const char **pin, const char **otp)
{
    *pin = *otp = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const json_t *el = json_array_get(p->a, i);
        const char *id = json_string_value(json_object_get(el, "id"));
        const char *value = json_string_value(json_object_get(el, "value"));
        const char **slot = strcmp(id, "PIN") == 0 ? pin : strcmp(id, "OTP") == 0 ? otp : NULL;
        if (slot == NULL || *slot != NULL)
            return false;
        *slot = value;
    }
    return *pin != NULL && *otp != NULL;
}

static bool is_factor_failure(qs_err e)
{
    return e == QS_ERR_AUTH_PIN || e == QS_ERR_AUTH_OTP || e == QS_ERR_AUTH_REPLAY ||
           e == QS_ERR_AUTH_FAILED || e == QS_ERR_AUTH_LOCKED;
}

static void handle(api_request *rq)
{
    const api_params *p = &rq->p;
    const api_hash_alg *hash = NULL;
    uint8_t *buf = NULL;
    qs_sam_bytes *list = NULL;
    qs_sam_client *c = NULL;
    const char *pin = NULL, *otp = NULL;
    char cred_str[API_UUID_STR_LEN + 1];
    char sad[QS_SAM_SAD_BUF] = "";
    uint32_t expires_in = 0;
    qs_err r;

    if (!api_rate_limit_attempt(rq, API_RL_USER_ID, rq->user_id_str))
        return;
    if (p->f[API_F_NUM_SIGNATURES].i > api_cfg(rq)->csc_multisign) {
        api_reply_error(rq, QS_ERR_TOO_MANY_SIGNATURES, NULL);
        return;
    }
    if (!api_sad_target(rq, &hash, cred_str))
        return;
    if (rq->ver == API_V1) {
        pin = p->f[API_F_PIN].s;
        otp = p->f[API_F_OTP].s;
    } else if (!auth_data(&p->f[API_F_AUTH_DATA], &pin, &otp)) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_AUTH_DATA));
        return;
    }
    if (!api_digests(rq, &p->f[API_F_HASHES], hash, &hash, &buf, &list))
        return;
    if ((int64_t)p->f[API_F_HASHES].n > p->f[API_F_NUM_SIGNATURES].i) {
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_NUM_SIGNATURES));
        goto out;
    }
    qs_sam_authorize_req req = {
        .user_id = rq->user_id_str,
        .credential_id = cred_str,
        .pin = pin,
        .otp = otp,
        .num_signatures = (uint32_t)p->f[API_F_NUM_SIGNATURES].i,
        .hash_alg = hash->sam,
        .hashes = list,
        .n_hashes = p->f[API_F_HASHES].n,
        .description = p->f[API_F_DESCRIPTION].present ? p->f[API_F_DESCRIPTION].s : NULL,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_authorize(c, &req, sad, &expires_in);
    if (r != QS_OK) {
        if (is_factor_failure(r)) {
            api_rate_limit_failure(rq, API_RL_USER_ID, rq->user_id_str);
            api_anomaly_auth_failure(rq, "credential", cred_str, cred_str);
        }
        if (c != NULL && qs_sam_client_locked(c))
            api_anomaly_lockout(rq, "credential", cred_str);
        api_reply_sam_error(rq, c, r);
        goto out;
    }
    qs_info("authorized credential=%s hashes=%zu expires_in=%u", cred_str, p->f[API_F_HASHES].n,
            expires_in);
    api_reply_sad(rq, sad, expires_in);
out:
    qs_wipe(sad, sizeof sad);
    qs_sam_client_close(c);
    free(buf);
    free(list);
}

const api_endpoint api_ep_credentials_authorize = {
    .name = "credentials/authorize",
    .method = "POST",
    .versions = API_V_BOTH,
    .spec = spec,
    .nspec = sizeof spec / sizeof spec[0],
    .auth = API_AUTH_BEARER,
    .handler = handle,
};

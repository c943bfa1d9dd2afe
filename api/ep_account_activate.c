/*
 * POST /account/v1/activate (the signer's access token, from auth/login): the signer sets the
 * signing PIN with the activation code the officer handed over; the SAM creates the TOTP
 * authenticator.  {"activationCode", "PIN"}; 200 with otpauthURI, shown once (it holds the
 * seed).  Until this is done none of the signer's credentials can be authorized.  A wrong,
 * used or expired code is "Invalid activation code".
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"
#include "util/secret.h"

static void handle(api_request *rq)
{
    const char *code = NULL, *pin = NULL;
    char desc[API_DESC_MAX];
    char *uri = NULL;
    qs_sam_client *c = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_activate_parse(rq->json, &code, &pin, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if (!api_rate_limit_attempt(rq, API_RL_USER_ID, rq->user_id_str))
        return;
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_activate(c, rq->user_id_str, code, pin, NULL, NULL, &uri);
    switch (r) {
    case QS_OK:
        qs_info("signer %s activated", rq->user_id_str);
        api_reply_json(rq, 200, json_pack("{s:s}", "otpauthURI", uri));
        break;
    case QS_ERR_AUTH_FAILED:
    case QS_ERR_MAC:
        api_rate_limit_failure(rq, API_RL_USER_ID, rq->user_id_str);
        api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "Invalid activation code");
        break;
    case QS_ERR_AUTH_POLICY:
        api_reply_errorf(rq, r, "Invalid parameter PIN: %s", qs_sam_client_error(c));
        break;
    case QS_ERR_FORBIDDEN:
        api_reply_error(rq, QS_ERR_INVALID_ARGUMENT, "The account is activated already");
        break;
    default:
        api_reply_sam_error(rq, c, r);
        break;
    }
    qs_secret_free(uri);
    qs_sam_client_close(c);
}

const api_endpoint api_ep_account_activate = {
    .name = "account/activate",
    .method = "POST",
    .auth = API_AUTH_BEARER,
    .handler = handle,
};

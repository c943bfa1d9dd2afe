/*
 * POST /ra/v1/credentials/unlock (RA session): after re-identifying the signer, the officer
 * unlocks a credential the failure counter locked.  {"credentialID", "reason"}; 204.
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"

static void handle(api_request *rq)
{
    api_ra_unlock in;
    char desc[API_DESC_MAX];
    qs_sam_client *c = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_unlock_parse(rq->json, &in, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_unlock(c, in.credential_id, NULL, in.reason, rq->ra_session);
    if (r != QS_OK)
        api_ra_reply_sam_error(rq, c, r, "credentialID");
    else
        api_reply_no_content(rq);
    qs_sam_client_close(c);
}

const api_endpoint api_ep_ra_credentials_unlock = {
    .name = "ra/credentials/unlock",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};

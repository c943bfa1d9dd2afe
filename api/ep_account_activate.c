/*
 * POST /account/v1/activate (the signer's access token, from auth/login): the signer sets the
 * signing PIN with the activation code the officer handed over; the SAM creates the TOTP
 * authenticator.  {"activationCode", "PIN"}; 200 with otpauthURI and otpauthQR (the URI as a
 * QR code in SVG, for the web page), shown once (both hold the seed: never logged).  Until
 * this is done none of the signer's credentials can be authorized.  A wrong, used or expired
 * code is "Invalid activation code".
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"
#include "util/secret.h"

/* The URI and its QR code.  The factors are set by now and the URI cannot be asked for again,
 * so a QR code that cannot be drawn (memory) leaves the URI alone in the answer. */
static void reply_activated(api_request *rq, const char *uri)
{
    char *svg = NULL;
    size_t svg_len = 0;
    json_t *o = json_pack("{s:s}", "otpauthURI", uri);
    qs_err r = api_qr_svg(uri, &svg, &svg_len);
    if (r != QS_OK)
        qs_warn("activation: no QR code for the otpauth URI: %s", qs_err_name(r));
    else if (o != NULL && json_object_set_new(o, "otpauthQR", json_stringn(svg, svg_len)) != 0)
        qs_warn("activation: no QR code for the otpauth URI: out of memory");
    if (svg != NULL)
        qs_free_wiped(svg, svg_len + 1);
    api_reply_json(rq, 200, o);
}

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
        reply_activated(rq, uri);
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

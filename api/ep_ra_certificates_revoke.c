/*
 * POST /ra/v1/certificates/revoke (RA session): revokes a certificate, by serialNumber (hex) or
 * by its credentialID, with an RFC 5280 reason given by name ("keyCompromise") or code (1).
 * The SAM destroys the credential's key with it and publishes a new CRL; OCSP answers revoked
 * at once.  {"serialNumber" | "credentialID", "reason", "comment"}; 200 with serialNumber and
 * reason.
 */
#define QS_LOG_MODULE "api"
#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"

static void handle(api_request *rq)
{
    api_ra_revoke in;
    char desc[API_DESC_MAX];
    qs_sam_client *c = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_revoke_parse(rq->json, &in, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    qs_sam_revoke_req q = {
        .serial = in.by_serial ? in.serial : NULL,
        .serial_len = in.serial_len,
        .credential_id = in.credential_id,
        .crl_reason = in.reason,
        .reason = in.comment,
        .ra_session = rq->ra_session,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_revoke(c, &q);
    if (r != QS_OK) {
        api_ra_reply_sam_error(rq, c, r, in.by_serial ? "serialNumber" : "credentialID");
    } else {
        qs_info("certificate revoked (%s) by officer %s", api_ra_reason_name(in.reason),
                rq->user_id_str);
        api_reply_json(
            rq, 200,
            json_pack("{s:s, s:s}", "status", "revoked", "reason", api_ra_reason_name(in.reason)));
    }
    qs_sam_client_close(c);
}

const api_endpoint api_ep_ra_certificates_revoke = {
    .name = "ra/certificates/revoke",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};

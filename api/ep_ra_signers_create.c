/*
 * POST /ra/v1/signers/create (RA session): registers a signer after identity validation.
 *   {"username", "profile" (qcp-n-qscd | qcp-l-qscd), "subject": {countryName, commonName,
 *    givenName, surname, pseudonym, serialNumber, organizationName, organizationIdentifier},
 *    "evidence": {method physical|remote, documentType, documentNumber, issuingCountry, notes}}
 * Every field is checked here first (api_ra_signer_parse: the subject as the CA checks it); a
 * bad one is a 400 naming it and nothing is sent to the SAM.  The SAM registers the signer,
 * their evidence and an activation code in one transaction.  201 with userID, activationCode
 * (shown once: the officer hands it to the signer) and activationExpires.
 */
#define QS_LOG_MODULE "api"
#include <string.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"
#include "util/secret.h"

static void handle(api_request *rq)
{
    api_ra_signer in;
    char desc[API_DESC_MAX];
    char id[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF], when[16];
    uint64_t expires = 0;
    qs_sam_client *c = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_signer_parse(rq->json, &in, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    qs_sam_signer_req q = {
        .username = in.username,
        .profile = in.profile,
        .country = in.subject.country,
        .common_name = in.subject.common_name,
        .given_name = in.subject.given_name,
        .surname = in.subject.surname,
        .pseudonym = in.subject.pseudonym,
        .serial_number = in.subject.serial_number,
        .organization = in.subject.organization,
        .organization_id = in.subject.organization_id,
        .method = in.method,
        .document_type = in.document_type,
        .document_number = in.document_number,
        .document_country = in.issuing_country,
        .notes = in.notes,
        .ra_session = rq->ra_session,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_create_signer(c, &q, id, code, &expires);
    if (r != QS_OK) {
        api_ra_reply_sam_error(rq, c, r, "username");
        goto out;
    }
    api_ra_time((int64_t)expires, when);
    qs_info("signer %s registered by officer %s", id, rq->user_id_str);
    api_reply_json(rq, 201,
                   json_pack("{s:s, s:s, s:s}", "userID", id, "activationCode", code,
                             "activationExpires", when));
out:
    qs_wipe(code, sizeof code);
    qs_sam_client_close(c);
}

const api_endpoint api_ep_ra_signers_create = {
    .name = "ra/signers/create",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};

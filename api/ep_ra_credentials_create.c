/*
 * POST /ra/v1/credentials/create (RA session): a new credential for a registered signer: the
 * SAM generates the key in the HSM, proves possession through PKCS#10, and has the CA issue the
 * qualified certificate from the signer's identity evidence (ISSUE_CERT with USER_ID and
 * KEY_ALG).  {"userID", "keyAlgo" (default ec-p256), "profile"}.  A certificate the profile
 * check refuses leaves nothing behind.  201 with credentialID, serialNumber (hex) and
 * certificate (base64 DER).
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "api/ra.h"
#include "util/log.h"

static void handle(api_request *rq)
{
    api_ra_credential in;
    char desc[API_DESC_MAX];
    char id[QS_SAM_ID_BUF];
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    char *b64 = NULL;
    qs_sam_client *c = NULL;
    qs_err r;

    if ((r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc)) != QS_OK ||
        (r = api_ra_credential_parse(rq->json, &in, desc, sizeof desc)) != QS_OK) {
        api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
        return;
    }
    qs_sam_issue_req q = {
        .user_id = in.user_id,
        .alg = in.alg,
        .profile = in.profile,
        .ra_session = rq->ra_session,
    };
    if ((r = api_sam_open(api_cfg(rq), &c)) == QS_OK)
        r = qs_sam_client_issue_cert(c, &q, id, &cert, &cert_len, serial, &serial_len);
    if (r != QS_OK) {
        api_ra_reply_sam_error(rq, c, r, "userID");
        goto out;
    }
    char hex[2 * 20 + 1];
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < serial_len; i++) {
        hex[2 * i] = digits[serial[i] >> 4];
        hex[2 * i + 1] = digits[serial[i] & 15];
    }
    hex[2 * serial_len] = '\0';
    size_t cap = sodium_base64_ENCODED_LEN(cert_len, sodium_base64_VARIANT_ORIGINAL);
    if ((b64 = malloc(cap)) == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        goto out;
    }
    sodium_bin2base64(b64, cap, cert, cert_len, sodium_base64_VARIANT_ORIGINAL);
    qs_info("credential %s certified (serial %s) by officer %s", id, hex, rq->user_id_str);
    api_reply_json(
        rq, 201,
        json_pack("{s:s, s:s, s:s}", "credentialID", id, "serialNumber", hex, "certificate", b64));
out:
    free(b64);
    free(cert);
    qs_sam_client_close(c);
}

const api_endpoint api_ep_ra_credentials_create = {
    .name = "ra/credentials/create",
    .method = "POST",
    .auth = API_AUTH_RA,
    .handler = handle,
};

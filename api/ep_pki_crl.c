/*
 * GET /pki/crl: the current CRL, DER (application/pkix-crl), the CRL distribution point of
 * every certificate the CA issues.  Public.  The SAM serves the stored CRL while it is fresh
 * and makes (and signs, in the HSM) a new one when it is not.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>

#include "api/api_internal.h"
#include "util/log.h"

static void handle(api_request *rq)
{
    qs_sam_client *c = NULL;
    uint8_t *der = NULL;
    size_t len = 0;
    qs_err r = api_sam_open(api_cfg(rq), &c);
    if (r == QS_OK)
        r = qs_sam_client_crl(c, &der, &len);
    if (r == QS_ERR_CA_NOT_READY)
        api_reply_error(rq, QS_ERR_NOT_FOUND, "The CA is not initialised");
    else if (r != QS_OK)
        api_reply_sam_error(rq, c, r);
    else {
        api_reply_text(rq, 200, "application/pkix-crl", (char *)der, len);
        der = NULL;
    }
    free(der);
    qs_sam_client_close(c);
}

const api_endpoint api_ep_pki_crl = {
    .name = "pki/crl",
    .method = "GET",
    .auth = API_AUTH_NONE,
    .handler = handle,
};

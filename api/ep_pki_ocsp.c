/*
 * The OCSP responder (RFC 6960 appendix A): POST /pki/ocsp with a DER OCSPRequest
 * (application/ocsp-request), or GET /pki/ocsp/<base64 of the DER request, URL-encoded>.  The
 * request goes to the SAM untouched; the SAM parses it strictly and answers with a signed
 * response, or malformedRequest.  Whatever happens the client gets an OCSPResponse with HTTP
 * 200: malformedRequest for an empty, oversized or undecodable request (built here, unsigned,
 * without the SAM), tryLater when the SAM cannot be reached.
 */
#define QS_LOG_MODULE "api"
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "ca/ca.h"
#include "util/log.h"

#define OCSP_PREFIX "/pki/ocsp/"

static void reply_status(api_request *rq, ca_ocsp_error status)
{
    uint8_t *der = NULL;
    size_t len = 0;
    if (ca_ocsp_error_response(status, &der, &len) != QS_OK) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    api_reply_text(rq, 200, "application/ocsp-response", (char *)der, len);
}

static void answer(api_request *rq, const uint8_t *req, size_t len)
{
    if (len == 0 || len > CA_OCSP_REQUEST_MAX) {
        reply_status(rq, CA_OCSP_MALFORMED_REQUEST);
        return;
    }
    qs_sam_client *c = NULL;
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    qs_err r = api_sam_open(api_cfg(rq), &c);
    if (r == QS_OK)
        r = qs_sam_client_ocsp(c, req, len, &resp, &resp_len);
    qs_sam_client_close(c);
    if (r != QS_OK) {
        qs_warn("OCSP: the SAM did not answer: %s", qs_err_name(r));
        reply_status(rq, CA_OCSP_TRY_LATER);
        return;
    }
    api_reply_text(rq, 200, "application/ocsp-response", (char *)resp, resp_len);
}

static void handle_post(api_request *rq)
{
    answer(rq, rq->body, rq->body_len);
}

static void handle_get(api_request *rq)
{
    const char *b64 = rq->url != NULL ? rq->url + strlen(OCSP_PREFIX) : "";
    size_t b64_len = strlen(b64);
    uint8_t *der = malloc(CA_OCSP_REQUEST_MAX);
    size_t len = 0;
    const char *end = NULL;
    if (der == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    /* libmicrohttpd has undone the URL encoding; padding is optional in practice */
    if (b64_len == 0 ||
        sodium_base642bin(der, CA_OCSP_REQUEST_MAX, b64, b64_len, NULL, &len, &end,
                          b64_len % 4 == 0 ? sodium_base64_VARIANT_ORIGINAL
                                           : sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        end != b64 + b64_len)
        len = 0;
    answer(rq, der, len);
    free(der);
}

const api_endpoint api_ep_pki_ocsp_post = {
    .name = "pki/ocsp",
    .method = "POST",
    .auth = API_AUTH_NONE,
    .handler = handle_post,
};

const api_endpoint api_ep_pki_ocsp_get = {
    .name = "pki/ocsp (GET)",
    .method = "GET",
    .auth = API_AUTH_NONE,
    .handler = handle_get,
    .prefix = true,
};

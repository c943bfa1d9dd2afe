/*
 * qsignd's side of the SAM: a connection per request (a unix socket is cheap to open, and the
 * SAM serves each connection in order), liveness for /readyz, and the translation of the SAM's
 * answers into CSC errors.  The SAM treats qsignd as untrusted: everything here is a request,
 * never a decision.
 */
#define QS_LOG_MODULE "api"
#include <errno.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/log.h"

qs_err api_sam_open(const qs_api_config *cfg, qs_sam_client **c)
{
    qs_err r = qs_sam_client_connect(cfg->sam_socket_path, (int)cfg->sam_timeout_ms, c);
    if (r == QS_ERR_IO) {
        qs_warn("cannot connect to the SAM at %s: %s", cfg->sam_socket_path, strerror(errno));
        return QS_ERR_EOF; /* not reachable: retry later */
    }
    if (r == QS_ERR_INVALID_ARGUMENT)
        return QS_ERR_CONFIG;
    return r;
}

qs_err api_sam_ping(const qs_api_config *cfg)
{
    qs_sam_client *c = NULL;
    qs_err r = api_sam_open(cfg, &c);
    if (r == QS_OK)
        r = qs_sam_client_ping(c);
    qs_sam_client_close(c);
    return r;
}

void api_reply_sam_error(api_request *rq, const qs_sam_client *c, qs_err e)
{
    const char *said = c != NULL ? qs_sam_client_error(c) : "";
    switch (e) {
    case QS_ERR_NOT_FOUND:
        /* unknown credential, another user's, or factors not enrolled: all look the same */
        api_reply_errorf(rq, QS_ERR_INVALID_ARGUMENT, "Invalid parameter %s",
                         api_field_name(rq->ver, API_F_CREDENTIAL_ID));
        return;
    case QS_ERR_IO:
        api_reply_error(rq, QS_ERR_EOF, NULL);
        return;
    case QS_ERR_INVALID_ARGUMENT:
        if (said[0] == '\0') {
            /* refused by the codec before sending: the request spec should have caught it */
            qs_bug("SAM request refused by the codec");
            api_reply_error(rq, QS_ERR_INTERNAL, NULL);
            return;
        }
        qs_info("SAM refused the request: %s", said);
        api_reply_error(rq, e, NULL);
        return;
    default:
        if (said[0] != '\0')
            qs_info("SAM answered %s: %s", qs_err_name(e), said);
        else
            qs_warn("SAM request failed: %s", qs_err_str(e));
        api_reply_error(rq, e, NULL);
        return;
    }
}

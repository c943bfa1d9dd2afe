/*
 * POST /audit/v1/login: an auditor's login (api_staff_login, api/staff_login.c): HTTP Basic
 * username:password and {"otp": "..."}; only users of kind auditor.  The answer's access_token
 * is the auditor's session, the bearer token of /audit/v1/search: it carries the auditor role
 * only (no RA endpoint and no CSC endpoint takes it).  503 when [audit] conninfo is not set.
 */
#include "api/api_internal.h"

static void handle(api_request *rq)
{
    if (!api_audit_configured(rq)) {
        api_reply_error(rq, QS_ERR_NOT_CONFIGURED,
                        "The audit API is not configured on this server");
        return;
    }
    api_staff_login(rq, QS_SAM_USER_AUDITOR);
}

const api_endpoint api_ep_audit_login = {
    .name = "audit/login",
    .method = "POST",
    .auth = API_AUTH_NONE,
    .handler = handle,
};

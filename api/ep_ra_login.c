/*
 * POST /ra/v1/login: a registration officer's login (api_staff_login, api/staff_login.c):
 * HTTP Basic username:password and {"otp": "..."}; only users of kind officer.  The answer's
 * access_token is the RA session, the bearer token of the other /ra/v1 endpoints.
 */
#include "api/api_internal.h"

static void handle(api_request *rq)
{
    api_staff_login(rq, QS_SAM_USER_OFFICER);
}

const api_endpoint api_ep_ra_login = {
    .name = "ra/login",
    .method = "POST",
    .auth = API_AUTH_NONE,
    .handler = handle,
};

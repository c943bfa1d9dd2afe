/* GET /healthz: the process is alive and serving (no dependency is checked). */
#include "api/api_internal.h"

static void handle(api_request *rq)
{
    api_reply_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}

const api_endpoint api_ep_healthz = {
    .name = "healthz",
    .method = "GET",
    .versions = 0,
    .auth = API_AUTH_NONE,
    .handler = handle,
};

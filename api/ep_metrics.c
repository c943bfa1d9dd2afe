/* GET /metrics: the Prometheus text exposition. */
#include "api/api_internal.h"

static void handle(api_request *rq)
{
    char *text = NULL;
    size_t len = 0;
    qs_err r = api_metrics_render(rq->srv->metrics, &text, &len);
    if (r != QS_OK) {
        api_reply_error(rq, r, NULL);
        return;
    }
    api_reply_text(rq, 200, "text/plain; version=0.0.4", text, len);
}

const api_endpoint api_ep_metrics = {
    .name = "metrics",
    .method = "GET",
    .versions = 0,
    .auth = API_AUTH_NONE,
    .handler = handle,
};

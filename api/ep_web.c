/*
 * GET / and GET /web/<file>: the signers' web page.  Its files (api/web/) are embedded at build
 * time (api/embed_web.cmake), so qsignd needs no data files and serves exactly what was
 * built.  / is the page itself (/web/index.html); every file has its Content-Type from its
 * extension and the page's Content-Security-Policy (API_CSP_PAGE); any other path under /web/
 * is 404.  Public: the page holds no data, it calls the API like any other client.
 */
#define QS_LOG_MODULE "api"
#include <string.h>

#include "api/api_internal.h"

const api_web_asset *api_web_find(const char *path)
{
    for (size_t i = 0; i < api_web_assets_count; i++) {
        if (strcmp(api_web_assets[i].path, path) == 0)
            return &api_web_assets[i];
    }
    return NULL;
}

static void reply_asset(api_request *rq, const char *path)
{
    const api_web_asset *a = api_web_find(path);
    if (a == NULL) {
        api_reply_error(rq, QS_ERR_NOT_FOUND, NULL);
        return;
    }
    rq->csp = API_CSP_PAGE;
    api_reply_static(rq, 200, a->content_type, a->data, a->len);
}

static void handle_index(api_request *rq)
{
    reply_asset(rq, API_WEB_INDEX);
}

static void handle_asset(api_request *rq)
{
    reply_asset(rq, rq->url != NULL ? rq->url : "");
}

const api_endpoint api_ep_web_index = {
    .name = "web (/)",
    .method = "GET",
    .auth = API_AUTH_NONE,
    .handler = handle_index,
};

const api_endpoint api_ep_web_asset = {
    .name = "web",
    .method = "GET",
    .auth = API_AUTH_NONE,
    .handler = handle_asset,
    .prefix = true,
};

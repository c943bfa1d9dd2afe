/*
 * Replies.  Every request gets exactly one; the core queues it.  Common headers go on every
 * response: the request id, no caching (bodies can hold tokens), no MIME sniffing, a
 * Content-Security-Policy (the page's for the web page, one allowing nothing for the rest), no
 * framing and no referrer.  Response buffers are wiped when libmicrohttpd releases them, since
 * token replies hold secrets.
 */
#define QS_LOG_MODULE "api"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "api/api_internal.h"
#include "util/log.h"
#include "util/secret.h"

/* A response body that remembers its size, so it can be wiped when released. */
typedef struct api_buf {
    size_t len;
    char data[];
} api_buf;

static void api_buf_release(void *cls)
{
    api_buf *b = cls;
    qs_wipe(b->data, b->len);
    free(b);
}

bool api_replied(const api_request *rq)
{
    return rq->resp != NULL;
}

static void add_header(struct MHD_Response *resp, const char *name, const char *value)
{
    if (MHD_add_response_header(resp, name, value) != MHD_YES)
        qs_bug("cannot add header %s", name);
}

/* Takes `resp` as the reply of `rq`. */
static void set_reply(api_request *rq, unsigned status, struct MHD_Response *resp)
{
    if (resp == NULL) {
        qs_error("cannot create a response (out of memory)");
        return; /* the core answers 500 */
    }
    if (rq->resp != NULL) {
        qs_bug("second reply (%u) to a request already answered with %u", status, rq->status);
        MHD_destroy_response(resp);
        return;
    }
    add_header(resp, "X-Request-Id", rq->rid);
    add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    add_header(resp, "X-Content-Type-Options", "nosniff");
    add_header(resp, "Content-Security-Policy", rq->csp != NULL ? rq->csp : API_CSP_API);
    add_header(resp, "X-Frame-Options", "DENY");
    add_header(resp, "Referrer-Policy", "no-referrer");
    if (rq->srv->tls)
        add_header(resp, "Strict-Transport-Security", "max-age=31536000");
    rq->resp = resp;
    rq->status = status;
}

void api_reply_json(api_request *rq, unsigned status, json_t *body)
{
    if (body == NULL) {
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    size_t len = json_dumpb(body, NULL, 0, JSON_COMPACT);
    api_buf *b = len > 0 ? malloc(sizeof *b + len) : NULL;
    if (b == NULL) {
        json_decref(body);
        api_reply_error(rq, QS_ERR_NOMEM, NULL);
        return;
    }
    b->len = len;
    if (json_dumpb(body, b->data, len, JSON_COMPACT) != len) {
        qs_bug("json_dumpb changed its mind about the size");
        api_buf_release(b);
        json_decref(body);
        api_reply_error(rq, QS_ERR_INTERNAL, NULL);
        return;
    }
    json_decref(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(len, b->data, api_buf_release, b);
    if (resp == NULL) {
        api_buf_release(b);
        return;
    }
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    set_reply(rq, status, resp);
}

void api_reply_no_content(api_request *rq)
{
    set_reply(rq, MHD_HTTP_NO_CONTENT,
              MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

void api_reply_text(api_request *rq, unsigned status, const char *content_type, char *buf,
                    size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(buf);
        return;
    }
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    set_reply(rq, status, resp);
}

void api_reply_header(api_request *rq, const char *name, const char *value)
{
    if (rq->resp != NULL)
        add_header(rq->resp, name, value);
}

void api_reply_static(api_request *rq, unsigned status, const char *content_type,
                      const uint8_t *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return;
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    set_reply(rq, status, resp);
}

void api_reply_error(api_request *rq, qs_err e, const char *description)
{
    api_err_info info = api_err_lookup(e);
    const char *code = api_err_code(e, rq->ver);
    /* Handlers pass descriptions for the client; causes of internal errors stay in the log. */
    const char *text =
        description != NULL && description[0] != '\0' ? description : info.description;

    if (info.counter != API_NO_COUNTER)
        api_count(rq, (api_counter)info.counter);
    if (info.status >= 500)
        qs_warn("error reply status=%u error=%s cause=%s", info.status, code, qs_err_name(e));
    else
        qs_debug("error reply status=%u error=%s cause=%s", info.status, code, qs_err_name(e));

    json_t *body = json_pack("{s:s, s:s}", "error", code, "error_description", text);
    if (body == NULL)
        return; /* out of memory: the core answers with its static 500 */
    api_reply_json(rq, info.status, body);
    if (rq->resp == NULL || rq->status != info.status)
        return;
    rq->error_code = code;
    char value[64];
    switch (info.status) {
    case MHD_HTTP_UNAUTHORIZED:
        if (e == QS_ERR_LOGIN_FAILED)
            add_header(rq->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"qsign\"");
        else
            add_header(rq->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                       "Bearer realm=\"qsign\", error=\"invalid_token\"");
        break;
    case MHD_HTTP_METHOD_NOT_ALLOWED:
        if (rq->allow != NULL)
            add_header(rq->resp, MHD_HTTP_HEADER_ALLOW, rq->allow);
        break;
    case MHD_HTTP_TOO_MANY_REQUESTS:
    case MHD_HTTP_SERVICE_UNAVAILABLE:
        if (rq->retry_after > 0) {
            snprintf(value, sizeof value, "%u", rq->retry_after);
            add_header(rq->resp, MHD_HTTP_HEADER_RETRY_AFTER, value);
        }
        break;
    default:
        break;
    }
}

void api_reply_errorf(api_request *rq, qs_err e, const char *fmt, ...)
{
    char desc[API_DESC_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    api_reply_error(rq, e, n < 0 ? NULL : desc);
}

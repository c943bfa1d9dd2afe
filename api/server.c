/*
 * The HTTP core: libmicrohttpd with a pool of worker threads (epoll), TLS 1.2/1.3 through
 * GnuTLS, the per-request context, body reading with a size cap, routing, the parse ->
 * authenticate -> handle sequence, and one access-log line per request.
 *
 * Threads: every callback of a request runs on the worker thread that owns its connection;
 * the request context is touched by that thread only.  The request id is set as the thread's
 * log id for the duration of each callback.
 */
#define QS_LOG_MODULE "api"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>
#include <sodium.h>

#include "api/api_internal.h"
#include "db/db_ca.h"
#include "util/log.h"
#include "util/secret.h"

#define API_TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define API_DB_WAIT_MS       5000
#define API_DISCARD_FACTOR   16 /* a body this many times max_body ends the connection */
#define API_MEMORY_SLACK     16384
#define API_METHOD_MAX       16
#define API_START_DB_WAIT_MS 10000

typedef struct api_request_ext {
    size_t uri_len; /* raw request-target length, query included */
    char method[API_METHOD_MAX];
    bool queued;
} api_request_ext;

/* The context libmicrohttpd carries for us: the request and what only the core needs. */
typedef struct api_ctx {
    api_request rq;
    api_request_ext x;
} api_ctx;

const qs_api_config *api_cfg(const api_request *rq)
{
    return rq->srv->cfg;
}

qs_err api_db(api_request *rq, qs_db **db)
{
    *db = NULL;
    if (rq->db == NULL) {
        qs_err r = api_dbpool_get(rq->srv->dbpool, API_DB_WAIT_MS, &rq->db);
        if (r != QS_OK)
            return r;
    }
    *db = rq->db;
    return QS_OK;
}

bool api_audit_configured(const api_request *rq)
{
    return rq->srv->audit_pool != NULL;
}

qs_err api_audit_db(api_request *rq, qs_db **db)
{
    *db = NULL;
    if (rq->srv->audit_pool == NULL)
        return QS_ERR_NOT_CONFIGURED;
    if (rq->audit_db == NULL) {
        qs_err r = api_dbpool_get(rq->srv->audit_pool, API_DB_WAIT_MS, &rq->audit_db);
        if (r != QS_OK)
            return r;
    }
    *db = rq->audit_db;
    return QS_OK;
}

static void release_db(api_request *rq)
{
    if (rq->db != NULL) {
        api_dbpool_put(rq->srv->dbpool, rq->db);
        rq->db = NULL;
    }
    if (rq->audit_db != NULL) {
        api_dbpool_put(rq->srv->audit_pool, rq->audit_db);
        rq->audit_db = NULL;
    }
}

static void rid_new(char out[static API_RID_LEN + 1])
{
    uint8_t raw[API_RID_LEN / 2];
    qs_random(raw, sizeof raw);
    sodium_bin2hex(out, API_RID_LEN + 1, raw, sizeof raw);
}

/* Copies the path part of a request-target (up to '?'), truncated, for the access log. */
static void copy_path(char *dst, size_t cap, const char *uri)
{
    size_t n = strcspn(uri, "?");
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, uri, n);
    dst[n] = '\0';
}

/* ---- Client address ------------------------------------------------------------------------ */

static void client_address(api_request *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(rq->client_addr, sizeof rq->client_addr, "unknown");
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      rq->client_addr, sizeof rq->client_addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      rq->client_addr, sizeof rq->client_addr);
    }
    if (!api_cfg(rq)->trust_forwarded_for)
        return;
    /* Behind our own reverse proxy: the last X-Forwarded-For entry is the one it added. */
    const char *xff = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (xff == NULL)
        return;
    const char *last = strrchr(xff, ',');
    last = last != NULL ? last + 1 : xff;
    while (*last == ' ')
        last++;
    char buf[API_ADDR_MAX];
    size_t n = strcspn(last, " ");
    if (n == 0 || n >= sizeof buf)
        return;
    memcpy(buf, last, n);
    buf[n] = '\0';
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1 || inet_pton(AF_INET6, buf, &a6) == 1)
        memcpy(rq->client_addr, buf, n + 1);
}

/* ---- Checks before the body ------------------------------------------------------------------ */

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    size_t *sum = cls;
    *sum += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Route, method and size checks once the headers are in; replies on failure. */
static void begin(api_ctx *ctx, const char *url)
{
    api_request *rq = &ctx->rq;
    const qs_api_config *cfg = api_cfg(rq);

    client_address(rq);
    if (ctx->x.uri_len > (size_t)cfg->max_url) {
        api_reply_error(rq, QS_ERR_URI_TOO_LONG, NULL);
        return;
    }
    size_t hdr = 0;
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, sum_header, &hdr);
    if (hdr > (size_t)cfg->max_header) {
        api_reply_error(rq, QS_ERR_HEADERS_TOO_LARGE, NULL);
        return;
    }
    if ((rq->pki_only && strncmp(url, "/pki/", 5) != 0) ||
        api_route_find(url, &rq->route, &rq->ver, &rq->slot) != QS_OK) {
        api_reply_error(rq, QS_ERR_NOT_FOUND, NULL);
        return;
    }
    const char *want = rq->route->ep->method;
    bool head_of_get = strcmp(want, "GET") == 0 && strcmp(ctx->x.method, "HEAD") == 0;
    if (strcmp(ctx->x.method, want) != 0 && !head_of_get) {
        rq->allow = strcmp(want, "GET") == 0 ? "GET, HEAD" : want;
        api_reply_errorf(rq, QS_ERR_METHOD_NOT_ALLOWED, "Method not allowed, use %s", want);
        return;
    }
    const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!api_origin_allowed(ctx->x.method, origin, host, rq->srv->tls, cfg->public_origin)) {
        qs_info("refused a %s request from origin %.100s", ctx->x.method, origin);
        api_reply_error(rq, QS_ERR_CROSS_ORIGIN, NULL);
        return;
    }
    const char *cl =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || *end != '\0' || n > (unsigned long long)cfg->max_body)
            api_reply_error(rq, QS_ERR_TOO_LARGE, NULL);
    }
}

/* Keeps body bytes up to max_body; beyond it, only counts them. */
static enum MHD_Result take_body(api_request *rq, const char *data, size_t n)
{
    size_t max = (size_t)api_cfg(rq)->max_body;
    rq->body_seen += n;
    if (rq->body_too_large) {
        return rq->body_seen > (uint64_t)max * API_DISCARD_FACTOR ? MHD_NO : MHD_YES;
    }
    if (n > max - rq->body_len) {
        rq->body_too_large = true;
        qs_free_wiped(rq->body, rq->body_cap);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        return MHD_YES;
    }
    if (rq->body_len + n > rq->body_cap) {
        size_t cap = rq->body_cap > 0 ? rq->body_cap : 1024;
        while (cap < rq->body_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        uint8_t *b = malloc(cap);
        if (b == NULL)
            return MHD_NO;
        if (rq->body_len > 0)
            memcpy(b, rq->body, rq->body_len);
        qs_free_wiped(rq->body, rq->body_cap);
        rq->body = b;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    return MHD_YES;
}

/* Parse, authenticate, handle. */
static void dispatch(api_request *rq)
{
    const api_endpoint *ep = rq->route->ep;
    char desc[API_DESC_MAX];

    if (rq->body_too_large) {
        api_reply_error(rq, QS_ERR_TOO_LARGE, NULL);
        return;
    }
    if (ep->nspec > 0) {
        qs_err r = api_body_parse(rq->body, rq->body_len, &rq->json, desc, sizeof desc);
        if (r == QS_OK)
            r = api_spec_parse(rq->json, rq->ver, ep->spec, ep->nspec, &rq->p, desc, sizeof desc);
        if (r != QS_OK) {
            api_reply_error(rq, r, r == QS_ERR_NOMEM ? NULL : desc);
            return;
        }
    }
    if (ep->auth == API_AUTH_BEARER && !api_authenticate(rq)) {
        release_db(rq);
        return;
    }
    if (ep->auth == API_AUTH_RA && !api_authenticate_staff(rq, QS_DB_ROLE_OFFICER)) {
        release_db(rq);
        return;
    }
    if (ep->auth == API_AUTH_AUDIT) {
        if (!api_audit_configured(rq)) {
            api_reply_error(rq, QS_ERR_NOT_CONFIGURED,
                            "The audit API is not configured on this server");
            return;
        }
        if (!api_authenticate_staff(rq, QS_DB_ROLE_AUDITOR)) {
            release_db(rq);
            return;
        }
    }
    ep->handler(rq);
    release_db(rq);
    if (!api_replied(rq)) {
        qs_bug("endpoint %s did not reply", ep->name);
        api_reply_error(rq, QS_ERR_INTERNAL, NULL);
    }
}

static const char oom_body[] = "{\"error\":\"server_error\",\"error_description\":"
                               "\"Internal server error\"}";

static enum MHD_Result queue(api_ctx *ctx)
{
    api_request *rq = &ctx->rq;
    if (rq->resp == NULL) {
        /* Building the reply failed (memory): a static one, no headers to allocate. */
        rq->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        rq->resp = MHD_create_response_from_buffer(sizeof oom_body - 1, (void *)oom_body,
                                                   MHD_RESPMEM_PERSISTENT);
        if (rq->resp == NULL)
            return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(rq->conn, rq->status, rq->resp);
    MHD_destroy_response(rq->resp);
    rq->resp = NULL;
    ctx->x.queued = true;
    return ret;
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------------------
 */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    api_server *srv = cls;
    api_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    api_request *rq = &ctx->rq;
    rq->srv = srv;
    rq->conn = conn;
    rq->slot = api_route_slots() - 1;
    clock_gettime(CLOCK_MONOTONIC, &rq->start);
    rid_new(rq->rid);
    ctx->x.uri_len = strlen(uri);
    copy_path(rq->path, sizeof rq->path, uri);
    return ctx;
}

/* on_uri of the [pki] listener: the request may reach /pki/ paths only. */
static void *on_uri_pki(void *cls, const char *uri, struct MHD_Connection *conn)
{
    api_ctx *ctx = on_uri(cls, uri, conn);
    if (ctx != NULL)
        ctx->rq.pki_only = true;
    return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)conn;
    (void)version;
    api_ctx *ctx = *con_cls;
    if (ctx == NULL)
        return MHD_NO; /* out of memory when the request began */
    api_request *rq = &ctx->rq;
    enum MHD_Result ret = MHD_YES;

    qs_log_set_request_id(rq->rid);
    if (ctx->x.queued) {
        *upload_data_size = 0;
        goto out;
    }
    if (!rq->headers_done) {
        rq->headers_done = true;
        snprintf(ctx->x.method, sizeof ctx->x.method, "%s", method);
        rq->method = ctx->x.method;
        begin(ctx, url);
        if (rq->resp != NULL)
            ret = queue(ctx);
        goto out;
    }
    if (*upload_data_size > 0) {
        ret = take_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        goto out;
    }
    rq->url = url;
    dispatch(rq);
    rq->url = NULL;
    ret = queue(ctx);
out:
    qs_log_set_request_id(NULL);
    return ret;
}

static void free_ctx(api_ctx *ctx)
{
    api_request *rq = &ctx->rq;
    release_db(rq);
    if (rq->resp != NULL)
        MHD_destroy_response(rq->resp);
    json_decref(rq->json);
    qs_free_wiped(rq->body, rq->body_cap);
    qs_wipe(&rq->p, sizeof rq->p);
    qs_wipe(rq->ra_session, sizeof rq->ra_session);
    free(ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    api_server *srv = cls;
    api_ctx *ctx = *con_cls;
    if (ctx == NULL)
        return;
    *con_cls = NULL;
    api_request *rq = &ctx->rq;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs =
        (double)(now.tv_sec - rq->start.tv_sec) + (double)(now.tv_nsec - rq->start.tv_nsec) / 1e9;

    qs_log_set_request_id(rq->rid);
    qs_info("access method=%s path=%s status=%u%s%s duration_ms=%.3f client=%s%s%s%s",
            ctx->x.method[0] != '\0' ? ctx->x.method : "-", rq->path, rq->status,
            rq->error_code != NULL ? " error=" : "", rq->error_code != NULL ? rq->error_code : "",
            secs * 1000.0, rq->client_addr[0] != '\0' ? rq->client_addr : "-",
            rq->authed ? " user=" : "", rq->authed ? rq->user_id_str : "",
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    api_metrics_observe(srv->metrics, rq->slot, rq->status, secs);
    qs_log_set_request_id(NULL);
    free_ctx(ctx);
}

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat-nonliteral"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        return;
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    qs_warn("libmicrohttpd: %s", msg);
}
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ---- Start and stop ----------------------------------------------------------------------------
 */

static qs_err check_schema(api_server *srv)
{
    qs_db *db = NULL;
    qs_err r = api_dbpool_get(srv->dbpool, API_START_DB_WAIT_MS, &db);
    if (r != QS_OK) {
        qs_error("cannot reach the database: %s", qs_err_str(r));
        return r;
    }
    r = qs_db_check_schema(db);
    api_dbpool_put(srv->dbpool, db);
    if (r != QS_OK)
        qs_error("database schema check failed: %s", qs_err_str(r));
    return r;
}

/* The audit API's pool is not needed to serve: a failure is logged and /audit/v1 answers 503
 * until the database accepts [audit] conninfo. */
static void probe_audit(api_server *srv)
{
    qs_db *db = NULL;
    if (srv->audit_pool == NULL)
        return;
    qs_err r = api_dbpool_get(srv->audit_pool, API_START_DB_WAIT_MS, &db);
    if (r == QS_OK) {
        r = qs_db_check_schema(db);
        api_dbpool_put(srv->audit_pool, db);
    }
    if (r != QS_OK)
        qs_warn("audit API: the database refuses [audit] conninfo (%s); /audit/v1 answers 503 "
                "until it accepts it",
                qs_err_str(r));
}

static qs_err make_dummy_verifier(api_server *srv)
{
    char pw[32];
    srv->dummy_verifier = malloc(crypto_pwhash_STRBYTES);
    if (srv->dummy_verifier == NULL)
        return QS_ERR_NOMEM;
    qs_random(pw, sizeof pw);
    int rc = crypto_pwhash_str_alg(
        srv->dummy_verifier, pw, sizeof pw, crypto_pwhash_OPSLIMIT_INTERACTIVE,
        crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
    qs_wipe(pw, sizeof pw);
    return rc == 0 ? QS_OK : QS_ERR_NOMEM;
}

void qs_api_server_stop(qs_api_server *s)
{
    if (s == NULL)
        return;
    if (s->mhd_pki != NULL)
        MHD_stop_daemon(s->mhd_pki);
    if (s->mhd != NULL)
        MHD_stop_daemon(s->mhd);
    api_dbpool_free(s->dbpool);
    api_dbpool_free(s->audit_pool);
    api_window_free(s->auth_failures);
    api_window_free(s->signatures);
    api_ratelimit_free(s->rl_address);
    api_ratelimit_free(s->rl_account);
    api_metrics_free(s->metrics);
    free(s->tls_cert);
    qs_secret_free(s->tls_key);
    free(s->dummy_verifier);
    free(s);
}

uint16_t qs_api_server_port(const qs_api_server *s)
{
    return s->port;
}

uint16_t qs_api_server_pki_port(const qs_api_server *s)
{
    return s->mhd_pki != NULL ? s->pki_port : 0;
}

/* The plain-HTTP listener for /pki/: relying parties fetch the CA certificate, the CRL and OCSP
 * answers from the http URLs in certificates (RFC 5280 and EN 319 412-2 want http there, and the
 * data are signed).  Same handlers, limits and logs as the main listener; begin() answers 404
 * for any other path that comes in on it. */
static qs_err start_pki(qs_api_server *s, unsigned base_flags)
{
    const qs_api_config *cfg = s->cfg;
    struct sockaddr_storage ss;
    bool v6 = false;
    if (api_config_addr(cfg->pki_listen_address, cfg->pki_port, &ss, &v6) != QS_OK)
        return QS_ERR_CONFIG;
    unsigned flags = base_flags | (v6 ? MHD_USE_IPv6 : 0);
    unsigned threads = cfg->threads < 2 ? (unsigned)cfg->threads : 2;
    s->mhd_pki = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(cfg->max_header + cfg->max_url + API_MEMORY_SLACK), MHD_OPTION_STRICT_FOR_CLIENT,
        (int)1, MHD_OPTION_URI_LOG_CALLBACK, on_uri_pki, s, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_END);
    if (s->mhd_pki == NULL) {
        qs_error("cannot start the [pki] HTTP listener on %s port %lld", cfg->pki_listen_address,
                 (long long)cfg->pki_port);
        return QS_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd_pki, MHD_DAEMON_INFO_BIND_PORT);
    s->pki_port = di != NULL ? di->port : (uint16_t)cfg->pki_port;
    qs_info("listening address=%s port=%u tls=off paths=/pki/", cfg->pki_listen_address,
            s->pki_port);
    return QS_OK;
}

qs_err qs_api_server_start(const qs_api_config *cfg, qs_api_server **out)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    qs_err r;

    *out = NULL;
    api_json_init();
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        qs_error("libmicrohttpd was built without TLS");
        return QS_ERR_UNSUPPORTED;
    }
    qs_api_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return QS_ERR_NOMEM;
    s->cfg = cfg;
    s->metrics = api_metrics_new(api_route_slots());
    s->rl_address = api_ratelimit_new((uint32_t)cfg->rl_address_per_minute,
                                      (uint32_t)cfg->rl_address_burst, (size_t)cfg->rl_table_size);
    s->rl_account = api_ratelimit_new((uint32_t)cfg->rl_account_per_minute,
                                      (uint32_t)cfg->rl_account_burst, (size_t)cfg->rl_table_size);
    s->dbpool = api_dbpool_new(cfg->db_conninfo, (size_t)cfg->threads);
    if (s->metrics == NULL || s->rl_address == NULL || s->rl_account == NULL || s->dbpool == NULL) {
        r = QS_ERR_NOMEM;
        goto fail;
    }
    /* The auditors' pool connects lazily: qsignd serves without it (and /audit/v1 answers 503
     * when it is not configured, or the database refuses the role). */
    if (cfg->audit_conninfo[0] != '\0' &&
        (s->audit_pool = api_dbpool_new(cfg->audit_conninfo, (size_t)cfg->threads)) == NULL) {
        r = QS_ERR_NOMEM;
        goto fail;
    }
    if ((cfg->anomaly_auth_failures > 0 &&
         (s->auth_failures = api_window_new((uint64_t)cfg->anomaly_auth_failures,
                                            (uint32_t)cfg->anomaly_auth_failure_window,
                                            (size_t)cfg->anomaly_table_size)) == NULL) ||
        (cfg->anomaly_bulk_signatures > 0 &&
         (s->signatures = api_window_new((uint64_t)cfg->anomaly_bulk_signatures,
                                         (uint32_t)cfg->anomaly_bulk_window,
                                         (size_t)cfg->anomaly_table_size)) == NULL)) {
        r = QS_ERR_NOMEM;
        goto fail;
    }
    if ((r = api_config_addr(cfg->listen_address, cfg->port, &ss, &v6)) != QS_OK)
        goto fail;
    if ((r = check_schema(s)) != QS_OK || (r = make_dummy_verifier(s)) != QS_OK)
        goto fail;
    probe_audit(s);
    s->tls = cfg->tls_cert_file[0] != '\0';
    if (s->tls) {
        char why[256];
        r = api_tls_read(cfg, &s->tls_cert, &s->tls_key, &s->tls_key_len, why, sizeof why);
        if (r != QS_OK) {
            qs_error("%s", why);
            goto fail;
        }
    }

    unsigned flags = MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL_INTERNAL_THREAD
                                                                    : MHD_USE_POLL_INTERNAL_THREAD;
    unsigned base_flags = flags;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (s->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)API_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(cfg->max_header + cfg->max_url + API_MEMORY_SLACK), MHD_OPTION_STRICT_FOR_CLIENT,
        (int)1, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_ARRAY, s->tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (s->mhd == NULL) {
        qs_error("cannot start the HTTP server on %s port %lld", cfg->listen_address,
                 (long long)cfg->port);
        r = QS_ERR_IO;
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di != NULL ? di->port : (uint16_t)cfg->port;
    qs_info("listening address=%s port=%u tls=%s threads=%lld audit_api=%s", cfg->listen_address,
            s->port, s->tls ? "on" : "off", (long long)cfg->threads,
            s->audit_pool != NULL ? "on" : "off");
    if (cfg->pki_listen_address[0] != '\0' && (r = start_pki(s, base_flags)) != QS_OK)
        goto fail;
    *out = s;
    return QS_OK;
fail:
    qs_api_server_stop(s);
    return r;
}

/*
 * qsign-sam's process: start-up hardening, the HSM, the database, the audit writer, the unix
 * socket, the worker pool and the graceful stop.
 *
 * Threads: a maintenance thread, with its own HSM session and database connection, does the
 * work no request asks for: every [ca] crl_check_seconds it makes the CRL again when it is due
 * (sam_ca_crl: half its validity passed, or a revocation it lacks) and rewrites [ca] crl_file.
 * The main thread starts everything, then waits for SIGTERM/SIGINT (blocked in every
 * thread, taken with sigwait).  N workers share one epoll instance: the listening socket and
 * each client connection are registered with EPOLLONESHOT, so an event goes to exactly one
 * worker, which accepts (listener) or reads and answers one request (connection) and re-arms
 * the descriptor.  A connection is therefore served by one worker at a time and its requests in
 * order, and any number of connections share the fixed workers.  To stop, the main thread makes
 * an eventfd readable (level-triggered: every worker sees it), workers finish the request they
 * are on and exit, and the main thread closes what is left, writes the last audit record and
 * stops the audit writer.
 *
 * Fail closed: a frame that does not parse, a response type, a request the peer's role may not
 * make, a frame that does not complete in time or a failed write ends that connection without
 * an answer; the event is logged at WARN (reason name only) and audited as protocol.rejected.
 * Other connections are unaffected.
 */
#define QS_LOG_MODULE "sam"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sam/ca.h"
#include "sam/sam.h"
#include "util/log.h"
#include "util/secret.h"

#if defined(__SANITIZE_ADDRESS__)
#define SAM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAM_ASAN 1
#endif
#endif

#define SAM_WRITE_TIMEOUT_MS 10000
#define SAM_MAX_CONNECTIONS  4096
#define SAM_LISTEN_BACKLOG   128

typedef struct sam_conn {
    int fd;
    sam_peer peer;
    struct sam_conn *prev, *next;
} sam_conn;

typedef struct sam_server {
    sam s;
    int listen_fd;
    int epfd;
    int stop_fd;
    dev_t sock_dev;
    ino_t sock_ino;
    sam_worker *workers;
    pthread_t *threads;
    size_t nworkers, nthreads;
    sam_worker maint; /* the maintenance thread's */
    pthread_t maint_thread;
    bool maint_started;
    pthread_mutex_t mu; /* guards the connection list and counters */
    sam_conn *conns;
    size_t nconns;
    uint64_t next_conn_id;
    atomic_bool stopping;
} sam_server;

/* epoll tags of the two descriptors that are not connections */
static char sam_tag_listen, sam_tag_stop;

/* ---- Dispatch ----------------------------------------------------------------------------- */

typedef struct sam_route {
    uint16_t type;
    sam_handler fn;
    bool admin_only; /* a request of this type from another peer ends the connection */
} sam_route;

static const sam_route sam_routes[] = {
    {QS_SAM_PING, sam_h_ping, false},
    {QS_SAM_ENROL_FACTORS, sam_h_enrol_factors, false}, /* re-enrolment: admin, checked inside */
    {QS_SAM_CREATE_CREDENTIAL, sam_h_create_credential, false},
    {QS_SAM_AUTHORIZE, sam_h_authorize, false},
    {QS_SAM_EXTEND, sam_h_extend, false},
    {QS_SAM_SIGN, sam_h_sign, false},
    {QS_SAM_SIGN_DOC, sam_h_sign_doc, false},
    {QS_SAM_CREDENTIAL_STATE, sam_h_credential_state, true},
    {QS_SAM_CREATE_USER, sam_h_create_user, true},
    {QS_SAM_CA_INIT, sam_h_ca_init, true},
    {QS_SAM_CA_IMPORT_CERT, sam_h_ca_import_cert, true},
    {QS_SAM_CA_RENEW_OCSP, sam_h_ca_renew_ocsp, true},
    /* registration: admin peers, or an officer's RA session (checked inside) */
    {QS_SAM_CREATE_SIGNER, sam_h_create_signer, false},
    {QS_SAM_ISSUE_CERT, sam_h_issue_cert, false},
    {QS_SAM_REVOKE, sam_h_revoke, false},
    {QS_SAM_UNLOCK, sam_h_unlock, false},
    /* public status, the signer's activation, the officer's and the auditor's second factor */
    {QS_SAM_CRL, sam_h_crl, false},
    {QS_SAM_OCSP, sam_h_ocsp, false},
    {QS_SAM_ACTIVATE, sam_h_activate, false},
    {QS_SAM_OFFICER_LOGIN, sam_h_officer_login, false},
    /* the auditors' search: an auditor's session (checked inside) */
    {QS_SAM_AUDIT_SEARCH, sam_h_audit_search, false},
};

static const sam_route *sam_route_get(uint16_t type)
{
    for (size_t i = 0; i < sizeof sam_routes / sizeof sam_routes[0]; i++) {
        if (sam_routes[i].type == type)
            return &sam_routes[i];
    }
    return NULL;
}

/* ---- Connections -------------------------------------------------------------------------- */

static void conn_close(sam_server *srv, sam_conn *c)
{
    (void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    pthread_mutex_lock(&srv->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    pthread_mutex_unlock(&srv->mu);
    qs_debug("connection %llu closed", (unsigned long long)c->peer.conn_id);
    free(c);
}

/* Ends a connection for a protocol violation: WARN with the reason name, audited. */
static void conn_reject(sam_worker *w, sam_conn *c, const char *reason, int type)
{
    qs_warn("connection %llu (uid %u, pid %d): %s; closing it", (unsigned long long)c->peer.conn_id,
            (unsigned)c->peer.uid, (int)c->peer.pid, reason);
    sam_req rq = {.w = w, .peer = &c->peer};
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "reason", reason);
    if (type >= 0)
        sam_json_int(&j, "type", type);
    sam_json_int(&j, "peer_pid", c->peer.pid);
    sam_json_int(&j, "connection", (int64_t)c->peer.conn_id);
    const char *details = sam_json_finish(&j);
    if (details != NULL)
        (void)sam_audit(&rq, "protocol.rejected", false, NULL, NULL, NULL, details, NULL);
    sam_json_free(&j);
}

static bool peer_is_admin(const sam_config *cfg, uid_t uid)
{
    for (size_t i = 0; i < cfg->n_admin; i++) {
        if (cfg->admin[i] == uid)
            return true;
    }
    return false;
}

static void accept_all(sam_server *srv)
{
    for (;;) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN) /* EWOULDBLOCK is EAGAIN on Linux */
                qs_warn("accept: %s", strerror(errno));
            return;
        }
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof cred) {
            qs_warn("SO_PEERCRED: %s; closing the connection", strerror(errno));
            close(fd);
            continue;
        }
        sam_conn *c = calloc(1, sizeof *c);
        pthread_mutex_lock(&srv->mu);
        bool full = srv->nconns >= SAM_MAX_CONNECTIONS;
        if (c != NULL && !full) {
            c->fd = fd;
            c->peer.uid = cred.uid;
            c->peer.gid = cred.gid;
            c->peer.pid = cred.pid;
            c->peer.admin = peer_is_admin(srv->s.cfg, cred.uid);
            c->peer.conn_id = ++srv->next_conn_id;
            c->next = srv->conns;
            if (srv->conns != NULL)
                srv->conns->prev = c;
            srv->conns = c;
            srv->nconns++;
        }
        pthread_mutex_unlock(&srv->mu);
        if (c == NULL || full) {
            qs_warn("refusing a connection from uid %u: %s", (unsigned)cred.uid,
                    c == NULL ? "out of memory" : "too many connections");
            free(c);
            close(fd);
            continue;
        }
        qs_debug("connection %llu from uid %u pid %d%s", (unsigned long long)c->peer.conn_id,
                 (unsigned)cred.uid, (int)cred.pid, c->peer.admin ? " (admin)" : "");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            qs_error("epoll_ctl: %s", strerror(errno));
            conn_close(srv, c);
        }
    }
}

/* Builds the ERROR answer of a failed request. */
static qs_err error_frame(const sam_req *rq, qs_err code, uint8_t **frame, size_t *len)
{
    qs_sam_builder *b = NULL;
    qs_err r = qs_sam_msg_begin(QS_SAM_ERROR, rq->reqid, &b);
    if (r != QS_OK)
        return r;
    const char *msg = rq->errmsg[0] != '\0' ? rq->errmsg : qs_err_str(code);
    /* a put error sticks in the builder and qs_sam_msg_finish reports it */
    if (qs_sam_msg_put_u32(b, QS_SAM_T_ERROR_CODE, (uint32_t)(int32_t)code) == QS_OK)
        r = qs_sam_msg_put_str(b, QS_SAM_T_ERROR_MESSAGE, msg);
    if (r == QS_OK && rq->locked)
        r = qs_sam_msg_put_u32(b, QS_SAM_T_LOCKED, 1);
    return qs_sam_msg_finish(b, frame, len, NULL);
}

/* Reads and answers one request.  False when the connection must end. */
static bool serve_one(sam_server *srv, sam_worker *w, sam_conn *c)
{
    uint8_t *in = NULL, *out = NULL;
    size_t in_len = 0, out_len = 0;
    qs_sam_msg *msg = NULL;
    qs_sam_reason why = QS_SAM_R_OK;
    sam_req rq = {.w = w, .peer = &c->peer};
    bool keep = false;

    qs_err r = qs_sam_read_frame(c->fd, QS_SAM_MAX_BODY, (int)srv->s.cfg->read_timeout_ms, &in,
                                 &in_len, &why);
    switch (r) {
    case QS_OK:
        break;
    case QS_ERR_EOF:
        goto out; /* the peer closed between frames: a normal end */
    case QS_ERR_PROTO:
        conn_reject(w, c, qs_sam_reason_name(why), -1);
        goto out;
    case QS_ERR_TIMEOUT:
        conn_reject(w, c, "READ_TIMEOUT", -1);
        goto out;
    default:
        qs_warn("connection %llu: read: %s", (unsigned long long)c->peer.conn_id, qs_err_name(r));
        goto out;
    }
    r = qs_sam_decode_frame(in, in_len, &msg, &why);
    if (r == QS_ERR_PROTO) {
        conn_reject(w, c, qs_sam_reason_name(why), -1);
        goto out;
    }
    if (r != QS_OK) {
        qs_error("decoding a frame: %s", qs_err_name(r));
        goto out;
    }
    uint16_t type = qs_sam_msg_type(msg);
    const sam_route *route = qs_sam_type_is_response(type) ? NULL : sam_route_get(type);
    if (route == NULL) {
        conn_reject(w, c, "RESPONSE_TYPE", type);
        goto out;
    }
    if (route->admin_only && !c->peer.admin) {
        conn_reject(w, c, "FORBIDDEN_TYPE", type);
        goto out;
    }

    char rid[QS_LOG_RID_MAX];
    snprintf(rid, sizeof rid, "c%llu-r%llu", (unsigned long long)c->peer.conn_id,
             (unsigned long long)qs_sam_msg_reqid(msg));
    qs_log_set_request_id(rid);
    rq.msg = msg;
    rq.reqid = qs_sam_msg_reqid(msg);
    r = route->fn(&rq);
    if (rq.mac_bad.table != NULL) {
        sam_json j;
        sam_json_init(&j);
        sam_json_str(&j, "table", rq.mac_bad.table);
        sam_json_str(&j, "request", qs_sam_msg_spec_get(type)->name);
        const char *details = sam_json_finish(&j);
        if (details != NULL)
            (void)sam_audit(&rq, "record.mac_mismatch", false,
                            rq.mac_bad.has_user ? rq.mac_bad.user_id : NULL,
                            rq.mac_bad.has_credential ? rq.mac_bad.credential_id : NULL,
                            rq.mac_bad.has_sad ? rq.mac_bad.sad_ref : NULL, details, NULL);
        sam_json_free(&j);
    }
    if (r == QS_OK && rq.resp != NULL) {
        qs_sam_builder *b = rq.resp;
        rq.resp = NULL;
        r = qs_sam_msg_finish(b, &out, &out_len, &why);
        if (r != QS_OK) {
            qs_bug("response to %s does not encode: %s", qs_sam_msg_spec_get(type)->name,
                   qs_sam_reason_name(why));
            sam_fail(&rq, QS_ERR_INTERNAL, NULL);
        }
    } else if (r == QS_OK) {
        qs_bug("handler of %s returned no response", qs_sam_msg_spec_get(type)->name);
        r = sam_fail(&rq, QS_ERR_INTERNAL, NULL);
    }
    if (r != QS_OK) {
        qs_err code = rq.err != QS_OK ? rq.err : r;
        qs_info("%s refused: %s", qs_sam_msg_spec_get(type)->name, qs_err_name(code));
        if (error_frame(&rq, code, &out, &out_len) != QS_OK) {
            qs_error("cannot build an ERROR frame; closing the connection");
            goto out;
        }
    }
    r = qs_sam_write_frame(c->fd, out, out_len, SAM_WRITE_TIMEOUT_MS);
    if (r != QS_OK) {
        conn_reject(w, c, r == QS_ERR_TIMEOUT ? "WRITE_TIMEOUT" : "WRITE_FAILED", type);
        goto out;
    }
    keep = true;
out:
    qs_sam_builder_free(rq.resp);
    qs_sam_msg_free(msg);
    qs_sam_frame_free(in, in_len);
    qs_sam_frame_free(out, out_len);
    qs_log_set_request_id(NULL);
    return keep;
}

static void *worker_main(void *arg)
{
    sam_worker *w = arg;
    sam_server *srv = w->server;

    for (;;) {
        struct epoll_event ev;
        int n = epoll_wait(srv->epfd, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            qs_error("epoll_wait: %s", strerror(errno));
            break;
        }
        if (n == 0)
            continue;
        if (ev.data.ptr == &sam_tag_stop)
            break;
        if (ev.data.ptr == &sam_tag_listen) {
            if (atomic_load(&srv->stopping))
                break;
            accept_all(srv);
            struct epoll_event lev = {.events = EPOLLIN | EPOLLONESHOT,
                                      .data.ptr = &sam_tag_listen};
            if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listen_fd, &lev) != 0)
                qs_error("epoll_ctl (listener): %s", strerror(errno));
            continue;
        }
        sam_conn *c = ev.data.ptr;
        if (atomic_load(&srv->stopping)) {
            conn_close(srv, c);
            break;
        }
        if (!serve_one(srv, w, c)) {
            conn_close(srv, c);
            continue;
        }
        struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};
        if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &cev) != 0) {
            qs_error("epoll_ctl: %s", strerror(errno));
            conn_close(srv, c);
        }
    }
    return NULL;
}

/* ---- Start-up ----------------------------------------------------------------------------- */

static void harden_process(const sam_config *cfg)
{
    umask(077);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        qs_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
    struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0)
        qs_warn("setrlimit(RLIMIT_CORE): %s", strerror(errno));
    if (!cfg->lock_memory)
        return;
#ifdef SAM_ASAN
    /* locking would populate AddressSanitizer's shadow memory (terabytes reserved) */
    qs_info("AddressSanitizer build: not locking memory");
#else
    /* With MCL_FUTURE every later allocation counts against RLIMIT_MEMLOCK: under a finite
     * limit the Argon2id memory of a PIN check could fail long after start-up, so lock only
     * when nothing limits it (root, or LimitMEMLOCK=infinity). */
    struct rlimit ml;
    if (geteuid() != 0 && (getrlimit(RLIMIT_MEMLOCK, &ml) != 0 || ml.rlim_cur != RLIM_INFINITY)) {
        qs_warn("not locking memory: RLIMIT_MEMLOCK is finite; secrets may reach swap (set "
                "LimitMEMLOCK=infinity, or [sam] lock_memory = false to silence this)");
        return;
    }
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        qs_warn("mlockall: %s; secrets may reach swap", strerror(errno));
#endif
}

static qs_err open_hsm(const sam_config *cfg, qs_hsm **out)
{
    char *pin = NULL;
    size_t pin_len = 0;
    char why[512];

    *out = NULL;
    qs_err r =
        qs_secret_read_file(cfg->hsm_pin_file, QS_HSM_PIN_MAX, &pin, &pin_len, why, sizeof why);
    if (r != QS_OK) {
        qs_error("[hsm] pin_file: %s", why);
        return r;
    }
    qs_hsm_params p = {
        .module_path = cfg->hsm_module,
        .token_label = cfg->hsm_token_label,
        .pin = pin,
        .pin_len = pin_len,
    };
    r = qs_hsm_open(&p, out);
    qs_secret_free(pin); /* wipes */
    if (r != QS_OK)
        qs_error("cannot open the HSM token \"%s\": %s", cfg->hsm_token_label, qs_err_name(r));
    return r;
}

static qs_err resolve_group(const char *name, gid_t *gid)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (errno == 0 && end != name && *end == '\0') {
        *gid = (gid_t)v;
        return QS_OK;
    }
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrnam_r(name, &gr, buf, sizeof buf, &res) != 0 || res == NULL)
        return QS_ERR_CONFIG;
    *gid = gr.gr_gid;
    return QS_OK;
}

/* Binds the listening socket.  A socket file left by a dead process is removed; one someone
 * listens on is not. */
static qs_err bind_socket(sam_server *srv)
{
    const sam_config *cfg = srv->s.cfg;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;

    memcpy(sa.sun_path, cfg->socket_path, strlen(cfg->socket_path) + 1);
    if (lstat(cfg->socket_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            qs_error("[sam] socket_path %s exists and is not a socket", cfg->socket_path);
            return QS_ERR_EXISTS;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return QS_ERR_IO;
        int rc = connect(probe, (struct sockaddr *)&sa, sizeof sa);
        int err = errno;
        close(probe);
        if (rc == 0) {
            qs_error("another process listens on %s; not starting", cfg->socket_path);
            return QS_ERR_EXISTS;
        }
        if (err != ECONNREFUSED) {
            qs_error("cannot check the socket %s: %s", cfg->socket_path, strerror(err));
            return QS_ERR_IO;
        }
        qs_info("removing the stale socket %s", cfg->socket_path);
        if (unlink(cfg->socket_path) != 0 && errno != ENOENT) {
            qs_error("unlink %s: %s", cfg->socket_path, strerror(errno));
            return QS_ERR_IO;
        }
    }

    gid_t gid = (gid_t)-1;
    if (cfg->socket_group[0] != '\0' && resolve_group(cfg->socket_group, &gid) != QS_OK) {
        qs_error("[sam] socket_group: no group \"%s\"", cfg->socket_group);
        return QS_ERR_CONFIG;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        qs_error("socket: %s", strerror(errno));
        return QS_ERR_IO;
    }
    /* the umask (077) keeps the new socket private until its mode is set */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        qs_error("bind %s: %s", cfg->socket_path, strerror(errno));
        close(fd);
        return QS_ERR_IO;
    }
    if ((gid != (gid_t)-1 && chown(cfg->socket_path, (uid_t)-1, gid) != 0) ||
        chmod(cfg->socket_path, cfg->socket_mode_bits) != 0 ||
        listen(fd, SAM_LISTEN_BACKLOG) != 0 || stat(cfg->socket_path, &st) != 0) {
        qs_error("setting up %s: %s", cfg->socket_path, strerror(errno));
        close(fd);
        unlink(cfg->socket_path);
        return QS_ERR_IO;
    }
    srv->listen_fd = fd;
    srv->sock_dev = st.st_dev;
    srv->sock_ino = st.st_ino;
    return QS_OK;
}

/* Removes the socket file if it is still the one this process made. */
static void unlink_socket(sam_server *srv)
{
    struct stat st;
    const char *path = srv->s.cfg->socket_path;
    if (lstat(path, &st) == 0 && st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino)
        unlink(path);
}

static qs_err open_workers(sam_server *srv, qs_db *first_db)
{
    size_t n = (size_t)srv->s.cfg->workers;
    srv->workers = calloc(n, sizeof *srv->workers);
    srv->threads = calloc(n, sizeof *srv->threads);
    if (srv->workers == NULL || srv->threads == NULL) {
        qs_db_free(first_db);
        return QS_ERR_NOMEM;
    }
    srv->nworkers = n;
    for (size_t i = 0; i < n; i++) {
        sam_worker *w = &srv->workers[i];
        w->server = srv;
        w->s = &srv->s;
        w->idx = (unsigned)i;
        if (i == 0) {
            w->db = first_db;
        } else {
            qs_err r = qs_db_connect(srv->s.cfg->db_conninfo, &w->db);
            if (r != QS_OK) {
                qs_error("worker %zu: cannot connect to the database: %s", i, qs_err_name(r));
                return r;
            }
        }
        qs_err r = qs_hsm_session_open(srv->s.hsm, &w->hs);
        if (r != QS_OK) {
            qs_error("worker %zu: cannot open an HSM session: %s", i, qs_err_name(r));
            return r;
        }
    }
    return QS_OK;
}

/* ---- Maintenance ---------------------------------------------------------------------------- */

static void maint_once(sam_server *srv, const sam_peer *self)
{
    sam_req rq = {.w = &srv->maint, .peer = self};
    uint8_t *der = NULL;
    size_t len = 0;
    qs_err r = sam_ca_crl(&rq, false, &der, &len);
    if (r != QS_OK && r != QS_ERR_CA_NOT_READY)
        qs_error("scheduled CRL check failed: %s", qs_err_name(r));
    free(der);
}

static void *maint_main(void *arg)
{
    sam_server *srv = arg;
    const sam_peer self = {.uid = getuid(), .gid = getgid(), .pid = getpid(), .internal = true};
    int wait_ms = (int)srv->s.cfg->crl_check_seconds * 1000;
    qs_log_set_request_id("maintenance");
    while (!atomic_load(&srv->stopping)) {
        maint_once(srv, &self);
        struct pollfd p = {.fd = srv->stop_fd, .events = POLLIN};
        int n = poll(&p, 1, wait_ms);
        if (n > 0 || (n < 0 && errno != EINTR))
            break;
    }
    qs_log_set_request_id(NULL);
    return NULL;
}

static qs_err maint_start(sam_server *srv)
{
    sam_worker *w = &srv->maint;
    w->server = srv;
    w->s = &srv->s;
    w->idx = (unsigned)srv->nworkers;
    qs_err r = qs_db_connect(srv->s.cfg->db_conninfo, &w->db);
    if (r != QS_OK) {
        qs_error("maintenance: cannot connect to the database: %s", qs_err_name(r));
        return r;
    }
    if ((r = qs_hsm_session_open(srv->s.hsm, &w->hs)) != QS_OK) {
        qs_error("maintenance: cannot open an HSM session: %s", qs_err_name(r));
        return r;
    }
    if (pthread_create(&srv->maint_thread, NULL, maint_main, srv) != 0) {
        qs_error("cannot start the maintenance thread");
        return QS_ERR_INTERNAL;
    }
    srv->maint_started = true;
    return QS_OK;
}

static void service_event(sam_server *srv, const char *type)
{
    sam_json j;
    sam_json_init(&j);
    sam_json_str(&j, "writer", srv->s.cfg->writer_id);
    sam_json_int(&j, "pid", getpid());
    sam_json_int(&j, "workers", srv->s.cfg->workers);
    const char *details = sam_json_finish(&j);
    qs_audit_event ev = {
        .event_type = type, .actor = "qsign-sam", .success = true, .details_json = details};
    qs_err r = details == NULL ? QS_ERR_NOMEM : qs_audit_append(srv->s.audit, &ev, NULL);
    if (r != QS_OK)
        qs_error("audit record %s not written: %s", type, qs_err_name(r));
    sam_json_free(&j);
}

static void server_cleanup(sam_server *srv)
{
    for (size_t i = 0; i < srv->nthreads; i++)
        pthread_join(srv->threads[i], NULL);
    if (srv->maint_started)
        pthread_join(srv->maint_thread, NULL);
    while (srv->conns != NULL)
        conn_close(srv, srv->conns);
    if (srv->s.audit != NULL) {
        if (srv->nthreads > 0)
            service_event(srv, "service.stopped");
        qs_audit_stop(srv->s.audit);
    }
    for (size_t i = 0; i < srv->nworkers; i++) {
        qs_hsm_session_close(srv->workers[i].hs);
        qs_db_free(srv->workers[i].db);
    }
    qs_hsm_session_close(srv->maint.hs);
    qs_db_free(srv->maint.db);
    sam_ca_free(srv->s.ca);
    qs_hsm_close(srv->s.hsm);
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        unlink_socket(srv);
    }
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->stop_fd >= 0)
        close(srv->stop_fd);
    free(srv->workers);
    free(srv->threads);
    pthread_mutex_destroy(&srv->mu);
}

int sam_run(const sam_config *cfg)
{
    sam_server srv;
    sigset_t sigs;
    int status = 1;
    qs_db *first_db = NULL;
    qs_err r;

    memset(&srv, 0, sizeof srv);
    srv.s.cfg = cfg;
    srv.listen_fd = srv.epfd = srv.stop_fd = -1;
    pthread_mutex_init(&srv.mu, NULL);
    atomic_init(&srv.stopping, false);

    harden_process(cfg);
    qs_log_set_level((qs_log_level)cfg->log_level_value);
    /* every thread (the audit writer's too) inherits this mask: only sigwait takes them */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (open_hsm(cfg, &srv.s.hsm) != QS_OK)
        goto out;
    if ((r = qs_db_connect(cfg->db_conninfo, &first_db)) != QS_OK) {
        qs_error("cannot connect to the database: %s", qs_err_name(r));
        goto out;
    }
    if ((r = qs_db_check_schema(first_db)) != QS_OK) {
        qs_error("database schema: %s (run qsignctl db migrate with this version)", qs_err_name(r));
        qs_db_free(first_db);
        goto out;
    }
    char host[128] = "";
    char description[QS_AUDIT_DESCRIPTION_MAX];
    (void)gethostname(host, sizeof host - 1);
    snprintf(description, sizeof description, "qsign-sam on %s", host);
    qs_audit_params ap = {
        .writer_id = cfg->writer_id,
        .description = description,
        .conninfo = cfg->db_conninfo,
        .hsm = srv.s.hsm,
        .checkpoint_every_records = (uint64_t)cfg->checkpoint_every_records,
        .checkpoint_every_seconds = (unsigned)cfg->checkpoint_every_seconds,
    };
    if ((r = qs_audit_start(&ap, &srv.s.audit)) != QS_OK) {
        qs_error("cannot start the audit writer %s: %s", cfg->writer_id, qs_err_name(r));
        qs_db_free(first_db);
        goto out;
    }
    if (open_workers(&srv, first_db) != QS_OK)
        goto out;
    if ((r = sam_ca_new(cfg, &srv.s.ca)) != QS_OK ||
        (r = sam_ca_load(srv.s.ca, srv.workers[0].hs, srv.workers[0].db)) != QS_OK) {
        qs_error("cannot open the certification authority: %s", qs_err_name(r));
        goto out;
    }
    if (bind_socket(&srv) != QS_OK)
        goto out;
    srv.epfd = epoll_create1(EPOLL_CLOEXEC);
    srv.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = &sam_tag_listen};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sam_tag_stop};
    if (srv.epfd < 0 || srv.stop_fd < 0 ||
        epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.listen_fd, &lev) != 0 ||
        epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.stop_fd, &sev) != 0) {
        qs_error("epoll set-up: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < srv.nworkers; i++) {
        if (pthread_create(&srv.threads[i], NULL, worker_main, &srv.workers[i]) != 0) {
            qs_error("cannot start worker %zu", i);
            atomic_store(&srv.stopping, true);
            uint64_t one = 1;
            (void)!write(srv.stop_fd, &one, sizeof one);
            goto out;
        }
        srv.nthreads++;
    }
    service_event(&srv, "service.started");
    if (maint_start(&srv) != QS_OK) {
        atomic_store(&srv.stopping, true);
        uint64_t one = 1;
        (void)!write(srv.stop_fd, &one, sizeof one);
        goto out;
    }
    qs_info("listening on %s with %zu workers (audit writer %s)", cfg->socket_path, srv.nworkers,
            cfg->writer_id);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            qs_info("SIGHUP ignored (restart to reload the config)");
            continue;
        }
        qs_info("signal %d: stopping", sig);
        break;
    }
    atomic_store(&srv.stopping, true);
    uint64_t one = 1;
    if (write(srv.stop_fd, &one, sizeof one) != (ssize_t)sizeof one)
        qs_error("eventfd write: %s", strerror(errno));
    status = 0;
out:
    server_cleanup(&srv);
    if (status == 0)
        qs_info("stopped");
    return status;
}

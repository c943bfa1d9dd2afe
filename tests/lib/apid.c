/* qsignd end-to-end harness: certificates, config, the daemon as a child, a libcurl client. */
#include "tests/lib/apid.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "db/db.h"
#include "db/db_api.h"
#include "sam/proto.h"
#include "tests/lib/testutil.h"

#define APID_START_TIMEOUT_S 30
#define APID_STOP_TIMEOUT_S  15

static _Noreturn void fail(const qs_test_apid *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static _Noreturn void fail(const qs_test_apid *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qs_test_apid: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (d != NULL) {
        char *log = qs_test_apid_log(d);
        if (log != NULL)
            fprintf(stderr, "---- qsignd log ----\n%s---- end of log ----\n", log);
        free(log);
        if (d->pid > 0)
            kill(d->pid, SIGKILL);
    }
    exit(1);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1024 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

char *qs_test_apid_log(const qs_test_apid *d)
{
    return read_all(d->log_file, NULL);
}

static void make_certificates(const qs_test_apid *d)
{
    const char *dir = d->dir;
    int rc = qs_test_system(
        "cd '%s' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key"
        " -out ca.pem -days 2 -subj /CN=qsign-test-ca"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
        " >/dev/null 2>&1 && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key"
        " -out server.csr -subj /CN=localhost >/dev/null 2>&1 && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n'"
        " > server.ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 2 -extfile server.ext >/dev/null 2>&1 && "
        "chmod 600 server.key ca.key",
        dir);
    if (rc != 0)
        fail(NULL, "cannot make the test certificates with openssl in %s (exit %d)", dir, rc);
}

static void write_config(const qs_test_apid *d, const qs_test_pg *pg, const qs_test_apid_opts *o)
{
    FILE *f = fopen(d->conf_file, "w");
    if (f == NULL)
        fail(NULL, "cannot write %s", d->conf_file);
    fprintf(f,
            "[http]\n"
            "listen_address = 127.0.0.1\n"
            "port = 0\n"
            "tls_cert_file = %s/server.pem\n"
            "tls_key_file = %s/server.key\n"
            "threads = %d\n"
            "connection_timeout = 10\n",
            d->dir, d->dir, o->threads > 0 ? o->threads : 2);
    if (o->max_body > 0)
        fprintf(f, "max_body = %d\n", o->max_body);
    if (o->public_origin != NULL)
        fprintf(f, "public_origin = %s\n", o->public_origin);
    fprintf(f,
            "[ratelimit]\n"
            "address_per_minute = %d\n"
            "address_burst = %d\n"
            "account_per_minute = %d\n"
            "account_burst = %d\n",
            o->rl_address_per_minute, o->rl_address_burst > 0 ? o->rl_address_burst : 1000,
            o->rl_account_per_minute, o->rl_account_burst > 0 ? o->rl_account_burst : 1000);
    fprintf(f, "[database]\nconninfo = \"%s\"\n", pg->api_conninfo);
    fprintf(f, "[sam]\nsocket_path = %s\ntimeout_ms = %d\n",
            o->sam_socket != NULL ? o->sam_socket : "/nonexistent/qsign-sam.sock",
            o->sam_timeout_ms > 0 ? o->sam_timeout_ms : 2000);
    fprintf(f, "[auth]\ntoken_lifetime = %d\nrefresh_token_lifetime = %d\n",
            o->token_lifetime > 0 ? o->token_lifetime : 3600,
            o->refresh_token_lifetime > 0 ? o->refresh_token_lifetime : 86400);
    if (o->pki_listener)
        fprintf(f, "[pki]\nlisten_address = 127.0.0.1\nport = 0\n");
    fprintf(f, "[csc]\nname = qsign test\nregion = EE\n[log]\nlevel = info\n");
    if (o->audit_conninfo != NULL)
        fprintf(f, "[audit]\nconninfo = \"%s\"\n", o->audit_conninfo);
    if (o->extra != NULL)
        fprintf(f, "%s", o->extra);
    fclose(f);
}

/* The port of the log line "listening ... port=N ..." that holds `marker` (NULL: the first
 * such line); 0 when there is none yet. */
static unsigned listening_port(const char *log, const char *marker)
{
    for (const char *p = log; p != NULL && (p = strstr(p, "msg=\"listening ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        const char *port = strstr(p, " port=");
        if (port == NULL || (size_t)(port - p) >= n)
            continue;
        const char *m = marker != NULL ? strstr(p, marker) : NULL;
        if (marker == NULL || (m != NULL && (size_t)(m - p) < n))
            return (unsigned)strtoul(port + 6, NULL, 10);
    }
    return 0;
}

/* Waits for "listening ... port=N" in the log (and the [pki] listener's line when asked). */
static void wait_listening(qs_test_apid *d, bool pki)
{
    for (int i = 0; i < APID_START_TIMEOUT_S * 20; i++) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = -1;
            fail(d, "qsignd exited during start-up (status %d)",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
        char *log = qs_test_apid_log(d);
        unsigned port = log != NULL ? listening_port(log, NULL) : 0;
        unsigned pki_port = log != NULL && pki ? listening_port(log, " paths=/pki/") : 0;
        free(log);
        if (port != 0 && (!pki || pki_port != 0)) {
            d->port = port;
            snprintf(d->base_url, sizeof d->base_url, "https://localhost:%u", d->port);
            d->pki_port = pki_port;
            if (pki)
                snprintf(d->pki_url, sizeof d->pki_url, "http://127.0.0.1:%u", pki_port);
            return;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail(d, "qsignd did not start listening within %d s", APID_START_TIMEOUT_S);
}

qs_test_apid *qs_test_apid_start(const qs_test_pg *pg, const qs_test_apid_opts *opts)
{
    const char *bin = getenv("QS_QSIGND");
    if (bin == NULL || bin[0] == '\0' || access(bin, X_OK) != 0)
        fail(NULL, "QS_QSIGND does not name the qsignd binary");
    qs_test_apid_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    qs_test_apid *d = calloc(1, sizeof *d);
    if (d == NULL)
        fail(NULL, "out of memory");
    d->pid = -1;
    qs_test_tmpdir("apid", d->dir, sizeof d->dir);
    snprintf(d->ca_file, sizeof d->ca_file, "%s/ca.pem", d->dir);
    snprintf(d->conf_file, sizeof d->conf_file, "%s/qsignd.conf", d->dir);
    snprintf(d->log_file, sizeof d->log_file, "%s/qsignd.log", d->dir);
    make_certificates(d);
    write_config(d, pg, opts);

    fflush(NULL);
    d->pid = fork();
    if (d->pid < 0)
        fail(NULL, "fork: %s", strerror(errno));
    if (d->pid == 0) {
        FILE *log = freopen(d->log_file, "w", stderr);
        if (log == NULL)
            _exit(126);
        if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
            _exit(126);
        execl(bin, "qsignd", "-c", d->conf_file, (char *)NULL);
        _exit(127);
    }
    wait_listening(d, opts->pki_listener);
    return d;
}

int qs_test_apid_stop(qs_test_apid *d)
{
    if (d == NULL)
        return 0;
    int result = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        for (int i = 0; i < APID_STOP_TIMEOUT_S * 20; i++) {
            int st;
            pid_t w = waitpid(d->pid, &st, WNOHANG);
            if (w == d->pid) {
                result = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                d->pid = -1;
                break;
            }
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (d->pid > 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
        }
    }
    const char *show = getenv("QS_TEST_APID_SHOW_LOG");
    if (result != 0 || (show != NULL && strcmp(show, "1") == 0)) {
        char *log = qs_test_apid_log(d);
        fprintf(stderr, "qsignd exit status %d; log:\n%s\n", result, log != NULL ? log : "");
        free(log);
    }
    qs_test_rmtree(d->dir);
    free(d);
    return result;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

typedef struct growbuf {
    char *p;
    size_t len;
} growbuf;

static size_t on_data(char *data, size_t size, size_t n, void *cls)
{
    growbuf *b = cls;
    size_t add = size * n;
    char *p = realloc(b->p, b->len + add + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, add);
    b->len += add;
    p[b->len] = '\0';
    b->p = p;
    return add;
}

/* The chunked body sender: hands out the body in small pieces. */
typedef struct sender {
    const char *p;
    size_t left;
} sender;

static size_t on_read(char *buf, size_t size, size_t n, void *cls)
{
    sender *s = cls;
    size_t want = size * n;
    if (want > 4096)
        want = 4096;
    if (want > s->left)
        want = s->left;
    memcpy(buf, s->p, want);
    s->p += want;
    s->left -= want;
    return want;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

qs_test_http *qs_test_apid_request(const qs_test_apid *d, const qs_test_req *req)
{
    pthread_once(&curl_once, curl_init);
    qs_test_http *r = calloc(1, sizeof *r);
    CURL *c = curl_easy_init();
    if (r == NULL || c == NULL)
        fail(d, "out of memory");
    char url[2048 + 256];
    snprintf(url, sizeof url, "%s%s", d->base_url, req->path);
    growbuf body = {0}, hdrs = {0};
    struct curl_slist *h = NULL;
    char line[8192];
    h = curl_slist_append(h, "Expect:");
    if (req->body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (req->auth != NULL) {
        snprintf(line, sizeof line, "Authorization: %s", req->auth);
        h = curl_slist_append(h, line);
    }
    for (const char *const *e = req->headers; e != NULL && *e != NULL; e++)
        h = curl_slist_append(h, *e);
    sender snd = {0};
    size_t blen = req->body != NULL ? (req->body_len > 0 ? req->body_len : strlen(req->body)) : 0;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method != NULL ? req->method : "POST");
    if (req->method != NULL && strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (req->body != NULL) {
        if (req->chunked) {
            snd.p = req->body;
            snd.left = blen;
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &snd);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        }
    }
    if (req->ssl_version != 0)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, req->ssl_version);
    if (req->source_address != NULL) {
        snprintf(line, sizeof line, "host!%s", req->source_address);
        curl_easy_setopt(c, CURLOPT_INTERFACE, line);
        curl_easy_setopt(c, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = 0;
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(cc));
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->body = body.p != NULL ? body.p : strdup("");
    r->body_len = body.len;
    r->headers = hdrs.p != NULL ? hdrs.p : strdup("");
    return r;
}

qs_test_http *qs_test_apid_post(const qs_test_apid *d, const char *path, const char *bearer,
                                const char *body)
{
    char auth[512];
    qs_test_req req = {.path = path, .body = body};
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Bearer %s", bearer);
        req.auth = auth;
    }
    return qs_test_apid_request(d, &req);
}

char *qs_test_apid_login(const qs_test_apid *d, const char *username, const char *password)
{
    char raw[512], b64[800], auth[900];
    int n = snprintf(raw, sizeof raw, "%s:%s", username, password);
    if (n < 0 || (size_t)n >= sizeof raw)
        fail(d, "login %s: username and password too long", username);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, (size_t)n,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    qs_test_http *r = qs_test_apid_request(d, &req);
    json_error_t e;
    json_t *j = r->status == 200 ? json_loads(r->body, 0, &e) : NULL;
    const char *t = json_string_value(json_object_get(j, "access_token"));
    if (t == NULL)
        fail(d, "login %s: HTTP %ld %s", username, r->status, r->body != NULL ? r->body : "");
    char *token = strdup(t);
    json_decref(j);
    qs_test_http_free(r);
    if (token == NULL)
        fail(d, "out of memory");
    return token;
}

const char *qs_test_http_header(const qs_test_http *r, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line != NULL && *line != '\0';) {
        const char *eol = strstr(line, "\r\n");
        size_t l = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (l > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vl = l - (size_t)(v - line);
            if (vl >= len)
                vl = len - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = eol != NULL ? eol + 2 : NULL;
    }
    return NULL;
}

void qs_test_http_free(qs_test_http *r)
{
    if (r == NULL)
        return;
    free(r->body);
    free(r->headers);
    free(r);
}

/* ---- Rows ------------------------------------------------------------------------------------ */

#define MAC32 "decode(repeat('4d', 32), 'hex')"

void qs_test_apid_add_user(const qs_test_pg *pg, const char *id, const char *username,
                           const char *status)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.users (id, username, kind, status, record_mac)"
             " VALUES ('%s', '%s', 'signer', '%s', " MAC32 ")",
             id, username, status);
    PGconn *c = qs_test_pg_connect(pg->owner_conninfo);
    qs_test_pg_exec_ok(c, sql);
    PQfinish(c);
}

void qs_test_apid_add_credential(const qs_test_pg *pg, const char *id, const char *user_id,
                                 const char *key_alg, const char *status)
{
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "INSERT INTO qsign.credentials (id, user_id, key_alg, spki, wrapped_key, status,"
        " record_mac) VALUES ('%s', '%s', '%s', decode(repeat('30', 91), 'hex'), %s, '%s', " MAC32
        ")",
        id, user_id, key_alg,
        strcmp(status, "destroyed") == 0 ? "NULL" : "decode(repeat('aa', 48), 'hex')", status);
    PGconn *c = qs_test_pg_connect(pg->owner_conninfo);
    qs_test_pg_exec_ok(c, sql);
    PQfinish(c);
}

typedef struct set_pw {
    uint8_t id[QS_DB_API_UUID_LEN];
    const char *verifier;
    bool exists;
} set_pw;

static qs_err set_pw_txn(qs_db *db, void *cls)
{
    set_pw *s = cls;
    return qs_db_account_set_password(db, s->id, s->verifier, &s->exists);
}

void qs_test_apid_set_password(const qs_test_pg *pg, const char *user_id, const char *password)
{
    char verifier[crypto_pwhash_STRBYTES];
    set_pw s = {.verifier = verifier};
    unsigned v[16];
    if (sscanf(user_id, "%2x%2x%2x%2x-%2x%2x-%2x%2x-%2x%2x-%2x%2x%2x%2x%2x%2x", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13],
               &v[14], &v[15]) != 16)
        fail(NULL, "bad user id %s", user_id);
    for (int i = 0; i < 16; i++)
        s.id[i] = (uint8_t)v[i];
    if (crypto_pwhash_str_alg(
            verifier, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        fail(NULL, "crypto_pwhash_str failed");
    qs_db *db = NULL;
    if (qs_db_connect(pg->owner_conninfo, &db) != QS_OK ||
        qs_db_run_txn(db, "test_set_password", set_pw_txn, &s) != QS_OK || !s.exists)
        fail(NULL, "cannot set the password of %s", user_id);
    qs_db_free(db);
}

/* ---- A stand-in SAM -------------------------------------------------------------------------- */

struct qs_test_fake_sam {
    int fd;
    pthread_t thread;
    char path[108];
};

static void answer(int c)
{
    for (;;) {
        qs_sam_msg *m = NULL;
        qs_sam_reason why;
        if (qs_sam_recv(c, QS_SAM_MAX_BODY, 5000, &m, &why) != QS_OK)
            return;
        qs_sam_builder *b = NULL;
        uint8_t *frame = NULL;
        size_t len = 0;
        qs_err r;
        if (qs_sam_msg_type(m) == QS_SAM_PING) {
            r = qs_sam_msg_begin(QS_SAM_PING_RESP, qs_sam_msg_reqid(m), &b);
        } else {
            r = qs_sam_msg_begin(QS_SAM_ERROR, qs_sam_msg_reqid(m), &b);
            if (r == QS_OK)
                r = qs_sam_msg_put_u32(b, QS_SAM_T_ERROR_CODE, (uint32_t)QS_ERR_UNSUPPORTED);
            if (r == QS_OK)
                r = qs_sam_msg_put_str(b, QS_SAM_T_ERROR_MESSAGE, "stand-in SAM");
        }
        qs_sam_msg_free(m);
        if (r == QS_OK) {
            r = qs_sam_msg_finish(b, &frame, &len, NULL);
            b = NULL;
        }
        qs_sam_builder_free(b);
        if (r == QS_OK)
            r = qs_sam_write_frame(c, frame, len, 5000);
        qs_sam_frame_free(frame, len);
        if (r != QS_OK)
            return;
    }
}

static void *fake_sam_main(void *cls)
{
    qs_test_fake_sam *s = cls;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return NULL; /* closed by stop */
        }
        answer(c);
        close(c);
    }
}

qs_test_fake_sam *qs_test_fake_sam_start(const char *path)
{
    qs_test_fake_sam *s = calloc(1, sizeof *s);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (s == NULL || strlen(path) >= sizeof sa.sun_path)
        fail(NULL, "fake SAM: bad path %s", path);
    snprintf(s->path, sizeof s->path, "%s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->fd, 8) != 0)
        fail(NULL, "fake SAM: cannot listen on %s: %s", path, strerror(errno));
    if (pthread_create(&s->thread, NULL, fake_sam_main, s) != 0)
        fail(NULL, "fake SAM: pthread_create");
    return s;
}

void qs_test_fake_sam_stop(qs_test_fake_sam *s)
{
    if (s == NULL)
        return;
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
    unlink(s->path);
    free(s);
}

long long qs_test_apid_metric(const qs_test_apid *d, const char *series)
{
    qs_test_req req = {.method = "GET", .path = "/metrics"};
    qs_test_http *r = qs_test_apid_request(d, &req);
    long long v = -1;
    char line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = r->status == 200 ? strstr(r->body, line) : NULL;
    if (p != NULL)
        v = strtoll(p + strlen(line), NULL, 10);
    qs_test_http_free(r);
    return v;
}

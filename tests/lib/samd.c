/* The real qsign-sam daemon for end-to-end tests (tests/lib/samd.h). */
#include "tests/lib/samd.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "sam/audit.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

__attribute__((format(printf, 2, 3))) static _Noreturn void samd_die(const qs_test_samd *d,
                                                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "samd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (d != NULL)
        qs_test_samd_dump_log(d);
    exit(1);
}

void qs_test_samd_dump_log(const qs_test_samd *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- qsign-sam log (%s) ----\n", d->log_path);
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL)
        fputs(line, stderr);
    fprintf(stderr, "---- end of log ----\n");
    fclose(f);
}

static void write_config(qs_test_samd *d)
{
    const qs_test_samd_opts *o = &d->opts;
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    FILE *f = fopen(d->config_path, "w");
    if (f == NULL)
        samd_die(NULL, "cannot write %s", d->config_path);
    fprintf(f,
            "[sam]\n"
            "socket_path = %s\n"
            "socket_mode = %s\n"
            "workers = %d\n"
            "writer_id = %s\n"
            "admin_uids = %s\n"
            "lock_memory = false\n"
            "read_timeout_ms = %d\n"
            "[database]\n"
            "conninfo = %s\n"
            "[hsm]\n"
            "module = %s\n"
            "token_label = %s\n"
            "pin_file = %s\n"
            "[auth]\n"
            "pin_min_length = 6\n"
            "argon2_opslimit = 1\n"
            "argon2_memlimit = 8192\n"
            "max_failed_attempts = %d\n"
            "totp_issuer = qsign-test\n"
            "[sad]\n"
            "lifetime = %d\n"
            "max_lifetime = %d\n"
            "max_signatures = %d\n"
            "[log]\n"
            "level = %s\n"
            "%s",
            d->socket_path, o->public_socket ? "0666" : "0600", o->workers > 0 ? o->workers : 4,
            d->writer_id, o->admin_uids != NULL ? o->admin_uids : uid,
            o->read_timeout_ms > 0 ? o->read_timeout_ms : 2000, d->pg->sam_conninfo,
            d->token.module, d->token.label, d->pin_file,
            o->max_failed_attempts > 0 ? o->max_failed_attempts : 5,
            o->sad_lifetime > 0 ? o->sad_lifetime : 300,
            o->sad_max_lifetime > 0 ? o->sad_max_lifetime : 3600,
            o->max_signatures > 0 ? o->max_signatures : 1000,
            o->log_level != NULL ? o->log_level : "info", o->extra != NULL ? o->extra : "");
    if (fclose(f) != 0)
        samd_die(NULL, "cannot write %s", d->config_path);
}

void qs_test_samd_setup(qs_test_samd *d, const char *tag, const qs_test_samd_opts *opts)
{
    memset(d, 0, sizeof *d);
    if (opts != NULL)
        d->opts = *opts;
    const char *bin = getenv("QS_SAM_BIN");
    if (bin == NULL || bin[0] == '\0' || access(bin, X_OK) != 0)
        qs_test_skip("QS_SAM_BIN (path of the qsign-sam binary) is not set");
    snprintf(d->binary, sizeof d->binary, "%s", bin);

    qs_test_token_create(&d->token, tag);
    qs_test_token_init_keys(&d->token);
    qs_test_token_secret_file(&d->token, "hsm-pin", d->token.pin, d->pin_file, sizeof d->pin_file);
    d->pg = qs_test_pg_create(tag);
    qs_test_pg_migrate(d->pg);

    if (d->opts.public_socket) {
        qs_test_tmpdir("samsock", d->sock_dir, sizeof d->sock_dir);
        if (chmod(d->sock_dir, 0711) != 0)
            samd_die(NULL, "chmod %s", d->sock_dir);
    } else {
        snprintf(d->sock_dir, sizeof d->sock_dir, "%s", d->token.dir);
    }
    if (snprintf(d->socket_path, sizeof d->socket_path, "%s/sam.sock", d->sock_dir) >=
        (int)sizeof d->socket_path)
        samd_die(NULL, "socket path too long (set TMPDIR to a shorter directory)");
    snprintf(d->config_path, sizeof d->config_path, "%s/qsign-sam.conf", d->token.dir);
    snprintf(d->log_path, sizeof d->log_path, "%s/qsign-sam.log", d->token.dir);
    snprintf(d->writer_id, sizeof d->writer_id, "test-%s", tag);
    for (char *p = d->writer_id; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            *p = '-';
    }
    write_config(d);
}

void qs_test_samd_configure(qs_test_samd *d, const qs_test_samd_opts *opts)
{
    qs_test_samd_opts o = {0};
    if (opts != NULL)
        o = *opts;
    if (o.public_socket != d->opts.public_socket)
        samd_die(d, "the socket's place cannot change after setup");
    d->opts = o;
    write_config(d);
}

static bool samd_answers(const qs_test_samd *d)
{
    qs_sam_client *c = NULL;
    if (qs_sam_client_connect(d->socket_path, 5000, &c) != QS_OK)
        return false;
    qs_err r = qs_sam_client_ping(c);
    qs_sam_client_close(c);
    return r == QS_OK;
}

void qs_test_samd_launch(qs_test_samd *d)
{
    if (d->pid > 0)
        samd_die(d, "the daemon is running already");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        samd_die(d, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            (void)dup2(devnull, STDIN_FILENO);
        execl(d->binary, "qsign-sam", "-c", d->config_path, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    for (int i = 0; i < 600; i++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            d->pid = 0;
            samd_die(d, "qsign-sam exited during start-up (status 0x%x)", (unsigned)st);
        }
        if (samd_answers(d))
            return;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    samd_die(d, "qsign-sam did not answer within 60 s");
}

int qs_test_samd_terminate(qs_test_samd *d, int sig)
{
    if (d->pid <= 0)
        return -1;
    int st = 0;
    kill(d->pid, sig);
    for (int i = 0; i < 300; i++) {
        pid_t w = waitpid(d->pid, &st, WNOHANG);
        if (w == d->pid) {
            d->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "samd: qsign-sam did not stop within 30 s; killing it\n");
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return 128 + SIGKILL;
}

void qs_test_samd_teardown(qs_test_samd *d)
{
    if (d->pid > 0)
        (void)qs_test_samd_terminate(d, SIGKILL);
    if (getenv("QS_TEST_SAMD_LOG") != NULL)
        qs_test_samd_dump_log(d);
    qs_test_pg_destroy(d->pg);
    d->pg = NULL;
    if (d->opts.public_socket)
        qs_test_rmtree(d->sock_dir);
    qs_test_token_destroy(&d->token);
}

qs_test_samd *qs_test_samd_start(const char *tag, const qs_test_samd_opts *opts)
{
    qs_test_samd *d = calloc(1, sizeof *d);
    if (d == NULL)
        samd_die(NULL, "out of memory");
    qs_test_samd_setup(d, tag, opts);
    qs_test_samd_launch(d);
    return d;
}

void qs_test_samd_stop(qs_test_samd *d)
{
    if (d == NULL)
        return;
    int st = qs_test_samd_terminate(d, SIGTERM);
    if (getenv("QS_TEST_SAMD_LOG") != NULL)
        qs_test_samd_dump_log(d);
    if (st != 0)
        samd_die(d, "qsign-sam stopped with status %d (0 expected after SIGTERM)", st);
    qs_test_samd_teardown(d);
    free(d);
}

qs_sam_client *qs_test_samd_connect(const qs_test_samd *d)
{
    qs_sam_client *c = NULL;
    qs_err r = qs_sam_client_connect(d->socket_path, 60000, &c);
    if (r != QS_OK)
        samd_die(d, "cannot connect to %s: %s", d->socket_path, qs_err_name(r));
    return c;
}

/* ---- Signers -------------------------------------------------------------------------------- */

static int b32val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

/* The value of `key` in the URI's query, copied into buf. */
static bool query_value(const char *uri, const char *key, char *buf, size_t cap)
{
    const char *q = strchr(uri, '?');
    size_t klen = strlen(key);
    while (q != NULL) {
        q++;
        if (strncmp(q, key, klen) == 0 && q[klen] == '=') {
            const char *v = q + klen + 1;
            size_t n = strcspn(v, "&");
            if (n >= cap)
                return false;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return true;
        }
        q = strchr(q, '&');
    }
    return false;
}

bool qs_test_otpauth_parse(const char *uri, qs_test_signer *s)
{
    char secret[256], v[32];
    if (strncmp(uri, "otpauth://totp/", 15) != 0 ||
        !query_value(uri, "secret", secret, sizeof secret))
        return false;
    size_t bits = 0, n = 0;
    uint32_t acc = 0;
    for (const char *p = secret; *p != '\0'; p++) {
        int x = b32val(*p);
        if (x < 0)
            return false;
        acc = acc << 5 | (uint32_t)x;
        bits += 5;
        if (bits >= 8) {
            if (n >= sizeof s->seed)
                return false;
            s->seed[n++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    s->seed_len = n;
    qs_totp_params p = QS_TOTP_PARAMS_DEFAULT;
    if (query_value(uri, "algorithm", v, sizeof v)) {
        if (strcmp(v, "SHA1") == 0)
            p.alg = QS_TOTP_SHA1;
        else if (strcmp(v, "SHA256") == 0)
            p.alg = QS_TOTP_SHA256;
        else if (strcmp(v, "SHA512") == 0)
            p.alg = QS_TOTP_SHA512;
        else
            return false;
    }
    if (query_value(uri, "digits", v, sizeof v))
        p.digits = (unsigned)atoi(v);
    if (query_value(uri, "period", v, sizeof v))
        p.period = (unsigned)atoi(v);
    s->params = p;
    return qs_totp_params_check(&p) == QS_OK && n >= QS_TOTP_SEED_MIN;
}

void qs_test_samd_enrol_signer(qs_test_samd *d, qs_sam_client *c, const char *username,
                               const char *pin, qs_test_signer *out)
{
    char *uri = NULL;
    memset(out, 0, sizeof *out);
    snprintf(out->username, sizeof out->username, "%s", username);
    snprintf(out->pin, sizeof out->pin, "%s", pin);
    qs_err r =
        qs_sam_client_create_user(c, username, QS_SAM_USER_SIGNER, "test-officer", out->user_id);
    if (r != QS_OK)
        samd_die(d, "CREATE_USER %s: %s (%s)", username, qs_err_name(r), qs_sam_client_error(c));
    r = qs_sam_client_enrol(c, out->user_id, pin, "test-officer", NULL, NULL, &uri);
    if (r != QS_OK)
        samd_die(d, "ENROL_FACTORS %s: %s (%s)", username, qs_err_name(r), qs_sam_client_error(c));
    if (!qs_test_otpauth_parse(uri, out))
        samd_die(d, "the otpauth URI does not parse");
    qs_secret_free(uri);
}

const char qs_test_samd_ca_config[] = "[ca]\n"
                                      "subject_country = EE\n"
                                      "subject_organization = qsign Test Trust Services\n"
                                      "subject_organization_id = NTREE-10000000\n"
                                      "subject_common_name = qsign Test Qualified CA\n"
                                      "pds_url = https://qsign.example/pds-en\n"
                                      "ca_issuers_url = http://qsign.example/pki/ca.crt\n"
                                      "ocsp_url = http://qsign.example/pki/ocsp\n"
                                      "crl_url = http://qsign.example/pki/crl\n";

void qs_test_samd_ca_init(qs_test_samd *d, qs_sam_client *c, uint8_t **der, size_t *len)
{
    uint8_t *csr = NULL;
    size_t csr_len = 0;
    qs_err r =
        qs_sam_client_ca_init(c, QS_SAM_CA_SELF_SIGNED, "test-operator", der, len, &csr, &csr_len);
    free(csr);
    if (r != QS_OK || *der == NULL)
        samd_die(d, "CA_INIT: %s (%s)", qs_err_name(r), qs_sam_client_error(c));
}

void qs_test_samd_certified_signer(qs_test_samd *d, qs_sam_client *c, const char *username,
                                   const char *pin, qs_sam_key_alg alg, qs_test_signer *out,
                                   char cred[static QS_SAM_ID_BUF], uint8_t **cert,
                                   size_t *cert_len)
{
    char code[QS_SAM_ACTIVATION_BUF], *uri = NULL;
    uint8_t serial[20];
    size_t serial_len = 0;
    uint64_t expires = 0;
    memset(out, 0, sizeof *out);
    snprintf(out->username, sizeof out->username, "%s", username);
    snprintf(out->pin, sizeof out->pin, "%s", pin);
    qs_sam_signer_req q = {
        .username = username,
        .profile = "qcp-n-qscd",
        .country = "EE",
        .common_name = "Test Signer",
        .given_name = "Test",
        .surname = "Signer",
        .serial_number = "PNOEE-48010010101",
        .method = QS_SAM_EVIDENCE_PHYSICAL,
        .document_type = QS_SAM_DOC_ID_CARD,
        .document_number = "AB1234567",
        .document_country = "EE",
        .actor = "test-officer",
    };
    qs_err r = qs_sam_client_create_signer(c, &q, out->user_id, code, &expires);
    if (r != QS_OK)
        samd_die(d, "CREATE_SIGNER %s: %s (%s)", username, qs_err_name(r), qs_sam_client_error(c));
    r = qs_sam_client_activate(c, out->user_id, code, pin, NULL, NULL, &uri);
    qs_wipe(code, sizeof code);
    if (r != QS_OK)
        samd_die(d, "ACTIVATE %s: %s (%s)", username, qs_err_name(r), qs_sam_client_error(c));
    if (!qs_test_otpauth_parse(uri, out))
        samd_die(d, "the otpauth URI does not parse");
    qs_secret_free(uri);
    qs_sam_issue_req iq = {.user_id = out->user_id, .alg = alg, .actor = "test-officer"};
    r = qs_sam_client_issue_cert(c, &iq, cred, cert, cert_len, serial, &serial_len);
    if (r != QS_OK)
        samd_die(d, "ISSUE_CERT %s: %s (%s)", username, qs_err_name(r), qs_sam_client_error(c));
}

static uint64_t now_step(const qs_test_signer *s)
{
    uint64_t step = 0;
    if (qs_totp_step(&s->params, (int64_t)time(NULL), &step) != QS_OK)
        samd_die(NULL, "qs_totp_step failed");
    return step;
}

void qs_test_signer_code(qs_test_signer *s, char code[static QS_TOTP_CODE_BUF])
{
    /* The current step or the next: both stay inside the SAM's window of one step either side
     * even when the clock crosses a step boundary before the SAM checks the code. */
    uint64_t now = now_step(s);
    uint64_t step = s->last_step + 1 > now ? s->last_step + 1 : now;
    while (step > now + 1) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
        now = now_step(s);
    }
    if (qs_totp_generate(&s->params, s->seed, s->seed_len, step, code) != QS_OK)
        samd_die(NULL, "qs_totp_generate failed");
    s->last_step = step;
}

void qs_test_signer_wrong_code(const qs_test_signer *s, char code[static QS_TOTP_CODE_BUF])
{
    uint64_t now = now_step(s);
    char valid[5][QS_TOTP_CODE_BUF];
    for (int i = 0; i < 5; i++) {
        if (qs_totp_generate(&s->params, s->seed, s->seed_len, now - 2 + (uint64_t)i, valid[i]) !=
            QS_OK)
            samd_die(NULL, "qs_totp_generate failed");
    }
    for (unsigned v = 0;; v++) {
        snprintf(code, QS_TOTP_CODE_BUF, "%0*u", (int)s->params.digits, v);
        bool clash = false;
        for (int i = 0; i < 5; i++)
            clash |= strcmp(code, valid[i]) == 0;
        if (!clash)
            return;
    }
}

void qs_test_samd_create_credential(qs_sam_client *c, const char *user_id, qs_sam_key_alg alg,
                                    char id[static QS_SAM_ID_BUF], uint8_t **spki, size_t *spki_len)
{
    uint8_t *p = NULL;
    size_t len = 0;
    qs_err r = qs_sam_client_create_credential(c, user_id, alg, "test-officer", id, &p, &len);
    if (r != QS_OK)
        samd_die(NULL, "CREATE_CREDENTIAL: %s (%s)", qs_err_name(r), qs_sam_client_error(c));
    if (spki != NULL) {
        *spki = p;
        *spki_len = len;
    } else {
        free(p);
    }
}

/* ---- Audit ---------------------------------------------------------------------------------- */

long qs_test_samd_audit_count(const qs_test_samd *d, const char *where)
{
    char sql[4096];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM qsign.audit_log WHERE %s", where);
    PGconn *conn = qs_test_pg_connect(d->pg->audit_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    long n = v != NULL ? atol(v) : -1;
    free(v);
    PQfinish(conn);
    return n;
}

qs_err qs_test_samd_verify_audit(const qs_test_samd *d, uint64_t *count)
{
    qs_hsm *hsm = qs_test_token_open(&d->token);
    qs_hsm_session *hs = NULL;
    qs_db *db = NULL;
    qs_err r = qs_hsm_session_open(hsm, &hs);
    if (r == QS_OK)
        r = qs_db_connect(d->pg->audit_conninfo, &db);
    if (r == QS_OK)
        r = qs_audit_verify_chain(db, hs, d->writer_id, NULL, NULL, count);
    qs_db_free(db);
    qs_hsm_session_close(hs);
    qs_hsm_close(hsm);
    return r;
}

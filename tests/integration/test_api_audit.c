/*
 * The auditors' API (/audit/v1) and the anomaly alerts, end to end: the real qsign-sam
 * (SoftHSM token, audit writer) and the real qsignd over TLS on one database, qsignd reading
 * the audit log as the read-only role qsign_audit.  qsignd is not an admin peer of the SAM here.
 *
 * Checked: an auditor logs in with password + TOTP (wrong factors, other kinds, other paths
 * refused); records made in the test (a signer's failed and good authorizations, signatures)
 * are found by each filter (user, credential, event type and prefix, time range, result,
 * writer), in JSON lines and CSV, equal to the database's rows in the same order and, byte for
 * byte, to `qsignctl audit search`; pages follow the cursor without loss or repeat; each bad
 * filter gets a 400 naming it and nothing is read or audited; every search is audited by the
 * SAM in the auditor's name; roles stay apart both ways (a signer's token or an officer's
 * session gets nothing here, an auditor's session nothing at the RA or CSC endpoints, also
 * asked of the SAM directly, and a session whose stored role was altered is refused); without
 * [audit] conninfo /audit/v1 answers 503.  Anomalies: a burst of failed logins and of failed
 * authorizations, a credential and an auditor account locking, signatures outside the signing
 * window (a one-minute window twelve hours away, so the test never depends on the hour it
 * runs) and bulk signing, each seen in /metrics and as a WARN line in qsignd's log; concurrent
 * failures on several worker threads give exactly one alert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"

#define AUTH_FAILURES   3 /* [anomaly] auth_failures */
#define BULK_SIGNATURES 3 /* [anomaly] bulk_signatures */
#define MAX_FAILED      5 /* the SAM's [auth] max_failed_attempts */

typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
    char *token;
    char password[64];
} signer;

typedef struct fixture {
    qs_test_samd *sam;
    qs_test_apid *d;    /* with the audit API */
    qs_test_apid *bare; /* without [audit] conninfo */
    char dir[PATH_MAX];
    char ctl_conf[PATH_MAX + 32];
    qs_test_signer officer;  /* olga */
    qs_test_signer auditor;  /* aldo */
    qs_test_signer auditor2; /* alma: locks her account */
    signer sam1;             /* the records searched for */
    signer lou;              /* locks a credential */
    signer bea;              /* signs in bulk */
    char *audit;             /* aldo's session */
    char *ra;                /* olga's session */
} fixture;

static fixture *F;

/* ---- helpers ----------------------------------------------------------------------------------
 */

static json_t *json_of(const qs_test_http *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %s", r->status, r->body);
    return j;
}

/* Expects `status` and, for an error, a body containing `needle`; frees r. */
static void expect(qs_test_http *r, long status, const char *needle)
{
    if (r->status != status)
        fail_msg("HTTP %ld, want %ld: %s", r->status, status, r->body);
    if (needle != NULL && strstr(r->body, needle) == NULL)
        fail_msg("\"%s\" not in %s", needle, r->body);
    qs_test_http_free(r);
}

static char *basic(const char *user, const char *pw)
{
    char raw[256], b64[512];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    char *auth = malloc(600);
    snprintf(auth, 600, "Basic %s", b64);
    return auth;
}

static qs_test_http *staff_login_at(const qs_test_apid *d, const char *path, const char *user,
                                    const char *pw, const char *otp)
{
    char *auth = basic(user, pw), body[64];
    snprintf(body, sizeof body, "{\"otp\":\"%s\"}", otp);
    qs_test_req req = {.path = path, .auth = auth, .body = body};
    qs_test_http *r = qs_test_apid_request(d, &req);
    free(auth);
    return r;
}

static qs_test_http *staff_login(const char *path, const char *user, const char *pw,
                                 const char *otp)
{
    return staff_login_at(F->d, path, user, pw, otp);
}

/* A session from a 200 login reply (malloc'd); frees r. */
static char *session_of(qs_test_http *r)
{
    if (r->status != 200)
        fail_msg("login: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "Bearer");
    assert_true(json_integer_value(json_object_get(j, "expires_in")) > 0);
    char *t = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    return t;
}

static qs_test_http *csc_login_raw(const char *user, const char *pw)
{
    char *auth = basic(user, pw);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    free(auth);
    return r;
}

static qs_test_http *post(const char *path, const char *bearer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_test_http *post(const char *path, const char *bearer, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return qs_test_apid_post(F->d, path, bearer, body);
}

/* A search as aldo; `body` is the JSON text. */
static qs_test_http *search(const char *body)
{
    return qs_test_apid_post(F->d, "/audit/v1/search", F->audit, body);
}

static qs_test_http *search_ok(const char *body)
{
    qs_test_http *r = search(body);
    if (r->status != 200)
        fail_msg("search %s: HTTP %ld %s", body, r->status, r->body);
    return r;
}

static long count(const char *sql)
{
    PGconn *conn = qs_test_pg_connect(F->sam->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    long n = v != NULL ? atol(v) : -1;
    free(v);
    return n;
}

/* The records matching an SQL condition, in the search order, as "writer/seq" words. */
static char *db_keys(const char *where)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(writer_id || '/' || seq, ' ' ORDER BY event_time,"
             " writer_id COLLATE \"C\", seq), '') FROM qsign.audit_log WHERE %s",
             where);
    PGconn *conn = qs_test_pg_connect(F->sam->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    return v != NULL ? v : strdup("");
}

static void append_key(char **keys, size_t *len, const char *writer, long long seq)
{
    char word[128];
    int n = snprintf(word, sizeof word, "%s%s/%lld", *len > 0 ? " " : "", writer, seq);
    *keys = realloc(*keys, *len + (size_t)n + 1);
    memcpy(*keys + *len, word, (size_t)n + 1);
    *len += (size_t)n;
}

/* The "writer/seq" words of a JSON lines body; every line an object of the 13 columns.  With
 * `column` and `want` not NULL, each record's column must equal want. */
static char *jsonl_keys(const char *body, const char *column, const char *want)
{
    char *keys = strdup("");
    size_t len = 0;
    for (const char *line = body; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        assert_non_null(eol);
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)(eol - line), 0, &e);
        if (j == NULL)
            fail_msg("not a JSON line: %.*s", (int)(eol - line), line);
        assert_int_equal(json_object_size(j), 13);
        static const char *const cols[] = {"writer_id", "seq",     "event_time",    "event_type",
                                           "actor",     "user_id", "credential_id", "sad_ref",
                                           "result",    "details", "prev_hash",     "record_hash",
                                           "record_mac"};
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
            assert_non_null(json_object_get(j, cols[i]));
        if (column != NULL) {
            const char *v = json_string_value(json_object_get(j, column));
            if (v == NULL || strcmp(v, want) != 0)
                fail_msg("%s is %s, want %s", column, v != NULL ? v : "null", want);
        }
        append_key(&keys, &len, json_string_value(json_object_get(j, "writer_id")),
                   (long long)json_integer_value(json_object_get(j, "seq")));
        json_decref(j);
        line = eol + 1;
    }
    return keys;
}

/* One CSV record (RFC 4180, CRLF) from *p into fields[0..13); false at the end. */
static bool csv_record(const char **p, char fields[13][20000])
{
    const char *s = *p;
    if (*s == '\0')
        return false;
    for (int f = 0; f < 13; f++) {
        size_t n = 0;
        if (*s == '"') {
            s++;
            for (;;) {
                assert_true(*s != '\0');
                if (*s == '"' && s[1] == '"') {
                    fields[f][n++] = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    fields[f][n++] = *s++;
                }
            }
        } else {
            while (*s != ',' && *s != '\r' && *s != '\0')
                fields[f][n++] = *s++;
        }
        fields[f][n] = '\0';
        if (f < 12) {
            assert_int_equal(*s, ',');
            s++;
        } else {
            assert_true(s[0] == '\r' && s[1] == '\n');
            s += 2;
        }
    }
    *p = s;
    return true;
}

/* The "writer/seq" words of a CSV body (header line first). */
static char *csv_keys(const char *body)
{
    static const char header[] = "writer_id,seq,event_time,event_type,actor,user_id,"
                                 "credential_id,sad_ref,result,details,prev_hash,record_hash,"
                                 "record_mac\r\n";
    assert_memory_equal(body, header, sizeof header - 1);
    const char *p = body + sizeof header - 1;
    char(*fields)[20000] = malloc(13 * sizeof *fields);
    char *keys = strdup("");
    size_t len = 0;
    while (csv_record(&p, fields)) {
        /* details is the stored JSON text */
        json_error_t e;
        json_t *d = json_loads(fields[9], 0, &e);
        assert_non_null(d);
        json_decref(d);
        assert_int_equal(strlen(fields[11]), 64);
        append_key(&keys, &len, fields[0], atoll(fields[1]));
    }
    free(fields);
    return keys;
}

static void keys_equal(char *got, char *want, const char *what)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n got  %s\n want %s", what, got, want);
    free(got);
    free(want);
}

static long long anomalies(const char *kind)
{
    char series[128];
    snprintf(series, sizeof series, "qsign_anomalies_total{kind=\"%s\"}", kind);
    long long v = qs_test_apid_metric(F->d, series);
    if (v < 0)
        fail_msg("no %s in /metrics", series);
    return v;
}

/* WARN lines of qsignd's log that hold every needle (NULL-terminated). */
static int warn_lines(const char *first, ...)
{
    const char *needles[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL && n < 8; s = va_arg(ap, const char *))
        needles[n++] = s;
    va_end(ap);
    char *log = qs_test_apid_log(F->d);
    int hits = 0;
    for (char *line = log; line != NULL && *line != '\0';) {
        char *eol = strchr(line, '\n');
        if (eol != NULL)
            *eol = '\0';
        bool all = strstr(line, " level=warn ") != NULL;
        for (size_t i = 0; all && i < n; i++)
            all = strstr(line, needles[i]) != NULL;
        hits += all;
        line = eol != NULL ? eol + 1 : NULL;
    }
    free(log);
    return hits;
}

static void digest(const char *text, char b64[static 64])
{
    uint8_t raw[32];
    crypto_hash_sha256(raw, (const unsigned char *)text, strlen(text));
    sodium_bin2base64(b64, 64, raw, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* credentials/authorize; a wrong PIN goes with a wrong OTP too, which uses up no time step. */
static qs_test_http *authorize(signer *s, const char *pin, const char *hashes, int n)
{
    char otp[QS_TOTP_CODE_BUF];
    if (strcmp(pin, s->s.pin) == 0)
        qs_test_signer_code(&s->s, otp);
    else
        qs_test_signer_wrong_code(&s->s, otp);
    return post("/csc/v2/credentials/authorize", s->token,
                "{\"credentialID\":\"%s\",\"numSignatures\":%d,\"hashes\":[%s],"
                "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"authData\":[{\"id\":\"PIN\","
                "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
                s->cred, n, hashes, pin, otp);
}

/* Authorizes n digests of `tag` for s through the CSC API: the SAD (malloc'd) and the digests
 * as JSON strings in hashes[i]. */
static char *authorize_n(signer *s, const char *tag, int n, char hashes[][70])
{
    char list[4096] = "", h[64], text[128];
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof text, "%s document %d", tag, i);
        digest(text, h);
        snprintf(hashes[i], 70, "\"%s\"", h);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 0 ? "," : "",
                 hashes[i]);
    }
    qs_test_http *r = authorize(s, s->s.pin, list, n);
    if (r->status != 200)
        fail_msg("authorize: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    char *sad = strdup(json_string_value(json_object_get(j, "SAD")));
    json_decref(j);
    qs_test_http_free(r);
    return sad;
}

/* Signs hashes[from..from+n) under the SAD through the CSC API. */
static void sign_with(signer *s, const char *sad, char hashes[][70], int from, int n)
{
    char list[4096] = "";
    for (int i = from; i < from + n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > from ? "," : "",
                 hashes[i]);
    qs_test_http *r =
        post("/csc/v2/signatures/signHash", s->token,
             "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[%s],"
             "\"hashAlgorithmOID\":\"" OID_SHA256 "\",\"signAlgo\":\"" OID_ECDSA_SHA256 "\"}",
             s->cred, sad, list);
    if (r->status != 200)
        fail_msg("signHash: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    assert_int_equal(json_array_size(json_object_get(j, "signatures")), (size_t)n);
    json_decref(j);
    qs_test_http_free(r);
}

static char *csc_token(const char *user, const char *pw)
{
    qs_test_http *r = csc_login_raw(user, pw);
    if (r->status != 200)
        fail_msg("login %s: HTTP %ld %s", user, r->status, r->body);
    json_t *j = json_of(r);
    char *t = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    return t;
}

/* ---- fixture ----------------------------------------------------------------------------------
 */

static void make_signer(qs_sam_client *c, const char *name, const char *pin, signer *out)
{
    qs_test_samd_enrol_signer(F->sam, c, name, pin, &out->s);
    qs_test_samd_create_credential(c, out->s.user_id, QS_SAM_KEY_EC_P256, out->cred, NULL, NULL);
    snprintf(out->password, sizeof out->password, "%s-login-password", name);
    qs_test_apid_set_password(F->sam->pg, out->s.user_id, out->password);
}

static void make_staff(qs_sam_client *c, const char *name, qs_sam_user_kind kind,
                       qs_test_signer *out)
{
    char *uri = NULL, pw[64];
    snprintf(out->username, sizeof out->username, "%s", name);
    assert_int_equal(qs_sam_client_create_user(c, name, kind, "setup", out->user_id), QS_OK);
    assert_int_equal(qs_sam_client_enrol(c, out->user_id, "864209", "setup", NULL, NULL, &uri),
                     QS_OK);
    assert_true(qs_test_otpauth_parse(uri, out));
    qs_secret_free(uri);
    snprintf(pw, sizeof pw, "%s-password", name);
    qs_test_apid_set_password(F->sam->pg, out->user_id, pw);
}

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    qs_test_samd_opts o = {.public_socket = true, .max_failed_attempts = MAX_FAILED};
    F->sam = qs_test_samd_start("api_audit", &o);
    snprintf(F->dir, sizeof F->dir, "%s", F->sam->token.dir);
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    make_staff(c, "olga", QS_SAM_USER_OFFICER, &F->officer);
    make_staff(c, "aldo", QS_SAM_USER_AUDITOR, &F->auditor);
    make_staff(c, "alma", QS_SAM_USER_AUDITOR, &F->auditor2);
    make_signer(c, "sam1", "135790", &F->sam1);
    make_signer(c, "lou", "246801", &F->lou);
    make_signer(c, "bea", "975310", &F->bea);
    qs_sam_client_close(c);

    /* From here on no peer is an admin: qsignd gets nothing without a session. */
    assert_int_equal(qs_test_samd_terminate(F->sam, SIGTERM), 0);
    assert_int_equal(
        qs_test_system("sed -i 's/^admin_uids = .*/admin_uids = 65534/' '%s'", F->sam->config_path),
        0);
    qs_test_samd_launch(F->sam);

    /* A signing window of one minute, twelve hours from now: now is outside it all test long. */
    time_t now = time(NULL);
    int from = (int)((now % 86400) / 60 + 720) % 1440, to = (from + 1) % 1440;
    char extra[512];
    snprintf(extra, sizeof extra,
             "[anomaly]\nauth_failures = %d\nauth_failure_window = 3600\n"
             "signing_window = %02d:%02d-%02d:%02d\nbulk_signatures = %d\nbulk_window = 3600\n",
             AUTH_FAILURES, from / 60, from % 60, to / 60, to % 60, BULK_SIGNATURES);
    qs_test_apid_opts ao = {.sam_socket = F->sam->socket_path,
                            .sam_timeout_ms = 30000,
                            .threads = 4,
                            .audit_conninfo = F->sam->pg->audit_conninfo,
                            .extra = extra};
    F->d = qs_test_apid_start(F->sam->pg, &ao);
    qs_test_apid_opts bare = {.sam_socket = F->sam->socket_path, .sam_timeout_ms = 30000};
    F->bare = qs_test_apid_start(F->sam->pg, &bare);

    snprintf(F->ctl_conf, sizeof F->ctl_conf, "%s/qsignctl-audit.conf", F->dir);
    FILE *f = fopen(F->ctl_conf, "w");
    assert_non_null(f);
    fprintf(f, "[database]\naudit_conninfo = \"%s\"\n[log]\nlevel = error\n",
            F->sam->pg->audit_conninfo);
    assert_int_equal(fclose(f), 0);

    F->sam1.token = csc_token("sam1", F->sam1.password);
    F->lou.token = csc_token("lou", F->lou.password);
    F->bea.token = csc_token("bea", F->bea.password);
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&F->officer, otp);
    F->ra = session_of(staff_login("/ra/v1/login", "olga", "olga-password", otp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = qs_test_apid_stop(F->d);
    int st2 = qs_test_apid_stop(F->bare);
    qs_test_samd_stop(F->sam);
    free(F->audit);
    free(F->ra);
    free(F->sam1.token);
    free(F->lou.token);
    free(F->bea.token);
    free(F);
    return st == 0 && st2 == 0 ? 0 : -1;
}

/* ---- login ------------------------------------------------------------------------------------
 */

static void test_auditor_login(void **state)
{
    (void)state;
    char otp[QS_TOTP_CODE_BUF];
    long logins = count("SELECT count(*) FROM qsign.audit_log WHERE event_type = 'auditor.login'");

    char wrong[QS_TOTP_CODE_BUF], other[QS_TOTP_CODE_BUF];
    qs_test_signer_wrong_code(&F->auditor, wrong);
    expect(staff_login("/audit/v1/login", "aldo", "aldo-password", wrong), 401, "access_denied");
    /* a good code the SAM never sees in these attempts: qsignd refuses them first */
    qs_test_signer_code(&F->auditor, otp);
    expect(staff_login("/audit/v1/login", "aldo", "wrong-password", otp), 401, "access_denied");
    expect(staff_login("/audit/v1/login", "nobody", "x-password", otp), 401, "access_denied");
    expect(staff_login("/audit/v1/login", "aldo", "aldo-password", ""), 400, "otp");
    /* other kinds do not log in here, and an auditor logs in nowhere else */
    qs_test_signer_wrong_code(&F->officer, other);
    expect(staff_login("/audit/v1/login", "olga", "olga-password", other), 401, "access_denied");
    expect(staff_login("/audit/v1/login", "sam1", F->sam1.password, other), 401, "access_denied");
    expect(staff_login("/ra/v1/login", "aldo", "aldo-password", otp), 401, "access_denied");
    expect(csc_login_raw("aldo", "aldo-password"), 401, "access_denied");
    expect(csc_login_raw("olga", "olga-password"), 401, "access_denied");
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                           "'auditor.login'"),
                     logins);

    F->audit = session_of(staff_login("/audit/v1/login", "aldo", "aldo-password", otp));
    assert_int_equal(strlen(F->audit), 43);
    /* the SAM opened an auditor's session, audited in the auditor's name */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM qsign.audit_log WHERE event_type = 'auditor.login' AND"
             " result = 'success' AND user_id = '%s'",
             F->auditor.user_id);
    assert_int_equal(count(sql), 1);
    assert_int_equal(count("SELECT count(*) FROM qsign.ra_sessions WHERE role = 'auditor'"), 1);
    /* a replayed code opens nothing */
    expect(staff_login("/audit/v1/login", "aldo", "aldo-password", otp), 401, "access_denied");
}

/* ---- search -----------------------------------------------------------------------------------
 */

/* The signer's activity the searches find: a failed and two good authorizations, signatures. */
static void make_records(void)
{
    char h[64], one[128], hashes[3][70];
    digest("wrong pin document", h);
    snprintf(one, sizeof one, "\"%s\"", h);
    expect(authorize(&F->sam1, "000000", one, 1), 400, NULL);
    char *sad = authorize_n(&F->sam1, "search", 3, hashes);
    sign_with(&F->sam1, sad, hashes, 0, 2);
    sign_with(&F->sam1, sad, hashes, 2, 1);
    free(sad);
}

static void test_search_filters(void **state)
{
    (void)state;
    char body[1024], where[1024];
    const char *u = F->sam1.s.user_id, *cred = F->sam1.cred;
    make_records();

    /* by user */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"limit\":1000}", u);
    qs_test_http *r = search_ok(body);
    char ct[128];
    assert_non_null(qs_test_http_header(r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "application/jsonl"));
    assert_null(qs_test_http_header(r, "X-Next-Cursor", ct, sizeof ct));
    snprintf(where, sizeof where, "user_id = '%s'", u);
    keys_equal(jsonl_keys(r->body, "user_id", u), db_keys(where), "userID");
    /* the same, byte for byte, as qsignctl audit search */
    char out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/ctl-search.jsonl", F->dir);
    assert_int_equal(qs_test_system("'%s' -c '%s' audit search --user %s --format jsonl > '%s'",
                                    getenv("QS_QSIGNCTL"), F->ctl_conf, u, out),
                     0);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    char *ctl = calloc(1, r->body_len + 2);
    size_t got = fread(ctl, 1, r->body_len + 1, f);
    fclose(f);
    assert_int_equal(got, r->body_len);
    assert_memory_equal(ctl, r->body, r->body_len);
    free(ctl);
    /* three records of the test's own actions at least */
    assert_non_null(strstr(r->body, "\"event_type\":\"auth.failed\""));
    assert_non_null(strstr(r->body, "\"event_type\":\"signature.created\""));
    char *first_time = NULL, *third_time = NULL;
    {
        const char *l2 = strchr(r->body, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
        json_error_t e;
        json_t *a = json_loadb(r->body, (size_t)(strchr(r->body, '\n') - r->body), 0, &e);
        json_t *c = json_loadb(l3, (size_t)(strchr(l3, '\n') - l3), 0, &e);
        first_time = strdup(json_string_value(json_object_get(a, "event_time")));
        third_time = strdup(json_string_value(json_object_get(c, "event_time")));
        json_decref(a);
        json_decref(c);
    }
    qs_test_http_free(r);

    /* by credential, and in CSV */
    snprintf(body, sizeof body, "{\"credentialID\":\"%s\",\"format\":\"csv\",\"limit\":1000}",
             cred);
    r = search_ok(body);
    assert_non_null(qs_test_http_header(r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/csv"));
    snprintf(where, sizeof where, "credential_id = '%s'", cred);
    keys_equal(csv_keys(r->body), db_keys(where), "credentialID csv");
    qs_test_http_free(r);
    snprintf(body, sizeof body, "{\"credentialID\":\"%s\",\"limit\":1000}", cred);
    r = search_ok(body);
    keys_equal(jsonl_keys(r->body, "credential_id", cred), db_keys(where), "credentialID");
    qs_test_http_free(r);

    /* by event type, exact and as a prefix, with the user */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"eventType\":\"signature.created\"}", u);
    r = search_ok(body);
    snprintf(where, sizeof where, "user_id = '%s' AND event_type = 'signature.created'", u);
    keys_equal(jsonl_keys(r->body, "event_type", "signature.created"), db_keys(where), "eventType");
    qs_test_http_free(r);
    snprintf(where, sizeof where,
             "SELECT count(*) FROM qsign.audit_log WHERE user_id = '%s' AND"
             " event_type = 'signature.created'",
             u);
    assert_int_equal(count(where), 3); /* the three signatures of make_records */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"eventType\":\"sad.\",\"format\":\"csv\"}", u);
    r = search_ok(body);
    snprintf(where, sizeof where, "user_id = '%s' AND event_type LIKE 'sad.%%'", u);
    keys_equal(csv_keys(r->body), db_keys(where), "eventType prefix");
    qs_test_http_free(r);

    /* by result */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"result\":\"failure\"}", u);
    r = search_ok(body);
    snprintf(where, sizeof where, "user_id = '%s' AND result = 'failure'", u);
    char *keys = jsonl_keys(r->body, "result", "failure");
    assert_true(strlen(keys) > 0); /* the wrong PIN */
    keys_equal(keys, db_keys(where), "result failure");
    qs_test_http_free(r);
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"result\":\"success\",\"format\":\"csv\"}", u);
    r = search_ok(body);
    snprintf(where, sizeof where, "user_id = '%s' AND result = 'success'", u);
    keys_equal(csv_keys(r->body), db_keys(where), "result success");
    qs_test_http_free(r);

    /* by time range: from the first record (inclusive) to the third (exclusive) */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"}", u, first_time,
             third_time);
    r = search_ok(body);
    snprintf(where, sizeof where,
             "user_id = '%s' AND event_time >= '%s'::timestamptz AND event_time <"
             " '%s'::timestamptz",
             u, first_time, third_time);
    keys = jsonl_keys(r->body, "user_id", u);
    assert_true(strlen(keys) > 0);
    keys_equal(keys, db_keys(where), "time range");
    qs_test_http_free(r);
    /* a date: midnight UTC; nothing before 1970-01-02 */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"to\":\"1970-01-02\"}", u);
    r = search_ok(body);
    assert_int_equal(r->body_len, 0);
    qs_test_http_free(r);
    free(first_time);
    free(third_time);

    /* by writer */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"writerID\":\"%s\",\"format\":\"csv\"}", u,
             F->sam->writer_id);
    r = search_ok(body);
    snprintf(where, sizeof where, "user_id = '%s' AND writer_id = '%s'", u, F->sam->writer_id);
    keys_equal(csv_keys(r->body), db_keys(where), "writerID");
    qs_test_http_free(r);
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"writerID\":\"no-such-writer\"}", u);
    r = search_ok(body);
    assert_int_equal(r->body_len, 0);
    qs_test_http_free(r);
}

static void test_search_pages(void **state)
{
    (void)state;
    char body[1024], cursor[256] = "", where[256], until[64];
    char *all = strdup("");
    size_t len = 0;
    int pages = 0;
    /* up to now: each page's own audit.searched record (of this user) comes after */
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(until, sizeof until, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    snprintf(where, sizeof where, "user_id = '%s' AND event_time < '%s'::timestamptz",
             F->sam1.s.user_id, until);
    char *want = db_keys(where);
    long searched = count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                          "'audit.searched'");
    for (;;) {
        if (cursor[0] == '\0')
            snprintf(body, sizeof body, "{\"userID\":\"%s\",\"to\":\"%s\",\"limit\":2}",
                     F->sam1.s.user_id, until);
        else
            snprintf(body, sizeof body,
                     "{\"userID\":\"%s\",\"to\":\"%s\",\"limit\":2,\"cursor\":\"%s\"}",
                     F->sam1.s.user_id, until, cursor);
        qs_test_http *r = search_ok(body);
        char *keys = jsonl_keys(r->body, NULL, NULL);
        assert_true(strlen(keys) > 0);
        int words = 1;
        for (const char *p = keys; *p != '\0'; p++)
            words += *p == ' ';
        assert_true(words <= 2);
        all = realloc(all, len + strlen(keys) + 2);
        len += (size_t)sprintf(all + len, "%s%s", len > 0 ? " " : "", keys);
        free(keys);
        pages++;
        bool more = qs_test_http_header(r, "X-Next-Cursor", cursor, sizeof cursor) != NULL;
        if (more)
            assert_int_equal(words, 2);
        qs_test_http_free(r);
        if (!more)
            break;
        assert_true(pages < 100);
    }
    assert_true(pages >= 3);
    keys_equal(all, want, "pages");
    /* every page was audited */
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                           "'audit.searched'"),
                     searched + pages);
}

static void test_search_bad_filters(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *needle;
    } bad[] = {
        {"{\"userID\":\"not-a-uuid\"}", "userID"},
        {"{\"userID\":42}", "userID"},
        {"{\"credentialID\":\"00112233-4455-6677-8899-aabbccddeefg\"}", "credentialID"},
        {"{\"eventType\":\"Signature.created\"}", "eventType"},
        {"{\"eventType\":\"sig nature\"}", "eventType"},
        {"{\"from\":\"yesterday\"}", "from"},
        {"{\"from\":\"2024-02-30\"}", "from"},
        {"{\"to\":\"2024-05-01T25:00:00Z\"}", "to"},
        {"{\"from\":\"1969-12-31T23:59:59Z\"}", "from"},
        {"{\"from\":\"2024-05-02\",\"to\":\"2024-05-01\"}", "to"},
        {"{\"from\":\"2024-05-01\",\"to\":\"2024-05-01\"}", "to"},
        {"{\"result\":\"ok\"}", "result"},
        {"{\"writerID\":\"-sam\"}", "writerID"},
        {"{\"format\":\"xml\"}", "format"},
        {"{\"limit\":0}", "limit"},
        {"{\"limit\":1001}", "limit"},
        {"{\"limit\":\"10\"}", "limit"},
        {"{\"cursor\":\"bm90IGEgY3Vyc29y\"}", "cursor"},
        {"{\"cursor\":\"!!\"}", "cursor"},
        {"{\"colour\":\"blue\"}", "colour"},
        {"[1]", "JSON object"},
        {"{\"userID\":", "Malformed JSON"},
    };
    long searched = count("SELECT count(*) FROM qsign.audit_log WHERE event_type LIKE 'audit.%'");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qs_test_http *r = search(bad[i].body);
        if (r->status != 400 || strstr(r->body, bad[i].needle) == NULL ||
            strstr(r->body, "invalid_request") == NULL)
            fail_msg("%s: HTTP %ld %s (want 400 naming %s)", bad[i].body, r->status, r->body,
                     bad[i].needle);
        qs_test_http_free(r);
    }
    /* nothing reached the SAM: nothing was audited, nothing read */
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type LIKE 'audit.%'"),
                     searched);
}

static void test_searches_audited(void **state)
{
    (void)state;
    char body[512], sql[1024];
    long before = count("SELECT count(*) FROM qsign.audit_log WHERE event_type = 'audit.searched'");
    snprintf(body, sizeof body,
             "{\"userID\":\"%s\",\"eventType\":\"sad.\",\"from\":\"2020-01-01\","
             "\"result\":\"success\",\"writerID\":\"%s\"}",
             F->sam1.s.user_id, F->sam->writer_id);
    qs_test_http_free(search_ok(body));
    assert_int_equal(
        count("SELECT count(*) FROM qsign.audit_log WHERE event_type = 'audit.searched'"),
        before + 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM qsign.audit_log WHERE event_type = 'audit.searched'"
             " AND result = 'success' AND actor LIKE '%% auditor=aldo' AND user_id = '%s'"
             " AND credential_id IS NULL"
             " AND details::jsonb = '{\"event_type\":\"sad.\",\"from\":"
             "\"2020-01-01T00:00:00.000000Z\",\"result\":\"success\",\"writer_id\":\"%s\"}'"
             "::jsonb",
             F->sam1.s.user_id, F->sam->writer_id);
    assert_int_equal(count(sql), 1);
    /* the auditor's search shows up when a signer's records are searched */
    snprintf(body, sizeof body, "{\"userID\":\"%s\",\"eventType\":\"audit.searched\"}",
             F->sam1.s.user_id);
    qs_test_http *r = search_ok(body);
    assert_non_null(strstr(r->body, "auditor=aldo"));
    qs_test_http_free(r);
    /* the chain still verifies */
    uint64_t records = 0;
    assert_int_equal(qs_test_samd_verify_audit(F->sam, &records), QS_OK);
    assert_true(records > 10);
}

/* ---- roles ------------------------------------------------------------------------------------
 */

static void test_roles_apart(void **state)
{
    (void)state;
    char body[256];
    long searched = count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                          "'audit.searched'");
    snprintf(body, sizeof body, "{\"userID\":\"%s\"}", F->sam1.s.user_id);
    /* nothing reaches the search without an auditor's session */
    expect(qs_test_apid_post(F->d, "/audit/v1/search", NULL, body), 401, "invalid_token");
    expect(qs_test_apid_post(F->d, "/audit/v1/search", F->sam1.token, body), 401, "invalid_token");
    expect(qs_test_apid_post(F->d, "/audit/v1/search", F->ra, body), 403, "auditor role");
    expect(qs_test_apid_post(F->d, "/audit/v1/search", "AAAA", body), 401, "invalid_token");
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                           "'audit.searched'"),
                     searched);
    /* the auditor's session reaches neither the RA nor the CSC endpoints */
    expect(qs_test_apid_post(F->d, "/ra/v1/signers/list", F->audit, "{}"), 403, "officer role");
    expect(post("/ra/v1/credentials/unlock", F->audit,
                "{\"credentialID\":\"%s\",\"reason\":\"re-identified\"}", F->sam1.cred),
           403, "officer role");
    expect(qs_test_apid_post(F->d, "/csc/v2/credentials/list", F->audit, "{}"), 401,
           "invalid_token");
    expect(post("/csc/v2/credentials/info", F->audit, "{\"credentialID\":\"%s\"}", F->sam1.cred),
           401, "invalid_token");
    /* the officer's session still works where it belongs */
    expect(qs_test_apid_post(F->d, "/ra/v1/signers/list", F->ra, "{}"), 200, "signers");

    /* The SAM keeps them apart too, whoever asks (a compromised qsignd sends what it likes). */
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    qs_sam_audit_search_req q = {.session = F->ra, .user_id = F->sam1.s.user_id};
    assert_int_equal(qs_sam_client_audit_search(c, &q), QS_ERR_FORBIDDEN);
    assert_int_equal(qs_sam_client_unlock(c, F->sam1.cred, NULL, "x", F->audit), QS_ERR_FORBIDDEN);
    qs_sam_audit_search_req none = {.session = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    assert_int_equal(qs_sam_client_audit_search(c, &none), QS_ERR_FORBIDDEN);
    char auditor_session[QS_SAM_SAD_BUF];
    uint32_t expires = 0;
    char otp[QS_TOTP_CODE_BUF];
    /* an officer cannot open an auditor's session, nor an auditor an officer's (refused on the
     * kind, before any code is looked at) */
    qs_test_signer_wrong_code(&F->officer, otp);
    assert_int_equal(qs_sam_client_staff_login(c, QS_SAM_USER_AUDITOR, F->officer.user_id, otp,
                                               auditor_session, &expires),
                     QS_ERR_AUTH_FAILED);
    qs_test_signer_wrong_code(&F->auditor, otp);
    assert_int_equal(
        qs_sam_client_officer_login(c, F->auditor.user_id, otp, auditor_session, &expires),
        QS_ERR_AUTH_FAILED);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM qsign.audit_log WHERE event_type = 'auditor.login_refused'"
             " AND user_id = '%s' AND details::jsonb->>'reason' = 'not_an_active_auditor'",
             F->officer.user_id);
    assert_int_equal(count(sql), 1);
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                           "'audit.search_refused' AND details::jsonb->>'reason' = 'wrong_role'"),
                     1);
    q.session = F->audit;
    assert_int_equal(qs_sam_client_audit_search(c, &q), QS_OK);
    assert_int_equal(count("SELECT count(*) FROM qsign.audit_log WHERE event_type = "
                           "'audit.searched'"),
                     searched + 1);

    /* A session whose stored role is changed fails its MAC: the role cannot be granted by
     * writing the database. */
    PGconn *su = qs_test_pg_connect(F->sam->pg->super_conninfo);
    qs_test_pg_exec_ok(su, "UPDATE qsign.ra_sessions SET role = 'auditor' WHERE role = 'officer'");
    PQfinish(su);
    q.session = F->ra;
    assert_int_equal(qs_sam_client_audit_search(c, &q), QS_ERR_MAC);
    qs_sam_client_close(c);
    assert_true(count("SELECT count(*) FROM qsign.audit_log WHERE event_type ="
                      " 'record.mac_mismatch' AND details::jsonb->>'table' = 'ra_sessions'") >= 1);
    /* qsignd refuses it before: the officer is not of the auditor kind */
    expect(qs_test_apid_post(F->d, "/audit/v1/search", F->ra, body), 401, "invalid_token");
}

static void test_not_configured(void **state)
{
    (void)state;
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&F->auditor, otp);
    expect(staff_login_at(F->bare, "/audit/v1/login", "aldo", "aldo-password", otp), 503,
           "not configured");
    expect(qs_test_apid_post(F->bare, "/audit/v1/search", F->audit, "{}"), 503, "not configured");
    /* the rest of that qsignd serves */
    qs_test_req req = {.method = "GET", .path = "/readyz"};
    expect(qs_test_apid_request(F->bare, &req), 200, NULL);
}

/* ---- anomalies --------------------------------------------------------------------------------
 */

static void test_anomaly_login_burst(void **state)
{
    (void)state;
    long long bursts = anomalies("auth_failure_burst");
    int lines = warn_lines("anomaly kind=auth_failure_burst account=", NULL);
    /* threshold failed logins give no alert; one more gives one; more of the burst none */
    for (int i = 0; i < AUTH_FAILURES; i++)
        expect(csc_login_raw("bea", "not-her-password"), 401, NULL);
    assert_int_equal(anomalies("auth_failure_burst"), bursts);
    expect(csc_login_raw("bea", "not-her-password"), 401, NULL);
    assert_int_equal(anomalies("auth_failure_burst"), bursts + 1);
    char needle[512];
    snprintf(needle, sizeof needle, "account=%s failures=%d", F->bea.s.user_id, AUTH_FAILURES + 1);
    assert_int_equal(warn_lines("anomaly kind=auth_failure_burst ", needle, NULL), 1);
    expect(csc_login_raw("bea", "not-her-password"), 401, NULL);
    assert_int_equal(anomalies("auth_failure_burst"), bursts + 1);
    /* unknown accounts count too, named in the log by no typed name */
    for (int i = 0; i <= AUTH_FAILURES; i++)
        expect(csc_login_raw("no-such-user", "secret-typed-here"), 401, NULL);
    assert_int_equal(anomalies("auth_failure_burst"), bursts + 2);
    assert_int_equal(warn_lines("anomaly kind=auth_failure_burst account=", NULL), lines + 2);
    assert_int_equal(warn_lines("no-such-user", NULL), 0);
    assert_int_equal(warn_lines("secret-typed-here", NULL), 0);
}

typedef struct burst_arg {
    int n;
} burst_arg;

static void *failing_logins(void *cls)
{
    burst_arg *a = cls;
    for (int i = 0; i < a->n; i++) {
        qs_test_http *r = csc_login_raw("concurrent-target", "wrong");
        if (r->status != 401)
            fprintf(stderr, "concurrent login: HTTP %ld\n", r->status);
        qs_test_http_free(r);
    }
    return NULL;
}

static void test_anomaly_concurrent_burst(void **state)
{
    (void)state;
    long long bursts = anomalies("auth_failure_burst");
    long long failures = qs_test_apid_metric(F->d, "qsign_login_failures_total");
    pthread_t t[8];
    burst_arg a = {.n = 2};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, failing_logins, &a), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    /* 16 failures of one account on four worker threads: exactly one crossing */
    assert_int_equal(qs_test_apid_metric(F->d, "qsign_login_failures_total"), failures + 16);
    assert_int_equal(anomalies("auth_failure_burst"), bursts + 1);
}

static void test_anomaly_credential_lockout(void **state)
{
    (void)state;
    long long bursts = anomalies("auth_failure_burst"), locks = anomalies("lockout");
    char h[64], hashes[128], needle[512];
    digest("lockout document", h);
    snprintf(hashes, sizeof hashes, "\"%s\"", h);
    for (int i = 1; i < MAX_FAILED; i++) {
        expect(authorize(&F->lou, "111111", hashes, 1), 400, "invalid_authentication_data");
        assert_int_equal(anomalies("auth_failure_burst"), bursts + (i > AUTH_FAILURES));
        assert_int_equal(anomalies("lockout"), locks);
    }
    snprintf(needle, sizeof needle, "credential=%s failures=%d", F->lou.cred, AUTH_FAILURES + 1);
    assert_int_equal(warn_lines("anomaly kind=auth_failure_burst ", needle, NULL), 1);
    /* the attempt that locks the credential */
    expect(authorize(&F->lou, "111111", hashes, 1), 400, "invalid_authentication_data");
    assert_int_equal(anomalies("lockout"), locks + 1);
    snprintf(needle, sizeof needle, "anomaly kind=lockout credential=%s user=%s", F->lou.cred,
             F->lou.s.user_id);
    assert_int_equal(warn_lines(needle, NULL), 1);
    /* locked: refused, but it locks nothing again */
    expect(authorize(&F->lou, F->lou.s.pin, hashes, 1), 400, "Credential locked");
    assert_int_equal(anomalies("lockout"), locks + 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM qsign.credentials WHERE id = '%s' AND status = 'locked'",
             F->lou.cred);
    assert_int_equal(count(sql), 1);
}

static void test_anomaly_auditor_lockout(void **state)
{
    (void)state;
    long long locks = anomalies("lockout");
    char otp[QS_TOTP_CODE_BUF], needle[512];
    for (int i = 1; i <= MAX_FAILED; i++) {
        qs_test_signer_wrong_code(&F->auditor2, otp);
        expect(staff_login("/audit/v1/login", "alma", "alma-password", otp), 401, "access_denied");
        assert_int_equal(anomalies("lockout"), locks + (i == MAX_FAILED));
    }
    snprintf(needle, sizeof needle, "anomaly kind=lockout account=%s", F->auditor2.user_id);
    assert_int_equal(warn_lines(needle, NULL), 1);
    /* the right code no longer opens a session */
    qs_test_signer_code(&F->auditor2, otp);
    expect(staff_login("/audit/v1/login", "alma", "alma-password", otp), 401, "access_denied");
    assert_int_equal(anomalies("lockout"), locks + 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM qsign.audit_log WHERE event_type = 'auditor.locked' AND"
             " user_id = '%s'",
             F->auditor2.user_id);
    assert_int_equal(count(sql), 1);
}

static void test_anomaly_signing(void **state)
{
    (void)state;
    long long outside = anomalies("signing_outside_window"), bulk = anomalies("bulk_signing");
    char needle[512];
    char hashes[5][70];
    char *sad = authorize_n(&F->bea, "bulk", 5, hashes);
    /* every signature here is outside the one-minute window twelve hours away */
    sign_with(&F->bea, sad, hashes, 0, 2);
    assert_int_equal(anomalies("signing_outside_window"), outside + 1);
    assert_int_equal(anomalies("bulk_signing"), bulk);
    snprintf(needle, sizeof needle, "user=%s credential=%s signatures=2", F->bea.s.user_id,
             F->bea.cred);
    assert_int_equal(warn_lines("anomaly kind=signing_outside_window ", needle, NULL), 1);
    /* 2 + 2 > 3 signatures within the window: one alert */
    sign_with(&F->bea, sad, hashes, 2, 2);
    assert_int_equal(anomalies("bulk_signing"), bulk + 1);
    snprintf(needle, sizeof needle, "anomaly kind=bulk_signing user=%s signatures=4",
             F->bea.s.user_id);
    assert_int_equal(warn_lines(needle, NULL), 1);
    sign_with(&F->bea, sad, hashes, 4, 1);
    free(sad);
    assert_int_equal(anomalies("bulk_signing"), bulk + 1);
    assert_int_equal(anomalies("signing_outside_window"), outside + 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auditor_login),
        cmocka_unit_test(test_search_filters),
        cmocka_unit_test(test_search_pages),
        cmocka_unit_test(test_search_bad_filters),
        cmocka_unit_test(test_searches_audited),
        cmocka_unit_test(test_not_configured),
        cmocka_unit_test(test_anomaly_login_burst),
        cmocka_unit_test(test_anomaly_concurrent_burst),
        cmocka_unit_test(test_anomaly_credential_lockout),
        cmocka_unit_test(test_anomaly_auditor_lockout),
        cmocka_unit_test(test_anomaly_signing),
        cmocka_unit_test(test_roles_apart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

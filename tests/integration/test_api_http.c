/*
 * qsignd's HTTP behaviour end to end over TLS: malformed JSON, wrong types, missing and unknown
 * fields, bad base64, oversized bodies (with a length and chunked), unknown paths, wrong
 * methods, long URIs and headers, rate limits with Retry-After, /healthz, /readyz (with and
 * without a SAM), /metrics counters, TLS versions, and the access log: one line per request,
 * with the request id of the X-Request-Id header, never a body or an Authorization value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"

#define ALICE    "00000000-0000-4000-8000-00000000a11c"
#define ALICE_PW "alice-password-1"
#define MAX_BODY 2048

typedef struct fixture {
    qs_test_pg *pg;
    qs_test_apid *d;
    char dir[512];
    char sam_path[600];
    qs_test_fake_sam *sam;
    char *token;
} fixture;

static fixture *F;

static json_t *json_of(const qs_test_http *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %s", r->status, r->body);
    return j;
}

static void expect_error(const qs_test_http *r, long status, const char *error, const char *desc)
{
    if (r->status != status)
        fail_msg("HTTP %ld, want %ld: %s", r->status, status, r->body);
    json_t *j = json_of(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "error_description"));
    if (e == NULL || strcmp(e, error) != 0 || d == NULL || (desc != NULL && strstr(d, desc) != d))
        fail_msg("got %s, want error %s \"%s\"", r->body, error, desc ? desc : "*");
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
}

static void basic_auth(char *buf, size_t len, const char *user, const char *pw)
{
    char raw[512], b64[1024];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, len, "Basic %s", b64);
}

static qs_test_http *login_on(qs_test_apid *d, const char *user, const char *pw)
{
    char auth[1200];
    basic_auth(auth, sizeof auth, user, pw);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    return qs_test_apid_request(d, &req);
}

static qs_test_http *get(qs_test_apid *d, const char *path)
{
    qs_test_req req = {.method = "GET", .path = path};
    return qs_test_apid_request(d, &req);
}

/* The value of one metrics series, or -1 when absent. */
static long long metric(qs_test_apid *d, const char *series)
{
    qs_test_http *r = get(d, "/metrics");
    assert_int_equal(r->status, 200);
    long long v = -1;
    size_t n = strlen(series);
    for (const char *line = r->body; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            v = strtoll(line + n + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    qs_test_http_free(r);
    return v;
}

/* The value of a series once it has reached `want`.  qsignd counts a request when it completes,
 * which is after the client has its response, so the next scrape may briefly lag: poll a bounded
 * number of times, then return whatever it is (the caller's assertion reports a real miss). */
static long long metric_reaching(qs_test_apid *d, const char *series, long long want)
{
    long long v = metric(d, series);
    for (int i = 0; i < 200 && v < want; i++) {
        usleep(10 * 1000);
        v = metric(d, series);
    }
    return v;
}

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- fixture -------------------------------------------------------------------------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->pg = qs_test_pg_create("api_http");
    qs_test_pg_migrate(f->pg);
    qs_test_apid_add_user(f->pg, ALICE, "alice", "active");
    qs_test_apid_set_password(f->pg, ALICE, ALICE_PW);
    qs_test_tmpdir("api_sam", f->dir, sizeof f->dir);
    snprintf(f->sam_path, sizeof f->sam_path, "%s/sam.sock", f->dir);
    f->sam = qs_test_fake_sam_start(f->sam_path);
    qs_test_apid_opts o = {.max_body = MAX_BODY, .sam_socket = f->sam_path};
    f->d = qs_test_apid_start(f->pg, &o);
    qs_test_http *r = login_on(f->d, "alice", ALICE_PW);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    f->token = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int st = qs_test_apid_stop(f->d);
    qs_test_fake_sam_stop(f->sam);
    qs_test_rmtree(f->dir);
    qs_test_pg_destroy(f->pg);
    free(f->token);
    free(f);
    return st == 0 ? 0 : -1;
}

/* ---- request bodies -------------------------------------------------------------------------- */

static void test_bad_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *desc;
    } cases[] = {
        {"{\"credentialID\":", "Malformed JSON request body"},
        {"not json", "Malformed JSON request body"},
        {"[\"credentialID\"]", "The request body must be a JSON object"},
        {"{\"credentialID\":\"a\",\"credentialID\":\"b\"}", "Malformed JSON request body"},
        {"{}", "Missing (or invalid type) string parameter credentialID"},
        {"{\"credentialID\":42}", "Missing (or invalid type) string parameter credentialID"},
        {"{\"credentialID\":\"a\",\"certInfo\":\"true\"}",
         "Missing (or invalid type) boolean parameter certInfo"},
        {"{\"credentialID\":\"a\",\"certificates\":\"all\"}", "Invalid parameter certificates"},
        {"{\"credentialID\":\"a\",\"hashes\":[]}", "Unknown parameter hashes"},
        {"{\"credentialID\":\"a\",\"extra\":1}", "Unknown parameter extra"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qs_test_http *r =
            qs_test_apid_post(F->d, "/csc/v2/credentials/info", F->token, cases[i].body);
        expect_error(r, 400, "invalid_request", cases[i].desc);
        qs_test_http_free(r);
    }
    /* Wrong type in the other version's spelling. */
    qs_test_http *r =
        qs_test_apid_post(F->d, "/csc/v1/credentials/list", F->token, "{\"maxResults\":\"5\"}");
    expect_error(r, 400, "invalid_request",
                 "Missing (or invalid type) integer parameter maxResults");
    qs_test_http_free(r);
    /* Bad base64url in a token field; bad base64 in the Basic header. */
    r = qs_test_apid_post(F->d, "/csc/v2/auth/login", NULL,
                          "{\"refresh_token\":\"!!!!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = "Basic YWxp*2U6eA=="};
    r = qs_test_apid_request(F->d, &req);
    expect_error(r, 401, "access_denied", "Malformed HTTP Basic Authorization header");
    qs_test_http_free(r);
}

static void test_too_large(void **state)
{
    (void)state;
    char *big = malloc(MAX_BODY * 2);
    memset(big, ' ', MAX_BODY * 2 - 3);
    memcpy(big + MAX_BODY * 2 - 3, "{}", 3);
    qs_test_req req = {.path = "/csc/v2/info", .body = big};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    expect_error(r, 413, "invalid_request", "Request body too large");
    qs_test_http_free(r);
    req.chunked = true;
    r = qs_test_apid_request(F->d, &req);
    expect_error(r, 413, "invalid_request", "Request body too large");
    qs_test_http_free(r);
    /* Just under the cap is fine. */
    big[MAX_BODY - 3] = '{';
    big[MAX_BODY - 2] = '}';
    req.body_len = MAX_BODY - 1;
    req.chunked = false;
    r = qs_test_apid_request(F->d, &req);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    free(big);
}

/* ---- routing ----------------------------------------------------------------------------------
 */

static void test_routing(void **state)
{
    (void)state;
    char h[256];
    const char *missing[] = {"/csc/v2/nothing",
                             "/csc/v3/info",
                             "/nothing",
                             "/csc/v2/info/",
                             "/csc/v2/signatures/signhash",
                             "/csc/v1/healthz"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        qs_test_http *r = qs_test_apid_post(F->d, missing[i], NULL, "{}");
        expect_error(r, 404, "not_found", NULL);
        qs_test_http_free(r);
    }
    qs_test_http *r = get(F->d, "/csc/v2/info");
    expect_error(r, 405, "invalid_request", "Method not allowed");
    assert_string_equal(qs_test_http_header(r, "Allow", h, sizeof h), "POST");
    qs_test_http_free(r);
    qs_test_req req = {.method = "PUT", .path = "/csc/v1/credentials/list", .body = "{}"};
    r = qs_test_apid_request(F->d, &req);
    expect_error(r, 405, "invalid_request", NULL);
    qs_test_http_free(r);
    r = qs_test_apid_post(F->d, "/healthz", NULL, NULL);
    expect_error(r, 405, "invalid_request", NULL);
    assert_string_equal(qs_test_http_header(r, "Allow", h, sizeof h), "GET, HEAD");
    qs_test_http_free(r);

    /* Over-long URI and headers. */
    char path[3100];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    r = qs_test_apid_post(F->d, path, NULL, NULL);
    expect_error(r, 414, "invalid_request", NULL);
    qs_test_http_free(r);
    static char big_header[20100];
    memcpy(big_header, "X-Big: ", 7);
    memset(big_header + 7, 'b', 20000);
    const char *hdrs[] = {big_header, NULL};
    qs_test_req hreq = {.path = "/csc/v2/info", .body = "{}", .headers = hdrs};
    r = qs_test_apid_request(F->d, &hreq);
    expect_error(r, 431, "invalid_request", NULL);
    qs_test_http_free(r);
}

/* ---- health, readiness, metrics ------------------------------------------------------------- */

static void test_health(void **state)
{
    fixture *f = *state;
    qs_test_http *r = get(f->d, "/healthz");
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    qs_test_http_free(r);
    qs_test_req head = {.method = "HEAD", .path = "/healthz"};
    r = qs_test_apid_request(f->d, &head);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);

    r = get(f->d, "/readyz");
    assert_int_equal(r->status, 200);
    j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "sam")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "database")), "ok");
    json_decref(j);
    qs_test_http_free(r);

    /* Without a SAM: not ready, and the SAM error counter moves. */
    long long sam_errors = metric(f->d, "qsign_sam_errors_total");
    qs_test_fake_sam_stop(f->sam);
    f->sam = NULL;
    r = get(f->d, "/readyz");
    expect_error(r, 503, "temporarily_unavailable", "SAM unavailable");
    qs_test_http_free(r);
    assert_int_equal(metric(f->d, "qsign_sam_errors_total"), sam_errors + 1);
    f->sam = qs_test_fake_sam_start(f->sam_path);
    r = get(f->d, "/readyz");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
}

static void test_metrics(void **state)
{
    fixture *f = *state;
    char h[256];
    const char *series = "qsign_http_requests_total{endpoint=\"/healthz\",status=\"200\"}";
    long long before = metric(f->d, series);
    qs_test_http *r = get(f->d, "/healthz");
    qs_test_http_free(r);
    assert_int_equal(metric_reaching(f->d, series, (before < 0 ? 0 : before) + 1),
                     (before < 0 ? 0 : before) + 1);

    long long fails = metric(f->d, "qsign_login_failures_total");
    r = login_on(f->d, "alice", "wrong-password");
    expect_error(r, 401, "access_denied", NULL);
    qs_test_http_free(r);
    assert_int_equal(metric(f->d, "qsign_login_failures_total"), fails + 1);
    assert_true(metric_reaching(f->d,
                                "qsign_http_requests_total{endpoint=\"/csc/v2/auth/login\","
                                "status=\"401\"}",
                                1) >= 1);
    assert_true(metric_reaching(f->d,
                                "qsign_http_request_duration_seconds_count{endpoint=\"/csc/v2/"
                                "auth/login\",status=\"401\"}",
                                1) >= 1);
    assert_true(metric(f->d, "qsign_http_requests_total{endpoint=\"unmatched\","
                             "status=\"404\"}") >= 1);
    const char *counters[] = {"qsign_signatures_total", "qsign_authorization_failures_total",
                              "qsign_lockouts_total", "qsign_db_errors_total",
                              "qsign_rate_limited_total"};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        assert_true(metric(f->d, counters[i]) >= 0);
    r = get(f->d, "/metrics");
    assert_non_null(qs_test_http_header(r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "text/plain"));
    qs_test_http_free(r);
}

/* ---- TLS ----------------------------------------------------------------------------------------
 */

static void test_tls_versions(void **state)
{
    fixture *f = *state;
    qs_test_req req = {.path = "/csc/v2/info", .body = "{}"};
    req.ssl_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
    qs_test_http *r = qs_test_apid_request(f->d, &req);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    req.ssl_version = CURL_SSLVERSION_TLSv1_3;
    r = qs_test_apid_request(f->d, &req);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    /* TLS 1.1 and older are refused by the server's priorities. */
    req.ssl_version = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1;
    r = qs_test_apid_request(f->d, &req);
    assert_int_equal(r->status, 0);
    qs_test_http_free(r);
}

/* ---- access log -------------------------------------------------------------------------------
 */

static void test_access_log(void **state)
{
    fixture *f = *state;
    char rid[64], pattern[256];
    char *before = qs_test_apid_log(f->d);
    int lines_before = count_lines(before, "msg=\"access ");
    free(before);

    /* A body and a header holding secrets. */
    const char *hdrs[] = {"X-Trace: nothing", NULL};
    qs_test_req req = {.path = "/csc/v2/credentials/info",
                       .auth = "Bearer SECRETTOKENSECRETTOKENSECRETTOKENSECRET1",
                       .body = "{\"credentialID\":\"x\",\"PIN\":\"PIN-SECRET-4711\"}",
                       .headers = hdrs};
    qs_test_http *r = qs_test_apid_request(f->d, &req);
    assert_int_equal(r->status, 400);
    assert_non_null(qs_test_http_header(r, "X-Request-Id", rid, sizeof rid));
    qs_test_http_free(r);
    r = qs_test_apid_post(f->d, "/csc/v2/credentials/list", f->token, "{}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);

    /* The lines are written when each response completes (a line of an earlier request may
     * still arrive too): wait, within a bound, for both of these requests' lines. */
    snprintf(pattern, sizeof pattern,
             "rid=%s msg=\"access method=POST path=/csc/v2/credentials/info status=400 "
             "error=invalid_request",
             rid);
    char *log = NULL;
    for (int i = 0; i < 100; i++) {
        free(log);
        log = qs_test_apid_log(f->d);
        if (strstr(log, pattern) != NULL &&
            strstr(log, "path=/csc/v2/credentials/list status=200 ") != NULL)
            break;
        usleep(100 * 1000);
    }
    assert_true(count_lines(log, "msg=\"access ") >= lines_before + 2);
    assert_non_null(strstr(log, pattern));
    assert_non_null(strstr(log, "path=/csc/v2/credentials/list status=200 "));
    assert_non_null(strstr(log, " user=" ALICE));
    assert_null(strstr(log, "PIN-SECRET"));
    assert_null(strstr(log, "SECRETTOKEN"));
    assert_null(strstr(log, f->token));
    assert_null(strstr(log, ALICE_PW));
    free(log);
}

/* ---- rate limits ------------------------------------------------------------------------------
 */

static void test_rate_limit(void **state)
{
    fixture *f = *state;
    char h[64];
    /* One a minute, so that no token comes back while the test runs even on a slow machine:
     * bursts of 3 per address and 2 failures per account. */
    qs_test_apid_opts o = {.rl_address_per_minute = 1,
                           .rl_address_burst = 3,
                           .rl_account_per_minute = 1,
                           .rl_account_burst = 2};
    qs_test_apid *d = qs_test_apid_start(f->pg, &o);
    for (int i = 0; i < 2; i++) {
        qs_test_http *r = login_on(d, "alice", "wrong-password");
        expect_error(r, 401, "access_denied", NULL);
        qs_test_http_free(r);
    }
    /* The account has no failures left, even with the right password. */
    qs_test_http *r = login_on(d, "alice", ALICE_PW);
    expect_error(r, 429, "too_many_requests", NULL);
    assert_non_null(qs_test_http_header(r, "Retry-After", h, sizeof h));
    long wait = strtol(h, NULL, 10);
    assert_true(wait >= 1 && wait <= 60);
    qs_test_http_free(r);
    /* The address has one attempt left (the refused one took none): another account uses it. */
    r = login_on(d, "mallory", "whatever-pw");
    expect_error(r, 401, "access_denied", NULL);
    qs_test_http_free(r);
    r = login_on(d, "trudy", "whatever-pw");
    expect_error(r, 429, "too_many_requests", "Too many attempts, retry later");
    assert_non_null(qs_test_http_header(r, "Retry-After", h, sizeof h));
    qs_test_http_free(r);
    /* Refresh attempts count against the address too. */
    r = qs_test_apid_post(d, "/csc/v2/auth/login", NULL,
                          "{\"refresh_token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_error(r, 429, "too_many_requests", NULL);
    qs_test_http_free(r);
    assert_int_equal(metric(d, "qsign_rate_limited_total"), 3);
    /* Other endpoints are not limited. */
    r = qs_test_apid_post(d, "/csc/v2/info", NULL, "{}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    assert_int_equal(qs_test_apid_stop(d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_bodies), cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_routing),    cmocka_unit_test(test_health),
        cmocka_unit_test(test_metrics),    cmocka_unit_test(test_tls_versions),
        cmocka_unit_test(test_access_log), cmocka_unit_test(test_rate_limit),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}

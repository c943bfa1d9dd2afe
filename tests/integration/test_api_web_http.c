/*
 * The signers' web page as qsignd serves it, end to end over TLS: / and every file of api/web/
 * byte for byte with its Content-Type, the security headers on the page (the strict
 * Content-Security-Policy, X-Frame-Options, nosniff, Referrer-Policy) and on every API reply,
 * 404 for any other path under /web/ (traversal, case, trailing parts), 405 for other methods;
 * no response ever sets a cookie; the Origin check refuses state-changing requests from another
 * origin (changing nothing) and lets same-origin and Origin-less clients through, also with
 * [http] public_origin; and /account/v1/info.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/api_internal.h"
#include "tests/lib/apid.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"

#define ALICE    "00000000-0000-4000-8000-00000000a11c"
#define ALICE_PW "alice-password-1"

typedef struct fixture {
    qs_test_pg *pg;
    qs_test_apid *d;
    char dir[512];
    char sam_path[600];
    qs_test_fake_sam *sam;
    char *token;
    char own_origin[160]; /* https://localhost:<port>, what a browser on the page sends */
} fixture;

static fixture *F;

/* ---- helpers ----------------------------------------------------------------------------- */

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
    if (e == NULL || strcmp(e, error) != 0 || d == NULL || (desc != NULL && strcmp(d, desc) != 0))
        fail_msg("got %s, want error %s \"%s\"", r->body, error, desc ? desc : "*");
    json_decref(j);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *source_dir(void)
{
    const char *s = getenv("QS_SOURCE_DIR");
    if (s == NULL)
        fail_msg("QS_SOURCE_DIR is not set");
    return s;
}

static qs_test_http *get(const char *path, const char *origin)
{
    char hdr[300];
    const char *headers[] = {hdr, NULL};
    snprintf(hdr, sizeof hdr, "Origin: %s", origin != NULL ? origin : "");
    qs_test_req req = {.method = "GET", .path = path, .headers = origin != NULL ? headers : NULL};
    return qs_test_apid_request(F->d, &req);
}

/* POST with an optional bearer token, Basic value and Origin header. */
static qs_test_http *post_on(qs_test_apid *d, const char *path, const char *auth, const char *body,
                             const char *origin)
{
    char hdr[300];
    const char *headers[] = {hdr, NULL};
    snprintf(hdr, sizeof hdr, "Origin: %s", origin != NULL ? origin : "");
    qs_test_req req = {
        .path = path, .auth = auth, .body = body, .headers = origin != NULL ? headers : NULL};
    return qs_test_apid_request(d, &req);
}

static void bearer(char *buf, size_t len, const char *token)
{
    snprintf(buf, len, "Bearer %s", token);
}

static void basic(char *buf, size_t len, const char *user, const char *pw)
{
    char raw[256], b64[512];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, len, "Basic %s", b64);
}

static const char *header(const qs_test_http *r, const char *name)
{
    static char buf[1024];
    return qs_test_http_header(r, name, buf, sizeof buf);
}

/* Every reply: no cookie, no framing, no sniffing, no referrer, and a CSP. */
static void expect_common_headers(const qs_test_http *r, const char *csp)
{
    if (header(r, "Set-Cookie") != NULL || header(r, "Set-Cookie2") != NULL)
        fail_msg("a response sets a cookie:\n%s", r->headers);
    assert_non_null(header(r, "X-Frame-Options"));
    assert_string_equal(header(r, "X-Frame-Options"), "DENY");
    assert_non_null(header(r, "X-Content-Type-Options"));
    assert_string_equal(header(r, "X-Content-Type-Options"), "nosniff");
    assert_non_null(header(r, "Referrer-Policy"));
    assert_string_equal(header(r, "Referrer-Policy"), "no-referrer");
    assert_non_null(header(r, "Content-Security-Policy"));
    assert_string_equal(header(r, "Content-Security-Policy"), csp);
}

/* Rows that a login writes: tokens of alice and her last login time. */
static char *login_state(void)
{
    PGconn *c = qs_test_pg_connect(F->pg->owner_conninfo);
    char *v = qs_test_pg_query_value(
        c, "SELECT (SELECT count(*) FROM qsign.access_tokens WHERE user_id = '" ALICE "')"
           " || ' ' || coalesce((SELECT last_login_at::text FROM qsign.accounts"
           " WHERE user_id = '" ALICE "'), '-')"
           " || ' ' || (SELECT failed_logins FROM qsign.accounts WHERE user_id = '" ALICE "')");
    PQfinish(c);
    return v;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->pg = qs_test_pg_create("api_web");
    qs_test_pg_migrate(f->pg);
    qs_test_apid_add_user(f->pg, ALICE, "alice", "active");
    qs_test_apid_set_password(f->pg, ALICE, ALICE_PW);
    qs_test_tmpdir("api_web", f->dir, sizeof f->dir);
    snprintf(f->sam_path, sizeof f->sam_path, "%s/sam.sock", f->dir);
    f->sam = qs_test_fake_sam_start(f->sam_path);
    qs_test_apid_opts o = {.sam_socket = f->sam_path};
    f->d = qs_test_apid_start(f->pg, &o);
    snprintf(f->own_origin, sizeof f->own_origin, "https://localhost:%u", f->d->port);
    F = f;
    char auth[600];
    basic(auth, sizeof auth, "alice", ALICE_PW);
    qs_test_http *r = post_on(f->d, "/csc/v2/auth/login", auth, "{}", NULL);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    f->token = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
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

/* ---- the page ---------------------------------------------------------------------------- */

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return NULL;
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return NULL;
}

/* GET `path` serves the file `name` of api/web/ exactly, with the page's headers. */
static void expect_file(const char *path, const char *name)
{
    char file[1024];
    size_t len = 0;
    snprintf(file, sizeof file, "%s/api/web/%s", source_dir(), name);
    char *want = read_file(file, &len);
    qs_test_http *r = get(path, NULL);
    if (r->status != 200)
        fail_msg("GET %s: HTTP %ld %s", path, r->status, r->body);
    assert_non_null(header(r, "Content-Type"));
    assert_string_equal(header(r, "Content-Type"), type_of(name));
    if (r->body_len != len || memcmp(r->body, want, len) != 0)
        fail_msg("GET %s: the body is not api/web/%s (%zu bytes, want %zu)", path, name,
                 r->body_len, len);
    expect_common_headers(r, API_CSP_PAGE);
    assert_string_equal(header(r, "Cache-Control"), "no-store");
    qs_test_http_free(r);
    free(want);
}

static void test_page_and_files(void **state)
{
    (void)state;
    /* The policy says what the issue asks for, directive by directive. */
    static const char *const directives[] = {
        "default-src 'none'",     "script-src 'self'", "style-src 'self'",   "connect-src 'self'",
        "frame-ancestors 'none'", "base-uri 'none'",   "form-action 'self'",
    };
    for (size_t i = 0; i < sizeof directives / sizeof directives[0]; i++)
        if (strstr(API_CSP_PAGE, directives[i]) == NULL)
            fail_msg("the page's CSP lacks %s", directives[i]);
    assert_null(strstr(API_CSP_PAGE, "unsafe"));
    assert_null(strstr(API_CSP_PAGE, "http"));

    expect_file("/", "index.html");
    /* Every file of api/web/ at /web/<name>. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/api/web", source_dir());
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int files = 0;
    for (struct dirent *e; (e = readdir(dp)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (type_of(e->d_name) == NULL)
            fail_msg("api/web/%s: an extension the page does not serve", e->d_name);
        char path[600];
        snprintf(path, sizeof path, "/web/%s", e->d_name);
        expect_file(path, e->d_name);
        files++;
    }
    closedir(dp);
    assert_true(files >= 3);

    /* Whatever the page refers to (src=, href=) is one of its own files, and served. */
    char file[1100];
    size_t len = 0;
    snprintf(file, sizeof file, "%s/index.html", dir);
    char *html = read_file(file, &len);
    int refs = 0;
    for (const char *p = html; (p = strstr(p, "=\"/")) != NULL; p += 3) {
        if (!(p >= html + 4 && (strncmp(p - 3, "src", 3) == 0 || strncmp(p - 4, "href", 4) == 0)))
            continue;
        char ref[256];
        size_t n = strcspn(p + 2, "\"");
        assert_true(n < sizeof ref);
        memcpy(ref, p + 2, n);
        ref[n] = '\0';
        if (strncmp(ref, "/web/", 5) != 0)
            fail_msg("index.html refers to %s, outside /web/", ref);
        qs_test_http *r = get(ref, NULL);
        if (r->status != 200)
            fail_msg("index.html refers to %s, which answers %ld", ref, r->status);
        qs_test_http_free(r);
        refs++;
    }
    free(html);
    assert_true(refs >= 3); /* the script, the stylesheet, the icon */

    /* HEAD: the headers without the body. */
    qs_test_req req = {.method = "HEAD", .path = "/"};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    assert_int_equal(r->status, 200);
    assert_string_equal(header(r, "Content-Type"), "text/html; charset=utf-8");
    assert_int_equal(r->body_len, 0);
    expect_common_headers(r, API_CSP_PAGE);
    qs_test_http_free(r);
}

static void test_unknown_paths(void **state)
{
    (void)state;
    static const char *const missing[] = {
        "/web/",
        "/web",
        "/web/nothing.js",
        "/web/app.js/",
        "/web/app.js.map",
        "/web/APP.JS",
        "/web//app.js",
        "/web/../api/api_internal.h",
        "/web/%2e%2e/api/api_internal.h",
        "/web/./app.js",
        "/web/index.html/x",
        "/index.html",
        "/app.js",
        "/favicon.ico",
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        qs_test_http *r = get(missing[i], NULL);
        if (r->status != 404)
            fail_msg("GET %s: HTTP %ld, want 404", missing[i], r->status);
        expect_error(r, 404, "not_found", NULL);
        expect_common_headers(r, API_CSP_API);
        qs_test_http_free(r);
    }
    /* The page and its files are read-only. */
    static const char *const paths[] = {"/", "/web/app.js"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        qs_test_http *r = post_on(F->d, paths[i], NULL, "{}", NULL);
        expect_error(r, 405, "invalid_request", NULL);
        assert_string_equal(header(r, "Allow"), "GET, HEAD");
        qs_test_http_free(r);
    }
}

/* ---- cookies and headers of the API ------------------------------------------------------ */

static void test_no_cookies(void **state)
{
    (void)state;
    char auth[600], bad[600];
    bearer(auth, sizeof auth, F->token);
    basic(bad, sizeof bad, "alice", "wrong-password");
    static const char *const paths[] = {"/csc/v2/info", "/csc/v2/credentials/list",
                                        "/account/v1/info"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        qs_test_http *r = post_on(F->d, paths[i], auth, "{}", F->own_origin);
        if (r->status != 200)
            fail_msg("POST %s: HTTP %ld %s", paths[i], r->status, r->body);
        expect_common_headers(r, API_CSP_API);
        qs_test_http_free(r);
    }
    /* A login, a failed one, an unauthenticated call, a bad token: no cookie either. */
    char good[600];
    basic(good, sizeof good, "alice", ALICE_PW);
    qs_test_http *r = post_on(F->d, "/csc/v2/auth/login", good, "{\"rememberMe\":true}", NULL);
    assert_int_equal(r->status, 200);
    expect_common_headers(r, API_CSP_API);
    qs_test_http_free(r);
    r = post_on(F->d, "/csc/v2/auth/login", bad, "{}", NULL);
    assert_int_equal(r->status, 401);
    expect_common_headers(r, API_CSP_API);
    qs_test_http_free(r);
    r = post_on(F->d, "/csc/v2/credentials/list", NULL, "{}", NULL);
    assert_int_equal(r->status, 401);
    expect_common_headers(r, API_CSP_API);
    qs_test_http_free(r);
    r = post_on(F->d, "/csc/v2/credentials/list", "Bearer AAAA", "{}", NULL);
    assert_int_equal(r->status, 401);
    expect_common_headers(r, API_CSP_API);
    qs_test_http_free(r);
    r = get("/healthz", NULL);
    assert_int_equal(r->status, 200);
    expect_common_headers(r, API_CSP_API);
    qs_test_http_free(r);
}

/* ---- the Origin check -------------------------------------------------------------------- */

static void test_origin(void **state)
{
    (void)state;
    char good[600], auth[600];
    basic(good, sizeof good, "alice", ALICE_PW);
    bearer(auth, sizeof auth, F->token);
    char other_port[160], plain[160], suffix[200], upper[160];
    /* the test client's Host is localhost:<port> (tests/lib/apid.c) */
    snprintf(other_port, sizeof other_port, "https://localhost:%u", F->d->port == 1 ? 2 : 1);
    snprintf(plain, sizeof plain, "http://localhost:%u", F->d->port);
    snprintf(suffix, sizeof suffix, "https://localhost:%u.evil.example", F->d->port);
    snprintf(upper, sizeof upper, "HTTPS://LocalHost:%u", F->d->port);
    char ip[160];
    snprintf(ip, sizeof ip, "https://127.0.0.1:%u", F->d->port);
    const char *const foreign[] = {"https://evil.example", "null", other_port, plain, suffix,
                                   "https://localhost",    ip};

    /* A login from another origin: refused before the password is even looked at, so no
     * token, no login time, no failure count. */
    char *before = login_state();
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        qs_test_http *r = post_on(F->d, "/csc/v2/auth/login", good, "{}", foreign[i]);
        if (r->status != 403)
            fail_msg("login with Origin \"%s\": HTTP %ld %s", foreign[i], r->status, r->body);
        expect_error(r, 403, "access_denied", "Cross-origin request refused");
        qs_test_http_free(r);
    }
    char *after = login_state();
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* The bearer token does not help a foreign origin either. */
    static const char *const paths[] = {"/csc/v2/credentials/list", "/account/v1/info",
                                        "/account/v1/activate", "/csc/v2/auth/revoke"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        qs_test_http *r = post_on(F->d, paths[i], auth, "{}", "https://evil.example");
        expect_error(r, 403, "access_denied", "Cross-origin request refused");
        qs_test_http_free(r);
    }
    /* ... and the token still works: auth/revoke above did nothing. */
    qs_test_http *r = post_on(F->d, "/csc/v2/credentials/list", auth, "{}", NULL);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);

    /* The page's own origin, in any case, and clients that send no Origin. */
    const char *const own[] = {F->own_origin, upper, NULL};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        r = post_on(F->d, "/csc/v2/auth/login", good, "{}", own[i]);
        if (r->status != 200)
            fail_msg("login with Origin %s: HTTP %ld %s", own[i] ? own[i] : "(none)", r->status,
                     r->body);
        qs_test_http_free(r);
        r = post_on(F->d, "/csc/v2/credentials/list", auth, "{}", own[i]);
        assert_int_equal(r->status, 200);
        qs_test_http_free(r);
    }
    /* Reading is not refused: a foreign page may link to the page. */
    r = get("/", "https://evil.example");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    r = get("/healthz", "https://evil.example");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
}

/* With [http] public_origin the configured origin is the only one, whatever the Host. */
static void test_public_origin(void **state)
{
    (void)state;
    qs_test_apid_opts o = {.sam_socket = F->sam_path, .public_origin = "https://sign.example"};
    qs_test_apid *d = qs_test_apid_start(F->pg, &o);
    char good[600], own[160];
    basic(good, sizeof good, "alice", ALICE_PW);
    snprintf(own, sizeof own, "https://localhost:%u", d->port);
    qs_test_http *r = post_on(d, "/csc/v2/auth/login", good, "{}", "https://sign.example");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    r = post_on(d, "/csc/v2/auth/login", good, "{}", NULL);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    const char *const refused[] = {own, "https://sign.example.evil", "http://sign.example"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        r = post_on(d, "/csc/v2/auth/login", good, "{}", refused[i]);
        expect_error(r, 403, "access_denied", "Cross-origin request refused");
        qs_test_http_free(r);
    }
    assert_int_equal(qs_test_apid_stop(d), 0);
}

/* ---- /account/v1/info -------------------------------------------------------------------- */

static void test_account_info(void **state)
{
    (void)state;
    char auth[600];
    bearer(auth, sizeof auth, F->token);
    qs_test_http *r = post_on(F->d, "/account/v1/info", auth, NULL, NULL);
    if (r->status != 200)
        fail_msg("account/info: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "userID")), ALICE);
    assert_string_equal(json_string_value(json_object_get(j, "username")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "signer");
    assert_true(json_is_false(json_object_get(j, "activated")));
    assert_int_equal(json_object_size(j), 4);
    json_decref(j);
    qs_test_http_free(r);
    r = post_on(F->d, "/account/v1/info", NULL, NULL, NULL);
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);
    r = get("/account/v1/info", NULL);
    expect_error(r, 405, "invalid_request", NULL);
    qs_test_http_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_and_files), cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_no_cookies),     cmocka_unit_test(test_origin),
        cmocka_unit_test(test_public_origin),  cmocka_unit_test(test_account_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

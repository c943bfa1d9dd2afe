/*
 * qsignd end to end over TLS: the CSC methods that need no SAM, in both versions, driven with
 * a real HTTP client against the real daemon and a real PostgreSQL.  Login (good, wrong and
 * missing credentials, suspended user), token use, revocation, refresh-token rotation and
 * replay, expiry, credentials/list and credentials/info for the caller only (another signer's
 * credential answers exactly like a missing one), and `qsignctl account set-password`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/pg.h"
#include "tests/lib/testutil.h"

#define ALICE   "00000000-0000-4000-8000-00000000a11c"
#define BOB     "00000000-0000-4000-8000-000000000b0b"
#define CAROL   "00000000-0000-4000-8000-00000000ca01"
#define CRED_A1 "00000000-0000-4000-8000-0000000000a1"
#define CRED_A2 "00000000-0000-4000-8000-0000000000a2"
#define CRED_A3 "00000000-0000-4000-8000-0000000000a3"
#define CRED_B1 "00000000-0000-4000-8000-0000000000b1"

#define ALICE_PW "alice-password-1"
#define BOB_PW   "bob-password-22"
#define CAROL_PW "carol-password-3"

#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_RSA_PSS      "1.2.840.113549.1.1.10"
#define OID_RSA          "1.2.840.113549.1.1.1"
#define OID_P256         "1.2.840.10045.3.1.7"

typedef struct fixture {
    qs_test_pg *pg;
    qs_test_apid *d;
} fixture;

static fixture *F;

/* ---- helpers ------------------------------------------------------------------------------ */

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
    if (e == NULL || strcmp(e, error) != 0 || (desc != NULL && (d == NULL || strcmp(d, desc) != 0)))
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

static qs_test_http *login_raw(qs_test_apid *d, const char *ver, const char *user, const char *pw,
                               const char *body)
{
    char auth[1200], path[64];
    basic_auth(auth, sizeof auth, user, pw);
    snprintf(path, sizeof path, "/csc/%s/auth/login", ver);
    qs_test_req req = {.path = path, .auth = auth, .body = body};
    return qs_test_apid_request(d, &req);
}

/* Logs in; returns the access token (malloc'd) and, when refresh is not NULL, the refresh token
 * (rememberMe). */
static char *login_on(qs_test_apid *d, const char *user, const char *pw, char **refresh)
{
    qs_test_http *r = login_raw(d, "v2", user, pw, refresh ? "{\"rememberMe\":true}" : NULL);
    if (r->status != 200)
        fail_msg("login %s: HTTP %ld %s", user, r->status, r->body);
    json_t *j = json_of(r);
    const char *at = json_string_value(json_object_get(j, "access_token"));
    assert_non_null(at);
    assert_int_equal(strlen(at), 43);
    char *out = strdup(at);
    const json_t *rt = json_object_get(j, "refresh_token");
    if (refresh != NULL) {
        assert_true(json_is_string(rt));
        *refresh = strdup(json_string_value(rt));
    } else {
        assert_null(rt);
    }
    json_decref(j);
    qs_test_http_free(r);
    return out;
}

static char *login(const char *user, const char *pw)
{
    return login_on(F->d, user, pw, NULL);
}

static qs_test_http *post(const char *path, const char *token, const char *body)
{
    return qs_test_apid_post(F->d, path, token, body);
}

static char *query(const char *sql)
{
    PGconn *c = qs_test_pg_connect(F->pg->super_conninfo);
    char *v = qs_test_pg_query_value(c, sql);
    PQfinish(c);
    return v;
}

static void expect_strings(const json_t *a, const char *const *want, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n) {
        char *s = a != NULL ? json_dumps(a, 0) : NULL;
        fail_msg("got %s, want %zu strings", s != NULL ? s : "(none)", n);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(a, i)), want[i]);
}

/* ---- fixture ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->pg = qs_test_pg_create("api_csc");
    qs_test_pg_migrate(f->pg);
    qs_test_apid_add_user(f->pg, ALICE, "alice", "active");
    qs_test_apid_add_user(f->pg, BOB, "bob", "active");
    qs_test_apid_add_user(f->pg, CAROL, "carol", "suspended");
    qs_test_apid_add_credential(f->pg, CRED_A1, ALICE, "ec-p256", "enabled");
    qs_test_apid_add_credential(f->pg, CRED_A2, ALICE, "rsa-2048", "disabled");
    qs_test_apid_add_credential(f->pg, CRED_A3, ALICE, "ec-p384", "destroyed");
    qs_test_apid_add_credential(f->pg, CRED_B1, BOB, "ec-p256", "enabled");
    qs_test_apid_set_password(f->pg, ALICE, ALICE_PW);
    qs_test_apid_set_password(f->pg, BOB, BOB_PW);
    qs_test_apid_set_password(f->pg, CAROL, CAROL_PW);
    f->d = qs_test_apid_start(f->pg, NULL);
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int st = qs_test_apid_stop(f->d);
    qs_test_pg_destroy(f->pg);
    free(f);
    if (st != 0) {
        fprintf(stderr, "qsignd did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

/* ---- info ---------------------------------------------------------------------------------- */

static void test_info(void **state)
{
    (void)state;
    static const char *const methods[] = {"info",
                                          "auth/login",
                                          "auth/revoke",
                                          "credentials/list",
                                          "credentials/info",
                                          "credentials/authorize",
                                          "credentials/extendTransaction",
                                          "signatures/signHash",
                                          "signatures/signDoc"};
    char h[256];

    qs_test_http *r = post("/csc/v2/info", NULL, "{}");
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "specs")), "2.0.0.2");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "qsign test");
    assert_string_equal(json_string_value(json_object_get(j, "region")), "EE");
    static const char *const basic[] = {"basic"};
    expect_strings(json_object_get(j, "authType"), basic, 1);
    expect_strings(json_object_get(j, "methods"), methods, 9);
    assert_null(json_object_get(j, "oauth2"));
    const json_t *algos = json_object_get(json_object_get(j, "signAlgorithms"), "algos");
    assert_true(json_is_array(algos));
    bool ecdsa = false, pss = false;
    for (size_t i = 0; i < json_array_size(algos); i++) {
        const char *a = json_string_value(json_array_get(algos, i));
        ecdsa |= strcmp(a, OID_ECDSA_SHA256) == 0;
        pss |= strcmp(a, OID_RSA_PSS) == 0;
    }
    assert_true(ecdsa && pss);
    json_decref(j);
    /* Common headers. */
    assert_non_null(qs_test_http_header(r, "X-Request-Id", h, sizeof h));
    assert_int_equal(strlen(h), 32);
    assert_string_equal(qs_test_http_header(r, "Cache-Control", h, sizeof h), "no-store");
    assert_non_null(qs_test_http_header(r, "Strict-Transport-Security", h, sizeof h));
    assert_string_equal(qs_test_http_header(r, "Content-Type", h, sizeof h), "application/json");
    qs_test_http_free(r);

    /* v1: its own specs, no signAlgorithms; an empty body is an empty object. */
    r = post("/csc/v1/info", NULL, NULL);
    assert_int_equal(r->status, 200);
    j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "specs")), "1.0.4.0");
    expect_strings(json_object_get(j, "methods"), methods, 8); /* no signDoc in 1.0.4.0 */
    assert_null(json_object_get(j, "signAlgorithms"));
    json_decref(j);
    qs_test_http_free(r);

    /* lang is accepted; anything else is not. */
    r = post("/csc/v2/info", NULL, "{\"lang\":\"en-US\"}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    r = post("/csc/v2/info", NULL, "{\"language\":\"en\"}");
    expect_error(r, 400, "invalid_request", "Unknown parameter language");
    qs_test_http_free(r);
}

/* ---- login ---------------------------------------------------------------------------------- */

static void test_login(void **state)
{
    (void)state;
    char h[256];
    /* The username is the login name, not the user id. */
    qs_test_http *byid = login_raw(F->d, "v2", ALICE, ALICE_PW, NULL);
    expect_error(byid, 401, "access_denied", NULL);
    qs_test_http_free(byid);
    char *token = login("alice", ALICE_PW);

    /* Only the SHA-256 of the token is stored. */
    unsigned char raw[32], hash[32];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, token, strlen(token), NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, 32);
    crypto_hash_sha256(hash, raw, sizeof raw);
    char hex[65], sql[512];
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    snprintf(sql, sizeof sql,
             "SELECT kind || ' ' || (expires_at > now() + interval '3590 seconds')::text"
             " FROM qsign.access_tokens WHERE token_hash = decode('%s', 'hex')",
             hex);
    char *v = query(sql);
    assert_non_null(v);
    assert_string_equal(v, "access true");
    free(v);
    free(token);

    /* Wrong password, unknown user, suspended user: the same answer. */
    const char *bad[][2] = {
        {"alice", "wrong-password"}, {"nobody", ALICE_PW}, {"carol", CAROL_PW}, {"alice", ""}};
    for (size_t i = 0; i < 4; i++) {
        qs_test_http *r = login_raw(F->d, "v2", bad[i][0], bad[i][1], NULL);
        expect_error(r, 401, "access_denied", NULL);
        assert_non_null(qs_test_http_header(r, "WWW-Authenticate", h, sizeof h));
        assert_string_equal(h, "Basic realm=\"qsign\"");
        qs_test_http_free(r);
    }
    /* The wrong passwords on a real account counted (the empty one never reached it). */
    v = query("SELECT failed_logins FROM qsign.accounts WHERE user_id = '" ALICE "'");
    assert_string_equal(v, "1");
    free(v);
}

static void test_login_counts_failures(void **state)
{
    (void)state;
    qs_test_http *r = login_raw(F->d, "v1", "bob", "not-bobs", NULL);
    expect_error(r, 401, "access_denied", "Invalid username or password");
    qs_test_http_free(r);
    char *v = query("SELECT failed_logins || ' ' || (last_failed_at IS NOT NULL)::text"
                    " FROM qsign.accounts WHERE user_id = '" BOB "'");
    assert_string_equal(v, "1 true");
    free(v);
    char *t = login("bob", BOB_PW);
    free(t);
    v = query("SELECT failed_logins || ' ' || (last_login_at IS NOT NULL)::text"
              " FROM qsign.accounts WHERE user_id = '" BOB "'");
    assert_string_equal(v, "0 true");
    free(v);
}

static void test_login_header_problems(void **state)
{
    (void)state;
    /* No Authorization header. */
    qs_test_http *r = post("/csc/v2/auth/login", NULL, NULL);
    expect_error(r, 401, "access_denied", "Missing HTTP Basic Authorization header");
    qs_test_http_free(r);
    /* Not Basic, not base64, no colon. */
    const char *bad[] = {"Bearer AAAA", "Basic !!!!", "Basic YWxpY2U=", "Basic"};
    for (size_t i = 0; i < 4; i++) {
        qs_test_req req = {.path = "/csc/v2/auth/login", .auth = bad[i]};
        r = qs_test_apid_request(F->d, &req);
        expect_error(r, 401, "access_denied", "Malformed HTTP Basic Authorization header");
        qs_test_http_free(r);
    }
    /* Body fields are checked too. */
    r = login_raw(F->d, "v2", "alice", ALICE_PW, "{\"rememberMe\":\"yes\"}");
    expect_error(r, 400, "invalid_request",
                 "Missing (or invalid type) boolean parameter rememberMe");
    qs_test_http_free(r);
}

/* ---- tokens -----------------------------------------------------------------------------------
 */

static void test_token_required(void **state)
{
    (void)state;
    char h[256];
    qs_test_http *r = post("/csc/v2/credentials/list", NULL, "{}");
    expect_error(r, 401, "invalid_token", "Missing access token");
    assert_non_null(qs_test_http_header(r, "WWW-Authenticate", h, sizeof h));
    assert_non_null(strstr(h, "Bearer"));
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", "not-a-token", "{}");
    expect_error(r, 401, "invalid_token", "Invalid access token");
    qs_test_http_free(r);
    /* Well formed, but never issued. */
    r = post("/csc/v1/credentials/list", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{}");
    expect_error(r, 401, "invalid_token", "Invalid access token");
    qs_test_http_free(r);
    /* A Basic header is no bearer token. */
    char auth[256];
    basic_auth(auth, sizeof auth, "alice", ALICE_PW);
    qs_test_req req = {.path = "/csc/v2/credentials/list", .auth = auth, .body = "{}"};
    r = qs_test_apid_request(F->d, &req);
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);
    /* A refresh token is not an access token. */
    char *refresh = NULL;
    char *access = login_on(F->d, "alice", ALICE_PW, &refresh);
    r = post("/csc/v2/credentials/list", refresh, "{}");
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", access, "{}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    free(access);
    free(refresh);
}

static void test_revoke(void **state)
{
    (void)state;
    char *a = login("alice", ALICE_PW), *a2 = login("alice", ALICE_PW), *b = login("bob", BOB_PW);
    char body[256];

    /* Revoking another user's token does nothing, and says nothing. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"token_type_hint\":\"access_token\"}", b);
    qs_test_http *r = post("/csc/v2/auth/revoke", a, body);
    assert_int_equal(r->status, 204);
    assert_int_equal(r->body_len, 0);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", b, "{}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);

    /* Revoking one's own other token ends it, not the one used. */
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", a2);
    r = post("/csc/v1/auth/revoke", a, body);
    assert_int_equal(r->status, 204);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", a2, "{}");
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);

    /* Revoking the token in use. */
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", a);
    r = post("/csc/v2/auth/revoke", a, body);
    assert_int_equal(r->status, 204);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", a, "{}");
    expect_error(r, 401, "invalid_token", "Invalid access token");
    qs_test_http_free(r);

    /* Needs a valid token; checks its fields. */
    r = post("/csc/v2/auth/revoke", NULL, body);
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);
    r = post("/csc/v2/auth/revoke", b, "{\"token\":\"short\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter token");
    qs_test_http_free(r);
    r = post("/csc/v2/auth/revoke", b, "{}");
    expect_error(r, 400, "invalid_request", "Missing (or invalid type) string parameter token");
    qs_test_http_free(r);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"token_type_hint\":\"id_token\"}", b);
    r = post("/csc/v2/auth/revoke", b, body);
    expect_error(r, 400, "invalid_request", "Invalid parameter token_type_hint");
    qs_test_http_free(r);
    free(a);
    free(a2);
    free(b);
}

static void test_refresh(void **state)
{
    (void)state;
    char *refresh = NULL, body[256];
    char *access = login_on(F->d, "alice", ALICE_PW, &refresh);

    /* A refresh with rememberMe rotates the refresh token. */
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\",\"rememberMe\":true}", refresh);
    qs_test_http *r = post("/csc/v2/auth/login", NULL, body);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    char *access2 = strdup(json_string_value(json_object_get(j, "access_token")));
    char *refresh2 = strdup(json_string_value(json_object_get(j, "refresh_token")));
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 3600);
    assert_string_not_equal(refresh2, refresh);
    json_decref(j);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", access2, "{}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);

    /* The used refresh token presented again: refused, and the whole session is revoked. */
    r = post("/csc/v2/auth/login", NULL, body);
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);
    const char *gone[] = {access, access2};
    for (size_t i = 0; i < 2; i++) {
        r = post("/csc/v2/credentials/list", gone[i], "{}");
        expect_error(r, 401, "invalid_token", NULL);
        qs_test_http_free(r);
    }
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh2);
    r = post("/csc/v2/auth/login", NULL, body);
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);

    /* Without rememberMe a refresh gives an access token only; an access token is no refresh
     * token; malformed ones are refused by the parser. */
    free(refresh);
    free(access);
    access = login_on(F->d, "bob", BOB_PW, &refresh);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    r = post("/csc/v1/auth/login", NULL, body);
    assert_int_equal(r->status, 200);
    j = json_of(r);
    assert_non_null(json_object_get(j, "access_token"));
    assert_null(json_object_get(j, "refresh_token"));
    json_decref(j);
    qs_test_http_free(r);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", access);
    r = post("/csc/v2/auth/login", NULL, body);
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);
    r = post("/csc/v2/auth/login", NULL,
             "{\"refresh_token\":\"AAAA*AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);

    /* Revoking a refresh token ends its session. */
    free(refresh);
    free(access);
    access = login_on(F->d, "bob", BOB_PW, &refresh);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"token_type_hint\":\"refresh_token\"}",
             refresh);
    r = post("/csc/v2/auth/revoke", access, body);
    assert_int_equal(r->status, 204);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", access, "{}");
    expect_error(r, 401, "invalid_token", NULL);
    qs_test_http_free(r);
    free(refresh);
    free(access);
    free(refresh2);
    free(access2);
}

static void test_expired_token(void **state)
{
    fixture *f = *state;
    qs_test_apid_opts o = {.token_lifetime = 1, .refresh_token_lifetime = 2};
    qs_test_apid *d = qs_test_apid_start(f->pg, &o);
    char *refresh = NULL;
    char *access = login_on(d, "alice", ALICE_PW, &refresh);
    qs_test_http *r = qs_test_apid_post(d, "/csc/v2/credentials/list", access, "{}");
    /* Issued a moment ago: still valid unless this machine is very slow. */
    if (r->status != 200)
        assert_int_equal(r->status, 401);
    qs_test_http_free(r);
    sleep(3);
    r = qs_test_apid_post(d, "/csc/v2/credentials/list", access, "{}");
    expect_error(r, 401, "expired_token", "Expired access token");
    qs_test_http_free(r);
    char body[256];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    r = qs_test_apid_post(d, "/csc/v2/auth/login", NULL, body);
    expect_error(r, 400, "invalid_request", "Invalid parameter refresh_token");
    qs_test_http_free(r);
    free(access);
    free(refresh);
    assert_int_equal(qs_test_apid_stop(d), 0);
}

/* ---- credentials -------------------------------------------------------------------------------
 */

static void test_credentials_list(void **state)
{
    (void)state;
    char *a = login("alice", ALICE_PW), *b = login("bob", BOB_PW);
    static const char *const alice_all[] = {CRED_A1, CRED_A2};
    static const char *const alice_valid[] = {CRED_A1};
    static const char *const alice_second[] = {CRED_A2};
    static const char *const bob_all[] = {CRED_B1};

    qs_test_http *r = post("/csc/v2/credentials/list", a, "{}");
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    expect_strings(json_object_get(j, "credentialIDs"), alice_all, 2);
    assert_null(json_object_get(j, "credentialInfos"));
    assert_null(json_object_get(j, "nextPageToken"));
    assert_true(json_is_false(json_object_get(j, "onlyValid")));
    json_decref(j);
    qs_test_http_free(r);

    r = post("/csc/v2/credentials/list", a, "{\"onlyValid\":true,\"credentialInfo\":true}");
    assert_int_equal(r->status, 200);
    j = json_of(r);
    expect_strings(json_object_get(j, "credentialIDs"), alice_valid, 1);
    assert_true(json_is_true(json_object_get(j, "onlyValid")));
    const json_t *infos = json_object_get(j, "credentialInfos");
    assert_int_equal(json_array_size(infos), 1);
    const json_t *info = json_array_get(infos, 0);
    assert_string_equal(json_string_value(json_object_get(info, "credentialID")), CRED_A1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(info, "key"), "status")),
                        "enabled");
    json_decref(j);
    qs_test_http_free(r);

    /* Paging. */
    r = post("/csc/v2/credentials/list", a, "{\"maxResults\":1}");
    j = json_of(r);
    expect_strings(json_object_get(j, "credentialIDs"), alice_valid, 1);
    assert_string_equal(json_string_value(json_object_get(j, "nextPageToken")), "1");
    json_decref(j);
    qs_test_http_free(r);
    r = post("/csc/v1/credentials/list", a, "{\"maxResults\":1,\"pageToken\":\"1\"}");
    j = json_of(r);
    expect_strings(json_object_get(j, "credentialIDs"), alice_second, 1);
    assert_null(json_object_get(j, "nextPageToken"));
    assert_null(json_object_get(j, "onlyValid")); /* v2 only */
    json_decref(j);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", a, "{\"pageToken\":\"x1\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter pageToken");
    qs_test_http_free(r);

    /* userID: only one's own. */
    r = post("/csc/v2/credentials/list", a, "{\"userID\":\"" ALICE "\"}");
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/list", a, "{\"userID\":\"" BOB "\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter userID");
    qs_test_http_free(r);

    /* Bob sees only his own. */
    r = post("/csc/v1/credentials/list", b, "{}");
    j = json_of(r);
    expect_strings(json_object_get(j, "credentialIDs"), bob_all, 1);
    json_decref(j);
    qs_test_http_free(r);

    /* v1 has no onlyValid. */
    r = post("/csc/v1/credentials/list", b, "{\"onlyValid\":true}");
    expect_error(r, 400, "invalid_request", "Unknown parameter onlyValid");
    qs_test_http_free(r);
    free(a);
    free(b);
}

static void test_credentials_info(void **state)
{
    (void)state;
    char *a = login("alice", ALICE_PW);

    qs_test_http *r = post("/csc/v2/credentials/info", a,
                           "{\"credentialID\":\"" CRED_A1 "\",\"authInfo\":true,"
                           "\"certificates\":\"chain\",\"certInfo\":true}");
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    const json_t *key = json_object_get(j, "key");
    assert_string_equal(json_string_value(json_object_get(key, "status")), "enabled");
    static const char *const ec[] = {"1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3",
                                     "1.2.840.10045.4.3.4"};
    expect_strings(json_object_get(key, "algo"), ec, 3);
    assert_int_equal(json_integer_value(json_object_get(key, "len")), 256);
    assert_string_equal(json_string_value(json_object_get(key, "curve")), OID_P256);
    /* No certificate yet: an empty list, no status. */
    const json_t *cert = json_object_get(j, "cert");
    assert_true(json_is_array(json_object_get(cert, "certificates")));
    assert_int_equal(json_array_size(json_object_get(cert, "certificates")), 0);
    assert_null(json_object_get(cert, "status"));
    const json_t *auth = json_object_get(j, "auth");
    assert_string_equal(json_string_value(json_object_get(auth, "mode")), "explicit");
    assert_string_equal(json_string_value(json_object_get(auth, "expression")), "PIN AND OTP");
    const json_t *objs = json_object_get(auth, "objects");
    assert_int_equal(json_array_size(objs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(objs, 0), "id")), "PIN");
    assert_string_equal(json_string_value(json_object_get(json_array_get(objs, 0), "format")), "N");
    assert_string_equal(json_string_value(json_object_get(json_array_get(objs, 1), "id")), "OTP");
    assert_string_equal(json_string_value(json_object_get(json_array_get(objs, 1), "generator")),
                        "totp");
    assert_string_equal(json_string_value(json_object_get(j, "SCAL")), "2");
    assert_string_equal(json_string_value(json_object_get(j, "signatureQualifier")),
                        "eu_eidas_qes");
    assert_int_equal(json_integer_value(json_object_get(j, "multisign")), 100);
    assert_null(json_object_get(j, "authMode"));
    json_decref(j);
    qs_test_http_free(r);

    /* RSA, disabled; no auth without authInfo; certificates none leaves the list out. */
    r = post("/csc/v2/credentials/info", a,
             "{\"credentialID\":\"" CRED_A2 "\",\"certificates\":\"none\"}");
    assert_int_equal(r->status, 200);
    j = json_of(r);
    key = json_object_get(j, "key");
    assert_string_equal(json_string_value(json_object_get(key, "status")), "disabled");
    static const char *const rsa[] = {"1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12",
                                      "1.2.840.113549.1.1.13", OID_RSA_PSS, OID_RSA};
    expect_strings(json_object_get(key, "algo"), rsa, 5);
    assert_int_equal(json_integer_value(json_object_get(key, "len")), 2048);
    assert_null(json_object_get(key, "curve"));
    assert_null(json_object_get(j, "auth"));
    assert_null(json_object_get(json_object_get(j, "cert"), "certificates"));
    json_decref(j);
    qs_test_http_free(r);

    /* v1 mapping: authMode, PIN and OTP objects, no signatureQualifier. */
    r = post("/csc/v1/credentials/info", a, "{\"credentialID\":\"" CRED_A1 "\"}");
    assert_int_equal(r->status, 200);
    j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "authMode")), "explicit");
    const json_t *pin = json_object_get(j, "PIN"), *otp = json_object_get(j, "OTP");
    assert_string_equal(json_string_value(json_object_get(pin, "presence")), "true");
    assert_string_equal(json_string_value(json_object_get(pin, "format")), "N");
    assert_string_equal(json_string_value(json_object_get(otp, "presence")), "true");
    assert_string_equal(json_string_value(json_object_get(otp, "type")), "offline");
    assert_null(json_object_get(j, "auth"));
    assert_null(json_object_get(j, "signatureQualifier"));
    json_decref(j);
    qs_test_http_free(r);

    /* Bob's credential, a destroyed one, an unknown one and a malformed id: the same bytes. */
    const char *ids[] = {CRED_B1, CRED_A3, "00000000-0000-4000-8000-00000000dead", "no-uuid"};
    char first[512] = "", body[256];
    for (size_t i = 0; i < 4; i++) {
        snprintf(body, sizeof body, "{\"credentialID\":\"%s\"}", ids[i]);
        r = post("/csc/v2/credentials/info", a, body);
        expect_error(r, 400, "invalid_request", "Invalid parameter credentialID");
        if (i == 0)
            snprintf(first, sizeof first, "%s", r->body);
        else
            assert_string_equal(r->body, first);
        qs_test_http_free(r);
    }
    r = post("/csc/v1/credentials/info", a, "{\"credentialID\":\"" CRED_B1 "\"}");
    expect_error(r, 400, "invalid_request", "Invalid parameter credentialID");
    qs_test_http_free(r);
    r = post("/csc/v2/credentials/info", a, "{}");
    expect_error(r, 400, "invalid_request",
                 "Missing (or invalid type) string parameter credentialID");
    qs_test_http_free(r);
    free(a);
}

/* ---- qsignctl account set-password -------------------------------------------------------------
 */

static void test_cli_set_password(void **state)
{
    fixture *f = *state;
    const char *ctl = getenv("QS_QSIGNCTL");
    if (ctl == NULL || ctl[0] == '\0')
        fail_msg("QS_QSIGNCTL not set");
    char dir[512], conf[600];
    qs_test_tmpdir("api_cli", dir, sizeof dir);
    snprintf(conf, sizeof conf, "%s/qsignctl.conf", dir);
    FILE *c = fopen(conf, "w");
    assert_non_null(c);
    fprintf(c, "[database]\nowner_conninfo = \"%s\"\n", f->pg->owner_conninfo);
    fclose(c);

    assert_int_equal(qs_test_system("printf 'new-password-9\\n' | '%s' -c '%s' account "
                                    "set-password --user %s >/dev/null",
                                    ctl, conf, BOB),
                     0);
    qs_test_http *r = login_raw(f->d, "v2", "bob", BOB_PW, NULL);
    expect_error(r, 401, "access_denied", NULL);
    qs_test_http_free(r);
    r = login_raw(f->d, "v2", "bob", "new-password-9", NULL);
    assert_int_equal(r->status, 200);
    qs_test_http_free(r);
    /* Unknown user, short password, bad id, missing --user. */
    assert_int_equal(qs_test_system("printf 'new-password-9\\n' | '%s' -c '%s' account "
                                    "set-password --user 00000000-0000-4000-8000-0000000000ff"
                                    " 2>/dev/null",
                                    ctl, conf),
                     1);
    assert_int_equal(qs_test_system("printf 'short\\n' | '%s' -c '%s' account set-password "
                                    "--user %s 2>/dev/null",
                                    ctl, conf, BOB),
                     1);
    assert_int_equal(qs_test_system("printf 'new-password-9\\n' | '%s' -c '%s' account "
                                    "set-password --user bob 2>/dev/null",
                                    ctl, conf),
                     2);
    assert_int_equal(
        qs_test_system("'%s' -c '%s' account set-password </dev/null 2>/dev/null", ctl, conf), 2);
    /* The verifier is Argon2id; qsignd's role may read it but not write it. */
    char *v = query("SELECT verifier LIKE '$argon2id$%' FROM qsign.accounts"
                    " WHERE user_id = '" BOB "'");
    assert_string_equal(v, "t");
    free(v);
    qs_test_rmtree(dir);
}

/* The login verifier is readable by qsignd's role only; token hashes not by the auditors. */
static void test_verifier_privileges(void **state)
{
    fixture *f = *state;
    char st[6];
    PGconn *sam = qs_test_pg_connect(f->pg->sam_conninfo);
    PGconn *audit = qs_test_pg_connect(f->pg->audit_conninfo);
    PGconn *api = qs_test_pg_connect(f->pg->api_conninfo);
    qs_test_pg_exec_state(sam, "SELECT verifier FROM qsign.accounts", st);
    assert_string_equal(st, "42501");
    qs_test_pg_exec_state(sam, "SELECT count(*) FROM qsign.access_tokens", st);
    assert_string_equal(st, "42501");
    qs_test_pg_exec_state(audit, "SELECT verifier FROM qsign.accounts", st);
    assert_string_equal(st, "42501");
    qs_test_pg_exec_state(audit, "SELECT token_hash FROM qsign.access_tokens", st);
    assert_string_equal(st, "42501");
    qs_test_pg_exec_state(audit, "SELECT user_id, failed_logins FROM qsign.accounts", st);
    assert_string_equal(st, "");
    qs_test_pg_exec_state(audit, "SELECT user_id, kind, expires_at FROM qsign.access_tokens", st);
    assert_string_equal(st, "");
    qs_test_pg_exec_state(api, "SELECT verifier FROM qsign.accounts", st);
    assert_string_equal(st, "");
    qs_test_pg_exec_state(api, "UPDATE qsign.accounts SET verifier = verifier", st);
    assert_string_equal(st, "42501");
    PQfinish(sam);
    PQfinish(audit);
    PQfinish(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_login_counts_failures),
        cmocka_unit_test(test_login_header_problems),
        cmocka_unit_test(test_token_required),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_expired_token),
        cmocka_unit_test(test_credentials_list),
        cmocka_unit_test(test_credentials_info),
        cmocka_unit_test(test_cli_set_password),
        cmocka_unit_test(test_verifier_privileges),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The one error table of qsignd: every qs_err maps to an HTTP error status and a CSC error
 * code (the table is a switch without default, so this also checks nothing falls through),
 * 5xx answers never describe internal causes, and the descriptions the CSC specification fixes
 * are reproduced exactly.  Also the rate limiter and the metrics text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/secret.h"

static const int all_codes[] = {
#define CODE_(name, value, text) value,
    QS_ERROR_LIST(CODE_)
#undef CODE_
};

static bool is_code(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

static void test_every_code_maps(void **state)
{
    (void)state;
    size_t n = sizeof all_codes / sizeof all_codes[0];
    assert_true(n >= 51);
    for (size_t i = 0; i < n; i++) {
        int e = all_codes[i];
        api_err_info info = api_err_lookup(e);
        if (info.status < 400 || info.status > 599)
            fail_msg("%s maps to HTTP %u", qs_err_name(e), info.status);
        if (!is_code(info.error) || (info.error_v1 != NULL && !is_code(info.error_v1)))
            fail_msg("%s: bad CSC error code", qs_err_name(e));
        if (info.description == NULL || info.description[0] == '\0')
            fail_msg("%s: no description", qs_err_name(e));
        if (info.counter != API_NO_COUNTER && (info.counter < 0 || info.counter >= API_C_COUNT))
            fail_msg("%s: bad counter", qs_err_name(e));
        /* Server-side failures say nothing specific. */
        if (info.status == 500) {
            assert_string_equal(info.error, "server_error");
            assert_string_equal(info.description, "Internal server error");
        }
        if (info.status == 503)
            assert_string_equal(info.error, "temporarily_unavailable");
        assert_string_equal(api_err_code(e, API_V2), info.error);
        assert_string_equal(api_err_code(e, API_V1),
                            info.error_v1 != NULL ? info.error_v1 : info.error);
    }
    /* A value outside the registry is an internal error. */
    assert_int_equal(api_err_lookup(-12345).status, 500);
    assert_int_equal(api_err_lookup(QS_OK).status, 500);
}

static void expect(qs_err e, unsigned status, const char *v2, const char *v1, const char *desc)
{
    api_err_info info = api_err_lookup(e);
    if (info.status != status || strcmp(api_err_code(e, API_V2), v2) != 0 ||
        strcmp(api_err_code(e, API_V1), v1) != 0 || strcmp(info.description, desc) != 0)
        fail_msg("%s: got %u %s/%s \"%s\", want %u %s/%s \"%s\"", qs_err_name(e), info.status,
                 api_err_code(e, API_V2), api_err_code(e, API_V1), info.description, status, v2, v1,
                 desc);
}

static void test_spec_fixed(void **state)
{
    (void)state;
    /* Descriptions fixed by the CSC specification (REFERENCES.md), verbatim. */
    expect(QS_ERR_SAD_EXPIRED, 400, "invalid_request", "invalid_request", "SAD expired");
    expect(QS_ERR_HASH_NOT_AUTHORIZED, 400, "invalid_request", "invalid_request",
           "Hash is not authorized by the SAD");
    expect(QS_ERR_TOO_MANY_SIGNATURES, 400, "invalid_request", "invalid_request",
           "Numbers of signatures is too high");
    expect(QS_ERR_AUTH_LOCKED, 400, "invalid_request", "invalid_request", "Credential locked");
    /* Wrong factors: one v2 code, the v1 codes per factor. */
    expect(QS_ERR_AUTH_PIN, 400, "invalid_authentication_data", "invalid_pin", "Invalid PIN");
    expect(QS_ERR_AUTH_OTP, 400, "invalid_authentication_data", "invalid_otp", "Invalid OTP");
    expect(QS_ERR_AUTH_REPLAY, 400, "invalid_authentication_data", "invalid_otp", "Invalid OTP");
    /* Tokens. */
    expect(QS_ERR_TOKEN_INVALID, 401, "invalid_token", "invalid_token", "Invalid access token");
    expect(QS_ERR_TOKEN_EXPIRED, 401, "expired_token", "expired_token", "Expired access token");
    /* HTTP-level refusals. */
    expect(QS_ERR_NOT_FOUND, 404, "not_found", "not_found",
           "The requested resource does not exist");
    expect(QS_ERR_METHOD_NOT_ALLOWED, 405, "invalid_request", "invalid_request",
           "Method not allowed");
    expect(QS_ERR_TOO_LARGE, 413, "invalid_request", "invalid_request", "Request body too large");
    expect(QS_ERR_URI_TOO_LONG, 414, "invalid_request", "invalid_request", "Request URI too long");
    expect(QS_ERR_HEADERS_TOO_LARGE, 431, "invalid_request", "invalid_request",
           "Request headers too large");
    expect(QS_ERR_RATE_LIMITED, 429, "too_many_requests", "too_many_requests",
           "Too many attempts, retry later");
    expect(QS_ERR_UNSUPPORTED, 501, "not_implemented_method", "not_implemented_method",
           "Not implemented");
    /* Retry later, not our bug. */
    assert_int_equal(api_err_lookup(QS_ERR_DB_UNAVAILABLE).status, 503);
    assert_int_equal(api_err_lookup(QS_ERR_DB_RETRY).status, 503);
    assert_int_equal(api_err_lookup(QS_ERR_EOF).status, 503);
    assert_int_equal(api_err_lookup(QS_ERR_TIMEOUT).status, 503);
    /* Our bugs. */
    assert_int_equal(api_err_lookup(QS_ERR_INTERNAL).status, 500);
    assert_int_equal(api_err_lookup(QS_ERR_MAC).status, 500);
    assert_int_equal(api_err_lookup(QS_ERR_PROTO).status, 500);
    /* Counters. */
    assert_int_equal(api_err_lookup(QS_ERR_DB).counter, API_C_DB_ERRORS);
    assert_int_equal(api_err_lookup(QS_ERR_DB_UNAVAILABLE).counter, API_C_DB_ERRORS);
    assert_int_equal(api_err_lookup(QS_ERR_EOF).counter, API_C_SAM_ERRORS);
    assert_int_equal(api_err_lookup(QS_ERR_AUTH_PIN).counter, API_C_AUTHORIZATION_FAILURES);
    assert_int_equal(api_err_lookup(QS_ERR_AUTH_LOCKED).counter, API_C_LOCKOUTS);
    assert_int_equal(api_err_lookup(QS_ERR_LOGIN_FAILED).counter, API_C_LOGIN_FAILURES);
    assert_int_equal(api_err_lookup(QS_ERR_RATE_LIMITED).counter, API_C_RATE_LIMITED);
    assert_int_equal(api_err_lookup(QS_ERR_INVALID_ARGUMENT).counter, API_NO_COUNTER);
}

static void test_ratelimit(void **state)
{
    (void)state;
    unsigned wait = 0;
    /* 6 per minute = one per 10 s, burst 3. */
    api_ratelimit *rl = api_ratelimit_new(6, 3, 64);
    assert_non_null(rl);
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(api_ratelimit_take(rl, "a", 1, t, &wait));
    assert_false(api_ratelimit_take(rl, "a", 1, t, &wait));
    assert_int_equal(wait, 10);
    assert_false(api_ratelimit_check(rl, "a", 1, t + 5000, &wait));
    assert_int_equal(wait, 5);
    /* Another key is not affected. */
    assert_true(api_ratelimit_take(rl, "b", 1, t, &wait));
    /* Refill: one token after 10 s, and checking does not take it. */
    assert_true(api_ratelimit_check(rl, "a", 1, t + 10000, &wait));
    assert_true(api_ratelimit_take(rl, "a", 1, t + 10000, &wait));
    assert_false(api_ratelimit_take(rl, "a", 1, t + 10000, &wait));
    /* Never more than the burst. */
    for (int i = 0; i < 3; i++)
        assert_true(api_ratelimit_take(rl, "a", 1, t + 3600000, &wait));
    assert_false(api_ratelimit_take(rl, "a", 1, t + 3600000, &wait));
    /* Many keys in a small table: still answers, never crashes. */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        (void)api_ratelimit_take(rl, key, strlen(key), t, &wait);
    }
    api_ratelimit_free(rl);
    /* 0 per minute: no limit. */
    rl = api_ratelimit_new(0, 1, 64);
    for (int i = 0; i < 100; i++)
        assert_true(api_ratelimit_take(rl, "a", 1, t, &wait));
    api_ratelimit_free(rl);
}

static void test_metrics_text(void **state)
{
    (void)state;
    api_metrics *m = api_metrics_new(api_route_slots());
    assert_non_null(m);
    const api_route *r = NULL;
    api_ver v;
    size_t slot;
    assert_int_equal(api_route_find("/csc/v2/info", &r, &v, &slot), QS_OK);
    api_metrics_observe(m, slot, 200, 0.003);
    api_metrics_observe(m, slot, 200, 0.3);
    api_metrics_observe(m, api_route_slots() - 1, 404, 0.001);
    api_metrics_inc(m, API_C_DB_ERRORS);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(api_metrics_render(m, &text, &len), QS_OK);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "qsign_http_requests_total{endpoint=\"/csc/v2/info\","
                                 "status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "qsign_http_requests_total{endpoint=\"unmatched\","
                                 "status=\"404\"} 1\n"));
    assert_non_null(strstr(text, "qsign_http_request_duration_seconds_bucket{endpoint=\"/csc/"
                                 "v2/info\",status=\"200\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "qsign_http_request_duration_seconds_bucket{endpoint=\"/csc/"
                                 "v2/info\",status=\"200\",le=\"0.5\"} 2\n"));
    assert_non_null(strstr(text, "qsign_http_request_duration_seconds_count{endpoint=\"/csc/"
                                 "v2/info\",status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "\nqsign_db_errors_total 1\n"));
    assert_non_null(strstr(text, "\nqsign_signatures_total 0\n"));
    assert_non_null(strstr(text, "\nqsign_authorization_failures_total 0\n"));
    assert_non_null(strstr(text, "\nqsign_lockouts_total 0\n"));
    assert_non_null(strstr(text, "\nqsign_sam_errors_total 0\n"));
    free(text);
    api_metrics_free(m);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_maps),
        cmocka_unit_test(test_spec_fixed),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_metrics_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

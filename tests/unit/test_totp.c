/* TOTP: RFC 6238 Appendix B vectors, the verification window, one acceptance per time step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static const char seed1[] = "12345678901234567890";
static const char seed256[] = "12345678901234567890123456789012";
static const char seed512[] = "1234567890123456789012345678901234567890123456789012345678901234";

struct vector {
    int64_t t;
    const char *sha1, *sha256, *sha512;
};

/* RFC 6238 Appendix B: T0 = 0, X = 30, 8 digits. */
static const struct vector vectors[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

static void check_vector(qs_totp_alg alg, const char *seed, int64_t t, const char *want)
{
    qs_totp_params p = {alg, 8, 30};
    uint64_t step = 0, matched = 0;
    char code[QS_TOTP_CODE_BUF];

    assert_int_equal(qs_totp_step(&p, t, &step), QS_OK);
    assert_int_equal(qs_totp_generate(&p, (const uint8_t *)seed, strlen(seed), step, code), QS_OK);
    assert_string_equal(code, want);
    assert_int_equal(
        qs_totp_verify(&p, (const uint8_t *)seed, strlen(seed), want, 8, t, 0, &matched), QS_OK);
    assert_int_equal(matched, step);
}

static void test_rfc6238_vectors(void **state)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        check_vector(QS_TOTP_SHA1, seed1, vectors[i].t, vectors[i].sha1);
        check_vector(QS_TOTP_SHA256, seed256, vectors[i].t, vectors[i].sha256);
        check_vector(QS_TOTP_SHA512, seed512, vectors[i].t, vectors[i].sha512);
    }
}

/* The 6-digit code is the 8-digit one modulo 10^6 (RFC 4226 truncation). */
static void test_six_digits(void **state)
{
    qs_totp_params p = QS_TOTP_PARAMS_DEFAULT;
    char code[QS_TOTP_CODE_BUF];
    assert_int_equal(qs_totp_generate(&p, (const uint8_t *)seed1, 20, 1, code), QS_OK);
    assert_string_equal(code, "287082");
}

static const qs_totp_params defp = QS_TOTP_PARAMS_DEFAULT;

static void code_at(uint64_t step, char code[static QS_TOTP_CODE_BUF])
{
    assert_int_equal(qs_totp_generate(&defp, (const uint8_t *)seed1, 20, step, code), QS_OK);
}

static qs_err verify(const char *code, int64_t now, uint64_t last, uint64_t *matched)
{
    return qs_totp_verify(&defp, (const uint8_t *)seed1, 20, code, strlen(code), now, last,
                          matched);
}

static void test_window_edges(void **state)
{
    const int64_t now = 1700000015; /* inside step 56666667 */
    const uint64_t cur = 56666667;
    char c[QS_TOTP_CODE_BUF];
    uint64_t m = 0;

    for (int d = -1; d <= 1; d++) {
        code_at(cur + (uint64_t)(int64_t)d, c);
        assert_int_equal(verify(c, now, 0, &m), QS_OK);
        assert_int_equal(m, cur + (uint64_t)(int64_t)d);
    }
    code_at(cur - 2, c);
    assert_int_equal(verify(c, now, 0, &m), QS_ERR_AUTH_FAILED);
    assert_int_equal(m, 0);
    code_at(cur + 2, c);
    assert_int_equal(verify(c, now, 0, &m), QS_ERR_AUTH_FAILED);

    /* the first and last second of the step both see the same window */
    code_at(cur - 1, c);
    assert_int_equal(verify(c, (int64_t)cur * 30, 0, &m), QS_OK);
    assert_int_equal(verify(c, (int64_t)cur * 30 + 29, 0, &m), QS_OK);
    assert_int_equal(verify(c, (int64_t)cur * 30 + 30, 0, &m), QS_ERR_AUTH_FAILED);
    code_at(cur + 1, c);
    assert_int_equal(verify(c, (int64_t)cur * 30 - 1, 0, &m), QS_ERR_AUTH_FAILED);

    /* at the epoch there is no previous step */
    code_at(0, c);
    assert_int_equal(verify(c, 0, 0, &m), QS_ERR_AUTH_REPLAY);
    code_at(1, c);
    assert_int_equal(verify(c, 0, 0, &m), QS_OK);
    assert_int_equal(m, 1);
}

static void test_replay_refused(void **state)
{
    const int64_t now = 1700000015;
    const uint64_t cur = 56666667;
    char c[QS_TOTP_CODE_BUF];
    uint64_t m = 0, last = 0;

    code_at(cur, c);
    assert_int_equal(verify(c, now, last, &m), QS_OK);
    last = m;
    /* the same code again, even a step later, is refused */
    assert_int_equal(verify(c, now, last, &m), QS_ERR_AUTH_REPLAY);
    assert_int_equal(m, 0);
    assert_int_equal(verify(c, now + 30, last, &m), QS_ERR_AUTH_REPLAY);

    /* a code of an older step inside the window is refused once a newer one was accepted */
    code_at(cur + 1, c);
    assert_int_equal(verify(c, now, last, &m), QS_OK);
    last = m;
    assert_int_equal(last, cur + 1);
    code_at(cur, c);
    assert_int_equal(verify(c, now, last, &m), QS_ERR_AUTH_REPLAY);
    code_at(cur - 1, c);
    assert_int_equal(verify(c, now, last, &m), QS_ERR_AUTH_REPLAY);
    /* the next step's code is accepted when its time comes */
    code_at(cur + 2, c);
    assert_int_equal(verify(c, now + 30, last, &m), QS_OK);
    assert_int_equal(m, cur + 2);
}

static void test_malformed_codes(void **state)
{
    const int64_t now = 1700000015;
    char c[QS_TOTP_CODE_BUF], bad[QS_TOTP_CODE_BUF + 4];
    uint64_t m = 0;

    code_at(56666667, c);
    assert_int_equal(verify("", now, 0, &m), QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_totp_verify(&defp, (const uint8_t *)seed1, 20, NULL, 0, now, 0, &m),
                     QS_ERR_AUTH_FAILED);
    /* too short, too long (the right code followed by a digit), a NUL or a letter inside */
    assert_int_equal(qs_totp_verify(&defp, (const uint8_t *)seed1, 20, c, 5, now, 0, &m),
                     QS_ERR_AUTH_FAILED);
    snprintf(bad, sizeof bad, "%s0", c);
    assert_int_equal(verify(bad, now, 0, &m), QS_ERR_AUTH_FAILED);
    memcpy(bad, c, 7);
    bad[2] = '\0';
    assert_int_equal(qs_totp_verify(&defp, (const uint8_t *)seed1, 20, bad, 6, now, 0, &m),
                     QS_ERR_AUTH_FAILED);
    memcpy(bad, c, 7);
    bad[5] = 'a';
    assert_int_equal(verify(bad, now, 0, &m), QS_ERR_AUTH_FAILED);
    memcpy(bad, c, 7);
    bad[0] = ' ';
    assert_int_equal(verify(bad, now, 0, &m), QS_ERR_AUTH_FAILED);
    memcpy(bad, c, 7);
    bad[0] = (char)(c[0] == '9' ? '0' : c[0] + 1);
    assert_int_equal(verify(bad, now, 0, &m), QS_ERR_AUTH_FAILED);
    assert_int_equal(verify(c, now, 0, &m), QS_OK);
}

static void test_bad_arguments(void **state)
{
    qs_totp_params p = QS_TOTP_PARAMS_DEFAULT;
    char c[QS_TOTP_CODE_BUF];
    uint64_t s = 0;

    p.digits = 7;
    assert_int_equal(qs_totp_params_check(&p), QS_ERR_INVALID_ARGUMENT);
    p.digits = 6;
    p.period = 0;
    assert_int_equal(qs_totp_params_check(&p), QS_ERR_INVALID_ARGUMENT);
    p.period = 30;
    p.alg = (qs_totp_alg)7;
    assert_int_equal(qs_totp_params_check(&p), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_step(&defp, -1, &s), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_generate(&defp, (const uint8_t *)seed1, 15, 1, c),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_generate(&defp, (const uint8_t *)seed512, 65, 1, c),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_generate(&defp, (const uint8_t *)seed1, 20, UINT64_MAX / 2, c),
                     QS_ERR_INVALID_ARGUMENT);
}

static void test_uri(void **state)
{
    uint8_t seed[QS_TOTP_SEED_LEN], seed2[QS_TOTP_SEED_LEN];
    char *uri = NULL;

    qs_totp_seed_new(seed);
    qs_totp_seed_new(seed2);
    assert_memory_not_equal(seed, seed2, sizeof seed);

    assert_int_equal(
        qs_totp_uri(&defp, "Example TSP", "alice@example.eu", (const uint8_t *)seed1, 20, &uri),
        QS_OK);
    assert_string_equal(uri, "otpauth://totp/Example%20TSP:alice%40example.eu"
                             "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20TSP"
                             "&algorithm=SHA1&digits=6&period=30");
    qs_secret_free(uri);

    qs_totp_params p = {QS_TOTP_SHA256, 8, 60};
    assert_int_equal(qs_totp_uri(&p, "Q\xc3\xa9", "b&c=d?", (const uint8_t *)seed256, 32, &uri),
                     QS_OK);
    assert_non_null(strstr(uri, "otpauth://totp/Q%C3%A9:b%26c%3Dd%3F?secret="));
    assert_non_null(strstr(uri, "&issuer=Q%C3%A9&algorithm=SHA256&digits=8&period=60"));
    assert_null(strstr(uri, "=&")); /* the secret is unpadded */
    assert_null(strstr(uri, "=="));
    qs_secret_free(uri);

    /* a 16-byte seed's base32 form has padding, which is dropped */
    assert_int_equal(qs_totp_uri(&defp, "I", "a", (const uint8_t *)seed1, 16, &uri), QS_OK);
    assert_non_null(strstr(uri, "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY&issuer=I&"));
    qs_secret_free(uri);

    char longname[QS_TOTP_ACCOUNT_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(qs_totp_uri(&defp, "I", longname, seed, sizeof seed, &uri),
                     QS_ERR_INVALID_ARGUMENT);
    longname[QS_TOTP_ACCOUNT_MAX] = '\0';
    assert_int_equal(qs_totp_uri(&defp, "I", longname, seed, sizeof seed, &uri), QS_OK);
    qs_secret_free(uri);
    assert_int_equal(qs_totp_uri(&defp, "I", "a:b", seed, sizeof seed, &uri),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_uri(&defp, "I:J", "a", seed, sizeof seed, &uri),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_uri(&defp, "", "a", seed, sizeof seed, &uri), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_totp_uri(&defp, "I", "a\nb", seed, sizeof seed, &uri),
                     QS_ERR_INVALID_ARGUMENT);
    assert_null(uri);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors),
        cmocka_unit_test(test_six_digits),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_replay_refused),
        cmocka_unit_test(test_malformed_codes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

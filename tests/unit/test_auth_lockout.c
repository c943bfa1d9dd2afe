/* Lockout rule and SAD handles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static void expect(uint32_t failed, uint32_t max, qs_factor_result res, qs_lockout_action action,
                   bool accept, bool locked, uint32_t counter, uint32_t remaining)
{
    qs_lockout_decision d = qs_lockout_decide(failed, max, res);
    assert_int_equal(d.action, action);
    assert_int_equal(d.accept, accept);
    assert_int_equal(d.locked, locked);
    assert_int_equal(d.failed_attempts, counter);
    assert_int_equal(d.remaining, remaining);
}

static void test_lockout(void **state)
{
    /* success resets */
    expect(0, 5, QS_FACTOR_OK, QS_LOCKOUT_RESET, true, false, 0, 5);
    expect(4, 5, QS_FACTOR_OK, QS_LOCKOUT_RESET, true, false, 0, 5);
    /* failures count up, the last allowed one locks */
    expect(0, 5, QS_FACTOR_FAILED, QS_LOCKOUT_RECORD_FAILURE, false, false, 1, 4);
    expect(3, 5, QS_FACTOR_FAILED, QS_LOCKOUT_RECORD_FAILURE, false, false, 4, 1);
    expect(4, 5, QS_FACTOR_FAILED, QS_LOCKOUT_LOCK, false, true, 5, 0);
    /* locked: even the right factor is refused, nothing more is counted */
    expect(5, 5, QS_FACTOR_OK, QS_LOCKOUT_REFUSE_LOCKED, false, true, 5, 0);
    expect(5, 5, QS_FACTOR_FAILED, QS_LOCKOUT_REFUSE_LOCKED, false, true, 5, 0);
    expect(9, 5, QS_FACTOR_OK, QS_LOCKOUT_REFUSE_LOCKED, false, true, 9, 0);
    /* an internal error is nobody's failed attempt, and no success either */
    expect(2, 5, QS_FACTOR_ERROR, QS_LOCKOUT_NO_CHANGE, false, false, 2, 3);
    expect(5, 5, QS_FACTOR_ERROR, QS_LOCKOUT_REFUSE_LOCKED, false, true, 5, 0);
    /* one attempt only; zero fails closed */
    expect(0, 1, QS_FACTOR_FAILED, QS_LOCKOUT_LOCK, false, true, 1, 0);
    expect(0, 0, QS_FACTOR_OK, QS_LOCKOUT_REFUSE_LOCKED, false, true, 0, 0);
    /* no wrap at the top of the range */
    expect(UINT32_MAX - 1, UINT32_MAX, QS_FACTOR_FAILED, QS_LOCKOUT_LOCK, false, true, UINT32_MAX,
           0);
    expect(UINT32_MAX, UINT32_MAX, QS_FACTOR_OK, QS_LOCKOUT_REFUSE_LOCKED, false, true, UINT32_MAX,
           0);
    /* a value outside the enum never accepts */
    expect(1, 5, (qs_factor_result)42, QS_LOCKOUT_NO_CHANGE, false, false, 1, 4);

    /* max failures in a row from zero lock exactly at the max-th */
    uint32_t n = 0;
    for (int i = 1; i <= 3; i++) {
        qs_lockout_decision d = qs_lockout_decide(n, 3, QS_FACTOR_FAILED);
        n = d.failed_attempts;
        assert_int_equal(d.locked, i == 3);
    }
    assert_false(qs_lockout_decide(n, 3, QS_FACTOR_OK).accept);
}

static void test_sad_handle(void **state)
{
    char b64[QS_SAD_B64_BUF], b64b[QS_SAD_B64_BUF];
    uint8_t h[QS_SAD_HASH_LEN], h2[QS_SAD_HASH_LEN], hb[QS_SAD_HASH_LEN];

    assert_int_equal(qs_sad_handle_new(b64, h), QS_OK);
    assert_int_equal(strlen(b64), QS_SAD_B64_LEN);
    assert_int_equal(
        strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        QS_SAD_B64_LEN);
    assert_int_equal(qs_sad_handle_hash(b64, strlen(b64), h2), QS_OK);
    assert_memory_equal(h, h2, sizeof h);

    /* the hash is SHA-256 of the raw bytes */
    uint8_t raw[QS_SAD_HANDLE_LEN], want[QS_SAD_HASH_LEN];
    size_t raw_len = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, b64, QS_SAD_B64_LEN, NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    crypto_hash_sha256(want, raw, sizeof raw);
    assert_memory_equal(h, want, sizeof h);

    assert_int_equal(qs_sad_handle_new(b64b, hb), QS_OK);
    assert_string_not_equal(b64, b64b);
    assert_memory_not_equal(h, hb, sizeof h);

    /* refused: wrong length, padding, standard alphabet, non-canonical last character */
    assert_int_equal(qs_sad_handle_hash(b64, QS_SAD_B64_LEN - 1, h2), QS_ERR_PARSE);
    char bad[QS_SAD_B64_BUF + 1];
    memcpy(bad, b64, QS_SAD_B64_LEN);
    bad[QS_SAD_B64_LEN] = '=';
    assert_int_equal(qs_sad_handle_hash(bad, QS_SAD_B64_LEN + 1, h2), QS_ERR_PARSE);
    memcpy(bad, b64, QS_SAD_B64_BUF);
    bad[3] = '+';
    assert_int_equal(qs_sad_handle_hash(bad, QS_SAD_B64_LEN, h2), QS_ERR_PARSE);
    bad[3] = '\0';
    assert_int_equal(qs_sad_handle_hash(bad, QS_SAD_B64_LEN, h2), QS_ERR_PARSE);
    /* 43 characters carry 258 bits: the last one's two low bits must be zero ('A' is 0, 'B' 1) */
    memcpy(bad, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", QS_SAD_B64_BUF);
    assert_int_equal(qs_sad_handle_hash(bad, QS_SAD_B64_LEN, h2), QS_OK);
    bad[QS_SAD_B64_LEN - 1] = 'B';
    assert_int_equal(qs_sad_handle_hash(bad, QS_SAD_B64_LEN, h2), QS_ERR_PARSE);
    for (size_t i = 0; i < sizeof h2; i++)
        assert_int_equal(h2[i], 0);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_sad_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

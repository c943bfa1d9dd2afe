/* Signing PIN: policy rules, peppered Argon2id verifiers, rehash detection. */
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

/* The HSM's pepper HMAC, played by libsodium's HMAC-SHA-256 under a key in `cls`. */
struct pepper {
    uint8_t key[crypto_auth_hmacsha256_KEYBYTES];
    int calls;
    qs_err fail;
};

static qs_err pepper_fn(void *cls, const uint8_t *in, size_t len, uint8_t out[QS_PIN_PEPPER_LEN])
{
    struct pepper *p = cls;
    p->calls++;
    if (p->fail != QS_OK)
        return p->fail;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, p->key, sizeof p->key);
    crypto_auth_hmacsha256_update(&st, in, len);
    crypto_auth_hmacsha256_final(&st, out);
    return QS_OK;
}

/* Small limits keep the tests fast; the format and behaviour are the same. */
static const qs_pin_config fast = {6, QS_PIN_DIGITS, crypto_pwhash_argon2id_OPSLIMIT_MIN,
                                   crypto_pwhash_argon2id_MEMLIMIT_MIN};

static void test_correct_and_wrong(void **state)
{
    struct pepper pa = {.key = {1}}, pb = {.key = {2}};
    char v[QS_PIN_VERIFIER_MAX];
    qs_pin_rule rule = QS_PIN_RULE_MAX_LENGTH;

    assert_int_equal(qs_pin_hash(&fast, "123456", 6, pepper_fn, &pa, v, &rule), QS_OK);
    assert_int_equal(rule, QS_PIN_RULE_OK);
    assert_int_equal(pa.calls, 1);
    assert_int_equal(strncmp(v, "$argon2id$v=19$m=8,t=1,p=1$", 27), 0);
    assert_int_equal(strncmp(v, QS_PIN_VERIFIER_PREFIX, strlen(QS_PIN_VERIFIER_PREFIX)), 0);
    /* the verifier does not contain the PIN */
    assert_null(strstr(v, "123456"));

    assert_int_equal(qs_pin_verify(v, "123456", 6, pepper_fn, &pa), QS_OK);
    assert_int_equal(qs_pin_verify(v, "123457", 6, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_pin_verify(v, "1234567", 7, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_pin_verify(v, "12345", 5, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    /* same PIN, another pepper key: refused */
    assert_int_equal(qs_pin_verify(v, "123456", 6, pepper_fn, &pb), QS_ERR_AUTH_FAILED);
    /* the verifier of an unpeppered PIN would not match either */
    char plain[QS_PIN_VERIFIER_MAX];
    assert_int_equal(crypto_pwhash_str(plain, "123456", 6, fast.opslimit, fast.memlimit), 0);
    assert_int_equal(qs_pin_verify(plain, "123456", 6, pepper_fn, &pa), QS_ERR_AUTH_FAILED);

    /* two verifiers of one PIN differ (fresh salt) and both verify */
    char v2[QS_PIN_VERIFIER_MAX];
    assert_int_equal(qs_pin_hash(&fast, "123456", 6, pepper_fn, &pa, v2, NULL), QS_OK);
    assert_string_not_equal(v, v2);
    assert_int_equal(qs_pin_verify(v2, "123456", 6, pepper_fn, &pa), QS_OK);
}

static void test_never_peppered(void **state)
{
    struct pepper pa = {.key = {1}};
    char v[QS_PIN_VERIFIER_MAX], big[QS_PIN_MAX_LEN + 2];

    assert_int_equal(qs_pin_hash(&fast, "123456", 6, pepper_fn, &pa, v, NULL), QS_OK);
    pa.calls = 0;
    memset(big, '1', sizeof big);
    assert_int_equal(qs_pin_verify(v, "", 0, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_pin_verify(v, big, QS_PIN_MAX_LEN + 1, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    assert_int_equal(pa.calls, 0);
    /* a pepper failure passes through, and is not a wrong PIN */
    pa.fail = QS_ERR_HSM_UNAVAILABLE;
    assert_int_equal(qs_pin_verify(v, "123456", 6, pepper_fn, &pa), QS_ERR_HSM_UNAVAILABLE);
    assert_int_equal(qs_pin_hash(&fast, "123456", 6, pepper_fn, &pa, v, NULL),
                     QS_ERR_HSM_UNAVAILABLE);
    assert_string_equal(v, "");
}

static void expect_rule(const qs_pin_config *c, const char *pin, qs_pin_rule want)
{
    struct pepper pa = {.key = {1}};
    char v[QS_PIN_VERIFIER_MAX];
    qs_pin_rule rule = QS_PIN_RULE_OK;

    assert_int_equal(qs_pin_policy_check(c, pin, strlen(pin), &rule),
                     want == QS_PIN_RULE_OK ? QS_OK : QS_ERR_AUTH_POLICY);
    assert_int_equal(rule, want);
    if (want == QS_PIN_RULE_OK)
        return;
    rule = QS_PIN_RULE_OK;
    assert_int_equal(qs_pin_hash(c, pin, strlen(pin), pepper_fn, &pa, v, &rule),
                     QS_ERR_AUTH_POLICY);
    assert_int_equal(rule, want);
    assert_int_equal(pa.calls, 0);
    assert_string_equal(v, "");
}

static void test_policy(void **state)
{
    char max[QS_PIN_MAX_LEN + 2];
    qs_pin_config alnum = fast;
    alnum.charset = QS_PIN_ALPHANUMERIC;
    qs_pin_config eight = fast;
    eight.min_len = 8;

    expect_rule(&fast, "12345", QS_PIN_RULE_MIN_LENGTH);
    expect_rule(&fast, "", QS_PIN_RULE_MIN_LENGTH);
    expect_rule(&fast, "123456", QS_PIN_RULE_OK);
    expect_rule(&eight, "1234567", QS_PIN_RULE_MIN_LENGTH);
    expect_rule(&eight, "12345678", QS_PIN_RULE_OK);
    expect_rule(&fast, "12345a", QS_PIN_RULE_DIGITS_ONLY);
    expect_rule(&fast, "１23456", QS_PIN_RULE_DIGITS_ONLY); /* a full-width digit */
    expect_rule(&alnum, "abcDEF123", QS_PIN_RULE_OK);
    expect_rule(&alnum, "abc DEF", QS_PIN_RULE_ALPHANUMERIC_ONLY);
    expect_rule(&alnum, "abcdé1", QS_PIN_RULE_ALPHANUMERIC_ONLY);
    memset(max, '7', sizeof max);
    max[QS_PIN_MAX_LEN] = '\0';
    expect_rule(&fast, max, QS_PIN_RULE_OK);
    max[QS_PIN_MAX_LEN] = '7';
    max[QS_PIN_MAX_LEN + 1] = '\0';
    expect_rule(&fast, max, QS_PIN_RULE_MAX_LENGTH);

    /* an embedded NUL is neither a digit nor a letter */
    qs_pin_rule rule = QS_PIN_RULE_OK;
    assert_int_equal(qs_pin_policy_check(&fast, "123\0456", 7, &rule), QS_ERR_AUTH_POLICY);
    assert_int_equal(rule, QS_PIN_RULE_DIGITS_ONLY);

    assert_non_null(strstr(qs_pin_rule_str(QS_PIN_RULE_MIN_LENGTH), "minimum length"));
    assert_non_null(strstr(qs_pin_rule_str(QS_PIN_RULE_MAX_LENGTH), "maximum length"));
    assert_non_null(strstr(qs_pin_rule_str(QS_PIN_RULE_DIGITS_ONLY), "digits only"));
    assert_non_null(strstr(qs_pin_rule_str(QS_PIN_RULE_ALPHANUMERIC_ONLY), "letters and digits"));
}

static void test_config(void **state)
{
    qs_pin_config c = QS_PIN_CONFIG_DEFAULT;
    assert_int_equal(qs_pin_config_check(&c), QS_OK);
    assert_int_equal(c.min_len, 6);
    c.min_len = 3;
    assert_int_equal(qs_pin_config_check(&c), QS_ERR_CONFIG);
    c.min_len = QS_PIN_MAX_LEN + 1;
    assert_int_equal(qs_pin_config_check(&c), QS_ERR_CONFIG);
    c.min_len = 6;
    c.memlimit = 1024;
    assert_int_equal(qs_pin_config_check(&c), QS_ERR_CONFIG);
    c.memlimit = QS_PIN_DEFAULT_MEMLIMIT;
    c.opslimit = 0;
    assert_int_equal(qs_pin_config_check(&c), QS_ERR_CONFIG);
    c.opslimit = 2;
    c.charset = (qs_pin_charset)9;
    assert_int_equal(qs_pin_config_check(&c), QS_ERR_CONFIG);
}

static void test_rehash_and_garbage(void **state)
{
    struct pepper pa = {.key = {1}};
    char v[QS_PIN_VERIFIER_MAX];
    bool rehash = true;

    assert_int_equal(qs_pin_hash(&fast, "123456", 6, pepper_fn, &pa, v, NULL), QS_OK);
    assert_int_equal(qs_pin_needs_rehash(&fast, v, &rehash), QS_OK);
    assert_false(rehash);
    qs_pin_config stronger = fast;
    stronger.opslimit = 2;
    assert_int_equal(qs_pin_needs_rehash(&stronger, v, &rehash), QS_OK);
    assert_true(rehash);

    assert_int_equal(qs_pin_needs_rehash(&fast, "$argon2i$v=19$m=8,t=1,p=1$x$y", &rehash),
                     QS_ERR_PARSE);
    assert_int_equal(qs_pin_needs_rehash(&fast, "$argon2id$garbage", &rehash), QS_ERR_PARSE);
    assert_int_equal(qs_pin_verify("", "123456", 6, pepper_fn, &pa), QS_ERR_PARSE);
    assert_int_equal(qs_pin_verify("$argon2i$v=19$m=8,t=1,p=1$x$y", "123456", 6, pepper_fn, &pa),
                     QS_ERR_PARSE);
    assert_int_equal(qs_pin_verify("$argon2id$garbage", "123456", 6, pepper_fn, &pa), QS_ERR_PARSE);
    /* a damaged hash inside a well-formed verifier is a failure, never a success */
    char broken[QS_PIN_VERIFIER_MAX];
    memcpy(broken, v, sizeof broken);
    size_t n = strlen(broken);
    broken[n - 2] = (char)(broken[n - 2] == 'A' ? 'B' : 'A');
    assert_int_equal(qs_pin_verify(broken, "123456", 6, pepper_fn, &pa), QS_ERR_AUTH_FAILED);
    assert_int_equal(pa.calls, 2);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct_and_wrong),
        cmocka_unit_test(test_never_peppered),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_rehash_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

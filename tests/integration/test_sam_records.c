/*
 * Record MACs (sam/records.h): the version 1 encoding against hand-made vectors, and, with a
 * real SoftHSM token, that the MAC covers every MACed column: changing any one of them, or
 * moving a MAC to another row, makes the check fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam/records.h"
#include "tests/lib/softhsm.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void expect_encoding(const qs_rec *rec, const char *hex)
{
    uint8_t want[1024];
    size_t want_len = unhex(hex, want, sizeof want);
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_int_equal(qs_rec_encode(rec, &got, &got_len), QS_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    qs_free_wiped(got, got_len);
}

static void fill_user(qs_db_user *u)
{
    memset(u, 0, sizeof *u);
    unhex("00112233445566778899aabbccddeeff", u->id, sizeof u->id);
    snprintf(u->username, sizeof u->username, "alice");
    snprintf(u->kind, sizeof u->kind, "signer");
    snprintf(u->status, sizeof u->status, "active");
}

static void test_vectors(void **state)
{
    qs_db_user u;
    fill_user(&u);
    qs_rec rec = qs_rec_user(&u);
    /* f(x) = u32 length || x */
    expect_encoding(&rec, "0000000f"
                          "717369676e2d7265636f72642d7631" /* "qsign-record-v1" */
                          "00000005"
                          "7573657273" /* "users" */
                          "00000010"
                          "00112233445566778899aabbccddeeff"
                          "00000005"
                          "616c696365" /* "alice" */
                          "00000006"
                          "7369676e6572" /* "signer" */
                          "00000006"
                          "616374697665"); /* "active" */

    qs_db_sad_hash h;
    uint8_t sad_hash[32];
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 32; i++)
        sad_hash[i] = (uint8_t)i;
    memset(h.digest, 0xab, 32);
    h.digest_len = 32;
    rec = qs_rec_sad_hash(sad_hash, &h);
    /* consumed_at NULL: the length 0xFFFFFFFF and no bytes */
    expect_encoding(&rec, "0000000f717369676e2d7265636f72642d7631"
                          "0000000a7361645f686173686573" /* "sad_hashes" */
                          "00000020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
                          "1e1f"
                          "00000020abababababababababababababababababababababababababababababab"
                          "abab"
                          "ffffffff");
    h.consumed = true;
    h.consumed_at_us = 1700000000123456; /* 2023-11-14T22:13:20.123456Z */
    expect_encoding(&rec, "0000000f717369676e2d7265636f72642d7631"
                          "0000000a7361645f686173686573"
                          "00000020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
                          "1e1f"
                          "00000020abababababababababababababababababababababababababababababab"
                          "abab"
                          "00000008"
                          "00060a2418202240");

    /* a text column that is not NUL-terminated in its buffer is refused, not read past */
    memset(u.kind, 'x', sizeof u.kind);
    rec = qs_rec_user(&u);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qs_rec_encode(&rec, &out, &len), QS_ERR_INVALID_ARGUMENT);
    assert_null(out);
    qs_rec bad = {QS_REC_SAD_HASHES, &h, NULL};
    assert_int_equal(qs_rec_encode(&bad, &out, &len), QS_ERR_INVALID_ARGUMENT);
    assert_string_equal(qs_rec_table_name(QS_REC_FACTOR_TOTP), "factor_totp");
}

typedef struct hsm_fixture {
    qs_test_token token;
    qs_hsm *hsm;
    qs_hsm_session *hs;
} hsm_fixture;

static int hsm_setup(void **state)
{
    hsm_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    qs_test_token_create(&f->token, "records");
    qs_test_token_init_keys(&f->token);
    f->hsm = qs_test_token_open(&f->token);
    assert_int_equal(qs_hsm_session_open(f->hsm, &f->hs), QS_OK);
    *state = f;
    return 0;
}

static int hsm_teardown(void **state)
{
    hsm_fixture *f = *state;
    qs_hsm_session_close(f->hs);
    qs_hsm_close(f->hsm);
    qs_test_token_destroy(&f->token);
    free(f);
    return 0;
}

/* The MAC of `rec` made now must fail to check once `mutate` changed one field. */
#define EXPECT_COVERED(hs, make_rec, row, field_change)                                            \
    do {                                                                                           \
        uint8_t mac_[QS_REC_MAC_LEN];                                                              \
        __typeof__(row) copy_ = (row);                                                             \
        qs_rec r0_ = make_rec(&copy_);                                                             \
        assert_int_equal(qs_rec_mac((hs), &r0_, mac_), QS_OK);                                     \
        assert_int_equal(qs_rec_check((hs), &r0_, mac_), QS_OK);                                   \
        field_change;                                                                              \
        assert_int_equal(qs_rec_check((hs), &r0_, mac_), QS_ERR_MAC);                              \
    } while (0)

static void test_mac_covers_every_column(void **state)
{
    hsm_fixture *f = *state;
    qs_hsm_session *hs = f->hs;

    qs_db_user u;
    fill_user(&u);
    EXPECT_COVERED(hs, qs_rec_user, u, copy_.id[15] ^= 1);
    EXPECT_COVERED(hs, qs_rec_user, u, copy_.username[0] = 'b');
    EXPECT_COVERED(hs, qs_rec_user, u, snprintf(copy_.kind, sizeof copy_.kind, "officer"));
    EXPECT_COVERED(hs, qs_rec_user, u, snprintf(copy_.status, sizeof copy_.status, "closed"));
    /* no ambiguity between adjacent text columns */
    EXPECT_COVERED(hs, qs_rec_user, u,
                   (snprintf(copy_.username, sizeof copy_.username, "alices"),
                    snprintf(copy_.kind, sizeof copy_.kind, "igner")));

    qs_db_credential *c = calloc(1, sizeof *c);
    assert_non_null(c);
    memset(c->id, 1, 16);
    memset(c->user_id, 2, 16);
    snprintf(c->key_alg, sizeof c->key_alg, "ec-p256");
    memset(c->spki, 3, 91);
    c->spki_len = 91;
    c->has_wrapped_key = true;
    memset(c->wrapped_key, 4, 200);
    c->wrapped_key_len = 200;
    snprintf(c->status, sizeof c->status, "enabled");
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.id[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.user_id[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.key_alg[3] = 'q');
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.spki[90] ^= 1);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.spki_len--);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.wrapped_key[199] ^= 1);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.has_wrapped_key = false);
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.status[0] = 'x');
    EXPECT_COVERED(hs, qs_rec_credential, *c, copy_.failed_attempts = 1);
    free(c);

    qs_db_factor_pin p;
    memset(&p, 0, sizeof p);
    memset(p.user_id, 5, 16);
    snprintf(p.verifier, sizeof p.verifier, "$argon2id$v=19$m=8,t=1,p=1$abc$def");
    EXPECT_COVERED(hs, qs_rec_factor_pin, p, copy_.user_id[3] ^= 1);
    EXPECT_COVERED(hs, qs_rec_factor_pin, p, copy_.verifier[20] = 'Z');
    EXPECT_COVERED(hs, qs_rec_factor_pin, p, copy_.failed_attempts = 4);

    qs_db_factor_totp t;
    memset(&t, 0, sizeof t);
    memset(t.user_id, 6, 16);
    memset(t.seed_ciphertext, 7, 48);
    t.seed_ciphertext_len = 48;
    snprintf(t.algorithm, sizeof t.algorithm, "SHA1");
    t.digits = 6;
    t.period = 30;
    t.last_step = 56666666;
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.user_id[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.seed_ciphertext[47] ^= 1);
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.algorithm[3] = '2');
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.digits = 8);
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.period = 60);
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.last_step--);
    EXPECT_COVERED(hs, qs_rec_factor_totp, t, copy_.failed_attempts = 1);

    qs_db_sad s;
    memset(&s, 0, sizeof s);
    memset(s.sad_hash, 8, 32);
    memset(s.user_id, 9, 16);
    memset(s.credential_id, 10, 16);
    snprintf(s.hash_alg, sizeof s.hash_alg, "2.16.840.1.101.3.4.2.1");
    s.num_signatures = 3;
    s.remaining = 3;
    memset(s.hashes_sha256, 11, 32);
    s.created_at_us = 1700000000000000;
    s.expires_at_us = 1700000300000000;
    snprintf(s.auth_event_writer, sizeof s.auth_event_writer, "sam-1");
    s.auth_event_seq = 42;
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.sad_hash[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.user_id[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.credential_id[0] ^= 1);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.hash_alg[21] = '3');
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.num_signatures = 4);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.remaining = 2);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.hashes_sha256[31] ^= 1);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.created_at_us++);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.expires_at_us++);
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.auth_event_writer[4] = '2');
    EXPECT_COVERED(hs, qs_rec_sad, s, copy_.auth_event_seq = 43);

    /* sad_hashes: the parent SAD, the digest and consumption */
    uint8_t sad_a[32], sad_b[32];
    memset(sad_a, 1, 32);
    memset(sad_b, 2, 32);
    qs_db_sad_hash h;
    memset(&h, 0, sizeof h);
    memset(h.digest, 12, 48);
    h.digest_len = 48;
    uint8_t mac[QS_REC_MAC_LEN];
    qs_rec ra = qs_rec_sad_hash(sad_a, &h), rb = qs_rec_sad_hash(sad_b, &h);
    assert_int_equal(qs_rec_mac(hs, &ra, mac), QS_OK);
    assert_int_equal(qs_rec_check(hs, &ra, mac), QS_OK);
    assert_int_equal(qs_rec_check(hs, &rb, mac), QS_ERR_MAC); /* moved to another SAD */
    h.consumed = true;
    h.consumed_at_us = 1;
    assert_int_equal(qs_rec_check(hs, &ra, mac), QS_ERR_MAC);
    h.consumed = false;
    h.consumed_at_us = 0;
    h.digest_len = 32;
    assert_int_equal(qs_rec_check(hs, &ra, mac), QS_ERR_MAC);

    /* a MAC is the HSM's HMAC of the documented encoding */
    qs_rec ru = qs_rec_user(&u);
    uint8_t *enc = NULL, direct[QS_HSM_HMAC_LEN];
    size_t enc_len = 0;
    assert_int_equal(qs_rec_encode(&ru, &enc, &enc_len), QS_OK);
    assert_int_equal(qs_hsm_hmac(hs, QS_HSM_RECORD_MAC, enc, enc_len, direct), QS_OK);
    assert_int_equal(qs_rec_mac(hs, &ru, mac), QS_OK);
    assert_memory_equal(mac, direct, sizeof mac);
    qs_free_wiped(enc, enc_len);
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_vectors),
    };
    const struct CMUnitTest with_hsm[] = {
        cmocka_unit_test(test_mac_covers_every_column),
    };
    int rc = cmocka_run_group_tests(unit, NULL, NULL);
    return rc | cmocka_run_group_tests(with_hsm, hsm_setup, hsm_teardown);
}

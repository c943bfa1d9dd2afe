/*
 * An SAD expires: with [sad] lifetime = 1 s, a signature or an extension a little later is
 * refused (QS_ERR_SAD_EXPIRED), audited, and consumes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static void test_expired_sad(void **state)
{
    qs_test_samd_opts o = {.sad_lifetime = 1, .sad_max_lifetime = 1};
    qs_test_samd *d = qs_test_samd_start("expiry", &o);
    qs_sam_client *c = qs_test_samd_connect(d);
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF], sad2[QS_SAM_SAD_BUF];
    uint8_t hb[2][32];
    qs_sam_bytes h[2];
    uint32_t expires = 0;

    qs_test_samd_enrol_signer(d, c, "ursula", "424242", &s);
    qs_test_samd_create_credential(c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    for (int i = 0; i < 2; i++) {
        qs_random(hb[i], 32);
        h[i] = (qs_sam_bytes){hb[i], 32};
    }
    qs_test_signer_code(&s, otp);
    qs_sam_authorize_req q = {
        .user_id = s.user_id,
        .credential_id = cred,
        .pin = s.pin,
        .otp = otp,
        .num_signatures = 2,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = 1,
    };
    assert_int_equal(qs_sam_client_authorize(c, &q, sad, &expires), QS_OK);
    assert_int_equal(expires, 1);

    struct timespec ts = {1, 600 * 1000 * 1000};
    nanosleep(&ts, NULL);
    qs_sam_signatures sigs;
    qs_sam_sign_req sq = {
        .user_id = s.user_id,
        .credential_id = cred,
        .sad = sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = 1,
        .scheme = QS_SAM_SIG_ECDSA,
    };
    assert_int_equal(qs_sam_client_sign(c, &sq, &sigs), QS_ERR_SAD_EXPIRED);
    assert_string_equal(qs_sam_client_error(c), "SAD expired");
    assert_int_equal(
        qs_sam_client_extend(c, s.user_id, cred, QS_SAM_HASH_SHA256, &h[1], 1, sad, sad2, &expires),
        QS_ERR_SAD_EXPIRED);
    assert_int_equal(qs_test_samd_audit_count(d, "event_type = 'sign.refused' AND result = "
                                                 "'failure' AND sad_ref IS NOT NULL AND "
                                                 "details::jsonb->>'reason' = 'sad_expired'"),
                     1);
    assert_int_equal(qs_test_samd_audit_count(d, "event_type = 'extend.refused' AND "
                                                 "details::jsonb->>'reason' = 'sad_expired'"),
                     1);
    assert_int_equal(qs_test_samd_audit_count(d, "event_type = 'signature.created'"), 0);

    /* nothing was consumed */
    PGconn *conn = qs_test_pg_connect(d->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, "SELECT count(*) FROM qsign.sad_hashes WHERE "
                                           "consumed_at IS NOT NULL");
    assert_string_equal(v, "0");
    free(v);
    PQfinish(conn);

    qs_sam_client_close(c);
    qs_test_samd_stop(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_sad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

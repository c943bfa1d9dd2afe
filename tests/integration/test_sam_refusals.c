/*
 * qsign-sam refuses what it must, with the right error code, and audits every refusal: wrong
 * PIN, wrong OTP, a replayed TOTP code, lockout after N failures, a replayed SAD, a hash
 * outside the SAD, too many signatures, another user's SAD, another credential, malformed
 * input (the connection stays open), rows changed in the database (the requested digest rows
 * of a SIGN are checked, the others do not matter to it), and privileged requests from a peer
 * that is not an admin (a compromised qsignd cannot re-enrol a signer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define MAX_FAILED 3
#define MAX_SIGS   10

typedef struct fixture {
    qs_test_samd *d;
    qs_sam_client *c;
    qs_test_signer alice, eve;
    char quinn[QS_SAM_ID_BUF]; /* created without factors, for the unprivileged peer */
    char alice_cred[QS_SAM_ID_BUF], alice_cred2[QS_SAM_ID_BUF], eve_cred[QS_SAM_ID_BUF];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    qs_test_samd_opts o = {
        .max_failed_attempts = MAX_FAILED,
        .max_signatures = MAX_SIGS,
        .public_socket = true,
    };
    f->d = qs_test_samd_start("refusals", &o);
    f->c = qs_test_samd_connect(f->d);
    qs_test_samd_enrol_signer(f->d, f->c, "alice", "111222", &f->alice);
    qs_test_samd_enrol_signer(f->d, f->c, "eve", "333444", &f->eve);
    qs_test_samd_create_credential(f->c, f->alice.user_id, QS_SAM_KEY_EC_P256, f->alice_cred, NULL,
                                   NULL);
    qs_test_samd_create_credential(f->c, f->alice.user_id, QS_SAM_KEY_EC_P256, f->alice_cred2, NULL,
                                   NULL);
    qs_test_samd_create_credential(f->c, f->eve.user_id, QS_SAM_KEY_EC_P256, f->eve_cred, NULL,
                                   NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_sam_client_close(f->c);
    qs_test_samd_stop(f->d);
    free(f);
    return 0;
}

#define EXPECT(call, want) QS_TEST_SAM_EXPECT(NULL, f->c, call, want)

/* An audit record of `type` with result failure for the user, whose details satisfy `cond`
 * (SQL over details::jsonb d), exists exactly `want` times. */
static void expect_audit(fixture *f, const char *type, const char *user_id, const char *cond,
                         long want)
{
    char where[1024];
    snprintf(where, sizeof where,
             "event_type = '%s' AND result = 'failure' AND user_id = '%s' AND (SELECT %s FROM "
             "(SELECT details::jsonb AS d) x)",
             type, user_id, cond);
    long got = qs_test_samd_audit_count(f->d, where);
    if (got != want)
        fail_msg("audit %s where %s: %ld records, want %ld", type, cond, got, want);
}

static void hashes(uint8_t h[][32], qs_sam_bytes *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qs_random(h[i], 32);
        b[i] = (qs_sam_bytes){h[i], 32};
    }
}

static qs_err authorize_with(fixture *f, const qs_test_signer *s, const char *cred, const char *pin,
                             const char *otp, const qs_sam_bytes *h, size_t n, uint32_t num,
                             char sad[static QS_SAM_SAD_BUF])
{
    uint32_t expires = 0;
    qs_sam_authorize_req q = {
        .user_id = s->user_id,
        .credential_id = cred,
        .pin = pin,
        .otp = otp,
        .num_signatures = num,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = n,
    };
    return qs_sam_client_authorize(f->c, &q, sad, &expires);
}

static qs_err authorize(fixture *f, qs_test_signer *s, const char *cred, const qs_sam_bytes *h,
                        size_t n, uint32_t num, char sad[static QS_SAM_SAD_BUF])
{
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(s, otp);
    return authorize_with(f, s, cred, s->pin, otp, h, n, num, sad);
}

static qs_err sign(fixture *f, const qs_test_signer *s, const char *cred, const char *sad,
                   const qs_sam_bytes *h, size_t n)
{
    qs_sam_signatures sigs;
    qs_sam_sign_req q = {
        .user_id = s->user_id,
        .credential_id = cred,
        .sad = sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = n,
        .scheme = QS_SAM_SIG_ECDSA,
    };
    qs_err r = qs_sam_client_sign(f->c, &q, &sigs);
    qs_sam_signatures_free(&sigs);
    return r;
}

static void test_wrong_pin_and_otp(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_samd_enrol_signer(f->d, f->c, "frank", "555666", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);

    qs_test_signer_code(&s, otp);
    EXPECT(authorize_with(f, &s, cred, "555667", otp, h, 1, 1, sad), QS_ERR_AUTH_PIN);
    expect_audit(f, "auth.failed", s.user_id,
                 "d->>'pin' = 'wrong' AND d->>'otp' = 'ok' AND (d->>'failed_attempts')::int = 1",
                 1);
    /* the code was accepted (and so spent) although the PIN was wrong */
    EXPECT(authorize_with(f, &s, cred, s.pin, otp, h, 1, 1, sad), QS_ERR_AUTH_REPLAY);
    qs_test_signer_wrong_code(&s, otp);
    EXPECT(authorize_with(f, &s, cred, s.pin, otp, h, 1, 1, sad), QS_ERR_AUTH_OTP);
    expect_audit(f, "auth.failed", s.user_id,
                 "d->>'pin' = 'ok' AND d->>'otp' = 'wrong' AND (d->>'failed_attempts')::int = 3",
                 1);
    /* MAX_FAILED failures in a row locked the credential: refused before any factor is
     * looked at */
    EXPECT(authorize_with(f, &s, cred, s.pin, "12ab56", h, 1, 1, sad), QS_ERR_AUTH_LOCKED);
    assert_non_null(strstr(qs_sam_client_error(f->c), "locked"));
}

static void test_success_resets_counter(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_samd_enrol_signer(f->d, f->c, "gina", "777888", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    for (int i = 0; i < MAX_FAILED - 1; i++) {
        qs_test_signer_wrong_code(&s, otp);
        EXPECT(authorize_with(f, &s, cred, "000000", otp, h, 1, 1, sad), QS_ERR_AUTH_PIN);
    }
    EXPECT(authorize(f, &s, cred, h, 1, 1, sad), QS_OK);
    /* the counter is back at 0: MAX_FAILED - 1 more failures do not lock */
    for (int i = 0; i < MAX_FAILED - 1; i++) {
        qs_test_signer_wrong_code(&s, otp);
        EXPECT(authorize_with(f, &s, cred, "000000", otp, h, 1, 1, sad), QS_ERR_AUTH_PIN);
    }
    EXPECT(authorize(f, &s, cred, h, 1, 1, sad), QS_OK);
}

static void test_totp_replay(void **state)
{
    fixture *f = *state;
    char sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_signer_code(&f->alice, otp);
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, h, 1, 1, sad), QS_OK);
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, h, 1, 1, sad),
           QS_ERR_AUTH_REPLAY);
    expect_audit(f, "auth.failed", f->alice.user_id, "d->>'otp' = 'replay' AND d->>'pin' = 'ok'",
                 1);
}

static void test_lockout(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], other[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_samd_enrol_signer(f->d, f->c, "henry", "121212", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, other, NULL, NULL);

    for (int i = 1; i <= MAX_FAILED; i++) {
        qs_test_signer_wrong_code(&s, otp);
        EXPECT(authorize_with(f, &s, cred, "999999", otp, h, 1, 1, sad), QS_ERR_AUTH_PIN);
        bool said_locked = strstr(qs_sam_client_error(f->c), "now locked") != NULL;
        assert_true(said_locked == (i == MAX_FAILED));
    }
    expect_audit(f, "auth.failed", s.user_id, "(d->>'locked')::bool", 1);
    char where[512];
    snprintf(where, sizeof where,
             "event_type = 'credential.locked' AND result = 'success' AND credential_id = '%s' "
             "AND details::jsonb->>'reason' = 'failed_attempts'",
             cred);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);
    /* locked: even the right factors are refused, and are not even looked at */
    char good[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&s, good);
    EXPECT(authorize_with(f, &s, cred, s.pin, good, h, 1, 1, sad), QS_ERR_AUTH_LOCKED);
    expect_audit(f, "authorize.refused", s.user_id, "d->>'reason' = 'credential_locked'", 1);
    /* the lock is per credential: the other one works, with the same unspent code */
    EXPECT(authorize_with(f, &s, other, s.pin, good, h, 1, 1, sad), QS_OK);
    /* an officer unlocks; the counter starts again */
    EXPECT(
        qs_sam_client_credential_state(f->c, cred, "officer", QS_SAM_STATE_UNLOCK, "re-identified"),
        QS_OK);
    EXPECT(authorize(f, &s, cred, h, 1, 1, sad), QS_OK);
}

static void test_sad_refusals(void **state)
{
    fixture *f = *state;
    char sad[QS_SAM_SAD_BUF], eve_sad[QS_SAM_SAD_BUF];
    uint8_t hb[4][32], eb[1][32];
    qs_sam_bytes h[4], e[1];
    hashes(hb, h, 4);
    hashes(eb, e, 1);
    const char *uid = f->alice.user_id;

    EXPECT(authorize(f, &f->alice, f->alice_cred, h, 3, 3, sad), QS_OK);
    EXPECT(sign(f, &f->alice, f->alice_cred, sad, h, 1), QS_OK);

    /* the same hash again: SAD replay */
    EXPECT(sign(f, &f->alice, f->alice_cred, sad, h, 1), QS_ERR_HASH_CONSUMED);
    expect_audit(f, "sign.refused", uid, "d->>'reason' = 'hash_consumed'", 1);
    /* a hash the SAD never authorized */
    EXPECT(sign(f, &f->alice, f->alice_cred, sad, &h[3], 1), QS_ERR_HASH_NOT_AUTHORIZED);
    expect_audit(f, "sign.refused", uid, "d->>'reason' = 'hash_not_authorized'", 1);
    /* more hashes than signatures left (2) */
    EXPECT(sign(f, &f->alice, f->alice_cred, sad, &h[1], 3), QS_ERR_TOO_MANY_SIGNATURES);
    expect_audit(f, "sign.refused", uid, "d->>'reason' = 'too_many_signatures'", 1);
    /* the SAD for another of the user's credentials */
    EXPECT(sign(f, &f->alice, f->alice_cred2, sad, &h[1], 1), QS_ERR_SAD_INVALID);
    expect_audit(f, "sign.refused", uid, "d->>'reason' = 'other_credential'", 1);
    /* another user presenting alice's SAD with their own ids */
    EXPECT(sign(f, &f->eve, f->eve_cred, sad, &h[1], 1), QS_ERR_SAD_INVALID);
    expect_audit(f, "sign.refused", f->eve.user_id, "d->>'reason' = 'other_user'", 1);
    /* ... or with alice's credential */
    EXPECT(sign(f, &f->eve, f->alice_cred, sad, &h[1], 1), QS_ERR_SAD_INVALID);
    /* alice with eve's SAD */
    EXPECT(authorize(f, &f->eve, f->eve_cred, e, 1, 1, eve_sad), QS_OK);
    EXPECT(sign(f, &f->alice, f->alice_cred, eve_sad, e, 1), QS_ERR_SAD_INVALID);
    /* an SAD nobody issued */
    EXPECT(
        sign(f, &f->alice, f->alice_cred, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &h[1], 1),
        QS_ERR_SAD_INVALID);
    expect_audit(f, "sign.refused", uid, "d->>'reason' = 'unknown_sad'", 1);
    /* none of that consumed anything: the two remaining hashes still sign, once */
    EXPECT(sign(f, &f->alice, f->alice_cred, sad, &h[1], 2), QS_OK);
    EXPECT(sign(f, &f->eve, f->eve_cred, eve_sad, e, 1), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'signature.created'"), 4);
}

static void test_authorize_refusals(void **state)
{
    fixture *f = *state;
    char sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[3][32];
    qs_sam_bytes h[3];
    hashes(hb, h, 3);
    const char *uid = f->alice.user_id;

    qs_test_signer_wrong_code(&f->alice, otp);
    /* numSignatures above [sad] max_signatures */
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, h, 1, MAX_SIGS + 1, sad),
           QS_ERR_TOO_MANY_SIGNATURES);
    expect_audit(f, "authorize.refused", uid, "d->>'reason' = 'too_many_signatures'", 1);
    /* more hashes than numSignatures */
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, h, 3, 2, sad),
           QS_ERR_INVALID_ARGUMENT);
    /* the same hash twice */
    qs_sam_bytes dup[2] = {h[0], h[0]};
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, dup, 2, 2, sad),
           QS_ERR_INVALID_ARGUMENT);
    expect_audit(f, "authorize.refused", uid, "d->>'reason' = 'duplicate_hash'", 1);
    /* a digest of the wrong length for the algorithm (48 bytes for SHA-256) */
    uint8_t longer[48] = {1};
    qs_sam_bytes l[1] = {{longer, sizeof longer}};
    EXPECT(authorize_with(f, &f->alice, f->alice_cred, f->alice.pin, otp, l, 1, 1, sad),
           QS_ERR_INVALID_ARGUMENT);
    assert_string_equal(qs_sam_client_error(f->c), "Invalid digest value length");
    /* another user's credential looks like an unknown one */
    EXPECT(authorize_with(f, &f->alice, f->eve_cred, f->alice.pin, otp, h, 1, 1, sad),
           QS_ERR_NOT_FOUND);
    expect_audit(f, "authorize.refused", uid, "d->>'reason' = 'not_owner'", 1);
    /* malformed ids: an error answer, the connection stays usable */
    qs_test_signer bad = f->alice;
    snprintf(bad.user_id, sizeof bad.user_id, "alice");
    EXPECT(authorize_with(f, &bad, f->alice_cred, f->alice.pin, otp, h, 1, 1, sad),
           QS_ERR_INVALID_ARGUMENT);
    EXPECT(qs_sam_client_ping(f->c), QS_OK);
    /* a user without factors */
    char nofactors[QS_SAM_ID_BUF], cred[QS_SAM_ID_BUF];
    EXPECT(qs_sam_client_create_user(f->c, "ivan", QS_SAM_USER_SIGNER, NULL, nofactors), QS_OK);
    qs_test_samd_create_credential(f->c, nofactors, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    bad = f->alice;
    snprintf(bad.user_id, sizeof bad.user_id, "%s", nofactors);
    EXPECT(authorize_with(f, &bad, cred, "123456", otp, h, 1, 1, sad), QS_ERR_NOT_FOUND);
    expect_audit(f, "authorize.refused", nofactors, "d->>'reason' = 'not_enrolled'", 1);
    /* credentials are for signers only */
    char officer[QS_SAM_ID_BUF];
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    EXPECT(qs_sam_client_create_user(f->c, "olga", QS_SAM_USER_OFFICER, NULL, officer), QS_OK);
    EXPECT(qs_sam_client_create_credential(f->c, officer, QS_SAM_KEY_EC_P256, NULL, cred, &spki,
                                           &spki_len),
           QS_ERR_INVALID_ARGUMENT);
    /* usernames are unique */
    EXPECT(qs_sam_client_create_user(f->c, "olga", QS_SAM_USER_SIGNER, NULL, officer),
           QS_ERR_EXISTS);
    EXPECT(qs_sam_client_create_user(f->c, "bad name", QS_SAM_USER_SIGNER, NULL, officer),
           QS_ERR_INVALID_ARGUMENT);
    /* the PIN policy (6 digits at least) */
    char *uri = NULL;
    EXPECT(qs_sam_client_create_user(f->c, "pete", QS_SAM_USER_SIGNER, NULL, officer), QS_OK);
    EXPECT(qs_sam_client_enrol(f->c, officer, "12345", NULL, NULL, NULL, &uri), QS_ERR_AUTH_POLICY);
    EXPECT(qs_sam_client_enrol(f->c, officer, "12345a", NULL, NULL, NULL, &uri),
           QS_ERR_AUTH_POLICY);
    assert_null(uri);
}

typedef struct racer {
    fixture *f;
    const char *user_id, *cred;
    const char *sad;
    const qs_sam_bytes *hash;
    qs_err result;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    qs_sam_client *c = qs_test_samd_connect(r->f->d);
    qs_sam_signatures sigs;
    qs_sam_sign_req q = {
        .user_id = r->user_id,
        .credential_id = r->cred,
        .sad = r->sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = r->hash,
        .n_hashes = 1,
        .scheme = QS_SAM_SIG_ECDSA,
    };
    r->result = qs_sam_client_sign(c, &q, &sigs);
    qs_sam_signatures_free(&sigs);
    qs_sam_client_close(c);
    return NULL;
}

/* Many connections present the same SAD and hash at once: exactly one signature. */
static void test_concurrent_use_of_one_sad(void **state)
{
    fixture *f = *state;
    enum { N = 8 };
    char sad[QS_SAM_SAD_BUF], where[512], cred[QS_SAM_ID_BUF];
    qs_test_signer rita;
    uint8_t hb[2][32];
    qs_sam_bytes h[2];
    pthread_t th[N];
    racer rs[N];
    hashes(hb, h, 2);
    qs_test_samd_enrol_signer(f->d, f->c, "rita", "686868", &rita);
    qs_test_samd_create_credential(f->c, rita.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    EXPECT(authorize(f, &rita, cred, h, 2, 2, sad), QS_OK);
    long before = qs_test_samd_audit_count(f->d, "event_type = 'signature.created'");
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){f, rita.user_id, cred, sad, &h[0], QS_ERR_INTERNAL};
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (rs[i].result == QS_OK)
            ok++;
        else if (rs[i].result != QS_ERR_HASH_CONSUMED)
            fail_msg("racer %d: %s", i, qs_err_name(rs[i].result));
    }
    assert_int_equal(ok, 1);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'signature.created'"),
                     before + 1);
    snprintf(where, sizeof where,
             "event_type = 'sign.refused' AND details::jsonb->>'reason' = 'hash_consumed' AND "
             "user_id = '%s'",
             rita.user_id);
    assert_true(qs_test_samd_audit_count(f->d, where) >= N - 1);
    /* the other hash is still there, once */
    EXPECT(sign(f, &rita, cred, sad, &h[1], 1), QS_OK);
}

/* Runs SQL with one %s (arg) as the cluster's superuser (who can write the SAM's tables). */
#define as_superuser(f, fmt, arg)                                                                  \
    do {                                                                                           \
        char sql_[1024];                                                                           \
        snprintf(sql_, sizeof sql_, fmt, arg);                                                     \
        exec_super((f), sql_);                                                                     \
    } while (0)

static void exec_super(fixture *f, const char *sql)
{
    PGconn *conn = qs_test_pg_connect(f->d->pg->super_conninfo);
    qs_test_pg_exec_ok(conn, sql);
    PQfinish(conn);
}

/* Rows changed behind the SAM's back are refused (invariant 3), and the refusal audited. */
static void test_tampered_rows(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF], where[512];
    uint8_t hb[3][32];
    qs_sam_bytes h[3];
    hashes(hb, h, 3);
    qs_test_samd_enrol_signer(f->d, f->c, "tess", "474747", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    EXPECT(authorize(f, &s, cred, h, 2, 2, sad), QS_OK);

    /* more signatures than authorized: remaining raised in the database */
    as_superuser(f, "UPDATE qsign.sads SET num_signatures = 3, remaining = 3 WHERE user_id = '%s'",
                 s.user_id);
    EXPECT(sign(f, &s, cred, sad, h, 1), QS_ERR_MAC);
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'sads' AND "
             "user_id = '%s'",
             s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);

    /* put back as it was, the row's MAC fits again: a MAC proves origin, not freshness */
    as_superuser(f, "UPDATE qsign.sads SET num_signatures = 2, remaining = 2 WHERE user_id = '%s'",
                 s.user_id);
    /* a digest slipped into the SAD, with another row's MAC */
    char hex[65], sql[1024];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hb[2][i]);
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, record_mac) SELECT h.sad_hash, "
             "'\\x%s'::bytea, h.record_mac FROM qsign.sad_hashes h JOIN qsign.sads s USING "
             "(sad_hash) WHERE s.user_id = '%s' LIMIT 1",
             hex, s.user_id);
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, &h[2], 1), QS_ERR_MAC);
    /* (the SAD's own digests still sign: test_sad_rows_checked_per_request) */
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'sad_hashes' "
             "AND user_id = '%s'",
             s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);

    /* a locked credential unlocked in the database */
    char cred2[QS_SAM_ID_BUF];
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred2, NULL, NULL);
    EXPECT(qs_sam_client_credential_state(f->c, cred2, "officer", QS_SAM_STATE_LOCK, "test"),
           QS_OK);
    as_superuser(f, "UPDATE qsign.credentials SET status = 'enabled' WHERE id = '%s'", cred2);
    qs_test_signer_wrong_code(&s, otp);
    EXPECT(authorize_with(f, &s, cred2, s.pin, otp, h, 1, 1, sad), QS_ERR_MAC);
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'credentials' "
             "AND credential_id = '%s'",
             cred2);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);

    /* a PIN verifier swapped for another user's */
    as_superuser(f,
                 "UPDATE qsign.factor_pin SET verifier = (SELECT verifier FROM qsign.factor_pin "
                 "p JOIN qsign.users u ON u.id = p.user_id WHERE u.username = 'alice') "
                 "WHERE user_id = '%s'",
                 s.user_id);
    EXPECT(authorize_with(f, &s, cred, f->alice.pin, otp, h, 1, 1, sad), QS_ERR_MAC);
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'factor_pin' "
             "AND user_id = '%s'",
             s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);
    /* nothing was signed */
    snprintf(where, sizeof where, "event_type = 'signature.created' AND user_id = '%s'", s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 0);
}

/* One value from SQL run as the superuser (malloc'd). */
static char *super_value(fixture *f, const char *sql)
{
    PGconn *conn = qs_test_pg_connect(f->d->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    if (v == NULL)
        fail_msg("no value: %s", sql);
    return v;
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The consumption state of one SAD: "remaining|consumed digests" (malloc'd). */
static char *sad_state(fixture *f, const char *sad_hex)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT s.remaining || '|' || (SELECT count(*) FROM qsign.sad_hashes h WHERE "
             "h.sad_hash = s.sad_hash AND h.consumed_at IS NOT NULL) FROM qsign.sads s WHERE "
             "s.sad_hash = '\\x%s'",
             sad_hex);
    return super_value(f, sql);
}

/* SIGN locks and MAC-checks only the SAD row and the rows of the digests it signs.  Each way a
 * database writer can make a requested digest row say something the SAM did not write is
 * refused with QS_ERR_MAC, audited (sign.refused + record.mac_mismatch), and signs and consumes
 * nothing: a consumed flag reset, a row copied from another SAD, a forged row, a digest changed
 * in a row.  A digest whose row was changed away is no longer authorized (deleting only removes
 * authority).  Rows that are tampered with but not requested do not stop the others. */
static void test_sad_rows_checked_per_request(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], sad2[QS_SAM_SAD_BUF], where[512], sql[1024];
    char sad_hex[65], sad2_hex[65], hx[65], *v = NULL;
    uint8_t hb[6][32], ob[3][32], sad_hash[32], sad2_hash[32];
    qs_sam_bytes h[6], o[3];
    hashes(hb, h, 6);
    hashes(ob, o, 3); /* o[0]: the other SAD's; o[1]: forged; o[2]: a digest written over h[1] */
    qs_test_samd_enrol_signer(f->d, f->c, "rows-rudi", "232323", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    EXPECT(authorize(f, &s, cred, h, 6, 6, sad), QS_OK);
    EXPECT(authorize(f, &s, cred, o, 1, 1, sad2), QS_OK);
    assert_int_equal(qs_sad_handle_hash(sad, strlen(sad), sad_hash), QS_OK);
    assert_int_equal(qs_sad_handle_hash(sad2, strlen(sad2), sad2_hash), QS_OK);
    hex_of(sad_hash, 32, sad_hex);
    hex_of(sad2_hash, 32, sad2_hex);
    snprintf(where, sizeof where, "event_type = 'signature.created' AND user_id = '%s'", s.user_id);

    EXPECT(sign(f, &s, cred, sad, &h[0], 1), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);
    v = sad_state(f, sad_hex);
    assert_string_equal(v, "5|1");
    free(v);

    /* 1. the consumed flag of a signed digest reset in the database */
    hex_of(hb[0], 32, hx);
    snprintf(sql, sizeof sql,
             "UPDATE qsign.sad_hashes SET consumed_at = NULL WHERE sad_hash = '\\x%s' AND "
             "digest = '\\x%s'",
             sad_hex, hx);
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, &h[0], 1), QS_ERR_MAC);

    /* 2. the other SAD's row copied into this one (with its MAC) */
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, consumed_at, record_mac) SELECT "
             "'\\x%s', digest, consumed_at, record_mac FROM qsign.sad_hashes WHERE sad_hash = "
             "'\\x%s'",
             sad_hex, sad2_hex);
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, &o[0], 1), QS_ERR_MAC);

    /* 3. a forged row */
    hex_of(ob[1], 32, hx);
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.sad_hashes (sad_hash, digest, record_mac) VALUES ('\\x%s', "
             "'\\x%s', '\\x%s')",
             sad_hex, hx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, &o[1], 1), QS_ERR_MAC);

    /* 4. the digest of an authorized row changed to another digest */
    char old_hx[65];
    hex_of(hb[1], 32, old_hx);
    hex_of(ob[2], 32, hx);
    snprintf(sql, sizeof sql,
             "UPDATE qsign.sad_hashes SET digest = '\\x%s' WHERE sad_hash = '\\x%s' AND "
             "digest = '\\x%s'",
             hx, sad_hex, old_hx);
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, &o[2], 1), QS_ERR_MAC);
    /* ... and the digest it was is no longer authorized: a row taken away only removes
     * authority */
    EXPECT(sign(f, &s, cred, sad, &h[1], 1), QS_ERR_HASH_NOT_AUTHORIZED);
    /* a request naming a tampered row with good ones is refused whole */
    qs_sam_bytes mixed[2] = {h[4], o[1]};
    EXPECT(sign(f, &s, cred, sad, mixed, 2), QS_ERR_MAC);

    /* every refusal audited, nothing signed, nothing consumed */
    expect_audit(f, "sign.refused", s.user_id, "d->>'reason' = 'record_mac'", 5);
    expect_audit(f, "sign.refused", s.user_id, "d->>'reason' = 'hash_not_authorized'", 1);
    char mw[512];
    snprintf(mw, sizeof mw,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'sad_hashes' "
             "AND user_id = '%s' AND sad_ref = '\\x%s'",
             s.user_id, sad_hex);
    assert_int_equal(qs_test_samd_audit_count(f->d, mw), 5);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);
    v = sad_state(f, sad_hex);
    assert_string_equal(v, "5|0"); /* h[0]'s reset row stays as the writer left it */
    free(v);

    /* 5. the tampered rows are not requested: the SAD's other digests still sign, once */
    EXPECT(sign(f, &s, cred, sad, &h[2], 2), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 3);
    v = sad_state(f, sad_hex);
    assert_string_equal(v, "3|2");
    free(v);
    EXPECT(sign(f, &s, cred, sad, &h[2], 1), QS_ERR_HASH_CONSUMED);
    /* the SAD row still bounds the count: 3 left, 4 asked (two of them tampered or gone) */
    qs_sam_bytes four[4] = {h[4], h[5], o[1], h[1]};
    EXPECT(sign(f, &s, cred, sad, four, 4), QS_ERR_TOO_MANY_SIGNATURES);
    /* the other SAD is untouched by the copy of its row */
    EXPECT(sign(f, &s, cred, sad2, &o[0], 1), QS_OK);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 4);
}

/* A code of a step outside the +-1 window is refused as a wrong OTP, on either side, although
 * it is a real code of the signer's authenticator; each refusal is audited. */
static void test_totp_out_of_window(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    char window[3][QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_samd_enrol_signer(f->d, f->c, "window-walter", "616161", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);

    static const int offsets[] = {-3, 3};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        uint64_t now;
        assert_int_equal(qs_totp_step(&s.params, (int64_t)time(NULL), &now), QS_OK);
        for (int i = 0; i < 3; i++)
            assert_int_equal(
                qs_totp_generate(&s.params, s.seed, s.seed_len, now - 1 + (uint64_t)i, window[i]),
                QS_OK);
        /* the first step at the given distance whose code differs from every code in the window
         * (six digits collide now and then) */
        for (int d = offsets[k];; d += offsets[k] > 0 ? 1 : -1) {
            assert_int_equal(
                qs_totp_generate(&s.params, s.seed, s.seed_len, now + (uint64_t)(int64_t)d, otp),
                QS_OK);
            if (strcmp(otp, window[0]) != 0 && strcmp(otp, window[1]) != 0 &&
                strcmp(otp, window[2]) != 0)
                break;
        }
        EXPECT(authorize_with(f, &s, cred, s.pin, otp, h, 1, 1, sad), QS_ERR_AUTH_OTP);
    }
    expect_audit(f, "auth.failed", s.user_id, "d->>'pin' = 'ok' AND d->>'otp' = 'wrong'", 2);
    /* the factors themselves still work: a code inside the window signs */
    EXPECT(authorize(f, &s, cred, h, 1, 1, sad), QS_OK);
    EXPECT(sign(f, &s, cred, sad, h, 1), QS_OK);
}

/* The wrapped key and the TOTP record are bound to their rows by the record MAC: a key blob
 * altered or moved to another credential, or a TOTP record rolled back so that a spent step
 * would be accepted again, is refused and audited, and nothing is signed. */
static void test_tampered_key_and_totp(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], cred2[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF], sql[1024], where[512];
    uint8_t hb[2][32];
    qs_sam_bytes h[2];
    hashes(hb, h, 2);
    qs_test_samd_enrol_signer(f->d, f->c, "keys-kasia", "737373", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_EC_P256, cred2, NULL, NULL);
    EXPECT(authorize(f, &s, cred, h, 2, 2, sad), QS_OK);

    /* one bit of the wrapped key flipped */
    as_superuser(f,
                 "UPDATE qsign.credentials SET wrapped_key = set_byte(wrapped_key, 8, "
                 "get_byte(wrapped_key, 8) # 1) WHERE id = '%s'",
                 cred);
    EXPECT(sign(f, &s, cred, sad, h, 1), QS_ERR_MAC);
    as_superuser(f,
                 "UPDATE qsign.credentials SET wrapped_key = set_byte(wrapped_key, 8, "
                 "get_byte(wrapped_key, 8) # 1) WHERE id = '%s'",
                 cred);
    /* the other credential's key put in its place (it is the same signer's) */
    snprintf(sql, sizeof sql,
             "UPDATE qsign.credentials SET wrapped_key = (SELECT wrapped_key FROM "
             "qsign.credentials WHERE id = '%s') WHERE id = '%s'",
             cred2, cred);
    exec_super(f, sql);
    EXPECT(sign(f, &s, cred, sad, h, 1), QS_ERR_MAC);
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'credentials' "
             "AND credential_id = '%s'",
             cred);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 2);

    /* the TOTP record's last accepted step rolled back */
    as_superuser(f, "UPDATE qsign.factor_totp SET last_step = 0 WHERE user_id = '%s'", s.user_id);
    EXPECT(authorize(f, &s, cred2, h, 1, 1, sad), QS_ERR_MAC);
    snprintf(where, sizeof where,
             "event_type = 'record.mac_mismatch' AND details::jsonb->>'table' = 'factor_totp' "
             "AND user_id = '%s'",
             s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 1);
    snprintf(where, sizeof where, "event_type = 'signature.created' AND user_id = '%s'", s.user_id);
    assert_int_equal(qs_test_samd_audit_count(f->d, where), 0);
}

/* The scheme must fit the key; PSS only with its default parameters.  Nothing is consumed. */
static void test_scheme_refusals(void **state)
{
    fixture *f = *state;
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    qs_sam_signatures sigs;
    hashes(hb, h, 1);
    qs_test_samd_enrol_signer(f->d, f->c, "uma", "585858", &s);
    qs_test_samd_create_credential(f->c, s.user_id, QS_SAM_KEY_RSA2048, cred, NULL, NULL);
    EXPECT(authorize(f, &s, cred, h, 1, 1, sad), QS_OK);
    qs_sam_sign_req q = {
        .user_id = s.user_id,
        .credential_id = cred,
        .sad = sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = 1,
        .scheme = QS_SAM_SIG_ECDSA,
    };
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_ERR_UNSUPPORTED);
    q.scheme = QS_SAM_SIG_RSA_PSS;
    q.has_pss_salt_len = true;
    q.pss_salt_len = 20;
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_ERR_UNSUPPORTED);
    q.pss_salt_len = 32;
    q.has_pss_mgf_hash = true;
    q.pss_mgf_hash = QS_SAM_HASH_SHA512;
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_ERR_UNSUPPORTED);
    q.scheme = QS_SAM_SIG_RSA_PKCS1;
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_ERR_INVALID_ARGUMENT);
    /* the SAD is for SHA-256 digests */
    uint8_t h48[48] = {3};
    qs_sam_bytes b48[1] = {{h48, 48}};
    q.has_pss_salt_len = q.has_pss_mgf_hash = false;
    q.hash_alg = QS_SAM_HASH_SHA384;
    q.hashes = b48;
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_ERR_HASH_NOT_AUTHORIZED);
    q.hash_alg = QS_SAM_HASH_SHA256;
    q.hashes = h;
    EXPECT(qs_sam_client_sign(f->c, &q, &sigs), QS_OK);
    assert_int_equal(sigs.n, 1);
    assert_int_equal(sigs.len[0], 256);
    qs_sam_signatures_free(&sigs);
}

/* Runs `fn` in a child process that dropped to uid/gid 65534 (not an admin peer). */
static void as_unprivileged(fixture *f, void (*fn)(fixture *, int *), int *failures)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        fn(f, &bad);
        _exit(bad);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    *failures = WEXITSTATUS(st);
}

/* In the child: each check that fails adds one. */
static void unprivileged_checks(fixture *f, int *bad)
{
    qs_sam_client *c = NULL;
    char id[QS_SAM_ID_BUF];
    char *uri = NULL;

    if (qs_sam_client_connect(f->d->socket_path, 10000, &c) != QS_OK) {
        *bad += 50;
        return;
    }
    /* signer-facing requests are open to this peer */
    if (qs_sam_client_ping(c) != QS_OK)
        (*bad)++;
    /* re-enrolling an enrolled signer is refused: ERROR, connection open */
    if (qs_sam_client_enrol(c, f->alice.user_id, "999000", NULL, NULL, NULL, &uri) !=
        QS_ERR_FORBIDDEN)
        (*bad)++;
    if (qs_sam_client_ping(c) != QS_OK)
        (*bad)++;
    /* a first enrolment is allowed (the RA flow through qsignd); a second is not */
    if (qs_sam_client_enrol(c, f->quinn, "999000", NULL, NULL, NULL, &uri) != QS_OK)
        (*bad)++;
    qs_secret_free(uri);
    uri = NULL;
    if (qs_sam_client_enrol(c, f->quinn, "999001", NULL, NULL, NULL, &uri) != QS_ERR_FORBIDDEN)
        (*bad)++;
    /* privileged request types end the connection */
    if (qs_sam_client_create_user(c, "mallory", QS_SAM_USER_SIGNER, NULL, id) != QS_ERR_EOF)
        (*bad)++;
    qs_sam_client_close(c);
    if (qs_sam_client_connect(f->d->socket_path, 10000, &c) != QS_OK) {
        *bad += 50;
        return;
    }
    if (qs_sam_client_credential_state(c, f->alice_cred, "mallory", QS_SAM_STATE_UNLOCK, "x") !=
        QS_ERR_EOF)
        (*bad)++;
    qs_sam_client_close(c);
    qs_secret_free(uri);
}

static void test_unprivileged_peer(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        fprintf(stderr, "not root: the unprivileged-peer checks need to switch uid; skipped\n");
        return;
    }
    EXPECT(qs_sam_client_create_user(f->c, "quinn", QS_SAM_USER_SIGNER, NULL, f->quinn), QS_OK);
    int failures = -1;
    as_unprivileged(f, unprivileged_checks, &failures);
    assert_int_equal(failures, 0);
    expect_audit(f, "factors.enrol_refused", f->alice.user_id,
                 "d->>'reason' = 'already_enrolled' AND d->>'error' = 'QS_ERR_FORBIDDEN'", 1);
    expect_audit(f, "factors.enrol_refused", f->quinn, "d->>'reason' = 'already_enrolled'", 1);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'factors.enrolled' AND "
                                                    "actor LIKE 'client uid=65534 %'"),
                     1);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'protocol.rejected' AND "
                                                    "details::jsonb->>'reason' = "
                                                    "'FORBIDDEN_TYPE' AND actor LIKE 'client "
                                                    "uid=65534%'"),
                     2);
    /* alice's factors are unchanged: her PIN still works (a wrong code, so the OTP is what
     * fails) */
    char sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    hashes(hb, h, 1);
    qs_test_signer_wrong_code(&f->alice, otp);
    EXPECT(authorize_with(f, &f->alice, f->alice_cred2, f->alice.pin, otp, h, 1, 1, sad),
           QS_ERR_AUTH_OTP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_pin_and_otp),
        cmocka_unit_test(test_success_resets_counter),
        cmocka_unit_test(test_totp_replay),
        cmocka_unit_test(test_lockout),
        cmocka_unit_test(test_sad_refusals),
        cmocka_unit_test(test_authorize_refusals),
        cmocka_unit_test(test_concurrent_use_of_one_sad),
        cmocka_unit_test(test_tampered_rows),
        cmocka_unit_test(test_sad_rows_checked_per_request),
        cmocka_unit_test(test_totp_out_of_window),
        cmocka_unit_test(test_tampered_key_and_totp),
        cmocka_unit_test(test_scheme_refusals),
        cmocka_unit_test(test_unprivileged_peer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

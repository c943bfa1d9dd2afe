/*
 * qsign-sam end to end, the paths that should work: the real daemon on a fresh token and
 * database, driven over its socket.  A signer is created and enrolled, the TOTP code comes from
 * the otpauth URI's seed, P-256 and RSA-2048 credentials are generated, three hashes are
 * authorized and signed (OpenSSL verifies every signature against the credential's SPKI), an SAD
 * is extended, credential states change, qsignctl does the operator side, and the audit chain
 * verifies once the daemon has stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

typedef struct fixture {
    qs_test_samd *d;
    qs_sam_client *c;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    /* A signed checkpoint every 10 audit records, so the run makes several while it works. */
    qs_test_samd_opts o = {.extra = "[sam]\ncheckpoint_every_records = 10\n"};
    f->d = qs_test_samd_start("flow", &o);
    f->c = qs_test_samd_connect(f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    qs_sam_client_close(f->c);
    if (f->d != NULL) {
        qs_test_samd_teardown(f->d);
        free(f->d);
    }
    free(f);
    return 0;
}

#define EXPECT(call, want) QS_TEST_SAM_EXPECT(NULL, f->c, call, want)

static bool verify(const uint8_t *spki, size_t spki_len, qs_sam_sig_scheme scheme,
                   const uint8_t *digest, size_t dlen, const uint8_t *sig, size_t slen)
{
    const uint8_t *p = spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(pk);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    if (scheme != QS_SAM_SIG_ECDSA) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, scheme == QS_SAM_SIG_RSA_PSS
                                                               ? RSA_PKCS1_PSS_PADDING
                                                               : RSA_PKCS1_PADDING),
                         1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
        if (scheme == QS_SAM_SIG_RSA_PSS)
            assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    int ok = EVP_PKEY_verify(ctx, sig, slen, digest, dlen);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok == 1;
}

static void random_hashes(uint8_t h[][32], qs_sam_bytes *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qs_random(h[i], 32);
        b[i] = (qs_sam_bytes){h[i], 32};
    }
}

/* Authorizes `hashes` for the signer's credential; the SAD into sad.  Attempts the SAM must
 * refuse before it looks at the factors get a wrong code, so no time step is spent. */
static qs_err authorize_code(fixture *f, qs_test_signer *s, const char *cred, const qs_sam_bytes *h,
                             size_t n, uint32_t num, char sad[static QS_SAM_SAD_BUF],
                             bool valid_code)
{
    char otp[QS_TOTP_CODE_BUF];
    uint32_t expires = 0;
    if (valid_code)
        qs_test_signer_code(s, otp);
    else
        qs_test_signer_wrong_code(s, otp);
    qs_sam_authorize_req q = {
        .user_id = s->user_id,
        .credential_id = cred,
        .pin = s->pin,
        .otp = otp,
        .num_signatures = num,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = n,
        .description = "test documents",
    };
    qs_err r = qs_sam_client_authorize(f->c, &q, sad, &expires);
    if (r == QS_OK) {
        assert_int_equal(strlen(sad), QS_SAM_SAD_LEN);
        assert_true(expires > 250 && expires <= 300);
    }
    return r;
}

static qs_err authorize(fixture *f, qs_test_signer *s, const char *cred, const qs_sam_bytes *h,
                        size_t n, uint32_t num, char sad[static QS_SAM_SAD_BUF])
{
    return authorize_code(f, s, cred, h, n, num, sad, true);
}

static qs_err refused_authorize(fixture *f, qs_test_signer *s, const char *cred,
                                const qs_sam_bytes *h, char sad[static QS_SAM_SAD_BUF])
{
    return authorize_code(f, s, cred, h, 1, 1, sad, false);
}

static qs_err sign(fixture *f, const qs_test_signer *s, const char *cred, const char *sad,
                   const qs_sam_bytes *h, size_t n, qs_sam_sig_scheme scheme,
                   qs_sam_signatures *out)
{
    qs_sam_sign_req q = {
        .user_id = s->user_id,
        .credential_id = cred,
        .sad = sad,
        .hash_alg = QS_SAM_HASH_SHA256,
        .hashes = h,
        .n_hashes = n,
        .scheme = scheme,
    };
    if (scheme == QS_SAM_SIG_RSA_PSS) {
        q.has_pss_salt_len = q.has_pss_mgf_hash = true;
        q.pss_salt_len = 32;
        q.pss_mgf_hash = QS_SAM_HASH_SHA256;
    }
    return qs_sam_client_sign(f->c, &q, out);
}

static void test_sign_ec_and_rsa(void **state)
{
    fixture *f = *state;
    qs_test_signer alice;
    qs_test_samd_enrol_signer(f->d, f->c, "alice", "246813", &alice);
    assert_int_equal(strlen(alice.user_id), 36);
    assert_int_equal(alice.seed_len, QS_TOTP_SEED_LEN);

    struct {
        qs_sam_key_alg alg;
        qs_sam_sig_scheme schemes[3];
    } cases[] = {
        {QS_SAM_KEY_EC_P256, {QS_SAM_SIG_ECDSA, QS_SAM_SIG_ECDSA, QS_SAM_SIG_ECDSA}},
        {QS_SAM_KEY_RSA2048, {QS_SAM_SIG_RSA_PKCS1, QS_SAM_SIG_RSA_PKCS1, QS_SAM_SIG_RSA_PSS}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF];
        uint8_t *spki = NULL;
        size_t spki_len = 0;
        uint8_t hb[3][32];
        qs_sam_bytes h[3];
        qs_test_samd_create_credential(f->c, alice.user_id, cases[k].alg, cred, &spki, &spki_len);
        random_hashes(hb, h, 3);
        EXPECT(authorize(f, &alice, cred, h, 3, 3, sad), QS_OK);

        /* two hashes in one request, the third in another (with another scheme for RSA) */
        qs_sam_signatures sigs;
        EXPECT(sign(f, &alice, cred, sad, h, 2, cases[k].schemes[0], &sigs), QS_OK);
        assert_int_equal(sigs.n, 2);
        for (size_t i = 0; i < 2; i++)
            assert_true(
                verify(spki, spki_len, cases[k].schemes[i], hb[i], 32, sigs.sig[i], sigs.len[i]));
        /* signatures come in request order: the first does not verify the second hash */
        assert_false(
            verify(spki, spki_len, cases[k].schemes[0], hb[1], 32, sigs.sig[0], sigs.len[0]));
        qs_sam_signatures_free(&sigs);
        EXPECT(sign(f, &alice, cred, sad, &h[2], 1, cases[k].schemes[2], &sigs), QS_OK);
        assert_true(
            verify(spki, spki_len, cases[k].schemes[2], hb[2], 32, sigs.sig[0], sigs.len[0]));
        qs_sam_signatures_free(&sigs);

        /* every authorized hash is used: the SAD is spent */
        EXPECT(sign(f, &alice, cred, sad, &h[0], 1, cases[k].schemes[0], &sigs),
               QS_ERR_SAD_INVALID);
        free(spki);
    }
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'signature.created' AND "
                                                    "result = 'success'"),
                     6);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'sad.issued'"), 2);
    /* each signature record names its SAD and the authentication behind it */
    assert_int_equal(qs_test_samd_audit_count(
                         f->d, "event_type = 'signature.created' AND sad_ref IS NOT NULL AND "
                               "(details::jsonb->>'auth_event_seq')::bigint IN (SELECT seq FROM "
                               "qsign.audit_log WHERE event_type = 'sad.issued') AND "
                               "length(details::jsonb->>'signature_sha256') = 64"),
                     6);
    /* nothing secret in the audit log: no SAD handle, no PIN */
    assert_int_equal(qs_test_samd_audit_count(f->d, "details LIKE '%246813%'"), 0);
}

static void test_extend(void **state)
{
    fixture *f = *state;
    qs_test_signer bob;
    char cred[QS_SAM_ID_BUF], sad1[QS_SAM_SAD_BUF], sad2[QS_SAM_SAD_BUF];
    uint8_t *spki = NULL;
    size_t spki_len = 0;
    uint8_t hb[3][32];
    qs_sam_bytes h[3];
    uint32_t expires = 0;
    qs_sam_signatures sigs;

    qs_test_samd_enrol_signer(f->d, f->c, "bob", "135790", &bob);
    qs_test_samd_create_credential(f->c, bob.user_id, QS_SAM_KEY_EC_P256, cred, &spki, &spki_len);
    random_hashes(hb, h, 3);
    EXPECT(authorize(f, &bob, cred, h, 1, 3, sad1), QS_OK);
    EXPECT(sign(f, &bob, cred, sad1, h, 1, QS_SAM_SIG_ECDSA, &sigs), QS_OK);
    qs_sam_signatures_free(&sigs);

    /* a hash already in the SAD cannot be added again */
    EXPECT(qs_sam_client_extend(f->c, bob.user_id, cred, QS_SAM_HASH_SHA256, h, 2, sad1, sad2,
                                &expires),
           QS_ERR_INVALID_ARGUMENT);
    /* more than the signatures left (3 - 1 signed = 2) */
    uint8_t extra[3][32];
    qs_sam_bytes e[3];
    random_hashes(extra, e, 3);
    EXPECT(qs_sam_client_extend(f->c, bob.user_id, cred, QS_SAM_HASH_SHA256, e, 3, sad1, sad2,
                                &expires),
           QS_ERR_TOO_MANY_SIGNATURES);
    EXPECT(qs_sam_client_extend(f->c, bob.user_id, cred, QS_SAM_HASH_SHA256, &h[1], 2, sad1, sad2,
                                &expires),
           QS_OK);
    assert_true(expires >= 1 && expires <= 300);
    assert_string_not_equal(sad1, sad2);
    /* the old SAD is retired */
    EXPECT(sign(f, &bob, cred, sad1, &h[1], 1, QS_SAM_SIG_ECDSA, &sigs), QS_ERR_SAD_INVALID);
    /* the new one carries the new hashes, not the signed one */
    EXPECT(sign(f, &bob, cred, sad2, &h[0], 1, QS_SAM_SIG_ECDSA, &sigs),
           QS_ERR_HASH_NOT_AUTHORIZED);
    EXPECT(sign(f, &bob, cred, sad2, &h[1], 2, QS_SAM_SIG_ECDSA, &sigs), QS_OK);
    assert_true(verify(spki, spki_len, QS_SAM_SIG_ECDSA, hb[1], 32, sigs.sig[0], sigs.len[0]));
    assert_true(verify(spki, spki_len, QS_SAM_SIG_ECDSA, hb[2], 32, sigs.sig[1], sigs.len[1]));
    qs_sam_signatures_free(&sigs);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'sad.extended' AND "
                                                    "result = 'success' AND sad_ref IS NOT NULL "
                                                    "AND details::jsonb ? 'previous_sad'"),
                     1);
    free(spki);
}

static void test_credential_states(void **state)
{
    fixture *f = *state;
    qs_test_signer carol;
    char cred[QS_SAM_ID_BUF], sad[QS_SAM_SAD_BUF];
    uint8_t hb[1][32];
    qs_sam_bytes h[1];

    qs_test_samd_enrol_signer(f->d, f->c, "carol", "864200", &carol);
    qs_test_samd_create_credential(f->c, carol.user_id, QS_SAM_KEY_EC_P256, cred, NULL, NULL);
    random_hashes(hb, h, 1);

    EXPECT(qs_sam_client_credential_state(f->c, cred, "officer-1", QS_SAM_STATE_LOCK,
                                          "signer reported a lost phone"),
           QS_OK);
    EXPECT(refused_authorize(f, &carol, cred, h, sad), QS_ERR_AUTH_LOCKED);
    EXPECT(qs_sam_client_credential_state(f->c, cred, "officer-1", QS_SAM_STATE_UNLOCK,
                                          "re-identified at the desk"),
           QS_OK);
    EXPECT(authorize(f, &carol, cred, h, 1, 1, sad), QS_OK);
    EXPECT(qs_sam_client_credential_state(f->c, cred, "officer-2", QS_SAM_STATE_DISABLE,
                                          "contract ended"),
           QS_OK);
    /* an SAD issued before does not survive the state change */
    qs_sam_signatures sigs;
    EXPECT(sign(f, &carol, cred, sad, h, 1, QS_SAM_SIG_ECDSA, &sigs), QS_ERR_CREDENTIAL_DISABLED);
    EXPECT(refused_authorize(f, &carol, cred, h, sad), QS_ERR_CREDENTIAL_DISABLED);
    EXPECT(qs_sam_client_credential_state(f->c, cred, "officer-2", QS_SAM_STATE_DESTROY,
                                          "certificate revoked"),
           QS_OK);
    /* final */
    EXPECT(qs_sam_client_credential_state(f->c, cred, "officer-2", QS_SAM_STATE_UNLOCK, "undo"),
           QS_ERR_CREDENTIAL_DISABLED);
    EXPECT(qs_sam_client_credential_state(f->c, "00000000-0000-4000-8000-000000000000", "officer-2",
                                          QS_SAM_STATE_LOCK, "nobody"),
           QS_ERR_NOT_FOUND);

    PGconn *conn = qs_test_pg_connect(f->d->pg->super_conninfo);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT status || ':' || (wrapped_key IS NULL)::text FROM qsign.credentials "
             "WHERE id = '%s'",
             cred);
    char *v = qs_test_pg_query_value(conn, sql);
    assert_string_equal(v, "destroyed:true");
    free(v);
    PQfinish(conn);

    assert_int_equal(qs_test_samd_audit_count(
                         f->d, "event_type = 'key.destroyed' AND actor LIKE '%actor=officer-2' "
                               "AND details::jsonb->>'reason' = 'certificate revoked'"),
                     1);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type IN ('credential.locked', "
                                                    "'credential.unlocked', "
                                                    "'credential.disabled')"),
                     3);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'credential.state_refused' AND "
                                                    "details::jsonb->>'officer_reason' = 'undo'"),
                     1);
}

/* Runs qsignctl with `args`, stdin from `input` (NULL: /dev/null); its stdout into out. */
static int run_qsignctl(fixture *f, const char *args, const char *input, char *out, size_t cap)
{
    char conf[PATH_MAX + 64], in_path[PATH_MAX + 64], out_path[PATH_MAX + 64];
    snprintf(conf, sizeof conf, "%s/qsignctl.conf", f->d->token.dir);
    snprintf(in_path, sizeof in_path, "%s/qsignctl.in", f->d->token.dir);
    snprintf(out_path, sizeof out_path, "%s/qsignctl.out", f->d->token.dir);
    FILE *c = fopen(conf, "w");
    assert_non_null(c);
    fprintf(c, "[sam]\nsocket_path = %s\n[log]\nlevel = error\n", f->d->socket_path);
    assert_int_equal(fclose(c), 0);
    FILE *i = fopen(in_path, "w");
    assert_non_null(i);
    fputs(input != NULL ? input : "", i);
    assert_int_equal(fclose(i), 0);
    int rc = qs_test_system("'%s' -c '%s' %s < '%s' > '%s'", getenv("QS_QSIGNCTL"), conf, args,
                            in_path, out_path);
    FILE *o = fopen(out_path, "r");
    assert_non_null(o);
    size_t n = fread(out, 1, cap - 1, o);
    out[n] = '\0';
    fclose(o);
    unlink(in_path);
    unlink(out_path);
    return rc;
}

static void test_qsignctl(void **state)
{
    fixture *f = *state;
    char out[2048], args[512], user[64], cred[64];
    const char *qsignctl = getenv("QS_QSIGNCTL");
    if (qsignctl == NULL || qsignctl[0] == '\0')
        fail_msg("QS_QSIGNCTL is not set");

    assert_int_equal(
        run_qsignctl(f, "user create --username dora --kind signer", NULL, out, sizeof out), 0);
    assert_int_equal(strlen(out), 37); /* a UUID and a newline */
    snprintf(user, sizeof user, "%.36s", out);

    snprintf(args, sizeof args, "user enrol --user %s", user);
    assert_int_equal(run_qsignctl(f, args, "97531\n", out, sizeof out), 1); /* too short */
    assert_int_equal(run_qsignctl(f, args, "975310\n", out, sizeof out), 0);
    qs_test_signer dora;
    memset(&dora, 0, sizeof dora);
    out[strcspn(out, "\n")] = '\0';
    assert_true(qs_test_otpauth_parse(out, &dora));
    assert_non_null(strstr(out, "issuer=qsign-test"));
    assert_non_null(strstr(out, ":dora?"));
    /* a second enrolment replaces the factors: allowed here, the test runs as an admin uid */
    assert_int_equal(run_qsignctl(f, args, "975311\n", out, sizeof out), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_true(qs_test_otpauth_parse(out, &dora));
    snprintf(dora.user_id, sizeof dora.user_id, "%s", user);
    snprintf(dora.pin, sizeof dora.pin, "975311");

    snprintf(args, sizeof args, "credential create --user %s --alg ec-p384", user);
    assert_int_equal(run_qsignctl(f, args, NULL, out, sizeof out), 0);
    assert_int_equal(strlen(out), 37);
    snprintf(cred, sizeof cred, "%.36s", out);
    assert_int_equal(
        run_qsignctl(f, "credential create --user nobody --alg ec-p256", NULL, out, sizeof out), 1);

    /* the factors set through qsignctl work (a P-384 key signs a SHA-256 digest too) */
    uint8_t hb[1][32];
    qs_sam_bytes h[1];
    char sad[QS_SAM_SAD_BUF];
    random_hashes(hb, h, 1);
    EXPECT(authorize(f, &dora, cred, h, 1, 1, sad), QS_OK);
    qs_sam_signatures sigs;
    EXPECT(sign(f, &dora, cred, sad, h, 1, QS_SAM_SIG_ECDSA, &sigs), QS_OK);
    qs_sam_signatures_free(&sigs);

    snprintf(args, sizeof args, "credential lock %s --reason 'lost token'", cred);
    assert_int_equal(run_qsignctl(f, args, NULL, out, sizeof out), 0);
    EXPECT(refused_authorize(f, &dora, cred, h, sad), QS_ERR_AUTH_LOCKED);
    snprintf(args, sizeof args, "credential destroy %s --reason 'revoked' --actor ra-7", cred);
    assert_int_equal(run_qsignctl(f, args, NULL, out, sizeof out), 0);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'key.destroyed' AND "
                                                    "actor LIKE '%actor=ra-7'"),
                     1);
    snprintf(args, sizeof args, "credential lock %s", cred); /* no --reason */
    assert_int_equal(run_qsignctl(f, args, NULL, out, sizeof out), 2);
}

typedef struct worker_arg {
    fixture *f;
    qs_test_signer signer;
    char cred[QS_SAM_ID_BUF];
    qs_err authorize_result, sign_result;
} worker_arg;

static void *parallel_signer(void *p)
{
    worker_arg *w = p;
    qs_sam_client *c = qs_test_samd_connect(w->f->d);
    fixture own = {w->f->d, c};
    uint8_t hb[3][32];
    qs_sam_bytes h[3];
    char sad[QS_SAM_SAD_BUF];
    random_hashes(hb, h, 3);
    w->authorize_result = authorize(&own, &w->signer, w->cred, h, 3, 3, sad);
    if (w->authorize_result == QS_OK) {
        qs_sam_signatures sigs;
        w->sign_result = sign(&own, &w->signer, w->cred, sad, h, 3, QS_SAM_SIG_ECDSA, &sigs);
        qs_sam_signatures_free(&sigs);
    }
    qs_sam_client_close(c);
    return NULL;
}

/* Signers at once, each on their own connection: serializable transactions and the audit group
 * commit keep every request correct. */
static void test_parallel_signers(void **state)
{
    fixture *f = *state;
    enum { N = 6 };
    worker_arg w[N];
    pthread_t th[N];
    long before = qs_test_samd_audit_count(f->d, "event_type = 'signature.created'");
    for (int i = 0; i < N; i++) {
        char name[32];
        memset(&w[i], 0, sizeof w[i]);
        w[i].f = f;
        snprintf(name, sizeof name, "parallel%d", i);
        qs_test_samd_enrol_signer(f->d, f->c, name, "102938", &w[i].signer);
        qs_test_samd_create_credential(f->c, w[i].signer.user_id, QS_SAM_KEY_EC_P256, w[i].cred,
                                       NULL, NULL);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, parallel_signer, &w[i]), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].authorize_result != QS_OK || w[i].sign_result != QS_OK)
            fail_msg("signer %d: authorize %s, sign %s", i, qs_err_name(w[i].authorize_result),
                     qs_err_name(w[i].sign_result));
    }
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'signature.created'"),
                     before + 3 * N);
}

/* Last: stop the daemon the way systemd does and verify the whole audit chain. */
/* A number from the audit tables, read as qsign_audit. */
static long audit_value(fixture *f, const char *sql)
{
    PGconn *conn = qs_test_pg_connect(f->d->pg->audit_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    long n = v != NULL ? atol(v) : -1;
    free(v);
    PQfinish(conn);
    return n;
}

static void test_stop_and_verify_chain(void **state)
{
    fixture *f = *state;
    /* The running daemon signs checkpoints on its own (each commits after its batch: allow it
     * a bounded moment). */
    long running = 0;
    for (int i = 0; i < 100 && running < 1; i++) {
        running = audit_value(f, "SELECT count(*) FROM qsign.audit_checkpoints");
        if (running < 1)
            usleep(50 * 1000);
    }
    assert_true(running >= 1);
    qs_sam_client_close(f->c);
    f->c = NULL;
    assert_int_equal(qs_test_samd_terminate(f->d, SIGTERM), 0);
    uint64_t count = 0;
    qs_err r = qs_test_samd_verify_audit(f->d, &count);
    if (r != QS_OK)
        fail_msg("audit chain: %s", qs_err_name(r));
    assert_true(count > 20);
    assert_int_equal(qs_test_samd_audit_count(f->d, "event_type = 'service.stopped'"), 1);
    assert_int_equal(qs_test_samd_audit_count(f->d, "true"), (long)count);
    /* ... and at shutdown the final head is covered by a checkpoint. */
    assert_int_equal(audit_value(f, "SELECT max(seq) FROM qsign.audit_checkpoints"), (long)count);
    /* the socket is gone after a clean stop */
    assert_int_not_equal(access(f->d->socket_path, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_ec_and_rsa),   cmocka_unit_test(test_extend),
        cmocka_unit_test(test_credential_states), cmocka_unit_test(test_qsignctl),
        cmocka_unit_test(test_parallel_signers),  cmocka_unit_test(test_stop_and_verify_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The SAM's certification and registration authority end to end: the real qsign-sam on a fresh
 * SoftHSM token and database, driven over its socket and through qsignctl, every artefact
 * checked with the openssl command line.
 *
 * Self-signed CA: CA_INIT makes the CA and OCSP responder keys in the token and the
 * certificates; a signer is registered with identity evidence and an activation code; a
 * certificate is issued for a key the SAM generates (PKCS#10 proof of possession) and verifies
 * with `openssl verify -policy 0.4.0.194112.1.2 -explicit_policy`; before activation the signer
 * cannot authorize, after it they can; the code is single use and expires; OCSP says good, then
 * revoked after REVOKE, which also destroys the key blob; the CRL verifies and lists the serial
 * with its reason; a revoked or expired certificate stops SIGN; certificates for keys the SAM
 * did not generate are refused.  External root: CA_INIT makes a request, openssl plays the
 * root, CA_IMPORT_CERT takes its certificate (and refuses one for another key), and the chain
 * root -> CA -> signer verifies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "db/db_ca.h"
#include "sam/records.h"
#include "sam/sam.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define POLICY_N_QSCD "0.4.0.194112.1.2"

static const char ca_config[] = "[ca]\n"
                                "subject_country = EE\n"
                                "subject_organization = qsign Test Trust Services\n"
                                "subject_organization_id = NTREE-10000000\n"
                                "subject_common_name = qsign Test Qualified CA\n"
                                "pds_url = https://qsign.example/pds-en\n"
                                "ca_issuers_url = http://qsign.example/pki/ca.crt\n"
                                "ocsp_url = http://qsign.example/pki/ocsp\n"
                                "crl_url = http://qsign.example/pki/crl\n"
                                "policy_oid = 1.3.6.1.4.1.99999.1.1\n"
                                "cps_uri = https://qsign.example/cps\n"
                                "retention_years = 30\n"
                                "ocsp_cache_seconds = 600\n";

typedef struct fixture {
    qs_test_samd *d;
    qs_sam_client *c;
    char dir[PATH_MAX];
    /* the signer of the main flow */
    char user_id[QS_SAM_ID_BUF];
    char code[QS_SAM_ACTIVATION_BUF];
    char cred[QS_SAM_ID_BUF];
    uint8_t serial[20];
    size_t serial_len;
    qs_test_signer s;
} fixture;

static fixture *F;

#define EXPECT(call, want) QS_TEST_SAM_EXPECT(F->d, F->c, call, want)

/* ---- files and the openssl tool -------------------------------------------------------------- */

static void path_of(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", F->dir, name);
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[PATH_MAX + 64];
    path_of(name, path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The whole file as a NUL-terminated malloc'd string (*len its size). */
static char *read_file(const char *name, size_t *len)
{
    char path[PATH_MAX + 64];
    path_of(name, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = n;
    return buf;
}

/* Runs a shell command in the test directory with stdout and stderr into `out`; returns its
 * status and the output (malloc'd) in *text when text is not NULL. */
static int run(char **text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int run(char **text, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = qs_test_system("cd '%s' && (%s) > out.txt 2>&1", F->dir, cmd);
    char *o = read_file("out.txt", NULL);
    if (text != NULL)
        *text = o;
    else
        free(o);
    return rc;
}

static void der_to_pem(const char *der_name, const char *pem_name)
{
    char *out = NULL;
    if (run(&out, "openssl x509 -inform DER -in %s -out %s", der_name, pem_name) != 0)
        fail_msg("openssl x509: %s", out);
    free(out);
}

static void serial_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", p[i]);
}

/* ---- the database, as its superuser ------------------------------------------------------------
 */

static char *sql_value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *sql_value(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *conn = qs_test_pg_connect(F->d->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    return v;
}

static void sql_ok(const char *sql)
{
    PGconn *conn = qs_test_pg_connect(F->d->pg->super_conninfo);
    qs_test_pg_exec_ok(conn, sql);
    PQfinish(conn);
}

/* A record MAC made in the token with the record-MAC key, as the SAM makes it: what someone
 * holding the key could write (the tests use it to set times the clock cannot reach). */
static void make_mac(const qs_rec *rec, uint8_t mac[static QS_REC_MAC_LEN])
{
    qs_hsm *hsm = qs_test_token_open(&F->d->token);
    qs_hsm_session *hs = NULL;
    assert_int_equal(qs_hsm_session_open(hsm, &hs), QS_OK);
    assert_int_equal(qs_rec_mac(hs, rec, mac), QS_OK);
    qs_hsm_session_close(hs);
    qs_hsm_close(hsm);
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* ---- fixture ----------------------------------------------------------------------------------
 */

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    assert_non_null(F);
    qs_test_samd_opts o = {.extra = ca_config, .max_failed_attempts = 3};
    F->d = qs_test_samd_start("ca", &o);
    F->c = qs_test_samd_connect(F->d);
    snprintf(F->dir, sizeof F->dir, "%s", F->d->token.dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qs_sam_client_close(F->c);
    if (getenv("QS_CA_TEST_KEEP") != NULL)
        fprintf(stderr, "keeping %s\n", F->dir);
    qs_test_samd_stop(F->d);
    free(F);
    return 0;
}

static void register_signer(const char *username, char user_id[static QS_SAM_ID_BUF],
                            char code[static QS_SAM_ACTIVATION_BUF])
{
    qs_sam_signer_req q = {
        .username = username,
        .profile = "qcp-n-qscd",
        .country = "EE",
        .common_name = "Mari-Liis Männik",
        .given_name = "Mari-Liis",
        .surname = "Männik",
        .serial_number = "PNOEE-48010010101",
        .method = QS_SAM_EVIDENCE_PHYSICAL,
        .document_type = QS_SAM_DOC_ID_CARD,
        .document_number = "AB 123-4567",
        .document_country = "EE",
        .notes = "seen in person at the Tallinn office",
        .actor = "officer-olga",
    };
    uint64_t expires = 0;
    EXPECT(qs_sam_client_create_signer(F->c, &q, user_id, code, &expires), QS_OK);
    assert_true(expires > (uint64_t)time(NULL) + 3600);
    assert_int_equal(strlen(code), 29);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_before_init(void **state)
{
    (void)state;
    uint8_t *der = NULL, *cert = NULL, serial[20];
    size_t len = 0, cert_len = 0, serial_len = 0;
    char id[QS_SAM_ID_BUF];
    EXPECT(qs_sam_client_crl(F->c, &der, &len), QS_ERR_CA_NOT_READY);
    qs_sam_issue_req q = {.credential_id = "00000000-0000-4000-8000-000000000001"};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, id, &cert, &cert_len, serial, &serial_len),
           QS_ERR_CA_NOT_READY);
    /* OCSP answers tryLater (an OCSPResponse, status 3), not an error */
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    EXPECT(qs_sam_client_ocsp(F->c, junk, sizeof junk, &der, &len), QS_OK);
    assert_int_equal(len, 5);
    assert_int_equal(der[4], 3);
    free(der);
}

static void test_init_self_signed(void **state)
{
    (void)state;
    uint8_t *cert = NULL, *csr = NULL;
    size_t cert_len = 0, csr_len = 0;
    EXPECT(qs_sam_client_ca_init(F->c, QS_SAM_CA_SELF_SIGNED, "operator-ann", &cert, &cert_len,
                                 &csr, &csr_len),
           QS_OK);
    assert_non_null(cert);
    assert_null(csr);
    write_file("ca.der", cert, cert_len);
    free(cert);
    der_to_pem("ca.der", "ca.pem");
    char *out = NULL;
    assert_int_equal(run(NULL, "cp ca.pem trust.pem"), 0);
    assert_int_equal(run(&out, "openssl x509 -in ca.pem -noout -text"), 0);
    assert_non_null(strstr(out, "CA:TRUE"));
    assert_non_null(strstr(out, "Certificate Sign, CRL Sign"));
    assert_non_null(strstr(out, "ASN1 OID: secp384r1"));
    assert_non_null(strstr(out, "CN = qsign Test Qualified CA"));
    free(out);
    /* once only */
    EXPECT(
        qs_sam_client_ca_init(F->c, QS_SAM_CA_SELF_SIGNED, NULL, &cert, &cert_len, &csr, &csr_len),
        QS_ERR_EXISTS);
    assert_int_equal(qs_test_samd_audit_count(F->d, "event_type = 'ca.initialized'"), 1);
    /* the CA key is a token object that never leaves the token */
    char *v = sql_value("SELECT key_label || ' ' || status FROM qsign.ca_state");
    assert_string_equal(v, "qsign-ca active");
    free(v);
}

static void test_register_and_issue(void **state)
{
    (void)state;
    register_signer("mari", F->user_id, F->code);
    char *v = sql_value("SELECT method || ' ' || document_type || ' ' || issuing_country || ' ' ||"
                        " octet_length(document_number_hash) || ' ' || (notes IS NOT NULL)::int"
                        " FROM qsign.identity_evidence WHERE user_id = '%s'",
                        F->user_id);
    assert_string_equal(v, "physical id_card EE 32 1");
    free(v);
    /* the document number is nowhere in the database */
    v = sql_value("SELECT count(*) FROM qsign.identity_evidence WHERE"
                  " position('1234567' in row_to_json(identity_evidence)::text) > 0");
    assert_string_equal(v, "0");
    free(v);
    assert_int_equal(qs_test_samd_audit_count(F->d, "event_type = 'signer.created' AND actor LIKE"
                                                    " '%actor=officer-olga%'"),
                     1);

    uint8_t *cert = NULL;
    size_t cert_len = 0;
    qs_sam_issue_req q = {.user_id = F->user_id, .alg = QS_SAM_KEY_EC_P256, .actor = "olga"};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, F->cred, &cert, &cert_len, F->serial, &F->serial_len),
           QS_OK);
    write_file("leaf.der", cert, cert_len);
    free(cert);
    der_to_pem("leaf.der", "leaf.pem");

    char *out = NULL;
    if (run(&out, "openssl verify -x509_strict -CAfile ca.pem -policy " POLICY_N_QSCD
                  " -explicit_policy leaf.pem") != 0)
        fail_msg("openssl verify: %s", out);
    assert_non_null(strstr(out, "leaf.pem: OK"));
    free(out);
    assert_int_equal(run(&out, "openssl x509 -in leaf.pem -noout -text -nameopt utf8"), 0);
    assert_non_null(strstr(out, "Non Repudiation"));
    assert_non_null(strstr(out, "Policy: " POLICY_N_QSCD));
    assert_non_null(strstr(out, "serialNumber=PNOEE-48010010101"));
    if (getenv("QS_CA_TEST_SHOW") != NULL)
        fprintf(stderr, "%s\n", out);
    assert_non_null(strstr(out, "OCSP - URI:http://qsign.example/pki/ocsp"));
    assert_non_null(strstr(out, "ecdsa-with-SHA384"));
    free(out);
    /* the certificate's key is the credential's */
    v = sql_value("SELECT count(*) FROM qsign.certificates t JOIN qsign.credentials c ON"
                  " c.id = t.credential_id WHERE c.id = '%s' AND t.status = 'valid'",
                  F->cred);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(qs_test_samd_audit_count(F->d,
                                              "event_type = 'cert.issued' AND "
                                              "details::jsonb->>'proof_of_possession' = 'pkcs10'"),
                     1);
    /* one certificate per credential */
    qs_sam_issue_req again = {.credential_id = F->cred};
    char id[QS_SAM_ID_BUF];
    uint8_t serial[20];
    size_t serial_len = 0;
    EXPECT(qs_sam_client_issue_cert(F->c, &again, id, &cert, &cert_len, serial, &serial_len),
           QS_ERR_EXISTS);
}

static void test_foreign_keys_refused(void **state)
{
    (void)state;
    char id[QS_SAM_ID_BUF];
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    /* a credential the SAM never made */
    qs_sam_issue_req q = {.credential_id = "6d1b7f6e-4a4b-4c4d-8e8f-000000000001"};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, id, &cert, &cert_len, serial, &serial_len),
           QS_ERR_NOT_FOUND);
    /* a key put into the table by someone else (any MAC they could make up) */
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    uint8_t *spki = NULL;
    int n = i2d_PUBKEY(k, &spki);
    assert_true(n > 0);
    char hex[512];
    hex_of(spki, (size_t)n, hex);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO qsign.credentials (id, user_id, key_alg, spki, wrapped_key, status,"
             " record_mac) VALUES ('6d1b7f6e-4a4b-4c4d-8e8f-000000000002', '%s', 'ec-p256',"
             " decode('%s', 'hex'), decode(repeat('ab', 40), 'hex'), 'enabled',"
             " decode(repeat('4d', 32), 'hex'))",
             F->user_id, hex);
    sql_ok(sql);
    OPENSSL_free(spki);
    EVP_PKEY_free(k);
    q.credential_id = "6d1b7f6e-4a4b-4c4d-8e8f-000000000002";
    EXPECT(qs_sam_client_issue_cert(F->c, &q, id, &cert, &cert_len, serial, &serial_len),
           QS_ERR_MAC);
    char *v = sql_value("SELECT count(*) FROM qsign.certificates");
    assert_string_equal(v, "1");
    free(v);
    assert_true(qs_test_samd_audit_count(F->d, "event_type = 'cert.refused'") >= 2);
    sql_ok("DELETE FROM qsign.credentials WHERE id = '6d1b7f6e-4a4b-4c4d-8e8f-000000000002'");
}

static void test_activation(void **state)
{
    (void)state;
    /* before activation the signer has no factors: nothing can be authorized */
    static const uint8_t digest[32] = {1, 2, 3};
    qs_sam_bytes h = {digest, sizeof digest};
    char sad[QS_SAM_SAD_BUF];
    uint32_t expires = 0;
    qs_sam_authorize_req aq = {.user_id = F->user_id,
                               .credential_id = F->cred,
                               .pin = "246810",
                               .otp = "123456",
                               .num_signatures = 1,
                               .hash_alg = QS_SAM_HASH_SHA256,
                               .hashes = &h,
                               .n_hashes = 1};
    EXPECT(qs_sam_client_authorize(F->c, &aq, sad, &expires), QS_ERR_NOT_FOUND);
    /* ENROL_FACTORS from a non-admin peer cannot take the activation's place: the SAM refuses
     * it (tested through qsignd in test_api_ra); the admin path stays for re-enrolment. */

    char *uri = NULL;
    EXPECT(qs_sam_client_activate(F->c, F->user_id, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF", "246810", NULL,
                                  NULL, &uri),
           QS_ERR_AUTH_FAILED);
    EXPECT(qs_sam_client_activate(F->c, F->user_id, "not a code", "246810", NULL, NULL, &uri),
           QS_ERR_AUTH_FAILED);
    /* a PIN outside the policy changes nothing */
    EXPECT(qs_sam_client_activate(F->c, F->user_id, F->code, "12", NULL, NULL, &uri),
           QS_ERR_AUTH_POLICY);
    /* lower case, without dashes, is the same code */
    char relaxed[QS_SAM_ACTIVATION_BUF];
    size_t k = 0;
    for (const char *p = F->code; *p != '\0'; p++)
        if (*p != '-')
            relaxed[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    relaxed[k] = '\0';
    EXPECT(qs_sam_client_activate(F->c, F->user_id, relaxed, "246810", NULL, NULL, &uri), QS_OK);
    memset(&F->s, 0, sizeof F->s);
    assert_true(qs_test_otpauth_parse(uri, &F->s));
    snprintf(F->s.user_id, sizeof F->s.user_id, "%s", F->user_id);
    snprintf(F->s.pin, sizeof F->s.pin, "246810");
    qs_secret_free(uri);
    /* single use */
    EXPECT(qs_sam_client_activate(F->c, F->user_id, F->code, "135790", NULL, NULL, &uri),
           QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_test_samd_audit_count(F->d, "event_type = 'signer.activation_refused' AND "
                                                    "details::jsonb->>'reason' = 'code_used'"),
                     1);
    /* after activation: authorize and sign */
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&F->s, otp);
    aq.otp = otp;
    EXPECT(qs_sam_client_authorize(F->c, &aq, sad, &expires), QS_OK);
    qs_sam_sign_req sq = {.user_id = F->user_id,
                          .credential_id = F->cred,
                          .sad = sad,
                          .hash_alg = QS_SAM_HASH_SHA256,
                          .hashes = &h,
                          .n_hashes = 1,
                          .scheme = QS_SAM_SIG_ECDSA};
    qs_sam_signatures sigs;
    EXPECT(qs_sam_client_sign(F->c, &sq, &sigs), QS_OK);
    qs_sam_signatures_free(&sigs);
}

static void test_activation_expiry_and_attempts(void **state)
{
    (void)state;
    char user[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF];
    register_signer("kaarel", user, code);
    /* The code's row as the SAM would write it, expired an hour ago. */
    qs_db_activation a;
    memset(&a, 0, sizeof a);
    uint8_t uid[16];
    assert_true(sam_uuid_parse(user, uid));
    memcpy(a.user_id, uid, 16);
    char *hash_hex = sql_value("SELECT encode(code_hash, 'hex') FROM qsign.activation_codes"
                               " WHERE user_id = '%s'",
                               user);
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        sscanf(hash_hex + 2 * i, "%2x", &v);
        a.code_hash[i] = (uint8_t)v;
    }
    free(hash_hex);
    int64_t now = (int64_t)time(NULL) * 1000000;
    a.created_at_us = now - 7200 * 1000000LL;
    a.expires_at_us = now - 3600 * 1000000LL;
    qs_rec rec = qs_rec_activation(&a);
    uint8_t mac[QS_REC_MAC_LEN];
    make_mac(&rec, mac);
    char mac_hex[65], sql[1024];
    hex_of(mac, sizeof mac, mac_hex);
    snprintf(sql, sizeof sql,
             "UPDATE qsign.activation_codes SET created_at = to_timestamp(%lld),"
             " expires_at = to_timestamp(%lld), record_mac = decode('%s', 'hex')"
             " WHERE user_id = '%s'",
             (long long)(a.created_at_us / 1000000), (long long)(a.expires_at_us / 1000000),
             mac_hex, user);
    sql_ok(sql);
    char *uri = NULL;
    EXPECT(qs_sam_client_activate(F->c, user, code, "246810", NULL, NULL, &uri),
           QS_ERR_AUTH_FAILED);
    assert_int_equal(qs_test_samd_audit_count(F->d, "event_type = 'signer.activation_refused' AND "
                                                    "details::jsonb->>'reason' = 'code_expired'"),
                     1);
    /* a row changed without the key is refused outright */
    sql_ok("UPDATE qsign.activation_codes SET expires_at = now() + interval '1 day'");
    EXPECT(qs_sam_client_activate(F->c, user, code, "246810", NULL, NULL, &uri), QS_ERR_MAC);

    /* wrong codes void a code after [auth] max_failed_attempts (3 here) */
    char user2[QS_SAM_ID_BUF], code2[QS_SAM_ACTIVATION_BUF];
    register_signer("liina", user2, code2);
    for (int i = 0; i < 3; i++)
        EXPECT(qs_sam_client_activate(F->c, user2, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", "246810", NULL,
                                      NULL, &uri),
               QS_ERR_AUTH_FAILED);
    EXPECT(qs_sam_client_activate(F->c, user2, code2, "246810", NULL, NULL, &uri),
           QS_ERR_AUTH_FAILED);
    char *v =
        sql_value("SELECT failed_attempts FROM qsign.activation_codes WHERE user_id = '%s'", user2);
    assert_string_equal(v, "3");
    free(v);
}

/* OCSP for the main flow's certificate through the SAM; returns openssl's verdict text. */
static char *ocsp_status(const char *tag)
{
    char *out = NULL;
    if (run(&out, "openssl ocsp -issuer ca.pem -cert leaf.pem -no_nonce -reqout req-%s.der", tag) !=
        0)
        fail_msg("openssl ocsp -reqout: %s", out);
    free(out);
    char name[64];
    snprintf(name, sizeof name, "req-%s.der", tag);
    size_t len = 0;
    char *req = read_file(name, &len);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    EXPECT(qs_sam_client_ocsp(F->c, (const uint8_t *)req, len, &resp, &resp_len), QS_OK);
    free(req);
    snprintf(name, sizeof name, "resp-%s.der", tag);
    write_file(name, resp, resp_len);
    free(resp);
    if (run(&out,
            "openssl ocsp -respin resp-%s.der -reqin req-%s.der -CAfile trust.pem -issuer ca.pem"
            " -cert leaf.pem -resp_text",
            tag, tag) != 0)
        fail_msg("openssl ocsp -respin: %s", out);
    return out;
}

static void test_ocsp_good(void **state)
{
    (void)state;
    char *out = ocsp_status("good");
    assert_non_null(strstr(out, "Response verify OK"));
    assert_non_null(strstr(out, "leaf.pem: good"));
    assert_non_null(strstr(out, "Archive Cutoff"));
    free(out);
    /* malformed: malformedRequest, a response all the same */
    static const uint8_t junk[] = {0x30, 0x80, 0x00, 0x00};
    uint8_t *resp = NULL;
    size_t len = 0;
    EXPECT(qs_sam_client_ocsp(F->c, junk, sizeof junk, &resp, &len), QS_OK);
    assert_int_equal(len, 5);
    assert_int_equal(resp[4], 1);
    free(resp);
}

static void test_revoke(void **state)
{
    (void)state;
    /* an SAD obtained before the revocation */
    static const uint8_t digest[32] = {9, 9, 9};
    qs_sam_bytes h = {digest, sizeof digest};
    char sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint32_t expires = 0;
    qs_test_signer_code(&F->s, otp);
    qs_sam_authorize_req aq = {.user_id = F->user_id,
                               .credential_id = F->cred,
                               .pin = F->s.pin,
                               .otp = otp,
                               .num_signatures = 1,
                               .hash_alg = QS_SAM_HASH_SHA256,
                               .hashes = &h,
                               .n_hashes = 1};
    EXPECT(qs_sam_client_authorize(F->c, &aq, sad, &expires), QS_OK);

    qs_sam_revoke_req rq = {.serial = F->serial,
                            .serial_len = F->serial_len,
                            .crl_reason = 1,
                            .reason = "the signer reported the phone stolen",
                            .actor = "officer-olga"};
    /* certificateHold makes no sense once the key is gone */
    rq.crl_reason = 6;
    EXPECT(qs_sam_client_revoke(F->c, &rq), QS_ERR_INVALID_ARGUMENT);
    rq.crl_reason = 1;
    EXPECT(qs_sam_client_revoke(F->c, &rq), QS_OK);
    EXPECT(qs_sam_client_revoke(F->c, &rq), QS_ERR_EXISTS);

    /* the key blob is gone with the revocation */
    char *v = sql_value("SELECT status || ' ' || (wrapped_key IS NULL)::int FROM qsign.credentials"
                        " WHERE id = '%s'",
                        F->cred);
    assert_string_equal(v, "destroyed 1");
    free(v);
    assert_int_equal(qs_test_samd_audit_count(F->d,
                                              "event_type = 'key.destroyed' AND "
                                              "details::jsonb->>'cause' = 'certificate revoked'"),
                     1);
    /* and nothing signs with it: the certificate is checked first */
    qs_sam_sign_req sq = {.user_id = F->user_id,
                          .credential_id = F->cred,
                          .sad = sad,
                          .hash_alg = QS_SAM_HASH_SHA256,
                          .hashes = &h,
                          .n_hashes = 1,
                          .scheme = QS_SAM_SIG_ECDSA};
    qs_sam_signatures sigs;
    EXPECT(qs_sam_client_sign(F->c, &sq, &sigs), QS_ERR_CERT_REVOKED);
    assert_non_null(strstr(qs_sam_client_error(F->c), "revoked"));

    char *out = ocsp_status("revoked");
    assert_non_null(strstr(out, "Response verify OK"));
    assert_non_null(strstr(out, "leaf.pem: revoked"));
    assert_non_null(strstr(out, "Reason: keyCompromise"));
    free(out);
}

static void test_crl(void **state)
{
    (void)state;
    uint8_t *der = NULL;
    size_t len = 0;
    EXPECT(qs_sam_client_crl(F->c, &der, &len), QS_OK);
    write_file("crl.der", der, len);
    free(der);
    char *out = NULL;
    if (run(&out, "openssl crl -inform DER -in crl.der -CAfile ca.pem -noout -text") != 0)
        fail_msg("openssl crl: %s", out);
    assert_non_null(strstr(out, "verify OK"));
    char hex[41];
    serial_hex(F->serial, F->serial_len, hex);
    assert_non_null(strstr(out, hex));
    assert_non_null(strstr(out, "Key Compromise"));
    assert_non_null(strstr(out, "X509v3 CRL Number"));
    free(out);
    /* the fresh CRL is served again, not made again */
    char *n1 = sql_value("SELECT max(crl_number) FROM qsign.crls");
    EXPECT(qs_sam_client_crl(F->c, &der, &len), QS_OK);
    free(der);
    char *n2 = sql_value("SELECT max(crl_number) FROM qsign.crls");
    assert_string_equal(n1, n2);
    free(n1);
    free(n2);
    /* openssl verify with the CRL: the revoked certificate fails */
    assert_int_equal(run(NULL, "openssl crl -inform DER -in crl.der -out crl.pem"), 0);
    assert_int_not_equal(run(&out, "openssl verify -crl_check -CRLfile crl.pem -CAfile ca.pem"
                                   " leaf.pem"),
                         0);
    assert_non_null(strstr(out, "certificate revoked"));
    free(out);
}

static void test_expired_certificate_stops_signing(void **state)
{
    (void)state;
    char user[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF], cred[QS_SAM_ID_BUF];
    register_signer("jaan", user, code);
    char *uri = NULL;
    EXPECT(qs_sam_client_activate(F->c, user, code, "975310", NULL, NULL, &uri), QS_OK);
    qs_test_signer s;
    memset(&s, 0, sizeof s);
    assert_true(qs_test_otpauth_parse(uri, &s));
    qs_secret_free(uri);
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    qs_sam_issue_req q = {.user_id = user, .alg = QS_SAM_KEY_EC_P384};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, cred, &cert, &cert_len, serial, &serial_len), QS_OK);
    free(cert);

    static const uint8_t digest[32] = {7};
    qs_sam_bytes h = {digest, sizeof digest};
    char sad[QS_SAM_SAD_BUF], otp[QS_TOTP_CODE_BUF];
    uint32_t expires = 0;
    qs_test_signer_code(&s, otp);
    qs_sam_authorize_req aq = {.user_id = user,
                               .credential_id = cred,
                               .pin = "975310",
                               .otp = otp,
                               .num_signatures = 1,
                               .hash_alg = QS_SAM_HASH_SHA256,
                               .hashes = &h,
                               .n_hashes = 1};
    EXPECT(qs_sam_client_authorize(F->c, &aq, sad, &expires), QS_OK);

    /* The certificate's row as the SAM would write it, had it ended a day ago. */
    qs_db *db = NULL;
    assert_int_equal(qs_db_connect(F->d->pg->sam_conninfo, &db), QS_OK);
    qs_db_certificate *row = malloc(sizeof *row);
    assert_non_null(row);
    bool found = false;
    assert_int_equal(qs_db_certificate_get(db, serial, serial_len, false, row, &found), QS_OK);
    assert_true(found);
    qs_db_free(db);
    row->not_before_us -= 400LL * 86400 * 1000000;
    row->not_after_us = ((int64_t)time(NULL) - 86400) * 1000000;
    qs_rec rec = qs_rec_certificate(row);
    uint8_t mac[QS_REC_MAC_LEN];
    make_mac(&rec, mac);
    char mac_hex[65], ser_hex[41], sql[1024];
    hex_of(mac, sizeof mac, mac_hex);
    hex_of(serial, serial_len, ser_hex);
    snprintf(sql, sizeof sql,
             "UPDATE qsign.certificates SET not_before = to_timestamp(%lld),"
             " not_after = to_timestamp(%lld), record_mac = decode('%s', 'hex')"
             " WHERE serial = decode('%s', 'hex')",
             (long long)(row->not_before_us / 1000000), (long long)(row->not_after_us / 1000000),
             mac_hex, ser_hex);
    free(row);
    sql_ok(sql);

    qs_sam_sign_req sq = {.user_id = user,
                          .credential_id = cred,
                          .sad = sad,
                          .hash_alg = QS_SAM_HASH_SHA256,
                          .hashes = &h,
                          .n_hashes = 1,
                          .scheme = QS_SAM_SIG_ECDSA};
    qs_sam_signatures sigs;
    EXPECT(qs_sam_client_sign(F->c, &sq, &sigs), QS_ERR_CERT_EXPIRED);
    assert_non_null(strstr(qs_sam_client_error(F->c), "expired"));
    assert_int_equal(qs_test_samd_audit_count(F->d,
                                              "event_type = 'sign.refused' AND "
                                              "details::jsonb->>'reason' = 'certificate_expired'"),
                     1);
}

static void test_unlock(void **state)
{
    (void)state;
    char user[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF], cred[QS_SAM_ID_BUF];
    register_signer("piret", user, code);
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    qs_sam_issue_req q = {.user_id = user, .alg = QS_SAM_KEY_EC_P256};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, cred, &cert, &cert_len, serial, &serial_len), QS_OK);
    free(cert);
    /* not locked: nothing to unlock */
    EXPECT(qs_sam_client_unlock(F->c, cred, "olga", "re-identified", NULL),
           QS_ERR_INVALID_ARGUMENT);
    EXPECT(qs_sam_client_credential_state(F->c, cred, "olga", QS_SAM_STATE_LOCK, "test"), QS_OK);
    /* an RA session that does not exist is refused even from an admin peer */
    EXPECT(qs_sam_client_unlock(F->c, cred, NULL, "re-identified",
                                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
           QS_ERR_FORBIDDEN);
    EXPECT(qs_sam_client_unlock(F->c, cred, "olga", "re-identified in person", NULL), QS_OK);
    char *v = sql_value("SELECT status || ' ' || failed_attempts FROM qsign.credentials WHERE"
                        " id = '%s'",
                        cred);
    assert_string_equal(v, "enabled 0");
    free(v);
    assert_int_equal(qs_test_samd_audit_count(F->d, "event_type = 'credential.unlocked' AND"
                                                    " details::jsonb->>'reason' ="
                                                    " 're-identified in person'"),
                     1);
}

static void test_registration_refusals(void **state)
{
    (void)state;
    char *before = sql_value("SELECT count(*) FROM qsign.users");
    qs_sam_signer_req base = {
        .username = "bad",
        .profile = "qcp-n-qscd",
        .country = "EE",
        .common_name = "Tiit Tamm",
        .given_name = "Tiit",
        .surname = "Tamm",
        .serial_number = "PNOEE-38001010101",
        .method = QS_SAM_EVIDENCE_REMOTE,
        .document_type = QS_SAM_DOC_PASSPORT,
        .document_number = "K1234567",
        .document_country = "EE",
    };
    struct {
        const char *what;
        qs_sam_signer_req q;
    } cases[8];
    for (size_t i = 0; i < 8; i++)
        cases[i].q = base;
    cases[0].what = "subject.countryName", cases[0].q.country = "XX";
    cases[1].what = "subject.serialNumber", cases[1].q.serial_number = "PNOEE48001010101";
    cases[2].what = "profile", cases[2].q.profile = "qcp-x";
    cases[3].what = "subject.pseudonym", cases[3].q.pseudonym = "Shadow";
    cases[4].what = "evidence.issuingCountry", cases[4].q.document_country = "ZZ";
    cases[5].what = "evidence.documentNumber", cases[5].q.document_number = "\xc3\xa9!";
    cases[6].what = "username", cases[6].q.username = "-x";
    cases[7].what = "subject.organizationName", cases[7].q.organization = "Acme";
    for (size_t i = 0; i < 8; i++) {
        char id[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF];
        uint64_t exp = 0;
        EXPECT(qs_sam_client_create_signer(F->c, &cases[i].q, id, code, &exp),
               QS_ERR_INVALID_ARGUMENT);
        if (strstr(qs_sam_client_error(F->c), cases[i].what) == NULL)
            fail_msg("case %zu: \"%s\" does not name %s", i, qs_sam_client_error(F->c),
                     cases[i].what);
    }
    char *after = sql_value("SELECT count(*) FROM qsign.users");
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* a legal person under the seal profile is fine */
    qs_sam_signer_req seal = {
        .username = "acme-seal",
        .profile = "qcp-l-qscd",
        .country = "BE",
        .common_name = "Acme Seal",
        .organization = "Acme NV",
        .organization_id = "VATBE-0123456789",
        .method = QS_SAM_EVIDENCE_PHYSICAL,
        .document_type = QS_SAM_DOC_ID_CARD,
        .document_number = "592-1234567-89",
        .document_country = "BE",
    };
    char id[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF], cred[QS_SAM_ID_BUF];
    uint64_t exp = 0;
    EXPECT(qs_sam_client_create_signer(F->c, &seal, id, code, &exp), QS_OK);
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    qs_sam_issue_req q = {.user_id = id, .alg = QS_SAM_KEY_RSA2048};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, cred, &cert, &cert_len, serial, &serial_len), QS_OK);
    write_file("seal.der", cert, cert_len);
    free(cert);
    der_to_pem("seal.der", "seal.pem");
    char *out = NULL;
    if (run(&out, "openssl verify -x509_strict -CAfile ca.pem -policy 0.4.0.194112.1.3"
                  " -explicit_policy seal.pem") != 0)
        fail_msg("openssl verify (seal): %s", out);
    free(out);
    /* the natural-person profile does not fit a legal person's evidence */
    char id2[QS_SAM_ID_BUF];
    seal.username = "acme-seal-2";
    EXPECT(qs_sam_client_create_signer(F->c, &seal, id2, code, &exp), QS_OK);
    q = (qs_sam_issue_req){.user_id = id2, .alg = QS_SAM_KEY_EC_P256, .profile = "qcp-n-qscd"};
    EXPECT(qs_sam_client_issue_cert(F->c, &q, cred, &cert, &cert_len, serial, &serial_len),
           QS_ERR_INVALID_ARGUMENT);
    char *v = sql_value("SELECT count(*) FROM qsign.credentials c JOIN qsign.users u ON"
                        " u.id = c.user_id WHERE u.username = 'acme-seal-2'");
    assert_string_equal(v, "0");
    free(v);
}

/* Writes qsignctl.conf for the current daemon; returns the qsignctl binary. */
static const char *ctl_setup(void)
{
    char conf[PATH_MAX + 64];
    path_of("qsignctl.conf", conf, sizeof conf);
    FILE *c = fopen(conf, "w");
    assert_non_null(c);
    fprintf(c, "[sam]\nsocket_path = %s\n[log]\nlevel = error\n", F->d->socket_path);
    assert_int_equal(fclose(c), 0);
    const char *ctl = getenv("QS_QSIGNCTL");
    if (ctl == NULL || ctl[0] == '\0')
        fail_msg("QS_QSIGNCTL is not set");
    return ctl;
}

static void test_qsignctl_and_renewal(void **state)
{
    (void)state;
    const char *ctl = ctl_setup();
    char *out = NULL;
    if (run(&out,
            "echo 'X 9876543' | '%s' -c qsignctl.conf signer create --username tiiu --country EE"
            " --common-name 'Tiiu Tamm' --given-name Tiiu --surname Tamm --serial-number"
            " PNOEE-49001010101 --method physical --document-type passport --document-country EE",
            ctl) != 0)
        fail_msg("signer create: %s", out);
    char user[64] = "";
    assert_int_equal(sscanf(strstr(out, "user "), "user %63s", user), 1);
    assert_non_null(strstr(out, "activation-code "));
    free(out);
    if (run(&out, "'%s' -c qsignctl.conf cert issue --user %s --alg ec-p256 --out tiiu.pem", ctl,
            user) != 0)
        fail_msg("cert issue: %s", out);
    char serial[64] = "";
    assert_int_equal(sscanf(strstr(out, "serial "), "serial %63s", serial), 1);
    free(out);
    assert_int_equal(run(&out, "openssl verify -CAfile ca.pem -policy " POLICY_N_QSCD
                               " -explicit_policy tiiu.pem"),
                     0);
    free(out);
    if (run(&out, "'%s' -c qsignctl.conf cert revoke %s --reason superseded", ctl, serial) != 0)
        fail_msg("cert revoke: %s", out);
    free(out);
    assert_int_not_equal(
        run(&out, "'%s' -c qsignctl.conf cert revoke %s --reason certificateHold", ctl, serial), 0);
    free(out);
    if (run(&out,
            "'%s' -c qsignctl.conf crl crl2.der && openssl crl -inform DER -in crl2.der"
            " -CAfile ca.pem -noout -text",
            ctl) != 0)
        fail_msg("crl: %s", out);
    assert_non_null(strstr(out, "Superseded"));
    free(out);
    /* a new responder certificate; status still verifies */
    if (run(&out, "'%s' -c qsignctl.conf ca renew-ocsp --out ocsp2.pem", ctl) != 0)
        fail_msg("ca renew-ocsp: %s", out);
    free(out);
    out = ocsp_status("renewed");
    assert_non_null(strstr(out, "Response verify OK"));
    assert_non_null(strstr(out, "leaf.pem: revoked"));
    free(out);
}

static void test_audit_chain(void **state)
{
    (void)state;
    uint64_t n = 0;
    assert_int_equal(qs_test_samd_verify_audit(F->d, &n), QS_OK);
    assert_true(n > 20);
}

/* ---- an external root --------------------------------------------------------------------------
 */

static void test_external_root(void **state)
{
    (void)state;
    qs_test_samd_opts o = {.extra = ca_config};
    qs_test_samd *d = qs_test_samd_start("caext", &o);
    qs_sam_client *c = qs_test_samd_connect(d);
    qs_test_samd *keep_d = F->d;
    qs_sam_client *keep_c = F->c;
    char keep_dir[PATH_MAX];
    snprintf(keep_dir, sizeof keep_dir, "%s", F->dir);
    F->d = d;
    F->c = c;
    snprintf(F->dir, sizeof F->dir, "%s", d->token.dir);

    const char *ctl = ctl_setup();
    char *out = NULL;
    if (run(&out, "'%s' -c qsignctl.conf ca init --csr ca.csr.pem", ctl) != 0)
        fail_msg("ca init --csr: %s", out);
    free(out);
    uint8_t *cert = NULL;
    size_t cert_len = 0;
    /* pending: nothing is issued yet */
    char id[QS_SAM_ID_BUF];
    uint8_t serial[20];
    size_t serial_len = 0;
    qs_sam_issue_req none = {.credential_id = "00000000-0000-4000-8000-000000000001"};
    EXPECT(qs_sam_client_issue_cert(c, &none, id, &cert, &cert_len, serial, &serial_len),
           QS_ERR_CA_NOT_READY);

    static const char ext[] = "[v3_root]\n"
                              "basicConstraints = critical, CA:TRUE\n"
                              "keyUsage = critical, keyCertSign, cRLSign\n"
                              "subjectKeyIdentifier = hash\n"
                              "[v3_ca]\n"
                              "basicConstraints = critical, CA:TRUE, pathlen:0\n"
                              "keyUsage = critical, keyCertSign, cRLSign\n"
                              "subjectKeyIdentifier = hash\n"
                              "authorityKeyIdentifier = keyid\n"
                              "certificatePolicies = 2.5.29.32.0\n";
    write_file("ext.cnf", (const uint8_t *)ext, sizeof ext - 1);
    if (run(&out, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out root.key"
                  " && openssl req -new -key root.key -subj '/C=EE/O=Test Root/CN=Test Root'"
                  " -out root.csr && openssl x509 -req -in root.csr -signkey root.key -days 7300"
                  " -extfile ext.cnf -extensions v3_root -out root.pem") != 0)
        fail_msg("root: %s", out);
    free(out);
    if (run(&out,
            "openssl x509 -req -in ca.csr.pem -CA root.pem -CAkey root.key"
            " -CAcreateserial -days 3650 -extfile ext.cnf -extensions v3_ca -out ca.pem") != 0)
        fail_msg("signing the CA request: %s", out);
    free(out);

    /* a certificate for another key is refused */
    assert_int_not_equal(run(&out, "'%s' -c qsignctl.conf ca import-cert root.pem", ctl), 0);
    assert_non_null(strstr(out, "not for the CA key"));
    free(out);
    assert_int_equal(run(NULL, "cat root.pem ca.pem > trust.pem"), 0);
    if (run(&out, "'%s' -c qsignctl.conf ca import-cert ca.pem", ctl) != 0)
        fail_msg("ca import-cert: %s", out);
    free(out);
    /* DER works too, and once only */
    assert_int_equal(run(NULL, "openssl x509 -in ca.pem -outform DER -out ca.der"), 0);
    size_t len = 0;
    char *der = read_file("ca.der", &len);
    uint8_t *ocsp = NULL;
    size_t ocsp_len = 0;
    EXPECT(qs_sam_client_ca_import_cert(c, (const uint8_t *)der, len, NULL, &ocsp, &ocsp_len),
           QS_ERR_EXISTS);
    free(der);

    char user[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF], cred[QS_SAM_ID_BUF];
    register_signer("ext-mari", user, code);
    qs_sam_issue_req q = {.user_id = user, .alg = QS_SAM_KEY_EC_P256};
    EXPECT(qs_sam_client_issue_cert(c, &q, cred, &cert, &cert_len, serial, &serial_len), QS_OK);
    write_file("leaf.der", cert, cert_len);
    free(cert);
    der_to_pem("leaf.der", "leaf.pem");
    if (run(&out,
            "openssl verify -x509_strict -CAfile root.pem -untrusted ca.pem -policy " POLICY_N_QSCD
            " -explicit_policy leaf.pem") != 0)
        fail_msg("chain: %s", out);
    free(out);
    /* the SAM reopens the pending-then-active CA after a restart */
    assert_int_equal(qs_test_samd_terminate(d, SIGTERM), 0);
    qs_test_samd_launch(d);
    qs_sam_client_close(c);
    c = qs_test_samd_connect(d);
    F->c = c;
    out = ocsp_status("ext");
    assert_non_null(strstr(out, "leaf.pem: good"));
    free(out);

    qs_sam_client_close(c);
    qs_test_samd_stop(d);
    F->d = keep_d;
    F->c = keep_c;
    snprintf(F->dir, sizeof F->dir, "%s", keep_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_init),
        cmocka_unit_test(test_init_self_signed),
        cmocka_unit_test(test_register_and_issue),
        cmocka_unit_test(test_foreign_keys_refused),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_activation_expiry_and_attempts),
        cmocka_unit_test(test_ocsp_good),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_expired_certificate_stops_signing),
        cmocka_unit_test(test_unlock),
        cmocka_unit_test(test_registration_refusals),
        cmocka_unit_test(test_qsignctl_and_renewal),
        cmocka_unit_test(test_audit_chain),
        cmocka_unit_test(test_external_root),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Evidence of sole control, end to end: the real qsign-sam on a fresh SoftHSM token and
 * database (checkpoints only when it stops: [sam] checkpoint_every_records and _seconds 0),
 * with a CA, two signers registered by an officer with identity evidence, certificates issued
 * for keys the SAM generated, activation, authorizations (one extended) and real signatures
 * (ECDSA P-256 over SHA-256, RSA-2048 PKCS#1 and PSS over SHA-384).  Then, through the real
 * qsignctl as an auditor would run it:
 *
 * - before any checkpoint, `audit evidence` refuses and says to try again after the next one;
 * - after the SAM stopped (its final checkpoint), the bundles found by record, by signature
 *   value and by hash all pass `audit check-evidence` with the key `audit key export` wrote
 *   (from the database, and the same from the HSM) and the CA certificate; a hash signed under
 *   two SADs lists both and asks for --record;
 * - the same bundle with any one byte changed fails, at every byte position (in-process through
 *   qs_evidence_check; see test_every_byte for the cost), and so do a record rewritten with its
 *   chain recomputed, another valid certificate, another valid signature value;
 * - the wrong audit key or the wrong CA makes check-evidence fail naming the check;
 * - records on both sides of a checkpoint give a bundle of two segments of one chain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <sodium.h>

#include "sam/audit.h"
#include "sam/evidence.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static const char sam_config[] = "[ca]\n"
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
                                 "ocsp_cache_seconds = 600\n"
                                 "[sam]\n"
                                 "checkpoint_every_records = 0\n"
                                 "checkpoint_every_seconds = 0\n";

/* A signer of the test with their credential and certificate. */
typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
} signer;

/* A signature made in the test: the value, the digest it signed, its record. */
typedef struct made {
    uint8_t value[QS_EVIDENCE_SIGNATURE_MAX];
    size_t len;
    uint8_t hash[64];
    size_t hash_len;
    char record[96]; /* WRITER/SEQ */
} made;

typedef struct fixture {
    qs_test_samd *d;
    qs_sam_client *c;
    const char *ctl;
    char dir[PATH_MAX];
    char conf[PATH_MAX + 32];
    signer a, b;
    made sig1, sig1b, sig3, sig4, sig6;
    uint8_t h1[32], h3[48], h4[48], h5[48], h6[48];
} fixture;

static fixture *F;

#define EXPECT(call, want) QS_TEST_SAM_EXPECT(F->d, F->c, call, want)

/* ---- files, qsignctl, openssl ------------------------------------------------------------- */

static void path_of(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", F->dir, name);
}

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[PATH_MAX + 64];
    path_of(name, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap + 1);
        assert_non_null(buf);
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[PATH_MAX + 64];
    path_of(name, path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

typedef struct ctl_out {
    int rc;
    char *out, *err;
} ctl_out;

static ctl_out ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs `qsignctl -c CONF ARGS` in the test directory. */
static ctl_out ctl(const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    ctl_out o;
    o.rc = qs_test_system("cd '%s' && '%s' -c '%s' %s > ctl.out 2> ctl.err", F->dir, F->ctl,
                          F->conf, args);
    o.out = (char *)read_file("ctl.out", NULL);
    o.err = (char *)read_file("ctl.err", NULL);
    return o;
}

static void ctl_free(ctl_out *o)
{
    free(o->out);
    free(o->err);
}

/* Fails the test, showing what qsignctl printed. */
static void ctl_fail(const ctl_out *o, const char *what)
{
    fail_msg("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, o->rc, o->out, o->err);
}

/* Runs a shell command in the test directory; its status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return qs_test_system("cd '%s' && (%s) > sh.out 2>&1", F->dir, cmd);
}

static void b64_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    assert_true(cap >= sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

/* ---- the SAM ------------------------------------------------------------------------------ */

static void write_ctl_config(void)
{
    char pin[PATH_MAX + 32];
    qs_test_token_secret_file(&F->d->token, "ctl-pin", F->d->token.pin, pin, sizeof pin);
    FILE *f = fopen(F->conf, "w");
    assert_non_null(f);
    fprintf(f,
            "[database]\naudit_conninfo = %s\n[hsm]\nmodule = %s\ntoken_label = %s\n"
            "pin_file = %s\n[sam]\nsocket_path = %s\n[log]\nlevel = error\n",
            F->d->pg->audit_conninfo, F->d->token.module, F->d->token.label, pin,
            F->d->socket_path);
    assert_int_equal(fclose(f), 0);
}

/* Stops the SAM (SIGTERM: it signs the final checkpoint) and starts it again. */
static void restart_sam(void)
{
    qs_sam_client_close(F->c);
    assert_int_equal(qs_test_samd_terminate(F->d, SIGTERM), 0);
    qs_test_samd_launch(F->d);
    F->c = qs_test_samd_connect(F->d);
}

static long long count_of(const char *sql)
{
    PGconn *conn = qs_test_pg_connect(F->d->pg->audit_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    long long n = v != NULL ? atoll(v) : -1;
    free(v);
    return n;
}

/* The WRITER/SEQ of the signature.created record holding the SHA-256 of a value. */
static void record_of(made *m)
{
    uint8_t d[32];
    char hex[65], sql[512];
    crypto_hash_sha256(d, m->value, m->len);
    hex_of(d, sizeof d, hex);
    snprintf(sql, sizeof sql,
             "SELECT writer_id || '/' || seq FROM qsign.audit_log WHERE event_type ="
             " 'signature.created' AND details::jsonb->>'signature_sha256' = '%s'",
             hex);
    PGconn *conn = qs_test_pg_connect(F->d->pg->audit_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    assert_non_null(v);
    snprintf(m->record, sizeof m->record, "%s", v);
    free(v);
}

/* An officer registers a signer with identity evidence; a certificate is issued for a new key
 * of `alg`; the signer activates (PIN and TOTP of their own). */
static void enrol(signer *sg, const char *username, const char *cn, qs_sam_key_alg alg)
{
    char user[QS_SAM_ID_BUF], code[QS_SAM_ACTIVATION_BUF];
    uint64_t expires = 0;
    qs_sam_signer_req q = {
        .username = username,
        .profile = "qcp-n-qscd",
        .country = "EE",
        .common_name = cn,
        .given_name = "Test",
        .surname = "Signer",
        .serial_number = "PNOEE-48010010101",
        .method = QS_SAM_EVIDENCE_PHYSICAL,
        .document_type = QS_SAM_DOC_ID_CARD,
        .document_number = "AB 123-4567",
        .document_country = "EE",
        .actor = "officer-olga",
    };
    EXPECT(qs_sam_client_create_signer(F->c, &q, user, code, &expires), QS_OK);
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    qs_sam_issue_req iq = {.user_id = user, .alg = alg, .actor = "officer-olga"};
    EXPECT(qs_sam_client_issue_cert(F->c, &iq, sg->cred, &cert, &cert_len, serial, &serial_len),
           QS_OK);
    free(cert);
    char *uri = NULL;
    EXPECT(qs_sam_client_activate(F->c, user, code, "246810", NULL, NULL, &uri), QS_OK);
    memset(&sg->s, 0, sizeof sg->s);
    assert_true(qs_test_otpauth_parse(uri, &sg->s));
    qs_secret_free(uri);
    snprintf(sg->s.user_id, sizeof sg->s.user_id, "%s", user);
    snprintf(sg->s.pin, sizeof sg->s.pin, "246810");
}

static void authorize(signer *sg, qs_sam_hash_alg alg, const qs_sam_bytes *h, size_t n,
                      uint32_t num, char sad[static QS_SAM_SAD_BUF])
{
    char otp[QS_TOTP_CODE_BUF];
    uint32_t expires = 0;
    qs_test_signer_code(&sg->s, otp);
    qs_sam_authorize_req q = {.user_id = sg->s.user_id,
                              .credential_id = sg->cred,
                              .pin = sg->s.pin,
                              .otp = otp,
                              .num_signatures = num,
                              .hash_alg = alg,
                              .hashes = h,
                              .n_hashes = n,
                              .description = "contract \"2024/17\""};
    EXPECT(qs_sam_client_authorize(F->c, &q, sad, &expires), QS_OK);
}

static void sign(signer *sg, const char *sad, qs_sam_hash_alg alg, const uint8_t *hash,
                 size_t hash_len, qs_sam_sig_scheme scheme, made *out)
{
    qs_sam_bytes h = {hash, hash_len};
    qs_sam_sign_req q = {.user_id = sg->s.user_id,
                         .credential_id = sg->cred,
                         .sad = sad,
                         .hash_alg = alg,
                         .hashes = &h,
                         .n_hashes = 1,
                         .scheme = scheme};
    qs_sam_signatures sigs;
    EXPECT(qs_sam_client_sign(F->c, &q, &sigs), QS_OK);
    assert_int_equal(sigs.n, 1);
    assert_true(sigs.len[0] <= sizeof out->value);
    memcpy(out->value, sigs.sig[0], sigs.len[0]);
    out->len = sigs.len[0];
    memcpy(out->hash, hash, hash_len);
    out->hash_len = hash_len;
    qs_sam_signatures_free(&sigs);
}

/* ---- in-process checks -------------------------------------------------------------------- */

static qs_evidence_trust *trust_of(const char *key_file, const char *ca_file)
{
    size_t kl = 0, cl = 0;
    char *k = (char *)read_file(key_file, &kl), *c = (char *)read_file(ca_file, &cl), why[256];
    qs_evidence_trust *t = NULL;
    if (qs_evidence_trust_new(k, kl, c, cl, &t, why, sizeof why) != QS_OK)
        fail_msg("trust: %s", why);
    free(k);
    free(c);
    return t;
}

/* The first failing check of a bundle held in memory (QS_EVIDENCE_CHECK_COUNT: none). */
static qs_evidence_check_id first_failure(const qs_evidence_trust *t, const uint8_t *buf,
                                          size_t len)
{
    qs_evidence_verdict v;
    qs_err r = qs_evidence_check(t, buf, len, QS_EVIDENCE_STOP_AT_FIRST, NULL, NULL, &v);
    if (r == QS_OK) {
        assert_false(v.any_failed);
        return QS_EVIDENCE_CHECK_COUNT;
    }
    assert_int_equal(r, QS_ERR_MAC);
    assert_true(v.any_failed);
    return v.first_failed;
}

/* The canonical text of a JSON value, as the bundle format defines it. */
static char *canonical(json_t *root, size_t *len)
{
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(s);
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    assert_non_null(t);
    memcpy(t, s, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    free(s);
    *len = n + 1;
    return t;
}

static json_t *load_json(const char *name)
{
    size_t len = 0;
    uint8_t *buf = read_file(name, &len);
    json_error_t e;
    json_t *j = json_loadb((const char *)buf, len, 0, &e);
    free(buf);
    if (j == NULL)
        fail_msg("%s: %s", name, e.text);
    return j;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    assert_non_null(F);
    F->ctl = getenv("QS_QSIGNCTL");
    if (F->ctl == NULL || F->ctl[0] == '\0')
        qs_test_skip("QS_QSIGNCTL (path of the qsignctl binary) is not set");
    qs_test_samd_opts o = {.extra = sam_config};
    F->d = qs_test_samd_start("evidence", &o);
    F->c = qs_test_samd_connect(F->d);
    snprintf(F->dir, sizeof F->dir, "%s", F->d->token.dir);
    snprintf(F->conf, sizeof F->conf, "%s/qsignctl.conf", F->dir);
    write_ctl_config();
    for (size_t i = 0; i < sizeof F->h1; i++)
        F->h1[i] = (uint8_t)(0x10 + i);
    for (size_t i = 0; i < 48; i++) {
        F->h3[i] = (uint8_t)(0x30 + i);
        F->h4[i] = (uint8_t)(0x40 + i);
        F->h5[i] = (uint8_t)(0x50 + i);
        F->h6[i] = (uint8_t)(0x60 + i);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qs_sam_client_close(F->c);
    if (getenv("QS_EVIDENCE_TEST_KEEP") != NULL) {
        /* the bundles and what checks them, to look at (or to seed the fuzzer with) */
        char keep[PATH_MAX];
        qs_test_tmpdir("evidence-kept", keep, sizeof keep);
        if (sh("cp *.json audit.pem ca.pem '%s'", keep) == 0)
            fprintf(stderr, "bundles kept in %s\n", keep);
    }
    qs_test_samd_stop(F->d);
    free(F);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_sign_before_checkpoint(void **state)
{
    (void)state;
    uint8_t *ca = NULL, *csr = NULL;
    size_t ca_len = 0, csr_len = 0;
    EXPECT(qs_sam_client_ca_init(F->c, QS_SAM_CA_SELF_SIGNED, "operator-ann", &ca, &ca_len, &csr,
                                 &csr_len),
           QS_OK);
    write_file("ca.der", ca, ca_len);
    free(ca);
    assert_int_equal(sh("openssl x509 -inform DER -in ca.der -out ca.pem"), 0);

    enrol(&F->a, "mari", "Mari-Liis Männik", QS_SAM_KEY_EC_P256);
    enrol(&F->b, "tiiu", "Tiiu Tamm", QS_SAM_KEY_RSA2048);

    /* signer a: the same hash under two SADs */
    char sad[QS_SAM_SAD_BUF];
    qs_sam_bytes h1 = {F->h1, sizeof F->h1};
    authorize(&F->a, QS_SAM_HASH_SHA256, &h1, 1, 1, sad);
    sign(&F->a, sad, QS_SAM_HASH_SHA256, F->h1, sizeof F->h1, QS_SAM_SIG_ECDSA, &F->sig1);
    authorize(&F->a, QS_SAM_HASH_SHA256, &h1, 1, 1, sad);
    sign(&F->a, sad, QS_SAM_HASH_SHA256, F->h1, sizeof F->h1, QS_SAM_SIG_ECDSA, &F->sig1b);

    /* signer b: h4 and h5 authorized, h3 added by an extension, h3 (PSS) and h4 (PKCS#1) signed
     * with the extended SAD */
    qs_sam_bytes hb[2] = {{F->h4, 48}, {F->h5, 48}}, h3 = {F->h3, 48};
    char sad2[QS_SAM_SAD_BUF];
    authorize(&F->b, QS_SAM_HASH_SHA384, hb, 2, 3, sad);
    uint32_t expires = 0;
    EXPECT(qs_sam_client_extend(F->c, F->b.s.user_id, F->b.cred, QS_SAM_HASH_SHA384, &h3, 1, sad,
                                sad2, &expires),
           QS_OK);
    sign(&F->b, sad2, QS_SAM_HASH_SHA384, F->h3, 48, QS_SAM_SIG_RSA_PSS, &F->sig3);
    sign(&F->b, sad2, QS_SAM_HASH_SHA384, F->h4, 48, QS_SAM_SIG_RSA_PKCS1, &F->sig4);
    qs_wipe(sad, sizeof sad);
    qs_wipe(sad2, sizeof sad2);
    record_of(&F->sig1);
    record_of(&F->sig1b);
    record_of(&F->sig3);
    record_of(&F->sig4);
    assert_int_equal(count_of("SELECT count(*) FROM qsign.audit_checkpoints"), 0);

    /* nothing is checkpointed yet: the bundle would prove nothing */
    ctl_out o = ctl("audit evidence --record %s --out early.json", F->sig1.record);
    if (o.rc != 1 || strstr(o.err, "has no signed checkpoint at or after it yet") == NULL ||
        strstr(o.err, "try again after writer") == NULL)
        ctl_fail(&o, "evidence before a checkpoint");
    ctl_free(&o);
    char early[PATH_MAX + 64];
    path_of("early.json", early, sizeof early);
    assert_int_not_equal(access(early, F_OK), 0);

    restart_sam();
    assert_int_equal(count_of("SELECT count(*) FROM qsign.audit_checkpoints"), 1);
}

static void expect_valid(const char *bundle, bool has_value)
{
    ctl_out o = ctl("audit check-evidence %s --audit-key audit.pem --ca-cert ca.pem", bundle);
    static const char *const needles[] = {
        "ok      format:",
        "ok      canonical:",
        "ok      record-hashes:",
        "ok      hash-links:",
        "ok      checkpoint-heads:",
        "ok      checkpoint-signatures:",
        "n/a     record-macs:",
        "ok      references:",
        "ok      signature-record:",
        "ok      authorization: ",
        "ok      authorized-hashes:",
        "ok      enrolment:",
        "ok      identity-validation:",
        "ok      key-generation:",
        "ok      certificate-issuance:",
        "ok      certificate-chain:",
        "verdict: VALID",
    };
    if (o.rc != 0)
        ctl_fail(&o, bundle);
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (strstr(o.out, needles[i]) == NULL)
            ctl_fail(&o, needles[i]);
    if (strstr(o.out, has_value ? "ok      signature-value:" : "n/a     signature-value:") == NULL)
        ctl_fail(&o, "signature-value");
    if (strstr(o.out, "factors pin,totp verified") == NULL)
        ctl_fail(&o, "factors");
    ctl_free(&o);
}

static void test_bundles_verify(void **state)
{
    (void)state;
    /* the audit key, from the database as the auditor and from the token: the same */
    ctl_out o = ctl("audit key export --out audit.pem");
    if (o.rc != 0 || strstr(o.out, "exported 1 audit key") == NULL)
        ctl_fail(&o, "audit key export");
    ctl_free(&o);
    o = ctl("audit key export --hsm --out audit-hsm.pem");
    if (o.rc != 0)
        ctl_fail(&o, "audit key export --hsm");
    ctl_free(&o);
    assert_int_equal(sh("cmp audit.pem audit-hsm.pem && openssl pkey -pubin -in audit.pem -noout"),
                     0);

    /* by record: no signature value to check */
    o = ctl("audit evidence --record %s --out by-record.json", F->sig1.record);
    if (o.rc != 0 || strstr(o.out, "written to by-record.json") == NULL)
        ctl_fail(&o, "evidence --record");
    ctl_free(&o);
    expect_valid("by-record.json", false);

    /* by signature value: verified with the certificate */
    char b64[1024], hex[256];
    b64_of(F->sig1.value, F->sig1.len, b64, sizeof b64);
    o = ctl("audit evidence --signature '%s' --out by-signature.json", b64);
    if (o.rc != 0)
        ctl_fail(&o, "evidence --signature");
    ctl_free(&o);
    expect_valid("by-signature.json", true);

    /* the two bundles differ only by the value */
    json_t *r = load_json("by-record.json"), *s = load_json("by-signature.json");
    assert_int_equal(json_object_del(json_object_get(s, "signature"), "value"), 0);
    assert_true(json_equal(r, s));
    json_decref(r);
    json_decref(s);

    /* by hash: h1 was signed under two SADs, so the lookup is ambiguous */
    hex_of(F->h1, sizeof F->h1, hex);
    o = ctl("audit evidence --hash %s --out ambiguous.json", hex);
    if (o.rc != 1 || strstr(o.err, "2 signature records match") == NULL ||
        strstr(o.err, F->sig1.record) == NULL || strstr(o.err, F->sig1b.record) == NULL)
        ctl_fail(&o, "ambiguous --hash");
    ctl_free(&o);
    /* the record or the value settles it */
    b64_of(F->sig1b.value, F->sig1b.len, b64, sizeof b64);
    o = ctl("audit evidence --hash %s --signature '%s' --out by-hash-and-value.json", hex, b64);
    if (o.rc != 0 || strstr(o.out, F->sig1b.record) == NULL)
        ctl_fail(&o, "evidence --hash --signature");
    ctl_free(&o);
    expect_valid("by-hash-and-value.json", true);

    /* by hash, base64: an extended SAD, RSASSA-PSS over SHA-384 */
    b64_of(F->h3, 48, b64, sizeof b64);
    o = ctl("audit evidence --hash '%s' --out by-hash.json", b64);
    if (o.rc != 0 || strstr(o.out, F->sig3.record) == NULL)
        ctl_fail(&o, "evidence --hash");
    ctl_free(&o);
    expect_valid("by-hash.json", false);
    json_t *h = load_json("by-hash.json");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(h, "authorization"), "extensions")), 1);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(h, "authorization"), "hashes")), 3);
    json_decref(h);

    /* PSS and PKCS#1 values verify with the RSA certificate */
    b64_of(F->sig3.value, F->sig3.len, b64, sizeof b64);
    o = ctl("audit evidence --signature '%s' --out pss.json", b64);
    if (o.rc != 0)
        ctl_fail(&o, "evidence PSS");
    ctl_free(&o);
    expect_valid("pss.json", true);
    b64_of(F->sig4.value, F->sig4.len, b64, sizeof b64);
    o = ctl("audit evidence --record %s --signature '%s' --out pkcs1.json", F->sig4.record, b64);
    if (o.rc != 0)
        ctl_fail(&o, "evidence PKCS#1");
    ctl_free(&o);
    expect_valid("pkcs1.json", true);

    /* offline means offline: no config file at all */
    assert_int_equal(sh("'%s' -c /nonexistent/qsignctl.conf audit check-evidence by-hash.json"
                        " --audit-key audit.pem --ca-cert ca.pem | grep -q 'verdict: VALID'",
                        F->ctl),
                     0);
}

static void test_lookup_refusals(void **state)
{
    (void)state;
    char rec[128], hex[129];
    /* a record that is not a signature: the authorization of sig1 */
    char *slash = strchr(F->sig1.record, '/');
    assert_non_null(slash);
    snprintf(rec, sizeof rec, "%.*s/%lld", (int)(slash - F->sig1.record), F->sig1.record,
             atoll(slash + 1) - 1);
    ctl_out o = ctl("audit evidence --record %s", rec);
    if (o.rc != 1 || strstr(o.err, "not a signature (signature.created)") == NULL)
        ctl_fail(&o, "evidence of a non-signature record");
    ctl_free(&o);
    o = ctl("audit evidence --record %.*s/999999", (int)(slash - F->sig1.record), F->sig1.record);
    if (o.rc != 1 || strstr(o.err, "there is no audit record") == NULL)
        ctl_fail(&o, "evidence of a missing record");
    ctl_free(&o);
    hex_of(F->h6, 48, hex);
    o = ctl("audit evidence --hash %s", hex);
    if (o.rc != 1 || strstr(o.err, "no signature record signed this hash") == NULL)
        ctl_fail(&o, "evidence of a hash never signed");
    ctl_free(&o);
    /* a value that is not sig1's, with sig1's record */
    char b64[1024];
    b64_of(F->sig1b.value, F->sig1b.len, b64, sizeof b64);
    o = ctl("audit evidence --record %s --signature '%s'", F->sig1.record, b64);
    if (o.rc != 1 || strstr(o.err, "is not the one audit record") == NULL)
        ctl_fail(&o, "evidence with a foreign value");
    ctl_free(&o);
    /* usage errors */
    static const char *const bad[] = {
        "audit evidence",
        "audit evidence --record nowriter",
        "audit evidence --record w/0",
        "audit evidence --hash 0011",
        "audit evidence --hash zz --record w/1",
        "audit evidence --signature '***'",
        "audit check-evidence x.json --audit-key audit.pem",
        "audit key frobnicate",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = ctl("%s", bad[i]);
        if (o.rc != 2)
            ctl_fail(&o, bad[i]);
        ctl_free(&o);
    }
}

/*
 * Every byte matters.  For each position of the bundle, the byte is replaced by itself XOR 1
 * (a hex digit stays a hex digit, a base64 or details character mostly stays valid, so most
 * changes reach the hash and signature checks rather than the parser) and the check must fail;
 * every 97th position also runs every check, as check-evidence does, which must name the same
 * first failing check.  The whole file is covered, every position, for two bundles: one found
 * by signature value (ECDSA, with the value) and one by hash (an extended SAD, RSA), about
 * 13 000 and 15 000 bytes.  Under ASan on the 2-core development machine each file takes 15 to
 * 20 s (the time is printed), so no sampling is needed.
 */
static void every_byte(const qs_evidence_trust *t, const char *name)
{
    size_t len = 0;
    uint8_t *orig = read_file(name, &len), *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(first_failure(t, orig, len), QS_EVIDENCE_CHECK_COUNT);
    size_t per_check[QS_EVIDENCE_CHECK_COUNT + 1] = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, orig, len);
        buf[i] ^= 0x01;
        qs_evidence_check_id f = first_failure(t, buf, len);
        if (f == QS_EVIDENCE_CHECK_COUNT)
            fail_msg("%s: changing byte %zu ('%c' to '%c') went unnoticed", name, i, orig[i],
                     buf[i]);
        per_check[f]++;
        if (i % 97 == 0) {
            /* the full run (every check, as check-evidence does) names the same check */
            qs_evidence_verdict v;
            assert_int_equal(qs_evidence_check(t, buf, len, 0, NULL, NULL, &v), QS_ERR_MAC);
            assert_int_equal(v.first_failed, f);
        }
    }
    /* and a byte cut off the end, one added */
    assert_int_not_equal(first_failure(t, orig, len - 1), QS_EVIDENCE_CHECK_COUNT);
    memcpy(buf, orig, len);
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, orig, len);
    longer[len] = '\n';
    assert_int_not_equal(first_failure(t, longer, len + 1), QS_EVIDENCE_CHECK_COUNT);
    free(longer);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "%s: all %zu single-byte changes fail (%.1f s); first failing check:", name,
            len, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (int id = 0; id < QS_EVIDENCE_CHECK_COUNT; id++)
        if (per_check[id] > 0)
            fprintf(stderr, " %s %zu", qs_evidence_check_name((qs_evidence_check_id)id),
                    per_check[id]);
    fprintf(stderr, "\n");
    /* changes reached the cryptographic checks, not only the parser */
    assert_true(per_check[QS_EVIDENCE_CHECK_RECORD_HASHES] > 0);
    assert_true(per_check[QS_EVIDENCE_CHECK_CHECKPOINT_SIGS] > 0);
    assert_true(per_check[QS_EVIDENCE_CHECK_CERTIFICATE_ISSUANCE] +
                    per_check[QS_EVIDENCE_CHECK_KEY_GENERATION] >
                0);
    free(orig);
    free(buf);
}

static void test_every_byte(void **state)
{
    (void)state;
    qs_evidence_trust *t = trust_of("audit.pem", "ca.pem");
    every_byte(t, "by-signature.json");
    every_byte(t, "by-hash.json");
    qs_evidence_trust_free(t);
}

/* Recomputes a record's record_hash from its JSON fields (the v1 encoding). */
static void rehash(const char *writer, json_t *rec, const uint8_t prev[32], uint8_t out[32])
{
    uint8_t user[16], cred[16], sad[32];
    size_t n = 0;
    int64_t when = 0;
    const json_t *u = json_object_get(rec, "user_id"), *c = json_object_get(rec, "credential_id");
    const json_t *s = json_object_get(rec, "sad_ref");
    assert_true(qs_audit_time_parse(json_string_value(json_object_get(rec, "event_time")), &when));
    if (json_is_string(u))
        assert_true(qs_audit_uuid_parse(json_string_value(u), user));
    if (json_is_string(c))
        assert_true(qs_audit_uuid_parse(json_string_value(c), cred));
    if (json_is_string(s))
        assert_int_equal(sodium_hex2bin(sad, 32, json_string_value(s), 64, NULL, &n, NULL), 0);
    qs_audit_record r = {
        .writer_id = writer,
        .seq = (uint64_t)json_integer_value(json_object_get(rec, "seq")),
        .event_time_us = when,
        .event_type = json_string_value(json_object_get(rec, "event_type")),
        .actor = json_string_value(json_object_get(rec, "actor")),
        .user_id = json_is_string(u) ? user : NULL,
        .credential_id = json_is_string(c) ? cred : NULL,
        .sad_ref = json_is_string(s) ? sad : NULL,
        .success = strcmp(json_string_value(json_object_get(rec, "result")), "success") == 0,
        .details = json_string_value(json_object_get(rec, "details")),
        .prev_hash = prev,
    };
    assert_int_equal(qs_audit_record_hash(&r, out), QS_OK);
    char hex[65];
    hex_of(prev, 32, hex);
    json_object_set_new(rec, "prev_hash", json_string(hex));
    hex_of(out, 32, hex);
    json_object_set_new(rec, "record_hash", json_string(hex));
}

static void test_forgeries(void **state)
{
    (void)state;
    qs_evidence_trust *t = trust_of("audit.pem", "ca.pem");
    size_t len = 0;

    /* 1. The signature record made to hold another signature's digest, and the chain up to the
     *    checkpoint recomputed so that every hash and link is right: only the checkpoint
     *    signature, which needs the HSM's audit key, gives it away. */
    json_t *j = load_json("by-signature.json");
    json_t *chain = json_array_get(json_object_get(j, "chains"), 0);
    const char *writer = json_string_value(json_object_get(chain, "writer"));
    json_t *segs = json_object_get(chain, "segments");
    uint64_t sig_seq = (uint64_t)json_integer_value(
        json_object_get(json_object_get(json_object_get(j, "signature"), "record"), "seq"));
    bool rewritten = false;
    for (size_t si = 0; si < json_array_size(segs) && !rewritten; si++) {
        json_t *seg = json_array_get(segs, si), *recs = json_object_get(seg, "records");
        uint8_t prev[32], h[32];
        size_t n = 0;
        for (size_t i = 0; i < json_array_size(recs); i++) {
            json_t *rec = json_array_get(recs, i);
            if (i == 0)
                assert_int_equal(
                    sodium_hex2bin(prev, 32, json_string_value(json_object_get(rec, "prev_hash")),
                                   64, NULL, &n, NULL),
                    0);
            if ((uint64_t)json_integer_value(json_object_get(rec, "seq")) == sig_seq) {
                json_t *d = json_loads(json_string_value(json_object_get(rec, "details")), 0, NULL);
                uint8_t other[32];
                char hex[65];
                crypto_hash_sha256(other, F->sig1b.value, F->sig1b.len);
                hex_of(other, 32, hex);
                json_object_set_new(d, "signature_sha256", json_string(hex));
                char *text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_object_set_new(rec, "details", json_string(text));
                free(text);
                json_decref(d);
                rewritten = true;
            }
            if (rewritten)
                rehash(writer, rec, prev, h);
            else
                assert_int_equal(
                    sodium_hex2bin(h, 32, json_string_value(json_object_get(rec, "record_hash")),
                                   64, NULL, &n, NULL),
                    0);
            memcpy(prev, h, 32);
        }
        if (rewritten) {
            char hex[65];
            hex_of(prev, 32, hex);
            json_object_set_new(json_object_get(seg, "checkpoint"), "head_hash", json_string(hex));
        }
    }
    assert_true(rewritten);
    /* with the other signature's value, so the value check would pass */
    char b64[1024];
    b64_of(F->sig1b.value, F->sig1b.len, b64, sizeof b64);
    json_object_set_new(json_object_get(j, "signature"), "value", json_string(b64));
    char *text = canonical(j, &len);
    assert_int_equal(first_failure(t, (uint8_t *)text, len), QS_EVIDENCE_CHECK_CHECKPOINT_SIGS);
    free(text);
    json_decref(j);

    /* 2. Another valid certificate of the same CA (the other signer's) */
    j = load_json("by-signature.json");
    json_t *other = load_json("pss.json");
    json_object_set(j, "certificate", json_object_get(other, "certificate"));
    text = canonical(j, &len);
    assert_int_equal(first_failure(t, (uint8_t *)text, len), QS_EVIDENCE_CHECK_KEY_GENERATION);
    free(text);
    json_decref(j);
    json_decref(other);

    /* 3. Another valid signature value of the same key over the same hash */
    j = load_json("by-signature.json");
    json_object_set_new(json_object_get(j, "signature"), "value", json_string(b64));
    text = canonical(j, &len);
    assert_int_equal(first_failure(t, (uint8_t *)text, len), QS_EVIDENCE_CHECK_SIGNATURE_VALUE);
    free(text);
    json_decref(j);

    /* 4. The authorization of the other SAD of the same hash: the SAD does not match */
    j = load_json("by-signature.json");
    other = load_json("by-hash-and-value.json");
    json_object_set(json_object_get(j, "authorization"), "record",
                    json_object_get(json_object_get(other, "authorization"), "record"));
    text = canonical(j, &len);
    qs_evidence_check_id f = first_failure(t, (uint8_t *)text, len);
    assert_int_not_equal(f, QS_EVIDENCE_CHECK_COUNT);
    free(text);
    json_decref(j);
    json_decref(other);

    /* 5. A segment dropped: the records it held are missing */
    j = load_json("by-hash.json");
    json_t *cs = json_object_get(json_array_get(json_object_get(j, "chains"), 0), "segments");
    if (json_array_size(cs) > 1) {
        json_array_remove(cs, 0);
    } else {
        json_t *recs = json_object_get(json_array_get(cs, 0), "records");
        json_array_remove(recs, 0);
    }
    text = canonical(j, &len);
    assert_int_not_equal(first_failure(t, (uint8_t *)text, len), QS_EVIDENCE_CHECK_COUNT);
    free(text);
    json_decref(j);

    /* the untouched file, re-serialized, is itself: the format is the canonical one */
    j = load_json("by-hash.json");
    text = canonical(j, &len);
    size_t flen = 0;
    uint8_t *file = read_file("by-hash.json", &flen);
    assert_int_equal(len, flen);
    assert_memory_equal(text, file, len);
    free(file);
    free(text);
    json_decref(j);
    qs_evidence_trust_free(t);
}

static void test_wrong_trust(void **state)
{
    (void)state;
    assert_int_equal(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
                        " -out other.key && openssl pkey -in other.key -pubout -out other.pem"),
                     0);
    ctl_out o = ctl("audit check-evidence by-signature.json --audit-key other.pem --ca-cert "
                    "ca.pem");
    if (o.rc != 1 ||
        strstr(o.out, "verdict: INVALID: first failing check: checkpoint-signatures") == NULL ||
        strstr(o.out, "FAILED  checkpoint-signatures:") == NULL)
        ctl_fail(&o, "wrong audit key");
    ctl_free(&o);
    /* a file with both keys: each checkpoint verifies with one of them */
    assert_int_equal(sh("cat other.pem audit.pem > both.pem"), 0);
    o = ctl("audit check-evidence by-signature.json --audit-key both.pem --ca-cert ca.pem");
    if (o.rc != 0)
        ctl_fail(&o, "two audit keys");
    ctl_free(&o);

    assert_int_equal(sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes"
                        " -keyout otherca.key -out otherca.pem -days 30"
                        " -subj '/C=EE/O=qsign Test Trust Services/CN=qsign Test Qualified CA'"),
                     0);
    o = ctl("audit check-evidence by-signature.json --audit-key audit.pem --ca-cert otherca.pem");
    if (o.rc != 1 ||
        strstr(o.out, "verdict: INVALID: first failing check: certificate-chain") == NULL)
        ctl_fail(&o, "wrong CA");
    ctl_free(&o);

    /* keys and certificates that are not what they should be */
    assert_int_equal(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
                        " -out rsa.key && openssl pkey -in rsa.key -pubout -out rsa.pem"),
                     0);
    o = ctl("audit check-evidence by-signature.json --audit-key rsa.pem --ca-cert ca.pem");
    if (o.rc != 1 || strstr(o.err, "not an EC P-256 public key") == NULL)
        ctl_fail(&o, "RSA audit key");
    ctl_free(&o);
    o = ctl("audit check-evidence by-signature.json --audit-key ca.pem --ca-cert ca.pem");
    if (o.rc != 1 || strstr(o.err, "not \"PUBLIC KEY\"") == NULL)
        ctl_fail(&o, "certificate as audit key");
    ctl_free(&o);
    o = ctl("audit check-evidence ca.pem --audit-key audit.pem --ca-cert ca.pem");
    if (o.rc != 1 || strstr(o.out, "FAILED  format:") == NULL || strstr(o.out, "not run ") == NULL)
        ctl_fail(&o, "not a bundle");
    ctl_free(&o);
}

static void test_two_segments(void **state)
{
    (void)state;
    /* after the first checkpoint: a new authorization and signature of signer b */
    char sad[QS_SAM_SAD_BUF];
    qs_sam_bytes h6 = {F->h6, 48};
    authorize(&F->b, QS_SAM_HASH_SHA384, &h6, 1, 1, sad);
    sign(&F->b, sad, QS_SAM_HASH_SHA384, F->h6, 48, QS_SAM_SIG_RSA_PKCS1, &F->sig6);
    qs_wipe(sad, sizeof sad);
    restart_sam();
    assert_int_equal(count_of("SELECT count(*) FROM qsign.audit_checkpoints"), 2);

    char b64[1024];
    b64_of(F->sig6.value, F->sig6.len, b64, sizeof b64);
    ctl_out o = ctl("audit evidence --signature '%s' --out two.json", b64);
    if (o.rc != 0)
        ctl_fail(&o, "evidence across two checkpoints");
    ctl_free(&o);
    expect_valid("two.json", true);
    json_t *j = load_json("two.json");
    json_t *chains = json_object_get(j, "chains");
    assert_int_equal(json_array_size(chains), 1);
    json_t *segs = json_object_get(json_array_get(chains, 0), "segments");
    assert_int_equal(json_array_size(segs), 2);
    uint64_t first_end = (uint64_t)json_integer_value(
        json_object_get(json_object_get(json_array_get(segs, 0), "checkpoint"), "seq"));
    uint64_t second_start = (uint64_t)json_integer_value(json_object_get(
        json_array_get(json_object_get(json_array_get(segs, 1), "records"), 0), "seq"));
    assert_true(second_start > first_end);
    json_decref(j);
    /* the log itself still verifies with the HSM, MACs included */
    uint64_t n = 0;
    assert_int_equal(qs_test_samd_verify_audit(F->d, &n), QS_OK);
}

/* A document signature (SIGN_DOC, CAdES): its value signs the digest of the signed attributes
 * the SAM built, which the record names beside the document digest; the bundle found by that
 * value checks out, the value verified over the signed attributes' digest. */
static void test_document_signature(void **state)
{
    (void)state;
    uint8_t doc[32];
    crypto_hash_sha256(doc, (const unsigned char *)"document seven", 14);
    char sad[QS_SAM_SAD_BUF];
    qs_sam_bytes h = {doc, sizeof doc};
    authorize(&F->a, QS_SAM_HASH_SHA256, &h, 1, 1, sad);
    qs_sam_sign_req q = {.user_id = F->a.s.user_id,
                         .credential_id = F->a.cred,
                         .sad = sad,
                         .hash_alg = QS_SAM_HASH_SHA256,
                         .hashes = &h,
                         .n_hashes = 1,
                         .scheme = QS_SAM_SIG_ECDSA};
    qs_sam_signatures cms;
    EXPECT(qs_sam_client_sign_doc(F->c, &q, &cms), QS_OK);
    qs_wipe(sad, sizeof sad);
    assert_int_equal(cms.n, 1);
    const unsigned char *p = cms.sig[0];
    CMS_ContentInfo *ci = d2i_CMS_ContentInfo(NULL, &p, (long)cms.len[0]);
    assert_non_null(ci);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(ci), 0);
    assert_non_null(si);
    const ASN1_OCTET_STRING *v = CMS_SignerInfo_get0_signature(si);
    char b64[1024];
    b64_of(ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), b64, sizeof b64);
    CMS_ContentInfo_free(ci);
    qs_sam_signatures_free(&cms);
    restart_sam(); /* a checkpoint covers it */

    ctl_out o = ctl("audit evidence --signature '%s' --out document.json", b64);
    if (o.rc != 0)
        ctl_fail(&o, "evidence of a document signature");
    ctl_free(&o);
    expect_valid("document.json", true);
    o = ctl("audit check-evidence document.json --audit-key audit.pem --ca-cert ca.pem");
    if (strstr(o.out, "over the signed attributes' digest") == NULL)
        ctl_fail(&o, "signature value over the signed attributes");
    ctl_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_before_checkpoint),
        cmocka_unit_test(test_bundles_verify),
        cmocka_unit_test(test_lookup_refusals),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_forgeries),
        cmocka_unit_test(test_wrong_trust),
        cmocka_unit_test(test_two_segments),
        cmocka_unit_test(test_document_signature),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

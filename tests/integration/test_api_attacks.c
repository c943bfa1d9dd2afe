/*
 * The CSC API under attack, end to end: the real qsign-sam (SoftHSM token with a CA,
 * tests/lib/samd.h) and the real qsignd over TLS (tests/lib/apid.h) on one database, driven
 * with a real HTTP client.  One daemon pair serves every case; each case has signers of its own,
 * so no case depends on another's state or waits for another's TOTP time steps.
 *
 * Checked:
 * - RSASSA-PSS with SHA-384 and SHA-512: each signature verified by OpenSSL with the
 *   credential's public key and the parameters the request gave; parameters that do not fit
 *   the digest (salt length, MGF1 hash, hash algorithm, trailer) refused.
 * - Every attack on the binding of an SAD, one case each: another signer's SAD (with their own
 *   credential and with the victim's), another credential of the same signer, a digest the SAD
 *   did not authorize, a consumed digest replayed, more digests than numSignatures, the same
 *   digest twice in one request, an expired SAD (a short [sad] lifetime, waited for by polling),
 *   a modified SAD, an SAD presented with a revoked access token, another hash algorithm than
 *   the one authorized, and an SAD of a credential locked, or whose certificate was revoked
 *   (qsignctl), after authorization.  Each refusal is checked for its CSC error, in the SAM's
 *   audit log for its reason, and in the database: the digest stays unconsumed, no signature
 *   record exists, and a legitimate signHash afterwards signs exactly once.
 * - The rate limits on credentials/authorize with a second qsignd configured small: per
 *   account (failed factors; another account, and a login name that spells the account's id,
 *   unaffected) and per client address (every attempt; another loopback address unaffected):
 *   429 too_many_requests with Retry-After, and the SAM never asked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

#define OID_SHA256       "2.16.840.1.101.3.4.2.1"
#define OID_SHA384       "2.16.840.1.101.3.4.2.2"
#define OID_SHA512       "2.16.840.1.101.3.4.2.3"
#define OID_ECDSA_SHA256 "1.2.840.10045.4.3.2"
#define OID_ECDSA_SHA384 "1.2.840.10045.4.3.3"
#define OID_ECDSA_SHA512 "1.2.840.10045.4.3.4"
#define OID_RSA_PSS      "1.2.840.113549.1.1.10"

/* RSASSA-PSS-params for SHA-256 as clients send them (the one test_api_sign uses). */
#define PSS_SHA256 "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg"

#define MAX_FAILED   3  /* [auth] max_failed_attempts of the SAM */
#define POLL_LIMIT_S 60 /* the longest wait for an SAD to expire */
#define PW_BUF       96 /* a login password: the username and a suffix */

static const char ca_config[] = "[ca]\n"
                                "subject_country = EE\n"
                                "subject_organization = qsign Test Trust Services\n"
                                "subject_organization_id = NTREE-10000000\n"
                                "subject_common_name = qsign Test Qualified CA\n"
                                "pds_url = https://qsign.example/pds-en\n"
                                "ca_issuers_url = http://qsign.example/pki/ca.crt\n"
                                "ocsp_url = http://qsign.example/pki/ocsp\n"
                                "crl_url = http://qsign.example/pki/crl\n";

static const qs_test_samd_opts sam_opts = {.extra = ca_config, .max_failed_attempts = MAX_FAILED};

typedef struct signer {
    qs_test_signer s;
    char cred[QS_SAM_ID_BUF];
    char cred2[QS_SAM_ID_BUF]; /* a second credential, or "" */
    uint8_t *spki;
    size_t spki_len;
    char *token;
} signer;

/* The signers, one role each. */
enum {
    S_PSS,   /* RSA-2048 */
    S_ALICE, /* the victim of another signer */
    S_BOB,   /* the other signer */
    S_CORA,  /* two credentials */
    S_DAN,   /* a digest outside the SAD */
    S_EVA,   /* replay */
    S_FINN,  /* too many digests */
    S_GERT,  /* one digest twice */
    S_HUGO,  /* expiry */
    S_INES,  /* modified SAD */
    S_JAN,   /* revoked access token */
    S_KAI,   /* EC P-384, hash algorithm mismatch */
    S_LENA,  /* locked after authorization */
    S_MARI,  /* certificate revoked after authorization */
    S_ERIN,  /* account rate limit */
    S_OLAF,  /* another account */
    S_PIA,   /* address rate limit */
    S_COUNT
};

typedef struct fixture {
    qs_test_samd *sam;
    qs_test_apid *d;
    char ctl_conf[PATH_MAX + 32];
    signer s[S_COUNT];
} fixture;

static fixture *F;

/* ---- requests and replies --------------------------------------------------------------------
 */

static json_t *json_of(const qs_test_http *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %s", r->status, r->body);
    return j;
}

/* An error reply of exactly the CSC shape {error, error_description}; frees r. */
static void expect_error(qs_test_http *r, long status, const char *error, const char *desc)
{
    if (r->status != status)
        fail_msg("HTTP %ld, want %ld %s \"%s\": %s", r->status, status, error,
                 desc != NULL ? desc : "*", r->body);
    json_t *j = json_of(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *d = json_string_value(json_object_get(j, "error_description"));
    if (e == NULL || strcmp(e, error) != 0 || d == NULL || (desc != NULL && strcmp(d, desc) != 0))
        fail_msg("got %s, want %s \"%s\"", r->body, error, desc != NULL ? desc : "*");
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    qs_test_http_free(r);
}

static qs_test_http *vpost(qs_test_apid *d, const char *token, const char *source, const char *path,
                           const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static qs_test_http *vpost(qs_test_apid *d, const char *token, const char *source, const char *path,
                           const char *fmt, va_list ap)
{
    char body[8192], auth[128];
    int n = vsnprintf(body, sizeof body, fmt, ap);
    assert_true(n > 0 && (size_t)n < sizeof body);
    qs_test_req req = {.path = path, .body = body, .source_address = source};
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Bearer %s", token);
        req.auth = auth;
    }
    return qs_test_apid_request(d, &req);
}

/* POSTs a body (printf-style) to qsignd `d` with `token`, from `source` (NULL: 127.0.0.1). */
static qs_test_http *post_on(qs_test_apid *d, const char *token, const char *source,
                             const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static qs_test_http *post_on(qs_test_apid *d, const char *token, const char *source,
                             const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qs_test_http *r = vpost(d, token, source, path, fmt, ap);
    va_end(ap);
    return r;
}

/* POSTs a body to the shared qsignd as signer s. */
static qs_test_http *csc(const signer *s, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_test_http *csc(const signer *s, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qs_test_http *r = vpost(F->d, s->token, NULL, path, fmt, ap);
    va_end(ap);
    return r;
}

static char *login_on(qs_test_apid *d, const char *user, const char *pw)
{
    char raw[256], b64[512], auth[600];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    qs_test_http *r = qs_test_apid_request(d, &req);
    if (r->status != 200)
        fail_msg("login %s: HTTP %ld %s", user, r->status, r->body);
    json_t *j = json_of(r);
    char *t = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    return t;
}

static void password_of(const signer *s, char pw[static PW_BUF])
{
    snprintf(pw, PW_BUF, "%s-login-password", s->s.username);
}

/* ---- digests ---------------------------------------------------------------------------------
 */

typedef struct dg {
    uint8_t raw[EVP_MAX_MD_SIZE];
    size_t len;
    char b64[128];
    char hex[2 * EVP_MAX_MD_SIZE + 1];
} dg;

static void dg_set(dg *d, const uint8_t *raw, size_t len)
{
    assert_true(len <= sizeof d->raw);
    memcpy(d->raw, raw, len);
    d->len = len;
    sodium_bin2base64(d->b64, sizeof d->b64, raw, len, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2hex(d->hex, sizeof d->hex, raw, len);
}

/* The digest with `md` of a text unique to the test run. */
static void dg_of(dg *d, const EVP_MD *md, const char *text)
{
    static unsigned counter;
    char t[256];
    uint8_t raw[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    snprintf(t, sizeof t, "%s #%u %ld", text, ++counter, (long)time(NULL));
    assert_int_equal(EVP_Digest(t, strlen(t), raw, &len, md, NULL), 1);
    dg_set(d, raw, len);
}

/* `"b64","b64",...` of n digests. */
static const char *list_of(char *buf, size_t cap, const dg *const h[], size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + off, cap - off, "%s\"%s\"", i > 0 ? "," : "", h[i]->b64);
        assert_true(w > 0 && (size_t)w < cap - off);
        off += (size_t)w;
    }
    return buf;
}

static const char *hash_oid(size_t len)
{
    return len == 32 ? OID_SHA256 : len == 48 ? OID_SHA384 : OID_SHA512;
}

static const char *ecdsa_oid(size_t len)
{
    return len == 32 ? OID_ECDSA_SHA256 : len == 48 ? OID_ECDSA_SHA384 : OID_ECDSA_SHA512;
}

static const EVP_MD *md_of(size_t len)
{
    return len == 32 ? EVP_sha256() : len == 48 ? EVP_sha384() : EVP_sha512();
}

/* ---- the flow ---------------------------------------------------------------------------------
 */

/* credentials/authorize (v2) of the digests h (all of one length) for `cred` with the signer's
 * PIN and a fresh TOTP code; the SAD (malloc'd).  The code sent goes to *otp_used and the
 * lifetime to *expires_in when they are not NULL. */
static char *authorize_ex(signer *s, const char *cred, const dg *const h[], size_t n, int num,
                          char *otp_used, long *expires_in)
{
    char otp[QS_TOTP_CODE_BUF], list[2048];
    qs_test_signer_code(&s->s, otp);
    qs_test_http *r =
        csc(s, "/csc/v2/credentials/authorize",
            "{\"credentialID\":\"%s\",\"numSignatures\":%d,\"hashes\":[%s],"
            "\"hashAlgorithmOID\":\"%s\",\"authData\":[{\"id\":\"PIN\","
            "\"value\":\"%s\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
            cred, num, list_of(list, sizeof list, h, n), hash_oid(h[0]->len), s->s.pin, otp);
    if (r->status != 200)
        fail_msg("authorize %s: HTTP %ld %s", s->s.username, r->status, r->body);
    json_t *j = json_of(r);
    const char *sad = json_string_value(json_object_get(j, "SAD"));
    assert_non_null(sad);
    char *out = strdup(sad);
    long exp = (long)json_integer_value(json_object_get(j, "expiresIn"));
    assert_true(exp > 0);
    if (expires_in != NULL)
        *expires_in = exp;
    if (otp_used != NULL)
        memcpy(otp_used, otp, sizeof otp);
    json_decref(j);
    qs_test_http_free(r);
    return out;
}

static char *authorize(signer *s, const char *cred, const dg *const h[], size_t n, int num)
{
    return authorize_ex(s, cred, h, n, num, NULL, NULL);
}

/* signatures/signHash in CSC version `ver` ("v1" or "v2") with signAlgo `algo`; `extra` holds
 * more members in the version's spelling (",\"signAlgoParams\":\"...\"") or is "". */
static qs_test_http *sign_ver(const signer *s, const char *ver, const char *cred, const char *sad,
                              const dg *const h[], size_t n, const char *algo, const char *extra)
{
    char list[2048], path[64];
    snprintf(path, sizeof path, "/csc/%s/signatures/signHash", ver);
    return csc(s, path,
               "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"%s\":[%s],\"signAlgo\":\"%s\"%s}", cred,
               sad, strcmp(ver, "v1") == 0 ? "hash" : "hashes", list_of(list, sizeof list, h, n),
               algo, extra);
}

/* signHash (v2) of ECDSA signatures over digests of one length. */
static qs_test_http *sign_ec(const signer *s, const char *cred, const char *sad,
                             const dg *const h[], size_t n)
{
    return sign_ver(s, "v2", cred, sad, h, n, ecdsa_oid(h[0]->len), "");
}

static qs_test_http *extend(const signer *s, const char *cred, const char *sad, const dg *const h[],
                            size_t n)
{
    char list[2048];
    return csc(s, "/csc/v2/credentials/extendTransaction",
               "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[%s],"
               "\"hashAlgorithmOID\":\"%s\"}",
               cred, sad, list_of(list, sizeof list, h, n), hash_oid(h[0]->len));
}

/* True when sig_b64 is a valid signature over d by the key `spki`: ECDSA, PKCS#1 v1.5, or
 * with salt >= 0 RSASSA-PSS with MGF1 over mgf and that salt length. */
static bool verifies_with(const uint8_t *spki, size_t spki_len, const dg *d, const char *sig_b64,
                          const EVP_MD *mgf, int salt)
{
    uint8_t sig[1024];
    size_t len = 0;
    assert_int_equal(sodium_base642bin(sig, sizeof sig, sig_b64, strlen(sig_b64), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    const unsigned char *p = spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki_len);
    assert_non_null(k);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    assert_true(EVP_PKEY_CTX_set_signature_md(ctx, md_of(d->len)) > 0);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, salt >= 0 ? RSA_PKCS1_PSS_PADDING
                                                                : RSA_PKCS1_PADDING) > 0);
        if (salt >= 0) {
            assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf) > 0);
            assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) > 0);
        }
    }
    int ok = EVP_PKEY_verify(ctx, sig, len, d->raw, d->len);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok == 1;
}

/* The one signature of a 200 signHash reply must verify over d with the signer's key. */
static void expect_signed(qs_test_http *r, const signer *s, const dg *d)
{
    if (r->status != 200)
        fail_msg("signHash: HTTP %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    const json_t *a = json_object_get(j, "signatures");
    assert_int_equal(json_array_size(a), 1);
    const char *sig = json_string_value(json_array_get(a, 0));
    assert_non_null(sig);
    if (!verifies_with(s->spki, s->spki_len, d, sig, NULL, -1))
        fail_msg("the signature of %s does not verify", s->s.username);
    dg other = *d;
    other.raw[0] ^= 1;
    assert_false(verifies_with(s->spki, s->spki_len, &other, sig, NULL, -1));
    json_decref(j);
    qs_test_http_free(r);
}

/* signHash of digest d with sad signs once and verifies; the same request again is refused
 * with "invalid_request" and `then` (the SAD used up, or the digest consumed). */
static void expect_signs_once(const signer *s, const char *sad, const dg *d, const char *then)
{
    expect_signed(sign_ec(s, s->cred, sad, (const dg *[]){d}, 1), s, d);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){d}, 1), 400, "invalid_request", then);
}

/* ---- state in the database -------------------------------------------------------------------
 */

static long count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static long count(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGconn *c = qs_test_pg_connect(F->sam->pg->super_conninfo);
    char *v = qs_test_pg_query_value(c, sql);
    PQfinish(c);
    long n = v != NULL ? atol(v) : -1;
    free(v);
    return n;
}

/* Exactly one SAD authorizes d, and d is not signed. */
static void expect_unconsumed(const dg *d)
{
    long free_rows = count("SELECT count(*) FROM qsign.sad_hashes WHERE digest = decode('%s', "
                           "'hex') AND consumed_at IS NULL",
                           d->hex);
    long used = count("SELECT count(*) FROM qsign.sad_hashes WHERE digest = decode('%s', 'hex') "
                      "AND consumed_at IS NOT NULL",
                      d->hex);
    if (free_rows != 1 || used != 0)
        fail_msg("digest %s: %ld unconsumed and %ld consumed rows, want 1 and 0", d->hex, free_rows,
                 used);
}

/* No SAD names d at all. */
static void expect_not_authorized(const dg *d)
{
    assert_int_equal(
        count("SELECT count(*) FROM qsign.sad_hashes WHERE digest = decode('%s', 'hex')", d->hex),
        0);
}

/* signature.created audit records of the credential: every signature the SAM released. */
static long signatures_of(const char *cred)
{
    char where[256];
    snprintf(where, sizeof where,
             "event_type = 'signature.created' AND credential_id = '%s' AND result = 'success'",
             cred);
    return qs_test_samd_audit_count(F->sam, where);
}

/* `type` refusals (sign.refused, extend.refused) of the credential with `reason`. */
static long refusals_of(const char *type, const char *cred, const char *reason)
{
    char where[512];
    snprintf(where, sizeof where,
             "event_type = '%s' AND result = 'failure' AND credential_id = '%s' AND "
             "details::jsonb->>'reason' = '%s'",
             type, cred, reason);
    return qs_test_samd_audit_count(F->sam, where);
}

/* Every audit record about the user: unchanged when the SAM was never asked. */
static long audit_of(const signer *s)
{
    char where[256];
    snprintf(where, sizeof where, "user_id = '%.*s'", QS_SAM_ID_BUF - 1, s->s.user_id);
    return qs_test_samd_audit_count(F->sam, where);
}

static long sads_of(const char *cred)
{
    return count("SELECT count(*) FROM qsign.sads WHERE credential_id = '%s'", cred);
}

/* A metrics series of qsignd d (-1 when absent). */
static long long metric(qs_test_apid *d, const char *series)
{
    qs_test_req req = {.method = "GET", .path = "/metrics"};
    qs_test_http *r = qs_test_apid_request(d, &req);
    assert_int_equal(r->status, 200);
    long long v = -1;
    char line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = strstr(r->body, line);
    if (p != NULL)
        v = strtoll(p + strlen(line), NULL, 10);
    qs_test_http_free(r);
    return v;
}

/* Runs qsignctl (as an admin peer of the SAM) with `args`; its exit status, output in *out. */
static int qsignctl(char **out, const char *args)
{
    const char *ctl = getenv("QS_QSIGNCTL");
    if (ctl == NULL || ctl[0] == '\0')
        fail_msg("QS_QSIGNCTL is not set");
    char outfile[PATH_MAX + 32];
    snprintf(outfile, sizeof outfile, "%s/qsignctl.out", F->sam->token.dir);
    int rc = qs_test_system("'%s' -c '%s' %s > '%s' 2>&1", ctl, F->ctl_conf, args, outfile);
    FILE *f = fopen(outfile, "r");
    char buf[4096] = "";
    if (f != NULL) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    if (out != NULL)
        *out = strdup(buf);
    return rc;
}

/* Restarts the SAM with other options (qsignd connects per request and carries on). */
static void sam_restart(const qs_test_samd_opts *o)
{
    assert_int_equal(qs_test_samd_terminate(F->sam, SIGTERM), 0);
    qs_test_samd_configure(F->sam, o);
    qs_test_samd_launch(F->sam);
}

/* ---- fixture ----------------------------------------------------------------------------------
 */

static void finish_signer(signer *s)
{
    char pw[PW_BUF];
    password_of(s, pw);
    qs_test_apid_set_password(F->sam->pg, s->s.user_id, pw);
}

static void make_signer(qs_sam_client *c, signer *s, const char *name, qs_sam_key_alg alg, bool two)
{
    char pin[8];
    snprintf(pin, sizeof pin, "%06u", (unsigned)randombytes_uniform(1000000));
    qs_test_samd_enrol_signer(F->sam, c, name, pin, &s->s);
    qs_test_samd_create_credential(c, s->s.user_id, alg, s->cred, &s->spki, &s->spki_len);
    if (two)
        qs_test_samd_create_credential(c, s->s.user_id, alg, s->cred2, NULL, NULL);
    finish_signer(s);
}

/* A signer registered with identity evidence, activated, with a qualified certificate. */
static void make_certified_signer(qs_sam_client *c, signer *s, const char *name)
{
    qs_sam_signer_req q = {
        .username = name,
        .profile = "qcp-n-qscd",
        .country = "EE",
        .common_name = "Mari Maasikas",
        .given_name = "Mari",
        .surname = "Maasikas",
        .serial_number = "PNOEE-48010010101",
        .method = QS_SAM_EVIDENCE_PHYSICAL,
        .document_type = QS_SAM_DOC_ID_CARD,
        .document_number = "AB1234567",
        .document_country = "EE",
        .actor = "test-officer",
    };
    char code[QS_SAM_ACTIVATION_BUF], *uri = NULL;
    uint64_t expires = 0;
    memset(s, 0, sizeof *s);
    snprintf(s->s.username, sizeof s->s.username, "%s", name);
    snprintf(s->s.pin, sizeof s->s.pin, "%06u", (unsigned)randombytes_uniform(1000000));
    if (qs_sam_client_create_signer(c, &q, s->s.user_id, code, &expires) != QS_OK)
        fail_msg("CREATE_SIGNER: %s", qs_sam_client_error(c));
    if (qs_sam_client_activate(c, s->s.user_id, code, s->s.pin, NULL, NULL, &uri) != QS_OK)
        fail_msg("ACTIVATE: %s", qs_sam_client_error(c));
    qs_wipe(code, sizeof code);
    assert_true(qs_test_otpauth_parse(uri, &s->s));
    qs_secret_free(uri);

    qs_sam_issue_req iq = {.user_id = s->s.user_id, .alg = QS_SAM_KEY_EC_P256, .actor = "setup"};
    uint8_t *cert = NULL, serial[20];
    size_t cert_len = 0, serial_len = 0;
    if (qs_sam_client_issue_cert(c, &iq, s->cred, &cert, &cert_len, serial, &serial_len) != QS_OK)
        fail_msg("ISSUE_CERT: %s", qs_sam_client_error(c));
    const unsigned char *p = cert;
    X509 *x = d2i_X509(NULL, &p, (long)cert_len);
    assert_non_null(x);
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
    assert_true(n > 0);
    s->spki = malloc((size_t)n);
    memcpy(s->spki, spki, (size_t)n);
    s->spki_len = (size_t)n;
    OPENSSL_free(spki);
    X509_free(x);
    free(cert);
    finish_signer(s);
}

static int setup(void **state)
{
    static const struct {
        int role;
        const char *name;
        qs_sam_key_alg alg;
        bool two;
    } roles[] = {
        {S_PSS, "rolf", QS_SAM_KEY_RSA2048, false},  {S_ALICE, "alice", QS_SAM_KEY_EC_P256, false},
        {S_BOB, "bob", QS_SAM_KEY_EC_P256, false},   {S_CORA, "cora", QS_SAM_KEY_EC_P256, true},
        {S_DAN, "dan", QS_SAM_KEY_EC_P256, false},   {S_EVA, "eva", QS_SAM_KEY_EC_P256, false},
        {S_FINN, "finn", QS_SAM_KEY_EC_P256, false}, {S_GERT, "gert", QS_SAM_KEY_EC_P256, false},
        {S_HUGO, "hugo", QS_SAM_KEY_EC_P256, false}, {S_INES, "ines", QS_SAM_KEY_EC_P256, false},
        {S_JAN, "jan", QS_SAM_KEY_EC_P256, false},   {S_KAI, "kai", QS_SAM_KEY_EC_P384, false},
        {S_LENA, "lena", QS_SAM_KEY_EC_P256, false}, {S_ERIN, "erin", QS_SAM_KEY_EC_P256, false},
        {S_OLAF, "olaf", QS_SAM_KEY_EC_P256, false}, {S_PIA, "pia", QS_SAM_KEY_EC_P256, false},
    };
    F = calloc(1, sizeof *F);
    assert_non_null(F);
    F->sam = qs_test_samd_start("api_attacks", &sam_opts);
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    uint8_t *ca = NULL, *csr = NULL;
    size_t ca_len = 0, csr_len = 0;
    if (qs_sam_client_ca_init(c, QS_SAM_CA_SELF_SIGNED, "setup", &ca, &ca_len, &csr, &csr_len) !=
        QS_OK)
        fail_msg("CA_INIT: %s", qs_sam_client_error(c));
    free(ca);
    free(csr);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        make_signer(c, &F->s[roles[i].role], roles[i].name, roles[i].alg, roles[i].two);
    make_certified_signer(c, &F->s[S_MARI], "mari");
    qs_sam_client_close(c);

    snprintf(F->ctl_conf, sizeof F->ctl_conf, "%s/qsignctl.conf", F->sam->token.dir);
    FILE *f = fopen(F->ctl_conf, "w");
    assert_non_null(f);
    fprintf(f, "[sam]\nsocket_path = %s\n[log]\nlevel = error\n", F->sam->socket_path);
    assert_int_equal(fclose(f), 0);

    qs_test_apid_opts o = {.sam_socket = F->sam->socket_path, .sam_timeout_ms = 30000};
    F->d = qs_test_apid_start(F->sam->pg, &o);
    for (int i = 0; i < S_COUNT; i++) {
        char pw[PW_BUF];
        password_of(&F->s[i], pw);
        F->s[i].token = login_on(F->d, F->s[i].s.username, pw);
    }
    *state = F;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = qs_test_apid_stop(F->d);
    qs_test_samd_stop(F->sam);
    for (int i = 0; i < S_COUNT; i++) {
        free(F->s[i].spki);
        free(F->s[i].token);
    }
    free(F);
    return st == 0 ? 0 : -1;
}

/* ---- RSASSA-PSS --------------------------------------------------------------------------------
 */

/* DER RSASSA-PSS-params (RFC 4055), base64: hash `md`, MGF1 over `mgf`, salt length `salt`
 * (negative: absent, the default 20) and trailer field `trailer` (0: absent, the default 1). */
static void pss_params(const EVP_MD *md, const EVP_MD *mgf, int salt, int trailer, char *out,
                       size_t cap)
{
    RSA_PSS_PARAMS *p = RSA_PSS_PARAMS_new();
    X509_ALGOR *mgf_hash = X509_ALGOR_new();
    assert_non_null(p);
    assert_non_null(mgf_hash);
    p->hashAlgorithm = X509_ALGOR_new();
    p->maskGenAlgorithm = X509_ALGOR_new();
    assert_non_null(p->hashAlgorithm);
    assert_non_null(p->maskGenAlgorithm);
    /* Hash parameters NULL, as OpenSSL's own PSS signatures carry them. */
    assert_int_equal(
        X509_ALGOR_set0(p->hashAlgorithm, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL), 1);
    assert_int_equal(
        X509_ALGOR_set0(mgf_hash, OBJ_nid2obj(EVP_MD_get_type(mgf)), V_ASN1_NULL, NULL), 1);
    ASN1_STRING *seq = ASN1_item_pack(mgf_hash, ASN1_ITEM_rptr(X509_ALGOR), NULL);
    assert_non_null(seq);
    assert_int_equal(
        X509_ALGOR_set0(p->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, seq), 1);
    if (salt >= 0) {
        p->saltLength = ASN1_INTEGER_new();
        assert_int_equal(ASN1_INTEGER_set(p->saltLength, salt), 1);
    }
    if (trailer > 0) {
        p->trailerField = ASN1_INTEGER_new();
        assert_int_equal(ASN1_INTEGER_set(p->trailerField, trailer), 1);
    }
    unsigned char *der = NULL;
    int len = i2d_RSA_PSS_PARAMS(p, &der);
    assert_true(len > 0);
    assert_true(sodium_base64_ENCODED_LEN((size_t)len, sodium_base64_VARIANT_ORIGINAL) <= cap);
    sodium_bin2base64(out, cap, der, (size_t)len, sodium_base64_VARIANT_ORIGINAL);
    OPENSSL_free(der);
    X509_ALGOR_free(mgf_hash);
    RSA_PSS_PARAMS_free(p);
}

/* One digest algorithm with RSASSA-PSS; `made` signatures of the credential so far. */
static void pss_case(const EVP_MD *md, const EVP_MD *other, const char *label, long made)
{
    signer *s = &F->s[S_PSS];
    char good[256], bad[256], extra[512];
    size_t hlen = (size_t)EVP_MD_get_size(md);
    dg h;
    dg_of(&h, md, label);
    char *sad = authorize(s, s->cred, (const dg *[]){&h}, 1, 1);
    const dg *one[] = {&h};

    /* Parameters that do not fit the digest: refused by qsignd, nothing reaches the SAM. */
    static const char invalid_params[] = "Invalid parameter signAlgoParams";
    pss_params(md, md, 20, 0, bad, sizeof bad); /* salt length other than the digest's */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    pss_params(md, md, (int)hlen + 1, 0, bad, sizeof bad);
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    pss_params(md, md, -1, 0, bad, sizeof bad); /* no salt length: the default 20 */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    pss_params(md, EVP_sha256(), (int)hlen, 0, bad, sizeof bad); /* MGF1 over another hash */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    pss_params(md, other, (int)hlen, 0, bad, sizeof bad);
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    pss_params(md, md, (int)hlen, 2, bad, sizeof bad); /* trailer field other than 1 */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    /* A consistent set for another hash: its digest length is not this digest's. */
    int olen = EVP_MD_get_size(other);
    pss_params(other, other, olen, 0, bad, sizeof bad);
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", bad);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", "Invalid digest value length");
    /* hashAlgorithmOID naming another hash than the parameters. */
    pss_params(md, md, (int)hlen, 0, good, sizeof good);
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\",\"hashAlgorithmOID\":\"%s\"", good,
             hash_oid((size_t)olen));
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", invalid_params);
    expect_unconsumed(&h);
    assert_int_equal(signatures_of(s->cred), made);

    /* The parameters that fit, also with the digest's own hashAlgorithmOID (v1 spelling). */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\",\"hashAlgo\":\"%s\"", good,
             hash_oid(hlen));
    qs_test_http *r = sign_ver(s, "v1", s->cred, sad, one, 1, OID_RSA_PSS, extra);
    if (r->status != 200)
        fail_msg("PSS %s: HTTP %ld %s", label, r->status, r->body);
    json_t *j = json_of(r);
    const char *sig = json_string_value(json_array_get(json_object_get(j, "signatures"), 0));
    assert_non_null(sig);
    if (!verifies_with(s->spki, s->spki_len, &h, sig, md, (int)hlen))
        fail_msg("the RSASSA-PSS %s signature does not verify", label);
    /* ... with exactly those parameters, over this digest only */
    assert_false(verifies_with(s->spki, s->spki_len, &h, sig, md, 20));
    assert_false(verifies_with(s->spki, s->spki_len, &h, sig, EVP_sha256(), (int)hlen));
    assert_false(verifies_with(s->spki, s->spki_len, &h, sig, NULL, -1));
    dg changed = h;
    changed.raw[hlen - 1] ^= 0x80;
    assert_false(verifies_with(s->spki, s->spki_len, &changed, sig, md, (int)hlen));
    json_decref(j);
    qs_test_http_free(r);

    /* Once: the SAD is used up. */
    snprintf(extra, sizeof extra, ",\"signAlgoParams\":\"%s\"", good);
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_RSA_PSS, extra), 400,
                 "invalid_request", "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), made + 1);
    free(sad);
}

static void test_pss_sha384_sha512(void **state)
{
    (void)state;
    char b64[256];
    /* The builder makes what clients send (the SHA-256 parameters of test_api_sign). */
    pss_params(EVP_sha256(), EVP_sha256(), 32, 0, b64, sizeof b64);
    assert_string_equal(b64, PSS_SHA256);

    pss_case(EVP_sha384(), EVP_sha512(), "SHA-384", 0);
    pss_case(EVP_sha512(), EVP_sha384(), "SHA-512", 1);
}

/* ---- the SAD's binding -------------------------------------------------------------------------
 */

/* Bob presents Alice's SAD: with his own credential the SAM refuses it as another user's; with
 * Alice's credential qsignd answers as for a credential that does not exist. */
static void test_sad_of_another_signer(void **state)
{
    (void)state;
    signer *a = &F->s[S_ALICE], *b = &F->s[S_BOB];
    dg h;
    dg_of(&h, EVP_sha256(), "alice's contract");
    const dg *one[] = {&h};
    char *sad = authorize(a, a->cred, one, 1, 1);

    expect_error(sign_ec(b, b->cred, sad, one, 1), 400, "invalid_request", "Invalid parameter SAD");
    expect_error(sign_ver(b, "v1", b->cred, sad, one, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "Invalid parameter SAD");
    assert_int_equal(refusals_of("sign.refused", b->cred, "other_user"), 2);
    expect_error(extend(b, b->cred, sad, one, 1), 400, "invalid_request", "Invalid parameter SAD");
    assert_int_equal(refusals_of("extend.refused", b->cred, "other_user"), 1);

    /* Alice's credential id in Bob's request: byte for byte the answer for an unknown id. */
    qs_test_http *r = sign_ec(b, a->cred, sad, one, 1);
    qs_test_http *u = sign_ec(b, "00000000-0000-4000-8000-00000000dead", sad, one, 1);
    assert_int_equal(r->status, 400);
    assert_int_equal(u->status, 400);
    assert_string_equal(r->body, u->body);
    qs_test_http_free(u);
    expect_error(r, 400, "invalid_request", "Invalid parameter credentialID");

    expect_unconsumed(&h);
    assert_int_equal(signatures_of(a->cred), 0);
    assert_int_equal(signatures_of(b->cred), 0);
    /* Alice signs, once (the SAD is then used up). */
    expect_signs_once(a, sad, &h, "Invalid parameter SAD");
    assert_int_equal(signatures_of(a->cred), 1);
    free(sad);
}

/* An SAD for credential X presented with credential Y of the same signer. */
static void test_sad_of_another_credential(void **state)
{
    (void)state;
    signer *s = &F->s[S_CORA];
    dg h, h2;
    dg_of(&h, EVP_sha256(), "cora's first key");
    dg_of(&h2, EVP_sha256(), "cora's extension");
    const dg *one[] = {&h};
    char *sad = authorize(s, s->cred, one, 1, 2);

    expect_error(sign_ec(s, s->cred2, sad, one, 1), 400, "invalid_request",
                 "Invalid parameter SAD");
    assert_int_equal(refusals_of("sign.refused", s->cred2, "other_credential"), 1);
    expect_error(extend(s, s->cred2, sad, (const dg *[]){&h2}, 1), 400, "invalid_request",
                 "Invalid parameter SAD");
    assert_int_equal(refusals_of("extend.refused", s->cred2, "other_credential"), 1);

    expect_unconsumed(&h);
    expect_not_authorized(&h2);
    assert_int_equal(signatures_of(s->cred2), 0);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h, "Hash is not authorized by the SAD");
    assert_int_equal(signatures_of(s->cred), 1);
    free(sad);
}

/* A digest the SAD did not authorize, alone or beside one it did: nothing is signed. */
static void test_hash_not_authorized(void **state)
{
    (void)state;
    signer *s = &F->s[S_DAN];
    dg h, x;
    dg_of(&h, EVP_sha256(), "the authorized one");
    dg_of(&x, EVP_sha256(), "slipped in");
    char *sad = authorize(s, s->cred, (const dg *[]){&h}, 1, 2);

    static const char not_authorized[] = "Hash is not authorized by the SAD";
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&x}, 1), 400, "invalid_request",
                 not_authorized);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h, &x}, 2), 400, "invalid_request",
                 not_authorized);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&x, &h}, 2), 400, "invalid_request",
                 not_authorized);
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&x}, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", not_authorized);
    assert_int_equal(refusals_of("sign.refused", s->cred, "hash_not_authorized"), 4);

    expect_unconsumed(&h);
    expect_not_authorized(&x);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h, not_authorized);
    assert_int_equal(signatures_of(s->cred), 1);
    free(sad);
}

/* A signed digest presented again, alone or with one still unsigned (the SAD has signatures
 * to spare, so only the digest's state refuses it). */
static void test_consumed_hash_replayed(void **state)
{
    (void)state;
    signer *s = &F->s[S_EVA];
    dg h1, h2;
    dg_of(&h1, EVP_sha256(), "page one");
    dg_of(&h2, EVP_sha256(), "page two");
    char *sad = authorize(s, s->cred, (const dg *[]){&h1, &h2}, 2, 3);

    static const char not_authorized[] = "Hash is not authorized by the SAD";
    expect_signs_once(s, sad, &h1, not_authorized);
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&h1}, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", not_authorized);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h2, &h1}, 2), 400, "invalid_request",
                 not_authorized);
    assert_int_equal(refusals_of("sign.refused", s->cred, "hash_consumed"), 3);
    /* an extension cannot bring it back either */
    expect_error(extend(s, s->cred, sad, (const dg *[]){&h1}, 1), 400, "invalid_request",
                 "Invalid request");

    expect_unconsumed(&h2);
    assert_int_equal(signatures_of(s->cred), 1);
    expect_signs_once(s, sad, &h2, not_authorized);
    assert_int_equal(refusals_of("sign.refused", s->cred, "hash_consumed"), 4);
    assert_int_equal(signatures_of(s->cred), 2);
    /* One signature left, but no digest to use it on. */
    assert_int_equal(count("SELECT remaining FROM qsign.sads WHERE credential_id = '%s'", s->cred),
                     1);
    free(sad);
}

/* More digests than numSignatures: at authorize (qsignd), at signHash and at extendTransaction
 * (the SAM). */
static void test_more_hashes_than_num_signatures(void **state)
{
    (void)state;
    signer *s = &F->s[S_FINN];
    dg h1, h2, h3;
    dg_of(&h1, EVP_sha256(), "one");
    dg_of(&h2, EVP_sha256(), "two");
    dg_of(&h3, EVP_sha256(), "three");
    char list[1024], otp[QS_TOTP_CODE_BUF];
    long audited = audit_of(s);

    /* The code is wrong too: the count is refused first, and the SAM is never asked. */
    qs_test_signer_wrong_code(&s->s, otp);
    expect_error(csc(s, "/csc/v2/credentials/authorize",
                     "{\"credentialID\":\"%s\",\"numSignatures\":2,\"hashes\":[%s],"
                     "\"authData\":[{\"id\":\"PIN\",\"value\":\"%s\"},{\"id\":\"OTP\","
                     "\"value\":\"%s\"}]}",
                     s->cred, list_of(list, sizeof list, (const dg *[]){&h1, &h2, &h3}, 3),
                     s->s.pin, otp),
                 400, "invalid_request", "Invalid parameter numSignatures");
    expect_error(csc(s, "/csc/v1/credentials/authorize",
                     "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hash\":[%s],\"PIN\":\"%s\","
                     "\"OTP\":\"%s\"}",
                     s->cred, list_of(list, sizeof list, (const dg *[]){&h1, &h2}, 2), s->s.pin,
                     otp),
                 400, "invalid_request", "Invalid parameter numSignatures");
    assert_int_equal(sads_of(s->cred), 0);
    assert_int_equal(audit_of(s), audited);

    char *sad = authorize(s, s->cred, (const dg *[]){&h1}, 1, 1);
    static const char too_many[] = "Numbers of signatures is too high";
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h1, &h2}, 2), 400, "invalid_request",
                 too_many);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h2, &h3}, 2), 400, "invalid_request",
                 too_many);
    assert_int_equal(refusals_of("sign.refused", s->cred, "too_many_signatures"), 2);
    expect_error(extend(s, s->cred, sad, (const dg *[]){&h2}, 1), 400, "invalid_request", too_many);
    assert_int_equal(refusals_of("extend.refused", s->cred, "too_many_signatures"), 1);

    expect_unconsumed(&h1);
    expect_not_authorized(&h2);
    expect_not_authorized(&h3);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h1, "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), 1);
    free(sad);
}

/* The same digest twice in one request. */
static void test_same_hash_twice(void **state)
{
    (void)state;
    signer *s = &F->s[S_GERT];
    dg h1, h2;
    dg_of(&h1, EVP_sha256(), "twice");
    dg_of(&h2, EVP_sha256(), "once");
    char list[1024], otp[QS_TOTP_CODE_BUF];
    long audited = audit_of(s);

    qs_test_signer_wrong_code(&s->s, otp);
    expect_error(csc(s, "/csc/v2/credentials/authorize",
                     "{\"credentialID\":\"%s\",\"numSignatures\":2,\"hashes\":[%s],"
                     "\"authData\":[{\"id\":\"PIN\",\"value\":\"%s\"},{\"id\":\"OTP\","
                     "\"value\":\"%s\"}]}",
                     s->cred, list_of(list, sizeof list, (const dg *[]){&h1, &h1}, 2), s->s.pin,
                     otp),
                 400, "invalid_request", "Invalid parameter hashes");
    assert_int_equal(sads_of(s->cred), 0);
    assert_int_equal(audit_of(s), audited);

    char *sad = authorize(s, s->cred, (const dg *[]){&h1, &h2}, 2, 2);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h1, &h1}, 2), 400, "invalid_request",
                 "Invalid parameter hashes");
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&h1, &h1}, 2, OID_ECDSA_SHA256, ""),
                 400, "invalid_request", "Invalid parameter hash");
    expect_error(extend(s, s->cred, sad, (const dg *[]){&h1, &h1}, 2), 400, "invalid_request",
                 "Invalid parameter hashes");
    expect_unconsumed(&h1);
    expect_unconsumed(&h2);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signed(sign_ec(s, s->cred, sad, (const dg *[]){&h1}, 1), s, &h1);
    expect_signed(sign_ec(s, s->cred, sad, (const dg *[]){&h2}, 1), s, &h2);
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h1}, 1), 400, "invalid_request",
                 "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), 2);
    free(sad);
}

/* An SAD past its lifetime ([sad] lifetime = 2 s for this case): waited for by polling with a
 * digest the SAD never authorized, which is refused as such until the SAD expires. */
static void test_expired_sad(void **state)
{
    (void)state;
    signer *s = &F->s[S_HUGO];
    qs_test_samd_opts o = sam_opts;
    o.sad_lifetime = 2;
    sam_restart(&o);

    dg h, h2, probe;
    dg_of(&h, EVP_sha256(), "signed too late");
    dg_of(&h2, EVP_sha256(), "added too late");
    dg_of(&probe, EVP_sha256(), "probe");
    long expires_in = 0;
    char *sad = authorize_ex(s, s->cred, (const dg *[]){&h}, 1, 2, NULL, &expires_in);
    assert_int_equal(expires_in, 2);

    bool expired = false;
    long before_expiry = 0;
    for (int i = 0; i < POLL_LIMIT_S * 10 && !expired; i++) {
        qs_test_http *r = sign_ec(s, s->cred, sad, (const dg *[]){&probe}, 1);
        json_t *j = json_of(r);
        const char *d = json_string_value(json_object_get(j, "error_description"));
        assert_int_equal(r->status, 400);
        assert_non_null(d);
        if (strcmp(d, "SAD expired") == 0)
            expired = true;
        else if (strcmp(d, "Hash is not authorized by the SAD") == 0)
            before_expiry++;
        else
            fail_msg("probe: %s", r->body);
        json_decref(j);
        qs_test_http_free(r);
        if (!expired) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (!expired)
        fail_msg("the SAD did not expire within %d s", POLL_LIMIT_S);

    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h}, 1), 400, "invalid_request",
                 "SAD expired");
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&h}, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "SAD expired");
    expect_error(extend(s, s->cred, sad, (const dg *[]){&h2}, 1), 400, "invalid_request",
                 "SAD expired");
    assert_int_equal(refusals_of("sign.refused", s->cred, "sad_expired"), 3);
    assert_int_equal(refusals_of("extend.refused", s->cred, "sad_expired"), 1);
    assert_int_equal(refusals_of("sign.refused", s->cred, "hash_not_authorized"), before_expiry);
    expect_unconsumed(&h);
    expect_not_authorized(&h2);
    assert_int_equal(signatures_of(s->cred), 0);
    free(sad);
}

/* Back to the shared options, also when the case failed half way. */
static int restore_sam(void **state)
{
    (void)state;
    if (F->sam->opts.sad_lifetime != sam_opts.sad_lifetime)
        sam_restart(&sam_opts);
    return 0;
}

/* A modified SAD: well formed (the SAM knows no such SAD) or not (qsignd refuses it). */
static void test_modified_sad(void **state)
{
    (void)state;
    signer *s = &F->s[S_INES];
    dg h;
    dg_of(&h, EVP_sha256(), "ines");
    const dg *one[] = {&h};
    char *sad = authorize(s, s->cred, one, 1, 1);
    size_t len = strlen(sad);
    assert_int_equal(len, 43);

    char m[64];
    /* Each character changed in turn, at the start, middle and end (the last one keeps its
     * unused bits zero). */
    static const size_t at[] = {0, 21, 42};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        snprintf(m, sizeof m, "%s", sad);
        if (at[i] == 42)
            m[42] = m[42] == 'A' ? 'E' : 'A';
        else
            m[at[i]] = m[at[i]] == 'A' ? 'B' : 'A';
        expect_error(sign_ec(s, s->cred, m, one, 1), 400, "invalid_request",
                     "Invalid parameter SAD");
    }
    assert_int_equal(refusals_of("sign.refused", s->cred, "unknown_sad"), 3);
    snprintf(m, sizeof m, "%.42s", sad); /* cut short */
    expect_error(sign_ec(s, s->cred, m, one, 1), 400, "invalid_request", "Invalid parameter SAD");
    snprintf(m, sizeof m, "%sA", sad); /* one more */
    expect_error(sign_ec(s, s->cred, m, one, 1), 400, "invalid_request", "Invalid parameter SAD");
    snprintf(m, sizeof m, "%s", sad); /* the standard alphabet's '+', not base64url */
    m[10] = '+';
    expect_error(sign_ver(s, "v1", s->cred, m, one, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "Invalid parameter SAD");
    snprintf(m, sizeof m, "%s", sad); /* unused bits set in the last character */
    assert_non_null(strchr("AEIMQUYcgkosw048", m[42]));
    m[42] = (char)(m[42] + 1);
    expect_error(sign_ec(s, s->cred, m, one, 1), 400, "invalid_request", "Invalid parameter SAD");

    expect_unconsumed(&h);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h, "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), 1);
    free(sad);
}

/* An SAD presented with an access token revoked (auth/revoke) after the authorization.  The
 * SAD is bound to the signer, the credential and the digests, not to the API session: the
 * revoked token gets nothing, the signer's other session may still use the SAD, once. */
static void test_sad_after_token_revoked(void **state)
{
    (void)state;
    signer *s = &F->s[S_JAN];
    signer other = *s; /* the same signer in a second session */
    char pw[PW_BUF], body[128];
    password_of(s, pw);
    other.token = login_on(F->d, s->s.username, pw);
    dg h, h2;
    dg_of(&h, EVP_sha256(), "jan");
    dg_of(&h2, EVP_sha256(), "jan's extension");
    const dg *one[] = {&h};
    char *sad = authorize(&other, s->cred, one, 1, 2);
    s->s.last_step = other.s.last_step;

    snprintf(body, sizeof body, "{\"token\":\"%s\"}", other.token);
    qs_test_http *r = csc(&other, "/csc/v2/auth/revoke", "%s", body);
    assert_int_equal(r->status, 204);
    qs_test_http_free(r);
    expect_error(sign_ec(&other, s->cred, sad, one, 1), 401, "invalid_token",
                 "Invalid access token");
    expect_error(sign_ver(&other, "v1", s->cred, sad, one, 1, OID_ECDSA_SHA256, ""), 401,
                 "invalid_token", "Invalid access token");
    expect_error(extend(&other, s->cred, sad, (const dg *[]){&h2}, 1), 401, "invalid_token",
                 "Invalid access token");

    expect_unconsumed(&h);
    expect_not_authorized(&h2);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h, "Hash is not authorized by the SAD");
    assert_int_equal(signatures_of(s->cred), 1);
    free(other.token);
    free(sad);
}

/* A digest authorized under one hash algorithm presented under another. */
static void test_other_hash_algorithm(void **state)
{
    (void)state;
    signer *s = &F->s[S_KAI];
    dg h, cut;
    dg_of(&h, EVP_sha384(), "kai");
    dg_set(&cut, h.raw, 32); /* its first 32 bytes, as if a SHA-256 digest */
    const dg *one[] = {&h};
    char *sad = authorize(s, s->cred, one, 1, 1);

    /* Caught by qsignd: the digest's length is not the claimed algorithm's. */
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "Invalid digest value length");
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_ECDSA_SHA512, ""), 400,
                 "invalid_request", "Invalid digest value length");
    expect_error(sign_ver(s, "v2", s->cred, sad, one, 1, OID_ECDSA_SHA384,
                          ",\"hashAlgorithmOID\":\"" OID_SHA256 "\""),
                 400, "invalid_request", "Invalid parameter hashAlgorithmOID");
    /* Reaching the SAM: a SHA-256 digest under an SAD for SHA-384. */
    expect_error(sign_ver(s, "v2", s->cred, sad, (const dg *[]){&cut}, 1, OID_ECDSA_SHA256, ""),
                 400, "invalid_request", "Hash is not authorized by the SAD");
    expect_error(extend(s, s->cred, sad, (const dg *[]){&cut}, 1), 400, "invalid_request",
                 "Hash is not authorized by the SAD");
    assert_int_equal(refusals_of("sign.refused", s->cred, "hash_alg_mismatch"), 1);
    assert_int_equal(refusals_of("extend.refused", s->cred, "hash_alg_mismatch"), 1);

    expect_unconsumed(&h);
    expect_not_authorized(&cut);
    assert_int_equal(signatures_of(s->cred), 0);
    expect_signs_once(s, sad, &h, "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), 1);
    free(sad);
}

/* The credential locks (wrong factors through the API) after an SAD was issued: the SAD signs
 * nothing more until an officer unlocks it. */
static void test_locked_after_authorization(void **state)
{
    (void)state;
    signer *s = &F->s[S_LENA];
    dg h1, h2;
    dg_of(&h1, EVP_sha256(), "before the lock");
    dg_of(&h2, EVP_sha256(), "after the lock");
    char used[QS_TOTP_CODE_BUF], otp[QS_TOTP_CODE_BUF], wrong_pin[QS_PIN_MAX_LEN + 1];
    char *sad = authorize_ex(s, s->cred, (const dg *[]){&h1, &h2}, 2, 2, used, NULL);
    expect_signed(sign_ec(s, s->cred, sad, (const dg *[]){&h1}, 1), s, &h1);

    /* Someone else guesses: the spent code replayed, then wrong PINs. */
    snprintf(wrong_pin, sizeof wrong_pin, "%s", s->s.pin);
    wrong_pin[0] = wrong_pin[0] == '9' ? '0' : (char)(wrong_pin[0] + 1);
    expect_error(csc(s, "/csc/v2/credentials/authorize",
                     "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                     "\"authData\":[{\"id\":\"PIN\",\"value\":\"%s\"},{\"id\":\"OTP\","
                     "\"value\":\"%s\"}]}",
                     s->cred, h2.b64, s->s.pin, used),
                 400, "invalid_authentication_data", "Invalid OTP");
    for (int i = 1; i < MAX_FAILED; i++) {
        qs_test_signer_wrong_code(&s->s, otp);
        expect_error(csc(s, "/csc/v1/credentials/authorize",
                         "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hash\":[\"%s\"],"
                         "\"PIN\":\"%s\",\"OTP\":\"%s\"}",
                         s->cred, h2.b64, wrong_pin, otp),
                     400, "invalid_pin", NULL);
    }
    char where[256];
    snprintf(where, sizeof where, "event_type = 'credential.locked' AND credential_id = '%s'",
             s->cred);
    assert_int_equal(qs_test_samd_audit_count(F->sam, where), 1);
    /* Locked: even the signer's right factors are refused. */
    qs_test_signer_code(&s->s, otp);
    expect_error(csc(s, "/csc/v2/credentials/authorize",
                     "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                     "\"authData\":[{\"id\":\"PIN\",\"value\":\"%s\"},{\"id\":\"OTP\","
                     "\"value\":\"%s\"}]}",
                     s->cred, h2.b64, s->s.pin, otp),
                 400, "invalid_request", "Credential locked");
    assert_int_equal(sads_of(s->cred), 1);

    /* The SAD issued before the lock signs nothing while it lasts. */
    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h2}, 1), 400, "invalid_request",
                 "Credential locked");
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&h2}, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "Credential locked");
    assert_int_equal(refusals_of("sign.refused", s->cred, "credential_locked"), 2);
    expect_unconsumed(&h2);
    assert_int_equal(signatures_of(s->cred), 1);

    /* An officer unlocks after re-identifying the signer: the SAD's last digest signs, once. */
    char args[256], *out = NULL;
    snprintf(args, sizeof args, "credential unlock %s --reason re-identified", s->cred);
    if (qsignctl(&out, args) != 0)
        fail_msg("qsignctl %s: %s", args, out);
    free(out);
    expect_signs_once(s, sad, &h2, "Invalid parameter SAD");
    assert_int_equal(signatures_of(s->cred), 2);
    free(sad);
}

/* The certificate is revoked (qsignctl) after the SAD was issued: the SAD signs nothing more. */
static void test_certificate_revoked_after_authorization(void **state)
{
    (void)state;
    signer *s = &F->s[S_MARI];
    dg h1, h2;
    dg_of(&h1, EVP_sha256(), "while valid");
    dg_of(&h2, EVP_sha256(), "after revocation");
    char *sad = authorize(s, s->cred, (const dg *[]){&h1, &h2}, 2, 2);
    expect_signed(sign_ec(s, s->cred, sad, (const dg *[]){&h1}, 1), s, &h1);

    char args[256], *out = NULL;
    snprintf(args, sizeof args, "cert revoke --credential %s --reason keyCompromise", s->cred);
    if (qsignctl(&out, args) != 0)
        fail_msg("qsignctl %s: %s", args, out);
    free(out);

    expect_error(sign_ec(s, s->cred, sad, (const dg *[]){&h2}, 1), 400, "invalid_request",
                 "Signing certificate is revoked");
    expect_error(sign_ver(s, "v1", s->cred, sad, (const dg *[]){&h2}, 1, OID_ECDSA_SHA256, ""), 400,
                 "invalid_request", "Signing certificate is revoked");
    assert_int_equal(refusals_of("sign.refused", s->cred, "certificate_revoked"), 2);
    expect_unconsumed(&h2);
    assert_int_equal(signatures_of(s->cred), 1);
    assert_int_equal(count("SELECT count(*) FROM qsign.credentials WHERE id = '%s' AND status = "
                           "'destroyed' AND wrapped_key IS NULL",
                           s->cred),
                     1);

    qs_test_http *r = csc(s, "/csc/v2/credentials/info", "{\"credentialID\":\"%s\"}", s->cred);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "cert"), "status")),
                        "revoked");
    json_decref(j);
    qs_test_http_free(r);
    free(sad);
}

/* ---- rate limits on credentials/authorize ------------------------------------------------------
 */

static void expect_limited(qs_test_http *r)
{
    char h[64];
    if (qs_test_http_header(r, "Retry-After", h, sizeof h) == NULL)
        fail_msg("no Retry-After: HTTP %ld %s", r->status, r->body);
    char *end = NULL;
    long wait = strtol(h, &end, 10);
    assert_true(*end == '\0' && wait >= 1 && wait <= 60);
    expect_error(r, 429, "too_many_requests", "Too many attempts, retry later");
}

static qs_test_http *authorize_on(qs_test_apid *d, const char *source, const signer *s,
                                  const char *otp)
{
    dg h;
    dg_of(&h, EVP_sha256(), "rate limited");
    return post_on(d, s->token, source, "/csc/v2/credentials/authorize",
                   "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
                   "\"authData\":[{\"id\":\"PIN\",\"value\":\"%s\"},{\"id\":\"OTP\","
                   "\"value\":\"%s\"}]}",
                   s->cred, h.b64, s->s.pin, otp);
}

/* Per account: failed factors empty the account's bucket; then even the right factors get 429
 * (from any address, in both versions) and never reach the SAM.  Another account is served,
 * also after failed logins under a name that spells its user id. */
static void test_authorize_account_limit(void **state)
{
    (void)state;
    signer *e = &F->s[S_ERIN], *o = &F->s[S_OLAF];
    /* One token a minute: none comes back while the case runs. */
    qs_test_apid_opts ao = {.sam_socket = F->sam->socket_path,
                            .sam_timeout_ms = 30000,
                            .rl_account_per_minute = 1,
                            .rl_account_burst = 2};
    qs_test_apid *d = qs_test_apid_start(F->sam->pg, &ao);
    char otp[QS_TOTP_CODE_BUF];
    for (int i = 0; i < 2; i++) {
        qs_test_signer_wrong_code(&e->s, otp);
        expect_error(authorize_on(d, NULL, e, otp), 400, "invalid_authentication_data",
                     "Invalid OTP");
    }
    qs_test_signer_code(&e->s, otp);
    expect_limited(authorize_on(d, NULL, e, otp));
    expect_limited(authorize_on(d, "127.0.0.2", e, otp));
    dg h;
    dg_of(&h, EVP_sha256(), "v1");
    expect_limited(post_on(d, e->token, NULL, "/csc/v1/credentials/authorize",
                           "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hash\":[\"%s\"],"
                           "\"PIN\":\"%s\",\"OTP\":\"%s\"}",
                           e->cred, h.b64, e->s.pin, otp));
    assert_int_equal(metric(d, "qsign_rate_limited_total"), 3);
    assert_int_equal(sads_of(e->cred), 0);
    /* The SAM never saw the refused attempts: their code is still unspent. */
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    char sad[QS_SAM_SAD_BUF];
    uint32_t expires = 0;
    qs_sam_bytes hb = {h.raw, h.len};
    qs_sam_authorize_req q = {.user_id = e->s.user_id,
                              .credential_id = e->cred,
                              .pin = e->s.pin,
                              .otp = otp,
                              .num_signatures = 1,
                              .hash_alg = QS_SAM_HASH_SHA256,
                              .hashes = &hb,
                              .n_hashes = 1};
    if (qs_sam_client_authorize(c, &q, sad, &expires) != QS_OK)
        fail_msg("AUTHORIZE with the code of the refused attempts: %s", qs_sam_client_error(c));
    qs_wipe(sad, sizeof sad);
    qs_sam_client_close(c);

    /* Another account, after failed logins under its user id as a login name. */
    for (int i = 0; i < 2; i++) {
        char raw[256], b64[512], auth[600];
        snprintf(raw, sizeof raw, "%s:not-a-password", o->s.user_id);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                          sodium_base64_VARIANT_ORIGINAL);
        snprintf(auth, sizeof auth, "Basic %s", b64);
        qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
        expect_error(qs_test_apid_request(d, &req), 401, "access_denied", NULL);
    }
    qs_test_signer_code(&o->s, otp);
    qs_test_http *r = authorize_on(d, NULL, o, otp);
    if (r->status != 200)
        fail_msg("another account: HTTP %ld %s", r->status, r->body);
    qs_test_http_free(r);
    assert_int_equal(sads_of(o->cred), 1);
    assert_int_equal(metric(d, "qsign_rate_limited_total"), 3);
    assert_int_equal(qs_test_apid_stop(d), 0);
}

/* Per client address: every attempt takes a token, the form's refusals and logins included;
 * then 429 for anyone at that address, while another address is served. */
static void test_authorize_address_limit(void **state)
{
    (void)state;
    signer *p = &F->s[S_PIA], *o = &F->s[S_OLAF];
    qs_test_apid_opts ao = {.sam_socket = F->sam->socket_path,
                            .sam_timeout_ms = 30000,
                            .rl_address_per_minute = 1,
                            .rl_address_burst = 3};
    qs_test_apid *d = qs_test_apid_start(F->sam->pg, &ao);
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&p->s, otp);
    qs_test_http *r = authorize_on(d, NULL, p, otp);
    if (r->status != 200)
        fail_msg("first attempt: HTTP %ld %s", r->status, r->body);
    qs_test_http_free(r);
    qs_test_signer_wrong_code(&p->s, otp);
    expect_error(authorize_on(d, NULL, p, otp), 400, "invalid_authentication_data", NULL);
    expect_error(post_on(d, p->token, NULL, "/csc/v2/credentials/authorize",
                         "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"AAECAw==\"],"
                         "\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},{\"id\":\"OTP\","
                         "\"value\":\"1\"}]}",
                         p->cred),
                 400, "invalid_request", "Invalid digest value length");
    long sads = sads_of(p->cred);
    assert_int_equal(sads, 1);

    qs_test_signer_code(&p->s, otp);
    expect_limited(authorize_on(d, NULL, p, otp));
    expect_limited(authorize_on(d, NULL, o, otp)); /* another account at the same address */
    char pw[PW_BUF], raw[256], b64[512], auth[600];
    password_of(p, pw);
    snprintf(raw, sizeof raw, "%s:%s", p->s.username, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(auth, sizeof auth, "Basic %s", b64);
    qs_test_req login = {.path = "/csc/v2/auth/login", .auth = auth};
    expect_limited(qs_test_apid_request(d, &login));
    assert_int_equal(sads_of(p->cred), sads);
    assert_int_equal(metric(d, "qsign_rate_limited_total"), 3);

    /* Another address: served, with the code the refused attempt never spent. */
    r = authorize_on(d, "127.0.0.2", p, otp);
    if (r->status != 200)
        fail_msg("from another address: HTTP %ld %s", r->status, r->body);
    qs_test_http_free(r);
    assert_int_equal(sads_of(p->cred), sads + 1);
    assert_int_equal(qs_test_apid_stop(d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pss_sha384_sha512),
        cmocka_unit_test(test_sad_of_another_signer),
        cmocka_unit_test(test_sad_of_another_credential),
        cmocka_unit_test(test_hash_not_authorized),
        cmocka_unit_test(test_consumed_hash_replayed),
        cmocka_unit_test(test_more_hashes_than_num_signatures),
        cmocka_unit_test(test_same_hash_twice),
        cmocka_unit_test_teardown(test_expired_sad, restore_sam),
        cmocka_unit_test(test_modified_sad),
        cmocka_unit_test(test_sad_after_token_revoked),
        cmocka_unit_test(test_other_hash_algorithm),
        cmocka_unit_test(test_locked_after_authorization),
        cmocka_unit_test(test_certificate_revoked_after_authorization),
        cmocka_unit_test(test_authorize_account_limit),
        cmocka_unit_test(test_authorize_address_limit),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}

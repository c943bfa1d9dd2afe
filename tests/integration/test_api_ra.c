/*
 * The registration authority and the PKI endpoints through qsignd, end to end: the real
 * qsign-sam (SoftHSM token, self-signed CA) and the real qsignd over TLS on one database.
 * qsignd is not an admin peer of the SAM here, so every registration request needs the RA
 * session an officer gets with password + TOTP.
 *
 * Checked: the RA login (password and TOTP; signers and wrong factors refused); every bad RA
 * input gets a 400 naming the field and creates nothing; a signer registered through the RA
 * cannot authorize before activation, activates with the code (once) and then signs;
 * credentials/info shows the certificate chain and its status; /pki/ca.crt, the CRL at
 * /pki/crl (openssl crl -verify, the revoked serial with its reason) and OCSP at /pki/ocsp over
 * POST (openssl ocsp -url against the running responder over TLS) and GET say good, then
 * revoked after the RA revokes; malformed OCSP requests get malformedRequest.
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
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "tests/lib/apid.h"
#include "tests/lib/samd.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

static const char ca_config[] = "[ca]\n"
                                "subject_country = EE\n"
                                "subject_organization = qsign Test Trust Services\n"
                                "subject_organization_id = NTREE-10000000\n"
                                "subject_common_name = qsign Test Qualified CA\n"
                                "pds_url = https://qsign.example/pds-en\n"
                                "ca_issuers_url = http://qsign.example/pki/ca.crt\n"
                                "ocsp_url = http://qsign.example/pki/ocsp\n"
                                "crl_url = http://qsign.example/pki/crl\n";

typedef struct fixture {
    qs_test_samd *sam;
    qs_test_apid *d;
    char dir[PATH_MAX];
    qs_test_signer officer;
    char *ra; /* the officer's RA session */
    /* the signer of the flow */
    char user[64];
    char code[64];
    char cred[64];
    char serial[64];
    char *token;
    qs_test_signer s;
} fixture;

static fixture *F;

/* ---- helpers ----------------------------------------------------------------------------------
 */

static json_t *json_of(const qs_test_http *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %s", r->status, r->body);
    return j;
}

static qs_test_http *post(const char *path, const char *bearer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static qs_test_http *post(const char *path, const char *bearer, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return qs_test_apid_post(F->d, path, bearer, body);
}

/* Expects `status` and, for an error, a description containing `needle`. */
static void expect(qs_test_http *r, long status, const char *needle)
{
    if (r->status != status)
        fail_msg("HTTP %ld, want %ld: %s", r->status, status, r->body);
    if (needle != NULL && strstr(r->body, needle) == NULL)
        fail_msg("\"%s\" not in %s", needle, r->body);
    qs_test_http_free(r);
}

static char *basic(const char *user, const char *pw)
{
    char raw[256], b64[512];
    snprintf(raw, sizeof raw, "%s:%s", user, pw);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, strlen(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    char *auth = malloc(600);
    snprintf(auth, 600, "Basic %s", b64);
    return auth;
}

static qs_test_http *ra_login(const char *user, const char *pw, const char *otp)
{
    char *auth = basic(user, pw), body[64];
    snprintf(body, sizeof body, "{\"otp\":\"%s\"}", otp);
    qs_test_req req = {.path = "/ra/v1/login", .auth = auth, .body = body};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    free(auth);
    return r;
}

static char *csc_login(const char *user, const char *pw)
{
    char *auth = basic(user, pw);
    qs_test_req req = {.path = "/csc/v2/auth/login", .auth = auth};
    qs_test_http *r = qs_test_apid_request(F->d, &req);
    free(auth);
    if (r->status != 200)
        fail_msg("login %s: HTTP %ld %s", user, r->status, r->body);
    json_t *j = json_of(r);
    char *t = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    qs_test_http_free(r);
    return t;
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", F->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *name, size_t *len)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", F->dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = n;
    return buf;
}

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

static long count(const char *sql)
{
    PGconn *conn = qs_test_pg_connect(F->sam->pg->super_conninfo);
    char *v = qs_test_pg_query_value(conn, sql);
    PQfinish(conn);
    long n = v != NULL ? atol(v) : -1;
    free(v);
    return n;
}

/* The CRL number of the DER CRL in `file` (in F->dir) as openssl prints it, or -1 when the file
 * is missing or not a CRL signed by ca.pem. */
static long crl_file_number(const char *file)
{
    char *out = NULL;
    long n = -1;
    if (run(&out,
            "test -s '%s' && openssl crl -inform DER -in '%s' -CAfile ca.pem -noout -crlnumber",
            file, file) == 0) {
        const char *p = strstr(out, "crlNumber=0x");
        if (p != NULL && strstr(out, "verify OK") != NULL)
            n = strtol(p + 12, NULL, 16);
    }
    free(out);
    return n;
}

/* Waits (bounded) until the published CRL file holds a CRL numbered above `above`. */
static long wait_crl_file_above(long above)
{
    long n = -1;
    for (int i = 0; i < 600 && (n = crl_file_number("published-crl.der")) <= above; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (n <= above)
        fail_msg("the SAM did not publish a CRL numbered above %ld (file: %ld)", above, n);
    return n;
}

static qs_test_http *get(const char *path)
{
    qs_test_req req = {.method = "GET", .path = path};
    return qs_test_apid_request(F->d, &req);
}

/* ---- fixture ------------------------------------------------------------------------------------
 */

static int setup(void **state)
{
    (void)state;
    F = calloc(1, sizeof *F);
    qs_test_samd_opts o = {.extra = ca_config, .public_socket = true};
    F->sam = qs_test_samd_start("api_ra", &o);
    snprintf(F->dir, sizeof F->dir, "%s", F->sam->token.dir);
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    /* the CA, and an officer with factors and a login password (admin peer: this process) */
    uint8_t *cert = NULL, *csr = NULL;
    size_t cert_len = 0, csr_len = 0;
    if (qs_sam_client_ca_init(c, QS_SAM_CA_SELF_SIGNED, "setup", &cert, &cert_len, &csr,
                              &csr_len) != QS_OK)
        fail_msg("CA_INIT: %s", qs_sam_client_error(c));
    write_file("ca.der", cert, cert_len);
    free(cert);
    assert_int_equal(run(NULL, "openssl x509 -inform DER -in ca.der -out ca.pem"), 0);
    char *uri = NULL;
    snprintf(F->officer.username, sizeof F->officer.username, "olga");
    assert_int_equal(
        qs_sam_client_create_user(c, "olga", QS_SAM_USER_OFFICER, "setup", F->officer.user_id),
        QS_OK);
    assert_int_equal(
        qs_sam_client_enrol(c, F->officer.user_id, "864209", "setup", NULL, NULL, &uri), QS_OK);
    assert_true(qs_test_otpauth_parse(uri, &F->officer));
    qs_secret_free(uri);
    qs_sam_client_close(c);
    qs_test_apid_set_password(F->sam->pg, F->officer.user_id, "olga-password");

    /* From here on no peer is an admin: qsignd gets nothing without an RA session. */
    assert_int_equal(qs_test_samd_terminate(F->sam, SIGTERM), 0);
    assert_int_equal(
        qs_test_system("sed -i 's/^admin_uids = .*/admin_uids = 65534/' '%s'", F->sam->config_path),
        0);
    /* and the SAM publishes the CRL to a file, checking every second whether one is due */
    assert_int_equal(qs_test_system("sed -i 's|^crl_url = .*|&\\ncrl_file = %s/published-crl.der"
                                    "\\ncrl_check_seconds = 1|' '%s'",
                                    F->dir, F->sam->config_path),
                     0);
    qs_test_samd_launch(F->sam);

    qs_test_apid_opts ao = {
        .sam_socket = F->sam->socket_path, .sam_timeout_ms = 30000, .pki_listener = true};
    F->d = qs_test_apid_start(F->sam->pg, &ao);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = qs_test_apid_stop(F->d);
    qs_test_samd_stop(F->sam);
    free(F->ra);
    free(F->token);
    free(F);
    return st == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_ra_login(void **state)
{
    (void)state;
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_wrong_code(&F->officer, otp);
    expect(ra_login("olga", "olga-password", otp), 401, "access_denied");
    qs_test_signer_code(&F->officer, otp);
    expect(ra_login("olga", "wrong-password", otp), 401, "access_denied");
    expect(ra_login("nobody", "x", otp), 401, NULL);
    qs_test_signer_code(&F->officer, otp);
    qs_test_http *r = ra_login("olga", "olga-password", otp);
    if (r->status != 200)
        fail_msg("RA login: %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    F->ra = strdup(json_string_value(json_object_get(j, "access_token")));
    assert_true(json_integer_value(json_object_get(j, "expires_in")) > 0);
    json_decref(j);
    qs_test_http_free(r);
    /* the same code again: a TOTP step is accepted once */
    expect(ra_login("olga", "olga-password", otp), 401, NULL);
    /* the RA endpoints need the RA session */
    expect(post("/ra/v1/signers/list", NULL, "{}"), 401, NULL);
    expect(post("/ra/v1/signers/list", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{}"), 401,
           NULL);
    expect(post("/ra/v1/signers/list", F->ra, "{}"), 200, "\"signers\"");
    assert_int_equal(qs_test_samd_audit_count(F->sam, "event_type = 'officer.login'"), 1);
}

static const char good_subject[] =
    "{\"countryName\":\"EE\",\"commonName\":\"Mari-Liis M\\u00e4nnik\",\"givenName\":"
    "\"Mari-Liis\",\"surname\":\"M\\u00e4nnik\",\"serialNumber\":\"PNOEE-48010010101\"}";
static const char good_evidence[] =
    "{\"method\":\"physical\",\"documentType\":\"id_card\",\"documentNumber\":\"AB1234567\","
    "\"issuingCountry\":\"EE\",\"notes\":\"seen at the office\"}";

static void test_bad_input(void **state)
{
    (void)state;
    long users = count("SELECT count(*) FROM qsign.users");
    long evidence = count("SELECT count(*) FROM qsign.identity_evidence");
    static const struct {
        const char *subject, *evidence, *extra, *field;
    } cases[] = {
        {"{\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":\"PNOEE-1\"}", NULL, "",
         "subject.countryName"},
        {"{\"countryName\":\"XX\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOEE-1\"}",
         NULL, "", "subject.countryName"},
        {"{\"countryName\":\"ee\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOEE-1\"}",
         NULL, "", "subject.countryName"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOEE48010010101\"}",
         NULL, "", "subject.serialNumber"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"XYZEE-1\"}",
         NULL, "", "subject.serialNumber"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOXX-1\"}",
         NULL, "", "subject.serialNumber"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\"}", NULL, "",
         "subject.serialNumber"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"pseudonym\":\"Z\","
         "\"serialNumber\":\"PNOEE-1\"}",
         NULL, "", "subject.pseudonym"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOEE-1\",\"organizationName\":\"Acme\"}",
         NULL, "", "subject.organizationName"},
        {"{\"countryName\":\"EE\",\"commonName\":"
         "\"ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDE\",\"givenName\":"
         "\"X\",\"serialNumber\":\"PNOEE-1\"}",
         NULL, "", "subject.commonName"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X\\u0007Y\",\"givenName\":\"X\","
         "\"serialNumber\":\"PNOEE-1\"}",
         NULL, "", "subject.commonName"},
        {"{\"countryName\":\"EE\",\"commonName\":\"X Y\",\"givenName\":\"X\",\"serialNumber\":"
         "\"PNOEE-1\",\"title\":\"Dr\"}",
         NULL, "", "subject.title"},
        {"\"EE\"", NULL, "", "subject"},
        {NULL,
         "{\"method\":\"post\",\"documentType\":\"id_card\",\"documentNumber\":\"A1\","
         "\"issuingCountry\":\"EE\"}",
         "", "evidence.method"},
        {NULL,
         "{\"method\":\"remote\",\"documentType\":\"library_card\",\"documentNumber\":"
         "\"A1\",\"issuingCountry\":\"EE\"}",
         "", "evidence.documentType"},
        {NULL,
         "{\"method\":\"remote\",\"documentType\":\"passport\",\"documentNumber\":\"A1\","
         "\"issuingCountry\":\"ZZ\"}",
         "", "evidence.issuingCountry"},
        {NULL,
         "{\"method\":\"remote\",\"documentType\":\"passport\",\"documentNumber\":\"A;1\","
         "\"issuingCountry\":\"EE\"}",
         "", "evidence.documentNumber"},
        {NULL, "{\"method\":\"remote\",\"documentType\":\"passport\",\"issuingCountry\":\"EE\"}",
         "", "evidence.documentNumber"},
        {NULL, NULL, ",\"profile\":\"qcp-w\"", "profile"},
        {NULL, NULL, ",\"colour\":\"blue\"", "colour"},
        {NULL, NULL, ",\"profile\":\"qcp-l-qscd\"", "subject.givenName"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qs_test_http *r =
            post("/ra/v1/signers/create", F->ra,
                 "{\"username\":\"bad%zu\",\"subject\":%s,\"evidence\":%s%s}", i,
                 cases[i].subject != NULL ? cases[i].subject : good_subject,
                 cases[i].evidence != NULL ? cases[i].evidence : good_evidence, cases[i].extra);
        if (r->status != 400 || strstr(r->body, cases[i].field) == NULL ||
            strstr(r->body, "invalid_request") == NULL)
            fail_msg("case %zu: HTTP %ld %s (want 400 naming %s)", i, r->status, r->body,
                     cases[i].field);
        qs_test_http_free(r);
    }
    expect(post("/ra/v1/signers/create", F->ra, "{\"subject\":%s,\"evidence\":%s}", good_subject,
                good_evidence),
           400, "username");
    expect(post("/ra/v1/signers/create", F->ra,
                "{\"username\":\"-x\",\"subject\":%s,\"evidence\":%s}", good_subject,
                good_evidence),
           400, "username");
    expect(post("/ra/v1/signers/create", F->ra, "[1,2]"), 400, NULL);
    expect(post("/ra/v1/signers/create", F->ra, "{\"username\":"), 400, NULL);
    expect(post("/ra/v1/credentials/create", F->ra, "{\"userID\":\"nope\"}"), 400, "userID");
    expect(post("/ra/v1/credentials/create", F->ra,
                "{\"userID\":\"00000000-0000-4000-8000-000000000001\",\"keyAlgo\":\"dsa\"}"),
           400, "keyAlgo");
    expect(post("/ra/v1/certificates/revoke", F->ra, "{\"serialNumber\":\"zz\",\"reason\":1}"), 400,
           "serialNumber");
    expect(post("/ra/v1/certificates/revoke", F->ra,
                "{\"serialNumber\":\"0a\",\"reason\":\"certificateHold\"}"),
           400, "reason");
    expect(post("/ra/v1/certificates/revoke", F->ra, "{\"serialNumber\":\"0a\",\"reason\":7}"), 400,
           "reason");
    expect(post("/ra/v1/credentials/unlock", F->ra, "{\"credentialID\":\"x\",\"reason\":\"r\"}"),
           400, "credentialID");
    assert_int_equal(count("SELECT count(*) FROM qsign.users"), users);
    assert_int_equal(count("SELECT count(*) FROM qsign.identity_evidence"), evidence);
    assert_int_equal(count("SELECT count(*) FROM qsign.credentials"), 0);
}

static void test_register_and_certify(void **state)
{
    (void)state;
    qs_test_http *r =
        post("/ra/v1/signers/create", F->ra,
             "{\"username\":\"mari\",\"subject\":%s,\"evidence\":%s}", good_subject, good_evidence);
    if (r->status != 201)
        fail_msg("signers/create: %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    snprintf(F->user, sizeof F->user, "%s", json_string_value(json_object_get(j, "userID")));
    snprintf(F->code, sizeof F->code, "%s",
             json_string_value(json_object_get(j, "activationCode")));
    assert_int_equal(strlen(json_string_value(json_object_get(j, "activationExpires"))), 15);
    json_decref(j);
    qs_test_http_free(r);
    /* the same username again */
    expect(post("/ra/v1/signers/create", F->ra,
                "{\"username\":\"mari\",\"subject\":%s,\"evidence\":%s}", good_subject,
                good_evidence),
           409, NULL);

    r = post("/ra/v1/credentials/create", F->ra, "{\"userID\":\"%s\",\"keyAlgo\":\"ec-p256\"}",
             F->user);
    if (r->status != 201)
        fail_msg("credentials/create: %ld %s", r->status, r->body);
    j = json_of(r);
    snprintf(F->cred, sizeof F->cred, "%s", json_string_value(json_object_get(j, "credentialID")));
    snprintf(F->serial, sizeof F->serial, "%s",
             json_string_value(json_object_get(j, "serialNumber")));
    const char *b64 = json_string_value(json_object_get(j, "certificate"));
    uint8_t der[4096];
    size_t der_len = 0;
    assert_int_equal(sodium_base642bin(der, sizeof der, b64, strlen(b64), NULL, &der_len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    write_file("leaf.der", der, der_len);
    json_decref(j);
    qs_test_http_free(r);
    char *out = NULL;
    if (run(&out, "openssl x509 -inform DER -in leaf.der -out leaf.pem && openssl verify"
                  " -x509_strict -CAfile ca.pem -policy 0.4.0.194112.1.2 -explicit_policy"
                  " leaf.pem") != 0)
        fail_msg("verify: %s", out);
    free(out);

    /* signers/info and signers/list: evidence without the document number */
    r = post("/ra/v1/signers/info", F->ra, "{\"userID\":\"%s\"}", F->user);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\"documentType\":\"id_card\""));
    assert_non_null(strstr(r->body, "officer=olga"));
    assert_non_null(strstr(r->body, "\"activated\":false"));
    assert_null(strstr(r->body, "1234567"));
    qs_test_http_free(r);
    expect(post("/ra/v1/signers/info", F->ra, "{\"userID\":\"%s\"}", F->officer.user_id), 400,
           "userID");
    expect(post("/ra/v1/signers/list", F->ra, "{\"maxResults\":5}"), 200, "PNOEE-48010010101");
}

static void test_activation(void **state)
{
    (void)state;
    qs_test_apid_set_password(F->sam->pg, F->user, "mari-password");
    F->token = csc_login("mari", "mari-password");
    /* credentials/info: the chain and its status */
    qs_test_http *r =
        post("/csc/v2/credentials/info", F->token,
             "{\"credentialID\":\"%s\",\"certificates\":\"chain\",\"certInfo\":true}", F->cred);
    if (r->status != 200)
        fail_msg("credentials/info: %ld %s", r->status, r->body);
    json_t *j = json_of(r);
    const json_t *cert = json_object_get(j, "cert");
    assert_string_equal(json_string_value(json_object_get(cert, "status")), "valid");
    assert_int_equal(json_array_size(json_object_get(cert, "certificates")), 2);
    assert_string_equal(json_string_value(json_object_get(cert, "serialNumber")), F->serial);
    assert_non_null(strstr(json_string_value(json_object_get(cert, "subjectDN")),
                           "serialNumber=PNOEE-48010010101"));
    assert_non_null(
        strstr(json_string_value(json_object_get(cert, "issuerDN")), "CN=qsign Test Qualified CA"));
    assert_int_equal(strlen(json_string_value(json_object_get(cert, "validTo"))), 15);
    json_decref(j);
    qs_test_http_free(r);

    /* before activation nothing can be authorized */
    char hash[64];
    uint8_t raw[32];
    crypto_hash_sha256(raw, (const unsigned char *)"doc", 3);
    sodium_bin2base64(hash, sizeof hash, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    r = post("/csc/v2/credentials/authorize", F->token,
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
             "\"hashAlgorithmOID\":\"2.16.840.1.101.3.4.2.1\",\"authData\":[{\"id\":\"PIN\","
             "\"value\":\"123456\"},{\"id\":\"OTP\",\"value\":\"123456\"}]}",
             F->cred, hash);
    assert_int_equal(r->status, 400);
    qs_test_http_free(r);
    /* nor can anyone but the signer set the factors (this peer is no admin now) */
    qs_sam_client *c = qs_test_samd_connect(F->sam);
    char *uri = NULL;
    assert_int_equal(qs_sam_client_enrol(c, F->user, "111111", NULL, NULL, NULL, &uri),
                     QS_ERR_FORBIDDEN);
    qs_sam_client_close(c);

    /* what the web page asks first: the account is not activated yet */
    expect(post("/account/v1/info", F->token, "{}"), 200, "\"activated\":false");
    expect(post("/account/v1/activate", F->token,
                "{\"activationCode\":\"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA\",\"PIN\":\"246810\"}"),
           400, "Invalid activation code");
    expect(post("/account/v1/activate", F->token, "{\"activationCode\":\"%s\",\"PIN\":\"12\"}",
                F->code),
           400, "PIN");
    expect(post("/account/v1/activate", NULL, "{\"activationCode\":\"%s\",\"PIN\":\"246810\"}",
                F->code),
           401, NULL);
    r = post("/account/v1/activate", F->token, "{\"activationCode\":\"%s\",\"PIN\":\"246810\"}",
             F->code);
    if (r->status != 200)
        fail_msg("activate: %ld %s", r->status, r->body);
    j = json_of(r);
    memset(&F->s, 0, sizeof F->s);
    assert_true(qs_test_otpauth_parse(json_string_value(json_object_get(j, "otpauthURI")), &F->s));
    /* the same URI drawn as a QR code for the web page (its content is checked by test_api_web
     * and the browser test, which decode it): one SVG, nothing around it */
    const char *qr = json_string_value(json_object_get(j, "otpauthQR"));
    assert_non_null(qr);
    assert_int_equal(strncmp(qr, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ", 53),
                     0);
    assert_int_equal(strcmp(qr + strlen(qr) - 6, "</svg>"), 0);
    assert_null(strstr(qr, "secret"));
    assert_int_equal(json_object_size(j), 2);
    json_decref(j);
    qs_test_http_free(r);
    expect(post("/account/v1/info", F->token, "{}"), 200, "\"activated\":true");
    char *log = qs_test_apid_log(F->d);
    assert_null(strstr(log, "otpauth"));
    assert_null(strstr(log, "secret="));
    assert_null(strstr(log, "<svg"));
    free(log);
    expect(post("/account/v1/activate", F->token, "{\"activationCode\":\"%s\",\"PIN\":\"246810\"}",
                F->code),
           400, "Invalid activation code");

    /* now it signs */
    char otp[QS_TOTP_CODE_BUF];
    qs_test_signer_code(&F->s, otp);
    r = post("/csc/v2/credentials/authorize", F->token,
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
             "\"hashAlgorithmOID\":\"2.16.840.1.101.3.4.2.1\",\"authData\":[{\"id\":\"PIN\","
             "\"value\":\"246810\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
             F->cred, hash, otp);
    if (r->status != 200)
        fail_msg("authorize: %ld %s", r->status, r->body);
    j = json_of(r);
    char sad[128];
    snprintf(sad, sizeof sad, "%s", json_string_value(json_object_get(j, "SAD")));
    json_decref(j);
    qs_test_http_free(r);
    expect(post("/csc/v2/signatures/signHash", F->token,
                "{\"credentialID\":\"%s\",\"SAD\":\"%s\",\"hashes\":[\"%s\"],"
                "\"hashAlgorithmOID\":\"2.16.840.1.101.3.4.2.1\",\"signAlgo\":"
                "\"1.2.840.10045.4.3.2\"}",
                F->cred, sad, hash),
           200, "signatures");
}

/* The OCSP request for the flow's certificate, made by openssl. */
static void ocsp_request(void)
{
    char *out = NULL;
    if (run(&out, "openssl ocsp -issuer ca.pem -cert leaf.pem -no_nonce -reqout req.der") != 0)
        fail_msg("openssl ocsp -reqout: %s", out);
    free(out);
}

/* POSTs req.der to /pki/ocsp; the response into resp.der; openssl's verdict returned. */
static char *ocsp_post_and_check(void)
{
    size_t len = 0;
    char *req = read_file("req.der", &len);
    static const char *const hdr[] = {"Content-Type: application/ocsp-request", NULL};
    qs_test_req rq = {.path = "/pki/ocsp", .body = req, .body_len = len, .headers = hdr};
    qs_test_http *r = qs_test_apid_request(F->d, &rq);
    free(req);
    assert_int_equal(r->status, 200);
    write_file("resp.der", r->body, r->body_len);
    qs_test_http_free(r);
    char *out = NULL;
    if (run(&out, "openssl ocsp -respin resp.der -reqin req.der -CAfile ca.pem -issuer ca.pem"
                  " -cert leaf.pem") != 0)
        fail_msg("openssl ocsp -respin: %s", out);
    return out;
}

/* The plain-HTTP [pki] listener serves /pki/ and nothing else; the SAM keeps the CRL file
 * current by itself: at start, and again when the stored CRL is gone (as when it is due). */
static void test_pki_listener_and_crl_file(void **state)
{
    (void)state;
    char *out = NULL;
    /* made by the SAM's own check, no request asked for it */
    long first = wait_crl_file_above(0);
    if (run(&out,
            "curl -sS -f -o http-ca.der '%s/pki/ca.crt' && cmp http-ca.der ca.der && "
            "curl -sS -f -o http-crl.der '%s/pki/crl' && "
            "openssl crl -inform DER -in http-crl.der -CAfile ca.pem -noout",
            F->d->pki_url, F->d->pki_url) != 0)
        fail_msg("the [pki] listener: %s", out);
    assert_non_null(strstr(out, "verify OK"));
    free(out);
    /* everything else is 404 on it, in the CSC error shape */
    const char *other[] = {"/csc/v2/info", "/healthz", "/ra/v1/login", "/", "/pkix"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(run(&out, "curl -sS -o body.txt -w '%%{http_code}' -X POST -d '{}' '%s%s'",
                             F->d->pki_url, other[i]),
                         0);
        if (strcmp(out, "404") != 0)
            fail_msg("%s on the [pki] listener: status %s", other[i], out);
        free(out);
        char *body = read_file("body.txt", NULL);
        assert_non_null(strstr(body, "\"error\""));
        free(body);
    }
    /* the stored CRL gone (as if due): the next check makes and publishes a new one */
    assert_int_equal(
        count("WITH d AS (DELETE FROM qsign.crls RETURNING 1) SELECT count(*) FROM d") > 0, true);
    long second = wait_crl_file_above(first);
    assert_true(second > first);
}

static void test_pki_endpoints(void **state)
{
    (void)state;
    /* the CA certificate */
    qs_test_http *r = get("/pki/ca.crt");
    assert_int_equal(r->status, 200);
    size_t ca_len = 0;
    char *ca = read_file("ca.der", &ca_len);
    assert_int_equal(r->body_len, ca_len);
    assert_memory_equal(r->body, ca, ca_len);
    free(ca);
    qs_test_http_free(r);

    ocsp_request();
    char *out = ocsp_post_and_check();
    assert_non_null(strstr(out, "leaf.pem: good"));
    free(out);
    /* openssl against the running responder itself, over TLS */
    char trust[PATH_MAX + 64];
    snprintf(trust, sizeof trust, "%s/tls-ca.pem", F->dir);
    assert_int_equal(qs_test_system("cat '%s' '%s/ca.pem' > '%s'", F->d->ca_file, F->dir, trust),
                     0);
    if (run(&out,
            "openssl ocsp -issuer ca.pem -cert leaf.pem -url '%s/pki/ocsp' -CAfile"
            " tls-ca.pem -verify_other ca.pem",
            F->d->base_url) != 0)
        fail_msg("openssl ocsp -url: %s", out);
    assert_non_null(strstr(out, "leaf.pem: good"));
    free(out);
    /* GET: /pki/ocsp/<base64 of the request, URL-encoded> */
    size_t len = 0;
    char *req = read_file("req.der", &len);
    char b64[1024], enc[3072], path[3200];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)req, len,
                      sodium_base64_VARIANT_ORIGINAL);
    free(req);
    size_t k = 0;
    for (const char *p = b64; *p != '\0'; p++) {
        if (*p == '+' || *p == '/' || *p == '=')
            k += (size_t)sprintf(enc + k, "%%%02X", (unsigned char)*p);
        else
            enc[k++] = *p;
    }
    enc[k] = '\0';
    snprintf(path, sizeof path, "/pki/ocsp/%s", enc);
    r = get(path);
    assert_int_equal(r->status, 200);
    write_file("resp-get.der", r->body, r->body_len);
    qs_test_http_free(r);
    if (run(&out, "openssl ocsp -respin resp-get.der -reqin req.der -CAfile ca.pem -issuer ca.pem"
                  " -cert leaf.pem") != 0)
        fail_msg("GET: %s", out);
    assert_non_null(strstr(out, "leaf.pem: good"));
    free(out);
    /* malformed, in both forms: malformedRequest (OCSPResponseStatus 1) */
    static const char *const hdr[] = {"Content-Type: application/ocsp-request", NULL};
    qs_test_req bad = {
        .path = "/pki/ocsp", .body = "\x30\x03\x02\x01", .body_len = 4, .headers = hdr};
    r = qs_test_apid_request(F->d, &bad);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, 5);
    assert_int_equal((unsigned char)r->body[4], 1);
    qs_test_http_free(r);
    r = get("/pki/ocsp/!!not-base64!!");
    assert_int_equal(r->status, 200);
    assert_int_equal((unsigned char)r->body[4], 1);
    qs_test_http_free(r);
    qs_test_req empty = {.path = "/pki/ocsp", .body = "", .headers = hdr};
    r = qs_test_apid_request(F->d, &empty);
    assert_int_equal(r->status, 200);
    assert_int_equal((unsigned char)r->body[4], 1);
    qs_test_http_free(r);
}

static void test_revoke(void **state)
{
    (void)state;
    expect(post("/ra/v1/certificates/revoke", F->ra,
                "{\"serialNumber\":\"%s\",\"reason\":\"keyCompromise\",\"comment\":\"phone "
                "stolen\"}",
                F->serial),
           200, "keyCompromise");
    expect(post("/ra/v1/certificates/revoke", F->ra,
                "{\"serialNumber\":\"%s\",\"reason\":\"keyCompromise\"}", F->serial),
           409, NULL);
    char *out = ocsp_post_and_check();
    assert_non_null(strstr(out, "leaf.pem: revoked"));
    free(out);
    /* and openssl asking the running responder */
    if (run(&out,
            "openssl ocsp -issuer ca.pem -cert leaf.pem -url '%s/pki/ocsp' -CAfile"
            " tls-ca.pem -verify_other ca.pem",
            F->d->base_url) != 0)
        fail_msg("openssl ocsp -url: %s", out);
    assert_non_null(strstr(out, "leaf.pem: revoked"));
    assert_non_null(strstr(out, "Reason: keyCompromise"));
    free(out);

    qs_test_http *r = get("/pki/crl");
    assert_int_equal(r->status, 200);
    write_file("crl.der", r->body, r->body_len);
    qs_test_http_free(r);
    if (run(&out, "openssl crl -inform DER -in crl.der -CAfile ca.pem -noout -text") != 0)
        fail_msg("openssl crl: %s", out);
    assert_non_null(strstr(out, "verify OK"));
    assert_non_null(strstr(out, F->serial));
    assert_non_null(strstr(out, "Key Compromise"));
    free(out);
    /* the revocation made the CRL at once, and the file holds that very CRL; so does the
     * plain-HTTP listener, and OCSP answers there too */
    if (run(&out,
            "cmp crl.der published-crl.der && curl -sS -f -o http-crl.der '%s/pki/crl' && "
            "cmp crl.der http-crl.der && openssl ocsp -issuer ca.pem -cert leaf.pem "
            "-url '%s/pki/ocsp' -CAfile ca.pem",
            F->d->pki_url, F->d->pki_url) != 0)
        fail_msg("published CRL / [pki] listener after the revocation: %s", out);
    assert_non_null(strstr(out, "leaf.pem: revoked"));
    free(out);

    /* credentials/info: revoked, the key gone */
    r = post("/csc/v2/credentials/info", F->token, "{\"credentialID\":\"%s\",\"certInfo\":true}",
             F->cred);
    assert_int_equal(r->status, 200);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "cert"), "status")),
                        "revoked");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "key"), "status")),
                        "disabled");
    json_decref(j);
    qs_test_http_free(r);
    assert_int_equal(count("SELECT count(*) FROM qsign.credentials WHERE wrapped_key IS NULL"), 1);
    /* and nothing authorizes or signs with it */
    char otp[QS_TOTP_CODE_BUF], hash[64];
    uint8_t raw[32];
    crypto_hash_sha256(raw, (const unsigned char *)"doc2", 4);
    sodium_bin2base64(hash, sizeof hash, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    qs_test_signer_code(&F->s, otp);
    r = post("/csc/v2/credentials/authorize", F->token,
             "{\"credentialID\":\"%s\",\"numSignatures\":1,\"hashes\":[\"%s\"],"
             "\"hashAlgorithmOID\":\"2.16.840.1.101.3.4.2.1\",\"authData\":[{\"id\":\"PIN\","
             "\"value\":\"246810\"},{\"id\":\"OTP\",\"value\":\"%s\"}]}",
             F->cred, hash, otp);
    assert_int_equal(r->status, 400);
    qs_test_http_free(r);
    /* unlock of a credential that is not locked */
    expect(post("/ra/v1/credentials/unlock", F->ra,
                "{\"credentialID\":\"%s\",\"reason\":\"re-identified\"}", F->cred),
           400, "not locked");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ra_login),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_register_and_certify),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_pki_listener_and_crl_file),
        cmocka_unit_test(test_pki_endpoints),
        cmocka_unit_test(test_revoke),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

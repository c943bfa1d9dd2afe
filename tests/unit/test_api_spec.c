/*
 * The declarative request parser of qsignd: body framing, the per-version field names, types,
 * limits, allowed values, base64, OIDs, UUIDs, tokens, authData, unknown and missing members,
 * and the CSC wording of every description.  Also the route table's consistency: every field an
 * endpoint accepts in a version has a name in that version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/secret.h"

static const char *const colours[] = {"red", "green", NULL};

static const api_field_spec spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 8},
    {.field = API_F_CERTIFICATES,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 16,
     .allowed = colours},
    {.field = API_F_CERT_INFO, .type = API_T_BOOL, .versions = API_V_BOTH},
    {.field = API_F_NUM_SIGNATURES, .type = API_T_INT, .versions = API_V_BOTH, .min = 1, .max = 5},
    {.field = API_F_HASHES,
     .type = API_T_STRINGS,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 3,
     .elem_min = 4,
     .elem_max = 88,
     .flags = API_FS_BASE64},
    {.field = API_F_HASH_ALGO,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
    {.field = API_F_ONLY_VALID, .type = API_T_BOOL, .versions = API_V2_BIT},
    {.field = API_F_PIN, .type = API_T_STRING, .versions = API_V1_BIT, .min = 1, .max = 64},
    {.field = API_F_AUTH_DATA,
     .type = API_T_AUTHDATA,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 4,
     .elem_min = 1,
     .elem_max = 64},
    {.field = API_F_USER_ID,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 64,
     .flags = API_FS_UUID},
    {.field = API_F_REFRESH_TOKEN,
     .type = API_T_STRING,
     .versions = API_V_BOTH,
     .min = 1,
     .max = 256,
     .flags = API_FS_TOKEN},
};
#define NSPEC (sizeof spec / sizeof spec[0])

#define TOKEN_OK "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* The body parsed last: the parameters point into it, so it lives until the next parse. */
static json_t *last_body;

/* Parses `text` for version v: returns the result; the description in desc. */
static qs_err parse(api_ver v, const char *text, api_params *p, char *desc)
{
    json_decref(last_body);
    last_body = NULL;
    qs_err r = api_body_parse((const uint8_t *)text, strlen(text), &last_body, desc, API_DESC_MAX);
    if (r != QS_OK)
        return r;
    return api_spec_parse(last_body, v, spec, NSPEC, p, desc, API_DESC_MAX);
}

#define expect_desc(v, text, want_err, want_desc)                                                  \
    do {                                                                                           \
        api_params p_;                                                                             \
        char d_[API_DESC_MAX] = "";                                                                \
        qs_err r_ = parse(v, text, &p_, d_);                                                       \
        if (r_ != (want_err) || strcmp(d_, want_desc) != 0)                                        \
            fail_msg("%s\n  got %s \"%s\"\n  want %s \"%s\"", text, qs_err_name(r_), d_,           \
                     qs_err_name(want_err), want_desc);                                            \
    } while (0)

static void test_body_framing(void **state)
{
    (void)state;
    json_t *j = NULL;
    char d[API_DESC_MAX];
    assert_int_equal(api_body_parse((const uint8_t *)"", 0, &j, d, sizeof d), QS_OK);
    assert_true(json_is_object(j));
    json_decref(j);
    assert_int_equal(api_body_parse((const uint8_t *)"{\"a\":", 5, &j, d, sizeof d), QS_ERR_PARSE);
    assert_null(j);
    assert_non_null(strstr(d, "Malformed JSON request body"));
    assert_int_equal(api_body_parse((const uint8_t *)"[1]", 3, &j, d, sizeof d), QS_ERR_PARSE);
    assert_string_equal(d, "The request body must be a JSON object");
    assert_int_equal(api_body_parse((const uint8_t *)"\"x\"", 3, &j, d, sizeof d), QS_ERR_PARSE);
    /* Duplicate members are refused (which one would win is parser-dependent). */
    const char dup[] = "{\"a\":1,\"a\":2}";
    assert_int_equal(api_body_parse((const uint8_t *)dup, strlen(dup), &j, d, sizeof d),
                     QS_ERR_PARSE);
    /* A NUL inside a string is refused. */
    const char nul[] = "{\"a\":\"x\\u0000y\"}";
    assert_int_equal(api_body_parse((const uint8_t *)nul, strlen(nul), &j, d, sizeof d),
                     QS_ERR_PARSE);
    /* The description never quotes the input (it may hold a PIN). */
    const char secret[] = "{\"PIN\": 123456x}";
    assert_int_equal(api_body_parse((const uint8_t *)secret, strlen(secret), &j, d, sizeof d),
                     QS_ERR_PARSE);
    assert_null(strstr(d, "123456"));
}

static void test_good_v2(void **state)
{
    (void)state;
    api_params p;
    char d[API_DESC_MAX];
    const char *text = "{\"credentialID\":\"abc\",\"certificates\":\"green\",\"certInfo\":true,"
                       "\"numSignatures\":5,\"hashes\":[\"AAAA\",\"AAECAw==\"],"
                       "\"hashAlgorithmOID\":\"2.16.840.1.101.3.4.2.1\",\"onlyValid\":false,"
                       "\"authData\":[{\"id\":\"PIN\",\"value\":\"1234\"}],"
                       "\"userID\":\"00000000-0000-4000-8000-00000000A11C\","
                       "\"refresh_token\":\"" TOKEN_OK "\"}";
    assert_int_equal(parse(API_V2, text, &p, d), QS_OK);
    assert_true(p.f[API_F_CREDENTIAL_ID].present);
    assert_int_equal(p.f[API_F_CREDENTIAL_ID].len, 3);
    assert_memory_equal(p.f[API_F_CREDENTIAL_ID].s, "abc", 3);
    assert_string_equal(p.f[API_F_CERTIFICATES].s, "green");
    assert_true(p.f[API_F_CERT_INFO].b);
    assert_int_equal(p.f[API_F_NUM_SIGNATURES].i, 5);
    assert_int_equal(p.f[API_F_HASHES].n, 2);
    assert_true(p.f[API_F_ONLY_VALID].present);
    assert_false(p.f[API_F_ONLY_VALID].b);
    assert_int_equal(p.f[API_F_AUTH_DATA].n, 1);
    assert_false(p.f[API_F_PIN].present);
    assert_true(p.f[API_F_REFRESH_TOKEN].present);
}

static void test_v1_names(void **state)
{
    (void)state;
    api_params p;
    char d[API_DESC_MAX];
    /* v1 spells the digests "hash" and "hashAlgo" and takes "PIN". */
    assert_int_equal(parse(API_V1,
                           "{\"credentialID\":\"a\",\"hash\":[\"AAAA\"],\"hashAlgo\":\"1.2.3\","
                           "\"PIN\":\"1234\"}",
                           &p, d),
                     QS_OK);
    assert_int_equal(p.f[API_F_HASHES].n, 1);
    assert_true(p.f[API_F_PIN].present);
    /* The v2 names are unknown in v1 and the other way round. */
    expect_desc(API_V1, "{\"credentialID\":\"a\",\"hashes\":[\"AAAA\"]}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter hashes");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hash\":[\"AAAA\"]}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter hash");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"PIN\":\"1\"}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter PIN");
    /* A field the endpoint accepts only in v2 is unknown in v1. */
    expect_desc(API_V1, "{\"credentialID\":\"a\",\"onlyValid\":true}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter onlyValid");
    /* Descriptions use the version's own spelling. */
    expect_desc(API_V1, "{\"credentialID\":\"a\",\"hash\":\"AAAA\"}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) array parameter hash");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":\"AAAA\"}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) array parameter hashes");
}

static void test_missing_and_types(void **state)
{
    (void)state;
    expect_desc(API_V2, "{}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) string parameter credentialID");
    expect_desc(API_V2, "{\"credentialID\":null}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) string parameter credentialID");
    expect_desc(API_V2, "{\"credentialID\":7}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) string parameter credentialID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"certInfo\":\"yes\"}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) boolean parameter certInfo");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"numSignatures\":1.5}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) integer parameter numSignatures");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"numSignatures\":\"1\"}", QS_ERR_INVALID_ARGUMENT,
                "Missing (or invalid type) integer parameter numSignatures");
    /* null for an optional member is absent. */
    api_params p;
    char d[API_DESC_MAX];
    assert_int_equal(parse(API_V2, "{\"credentialID\":\"a\",\"certInfo\":null}", &p, d), QS_OK);
    assert_false(p.f[API_F_CERT_INFO].present);
}

static void test_limits_and_values(void **state)
{
    (void)state;
    expect_desc(API_V2, "{\"credentialID\":\"\"}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter credentialID");
    expect_desc(API_V2, "{\"credentialID\":\"123456789\"}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter credentialID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"certificates\":\"blue\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter certificates");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"certificates\":\"Green\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter certificates");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"numSignatures\":0}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter numSignatures");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"numSignatures\":6}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter numSignatures");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[]}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter hashes");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[\"AAAA\",\"AAAA\",\"AAAA\",\"AAAA\"]}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter hashes");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[1]}", QS_ERR_INVALID_ARGUMENT,
                "Invalid parameter hashes");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashAlgorithmOID\":\"2.16.840.1.1x\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter hashAlgorithmOID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashAlgorithmOID\":\"3.1\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter hashAlgorithmOID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashAlgorithmOID\":\"1.02\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter hashAlgorithmOID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashAlgorithmOID\":\"1.2.\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter hashAlgorithmOID");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"userID\":\"00000000-0000-4000-8000\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter userID");
    expect_desc(API_V2,
                "{\"credentialID\":\"a\",\"userID\":\"00000000-0000-4000-8000-00000000a11g\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter userID");
}

static void test_base64(void **state)
{
    (void)state;
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[\"AAA*\"]}", QS_ERR_INVALID_ARGUMENT,
                "Invalid Base64 hashes string parameter");
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[\"AAAAA\"]}", QS_ERR_INVALID_ARGUMENT,
                "Invalid Base64 hashes string parameter");
    /* base64url is not base64 */
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"hashes\":[\"AA_-\"]}", QS_ERR_INVALID_ARGUMENT,
                "Invalid Base64 hashes string parameter");
    expect_desc(API_V1, "{\"credentialID\":\"a\",\"hash\":[\"AAAA\",\"A===\"]}",
                QS_ERR_INVALID_ARGUMENT, "Invalid Base64 hash string parameter");
    uint8_t out[8];
    size_t n = 0;
    assert_int_equal(api_b64_decode("AAECAw==", 8, out, sizeof out, &n), QS_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[3], 3);
    assert_int_equal(api_b64_decode("AAECAw", 6, out, sizeof out, &n), QS_ERR_PARSE);
    assert_int_equal(api_b64_decode("AAECAwQFBgcICQ==", 16, out, sizeof out, &n), QS_ERR_PARSE);
}

static void test_tokens(void **state)
{
    (void)state;
    uint8_t h1[API_SHA256_LEN], h2[API_SHA256_LEN];
    char t[API_TOKEN_B64_LEN + 1];
    api_token_new(t, h1);
    assert_int_equal(strlen(t), API_TOKEN_B64_LEN);
    assert_int_equal(api_token_hash(t, strlen(t), h2), QS_OK);
    assert_memory_equal(h1, h2, sizeof h1);
    /* Wrong length, padding, alphabet, non-canonical last character. */
    assert_int_equal(api_token_hash(t, strlen(t) - 1, h2), QS_ERR_PARSE);
    assert_int_equal(api_token_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 43, h2),
                     QS_ERR_PARSE);
    assert_int_equal(api_token_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 43, h2),
                     QS_ERR_PARSE);
    assert_int_equal(api_token_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", 43, h2),
                     QS_ERR_PARSE);
    assert_int_equal(api_token_hash(TOKEN_OK, 43, h2), QS_OK);
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"refresh_token\":\"abc\"}",
                QS_ERR_INVALID_ARGUMENT, "Invalid parameter refresh_token");
}

static void test_authdata(void **state)
{
    (void)state;
    api_params p;
    char d[API_DESC_MAX];
    assert_int_equal(parse(API_V2,
                           "{\"credentialID\":\"a\",\"authData\":[{\"id\":\"PIN\",\"value\":\"1\"},"
                           "{\"value\":\"123456\",\"id\":\"OTP\"}]}",
                           &p, d),
                     QS_OK);
    assert_int_equal(p.f[API_F_AUTH_DATA].n, 2);
    const char *bad[] = {
        "{\"credentialID\":\"a\",\"authData\":[{\"id\":\"PIN\"}]}",
        "{\"credentialID\":\"a\",\"authData\":[{\"id\":\"PIN\",\"value\":1}]}",
        "{\"credentialID\":\"a\",\"authData\":[{\"id\":\"PIN\",\"value\":\"1\",\"x\":\"y\"}]}",
        "{\"credentialID\":\"a\",\"authData\":[{\"id\":\"\",\"value\":\"1\"}]}",
        "{\"credentialID\":\"a\",\"authData\":[\"PIN\"]}",
        "{\"credentialID\":\"a\",\"authData\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_desc(API_V2, bad[i], QS_ERR_INVALID_ARGUMENT, "Invalid parameter authData");
}

/* An array of objects, each checked against a nested spec (signDoc's documentDigests). */
static const char *const formats[] = {"C", NULL};
static const api_field_spec entry_spec[] = {
    {.field = API_F_HASHES,
     .type = API_T_STRINGS,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 2,
     .elem_min = 4,
     .elem_max = 88,
     .flags = API_FS_BASE64},
    {.field = API_F_SIGNATURE_FORMAT,
     .type = API_T_STRING,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 8,
     .allowed = formats},
    {.field = API_F_SIGN_ALGO,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 64,
     .flags = API_FS_OID},
};
static const api_field_spec objects_spec[] = {
    {.field = API_F_CREDENTIAL_ID,
     .type = API_T_STRING,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 8},
    {.field = API_F_DOCUMENT_DIGESTS,
     .type = API_T_OBJECTS,
     .required = true,
     .versions = API_V2_BIT,
     .min = 1,
     .max = 2,
     .sub = entry_spec,
     .nsub = sizeof entry_spec / sizeof entry_spec[0]},
};

static qs_err parse_objects(const char *text, api_params *p, char *desc)
{
    json_decref(last_body);
    last_body = NULL;
    qs_err r = api_body_parse((const uint8_t *)text, strlen(text), &last_body, desc, API_DESC_MAX);
    if (r != QS_OK)
        return r;
    return api_spec_parse(last_body, API_V2, objects_spec,
                          sizeof objects_spec / sizeof objects_spec[0], p, desc, API_DESC_MAX);
}

static void test_objects(void **state)
{
    (void)state;
    api_params p, e;
    char d[API_DESC_MAX];
    assert_int_equal(parse_objects("{\"documentDigests\":[{\"hashes\":[\"AAAA\"],"
                                   "\"signature_format\":\"C\",\"signAlgo\":\"1.2.3\"},"
                                   "{\"signature_format\":\"C\",\"hashes\":[\"AAAA\",\"AQID\"]}]}",
                                   &p, d),
                     QS_OK);
    assert_true(p.f[API_F_DOCUMENT_DIGESTS].present);
    assert_int_equal(p.f[API_F_DOCUMENT_DIGESTS].n, 2);
    /* an element's parameters, as a handler reads them */
    assert_int_equal(api_spec_parse(json_array_get(p.f[API_F_DOCUMENT_DIGESTS].a, 1), API_V2,
                                    entry_spec, sizeof entry_spec / sizeof entry_spec[0], &e, d,
                                    sizeof d),
                     QS_OK);
    assert_int_equal(e.f[API_F_HASHES].n, 2);
    assert_false(e.f[API_F_SIGN_ALGO].present);

    static const struct {
        const char *body, *desc;
    } bad[] = {
        {"{}", "Missing (or invalid type) array parameter documentDigests"},
        {"{\"documentDigests\":{}}", "Missing (or invalid type) array parameter documentDigests"},
        {"{\"documentDigests\":[]}", "Invalid parameter documentDigests"},
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"],\"signature_format\":\"C\"},{\"hashes\":"
         "[\"AAAA\"],\"signature_format\":\"C\"},{\"hashes\":[\"AAAA\"],\"signature_format\":"
         "\"C\"}]}",
         "Invalid parameter documentDigests"},
        {"{\"documentDigests\":[\"x\"]}", "Invalid parameter documentDigests"},
        {"{\"documentDigests\":[[]]}", "Invalid parameter documentDigests"},
        /* inside an element: the member is named */
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"]}]}",
         "Missing (or invalid type) string parameter signature_format"},
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"],\"signature_format\":\"P\"}]}",
         "Invalid parameter signature_format"},
        {"{\"documentDigests\":[{\"hashes\":[\"AA\"],\"signature_format\":\"C\"}]}",
         "Invalid parameter hashes"},
        {"{\"documentDigests\":[{\"hashes\":[\"AAA*\"],\"signature_format\":\"C\"}]}",
         "Invalid Base64 hashes string parameter"},
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"],\"signature_format\":\"C\","
         "\"signAlgo\":\"x\"}]}",
         "Invalid parameter signAlgo"},
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"],\"signature_format\":\"C\","
         "\"colour\":1}]}",
         "Unknown parameter colour"},
        /* the element's members are not the body's, nor the other way round */
        {"{\"documentDigests\":[{\"hashes\":[\"AAAA\"],\"signature_format\":\"C\","
         "\"credentialID\":\"a\"}]}",
         "Unknown parameter credentialID"},
        {"{\"signature_format\":\"C\",\"documentDigests\":[{\"hashes\":[\"AAAA\"],"
         "\"signature_format\":\"C\"}]}",
         "Unknown parameter signature_format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d[0] = '\0';
        qs_err r = parse_objects(bad[i].body, &p, d);
        if (r != QS_ERR_INVALID_ARGUMENT || strcmp(d, bad[i].desc) != 0)
            fail_msg("%s\n  got %s \"%s\"\n  want \"%s\"", bad[i].body, qs_err_name(r), d,
                     bad[i].desc);
        assert_false(p.f[API_F_DOCUMENT_DIGESTS].present);
    }
    /* v1 has no such field: the endpoint's spec gives it no name there */
    assert_null(api_field_name(API_V1, API_F_DOCUMENT_DIGESTS));
}

static void test_unknown(void **state)
{
    (void)state;
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"colour\":1}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter colour");
    /* A member name that is not a plain word is not echoed. */
    expect_desc(API_V2, "{\"credentialID\":\"a\",\"<script>\":1}", QS_ERR_INVALID_ARGUMENT,
                "Unknown parameter");
    expect_desc(API_V2,
                "{\"credentialID\":\"a\",\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaa\":1}",
                QS_ERR_INVALID_ARGUMENT, "Unknown parameter");
}

static void test_uuid(void **state)
{
    (void)state;
    uint8_t id[API_UUID_LEN];
    char s[API_UUID_STR_LEN + 1];
    assert_int_equal(api_uuid_parse("00112233-4455-6677-8899-AABBCCDDEEFF", 36, id), QS_OK);
    api_uuid_format(id, s);
    assert_string_equal(s, "00112233-4455-6677-8899-aabbccddeeff");
    assert_int_equal(api_uuid_parse("00112233+4455-6677-8899-aabbccddeeff", 36, id), QS_ERR_PARSE);
    assert_int_equal(api_uuid_parse("0011223-34455-6677-8899-aabbccddeeff", 36, id), QS_ERR_PARSE);
    assert_int_equal(api_uuid_parse("00112233-4455-6677-8899-aabbccddeef", 35, id), QS_ERR_PARSE);
}

/* Every field an endpoint accepts in a version has a name there; specs are well formed. */
static void test_route_specs(void **state)
{
    (void)state;
    size_t n = 0;
    const api_route *routes = api_routes(&n);
    assert_true(n >= 8);
    for (size_t i = 0; i < n; i++) {
        const api_endpoint *ep = routes[i].ep;
        assert_non_null(ep->handler);
        assert_true(strcmp(ep->method, "POST") == 0 || strcmp(ep->method, "GET") == 0);
        if (ep->versions != 0)
            assert_string_equal(ep->method, "POST");
        for (size_t k = 0; k < ep->nspec; k++) {
            const api_field_spec *fs = &ep->spec[k];
            assert_true(fs->versions != 0);
            assert_true((fs->versions & ~ep->versions) == 0);
            for (int v = 0; v < API_VER_COUNT; v++)
                if (fs->versions & api_version_get((api_ver)v)->bit)
                    if (api_field_name((api_ver)v, fs->field) == NULL)
                        fail_msg("%s: field %d has no name in version %d", ep->name, fs->field, v);
            if (fs->type == API_T_STRING || fs->type == API_T_INT || fs->type == API_T_STRINGS)
                assert_true(fs->min <= fs->max);
            /* a nested spec: only for arrays of objects, and its fields named likewise */
            assert_true((fs->type == API_T_OBJECTS) == (fs->sub != NULL && fs->nsub > 0));
            for (size_t j = 0; j < fs->nsub; j++) {
                assert_true((fs->sub[j].versions & ~fs->versions) == 0);
                for (int v = 0; v < API_VER_COUNT; v++)
                    if ((fs->sub[j].versions & api_version_get((api_ver)v)->bit) &&
                        api_field_name((api_ver)v, fs->sub[j].field) == NULL)
                        fail_msg("%s: nested field %d has no name in version %d", ep->name,
                                 fs->sub[j].field, v);
            }
        }
        /* Empty bodies: required fields are reported, nothing crashes. */
        json_t *empty = json_object();
        api_params p;
        char d[API_DESC_MAX];
        for (int v = 0; v < API_VER_COUNT; v++)
            if (ep->nspec > 0) {
                bool required = false;
                for (size_t k = 0; k < ep->nspec; k++)
                    required |= ep->spec[k].required && (ep->spec[k].versions & (1u << v));
                qs_err r = api_spec_parse(empty, (api_ver)v, ep->spec, ep->nspec, &p, d, sizeof d);
                if (required) {
                    assert_int_equal(r, QS_ERR_INVALID_ARGUMENT);
                    assert_non_null(strstr(d, "Missing (or invalid type) "));
                } else {
                    assert_int_equal(r, QS_OK);
                }
            }
        json_decref(empty);
    }
    /* Lookups. */
    const api_route *r = NULL;
    api_ver v;
    size_t slot;
    assert_int_equal(api_route_find("/csc/v2/credentials/info", &r, &v, &slot), QS_OK);
    assert_int_equal(v, API_V2);
    assert_string_equal(r->path, "credentials/info");
    assert_int_equal(api_route_find("/csc/v1/info", &r, &v, &slot), QS_OK);
    assert_int_equal(v, API_V1);
    char label[256];
    api_route_slot_label(slot, label, sizeof label);
    assert_string_equal(label, "/csc/v1/info");
    assert_int_equal(api_route_find("/healthz", &r, &v, &slot), QS_OK);
    assert_int_equal(api_route_find("/csc/v3/info", &r, &v, &slot), QS_ERR_NOT_FOUND);
    assert_int_equal(api_route_find("/csc/v2/", &r, &v, &slot), QS_ERR_NOT_FOUND);
    assert_int_equal(api_route_find("/csc/v2/healthz", &r, &v, &slot), QS_ERR_NOT_FOUND);
    assert_int_equal(api_route_find("/csc/v2/info/", &r, &v, &slot), QS_ERR_NOT_FOUND);
    assert_int_equal(slot, api_route_slots() - 1);
}

static void test_basic_header(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    size_t pl = 0;
    /* alice:s3cret:with:colons */
    assert_int_equal(api_basic_parse("Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z", &u, &p, &pl), QS_OK);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "s3cret:with:colons");
    assert_int_equal(pl, strlen("s3cret:with:colons"));
    free(u);
    qs_free_wiped(p, pl);
    /* "basic" in any case */
    assert_int_equal(api_basic_parse("bAsIc YWxpY2U6eA==", &u, &p, &pl), QS_OK);
    free(u);
    qs_free_wiped(p, pl);
    const char *bad[] = {
        "Bearer YWxpY2U6eA==", /* other scheme */
        "Basic ",              /* empty */
        "Basic YWxpY2U=",      /* no colon */
        "Basic OmFiYw==",      /* empty user */
        "Basic YWxpY2U6",      /* empty password */
        "Basic YWxpY2U6eA",    /* unpadded */
        "Basic !!!!",          /* not base64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(api_basic_parse(bad[i], &u, &p, &pl), QS_ERR_PARSE);
        assert_null(u);
        assert_null(p);
    }
}

/* RSASSA-PSS parameters: only hash = MGF1 hash = the digest's, salt = digest length. */
static void test_pss_params(void **state)
{
    (void)state;
    static const uint8_t good[] =
        "\x30\x34\xa0\x0f\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\xa1\x1c\x30"
        "\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
        "\x04\x02\x01\x05\x00\xa2\x03\x02\x01\x20";
    static const uint8_t mgf384[] =
        "\x30\x34\xa0\x0f\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\xa1\x1c\x30"
        "\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
        "\x04\x02\x02\x05\x00\xa2\x03\x02\x01\x20";
    static const uint8_t all384[] =
        "\x30\x34\xa0\x0f\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\xa1\x1c\x30"
        "\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
        "\x04\x02\x02\x05\x00\xa2\x03\x02\x01\x30";
    static const uint8_t nosalt[] =
        "\x30\x2f\xa0\x0f\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\xa1\x1c\x30"
        "\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
        "\x04\x02\x01\x05\x00";
    const api_hash_alg *sha256 = api_hash_alg_find("2.16.840.1.101.3.4.2.1", 22);
    const api_hash_alg *sha384 = api_hash_alg_find("2.16.840.1.101.3.4.2.2", 22);
    const api_hash_alg *got = NULL;
    assert_non_null(sha256);
    assert_non_null(sha384);
    assert_int_equal(api_pss_params(good, sizeof good - 1, sha256, &got), QS_OK);
    assert_ptr_equal(got, sha256);
    assert_int_equal(api_pss_params(good, sizeof good - 1, NULL, &got), QS_OK);
    assert_ptr_equal(got, sha256);
    assert_int_equal(api_pss_params(good, sizeof good - 1, sha384, &got), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(api_pss_params(all384, sizeof all384 - 1, NULL, &got), QS_OK);
    assert_ptr_equal(got, sha384);
    assert_int_equal(api_pss_params(all384, sizeof all384 - 1, sha256, &got),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(api_pss_params(mgf384, sizeof mgf384 - 1, NULL, &got),
                     QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(api_pss_params(nosalt, sizeof nosalt - 1, NULL, &got),
                     QS_ERR_INVALID_ARGUMENT);
    /* Truncated, trailing bytes, empty, the SHA-1 defaults (an empty SEQUENCE). */
    assert_int_equal(api_pss_params(good, sizeof good - 2, NULL, &got), QS_ERR_INVALID_ARGUMENT);
    uint8_t longer[sizeof good];
    memcpy(longer, good, sizeof good - 1);
    longer[sizeof good - 1] = 0;
    assert_int_equal(api_pss_params(longer, sizeof longer, NULL, &got), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(api_pss_params(good, 0, NULL, &got), QS_ERR_INVALID_ARGUMENT);
    static const uint8_t defaults[] = {0x30, 0x00};
    assert_int_equal(api_pss_params(defaults, 2, NULL, &got), QS_ERR_INVALID_ARGUMENT);
    /* Algorithms: what each signature algorithm implies. */
    assert_null(api_sign_alg_find("1.2.840.113549.1.1.1", 20)->hash);
    assert_true(api_sign_alg_find("1.2.840.113549.1.1.10", 21)->pss);
    assert_ptr_equal(api_sign_alg_find("1.2.840.10045.4.3.3", 19)->hash, sha384);
    assert_null(api_sign_alg_find("1.2.840.10045.4.3.9", 19));
    const api_key_alg *ec = api_key_alg_find("ec-p256");
    assert_true(api_key_alg_allows(ec, "1.2.840.10045.4.3.2", 19));
    assert_false(api_key_alg_allows(ec, "1.2.840.113549.1.1.11", 21));
    assert_null(api_key_alg_find("dsa-1024"));
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    api_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_framing),
        cmocka_unit_test(test_good_v2),
        cmocka_unit_test(test_v1_names),
        cmocka_unit_test(test_missing_and_types),
        cmocka_unit_test(test_limits_and_values),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_authdata),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_route_specs),
        cmocka_unit_test(test_basic_header),
        cmocka_unit_test(test_pss_params),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(last_body);
    return rc;
}

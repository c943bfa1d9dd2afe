/*
 * The audit record encoding against known answers computed independently from the spec in
 * sam/audit.h (a Python script building the bytes by hand; the vectors are in
 * docs/audit-log.md too), the one-field-changes-the-hash property, and the input checks that
 * keep a malformed event out of a shared batch: UTF-8, writer ids, event types, actors and the
 * JSON object check (PostgreSQL's own verdicts are compared in tests/integration/test_audit.c).
 * Checkpoints: the statement against known answers (computed the same way), a signature made
 * by the openssl command line over the vector's digest, and the export line format; the RFC 3339
 * times of the text forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam/audit.h"
#include "sam/audit_internal.h"
#include "tests/lib/testutil.h"
#include "util/log.h"
#include "util/secret.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void assert_hash(const qs_audit_record *rec, const char *want)
{
    uint8_t h[QS_AUDIT_HASH_LEN];
    char got[2 * QS_AUDIT_HASH_LEN + 1];
    assert_int_equal(qs_audit_record_hash(rec, h), QS_OK);
    hex(h, sizeof h, got);
    assert_string_equal(got, want);
}

static const uint8_t uid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t cid[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};
static uint8_t sad[32], prev11[32], zeros[32];

static qs_audit_record vector1(void)
{
    memset(sad, 0x5a, sizeof sad);
    memset(prev11, 0x11, sizeof prev11);
    return (qs_audit_record){
        .writer_id = "sam-1",
        .seq = 42,
        .event_time_us = INT64_C(1700000000123456),
        .event_type = "signature.created",
        .actor = "user:alice",
        .user_id = uid,
        .credential_id = NULL,
        .sad_ref = sad,
        .success = true,
        .details = "{\"hash\":\"AAEC\",\"n\":1}",
        .prev_hash = prev11,
    };
}

#define VECTOR1_HASH "ca4c66f15cab1e441e1add5c6af71eada4cb971197572887c43c0dd42d780eef"
#define VECTOR2_HASH "c33803011be9d7374886ca2c0747691ebf3539e3f8f2f998205c0eed48c0007f"

static void test_known_answers(void **state)
{
    (void)state;
    qs_audit_record r1 = vector1();
    assert_hash(&r1, VECTOR1_HASH);

    /* Negative time (two's complement), every optional field but one absent, failure, a
     * multi-byte character, seq 1 linking to zeros. */
    qs_audit_record r2 = {
        .writer_id = "w",
        .seq = 1,
        .event_time_us = -1,
        .event_type = "a",
        .actor = "Zo\xc3\xab",
        .user_id = NULL,
        .credential_id = cid,
        .sad_ref = NULL,
        .success = false,
        .details = "{}",
        .prev_hash = zeros,
    };
    assert_hash(&r2, VECTOR2_HASH);
}

/* Every field is covered: changing any one changes the hash. */
static void test_every_field_counts(void **state)
{
    (void)state;
    uint8_t base[QS_AUDIT_HASH_LEN], h[QS_AUDIT_HASH_LEN];
    qs_audit_record r = vector1();
    assert_int_equal(qs_audit_record_hash(&r, base), QS_OK);
    uint8_t other[32];
    memset(other, 0x12, sizeof other);

    for (int field = 0; field < 15; field++) {
        r = vector1();
        switch (field) {
        case 0:
            r.writer_id = "sam-2";
            break;
        case 1:
            r.seq = 43;
            break;
        case 2:
            r.event_time_us += 1;
            break;
        case 3:
            r.event_type = "signature.createe";
            break;
        case 4:
            r.actor = "user:alicf";
            break;
        case 5:
            r.user_id = NULL;
            break;
        case 6:
            r.user_id = cid;
            break;
        case 7:
            r.credential_id = uid;
            break;
        case 8:
            r.sad_ref = NULL;
            break;
        case 9:
            r.sad_ref = other;
            break;
        case 10:
            r.success = false;
            break;
        case 11:
            r.details = "{\"hash\": \"AAEC\",\"n\":1}";
            break; /* one space */
        case 12:
            r.prev_hash = other;
            break;
        /* Moving bytes between adjacent strings changes the length prefixes. */
        case 13:
            r.event_type = "signature.createduser:alice";
            r.actor = "";
            break;
        case 14:
            r.user_id = NULL;
            r.credential_id = uid;
            break; /* same bytes, other column */
        }
        assert_int_equal(qs_audit_record_hash(&r, h), QS_OK);
        if (memcmp(h, base, sizeof h) == 0)
            fail_msg("changing field case %d left the hash unchanged", field);
    }
    r = vector1();
    r.details = NULL;
    assert_int_equal(qs_audit_record_hash(&r, h), QS_ERR_INVALID_ARGUMENT);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long want;
    } cases[] = {
        {"", 0},
        {"abc", 3},
        {"Zo\xc3\xab", 3},
        {"\xe2\x82\xac", 1},      /* U+20AC */
        {"\xf0\x9f\x98\x80", 1},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 1},  /* U+10FFFF */
        {"\xc3", -1},             /* truncated */
        {"\xc0\xaf", -1},         /* overlong '/' */
        {"\xe0\x80\xaf", -1},     /* overlong */
        {"\xed\xa0\x80", -1},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", -1}, /* beyond U+10FFFF */
        {"\x80", -1},             /* lone continuation */
        {"a\xff", -1},
        {"\xe2\x82", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = qs_audit_utf8_chars(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want)
            fail_msg("case %zu: %ld characters, want %ld", i, got, cases[i].want);
    }
    assert_int_equal(qs_audit_utf8_chars("a\0b", 3), -1);
}

static void test_writer_ids(void **state)
{
    (void)state;
    char long_id[80];
    memset(long_id, 'a', sizeof long_id);
    long_id[64] = '\0';
    assert_true(qs_audit_writer_id_valid(long_id));
    long_id[64] = 'a';
    long_id[65] = '\0';
    assert_false(qs_audit_writer_id_valid(long_id));
    assert_true(qs_audit_writer_id_valid("sam-1"));
    assert_true(qs_audit_writer_id_valid("A.b_c-9"));
    assert_true(qs_audit_writer_id_valid("9"));
    assert_false(qs_audit_writer_id_valid(""));
    assert_false(qs_audit_writer_id_valid(NULL));
    assert_false(qs_audit_writer_id_valid("-sam"));
    assert_false(qs_audit_writer_id_valid(".sam"));
    assert_false(qs_audit_writer_id_valid("sam 1"));
    assert_false(qs_audit_writer_id_valid("sam/1"));
    assert_false(qs_audit_writer_id_valid("s\xc3\xa4m"));
}

static void test_event_checks(void **state)
{
    (void)state;
    char actor200[401], actor201[403], type64[66], details[QS_AUDIT_DETAILS_MAX + 8];
    /* 200 two-byte characters: 400 bytes, still 200 characters. */
    for (int i = 0; i < 200; i++)
        memcpy(actor200 + 2 * i, "\xc3\xab", 2);
    actor200[400] = '\0';
    memcpy(actor201, actor200, 400);
    memcpy(actor201 + 400, "x", 2);
    memset(type64, 'a', 64);
    type64[64] = '\0';
    /* {"a":"xxx...x"} of exactly QS_AUDIT_DETAILS_MAX bytes. */
    memset(details, 'x', QS_AUDIT_DETAILS_MAX);
    memcpy(details, "{\"a\":\"", 6);
    memcpy(details + QS_AUDIT_DETAILS_MAX - 2, "\"}", 3);

    qs_audit_event ok = {.event_type = "sad.issued", .actor = "user:a", .details_json = NULL};
    assert_int_equal(qs_audit_event_check(&ok), QS_OK);
    qs_audit_event e = ok;
    e.actor = actor200;
    assert_int_equal(qs_audit_event_check(&e), QS_OK);
    e.actor = actor201;
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e = ok;
    e.event_type = type64;
    assert_int_equal(qs_audit_event_check(&e), QS_OK);
    e = ok;
    e.details_json = details;
    assert_int_equal(qs_audit_event_check(&e), QS_OK);

    static const char *const bad_types[] = {"",     "Sad.issued", "sad.Issued", "1sad", "_sad",
                                            ".sad", "sad-issued", "sad issued", NULL};
    for (size_t i = 0; bad_types[i] != NULL; i++) {
        e = ok;
        e.event_type = bad_types[i];
        if (qs_audit_event_check(&e) != QS_ERR_INVALID_ARGUMENT)
            fail_msg("event type \"%s\" accepted", bad_types[i]);
    }
    type64[64] = 'a';
    type64[65] = '\0';
    e = ok;
    e.event_type = type64;
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e = ok;
    e.event_type = NULL;
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e = ok;
    e.actor = "";
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e.actor = NULL;
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e.actor = "bad \xff utf8";
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    e = ok;
    e.details_json = "[1]";
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
    details[QS_AUDIT_DETAILS_MAX - 2] = 'x';
    memcpy(details + QS_AUDIT_DETAILS_MAX - 1, "\"}", 3); /* one byte too long */
    e.details_json = details;
    assert_int_equal(qs_audit_event_check(&e), QS_ERR_INVALID_ARGUMENT);
}

static void test_json_objects(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}",
        " {}\n",
        "{\"a\":1}",
        "{\"a\": [1, 2.5, -0, 1e5, 1E+5, 2e-3, true, false, null, \"x\", {}, []]}",
        "{\"a\":1,\"a\":2}",
        "{\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\":\"\xc3\xa9\"}",
        "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
        "{\"n\":1e1000}",
        "{\"a\":\"\x7f\"}",
        NULL,
    };
    static const char *const bad[] = {
        "",
        "[]",
        "1",
        "\"s\"",
        "null",
        "{",
        "}",
        "{}x",
        "{} {}",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":[1,]}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":0x10}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":tRue}",
        "{\"a\":nul}",
        "{\"a\":\"x\ty\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"\xff\"}",
        "{\"n\":1e1001}",
        "{\"a\":1}\x01",
        NULL,
    };
    for (size_t i = 0; good[i] != NULL; i++)
        if (!qs_audit_details_valid(good[i], strlen(good[i])))
            fail_msg("refused: %s", good[i]);
    for (size_t i = 0; bad[i] != NULL; i++)
        if (qs_audit_details_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted: %s", bad[i]);
    assert_false(qs_audit_details_valid(NULL, 0));
    assert_false(qs_audit_details_valid("{}\0", 3)); /* NUL */

    /* Nesting: 64 levels are fine, 65 are not. */
    char deep[2 * 70 + 16];
    for (int levels = 64; levels <= 65; levels++) {
        size_t n = 0;
        deep[n++] = '{';
        memcpy(deep + n, "\"a\":", 4);
        n += 4;
        for (int i = 1; i < levels; i++)
            deep[n++] = '[';
        for (int i = 1; i < levels; i++)
            deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        assert_int_equal(qs_audit_details_valid(deep, n), levels == 64);
    }
}

static void test_problem_names(void **state)
{
    (void)state;
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_SEQ_GAP), "seq-gap");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_BAD_LINK), "bad-link");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_BAD_HASH), "bad-hash");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_BAD_MAC), "bad-mac");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_BAD_CHECKPOINT), "bad-checkpoint");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_CHECKPOINT_MISMATCH), "checkpoint-mismatch");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_TRUNCATED), "truncated");
    assert_string_equal(qs_audit_problem_name(QS_AUDIT_KEY_MISMATCH), "checkpoint-key");
    assert_string_equal(qs_audit_problem_name((qs_audit_problem)99), "?");
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void unhex(const char *h, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(h), 2 * n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sscanf(h + 2 * i, "%2hhx", &out[i]), 1);
}

/* Checkpoint vector 1 (docs/audit-log.md): writer sam-1, seq 42, head_hash 32 bytes ca, time
 * 1700000000123456. */
#define CP1_ENC                                                                                    \
    "00000019717369676e2d61756469742d636865636b706f696e742d76310000000573616d2d31000000000000"     \
    "002acacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacaca00060a2418202240"
#define CP1_DIGEST "bcfb5a435e2f281b2952c4c6eff21e5e4db748b3d93d4766a72810060392a430"
/* Checkpoint vector 2: writer w, seq 1, head_hash 32 zero bytes, time -1. */
#define CP2_DIGEST "81842a5713ca28bff0f37702b7a8df6e71c90feb951c13a8fbe9cbaad5344fa6"
/* A P-256 key made with `openssl genpkey` and its signature (`openssl pkeyutl -sign`) over
 * CP1_DIGEST. */
#define CP1_SPKI                                                                                   \
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004df3cf16234790cfd5764e98091dcc64959"     \
    "6af43aa45194a590e7c0ffef9f1c743d719501fde06a3e893b87e930d948786d8f12e156bbb0bb126bbdbbdf"     \
    "5824c9"
#define CP1_SIG                                                                                    \
    "304502201d6ce4167bd0193cd75ff28645bfe14755fb4de193dcd4556b922fafa75e4034022100ece3308fab"     \
    "f675eb2109405bd5caa0c527c56f161c2f7469d07afafba4c3d62b"

static qs_audit_checkpoint cp_vector1(void)
{
    qs_audit_checkpoint cp = {
        .writer_id = "sam-1", .seq = 42, .time_us = INT64_C(1700000000123456)};
    memset(cp.head_hash, 0xca, sizeof cp.head_hash);
    cp.signature_len = (sizeof CP1_SIG - 1) / 2;
    unhex(CP1_SIG, cp.signature, cp.signature_len);
    return cp;
}

static void test_checkpoint_statement(void **state)
{
    (void)state;
    qs_audit_checkpoint cp = cp_vector1();
    uint8_t enc[QS_AUDIT_CHECKPOINT_ENC_MAX], d[QS_AUDIT_HASH_LEN];
    char got[2 * QS_AUDIT_CHECKPOINT_ENC_MAX + 1];
    size_t len = 0;
    assert_int_equal(qs_audit_checkpoint_encode(&cp, enc, &len), QS_OK);
    assert_int_equal(len, 86);
    hex(enc, len, got);
    assert_string_equal(got, CP1_ENC);
    assert_int_equal(qs_audit_checkpoint_digest(&cp, d), QS_OK);
    hex(d, sizeof d, got);
    assert_string_equal(got, CP1_DIGEST);

    qs_audit_checkpoint cp2 = {.writer_id = "w", .seq = 1, .time_us = -1};
    assert_int_equal(qs_audit_checkpoint_digest(&cp2, d), QS_OK);
    hex(d, sizeof d, got);
    assert_string_equal(got, CP2_DIGEST);

    /* Every field counts; the signature does not. */
    uint8_t base[QS_AUDIT_HASH_LEN], other[QS_AUDIT_HASH_LEN];
    assert_int_equal(qs_audit_checkpoint_digest(&cp, base), QS_OK);
    qs_audit_checkpoint c = cp;
    c.seq++;
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_OK);
    assert_memory_not_equal(base, other, sizeof base);
    c = cp;
    c.head_hash[31] ^= 1;
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_OK);
    assert_memory_not_equal(base, other, sizeof base);
    c = cp;
    c.time_us++;
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_OK);
    assert_memory_not_equal(base, other, sizeof base);
    c = cp;
    memcpy(c.writer_id, "sam-2", 6);
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_OK);
    assert_memory_not_equal(base, other, sizeof base);
    c = cp;
    c.signature[5] ^= 1;
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_OK);
    assert_memory_equal(base, other, sizeof base);
    /* Refused: seq 0, a bad writer id. */
    c = cp;
    c.seq = 0;
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_ERR_INVALID_ARGUMENT);
    c = cp;
    memcpy(c.writer_id, "-x", 3);
    assert_int_equal(qs_audit_checkpoint_digest(&c, other), QS_ERR_INVALID_ARGUMENT);
}

static void test_checkpoint_signature(void **state)
{
    (void)state;
    qs_audit_checkpoint cp = cp_vector1();
    uint8_t spki[128];
    size_t spki_len = (sizeof CP1_SPKI - 1) / 2;
    unhex(CP1_SPKI, spki, spki_len);
    assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, spki_len), QS_OK);
    /* Any change to the statement or the signature. */
    qs_audit_checkpoint c = cp;
    c.seq = 43;
    assert_int_equal(qs_audit_checkpoint_verify(&c, spki, spki_len), QS_ERR_MAC);
    c = cp;
    c.time_us--;
    assert_int_equal(qs_audit_checkpoint_verify(&c, spki, spki_len), QS_ERR_MAC);
    c = cp;
    c.signature[c.signature_len - 1] ^= 1;
    assert_int_equal(qs_audit_checkpoint_verify(&c, spki, spki_len), QS_ERR_MAC);
    c = cp;
    c.signature_len--;
    assert_int_equal(qs_audit_checkpoint_verify(&c, spki, spki_len), QS_ERR_MAC);
    c = cp;
    c.signature_len = 0;
    assert_int_equal(qs_audit_checkpoint_verify(&c, spki, spki_len), QS_ERR_MAC);
    /* Not a P-256 key, or trailing bytes. */
    assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, spki_len - 1), QS_ERR_PARSE);
    spki[spki_len] = 0;
    assert_int_equal(qs_audit_checkpoint_verify(&cp, spki, spki_len + 1), QS_ERR_PARSE);
    assert_int_equal(qs_audit_checkpoint_verify(&cp, NULL, 0), QS_ERR_PARSE);
}

static void test_checkpoint_export_line(void **state)
{
    (void)state;
    qs_audit_checkpoint cp = cp_vector1(), back;
    uint8_t spki[128], *got_spki = NULL;
    size_t spki_len = (sizeof CP1_SPKI - 1) / 2, got_len = 0;
    unhex(CP1_SPKI, spki, spki_len);
    char *line = NULL;
    assert_int_equal(qs_audit_checkpoint_to_json(&cp, spki, spki_len, &line), QS_OK);
    assert_non_null(strstr(line, "{\"writer\":\"sam-1\",\"seq\":42,\"head_hash\":\"caca"));
    assert_non_null(strstr(line, "\"time\":\"2023-11-14T22:13:20.123456Z\",\"signature\":\"MEUC"));
    assert_null(strchr(line, '\n'));
    assert_int_equal(qs_audit_checkpoint_from_json(line, &back, &got_spki, &got_len), QS_OK);
    assert_memory_equal(&back, &cp, sizeof cp);
    assert_int_equal(got_len, spki_len);
    assert_memory_equal(got_spki, spki, spki_len);
    free(got_spki);

    /* Anything else is refused. */
    const char *bad[] = {
        "",
        "[]",
        "{\"writer\":\"sam-1\"}",
        "{\"writer\":\"sam-1\",\"seq\":42,\"head_hash\":\"" CP1_DIGEST "\",\"time\":"
        "\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\",\"spki\":\"MFkw\",\"extra\":1}",
        "{\"writer\":\"sam-1\",\"seq\":0,\"head_hash\":\"" CP1_DIGEST "\",\"time\":"
        "\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\",\"spki\":\"MFkw\"}",
        "{\"writer\":\"sam-1\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST "00\",\"time\":"
        "\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\",\"spki\":\"MFkw\"}",
        "{\"writer\":\"sam-1\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST "\",\"time\":"
        "\"yesterday\",\"signature\":\"MEUC\",\"spki\":\"MFkw\"}",
        "{\"writer\":\"sam-1\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST "\",\"time\":"
        "\"2023-11-14T22:13:20Z\",\"signature\":\"!!\",\"spki\":\"MFkw\"}",
        "{\"writer\":\"bad id\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST "\",\"time\":"
        "\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\",\"spki\":\"MFkw\"}",
        "{\"writer\":\"sam-1\",\"writer\":\"sam-1\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST
        "\",\"time\":\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        got_spki = (uint8_t *)&got_spki;
        if (qs_audit_checkpoint_from_json(bad[i], &back, &got_spki, &got_len) != QS_ERR_PARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(got_spki);
        assert_int_equal(got_len, 0);
    }
    /* The same line with one field set right parses (the cases above fail for their one
     * fault). */
    const char *good = "{\"writer\":\"sam-1\",\"seq\":1,\"head_hash\":\"" CP1_DIGEST
                       "\",\"time\":\"2023-11-14T22:13:20Z\",\"signature\":\"MEUC\",\"spki\":"
                       "\"MFkw\"}";
    assert_int_equal(qs_audit_checkpoint_from_json(good, &back, &got_spki, &got_len), QS_OK);
    free(got_spki);
    free(line);
}

static void test_times(void **state)
{
    (void)state;
    char buf[QS_AUDIT_TIME_LEN + 1];
    int64_t us;
    struct {
        int64_t us;
        const char *text;
    } known[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {INT64_C(1700000000123456), "2023-11-14T22:13:20.123456Z"},
        {INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z"},
        {INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
        {INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        assert_true(qs_audit_time_format(known[i].us, buf));
        assert_string_equal(buf, known[i].text);
        assert_true(qs_audit_time_parse(known[i].text, &us));
        assert_int_equal(us, known[i].us);
    }
    assert_false(qs_audit_time_format(INT64_C(253402300800000000), buf));
    assert_false(qs_audit_time_format(INT64_C(-62135596800000001), buf));

    struct {
        const char *text;
        int64_t us;
    } parsed[] = {
        {"2023-11-14", INT64_C(1699920000000000)},
        {"2023-11-14T22:13:20Z", INT64_C(1700000000000000)},
        {"2023-11-14t22:13:20z", INT64_C(1700000000000000)},
        {"2023-11-14 22:13:20.5Z", INT64_C(1700000000500000)},
        {"2023-11-14T23:13:20.123456+01:00", INT64_C(1700000000123456)},
        {"2023-11-14T20:43:20-01:30", INT64_C(1700000000000000)},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000000)},
    };
    for (size_t i = 0; i < sizeof parsed / sizeof parsed[0]; i++) {
        if (!qs_audit_time_parse(parsed[i].text, &us) || us != parsed[i].us)
            fail_msg("%s: %lld", parsed[i].text, (long long)us);
    }
    const char *bad[] = {"",
                         "2023",
                         "2023-11-14T22:13:20",
                         "2023-11-14T22:13Z",
                         "2023-13-01",
                         "2023-02-29",
                         "2023-11-31",
                         "0000-01-01",
                         "2023-11-14T24:00:00Z",
                         "2023-11-14T22:60:00Z",
                         "2023-11-14T22:13:60Z",
                         "2023-11-14T22:13:20.Z",
                         "2023-11-14T22:13:20.1234567Z",
                         "2023-11-14T22:13:20+0100",
                         "2023-11-14T22:13:20Z ",
                         " 2023-11-14",
                         "2023-11-14T22:13:20+24:00",
                         "yesterday",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        if (qs_audit_time_parse(bad[i], &us))
            fail_msg("accepted: \"%s\"", bad[i]);
    }
    assert_false(qs_audit_time_parse(NULL, &us));

    uint8_t u[QS_AUDIT_UUID_LEN];
    char text[37];
    assert_true(qs_audit_uuid_parse("00112233-4455-6677-8899-AABBCCDDEEFF", u));
    assert_memory_equal(u, uid, sizeof u);
    qs_audit_uuid_text(u, text);
    assert_string_equal(text, "00112233-4455-6677-8899-aabbccddeeff");
    assert_false(qs_audit_uuid_parse("00112233445566778899aabbccddeeff", u));
    assert_false(qs_audit_uuid_parse("00112233-4455-6677-8899-aabbccddeef", u));
    assert_false(qs_audit_uuid_parse("00112233-4455-6677-8899-aabbccddeefg", u));
    assert_false(qs_audit_uuid_parse("0011223-34455-6677-8899-aabbccddeeff", u));
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    /* The checks log our bugs at error level; keep the output to the test results. */
    qs_log_set_level(QS_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_every_field_counts),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_writer_ids),
        cmocka_unit_test(test_event_checks),
        cmocka_unit_test(test_json_objects),
        cmocka_unit_test(test_problem_names),
        cmocka_unit_test(test_checkpoint_statement),
        cmocka_unit_test(test_checkpoint_signature),
        cmocka_unit_test(test_checkpoint_export_line),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

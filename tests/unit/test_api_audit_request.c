/*
 * The audit API's parsers and output on their own (api/audit.h): the search body (defaults,
 * every criterion, each refusal naming its field), the continuation cursor (round trip, one
 * encoding only), and records as JSON lines and CSV against hand-written expected text (a
 * comma and quotes in the actor and the details, absent values).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api_internal.h"
#include "api/audit.h"

/* The query's strings point into the body: it is kept until the next call. */
static json_t *body;

static qs_err parse(const char *text, api_audit_query *q, char *desc, size_t len)
{
    json_error_t e;
    json_decref(body);
    body = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (body == NULL)
        fail_msg("bad test JSON %s", text);
    return api_audit_search_parse(body, q, desc, len);
}

static void test_search_defaults(void **state)
{
    (void)state;
    api_audit_query q;
    char d[API_DESC_MAX];
    assert_int_equal(parse("{}", &q, d, sizeof d), QS_OK);
    assert_false(q.has_user || q.has_credential || q.has_from || q.has_to);
    assert_null(q.event_type);
    assert_null(q.writer_id);
    assert_int_equal(q.result, -1);
    assert_int_equal(q.format, API_AUDIT_JSONL);
    assert_int_equal(q.limit, API_AUDIT_LIMIT_DEFAULT);
    assert_false(q.cursor.started);
    /* null counts as absent */
    assert_int_equal(parse("{\"userID\":null,\"limit\":null}", &q, d, sizeof d), QS_OK);
    assert_false(q.has_user);
}

static void test_search_every_criterion(void **state)
{
    (void)state;
    api_audit_query q;
    char d[API_DESC_MAX];
    assert_int_equal(
        parse(
            "{\"userID\":\"00112233-4455-6677-8899-AABBCCDDEEFF\","
            "\"credentialID\":\"ffeeddcc-bbaa-9988-7766-554433221100\",\"eventType\":\"sad.\","
            "\"from\":\"2024-05-01T14:00:00.5+02:00\",\"to\":\"2024-05-02\",\"result\":\"failure\","
            "\"writerID\":\"sam-1\",\"format\":\"csv\",\"limit\":1000,"
            "\"cursor\":\"MTcwMDAwMDAwMDEyMzQ1Njo0MjpzYW0tMQ\"}",
            &q, d, sizeof d),
        QS_OK);
    assert_true(q.has_user && q.has_credential && q.has_from && q.has_to);
    assert_string_equal(q.user_id_str, "00112233-4455-6677-8899-aabbccddeeff");
    assert_int_equal(q.user_id[0], 0x00);
    assert_int_equal(q.user_id[15], 0xff);
    assert_string_equal(q.credential_id_str, "ffeeddcc-bbaa-9988-7766-554433221100");
    assert_string_equal(q.event_type, "sad.");
    assert_true(q.from_us == 1714564800500000LL); /* 2024-05-01T12:00:00.5Z */
    assert_true(q.to_us == 1714608000000000LL);   /* 2024-05-02T00:00:00Z */
    assert_int_equal(q.result, 0);
    assert_string_equal(q.writer_id, "sam-1");
    assert_int_equal(q.format, API_AUDIT_CSV);
    assert_int_equal(q.limit, 1000);
    assert_true(q.cursor.started);
    assert_true(q.cursor.time_us == 1700000000123456LL);
    assert_int_equal(q.cursor.seq, 42);
    assert_string_equal(q.cursor.writer_id, "sam-1");
    assert_int_equal(
        parse("{\"result\":\"success\",\"eventType\":\"signature.created\"}", &q, d, sizeof d),
        QS_OK);
    assert_int_equal(q.result, 1);
}

static void test_search_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body, *desc;
    } bad[] = {
        {"{\"userID\":\"x\"}", "Invalid parameter userID: not a UUID"},
        {"{\"userID\":1}", "Invalid parameter userID"},
        {"{\"credentialID\":\"00112233445566778899aabbccddeeff\"}",
         "Invalid parameter credentialID: not a UUID"},
        {"{\"eventType\":\"A.b\"}", "Invalid parameter eventType"},
        {"{\"eventType\":\"\"}", "Invalid parameter eventType"},
        {"{\"from\":\"2024-13-01\"}", "Invalid parameter from"},
        {"{\"from\":\"1969-12-31\"}", "Invalid parameter from: before 1970"},
        {"{\"to\":\"2024-05-01T12:00:00\"}", "Invalid parameter to"},
        {"{\"from\":\"2024-05-02\",\"to\":\"2024-05-01\"}", "Invalid parameter to: not after from"},
        {"{\"result\":\"Success\"}", "Invalid parameter result: success or failure"},
        {"{\"writerID\":\"a b\"}", "Invalid parameter writerID"},
        {"{\"format\":\"json\"}", "Invalid parameter format: jsonl or csv"},
        {"{\"limit\":0}", "Invalid parameter limit"},
        {"{\"limit\":1.5}", "Invalid parameter limit"},
        {"{\"cursor\":\"MTcwMDAwMDAwMDEyMzQ1Njo0MjpzYW0tMQ==\"}", "Invalid parameter cursor"},
        {"{\"other\":1}", "Unknown parameter other"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_audit_query q;
        char d[API_DESC_MAX] = "";
        assert_int_equal(parse(bad[i].body, &q, d, sizeof d), QS_ERR_INVALID_ARGUMENT);
        if (strncmp(d, bad[i].desc, strlen(bad[i].desc)) != 0)
            fail_msg("%s: \"%s\", want \"%s...\"", bad[i].body, d, bad[i].desc);
    }
}

static void test_cursor(void **state)
{
    (void)state;
    qs_db_audit_cursor c = {.started = true, .time_us = 1700000000123456LL, .seq = 42};
    char text[API_AUDIT_CURSOR_MAX + 1];
    snprintf(c.writer_id, sizeof c.writer_id, "sam-1");
    assert_true(api_audit_cursor_format(&c, text, sizeof text));
    assert_string_equal(text, "MTcwMDAwMDAwMDEyMzQ1Njo0MjpzYW0tMQ");
    qs_db_audit_cursor back;
    assert_true(api_audit_cursor_parse(text, strlen(text), &back));
    assert_true(back.started && back.time_us == c.time_us && back.seq == c.seq);
    assert_string_equal(back.writer_id, "sam-1");
    /* a writer id of 64 characters and the extreme numbers fit */
    memset(c.writer_id, 'w', 64);
    c.writer_id[64] = '\0';
    c.time_us = INT64_MIN + 1;
    c.seq = INT64_MAX;
    assert_true(api_audit_cursor_format(&c, text, sizeof text));
    assert_true(api_audit_cursor_parse(text, strlen(text), &back));
    assert_true(back.time_us == c.time_us && back.seq == c.seq);

    /* anything else is refused: each raw text here is base64url-encoded below */
    static const char *const raw[] = {
        "1700000000123456:0:sam-1",   /* seq 0 */
        "1700000000123456:-1:sam-1",  /* negative seq */
        "01700000000123456:1:sam-1",  /* leading zero */
        "1700000000123456:1:",        /* no writer */
        "1700000000123456:1:-sam",    /* bad writer */
        "1700000000123456:1",         /* two parts */
        "x:1:sam-1",                  /* not a number */
        "-0:1:sam-1",                 /* minus zero */
        "99999999999999999999:1:w",   /* too large */
        "1700000000123456:1:sam-1\n", /* trailing byte */
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        char enc[256];
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)raw[i], strlen(raw[i]),
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if (api_audit_cursor_parse(enc, strlen(enc), &back))
            fail_msg("accepted %s", raw[i]);
        assert_false(back.started);
    }
    assert_false(api_audit_cursor_parse("", 0, &back));
    assert_false(api_audit_cursor_parse("MTcwMDAwMDAwMDEyMzQ1Njo0MjpzYW0tMQ==", 36, &back));
    assert_false(api_audit_cursor_parse("MTcwMDAwMDAwMDEyMzQ1Njo0MjpzYW0tMR", 34, &back));
    assert_false(api_audit_cursor_parse("MTcwMDAwMDAwMDEyMzQ1Njo0Mjpz+W0tMQ", 34, &back));
}

/* One record with a comma and quotes in the actor and the details, and absent values. */
static void sample(qs_db_audit_found *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->writer_id, sizeof f->writer_id, "sam-1");
    f->row.seq = 42;
    f->row.event_time_us = 1700000000123456LL;
    f->row.event_type = (char *)"signature.created";
    f->row.actor = (char *)"client uid=7 auditor=a,\"b\"";
    f->row.has_user_id = true;
    for (int i = 0; i < 16; i++)
        f->row.user_id[i] = (uint8_t)(i * 0x11);
    f->row.has_sad_ref = true;
    memset(f->row.sad_ref, 0x5a, sizeof f->row.sad_ref);
    f->row.success = true;
    f->row.details = (char *)"{\"hash\":\"AAEC\",\"n\":1}";
    memset(f->row.prev_hash, 0x11, sizeof f->row.prev_hash);
    memset(f->row.record_hash, 0xca, sizeof f->row.record_hash);
    memset(f->row.record_mac, 0x4d, sizeof f->row.record_mac);
}

/* 32 times the two hex digits of `b`. */
static void repeat(char out[static 65], const char *b)
{
    for (int i = 0; i < 32; i++)
        memcpy(out + 2 * i, b, 2);
    out[64] = '\0';
}

static void test_rows(void **state)
{
    (void)state;
    qs_db_audit_found f[2];
    sample(&f[0]);
    sample(&f[1]);
    f[1].row.seq = 43;
    f[1].row.success = false;
    f[1].row.has_user_id = f[1].row.has_sad_ref = false;
    f[1].row.details = (char *)"{}";
    f[1].row.actor = (char *)"admin uid=0";
    char *out = NULL;
    size_t len = 0;

    char h5a[65], h11[65], hca[65], h4d[65], want[4096];
    repeat(h5a, "5a");
    repeat(h11, "11");
    repeat(hca, "ca");
    repeat(h4d, "4d");

    assert_int_equal(api_audit_rows(f, 2, API_AUDIT_JSONL, &out, &len), QS_OK);
    snprintf(want, sizeof want,
             "{\"writer_id\":\"sam-1\",\"seq\":42,\"event_time\":\"2023-11-14T22:13:20.123456Z\","
             "\"event_type\":\"signature.created\",\"actor\":\"client uid=7 auditor=a,\\\"b\\\"\","
             "\"user_id\":\"00112233-4455-6677-8899-aabbccddeeff\",\"credential_id\":null,"
             "\"sad_ref\":\"%s\",\"result\":\"success\","
             "\"details\":\"{\\\"hash\\\":\\\"AAEC\\\",\\\"n\\\":1}\",\"prev_hash\":\"%s\","
             "\"record_hash\":\"%s\",\"record_mac\":\"%s\"}\n"
             "{\"writer_id\":\"sam-1\",\"seq\":43,\"event_time\":\"2023-11-14T22:13:20.123456Z\","
             "\"event_type\":\"signature.created\",\"actor\":\"admin uid=0\",\"user_id\":null,"
             "\"credential_id\":null,\"sad_ref\":null,\"result\":\"failure\",\"details\":\"{}\","
             "\"prev_hash\":\"%s\",\"record_hash\":\"%s\",\"record_mac\":\"%s\"}\n",
             h5a, h11, hca, h4d, h11, hca, h4d);
    assert_int_equal(len, strlen(want));
    assert_string_equal(out, want);
    free(out);

    assert_int_equal(api_audit_rows(f, 2, API_AUDIT_CSV, &out, &len), QS_OK);
    static const char header[] = "writer_id,seq,event_time,event_type,actor,user_id,"
                                 "credential_id,sad_ref,result,details,prev_hash,record_hash,"
                                 "record_mac\r\n";
    snprintf(want, sizeof want,
             "sam-1,42,2023-11-14T22:13:20.123456Z,signature.created,\"client uid=7 auditor=a,"
             "\"\"b\"\"\",00112233-4455-6677-8899-aabbccddeeff,,%s,success,"
             "\"{\"\"hash\"\":\"\"AAEC\"\",\"\"n\"\":1}\",%s,%s,%s\r\n"
             "sam-1,43,2023-11-14T22:13:20.123456Z,signature.created,admin uid=0,,,,failure,{},"
             "%s,%s,%s\r\n",
             h5a, h11, hca, h4d, h11, hca, h4d);
    assert_int_equal(len, strlen(header) + strlen(want));
    assert_memory_equal(out, header, strlen(header));
    assert_string_equal(out + strlen(header), want);
    free(out);

    /* an empty page: an empty body, or the CSV header alone */
    assert_int_equal(api_audit_rows(NULL, 0, API_AUDIT_JSONL, &out, &len), QS_OK);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(api_audit_rows(NULL, 0, API_AUDIT_CSV, &out, &len), QS_OK);
    assert_int_equal(len, strlen(header));
    assert_string_equal(out, header);
    free(out);
    /* details that are not UTF-8 cannot be written as JSON */
    f[0].row.details = (char *)"{\"x\":\"\xff\"}";
    assert_int_equal(api_audit_rows(f, 1, API_AUDIT_JSONL, &out, &len), QS_ERR_DB);
    assert_null(out);
}

int main(void)
{
    api_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_defaults),
        cmocka_unit_test(test_search_every_criterion),
        cmocka_unit_test(test_search_refusals),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_rows),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(body);
    return failed;
}

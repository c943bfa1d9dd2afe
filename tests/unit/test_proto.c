/*
 * SAM wire codec: round trips of every message type, one hand-made frame per rejection reason,
 * boundary lengths, and stream framing over socketpairs (1-byte writes, EOF, timeouts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sam/proto.h"
#include "tests/lib/testutil.h"
#include "util/secret.h"

/* ---- hand-made frames ---------------------------------------------------------------------- */

typedef struct fb {
    uint8_t *p;
    size_t len, cap;
} fb;

static void fb_raw(fb *f, const void *p, size_t n)
{
    if (f->cap - f->len < n) {
        size_t cap = f->cap == 0 ? 1024 : f->cap;
        while (cap - f->len < n)
            cap *= 2;
        f->p = realloc(f->p, cap);
        assert_non_null(f->p);
        f->cap = cap;
    }
    if (n > 0)
        memcpy(f->p + f->len, p, n);
    f->len += n;
}

static void be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    be16(p, (uint16_t)(v >> 16));
    be16(p + 2, (uint16_t)v);
}

static void fb_hdr_full(fb *f, const char *magic, uint16_t version, uint16_t type, uint64_t reqid)
{
    uint8_t h[QS_SAM_HDR_LEN] = {0};
    memcpy(h, magic, 4);
    be16(h + 4, version);
    be16(h + 6, type);
    be32(h + 8, (uint32_t)(reqid >> 32));
    be32(h + 12, (uint32_t)reqid);
    f->len = 0;
    fb_raw(f, h, sizeof h);
}

static void fb_hdr(fb *f, uint16_t type)
{
    fb_hdr_full(f, "QSAM", 1, type, 7);
}

static void fb_field(fb *f, uint16_t tag, const void *v, size_t n)
{
    uint8_t h[6];
    be16(h, tag);
    be32(h + 2, (uint32_t)n);
    fb_raw(f, h, sizeof h);
    fb_raw(f, v, n);
}

static void fb_u32(fb *f, uint16_t tag, uint32_t v)
{
    uint8_t b[4];
    be32(b, v);
    fb_field(f, tag, b, 4);
}

static void fb_str(fb *f, uint16_t tag, const char *s)
{
    fb_field(f, tag, s, strlen(s));
}

/* Sets the header's body length to what follows the header. */
static void fb_seal(fb *f)
{
    be32(f->p + 16, (uint32_t)(f->len - QS_SAM_HDR_LEN));
}

static void fb_free(fb *f)
{
    free(f->p);
    memset(f, 0, sizeof *f);
}

static const char SAD[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const uint8_t H32[32] = {1, 2, 3}, H48[48] = {4}, H64[64] = {5};

#define ALL_FIELDS 0

/* An AUTHORIZE body with every required field except `skip`, one 32-byte hash. */
static void auth_fields(fb *f, uint16_t skip)
{
    if (skip != QS_SAM_T_USER_ID)
        fb_str(f, QS_SAM_T_USER_ID, "alice");
    if (skip != QS_SAM_T_CREDENTIAL_ID)
        fb_str(f, QS_SAM_T_CREDENTIAL_ID, "cred-1");
    if (skip != QS_SAM_T_PIN)
        fb_str(f, QS_SAM_T_PIN, "123456");
    if (skip != QS_SAM_T_OTP)
        fb_str(f, QS_SAM_T_OTP, "654321");
    if (skip != QS_SAM_T_NUM_SIGNATURES)
        fb_u32(f, QS_SAM_T_NUM_SIGNATURES, 1);
    if (skip != QS_SAM_T_HASH_ALG)
        fb_u32(f, QS_SAM_T_HASH_ALG, QS_SAM_HASH_SHA256);
    if (skip != QS_SAM_T_HASH)
        fb_field(f, QS_SAM_T_HASH, H32, 32);
}

static void expect_frame(fb *f, qs_err want_err, qs_sam_reason want)
{
    qs_sam_msg *m = (qs_sam_msg *)&m;
    qs_sam_reason why = QS_SAM_R_EOF_IN_FRAME;
    qs_err r = qs_sam_decode_frame(f->p, f->len, &m, &why);
    if (r != want_err || why != want)
        fail_msg("got %s/%s, want %s/%s", qs_err_name(r), qs_sam_reason_name(why),
                 qs_err_name(want_err), qs_sam_reason_name(want));
    if (r == QS_OK)
        assert_non_null(m);
    else
        assert_null(m);
    qs_sam_msg_free(m);
}

static void expect_reason(fb *f, qs_sam_reason want)
{
    expect_frame(f, want == QS_SAM_R_OK ? QS_OK : QS_ERR_PROTO, want);
}

/* ---- round trips --------------------------------------------------------------------------- */

/* A sample value for occurrence `i` of a tag, within its spec. */
static size_t sample(const qs_sam_tag_spec *ts, size_t i, uint8_t *buf, size_t cap)
{
    size_t n;
    switch (ts->kind) {
    case QS_SAM_K_U32:
        be32(buf, (uint32_t)(ts->max - (i % (ts->max - ts->min + 1))));
        return 4;
    case QS_SAM_K_U64:
        be32(buf, 0);
        be32(buf + 4, (uint32_t)(ts->max - i));
        return 8;
    case QS_SAM_K_BYTES:
        if (ts->flags & QS_SAM_F_DIGEST_LEN)
            n = (size_t[]){32, 48, 64}[i % 3];
        else
            n = ts->max < 10 + i ? ts->max : 10 + i;
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)(k * 7 + i + ts->tag);
        return n;
    case QS_SAM_K_STR:
        n = ts->min > 9 ? ts->min : 9;
        assert_true(n <= cap && n <= ts->max);
        memset(buf, 'a' + (int)(ts->tag % 26), n);
        memcpy(buf, "\xc3\xa9t\xc3\xa9", 5); /* "été": multi-byte characters */
        buf[n - 1] = (uint8_t)('0' + i % 10);
        return n;
    }
    fail();
    return 0;
}

static qs_err put_sample(qs_sam_builder *b, const qs_sam_tag_spec *ts, const uint8_t *v, size_t n)
{
    switch (ts->kind) {
    case QS_SAM_K_U32:
        return qs_sam_msg_put_u32(
            b, ts->tag, (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]);
    case QS_SAM_K_U64:
        return qs_sam_msg_put_u64(
            b, ts->tag, (uint64_t)v[4] << 24 | (uint64_t)v[5] << 16 | (uint64_t)v[6] << 8 | v[7]);
    case QS_SAM_K_BYTES:
        return qs_sam_msg_put_bytes(b, ts->tag, v, n);
    case QS_SAM_K_STR:
        return qs_sam_msg_put_strn(b, ts->tag, (const char *)v, n);
    }
    return QS_ERR_INTERNAL;
}

/* Builds a message of `ms` with every field (3 occurrences of repeated ones), or with only the
 * required ones once (minimal), in the given put order (forward or reversed). */
static void build(const qs_sam_msg_spec *ms, bool reverse, bool minimal, uint8_t **frame,
                  size_t *len)
{
    qs_sam_builder *b = NULL;
    uint8_t v[4096];
    assert_int_equal(qs_sam_msg_begin(ms->type, 0x0102030405060708ULL, &b), QS_OK);
    for (size_t k = 0; k < ms->nfields; k++) {
        size_t fi = reverse ? ms->nfields - 1 - k : k;
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(ms->fields[fi].tag);
        size_t cnt = ms->fields[fi].max_count > 1 ? 3 : 1;
        if (minimal)
            cnt = ms->fields[fi].required ? 1 : 0;
        for (size_t i = 0; i < cnt; i++) {
            size_t n = sample(ts, i, v, sizeof v);
            assert_int_equal(put_sample(b, ts, v, n), QS_OK);
        }
    }
    qs_sam_reason why = QS_SAM_R_BAD_MAGIC;
    assert_int_equal(qs_sam_msg_finish(b, frame, len, &why), QS_OK);
    assert_int_equal(why, QS_SAM_R_OK);
}

static void build_full(const qs_sam_msg_spec *ms, bool reverse, uint8_t **frame, size_t *len)
{
    build(ms, reverse, false, frame, len);
}

static void check_full(const qs_sam_msg_spec *ms, const qs_sam_msg *m)
{
    uint8_t v[4096];
    assert_int_equal(qs_sam_msg_type(m), ms->type);
    assert_true(qs_sam_msg_reqid(m) == 0x0102030405060708ULL);
    for (size_t fi = 0; fi < ms->nfields; fi++) {
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(ms->fields[fi].tag);
        size_t cnt = ms->fields[fi].max_count > 1 ? 3 : 1;
        assert_int_equal(qs_sam_msg_count(m, ts->tag), cnt);
        for (size_t i = 0; i < cnt; i++) {
            size_t n = sample(ts, i, v, sizeof v);
            uint32_t u32 = 0;
            uint64_t u64 = 0;
            const uint8_t *p = NULL;
            size_t len = 0;
            const char *s = NULL;
            switch (ts->kind) {
            case QS_SAM_K_U32:
                assert_true(qs_sam_msg_get_u32(m, ts->tag, &u32));
                assert_int_equal(u32, (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
                                          (uint32_t)v[2] << 8 | v[3]);
                break;
            case QS_SAM_K_U64:
                assert_true(qs_sam_msg_get_u64(m, ts->tag, &u64));
                assert_int_equal(u64, (uint64_t)v[7] | (uint64_t)v[6] << 8 | (uint64_t)v[5] << 16 |
                                          (uint64_t)v[4] << 24);
                break;
            case QS_SAM_K_BYTES:
                assert_true(qs_sam_msg_get_bytes(m, ts->tag, i, &p, &len));
                assert_int_equal(len, n);
                assert_memory_equal(p, v, n);
                break;
            case QS_SAM_K_STR:
                s = qs_sam_msg_get_str(m, ts->tag, &len);
                assert_non_null(s);
                assert_int_equal(len, n);
                assert_int_equal(strlen(s), n);
                assert_memory_equal(s, v, n);
                break;
            }
        }
    }
}

static void test_round_trip_every_type(void **state)
{
    size_t n = 0;
    const qs_sam_msg_spec *specs = qs_sam_msg_specs(&n);
    assert_int_equal(n, 43);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f1 = NULL, *f2 = NULL;
        size_t l1 = 0, l2 = 0;
        qs_sam_msg *m = NULL;
        qs_sam_reason why = QS_SAM_R_OK;

        build_full(&specs[i], false, &f1, &l1);
        build_full(&specs[i], true, &f2, &l2);
        /* one encoding whatever the put order */
        assert_int_equal(l1, l2);
        assert_memory_equal(f1, f2, l1);
        assert_memory_equal(f1, "QSAM\x00\x01", 6);
        assert_int_equal(f1[6] << 8 | f1[7], specs[i].type);

        if (qs_sam_decode_frame(f1, l1, &m, &why) != QS_OK)
            fail_msg("%s: %s", specs[i].name, qs_sam_reason_name(why));
        check_full(&specs[i], m);
        qs_sam_msg_free(m);

        /* the body alone decodes the same */
        assert_int_equal(qs_sam_decode_body(specs[i].type, 0x0102030405060708ULL,
                                            f1 + QS_SAM_HDR_LEN, l1 - QS_SAM_HDR_LEN, &m, &why),
                         QS_OK);
        check_full(&specs[i], m);
        qs_sam_msg_free(m);
        qs_sam_frame_free(f1, l1);
        qs_sam_frame_free(f2, l2);
    }
}

static void test_authorize_fields(void **state)
{
    qs_sam_builder *b = NULL;
    uint8_t *f = NULL;
    size_t len = 0;
    qs_sam_msg *m = NULL;
    qs_sam_reason why;

    assert_int_equal(qs_sam_msg_begin(QS_SAM_AUTHORIZE, 42, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_bytes(b, QS_SAM_T_HASH, H64, 64), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_PIN, "123456"), QS_OK);
    assert_int_equal(qs_sam_msg_put_bytes(b, QS_SAM_T_HASH, H32, 32), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_OTP, "654321"), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, "alice"), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_CREDENTIAL_ID, "cred-1"), QS_OK);
    assert_int_equal(qs_sam_msg_put_u32(b, QS_SAM_T_NUM_SIGNATURES, 2), QS_OK);
    assert_int_equal(qs_sam_msg_put_u32(b, QS_SAM_T_HASH_ALG, QS_SAM_HASH_SHA512), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &f, &len, &why), QS_OK);

    /* the canonical form is exactly the hand-made one (hashes keep their put order) */
    fb e = {0};
    fb_hdr_full(&e, "QSAM", 1, QS_SAM_AUTHORIZE, 42);
    fb_str(&e, QS_SAM_T_USER_ID, "alice");
    fb_str(&e, QS_SAM_T_CREDENTIAL_ID, "cred-1");
    fb_str(&e, QS_SAM_T_PIN, "123456");
    fb_str(&e, QS_SAM_T_OTP, "654321");
    fb_u32(&e, QS_SAM_T_NUM_SIGNATURES, 2);
    fb_u32(&e, QS_SAM_T_HASH_ALG, QS_SAM_HASH_SHA512);
    fb_field(&e, QS_SAM_T_HASH, H64, 64);
    fb_field(&e, QS_SAM_T_HASH, H32, 32);
    fb_seal(&e);
    assert_int_equal(len, e.len);
    assert_memory_equal(f, e.p, len);
    fb_free(&e);

    assert_int_equal(qs_sam_decode_frame(f, len, &m, &why), QS_OK);
    assert_int_equal(qs_sam_msg_reqid(m), 42);
    assert_string_equal(qs_sam_msg_get_str(m, QS_SAM_T_USER_ID, NULL), "alice");
    assert_string_equal(qs_sam_msg_get_str(m, QS_SAM_T_PIN, NULL), "123456");
    uint32_t u = 0;
    assert_true(qs_sam_msg_get_u32(m, QS_SAM_T_HASH_ALG, &u));
    assert_int_equal(u, QS_SAM_HASH_SHA512);
    const uint8_t *p = NULL;
    size_t n = 0;
    assert_int_equal(qs_sam_msg_count(m, QS_SAM_T_HASH), 2);
    assert_true(qs_sam_msg_get_bytes(m, QS_SAM_T_HASH, 0, &p, &n));
    assert_int_equal(n, 64);
    assert_memory_equal(p, H64, 64);
    assert_true(p > f && p < f + len); /* zero-copy: into the frame */
    assert_true(qs_sam_msg_get_bytes(m, QS_SAM_T_HASH, 1, &p, &n));
    assert_int_equal(n, 32);
    /* absent, out of range, of another kind, or not in this message type */
    assert_false(qs_sam_msg_get_bytes(m, QS_SAM_T_HASH, 2, &p, &n));
    assert_null(p);
    assert_null(qs_sam_msg_get_str(m, QS_SAM_T_DESCRIPTION, &n));
    assert_int_equal(n, 0);
    assert_false(qs_sam_msg_get_u32(m, QS_SAM_T_USER_ID, &u));
    assert_null(qs_sam_msg_get_str(m, QS_SAM_T_HASH_ALG, NULL));
    assert_false(qs_sam_msg_get_u32(m, QS_SAM_T_KEY_ALG, &u));
    assert_int_equal(qs_sam_msg_count(m, QS_SAM_T_SIGNATURE), 0);
    assert_int_equal(qs_sam_msg_count(m, 999), 0);
    qs_sam_msg_free(m);
    qs_sam_frame_free(f, len);
}

static void test_ping_and_error(void **state)
{
    qs_sam_builder *b = NULL;
    uint8_t *f = NULL;
    size_t len = 0;
    qs_sam_msg *m = NULL;
    qs_sam_reason why;

    assert_int_equal(qs_sam_msg_begin(QS_SAM_PING, UINT64_MAX, &b), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &f, &len, NULL), QS_OK);
    assert_int_equal(len, QS_SAM_HDR_LEN);
    assert_int_equal(qs_sam_decode_frame(f, len, &m, &why), QS_OK);
    assert_true(qs_sam_msg_reqid(m) == UINT64_MAX);
    assert_false(qs_sam_type_is_response(qs_sam_msg_type(m)));
    qs_sam_msg_free(m);
    qs_sam_frame_free(f, len);

    /* a negative qs_err travels as its two's complement */
    assert_int_equal(qs_sam_msg_begin(QS_SAM_ERROR, 9, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_u32(b, QS_SAM_T_ERROR_CODE, (uint32_t)(int32_t)QS_ERR_MAC),
                     QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_ERROR_MESSAGE, "record MAC mismatch"), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &f, &len, NULL), QS_OK);
    assert_int_equal(qs_sam_decode_frame(f, len, &m, &why), QS_OK);
    uint32_t code = 0;
    assert_true(qs_sam_msg_get_u32(m, QS_SAM_T_ERROR_CODE, &code));
    assert_int_equal((int32_t)code, QS_ERR_MAC);
    assert_true(qs_sam_type_is_response(qs_sam_msg_type(m)));
    qs_sam_msg_free(m);
    qs_sam_frame_free(f, len);
}

/* ---- rejections, one reason each ----------------------------------------------------------- */

static void test_header_rejections(void **state)
{
    fb f = {0};

    fb_hdr(&f, QS_SAM_PING);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_OK);
    f.len = QS_SAM_HDR_LEN - 1;
    expect_reason(&f, QS_SAM_R_TRUNCATED_HEADER);
    f.len = 0;
    expect_reason(&f, QS_SAM_R_TRUNCATED_HEADER);

    fb_hdr_full(&f, "QSAN", 1, QS_SAM_PING, 1);
    expect_reason(&f, QS_SAM_R_BAD_MAGIC);
    fb_hdr_full(&f, "qsam", 1, QS_SAM_PING, 1);
    expect_reason(&f, QS_SAM_R_BAD_MAGIC);
    fb_hdr_full(&f, "QSAM", 2, QS_SAM_PING, 1);
    expect_reason(&f, QS_SAM_R_BAD_VERSION);
    fb_hdr_full(&f, "QSAM", 0, QS_SAM_PING, 1);
    expect_reason(&f, QS_SAM_R_BAD_VERSION);
    fb_hdr_full(&f, "QSAM", 0x0100, QS_SAM_PING, 1); /* little-endian 1 */
    expect_reason(&f, QS_SAM_R_BAD_VERSION);
    const uint16_t bad_types[] = {0x0000, 0x0016, 0x8000, 0x8016, 0x0100, 0xfffe, 0x7fff};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        fb_hdr(&f, bad_types[i]);
        expect_reason(&f, QS_SAM_R_UNKNOWN_TYPE);
    }

    /* the announced length is refused before any body byte is looked at */
    fb_hdr(&f, QS_SAM_PING);
    be32(f.p + 16, QS_SAM_MAX_BODY + 1);
    expect_reason(&f, QS_SAM_R_BODY_TOO_LARGE);
    be32(f.p + 16, UINT32_MAX);
    expect_reason(&f, QS_SAM_R_BODY_TOO_LARGE);

    /* body shorter or longer than announced */
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_u32(&f, QS_SAM_T_KEY_ALG, QS_SAM_KEY_EC_P256);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_OK);
    f.len--;
    expect_reason(&f, QS_SAM_R_LENGTH_MISMATCH);
    f.len = QS_SAM_HDR_LEN;
    expect_reason(&f, QS_SAM_R_LENGTH_MISMATCH);
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_u32(&f, QS_SAM_T_KEY_ALG, QS_SAM_KEY_EC_P256);
    fb_seal(&f);
    fb_raw(&f, "\0", 1);
    expect_reason(&f, QS_SAM_R_TRAILING_BYTES);
    fb_free(&f);
}

static void test_field_rejections(void **state)
{
    fb f = {0};

    /* baseline */
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    auth_fields(&f, ALL_FIELDS);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_OK);

    /* truncated: 1..5 bytes of a field header, a value running past the body */
    for (size_t k = 1; k < QS_SAM_FIELD_HDR_LEN; k++) {
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        auth_fields(&f, ALL_FIELDS);
        fb_raw(&f, "\x00\x0e\x00\x00\x00\x01", k);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_TRUNCATED_FIELD);
    }
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    auth_fields(&f, ALL_FIELDS);
    fb_raw(&f,
           "\x00\x0e\x00\x00\x00\x05"
           "abcd",
           10); /* DESCRIPTION says 5, has 4 */
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_TRUNCATED_FIELD);
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_raw(&f,
           "\x00\x01\xff\xff\xff\xff"
           "alice",
           11); /* a length far past the end */
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_TRUNCATED_FIELD);

    /* unknown tags: never defined, defined elsewhere, tag 0, any field in PING */
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    auth_fields(&f, ALL_FIELDS);
    fb_str(&f, 999, "x");
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_str(&f, QS_SAM_T_ACTOR, "officer");
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_field(&f, 0, NULL, 0);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);
    fb_hdr(&f, QS_SAM_PING);
    fb_field(&f, QS_SAM_T_USER_ID, "a", 1);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);

    /* out of order */
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_str(&f, QS_SAM_T_CREDENTIAL_ID, "cred-1");
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_FIELD_ORDER);
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    auth_fields(&f, ALL_FIELDS);
    fb_u32(&f, QS_SAM_T_HASH_ALG, QS_SAM_HASH_SHA256); /* after HASH */
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_FIELD_ORDER);

    /* duplicates: adjacent, with identical or different values */
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_DUPLICATE_FIELD);
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    auth_fields(&f, QS_SAM_T_HASH);
    fb_u32(&f, QS_SAM_T_HASH_ALG, QS_SAM_HASH_SHA512);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_DUPLICATE_FIELD);

    /* each required field missing in turn, and no hash at all */
    const uint16_t req[] = {QS_SAM_T_USER_ID, QS_SAM_T_CREDENTIAL_ID,  QS_SAM_T_PIN,
                            QS_SAM_T_OTP,     QS_SAM_T_NUM_SIGNATURES, QS_SAM_T_HASH_ALG,
                            QS_SAM_T_HASH};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        auth_fields(&f, req[i]);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_MISSING_FIELD);
    }
    fb_hdr(&f, QS_SAM_AUTHORIZE);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_MISSING_FIELD);

    /* lengths: empty and over-long strings, integers of the wrong size, digests, the SAD */
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_field(&f, QS_SAM_T_USER_ID, "", 0);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_BAD_LENGTH);
    const size_t ilens[] = {0, 3, 5, 8};
    for (size_t i = 0; i < 4; i++) {
        fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
        fb_str(&f, QS_SAM_T_USER_ID, "alice");
        fb_field(&f, QS_SAM_T_KEY_ALG, "\0\0\0\0\0\0\0\x01", ilens[i]);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_BAD_LENGTH);
    }
    const size_t hlens[] = {0, 1, 20, 31, 33, 47, 49, 63, 65};
    for (size_t i = 0; i < sizeof hlens / sizeof hlens[0]; i++) {
        uint8_t h[65] = {0};
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        auth_fields(&f, QS_SAM_T_HASH);
        fb_field(&f, QS_SAM_T_HASH, h, hlens[i]);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_BAD_LENGTH);
    }
    const size_t okh[] = {32, 48, 64};
    for (size_t i = 0; i < 3; i++) {
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        auth_fields(&f, QS_SAM_T_HASH);
        fb_field(&f, QS_SAM_T_HASH, H64, okh[i]);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_OK);
    }
    fb_hdr(&f, QS_SAM_AUTHORIZE_RESP);
    fb_field(&f, QS_SAM_T_SAD, SAD, QS_SAM_SAD_LEN - 1);
    fb_u32(&f, QS_SAM_T_EXPIRES_IN, 300);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_BAD_LENGTH);

    /* integer ranges */
    const uint32_t bad_alg[] = {0, 4, 0x01000000, UINT32_MAX};
    for (size_t i = 0; i < 4; i++) {
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        fb_str(&f, QS_SAM_T_USER_ID, "alice");
        fb_str(&f, QS_SAM_T_CREDENTIAL_ID, "cred-1");
        fb_str(&f, QS_SAM_T_PIN, "123456");
        fb_str(&f, QS_SAM_T_OTP, "654321");
        fb_u32(&f, QS_SAM_T_NUM_SIGNATURES, 1);
        fb_u32(&f, QS_SAM_T_HASH_ALG, bad_alg[i]);
        fb_field(&f, QS_SAM_T_HASH, H32, 32);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_VALUE_RANGE);
    }
    fb_hdr(&f, QS_SAM_AUTHORIZE_RESP);
    fb_str(&f, QS_SAM_T_SAD, SAD);
    fb_u32(&f, QS_SAM_T_EXPIRES_IN, 0);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_VALUE_RANGE);

    /* strings: invalid UTF-8 of each kind, and a NUL */
    const char *bad_utf8[] = {
        "\x80",             /* lone continuation byte */
        "a\xc3",            /* truncated sequence */
        "\xe2\x82",         /* truncated 3-byte sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong 3-byte */
        "\xf0\x80\x80\xaf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf8\x88\x80\x80", /* 5-byte form */
        "\xff",             /* never valid */
        "\xc3\x28",         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
        fb_str(&f, QS_SAM_T_USER_ID, bad_utf8[i]);
        fb_u32(&f, QS_SAM_T_KEY_ALG, 1);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_BAD_UTF8);
    }
    const char *good_utf8[] = {"\xc2\x80",         "\xe2\x82\xac",     "\xef\xbf\xbf",
                               "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\x7f",
                               "\xed\x9f\xbf"};
    for (size_t i = 0; i < sizeof good_utf8 / sizeof good_utf8[0]; i++) {
        fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
        fb_str(&f, QS_SAM_T_USER_ID, good_utf8[i]);
        fb_u32(&f, QS_SAM_T_KEY_ALG, 1);
        fb_seal(&f);
        expect_reason(&f, QS_SAM_R_OK);
    }
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_field(&f, QS_SAM_T_USER_ID, "ali\0ce", 6);
    fb_u32(&f, QS_SAM_T_KEY_ALG, 1);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_EMBEDDED_NUL);
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_field(&f, QS_SAM_T_USER_ID, "\0", 1);
    fb_u32(&f, QS_SAM_T_KEY_ALG, 1);
    fb_seal(&f);
    expect_reason(&f, QS_SAM_R_EMBEDDED_NUL);
    fb_free(&f);
}

/* ---- boundaries ---------------------------------------------------------------------------- */

static void expect_str_len(uint16_t type, uint16_t tag, size_t n, qs_sam_reason want)
{
    fb f = {0};
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'x', n);
    s[n] = '\0';
    fb_hdr(&f, type);
    if (type == QS_SAM_AUTHORIZE) {
        auth_fields(&f, ALL_FIELDS);
        fb_str(&f, tag, s);
    } else {
        fb_str(&f, tag, s);
        fb_u32(&f, QS_SAM_T_KEY_ALG, 1);
    }
    fb_seal(&f);
    expect_reason(&f, want);

    /* the builder draws the same line */
    qs_sam_builder *b = NULL;
    assert_int_equal(qs_sam_msg_begin(type, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, tag, s),
                     want == QS_SAM_R_OK ? QS_OK : QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_sam_builder_reason(b), want);
    qs_sam_builder_free(b);
    free(s);
    fb_free(&f);
}

static void test_field_boundaries(void **state)
{
    expect_str_len(QS_SAM_CREATE_CREDENTIAL, QS_SAM_T_USER_ID, 127, QS_SAM_R_OK);
    expect_str_len(QS_SAM_CREATE_CREDENTIAL, QS_SAM_T_USER_ID, 128, QS_SAM_R_OK);
    expect_str_len(QS_SAM_CREATE_CREDENTIAL, QS_SAM_T_USER_ID, 129, QS_SAM_R_BAD_LENGTH);
    expect_str_len(QS_SAM_AUTHORIZE, QS_SAM_T_CLIENT_DATA, 4095, QS_SAM_R_OK);
    expect_str_len(QS_SAM_AUTHORIZE, QS_SAM_T_CLIENT_DATA, 4096, QS_SAM_R_OK);
    expect_str_len(QS_SAM_AUTHORIZE, QS_SAM_T_CLIENT_DATA, 4097, QS_SAM_R_BAD_LENGTH);

    /* hashes: 999, 1000 fine; 1001 too many */
    for (size_t n = 999; n <= 1001; n++) {
        fb f = {0};
        fb_hdr(&f, QS_SAM_AUTHORIZE);
        auth_fields(&f, QS_SAM_T_HASH);
        for (size_t i = 0; i < n; i++)
            fb_field(&f, QS_SAM_T_HASH, H48, 48);
        fb_seal(&f);
        expect_reason(&f, n <= QS_SAM_MAX_HASHES ? QS_SAM_R_OK : QS_SAM_R_TOO_MANY);
        fb_free(&f);

        qs_sam_builder *b = NULL;
        assert_int_equal(qs_sam_msg_begin(QS_SAM_SIGN_RESP, 1, &b), QS_OK);
        qs_err r = QS_OK;
        for (size_t i = 0; i < n && r == QS_OK; i++)
            r = qs_sam_msg_put_bytes(b, QS_SAM_T_SIGNATURE, H64, 64);
        assert_int_equal(r, n <= QS_SAM_MAX_HASHES ? QS_OK : QS_ERR_INVALID_ARGUMENT);
        assert_int_equal(qs_sam_builder_reason(b),
                         n <= QS_SAM_MAX_HASHES ? QS_SAM_R_OK : QS_SAM_R_TOO_MANY);
        qs_sam_builder_free(b);
    }

    /* the largest message the specs allow: 1000 signatures of 1024 bytes, under the body cap */
    uint8_t *sig = calloc(1, 1025), *frame = NULL;
    size_t len = 0;
    qs_sam_builder *b = NULL;
    assert_int_equal(qs_sam_msg_begin(QS_SAM_SIGN_RESP, 1, &b), QS_OK);
    for (size_t i = 0; i < QS_SAM_MAX_HASHES; i++)
        assert_int_equal(qs_sam_msg_put_bytes(b, QS_SAM_T_SIGNATURE, sig, 1024), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &frame, &len, NULL), QS_OK);
    assert_int_equal(len, QS_SAM_HDR_LEN + QS_SAM_MAX_HASHES * (QS_SAM_FIELD_HDR_LEN + 1024));
    qs_sam_msg *m = NULL;
    qs_sam_reason why;
    assert_int_equal(qs_sam_decode_frame(frame, len, &m, &why), QS_OK);
    assert_int_equal(qs_sam_msg_count(m, QS_SAM_T_SIGNATURE), QS_SAM_MAX_HASHES);
    qs_sam_msg_free(m);
    qs_sam_frame_free(frame, len);
    assert_int_equal(qs_sam_msg_begin(QS_SAM_SIGN_RESP, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_bytes(b, QS_SAM_T_SIGNATURE, sig, 1025),
                     QS_ERR_INVALID_ARGUMENT);
    qs_sam_builder_free(b);
    free(sig);
}

/* A PING frame announcing `body_len` bytes, followed by that many zero bytes. */
static void big_frame(fb *f, size_t body_len)
{
    fb_hdr(f, QS_SAM_PING);
    uint8_t *zeros = calloc(1, body_len + 1);
    assert_non_null(zeros);
    fb_raw(f, zeros, body_len);
    free(zeros);
    fb_seal(f);
}

static void test_body_size_boundaries(void **state)
{
    fb f = {0};
    qs_sam_msg *m = NULL;
    qs_sam_reason why = QS_SAM_R_OK;

    /* max - 1 and max pass the size check (and then fail on content: tag 0 is unknown) */
    big_frame(&f, QS_SAM_MAX_BODY - 1);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);
    big_frame(&f, QS_SAM_MAX_BODY);
    expect_reason(&f, QS_SAM_R_UNKNOWN_TAG);
    big_frame(&f, QS_SAM_MAX_BODY + 1);
    expect_reason(&f, QS_SAM_R_BODY_TOO_LARGE);
    assert_int_equal(
        qs_sam_decode_body(QS_SAM_PING, 0, f.p + QS_SAM_HDR_LEN, QS_SAM_MAX_BODY + 1, &m, &why),
        QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_BODY_TOO_LARGE);
    assert_int_equal(qs_sam_decode_body(0x4242, 0, f.p, 0, &m, &why), QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_UNKNOWN_TYPE);
    fb_free(&f);
}

/* ---- encoder rules ------------------------------------------------------------------------- */

static void test_encoder_rules(void **state)
{
    qs_sam_builder *b = NULL;
    uint8_t *f = (uint8_t *)"x";
    size_t len = 9;
    qs_sam_reason why = QS_SAM_R_OK;

    assert_int_equal(qs_sam_msg_begin(0x0042, 1, &b), QS_ERR_INVALID_ARGUMENT);
    assert_null(b);

    /* a field the spec does not allow; the error sticks until finish */
    assert_int_equal(qs_sam_msg_begin(QS_SAM_CREATE_CREDENTIAL, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_PIN, "123456"), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_sam_builder_reason(b), QS_SAM_R_UNKNOWN_TAG);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, "alice"), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_sam_msg_finish(b, &f, &len, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why, QS_SAM_R_UNKNOWN_TAG);
    assert_null(f);
    assert_int_equal(len, 0);

    struct {
        int op; /* 0 u32, 1 str, 2 bytes, 3 u64 */
        uint16_t tag;
        uint32_t v;
        const char *s;
        qs_sam_reason want;
    } cases[] = {
        {0, QS_SAM_T_USER_ID, 1, NULL, QS_SAM_R_WRONG_KIND},
        {1, QS_SAM_T_KEY_ALG, 0, "1", QS_SAM_R_WRONG_KIND},
        {2, QS_SAM_T_USER_ID, 0, "abc", QS_SAM_R_WRONG_KIND},
        {3, QS_SAM_T_KEY_ALG, 1, NULL, QS_SAM_R_WRONG_KIND},
        {0, QS_SAM_T_KEY_ALG, 0, NULL, QS_SAM_R_VALUE_RANGE},
        {0, QS_SAM_T_KEY_ALG, 6, NULL, QS_SAM_R_VALUE_RANGE},
        {1, QS_SAM_T_USER_ID, 0, "", QS_SAM_R_BAD_LENGTH},
        {1, QS_SAM_T_USER_ID, 0, NULL, QS_SAM_R_BAD_LENGTH},
        {1, QS_SAM_T_USER_ID, 0, "\xc0\xaf", QS_SAM_R_BAD_UTF8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qs_err r = QS_OK;
        assert_int_equal(qs_sam_msg_begin(QS_SAM_CREATE_CREDENTIAL, 1, &b), QS_OK);
        switch (cases[i].op) {
        case 0:
            r = qs_sam_msg_put_u32(b, cases[i].tag, cases[i].v);
            break;
        case 1:
            r = qs_sam_msg_put_str(b, cases[i].tag, cases[i].s);
            break;
        case 2:
            r = qs_sam_msg_put_bytes(b, cases[i].tag, cases[i].s, strlen(cases[i].s));
            break;
        case 3:
            r = qs_sam_msg_put_u64(b, cases[i].tag, cases[i].v);
            break;
        }
        assert_int_equal(r, QS_ERR_INVALID_ARGUMENT);
        if (qs_sam_builder_reason(b) != cases[i].want)
            fail_msg("case %zu: %s", i, qs_sam_reason_name(qs_sam_builder_reason(b)));
        qs_sam_builder_free(b);
    }

    assert_int_equal(qs_sam_msg_begin(QS_SAM_CREATE_CREDENTIAL, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_strn(b, QS_SAM_T_USER_ID, "a\0b", 3), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_sam_builder_reason(b), QS_SAM_R_EMBEDDED_NUL);
    qs_sam_builder_free(b);

    /* duplicates and missing required fields */
    assert_int_equal(qs_sam_msg_begin(QS_SAM_CREATE_CREDENTIAL, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, "alice"), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, "bob"), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(qs_sam_builder_reason(b), QS_SAM_R_DUPLICATE_FIELD);
    qs_sam_builder_free(b);
    assert_int_equal(qs_sam_msg_begin(QS_SAM_CREATE_CREDENTIAL, 1, &b), QS_OK);
    assert_int_equal(qs_sam_msg_put_str(b, QS_SAM_T_USER_ID, "alice"), QS_OK);
    assert_int_equal(qs_sam_msg_finish(b, &f, &len, &why), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(why, QS_SAM_R_MISSING_FIELD);
    assert_null(f);

    qs_sam_builder_free(NULL);
    qs_sam_msg_free(NULL);
    qs_sam_frame_free(NULL, 0);
}

static void test_reason_names(void **state)
{
    for (int r = QS_SAM_R_OK; r <= QS_SAM_R_EOF_IN_FRAME; r++) {
        for (int s = r + 1; s <= QS_SAM_R_EOF_IN_FRAME; s++) {
            assert_string_not_equal(qs_sam_reason_name((qs_sam_reason)r),
                                    qs_sam_reason_name((qs_sam_reason)s));
            assert_string_not_equal(qs_sam_reason_str((qs_sam_reason)r),
                                    qs_sam_reason_str((qs_sam_reason)s));
        }
        assert_string_not_equal(qs_sam_reason_name((qs_sam_reason)r), "UNKNOWN_REASON");
    }
    assert_string_equal(qs_sam_reason_name(QS_SAM_R_BAD_MAGIC), "BAD_MAGIC");

    /* every tag in the table has its own number and a name (54..59 are reserved and unknown);
     * every message its spec */
    for (uint16_t t = 1; t <= QS_SAM_TAG_MAX; t++) {
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(t);
        if (t >= 54 && t <= 59) {
            assert_null(ts);
            continue;
        }
        assert_non_null(ts);
        assert_int_equal(ts->tag, t);
        assert_non_null(ts->name);
        assert_true(ts->min <= ts->max);
    }
    assert_null(qs_sam_tag_spec_get(0));
    assert_null(qs_sam_tag_spec_get(QS_SAM_TAG_MAX + 1));
    size_t n = 0;
    const qs_sam_msg_spec *ms = qs_sam_msg_specs(&n);
    for (size_t i = 0; i < n; i++) {
        assert_true(ms[i].nfields <= QS_SAM_MAX_MSG_FIELDS);
        for (size_t k = 1; k < ms[i].nfields; k++)
            assert_true(ms[i].fields[k - 1].tag < ms[i].fields[k].tag);
    }
    assert_true(qs_sam_tag_spec_get(QS_SAM_T_PIN)->flags & QS_SAM_F_SECRET);
    assert_true(qs_sam_tag_spec_get(QS_SAM_T_OTP)->flags & QS_SAM_F_SECRET);
    assert_true(qs_sam_tag_spec_get(QS_SAM_T_SAD)->flags & QS_SAM_F_SECRET);
    assert_true(qs_sam_tag_spec_get(QS_SAM_T_OTPAUTH_URI)->flags & QS_SAM_F_SECRET);
    assert_false(qs_sam_tag_spec_get(QS_SAM_T_USER_ID)->flags & QS_SAM_F_SECRET);
}

/* ---- stream framing ------------------------------------------------------------------------ */

struct writer {
    int fd;
    const uint8_t *p;
    size_t len;
    size_t chunk;     /* bytes per write */
    long pause_us;    /* between writes */
    bool close_after; /* close the fd when done */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (size_t off = 0; off < w->len;) {
        size_t n = w->len - off < w->chunk ? w->len - off : w->chunk;
        ssize_t k = send(w->fd, w->p + off, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        off += (size_t)k;
        if (w->pause_us > 0) {
            struct timespec ts = {0, w->pause_us * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (w->close_after)
        close(w->fd);
    return NULL;
}

static void sockpair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_one_byte_writes(void **state)
{
    int sv[2];
    uint8_t *frame = NULL;
    size_t len = 0;
    pthread_t th;
    qs_sam_msg *m = NULL;
    qs_sam_reason why;

    build_full(qs_sam_msg_spec_get(QS_SAM_SIGN), false, &frame, &len);
    for (int nonblock = 0; nonblock <= 1; nonblock++) {
        sockpair(sv);
        if (nonblock)
            assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        struct writer w = {sv[1], frame, len, 1, 200, true};
        assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
        assert_int_equal(qs_sam_recv(sv[0], QS_SAM_MAX_BODY, nonblock ? 10000 : -1, &m, &why),
                         QS_OK);
        check_full(qs_sam_msg_spec_get(QS_SAM_SIGN), m);
        qs_sam_msg_free(m);
        /* then the peer closes between frames: a clean end */
        assert_int_equal(qs_sam_recv(sv[0], QS_SAM_MAX_BODY, 10000, &m, &why), QS_ERR_EOF);
        assert_null(m);
        pthread_join(th, NULL);
        close(sv[0]);
    }
    qs_sam_frame_free(frame, len);
}

static void test_stream_frames_back_to_back(void **state)
{
    int sv[2];
    uint8_t *f1 = NULL, *f2 = NULL, *got = NULL;
    size_t l1 = 0, l2 = 0, glen = 0;
    qs_sam_reason why;

    build_full(qs_sam_msg_spec_get(QS_SAM_AUTHORIZE), false, &f1, &l1);
    build_full(qs_sam_msg_spec_get(QS_SAM_ERROR), false, &f2, &l2);
    sockpair(sv);
    assert_int_equal(qs_sam_write_frame(sv[1], f1, l1, 1000), QS_OK);
    assert_int_equal(qs_sam_write_frame(sv[1], f2, l2, -1), QS_OK);
    assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 1000, &got, &glen, &why), QS_OK);
    assert_int_equal(glen, l1);
    assert_memory_equal(got, f1, l1);
    qs_sam_frame_free(got, glen);
    assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 1000, &got, &glen, &why), QS_OK);
    assert_int_equal(glen, l2);
    assert_memory_equal(got, f2, l2);
    qs_sam_frame_free(got, glen);

    /* a smaller limit from the caller is honoured */
    assert_int_equal(qs_sam_write_frame(sv[1], f1, l1, 1000), QS_OK);
    assert_int_equal(qs_sam_read_frame(sv[0], l1 - QS_SAM_HDR_LEN - 1, 1000, &got, &glen, &why),
                     QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_BODY_TOO_LARGE);
    assert_null(got);
    close(sv[0]);
    close(sv[1]);
    qs_sam_frame_free(f1, l1);
    qs_sam_frame_free(f2, l2);
}

static void test_stream_eof_timeout_and_bad_header(void **state)
{
    int sv[2];
    uint8_t *frame = NULL, *got = NULL;
    size_t len = 0, glen = 0;
    qs_sam_reason why;
    qs_sam_msg *m = NULL;

    build_full(qs_sam_msg_spec_get(QS_SAM_EXTEND), false, &frame, &len);

    /* EOF inside the header, inside the body */
    const size_t cuts[] = {1, QS_SAM_HDR_LEN - 1, QS_SAM_HDR_LEN, len - 1};
    for (size_t i = 0; i < 4; i++) {
        sockpair(sv);
        assert_int_equal(write(sv[1], frame, cuts[i]), (ssize_t)cuts[i]);
        close(sv[1]);
        assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 1000, &got, &glen, &why),
                         QS_ERR_PROTO);
        assert_int_equal(why, QS_SAM_R_EOF_IN_FRAME);
        assert_null(got);
        close(sv[0]);
    }

    /* a stalled peer: the timeout covers the whole frame */
    sockpair(sv);
    assert_int_equal(write(sv[1], frame, len - 1), (ssize_t)(len - 1));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 150, &got, &glen, &why),
                     QS_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 140 && ms < 5000);
    assert_null(got);
    close(sv[0]);
    close(sv[1]);

    /* nothing at all within the timeout */
    sockpair(sv);
    assert_int_equal(qs_sam_recv(sv[0], QS_SAM_MAX_BODY, 0, &m, &why), QS_ERR_TIMEOUT);
    close(sv[0]);
    close(sv[1]);

    /* a header announcing too much is refused without waiting for the body */
    sockpair(sv);
    fb f = {0};
    fb_hdr(&f, QS_SAM_SIGN);
    be32(f.p + 16, QS_SAM_MAX_BODY + 1);
    assert_int_equal(write(sv[1], f.p, f.len), (ssize_t)f.len);
    assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 1000, &got, &glen, &why),
                     QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_BODY_TOO_LARGE);
    fb_hdr_full(&f, "XSAM", 1, QS_SAM_SIGN, 1);
    assert_int_equal(write(sv[1], f.p, f.len), (ssize_t)f.len);
    assert_int_equal(qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 1000, &got, &glen, &why),
                     QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_BAD_MAGIC);
    /* a well-framed body that does not decode: recv gives the decoder's reason */
    fb_hdr(&f, QS_SAM_CREATE_CREDENTIAL);
    fb_str(&f, QS_SAM_T_USER_ID, "alice");
    fb_seal(&f);
    assert_int_equal(write(sv[1], f.p, f.len), (ssize_t)f.len);
    assert_int_equal(qs_sam_recv(sv[0], QS_SAM_MAX_BODY, 1000, &m, &why), QS_ERR_PROTO);
    assert_int_equal(why, QS_SAM_R_MISSING_FIELD);
    assert_null(m);
    fb_free(&f);
    close(sv[0]);
    close(sv[1]);

    /* writing to a vanished peer reports EOF instead of raising SIGPIPE */
    sockpair(sv);
    close(sv[0]);
    assert_int_equal(qs_sam_write_frame(sv[1], frame, len, 1000), QS_ERR_EOF);
    close(sv[1]);
    /* and a pipe (not a socket) works too */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(qs_sam_write_frame(p[1], frame, len, 1000), QS_OK);
    assert_int_equal(qs_sam_recv(p[0], QS_SAM_MAX_BODY, 1000, &m, &why), QS_OK);
    check_full(qs_sam_msg_spec_get(QS_SAM_EXTEND), m);
    qs_sam_msg_free(m);
    close(p[0]);
    close(p[1]);
    qs_sam_frame_free(frame, len);
}

/* A body of max-1, max and max+1 bytes through a socket: the first two are read whole (and
 * then refused by the decoder: their content is zeros), the last before its body. */
static void test_stream_body_size_boundaries(void **state)
{
    for (size_t extra = 0; extra <= 2; extra++) {
        size_t body = QS_SAM_MAX_BODY - 1 + extra;
        fb f = {0};
        int sv[2];
        pthread_t th;
        uint8_t *got = NULL;
        size_t glen = 0;
        qs_sam_reason why;

        big_frame(&f, body);
        sockpair(sv);
        struct writer w = {sv[1], f.p, f.len, 65536, 0, true};
        assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
        qs_err r = qs_sam_read_frame(sv[0], QS_SAM_MAX_BODY, 10000, &got, &glen, &why);
        if (body <= QS_SAM_MAX_BODY) {
            assert_int_equal(r, QS_OK);
            assert_int_equal(glen, QS_SAM_HDR_LEN + body);
            qs_sam_frame_free(got, glen);
        } else {
            assert_int_equal(r, QS_ERR_PROTO);
            assert_int_equal(why, QS_SAM_R_BODY_TOO_LARGE);
        }
        close(sv[0]); /* unblocks the writer if it is still writing */
        pthread_join(th, NULL);
        fb_free(&f);
    }
}

static int write_file(const char *dir, const char *name, const char *suffix, const uint8_t *p,
                      size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return 1;
    bool ok = fwrite(p, 1, len, fp) == len;
    return fclose(fp) == 0 && ok ? 0 : 1;
}

/* With QS_SAM_WRITE_CORPUS=DIR, writes the fuzzer's seed corpus (tests/fuzz/corpus/sam_proto)
 * into DIR: of every message type a full frame and its body alone, and a minimal frame when it
 * differs from the full one. */
static int write_corpus(const char *dir)
{
    size_t n = 0;
    int bad = 0;
    const qs_sam_msg_spec *specs = qs_sam_msg_specs(&n);
    for (size_t i = 0; i < n; i++) {
        const qs_sam_msg_spec *ms = &specs[i];
        uint8_t *f = NULL;
        size_t len = 0;
        bool differs = false;
        for (size_t k = 0; k < ms->nfields; k++)
            differs |= !ms->fields[k].required || ms->fields[k].max_count > 1;
        build(ms, false, false, &f, &len);
        bad |= write_file(dir, ms->name, ".frame", f, len);
        if (len > QS_SAM_HDR_LEN)
            bad |= write_file(dir, ms->name, ".body", f + QS_SAM_HDR_LEN, len - QS_SAM_HDR_LEN);
        qs_sam_frame_free(f, len);
        if (differs) {
            build(ms, false, true, &f, &len);
            bad |= write_file(dir, ms->name, "-min.frame", f, len);
            qs_sam_frame_free(f, len);
        }
    }
    return bad;
}

int main(void)
{
    if (qs_util_init() != QS_OK)
        return 1;
    if (getenv("QS_SAM_WRITE_CORPUS") != NULL)
        return write_corpus(getenv("QS_SAM_WRITE_CORPUS"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_authorize_fields),
        cmocka_unit_test(test_ping_and_error),
        cmocka_unit_test(test_header_rejections),
        cmocka_unit_test(test_field_rejections),
        cmocka_unit_test(test_field_boundaries),
        cmocka_unit_test(test_body_size_boundaries),
        cmocka_unit_test(test_encoder_rules),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_one_byte_writes),
        cmocka_unit_test(test_stream_frames_back_to_back),
        cmocka_unit_test(test_stream_eof_timeout_and_bad_header),
        cmocka_unit_test(test_stream_body_size_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

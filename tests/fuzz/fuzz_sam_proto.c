/*
 * libFuzzer harness for the SAM wire codec.  The input is decoded as a whole frame and as the
 * body of every message type.  Whatever decodes is re-encoded through the builder, which must
 * reproduce the input byte for byte (the encoding is canonical) and decode to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sam/proto.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Every field of `a` and `b` is equal, per the spec of their (equal) type. */
static void check_same(const qs_sam_msg *a, const qs_sam_msg *b)
{
    CHECK(qs_sam_msg_type(a) == qs_sam_msg_type(b));
    CHECK(qs_sam_msg_reqid(a) == qs_sam_msg_reqid(b));
    const qs_sam_msg_spec *ms = qs_sam_msg_spec_get(qs_sam_msg_type(a));
    CHECK(ms != NULL);
    for (size_t fi = 0; fi < ms->nfields; fi++) {
        const qs_sam_field_spec *fs = &ms->fields[fi];
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(fs->tag);
        size_t n = qs_sam_msg_count(a, fs->tag);
        CHECK(n == qs_sam_msg_count(b, fs->tag));
        CHECK(n <= fs->max_count);
        CHECK(!fs->required || n >= 1);
        for (size_t i = 0; i < n; i++) {
            uint32_t ua = 0, ub = 0;
            uint64_t wa = 0, wb = 0;
            const uint8_t *pa = NULL, *pb = NULL;
            size_t la = 0, lb = 0;
            const char *sa = NULL, *sb = NULL;
            switch (ts->kind) {
            case QS_SAM_K_U32:
                CHECK(qs_sam_msg_get_u32(a, fs->tag, &ua) && qs_sam_msg_get_u32(b, fs->tag, &ub));
                CHECK(ua == ub && ua >= ts->min && ua <= ts->max);
                break;
            case QS_SAM_K_U64:
                CHECK(qs_sam_msg_get_u64(a, fs->tag, &wa) && qs_sam_msg_get_u64(b, fs->tag, &wb));
                CHECK(wa == wb && wa >= ts->min && wa <= ts->max);
                break;
            case QS_SAM_K_BYTES:
                CHECK(qs_sam_msg_get_bytes(a, fs->tag, i, &pa, &la));
                CHECK(qs_sam_msg_get_bytes(b, fs->tag, i, &pb, &lb));
                CHECK(la == lb && la >= ts->min && la <= ts->max);
                CHECK(la == 0 || memcmp(pa, pb, la) == 0);
                break;
            case QS_SAM_K_STR:
                sa = qs_sam_msg_get_str(a, fs->tag, &la);
                sb = qs_sam_msg_get_str(b, fs->tag, &lb);
                CHECK(sa != NULL && sb != NULL && la == lb && strlen(sa) == la);
                CHECK(la >= ts->min && la <= ts->max && memcmp(sa, sb, la) == 0);
                break;
            }
        }
    }
}

/* Re-encodes `m` field by field through the builder. */
static uint8_t *reencode(const qs_sam_msg *m, size_t *len)
{
    qs_sam_builder *b = NULL;
    uint8_t *frame = NULL;
    const qs_sam_msg_spec *ms = qs_sam_msg_spec_get(qs_sam_msg_type(m));

    CHECK(qs_sam_msg_begin(qs_sam_msg_type(m), qs_sam_msg_reqid(m), &b) == QS_OK);
    for (size_t fi = 0; fi < ms->nfields; fi++) {
        uint16_t tag = ms->fields[fi].tag;
        const qs_sam_tag_spec *ts = qs_sam_tag_spec_get(tag);
        size_t n = qs_sam_msg_count(m, tag);
        for (size_t i = 0; i < n; i++) {
            uint32_t u = 0;
            uint64_t w = 0;
            const uint8_t *p = NULL;
            size_t l = 0;
            const char *s = NULL;
            qs_err r = QS_ERR_INTERNAL;
            switch (ts->kind) {
            case QS_SAM_K_U32:
                CHECK(qs_sam_msg_get_u32(m, tag, &u));
                r = qs_sam_msg_put_u32(b, tag, u);
                break;
            case QS_SAM_K_U64:
                CHECK(qs_sam_msg_get_u64(m, tag, &w));
                r = qs_sam_msg_put_u64(b, tag, w);
                break;
            case QS_SAM_K_BYTES:
                CHECK(qs_sam_msg_get_bytes(m, tag, i, &p, &l));
                r = qs_sam_msg_put_bytes(b, tag, p, l);
                break;
            case QS_SAM_K_STR:
                s = qs_sam_msg_get_str(m, tag, &l);
                r = qs_sam_msg_put_strn(b, tag, s, l);
                break;
            }
            CHECK(r == QS_OK);
        }
    }
    qs_sam_reason why = QS_SAM_R_BAD_MAGIC;
    CHECK(qs_sam_msg_finish(b, &frame, len, &why) == QS_OK && why == QS_SAM_R_OK);
    return frame;
}

/* Re-encodes m, checks the bytes equal `expect` (a frame or, with skip, a body), decodes again
 * and compares. */
static void round_trip(const qs_sam_msg *m, const uint8_t *expect, size_t expect_len, size_t skip)
{
    size_t len = 0;
    uint8_t *frame = reencode(m, &len);
    CHECK(len == skip + expect_len);
    CHECK(expect_len == 0 || memcmp(frame + skip, expect, expect_len) == 0);
    qs_sam_msg *again = NULL;
    qs_sam_reason why = QS_SAM_R_BAD_MAGIC;
    CHECK(qs_sam_decode_frame(frame, len, &again, &why) == QS_OK && why == QS_SAM_R_OK);
    check_same(m, again);
    qs_sam_msg_free(again);
    qs_sam_frame_free(frame, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qs_sam_msg *m = NULL;
    qs_sam_reason why = QS_SAM_R_OK;
    static int init;

    if (!init) {
        CHECK(qs_util_init() == QS_OK);
        init = 1;
    }

    /* as a whole frame */
    qs_err r = qs_sam_decode_frame(data, size, &m, &why);
    if (r == QS_OK) {
        CHECK(m != NULL && why == QS_SAM_R_OK);
        round_trip(m, data, size, 0);
        qs_sam_msg_free(m);
    } else {
        CHECK(r == QS_ERR_PROTO && m == NULL && why != QS_SAM_R_OK);
    }

    /* as the body of every message type */
    size_t n = 0;
    const qs_sam_msg_spec *specs = qs_sam_msg_specs(&n);
    for (size_t i = 0; i < n; i++) {
        r = qs_sam_decode_body(specs[i].type, size, data, size, &m, &why);
        if (r == QS_OK) {
            CHECK(m != NULL && why == QS_SAM_R_OK && qs_sam_msg_type(m) == specs[i].type);
            round_trip(m, data, size, QS_SAM_HDR_LEN);
            qs_sam_msg_free(m);
        } else {
            CHECK(r == QS_ERR_PROTO && m == NULL && why != QS_SAM_R_OK);
        }
    }
    return 0;
}

/*
 * qcStatements encoder and decoder (EN 319 412-5) against DER vectors built independently from
 * the ASN.1 in EN 319 412-5 / RFC 3739: the encoder's output is byte-exact, the decoder reads
 * every field back, and it refuses duplicates, wrong string types, out-of-range sizes, trailing
 * data and non-DER lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"

#define URL "https://qsign.example/pds/pds-en.pdf"

/* QcCompliance, QcSSCD, QcType(esign), QcPDS(URL, en), semantics identifier natural person. */
static const uint8_t v_natural[] = {
    0x30, 0x78, 0x30, 0x08, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01, 0x30, 0x08, 0x06, 0x06,
    0x04, 0x00, 0x8e, 0x46, 0x01, 0x04, 0x30, 0x13, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06,
    0x30, 0x09, 0x06, 0x07, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06, 0x01, 0x30, 0x36, 0x06, 0x06, 0x04,
    0x00, 0x8e, 0x46, 0x01, 0x05, 0x30, 0x2c, 0x30, 0x2a, 0x16, 0x24, 0x68, 0x74, 0x74, 0x70, 0x73,
    0x3a, 0x2f, 0x2f, 0x71, 0x73, 0x69, 0x67, 0x6e, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x2f, 0x70, 0x64, 0x73, 0x2f, 0x70, 0x64, 0x73, 0x2d, 0x65, 0x6e, 0x2e, 0x70, 0x64, 0x66, 0x13,
    0x02, 0x65, 0x6e, 0x30, 0x15, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x0b, 0x02, 0x30,
    0x09, 0x06, 0x07, 0x04, 0x00, 0x8b, 0xec, 0x49, 0x01, 0x01};
/* QcCompliance alone. */
static const uint8_t v_compliance[] = {0x30, 0x0a, 0x30, 0x08, 0x06, 0x06,
                                       0x04, 0x00, 0x8e, 0x46, 0x01, 0x01};
static const uint8_t v_pds_lang3[] = {
    0x30, 0x28, 0x30, 0x26, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x05, 0x30, 0x1c,
    0x30, 0x1a, 0x16, 0x13, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a, 0x2f, 0x2f, 0x61, 0x2e,
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2f, 0x70, 0x13, 0x03, 0x65, 0x6e, 0x67};
static const uint8_t v_pds_utf8_url[] = {
    0x30, 0x27, 0x30, 0x25, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x05, 0x30, 0x1b,
    0x30, 0x19, 0x0c, 0x13, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a, 0x2f, 0x2f, 0x61, 0x2e,
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2f, 0x70, 0x13, 0x02, 0x65, 0x6e};
static const uint8_t v_pds_empty[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x06, 0x04,
                                      0x00, 0x8e, 0x46, 0x01, 0x05, 0x30, 0x00};
static const uint8_t v_retention_neg[] = {0x30, 0x0d, 0x30, 0x0b, 0x06, 0x06, 0x04, 0x00,
                                          0x8e, 0x46, 0x01, 0x03, 0x02, 0x01, 0xff};
static const uint8_t v_retention_10[] = {0x30, 0x0d, 0x30, 0x0b, 0x06, 0x06, 0x04, 0x00,
                                         0x8e, 0x46, 0x01, 0x03, 0x02, 0x01, 0x0a};
/* QcCompliance and a PSD2 statement (TS 119 495), which this decoder does not know. */
static const uint8_t v_unknown_psd2[] = {
    0x30, 0x39, 0x30, 0x08, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01, 0x30, 0x2d, 0x06,
    0x06, 0x04, 0x00, 0x81, 0x98, 0x27, 0x02, 0x30, 0x23, 0x30, 0x13, 0x30, 0x11, 0x06, 0x07,
    0x04, 0x00, 0x81, 0x98, 0x27, 0x01, 0x01, 0x0c, 0x06, 0x50, 0x53, 0x50, 0x5f, 0x41, 0x53,
    0x0c, 0x04, 0x42, 0x61, 0x6e, 0x6b, 0x0c, 0x06, 0x42, 0x45, 0x2d, 0x4e, 0x42, 0x42};
static const uint8_t v_type_unknown[] = {0x30, 0x11, 0x30, 0x0f, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46,
                                         0x01, 0x06, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04};
static const uint8_t v_semantics_other[] = {0x30, 0x17, 0x30, 0x15, 0x06, 0x08, 0x2b, 0x06, 0x01,
                                            0x05, 0x05, 0x07, 0x0b, 0x02, 0x30, 0x09, 0x06, 0x07,
                                            0x04, 0x00, 0x8b, 0xec, 0x49, 0x01, 0x03};
static const uint8_t v_semantics_noinfo[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b,
                                             0x06, 0x01, 0x05, 0x05, 0x07, 0x0b, 0x02};
static const uint8_t v_cc[] = {0x30, 0x14, 0x30, 0x12, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01,
                               0x07, 0x30, 0x08, 0x13, 0x02, 0x43, 0x48, 0x13, 0x02, 0x4e, 0x4f};
static const uint8_t v_type_bool_info[] = {0x30, 0x0d, 0x30, 0x0b, 0x06, 0x06, 0x04, 0x00,
                                           0x8e, 0x46, 0x01, 0x06, 0x01, 0x01, 0xff};

static ca_qc_info natural_info(void)
{
    ca_qc_info qi;
    memset(&qi, 0, sizeof qi);
    qi.compliance = qi.sscd = true;
    qi.type_count = 1;
    qi.types[0] = CA_QC_TYPE_ESIGN;
    qi.pds_count = 1;
    strcpy(qi.pds[0].url, URL);
    strcpy(qi.pds[0].lang, "en");
    qi.semantics = CA_SEMANTICS_NATURAL;
    return qi;
}

static void test_encode_matches_vector(void **state)
{
    ca_qc_info qi = natural_info();
    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_OK);
    assert_int_equal(len, sizeof v_natural);
    assert_memory_equal(der, v_natural, len);
    free(der);

    ca_qc_info only;
    memset(&only, 0, sizeof only);
    only.compliance = true;
    assert_int_equal(ca_qc_encode(&only, &der, &len), QS_OK);
    assert_int_equal(len, sizeof v_compliance);
    assert_memory_equal(der, v_compliance, len);
    free(der);
}

static void test_decode_vector(void **state)
{
    ca_qc_info qi;
    assert_int_equal(ca_qc_decode(v_natural, sizeof v_natural, &qi), QS_OK);
    assert_true(qi.compliance);
    assert_true(qi.sscd);
    assert_int_equal(qi.type_count, 1);
    assert_int_equal(qi.types[0], CA_QC_TYPE_ESIGN);
    assert_int_equal(qi.pds_count, 1);
    assert_string_equal(qi.pds[0].url, URL);
    assert_string_equal(qi.pds[0].lang, "en");
    assert_false(qi.has_retention);
    assert_int_equal(qi.cc_count, 0);
    assert_int_equal(qi.semantics, CA_SEMANTICS_NATURAL);
    assert_int_equal(qi.unknown, 0);
}

static void test_round_trip_all_fields(void **state)
{
    ca_qc_info in;
    memset(&in, 0, sizeof in);
    in.compliance = in.sscd = true;
    in.type_count = 2;
    in.types[0] = CA_QC_TYPE_ESEAL;
    in.types[1] = CA_QC_TYPE_WEB;
    in.pds_count = 2;
    strcpy(in.pds[0].url, "https://qsign.example/pds/en.pdf");
    strcpy(in.pds[0].lang, "en");
    strcpy(in.pds[1].url, "https://qsign.example/pds/et.pdf");
    strcpy(in.pds[1].lang, "et");
    in.has_retention = true;
    in.retention_years = 30;
    in.cc_count = 2;
    strcpy(in.cc[0], "CH");
    strcpy(in.cc[1], "NO");
    in.semantics = CA_SEMANTICS_LEGAL;
    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(ca_qc_encode(&in, &der, &len), QS_OK);
    ca_qc_info out;
    assert_int_equal(ca_qc_decode(der, len, &out), QS_OK);
    free(der);
    assert_true(out.compliance && out.sscd);
    assert_int_equal(out.type_count, 2);
    assert_int_equal(out.types[0], CA_QC_TYPE_ESEAL);
    assert_int_equal(out.types[1], CA_QC_TYPE_WEB);
    assert_int_equal(out.pds_count, 2);
    assert_string_equal(out.pds[1].url, in.pds[1].url);
    assert_string_equal(out.pds[1].lang, "et");
    assert_true(out.has_retention);
    assert_int_equal(out.retention_years, 30);
    assert_int_equal(out.cc_count, 2);
    assert_string_equal(out.cc[0], "CH");
    assert_string_equal(out.cc[1], "NO");
    assert_int_equal(out.semantics, CA_SEMANTICS_LEGAL);
    assert_int_equal(out.unknown, 0);
}

static void test_decode_other_statements(void **state)
{
    ca_qc_info qi;
    assert_int_equal(ca_qc_decode(v_unknown_psd2, sizeof v_unknown_psd2, &qi), QS_OK);
    assert_true(qi.compliance);
    assert_int_equal(qi.unknown, 1);
    assert_int_equal(ca_qc_decode(v_type_unknown, sizeof v_type_unknown, &qi), QS_OK);
    assert_int_equal(qi.type_count, 1);
    assert_int_equal(qi.types[0], 0);
    assert_int_equal(ca_qc_decode(v_semantics_other, sizeof v_semantics_other, &qi), QS_OK);
    assert_int_equal(qi.semantics, CA_SEMANTICS_OTHER);
    assert_int_equal(ca_qc_decode(v_semantics_noinfo, sizeof v_semantics_noinfo, &qi), QS_OK);
    assert_int_equal(qi.semantics, CA_SEMANTICS_OTHER);
    assert_int_equal(ca_qc_decode(v_retention_10, sizeof v_retention_10, &qi), QS_OK);
    assert_true(qi.has_retention);
    assert_int_equal(qi.retention_years, 10);
    assert_int_equal(ca_qc_decode(v_cc, sizeof v_cc, &qi), QS_OK);
    assert_int_equal(qi.cc_count, 2);
    assert_string_equal(qi.cc[1], "NO");
}

static void refuse(const uint8_t *der, size_t len)
{
    ca_qc_info qi;
    memset(&qi, 0x7f, sizeof qi);
    assert_int_equal(ca_qc_decode(der, len, &qi), QS_ERR_PARSE);
    /* Nothing half-decoded is left behind. */
    assert_false(qi.compliance);
    assert_int_equal(qi.pds_count, 0);
}

static void test_decode_refusals(void **state)
{
    refuse(v_pds_lang3, sizeof v_pds_lang3);
    refuse(v_pds_utf8_url, sizeof v_pds_utf8_url);
    refuse(v_pds_empty, sizeof v_pds_empty);
    refuse(v_retention_neg, sizeof v_retention_neg);
    refuse(v_type_bool_info, sizeof v_type_bool_info);
    refuse(NULL, 0);
    refuse(v_natural, 0);

    uint8_t buf[512];
    /* Trailing data after the SEQUENCE. */
    memcpy(buf, v_natural, sizeof v_natural);
    buf[sizeof v_natural] = 0x00;
    refuse(buf, sizeof v_natural + 1);
    /* Truncated. */
    refuse(v_natural, sizeof v_natural - 1);
    /* A statement twice. */
    static const uint8_t twice[] = {0x30, 0x14, 0x30, 0x08, 0x06, 0x06, 0x04, 0x00,
                                    0x8e, 0x46, 0x01, 0x01, 0x30, 0x08, 0x06, 0x06,
                                    0x04, 0x00, 0x8e, 0x46, 0x01, 0x01};
    refuse(twice, sizeof twice);
    /* QcCompliance with a statementInfo. */
    static const uint8_t with_info[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x06, 0x04,
                                        0x00, 0x8e, 0x46, 0x01, 0x01, 0x05, 0x00};
    refuse(with_info, sizeof with_info);
    /* BER: a long-form length where the short form is required. */
    static const uint8_t ber[] = {0x30, 0x81, 0x0a, 0x30, 0x08, 0x06, 0x06,
                                  0x04, 0x00, 0x8e, 0x46, 0x01, 0x01};
    refuse(ber, sizeof ber);
    /* Indefinite length. */
    static const uint8_t indef[] = {0x30, 0x80, 0x30, 0x08, 0x06, 0x06, 0x04,
                                    0x00, 0x8e, 0x46, 0x01, 0x01, 0x00, 0x00};
    refuse(indef, sizeof indef);
    /* Every one-byte corruption of the natural vector either decodes or is refused cleanly. */
    for (size_t i = 0; i < sizeof v_natural; i++) {
        memcpy(buf, v_natural, sizeof v_natural);
        buf[i] ^= 0x41;
        ca_qc_info qi;
        qs_err r = ca_qc_decode(buf, sizeof v_natural, &qi);
        assert_true(r == QS_OK || r == QS_ERR_PARSE);
    }
}

static void test_encode_refusals(void **state)
{
    uint8_t *der = (uint8_t *)1;
    size_t len = 1;
    ca_qc_info qi = natural_info();
    qi.semantics = CA_SEMANTICS_OTHER;
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    assert_null(der);
    assert_int_equal(len, 0);
    qi = natural_info();
    strcpy(qi.pds[0].lang, "e1");
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    qi = natural_info();
    qi.pds_count = CA_PDS_MAX + 1;
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    qi = natural_info();
    qi.types[0] = (ca_qc_type)9;
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    qi = natural_info();
    qi.pds[0].url[5] = '\n';
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    qi = natural_info();
    qi.cc_count = 1;
    strcpy(qi.cc[0], "ch");
    assert_int_equal(ca_qc_encode(&qi, &der, &len), QS_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_qc_encode(NULL, &der, &len), QS_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_vector),
        cmocka_unit_test(test_decode_vector),
        cmocka_unit_test(test_round_trip_all_fields),
        cmocka_unit_test(test_decode_other_statements),
        cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_encode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

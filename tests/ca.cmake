# ca/: the certification authority.  Certificates, CRLs and OCSP responses are checked with the
# openssl command line (package openssl); the HSM test signs with a CA key in a SoftHSM token
# through libp11.
qs_add_test(NAME test_ca_subject SOURCES unit/test_ca_subject.c
    LIBS qsign_ca PkgConfig::JANSSON LABELS unit)
qs_add_test(NAME test_ca_qc SOURCES unit/test_ca_qc.c LIBS qsign_ca LABELS unit)
qs_add_test(NAME test_ca_issue
    SOURCES integration/test_ca_issue.c integration/test_ca_fixture.c
    LIBS qsign_ca LABELS ca integration)
qs_add_test(NAME test_ca_status
    SOURCES integration/test_ca_status.c integration/test_ca_fixture.c
    LIBS qsign_ca LABELS ca integration)
qs_add_test(NAME test_ca_hsm
    SOURCES integration/test_ca_hsm.c integration/test_ca_fixture.c
    LIBS qsign_ca_hsm qsign_test_softhsm LABELS ca hsm integration)
qs_add_fuzzer(NAME ocsp_request SOURCES fuzz/fuzz_ocsp_request.c LIBS qsign_ca)

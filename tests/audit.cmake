# sam/ audit writer: record encoding (unit) and the writer and verifier against a real SoftHSM
# token and PostgreSQL (integration).
if(TARGET qsign_audit)
    qs_add_test(NAME test_audit_record SOURCES unit/test_audit_record.c LIBS qsign_audit
        LABELS sam unit)
    qs_add_test(NAME test_audit SOURCES integration/test_audit.c
        LIBS qsign_audit qsign_test_pg qsign_test_softhsm PkgConfig::LIBPQ Threads::Threads
        LABELS sam integration FIXTURES pg ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE})
endif()
# Throughput of the writer (printed) and a stress test of it: every chain written must verify.
if(TARGET qsign_audit)
    qs_add_test(NAME test_audit_bench SOURCES integration/test_audit_bench.c
        LIBS qsign_audit qsign_test_pg qsign_test_softhsm PkgConfig::LIBPQ Threads::Threads
        LABELS sam integration bench FIXTURES pg ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE})
endif()
# qsignctl audit verify / search / checkpoints export, the real binary against a log made by the
# writer and then tampered with.
if(TARGET qsign_audit AND TARGET qsignctl)
    qs_add_test(NAME test_audit_cli SOURCES integration/test_audit_cli.c
        LIBS qsign_audit qsign_test_pg qsign_test_softhsm PkgConfig::LIBPQ PkgConfig::JANSSON
             OpenSSL::Crypto
        LABELS sam integration FIXTURES pg
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
endif()
# The reader of evidence bundles (qsignctl audit check-evidence): parse and every check.
if(TARGET qsign_audit)
    qs_add_fuzzer(NAME evidence SOURCES fuzz/fuzz_evidence.c LIBS qsign_audit)
endif()

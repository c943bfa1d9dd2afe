# qsign-sam, the daemon: record-MAC encoding and config (unit), and end-to-end tests that start
# the real daemon (tests/lib/samd.h: fresh SoftHSM token, fresh migrated database in the `pg`
# fixture, its unix socket) and drive it through qsign_samclient and qsignctl.
if(NOT TARGET qsign-sam)
    return()
endif()

qs_add_test(NAME test_sam_records SOURCES integration/test_sam_records.c
    LIBS qsign_sam qsign_test_softhsm LABELS sam hsm integration)
qs_add_test(NAME test_sam_config SOURCES unit/test_sam_config.c LIBS qsign_sam LABELS sam unit)

add_library(qsign_test_samd STATIC lib/samd.c)
target_link_libraries(qsign_test_samd PUBLIC qsign_test_pg qsign_test_softhsm qsign_samclient
    qsign_auth qsign_audit qsign_db PkgConfig::LIBPQ)

foreach(t test_sam_flow test_sam_refusals test_sam_expiry test_sam_protocol)
    qs_add_test(NAME ${t} SOURCES integration/${t}.c
        LIBS qsign_test_samd OpenSSL::Crypto Threads::Threads
        LABELS sam integration FIXTURES pg
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_SAM_BIN=$<TARGET_FILE:qsign-sam>
            QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
    add_dependencies(${t} qsign-sam qsignctl)
endforeach()

# deploy/qsign-sam.conf.example is `qsign-sam --example-config`: it must not drift.
add_test(NAME sam_example_config
    COMMAND sh -c "'$<TARGET_FILE:qsign-sam>' --example-config | diff -u '${PROJECT_SOURCE_DIR}/deploy/qsign-sam.conf.example' -")
set_tests_properties(sam_example_config PROPERTIES LABELS "sam;unit")

# Invariant 1 under SIGKILL: every signature a client received has its committed audit record.
qs_add_test(NAME test_sam_crash SOURCES integration/test_sam_crash.c
    LIBS qsign_test_samd OpenSSL::Crypto Threads::Threads
    LABELS sam integration FIXTURES pg
    ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_SAM_BIN=$<TARGET_FILE:qsign-sam>)
add_dependencies(test_sam_crash qsign-sam)

# The certification and registration authority of the SAM: CA set-up, registration, issuance,
# activation, OCSP, CRL and revocation, checked with the openssl tool.
qs_add_test(NAME test_sam_ca SOURCES integration/test_sam_ca.c
    LIBS qsign_test_samd qsign_sam OpenSSL::Crypto PkgConfig::SODIUM
    LABELS sam ca integration FIXTURES pg TIMEOUT 900
    ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_SAM_BIN=$<TARGET_FILE:qsign-sam>
        QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
add_dependencies(test_sam_ca qsign-sam qsignctl)

# Evidence of sole control: bundles of real signatures built by `qsignctl audit evidence` and
# checked offline by `qsignctl audit check-evidence`, and every byte of them tampered with.
qs_add_test(NAME test_audit_evidence SOURCES integration/test_audit_evidence.c
    LIBS qsign_test_samd qsign_audit OpenSSL::Crypto PkgConfig::SODIUM PkgConfig::JANSSON
    LABELS sam audit integration FIXTURES pg TIMEOUT 900
    ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_SAM_BIN=$<TARGET_FILE:qsign-sam>
        QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
add_dependencies(test_audit_evidence qsign-sam qsignctl)

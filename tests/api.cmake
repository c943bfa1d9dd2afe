# api/: qsignd.  Unit tests of the request parser, the error table, rate limits and metrics;
# end-to-end tests that start the real daemon over TLS against the `pg` fixture and drive it
# with libcurl (tests/lib/apid.h); a libFuzzer harness over the request parsing.
if(NOT TARGET qsign_api)
    return()
endif()

qs_add_test(NAME test_api_spec SOURCES unit/test_api_spec.c LIBS qsign_api LABELS unit api)
qs_add_test(NAME test_api_errors SOURCES unit/test_api_errors.c LIBS qsign_api LABELS unit api)
qs_add_test(NAME test_api_audit_request SOURCES unit/test_api_audit_request.c
    LIBS qsign_api PkgConfig::SODIUM LABELS unit api audit)
qs_add_test(NAME test_api_anomaly SOURCES unit/test_api_anomaly.c LIBS qsign_api Threads::Threads
    LABELS unit api)
qs_add_test(NAME test_api_web SOURCES unit/test_api_web.c LIBS qsign_api LABELS unit api web)
# api/embed_web.cmake refuses a page the CSP would break, and files qsignd could not serve.
add_test(NAME test_web_embed
    COMMAND ${CMAKE_COMMAND} -DEMBED=${PROJECT_SOURCE_DIR}/api/embed_web.cmake
            -DWORK=${CMAKE_BINARY_DIR}/tests/web-embed -P ${CMAKE_CURRENT_LIST_DIR}/unit/test_web_embed.cmake)
set_tests_properties(test_web_embed PROPERTIES LABELS "unit;api;web")
qs_add_fuzzer(NAME api_request SOURCES fuzz/fuzz_api_request.c LIBS qsign_api)
qs_add_fuzzer(NAME ra_request SOURCES fuzz/fuzz_ra_request.c LIBS qsign_api)
qs_add_fuzzer(NAME web_request SOURCES fuzz/fuzz_web_request.c LIBS qsign_api)

pkg_check_modules(CURL IMPORTED_TARGET libcurl)
if(NOT CURL_FOUND)
    message(WARNING "libcurl (libcurl4-openssl-dev) not found: the qsignd end-to-end tests are not built")
    return()
endif()
find_program(QS_OPENSSL_TOOL openssl)

add_library(qsign_test_apid STATIC lib/apid.c)
target_link_libraries(qsign_test_apid PUBLIC qsign_test_pg qsign_db qsign_samproto
    PkgConfig::CURL PkgConfig::SODIUM PkgConfig::JANSSON Threads::Threads)

foreach(t test_api_csc test_api_http test_api_web_http)
    qs_add_test(NAME ${t} SOURCES integration/${t}.c
        LIBS qsign_test_apid
        LABELS api integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
    add_dependencies(${t} qsignd qsignctl)
endforeach()

# Signing end to end with the real SAM (tests/lib/samd.h, defined in tests/sam_daemon.cmake).
if(TARGET qsign-sam AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/lib/samd.c)
    qs_add_test(NAME test_api_sign SOURCES integration/test_api_sign.c
        LIBS qsign_test_apid qsign_test_samd OpenSSL::Crypto
        LABELS api sam integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_SAM_BIN=$<TARGET_FILE:qsign-sam> QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
    add_dependencies(test_api_sign qsignd qsign-sam)
endif()

# signatures/signDoc: CAdES-B-B built in the real SAM, verified with the openssl tool.
if(TARGET qsign-sam AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/lib/samd.c)
    qs_add_test(NAME test_api_sign_doc SOURCES integration/test_api_sign_doc.c
        LIBS qsign_test_apid qsign_test_samd OpenSSL::Crypto PkgConfig::JANSSON PkgConfig::SODIUM
        LABELS api sam cms integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_SAM_BIN=$<TARGET_FILE:qsign-sam>)
    add_dependencies(test_api_sign_doc qsignd qsign-sam)
endif()

# The registration authority and the PKI endpoints (/ra/v1, /account/v1, /pki) with the real SAM.
if(TARGET qsign-sam AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/lib/samd.c)
    qs_add_test(NAME test_api_ra SOURCES integration/test_api_ra.c
        LIBS qsign_test_apid qsign_test_samd PkgConfig::JANSSON PkgConfig::SODIUM
        LABELS api sam ca integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_SAM_BIN=$<TARGET_FILE:qsign-sam>)
    add_dependencies(test_api_ra qsignd qsign-sam)
endif()

# The auditors' API (/audit/v1) and the anomaly alerts with the real SAM; qsignctl for the
# comparison with `qsignctl audit search`.
if(TARGET qsign-sam AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/lib/samd.c)
    qs_add_test(NAME test_api_audit SOURCES integration/test_api_audit.c
        LIBS qsign_test_apid qsign_test_samd PkgConfig::JANSSON PkgConfig::SODIUM Threads::Threads
        LABELS api sam audit integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_SAM_BIN=$<TARGET_FILE:qsign-sam> QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
    add_dependencies(test_api_audit qsignd qsign-sam qsignctl)
endif()

# The CSC API under attack: every SAD-binding attack of the SAM through HTTP, RSASSA-PSS over
# SHA-384/512, and the rate limits on credentials/authorize, with the real SAM (and its CA) and
# qsignctl.
if(TARGET qsign-sam AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/lib/samd.c)
    qs_add_test(NAME test_api_attacks SOURCES integration/test_api_attacks.c
        LIBS qsign_test_apid qsign_test_samd OpenSSL::Crypto
        LABELS api sam integration FIXTURES pg TIMEOUT 900
        ENV QS_TEST_PG_ENV=${QS_PG_ENV_FILE} QS_QSIGND=$<TARGET_FILE:qsignd>
            QS_SAM_BIN=$<TARGET_FILE:qsign-sam> QS_QSIGNCTL=$<TARGET_FILE:qsignctl>)
    add_dependencies(test_api_attacks qsignd qsign-sam qsignctl)
endif()

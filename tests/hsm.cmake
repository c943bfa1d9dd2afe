# hsm/: the HSM layer against a real SoftHSM token each test makes for itself.
add_library(qsign_test_softhsm STATIC lib/softhsm.c)
target_include_directories(qsign_test_softhsm PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(qsign_test_softhsm PUBLIC qsign_testutil qsign_hsm)

set(QS_HSM_TEST_LIBS qsign_test_softhsm qsign_hsm OpenSSL::Crypto)
qs_add_test(NAME test_hsm_sign SOURCES integration/test_hsm_sign.c
    LIBS ${QS_HSM_TEST_LIBS} LABELS hsm integration)
qs_add_test(NAME test_hsm_keys SOURCES integration/test_hsm_keys.c
    LIBS ${QS_HSM_TEST_LIBS} LABELS hsm integration)
# Drives `qsignctl hsm` in-process, so it compiles the sub-command's file.
qs_add_test(NAME test_hsm_service
    SOURCES integration/test_hsm_service.c ${PROJECT_SOURCE_DIR}/cli/cmd_hsm.c
    LIBS ${QS_HSM_TEST_LIBS} LABELS hsm integration)
qs_add_test(NAME test_hsm_threads SOURCES integration/test_hsm_threads.c
    LIBS ${QS_HSM_TEST_LIBS} Threads::Threads LABELS hsm integration)

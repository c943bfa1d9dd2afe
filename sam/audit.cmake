# The SAM's audit writer: hash chain, HSM MACs, group commit, signed checkpoints (audit.h), and
# what auditors use: the verifier, the checkpoint export and the search.
add_library(qsign_audit STATIC
    ${CMAKE_CURRENT_LIST_DIR}/audit.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_checkpoint.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_record.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_search.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_text.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_verify.c)
target_include_directories(qsign_audit PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(qsign_audit PUBLIC qsign_db qsign_hsm qsign_util
    PRIVATE PkgConfig::SODIUM PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads)

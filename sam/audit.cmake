# The SAM's audit writer: hash chain, HSM MACs, group commit, signed checkpoints (audit.h), and
# what auditors use: the verifier, the checkpoint export, the search, and the evidence bundles
# of signatures with their offline check (evidence.h).
# The text forms of audit data (RFC 3339 times, hex, UUIDs, search results) on their own,
# without the HSM, so qsignd's audit API writes and reads them as qsignctl does.
add_library(qsign_audit_text STATIC ${CMAKE_CURRENT_LIST_DIR}/audit_text.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_rows.c)
target_include_directories(qsign_audit_text PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(qsign_audit_text PUBLIC qsign_util PRIVATE PkgConfig::JANSSON OpenSSL::Crypto)

add_library(qsign_audit STATIC
    ${CMAKE_CURRENT_LIST_DIR}/audit.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_checkpoint.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_record.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_search.c
    ${CMAKE_CURRENT_LIST_DIR}/audit_verify.c
    ${CMAKE_CURRENT_LIST_DIR}/evidence_build.c
    ${CMAKE_CURRENT_LIST_DIR}/evidence_bundle.c
    ${CMAKE_CURRENT_LIST_DIR}/evidence_check.c)
target_include_directories(qsign_audit PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(qsign_audit PUBLIC qsign_audit_text qsign_db qsign_hsm qsign_util
    PRIVATE PkgConfig::SODIUM PkgConfig::JANSSON OpenSSL::Crypto Threads::Threads)

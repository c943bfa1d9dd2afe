# The audit verification benchmark (bench/audit_verify_bench.c; bench/audit-verify-bench.sh
# runs it against a throwaway cluster and token).
if(TARGET qsign_audit)
    add_executable(qsign-bench-audit ${CMAKE_CURRENT_LIST_DIR}/audit_verify_bench.c)
    target_link_libraries(qsign-bench-audit PRIVATE qsign_audit qsign_db qsign_hsm qsign_util
        Threads::Threads)
endif()

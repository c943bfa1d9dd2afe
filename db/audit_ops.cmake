# The audit operations beyond the writer's own (db/db_audit.h): checkpoints, the writers' keys
# and list, the auditors' search, and the lookups of the evidence of a signature.  One
# operation per file.
target_sources(qsign_db PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/db_audit_checkpoint_row.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_checkpoint_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_checkpoint_last.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_checkpoint_page.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_find.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_sad_digests.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_search.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_writer_key.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_writer_set_key.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_audit_writers.c)

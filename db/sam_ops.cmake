# The SAM's data operations (users, credentials, factors, SADs): declarations in db/db_sam.h,
# one operation per pg_<operation>.c file, row readers shared by them in db_sam_row.c.
target_sources(qsign_db PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/db_sam_row.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_credential_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_credential_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_credential_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_credential_update.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_pin_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_pin_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_pin_update.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_totp_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_totp_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_factor_totp_update.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_hashes_consume.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_hashes_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_hashes_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_update_remaining.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_user_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_user_insert.c)

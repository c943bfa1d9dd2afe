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
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_hashes_lock_some.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_sad_update_remaining.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_user_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_user_insert.c)
# The CA's and the RA's operations (db/db_ca.h): the SAM writes, qsignd reads some of them.
target_sources(qsign_db PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/db_ca_row.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_activation_lock.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_activation_put.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_ca_state_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_ca_state_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_ca_state_update.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_certificate_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_certificate_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_certificate_of_credential.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_certificate_update.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_crl_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_crl_latest.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_evidence_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_evidence_latest.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_ra_session_get.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_ra_session_insert.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_revoked_latest.c
    ${CMAKE_CURRENT_LIST_DIR}/pg_revoked_list.c)

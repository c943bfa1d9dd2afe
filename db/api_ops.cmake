# qsignd's data operations (db/db_api.h): login accounts, access tokens, and the read-only view
# of a user's credentials.  One operation per file.
target_sources(qsign_db PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_credential.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_credentials.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_get_by_username.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_record_login.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_set_password.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_account_status.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_token_get.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_token_insert.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_token_purge_expired.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_token_revoke.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_token_revoke_session.c)
# qsignd's reads of the CA and the RA (db/db_ca.h): public certificates, RA sessions, signers.
target_sources(qsign_db PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_ca_public.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_ra_session_check.c
    ${CMAKE_CURRENT_SOURCE_DIR}/pg_ra_signers.c)

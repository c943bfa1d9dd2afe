/*
 * Private to the SAM's operations (db/pg_user_*.c, pg_credential_*.c, pg_factor_*.c,
 * pg_sad_*.c): value readers into fixed buffers and the row readers shared by the operations
 * that select the same columns, so a get and a lock of one table cannot drift apart.
 */
#ifndef QS_DB_DB_SAM_INTERNAL_H
#define QS_DB_DB_SAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db_internal.h"
#include "db/db_sam.h"

/* A non-NULL uuid. */
QS_MUST_CHECK qs_err qs_db_sam_get_uuid(const PGresult *res, int row, int col,
                                        uint8_t out[static QS_DB_SAM_UUID_LEN]);

/* A non-NULL text value of at most cap - 1 bytes, copied with its NUL into buf. */
QS_MUST_CHECK qs_err qs_db_sam_get_text(const PGresult *res, int row, int col, char *buf,
                                        size_t cap);

/* A bytea of at most cap bytes into buf (*len its length).  With present == NULL the value must
 * not be NULL; otherwise *present tells (and *len is 0 for NULL). */
QS_MUST_CHECK qs_err qs_db_sam_get_bytea(const PGresult *res, int row, int col, uint8_t *buf,
                                         size_t cap, size_t *len, bool *present);

/* A timestamptz that may be NULL: *present tells; *out_us is 0 for NULL. */
QS_MUST_CHECK qs_err qs_db_sam_get_timestamptz_opt(const PGresult *res, int row, int col,
                                                   int64_t *out_us, bool *present);

/* Rows of a table: the columns every read selects, in this order, and their reader. */
#define QS_DB_USER_COLUMNS "id, username, kind, status, record_mac"
QS_MUST_CHECK qs_err qs_db_user_row_read(const PGresult *res, int row, qs_db_user *out);

#define QS_DB_CREDENTIAL_COLUMNS                                                                   \
    "id, user_id, key_alg, spki, wrapped_key, status, failed_attempts, record_mac"
QS_MUST_CHECK qs_err qs_db_credential_row_read(const PGresult *res, int row, qs_db_credential *out);

#define QS_DB_SAD_COLUMNS                                                                          \
    "sad_hash, user_id, credential_id, hash_alg, num_signatures, remaining, hashes_sha256,"        \
    " created_at, expires_at, auth_event_writer, auth_event_seq, record_mac"
QS_MUST_CHECK qs_err qs_db_sad_row_read(const PGresult *res, int row, qs_db_sad *out);

#define QS_DB_SAD_HASH_COLUMNS "digest, consumed_at, record_mac"
QS_MUST_CHECK qs_err qs_db_sad_hash_row_read(const PGresult *res, int row, qs_db_sad_hash *out);

/* Reads every row of a sad_hashes result (QS_DB_SAD_HASH_COLUMNS) into a malloc'd array: *rows
 * NULL when there is none; more than QS_DB_SAD_HASHES_MAX rows is QS_ERR_DB (a bug). */
QS_MUST_CHECK qs_err qs_db_sad_hash_rows_read(const PGresult *res, qs_db_sad_hash **rows,
                                              size_t *n);

#endif

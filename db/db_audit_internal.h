/*
 * Private to the audit operations of db/ (pg_audit_*.c): the readers of checkpoint rows and of
 * variable-length bytea values, shared so that the operations that read them cannot drift apart.
 */
#ifndef QS_DB_DB_AUDIT_INTERNAL_H
#define QS_DB_DB_AUDIT_INTERNAL_H

#include "db/db_audit.h"
#include "db/db_internal.h"

/* The columns every audit_checkpoints read selects, in this order. */
#define QS_DB_AUDIT_CHECKPOINT_COLUMNS "seq, head_hash, checkpoint_time, signature"

/* Reads row `row` of a result selecting QS_DB_AUDIT_CHECKPOINT_COLUMNS into *out. */
QS_MUST_CHECK qs_err qs_db_audit_checkpoint_read(const PGresult *res, int row,
                                                 qs_db_audit_checkpoint *out);

/* Number of columns in QS_DB_AUDIT_ROW_COLUMNS (db_internal.h). */
#define QS_DB_AUDIT_ROW_NCOLUMNS 12

/* Reads row `row` of a result selecting QS_DB_AUDIT_ROW_COLUMNS then writer_id into *out
 * (owning its row). */
QS_MUST_CHECK qs_err qs_db_audit_found_read(const PGresult *res, int row, qs_db_audit_found *out);

/* A binary bytea column of 1..cap bytes into buf (*len its length); with present == NULL the
 * value must not be NULL, else *present tells whether it was. */
QS_MUST_CHECK qs_err qs_db_audit_get_bytea(const PGresult *res, int row, int col, uint8_t *buf,
                                           size_t cap, size_t *len, bool *present);

#endif

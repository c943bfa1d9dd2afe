/*
 * audit_checkpoints rows as the read operations return them (pg_audit_checkpoint_last.c,
 * pg_audit_checkpoint_page.c), records found with their writer (pg_audit_search.c,
 * pg_audit_find.c), and variable-length bytea values.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_audit_internal.h"
#include "util/log.h"

qs_err qs_db_audit_get_bytea(const PGresult *res, int row, int col, uint8_t *buf, size_t cap,
                             size_t *len, bool *present)
{
    *len = 0;
    if (present != NULL)
        *present = false;
    if (row < 0 || row >= PQntuples(res) || col < 0 || col >= PQnfields(res) ||
        PQfformat(res, col) != 1 || PQftype(res, col) != QS_DB_OID_BYTEA) {
        qs_bug("result has no binary bytea at row %d column %d", row, col);
        return QS_ERR_DB;
    }
    if (PQgetisnull(res, row, col)) {
        if (present != NULL)
            return QS_OK;
        qs_bug("column %d (%s) is NULL", col, PQfname(res, col));
        return QS_ERR_DB;
    }
    int n = PQgetlength(res, row, col);
    if (n <= 0 || (size_t)n > cap) {
        qs_bug("column %d (%s) has %d bytes, 1..%zu expected", col, PQfname(res, col), n, cap);
        return QS_ERR_DB;
    }
    memcpy(buf, PQgetvalue(res, row, col), (size_t)n);
    *len = (size_t)n;
    if (present != NULL)
        *present = true;
    return QS_OK;
}

qs_err qs_db_audit_checkpoint_read(const PGresult *res, int i, qs_db_audit_checkpoint *out)
{
    qs_err r;

    memset(out, 0, sizeof *out);
    if ((r = qs_db_get_int8(res, i, 0, &out->seq)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 1, out->head_hash, sizeof out->head_hash)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 2, &out->time_us)) != QS_OK ||
        (r = qs_db_audit_get_bytea(res, i, 3, out->signature, sizeof out->signature,
                                   &out->signature_len, NULL)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_audit_found_read(const PGresult *res, int i, qs_db_audit_found *out)
{
    char *w = NULL;
    qs_err r = qs_db_audit_row_read(res, i, &out->row);
    if (r != QS_OK)
        return r;
    r = qs_db_get_text(res, i, QS_DB_AUDIT_ROW_NCOLUMNS, &w);
    if (r == QS_OK && strlen(w) > QS_DB_AUDIT_WRITER_MAX) {
        qs_bug("audit writer id of %zu bytes", strlen(w));
        r = QS_ERR_DB;
    }
    if (r == QS_OK)
        memcpy(out->writer_id, w, strlen(w) + 1);
    else
        qs_db_audit_row_clear(&out->row);
    free(w);
    return r;
}

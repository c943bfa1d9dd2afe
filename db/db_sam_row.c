/*
 * Value and row readers of the SAM's operations (db/db_sam_internal.h).  Each checks the
 * column's type and size the way the db_value.c getters do; a mismatch is a bug (QS_ERR_DB).
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_sam_internal.h"
#include "util/log.h"
#include "util/secret.h"

static qs_err sam_check_type(const PGresult *res, int row, int col, unsigned int type)
{
    if (row < 0 || row >= PQntuples(res) || col < 0 || col >= PQnfields(res)) {
        qs_bug("result has no row %d column %d", row, col);
        return QS_ERR_DB;
    }
    if (PQfformat(res, col) != 1 || PQftype(res, col) != type) {
        qs_bug("column %d (%s) has type %u, expected %u", col, PQfname(res, col),
               (unsigned)PQftype(res, col), type);
        return QS_ERR_DB;
    }
    return QS_OK;
}

qs_err qs_db_sam_get_uuid(const PGresult *res, int row, int col,
                          uint8_t out[static QS_DB_SAM_UUID_LEN])
{
    bool present = false;
    qs_err r = qs_db_get_uuid_opt(res, row, col, out, &present);
    if (r == QS_OK && !present) {
        qs_bug("column %d (%s) is NULL", col, PQfname(res, col));
        r = QS_ERR_DB;
    }
    return r;
}

qs_err qs_db_sam_get_text(const PGresult *res, int row, int col, char *buf, size_t cap)
{
    if (cap > 0)
        buf[0] = '\0';
    qs_err r = sam_check_type(res, row, col, QS_DB_OID_TEXT);
    if (r != QS_OK)
        return r;
    int n = PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || n < 0 || (size_t)n >= cap ||
        memchr(v, '\0', (size_t)n) != NULL) {
        qs_bug("column %d (%s) is NULL, longer than %zu bytes or holds a NUL", col,
               PQfname(res, col), cap - 1);
        return QS_ERR_DB;
    }
    memcpy(buf, v, (size_t)n);
    buf[n] = '\0';
    return QS_OK;
}

qs_err qs_db_sam_get_bytea(const PGresult *res, int row, int col, uint8_t *buf, size_t cap,
                           size_t *len, bool *present)
{
    *len = 0;
    if (present != NULL)
        *present = false;
    qs_err r = sam_check_type(res, row, col, QS_DB_OID_BYTEA);
    if (r != QS_OK)
        return r;
    if (PQgetisnull(res, row, col)) {
        if (present != NULL)
            return QS_OK;
        qs_bug("column %d (%s) is NULL", col, PQfname(res, col));
        return QS_ERR_DB;
    }
    int n = PQgetlength(res, row, col);
    if (n < 0 || (size_t)n > cap) {
        qs_bug("column %d (%s) has %d bytes, at most %zu expected", col, PQfname(res, col), n, cap);
        return QS_ERR_DB;
    }
    if (n > 0)
        memcpy(buf, PQgetvalue(res, row, col), (size_t)n);
    *len = (size_t)n;
    if (present != NULL)
        *present = true;
    return QS_OK;
}

qs_err qs_db_sam_get_timestamptz_opt(const PGresult *res, int row, int col, int64_t *out_us,
                                     bool *present)
{
    *out_us = 0;
    *present = false;
    qs_err r = sam_check_type(res, row, col, QS_DB_OID_TIMESTAMPTZ);
    if (r != QS_OK || PQgetisnull(res, row, col))
        return r;
    r = qs_db_get_timestamptz(res, row, col, out_us);
    *present = r == QS_OK;
    return r;
}

qs_err qs_db_user_row_read(const PGresult *res, int i, qs_db_user *out)
{
    qs_err r;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_sam_get_uuid(res, i, 0, out->id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 1, out->username, sizeof out->username)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, out->kind, sizeof out->kind)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 3, out->status, sizeof out->status)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 4, out->record_mac, sizeof out->record_mac)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_credential_row_read(const PGresult *res, int i, qs_db_credential *out)
{
    qs_err r;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_sam_get_uuid(res, i, 0, out->id)) != QS_OK ||
        (r = qs_db_sam_get_uuid(res, i, 1, out->user_id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 2, out->key_alg, sizeof out->key_alg)) != QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 3, out->spki, sizeof out->spki, &out->spki_len, NULL)) !=
            QS_OK ||
        (r = qs_db_sam_get_bytea(res, i, 4, out->wrapped_key, sizeof out->wrapped_key,
                                 &out->wrapped_key_len, &out->has_wrapped_key)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 5, out->status, sizeof out->status)) != QS_OK ||
        (r = qs_db_get_int4(res, i, 6, &out->failed_attempts)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 7, out->record_mac, sizeof out->record_mac)) != QS_OK)
        qs_wipe(out, sizeof *out);
    return r;
}

qs_err qs_db_sad_row_read(const PGresult *res, int i, qs_db_sad *out)
{
    qs_err r;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_get_bytea_fixed(res, i, 0, out->sad_hash, sizeof out->sad_hash)) != QS_OK ||
        (r = qs_db_sam_get_uuid(res, i, 1, out->user_id)) != QS_OK ||
        (r = qs_db_sam_get_uuid(res, i, 2, out->credential_id)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 3, out->hash_alg, sizeof out->hash_alg)) != QS_OK ||
        (r = qs_db_get_int4(res, i, 4, &out->num_signatures)) != QS_OK ||
        (r = qs_db_get_int4(res, i, 5, &out->remaining)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 6, out->hashes_sha256, sizeof out->hashes_sha256)) !=
            QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 7, &out->created_at_us)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 8, &out->expires_at_us)) != QS_OK ||
        (r = qs_db_sam_get_text(res, i, 9, out->auth_event_writer,
                                sizeof out->auth_event_writer)) != QS_OK ||
        (r = qs_db_get_int8(res, i, 10, &out->auth_event_seq)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 11, out->record_mac, sizeof out->record_mac)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_sad_hash_row_read(const PGresult *res, int i, qs_db_sad_hash *out)
{
    qs_err r;
    memset(out, 0, sizeof *out);
    if ((r = qs_db_sam_get_bytea(res, i, 0, out->digest, sizeof out->digest, &out->digest_len,
                                 NULL)) != QS_OK ||
        (r = qs_db_sam_get_timestamptz_opt(res, i, 1, &out->consumed_at_us, &out->consumed)) !=
            QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 2, out->record_mac, sizeof out->record_mac)) != QS_OK)
        memset(out, 0, sizeof *out);
    return r;
}

qs_err qs_db_sad_hash_rows_read(const PGresult *res, qs_db_sad_hash **rows, size_t *n)
{
    qs_db_sad_hash *v = NULL;
    qs_err r = QS_OK;

    *rows = NULL;
    *n = 0;
    int count = PQntuples(res);
    if (count == 0)
        return QS_OK;
    if (count > QS_DB_SAD_HASHES_MAX) {
        qs_bug("SAD with %d digest rows", count);
        return QS_ERR_DB;
    }
    if ((v = calloc((size_t)count, sizeof *v)) == NULL)
        return QS_ERR_NOMEM;
    for (int i = 0; i < count; i++) {
        if ((r = qs_db_sad_hash_row_read(res, i, &v[i])) != QS_OK) {
            free(v);
            return r;
        }
    }
    *rows = v;
    *n = (size_t)count;
    return QS_OK;
}

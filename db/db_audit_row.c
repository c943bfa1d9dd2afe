/*
 * audit_log rows as the read operations return them (pg_audit_head.c, pg_audit_page.c): one
 * extraction for both, so the two cannot drift apart.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_audit.h"
#include "db/db_internal.h"
#include "util/log.h"

void qs_db_audit_row_clear(qs_db_audit_row *row)
{
    if (row == NULL)
        return;
    free(row->event_type);
    free(row->actor);
    free(row->details);
    memset(row, 0, sizeof *row);
}

void qs_db_audit_rows_free(qs_db_audit_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        qs_db_audit_row_clear(&rows[i]);
    free(rows);
}

qs_err qs_db_audit_row_read(const PGresult *res, int i, qs_db_audit_row *out)
{
    qs_err r;

    memset(out, 0, sizeof *out);
    if ((r = qs_db_get_int8(res, i, 0, &out->seq)) != QS_OK ||
        (r = qs_db_get_timestamptz(res, i, 1, &out->event_time_us)) != QS_OK ||
        (r = qs_db_get_text(res, i, 2, &out->event_type)) != QS_OK ||
        (r = qs_db_get_text(res, i, 3, &out->actor)) != QS_OK ||
        (r = qs_db_get_uuid_opt(res, i, 4, out->user_id, &out->has_user_id)) != QS_OK ||
        (r = qs_db_get_uuid_opt(res, i, 5, out->credential_id, &out->has_credential_id)) != QS_OK ||
        (r = qs_db_get_bytea_fixed_opt(res, i, 6, out->sad_ref, sizeof out->sad_ref,
                                       &out->has_sad_ref)) != QS_OK ||
        (r = qs_db_get_bool(res, i, 7, &out->success)) != QS_OK ||
        (r = qs_db_get_text(res, i, 8, &out->details)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 9, out->prev_hash, sizeof out->prev_hash)) != QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 10, out->record_hash, sizeof out->record_hash)) !=
            QS_OK ||
        (r = qs_db_get_bytea_fixed(res, i, 11, out->record_mac, sizeof out->record_mac)) != QS_OK)
        qs_db_audit_row_clear(out);
    return r;
}

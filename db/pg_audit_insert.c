/*
 * Operation: append consecutive records of one writer in a single statement.
 *
 * The rows travel as one binary array per column and are expanded by unnest WITH ORDINALITY:
 * one round trip and one statement however many records a group commit carries (per-row
 * INSERTs cost a round trip each).  Rows are inserted in array order, so the chain trigger sees
 * each record's predecessor already inserted by the same statement.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_audit.h"
#include "db/db_internal.h"
#include "util/log.h"

enum {
    COL_SEQ,
    COL_TIME,
    COL_TYPE,
    COL_ACTOR,
    COL_USER,
    COL_CRED,
    COL_SAD,
    COL_SUCCESS,
    COL_DETAILS,
    COL_PREV,
    COL_HASH,
    COL_MAC,
    NCOLS
};

qs_err qs_db_audit_insert(qs_db *db, const char *writer_id, const qs_db_audit_row *rows, size_t n)
{
    static const char sql[] =
        "INSERT INTO qsign.audit_log (writer_id, seq, event_time, event_type, actor, user_id,"
        " credential_id, sad_ref, result, details, prev_hash, record_hash, record_mac)"
        " SELECT $1, r.seq, r.event_time, r.event_type, r.actor, r.user_id, r.credential_id,"
        " r.sad_ref, CASE WHEN r.success THEN 'success' ELSE 'failure' END, r.details,"
        " r.prev_hash, r.record_hash, r.record_mac"
        " FROM unnest($2::int8[], $3::timestamptz[], $4::text[], $5::text[], $6::uuid[],"
        " $7::uuid[], $8::bytea[], $9::bool[], $10::text[], $11::bytea[], $12::bytea[],"
        " $13::bytea[]) WITH ORDINALITY AS r(seq, event_time, event_type, actor, user_id,"
        " credential_id, sad_ref, success, details, prev_hash, record_hash, record_mac, ord)"
        " ORDER BY r.ord";
    static const unsigned int types[NCOLS] = {
        [COL_SEQ] = QS_DB_OID_INT8,     [COL_TIME] = QS_DB_OID_TIMESTAMPTZ,
        [COL_TYPE] = QS_DB_OID_TEXT,    [COL_ACTOR] = QS_DB_OID_TEXT,
        [COL_USER] = QS_DB_OID_UUID,    [COL_CRED] = QS_DB_OID_UUID,
        [COL_SAD] = QS_DB_OID_BYTEA,    [COL_SUCCESS] = QS_DB_OID_BOOL,
        [COL_DETAILS] = QS_DB_OID_TEXT, [COL_PREV] = QS_DB_OID_BYTEA,
        [COL_HASH] = QS_DB_OID_BYTEA,   [COL_MAC] = QS_DB_OID_BYTEA,
    };
    qs_db_array col[NCOLS];
    qs_db_param p[1 + NCOLS];
    PGresult *res = NULL;
    qs_err r;

    for (int c = 0; c < NCOLS; c++)
        qs_db_array_init(&col[c], types[c]);
    if (n == 0 || n > INT32_MAX) {
        qs_bug("audit insert of %zu rows", n);
        r = QS_ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const qs_db_audit_row *w = &rows[i];
        qs_db_array_add_int8(&col[COL_SEQ], w->seq);
        qs_db_array_add_timestamptz(&col[COL_TIME], w->event_time_us);
        qs_db_array_add_text(&col[COL_TYPE], w->event_type);
        qs_db_array_add_text(&col[COL_ACTOR], w->actor);
        qs_db_array_add(&col[COL_USER], w->has_user_id ? w->user_id : NULL, sizeof w->user_id);
        qs_db_array_add(&col[COL_CRED], w->has_credential_id ? w->credential_id : NULL,
                        sizeof w->credential_id);
        qs_db_array_add(&col[COL_SAD], w->has_sad_ref ? w->sad_ref : NULL, sizeof w->sad_ref);
        qs_db_array_add_bool(&col[COL_SUCCESS], w->success);
        qs_db_array_add_text(&col[COL_DETAILS], w->details);
        qs_db_array_add(&col[COL_PREV], w->prev_hash, sizeof w->prev_hash);
        qs_db_array_add(&col[COL_HASH], w->record_hash, sizeof w->record_hash);
        qs_db_array_add(&col[COL_MAC], w->record_mac, sizeof w->record_mac);
    }
    qs_db_param_text(&p[0], writer_id);
    for (int c = 0; c < NCOLS; c++) {
        r = qs_db_param_array(&p[1 + c], &col[c]);
        if (r != QS_OK)
            goto out;
    }
    r = qs_db_exec(db, __func__, sql, 1 + NCOLS, p, &res);
    if (r != QS_OK)
        goto out;
    if (strtoull(PQcmdTuples(res), NULL, 10) != n) {
        qs_bug("audit insert: %s rows inserted, %zu sent", PQcmdTuples(res), n);
        r = QS_ERR_DB;
        goto out;
    }
    r = QS_OK;
out:
    PQclear(res);
    for (int c = 0; c < NCOLS; c++)
        qs_db_array_free(&col[c]);
    return r;
}

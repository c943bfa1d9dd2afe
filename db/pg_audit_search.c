/*
 * Operation: search the audit log (auditors, `qsignctl audit search`), a page at a time.
 *
 * Every criterion is a bound parameter that is either NULL (no restriction) or compared, in the
 * `($n IS NULL OR column = $n)` form, so one prepared statement serves every combination and no
 * input ever becomes SQL text.  Pages follow the sort key (event_time, writer_id, seq), which is
 * unique, so no record is skipped or repeated between pages whatever arrives meanwhile.
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_audit_internal.h"
#include "util/log.h"

/* Largest page accepted: a page is held in memory at once. */
#define QS_DB_AUDIT_SEARCH_PAGE_MAX 100000

enum {
    P_WRITER,
    P_USER,
    P_CRED,
    P_TYPE,
    P_FROM,
    P_TO,
    P_RESULT,
    P_AFTER_TIME,
    P_AFTER_WRITER,
    P_AFTER_SEQ,
    P_LIMIT,
    NPARAMS
};

void qs_db_audit_found_free(qs_db_audit_found *found, size_t n)
{
    if (found == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        qs_db_audit_row_clear(&found[i].row);
    free(found);
}

qs_err qs_db_audit_search(qs_db *db, const qs_db_audit_filter *f, qs_db_audit_cursor *cursor,
                          size_t limit, qs_db_audit_found **found, size_t *n)
{
    static const char sql[] =
        "SELECT " QS_DB_AUDIT_ROW_COLUMNS ", writer_id FROM qsign.audit_log"
        " WHERE ($1::text IS NULL OR writer_id = $1::text)"
        " AND ($2::uuid IS NULL OR user_id = $2::uuid)"
        " AND ($3::uuid IS NULL OR credential_id = $3::uuid)"
        " AND ($4::text IS NULL OR event_type = $4::text"
        " OR (pg_catalog.right($4::text, 1) = '.'"
        " AND pg_catalog.starts_with(event_type, $4::text)))"
        " AND ($5::timestamptz IS NULL OR event_time >= $5::timestamptz)"
        " AND ($6::timestamptz IS NULL OR event_time < $6::timestamptz)"
        " AND ($7::text IS NULL OR result = $7::text)"
        " AND ($8::timestamptz IS NULL OR (event_time, writer_id COLLATE \"C\", seq) >"
        " ($8::timestamptz, $9::text COLLATE \"C\", $10::int8))"
        " ORDER BY event_time, writer_id COLLATE \"C\", seq LIMIT $11";
    qs_db_param p[NPARAMS];
    PGresult *res = NULL;
    qs_db_audit_found *a = NULL;
    size_t got = 0;
    qs_err r;

    *found = NULL;
    *n = 0;
    if (limit == 0 || limit > QS_DB_AUDIT_SEARCH_PAGE_MAX) {
        qs_bug("audit search page of %zu rows", limit);
        return QS_ERR_INTERNAL;
    }
    if (f->writer_id != NULL)
        qs_db_param_text(&p[P_WRITER], f->writer_id);
    else
        qs_db_param_null(&p[P_WRITER], QS_DB_OID_TEXT);
    if (f->user_id != NULL)
        qs_db_param_uuid(&p[P_USER], f->user_id);
    else
        qs_db_param_null(&p[P_USER], QS_DB_OID_UUID);
    if (f->credential_id != NULL)
        qs_db_param_uuid(&p[P_CRED], f->credential_id);
    else
        qs_db_param_null(&p[P_CRED], QS_DB_OID_UUID);
    if (f->event_type != NULL)
        qs_db_param_text(&p[P_TYPE], f->event_type);
    else
        qs_db_param_null(&p[P_TYPE], QS_DB_OID_TEXT);
    if (f->has_from)
        qs_db_param_timestamptz(&p[P_FROM], f->from_us);
    else
        qs_db_param_null(&p[P_FROM], QS_DB_OID_TIMESTAMPTZ);
    if (f->has_to)
        qs_db_param_timestamptz(&p[P_TO], f->to_us);
    else
        qs_db_param_null(&p[P_TO], QS_DB_OID_TIMESTAMPTZ);
    if (f->result >= 0)
        qs_db_param_text(&p[P_RESULT], f->result ? "success" : "failure");
    else
        qs_db_param_null(&p[P_RESULT], QS_DB_OID_TEXT);
    if (cursor->started) {
        qs_db_param_timestamptz(&p[P_AFTER_TIME], cursor->time_us);
        qs_db_param_text(&p[P_AFTER_WRITER], cursor->writer_id);
        qs_db_param_int8(&p[P_AFTER_SEQ], cursor->seq);
    } else {
        qs_db_param_null(&p[P_AFTER_TIME], QS_DB_OID_TIMESTAMPTZ);
        qs_db_param_null(&p[P_AFTER_WRITER], QS_DB_OID_TEXT);
        qs_db_param_null(&p[P_AFTER_SEQ], QS_DB_OID_INT8);
    }
    qs_db_param_int8(&p[P_LIMIT], (int64_t)limit);

    r = qs_db_exec(db, __func__, sql, NPARAMS, p, &res);
    if (r != QS_OK)
        goto out;
    size_t total = (size_t)PQntuples(res);
    if (total > limit) {
        qs_bug("audit search: %zu rows for a limit of %zu", total, limit);
        r = QS_ERR_DB;
        goto out;
    }
    if (total == 0)
        goto out;
    a = calloc(total, sizeof *a);
    if (a == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (; got < total; got++) {
        r = qs_db_audit_found_read(res, (int)got, &a[got]);
        if (r != QS_OK)
            goto out;
    }
    const qs_db_audit_found *last = &a[total - 1];
    cursor->started = true;
    cursor->time_us = last->row.event_time_us;
    memcpy(cursor->writer_id, last->writer_id, sizeof cursor->writer_id);
    cursor->seq = last->row.seq;
    *found = a;
    *n = total;
    a = NULL;
    r = QS_OK;
out:
    qs_db_audit_found_free(a, got);
    PQclear(res);
    return r;
}

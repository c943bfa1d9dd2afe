/*
 * Operation: successful audit records of one event type that match exact criteria (user,
 * credential, SAD, one field of the details, a latest time), for the evidence of a signature
 * (sam/evidence.h): the signature found by its hash or by the digest of its value, the
 * authorization and enrolment records of its signer, the key and certificate records of its
 * credential.
 *
 * Every criterion is a bound parameter that is either NULL (no restriction) or compared, so one
 * prepared statement serves every combination and no input ever becomes SQL text.  The details
 * field is compared through details::jsonb ->> key; there is no index on it, so a lookup by a
 * details field reads every record of the event type (event_type is indexed).
 */
#define QS_LOG_MODULE "db"
#include <stdlib.h>
#include <string.h>

#include "db/db_audit_internal.h"
#include "util/log.h"

enum { P_TYPE, P_USER, P_CRED, P_SAD, P_KEY, P_VALUE, P_TO, P_LIMIT, NPARAMS };

qs_err qs_db_audit_find(qs_db *db, const qs_db_audit_match *m, size_t limit,
                        qs_db_audit_found **found, size_t *n)
{
    static const char sql[] = "SELECT " QS_DB_AUDIT_ROW_COLUMNS ", writer_id FROM qsign.audit_log"
                              " WHERE event_type = $1::text AND result = 'success'"
                              " AND ($2::uuid IS NULL OR user_id = $2::uuid)"
                              " AND ($3::uuid IS NULL OR credential_id = $3::uuid)"
                              " AND ($4::bytea IS NULL OR sad_ref = $4::bytea)"
                              " AND ($5::text IS NULL OR (details::jsonb ->> $5::text) = $6::text)"
                              " AND ($7::timestamptz IS NULL OR event_time <= $7::timestamptz)"
                              " ORDER BY event_time, writer_id COLLATE \"C\", seq LIMIT $8";
    qs_db_param p[NPARAMS];
    PGresult *res = NULL;
    qs_db_audit_found *a = NULL;
    size_t got = 0;
    qs_err r;

    *found = NULL;
    *n = 0;
    if (limit == 0 || limit > QS_DB_AUDIT_FIND_MAX || m->event_type == NULL ||
        (m->detail_key == NULL) != (m->detail_value == NULL)) {
        qs_bug("audit find of %zu rows, or without an event type or a whole details pair", limit);
        return QS_ERR_INTERNAL;
    }
    qs_db_param_text(&p[P_TYPE], m->event_type);
    if (m->user_id != NULL)
        qs_db_param_uuid(&p[P_USER], m->user_id);
    else
        qs_db_param_null(&p[P_USER], QS_DB_OID_UUID);
    if (m->credential_id != NULL)
        qs_db_param_uuid(&p[P_CRED], m->credential_id);
    else
        qs_db_param_null(&p[P_CRED], QS_DB_OID_UUID);
    if (m->sad_ref != NULL)
        qs_db_param_bytea(&p[P_SAD], m->sad_ref, QS_DB_AUDIT_SAD_REF_LEN);
    else
        qs_db_param_null(&p[P_SAD], QS_DB_OID_BYTEA);
    if (m->detail_key != NULL) {
        qs_db_param_text(&p[P_KEY], m->detail_key);
        qs_db_param_text(&p[P_VALUE], m->detail_value);
    } else {
        qs_db_param_null(&p[P_KEY], QS_DB_OID_TEXT);
        qs_db_param_null(&p[P_VALUE], QS_DB_OID_TEXT);
    }
    if (m->has_to)
        qs_db_param_timestamptz(&p[P_TO], m->to_us);
    else
        qs_db_param_null(&p[P_TO], QS_DB_OID_TIMESTAMPTZ);
    qs_db_param_int8(&p[P_LIMIT], (int64_t)limit);

    r = qs_db_exec(db, __func__, sql, NPARAMS, p, &res);
    if (r != QS_OK)
        goto out;
    size_t total = (size_t)PQntuples(res);
    if (total > limit) {
        qs_bug("audit find: %zu rows for a limit of %zu", total, limit);
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
    *found = a;
    *n = total;
    a = NULL;
    r = QS_OK;
out:
    qs_db_audit_found_free(a, got);
    PQclear(res);
    return r;
}

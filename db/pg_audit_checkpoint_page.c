/* Operation: one page of a writer's checkpoints in seq order, after a given seq. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_audit_internal.h"
#include "util/log.h"

/* Largest page accepted: a page is held in memory at once. */
#define QS_DB_AUDIT_CHECKPOINT_PAGE_MAX 100000

qs_err qs_db_audit_checkpoint_page(qs_db *db, const char *writer_id, int64_t after_seq,
                                   size_t limit, qs_db_audit_checkpoint **cps, size_t *n)
{
    static const char sql[] = "SELECT " QS_DB_AUDIT_CHECKPOINT_COLUMNS
                              " FROM qsign.audit_checkpoints WHERE writer_id = $1 AND seq > $2"
                              " ORDER BY seq LIMIT $3";
    qs_db_param p[3];
    PGresult *res = NULL;
    qs_db_audit_checkpoint *a = NULL;
    qs_err r;

    *cps = NULL;
    *n = 0;
    if (limit == 0 || limit > QS_DB_AUDIT_CHECKPOINT_PAGE_MAX) {
        qs_bug("audit checkpoint page of %zu rows", limit);
        return QS_ERR_INTERNAL;
    }
    qs_db_param_text(&p[0], writer_id);
    qs_db_param_int8(&p[1], after_seq);
    qs_db_param_int8(&p[2], (int64_t)limit);
    r = qs_db_exec(db, __func__, sql, 3, p, &res);
    if (r != QS_OK)
        goto out;
    size_t total = (size_t)PQntuples(res);
    if (total > limit) {
        qs_bug("audit checkpoint page: %zu rows for a limit of %zu", total, limit);
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
    for (size_t i = 0; i < total; i++) {
        r = qs_db_audit_checkpoint_read(res, (int)i, &a[i]);
        if (r != QS_OK)
            goto out;
    }
    *cps = a;
    *n = total;
    a = NULL;
    r = QS_OK;
out:
    free(a);
    PQclear(res);
    return r;
}

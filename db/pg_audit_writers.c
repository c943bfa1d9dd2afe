/* Operation: every registered audit writer id, in byte order. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_audit_internal.h"

void qs_db_audit_writers_free(char **ids, size_t n)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

qs_err qs_db_audit_writers(qs_db *db, char ***ids, size_t *n)
{
    static const char sql[] =
        "SELECT writer_id FROM qsign.audit_writers ORDER BY writer_id COLLATE \"C\"";
    PGresult *res = NULL;
    char **a = NULL;
    size_t got = 0;

    *ids = NULL;
    *n = 0;
    qs_err r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK)
        goto out;
    size_t total = (size_t)PQntuples(res);
    if (total == 0)
        goto out;
    a = calloc(total, sizeof *a);
    if (a == NULL) {
        r = QS_ERR_NOMEM;
        goto out;
    }
    for (; got < total; got++) {
        r = qs_db_get_text(res, (int)got, 0, &a[got]);
        if (r != QS_OK)
            goto out;
    }
    *ids = a;
    *n = total;
    a = NULL;
    r = QS_OK;
out:
    qs_db_audit_writers_free(a, got);
    PQclear(res);
    return r;
}

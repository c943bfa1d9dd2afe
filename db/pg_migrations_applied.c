/* Operation: list the applied migrations in version order. */
#define QS_LOG_MODULE "db"
#include <stdlib.h>

#include "db/db_internal.h"

void qs_db_applied_migrations_free(qs_db_applied_migration *a, size_t n)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(a[i].name);
    free(a);
}

qs_err qs_db_migrations_applied(qs_db *db, qs_db_applied_migration **out, size_t *n)
{
    static const char sql[] = "SELECT version, name, sha256 FROM qsign.schema_migration"
                              " ORDER BY version";
    PGresult *res = NULL;
    qs_db_applied_migration *a = NULL;
    size_t rows = 0;
    qs_err r;

    *out = NULL;
    *n = 0;
    r = qs_db_exec(db, __func__, sql, 0, NULL, &res);
    if (r != QS_OK)
        goto out;
    rows = (size_t)PQntuples(res);
    if (rows > 0) {
        a = calloc(rows, sizeof *a);
        if (a == NULL) {
            r = QS_ERR_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < rows; i++) {
        int32_t v;
        r = qs_db_get_int4(res, (int)i, 0, &v);
        if (r != QS_OK)
            goto out;
        a[i].version = (uint32_t)v;
        r = qs_db_get_text(res, (int)i, 1, &a[i].name);
        if (r != QS_OK)
            goto out;
        r = qs_db_get_bytea_fixed(res, (int)i, 2, a[i].sha256, sizeof a[i].sha256);
        if (r != QS_OK)
            goto out;
    }
    *out = a;
    *n = rows;
    a = NULL;
    r = QS_OK;
out:
    qs_db_applied_migrations_free(a, rows);
    PQclear(res);
    return r;
}

/* Test operation: read one counter. */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"
#include "db/db_testing.h"

qs_err qs_db_test_counter_get(qs_db *db, int32_t id, int64_t *value)
{
    static const char sql[] = "SELECT n FROM public.qs_test_counter WHERE id = $1";
    qs_db_param p[1];
    PGresult *res = NULL;
    qs_err r;

    *value = 0;
    qs_db_param_int4(&p[0], id);
    r = qs_db_exec(db, __func__, sql, 1, p, &res);
    if (r != QS_OK)
        goto out;
    if (PQntuples(res) == 0) {
        r = QS_ERR_NOT_FOUND;
        goto out;
    }
    r = qs_db_get_int8(res, 0, 0, value);
out:
    PQclear(res);
    return r;
}

/* Test operation: set one counter (insert or update). */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"
#include "db/db_testing.h"

qs_err qs_db_test_counter_set(qs_db *db, int32_t id, int64_t value)
{
    static const char sql[] = "INSERT INTO public.qs_test_counter (id, n) VALUES ($1, $2)"
                              " ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n";
    qs_db_param p[2];

    qs_db_param_int4(&p[0], id);
    qs_db_param_int8(&p[1], value);
    return qs_db_exec(db, __func__, sql, 2, p, NULL);
}

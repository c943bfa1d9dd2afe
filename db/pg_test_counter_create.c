/* Test operation: create the scratch counter table. */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"
#include "db/db_testing.h"

qs_err qs_db_test_counter_create(qs_db *db)
{
    static const char sql[] = "CREATE TABLE IF NOT EXISTS public.qs_test_counter ("
                              " id integer PRIMARY KEY, n bigint NOT NULL)";
    return qs_db_exec(db, __func__, sql, 0, NULL, NULL);
}

/* Operation: run one migration's SQL (fixed text embedded at build time). */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

qs_err qs_db_migration_apply(qs_db *db, const qs_db_migration *m)
{
    return qs_db_exec_script(db, m->name, m->sql);
}

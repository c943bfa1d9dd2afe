/* Operation: record a migration as applied. */
#define QS_LOG_MODULE "db"
#include "db/db_internal.h"

qs_err qs_db_migration_record(qs_db *db, const qs_db_migration *m,
                              const uint8_t sha256[static QS_DB_MIGRATION_SHA256_LEN])
{
    static const char sql[] =
        "INSERT INTO qsign.schema_migration (version, name, sha256) VALUES ($1, $2, $3)";
    qs_db_param p[3];

    if (m->version > INT32_MAX)
        return QS_ERR_INVALID_ARGUMENT;
    qs_db_param_int4(&p[0], (int32_t)m->version);
    qs_db_param_text(&p[1], m->name);
    qs_db_param_bytea(&p[2], sha256, QS_DB_MIGRATION_SHA256_LEN);
    return qs_db_exec(db, __func__, sql, 3, p, NULL);
}

/* Operation: register an audit writer unless it exists. */
#define QS_LOG_MODULE "db"
#include "db/db_audit.h"
#include "db/db_internal.h"

qs_err qs_db_audit_writer_register(qs_db *db, const char *writer_id, const char *description,
                                   const char *mac_key_label, bool *created)
{
    static const char sql[] = "INSERT INTO qsign.audit_writers (writer_id, description,"
                              " mac_key_label) VALUES ($1, $2, $3)"
                              " ON CONFLICT (writer_id) DO NOTHING";
    qs_db_param p[3];
    PGresult *res = NULL;

    *created = false;
    qs_db_param_text(&p[0], writer_id);
    qs_db_param_text(&p[1], description != NULL ? description : "");
    qs_db_param_text(&p[2], mac_key_label);
    qs_err r = qs_db_exec(db, __func__, sql, 3, p, &res);
    if (r == QS_OK)
        *created = PQcmdTuples(res)[0] == '1';
    PQclear(res);
    return r;
}

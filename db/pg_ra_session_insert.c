/* Operation: a new RA or audit session; expired ones are deleted on the way. */
#define QS_LOG_MODULE "db"
#include "db/db_ca_internal.h"

qs_err qs_db_ra_session_insert(qs_db *db, const qs_db_ra_session *s)
{
    static const char purge[] = "DELETE FROM qsign.ra_sessions WHERE expires_at < pg_catalog.now()";
    static const char sql[] =
        "INSERT INTO qsign.ra_sessions (session_hash, officer_id, role,"
        " created_at, expires_at, record_mac) VALUES ($1, $2, $3, $4, $5, $6)";
    qs_db_param p[6];
    qs_err r = qs_db_exec(db, "qs_db_ra_session_purge", purge, 0, NULL, NULL);
    if (r != QS_OK)
        return r;
    qs_db_param_bytea(&p[0], s->session_hash, sizeof s->session_hash);
    qs_db_param_uuid(&p[1], s->officer_id);
    qs_db_param_text(&p[2], s->role);
    qs_db_param_timestamptz(&p[3], s->created_at_us);
    qs_db_param_timestamptz(&p[4], s->expires_at_us);
    qs_db_param_bytea(&p[5], s->record_mac, sizeof s->record_mac);
    return qs_db_exec(db, __func__, sql, 6, p, NULL);
}
